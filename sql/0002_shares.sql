-- Raw shares and their per-minute rollups.
--
-- shares holds every verdict of bmm-stratum (accepted and rejected) as long
-- as the reward schemes need them (PPLNS windows, audits); it is partitioned
-- by day (UTC) so that old days are dropped whole with
-- bmm_drop_share_partitions_before(). bmm-accountd creates the partition of a
-- day before it stores the first share of that day.
--
-- work is floor(2^256 / (target + 1)) for an accepted share and 0 for a
-- rejected one (ACCOUNTING.md), computed exactly by bmm-accountd.
-- (uid, time) is unique: bmm-stratum may deliver a record twice (with two
-- stream ids), and the copy is the same line of its journal, so the same uid
-- and time; the second one is skipped.
CREATE TABLE shares (
    time       timestamptz NOT NULL,
    uid        text NOT NULL,
    stream_id  text NOT NULL,
    instance   integer NOT NULL,
    coin       text NOT NULL,
    algorithm  text NOT NULL,
    account    text NOT NULL,
    worker     text NOT NULL,
    ip         text NOT NULL,
    job        text NOT NULL,
    height     bigint NOT NULL,
    difficulty double precision NOT NULL,  -- for display only; work is what counts
    target     text NOT NULL,              -- 64 hex digits; '' when the job was unknown
    accepted   boolean NOT NULL,
    code       integer NOT NULL,           -- 0 accepted, else the Stratum error code (20..25)
    reason     text NOT NULL,
    block      boolean NOT NULL,
    hash       text NOT NULL,
    work       numeric NOT NULL,
    PRIMARY KEY (uid, time)
) PARTITION BY RANGE (time);

-- Range scans by time (PPLNS windows, epochs) read whole days or runs of
-- them: a BRIN index costs next to nothing at insert time, unlike a B-tree.
CREATE INDEX shares_time ON shares USING brin (time);

-- Creates (if missing) the partition of shares holding the UTC day `day`;
-- returns its name.
CREATE FUNCTION bmm_ensure_share_partition(day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    part text := 'shares_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF shares FOR VALUES FROM (%L) TO (%L)', part,
                       (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    END IF;
    RETURN part;
END $$;

-- Drops every daily partition of shares wholly before the UTC day `cutoff`;
-- returns the names dropped. Rollups (share_minutes) are kept.
CREATE FUNCTION bmm_drop_share_partitions_before(cutoff date) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'shares'::regclass AND c.relname ~ '^shares_[0-9]{8}$'
          AND to_date(substr(c.relname, 8), 'YYYYMMDD') < cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END $$;

-- Per worker and minute (UTC): shares by verdict, blocks and accepted work.
-- Hashrate over an interval is sum(work) / seconds (see the views).
CREATE TABLE share_minutes (
    coin                    text NOT NULL,
    account                 text NOT NULL,
    worker                  text NOT NULL,
    minute                  timestamptz NOT NULL,
    accepted                bigint NOT NULL DEFAULT 0,
    rejected                bigint NOT NULL DEFAULT 0,  -- all rejected, = the six columns below
    rejected_other          bigint NOT NULL DEFAULT 0,  -- 20 and any unknown code
    rejected_stale          bigint NOT NULL DEFAULT 0,  -- 21
    rejected_duplicate      bigint NOT NULL DEFAULT 0,  -- 22
    rejected_low_difficulty bigint NOT NULL DEFAULT 0,  -- 23
    rejected_unauthorized   bigint NOT NULL DEFAULT 0,  -- 24
    rejected_not_subscribed bigint NOT NULL DEFAULT 0,  -- 25
    blocks                  bigint NOT NULL DEFAULT 0,  -- shares that were also blocks (a stale share can be one)
    work                    numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (coin, account, worker, minute)
);
CREATE INDEX share_minutes_minute ON share_minutes (minute);

-- Hashrate (hashes per second, averaged over the minute) per worker...
CREATE VIEW worker_minutes AS
SELECT coin, account, worker, minute, accepted, rejected, blocks, work,
       trunc(work / 60) AS hashrate
FROM share_minutes;

-- ... and per account.
CREATE VIEW account_minutes AS
SELECT coin, account, minute,
       sum(accepted)::bigint AS accepted, sum(rejected)::bigint AS rejected, sum(blocks)::bigint AS blocks,
       sum(work) AS work, trunc(sum(work) / 60) AS hashrate
FROM share_minutes
GROUP BY coin, account, minute;
