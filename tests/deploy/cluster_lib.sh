# Shared by tests/deploy/cluster_test.sh and cluster_fault_test.sh (sourced,
# not run): the check counters, bounded polling, the coin nodes' RPC on the
# coin host, the scan of each chain for the pool's blocks and the check that
# each is booked once, psql on the Patroni leader, `bmm-accountd audit` and
# any bmm program run on an accounting host.
#
# The sourcing script sets, before it calls these: REPO_ROOT, BIN_DIR,
# BUDGET (seconds for the whole run), and once the cluster is up DIR (its
# state folder) and W (the test's work folder).
# shellcheck shell=bash
# The variables it sets are read by the scripts that source it (SC2034).
# shellcheck disable=SC2034

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# What every cluster test needs before it starts: root (network namespaces),
# the built programs, and no other cluster on the fixed network bmm-br0.
# cluster_preflight NAME: on a failure prints it, the count and exits 1.
cluster_preflight() {
  local p
  [ "$(id -u)" -eq 0 ] || { echo "$1: needs root (network namespaces)"; fail "run as root"; finish; exit 1; }
  for p in bmm-stratum bmm-accountd bmm-miner; do
    [ -x "$BIN_DIR/$p" ] || { fail "$BIN_DIR/$p is built (ninja -C build $p)"; finish; exit 1; }
  done
  if ip link show bmm-br0 >/dev/null 2>&1; then
    fail "no other cluster is up (bmm-br0 exists: deploy/cluster.sh down)"
    finish
    exit 1
  fi
}

# The seconds left of the run's BUDGET (at least 1).
left() { local l=$((BUDGET - SECONDS)); [ "$l" -gt 0 ] || l=1; echo "$l"; }
# Bounded polling: poll SECONDS COMMAND... until it succeeds, SECONDS pass or
# the run's budget is spent; sets POLL_S to the seconds taken.
poll() {
  local limit=$1 t0
  shift
  t0=$(date +%s%N)
  while ! "$@" 2>/dev/null; do
    if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -ge "$limit" ] || [ "$SECONDS" -ge "$BUDGET" ]; then return 1; fi
    sleep 0.2
  done
  POLL_S=$(awk -v n=$(( $(date +%s%N) - t0 )) 'BEGIN {printf "%.1f", n / 1e9}')
}

# ---------------------------------------------------------- the coin host --
# litecoind A and bcoin run on the coin host (10.77.0.10), started by
# deploy/stack.sh under $DIR/hosts/coin/stack; these call them from the root
# namespace through the bridge.

# litecoind A's JSON-RPC: ltc_post FILE (the request) -> the answer.
ltc_post() {
  local env=$DIR/hosts/coin/stack/stack.env
  curl -sf --max-time 60 --user "$(grep '^BMM_NODE_RPC_USER=' "$env" | cut -d= -f2-):$(grep '^BMM_NODE_RPC_PASSWORD=' "$env" | cut -d= -f2-)" \
    -H 'content-type: text/plain' --data-binary @"$1" "http://10.77.0.10:19402/"
}
# bcoin's node JSON-RPC: btc_post FILE; curl reads the credentials from
# deploy/stack.sh's config file (mode 600).
btc_post() { curl -sf --max-time 60 -K "$DIR/hosts/coin/stack/secrets/bcoin_curl" --data-binary @"$1" "http://10.77.0.10:19408/"; }
# One call's result (JSON): coin_rpc METHOD [PARAMS] (litecoind A),
# btc_rpc METHOD [PARAMS] (bcoin's node).
coin_rpc() {
  jq -cn --arg m "$1" --argjson p "${2:-[]}" '{jsonrpc: "1.0", id: 1, method: $m, params: $p}' >"$W/ltc-rpc1.json"
  ltc_post "$W/ltc-rpc1.json" | jq -c .result
}
btc_rpc() {
  jq -cn --arg m "$1" --argjson p "${2:-[]}" '{method: $m, params: $p, id: 1}' >"$W/btc-rpc1.json"
  btc_post "$W/btc-rpc1.json" | jq -c .result
}
# A JSON-RPC batch to a coin's node, one call per params array:
# chain_batch COIN METHOD PARAMS-JSON-ARRAY... -> one result a line, in order.
chain_batch() {
  local coin=$1 m=$2 f=$W/rpc-$1.json
  shift 2
  if [ "$coin" = LTC ]; then
    printf '%s\n' "$@" | jq -sc --arg m "$m" '[to_entries[] | {jsonrpc: "1.0", id: .key, method: $m, params: .value}]' >"$f"
    ltc_post "$f"
  else
    printf '%s\n' "$@" | jq -sc --arg m "$m" '[to_entries[] | {method: $m, params: .value, id: .key}]' >"$f"
    btc_post "$f"
  fi | jq -c 'sort_by(.id)[] | .result'
}

