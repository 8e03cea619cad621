-- audit_shares() and record_sequence_gaps(): the audit looks at the records bmm-stratum sent, not only at
-- the ledger (issue 13, "the audit checks the outside world"; docs/operations.md, "What the audit checks").
--
-- Every record bmm-stratum journals carries uid = <instance>:<boot>:<seq>: its [pool] instance_id, the boot
-- stamp of that run of its journal (Unix ms at start, always moving forward) and a sequence number that
-- starts at 0 and goes up by one per record written to the journal. So per (instance, boot) the records
-- stored in PostgreSQL (shares, blocks_found, ingest_errors) must be 0, 1, 2, ... without a hole: a hole
-- is a record the journal wrote that the stream or the database lost (a dropped stream entry, a deleted
-- row). record_sequence_gaps() finds the holes; bmm-accountd audit calls it with the point up to which
-- the stream is known to be stored (every entry appended before settled_ms is stored and acknowledged).
--
-- Cost: both look only at shares of a bounded window (audit_shares(): the last `bmm.audit_days` days,
-- default 1, a setting `bmm-accountd audit --days` sets; record_sequence_gaps(): from `since`), read
-- through the BRIN index on time, so an audit costs what a day of shares costs, not the whole table. The
-- gap check is one aggregate per (instance, boot) (count, min, max: no sort); only a group whose count
-- does not match its range is read again, sorted, to name its holes.

-- audit_shares: each accepted share stored once: no uid twice, no proof-of-work hash credited twice.
CREATE FUNCTION audit_shares() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT CASE WHEN coalesce(nullif(current_setting('bmm.audit_days', true), ''), '1')::int <= 0
                    THEN '-infinity'::timestamptz
                    ELSE now() - make_interval(days => coalesce(nullif(current_setting('bmm.audit_days', true), ''),
                                                                 '1')::int) END AS since
    )
    -- 1. A record's uid is stored once (a repeat of a record is the same journal line, so the same uid and
    --    time, which the primary key (uid, time) refuses; two rows with one uid mean a row was copied). The
    --    groups come from the primary key's index in uid order (no sort, no hash table); details only for
    --    the uids found.
    SELECT format('share uid %s is stored %s times (%s): a record counts once; keep the row of its first '
                  'delivery and delete the others, then run the epoch''s statements again', d.uid, d.n,
                  (SELECT string_agg(format('time %s stream id %s', s.time, s.stream_id), ', ' ORDER BY s.time)
                   FROM shares s, w WHERE s.uid = d.uid AND s.time >= w.since))
    FROM (SELECT s.uid, count(*) AS n FROM shares s, w WHERE s.time >= w.since
          GROUP BY s.uid HAVING count(*) > 1) d
UNION ALL
    -- 2. A proof-of-work hash (one block header) is credited once: two accepted shares with one hash are
    --    one piece of work paid twice (issue 13, item 1).
    SELECT format('%s proof-of-work hash %s is credited to %s accepted shares (%s): one header earns once; '
                  'find why bmm-stratum accepted it twice (its duplicate key) and book a correction', d.coin,
                  d.hash, d.n,
                  (SELECT string_agg(s.uid, ', ' ORDER BY s.time, s.uid) FROM shares s, w
                   WHERE s.time >= w.since AND s.accepted AND s.coin = d.coin AND s.hash = d.hash))
    FROM (SELECT s.coin, s.hash, count(*) AS n FROM shares s, w WHERE s.time >= w.since AND s.accepted AND s.hash <> ''
          GROUP BY s.coin, s.hash HAVING count(*) > 1) d
$$;

-- Holes in the record sequences of each bmm-stratum instance, among the records stored from `since` on
-- (shares and found blocks by their time, unreadable records by when they were stored). Only holes below
-- a record whose stream entry was appended before settled_ms (Unix ms) are reported: the stream carries
-- one instance's records in sequence order, so a record before a settled one was appended before
-- settled_ms too and must be stored. A boot that began before `since` (or before the oldest share
-- partition kept) is checked from its first record stored 10 minutes after that point, so that records
-- of the dropped days are not reported. One line per hole, at most 20 per instance run.
CREATE FUNCTION record_sequence_gaps(since timestamptz, settled_ms bigint) RETURNS SETOF text
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
        ), seqs AS (
            SELECT split_part(uid, ':', 1) AS instance, split_part(uid, ':', 2) AS boot,
                   split_part(uid, ':', 3)::numeric AS seq,
                   split_part(stream_id, '-', 1)::numeric < settled_ms AS settled, time
            FROM recs WHERE uid ~ '^\d+:\d+:\d+$'
        )
        SELECT instance, boot, count(*) AS n, min(seq) AS lo, max(seq) AS hi,
               count(*) FILTER (WHERE time >= since + interval '10 minutes') AS n_late,
               min(seq) FILTER (WHERE time >= since + interval '10 minutes') AS lo_late,
               max(seq) FILTER (WHERE time >= since + interval '10 minutes') AS hi_late,
               max(seq) FILTER (WHERE settled) AS last,
               CASE WHEN boot::numeric >= extract(epoch FROM since) * 1000 THEN 0
                    ELSE min(seq) FILTER (WHERE time >= since + interval '10 minutes') END AS first
        FROM seqs GROUP BY instance, boot
    LOOP
        -- Clean: the run's records from `first` on are all there (no hole anywhere up to its highest one).
        -- The common cases cost nothing more: a run that began in the window has 0..hi, one older than the
        -- window has its records from 10 minutes into the window on without a hole.
        CONTINUE WHEN g.last IS NULL OR g.first IS NULL OR g.last < g.first
                      OR (g.first = 0 AND g.lo = 0 AND g.n = g.hi + 1)
                      OR (g.first > 0 AND g.n_late = g.hi_late - g.lo_late + 1 AND g.hi_late = g.hi);
        holes := 0;
        FOR h IN
            WITH mine AS (
                SELECT split_part(uid, ':', 3)::numeric AS seq FROM (
                    SELECT uid FROM shares WHERE time >= since
                    UNION ALL SELECT uid FROM blocks_found WHERE time >= since
                    UNION ALL SELECT fields ->> 'uid' FROM ingest_errors WHERE stored_at >= since
                ) r WHERE uid LIKE g.instance || ':' || g.boot || ':%' AND uid ~ '^\d+:\d+:\d+$'
            ), ordered AS (
                SELECT seq, lag(seq) OVER (ORDER BY seq) AS prev FROM (SELECT DISTINCT seq FROM mine) d
            )
            SELECT a, seq - 1 AS b FROM (
                SELECT seq, CASE WHEN prev IS NULL OR prev < g.first THEN g.first ELSE prev + 1 END AS a
                FROM ordered) o
            WHERE seq <= g.last AND seq - 1 >= a
            ORDER BY seq
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
