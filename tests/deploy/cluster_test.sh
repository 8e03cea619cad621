#!/usr/bin/env bash
# Integration test of deploy/cluster.sh: the pool on 12 hosts simulated with
# network namespaces on this machine (docs/cluster.md). Brings the cluster up
# in a throwaway state folder, checks Redis replication and Sentinel, Patroni
# (leader, sync standby), etcd, a synchronous write, miners (scrypt on port
# 3333, sha256d on 3334) on all three stratum hosts with every accepted share
# stored once through Redis and bmm-accountd, the BTC blocks they found
# booked once on bcoin's chain, `bmm-accountd audit` clean, then
# one Redis failover (kill -9 the primary) and one Patroni failover (stop the
# leader), and that `down` leaves no namespace, veth, bridge or process.
# Prints one line per check, the measured times and "N passed, M failed".
set -euo pipefail

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  cat <<'EOF'
Usage: tests/deploy/cluster_test.sh      (root; label integration)

Needs the packages of deploy/install-deps.sh and the built bmm-stratum,
bmm-accountd and bmm-miner (env BMM_BIN_DIR, default <repo>/build/bin). Uses
the fixed cluster network (bridge bmm-br0, 10.77.0.0/24): it refuses to run
while another cluster is up (deploy/cluster.sh down first). Every wait is
bounded; the whole run stays within CLUSTER_TEST_BUDGET seconds (default 420)
and the cluster is taken down on any exit.
EOF
  exit 0
fi

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER=$REPO_ROOT/deploy/cluster.sh
BIN_DIR=${BMM_BIN_DIR:-$REPO_ROOT/build/bin}
export BMM_BIN_DIR=$BIN_DIR
unset BMM_CLUSTER_DIR BMM_CLUSTER_BMM_CONF
BUDGET=${CLUSTER_TEST_BUDGET:-420}
# shellcheck source=tests/deploy/cluster_lib.sh
. "$REPO_ROOT/tests/deploy/cluster_lib.sh"
cluster_preflight cluster_test

DIR=$(mktemp -d /var/tmp/bmm-cluster-test.XXXXXX)
rmdir "$DIR"   # cluster.sh makes it (an empty or missing folder)
echo "cluster_test: state $DIR, budget ${BUDGET}s"
LOG=$DIR.log
W=$DIR.work   # the miners' accepted-share logs
mkdir -p "$W"