# The pool's blocks on each chain. chain_scan_from COIN HEIGHT starts a scan
# above HEIGHT; chain_pool_blocks COIN appends the blocks since the last scan
# whose coinbase carries the pool's tag (/BMM pool/ in its scriptSig: the
# pool found them) to $W/pool-blocks-COIN.txt and sets BLOCKS[COIN].
# getblock decodes the transactions with verbosity 2 on litecoind, with
# (true, true) on bcoin.
declare -A CHAIN_NODE=([LTC]=litecoind [BTC]=bcoin) SCAN_FROM=() SCANNED=() BLOCKS=()
chain_scan_from() {
  SCAN_FROM[$1]=$2
  SCANNED[$1]=$2
  BLOCKS[$1]=0
  : >"$W/pool-blocks-$1.txt"
}
chain_pool_blocks() {
  local coin=$1 top h params=() hashes=() decoded=2
  [ "$coin" = BTC ] && decoded='true, true'
  if [ "$coin" = LTC ]; then top=$(coin_rpc getblockcount); else top=$(btc_rpc getblockcount); fi
  [[ $top =~ ^[0-9]+$ ]] || return 1
  for ((h = SCANNED[$coin] + 1; h <= top; h++)); do params+=("[$h]"); done
  if [ ${#params[@]} -gt 0 ]; then
    mapfile -t hashes < <(chain_batch "$coin" getblockhash "${params[@]}" | tr -d '"')
    [ ${#hashes[@]} -eq ${#params[@]} ] || return 1
    params=()
    for h in "${hashes[@]}"; do params+=("[\"$h\", $decoded]"); done
    chain_batch "$coin" getblock "${params[@]}" |
      jq -r 'select(.tx[0].vin[0].coinbase | test("2f424d4d20706f6f6c2f")) | .hash' >>"$W/pool-blocks-$coin.txt" || return 1
  fi
  SCANNED[$coin]=$top
  BLOCKS[$coin]=$(wc -l <"$W/pool-blocks-$coin.txt")
}

# ------------------------------------------------------------ PostgreSQL --

# The host of the running Patroni leader, asked of each member in turn.
pg_leader() {
  local ip l
  for ip in 10.77.0.31 10.77.0.32 10.77.0.33; do
    l=$(curl -sf --max-time 2 "http://$ip:8008/cluster" 2>/dev/null | jq -r '.members[] | select(.role == "leader" and .state == "running") | .host' | head -n 1) || continue
    [ -z "$l" ] || { echo "$l"; return 0; }
  done
  return 1
}
# psql as bmm on the leader: q ARGS... The leader is remembered; when a query
# there fails it is asked again and the query tried once more (q often runs in
# a $(...) subshell, whose LEADER="" the shell never sees: a test that stops
# the leader resets it after the promotion). Errors go to $W/q.err.
LEADER=""
q() {
  local try
  for try in 1 2; do
    [ -n "$LEADER" ] || LEADER=$(pg_leader) || true
    if PGPASSWORD=$(cat "$DIR/secrets/pg_bmm") PGCONNECT_TIMEOUT=5 psql -X -tA -v ON_ERROR_STOP=1 -h "${LEADER:-none}" -U bmm -d bmm "$@" \
      2> >(sed "s/^/$(date +%T) ${LEADER:-none} (try $try): /" >>"$W/q.err"); then
      return 0
    fi
    LEADER=""
  done
  return 1
}
# Every block hash in FILE (one a line) is in blocks once and accepted in
# blocks_found once, and no hash is accepted twice there: blocks_booked_once
# FILE; sets BLOCKS_MISSING to the count of the file's blocks not booked once.
blocks_booked_once() {
  local missing twice
  missing=$(q -c "CREATE TEMP TABLE chain (hash text)" -c "\\copy chain FROM '$1'" -c "SELECT count(*) FROM chain c
    WHERE (SELECT count(*) FROM blocks b WHERE b.hash = c.hash) <> 1
       OR (SELECT count(*) FROM blocks_found f WHERE f.hash = c.hash AND f.accepted) <> 1" | tail -n 1) || return 1
  twice=$(q -c "SELECT count(*) FROM (SELECT hash FROM blocks_found WHERE accepted GROUP BY hash HAVING count(*) > 1) d")
  BLOCKS_MISSING=$missing
  [ "$missing" = 0 ] && [ "$twice" = 0 ]
}

# ------------------------------------------------------ accounting hosts --

# A bmm program run on accounting host HOST with that host's environment file
# and accountd config (appended as --config): on_ac HOST PROGRAM ARGS...
on_ac() {
  local h=$1 prog=$2 r=$DIR/hosts/$1
  shift 2
  ip netns exec "bmm-$h" env -i PATH=/usr/bin:/bin bash -c "set -a; . '$r/etc/bmm/bmm.env'; set +a; exec \"\$0\" \"\$@\"" \
    "$BIN_DIR/$prog" "$@" --config "$r/etc/bmm/bmm-accountd.toml"
}
# `bmm-accountd audit` on accounting host HOST (its answer in
# $W/audit-HOST.log): audit_clean HOST.
audit_clean() { on_ac "$1" bmm-accountd audit --grace-seconds 15 >"$W/audit-$1.log" 2>&1; }
