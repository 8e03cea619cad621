#!/usr/bin/env bash
# BMM pool on several hosts simulated on one machine: network namespaces
# joined by veth pairs to the bridge bmm-br0 (10.77.0.0/24, inside this
# machine only), each "host" running what deploy/cluster/ configures for it.
# docs/cluster.md describes the topology, the configs and how to run it.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/cluster.sh up|down|status [options]     (as root)

Hosts (network namespace bmm-<host>, address on bmm-br0; the root namespace
is 10.77.0.1):
  coin  10.77.0.10      litecoind regtest A (wallet "pool") and B, peered,
                        rpc 19402; bcoin regtest (sha256d, wallet "primary"),
                        rpc 19408, wallet rpc 19409 (deploy/stack.sh run
                        inside the namespace)
  st1-3 10.77.0.11-13   bmm-stratum instance 1-3 (scrypt, LTC), port 3333,
                        metrics 9310; bmm-stratum instance 4-6 (sha256d, BTC),
                        port 3334, metrics 9311
  rd1-3 10.77.0.21-23   redis-server (rd1 the first primary) + redis-sentinel
  pg1-3 10.77.0.31-33   etcd member + Patroni running PostgreSQL 15
  ac1-2 10.77.0.41-42   PgBouncer (6432, transaction pooling) + bmm-accountd

Commands:
  up      build the network, start every service that is not running, wait
          until each answers (Redis: 2 replicas and 3 Sentinels; Patroni: a
          leader and a sync standby), then start the bmm programs that are
          built. Idempotent. Prints the time it took.
  down    stop everything (bounded waits, then kill), remove the namespaces,
          veths and the bridge. Works from any state (after a crash, with
          no state folder, twice). --purge also deletes the state folder.
  status  each host, service, role and whether it answers; exit 0 iff all do.

