-- ledger_audit(): the invariants of ACCOUNTING.md, checked in SQL. One row
-- per problem, in words an operator can act on; no rows when the ledger is
-- sound. `bmm-accountd audit` prints them; accounting/src/ledger_pg.cpp's
-- audit() returns them. The same rules as bmm::accounting::ledger::check_invariants,
-- plus what only the database knows (blocks, epochs).
CREATE FUNCTION ledger_audit() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    -- 1. Per currency, balances sum to zero.
    SELECT format('balances in %s sum to %s, not zero', currency, sum(balance))
    FROM balances GROUP BY currency HAVING sum(balance) <> 0
UNION ALL
    -- 2. No user, foundation or fee balance below zero.
    SELECT format('account %s holds %s %s, below zero', account, balance, currency)
    FROM balances
    WHERE balance < 0 AND (account LIKE 'user:%' OR account LIKE 'foundation:%' OR account LIKE 'pool:fees:%')
UNION ALL
    -- 3. BMM issued within the supply: premine <= 10 %, emission <= 90 %, total <= 1,390,000,000 BMM.
    SELECT problem FROM (
        SELECT coalesce(-(SELECT balance FROM balances WHERE account = 'system:genesis:BMM' AND currency = 'BMM'), 0) AS premine,
               coalesce(-(SELECT balance FROM balances WHERE account = 'system:emission:BMM' AND currency = 'BMM'), 0) AS emitted
    ) issued,
    LATERAL (VALUES
        (CASE WHEN premine < 0 OR premine > 139000000 * 10::numeric ^ 18
              THEN format('premine issued %s BMM base units, outside [0, 139000000 x 10^18]', premine) END),
        (CASE WHEN emitted < 0 OR emitted > 1251000000 * 10::numeric ^ 18
              THEN format('emission issued %s BMM base units, outside [0, 1251000000 x 10^18]', emitted) END),
        (CASE WHEN premine + emitted > 1390000000 * 10::numeric ^ 18
              THEN format('BMM issued %s base units, above the supply 1390000000 x 10^18', premine + emitted) END)
    ) AS checks(problem)
    WHERE problem IS NOT NULL
UNION ALL
    -- 4. Every block of a closed epoch is booked whole, once it is booked at all,
    --    and its status matches its release or reversal transfers.
    SELECT problem FROM (
        SELECT b.hash, b.reward, b.status, e.closed_at,
               coalesce(sum(t.amount) FILTER (WHERE t.kind IN ('block_fee', 'block_dividend', 'block_miner',
                                                               'block_undistributed')), 0) AS booked,
               coalesce(sum(t.amount) FILTER (WHERE t.kind = 'block_mature'), 0) AS released,
               coalesce(sum(t.amount) FILTER (WHERE t.kind = 'block_orphan'), 0) AS reversed
        FROM blocks b
        LEFT JOIN epochs e ON e.k = b.epoch
        LEFT JOIN ledger_transfers t ON t.reference = 'block:' || b.hash
        GROUP BY b.hash, b.reward, b.status, e.closed_at
    ) blk,
    LATERAL (VALUES
        (CASE WHEN closed_at IS NOT NULL AND booked <> reward
              THEN format('block %s: reward %s but %s booked at its epoch''s close', hash, reward, booked) END),
        (CASE WHEN status = 'mature' AND (released <> booked OR reversed <> 0)
              THEN format('block %s is mature but %s of %s released and %s reversed', hash, released, booked, reversed) END),
        (CASE WHEN status = 'orphaned' AND (reversed <> booked OR released <> 0)
              THEN format('block %s is orphaned but %s of %s reversed and %s released', hash, reversed, booked, released) END),
        (CASE WHEN status = 'immature' AND (released <> 0 OR reversed <> 0)
              THEN format('block %s is immature but has release or reversal transfers', hash) END)
    ) AS checks(problem)
    WHERE problem IS NOT NULL
UNION ALL
    -- 5. Transfers that name a block the blocks table does not hold.
    SELECT DISTINCT format('transfers reference %s, which is not in blocks', t.reference)
    FROM ledger_transfers t
    WHERE t.reference LIKE 'block:%'
      AND NOT EXISTS (SELECT 1 FROM blocks b WHERE 'block:' || b.hash = t.reference)
UNION ALL
    -- 6. Each closed epoch paid exactly the emission it recorded.
    SELECT format('epoch %s recorded emission_paid %s but its emission transfers add up to %s', k, emission_paid, paid)
    FROM (
        SELECT e.k, e.emission_paid,
               coalesce((SELECT sum(amount) FROM ledger_transfers t
                         WHERE t.reference = 'epoch:' || e.k AND t.kind = 'emission'), 0) AS paid
        FROM epochs e WHERE e.closed_at IS NOT NULL
    ) ep
    WHERE paid <> emission_paid
$$;
