#!/usr/bin/env bash
# Fault suite of issue 17 on the simulated hosts of deploy/cluster.sh
# (docs/cluster.md, "The fault suite"). With bmm-miner mining through all
# three stratum hosts, scrypt (m1-m3, port 3333, LTC on litecoind) and sha256d
# (b1-b3, port 3334, BTC on bcoin), each with the three URLs as failover pools:
#   stratum_cut      cut one stratum host off the network (its veth down) for
#                    CUT seconds, then restore it: its miners move to the other
#                    hosts; a miner of each coin on the host itself keeps
#                    mining into its journal, which drains into Redis when the
#                    host is back.
#   accountd_kill    kill -9 the bmm-accountd that runs the ledger while it
#                    closes an epoch (short epochs in this test's configs); the
#                    other takes the ledger over, claims the dead consumer's
#                    pending entries and closes the next epochs.
#   redis_kill       kill -9 the Redis primary: the Sentinels promote a
#                    replica, bmm-stratum and bmm-accountd follow, mining goes on.
#   pg_stop_ingest   stop the Patroni leader while the ingest runs,
#   pg_stop_close    ... when an epoch close is due,
#   pg_stop_payout   ... while `bmm-payout execute` pays two batches at once,
#                    LTC through litecoind's wallet and BTC through bcoin's
#                    (two lines each, from matured blocks), then reconcile:
#                    Patroni promotes the sync standby; every line paid
#                    exactly once, on the nodes.
#   redis_partition  cut the Redis primary off (its veth down): it refuses
#                    writes (min-replicas-to-write), the Sentinels promote a
#                    replica, the old primary follows it once back.
# After each: every share the miners were told was accepted is stored once and
# none twice (each coin checked), every block on either chain (litecoind's,
# bcoin's) that pays the pool is booked once, and
# `bmm-accountd audit` is clean. Prints the times (promotions, mined again,
# longest time without an answer, takeover) in one table at the end; nothing
# asserts a duration.
# Functions are run through poll/check (SC2317); `a && b || c` is meant (SC2015).
# shellcheck disable=SC2317,SC2015
set -euo pipefail

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  cat <<'EOF'
Usage: tests/deploy/cluster_fault_test.sh [CASE...]     (root; label integration)

CASEs (default: all seven, about 5 minutes): stratum_cut accountd_kill
redis_kill pg_stop_ingest pg_stop_close pg_stop_payout redis_partition.
--ci: the bounded subset ctest runs (CI_CASES below).

Env:
  CLUSTER_FAULT_LONG=1   the longer variant: the stratum host is cut for 180 s
                         (not 60) and the accounting kill is done 3 times,
                         alternating hosts (about 8 minutes with all seven cases)
  CLUSTER_TEST_BUDGET    seconds for the whole run (default 900, long 1200)
  BMM_BIN_DIR            the built programs (default <repo>/build/bin)

Needs what tests/deploy/cluster_test.sh needs (deploy/install-deps.sh, root,
no other cluster up: it uses the fixed network bmm-br0, 10.77.0.0/24).
Every wait is bounded and the cluster is taken down on any exit.
EOF
  exit 0
fi

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER=$REPO_ROOT/deploy/cluster.sh
BIN_DIR=${BMM_BIN_DIR:-$REPO_ROOT/build/bin}
export BMM_BIN_DIR=$BIN_DIR
unset BMM_CLUSTER_DIR BMM_CLUSTER_BMM_CONF
LONG=${CLUSTER_FAULT_LONG:-0}
if [ "$LONG" = 1 ]; then CUT=180; KILLS=3; BUDGET=${CLUSTER_TEST_BUDGET:-1200}
else CUT=60; KILLS=1; BUDGET=${CLUSTER_TEST_BUDGET:-900}; fi
EPOCH_S=20        # epoch length in this test's accounting configs
CLAIM_MS=5000     # [ingest] claim_idle_ms there

