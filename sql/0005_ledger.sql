-- The double-entry ledger (ACCOUNTING.md, "Ledger"). Every movement of money
-- is one row: `amount` base units move from `debit` to `credit` (the debit
-- account's balance goes down, the credit account's goes up), so each
-- currency's balances sum to zero. Rows are never updated or deleted; a
-- correction is a new transfer. Ids are deterministic (block:<hash>:miner:<user>,
-- epoch:<k>:emission:<user>, genesis:premine:<account>, ...), so booking the
-- same input twice inserts nothing (INSERT ... ON CONFLICT (id) DO NOTHING).
-- Account naming: accounting/include/bmm/accounting/ledger.hpp.
CREATE TABLE ledger_transfers (
    id         text PRIMARY KEY CHECK (id <> '' AND length(id) <= 512),
    debit      text NOT NULL CHECK (debit <> ''),
    credit     text NOT NULL CHECK (credit <> '' AND credit <> debit),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
    -- Exact base units (satoshis, BMM wei): integers of any size, never floats.
    amount     numeric NOT NULL CHECK (amount > 0 AND scale(amount) = 0),
    kind       text NOT NULL CHECK (kind IN ('premine', 'emission', 'block_fee', 'block_dividend',
                                             'block_miner', 'block_undistributed', 'block_mature',
                                             'block_orphan', 'pps_credit')),
    reference  text NOT NULL,          -- 'block:<hash>', 'epoch:<k>', 'genesis', ...
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transfers_reference ON ledger_transfers (reference);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit, currency);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit, currency);

-- Append-only, enforced: UPDATE, DELETE and TRUNCATE raise an error.
CREATE FUNCTION bmm_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_transfers is append-only (% refused); book a correcting transfer instead', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION bmm_ledger_append_only();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION bmm_ledger_append_only();

-- The balance of every (account, currency) ever touched.
CREATE VIEW balances AS
SELECT account, currency, sum(delta) AS balance
FROM (
    SELECT credit AS account, currency, amount AS delta FROM ledger_transfers
    UNION ALL
    SELECT debit AS account, currency, -amount AS delta FROM ledger_transfers
) moves
GROUP BY account, currency;
