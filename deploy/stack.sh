#!/usr/bin/env bash
# The local stack BMM pool runs against: PostgreSQL, Redis and two peered
# litecoind regtest nodes, all on 127.0.0.1 with every byte of state in one
# folder, so that several stacks (a developer's, a test's) can run side by side.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/stack.sh up|down|status [options]

Runs the local stack on 127.0.0.1: PostgreSQL 15, Redis, two litecoind
regtest nodes (A has the wallet "pool", B is A's peer) and a bcoin regtest
node (Bitcoin, sha256d; its wallet "primary"; skip it with --no-bcoin). All state lives in one
folder; the connection settings are written to <dir>/stack.env (shell
KEY=value lines) and <dir>/stack.json (the same keys, one JSON object).

Commands:
  up        start what is not running, wait until every service answers,
            then (re)write stack.env and stack.json. Idempotent; after `down`
            it restarts with the data intact.
  down      stop every service cleanly (bounded waits, then kill by pidfile).
            Safe when already down.
  status    print each service and whether it answers; exit 0 iff all do.

Options:
  --dir DIR              stack folder (env BMM_STACK_DIR; default <repo>/.stack)
  --base-port N          ports are N+0..N+10 (env BMM_STACK_BASE_PORT; default
                         19400, or the ports the stack last ran with):
                           +0 postgres, +1 redis,
                           +2 node A rpc, +3 node A p2p,
                           +4 node B rpc, +5 node B p2p,
                           +6 node A onion bind, +7 node B onion bind,
                           +8 bcoin rpc, +9 bcoin wallet rpc, +10 bcoin p2p
  --pg-port N            override one port (env BMM_STACK_PG_PORT)
  --redis-port N         (env BMM_STACK_REDIS_PORT)
  --node-rpc-port N      (env BMM_STACK_NODE_RPC_PORT)
  --node-p2p-port N      (env BMM_STACK_NODE_P2P_PORT)
  --node2-rpc-port N     (env BMM_STACK_NODE2_RPC_PORT)
  --node2-p2p-port N     (env BMM_STACK_NODE2_P2P_PORT)
  --timeout S            seconds to wait for each service (env
                         BMM_STACK_TIMEOUT; default 90)
  --purge                with `down`: also delete the stack folder
  --no-mweb              with `up`: do not activate MWEB (by default `up`
                         mines to height 432 with a peg-in so that Litecoin's
                         MWEB is active, as on mainnet; a test that mines the
                         activation block itself asks for this)
  --no-bcoin             with `up`: do not start bcoin (env BMM_STACK_BCOIN=0);
                         by default `up` starts it and mines past segwit
                         activation (height 432). `down` stops it either way.
  -h, --help             this text

Environment: BMM_STACK_PG_BIN (default /usr/lib/postgresql/15/bin),
BMM_STACK_REDIS_APPENDFSYNC (Redis' appendfsync: always, everysec or no;
default always; docs/operations.md, "Durability", says what each keeps),
BMM_STACK_LITECOIND (default /usr/lib/litecoin/litecoind),
BMM_STACK_LITECOIN_CLI (default litecoin-cli), BMM_STACK_NODEJS (default node),
BMM_STACK_BCOIN_HOME (default <repo>/deploy/bcoin, where install-deps.sh
installed bcoin),
BMM_STACK_BCOIN_HTTP_HOST (default 127.0.0.1: the address bcoin's node and
wallet RPC servers listen on, also the one stack.sh calls and writes to
stack.env; e.g. a host's private address so that other hosts reach them, as
deploy/cluster.sh does; 0.0.0.0 listens everywhere and is called on 127.0.0.1),
BMM_STACK_NODE_A_ARGS, BMM_STACK_NODE_B_ARGS (extra litecoind options, split
on spaces, for the nodes `up` starts, e.g. "-mempoolreplacement=1"; a node
already running keeps its options).

PostgreSQL refuses to run as root: when run as root, initdb and postgres run
as the `postgres` user. If that user cannot reach <dir>/pg (a parent folder
such as /root or a mktemp -d folder is closed to it), the data lives in
/var/tmp/bmm-stack-pg-<hash> instead and <dir>/pg is a symlink to it.
EOF
}

# ---------------------------------------------------------------- helpers --

log() { echo "stack: $*"; }
warn() { echo "stack: warning: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

# Prints the last lines of a log file to stderr, to go with an error.
show_log_tail() {
  local file=$1
  if [ -r "$file" ]; then
    echo "stack: --- last lines of $file ---" >&2
    tail -n 15 "$file" >&2 || true
    echo "stack: ---" >&2
  fi
}

# A random hex string of 2*N characters (URL-, shell- and SQL-safe).
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

is_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

# True when something listens on TCP port $1 (any address).
port_in_use() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# True when pid $1 is alive and its command line contains $2.
pid_is() {
  local pid=$1 what=$2
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$what"
}

# The pid in pidfile $1 (first line) if that process is alive and is $2.
pidfile_pid() {
  local file=$1 what=$2 pid
  [ -r "$file" ] || return 1
  pid=$(head -n 1 "$file" 2>/dev/null | tr -d '[:space:]')
  pid_is "$pid" "$what" || return 1
  echo "$pid"
}

# Waits up to $2 seconds for pid $1 to exit.
wait_pid_exit() {
  local pid=$1 limit=$2 waited=0
  while [ -e "/proc/$pid" ]; do
    [ "$waited" -ge $((limit * 10)) ] && return 1
    sleep 0.1
    waited=$((waited + 1))
  done
}

# Ends pid $1 (named $2 in messages): TERM, wait, then KILL.
kill_pid() {
  local pid=$1 name=$2
  [ -e "/proc/$pid" ] || return 0
  warn "$name (pid $pid) still running: sending TERM"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_pid_exit "$pid" 15; then
    warn "$name (pid $pid) ignored TERM: sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_exit "$pid" 5 || warn "$name (pid $pid) did not exit"
  fi
}

# Runs a command as the user PostgreSQL runs as (postgres when we are root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# ---------------------------------------------------------- configuration --

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${BMM_STACK_PG_BIN:-/usr/lib/postgresql/15/bin}
LITECOIND=${BMM_STACK_LITECOIND:-/usr/lib/litecoin/litecoind}
LITECOIN_CLI=${BMM_STACK_LITECOIN_CLI:-litecoin-cli}
DEFAULT_BASE_PORT=19400
WALLET=pool
PG_DB=bmm
PG_USER=bmm

command=""
opt_dir=""
opt_base=""
opt_pg=""
opt_redis=""
opt_rpc_a=""
opt_p2p_a=""
opt_rpc_b=""
opt_p2p_b=""
opt_timeout=""
purge=0
activate_mweb=1
with_bcoin=${BMM_STACK_BCOIN:-1}

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }

while [ $# -gt 0 ]; do
  case $1 in
    up|down|status)
      [ -z "$command" ] || die "one command at a time (got $command and $1)"
      command=$1 ;;
    --dir) need_value "$@"; opt_dir=$2; shift ;;
    --dir=*) opt_dir=${1#*=} ;;
    --base-port) need_value "$@"; opt_base=$2; shift ;;
    --base-port=*) opt_base=${1#*=} ;;
    --pg-port) need_value "$@"; opt_pg=$2; shift ;;
    --redis-port) need_value "$@"; opt_redis=$2; shift ;;
    --node-rpc-port) need_value "$@"; opt_rpc_a=$2; shift ;;
    --node-p2p-port) need_value "$@"; opt_p2p_a=$2; shift ;;
    --node2-rpc-port) need_value "$@"; opt_rpc_b=$2; shift ;;
    --node2-p2p-port) need_value "$@"; opt_p2p_b=$2; shift ;;
    --timeout) need_value "$@"; opt_timeout=$2; shift ;;
    --purge) purge=1 ;;
    --no-mweb) activate_mweb=0 ;;
    --no-bcoin) with_bcoin=0 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[ -n "$command" ] || { usage >&2; exit 2; }
[ "$purge" -eq 0 ] || [ "$command" = down ] || die "--purge goes with down only"
[ "$activate_mweb" -eq 1 ] || [ "$command" = up ] || die "--no-mweb goes with up only"
[[ $with_bcoin =~ ^[01]$ ]] || die "BMM_STACK_BCOIN must be 0 or 1 (got '$with_bcoin')"

STACK_DIR=${opt_dir:-${BMM_STACK_DIR:-$REPO_ROOT/.stack}}
# Absolute path, without requiring that it exists yet.
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac
STACK_DIR=${STACK_DIR%/}
# The path ends up in config files, URLs and KEY=value lines: keep it plain.
[[ $STACK_DIR =~ ^[A-Za-z0-9_./+-]+$ ]] \
  || die "stack dir '$STACK_DIR' has characters other than A-Z a-z 0-9 _ . / + -"
TIMEOUT=${opt_timeout:-${BMM_STACK_TIMEOUT:-90}}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "timeout '$TIMEOUT' is not a number of seconds"

MARKER=$STACK_DIR/.bmm-stack
PORTS_FILE=$STACK_DIR/ports.env
SECRETS=$STACK_DIR/secrets
REDIS_DIR=$STACK_DIR/redis
NODE_A=$STACK_DIR/nodeA
NODE_B=$STACK_DIR/nodeB
ENV_FILE=$STACK_DIR/stack.env
JSON_FILE=$STACK_DIR/stack.json

# Resolves every port: flag > env var > the ports the stack last ran with
# (only when the base port was not given anew) > base + offset.
resolve_ports() {
  local saved_base="" p_pg="" p_redis="" p_rpc_a="" p_p2p_a="" p_rpc_b="" p_p2p_b="" p_onion_a="" p_onion_b=""
  if [ -r "$PORTS_FILE" ]; then
    # shellcheck disable=SC1090
    saved_base=$(. "$PORTS_FILE"; echo "${BASE_PORT:-}")
  fi
  BASE_PORT=${opt_base:-${BMM_STACK_BASE_PORT:-${saved_base:-$DEFAULT_BASE_PORT}}}
  if ! is_port "$BASE_PORT" || [ "$BASE_PORT" -gt 65525 ]; then die "base port '$BASE_PORT' must be 1..65525"; fi
  if [ -n "$saved_base" ] && [ "$saved_base" = "$BASE_PORT" ]; then
    # shellcheck disable=SC1090
    eval "$(. "$PORTS_FILE"; printf 'p_pg=%s p_redis=%s p_rpc_a=%s p_p2p_a=%s p_rpc_b=%s p_p2p_b=%s p_onion_a=%s p_onion_b=%s' \
      "${PG_PORT:-}" "${REDIS_PORT:-}" "${NODE_RPC_PORT:-}" "${NODE_P2P_PORT:-}" \
      "${NODE2_RPC_PORT:-}" "${NODE2_P2P_PORT:-}" "${NODE_ONION_PORT:-}" "${NODE2_ONION_PORT:-}")"
  fi
  PG_PORT=${opt_pg:-${BMM_STACK_PG_PORT:-${p_pg:-$((BASE_PORT + 0))}}}
  REDIS_PORT=${opt_redis:-${BMM_STACK_REDIS_PORT:-${p_redis:-$((BASE_PORT + 1))}}}
  NODE_RPC_PORT=${opt_rpc_a:-${BMM_STACK_NODE_RPC_PORT:-${p_rpc_a:-$((BASE_PORT + 2))}}}
  NODE_P2P_PORT=${opt_p2p_a:-${BMM_STACK_NODE_P2P_PORT:-${p_p2p_a:-$((BASE_PORT + 3))}}}
  NODE2_RPC_PORT=${opt_rpc_b:-${BMM_STACK_NODE2_RPC_PORT:-${p_rpc_b:-$((BASE_PORT + 4))}}}
  NODE2_P2P_PORT=${opt_p2p_b:-${BMM_STACK_NODE2_P2P_PORT:-${p_p2p_b:-$((BASE_PORT + 5))}}}
  NODE_ONION_PORT=${p_onion_a:-$((BASE_PORT + 6))}
  NODE2_ONION_PORT=${p_onion_b:-$((BASE_PORT + 7))}
  local p
  for p in "$PG_PORT" "$REDIS_PORT" "$NODE_RPC_PORT" "$NODE_P2P_PORT" "$NODE2_RPC_PORT" "$NODE2_P2P_PORT"; do
    is_port "$p" || die "port '$p' is not a TCP port number"
  done
  local all="$PG_PORT $REDIS_PORT $NODE_RPC_PORT $NODE_P2P_PORT $NODE2_RPC_PORT $NODE2_P2P_PORT $NODE_ONION_PORT $NODE2_ONION_PORT"
  [ "$(tr ' ' '\n' <<<"$all" | sort -u | wc -l)" -eq 8 ] || die "ports must differ: $all"
  bcoin_resolve_ports
}

# The resolved ports as KEY=value lines, as kept in ports.env.
ports_text() {
  printf '%s\n' "BASE_PORT=$BASE_PORT" "PG_PORT=$PG_PORT" "REDIS_PORT=$REDIS_PORT" \
    "NODE_RPC_PORT=$NODE_RPC_PORT" "NODE_P2P_PORT=$NODE_P2P_PORT" \
    "NODE2_RPC_PORT=$NODE2_RPC_PORT" "NODE2_P2P_PORT=$NODE2_P2P_PORT" \
    "NODE_ONION_PORT=$NODE_ONION_PORT" "NODE2_ONION_PORT=$NODE2_ONION_PORT"
}

save_ports() {
  { echo "# Ports this stack runs on (written by deploy/stack.sh up)."; ports_text; bcoin_ports_text; } >"$PORTS_FILE.tmp"
  mv -f "$PORTS_FILE.tmp" "$PORTS_FILE"
}

# A secret kept in $SECRETS/<name> (mode 600), generated on first use.
secret() {
  local file=$SECRETS/$1
  if [ ! -s "$file" ]; then
    (umask 077; random_hex "${2:-24}" >"$file.tmp" && mv -f "$file.tmp" "$file")
  fi
  chmod 600 "$file"
  cat "$file"
}

