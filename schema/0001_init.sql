-- SPDX-License-Identifier: MIT
-- 0001_init.sql - the first schema of nasd: jobs, their events (metrics,
-- architectures, results) and the datasets nasd knows.
--
-- The one design decision to know: jobs.seq is an AUTOINCREMENT rowid, so
-- it only grows (never reused after a delete) and orders the queue (oldest
-- queued first) and the job list (newest first, page tokens carry a seq).
-- The 32-hex-character id the API shows is therefore UNIQUE rather than
-- the PRIMARY KEY; the event tables reference it and cascade on delete.
--
-- Times are REAL unix seconds (UTC). JSON columns hold text stored as the
-- daemon gave it (validated before it got here); no JSON1 use.
-- Applied by daemon/db.c in one transaction that also sets
-- PRAGMA user_version = 1.

-- One row per submitted job; the queue is "state = 'queued' ORDER BY seq".
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE
                     CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    name             TEXT,
    algorithm        TEXT NOT NULL,
    search_space     TEXT,
    dataset          TEXT,
    spec             TEXT NOT NULL,           -- normalized job spec, JSON
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded',
                                      'failed', 'cancelled')),
    created_at       REAL NOT NULL,
    started_at       REAL,                    -- first claim
    finished_at      REAL,
    updated_at       REAL NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,   -- claims so far
    error            TEXT,
    checkpoint_path  TEXT,                    -- recorded once durable
    checkpoint_step  INTEGER,
    progress         TEXT,                    -- latest progress, JSON
    cancel_requested INTEGER NOT NULL DEFAULT 0
                     CHECK (cancel_requested IN (0, 1)),
    idempotency_key  TEXT UNIQUE,             -- NULLs do not collide
    request_hash     TEXT                     -- of the request body
);
-- The queue (claim), the state filter of the list, counts per state.
CREATE INDEX jobs_state_seq ON jobs (state, seq);

-- Every metric a job reported: a time series read with ?after=seq.
-- seq is a plain rowid: it can only be reused after the rows holding the
-- largest values are deleted, i.e. with their job, so per job it grows.
CREATE TABLE metrics (
    seq    INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    step   INTEGER NOT NULL,
    name   TEXT NOT NULL,
    value  REAL,                              -- NULL: NaN
    t      REAL NOT NULL
);
CREATE INDEX metrics_job_seq ON metrics (job_id, seq);

-- The latest value of each metric of a job, kept by the trigger below so
-- that GET /v1/jobs/{id} reads a handful of rows instead of the series.
CREATE TABLE metric_latest (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    value  REAL,
    epoch  INTEGER NOT NULL,
    step   INTEGER NOT NULL,
    t      REAL NOT NULL,
    PRIMARY KEY (job_id, name)
) WITHOUT ROWID;

CREATE TRIGGER metrics_keep_latest AFTER INSERT ON metrics
BEGIN
    INSERT INTO metric_latest (job_id, name, value, epoch, step, t)
    VALUES (NEW.job_id, NEW.name, NEW.value, NEW.epoch, NEW.step, NEW.t)
    ON CONFLICT (job_id, name) DO UPDATE SET
        value = excluded.value, epoch = excluded.epoch,
        step = excluded.step, t = excluded.t;
END;

-- Every architecture a search sampled or derived, with its reward.
CREATE TABLE architectures (
    seq     INTEGER PRIMARY KEY,
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    arch    TEXT NOT NULL,                    -- JSON
    reward  REAL,                             -- NULL: NaN
    metrics TEXT,                             -- JSON object or NULL
    t       REAL NOT NULL
);
-- Cursor paging (?after=seq).
CREATE INDEX architectures_job_seq ON architectures (job_id, seq);
-- The best so far: the first row of this index for a job (NULL rewards
-- sort last in DESC order; ties go to the earliest).
CREATE INDEX architectures_job_reward
    ON architectures (job_id, reward DESC, seq);

-- The final result of a job, at most one.
CREATE TABLE results (
    job_id       TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    architecture TEXT NOT NULL,               -- JSON
    metric       TEXT NOT NULL,               -- test_accuracy, test_perplexity
    value        REAL,
    result       TEXT,                        -- JSON object: the rest
    t            REAL NOT NULL
);

-- The datasets nasd knows and whether their files are present.
CREATE TABLE datasets (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                 -- image, text
    path       TEXT,
    present    INTEGER NOT NULL CHECK (present IN (0, 1)),
    info       TEXT,                          -- JSON: shapes, sizes
    updated_at REAL NOT NULL
);
