#!/usr/bin/env bash
# Installs what Orbit needs beyond the Swift toolchain: librdkafka (Debian's librdkafka-dev) and
# pkg-config. Safe to run again: it does nothing when both are present.
set -euo pipefail

if pkg-config --exists rdkafka 2>/dev/null && [ -f /usr/include/librdkafka/rdkafka_mock.h ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install librdkafka-dev" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing librdkafka-dev and pkg-config" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq librdkafka-dev pkg-config >/dev/null
pkg-config --modversion rdkafka >&2
