#!/usr/bin/env bash
# deploy/config/: every example (regtest, mainnet, testnet) loads with the
# programs' own loaders: `bmm-stratum --check-config` and `bmm-accountd
# check-config` (bmm-payout reads the accountd file the same way). ${NAME}
# references get values from the environment as on a real host, and the TLS
# port's certificate paths point at a throw-away self-signed pair (the loader
# loads and matches them). Production examples mark what an operator must
# change ("CHANGE:") and carry nothing of the local stack. A broken copy is
# refused with a message naming the key, so the check can fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN_DIR=${BMM_BIN_DIR:-build/bin}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=pool.example -days 2 \
  -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1

# What a host's secrets.env (or the local stack's stack.env) would give.
export BMM_POOL_ADDRESS=ltc1qexampleexampleexampleexampleexample0 BMM_BTC_POOL_ADDRESS=bc1qexampleexample
export BMM_NODE_RPC_URL=http://127.0.0.1:9332 BMM_NODE_RPC_USER=pool BMM_NODE_RPC_PASSWORD=secret
export BMM_BTC_RPC_URL=http://127.0.0.1:8332 BMM_BTC_RPC_USER=pool BMM_BTC_RPC_PASSWORD=secret BMM_BTC_WALLET_RPC_URL=http://127.0.0.1:18334
export BMM_REDIS_HOST=127.0.0.1 BMM_REDIS_PORT=6379 BMM_STACK_DIR=$T/stack BMM_REDIS_PASSWORD_FILE=$T/redis.password
(umask 077; echo "example-redis-password" >"$T/redis.password")
export BMM_PG_HOST=127.0.0.1 BMM_PG_PORT=5432 BMM_PG_USER=bmm BMM_PG_DB=bmm BMM_PG_PASSWORD=secret
export BMM_EPOCH_GENESIS=1764547200 BMM_WEBHOOK_URL=https://hooks.example/bmm

# The example with the TLS paths pointed at the pair made above.
local_copy() {
  sed -e "s|/etc/bmm/stratum-cert.pem|$T/cert.pem|" -e "s|/etc/bmm/stratum-key.pem|$T/key.pem|" \
    -e "s|/etc/bmm/redis.password|$T/redis.password|" "$1" >"$T/$(basename "$1")"
  echo "$T/$(basename "$1")"
}

n_prod=0
for f in deploy/config/bmm-stratum*.toml; do
  c=$(local_copy "$f")
  if out=$("$BIN_DIR/bmm-stratum" --check-config --config "$c" 2>&1) && grep -q ': fine\.' <<<"$out"; then
    pass "bmm-stratum --check-config $(basename "$f"): $out"
  else
    fail "bmm-stratum --check-config $(basename "$f"): $out"
  fi
done
for f in deploy/config/bmm-accountd*.toml; do
  c=$(local_copy "$f")
  if out=$("$BIN_DIR/bmm-accountd" check-config --config "$c" 2>&1) && grep -q ': fine\.' <<<"$out"; then
    pass "bmm-accountd check-config $(basename "$f"): $out"
  else
    fail "bmm-accountd check-config $(basename "$f"): $out"
  fi
done

for f in deploy/config/*-mainnet.toml deploy/config/*-testnet.toml; do
  n_prod=$((n_prod + 1))
  b=$(basename "$f")
  grep -q 'CHANGE:' "$f" && pass "$b marks what to change" || fail "$b marks what to change"
  if grep -Eqi 'regtest|BMM_STACK_DIR|stack\.env' "$f"; then fail "$b mentions the local stack"; else pass "$b has nothing of the local stack"; fi
  if grep -Eq '^[a-z_]*password *= *"[^$]' "$f"; then fail "$b holds a literal password"; else pass "$b keeps passwords in the environment"; fi
  grep -Eq '^password_file = "/etc/bmm/redis.password"' "$f" && pass "$b gives Redis a password file" || fail "$b gives Redis a password file"
done
# Each coin has a mainnet and a testnet example, and the accountd file too.
for want in bmm-stratum-ltc-mainnet bmm-stratum-ltc-testnet bmm-stratum-btc-mainnet bmm-stratum-btc-testnet \
  bmm-accountd-mainnet bmm-accountd-testnet; do
  [ -e "deploy/config/$want.toml" ] && pass "$want.toml exists" || fail "$want.toml exists"
done
# The right ports for the right chain.
grep -q '127.0.0.1:9332' deploy/config/bmm-stratum-ltc-mainnet.toml && grep -q '127.0.0.1:19332' deploy/config/bmm-stratum-ltc-testnet.toml &&
  grep -q '127.0.0.1:8332' deploy/config/bmm-stratum-btc-mainnet.toml && grep -q '127.0.0.1:18332' deploy/config/bmm-stratum-btc-testnet.toml &&
  pass "node RPC ports match each chain" || fail "node RPC ports match each chain"

# Negative controls: a misspelt key and a missing secret are refused, named.
c=$(local_copy deploy/config/bmm-stratum-ltc-mainnet.toml)
sed -i 's/^max_connections =/max_conections =/' "$c"
if out=$("$BIN_DIR/bmm-stratum" --check-config --config "$c" 2>&1); then
  fail "a misspelt key is refused: $out"
else
  grep -q 'max_conections' <<<"$out" && pass "a misspelt key is refused and named" || fail "a misspelt key is named: $out"
fi
if out=$(env -u BMM_PG_PASSWORD "$BIN_DIR/bmm-accountd" check-config --config deploy/config/bmm-accountd-mainnet.toml 2>&1); then
  fail "a missing secret is refused: $out"
else
  grep -q 'BMM_PG_PASSWORD' <<<"$out" && pass "a missing secret is refused and named" || fail "a missing secret is named: $out"
fi
# A Redis password file that is not there is refused at check-config, named.
if out=$(env BMM_REDIS_PASSWORD_FILE="$T/no-such-file" "$BIN_DIR/bmm-stratum" --check-config --config deploy/config/bmm-stratum.toml 2>&1); then
  fail "a missing Redis password file is refused: $out"
else
  grep -q "password_file $T/no-such-file: cannot read it" <<<"$out" && pass "a missing Redis password file is refused and named" || fail "named: $out"
fi
c=$(local_copy deploy/config/bmm-accountd-mainnet.toml)
sed -i 's|^password_file = .*|password_file = "'"$T"'/empty.password"|' "$c"
: >"$T/empty.password"
if out=$("$BIN_DIR/bmm-accountd" check-config --config "$c" 2>&1); then
  fail "an empty Redis password file is refused: $out"
else
  grep -q "the first line is empty" <<<"$out" && pass "an empty Redis password file is refused and named" || fail "named: $out"
fi
sed 's|webhook_urls = .*|webhook_urls = ["ftp://x"]|' "$(local_copy deploy/config/bmm-accountd-mainnet.toml)" >"$T/bad-notify.toml"
if out=$("$BIN_DIR/bmm-accountd" check-config --config "$T/bad-notify.toml" 2>&1); then
  fail "a webhook URL that is not http(s) is refused: $out"
else
  grep -q 'webhook_urls' <<<"$out" && pass "a webhook URL that is not http(s) is refused and named" || fail "named: $out"
fi

echo "config_examples_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
