-- A block's fate made explicit (docs/accounting.md, "Orphans, returns, debts and parked blocks"):
--   * an orphan verdict takes [coins.X] orphan_readings readings of confirmations = -1, each at least
--     orphan_reading_blocks node heights after the one before (orphan_readings, orphan_reading_height
--     below); a block the node does not know (RPC error -5) for unknown_orphan_seconds is orphaned
--     (unknown_since);
--   * an orphaned block that comes back to the main chain is booked again: its reversal is reversed
--     (kind block_return), status orphaned -> immature (or -> mature when it had matured);
--   * a block orphaned after it matured is reversed from the available accounts it paid: their
--     balance may go below zero, by at most their late-orphan reversals not returned (a debt; later
--     credits repay it first, since they land on the same balance);
--   * a block the epoch close cannot split (a pplns block whose finding share is missing) is parked
--     (status parked, parked_reason) for the operator, who resolves it as an orphan (resolution
--     'orphan', nothing booked) or with a finder (resolution 'finder', booked as solo to that
--     account at the close of the first open epoch). A parked block never stops an epoch close.
ALTER TABLE blocks ADD COLUMN orphan_readings integer NOT NULL DEFAULT 0 CHECK (orphan_readings >= 0);
ALTER TABLE blocks ADD COLUMN orphan_reading_height bigint;  -- node height at the last -1 reading
ALTER TABLE blocks ADD COLUMN unknown_since timestamptz;     -- first -5 answer of a run of them
ALTER TABLE blocks ADD COLUMN parked_reason text;
ALTER TABLE blocks ADD COLUMN resolution text CHECK (resolution IN ('orphan', 'finder'));
ALTER TABLE blocks DROP CONSTRAINT blocks_status_check;
ALTER TABLE blocks ADD CONSTRAINT blocks_status_check
    CHECK (status IN ('immature', 'mature', 'orphaned', 'parked'));
CREATE INDEX blocks_parked ON blocks (status) WHERE status = 'parked';

CREATE OR REPLACE FUNCTION bmm_blocks_status_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> OLD.status AND NOT (
           (OLD.status = 'immature' AND NEW.status IN ('mature', 'orphaned', 'parked'))
        OR (OLD.status = 'mature' AND NEW.status = 'orphaned')
        OR (OLD.status = 'orphaned' AND NEW.status IN ('immature', 'mature'))
        OR (OLD.status = 'parked' AND NEW.status IN ('immature', 'orphaned'))) THEN
        RAISE EXCEPTION 'block % is % already; it cannot become %', OLD.hash, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.hash, NEW.coin, NEW.height, NEW.reward, NEW.found_at, NEW.found_epoch)
       IS DISTINCT FROM (OLD.hash, OLD.coin, OLD.height, OLD.reward, OLD.found_at, OLD.found_epoch)
       OR (OLD.status <> 'parked' AND (NEW.finder, NEW.epoch) IS DISTINCT FROM (OLD.finder, OLD.epoch)) THEN
        RAISE EXCEPTION 'block %: only its status (and, while parked, its finder and epoch) may change', OLD.hash
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_kind_check;
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_kind_check
    CHECK (kind IN ('premine', 'emission', 'block_fee', 'block_dividend', 'block_miner', 'block_undistributed',
                    'block_mature', 'block_orphan', 'block_return', 'pps_credit',
                    'payout_reserve', 'payout_sent', 'payout_return', 'payout_fee', 'bmm_deposit'));

-- The debts of late orphans: per available account and currency, what its balance may be below
-- zero (its reversals of matured blocks not returned), and what it owes now.
CREATE VIEW account_debts AS
SELECT d.account, d.currency, d.backing, greatest(-coalesce(b.balance, 0), 0) AS owed
FROM (
    SELECT account, currency, sum(delta) AS backing FROM (
        SELECT debit AS account, currency, amount AS delta FROM ledger_transfers WHERE kind = 'block_orphan'
        UNION ALL
        SELECT credit AS account, currency, -amount AS delta FROM ledger_transfers WHERE kind = 'block_return'
    ) m
    WHERE account NOT LIKE '%:immature'
    GROUP BY account, currency
) d
LEFT JOIN balances b USING (account, currency)
WHERE d.backing > 0;

