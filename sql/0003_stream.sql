-- Where the ingest stands in the Redis stream, found blocks as the stream
-- reported them, and records that could not be read.

-- The last stream id stored, per consumer; written in the same transaction as
-- the records up to it, so an entry at or below it is never stored again.
CREATE TABLE stream_state (
    stream     text NOT NULL,
    grp        text NOT NULL,
    consumer   text NOT NULL,
    last_ms    bigint NOT NULL,
    last_seq   bigint NOT NULL,
    entries    bigint NOT NULL DEFAULT 0,  -- stream entries consumed (including skipped repeats)
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, grp, consumer)
);

-- type=block records: a block bmm-stratum assembled and sent to the node,
-- with the node's answer. The block tracker (confirmations, orphans,
-- rewards) builds on this table.
CREATE TABLE blocks_found (
    uid       text PRIMARY KEY,
    stream_id text NOT NULL,
    time      timestamptz NOT NULL,
    instance  integer NOT NULL,
    coin      text NOT NULL,
    height    bigint NOT NULL,
    hash      text NOT NULL,
    account   text NOT NULL,
    worker    text NOT NULL,
    job       text NOT NULL,
    reward    bigint NOT NULL,     -- coinbase value in base units (satoshis)
    accepted  boolean NOT NULL,    -- the node accepted submitblock
    answer    text NOT NULL        -- the node's answer to submitblock
);
CREATE INDEX blocks_found_hash ON blocks_found (hash);

-- Stream entries that could not be read (unknown type, missing or bad
-- fields). They are kept here, with the reason, and acknowledged, so that
-- one bad record never stops the ingest and nothing is dropped silently.
CREATE TABLE ingest_errors (
    stream    text NOT NULL,
    stream_id text NOT NULL,
    fields    jsonb NOT NULL,
    error     text NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, stream_id)
);
