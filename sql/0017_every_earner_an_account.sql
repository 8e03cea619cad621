-- Every name that earns is an account (issue 12).
--
-- Until now a miner's account existed only once made with `bmm-accountd
-- account create` (kind user) or, for a username that is a payout address, by
-- the ingest (kind address); a plain name like "alice" in "alice.rig1" was
-- credited in the ledger (user:alice:*) with no account, so the API answered
-- 404 for it. From this migration on the ingest makes an account for every
-- new share name in the transaction that stores its shares, and this file
-- makes the ones missing so far:
--   - the three BMM foundation allocations, which hold BMM and take dividends
--     like users: accounts of the new kind 'foundation', named as in the
--     ledger (foundation:airdrop, foundation:developers, foundation:ecosystem),
--     so that they have a page, a statement, an API view and payout wallets;
--   - an account (kind user) for every name in shares or share_minutes, and
--     every name the ledger credited as user:<name>:available or :immature.
-- A backfilled name that is a payout address stays a user account without a
-- wallet (a migration cannot ask the node); bind one with `account bind`.

ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN ('user', 'address', 'foundation'));

INSERT INTO accounts (name, kind)
VALUES ('foundation:airdrop', 'foundation'), ('foundation:developers', 'foundation'),
       ('foundation:ecosystem', 'foundation')
ON CONFLICT (name) DO UPDATE SET kind = 'foundation';

-- The ':' is the ledger's separator: only a foundation account has one, as foundation:<name>.
ALTER TABLE accounts ADD CONSTRAINT accounts_foundation_name
    CHECK ((kind = 'foundation') = (name ~ '^foundation:[A-Za-z0-9_-]+$')
           AND (kind = 'foundation' OR position(':' IN name) = 0));

-- The names the ledger credits (not empty, no ':'; see the epoch close) that
-- fit an account name (at most 128 characters, which bmm-stratum enforces).
INSERT INTO accounts (name, kind)
SELECT n, 'user'
FROM (SELECT account AS n FROM share_minutes
      UNION
      SELECT account FROM shares
      UNION
      SELECT split_part(credit, ':', 2) FROM ledger_transfers
      WHERE credit ~ '^user:[^:]+:(available|immature)$') names
WHERE n <> '' AND position(':' IN n) = 0 AND length(n) <= 128
ORDER BY n
ON CONFLICT (name) DO NOTHING;
