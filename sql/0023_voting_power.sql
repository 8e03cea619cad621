-- Voting power (white paper: BMM held is the measure of a holder's vote; issue 15).
-- An epoch's voting-power snapshot is its dividend weights (sql/0018,
-- epoch_bmm_holdings / epoch_bmm_totals): the available BMM of every holder
-- account (user:<name>:available, foundation:<x>) at that epoch's close, before
-- the close's own emission. This migration makes that snapshot immutable and
-- recomputable, and audits it:
--
-- 1. ledger_transfers.seq: the order in which transfers were inserted (a
--    sequence; existing rows are numbered in the order the table holds them).
-- 2. epoch_bmm_totals.ledger_seq: the highest seq the close's snapshot covers.
--    The close takes a SHARE ROW EXCLUSIVE lock on ledger_transfers before it
--    reads the holdings (every transaction that inserted a transfer has ended,
--    none can insert until the close commits), so the snapshot is exactly the
--    BMM moved by the transfers with seq <= ledger_seq. NULL for epochs closed
--    before this migration: their snapshot is kept but cannot be recomputed.
-- 3. UPDATE, DELETE and TRUNCATE of epoch_bmm_holdings and epoch_bmm_totals
--    raise an error: a vote's snapshot never changes once recorded.
-- 4. audit_voting_power(): each recorded snapshot (with ledger_seq) equals the
--    holder balances recomputed from the BMM transfers up to its ledger_seq, per
--    account and in total.
ALTER TABLE ledger_transfers ADD COLUMN seq bigserial;
CREATE UNIQUE INDEX ledger_transfers_seq ON ledger_transfers (seq);
CREATE INDEX ledger_transfers_bmm_seq ON ledger_transfers (seq) WHERE currency = 'BMM';

ALTER TABLE epoch_bmm_totals ADD COLUMN ledger_seq bigint CHECK (ledger_seq >= 0);

CREATE FUNCTION bmm_voting_power_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is an epoch''s voting-power snapshot and never changes (% refused); '
                    'a wrong snapshot is a finding of audit_voting_power(), not something to edit', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER epoch_bmm_holdings_immutable BEFORE UPDATE OR DELETE ON epoch_bmm_holdings
    FOR EACH ROW EXECUTE FUNCTION bmm_voting_power_immutable();
CREATE TRIGGER epoch_bmm_holdings_no_truncate BEFORE TRUNCATE ON epoch_bmm_holdings
    FOR EACH STATEMENT EXECUTE FUNCTION bmm_voting_power_immutable();
CREATE TRIGGER epoch_bmm_totals_immutable BEFORE UPDATE OR DELETE ON epoch_bmm_totals
    FOR EACH ROW EXECUTE FUNCTION bmm_voting_power_immutable();
CREATE TRIGGER epoch_bmm_totals_no_truncate BEFORE TRUNCATE ON epoch_bmm_totals
    FOR EACH STATEMENT EXECUTE FUNCTION bmm_voting_power_immutable();

-- A BMM holder account, as is_bmm_holder_account() (accounting/rules/ledger_model.cpp) decides.
CREATE FUNCTION bmm_is_holder_account(account text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT account ~ '^user:[^:]+:available$' OR account ~ '^foundation:[^:]+$'
$$;

-- audit_voting_power: every snapshot with a ledger_seq is what the ledger says
-- the holders held at that point: per account, and the total (the sum of BMM
-- held by users and the foundation at that close).
CREATE FUNCTION audit_voting_power() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    WITH marks AS (
        SELECT epoch, ledger_seq FROM epoch_bmm_totals WHERE ledger_seq IS NOT NULL
    ),
    -- The snapshots in ledger order, for a binary search (width_bucket).
    ordered AS (
        SELECT array_agg(ledger_seq + 1 ORDER BY ledger_seq, epoch) AS above,
               array_agg(epoch ORDER BY ledger_seq, epoch) AS epochs, max(ledger_seq) AS top
        FROM marks
    ),
    -- Each BMM move of a holder account, in the first snapshot that covers it:
    -- width_bucket counts the snapshots whose ledger_seq is below the move's seq.
    moves AS (
        SELECT o.epochs[width_bucket(t.seq, o.above) + 1] AS bucket, x.account, x.delta
        FROM ordered o
        JOIN ledger_transfers t ON t.currency = 'BMM' AND t.seq <= o.top,
        LATERAL (VALUES (t.credit, t.amount), (t.debit, -t.amount)) AS x(account, delta)
        WHERE bmm_is_holder_account(x.account)
    ),
    deltas AS (
        SELECT bucket, account, sum(delta) AS delta FROM moves WHERE bucket IS NOT NULL GROUP BY bucket, account
    ),
    -- Running balance of each holder account at each snapshot.
    held AS (
        SELECT m.epoch, a.account,
               sum(coalesce(d.delta, 0)) OVER (PARTITION BY a.account ORDER BY m.ledger_seq, m.epoch) AS bmm
        FROM marks m
        CROSS JOIN (SELECT DISTINCT account FROM deltas) a
        LEFT JOIN deltas d ON d.bucket = m.epoch AND d.account = a.account
    ),
    recorded AS (
        SELECT h.epoch, h.account, h.bmm FROM epoch_bmm_holdings h JOIN marks m ON m.epoch = h.epoch
    )
    SELECT format('epoch %s voting power of %s: the snapshot records %s BMM base units, but the ledger up to '
                  'transfer %s gives %s', coalesce(r.epoch, l.epoch), coalesce(r.account, l.account),
                  coalesce(r.bmm, 0), m.ledger_seq, coalesce(l.bmm, 0))
    FROM recorded r
    FULL JOIN (SELECT epoch, account, bmm FROM held WHERE bmm > 0) l ON l.epoch = r.epoch AND l.account = r.account
    JOIN marks m ON m.epoch = coalesce(r.epoch, l.epoch)
    WHERE r.bmm IS DISTINCT FROM l.bmm
UNION ALL
    SELECT format('epoch %s voting power total: the snapshot records %s BMM base units, but users and the '
                  'foundation held %s up to transfer %s', m.epoch, t.total, coalesce(s.bmm, 0), m.ledger_seq)
    FROM marks m
    JOIN epoch_bmm_totals t ON t.epoch = m.epoch
    LEFT JOIN (SELECT epoch, sum(bmm) AS bmm FROM held WHERE bmm > 0 GROUP BY epoch) s ON s.epoch = m.epoch
    WHERE t.total <> coalesce(s.bmm, 0)
$$;

-- The snapshot by holder name (what the API and `bmm-accountd voting-power`
-- show): user:<name>:available as <name>, foundation:<x> as itself.
CREATE VIEW voting_power AS
SELECT h.epoch,
       CASE WHEN h.account LIKE 'user:%' THEN substr(h.account, 6, length(h.account) - 15) ELSE h.account END AS name,
       h.account AS ledger_account,
       h.bmm
FROM epoch_bmm_holdings h;
