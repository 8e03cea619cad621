-- BMM deposits (docs/accounting.md, "Hold BMM to mine"): a newcomer buys BMM
-- as the ERC-20 token outside the pool and sends it to the pool; an admin books
-- it to the account with `bmm-accountd bmm deposit`, once per token transfer
-- (its txid). Every BMM token was issued by this ledger and left it through a
-- settled payout (system:paid-out:BMM), so a deposit moves BMM back from
-- there: deposits can never bring in more than ever left.
ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_kind_check;
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_kind_check
    CHECK (kind IN ('premine', 'emission', 'block_fee', 'block_dividend', 'block_miner', 'block_undistributed',
                    'block_mature', 'block_orphan', 'pps_credit',
                    'payout_reserve', 'payout_sent', 'payout_return', 'payout_fee', 'bmm_deposit'));

CREATE TABLE bmm_deposits (
    txid        text PRIMARY KEY CHECK (txid ~ '^0x[0-9a-f]{64}$'),  -- the token transfer, lower case
    account     text NOT NULL REFERENCES accounts (name),
    amount      numeric NOT NULL CHECK (amount > 0 AND scale(amount) = 0),  -- BMM base units
    booked_by   text NOT NULL CHECK (booked_by <> ''),
    booked_at   timestamptz NOT NULL DEFAULT now(),
    transfer_id text NOT NULL UNIQUE  -- bmm-deposit:<txid>
);
