-- The hash of the block a share found (64 hex digits, display order) when
-- the share met the network target, else NULL. pplns ends a block's window at
-- exactly this share (ACCOUNTING.md); matching by time is ambiguous on
-- regtest-like difficulties where one worker finds several blocks a second.
ALTER TABLE shares ADD COLUMN block_hash text;
CREATE INDEX shares_block_hash ON shares (block_hash) WHERE block_hash IS NOT NULL;
