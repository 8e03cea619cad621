-- Payout batches (bmm-payout): money leaves the pool only through these
-- tables and the ledger transfers they book (docs/accounting.md, "Payouts").
--
-- A batch pays one currency (a coin through the node wallet, or BMM through
-- an exported ERC-20 distribution). Its lines are what each address gets;
-- planning books one payout_reserve transfer per line (holder available ->
-- payout:in-flight) in the same commit as the batch and its lines, so a
-- balance cannot be paid twice. A coin batch is packed into one or more
-- transactions (payout_txs); each signed attempt at a transaction is stored
-- (payout_attempts) before it is broadcast, and a rerun broadcasts the stored
-- hex again, never a new one. States move by conditional updates
-- (UPDATE ... WHERE state = <expected>), one payout run per currency at a
-- time (advisory lock).

ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_kind_check;
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_kind_check
    CHECK (kind IN ('premine', 'emission', 'block_fee', 'block_dividend', 'block_miner', 'block_undistributed',
                    'block_mature', 'block_orphan', 'pps_credit',
                    'payout_reserve', 'payout_sent', 'payout_return', 'payout_fee'));

CREATE TABLE payout_batches (
    id            bigserial PRIMARY KEY,
    currency      text NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
    -- planned -> approved -> broadcast -> confirmed, or failed (coins);
    -- planned -> approved -> exported -> settled (BMM).
    state         text NOT NULL CHECK (state IN ('planned', 'approved', 'broadcast', 'confirmed', 'failed',
                                                 'exported', 'settled')),
    min_amount    numeric NOT NULL CHECK (min_amount >= 0 AND scale(min_amount) = 0),
    digest        text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),  -- SHA-256 of the canonical line list
    total         numeric NOT NULL CHECK (total >= 0 AND scale(total) = 0),
    planned_at    timestamptz NOT NULL DEFAULT now(),
    approved_by   text,
    approved_at   timestamptz,
    finished_at   timestamptz,   -- confirmed, failed or settled
    -- BMM: the export's SHA-256 and the settlement an admin records.
    export_sha256 text CHECK (export_sha256 ~ '^[0-9a-f]{64}$'),
    exported_at   timestamptz,
    settle_txid   text CHECK (settle_txid ~ '^0x[0-9a-f]{64}$'),
    settled_by    text,
    -- failed without approval: a planned batch cancelled (bmm-payout cancel).
    CHECK ((state IN ('planned', 'failed')) OR approved_by IS NOT NULL)
);

CREATE TABLE payout_lines (
    batch    bigint NOT NULL REFERENCES payout_batches (id),
    line     integer NOT NULL CHECK (line >= 1),
    account  text NOT NULL REFERENCES accounts (name),
    address  text NOT NULL CHECK (address <> ''),
    amount   numeric NOT NULL CHECK (amount > 0 AND scale(amount) = 0),
    tx       integer,              -- the batch transaction that pays it (coins), set at execute
    -- open: reserved and not yet paid or returned; sent: paid (confirmed or
    -- settled); returned: back to available (the batch failed).
    state    text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'sent', 'returned')),
    PRIMARY KEY (batch, line)
);
CREATE INDEX payout_lines_account ON payout_lines (account);
CREATE INDEX payout_lines_open ON payout_lines (account) WHERE state = 'open';

CREATE TABLE payout_txs (
    batch    bigint NOT NULL REFERENCES payout_batches (id),
    tx       integer NOT NULL CHECK (tx >= 1),
    -- building: no attempt stored yet; stored: signed hex stored, not known
    -- to be in the mempool; broadcast: sent to the node; confirmed: booked
    -- (sent + fee); failed: a conflicting spend of an input confirmed.
    state    text NOT NULL DEFAULT 'building' CHECK (state IN ('building', 'stored', 'broadcast', 'confirmed',
                                                               'failed')),
    confirmed_attempt integer,
    PRIMARY KEY (batch, tx)
);

-- A line's transaction is one of its batch's.
ALTER TABLE payout_lines ADD FOREIGN KEY (batch, tx) REFERENCES payout_txs (batch, tx);

CREATE TABLE payout_attempts (
    batch      bigint NOT NULL,
    tx         integer NOT NULL,
    attempt    integer NOT NULL CHECK (attempt >= 1),  -- 1 the first, 2.. fee bumps
    txid       text NOT NULL UNIQUE CHECK (txid ~ '^[0-9a-f]{64}$'),
    hex        text NOT NULL CHECK (hex ~ '^([0-9a-f]{2})+$'),
    inputs     jsonb NOT NULL,     -- [{"txid": "...", "vout": n}, ...], to lock again after a node restart
    -- The decoded outputs, {"<address>": "<base units>", ...} (change
    -- included), for the audit: each address's output equals the sum of the
    -- lines the transaction pays to it (lines to one address share one output).
    outputs    jsonb NOT NULL CHECK (jsonb_typeof(outputs) = 'object'),
    fee        numeric NOT NULL CHECK (fee >= 0 AND scale(fee) = 0),
    vsize      integer NOT NULL CHECK (vsize > 0),
    state      text NOT NULL DEFAULT 'stored' CHECK (state IN ('stored', 'broadcast', 'replaced', 'confirmed',
                                                                 'conflicted')),
    stored_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch, tx, attempt),
    FOREIGN KEY (batch, tx) REFERENCES payout_txs (batch, tx)
);

-- What a statement row of a payout transfer refers to: its batch and, for a
-- coin line, the txid that paid it (the confirmed attempt, else the latest).
CREATE VIEW payout_transfer_refs AS
SELECT t.id AS transfer_id, l.batch, l.line, l.address,
       coalesce(ac.txid, al.txid, b.settle_txid) AS txid
FROM ledger_transfers t
JOIN payout_lines l
  ON t.kind IN ('payout_reserve', 'payout_sent', 'payout_return')
 AND t.reference = 'payout:' || l.batch
 AND t.id = 'payout:' || l.batch || ':' || substr(t.kind, 8) || ':' || l.line
JOIN payout_batches b ON b.id = l.batch
LEFT JOIN payout_txs x ON x.batch = l.batch AND x.tx = l.tx
LEFT JOIN payout_attempts ac ON ac.batch = x.batch AND ac.tx = x.tx AND ac.attempt = x.confirmed_attempt
LEFT JOIN LATERAL (SELECT a.txid FROM payout_attempts a WHERE a.batch = l.batch AND a.tx = l.tx
                   ORDER BY a.attempt DESC LIMIT 1) al ON true;
