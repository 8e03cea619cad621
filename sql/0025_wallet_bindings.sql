-- Self-service wallets (issue 15): a miner binds or changes payout wallets by
-- proving ownership, with no password, and every change is kept.
--
--   account_claims      the claim secret a miner's Stratum password carried
--                       (claim=<secret>) when its account was made, stored only
--                       as sha256(salt || sha256(secret)) with a per-account
--                       salt; the first self-service binding must present it.
--   wallet_challenges   the nonces the API issues: each names the account, the
--                       change (action, currency, address, share) and the text
--                       to sign; it expires, and is used at most once.
--   wallet_history      every change of an account's wallets, append-only
--                       (a trigger refuses UPDATE, DELETE and TRUNCATE), with
--                       its proof: a signature by the address, a bound wallet's
--                       or the claim secret, or 'admin' (`bmm-accountd account
--                       bind/unbind`), 'address_account' (the ingest bound a
--                       username that is a payout address to itself) and
--                       'backfill' (wallets bound before this migration).
--
-- audit_wallet_bindings() checks that the wallets are what the history says
-- and that every self-service change has its used, unexpired challenge and
-- signature.

CREATE TABLE account_claims (
    account    text PRIMARY KEY REFERENCES accounts (name),
    salt       bytea NOT NULL CHECK (length(salt) = 16),
    claim_hash bytea NOT NULL CHECK (length(claim_hash) = 32),
    made_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wallet_challenges (
    nonce      text PRIMARY KEY CHECK (nonce ~ '^[0-9a-f]{32}$'),
    account    text NOT NULL REFERENCES accounts (name),
    action     text NOT NULL CHECK (action IN ('bind', 'unbind')),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
    address    text NOT NULL CHECK (address <> '' AND length(address) <= 128),
    share_ppm  integer CHECK (share_ppm > 0 AND share_ppm <= 1000000),
    message    text NOT NULL,
    client     text NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (expires_at > issued_at),
    CHECK ((action = 'bind') = (share_ppm IS NOT NULL))
);
CREATE INDEX wallet_challenges_account ON wallet_challenges (account, issued_at);

-- A challenge is written once and then only marked used, once.
CREATE FUNCTION bmm_wallet_challenge_use_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.used_at IS NOT NULL THEN
            RAISE EXCEPTION 'wallet challenge % was used: it is kept with the history', OLD.nonce;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.used_at IS NOT NULL OR NEW.used_at IS NULL
       OR (NEW.nonce, NEW.account, NEW.action, NEW.currency, NEW.address, NEW.share_ppm, NEW.message, NEW.client,
           NEW.issued_at, NEW.expires_at)
          IS DISTINCT FROM
          (OLD.nonce, OLD.account, OLD.action, OLD.currency, OLD.address, OLD.share_ppm, OLD.message, OLD.client,
           OLD.issued_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'wallet challenge %: only marking an unused challenge used is allowed', OLD.nonce;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER wallet_challenges_use_once BEFORE UPDATE OR DELETE ON wallet_challenges
    FOR EACH ROW EXECUTE FUNCTION bmm_wallet_challenge_use_once();

CREATE TABLE wallet_history (
    id        bigserial PRIMARY KEY,
    account   text NOT NULL REFERENCES accounts (name),
    action    text NOT NULL CHECK (action IN ('bind', 'unbind')),
    currency  text NOT NULL,
    address   text NOT NULL,
    share_ppm integer CHECK (share_ppm > 0 AND share_ppm <= 1000000),  -- the bound wallet's share
    proof     text NOT NULL CHECK (proof IN ('address_signature', 'claim_secret', 'bound_wallet', 'admin',
                                             'address_account', 'backfill')),
    nonce     text UNIQUE REFERENCES wallet_challenges (nonce),
    signature text,             -- by `address` (a bind), over the challenge's message
    authorizer           text,  -- currency:address of the bound wallet that allowed it
    authorizer_signature text,
    client    text,
    at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((proof IN ('address_signature', 'claim_secret', 'bound_wallet')) = (nonce IS NOT NULL)),
    CHECK (proof <> 'bound_wallet' OR (authorizer IS NOT NULL AND authorizer_signature IS NOT NULL)),
    CHECK (action <> 'bind' OR proof NOT IN ('address_signature', 'claim_secret', 'bound_wallet')
           OR signature IS NOT NULL)
);
CREATE INDEX wallet_history_account ON wallet_history (account, id);

-- account_claims and wallet_history are append-only (like ledger_transfers).
CREATE FUNCTION bmm_wallet_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused): a wallet change is a new history row', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER wallet_history_no_update BEFORE UPDATE OR DELETE ON wallet_history
    FOR EACH ROW EXECUTE FUNCTION bmm_wallet_append_only();
CREATE TRIGGER wallet_history_no_truncate BEFORE TRUNCATE ON wallet_history
    FOR EACH STATEMENT EXECUTE FUNCTION bmm_wallet_append_only();
CREATE TRIGGER account_claims_no_update BEFORE UPDATE OR DELETE ON account_claims
    FOR EACH ROW EXECUTE FUNCTION bmm_wallet_append_only();
CREATE TRIGGER account_claims_no_truncate BEFORE TRUNCATE ON account_claims
    FOR EACH STATEMENT EXECUTE FUNCTION bmm_wallet_append_only();

-- The wallets bound before this migration get their history row.
INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof, at)
SELECT account, 'bind', currency, address, share_ppm, 'backfill', bound_at
FROM wallets ORDER BY bound_at, account, currency, address;

