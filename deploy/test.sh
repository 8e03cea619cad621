#!/usr/bin/env bash
# Installs the packages, builds with the tests and runs them all with ctest.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/test.sh [--no-deps] [ctest arguments]

Runs deploy/install-deps.sh (unless --no-deps), builds <repo>/build with the
tests (BUILD_TYPE, default Release) and runs
`ctest --output-on-failure -j2 [ctest arguments]` in it, e.g.
deploy/test.sh -L unit. Exits non-zero when a build step or a test fails.
The tests include the repository's own checks (tests/repo/): stands_alone_test,
migrations_test, and style_check (tools/check-style.sh on the lines changed
since .ci/style-base; label style). The build includes bmm_header_check.
USAGE
}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=1
ctest_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-deps) deps=0 ;;
    -h|--help) usage; exit 0 ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

if [ "$deps" -eq 1 ]; then bash "$REPO_ROOT/deploy/install-deps.sh"; fi
BUILD_TYPE=${BUILD_TYPE:-Release} bash "$REPO_ROOT/deploy/build.sh" --no-deps -DBMM_BUILD_TESTS=ON
cd "$REPO_ROOT/build"
echo "test: ctest --output-on-failure -j2 ${ctest_args[*]}"
ctest --output-on-failure -j2 "${ctest_args[@]}"