Options:
  --dir DIR     state folder (env BMM_CLUSTER_DIR; default /var/tmp/bmm-cluster):
                each host's files under DIR/hosts/<host>/ at the paths a real
                machine has them (etc/, var/lib/, var/log/, run/), secrets in
                DIR/secrets
  --no-bmm      with up: start the infrastructure only, no bmm programs
  --bmm-conf DIR
                with up: read the bmm programs' configs (bmm-stratum-ltc-stN.toml,
                bmm-stratum-btc-stN.toml, bmm-accountd-acN.toml) from DIR
                instead of deploy/cluster/bmm
                (env BMM_CLUSTER_BMM_CONF; the fault test's short epochs)
  --timeout S   seconds to wait for each step (default 120)
  --purge       with down: delete the state folder too

The bmm programs run on deploy/cluster/bmm/*.toml as they are: Redis through
the Sentinels with its password, WAIT, a stream per stratum instance,
PostgreSQL through the hosts list, the read API through PgBouncer.

Env BMM_BIN_DIR: where the bmm programs are (default <repo>/build/bin).
EOF
}

log() { echo "cluster: $*"; }
warn() { echo "cluster: warning: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF=$REPO_ROOT/deploy/cluster
BIN_DIR=${BMM_BIN_DIR:-$REPO_ROOT/build/bin}
BRIDGE=bmm-br0
BRIDGE_ADDR=10.77.0.1
HOSTS=(coin st1 st2 st3 rd1 rd2 rd3 pg1 pg2 pg3 ac1 ac2)
COIN_RPC_PORT=19402     # deploy/stack.sh's node A rpc at its default base port 19400
BCOIN_RPC_PORT=19408    # ... its bcoin rpc (base + 8) and wallet rpc (base + 9)
BCOIN_WALLET_PORT=19409
PG_BIN=/usr/lib/postgresql/15/bin

host_ip() {
  case $1 in
    coin) echo 10.77.0.10 ;;
    st[1-3]) echo "10.77.0.1${1#st}" ;;
    rd[1-3]) echo "10.77.0.2${1#rd}" ;;
    pg[1-3]) echo "10.77.0.3${1#pg}" ;;
    ac[1-2]) echo "10.77.0.4${1#ac}" ;;
    *) die "unknown host '$1'" ;;
  esac
}
ns_of() { echo "bmm-$1"; }
veth_of() { echo "bmmv-$1"; }

command=""
STATE_DIR=${BMM_CLUSTER_DIR:-/var/tmp/bmm-cluster}
TIMEOUT=120
BMM_CONF=${BMM_CLUSTER_BMM_CONF:-}
purge=0
with_bmm=1
while [ $# -gt 0 ]; do
  case $1 in
    up|down|status) [ -z "$command" ] || die "one command at a time"; command=$1 ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; STATE_DIR=$2; shift ;;
    --dir=*) STATE_DIR=${1#*=} ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; TIMEOUT=$2; shift ;;
    --purge) purge=1 ;;
    --no-bmm) with_bmm=0 ;;
    --bmm-conf) [ $# -ge 2 ] || die "--bmm-conf needs a value"; BMM_CONF=$2; shift ;;
    --bmm-conf=*) BMM_CONF=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[ -n "$command" ] || { usage >&2; exit 2; }
BMM_CONF=${BMM_CONF:-$CONF/bmm}
[ -d "$BMM_CONF" ] || die "--bmm-conf '$BMM_CONF' is not a folder"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout '$TIMEOUT' is not a number of seconds"
case $STATE_DIR in /*) ;; *) STATE_DIR=$PWD/$STATE_DIR ;; esac
STATE_DIR=${STATE_DIR%/}
[[ $STATE_DIR =~ ^[A-Za-z0-9_./+-]+$ ]] || die "state dir '$STATE_DIR' has characters other than A-Z a-z 0-9 _ . / + -"
# PostgreSQL's socket DIR/hosts/pgN/run/postgresql/.s.PGSQL.5432 must fit in
# sun_path (107 bytes).
[ ${#STATE_DIR} -le 64 ] || die "state dir '$STATE_DIR' is too long for PostgreSQL's unix socket (64 characters at most)"
[ "$(id -u)" -eq 0 ] || die "cluster.sh needs root (network namespaces, veths, a bridge)"
SECRETS=$STATE_DIR/secrets
MARKER=$STATE_DIR/.bmm-cluster

# ---------------------------------------------------------------- helpers --

hroot() { echo "$STATE_DIR/hosts/$1"; }

# Copies an operator config (deploy/cluster/...) to host $1's tree, the
# machine paths (/etc/, /var/lib/, /var/log/, /run/, /var/run/) moved under
# <dir>/hosts/<host>/. Reads stdin, writes stdout.
map_paths() {
  local r
  r=$(hroot "$1")
  sed -E -e "s#(^|[[:space:]\"'=,])/var/run/#\\1$r/run/#g" \
    -e "s#(^|[[:space:]\"'=,])/(etc|var/lib|var/log|run)/#\\1$r/\\2/#g"
}

# True when pid $1 is alive and its command line contains $2.
pid_is() {
  [[ $1 =~ ^[0-9]+$ ]] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
pidfile_of() { echo "$(hroot "$1")/run/bmm-cluster/$2.pid"; }
# The live pid of service $2 on host $1 (its pidfile holds "pid program").
svc_pid() {
  local f pid what
  f=$(pidfile_of "$1" "$2")
  [ -r "$f" ] || return 1
  read -r pid what <"$f" || true
  pid_is "$pid" "${what:-$2}" || return 1
  echo "$pid"
}
# A process that exited but is not reaped yet (a zombie; our daemons are
# reparented to PID 1) counts as gone.
alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_gone() {
  local pid=$1 limit=$2 n=0
  while alive "$pid"; do
    [ "$n" -ge $((limit * 10)) ] && return 1
    sleep 0.1
    n=$((n + 1))
  done
}
# Bounded wait: wait_until SECONDS "what" command...
wait_until() {
  local limit=$1 what=$2 n=0
  shift 2
  until "$@"; do
    [ "$n" -lt $((limit * 2)) ] || { warn "$what: not after ${limit}s"; return 1; }
    sleep 0.5
    n=$((n + 1))
  done
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
secret() {
  local f=$SECRETS/$1
  if [ ! -s "$f" ]; then (umask 077; random_hex 24 >"$f.tmp" && mv -f "$f.tmp" "$f"); fi
  cat "$f"
}

# Starts a program in host $1's namespace as user $2, in the background, its
# output to <host>/var/log/bmm-cluster/$3.log, its pid in the pidfile with
# $4, a word its command line holds once it runs (env and bash exec it).
# `ip netns exec` and setpriv both exec, so $! is the program itself.
start_svc() {
  local host=$1 user=$2 name=$3 what=$4 r
  shift 4
  r=$(hroot "$host")
  mkdir -p "$r/run/bmm-cluster" "$r/var/log/bmm-cluster"
  if svc_pid "$host" "$name" >/dev/null; then
    log "$host: $name already running (pid $(svc_pid "$host" "$name"))"
    return 0
  fi
  log "$host: starting $name (log $r/var/log/bmm-cluster/$name.log)"
  ip netns exec "$(ns_of "$host")" setpriv --reuid="$user" --regid="$user" --init-groups -- "$@" \
    </dev/null >>"$r/var/log/bmm-cluster/$name.log" 2>&1 8>&- &
  echo "$! $what" >"$(pidfile_of "$host" "$name")"
}

stop_svc() { stop_svcs "${3:-30}" "$2" "$1"; }
# stop_svcs LIMIT NAME HOST...: TERM service NAME on every HOST at once, wait
# up to LIMIT seconds for all, then KILL what is left.
stop_svcs() {
  local limit=$1 name=$2 host pid pids=() hosts=() i
  shift 2
  for host in "$@"; do
    pid=$(svc_pid "$host" "$name") || { rm -f "$(pidfile_of "$host" "$name")"; continue; }
    log "$host: stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
    hosts+=("$host")
  done
  local t0=$SECONDS
  for i in "${!pids[@]}"; do
    if ! wait_gone "${pids[$i]}" $((limit - (SECONDS - t0) > 1 ? limit - (SECONDS - t0) : 1)); then
      warn "${hosts[$i]}: $name (pid ${pids[$i]}) still running after ${limit}s: KILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
      wait_gone "${pids[$i]}" 5 || true
    fi
    rm -f "$(pidfile_of "${hosts[$i]}" "$name")"
  done
}

in_ns() { local h=$1; shift; ip netns exec "$(ns_of "$h")" "$@"; }

# ---------------------------------------------------------------- network --

net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  local h ns veth
  for h in "${HOSTS[@]}"; do
    ns=$(ns_of "$h")
    veth=$(veth_of "$h")
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      ip netns exec "$ns" ip addr add "$(host_ip "$h")/24" dev eth0
    fi
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set eth0 up
  done
  log "network: bridge $BRIDGE $BRIDGE_ADDR/24, ${#HOSTS[@]} hosts (namespaces bmm-<host>)"
}

net_down() {
  local h ns pid left
  for h in "${HOSTS[@]}"; do
    ns=$(ns_of "$h")
    [ -e "/run/netns/$ns" ] || continue
    # Whatever still runs in the namespace was started by cluster.sh (or by
    # deploy/stack.sh inside it): TERM, a bounded wait, then KILL.
    left=$(ip netns pids "$ns" 2>/dev/null || true)
    if [ -n "$left" ]; then
      warn "$h: processes left in $ns: $(tr "\n" " " <<<"$left"): TERM"
      # shellcheck disable=SC2086
      kill -TERM $left 2>/dev/null || true
      for pid in $left; do wait_gone "$pid" 5 || break; done
      for pid in $left; do ! alive "$pid" || kill -KILL "$pid" 2>/dev/null || true; done
      for pid in $left; do wait_gone "$pid" 5 || warn "$h: pid $pid does not exit"; done
    fi
    ip netns del "$ns" 2>/dev/null || warn "could not delete namespace $ns"
  done
  for h in "${HOSTS[@]}"; do
    ip link del "$(veth_of "$h")" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

# ---------------------------------------------------------------- coin host --

coin_stack() {
  local h=coin
  in_ns coin env BMM_STACK_TIMEOUT="$TIMEOUT" BMM_STACK_BCOIN_HTTP_HOST="$(host_ip $h)" \
    BMM_STACK_NODE_A_ARGS="-rpcbind=127.0.0.1 -rpcbind=$(host_ip $h) -rpcallowip=127.0.0.1 -rpcallowip=10.77.0.0/24" \
    bash "$REPO_ROOT/deploy/stack.sh" "$@" --dir "$(hroot coin)/stack" --base-port 19400 8>&-
}

coin_up() {
  mkdir -p "$(hroot coin)"
  chmod 755 "$(hroot coin)"
  coin_stack up >"$(hroot coin)/stack-up.log" 2>&1 ||
    { tail -n 20 "$(hroot coin)/stack-up.log" >&2; die "coin: deploy/stack.sh up failed (log $(hroot coin)/stack-up.log)"; }
  # Bounded waits: a node busy with a burst of blocks (bcoin's wallet indexes
  # every coinbase that pays the pool) may answer late.
  wait_until "$TIMEOUT" "coin: litecoind A RPC from the bridge" litecoind_answers ||
    die "coin: litecoind A does not answer RPC on $(host_ip coin):$COIN_RPC_PORT from the bridge"
  wait_until "$TIMEOUT" "coin: bcoin RPC from the bridge" bcoin_answers node getblockcount ||
    die "coin: bcoin does not answer RPC on $(host_ip coin):$BCOIN_RPC_PORT from the bridge"
  wait_until "$TIMEOUT" "coin: bcoin wallet RPC from the bridge" bcoin_answers wallet getwalletinfo ||
    die "coin: bcoin's wallet does not answer RPC on $(host_ip coin):$BCOIN_WALLET_PORT from the bridge"
  log "coin: litecoind A and B up, rpc $(host_ip coin):$COIN_RPC_PORT; bcoin up, rpc $(host_ip coin):$BCOIN_RPC_PORT, wallet rpc $(host_ip coin):$BCOIN_WALLET_PORT"
}

# JSON-RPC to the coin host's bcoin from here: bcoin_call node|wallet METHOD
# [PARAMS-JSON]; prints the result (JSON). Credentials through curl's config
# file (deploy/stack.sh's, mode 600), never on a command line.
bcoin_call() {
  local port=$BCOIN_RPC_PORT
  [ "$1" = wallet ] && port=$BCOIN_WALLET_PORT
  jq -cn --arg m "$2" --argjson p "${3:-[]}" '{method: $m, params: $p, id: 1}' |
    curl -sf --max-time 20 -K "$(hroot coin)/stack/secrets/bcoin_curl" --data-binary @- "http://$(host_ip coin):$port/" |
    jq -ce 'select(.error == null) | .result'
}
bcoin_answers() { bcoin_call "$@" >/dev/null 2>&1; }
litecoind_answers() {
  local env
  env=$(hroot coin)/stack/stack.env
  curl -sf --max-time 10 --user "$(grep '^BMM_NODE_RPC_USER=' "$env" | cut -d= -f2-):$(grep '^BMM_NODE_RPC_PASSWORD=' "$env" | cut -d= -f2-)" \
    -H 'content-type: text/plain' --data '{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}' \
    "http://$(host_ip coin):$COIN_RPC_PORT/" >/dev/null 2>&1
}

coin_env() { grep "^$1=" "$(hroot coin)/stack/stack.env" | cut -d= -f2-; }

# --------------------------------------------------------------------- etcd --

etcd_up() {
  local h r
  for h in pg1 pg2 pg3; do
    r=$(hroot "$h")
    mkdir -p "$r/etc/default" "$r/var/lib/etcd"
    map_paths "$h" <"$CONF/etcd/etcd-$h.env" >"$r/etc/default/etcd"
    chown etcd:etcd "$r/var/lib/etcd"
    chmod 700 "$r/var/lib/etcd"
    # The env file is the unit's EnvironmentFile; etcd reads ETCD_* itself.
    start_svc "$h" etcd etcd /usr/bin/etcd env -i PATH=/usr/bin:/bin bash -c "set -a; . '$r/etc/default/etcd'; exec /usr/bin/etcd"
  done
  wait_until "$TIMEOUT" "etcd: cluster healthy" etcd_healthy || die "etcd: not healthy (logs $(hroot pg1)/var/log/bmm-cluster/etcd.log)"
  log "etcd: 3 members healthy"
}
etcd_endpoints() { echo "http://10.77.0.31:2379,http://10.77.0.32:2379,http://10.77.0.33:2379"; }
etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" --dial-timeout 2s endpoint health >/dev/null 2>&1; }

# ------------------------------------------------------------------ patroni --

patroni_up() {
  local h r
  for h in pg1 pg2 pg3; do
    r=$(hroot "$h")
    mkdir -p "$r/etc/patroni" "$r/var/lib/postgresql/15" "$r/run/postgresql"
    map_paths "$h" <"$CONF/patroni/patroni-$h.yml" >"$r/etc/patroni/config.yml"
    (umask 077; printf 'PATRONI_SUPERUSER_PASSWORD=%s\nPATRONI_REPLICATION_PASSWORD=%s\n' \
      "$(secret pg_superuser)" "$(secret pg_replication)" >"$r/etc/patroni_env.conf")
    chown postgres:postgres "$r/etc/patroni_env.conf" "$r/var/lib/postgresql" "$r/var/lib/postgresql/15" "$r/run/postgresql"
    # The whole tree only while nothing runs in it: a live PostgreSQL makes
    # and removes files (temporary relations) under chown -R, which then
    # fails on a file gone in between (it made `up` after a failover fail).
    svc_pid "$h" patroni >/dev/null || chown -R postgres:postgres "$r/var/lib/postgresql"
    chmod 755 "$r" "$r/var" "$r/var/lib" "$r/run"
    start_svc "$h" postgres patroni /usr/bin/patroni env -i PATH=/usr/bin:/bin HOME=/var/lib/postgresql bash -c \
      "set -a; . '$r/etc/patroni_env.conf'; exec /usr/bin/patroni '$r/etc/patroni/config.yml'"
  done
  wait_until "$TIMEOUT" "patroni: a leader and a sync standby" patroni_ready ||
    die "patroni: no leader with a sync standby (logs <dir>/hosts/pg*/var/log/bmm-cluster/patroni.log)"
  log "patroni: leader $(patroni_leader), sync standby $(patroni_role_host sync_standby)"
  pg_app_up
}