cleanup() {
  local rc=$?
  if [ -e "$DIR" ] || ip link show bmm-br0 >/dev/null 2>&1; then
    timeout 150 bash "$CLUSTER" down --dir "$DIR" --purge >>"$LOG" 2>&1 || true
  fi
  rm -rf "$DIR" "$W"
  rm -f "$LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster() { timeout "$(left)" bash "$CLUSTER" "$@" --dir "$DIR"; }

# ------------------------------------------------------------------- up --

t0=$SECONDS
if ! cluster up --timeout 150 >"$LOG" 2>&1; then
  tail -n 40 "$LOG"
  fail "deploy/cluster.sh up"
  finish
  exit 1
fi
STARTUP=$((SECONDS - t0))
pass "deploy/cluster.sh up (${STARTUP} s from nothing)"
check "deploy/cluster.sh status: every host and service up" bash -c "timeout 60 bash '$CLUSTER' status --dir '$DIR' >'$DIR.status' 2>&1"
cat "$DIR.status" 2>/dev/null; rm -f "$DIR.status"

RD=(10.77.0.21 10.77.0.22 10.77.0.23)
PG=(10.77.0.31 10.77.0.32 10.77.0.33)
REDIS_PW=$(cat "$DIR/secrets/redis_password")
rcli() { REDISCLI_AUTH=$REDIS_PW redis-cli --no-auth-warning -h "$1" "${@:2}"; }
role_of() { rcli "$1" --raw ROLE 2>/dev/null | head -n 1; }
replicas_of() { rcli "$1" INFO replication 2>/dev/null | tr -d '\r' | awk -F: '$1 == "connected_slaves" {print $2}'; }
sentinel_says() { redis-cli -h "$1" -p 26379 --raw SENTINEL get-master-addr-by-name bmm 2>/dev/null | head -n 1; }
primary() { local ip; for ip in "${RD[@]}"; do [ "$(role_of "$ip")" = master ] && { echo "$ip"; return 0; }; done; return 1; }

# ------------------------------------------------------------------ redis --

P=$(primary || true)
check "redis: one primary ($P)" test -n "$P"
check "redis: the primary has 2 connected replicas" test "$(replicas_of "$P")" = 2
n=0
for ip in "${RD[@]}"; do [ "$ip" = "$P" ] || { [ "$(role_of "$ip")" = slave ] && n=$((n + 1)); }; done
check "redis: the two others answer ROLE slave" test "$n" = 2
s1=$(sentinel_says 10.77.0.21); s2=$(sentinel_says 10.77.0.22); s3=$(sentinel_says 10.77.0.23)
check "sentinel: 3 Sentinels agree on the primary ($s1 $s2 $s3)" test "$s1" = "$P" -a "$s2" = "$P" -a "$s3" = "$P"
check "redis: min-replicas-to-write 1 on the primary" \
  test "$(rcli "$P" --raw CONFIG GET min-replicas-to-write | tail -n 1)" = 1
check "redis: min-replicas-max-lag 3 on the primary (a cut-off primary refuses writes within seconds)" \
  test "$(rcli "$P" --raw CONFIG GET min-replicas-max-lag | tail -n 1)" = 3

# --------------------------------------------------------- etcd + patroni --

check "etcd: 3 members healthy" bash -c "ETCDCTL_API=3 etcdctl --endpoints http://10.77.0.31:2379,http://10.77.0.32:2379,http://10.77.0.33:2379 --dial-timeout 3s endpoint health 2>&1 | grep -c 'is healthy' | grep -qx 3"
pcluster() { curl -sf --max-time 3 "http://$1:8008/cluster"; }
member_with() { pcluster 10.77.0.31 2>/dev/null | jq -r --arg r "$1" '.members[] | select(.role == $r and (.state == "running" or .state == "streaming")) | .host' | head -n 1; }
PG_LEAD=$(member_with leader || true)
SYNC=$(member_with sync_standby || true)
check "patroni: a leader ($PG_LEAD)" test -n "$PG_LEAD"
check "patroni: a sync standby ($SYNC)" test -n "$SYNC"
PATRONI_CONF=$DIR/hosts/pg1/etc/patroni/config.yml
check "patronictl list names a Leader and a Sync Standby" \
  bash -c "patronictl -c '$PATRONI_CONF' list 2>/dev/null | tee /dev/stderr | grep -q Leader && patronictl -c '$PATRONI_CONF' list 2>/dev/null | grep -q 'Sync Standby'"
check "patroni: synchronous_mode and synchronous_mode_strict in the DCS config" \
  bash -c "curl -sf --max-time 3 http://10.77.0.31:8008/config | jq -e '.synchronous_mode == true and .synchronous_mode_strict == true' >/dev/null"

psu() { local h=$1; shift; PGPASSWORD=$(cat "$DIR/secrets/pg_superuser") PGCONNECT_TIMEOUT=5 psql -X -tA -v ON_ERROR_STOP=1 -h "$h" -U postgres -d postgres "$@"; }
check "postgresql: the leader reports its standby $SYNC as sync" \
  test "$(psu "$PG_LEAD" -c "SELECT sync_state FROM pg_stat_replication WHERE client_addr = '$SYNC'" 2>/dev/null)" = sync
TOKEN=cluster-test-$RANDOM$RANDOM
psu "$PG_LEAD" -c "CREATE TABLE IF NOT EXISTS cluster_test (token text PRIMARY KEY)" -c "INSERT INTO cluster_test VALUES ('$TOKEN')" >/dev/null 2>&1 || true
on_standby() { [ "$(psu "$SYNC" -c "SELECT count(*) FROM cluster_test WHERE token = '$TOKEN'")" = 1 ]; }
check "postgresql: a row committed on the leader is on the sync standby" poll 15 on_standby
check "postgresql: the sync standby refuses writes (read-only)" \
  bash -c "! PGPASSWORD=\$(cat '$DIR/secrets/pg_superuser') psql -X -q -h '$SYNC' -U postgres -d postgres -c \"INSERT INTO cluster_test VALUES ('x$TOKEN')\" 2>/dev/null"

# ----------------------------------------------------------------- mining --

MINER=$BIN_DIR/bmm-miner
# The chains' heights before the miners start: their pool blocks since are
# checked below (chain_pool_blocks, blocks_booked_once: cluster_lib.sh).
chain_scan_from LTC "$(coin_rpc getblockcount || echo 0)"
chain_scan_from BTC "$(btc_rpc getblockcount || echo 0)"
mine() { local log=$1; shift; timeout 90 "$@" --shares 3 --seconds 60 --quiet --accepted-log "$W/$log.acc" >/dev/null 2>&1; }
# sha256d (BTC, bmm-stratum instances 4-6 on port 3334) in the background
# while the scrypt ones mine, one of them from the coin host's namespace.
mine b1 "$MINER" --algo sha256d --url stratum+tcp://10.77.0.11:3334 --user carol.b1 & b1=$!
mine b2 "$MINER" --algo sha256d --url stratum+tcp://10.77.0.12:3334 --user carol.b2 & b2=$!
mine b3 ip netns exec bmm-coin "$MINER" --algo sha256d --url stratum+tcp://10.77.0.13:3334 --user carol.b3 & b3=$!
check "miner from the root namespace on st1 (10.77.0.11): 3 shares accepted" mine l1 "$MINER" --url stratum+tcp://10.77.0.11:3333 --user carol.st1
check "miner from the root namespace on st2 (10.77.0.12): 3 shares accepted" mine l2 "$MINER" --url stratum+tcp://10.77.0.12:3333 --user carol.st2
check "miner from the coin host's namespace on st3 (10.77.0.13): 3 shares accepted" \
  mine l3 ip netns exec bmm-coin "$MINER" --url stratum+tcp://10.77.0.13:3333 --user carol.st3
check "sha256d miner from the root namespace on st1 (10.77.0.11:3334): 3 shares accepted" wait "$b1"
check "sha256d miner from the root namespace on st2 (10.77.0.12:3334): 3 shares accepted" wait "$b2"
check "sha256d miner from the coin host's namespace on st3 (10.77.0.13:3334): 3 shares accepted" wait "$b3"
stored() { [ "$(q -c "SELECT count(DISTINCT instance) FROM shares WHERE account = 'carol' AND accepted AND coin = '$1'")" = 3 ] &&
  [ "$(q -c "SELECT count(*) FROM shares WHERE account = 'carol' AND accepted AND coin = '$1'")" -ge 9 ]; }
check "LTC shares of all three scrypt stratum instances (1-3) reach PostgreSQL through Redis and bmm-accountd" poll 60 stored LTC
check "BTC shares of all three sha256d stratum instances (4-6) reach PostgreSQL through Redis and bmm-accountd" poll 60 stored BTC
echo "cluster_test: shares stored per instance: $(q -c "SELECT string_agg(instance || ':' || coin || ':' || n, ' ') FROM (SELECT instance, coin, count(*) n FROM shares WHERE account = 'carol' GROUP BY 1, 2 ORDER BY 1) s" 2>/dev/null)"
# Every share a miner was told was accepted (its proof-of-work hash, as the
# pool stores it) is stored exactly once, accepted, under the coin it mined.
once_each() { # once_each COIN LOGS...: prints the hashes not stored exactly once
  local coin=$1 f=$W/told-$1.txt
  shift
  (cd "$W" && awk '{print $3}' "$@") | sort -u >"$f"
  [ -s "$f" ] || { echo "no accepted share logged"; return 0; }
  q -q -c "CREATE TEMP TABLE told (hash text)" -c "\\copy told FROM '$f'" \
    -c "SELECT t.hash FROM told t WHERE (SELECT count(*) FROM shares s WHERE s.hash = t.hash AND s.account = 'carol' AND s.accepted AND s.coin = '$coin') <> 1" ||
    echo "the query failed (see $W/q.err)"
}
for coin in LTC BTC; do
  if [ "$coin" = LTC ]; then logs=(l1.acc l2.acc l3.acc); else logs=(b1.acc b2.acc b3.acc); fi
  told=$(cat "${logs[@]/#/$W/}" 2>/dev/null | wc -l)
  not_once=$(once_each "$coin" "${logs[@]}" 2>&1 | grep -c . || true)
  check "$coin: each of the $told shares the miners were told was accepted is stored exactly once (not once: $not_once)" test "$told" -ge 9 -a "$not_once" = 0
done
check "no share of carol stored twice (by uid)" test "$(q -c "SELECT count(*) - count(DISTINCT uid) FROM shares WHERE account = 'carol'")" = 0
# The blocks since the miners started whose coinbase carries the pool's tag
# (/BMM pool/), on litecoind's and on bcoin's chain: each once in blocks and
# once accepted in blocks_found.
for coin in LTC BTC; do
  check "$coin: a scan of ${CHAIN_NODE[$coin]}'s chain since height ${SCAN_FROM[$coin]}" chain_pool_blocks "$coin"
  check "$coin: the pool found blocks on ${CHAIN_NODE[$coin]}'s chain (${BLOCKS[$coin]} since height ${SCAN_FROM[$coin]})" test "${BLOCKS[$coin]}" -ge 1
  check "$coin: every pool block on ${CHAIN_NODE[$coin]}'s chain since height ${SCAN_FROM[$coin]} is booked once (blocks, blocks_found)" \
    poll 60 blocks_booked_once "$W/pool-blocks-$coin.txt"
done
if poll 60 audit_clean ac1; then pass "bmm-accountd audit clean on ac1 (LTC and BTC blocks checked on their nodes): $(tail -n 1 "$W/audit-ac1.log")"
else fail "bmm-accountd audit on ac1"; tail -n 20 "$W/audit-ac1.log"; fi
check "a query through PgBouncer (ac1:6432, transaction pooling, to pg2) reads the shares" \
  test "$(PGPASSWORD=$(cat "$DIR/secrets/pg_bmm") psql -X -tA -h 10.77.0.41 -p 6432 -U bmm -d bmm -c 'SELECT count(*) > 0 FROM shares' 2>/dev/null)" = t

# -------------------------------------------------------- redis failover --

old_p=$P
host_of_ip() { case $1 in 10.77.0.2?) echo "rd${1##*.2}" ;; 10.77.0.3?) echo "pg${1##*.3}" ;; esac; }
rh=$(host_of_ip "$old_p")
read -r rpid _ <"$DIR/hosts/$rh/run/bmm-cluster/redis.pid"
echo "cluster_test: kill -9 the Redis primary $old_p ($rh, pid $rpid)"
kill -KILL "$rpid"
promoted() {
  local s m
  m=$(sentinel_says 10.77.0.21)
  [ -n "$m" ] && [ "$m" != "$old_p" ] || return 1
  for s in 10.77.0.22 10.77.0.23; do [ "$(sentinel_says "$s")" = "$m" ] || [ "$s" = "$old_p" ] || return 1; done
  [ "$(role_of "$m")" = master ]
}
if poll 60 promoted; then
  REDIS_FAILOVER=$POLL_S
  NEW_P=$(sentinel_says 10.77.0.21)
  pass "redis failover: the Sentinels promoted $NEW_P in ${REDIS_FAILOVER} s after kill -9 of $old_p"
  other=""
  for ip in "${RD[@]}"; do [ "$ip" = "$old_p" ] || [ "$ip" = "$NEW_P" ] || other=$ip; done
  follows() { [ "$(replicas_of "$NEW_P")" = 1 ] && [ "$(rcli "$other" INFO replication | tr -d '\r' | awk -F: '$1 == "master_host" {print $2}')" = "$NEW_P" ]; }
  check "redis failover: the other replica $other follows $NEW_P" poll 30 follows
  check "redis failover: the new primary takes a write" test "$(rcli "$NEW_P" --raw SET cluster_test ok 2>/dev/null)" = OK
