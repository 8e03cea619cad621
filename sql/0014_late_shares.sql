-- A share stored after its own epoch has closed (bmm-stratum's journal sent it
-- after a Redis outage longer than the close's grace) counts in the first epoch
-- still open when it is stored: late_epoch is that epoch, set by the ingest in
-- the transaction that stores the share, under the shared side of the epoch
-- close lock (the closer holds the exclusive side from reading an epoch's
-- shares to committing its close). NULL for every share stored in time.
ALTER TABLE shares ADD COLUMN late_epoch bigint;
CREATE INDEX shares_late_epoch ON shares (late_epoch) WHERE late_epoch IS NOT NULL;
