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
  # the local stack and the tests' real parts
  postgresql postgresql-client redis-server redis-tools litecoind
  # scripts
  curl jq python3 procps iproute2
  # api_test opens the holders' web page in a headless browser
  chromium
  # the openssl CLI: tests make self-signed certificates for the TLS port
  openssl
  # systemd_test checks deploy/systemd/ (systemd-analyze) and its logrotate file
  systemd logrotate
  # statement_test reads the statements' PDFs (pdftotext) and checks them (qpdf --check)
  poppler-utils qpdf
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
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
for svc in redis-server postgresql litecoind; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done"