else
  REDIS_FAILOVER=none
  fail "redis failover: no Sentinel promotion within 60 s of kill -9 on $old_p"
fi

# ------------------------------------------------------ patroni failover --

ph=$(host_of_ip "$PG_LEAD")
read -r ppid _ <"$DIR/hosts/$ph/run/bmm-cluster/patroni.pid"
echo "cluster_test: stop the Patroni leader $PG_LEAD ($ph, pid $ppid, SIGTERM); its sync standby is $SYNC"
kill -TERM "$ppid"
new_leader() { [ "$(member_with leader)" = "$SYNC" ]; }
pcluster() { local ip; for ip in "${PG[@]}"; do [ "$ip" = "$PG_LEAD" ] && continue; curl -sf --max-time 3 "http://$ip:8008/cluster" && return 0; done; return 1; }
member_with() { pcluster | jq -r --arg r "$1" '.members[] | select(.role == $r and (.state == "running" or .state == "streaming")) | .host' | head -n 1; }
if poll 90 new_leader; then
  PG_FAILOVER=$POLL_S
  pass "patroni failover: the sync standby $SYNC leads ${PG_FAILOVER} s after the leader $PG_LEAD was stopped"
  check "patroni failover: the row committed before is on the new leader" \
    test "$(psu "$SYNC" -c "SELECT count(*) FROM cluster_test WHERE token = '$TOKEN'" 2>/dev/null)" = 1
  writable() { psu "$SYNC" -c "INSERT INTO cluster_test VALUES ('after-$TOKEN') ON CONFLICT DO NOTHING" >/dev/null; }
  # strict mode: the new leader commits once the last member is its sync standby.
  check "patroni failover: the new leader commits (the third member became its sync standby)" poll 60 writable
