-- ledger_audit() by subject. Until now each migration that added audit checks
-- replaced the whole ledger_audit() with a copy of every earlier check, so two
-- branches adding checks at once would each drop the other's. From here on each
-- subject has its own function named audit_<subject>() RETURNS SETOF text (one
-- readable line per broken invariant), and ledger_audit() is the union of every
-- such function visible on the search path, in name order. A new subject is a
-- new audit_<subject>() in its own migration; changing a subject's checks is a
-- CREATE OR REPLACE of that subject's function only.
--
-- The checks below are 0020's eighteen, verbatim, grouped by subject.

-- audit_ledger: the ledger itself: balances sum to zero, no holder below zero, BMM within its supply,
-- blocks booked whole and released or reversed whole, no transfer naming an unknown block, each
-- closed epoch's emission as recorded (checks 1-6 of 0008/0016/0020).
CREATE FUNCTION audit_ledger() RETURNS SETOF text LANGUAGE sql STABLE AS $$
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

-- audit_payouts: payout batches (0015): in-flight = open lines, each line's transfers, confirmed outputs
-- and fees, no holder in two open batches (checks 7-15 of 0016/0020).
CREATE FUNCTION audit_payouts() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    -- 7. No payout account below zero (ledger_model.hpp must_stay_non_negative: payout:*).
    SELECT format('account %s holds %s %s, below zero', account, balance, currency)
    FROM balances
    WHERE balance < 0 AND account LIKE 'payout:%'
UNION ALL
    -- 8. payout:in-flight holds, per currency, exactly the open lines of open batches.
    SELECT format('payout:in-flight holds %s %s but the open lines of open %s batches add up to %s',
                  coalesce(f.balance, 0), currency, currency, coalesce(o.open, 0))
    FROM (SELECT currency, balance FROM balances WHERE account = 'payout:in-flight') f
    FULL JOIN (SELECT b.currency, sum(l.amount) AS open
               FROM payout_lines l JOIN payout_batches b ON b.id = l.batch
               WHERE l.state = 'open' AND b.state IN ('planned', 'approved', 'broadcast', 'exported')
               GROUP BY b.currency) o USING (currency)
    WHERE coalesce(f.balance, 0) <> coalesce(o.open, 0)
UNION ALL
    -- 9. A finished batch (confirmed, failed, settled) has no open line.
    SELECT format('batch %s is %s but %s of its lines are still open', b.id, b.state, count(*))
    FROM payout_batches b JOIN payout_lines l ON l.batch = b.id AND l.state = 'open'
    WHERE b.state IN ('confirmed', 'failed', 'settled')
    GROUP BY b.id, b.state
UNION ALL
    -- 10. Every line's reserve transfer exists: holder available -> payout:in-flight, its amount and currency.
    SELECT format('batch %s line %s (%s, %s %s): its reserve transfer %s is missing or differs',
                  l.batch, l.line, l.account, l.amount, b.currency, 'payout:' || l.batch || ':reserve:' || l.line)
    FROM payout_lines l
    JOIN payout_batches b ON b.id = l.batch
    LEFT JOIN ledger_transfers t ON t.id = 'payout:' || l.batch || ':reserve:' || l.line
    WHERE t.id IS NULL OR t.kind <> 'payout_reserve' OR t.amount <> l.amount OR t.currency <> b.currency
       OR t.credit <> 'payout:in-flight' OR t.reference <> 'payout:' || l.batch
       OR t.debit <> CASE WHEN l.account LIKE 'foundation:%' THEN l.account ELSE 'user:' || l.account || ':available' END
UNION ALL
    -- 11. A sent line has its sent transfer (in-flight -> system:paid-out:<CUR>), a returned line its
    --     return transfer (in-flight -> the holder's available account), an open line neither.
    SELECT format('batch %s line %s is %s but %s', l.batch, l.line, l.state, problem)
    FROM payout_lines l
    JOIN payout_batches b ON b.id = l.batch
    LEFT JOIN ledger_transfers s ON s.id = 'payout:' || l.batch || ':sent:' || l.line
    LEFT JOIN ledger_transfers r ON r.id = 'payout:' || l.batch || ':return:' || l.line,
    LATERAL (VALUES
        (CASE WHEN l.state = 'sent' AND (s.id IS NULL OR s.amount <> l.amount OR s.currency <> b.currency
                                         OR s.kind <> 'payout_sent' OR s.debit <> 'payout:in-flight'
                                         OR s.credit <> 'system:paid-out:' || b.currency)
              THEN 'its sent transfer is missing or differs' END),
        (CASE WHEN l.state = 'returned' AND (r.id IS NULL OR r.amount <> l.amount OR r.currency <> b.currency
                                             OR r.kind <> 'payout_return' OR r.debit <> 'payout:in-flight'
                                             OR r.credit <> CASE WHEN l.account LIKE 'foundation:%' THEN l.account
                                                                 ELSE 'user:' || l.account || ':available' END)
              THEN 'its return transfer is missing or differs' END),
        (CASE WHEN l.state <> 'sent' AND s.id IS NOT NULL THEN 'it has a sent transfer' END),
        (CASE WHEN l.state <> 'returned' AND r.id IS NOT NULL THEN 'it has a return transfer' END)
    ) AS checks(problem)
    WHERE problem IS NOT NULL
UNION ALL
    -- 12. A confirmed transaction's stored outputs (its confirmed attempt's) pay each address of its
    --     lines the sum of those lines (lines to one address share one output).
    SELECT format('batch %s transaction %s (%s): the output to %s is %s but its lines there add up to %s',
                  l.batch, l.tx, a.txid, l.address, coalesce(a.outputs ->> l.address, 'missing'), l.paid)
    FROM (SELECT batch, tx, address, sum(amount) AS paid FROM payout_lines WHERE tx IS NOT NULL
          GROUP BY batch, tx, address) l
    JOIN payout_txs x ON x.batch = l.batch AND x.tx = l.tx AND x.state = 'confirmed'
    LEFT JOIN payout_attempts a ON a.batch = x.batch AND a.tx = x.tx AND a.attempt = x.confirmed_attempt
    WHERE CASE WHEN (a.outputs ->> l.address) ~ '^[0-9]+$' THEN (a.outputs ->> l.address)::numeric END
          IS DISTINCT FROM l.paid