# Sets PG_ROOT, the folder holding the cluster (data/, run/, postgres.log),
# owned by the user postgres runs as. When that user cannot reach
# $STACK_DIR/pg, PG_ROOT is a folder under /var/tmp and $STACK_DIR/pg links to it.
resolve_pg_root() {
  local create=${1:-0}
  if [ -L "$STACK_DIR/pg" ]; then
    PG_ROOT=$(readlink "$STACK_DIR/pg")
    if [ "$create" -eq 1 ] && [ ! -d "$PG_ROOT" ]; then
      mkdir -p "$PG_ROOT"
      chown postgres:postgres "$PG_ROOT"
      chmod 700 "$PG_ROOT"
    fi
    return 0
  fi
  PG_ROOT=$STACK_DIR/pg
  [ "$create" -eq 1 ] || return 0
  mkdir -p "$PG_ROOT"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$PG_ROOT"
    chmod 700 "$PG_ROOT"
    if ! runuser -u postgres -- test -w "$PG_ROOT" 2>/dev/null; then
      local hash outside
      hash=$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-16)
      outside=/var/tmp/bmm-stack-pg-$hash
      warn "user postgres cannot reach $PG_ROOT (a parent folder is closed to it);"
      warn "keeping the PostgreSQL data in $outside, linked from $STACK_DIR/pg"
      rmdir "$PG_ROOT" 2>/dev/null || die "$PG_ROOT is not empty but unreachable for user postgres"
      mkdir -p "$outside"
      chown postgres:postgres "$outside"
      chmod 700 "$outside"
      ln -s "$outside" "$STACK_DIR/pg"
      PG_ROOT=$outside
    fi
  fi
}

# ------------------------------------------------------------- postgres --

pg_pid() { pidfile_pid "$PG_ROOT/data/postmaster.pid" postgres; }
pg_admin() { as_pg id -un; }

# psql as the cluster's superuser over the unix socket (peer auth).
pg_admin_psql() {
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_ROOT/run" -p "$PG_PORT" -U "$PG_ADMIN" "$@"
}

pg_url() { echo "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"; }

# The pool role's password reaches psql through a password file, never on a
# command line (where any user on the machine could read it in ps).
pg_passfile() {
  local f=$SECRETS/pgpass
  (umask 077; echo "127.0.0.1:$PG_PORT:$PG_DB:$PG_USER:$PG_PASSWORD" >"$f")
  echo "$f"
}

pg_answers() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 >/dev/null 2>&1 &&
    [ "$(PGPASSFILE=$(pg_passfile) "$PG_BIN/psql" -X -tA -w -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" \
      -c 'SELECT 1' 2>/dev/null)" = 1 ]
}

