#!/usr/bin/env bash
# Integration test of deploy/stack.sh: brings a real stack up in a temporary
# folder on its own ports, checks every service through the settings it wrote,
# checks `up` is idempotent and that data survives down + up, then purges it.
# Prints one line per check and "N passed, M failed"; exits non-zero on failure.
set -euo pipefail

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  cat <<'EOF'
Usage: tests/deploy/stack_test.sh

Starts a throwaway stack (deploy/stack.sh up --dir <mktemp -d> --base-port <free>),
checks PostgreSQL, Redis and both litecoind nodes through stack.env, restarts
it, checks the data survived, and removes it. Needs root (or a user that can
run PostgreSQL) and the packages from deploy/install-deps.sh.
Environment: STACK_TEST_BASE_PORT forces the base port.
EOF
  exit 0
fi

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=$REPO_ROOT/deploy/stack.sh
# Nothing from the caller's environment may steer the stack elsewhere.
unset BMM_STACK_DIR BMM_STACK_BASE_PORT BMM_STACK_PG_PORT BMM_STACK_REDIS_PORT \
  BMM_STACK_NODE_RPC_PORT BMM_STACK_NODE_P2P_PORT BMM_STACK_NODE2_RPC_PORT BMM_STACK_NODE2_P2P_PORT
export BMM_STACK_TIMEOUT=60

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check "description" command...: runs the command, records the outcome.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

