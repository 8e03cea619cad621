-- Epochs and each account's resource power per epoch (ACCOUNTING.md, "Work,
-- DPP and PP"). Epoch k covers [start_at, end_at); it is closed once, when
-- closed_at is set in the same transaction that books its transfers.
CREATE TABLE epochs (
    k                bigint PRIMARY KEY CHECK (k >= 0),
    start_at         timestamptz NOT NULL,
    end_at           timestamptz NOT NULL CHECK (end_at > start_at),
    closed_at        timestamptz,
    emission         numeric CHECK (emission >= 0 AND scale(emission) = 0),          -- E(k)
    emission_paid    numeric CHECK (emission_paid >= 0 AND scale(emission_paid) = 0), -- E(k) + carried in, or 0
    emission_carried numeric CHECK (emission_carried >= 0 AND scale(emission_carried) = 0), -- into k + 1
    CHECK ((closed_at IS NULL) = (emission IS NULL)),
    CHECK ((closed_at IS NULL) = (emission_paid IS NULL)),
    CHECK ((closed_at IS NULL) = (emission_carried IS NULL))
);
CREATE UNIQUE INDEX epochs_start ON epochs (start_at);

-- DPP = sum of share work x resource_weight_ppm; PP = DPP x e_bp. Exact
-- integers (numeric without scale); they outgrow 64 bits.
CREATE TABLE account_epochs (
    account text NOT NULL CHECK (account <> '' AND position(':' IN account) = 0),
    k       bigint NOT NULL REFERENCES epochs (k),
    dpp     numeric NOT NULL CHECK (dpp >= 0 AND scale(dpp) = 0),
    streak  integer NOT NULL CHECK (streak >= 0),
    e_bp    integer NOT NULL CHECK (e_bp >= 0),
    pp      numeric NOT NULL CHECK (pp >= 0 AND scale(pp) = 0),
    PRIMARY KEY (account, k)
);
CREATE INDEX account_epochs_k ON account_epochs (k);
