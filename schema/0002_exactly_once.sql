-- SPDX-License-Identifier: MIT
-- 0002_exactly_once.sql - a job's history holds each reported row once,
-- whatever crashes happen (issue #12).
--
-- It also counts the crashes a job lived through (see below).
--
-- The one design decision to know: a checkpoint records, beside its step,
-- the largest metric and architecture seq of the job at the moment it
-- became durable (ckpt_metric_seq, ckpt_arch_seq). The rows a job reported
-- after its checkpoint describe work the resumed run will do again, so the
-- claim that resumes it deletes them (daemon/db.c, nd_db_job_claim) and
-- the rerun reports them once. That needs seqs that are never reused after
-- a delete (a client's cursor must not point at a different row later), so
-- metrics and architectures become AUTOINCREMENT tables: rebuilt here with
-- their rows, indexes and trigger.
--
-- Jobs already in the database keep their whole history: their cursors
-- start at the rows they have now.

ALTER TABLE jobs ADD COLUMN ckpt_metric_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN ckpt_arch_seq INTEGER NOT NULL DEFAULT 0;
-- A job nasd died under (found running at start without a clean stop)
-- counts a crash; at the max-attempts setting it fails instead of being
-- requeued, so a job that brings nasd down cannot do so forever.
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN clean_stop INTEGER NOT NULL DEFAULT 0
    CHECK (clean_stop IN (0, 1));

CREATE TABLE metrics_v2 (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    step   INTEGER NOT NULL,
    name   TEXT NOT NULL,
    value  REAL,                              -- NULL: NaN
    t      REAL NOT NULL
);
INSERT INTO metrics_v2 (seq, job_id, epoch, step, name, value, t)
    SELECT seq, job_id, epoch, step, name, value, t FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_v2 RENAME TO metrics;
CREATE INDEX metrics_job_seq ON metrics (job_id, seq);
CREATE TRIGGER metrics_keep_latest AFTER INSERT ON metrics
BEGIN
    INSERT INTO metric_latest (job_id, name, value, epoch, step, t)
    VALUES (NEW.job_id, NEW.name, NEW.value, NEW.epoch, NEW.step, NEW.t)
    ON CONFLICT (job_id, name) DO UPDATE SET
        value = excluded.value, epoch = excluded.epoch,
        step = excluded.step, t = excluded.t;
END;

CREATE TABLE architectures_v2 (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    arch    TEXT NOT NULL,                    -- JSON
    reward  REAL,                             -- NULL: NaN
    metrics TEXT,                             -- JSON object or NULL
    t       REAL NOT NULL
);
INSERT INTO architectures_v2 (seq, job_id, arch, reward, metrics, t)
    SELECT seq, job_id, arch, reward, metrics, t FROM architectures;
DROP TABLE architectures;
ALTER TABLE architectures_v2 RENAME TO architectures;
CREATE INDEX architectures_job_seq ON architectures (job_id, seq);
CREATE INDEX architectures_job_reward
    ON architectures (job_id, reward DESC, seq);

UPDATE jobs SET
    ckpt_metric_seq = coalesce((SELECT max(seq) FROM metrics m
                                WHERE m.job_id = jobs.id), 0),
    ckpt_arch_seq = coalesce((SELECT max(seq) FROM architectures a
                              WHERE a.job_id = jobs.id), 0);