port_in_use() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# A base port whose 11 ports are free (stack.sh uses base+0..10): 20000 +
# slot*11 stays below 32000, clear of the default stack (19400) and of the
# kernel's ephemeral range (32768+).
pick_base_port() {
  local slot base p free tries
  slot=$(( ($$ + RANDOM) % 1000 ))
  for tries in $(seq 1 50); do
    base=$((20000 + ((slot + tries * 37) % 1000) * 11))
    free=1
    for p in $(seq "$base" $((base + 10))); do
      if port_in_use "$p"; then free=0; break; fi
    done
    if [ "$free" -eq 1 ]; then echo "$base"; return 0; fi
  done
  return 1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bmm-stack-test.XXXXXX")
# mktemp -d makes a 700 folder: let the postgres user traverse it.
chmod 755 "$TMP"
DIR=$TMP/stack
BASE=${STACK_TEST_BASE_PORT:-$(pick_base_port)} || { echo "FAIL: no free base port"; exit 1; }
echo "stack_test: dir $DIR, base port $BASE"

cleanup() {
  local rc=$?
  timeout 60 bash "$STACK" down --dir "$DIR" --purge >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs stack.sh on the test's folder, within what is left of a 230 s budget
# (ctest's limit is 300 s, and the cleanup needs its share).
BUDGET=230
stack() {
  local left=$((BUDGET - SECONDS))
  [ "$left" -gt 5 ] || { echo "stack_test: out of time budget" >&2; return 1; }
  [ "$left" -le 150 ] || left=150
  timeout "$left" bash "$STACK" "$@" --dir "$DIR"
}

# Reads stack.env into this shell (plain KEY=value lines).
load_env() {
  [ -r "$DIR/stack.env" ] || { echo "no $DIR/stack.env" >&2; return 1; }
  set -a
  # shellcheck disable=SC1091
  . "$DIR/stack.env"
  set +a
}

# JSON-RPC call to a node URL: rpc URL METHOD [JSON params]; prints .result.
rpc() {
  local url=$1 method=$2 params=${3:-[]} out
  out=$(curl -sS --max-time 30 --user "$BMM_NODE_RPC_USER:$BMM_NODE_RPC_PASSWORD" \
    -H 'content-type: text/plain' \
    --data-binary "{\"jsonrpc\":\"1.0\",\"id\":\"t\",\"method\":\"$method\",\"params\":$params}" "$url") || return 1
  jq -e '.error == null' >/dev/null <<<"$out" || { echo "rpc $method: $out" >&2; return 1; }
  jq -c '.result' <<<"$out"
}

# The password through the environment, not the command line (ps shows that).
psql_url() {
  PGPASSWORD=$BMM_PG_PASSWORD psql -X -q -tA -w -v ON_ERROR_STOP=1 -h "$BMM_PG_HOST" -p "$BMM_PG_PORT" \
    -U "$BMM_PG_USER" -d "$BMM_PG_DB" "$@"
}
# Redis' password from its file through REDISCLI_AUTH, likewise.
rcli() { REDISCLI_AUTH=$(cat "$BMM_REDIS_PASSWORD_FILE") redis-cli -h "$BMM_REDIS_HOST" -p "$BMM_REDIS_PORT" "$@"; }

# Redis refuses a client without the password, and one with a wrong one.
redis_wants_password() {
  local out
  out=$(redis-cli -h "$BMM_REDIS_HOST" -p "$BMM_REDIS_PORT" XLEN stack_probe 2>&1)
  echo "without a password: $out"
  grep -q NOAUTH <<<"$out" || return 1
  out=$(REDISCLI_AUTH=not-the-password redis-cli -h "$BMM_REDIS_HOST" -p "$BMM_REDIS_PORT" XLEN stack_probe 2>&1)
  echo "with a wrong one: $out"
  grep -Eq 'WRONGPASS|NOAUTH' <<<"$out"
}

# No process on the machine has the stack's PostgreSQL or Redis password on
# its command line (/proc/*/cmdline: what ps shows every user).
no_password_on_command_lines() {
  local f pw_pg pw_redis bad=0
  pw_pg=$BMM_PG_PASSWORD
  pw_redis=$(cat "$BMM_REDIS_PASSWORD_FILE")
  [ -n "$pw_pg" ] && [ -n "$pw_redis" ] || return 1
  for f in /proc/[0-9]*/cmdline; do
    # The patterns through a file (printf is a builtin): grep's own command line stays clean.
    if tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -f <(printf '%s\n%s\n' "$pw_pg" "$pw_redis"); then
      echo "password on the command line of pid ${f//[^0-9]/}: $(tr '\0' ' ' <"$f" | cut -c1-60)..."
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
}

# Every listening socket of our ports is on 127.0.0.1.
loopback_only() {
  local p bad=0 addrs
  for p in $(seq "$BASE" $((BASE + 10))); do
    addrs=$(ss -Htln "sport = :$p" | awk '{print $4}')
    [ -n "$addrs" ] || continue
    if grep -vq '^127\.0\.0\.1:' <<<"$addrs"; then echo "port $p: $addrs" >&2; bad=1; fi
  done
  [ "$bad" -eq 0 ]
}

nothing_listens() {
  local p
  for p in $(seq "$BASE" $((BASE + 10))); do
    if port_in_use "$p"; then echo "port $p still listened on" >&2; return 1; fi
  done
}

env_has_keys() {
  local k
  for k in BMM_PG_HOST BMM_PG_PORT BMM_PG_DB BMM_PG_USER BMM_PG_PASSWORD BMM_PG_URL \
    BMM_REDIS_HOST BMM_REDIS_PORT BMM_REDIS_PASSWORD_FILE BMM_NODE_RPC_URL BMM_NODE_RPC_USER BMM_NODE_RPC_PASSWORD \
    BMM_NODE_WALLET BMM_NODE2_RPC_URL BMM_NODE_P2P_PORT BMM_POOL_ADDRESS BMM_STACK_DIR \
    BMM_BTC_RPC_URL BMM_BTC_RPC_USER BMM_BTC_RPC_PASSWORD BMM_BTC_WALLET BMM_BTC_POOL_ADDRESS; do
    grep -q "^$k=." "$DIR/stack.env" || { echo "stack.env lacks $k" >&2; return 1; }
    jq -e --arg k "$k" 'has($k)' "$DIR/stack.json" >/dev/null || { echo "stack.json lacks $k" >&2; return 1; }
  done
}

json_port_ok() { jq -e --argjson p "$BASE" '.BMM_PG_PORT == $p' "$DIR/stack.json" >/dev/null; }

secret_files_private() {
  [ "$(stat -c %a "$DIR/stack.env")" = 600 ] && [ "$(stat -c %a "$DIR/stack.json")" = 600 ] &&
    [ "$(stat -c %a "$DIR/secrets/pg_password")" = 600 ] && [ "$(stat -c %a "$DIR/secrets/redis_password")" = 600 ] &&
    [ "$(stat -c %a "$DIR/redis/redis.conf")" = 600 ]
}

template_height_ok() {
  local h
  h=$(rpc "$BMM_NODE_RPC_URL" getblocktemplate '[{"rules":["mweb","segwit"]}]' | jq -r .height) || return 1
  echo "template height $h"
  [ "$h" -ge 2 ]
}

nodes_agree() {
  local a b
  a=$(rpc "$BMM_NODE_RPC_URL" getblockcount) || return 1
  b=$(rpc "$BMM_NODE2_RPC_URL" getblockcount) || return 1
  echo "node A $a blocks, node B $b blocks"
  [ "$a" = "$b" ] && [ "$a" -ge 1 ]
}

address_valid() {
  rpc "$BMM_NODE_RPC_URL" validateaddress "[\"$BMM_POOL_ADDRESS\"]" | jq -e '.isvalid == true' >/dev/null &&
    rpc "${BMM_NODE_RPC_URL}wallet/$BMM_NODE_WALLET" getaddressinfo "[\"$BMM_POOL_ADDRESS\"]" | jq -e '.ismine == true' >/dev/null
}

litecoin_cli_gbt() {
  local port=${BMM_NODE_RPC_URL#http://127.0.0.1:}
  port=${port%/}
  litecoin-cli -regtest -rpcconnect=127.0.0.1 -rpcport="$port" -rpcuser="$BMM_NODE_RPC_USER" \
    -rpcpassword="$BMM_NODE_RPC_PASSWORD" getblocktemplate '{"rules":["mweb","segwit"]}' | jq -e '.height >= 2' >/dev/null
}

# --- first start -----------------------------------------------------------
check "stack.sh up (fresh)" stack up --base-port "$BASE"
[ -s "$DIR/stack.env" ] || { fail "stack.env written"; echo "$passed passed, $failed failed"; exit 1; }
pass "stack.env written"
load_env || true
check "stack.json is valid JSON with BMM_PG_PORT $BASE" json_port_ok
check "stack.env and stack.json hold every key" env_has_keys
check "settings and secrets are mode 600" secret_files_private
check "every port listens on 127.0.0.1 only" loopback_only
check "postgres: SELECT 1 with stack.env's settings" test "$(psql_url -c 'SELECT 1')" = 1
check "postgres: create a table and a row" psql_url -c 'CREATE TABLE stack_probe (v int); INSERT INTO stack_probe VALUES (42)'
check "redis: PING" test "$(rcli PING)" = PONG
check "redis: wants its password (requirepass from secrets/redis_password)" redis_wants_password
check "no password on any process's command line" no_password_on_command_lines
for i in 1 2 3; do rcli XADD stack_probe '*' n "$i" >/dev/null || true; done
check "redis: XADD x3 then XLEN = 3" test "$(rcli XLEN stack_probe)" = 3
check "node A: getblocktemplate (mweb, segwit) height >= 2" template_height_ok
check "node A: litecoin-cli getblocktemplate with stack.env credentials" litecoin_cli_gbt
check "node B has node A's block count" nodes_agree
check "pool address is valid and in the wallet" address_valid
check "status: exit 0 when up" stack status
first_password=$BMM_PG_PASSWORD
first_address=$BMM_POOL_ADDRESS

# --- up again: idempotent ----------------------------------------------------
check "stack.sh up (again, idempotent)" stack up
load_env || true
check "same password and pool address after the second up" \
  test "$BMM_PG_PASSWORD/$BMM_POOL_ADDRESS" = "$first_password/$first_address"
check "same ports after the second up (no --base-port given)" test "$BMM_PG_PORT" = "$BASE"

# --- down, up: data survives -------------------------------------------------
check "stack.sh down" stack down
check "nothing listens on the stack's ports after down" nothing_listens
if stack status >/dev/null 2>&1; then fail "status: non-zero when down"; else pass "status: non-zero when down"; fi
check "stack.sh down (again, already down)" stack down
check "stack.sh up (after down)" stack up
load_env || true
check "postgres: the table survived the restart" test "$(psql_url -c 'SELECT v FROM stack_probe')" = 42
check "redis: the stream survived the restart (XLEN = 3)" test "$(rcli XLEN stack_probe)" = 3
check "node A: getblocktemplate after the restart" template_height_ok
check "node B has node A's block count after the restart" nodes_agree

# --- competing blocks, then down and up ---------------------------------------
# Each node mines one block while they cannot see each other: two tips of equal
# work. `up` must bring them back onto one tip (it used to wait 90 s and fail).
competing_tips() {
  local addr_a addr_b a b
  rpc "$BMM_NODE2_RPC_URL" setnetworkactive '[false]' >/dev/null || return 1
  # Two addresses: the same template mined to one address at the same second
  # is the same block on both nodes.
  addr_a=$(rpc "${BMM_NODE_RPC_URL}wallet/$BMM_NODE_WALLET" getnewaddress | jq -r .) || return 1
  addr_b=$(rpc "${BMM_NODE_RPC_URL}wallet/$BMM_NODE_WALLET" getnewaddress | jq -r .) || return 1
  rpc "${BMM_NODE_RPC_URL}wallet/$BMM_NODE_WALLET" generatetoaddress "[1, \"$addr_a\"]" >/dev/null || return 1
  rpc "$BMM_NODE2_RPC_URL" generatetoaddress "[1, \"$addr_b\"]" >/dev/null || return 1
  a=$(rpc "$BMM_NODE_RPC_URL" getbestblockhash) || return 1
  b=$(rpc "$BMM_NODE2_RPC_URL" getbestblockhash) || return 1
  echo "tips: A $a, B $b"
  [ "$a" != "$b" ] && [ "$(rpc "$BMM_NODE_RPC_URL" getblockcount)" = "$(rpc "$BMM_NODE2_RPC_URL" getblockcount)" ]
}
same_tip() {
  local a b
  a=$(rpc "$BMM_NODE_RPC_URL" getbestblockhash) || return 1
  b=$(rpc "$BMM_NODE2_RPC_URL" getbestblockhash) || return 1
  echo "tips: A $a, B $b"
  [ "$a" = "$b" ]
}
check "nodes A and B mine competing blocks at the same height" competing_tips
check "stack.sh down (with competing tips)" stack down
check "stack.sh up (after competing tips)" stack up
load_env || true
check "nodes A and B on one tip after up" same_tip

# --- purge -------------------------------------------------------------------
check "stack.sh down --purge" stack down --purge
check "the stack folder is gone" test ! -e "$DIR"

echo "stack_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
