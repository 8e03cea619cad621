#!/usr/bin/env bash
# Configures and builds BMM pool into <repo>/build with Ninja; programs land in
# build/bin, test executables in build/tests.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/build.sh [--no-deps] [-DVAR=VALUE ...]

Runs deploy/install-deps.sh (unless --no-deps), configures <repo>/build with
Ninja and builds everything with two jobs. Any -D options go to cmake's
configure step (e.g. -DBMM_BUILD_TESTS=OFF, -DBMM_SANITIZE=address).

Environment:
  BUILD_TYPE   CMake build type (default Release)
USAGE
}

log() { echo "build: $*"; }
die() { echo "build: error: $*" >&2; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$REPO_ROOT/build
BUILD_TYPE=${BUILD_TYPE:-Release}

deps=1
cmake_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-deps) deps=0 ;;
    -D*) cmake_args+=("$1") ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

if [ "$deps" -eq 1 ]; then
  bash "$REPO_ROOT/deploy/install-deps.sh"
fi

# A build folder made by another generator cannot be reconfigured with Ninja.
if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  die "$BUILD_DIR was configured with another generator: remove it first"
fi

log "configuring $BUILD_DIR ($BUILD_TYPE)"
cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${cmake_args[@]}"
log "building"
cmake --build "$BUILD_DIR" -j2
log "done: programs in $BUILD_DIR/bin"
