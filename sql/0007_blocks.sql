-- Blocks the pool found, as the ledger books them: their reward is split at
-- the close of the epoch they are booked in (`epoch`) and held immature until
-- the coin's maturity; an orphaned block's transfers are reversed by new
-- transfers. status moves immature -> mature or immature -> orphaned, never
-- back (enforced below).
CREATE TABLE blocks (
    hash        text PRIMARY KEY CHECK (hash <> '' AND position(':' IN hash) = 0),
    coin        text NOT NULL CHECK (coin ~ '^[A-Z0-9]{2,10}$'),
    height      bigint NOT NULL CHECK (height >= 0),
    reward      numeric NOT NULL CHECK (reward >= 0 AND scale(reward) = 0),
    finder      text NOT NULL CHECK (finder <> ''),
    found_at    timestamptz NOT NULL,
    found_epoch bigint NOT NULL CHECK (found_epoch >= 0),
    epoch       bigint NOT NULL CHECK (epoch >= found_epoch),   -- booked at this epoch's close
    status      text NOT NULL DEFAULT 'immature' CHECK (status IN ('immature', 'mature', 'orphaned')),
    status_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blocks_status ON blocks (status) WHERE status = 'immature';
CREATE INDEX blocks_epoch ON blocks (epoch);

CREATE FUNCTION bmm_blocks_status_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'immature' AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'block % is % already; it cannot become %', OLD.hash, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.hash, NEW.coin, NEW.height, NEW.reward, NEW.finder, NEW.found_at, NEW.found_epoch, NEW.epoch)
       IS DISTINCT FROM
       (OLD.hash, OLD.coin, OLD.height, OLD.reward, OLD.finder, OLD.found_at, OLD.found_epoch, OLD.epoch) THEN
        RAISE EXCEPTION 'block %: only its status may change', OLD.hash USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER blocks_status_forward BEFORE UPDATE ON blocks
    FOR EACH ROW EXECUTE FUNCTION bmm_blocks_status_check();
