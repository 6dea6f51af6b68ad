#!/usr/bin/env bash
# Installs what Orbit needs beyond the Swift toolchain, and does nothing for what is present:
# - librdkafka (Debian's librdkafka-dev), SQLite (libsqlite3-dev, the disk-backed state store),
#   jemalloc (libjemalloc-dev, the allocator every Orbit process uses) and pkg-config, to build;
# - a Python environment with aiosmtpd (from PyPI) at .build/test-tools: the real SMTP server the
#   notification tests and `orbit demo` deliver mail to, next to Python's own HTTP server for webhooks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_install() {
  [ -z "$SUDO" ] || command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install $*" >&2; exit 1; }
  echo "install-deps: installing $*" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! pkg-config --exists rdkafka 2>/dev/null || [ ! -f /usr/include/librdkafka/rdkafka_mock.h ]; then
  apt_install librdkafka-dev pkg-config
  pkg-config --modversion rdkafka >&2
fi
if ! pkg-config --exists sqlite3 2>/dev/null; then
  apt_install libsqlite3-dev pkg-config
fi
if ! pkg-config --exists jemalloc 2>/dev/null; then
  apt_install libjemalloc-dev pkg-config
fi

tools=.build/test-tools
if ! "$tools/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  command -v python3 >/dev/null || apt_install python3
  python3 -m venv "$tools" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$tools"; }
  "$tools/bin/pip" install -q --disable-pip-version-check 'aiosmtpd==1.4.6' >&2
fi

# The test suite also renders the operations report in a headless browser (OrbitReportTests).
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then
  apt_install chromium
fi
