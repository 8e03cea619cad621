#!/usr/bin/env bash
# Stops what deploy/up.sh started: the pool programs (by their pidfiles in
# <stack dir>/run), then the local stack.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/down.sh [--purge] [stack.sh options]

Stops the pool programs started by deploy/up.sh (TERM, then KILL after 20 s)
and then the local stack (deploy/stack.sh down). --purge also deletes the
stack folder and all its data. stack.sh options (--dir, ...) pass through.
USAGE
}

log() { echo "down: $*"; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${BMM_STACK_DIR:-$REPO_ROOT/.stack}
stack_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || { echo "down: error: --dir needs a value" >&2; exit 1; }
           STACK_DIR=$2; stack_args+=("$1" "$2"); shift ;;
    --dir=*) STACK_DIR=${1#*=}; stack_args+=("$1") ;;
    -h|--help) usage; exit 0 ;;
    *) stack_args+=("$1") ;;
  esac
  shift
done
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac

# Stops the program whose pidfile is $1, if it is still the program we started.
stop_program() {
  local pidfile=$1 name pid waited=0
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && [ -e "/proc/$pid" ] \
     && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "/$name"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while [ -e "/proc/$pid" ] && [ "$waited" -lt 200 ]; do sleep 0.1; waited=$((waited + 1)); done
    if [ -e "/proc/$pid" ]; then
      log "$name (pid $pid) ignored TERM: sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    log "$name: not running"
  fi
  rm -f "$pidfile"
}

if [ -d "$STACK_DIR/run" ]; then
  for pidfile in "$STACK_DIR"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    stop_program "$pidfile"
  done
fi
bash "$REPO_ROOT/deploy/stack.sh" down "${stack_args[@]}"