-- audit_wallet_bindings: the wallets are what their history says, and every
-- self-service change carries its proof.
CREATE FUNCTION audit_wallet_bindings() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    -- 1. Every bound wallet's last history row is a bind.
    SELECT format('wallet %s %s of %s has no bind as its last history row', w.currency, w.address, w.account)
    FROM wallets w
    LEFT JOIN LATERAL (SELECT h.action FROM wallet_history h
                       WHERE h.account = w.account AND h.currency = w.currency AND h.address = w.address
                       ORDER BY h.id DESC LIMIT 1) last ON true
    WHERE last.action IS DISTINCT FROM 'bind'
UNION ALL
    -- 2. Every (account, currency, address) whose last history row is a bind is bound.
    SELECT format('history binds %s %s to %s, but no such wallet is bound', h.currency, h.address, h.account)
    FROM (SELECT DISTINCT ON (account, currency, address) account, currency, address, action
          FROM wallet_history ORDER BY account, currency, address, id DESC) h
    WHERE h.action = 'bind'
      AND NOT EXISTS (SELECT 1 FROM wallets w
                      WHERE w.account = h.account AND w.currency = h.currency AND w.address = h.address)
UNION ALL
    -- 3. A self-service change matches its challenge, which was used in time.
    SELECT format('wallet history row %s (%s): its challenge %s %s', h.id, h.account, h.nonce,
                  CASE WHEN c.nonce IS NULL THEN 'is missing'
                       WHEN c.used_at IS NULL THEN 'is not marked used'
                       WHEN c.used_at > c.expires_at THEN 'was used after it expired'
                       ELSE 'names another change' END)
    FROM wallet_history h
    LEFT JOIN wallet_challenges c ON c.nonce = h.nonce
    WHERE h.nonce IS NOT NULL
      AND (c.nonce IS NULL OR c.used_at IS NULL OR c.used_at > c.expires_at
           OR (c.account, c.action, c.currency, c.address) IS DISTINCT FROM (h.account, h.action, h.currency, h.address)
           OR (h.action = 'bind' AND c.share_ppm IS DISTINCT FROM h.share_ppm))
UNION ALL
    -- 4. A used challenge has its history row.
    SELECT format('wallet challenge %s of %s is marked used but no history row has it', c.nonce, c.account)
    FROM wallet_challenges c
    WHERE c.used_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM wallet_history h WHERE h.nonce = c.nonce)
UNION ALL
    -- 5. A change proved by the claim secret is the account's first self-service one, and the account has a claim.
    SELECT format('wallet history row %s (%s) was proved by a claim secret %s', h.id, h.account,
                  CASE WHEN NOT EXISTS (SELECT 1 FROM account_claims a WHERE a.account = h.account)
                       THEN 'but the account has no claim' ELSE 'after wallets were already bound' END)
    FROM wallet_history h
    WHERE h.proof = 'claim_secret'
      AND (NOT EXISTS (SELECT 1 FROM account_claims a WHERE a.account = h.account)
           OR EXISTS (SELECT 1 FROM wallet_history e WHERE e.account = h.account AND e.id < h.id))
$$;