# The cluster as Patroni's REST API tells it (any member that answers).
patroni_cluster() {
  local ip
  for ip in 10.77.0.31 10.77.0.32 10.77.0.33; do
    curl -sf --max-time 2 "http://$ip:8008/cluster" 2>/dev/null && return 0
  done
  return 1
}
patroni_leader() { patroni_cluster | jq -r '.members[] | select(.role == "leader" and .state == "running") | .host' | head -n 1; }
patroni_role_host() { patroni_cluster | jq -r --arg r "$1" '.members[] | select(.role == $r) | .host' | head -n 1; }
patroni_ready() {
  patroni_cluster | jq -e '([.members[] | select(.role == "leader" and .state == "running")] | length == 1)
    and ([.members[] | select(.role == "sync_standby" and (.state == "streaming" or .state == "running"))] | length >= 1)' >/dev/null 2>&1
}

# psql as the superuser on the leader (password from the environment).
pg_super() {
  local leader
  leader=$(patroni_leader)
  [ -n "$leader" ] || return 1
  PGPASSWORD=$(secret pg_superuser) PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$leader" -U postgres "$@"
}

# The pool's role and database (the Patroni bootstrap makes only the
# superuser and the replication user).
pg_app_up() {
  local pw
  pw=$(secret pg_bmm)
  pg_super -d postgres >/dev/null <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bmm') THEN CREATE ROLE bmm LOGIN; END IF;
END \$\$;
ALTER ROLE bmm WITH LOGIN PASSWORD '$pw';
EOF
  if [ "$(pg_super -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = 'bmm'")" != 1 ]; then
    pg_super -d postgres -c "CREATE DATABASE bmm OWNER bmm" >/dev/null
  fi
  log "postgresql: role and database bmm on the leader $(patroni_leader)"
}

