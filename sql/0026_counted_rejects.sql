-- Rejected shares are counted, not stored one row each (issue 13, item 5): a rejected share that is not a
-- block is added to share_minutes (per coin, account, worker, minute and reason) and no row of shares is
-- written for it. A rejected share that is a block keeps its row (its pplns window ends at it, and the
-- block is booked for its finder: docs/accounting.md). A flood of rejected shares from an authorised
-- client costs the database a few counters, not a row each.
--
-- Exactly once. An accepted share is stored once because shares' primary key (uid, time) refuses a
-- record delivered twice. A counted record has no row, so it needs its own memory of "already counted":
-- counted_records holds, per bmm-stratum instance and journal run (the uid <instance>:<boot>:<seq>,
-- sql/0022), the sequence numbers counted, as runs lo..hi of consecutive numbers. The ingest adds a
-- round's counted records here in the same transaction as their counts (bmm_count_records(), below);
-- a record whose number is in a run already is a repeat (bmm-stratum sent it again with a new stream id,
-- or a round was read again after a crash between COMMIT and XACK, or taken over with XAUTOCLAIM) and
-- is not counted again.
--
-- Why runs of sequence numbers, and not "the highest number stored" or a table of rejected uids:
--   - a high-water mark is not exact: with two consumers in the group, or entries taken over from
--     another consumer, a record can first arrive after a higher number of its run was stored;
--   - a table of uids is a row per rejected share again (smaller, but a flood still grows it, and a
--     time bound on it would count a repeat that comes later than the bound twice);
--   - runs cost one row per run of consecutive rejected records: a flood of thousands of rejected
--     shares in a row is one row, exact for any order of arrival. They go with the share partitions
--     (bmm_drop_share_partitions_before() below drops the runs that ended before the cutoff).
-- A record whose uid is not <instance>:<boot>:<seq> (digits) is stored as a row as before.
--
-- The audit (record_sequence_gaps(), replaced below) counts a record stored when its number is a row of
-- shares, blocks_found or ingest_errors or lies in a run of counted_records: the journal, the stream and
-- the database still agree per instance without a row per rejected share.

CREATE TABLE counted_records (
    instance        bigint NOT NULL,       -- the uid's first part
    boot            bigint NOT NULL,       -- its second part: the journal run
    lo              bigint NOT NULL,       -- the run's first sequence number
    hi              bigint NOT NULL,       -- its last (lo <= hi); every number in between is counted
    first_time      timestamptz NOT NULL,  -- the earliest record time in the run
    last_time       timestamptz NOT NULL,  -- the latest
    first_stream_ms bigint NOT NULL,       -- the earliest stream entry id (ms) of its records
    last_stream_ms  bigint NOT NULL,       -- the latest
    PRIMARY KEY (instance, boot, lo),
    CHECK (lo <= hi)
);
CREATE INDEX counted_records_last_time ON counted_records (last_time);

-- Records before this moment were stored as rows of shares even when rejected; a repeat of one of
-- them is found there (bmm_count_records()).
CREATE TABLE counted_records_since (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    since timestamptz NOT NULL
);
INSERT INTO counted_records_since (since) VALUES (now());