ALL_CASES=(stratum_cut accountd_kill redis_kill pg_stop_ingest pg_stop_close pg_stop_payout redis_partition)
CI_CASES=(accountd_kill redis_kill pg_stop_close pg_stop_payout redis_partition)
CASES=("$@")
if [ ${#CASES[@]} -eq 0 ]; then CASES=("${ALL_CASES[@]}")
elif [ "${CASES[*]}" = --ci ]; then CASES=("${CI_CASES[@]}"); fi

# shellcheck source=tests/deploy/cluster_lib.sh
. "$REPO_ROOT/tests/deploy/cluster_lib.sh"
note() { echo "cluster_fault_test: $*"; }
cluster_preflight cluster_fault_test

DIR=$(mktemp -d /var/tmp/bmm-fault.XXXXXX)
rmdir "$DIR"   # cluster.sh makes it
W=$(mktemp -d /var/tmp/bmm-fault-work.XXXXXX)
chmod 755 "$W"
LOG=$W/cluster.log
note "state $DIR, work $W, budget ${BUDGET}s, cut ${CUT}s, accounting kills $KILLS"
MINER_PIDS=()

cleanup() {
  local rc=$? p
  for p in "${MINER_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  ip link set bmmv-st1 up 2>/dev/null || true
  if [ -e "$DIR" ] || ip link show bmm-br0 >/dev/null 2>&1; then
    timeout 150 bash "$CLUSTER" down --dir "$DIR" --purge >>"$LOG" 2>&1 || true
  fi
  if [ "$rc" -ne 0 ] && [ -n "${KEEP_LOGS:-}" ]; then note "logs kept in $W"; else rm -rf "$W"; fi
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1000}'; }
# The figures of the run, printed as one table at the end: figure CASE WHAT VALUE.
FIGURES=()
figure() { FIGURES+=("$1|$2|$3"); }

# ------------------------------------------------------------- the configs --
# deploy/cluster/bmm with short epochs (EPOCH_S), a short grace, a short
# claim_idle_ms, and one share a second per miner.
CONF=$W/bmm-conf
mkdir -p "$CONF"
GENESIS=$(( $(date +%s) / EPOCH_S * EPOCH_S ))
for f in "$REPO_ROOT"/deploy/cluster/bmm/bmm-accountd-ac*.toml; do
  sed -E -e "s/^length_seconds = .*/length_seconds = $EPOCH_S/" \
    -e 's/^close_grace_ms = .*/close_grace_ms = 3000/' \
    -e "s/^claim_idle_ms = [0-9]+/claim_idle_ms = $CLAIM_MS/" \
    -e "s/^genesis = .*/genesis = \"$GENESIS\"/" "$f" >"$CONF/$(basename "$f")"
  grep -q "^length_seconds = $EPOCH_S\$" "$CONF/$(basename "$f")" && grep -Eq "^claim_idle_ms = $CLAIM_MS( |$)" "$CONF/$(basename "$f")" ||
    { fail "the test's accounting config from $f (length_seconds, claim_idle_ms)"; finish; exit 1; }
done
for f in "$REPO_ROOT"/deploy/cluster/bmm/bmm-stratum-ltc-st*.toml "$REPO_ROOT"/deploy/cluster/bmm/bmm-stratum-btc-st*.toml; do
  sed -E -e 's/^target_share_seconds = .*/target_share_seconds = 1/' -e 's/^retarget_seconds = .*/retarget_seconds = 5/' \
    "$f" >"$CONF/$(basename "$f")"
  grep -q '^target_share_seconds = 1$' "$CONF/$(basename "$f")" || { fail "the test's stratum config from $f (target_share_seconds)"; finish; exit 1; }
done
# sha256d: start at the difficulty a CPU bmm-miner settles at here (the
# minimum, 0.0001: it does well under a share a second there), so that a
# miner moving to another host is not judged by vardiff's way down (from
# 0.001 its first share on the next host took 16 s on a loaded machine).
sed -i -E 's/^start_difficulty = .*/start_difficulty = 0.0001/' "$CONF"/bmm-stratum-btc-st*.toml
chmod -R a+rX "$CONF"

UP_ARGS=(--bmm-conf "$CONF")
cluster() { timeout "$(left)" bash "$CLUSTER" "$@" --dir "$DIR"; }

t0=$SECONDS
if ! cluster up --timeout 150 "${UP_ARGS[@]}" >"$LOG" 2>&1; then
  tail -n 40 "$LOG"
  fail "deploy/cluster.sh up"
  finish
  exit 1
fi
pass "deploy/cluster.sh up with ${EPOCH_S} s epochs ($((SECONDS - t0)) s)"

# ------------------------------------------------------------- helpers ------

REDIS_PW=$(cat "$DIR/secrets/redis_password")
rcli() { REDISCLI_AUTH=$REDIS_PW redis-cli --no-auth-warning -h "$1" "${@:2}"; }
redis_primary() { local ip; for ip in 10.77.0.21 10.77.0.22 10.77.0.23; do [ "$(rcli "$ip" --raw ROLE 2>/dev/null | head -n 1)" = master ] && { echo "$ip"; return 0; }; done; return 1; }
# one per stratum instance: scrypt 1-3, sha256d 4-6
streams() { echo 'bmm:shares:{1}' 'bmm:shares:{2}' 'bmm:shares:{3}' 'bmm:shares:{4}' 'bmm:shares:{5}' 'bmm:shares:{6}'; }
pending_of() { # pending_of CONSUMER: entries pending on it over every stream
  local s n=0 m
  for s in $(streams); do
    m=$(rcli "$(redis_primary)" --raw XPENDING "$s" bmm-accountd - + 100000 "$1" 2>/dev/null | awk 'NR % 4 == 1' | grep -c . || true)
    n=$((n + m))
  done
  echo "$n"
}
host_of_ip() { case $1 in 10.77.0.4?) echo "ac${1##*.4}" ;; 10.77.0.1?) echo "st${1##*.1}" ;; esac; }
svc_pid() { local pid; read -r pid _ <"$DIR/hosts/$1/run/bmm-cluster/$2.pid" && [ -e "/proc/$pid" ] && echo "$pid"; }
# The accounting host whose session holds an advisory lock keyed by hashtext($1).
lock_holder() {
  local ip
  ip=$(q -c "SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.objid::bigint = (hashtext('$1')::bigint & 4294967295) LIMIT 1" 2>/dev/null) || return 1
  [ -n "$ip" ] && host_of_ip "$ip"
}
H0=$(coin_rpc getblockcount)
BTC_H0=$(btc_rpc getblockcount)
note "chain height at start: litecoind $H0, bcoin $BTC_H0; Redis primary $(redis_primary), PostgreSQL leader $(pg_leader)"

# ------------------------------------------------------------------ miners --
MINER=$BIN_DIR/bmm-miner
ST=(10.77.0.11 10.77.0.12 10.77.0.13)
# The miners: scrypt (LTC, port 3333) m1-m3 and sha256d (BTC, port 3334)
# b1-b3; a miner's coin is its name's: b* mine sha256d.
LTC_MINERS=(m1 m2 m3)
BTC_MINERS=(b1 b2 b3)
MINERS=("${LTC_MINERS[@]}" "${BTC_MINERS[@]}")
is_btc() { [[ $1 == b* ]]; }
port_of() { if is_btc "$1"; then echo 3334; else echo 3333; fi; }
url() { echo "stratum+tcp://$1:${2:-3333}"; }
# start_miner NAME NAMESPACE|- HOST-IP... : a miner "fault.NAME" in the
# background, the hosts in this order as failover pools.
start_miner() {
  local name=$1 ns=$2 args=() u algo=scrypt
  shift 2
  is_btc "$name" && algo=sha256d
  for u in "$@"; do args+=(--url "$(url "$u" "$(port_of "$name")")"); done
  local cmd=("$MINER" --algo "$algo" "${args[@]}" --user "fault.$name" --shares 1000000 --submits 10000000 --seconds "$(left)"
    --timeout 5 --batch 8 --accepted-log "$W/$name.acc")
  : >"$W/$name.acc"
  if [ "$ns" = - ]; then "${cmd[@]}" >"$W/$name.out" 2>"$W/$name.err" &
  else ip netns exec "$ns" "${cmd[@]}" >"$W/$name.out" 2>"$W/$name.err" & fi
  MINER_PIDS+=($!)
  eval "PID_$name=$!"
}
stop_miner() { # stop_miner NAME: SIGTERM, its summary in $W/NAME.out
  local pid
  eval "pid=\$PID_$1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
  wait "$pid" 2>/dev/null || true
}
accepted_n() { wc -l <"$W/$1.acc"; }
summary() { tail -n 1 "$W/$1.out" 2>/dev/null | jq -r ".$2" 2>/dev/null; }