# -------------------------------------------------------------------- redis --

redis_password() { secret redis_password; }
rcli() {
  local ip=$1
  shift
  REDISCLI_AUTH=$(redis_password) redis-cli --no-auth-warning -h "$ip" "$@"
}

redis_up() {
  local h r
  # The Redis password is chosen once per state folder (secrets/redis_password).
  echo on >"$STATE_DIR/redis_auth"   # read by the tests (Redis asks for the password)
  for h in rd1 rd2 rd3; do
    r=$(hroot "$h")
    mkdir -p "$r/etc/redis" "$r/var/lib/redis" "$r/var/log/redis" "$r/run/redis" "$r/run/sentinel"
    chown redis:redis "$r/etc/redis" "$r/var/lib/redis" "$r/var/log/redis" "$r/run/redis" "$r/run/sentinel"
    # Written once: Sentinel rewrites both files (replicaof, the primary) and
    # a later `up` must not undo a failover.
    if [ ! -s "$r/etc/redis/redis.conf" ]; then
      {
        map_paths "$h" <"$CONF/redis/redis-$h.conf"
        printf 'requirepass %s\nmasterauth %s\n' "$(redis_password)" "$(redis_password)"
      } >"$r/etc/redis/redis.conf"
      {
        map_paths "$h" <"$CONF/redis/sentinel-$h.conf"
        printf 'sentinel auth-pass bmm %s\n' "$(redis_password)"
      } >"$r/etc/redis/sentinel.conf"
      chown redis:redis "$r/etc/redis/redis.conf" "$r/etc/redis/sentinel.conf"
      chmod 640 "$r/etc/redis/redis.conf" "$r/etc/redis/sentinel.conf"
    fi
    start_svc "$h" redis redis redis-server /usr/bin/redis-server "$r/etc/redis/redis.conf" --supervised no --daemonize no
  done
  wait_until "$TIMEOUT" "redis: a primary with 2 replicas" redis_replicated ||
    die "redis: no primary with 2 connected replicas (logs <dir>/hosts/rd*/var/log/redis/redis-server.log)"
  for h in rd1 rd2 rd3; do
    r=$(hroot "$h")
    start_svc "$h" redis sentinel redis-server /usr/bin/redis-server "$r/etc/redis/sentinel.conf" --sentinel --supervised no --daemonize no
  done
  wait_until "$TIMEOUT" "sentinel: 3 Sentinels agree on the primary, each sees 2 replicas" sentinels_agree ||
    die "sentinel: the Sentinels do not agree (logs <dir>/hosts/rd*/var/log/redis/redis-sentinel.log)"
  log "redis: primary $(redis_primary) with 2 replicas, 3 Sentinels agree"
}