-- audit_ledger: 0021's checks, with check 2 allowing a balance below zero only as far as recorded
-- late-orphan debts back it, and check 4 knowing returns, late orphans and parked blocks.
CREATE OR REPLACE FUNCTION audit_ledger() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    -- 1. Per currency, balances sum to zero.
    SELECT format('balances in %s sum to %s, not zero', currency, sum(balance))
    FROM balances GROUP BY currency HAVING sum(balance) <> 0
UNION ALL
    -- 2. No user, foundation or fee balance below zero, except by a debt of late orphans (and never
    --    further below zero than those debts).
    SELECT CASE WHEN coalesce(d.backing, 0) = 0
                THEN format('account %s holds %s %s, below zero', b.account, b.balance, b.currency)
                ELSE format('account %s holds %s %s, below zero beyond its late-orphan debts of %s',
                            b.account, b.balance, b.currency, d.backing) END
    FROM balances b
    LEFT JOIN account_debts d USING (account, currency)
    WHERE b.balance < 0 AND (b.account LIKE 'user:%' OR b.account LIKE 'foundation:%' OR b.account LIKE 'pool:fees:%')
      AND (b.account LIKE '%:immature' OR -b.balance > coalesce(d.backing, 0))
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
    -- 4. Every block of a closed epoch is booked whole, once it is booked at all (a parked block and
    --    one resolved as an orphan: not at all), and its status matches its release, reversal and
    --    return transfers: reversed - returned is the booking when orphaned and 0 otherwise; released
    --    is the booking when mature, 0 when immature, either when orphaned (after or before maturity).
    SELECT problem FROM (
        SELECT b.hash, b.reward, b.status, b.resolution, e.closed_at,
               coalesce(sum(t.amount) FILTER (WHERE t.kind IN ('block_fee', 'block_dividend', 'block_miner',
                                                               'block_undistributed')), 0) AS booked,
               coalesce(sum(t.amount) FILTER (WHERE t.kind = 'block_mature'), 0) AS released,
               coalesce(sum(t.amount) FILTER (WHERE t.kind = 'block_orphan'), 0) AS reversed,
               coalesce(sum(t.amount) FILTER (WHERE t.kind = 'block_return'), 0) AS returned
        FROM blocks b
        LEFT JOIN epochs e ON e.k = b.epoch
        LEFT JOIN ledger_transfers t ON t.reference = 'block:' || b.hash
        GROUP BY b.hash, b.reward, b.status, b.resolution, e.closed_at
    ) blk,
    LATERAL (VALUES
        (CASE WHEN closed_at IS NOT NULL AND booked <> reward AND status <> 'parked'
                   AND NOT (status = 'orphaned' AND resolution = 'orphan' AND booked = 0)
              THEN format('block %s: reward %s but %s booked at its epoch''s close', hash, reward, booked) END),
        (CASE WHEN status = 'parked' AND (booked <> 0 OR released <> 0 OR reversed <> 0 OR returned <> 0)
              THEN format('block %s is parked but has transfers', hash) END),
        (CASE WHEN status = 'mature' AND (released <> booked OR reversed <> returned)
              THEN format('block %s is mature but %s of %s released and %s reversed, %s of it returned',
                          hash, released, booked, reversed, returned) END),
        (CASE WHEN status = 'orphaned' AND (reversed - returned <> booked OR released NOT IN (0, booked))
              THEN format('block %s is orphaned but %s of %s reversed (%s of it returned) and %s released',
                          hash, reversed, booked, returned, released) END),
        (CASE WHEN status = 'immature' AND (released <> 0 OR reversed <> returned)
              THEN format('block %s is immature but has release transfers or reversals not returned', hash) END)
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
