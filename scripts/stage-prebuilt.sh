#!/usr/bin/env bash
# Stages the host's executables (release by default; `scripts/stage-prebuilt.sh debug` for the
# debug build), with the Swift runtime libraries they link, in deploy/docker/prebuilt/ for
# `podman build --build-arg BINARIES=prebuilt` (no Swift image here).
set -euo pipefail
cd "$(dirname "$0")/.."
configuration=${1:-release}
case "$configuration" in release|debug) ;; *) echo "stage-prebuilt: the configuration is release or debug" >&2; exit 64 ;; esac
bin=$(swift build -c "$configuration" --show-bin-path)
out=deploy/docker/prebuilt
rm -rf "$out" && mkdir -p "$out/bin" "$out/lib"
for p in orbit orbit-ingest orbit-scorer orbit-members orbit-notify; do
  [ -x "$bin/$p" ] || { echo "stage-prebuilt: $bin/$p is missing: run swift build -c $configuration" >&2; exit 1; }
  cp "$bin/$p" "$out/bin/"
  strip --strip-debug "$out/bin/$p" 2>/dev/null || true
done
# The toolchain's libraries (everything else, librdkafka included, comes from Debian in the image).
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
for p in "$out"/bin/*; do ldd "$p"; done | awk '$3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
  case "$lib" in "$toolchain"/*) cp -L "$lib" "$out/lib/" ;; esac
done
du -sh "$out/bin" "$out/lib" | tr '\n' ' '; echo