# The address of the Redis that answers ROLE master with 2 connected replicas.
redis_primary() {
  local ip
  for ip in 10.77.0.21 10.77.0.22 10.77.0.23; do
    if [ "$(rcli "$ip" --raw ROLE 2>/dev/null | head -n 1)" = master ]; then echo "$ip"; return 0; fi
  done
  return 1
}
redis_replicated() {
  local p
  p=$(redis_primary) || return 1
  [ "$(rcli "$p" INFO replication 2>/dev/null | tr -d '\r' | awk -F: '$1 == "connected_slaves" {print $2}')" = 2 ]
}
sentinel_master() { redis-cli -h "$1" -p 26379 --raw SENTINEL get-master-addr-by-name bmm 2>/dev/null | head -n 1; }
sentinels_agree() {
  local ip m first=""
  for ip in 10.77.0.21 10.77.0.22 10.77.0.23; do
    m=$(sentinel_master "$ip")
    [ -n "$m" ] || return 1
    [ -z "$first" ] && first=$m
    [ "$m" = "$first" ] || return 1
    [ "$(redis-cli -h "$ip" -p 26379 SENTINEL replicas bmm 2>/dev/null | grep -cx 'flags')" -ge 2 ] || return 1
    [ "$(redis-cli -h "$ip" -p 26379 --raw SENTINEL master bmm 2>/dev/null | awk 'p {print; exit} $0 == "num-other-sentinels" {p = 1}')" = 2 ] || return 1
  done
  [ "$first" = "$(redis_primary)" ]
}

# ---------------------------------------------------------------- pgbouncer --

pgbouncer_up() {
  local h r
  for h in ac1 ac2; do
    r=$(hroot "$h")
    mkdir -p "$r/etc/pgbouncer" "$r/run/postgresql" "$r/var/log/postgresql"
    map_paths "$h" <"$CONF/pgbouncer/pgbouncer-$h.ini" >"$r/etc/pgbouncer/pgbouncer.ini"
    (umask 077; printf '"bmm" "%s"\n' "$(secret pg_bmm)" >"$r/etc/pgbouncer/userlist.txt")
    chown postgres:postgres "$r/etc/pgbouncer/userlist.txt" "$r/run/postgresql" "$r/var/log/postgresql"
    start_svc "$h" postgres pgbouncer pgbouncer /usr/sbin/pgbouncer "$r/etc/pgbouncer/pgbouncer.ini"
  done
  wait_until "$TIMEOUT" "pgbouncer: a query through each" pgbouncers_answer ||
    die "pgbouncer: no answer through 10.77.0.41/42:6432 (logs <dir>/hosts/ac*/var/log/postgresql/pgbouncer.log)"
  log "pgbouncer: ac1 -> pg2, ac2 -> pg3 answer (transaction pooling)"
}
pgbouncer_answers() {
  [ "$(PGPASSWORD=$(secret pg_bmm) PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -tA -h "$1" -p 6432 -U bmm -d bmm -c 'SELECT 1' 2>/dev/null)" = 1 ]
}
pgbouncers_answer() { pgbouncer_answers 10.77.0.41 && pgbouncer_answers 10.77.0.42; }

# -------------------------------------------------------------- bmm programs --

ensure_bmm_user() {
  id bmm >/dev/null 2>&1 && return 0
  log "creating the system user bmm (the bmm programs run as it, as in deploy/systemd)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bmm
}

# The bmm programs' runtime config: the operator's file with the machine
# paths moved under the host's folder (map_paths).
bmm_config() { map_paths "$1" <"$2" >"$3"; }