pg_up() {
  resolve_pg_root 1
  PG_ADMIN=$(pg_admin)
  PG_PASSWORD=$(secret pg_password)
  local data=$PG_ROOT/data logfile=$PG_ROOT/postgres.log
  # The socket path must fit in sun_path (107 bytes).
  [ ${#PG_ROOT} -le 80 ] || die "postgres socket folder $PG_ROOT/run is too long for a unix socket; use a shorter --dir"

  if [ ! -s "$data/PG_VERSION" ]; then
    log "postgres: initdb in $data"
    as_pg rm -rf "$data"
    as_pg "$PG_BIN/initdb" -D "$data" -U "$PG_ADMIN" -E UTF8 --no-locale \
      --auth-local=peer --auth-host=scram-sha-256 >"$STACK_DIR/logs/initdb.log" 2>&1 9>&- \
      || { show_log_tail "$STACK_DIR/logs/initdb.log"; die "postgres: initdb failed (log: $STACK_DIR/logs/initdb.log)"; }
    echo "include_if_exists = 'bmm_stack.conf'" | as_pg tee -a "$data/postgresql.conf" >/dev/null
  fi
  as_pg mkdir -p "$PG_ROOT/run"
  # Rewritten on every `up`, so port changes take effect on the next start.
  as_pg tee "$data/bmm_stack.conf" >/dev/null <<EOF
# Written by deploy/stack.sh: loopback only, socket in the stack folder.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT/run'
password_encryption = 'scram-sha-256'
EOF
  as_pg tee "$data/pg_hba.conf" >/dev/null <<EOF
# Written by deploy/stack.sh: the superuser by peer over the socket, everyone
# else by password, and nothing but loopback.
local all $PG_ADMIN peer
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
EOF

  if pg_pid >/dev/null; then
    log "postgres: already running (pid $(pg_pid)) on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$data" reload >/dev/null
  else
    port_in_use "$PG_PORT" && die "postgres: port $PG_PORT is already in use by another program"
    log "postgres: starting on 127.0.0.1:$PG_PORT (log: $logfile)"
    as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$logfile" -w -t "$TIMEOUT" start \
      </dev/null >"$STACK_DIR/logs/pg_ctl.log" 2>&1 9>&- \
      || { show_log_tail "$logfile"; die "postgres: did not start (log: $logfile)"; }
  fi

  local waited=0
  until "$PG_BIN/pg_isready" -q -h "$PG_ROOT/run" -p "$PG_PORT" -t 2 >/dev/null 2>&1; do
    [ "$waited" -lt "$TIMEOUT" ] || { show_log_tail "$logfile"; die "postgres: no answer on port $PG_PORT after ${TIMEOUT}s (log: $logfile)"; }
    sleep 1
    waited=$((waited + 1))
  done

  # The role and database the pool uses; the password is (re)set every time
  # so the secret file is the truth.
  pg_admin_psql -d postgres >/dev/null <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN;
  END IF;
END \$\$;
ALTER ROLE $PG_USER WITH LOGIN PASSWORD '$PG_PASSWORD';
EOF
  if [ "$(pg_admin_psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    log "postgres: creating database $PG_DB owned by $PG_USER"
    pg_admin_psql -d postgres -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null
  fi
  pg_answers || { show_log_tail "$logfile"; die "postgres: SELECT 1 as $PG_USER over 127.0.0.1:$PG_PORT failed (log: $logfile)"; }
  log "postgres: ok (database $PG_DB, user $PG_USER)"
}

pg_down() {
  resolve_pg_root 0
  local data=$PG_ROOT/data pid
  pid=$(pg_pid) || { log "postgres: not running"; return 0; }
  log "postgres: stopping (pid $pid)"
  as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t "$TIMEOUT" stop >/dev/null 2>&1 \
    || warn "postgres: pg_ctl stop failed (log: $PG_ROOT/postgres.log)"
  wait_pid_exit "$pid" 10 || kill_pid "$pid" postgres
}

# ---------------------------------------------------------------- redis --

redis_pid() { pidfile_pid "$REDIS_DIR/redis.pid" redis-server; }
# The password reaches redis-cli through REDISCLI_AUTH (its environment),
# never its command line (where any user on the machine reads it in ps).
redis_password_file() { echo "$SECRETS/redis_password"; }
redis_cli() {
  if [ -s "$(redis_password_file)" ]; then
    REDISCLI_AUTH=$(cat "$(redis_password_file)") redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
  else
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
  fi
}
redis_answers() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

redis_up() {
  local conf=$REDIS_DIR/redis.conf logfile=$REDIS_DIR/redis.log
  local redis_fsync=${BMM_STACK_REDIS_APPENDFSYNC:-always}
  case $redis_fsync in
    always|everysec|no) ;;
    *) die "redis: BMM_STACK_REDIS_APPENDFSYNC is '$redis_fsync'; it must be always, everysec or no" ;;
  esac
  mkdir -p "$REDIS_DIR/data"
  # requirepass from a generated secret: the file is the password's only
  # other copy, so the configuration is readable by its owner alone.
  local password
  password=$(secret redis_password)
  (umask 077
  cat >"$conf" <<EOF
# Written by deploy/stack.sh: loopback only, state in the stack folder,
# append-only file on so a restart keeps the streams; the password is
# $SECRETS/redis_password ([redis] password_file).
requirepass $password
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_DIR/redis.pid
logfile $logfile
dir $REDIS_DIR/data
appendonly yes
appendfsync $redis_fsync
EOF
  )
  chmod 600 "$conf"
  if redis_pid >/dev/null; then
    log "redis: already running (pid $(redis_pid)) on 127.0.0.1:$REDIS_PORT"
  else
    port_in_use "$REDIS_PORT" && die "redis: port $REDIS_PORT is already in use by another program"
    log "redis: starting on 127.0.0.1:$REDIS_PORT (log: $logfile)"
    redis-server "$conf" </dev/null >>"$STACK_DIR/logs/redis-start.log" 2>&1 9>&- \
      || { show_log_tail "$logfile"; die "redis: did not start (log: $logfile)"; }
  fi
  local waited=0
  # PING answers LOADING while the append-only file is replayed: wait for PONG.
  until redis_answers; do
    [ "$waited" -lt $((TIMEOUT * 2)) ] || { show_log_tail "$logfile"; die "redis: no PONG on port $REDIS_PORT after ${TIMEOUT}s (log: $logfile)"; }
    sleep 0.5
    waited=$((waited + 1))
  done
  log "redis: ok"
}

redis_down() {
  local pid
  pid=$(redis_pid) || { log "redis: not running"; return 0; }
  log "redis: stopping (pid $pid)"
  [ -r "$REDIS_DIR/redis.conf" ] && REDIS_PORT=$(awk '$1 == "port" {print $2}' "$REDIS_DIR/redis.conf")
  redis_cli shutdown >/dev/null 2>&1 || true
  wait_pid_exit "$pid" "$TIMEOUT" || kill_pid "$pid" redis-server
}

# ------------------------------------------------------------- litecoind --

node_dir() { if [ "$1" = A ]; then echo "$NODE_A"; else echo "$NODE_B"; fi; }
node_log() { echo "$(node_dir "$1")/regtest/debug.log"; }
node_pid() { pidfile_pid "$(node_dir "$1")/litecoind.pid" litecoind; }
# litecoin-cli against node $1; the datadir's litecoin.conf has port and credentials.
cli() { local n=$1; shift; "$LITECOIN_CLI" -datadir="$(node_dir "$n")" "$@"; }
wcli() { cli A -rpcwallet="$WALLET" "$@"; }
node_answers() { cli "$1" getblockchaininfo >/dev/null 2>&1; }

write_node_conf() {
  local n=$1 dir rpc p2p onion
  dir=$(node_dir "$n")
  if [ "$n" = A ]; then rpc=$NODE_RPC_PORT p2p=$NODE_P2P_PORT onion=$NODE_ONION_PORT
  else rpc=$NODE2_RPC_PORT p2p=$NODE2_P2P_PORT onion=$NODE2_ONION_PORT; fi
  mkdir -p "$dir"
  (umask 077; cat >"$dir/litecoin.conf.tmp" <<EOF
# Written by deploy/stack.sh: regtest node $n, loopback only.
regtest=1
[regtest]
server=1
rpcuser=$RPC_USER
rpcpassword=$RPC_PASSWORD
rpcport=$rpc
rpcbind=127.0.0.1
rpcallowip=127.0.0.1
port=$p2p
bind=127.0.0.1:$p2p
# 0.21 always binds an onion listener (regtest default 127.0.0.1:19444):
# give each node its own port so two stacks do not clash.
bind=127.0.0.1:$onion=onion
listenonion=0
dnsseed=0
discover=0
upnp=0
# A regtest chain is idle for days: never fall back into initial block download.
maxtipage=2000000000
# bmm-stratum keeps a long poll open and refreshes and submits on two more
# connections; tests and tools call in as well.
rpcthreads=16
rpcworkqueue=64
EOF
  if [ "$n" = A ]; then
    cat >>"$dir/litecoin.conf.tmp" <<EOF
fallbackfee=0.0001
txindex=1
EOF
  else
    cat >>"$dir/litecoin.conf.tmp" <<EOF
connect=127.0.0.1:$NODE_P2P_PORT
EOF
  fi
  mv -f "$dir/litecoin.conf.tmp" "$dir/litecoin.conf")
}

node_start() {
  local n=$1 dir logfile rpc p2p
  dir=$(node_dir "$n")
  logfile=$(node_log "$n")
  if [ "$n" = A ]; then rpc=$NODE_RPC_PORT p2p=$NODE_P2P_PORT; else rpc=$NODE2_RPC_PORT p2p=$NODE2_P2P_PORT; fi
  write_node_conf "$n"
  if node_pid "$n" >/dev/null; then
    log "litecoind $n: already running (pid $(node_pid "$n")), rpc 127.0.0.1:$rpc"
    return 0
  fi
  port_in_use "$rpc" && die "litecoind $n: rpc port $rpc is already in use by another program"
  port_in_use "$p2p" && die "litecoind $n: p2p port $p2p is already in use by another program"
  # Extra litecoind options for this start only (tests: -mempoolreplacement=1,
  # -persistmempool=0 -walletbroadcast=0), split on spaces.
  local extra_var=BMM_STACK_NODE_${n}_ARGS extra=()
  read -r -a extra <<<"${!extra_var:-}"
  log "litecoind $n: starting, rpc 127.0.0.1:$rpc, p2p 127.0.0.1:$p2p${extra[*]:+ with ${extra[*]}} (log: $logfile)"
  "$LITECOIND" -datadir="$dir" -daemon -pid="$dir/litecoind.pid" "${extra[@]}" \
    </dev/null >>"$dir/start.log" 2>&1 9>&- \
    || { show_log_tail "$dir/start.log"; show_log_tail "$logfile"; die "litecoind $n: did not start (log: $logfile)"; }
}

# Waits until node $1 answers RPC (it answers -28 while warming up).
node_wait() {
  local n=$1 waited=0
  until node_answers "$n"; do
    if [ "$waited" -ge $((TIMEOUT * 2)) ]; then
      show_log_tail "$(node_log "$n")"
      die "litecoind $n: no RPC answer after ${TIMEOUT}s (log: $(node_log "$n"))"
    fi
    if [ "$waited" -ge 4 ] && ! node_pid "$n" >/dev/null; then
      show_log_tail "$(node_dir "$n")/start.log"
      show_log_tail "$(node_log "$n")"
      die "litecoind $n: exited during startup (log: $(node_log "$n"))"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

# Loads (or creates) the pool wallet on node A and settles the pool address.
wallet_up() {
  if ! cli A listwallets | jq -e --arg w "$WALLET" 'index($w) != null' >/dev/null; then
    if cli A listwalletdir | jq -e --arg w "$WALLET" '.wallets | map(.name) | index($w) != null' >/dev/null; then
      log "litecoind A: loading wallet $WALLET"
      cli A loadwallet "$WALLET" >/dev/null
    else
      log "litecoind A: creating wallet $WALLET"
      cli A createwallet "$WALLET" >/dev/null
    fi
  fi
  local file=$STACK_DIR/pool_address addr="" info
  [ -s "$file" ] && addr=$(cat "$file")
  # The saved address is kept unless the wallet says it is not its own; a
  # node that cannot answer stops the stack (a new address would move the
  # pool's rewards for no reason).
  if [ -n "$addr" ]; then
    info=$(wcli getaddressinfo "$addr" 2>&1) ||
      die "litecoind A: getaddressinfo $addr (the pool address saved in $file) failed: $info"
    if ! jq -e '.ismine == true' <<<"$info" >/dev/null; then
      warn "litecoind A: the saved pool address $addr is not in wallet $WALLET: taking a new one (what was paid to $addr stays there)"
      addr=""
    fi
  fi
  if [ -z "$addr" ]; then
    addr=$(wcli getnewaddress "" bech32)
    echo "$addr" >"$file"
    log "litecoind A: new pool address $addr"
  fi
  POOL_ADDRESS=$addr
}

# Bounded wait for a shell condition, polling every half second.
wait_for() {
  local what=$1 hint=$2 waited=0
  shift 2
  until "$@"; do
    [ "$waited" -lt $((TIMEOUT * 2)) ] || die "$what: not after ${TIMEOUT}s ($hint)"
    sleep 0.5
    waited=$((waited + 1))
  done
}

connected() { [ "$(cli A getconnectioncount 2>/dev/null || echo 0)" -ge 1 ] && [ "$(cli B getconnectioncount 2>/dev/null || echo 0)" -ge 1 ]; }
synced() { [ "$(cli A getbestblockhash 2>/dev/null)" = "$(cli B getbestblockhash 2>/dev/null || echo none)" ]; }

# Waits until B is on A's tip. Two peered regtest nodes can sit on different
# tips of equal work for good: blocks found at the same height on each (the
# pool mines through A, a test or a miner on B) and each node keeps the tip it
# saw first. When the heights have been equal and the tips different for 5 s,
# one block mined on A breaks the tie and B follows it (at most 3 times).
tips_converge() {
  local waited=0 tied=0 breaks=0 ha hb
  until synced; do
    [ "$waited" -lt $((TIMEOUT * 2)) ] ||
      die "litecoind B syncing A's tip: not after ${TIMEOUT}s (A at $(cli A getblockcount 2>/dev/null || echo '?'), B at $(cli B getblockcount 2>/dev/null || echo '?'); logs $(node_log A), $(node_log B))"
    ha=$(cli A getblockcount 2>/dev/null || echo -1)
    hb=$(cli B getblockcount 2>/dev/null || echo -2)
    if [ "$ha" = "$hb" ]; then tied=$((tied + 1)); else tied=0; fi
    if [ "$tied" -ge 10 ] && [ "$breaks" -lt 3 ]; then
      log "litecoind A and B: different tips at the same height $ha: mining one block on A to break the tie"
      wcli generatetoaddress 1 "$POOL_ADDRESS" >/dev/null
      breaks=$((breaks + 1))
      tied=0
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}
GBT_RULES='{"rules":["mweb","segwit"]}'

# Litecoin's MWEB activates at height 432 on regtest, and its first MWEB block
# must carry a peg-in: with none in the mempool, getblocktemplate and
# generatetoaddress fail from height 431 on with "bad-txns-vin-empty"
# (litecoin-project/litecoin#807, #1082). The stack activates MWEB when it
# starts, so the pool always works on a chain like mainnet's (templates with
# an extension block) and never meets that wall in the middle of a test.
# True once the chain holds the first MWEB block (the node reports MWEB
# "active" one block early, when the next block must carry it).
mweb_active() {
  cli A getblockchaininfo | jq -e '.softforks.mweb.active == true and .blocks >= .softforks.mweb.bip9.since' >/dev/null
}

mweb_up() {
  mweb_active && return 0
  local height pegin
  height=$(cli A getblockcount)
  if [ "$height" -lt 431 ]; then
    log "litecoind A: mining $((431 - height)) blocks to $POOL_ADDRESS to reach MWEB activation (height 432)"
    wcli generatetoaddress $((431 - height)) "$POOL_ADDRESS" >/dev/null
  fi
  pegin=$(wcli getnewaddress "" mweb)
  wcli sendtoaddress "$pegin" 1 >/dev/null ||
    die "litecoind A: the peg-in that activates MWEB failed (wallet $WALLET needs 1 LTC of mature coinbase; log: $(node_log A))"
  wcli generatetoaddress 1 "$POOL_ADDRESS" >/dev/null
  mweb_active || die "litecoind A: MWEB is not active at height $(cli A getblockcount) after the peg-in (log: $(node_log A))"
  log "litecoind A: MWEB active from height $(cli A getblockchaininfo | jq -r '.softforks.mweb.bip9.since')"
}

nodes_up() {
  RPC_USER=$(cat "$SECRETS/rpc_user" 2>/dev/null || true)
  if [ -z "$RPC_USER" ]; then
    (umask 077; echo "bmm_$(random_hex 4)" >"$SECRETS/rpc_user")
    RPC_USER=$(cat "$SECRETS/rpc_user")
  fi
  RPC_PASSWORD=$(secret rpc_password)
  node_start A
  node_start B
  node_wait A
  node_wait B
  wallet_up
  wait_for "litecoind A and B peering" "A p2p 127.0.0.1:$NODE_P2P_PORT; logs $(node_log A), $(node_log B)" connected
  # getblocktemplate answers -10 (initial block download) until the chain has a block.
  if [ "$(cli A getblockcount)" -eq 0 ]; then
    log "litecoind A: mining the first block to $POOL_ADDRESS"
    wcli generatetoaddress 1 "$POOL_ADDRESS" >/dev/null
  fi
  [ "$activate_mweb" -eq 0 ] || mweb_up
  tips_converge
  local tries=0 out
  until out=$(cli A getblocktemplate "$GBT_RULES" 2>&1); do
    tries=$((tries + 1))
    if grep -q 'code: -10' <<<"$out" && [ "$tries" -le 3 ]; then
      log "litecoind A: still in initial block download: mining one block"
      wcli generatetoaddress 1 "$POOL_ADDRESS" >/dev/null
      tips_converge
    elif [ "$tries" -ge $((TIMEOUT * 2)) ]; then
      die "litecoind A: getblocktemplate fails: $out (log: $(node_log A))"
    else
      sleep 0.5
    fi
  done
  log "litecoind: ok (height $(cli A getblockcount), A and B peered, getblocktemplate works)"
}

nodes_down() {
  local n pid
  for n in B A; do
    pid=$(node_pid "$n") || { log "litecoind $n: not running"; continue; }
    log "litecoind $n: stopping (pid $pid)"
    cli "$n" stop >/dev/null 2>&1 || warn "litecoind $n: rpc stop failed"
    wait_pid_exit "$pid" "$TIMEOUT" || kill_pid "$pid" "litecoind $n"
  done
}

# ---------------------------------------------------------------- bcoin --
# The sha256d node: bcoin (npm, a full node in JavaScript) in regtest, one
# node with its wallet "primary" (README "Bitcoin (bcoin) in regtest",
# deploy/bcoin/README.md). deploy/install-deps.sh installs it into
# deploy/bcoin/node_modules; the launcher deploy/bcoin/bmm-bcoin.js runs it.
# Kept in these functions (plus one line each in resolve_ports, save_ports,
# preflight_ports, write_settings and the commands) so that the litecoind
# part stays as it was.

BCOIN_HOME=${BMM_STACK_BCOIN_HOME:-$REPO_ROOT/deploy/bcoin}
BCOIN_NODE=${BMM_STACK_NODEJS:-node}
BCOIN_WALLET=primary
# Segwit on bcoin's regtest is a BIP9 deployment: active from height 432.
BCOIN_SEGWIT_HEIGHT=432
# Where bcoin's node and wallet RPC servers listen; stack.sh calls them there
# (on 127.0.0.1 when they listen on every address).
BCOIN_HTTP_HOST=${BMM_STACK_BCOIN_HTTP_HOST:-127.0.0.1}
[[ $BCOIN_HTTP_HOST =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
  die "BMM_STACK_BCOIN_HTTP_HOST '$BCOIN_HTTP_HOST' is not an IPv4 address (e.g. 127.0.0.1 or 10.77.0.10)"
BCOIN_CALL_HOST=$BCOIN_HTTP_HOST
[ "$BCOIN_HTTP_HOST" != 0.0.0.0 ] || BCOIN_CALL_HOST=127.0.0.1

bcoin_dir() { echo "$STACK_DIR/bcoin"; }
bcoin_log() { echo "$(bcoin_dir)/regtest/debug.log"; }
bcoin_pid() { pidfile_pid "$(bcoin_dir)/bcoin.pid" bmm-bcoin; }
# curl reads the credentials from a file (mode 600), never from its command line.
bcoin_curl_conf() { echo "$SECRETS/bcoin_curl"; }

# Ports after litecoind's 8: +8 node rpc, +9 wallet rpc, +10 p2p: the one
# peer the node may dial (`only`); nobody listens there, so it has no peers.
bcoin_resolve_ports() {
  local saved=""
  if [ -r "$PORTS_FILE" ]; then
    # shellcheck disable=SC1090
    saved=$(. "$PORTS_FILE"; echo "${BASE_PORT:-}:${BCOIN_RPC_PORT:-}:${BCOIN_WALLET_PORT:-}:${BCOIN_P2P_PORT:-}")
  fi
  if [ -n "$saved" ] && [ "${saved%%:*}" = "$BASE_PORT" ] && [ -n "$(cut -d: -f2 <<<"$saved")" ]; then
    IFS=: read -r _ BCOIN_RPC_PORT BCOIN_WALLET_PORT BCOIN_P2P_PORT <<<"$saved"
  else
    BCOIN_RPC_PORT=$((BASE_PORT + 8)) BCOIN_WALLET_PORT=$((BASE_PORT + 9)) BCOIN_P2P_PORT=$((BASE_PORT + 10))
  fi
  local p
  for p in "$BCOIN_RPC_PORT" "$BCOIN_WALLET_PORT" "$BCOIN_P2P_PORT"; do
    is_port "$p" || die "bcoin port '$p' is not a TCP port number (base port + 10 must be <= 65535)"
  done
  local all="$PG_PORT $REDIS_PORT $NODE_RPC_PORT $NODE_P2P_PORT $NODE2_RPC_PORT $NODE2_P2P_PORT"
  all+=" $NODE_ONION_PORT $NODE2_ONION_PORT $BCOIN_RPC_PORT $BCOIN_WALLET_PORT $BCOIN_P2P_PORT"
  [ "$(tr ' ' '\n' <<<"$all" | sort -u | wc -l)" -eq 11 ] || die "ports must differ: $all"
}

bcoin_ports_text() {
  printf '%s\n' "BCOIN_RPC_PORT=$BCOIN_RPC_PORT" "BCOIN_WALLET_PORT=$BCOIN_WALLET_PORT" "BCOIN_P2P_PORT=$BCOIN_P2P_PORT"
}

# JSON-RPC call to bcoin: $1 node|wallet, $2 method, $3 params (a JSON array).
# Prints the result (a string raw, anything else as JSON); on an error prints
# the answer to stderr and returns 1.
bcoin_rpc() {
  local port=$BCOIN_RPC_PORT out
  [ "$1" = wallet ] && port=$BCOIN_WALLET_PORT
  out=$(jq -cn --arg m "$2" --argjson p "${3:-[]}" '{method: $m, params: $p, id: 1}' |
    curl -sS -m 120 -K "$(bcoin_curl_conf)" --data-binary @- "http://$BCOIN_CALL_HOST:$port/" 2>&1) || {
    echo "$out" >&2
    return 1
  }
  if ! jq -e '.error == null' <<<"$out" >/dev/null 2>&1; then
    echo "$out" >&2
    return 1
  fi
  jq -r 'if (.result | type) == "string" then .result else (.result | tojson) end' <<<"$out"
}
bcoin_answers() { bcoin_rpc node getblockchaininfo >/dev/null 2>&1; }

bcoin_write_conf() {
  local dir
  dir=$(bcoin_dir)
  mkdir -p "$dir/regtest"
  # bcoin reads <prefix>/<network>/bcoin.conf. The api key is the RPC
  # password of the node and of its wallet (bcoin ignores the user name).
  (
    umask 077
    cat >"$dir/regtest/bcoin.conf.tmp" <<BCOIN_CONF
# Written by deploy/stack.sh: bcoin regtest node, RPC on $BCOIN_HTTP_HOST
# (BMM_STACK_BCOIN_HTTP_HOST), no peers (it does not listen and dials only the
# stack's unused port base+10).
network: regtest
api-key: $BCOIN_PASSWORD
http-host: $BCOIN_HTTP_HOST
http-port: $BCOIN_RPC_PORT
host: 127.0.0.1
port: $BCOIN_P2P_PORT
listen: false
only: 127.0.0.1:$BCOIN_P2P_PORT
log-level: info
BCOIN_CONF
    mv -f "$dir/regtest/bcoin.conf.tmp" "$dir/regtest/bcoin.conf"
    printf 'user = "%s:%s"\n' "$RPC_USER" "$BCOIN_PASSWORD" >"$(bcoin_curl_conf)"
  )
}

bcoin_start() {
  local dir logfile
  dir=$(bcoin_dir)
  logfile=$(bcoin_log)
  [ -r "$BCOIN_HOME/node_modules/bcoin/package.json" ] ||
    die "bcoin: not installed in $BCOIN_HOME/node_modules: run deploy/install-deps.sh (or start the stack with --no-bcoin)"
  command -v "$BCOIN_NODE" >/dev/null || die "bcoin: no '$BCOIN_NODE' (Node.js) on PATH: run deploy/install-deps.sh"
  bcoin_write_conf
  if bcoin_pid >/dev/null; then
    log "bcoin: already running (pid $(bcoin_pid)), rpc $BCOIN_CALL_HOST:$BCOIN_RPC_PORT"
    return 0
  fi
  port_in_use "$BCOIN_RPC_PORT" && die "bcoin: rpc port $BCOIN_RPC_PORT is already in use by another program"
  port_in_use "$BCOIN_WALLET_PORT" && die "bcoin: wallet rpc port $BCOIN_WALLET_PORT is already in use by another program"
  log "bcoin: starting, rpc $BCOIN_HTTP_HOST:$BCOIN_RPC_PORT, wallet rpc $BCOIN_HTTP_HOST:$BCOIN_WALLET_PORT (log: $logfile)"
  # --wallet-prefix: the wallet ignores --prefix (see deploy/bcoin/bmm-bcoin.js).
  (
    cd "$BCOIN_HOME"
    NODE_BACKEND=js exec nohup "$BCOIN_NODE" bmm-bcoin.js \
      --network=regtest --prefix="$dir" --wallet-prefix="$dir/regtest" \
      --wallet-http-host="$BCOIN_HTTP_HOST" --wallet-http-port="$BCOIN_WALLET_PORT" --wallet-witness=true
  ) </dev/null >>"$dir/start.log" 2>&1 9>&- &
  echo $! >"$dir/bcoin.pid"
}

bcoin_wait() {
  local waited=0
  until bcoin_answers && bcoin_rpc wallet getwalletinfo >/dev/null 2>&1; do
    if [ "$waited" -ge $((TIMEOUT * 2)) ]; then
      show_log_tail "$(bcoin_log)"
      die "bcoin: no RPC answer after ${TIMEOUT}s (log: $(bcoin_log))"
    fi
    if [ "$waited" -ge 2 ] && ! bcoin_pid >/dev/null; then
      show_log_tail "$(bcoin_dir)/start.log"
      show_log_tail "$(bcoin_log)"
      die "bcoin: exited during startup (logs: $(bcoin_dir)/start.log, $(bcoin_log))"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

# The pool's BTC address: a bech32 (rb1q...) address of the wallet, kept
# across restarts in <dir>/btc_pool_address.
bcoin_address_up() {
  local file=$STACK_DIR/btc_pool_address addr="" account
  [ -s "$file" ] && addr=$(cat "$file")
  # bcoin has no getaddressinfo: getaccount names the account of a wallet
  # address and answers "" for any other. As for litecoind: kept unless the
  # wallet says it is not its own; no answer stops the stack.
  if [ -n "$addr" ]; then
    account=$(bcoin_rpc wallet getaccount "[\"$addr\"]" 2>&1) ||
      die "bcoin: getaccount $addr (the pool address saved in $file) failed: $account (log: $(bcoin_log))"
    if [ -z "$account" ]; then
      warn "bcoin: the saved pool address $addr is not in the wallet: taking a new one (what was paid to $addr stays there)"
      addr=""
    fi
  fi
  if [ -z "$addr" ]; then
    addr=$(bcoin_rpc wallet getnewaddress) || die "bcoin: getnewaddress failed (log: $(bcoin_log))"
    echo "$addr" >"$file"
    log "bcoin: new pool address $addr"
  fi
  BTC_POOL_ADDRESS=$addr
}

bcoin_segwit_active() {
  bcoin_rpc node getblockchaininfo | jq -e '.bip9_softforks.segwit.status == "active"' >/dev/null
}

# Mines past segwit activation (as litecoind is mined past MWEB's), so that
# templates carry a witness commitment from the first job on, as on mainnet.
bcoin_segwit_up() {
  local height
  height=$(bcoin_rpc node getblockcount)
  if [ "$height" -lt "$BCOIN_SEGWIT_HEIGHT" ]; then
    log "bcoin: mining $((BCOIN_SEGWIT_HEIGHT - height)) blocks to $BTC_POOL_ADDRESS to activate segwit (height $BCOIN_SEGWIT_HEIGHT)"
    bcoin_rpc node generatetoaddress "[$((BCOIN_SEGWIT_HEIGHT - height)), \"$BTC_POOL_ADDRESS\"]" >/dev/null ||
      die "bcoin: generatetoaddress failed (log: $(bcoin_log))"
  fi
  bcoin_segwit_active || die "bcoin: segwit is not active at height $(bcoin_rpc node getblockcount) (log: $(bcoin_log))"
}

bcoin_up() {
  BCOIN_PASSWORD=$(secret bcoin_password)
  bcoin_start
  bcoin_wait
  bcoin_address_up
  bcoin_segwit_up
  bcoin_rpc node getblocktemplate '[{"rules":["segwit"]}]' >/dev/null ||
    die "bcoin: getblocktemplate fails (log: $(bcoin_log))"
  log "bcoin: ok (height $(bcoin_rpc node getblockcount), segwit active, getblocktemplate works)"
}

bcoin_down() {
  local pid
  pid=$(bcoin_pid) || { log "bcoin: not running"; return 0; }
  log "bcoin: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_pid_exit "$pid" "$TIMEOUT" || kill_pid "$pid" bcoin
}

# Ports of a stopped bcoin taken by another program (for preflight_ports).
bcoin_ports_taken() {
  [ "$with_bcoin" -eq 1 ] || return 0
  bcoin_pid >/dev/null && return 0
  port_in_use "$BCOIN_RPC_PORT" && echo "bcoin rpc $BCOIN_RPC_PORT"
  port_in_use "$BCOIN_WALLET_PORT" && echo "bcoin wallet rpc $BCOIN_WALLET_PORT"
  return 0
}

# KEY=value lines for stack.env, when bcoin runs.
bcoin_settings() {
  bcoin_pid >/dev/null || return 0
  printf '%s\n' \
    "BMM_BTC_RPC_URL=http://$BCOIN_CALL_HOST:$BCOIN_RPC_PORT/" \
    "BMM_BTC_RPC_PORT=$BCOIN_RPC_PORT" \
    "BMM_BTC_RPC_USER=$RPC_USER" \
    "BMM_BTC_RPC_PASSWORD=$(cat "$SECRETS/bcoin_password")" \
    "BMM_BTC_WALLET=$BCOIN_WALLET" \
    "BMM_BTC_WALLET_RPC_URL=http://$BCOIN_CALL_HOST:$BCOIN_WALLET_PORT/" \
    "BMM_BTC_WALLET_RPC_PORT=$BCOIN_WALLET_PORT" \
    "BMM_BTC_CURL_CONFIG=$(bcoin_curl_conf)" \
    "BMM_BTC_DATADIR=$(bcoin_dir)" \
    "BMM_BTC_POOL_ADDRESS=$(cat "$STACK_DIR/btc_pool_address")"
}

bcoin_status() {
  local info
  BCOIN_PASSWORD=$(cat "$SECRETS/bcoin_password" 2>/dev/null || true)
  if [ -r "$(bcoin_curl_conf)" ] && info=$(bcoin_rpc node getblockchaininfo 2>/dev/null); then
    report 0 bcoin "rpc $BCOIN_CALL_HOST:$BCOIN_RPC_PORT wallet rpc $BCOIN_CALL_HOST:$BCOIN_WALLET_PORT height $(jq -r .blocks <<<"$info") (log: $(bcoin_log))"
  elif [ -e "$(bcoin_dir)" ]; then
    report 1 bcoin "rpc $BCOIN_CALL_HOST:$BCOIN_RPC_PORT (log: $(bcoin_log))"
  fi
}

# ------------------------------------------------------------- settings --

write_settings() {
  local node_url=http://127.0.0.1:$NODE_RPC_PORT/ node2_url=http://127.0.0.1:$NODE2_RPC_PORT/
  local url
  url=$(pg_url)
  (umask 077
  cat >"$ENV_FILE.tmp" <<EOF
# BMM pool local stack settings, written by deploy/stack.sh up. Shell KEY=value.
BMM_STACK_DIR=$STACK_DIR
BMM_PG_HOST=127.0.0.1
BMM_PG_PORT=$PG_PORT
BMM_PG_DB=$PG_DB
BMM_PG_USER=$PG_USER
BMM_PG_PASSWORD=$PG_PASSWORD
BMM_PG_URL=$url
BMM_PG_SOCKET_DIR=$PG_ROOT/run
BMM_REDIS_HOST=127.0.0.1
BMM_REDIS_PORT=$REDIS_PORT
BMM_REDIS_PASSWORD_FILE=$(redis_password_file)
BMM_NODE_RPC_URL=$node_url
BMM_NODE_RPC_PORT=$NODE_RPC_PORT
BMM_NODE_RPC_USER=$RPC_USER
BMM_NODE_RPC_PASSWORD=$RPC_PASSWORD
BMM_NODE_WALLET=$WALLET
BMM_NODE_P2P_PORT=$NODE_P2P_PORT
BMM_NODE_DATADIR=$NODE_A
BMM_NODE2_RPC_URL=$node2_url
BMM_NODE2_RPC_PORT=$NODE2_RPC_PORT
BMM_NODE2_P2P_PORT=$NODE2_P2P_PORT
BMM_NODE2_DATADIR=$NODE_B
BMM_POOL_ADDRESS=$POOL_ADDRESS
EOF
  bcoin_settings >>"$ENV_FILE.tmp"
  # The JSON holds the same keys; ports are numbers.
  grep -E '^[A-Z0-9_]+=' "$ENV_FILE.tmp" | jq -R -n '
    [inputs | capture("^(?<k>[A-Z0-9_]+)=(?<v>.*)$")
     | {key: .k, value: (if (.k | test("_PORT$")) then (.v | tonumber) else .v end)}]
    | from_entries' >"$JSON_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  mv -f "$JSON_FILE.tmp" "$JSON_FILE")
  log "settings written to $ENV_FILE and $JSON_FILE"
}

# ------------------------------------------------------------- commands --

# Serialises up/down on one stack folder. Children get `9>&-` so that no
# daemon inherits the lock.
take_lock() {
  exec 9>"$STACK_DIR/.lock"
  flock -w "$TIMEOUT" 9 || die "another stack.sh holds $STACK_DIR/.lock"
}

any_running() {
  resolve_pg_root 0
  pg_pid >/dev/null || redis_pid >/dev/null || node_pid A >/dev/null || node_pid B >/dev/null || bcoin_pid >/dev/null
}

# Fails before anything starts when a port of a stopped service is taken.
preflight_ports() {
  local taken=()
  resolve_pg_root 0
  pg_pid >/dev/null || { port_in_use "$PG_PORT" && taken+=("postgres $PG_PORT"); }
  redis_pid >/dev/null || { port_in_use "$REDIS_PORT" && taken+=("redis $REDIS_PORT"); }
  if ! node_pid A >/dev/null; then
    port_in_use "$NODE_RPC_PORT" && taken+=("node A rpc $NODE_RPC_PORT")
    port_in_use "$NODE_P2P_PORT" && taken+=("node A p2p $NODE_P2P_PORT")
  fi
  if ! node_pid B >/dev/null; then
    port_in_use "$NODE2_RPC_PORT" && taken+=("node B rpc $NODE2_RPC_PORT")
    port_in_use "$NODE2_P2P_PORT" && taken+=("node B p2p $NODE2_P2P_PORT")
  fi
  local b
  while read -r b; do [ -z "$b" ] || taken+=("$b"); done < <(bcoin_ports_taken)
  [ ${#taken[@]} -eq 0 ] || die "ports already in use by other programs: $(IFS=,; echo "${taken[*]}") (choose another --base-port)"
}

cmd_up() {
  resolve_ports   # validates the port options before anything is created
  mkdir -p "$STACK_DIR"
  [ -e "$MARKER" ] || [ -z "$(ls -A "$STACK_DIR")" ] \
    || die "$STACK_DIR exists, is not empty and is not a stack folder (no .bmm-stack)"
  touch "$MARKER"
  mkdir -p "$STACK_DIR/logs"
  (umask 077; mkdir -p "$SECRETS")
  chmod 700 "$SECRETS"
  take_lock
  resolve_ports
  if any_running && [ -r "$PORTS_FILE" ]; then
    local old new
    old=$(grep -v -e '^#' -e '^BCOIN_' "$PORTS_FILE")
    new=$(ports_text)
    [ "$old" = "$new" ] || die "the stack in $STACK_DIR is running on other ports (see $PORTS_FILE): run down first"
  fi
  preflight_ports
  save_ports
  log "up: $STACK_DIR (ports $BASE_PORT..: pg $PG_PORT, redis $REDIS_PORT, node A rpc $NODE_RPC_PORT p2p $NODE_P2P_PORT, node B rpc $NODE2_RPC_PORT p2p $NODE2_P2P_PORT)"
  pg_up
  redis_up
  nodes_up
  [ "$with_bcoin" -eq 0 ] || bcoin_up
  write_settings
  log "up: all services answer"
}

cmd_down() {
  if [ ! -d "$STACK_DIR" ]; then
    log "down: no stack at $STACK_DIR"
    return 0
  fi
  [ -e "$MARKER" ] || die "$STACK_DIR is not a stack folder (no .bmm-stack): refusing to touch it"
  take_lock
  resolve_ports
  bcoin_down
  nodes_down
  redis_down
  pg_down
  log "down: stopped"
  if [ "$purge" -eq 1 ]; then
    resolve_pg_root 0
    if [ -L "$STACK_DIR/pg" ] && [[ $PG_ROOT == /var/tmp/bmm-stack-pg-* ]]; then
      rm -rf "$PG_ROOT"
    fi
    rm -rf "$STACK_DIR"
    log "down: purged $STACK_DIR"
  fi
}

cmd_status() {
  if [ ! -e "$MARKER" ]; then
    log "status: no stack at $STACK_DIR"
    return 1
  fi
  resolve_ports
  resolve_pg_root 0
  PG_PASSWORD=$(cat "$SECRETS/pg_password" 2>/dev/null || true)
  local ok=0 bad=0 line
  report() {
    if [ "$1" -eq 0 ]; then ok=$((ok + 1)); line=up; else bad=$((bad + 1)); line=DOWN; fi
    printf 'stack: %-10s %-5s %s\n' "$2" "$line" "$3"
  }
  local rc
  pg_answers && rc=0 || rc=1
  report $rc postgres "127.0.0.1:$PG_PORT db $PG_DB (log: $PG_ROOT/postgres.log)"
  redis_answers && rc=0 || rc=1
  report $rc redis "127.0.0.1:$REDIS_PORT (log: $REDIS_DIR/redis.log)"
  local n rpc info
  for n in A B; do
    if [ "$n" = A ]; then rpc=$NODE_RPC_PORT; else rpc=$NODE2_RPC_PORT; fi
    if info=$(cli "$n" getblockchaininfo 2>/dev/null); then
      report 0 "node $n" "rpc 127.0.0.1:$rpc height $(jq -r .blocks <<<"$info") peers $(cli "$n" getconnectioncount 2>/dev/null || echo '?') (log: $(node_log "$n"))"
    else
      report 1 "node $n" "rpc 127.0.0.1:$rpc (log: $(node_log "$n"))"
    fi
  done
  bcoin_status
  [ -s "$ENV_FILE" ] && log "settings: $ENV_FILE"
  [ "$bad" -eq 0 ]
}

case $command in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
esac