else
  PG_FAILOVER=none
  fail "patroni failover: $SYNC did not become leader within 90 s"
fi
wait "$ppid" 2>/dev/null || true

# ------------------------------------------------------------------ down --

# A crash left behind: kill -9 one Patroni (its PostgreSQL runs on without
# it, in no pidfile of cluster.sh); `down` must still end it.
for h in pg1 pg2 pg3; do
  f=$DIR/hosts/$h/run/bmm-cluster/patroni.pid
  [ -r "$f" ] || continue
  read -r kpid _ <"$f"
  if [ -e "/proc/$kpid" ]; then echo "cluster_test: kill -9 Patroni on $h (pid $kpid), leaving its PostgreSQL"; kill -KILL "$kpid"; break; fi
done

# Every process in the cluster's namespaces now (and the Redis killed above
# is gone already): none may outlive `down`.
NS_PIDS=$(for ns in $(ip netns list | awk '$1 ~ /^bmm-/ {print $1}'); do ip netns pids "$ns"; done | tr '\n' ' ')
echo "cluster_test: $(wc -w <<<"$NS_PIDS") processes in the namespaces before down"
t0=$SECONDS
if cluster down >>"$LOG" 2>&1; then pass "deploy/cluster.sh down ($((SECONDS - t0)) s)"; else fail "deploy/cluster.sh down"; tail -n 20 "$LOG"; fi
check "down: no bmm-* namespace left" bash -c "! ip netns list | grep -q '^bmm-'"
check "down: no bmmv-* veth left" bash -c "! ip -o link show | grep -q 'bmmv-'"
check "down: no bridge bmm-br0" bash -c "! ip link show bmm-br0 >/dev/null 2>&1"
alive=""
# An exited process PID 1 has not reaped yet (state Z) is gone.
for pid in $NS_PIDS; do
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [ -z "$st" ] || [ "$st" = Z ] || alive="$alive $pid($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-60))"
done
check "down: none of the namespaces' processes is left (alive:${alive:- none})" test -z "$alive"
check "down: no process names the state folder $DIR" bash -c "! ps -eo args | grep -v grep | grep -qF '$DIR'"
check "down twice is harmless" cluster down

echo "cluster_test: startup ${STARTUP} s; redis failover ${REDIS_FAILOVER} s (kill -9 primary -> Sentinels agree on a new primary); patroni failover ${PG_FAILOVER} s (stop leader -> sync standby leads)"
finish