bmm_env() {
  local h=$1 r
  r=$(hroot "$h")
  mkdir -p "$r/etc/bmm"
  [ -s "$STATE_DIR/epoch-genesis" ] || echo $(( $(date +%s) / 3600 * 3600 )) >"$STATE_DIR/epoch-genesis"
  (umask 027
  printf '%s\n' "BMM_POOL_ADDRESS=$(coin_env BMM_POOL_ADDRESS)" \
    "BMM_NODE_RPC_USER=$(coin_env BMM_NODE_RPC_USER)" "BMM_NODE_RPC_PASSWORD=$(coin_env BMM_NODE_RPC_PASSWORD)" \
    "BMM_BTC_POOL_ADDRESS=$(coin_env BMM_BTC_POOL_ADDRESS)" \
    "BMM_BTC_RPC_USER=$(coin_env BMM_BTC_RPC_USER)" "BMM_BTC_RPC_PASSWORD=$(coin_env BMM_BTC_RPC_PASSWORD)" \
    "BMM_PG_PASSWORD=$(secret pg_bmm)" "BMM_EPOCH_GENESIS=$(cat "$STATE_DIR/epoch-genesis")" >"$r/etc/bmm/bmm.env"
  redis_password >"$r/etc/bmm/redis.password")
  chown root:bmm "$r/etc/bmm" "$r/etc/bmm/bmm.env" "$r/etc/bmm/redis.password"
  chmod 750 "$r/etc/bmm"
}

# Runs build/bin/$3 on host $1 as user bmm with its env file loaded.
start_bmm() {
  local h=$1 name=$2 prog=$3 r
  shift 3
  r=$(hroot "$h")
  start_svc "$h" bmm "$name" "$prog" env -i PATH=/usr/bin:/bin bash -c \
    "set -a; . '$r/etc/bmm/bmm.env'; set +a; exec \"\$0\" \"\$@\"" "$BIN_DIR/$prog" "$@"
}

bmm_up() {
  if [ ! -x "$BIN_DIR/bmm-stratum" ] || [ ! -x "$BIN_DIR/bmm-accountd" ]; then
    warn "bmm-stratum or bmm-accountd is not built in $BIN_DIR: the pool programs are not started"
    return 0
  fi
  ensure_bmm_user
  local h r i
  for i in 1 2; do
    h=ac$i
    r=$(hroot "$h")
    bmm_env "$h"
    bmm_config "$h" "$BMM_CONF/bmm-accountd-$h.toml" "$r/etc/bmm/bmm-accountd.toml"
    chown root:bmm "$r/etc/bmm/bmm-accountd.toml"
    chmod 640 "$r/etc/bmm/bmm-accountd.toml"
    start_bmm "$h" bmm-accountd bmm-accountd run --config "$r/etc/bmm/bmm-accountd.toml"
    # The first applies the migrations; the second starts once it serves.
    wait_until "$TIMEOUT" "bmm-accountd on $h: API answers" \
      curl -sf --max-time 2 -o /dev/null "http://$(host_ip "$h"):8390/api/v1/pool" ||
      { tail -n 20 "$r/var/log/bmm-cluster/bmm-accountd.log" >&2; die "bmm-accountd on $h does not answer (log $r/var/log/bmm-cluster/bmm-accountd.log)"; }
  done
  # Two bmm-stratum per stratum host: scrypt (LTC, instance 1-3, port 3333)
  # and sha256d (BTC, instance 4-6, port 3334), each with its own config,
  # journal (spool) folder and stream.
  local name
  for i in 1 2 3; do
    h=st$i
    r=$(hroot "$h")
    bmm_env "$h"
    mkdir -p "$r/var/lib/bmm/stratum-ltc/spool" "$r/var/lib/bmm/stratum-btc/spool"
    chown bmm:bmm "$r/var/lib/bmm" "$r/var/lib/bmm/stratum-ltc" "$r/var/lib/bmm/stratum-ltc/spool" \
      "$r/var/lib/bmm/stratum-btc" "$r/var/lib/bmm/stratum-btc/spool"
    # Recursively only while neither journal is being written (as for PostgreSQL above).
    svc_pid "$h" bmm-stratum-ltc >/dev/null || svc_pid "$h" bmm-stratum-btc >/dev/null || chown -R bmm:bmm "$r/var/lib/bmm"
    for name in bmm-stratum-ltc bmm-stratum-btc; do
      bmm_config "$h" "$BMM_CONF/$name-$h.toml" "$r/etc/bmm/$name.toml"
      chown root:bmm "$r/etc/bmm/$name.toml"
      chmod 640 "$r/etc/bmm/$name.toml"
      start_bmm "$h" "$name" bmm-stratum --config "$r/etc/bmm/$name.toml"
    done
  done
  local port
  for i in 1 2 3; do
    for port in 3333 3334; do
      name=bmm-stratum-ltc
      [ "$port" = 3333 ] || name=bmm-stratum-btc
      wait_until "$TIMEOUT" "$name on st$i: port $port" stratum_listens "st$i" "$port" ||
        { tail -n 20 "$(hroot "st$i")/var/log/bmm-cluster/$name.log" >&2; die "$name on st$i does not listen on $port"; }
    done
  done
  log "bmm programs: bmm-accountd on ac1, ac2; bmm-stratum on st1-st3 (scrypt stratum+tcp://10.77.0.11-13:3333, sha256d stratum+tcp://10.77.0.11-13:3334)"
}
stratum_listens() { timeout 2 bash -c "exec 3<>/dev/tcp/$(host_ip "$1")/${2:-3333}" 2>/dev/null; }

