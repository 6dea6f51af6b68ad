#!/usr/bin/env bash
# Container tooling without a Docker daemon or a registry (see docs/DEPLOY.md): podman with runc,
# a Debian base image made by debootstrap (built once, kept in podman's store), and Debian's
# docker-compose over podman's Docker-compatible socket. Sourced by scripts/compose-test.sh.
#
#   containers_install          podman, runc, debootstrap, docker-compose and their configuration
#   containers_base_image       localhost/debian-base:bookworm, unless podman already has it
#   containers_api_start        podman's API socket for docker-compose; sets DOCKER_HOST
#   containers_api_stop

ORBIT_BASE_IMAGE=${ORBIT_BASE_IMAGE:-localhost/debian-base:bookworm}

containers_install() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  # `init: true` runs catatonit, only a recommendation of Debian's podman (installed without them).
  [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "containers: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # podman 4.3's defaults fail on these machines three ways (nofile and nproc limits above what
  # root may set, crun without cgroups v2): raise nothing, and run with runc.
  if ! grep -qs 'runtime = "runc"' /etc/containers/containers.conf; then
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
  fi
}

containers_base_image() {
  podman image exists "$ORBIT_BASE_IMAGE" && return 0
  local mirror rootfs
  mirror=$(grep -rhoE '^(deb|URIs:) +\S+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | awk '{print $2}' | grep -E '/debian/?$' | grep -v security | head -1 || true)  # no sources.list (deb822 only) is not an error
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  rootfs=$(mktemp -d /tmp/orbit-rootfs.XXXXXX)
  echo "containers: building $ORBIT_BASE_IMAGE with debootstrap from $mirror" >&2
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -20 "$rootfs.log" >&2
    rm -rf "$rootfs" "$rootfs.log"
    return 1
  fi
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$ORBIT_BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

containers_api_start() {
  mkdir -p /run/podman
  CONTAINERS_SOCKET=${CONTAINERS_SOCKET:-/run/podman/orbit-compose-$$.sock}
  podman system service --time=0 "unix://$CONTAINERS_SOCKET" >/dev/null 2>&1 &
  CONTAINERS_API_PID=$!
  export DOCKER_HOST="unix://$CONTAINERS_SOCKET"
  for _ in $(seq 100); do [ -S "$CONTAINERS_SOCKET" ] && return 0; sleep 0.1; done
  echo "containers: podman's API did not start" >&2
  return 1
}

containers_api_stop() {
  [ -n "${CONTAINERS_API_PID:-}" ] && kill "$CONTAINERS_API_PID" 2>/dev/null && wait "$CONTAINERS_API_PID" 2>/dev/null
  rm -f "${CONTAINERS_SOCKET:-}"
  CONTAINERS_API_PID=
}