start_miner m1 - "${ST[0]}" "${ST[1]}" "${ST[2]}"
start_miner m2 - "${ST[1]}" "${ST[2]}" "${ST[0]}"
start_miner m3 bmm-coin "${ST[2]}" "${ST[0]}" "${ST[1]}"
start_miner b1 - "${ST[0]}" "${ST[1]}" "${ST[2]}"
start_miner b2 - "${ST[1]}" "${ST[2]}" "${ST[0]}"
start_miner b3 bmm-coin "${ST[2]}" "${ST[0]}" "${ST[1]}"
mining() { local m; for m in "$@"; do [ "$(accepted_n "$m")" -ge 3 ] || return 1; done; }
if ! check "three scrypt miners (failover URLs, each starting on another stratum host) have shares accepted" poll 60 mining "${LTC_MINERS[@]}"; then
  tail -n 5 "$W"/m*.err
fi
if ! check "three sha256d miners (BTC, port 3334, the same failover URLs) have shares accepted" poll 60 mining "${BTC_MINERS[@]}"; then
  tail -n 5 "$W"/b*.err
fi
hosts_of() { awk '{print $2}' "$W/$1.acc" | sort -u | tr '\n' ' '; }
note "m1 on $(hosts_of m1), m2 on $(hosts_of m2), m3 on $(hosts_of m3); b1 on $(hosts_of b1), b2 on $(hosts_of b2), b3 on $(hosts_of b3)"
# The accepted shares of the miners NAMES... so far.
accepted_sum() { local m n=0; for m in "$@"; do n=$((n + $(accepted_n "$m"))); done; echo "$n"; }

