-- What pplns and pps need of each share (ACCOUNTING.md "Coin rewards and
-- dividends"): the work of its job's network target, floor(2^256 / (T_net + 1))
-- computed exactly by bmm-accountd like work, and the job's expected block
-- reward (coinbase value, satoshis). NULL for records of a bmm-stratum that
-- did not send them, and for shares without a job.
ALTER TABLE shares ADD COLUMN network_work numeric;
ALTER TABLE shares ADD COLUMN reward bigint;
