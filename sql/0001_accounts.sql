-- Accounts and their payout wallets.
--
-- An account is a name miners use as the first part of their Stratum username
-- ("alice" in "alice.rig1"). kind 'user' accounts are made with
-- `bmm-accountd account create`; kind 'address' accounts are made by the
-- ingest the first time a share arrives whose username is a bare payout
-- address, with that address bound at 100 %.
CREATE TABLE accounts (
    name       text PRIMARY KEY CHECK (name <> '' AND length(name) <= 128),
    kind       text NOT NULL CHECK (kind IN ('user', 'address')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Payout wallets: an account may bind several per currency, each with its
-- share of that currency's payouts in parts per million. Rule: for every
-- (account, currency) that has wallets, the shares add up to exactly
-- 1,000,000 (checked at commit by the constraint trigger below), so a payout
-- split over them is a plain largest-remainder split by share_ppm.
CREATE TABLE wallets (
    account   text NOT NULL REFERENCES accounts (name),
    currency  text NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
    address   text NOT NULL CHECK (address <> '' AND length(address) <= 128),
    share_ppm integer NOT NULL CHECK (share_ppm > 0 AND share_ppm <= 1000000),
    bound_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, currency, address)
);

CREATE FUNCTION bmm_wallet_shares_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acc  text := CASE WHEN TG_OP = 'DELETE' THEN OLD.account ELSE NEW.account END;
    cur  text := CASE WHEN TG_OP = 'DELETE' THEN OLD.currency ELSE NEW.currency END;
    total bigint;
BEGIN
    SELECT sum(share_ppm) INTO total FROM wallets WHERE account = acc AND currency = cur;
    IF total IS NOT NULL AND total <> 1000000 THEN
        RAISE EXCEPTION 'wallet shares of account % in % add up to % ppm, not 1000000', acc, cur, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER wallets_shares_sum
    AFTER INSERT OR UPDATE OR DELETE ON wallets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bmm_wallet_shares_check();