# Every accepted share of the miners NAMES... stored exactly once (by its
# proof-of-work hash, as the pool stores it), none twice.
stored_once() {
  local f=$W/hashes.txt
  local n
  for n in "$@"; do awk '{print $3}' "$W/$n.acc"; done | sort -u >"$f"
  [ -s "$f" ] || return 1
  local missing
  missing=$(q -c "CREATE TEMP TABLE told (hash text)" -c "\\copy told FROM '$f'" \
    -c "SELECT count(*) FROM told t WHERE NOT EXISTS (SELECT 1 FROM shares s WHERE s.hash = t.hash AND s.account = 'fault' AND s.accepted)" | tail -n 1)
  MISSING=$missing
  [ "$missing" = 0 ]
}
no_share_twice() {
  [ "$(q -c "SELECT count(*) FROM (SELECT hash FROM shares WHERE account = 'fault' AND hash <> '' GROUP BY hash HAVING count(*) > 1) d")" = 0 ] &&
    [ "$(q -c "SELECT count(*) - count(DISTINCT uid) FROM shares WHERE account = 'fault'")" = 0 ]
}
# Every block since the start whose coinbase carries the pool's tag (the pool
# found it) is in blocks once and in blocks_found once; per coin, each chain
# scanned from the height after its last scan into $W/pool-blocks-<COIN>.txt.
chain_scan_from LTC "$H0"
chain_scan_from BTC "$BTC_H0"
# The checks after a fault: the miners' accepted shares stored once, no
# share twice, blocks booked once, the audit clean (on host $2).
after_fault() {
  local what=$1 live=$2
  shift 2
  local ltc=() btc=() m
  for m in "$@"; do if is_btc "$m"; then btc+=("$m"); else ltc+=("$m"); fi; done
  if poll 90 stored_once "${ltc[@]}"; then pass "$what: every LTC share the scrypt miners were told was accepted is stored ($(accepted_sum "${ltc[@]}") so far)"
  else fail "$what: accepted LTC shares missing in PostgreSQL: ${MISSING:-?}"; fi
  if [ ${#btc[@]} -gt 0 ]; then
    if poll 90 stored_once "${btc[@]}"; then pass "$what: every BTC share the sha256d miners were told was accepted is stored ($(accepted_sum "${btc[@]}") so far)"
    else fail "$what: accepted BTC shares missing in PostgreSQL: ${MISSING:-?}"; fi
  fi
  check "$what: no share stored twice (by proof-of-work hash and by uid)" no_share_twice
  local coin
  for coin in LTC BTC; do
    chain_pool_blocks "$coin" || fail "$what: the scan of ${CHAIN_NODE[$coin]}'s chain for the pool's blocks (its node did not answer)"
    if poll 60 blocks_booked_once "$W/pool-blocks-$coin.txt"; then pass "$what: every pool block on ${CHAIN_NODE[$coin]}'s chain since height ${SCAN_FROM[$coin]} is booked once (${BLOCKS[$coin]} blocks)"
    else fail "$what: pool blocks on ${CHAIN_NODE[$coin]}'s chain not booked once: ${BLOCKS_MISSING:-?} of ${BLOCKS[$coin]}"; fi
  done
  if poll 60 audit_clean "$live"; then pass "$what: bmm-accountd audit clean (on $live)"
  else fail "$what: bmm-accountd audit (on $live)"; tail -n 20 "$W/audit-$live.log"; fi
}

# --------------------------------------------------------- stratum_cut ------
case_stratum_cut() {
  local ip=${ST[0]} t_cut t_back first n_during_db m lm port coin
  declare -A n_local_cut=()
  # A miner of each coin on the host itself: it keeps mining into st1's
  # journals (bmm-stratum's and bmm-stratum-btc's) while the host is cut off
  # (its traffic stays on the host's loopback route).
  start_miner local bmm-st1 "$ip"
  start_miner blocal bmm-st1 "$ip"
  poll 30 bash -c "[ \$(wc -l <'$W/local.acc') -ge 2 ] && [ \$(wc -l <'$W/blocal.acc') -ge 2 ]" ||
    fail "stratum_cut: the miners on st1 itself (scrypt and sha256d) have shares accepted"
  for m in m1 b1; do
    port=$(port_of $m)
    [ "$(awk '{print $2}' "$W/$m.acc" | tail -n 1)" = "$ip:$port" ] || note "$m is not on $ip:$port before the cut (on $(awk '{print $2}' "$W/$m.acc" | tail -n 1))"
  done
  t_cut=$(now_ms)
  note "stratum_cut: ip link set bmmv-st1 down ($ip off the network for ${CUT} s)"
  ip link set bmmv-st1 down
  # m1 (scrypt) and b1 (sha256d) started on st1: each must be accepted on another host.
  moved() { awk -v t="$t_cut" -v h="$ip:$(port_of "$1")" '$1 > t && $2 != h' "$W/$1.acc" | grep -q .; }
  for m in m1 b1; do
    coin=LTC; is_btc $m && coin=BTC
    if poll "$(( CUT - ($(now_ms) - t_cut) / 1000 > 1 ? CUT - ($(now_ms) - t_cut) / 1000 : 1 ))" moved "$m"; then
      first=$(awk -v t="$t_cut" -v h="$ip:$(port_of $m)" '$1 > t && $2 != h {print $1 - t; exit}' "$W/$m.acc")
      figure stratum_cut "cut -> the st1 $coin miner ($m) has a share accepted on another host" "$(secs "$first") s"
      pass "stratum_cut: the $coin miner of st1 ($m) mines on $(awk -v t="$t_cut" -v h="$ip:$(port_of $m)" '$1 > t && $2 != h {print $2; exit}' "$W/$m.acc") $(secs "$first") s after the cut"
    else
      figure stratum_cut "cut -> the st1 $coin miner ($m) has a share accepted on another host" "none in ${CUT} s"
      fail "stratum_cut: the $coin miner of st1 ($m) moved to another host within ${CUT} s"
    fi
  done
  sleep "$(( CUT - ($(now_ms) - t_cut) / 1000 > 0 ? CUT - ($(now_ms) - t_cut) / 1000 : 0 ))"
  # What st1 accepted while cut off is in its journals, not in PostgreSQL.
  for lm in local blocal; do
    coin=LTC; is_btc $lm && coin=BTC
    # (counted from the file written: the miner may log one more meanwhile)
    awk -v a=$((t_cut + 2000)) '$1 > a {print $3}' "$W/$lm.acc" >"$W/$lm-cut.txt"
    n_local_cut[$lm]=$(wc -l <"$W/$lm-cut.txt")
    n_during_db=$(q -c "CREATE TEMP TABLE c (hash text)" -c "\\copy c FROM '$W/$lm-cut.txt'" -c "SELECT count(*) FROM shares s JOIN c USING (hash)" 2>/dev/null | tail -n 1)
    check "stratum_cut: st1 accepted $coin shares while cut off (${n_local_cut[$lm]} from the miner $lm on the host)" test "${n_local_cut[$lm]}" -gt 0
    check "stratum_cut: none of those $coin shares reached PostgreSQL during the cut (stored: ${n_during_db:-?})" test "${n_during_db:-x}" = 0
  done
  ip link set bmmv-st1 up
  t_back=$(now_ms)
  note "stratum_cut: bmmv-st1 up again after $(secs $((t_back - t_cut))) s"
  drained() { [ "$(q -c "CREATE TEMP TABLE c (hash text)" -c "\\copy c FROM '$W/$1-cut.txt'" -c "SELECT count(*) FROM shares s JOIN c USING (hash)" | tail -n 1)" = "${n_local_cut[$1]}" ]; }
  for lm in local blocal; do
    coin=LTC; is_btc $lm && coin=BTC
    if poll 60 drained "$lm"; then
      figure stratum_cut "restore -> st1's $coin journal drained into PostgreSQL" "$POLL_S s"
      pass "stratum_cut: st1's $coin journal drained: the ${n_local_cut[$lm]} shares it accepted while cut off are stored, $POLL_S s after the restore"
    else fail "stratum_cut: st1's $coin journal did not drain within 60 s of the restore"; fi
    stop_miner "$lm"
  done
  back_on_st1() {
    timeout 30 "$MINER" --url "$(url "$ip")" --user fault.after --shares 2 --seconds 25 --quiet --accepted-log "$W/after.acc" >/dev/null 2>&1 &&
      timeout 30 "$MINER" --algo sha256d --url "$(url "$ip" 3334)" --user fault.bafter --shares 2 --seconds 25 --quiet --accepted-log "$W/bafter.acc" >/dev/null 2>&1
  }
  check "stratum_cut: st1 takes miners again after the restore (scrypt on 3333, sha256d on 3334)" back_on_st1
  after_fault stratum_cut ac1 "${MINERS[@]}" local after blocal bafter
}

# -------------------------------------------------------- accountd_kill -----
case_accountd_kill() {
  local round=$1 holder live pid t_kill k_before k_after caught=no
  holder=$(lock_holder 'bmm-accountd ledger' || true)
  if [ -z "$holder" ]; then fail "accountd_kill: one bmm-accountd holds the ledger lock"; return; fi
  if [ "$holder" = ac1 ]; then live=ac2; else live=ac1; fi
  pid=$(svc_pid "$holder" bmm-accountd) || { fail "accountd_kill: bmm-accountd on $holder runs"; return; }
  local consumer=accountd-${holder#ac}
  note "accountd_kill #$round: $holder (pid $pid, consumer $consumer) runs the ledger; $live only ingests"
  # Catch it inside a close: the closer takes the epoch close lock
  # exclusively between reading an epoch's shares and committing the close
  # (a few ms), and each ingest transaction takes it shared. The test holds it
  # shared, as an ingest transaction does, from just before the next close is
  # due; the ledger holder then starts that close (the epoch row made, the
  # blocks recorded) and waits for the lock: it is killed there, mid-close.
  local close_key="hashtext('bmm-accountd epoch close')"
  k_before=$(q -c "SELECT coalesce(max(k), -1) FROM epochs WHERE closed_at IS NOT NULL")
  local now_s due
  now_s=$(date +%s)
  due=$(( (now_s - GENESIS) / EPOCH_S * EPOCH_S + GENESIS + EPOCH_S + 3 ))   # the next end + close_grace_ms
  [ $((due - now_s)) -ge 3 ] || due=$((due + EPOCH_S))
  sleep $((due - now_s - 2))
  PGPASSWORD=$(cat "$DIR/secrets/pg_bmm") PGAPPNAME=fault-test-lock psql -X -q -h "$(pg_leader)" -U bmm -d bmm \
    -c "SELECT pg_advisory_lock_shared($close_key)" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
  local lock_psql=$!
  waiting() {
    [ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
      WHERE l.locktype = 'advisory' AND NOT l.granted AND l.mode = 'ExclusiveLock' AND l.objsubid = 1
        AND l.objid::bigint = ($close_key::bigint & 4294967295) AND host(a.client_addr) = '10.77.0.4${holder#ac}'")" = 1 ]
  }
  if poll $((EPOCH_S + 15)) waiting; then
    caught=yes
  else
    note "accountd_kill: $holder was not seen inside a close within $((EPOCH_S + 15)) s: killed between closes"
  fi
  kill -KILL "$pid"
  t_kill=$(now_ms)
  q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fault-test-lock'" >/dev/null || true
  wait "$lock_psql" 2>/dev/null || true
  k_after=$(q -c "SELECT coalesce(max(k), -1) FROM epochs WHERE closed_at IS NOT NULL")
  note "accountd_kill: kill -9 $holder's bmm-accountd (pid $pid) $( [ $caught = yes ] && echo "inside a close (waiting for the epoch close lock)" || echo "between closes"); last closed epoch before $k_before, right after the kill $k_after"
  check "accountd_kill #$round: the killed bmm-accountd is gone" bash -c "! kill -0 $pid 2>/dev/null || [ \"\$(awk '{print \$3}' /proc/$pid/stat)\" = Z ]"
  took_lock() { [ "$(lock_holder 'bmm-accountd ledger')" = "$live" ]; }
  local t_lock=none t_close=none t_claim=none
  if poll 60 took_lock; then t_lock=$(( $(now_ms) - t_kill )); pass "accountd_kill #$round: $live runs the ledger $(secs "$t_lock") s after the kill"
  else fail "accountd_kill #$round: $live took the ledger lock within 60 s"; fi
  # The epoch being closed (or the next due) is closed by the live one.
  local want=$((k_after + 1))
  closed_next() { [ "$(q -c "SELECT count(*) FROM epochs WHERE k = $want AND closed_at IS NOT NULL")" = 1 ]; }
  if poll $((EPOCH_S * 2 + CLAIM_MS / 1000 + 30)) closed_next; then
    t_close=$(( $(now_ms) - t_kill ))
    pass "accountd_kill #$round: epoch $want closed by the live host $(secs "$t_close") s after the kill"
  else
    fail "accountd_kill #$round: epoch $want closed after the kill"
  fi
  claimed() { [ "$(pending_of "$consumer")" = 0 ]; }
  if poll $((CLAIM_MS / 1000 + 30)) claimed; then t_claim=$(( $(now_ms) - t_kill )); pass "accountd_kill #$round: nothing left pending on the dead consumer $consumer ($(secs "$t_claim") s after the kill; claim_idle_ms $CLAIM_MS)"
  else fail "accountd_kill #$round: $consumer's pending entries taken over by $live (left: $(pending_of "$consumer"))"; fi
  note "accountd_kill: $live's log: $(grep -h 'took over' "$DIR/hosts/$live/var/log/bmm-cluster/bmm-accountd.log" | tail -n 1 | cut -c1-200)"
  figure "accountd_kill#$round" "kill -9 -> the other host holds the ledger lock" "$(secs "${t_lock/none/0}") s"
  figure "accountd_kill#$round" "kill -9 -> the next epoch closed" "$(secs "${t_close/none/0}") s"
  figure "accountd_kill#$round" "kill -9 -> the dead consumer's pending entries claimed" "$(secs "${t_claim/none/0}") s"
  figure "accountd_kill#$round" "($holder was killed $( [ $caught = yes ] && echo inside || echo between) a close)" ""
  # Back: the killed host starts again and only ingests now.
  if cluster up "${UP_ARGS[@]}" >>"$LOG" 2>&1; then pass "accountd_kill #$round: $holder's bmm-accountd starts again (cluster.sh up)"
  else fail "accountd_kill #$round: cluster.sh up restarts $holder's bmm-accountd"; tail -n 10 "$LOG"; fi
  after_fault "accountd_kill #$round" "$live" "${MINERS[@]}"
}

# --------------------------------------- Redis and PostgreSQL failovers ----

case_redis_kill() {
  local p rh rpid t0 m
  p=$(redis_primary); rh=rd${p##*.2}
  read -r rpid _ <"$DIR/hosts/$rh/run/bmm-cluster/redis.pid"
  local before btc_before; before=$(accepted_sum "${LTC_MINERS[@]}"); btc_before=$(accepted_sum "${BTC_MINERS[@]}")
  t0=$(now_ms); kill -KILL "$rpid"
  promoted() { m=$(redis-cli -h 10.77.0.22 -p 26379 --raw SENTINEL get-master-addr-by-name bmm | head -n 1); [ -n "$m" ] && [ "$m" != "$p" ]; }
  if poll 60 promoted; then
    pass "redis_kill: the Sentinels promote a replica ($m, $POLL_S s after kill -9 of $p)"
    figure redis_kill "Sentinel promotion (kill -9 -> new primary)" "$POLL_S s"
  else
    fail "redis_kill: the Sentinels promote a replica within 60 s"
    figure redis_kill "Sentinel promotion (kill -9 -> new primary)" "none in 60 s"
  fi
  more() { [ "$(accepted_sum "${LTC_MINERS[@]}")" -gt $((before + 10)) ]; }
  btc_more() { [ "$(accepted_sum "${BTC_MINERS[@]}")" -gt $((btc_before + 10)) ]; }
  check "redis_kill: mining goes on (scrypt, LTC)" poll 60 more
  check "redis_kill: mining goes on (sha256d, BTC)" poll 60 btc_more
  after_fault redis_kill ac1 "${MINERS[@]}"
}
# Stop the Patroni leader (SIGTERM) at a moment $1 and check that Patroni's
# sync standby leads and the programs go on with it.
pg_stop_at() {
  local what=$1 leader ph ppid
  leader=$(pg_leader); ph=pg${leader##*.3}
  read -r ppid _ <"$DIR/hosts/$ph/run/bmm-cluster/patroni.pid"
  kill -TERM "$ppid"
  new_leader() { local l; l=$(pg_leader); [ -n "$l" ] && [ "$l" != "$leader" ]; }
  if poll 90 new_leader; then
    LEADER=""
    pass "$what: Patroni promotes the sync standby ($(pg_leader) leads $POLL_S s after the leader $leader was stopped)"
    figure "$what" "Patroni promotion (stop leader -> new leader)" "$POLL_S s"
  else
    fail "$what: Patroni promotes the sync standby within 90 s"
    figure "$what" "Patroni promotion (stop leader -> new leader)" "none in 90 s"
  fi
  cluster up "${UP_ARGS[@]}" >>"$LOG" 2>&1 || { fail "$what: cluster.sh up brings the old leader back as a replica"; tail -n 15 "$LOG"; }
}
case_pg_stop_ingest() {
  pg_stop_at pg_stop_ingest   # the miners keep the ingest busy
  after_fault pg_stop_ingest ac1 "${MINERS[@]}"
}
case_pg_stop_close() {
  local end=$(( ( $(date +%s) - GENESIS) / EPOCH_S * EPOCH_S + GENESIS + EPOCH_S + 3 ))
  sleep $(( end - $(date +%s) > 0 ? end - $(date +%s) : 0 ))   # the close is due now
  pg_stop_at pg_stop_close
  after_fault pg_stop_close ac1 "${MINERS[@]}"
}
# litecoin-cli on the coin host against node A or B (its datadir's conf).
lcli() { ip netns exec bmm-coin litecoin-cli -datadir="$DIR/hosts/coin/stack/node$1" "${@:2}"; }
# A decimal coin amount (litecoin-cli/jq text, e.g. 0.1 or 12.34567891) in litoshi, exactly.
to_sat() { awk -v a="$1" 'BEGIN { n = split(a, p, "."); f = (n > 1 ? p[2] : ""); while (length(f) < 8) f = f "0"; printf "%s%s\n", p[1], f }' | sed -E 's/^(-?)0+([0-9])/\1\2/'; }
# bcoin's wallet HTTP API (a wallet "recv" beside the pool's "primary"):
# btc_wallet_http METHOD PATH [JSON-BODY] -> the answer.
btc_wallet_http() {
  local body=()
  [ "$1" = GET ] || body=(-H 'content-type: application/json' --data "${3:-"{}"}")
  curl -sf --max-time 60 -K "$DIR/hosts/coin/stack/secrets/bcoin_curl" -X "$1" "${body[@]}" "http://10.77.0.10:19409$2"
}
btc_recv_address() { btc_wallet_http POST /wallet/recv/address '{"account": "default"}' | jq -er .address; }
# plan_approved COIN: plans a batch of COIN (bmm-payout plan), checks that it
# pays fault's two lines (written to $W/lines-COIN.txt: address amount) and
# approves it; sets BATCH[COIN]. Returns 1 (after a FAIL) if it could not.
declare -A BATCH=()
plan_approved() {
  local coin=$1 batch digest lines
  on_ac ac1 bmm-payout plan --coin "$coin" >"$W/plan-$coin.log" 2>&1 ||
    { fail "pg_stop_payout: bmm-payout plan --coin $coin"; cat "$W/plan-$coin.log"; return 1; }
  batch=$(awk '$1 == "batch" && $3 == "planned:" {print $2}' "$W/plan-$coin.log")
  digest=$(awk '$1 == "digest" {print $2}' "$W/plan-$coin.log")
  on_ac ac1 bmm-payout show "$batch" --json >"$W/batch-$coin.json" 2>"$W/show.err" || true
  jq -r '.lines[] | select(.account == "fault") | "\(.address) \(.amount)"' "$W/batch-$coin.json" >"$W/lines-$coin.txt" 2>/dev/null || true
  lines=$(wc -l <"$W/lines-$coin.txt")
  check "pg_stop_payout: $coin batch ${batch:-?} planned with the two lines of fault ($(tr '\n' ' ' <"$W/lines-$coin.txt"))" test "$lines" = 2 ||
    return 1
  on_ac ac1 bmm-payout approve "$batch" --by fault-test --digest "$digest" >"$W/approve-$coin.log" 2>&1 ||
    { fail "pg_stop_payout: bmm-payout approve $batch ($coin)"; cat "$W/approve-$coin.log"; return 1; }
  BATCH[$coin]=$batch
}
# Until fault has at least $2 base units of coin $1 available (sets AVAIL).
available() {
  AVAIL=$(q -c "SELECT coalesce(sum(balance), 0) FROM balances WHERE account = 'user:fault:available' AND currency = '$1'")
  [ "${AVAIL:-0}" -ge "$2" ]
}
case_pg_stop_payout() {
  local a1 a2 b1 b2 i rc state coin
  # Two payout addresses of the account "fault" per coin (50 % each: two
  # lines): LTC in a wallet "recv" of litecoind B, whose blocks mature with
  # 101 blocks mined on node A to a third address (not the pool's: the ledger
  # books only pool blocks); BTC in a wallet "recv" of bcoin beside the
  # pool's, whose blocks (the sha256d miners find one with nearly every
  # share) mature with 100 blocks mined to a third address of it.
  lcli B -named createwallet wallet_name=recv >/dev/null 2>&1 || lcli B loadwallet recv >/dev/null 2>&1 || true
  a1=$(lcli B -rpcwallet=recv getnewaddress "" bech32)
  a2=$(lcli B -rpcwallet=recv getnewaddress "" bech32)
  on_ac ac1 bmm-accountd account bind fault LTC "$a1" >"$W/bind.log" 2>&1 &&
    on_ac ac1 bmm-accountd account bind fault LTC "$a2" --share 500000 >>"$W/bind.log" 2>&1 ||
    { fail "pg_stop_payout: bmm-accountd account bind fault LTC (two wallets)"; cat "$W/bind.log"; return; }
  btc_wallet_http PUT /wallet/recv '{"witness": true}' >/dev/null 2>&1 || true
  b1=$(btc_recv_address) && b2=$(btc_recv_address) ||
    { fail "pg_stop_payout: two addresses of a wallet recv on bcoin (its wallet HTTP API: PUT /wallet/recv, POST /wallet/recv/address)"; return; }
  on_ac ac1 bmm-accountd account bind fault BTC "$b1" >>"$W/bind.log" 2>&1 &&
    on_ac ac1 bmm-accountd account bind fault BTC "$b2" --share 500000 >>"$W/bind.log" 2>&1 ||
    { fail "pg_stop_payout: bmm-accountd account bind fault BTC (two addresses of bcoin's wallet recv: '$b1' '$b2')"; cat "$W/bind.log"; return; }
  lcli A generatetoaddress 101 "$(lcli B -rpcwallet=recv getnewaddress "" bech32)" >/dev/null
  btc_rpc generatetoaddress "[100, \"$(btc_recv_address)\"]" >/dev/null || { fail "pg_stop_payout: 100 blocks mined on bcoin"; return; }
  for coin in LTC BTC; do
    if ! poll 90 available "$coin" 20000000; then fail "pg_stop_payout: the account fault has 0.2 $coin available after its blocks matured (has ${AVAIL:-?})"; return; fi
    pass "pg_stop_payout: the account fault has $AVAIL base units of $coin available (its blocks matured)"
    plan_approved "$coin" || return
  done
  # execute both batches, and the PostgreSQL primary stopped while they run.
  local t0 took retries
  declare -A epid=()
  t0=$(now_ms)
  for coin in LTC BTC; do
    on_ac ac1 bmm-payout execute "${BATCH[$coin]}" >"$W/execute-$coin.log" 2>&1 &
    epid[$coin]=$!
  done
  sleep 0.$((RANDOM % 3))
  pg_stop_at pg_stop_payout
  for coin in LTC BTC; do
    rc=0; wait "${epid[$coin]}" || rc=$?
    took=$(secs $(( $(now_ms) - t0 )))
    retries=$(grep -c 'a failover?' "$W/execute-$coin.log" || true)
    note "pg_stop_payout: $coin execute ran ${took} s with the primary stopped in it and exited $rc; it ran again from the start $retries time(s) after a failover error: $(grep -m 1 'a failover?' "$W/execute-$coin.log" | cut -c1-160)"
    figure pg_stop_payout "$coin execute started -> done (its own failover retries: $retries)" "$took s"
    for i in 1 2 3 4 5; do
      [ "$rc" -ne 0 ] || break
      rc=0; on_ac ac1 bmm-payout execute "${BATCH[$coin]}" >>"$W/execute-$coin.log" 2>&1 || rc=$?
      note "pg_stop_payout: $coin execute again (#$i) exited $rc"
      [ "$rc" -eq 0 ] || sleep 2
    done
    check "pg_stop_payout: bmm-payout execute ${BATCH[$coin]} ($coin) finished (exit 0) across the failover" test "$rc" = 0 ||
      tail -n 5 "$W/execute-$coin.log"
  done
  # [payout] confirmations = 6: mine them (to third addresses), reconcile.
  lcli A generatetoaddress 7 "$(lcli B -rpcwallet=recv getnewaddress "" bech32)" >/dev/null
  btc_rpc generatetoaddress "[7, \"$(btc_recv_address)\"]" >/dev/null || fail "pg_stop_payout: 7 blocks mined on bcoin"
  confirmed() {
    on_ac ac1 bmm-payout reconcile "${BATCH[$1]}" >>"$W/reconcile-$1.log" 2>&1 || true
    on_ac ac1 bmm-payout show "${BATCH[$1]}" --json >"$W/batch-$1.json" 2>/dev/null && state=$(jq -r .state "$W/batch-$1.json") && [ "$state" = confirmed ]
  }
  for coin in LTC BTC; do
    if poll 60 confirmed "$coin"; then pass "pg_stop_payout: bmm-payout reconcile books $coin batch ${BATCH[$coin]} confirmed"
    else fail "pg_stop_payout: bmm-payout reconcile books $coin batch ${BATCH[$coin]} confirmed within 60 s (state ${state:-?})"; fi
  done
  # On the nodes: each address received exactly its line's amount, in one
  # transaction. LTC: node B's wallet recv received it once and the pool's
  # wallet on node A sent to it once. BTC: bcoin's wallet recv holds one coin
  # at the address, of exactly the amount.
  local addr amount got n_recv n_send bad=0
  lcli B -rpcwallet=recv listtransactions "*" 10000 0 true >"$W/recv.json"
  lcli A -rpcwallet=pool listtransactions "*" 10000 0 true >"$W/pool.json"
  while read -r addr amount; do
    got=$(to_sat "$(lcli B -rpcwallet=recv getreceivedbyaddress "$addr" 0)")
    n_recv=$(jq --arg a "$addr" '[.[] | select(.category == "receive" and .address == $a)] | length' "$W/recv.json")
    n_send=$(jq --arg a "$addr" '[.[] | select(.category == "send" and .address == $a)] | length' "$W/pool.json")
    note "pg_stop_payout: LTC $addr: line $amount, received $got in $n_recv transaction(s), the pool wallet sent to it $n_send time(s)"
    [ "$got" = "$amount" ] && [ "$n_recv" = 1 ] && [ "$n_send" = 1 ] || bad=$((bad + 1))
  done <"$W/lines-LTC.txt"
  btc_wallet_http GET /wallet/recv/coin >"$W/recv-btc.json" 2>/dev/null || echo '[]' >"$W/recv-btc.json"
  while read -r addr amount; do
    got=$(jq --arg a "$addr" '[.[] | select(.address == $a) | .value] | add // 0' "$W/recv-btc.json")
    n_recv=$(jq --arg a "$addr" '[.[] | select(.address == $a)] | length' "$W/recv-btc.json")
    note "pg_stop_payout: BTC $addr: line $amount, bcoin's wallet recv holds $got in $n_recv coin(s) there"
    [ "$got" = "$amount" ] && [ "$n_recv" = 1 ] || bad=$((bad + 1))
  done <"$W/lines-BTC.txt"
  check "pg_stop_payout: on the nodes every payout line was paid exactly once (LTC and BTC: each address received its amount once)" \
    test "$bad" = 0 -a "$(cat "$W/lines-LTC.txt" "$W/lines-BTC.txt" | wc -l)" = 4
  after_fault pg_stop_payout ac1 "${MINERS[@]}"
}
case_redis_partition() {
  local p h t_cut ip others=() auth=()
  p=$(redis_primary); h=rd${p##*.2}
  for ip in 10.77.0.21 10.77.0.22 10.77.0.23; do [ "$ip" = "$p" ] || others+=("$ip"); done
  auth=(env "REDISCLI_AUTH=$REDIS_PW")
  local before btc_before; before=$(accepted_sum "${LTC_MINERS[@]}"); btc_before=$(accepted_sum "${BTC_MINERS[@]}")
  # The primary cut off from the Sentinels, the replicas and every client
  # (its veth down). With min-replicas-to-write 1 it refuses writes once no
  # replica acknowledged for min-replicas-max-lag (3 s in deploy/cluster/redis);
  # what it took before that is not kept by anyone: bmm-stratum releases a
  # record only after WAIT saw it on a replica, bmm-accountd stores a read
  # only after WAIT.
  note "redis_partition: ip link set bmmv-$h down (the primary $p cut off)"
  t_cut=$(now_ms)
  ip link set "bmmv-$h" down
  refuses() { ip netns exec "bmm-$h" "${auth[@]}" redis-cli --no-auth-warning -h "$p" XADD fault-partition '*' x 1 2>&1 | grep -q NOREPLICAS; }
  if poll 30 refuses; then
    pass "redis_partition: the cut-off primary refuses writes (NOREPLICAS) $POLL_S s after the cut"
    figure redis_partition "cut -> the cut-off primary refuses writes (min-replicas-max-lag 3)" "$POLL_S s"
  else
    fail "redis_partition: the cut-off primary refuses writes (min-replicas-to-write) within 30 s"
  fi
  local m=""
  promoted() { m=$(redis-cli -h "${others[0]}" -p 26379 --raw SENTINEL get-master-addr-by-name bmm | head -n 1); [ -n "$m" ] && [ "$m" != "$p" ] && [ "$(rcli "$m" --raw ROLE | head -n 1)" = master ]; }
  if poll 60 promoted; then
    local t_prom=$(( $(now_ms) - t_cut ))
    pass "redis_partition: the Sentinels on the other hosts promote $m $(secs "$t_prom") s after the cut"
    figure redis_partition "cut -> Sentinel promotion of a replica" "$(secs "$t_prom") s"
  else
    fail "redis_partition: the Sentinels promote a replica within 60 s of the cut"
  fi
  more() { [ "$(accepted_sum "${LTC_MINERS[@]}")" -gt $((before + 10)) ]; }
  btc_more() { [ "$(accepted_sum "${BTC_MINERS[@]}")" -gt $((btc_before + 10)) ]; }
  check "redis_partition: mining goes on (scrypt, LTC)" poll 60 more
  check "redis_partition: mining goes on (sha256d, BTC)" poll 60 btc_more
  # The cut-off primary never heard of the failover: it is still a primary
  # (refusing writes) until the partition ends and the Sentinels demote it.
  check "redis_partition: the cut-off server still says it is a primary (it refuses writes, see above)" \
    bash -c "ip netns exec bmm-$h ${auth[*]} redis-cli --no-auth-warning -h $p --raw ROLE | head -n 1 | grep -qx master"
  ip link set "bmmv-$h" up
  local t_up; t_up=$(now_ms)
  follows() { [ "$(rcli "$p" --raw ROLE | head -n 1)" = slave ] && [ "$(rcli "$p" INFO replication | tr -d '\r' | awk -F: '$1 == "master_link_status" {print $2}')" = up ]; }
  if poll 60 follows; then
    pass "redis_partition: the old primary follows the new one $POLL_S s after the partition ends"
    figure redis_partition "partition end -> the old primary replicates from the new one" "$POLL_S s"
  else
    fail "redis_partition: the old primary follows the new one within 60 s of the partition's end"
  fi
  note "redis_partition: cut for $(secs $((t_up - t_cut))) s"
  after_fault redis_partition ac1 "${MINERS[@]}"
}

# ------------------------------------------------------------------- run ----
# The longest time any of the miners NAMES... went without an accepted share
# between $1 and $2 (ms): "S s (NAME)".
acc_gap() {
  local a=$1 b=$2 m g best=0 who=-
  shift 2
  for m in "$@"; do
    g=$(awk -v a="$a" -v b="$b" 'BEGIN {p = a; g = 0} $1 >= a && $1 <= b {if ($1 - p > g) g = $1 - p; p = $1} END {if (b - p > g) g = b - p; print g}' "$W/$m.acc")
    [ "$g" -le "$best" ] || { best=$g; who=$m; }
  done
  echo "$(secs "$best") s ($who)"
}
for c in "${CASES[@]}"; do
  c_t0=$(now_ms)
  case $c in
    stratum_cut) case_stratum_cut ;;
    accountd_kill) for ((i = 1; i <= KILLS; i++)); do case_accountd_kill "$i"; done ;;
    redis_kill|pg_stop_ingest|pg_stop_close|pg_stop_payout|redis_partition) "case_$c" ;;
    *) fail "unknown case '$c' (see --help)" ;;
  esac
  c_t1=$(now_ms)
  figure "$c" "longest time a scrypt miner (m1-m3) had no share accepted in the case" "$(acc_gap "$c_t0" "$c_t1" "${LTC_MINERS[@]}")"
  figure "$c" "longest time a sha256d miner (b1-b3) had no share accepted in the case" "$(acc_gap "$c_t0" "$c_t1" "${BTC_MINERS[@]}")"
  figure "$c" "the case took (fault, recovery and the checks after it)" "$(secs $(( $(now_ms) - c_t0 ))) s"
  [ "$SECONDS" -lt "$BUDGET" ] || { fail "the budget of ${BUDGET} s ran out after case $c"; break; }
done

for m in "${MINERS[@]}"; do stop_miner "$m"; done
for m in "${MINERS[@]}"; do
  note "$m: $(head -n 1 "$W/$m.out" 2>/dev/null); connects $(summary "$m" connects), failovers $(summary "$m" failovers), longest without an answer $(summary "$m" max_answer_gap_seconds) s, longest from giving up a pool to the next accepted share $(summary "$m" max_resume_seconds) s"
done
# Only a run that cut st1 off moves its miner (a run of other cases alone does not).
if [[ " ${CASES[*]} " == *" stratum_cut "* ]]; then
  check "the scrypt miner that started on st1 failed over (failovers >= 1)" test "$(summary m1 failovers)" -ge 1 2>/dev/null
  check "the sha256d miner that started on st1 failed over (failovers >= 1)" test "$(summary b1 failovers)" -ge 1 2>/dev/null
fi
after_fault final ac1 "${MINERS[@]}"

echo
echo "cluster_fault_test: figures"
printf '  %-16s %-68s %s\n' CASE FIGURE VALUE
for f in "${FIGURES[@]}"; do IFS='|' read -r a b c <<<"$f"; printf '  %-16s %-68s %s\n' "$a" "$b" "$c"; done
for m in "${MINERS[@]}"; do
  printf '  %-16s %-68s %s\n' "whole run" "$m: longest without an answer / give-up to next accepted" "$(summary "$m" max_answer_gap_seconds) s / $(summary "$m" max_resume_seconds) s"
done
note "the run took $SECONDS s before the cluster goes down (cases: ${CASES[*]})"
finish