-- Adds the records (p_seqs[i], record time p_times[i], stream entry ms p_stream_ms[i]) of one instance's
-- journal run to counted_records and returns the sequence numbers that were not counted before (the
-- caller counts exactly those). Serialised per run by a transaction-level advisory lock, so two consumers
-- storing the same record at once count it once (the second waits and then finds it counted). The caller
-- takes these locks in (instance, boot) order, before it writes anything else, so they never deadlock.
CREATE FUNCTION bmm_count_records(p_instance bigint, p_boot bigint, p_seqs bigint[], p_times timestamptz[],
                                  p_stream_ms bigint[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    before timestamptz;
    n_seq bigint[];
    n_time timestamptz[];
    n_sms bigint[];
    lo_new bigint;
    hi_new bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('bmm counted records ' || p_instance || ':' || p_boot, 0));
    SELECT since INTO before FROM counted_records_since;
    SELECT array_agg(y.seq ORDER BY y.seq), array_agg(y.t ORDER BY y.seq), array_agg(y.sms ORDER BY y.seq),
           min(y.seq), max(y.seq)
    INTO n_seq, n_time, n_sms, lo_new, hi_new
    FROM (SELECT DISTINCT ON (x.seq) x.seq, x.t, x.sms
          FROM unnest(p_seqs, p_times, p_stream_ms) AS x(seq, t, sms)
          WHERE NOT EXISTS (
                    SELECT 1 FROM (SELECT r.hi FROM counted_records r
                                   WHERE r.instance = p_instance AND r.boot = p_boot AND r.lo <= x.seq
                                   ORDER BY r.lo DESC LIMIT 1) c
                    WHERE c.hi >= x.seq)
            AND (x.t >= before OR NOT EXISTS (
                    SELECT 1 FROM shares s
                    WHERE s.uid = p_instance || ':' || p_boot || ':' || x.seq AND s.time = x.t))
          ORDER BY x.seq) y;
    IF n_seq IS NULL THEN
        RETURN '{}';
    END IF;
    -- The new numbers and the runs they touch or continue become runs again (islands of consecutive
    -- numbers): the runs touched are read, deleted and written back merged.
    IF to_regclass('pg_temp.counted_pieces') IS NULL THEN
        CREATE TEMP TABLE counted_pieces (lo bigint, hi bigint, t0 timestamptz, t1 timestamptz, s0 bigint,
                                          s1 bigint) ON COMMIT DELETE ROWS;
    END IF;
    DELETE FROM counted_pieces;
    INSERT INTO counted_pieces SELECT * FROM unnest(n_seq, n_seq, n_time, n_time, n_sms, n_sms);
    WITH old AS (
        DELETE FROM counted_records r
        WHERE r.instance = p_instance AND r.boot = p_boot AND r.hi >= lo_new - 1 AND r.lo <= hi_new + 1
        RETURNING r.lo, r.hi, r.first_time, r.last_time, r.first_stream_ms, r.last_stream_ms
    )
    INSERT INTO counted_pieces SELECT * FROM old;
    INSERT INTO counted_records (instance, boot, lo, hi, first_time, last_time, first_stream_ms, last_stream_ms)
    SELECT p_instance, p_boot, min(lo), max(hi), min(t0), max(t1), min(s0), max(s1)
    FROM (SELECT m.*, sum(m.starts) OVER (ORDER BY m.lo, m.hi) AS island
          FROM (SELECT p.*, CASE WHEN p.lo <= max(p.hi) OVER (ORDER BY p.lo, p.hi ROWS BETWEEN UNBOUNDED PRECEDING
                                                                                  AND 1 PRECEDING) + 1
                                 THEN 0 ELSE 1 END AS starts
                FROM counted_pieces p) m) g
    GROUP BY island;
    RETURN n_seq;
END $$;

-- As in 0002, and the runs of counted records that ended before the cutoff go with the partitions.
CREATE OR REPLACE FUNCTION bmm_drop_share_partitions_before(cutoff date) RETURNS SETOF text LANGUAGE plpgsql AS $$
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
    DELETE FROM counted_records WHERE last_time < (cutoff::timestamp AT TIME ZONE 'UTC');
END $$;

-- Is the record with this uid counted (a run of counted_records holds it)? For the audit's stream check.
CREATE FUNCTION bmm_record_counted(p_uid text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_uid ~ '^\d{1,18}:\d{1,18}:\d{1,18}$' AND EXISTS (
        SELECT 1 FROM (SELECT r.hi FROM counted_records r
                       WHERE r.instance = split_part(p_uid, ':', 1)::bigint
                         AND r.boot = split_part(p_uid, ':', 2)::bigint
                         AND r.lo <= split_part(p_uid, ':', 3)::bigint
                       ORDER BY r.lo DESC LIMIT 1) c
        WHERE c.hi >= split_part(p_uid, ':', 3)::bigint)
$$;

-- record_sequence_gaps() of 0022, with the counted runs: each stored record is a run of one number (a row
-- of shares, blocks_found or ingest_errors) or a run of counted_records; holes are the numbers between the
-- runs. A counted run is in the window when it ended at or after `since`, in its late part (the part
-- 10 minutes into the window) when it began there; its highest settled number is hi when its last entry
-- was appended before settled_ms, else lo when its first one was (a run has no hole, so that is exact
-- for the holes below it).
CREATE OR REPLACE FUNCTION record_sequence_gaps(since timestamptz, settled_ms bigint) RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kept timestamptz;
    g record;
    h record;
    holes int;
BEGIN
    SELECT min(to_date(substr(c.relname, 8), 'YYYYMMDD'))::timestamp AT TIME ZONE 'UTC' INTO kept
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'shares'::regclass AND c.relname ~ '^shares_[0-9]{8}$';
    since := greatest(since, coalesce(kept, since));
    FOR g IN
        WITH recs AS (
            SELECT uid, stream_id, time FROM shares WHERE time >= since
            UNION ALL SELECT uid, stream_id, time FROM blocks_found WHERE time >= since
            UNION ALL SELECT fields ->> 'uid', stream_id, stored_at FROM ingest_errors WHERE stored_at >= since
        ), runs AS (
            SELECT split_part(uid, ':', 1) AS instance, split_part(uid, ':', 2) AS boot,
                   split_part(uid, ':', 3)::numeric AS lo, split_part(uid, ':', 3)::numeric AS hi,
                   time >= since + interval '10 minutes' AS late,
                   CASE WHEN split_part(stream_id, '-', 1)::numeric < settled_ms
                        THEN split_part(uid, ':', 3)::numeric END AS settled
            FROM recs WHERE uid ~ '^\d+:\d+:\d+$'
            UNION ALL
            SELECT instance::text, boot::text, lo, hi, first_time >= since + interval '10 minutes',
                   CASE WHEN last_stream_ms < settled_ms THEN hi WHEN first_stream_ms < settled_ms THEN lo END
            FROM counted_records WHERE last_time >= since
        )
        SELECT instance, boot, sum(hi - lo + 1) AS n, min(lo) AS lo, max(hi) AS hi,
               coalesce(sum(hi - lo + 1) FILTER (WHERE late), 0) AS n_late,
               min(lo) FILTER (WHERE late) AS lo_late,
               max(hi) FILTER (WHERE late) AS hi_late,
               max(settled) AS last,
               CASE WHEN boot::numeric >= extract(epoch FROM since) * 1000 THEN 0
                    ELSE min(lo) FILTER (WHERE late) END AS first
        FROM runs GROUP BY instance, boot
    LOOP
        CONTINUE WHEN g.last IS NULL OR g.first IS NULL OR g.last < g.first
                      OR (g.first = 0 AND g.lo = 0 AND g.n = g.hi + 1)
                      OR (g.first > 0 AND g.n_late = g.hi_late - g.lo_late + 1 AND g.hi_late = g.hi);
        holes := 0;
        FOR h IN
            WITH mine AS (
                SELECT split_part(uid, ':', 3)::numeric AS lo, split_part(uid, ':', 3)::numeric AS hi FROM (
                    SELECT uid FROM shares WHERE time >= since
                    UNION ALL SELECT uid FROM blocks_found WHERE time >= since
                    UNION ALL SELECT fields ->> 'uid' FROM ingest_errors WHERE stored_at >= since
                ) r WHERE uid LIKE g.instance || ':' || g.boot || ':%' AND uid ~ '^\d+:\d+:\d+$'
                UNION ALL
                SELECT lo, hi FROM counted_records
                WHERE instance = g.instance::bigint AND boot = g.boot::bigint AND last_time >= since
            ), ordered AS (
                SELECT lo, hi, max(hi) OVER (ORDER BY lo, hi ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                           AS prev
                FROM mine
            )
            SELECT CASE WHEN prev IS NULL OR prev < g.first THEN g.first ELSE prev + 1 END AS a, lo - 1 AS b
            FROM ordered
            WHERE lo <= g.last AND lo - 1 >= CASE WHEN prev IS NULL OR prev < g.first THEN g.first ELSE prev + 1 END
            ORDER BY lo
        LOOP
            holes := holes + 1;
            EXIT WHEN holes > 20;
            RETURN NEXT format('bmm-stratum instance %s (run started %s): %s of its records (uid %s:%s:%s%s) '
                               'are not stored, though later ones are: the stream or the database lost them; '
                               'find them in that instance''s journal (spool_dir/journal.log) or the stream and '
                               'store them again',
                               g.instance, to_timestamp(g.boot::numeric / 1000), h.b - h.a + 1, g.instance, g.boot, h.a,
                               CASE WHEN h.b > h.a THEN ' to ' || h.b ELSE '' END);
        END LOOP;
    END LOOP;
END
$$;
