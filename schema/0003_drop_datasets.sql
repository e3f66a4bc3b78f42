-- SPDX-License-Identifier: MIT
-- 0003_drop_datasets.sql - the datasets table goes (issue #13).
--
-- nasd wrote a row per dataset at every start and nothing read them:
-- GET /v1/datasets asks the engine (nas_datasets) and the config each
-- time, which is what is true now rather than at the last start.

DROP TABLE IF EXISTS datasets;
