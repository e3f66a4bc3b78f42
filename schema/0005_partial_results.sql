-- SPDX-License-Identifier: MIT
-- 0005_partial_results.sql - a search that ends without its result keeps
-- its best so far (issue #15 item 4).
--
-- A search (not a train job: its architecture is the one it was given)
-- that is cancelled or fails after it has stored architectures gets
-- a result row made from its best one (the highest reward, the earliest
-- of equals; a row without a reward only when none has one), marked
-- partial: result (the details) = {"partial": true, "reason": "cancelled"
-- or "failed", "error": the job's error or null, "architecture": {"seq",
-- "number"} of the row it came from}, metric "reward" and the row's
-- reward as value. A trigger, so that every way a job ends (a worker's
-- finish, a cancel, the requeue after a crash that fails a job at its
-- attempt limit) does the same; a job that already has its result keeps
-- it. The jobs that ended so before this migration get theirs here.

CREATE TRIGGER results_partial AFTER UPDATE OF state ON jobs
WHEN NEW.state IN ('cancelled', 'failed') AND OLD.state IS NOT NEW.state
     AND NEW.algorithm IS NOT 'train'
BEGIN
    INSERT OR IGNORE INTO results (job_id, architecture, metric, value, result, t)
    SELECT a.job_id, a.arch, 'reward', a.reward,
           json_object('partial', json('true'), 'reason', NEW.state,
                       'error', NEW.error,
                       'architecture', json_object('seq', a.seq, 'number', a.number)),
           coalesce(NEW.finished_at, NEW.updated_at, a.t)
    FROM architectures a WHERE a.job_id = NEW.id
    ORDER BY a.reward IS NULL, a.reward DESC, a.seq LIMIT 1;
END;

INSERT OR IGNORE INTO results (job_id, architecture, metric, value, result, t)
SELECT j.id, a.arch, 'reward', a.reward,
       json_object('partial', json('true'), 'reason', j.state, 'error', j.error,
                   'architecture', json_object('seq', a.seq, 'number', a.number)),
       coalesce(j.finished_at, j.updated_at, a.t)
FROM jobs j JOIN architectures a ON a.seq = (
    SELECT b.seq FROM architectures b WHERE b.job_id = j.id
    ORDER BY b.reward IS NULL, b.reward DESC, b.seq LIMIT 1)
WHERE j.state IN ('cancelled', 'failed') AND j.algorithm IS NOT 'train';
