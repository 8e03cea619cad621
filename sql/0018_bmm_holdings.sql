-- The BMM holdings each epoch's close split its blocks' dividends by
-- (docs/accounting.md, "Block rewards and dividends"): the available BMM of
-- every holder account before that close's emission. Written in the same
-- transaction as the epoch's close from the figures the split used, so a
-- holder's statement can show the weight and the total behind each dividend
-- and anyone can recompute it; the same snapshot is the white paper's voting
-- power per epoch.
--
-- An epoch closed before this migration has no row in epoch_bmm_totals: its
-- weights were not recorded, and nothing here invents them.
CREATE TABLE epoch_bmm_holdings (
    epoch   bigint NOT NULL REFERENCES epochs (k),
    account text NOT NULL CHECK (account <> ''),     -- user:<name>:available or foundation:<x>
    bmm     numeric NOT NULL CHECK (bmm > 0 AND scale(bmm) = 0),  -- BMM base units (10^-18)
    PRIMARY KEY (epoch, account)
);

-- One row per epoch whose holdings were recorded (also when nobody held
-- BMM): how many holders and their sum, the total weight of the split.
CREATE TABLE epoch_bmm_totals (
    epoch   bigint PRIMARY KEY REFERENCES epochs (k),
    holders bigint NOT NULL CHECK (holders >= 0),
    total   numeric NOT NULL CHECK (total >= 0 AND scale(total) = 0)
);
