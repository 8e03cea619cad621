#!/usr/bin/env bash
# Installs every Debian package BMM pool needs to build, test and run.
# Safe to run any number of times: it installs only what is missing, and runs
# `apt-get update` only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  # the style check (tools/check-style.sh, ctest style_check; docs/style.md)
  clang-format clang-tidy
  # libraries (docs/architecture.md)
  libuv1-dev libpq-dev libhiredis-dev libssl-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsimdjson-dev libtomlplusplus-dev libcli11-dev libcurl4-openssl-dev
  libmicrohttpd-dev librapidcheck-dev
  libboost-dev libgmp-dev  # exact wide integers (accounting; GMP for the tests' reference model)
  libhpdf-dev  # statements as PDF (libharu, accounting/statement)
  libsecp256k1-dev  # BMM (ERC-20) wallet proofs: personal_sign recovery (common/src/crypto/eth_sign.cpp)
  # the local stack and the tests' real parts
  postgresql postgresql-client redis-server redis-tools litecoind
  # bcoin, the stack's sha256d (Bitcoin) regtest node, runs on Node.js
  # (npm comes below: a Node.js from elsewhere may bring its own)
  nodejs
  # scripts
  curl jq python3 procps iproute2
  # api_test and web_test open the web page in headless Chromium (web_test drives it by WebDriver)
  chromium chromium-driver
  # the web page's charts: bmm-accountd serves Debian's Chart.js as /static/chart.js
  libjs-chart.js
  # the openssl CLI: tests make self-signed certificates for the TLS port
  openssl
  # systemd_test checks deploy/systemd/ (systemd-analyze) and its logrotate file
  systemd logrotate
  # monitoring_test checks deploy/monitoring/'s alert rules (promtool, from Debian's prometheus)
  prometheus
  # statement_test reads the statements' PDFs (pdftotext) and checks them (qpdf --check)
  poppler-utils qpdf
  # deploy/cluster.sh and cluster_test: PostgreSQL run by Patroni on etcd, PgBouncer for the
  # read API, Sentinel's unit and files for real hosts (docs/cluster.md)
  patroni etcd-server etcd-client pgbouncer redis-sentinel
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Debian's npm, unless an npm is already on PATH (NodeSource's nodejs ships
# one and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
  dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q 'install ok installed' || missing+=(npm)
fi

# bcoin from npm, pinned by deploy/bcoin/package.json and package-lock.json
# (see deploy/bcoin/README.md): --ignore-scripts because no native module
# is built (leveldown 5.6.0 ships a prebuilt N-API binary; bcrypto runs with
# NODE_BACKEND=js). Skipped when node_modules matches the lock file already.
install_bcoin() {
  local dir
  dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bcoin
  local stamp=$dir/node_modules/.bmm-lock.sha256 want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -r "$dir/node_modules/bcoin/package.json" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "install-deps: bcoin already installed in $dir/node_modules"
    return 0
  fi
  echo "install-deps: npm ci in $dir (bcoin, pinned by package-lock.json)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  install_bcoin
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian starts the packaged services on install; the project runs its own
# instances on other ports, so stop and disable the system-wide ones when
# a service manager is present. Failure here is harmless.
for svc in redis-server redis-sentinel postgresql litecoind etcd patroni pgbouncer; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
install_bcoin
echo "install-deps: done"
