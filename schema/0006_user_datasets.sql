-- SPDX-License-Identifier: MIT
-- 0006_user_datasets.sql - the datasets users upload (issue #21).
--
-- Unlike the table 0003 dropped (a row per built-in dataset, written at
-- every start and read by nothing), a row here is the record of an
-- import: it is written in the step that renames the imported files into
-- <state-dir>/user-datasets/<name>, and its meta is that import's
-- meta.json (shape, classes, counts, mean and std, the upload's sha256).
CREATE TABLE user_datasets (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('image', 'text')),
    meta       TEXT NOT NULL,                  -- JSON
    bytes      INTEGER NOT NULL,               -- of the upload
    created_at REAL NOT NULL
);
