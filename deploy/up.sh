#!/usr/bin/env bash
# One command from a fresh clone to a running pool: installs the packages,
# builds, starts the local stack, then starts the pool programs that exist.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/up.sh [--no-deps] [--no-build] [stack.sh options]

Installs the packages (deploy/install-deps.sh), builds (deploy/build.sh),
starts the local stack (deploy/stack.sh up: PostgreSQL, Redis, litecoind and
bcoin regtest) and then every pool program that is built, each with its
config file from deploy/config/<name>.toml and the stack's settings
(stack.env) in its environment: bmm-stratum (scrypt on litecoind, port 3333),
bmm-stratum-btc (a second bmm-stratum: sha256d on bcoin, port 3334; both write
to one stream) and bmm-accountd ([coins.LTC] and [coins.BTC]). Pidfiles and logs of the
programs go to <stack dir>/run and <stack dir>/logs. Stop it all with
deploy/down.sh (give it the same --dir).

  --no-deps     skip deploy/install-deps.sh
  --no-build    skip deploy/build.sh
  env BMM_BIN_DIR  where the programs are (default <repo>/build/bin)
  stack.sh options (--dir, --base-port, --pg-port, ...) pass through; see
  deploy/stack.sh --help.
USAGE
}

log() { echo "up: $*"; }
die() { echo "up: error: $*" >&2; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BMM_BIN_DIR:-$REPO_ROOT/build/bin}
CONFIG_DIR=$REPO_ROOT/deploy/config
# The programs up.sh starts, in order, once they are built: name[:program]
# (the name picks deploy/config/<name>.toml, the pidfile and the log).
POOL_PROGRAMS=(bmm-stratum bmm-stratum-btc:bmm-stratum bmm-accountd)

deps=1
build=1
stack_args=()
STACK_DIR=${BMM_STACK_DIR:-$REPO_ROOT/.stack}
while [ $# -gt 0 ]; do
  case $1 in
    --no-deps) deps=0 ;;
    --no-build) build=0 ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; STACK_DIR=$2; stack_args+=("$1" "$2"); shift ;;
    --dir=*) STACK_DIR=${1#*=}; stack_args+=("$1") ;;
    --no-bcoin) die "--no-bcoin: up.sh runs the pool on both coins and needs bcoin (deploy/stack.sh up --no-bcoin starts the stack without it)" ;;
    -h|--help) usage; exit 0 ;;
    *) stack_args+=("$1") ;;
  esac
  shift
done
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac

# Starts build/bin/<program> (default <name>) in the background with the
# stack's settings in its environment and --config deploy/config/<name>.toml
# when that file exists. Returns 1 when the program is not built.
start_program() {
  local name=$1 bin=$BIN_DIR/${2:-$1} config=$CONFIG_DIR/$1.toml
  local pidfile=$STACK_DIR/run/$name.pid logfile=$STACK_DIR/logs/$name.log pid args=()
  [ -x "$bin" ] || return 1
  mkdir -p "$STACK_DIR/run" "$STACK_DIR/logs"
  if [ -s "$pidfile" ] && pid=$(cat "$pidfile") && [ -e "/proc/$pid" ] \
     && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$bin"; then
    log "$name already running (pid $pid, log $logfile)"
    return 0
  fi
  # bmm-accountd has subcommands: the daemon is `run` (ingest, blocks, epochs, API).
  [ "${2:-$1}" = bmm-accountd ] && args+=(run)
  [ -f "$config" ] && args+=(--config "$config")
  log "starting $name (log $logfile)"
  (
    set -a
    # shellcheck disable=SC1091
    . "$STACK_DIR/stack.env"
    set +a
    exec nohup "$bin" "${args[@]}" </dev/null >>"$logfile" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$pidfile"
  sleep 1
  if ! [ -e "/proc/$pid" ]; then
    tail -n 20 "$logfile" >&2 || true
    die "$name exited right after starting (log $logfile)"
  fi
  log "$name running (pid $pid)"
}

if [ "$deps" -eq 1 ]; then bash "$REPO_ROOT/deploy/install-deps.sh"; fi
if [ "$build" -eq 1 ]; then bash "$REPO_ROOT/deploy/build.sh" --no-deps; fi
bash "$REPO_ROOT/deploy/stack.sh" up "${stack_args[@]}"

# bmm-accountd's epoch 0 starts once per local stack, at the hour it was
# first brought up (kept with the stack, so restarts keep the same epochs).
if [ ! -s "$STACK_DIR/epoch-genesis" ]; then
  echo $(( $(date +%s) / 3600 * 3600 )) > "$STACK_DIR/epoch-genesis"
fi
export BMM_EPOCH_GENESIS
BMM_EPOCH_GENESIS=$(cat "$STACK_DIR/epoch-genesis")
# ... and in stack.env, so that commands run by hand (audit, account) see it too.
if grep -q '^BMM_EPOCH_GENESIS=' "$STACK_DIR/stack.env"; then
  sed -i "s/^BMM_EPOCH_GENESIS=.*/BMM_EPOCH_GENESIS=$BMM_EPOCH_GENESIS/" "$STACK_DIR/stack.env"
else
  echo "BMM_EPOCH_GENESIS=$BMM_EPOCH_GENESIS" >> "$STACK_DIR/stack.env"
fi

not_built=()
for entry in "${POOL_PROGRAMS[@]}"; do
  start_program "${entry%%:*}" "${entry#*:}" || not_built+=("${entry#*:}")
done

down_cmd="deploy/down.sh"
[ "$STACK_DIR" = "$REPO_ROOT/.stack" ] || down_cmd="deploy/down.sh --dir $STACK_DIR"
log "the local stack is running (PostgreSQL, Redis, two litecoind regtest nodes, bcoin regtest)"
log "connection settings: $STACK_DIR/stack.env (and stack.json)"
log "stop everything with: $down_cmd"
if [ ${#not_built[@]} -gt 0 ]; then
  log "not built yet: ${not_built[*]} (no $BIN_DIR/<program>)"
fi
if [[ " ${not_built[*]} " == *" bmm-stratum "* ]]; then
  log "bmm-stratum is not built yet, so there is nothing to point a miner at yet"
else
  port=$(awk '/^\[\[port\]\]/{p=1} p && $1=="port"{print $3; exit}' "$CONFIG_DIR/bmm-stratum.toml")
  log "Stratum (scrypt, litecoind regtest): stratum+tcp://127.0.0.1:${port}"
  log "  worker: any account.worker name, e.g. alice.rig1 (password: x, or d=<difficulty>)"
  log "  try it: $BIN_DIR/bmm-miner --url stratum+tcp://127.0.0.1:${port} --user alice.rig1 --shares 5"
  log "  pool log: $STACK_DIR/logs/bmm-stratum.log; shares go to the Redis stream bmm:shares"
  btc_port=$(awk '/^\[\[port\]\]/{p=1} p && $1=="port"{print $3; exit}' "$CONFIG_DIR/bmm-stratum-btc.toml")
  log "Stratum (sha256d, bcoin regtest): stratum+tcp://127.0.0.1:${btc_port} (ASICs; same workers, same stream)"
  log "  try it: $BIN_DIR/bmm-miner --algo sha256d --version-rolling --url stratum+tcp://127.0.0.1:${btc_port} --user alice.asic1 --shares 5"
  log "  pool log: $STACK_DIR/logs/bmm-stratum-btc.log"
  metrics_port=$(awk '/^\[metrics\]/{m=1; next} /^\[/{m=0} m && $1=="port"{print $3; exit}' "$CONFIG_DIR/bmm-stratum.toml")
  if [[ -n "$metrics_port" && "$metrics_port" != 0 ]]; then
    log "  metrics: curl -s http://127.0.0.1:${metrics_port}/metrics"
  fi
fi
if [[ " ${not_built[*]} " != *" bmm-accountd "* ]]; then
  api_port=$(awk '/^\[api\]/{m=1; next} /^\[/{m=0} m && $1=="port"{print $3; exit}' "$CONFIG_DIR/bmm-accountd.toml")
  log "bmm-accountd: ingests the stream into PostgreSQL (log $STACK_DIR/logs/bmm-accountd.log)"
  [ -n "$api_port" ] && log "  holders' page and API: http://127.0.0.1:${api_port}/ (e.g. /api/v1/pool)"
  log "  accounts: $BIN_DIR/bmm-accountd account --help (with --config $CONFIG_DIR/bmm-accountd.toml and stack.env loaded)"
fi