# ------------------------------------------------------------------ commands --

cmd_up() {
  local t0=$SECONDS
  local missing=() c
  for c in etcd etcdctl patroni patronictl pgbouncer redis-server redis-cli jq curl setpriv "$PG_BIN/psql" /usr/lib/litecoin/litecoind; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]}: run deploy/install-deps.sh"
  mkdir -p "$STATE_DIR"
  [ -e "$MARKER" ] || [ -z "$(ls -A "$STATE_DIR")" ] || die "$STATE_DIR exists, is not empty and is not a cluster folder (no .bmm-cluster)"
  touch "$MARKER"
  chmod 755 "$STATE_DIR"
  (umask 077; mkdir -p "$SECRETS")
  exec 8>"$STATE_DIR/.lock"
  flock -w "$TIMEOUT" 8 || die "another cluster.sh holds $STATE_DIR/.lock"
  echo "$STATE_DIR" >"/run/bmm-cluster.dir"
  net_up
  coin_up
  etcd_up
  patroni_up
  redis_up
  pgbouncer_up
  [ "$with_bmm" -eq 0 ] || bmm_up
  log "up: all hosts answer after $((SECONDS - t0)) s (state $STATE_DIR; deploy/cluster.sh status)"
}

cmd_down() {
  # A state folder given or the one the last `up` used; the network goes
  # either way.
  if [ ! -e "$MARKER" ] && [ -r /run/bmm-cluster.dir ] && [ -z "${BMM_CLUSTER_DIR:-}" ]; then
    local last
    last=$(cat /run/bmm-cluster.dir)
    [ -e "$last/.bmm-cluster" ] && STATE_DIR=$last && SECRETS=$STATE_DIR/secrets && MARKER=$STATE_DIR/.bmm-cluster
  fi
  if [ -e "$MARKER" ]; then
    exec 8>"$STATE_DIR/.lock"
    flock -w "$TIMEOUT" 8 || warn "another cluster.sh holds $STATE_DIR/.lock: going on"
    local h
    stop_svcs 30 bmm-stratum-ltc st1 st2 st3
    stop_svcs 30 bmm-stratum-btc st1 st2 st3
    stop_svcs 60 bmm-accountd ac1 ac2
    stop_svcs 10 pgbouncer ac1 ac2
    stop_svcs 10 sentinel rd1 rd2 rd3
    stop_svcs 20 redis rd1 rd2 rd3
    # Patroni stops its PostgreSQL on TERM. The leader goes first, while its
    # standbys still stream: with synchronous_mode_strict a leader left
    # without a standby cannot finish a commit, and a backend ending during
    # its shutdown waits for one. The sync standby takes over and goes next.
    local order=() leader sync
    leader=$(patroni_leader 2>/dev/null || true)
    sync=$(patroni_role_host sync_standby 2>/dev/null || true)
    for h in pg1 pg2 pg3; do [ "$(host_ip "$h")" = "$leader" ] && order+=("$h"); done
    for h in pg1 pg2 pg3; do [ "$(host_ip "$h")" = "$sync" ] && order+=("$h"); done
    for h in pg1 pg2 pg3; do [[ " ${order[*]} " == *" $h "* ]] || order+=("$h"); done
    for h in "${order[@]}"; do stop_svc "$h" patroni 40; done
    stop_svcs 10 etcd pg1 pg2 pg3
    if [ -e /run/netns/bmm-coin ] && [ -e "$(hroot coin)/stack/.bmm-stack" ]; then
      coin_stack down >"$(hroot coin)/stack-down.log" 2>&1 || warn "coin: deploy/stack.sh down failed (log $(hroot coin)/stack-down.log)"
    fi
  fi
  net_down
  if [ -e "$MARKER" ]; then
    # Processes whose namespace is gone (a crash, a hand-made `ip netns del`).
    local f pid what
    for f in "$STATE_DIR"/hosts/*/run/bmm-cluster/*.pid; do
      [ -e "$f" ] || continue
      read -r pid what <"$f" || true
      if pid_is "$pid" "${what:-none}"; then
        warn "$(basename "$f" .pid) (pid $pid) outside any namespace: KILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$f"
    done
    if [ "$purge" -eq 1 ]; then
      rm -rf "$STATE_DIR"
      log "down: purged $STATE_DIR"
    fi
  fi
  rm -f /run/bmm-cluster.dir
  log "down: no namespace, veth or bridge of the cluster left"
}

cmd_status() {
  local bad=0 h ip role detail
  row() { printf '%-5s %-15s %-5s %s\n' "$1" "$2" "$3" "$4"; [ "$3" = up ] || bad=$((bad + 1)); }
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    echo "cluster: down (no bridge $BRIDGE)"
    return 1
  fi
  [ -e "$MARKER" ] || { [ -r /run/bmm-cluster.dir ] && STATE_DIR=$(cat /run/bmm-cluster.dir) && SECRETS=$STATE_DIR/secrets && MARKER=$STATE_DIR/.bmm-cluster; }
  printf '%-5s %-15s %-5s %s\n' HOST SERVICE STATE ROLE/DETAIL
  # coin
  local env height
  env=$(hroot coin)/stack/stack.env
  if [ -r "$env" ] && height=$(curl -sf --max-time 3 --user "$(coin_env BMM_NODE_RPC_USER):$(coin_env BMM_NODE_RPC_PASSWORD)" \
      -H 'content-type: text/plain' --data '{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}' \
      "http://10.77.0.10:$COIN_RPC_PORT/" | jq -r .result); then
    row coin litecoind up "node A rpc 10.77.0.10:$COIN_RPC_PORT height $height (node B peered inside the host)"
  else
    row coin litecoind DOWN "rpc 10.77.0.10:$COIN_RPC_PORT"
  fi
  if [ -r "$(hroot coin)/stack/secrets/bcoin_curl" ] && height=$(bcoin_call node getblockcount) &&
    bcoin_call wallet getwalletinfo >/dev/null; then
    row coin bcoin up "rpc 10.77.0.10:$BCOIN_RPC_PORT wallet rpc 10.77.0.10:$BCOIN_WALLET_PORT height $height"
  else
    row coin bcoin DOWN "rpc 10.77.0.10:$BCOIN_RPC_PORT wallet rpc 10.77.0.10:$BCOIN_WALLET_PORT"
  fi
  # etcd
  local health
  for h in pg1 pg2 pg3; do
    ip=$(host_ip "$h")
    if health=$(ETCDCTL_API=3 etcdctl --endpoints "http://$ip:2379" --dial-timeout 2s endpoint health 2>&1) && grep -q 'is healthy' <<<"$health"; then
      role=$(ETCDCTL_API=3 etcdctl --endpoints "http://$ip:2379" --dial-timeout 2s endpoint status -w json 2>/dev/null |
        jq -r '.[0].Status | if .leader == .header.member_id then "leader" else "follower" end' 2>/dev/null || echo '?')
      row "$h" etcd up "healthy, raft $role"
    else
      row "$h" etcd DOWN "http://$ip:2379"
    fi
  done
  # patroni
  local cluster
  cluster=$(patroni_cluster || true)
  for h in pg1 pg2 pg3; do
    ip=$(host_ip "$h")
    detail=$(jq -r --arg n "$h" '.members[] | select(.name == $n) | "\(.role) \(.state) timeline \(.timeline // "?") lag \(.lag // 0)"' <<<"${cluster:-{\}}" 2>/dev/null || true)
    if [ -n "$detail" ] && curl -sf --max-time 2 -o /dev/null "http://$ip:8008/health"; then
      row "$h" patroni/pg15 up "$detail"
    else
      row "$h" patroni/pg15 DOWN "${detail:-no member $h}"
    fi
  done
  # redis + sentinel
  for h in rd1 rd2 rd3; do
    ip=$(host_ip "$h")
    role=$(rcli "$ip" --raw ROLE 2>/dev/null | head -n 1 || true)
    if [ -n "$role" ]; then
      if [ "$role" = master ]; then
        detail="primary, $(rcli "$ip" INFO replication | tr -d '\r' | awk -F: '$1 == "connected_slaves" {print $2}') replicas"
      else
        detail="replica of $(rcli "$ip" INFO replication | tr -d '\r' | awk -F: '$1 == "master_host" {h = $2} $1 == "master_link_status" {s = $2} END {print h " link " s}')"
      fi
      row "$h" redis up "$detail"
    else
      row "$h" redis DOWN "$ip:6379"
    fi
    role=$(sentinel_master "$ip")
    if [ -n "$role" ]; then row "$h" sentinel up "primary of bmm: $role"; else row "$h" sentinel DOWN "$ip:26379"; fi
  done
  # pgbouncer + accountd
  for h in ac1 ac2; do
    ip=$(host_ip "$h")
    if pgbouncer_answers "$ip"; then row "$h" pgbouncer up "$ip:6432 transaction pooling"; else row "$h" pgbouncer DOWN "$ip:6432"; fi
    if svc_pid "$h" bmm-accountd >/dev/null; then
      if curl -sf --max-time 2 -o /dev/null "http://$ip:8390/api/v1/pool"; then row "$h" bmm-accountd up "pid $(svc_pid "$h" bmm-accountd), API $ip:8390"
      else row "$h" bmm-accountd DOWN "pid $(svc_pid "$h" bmm-accountd) runs, API $ip:8390 does not answer"; fi
    else
      row "$h" bmm-accountd DOWN "not running"
    fi
  done
  for h in st1 st2 st3; do
    ip=$(host_ip "$h")
    if svc_pid "$h" bmm-stratum-ltc >/dev/null && stratum_listens "$h" 3333; then row "$h" bmm-stratum-ltc up "pid $(svc_pid "$h" bmm-stratum-ltc), scrypt LTC stratum+tcp://$ip:3333"
    else row "$h" bmm-stratum-ltc DOWN "scrypt LTC stratum+tcp://$ip:3333"; fi
    if svc_pid "$h" bmm-stratum-btc >/dev/null && stratum_listens "$h" 3334; then row "$h" bmm-stratum-btc up "pid $(svc_pid "$h" bmm-stratum-btc), sha256d BTC stratum+tcp://$ip:3334"
    else row "$h" bmm-stratum-btc DOWN "sha256d BTC stratum+tcp://$ip:3334"; fi
  done
  [ "$bad" -eq 0 ]
}

case $command in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
esac
