-- SPDX-License-Identifier: MIT
-- 0004_arch_number.sql - architectures numbered within their job (issue #15).
--
-- seq is global (one AUTOINCREMENT over every job: the cursor of ?after=
-- and of the event stream's ids); number counts a job's architectures
-- from 1, so /v1/jobs/ID/architectures/1 is the job's first. The insert
-- sets it to one more than the job's largest; a resumed job's claim
-- deletes the rows after its checkpoint first, so the numbers it reports
-- again are the ones they had.

ALTER TABLE architectures ADD COLUMN number INTEGER;
UPDATE architectures SET number = (SELECT count(*) FROM architectures b
                                   WHERE b.job_id = architectures.job_id
                                     AND b.seq <= architectures.seq);
CREATE UNIQUE INDEX architectures_job_number ON architectures (job_id, number);