UNION ALL
    -- 13. The fee booked for a confirmed transaction is its confirmed attempt's fee (no transfer for a
    --     zero fee), and no other transaction has a fee booked.
    SELECT format('batch %s transaction %s is %s: fee booked %s, its confirmed attempt paid %s',
                  x.batch, x.tx, x.state, coalesce(t.amount, 0), coalesce(a.fee::text, 'none'))
    FROM payout_txs x
    LEFT JOIN payout_attempts a ON a.batch = x.batch AND a.tx = x.tx AND a.attempt = x.confirmed_attempt
    LEFT JOIN ledger_transfers t ON t.id = 'payout:' || x.batch || ':fee:' || x.tx
    WHERE (x.state = 'confirmed' AND (a.fee IS NULL OR coalesce(t.amount, 0) <> a.fee))
       OR (x.state <> 'confirmed' AND t.id IS NOT NULL)
UNION ALL
    -- 14. Payout transfers name a batch (and for fees a transaction) that exists.
    SELECT format('transfer %s names payout batch %s, which is not in payout_batches', t.id, t.reference)
    FROM ledger_transfers t
    WHERE t.kind IN ('payout_reserve', 'payout_sent', 'payout_return', 'payout_fee')
      AND NOT EXISTS (SELECT 1 FROM payout_batches b WHERE 'payout:' || b.id = t.reference)
UNION ALL
    -- 15. No holder has open lines in two open batches of one currency.
    SELECT format('account %s has open lines in %s open %s batches (%s)', l.account, count(DISTINCT l.batch),
                  b.currency, string_agg(DISTINCT l.batch::text, ', '))
    FROM payout_lines l JOIN payout_batches b ON b.id = l.batch
    WHERE l.state = 'open' AND b.state IN ('planned', 'approved', 'broadcast', 'exported')
    GROUP BY l.account, b.currency
    HAVING count(DISTINCT l.batch) > 1
$$;

-- audit_bmm_deposits: BMM deposits (0019): nothing came back beyond what left, each deposit row has its
-- transfer and the reverse (checks 16-17 of 0020).
CREATE FUNCTION audit_bmm_deposits() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    -- 16. No currency came back into the pool beyond what left it: system:paid-out:<C> below zero
    --     would mean a deposit (bmm-accountd bmm deposit) brought in tokens that never left.
    SELECT format('%s holds %s %s: more came back by deposits than ever left by payouts', account, balance, currency)
    FROM balances
    WHERE account LIKE 'system:paid-out:%' AND balance < 0
UNION ALL
    -- 17. Every BMM deposit has its transfer, to its account, for its amount; no deposit transfer without its row.
    SELECT format('BMM deposit %s: %s to %s recorded, but its transfer %s', d.txid, d.amount, d.account,
                  CASE WHEN t.id IS NULL THEN 'is missing' ELSE 'moves ' || t.amount || ' to ' || t.credit END)
    FROM bmm_deposits d
    LEFT JOIN ledger_transfers t ON t.id = d.transfer_id
    WHERE t.id IS NULL OR t.amount <> d.amount OR t.kind <> 'bmm_deposit'
       OR t.credit <> CASE WHEN d.account LIKE 'foundation:%' THEN d.account ELSE 'user:' || d.account || ':available' END
UNION ALL
    SELECT format('transfer %s is a BMM deposit without a row in bmm_deposits', t.id)
    FROM ledger_transfers t
    WHERE t.kind = 'bmm_deposit' AND NOT EXISTS (SELECT 1 FROM bmm_deposits d WHERE d.transfer_id = t.id)
$$;

-- audit_dividend_weights: dividend weights (0018): each epoch's holdings add up to its recorded total (check 18 of 0020).
CREATE FUNCTION audit_dividend_weights() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    -- 18. Each epoch's recorded dividend weights add up to its recorded total (sql/0018).
    SELECT format('epoch %s recorded %s holders holding %s BMM in total, but its holdings are %s rows adding up to %s',
                  e.epoch, e.holders, e.total, coalesce(h.n, 0), coalesce(h.s, 0))
    FROM epoch_bmm_totals e
    LEFT JOIN (SELECT epoch, count(*) AS n, sum(bmm) AS s FROM epoch_bmm_holdings GROUP BY epoch) h ON h.epoch = e.epoch
    WHERE e.holders <> coalesce(h.n, 0) OR e.total <> coalesce(h.s, 0)
$$;

CREATE OR REPLACE FUNCTION ledger_audit() RETURNS SETOF text LANGUAGE plpgsql STABLE AS $$
DECLARE
    subject text;
BEGIN
    FOR subject IN
        SELECT p.proname FROM pg_proc p
        WHERE p.proname LIKE 'audit\_%' AND p.pronargs = 0 AND p.proretset
          AND p.prorettype = 'text'::regtype AND pg_function_is_visible(p.oid)
        ORDER BY p.proname
    LOOP
        RETURN QUERY EXECUTE format('SELECT * FROM %I()', subject);
    END LOOP;
END
$$;
