#!/usr/bin/env bash
# The compose stack, for real, on a machine without a Docker daemon or a registry (podman with
# Debian's docker-compose; see docs/DEPLOY.md). Run by .ci/run. Steps:
#   1. build the Orbit image from deploy/docker/Dockerfile (host-compiled binaries, local base);
#   2. bring up docker-compose.yml with deploy/compose/local.yml (local broker, Debian Prometheus);
#   3. publish the demo population as an outside system would, and
#   4. check every service's output (`orbit demo --attach`);
#   5. on a fresh stack with 3 scorers, replay the scorer's inputs (valid events, attributes, member events), SIGKILL one scorer, and
#      require the final profiles to equal the single scorer's;
#   6. run every Grafana panel's PromQL against Prometheus and require data;
#   7. validate docker-compose.yml and check it against the code (scripts/compose_check.py);
#   8. remove every container, network and volume it made (the base images stay cached).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/containers.sh

project=orbit-compose-test
export ORBIT_IMAGE=localhost/orbit:compose-test
export ORBIT_PARTITIONS=12
work=$(mktemp -d /tmp/orbit-compose-test.XXXXXX)
compose() { docker-compose -p "$project" -f docker-compose.yml -f deploy/compose/local.yml "$@"; }
log() { printf '[compose-test %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
started=$(date +%s)

cleanup() {
  local rc=$?
  if [ -n "${DOCKER_HOST:-}" ]; then
    if [ $rc -ne 0 ]; then
      compose logs --no-color >"$work/logs.txt" 2>&1 || true
      tail -60 "$work/logs.txt" >&2
      rm -rf /tmp/orbit-compose-test.failed && cp -r "$work" /tmp/orbit-compose-test.failed
      echo "compose test: FAILED; logs and records kept in /tmp/orbit-compose-test.failed" >&2
    fi
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  containers_api_stop
  podman image prune -f >/dev/null 2>&1 || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

log "step 0: tools and the local base image"
scripts/install-deps.sh
containers_install
containers_base_image
# ORBIT_COMPOSE_BUILD=debug (scripts/test.sh sets it) stages the debug executables the tests
# already built instead of compiling a release build: this test checks the image, the compose
# wiring, health, scaling and the dashboards, not speed, and the release build was the longest
# step of CI. The default, release, is what the image ships.
configuration=${ORBIT_COMPOSE_BUILD:-release}
swift build -c "$configuration" >/dev/null
scripts/stage-prebuilt.sh "$configuration" >/dev/null
orbit=$(swift build -c "$configuration" --show-bin-path)/orbit

log "step 1: the Orbit image (deploy/docker/Dockerfile, BINARIES=prebuilt)"
podman build -q --format docker -f deploy/docker/Dockerfile \
  --build-arg BINARIES=prebuilt --build-arg SWIFT_IMAGE="$ORBIT_BASE_IMAGE" --build-arg RUNTIME_IMAGE="$ORBIT_BASE_IMAGE" \
  -t "$ORBIT_IMAGE" . >/dev/null
podman run --rm "$ORBIT_IMAGE" sh -c 'id -u && orbit-scorer --help >/dev/null; test $? -le 1' | grep -qx 10001 \
  || { echo "the image must run as the non-root user orbit (10001)" >&2; exit 1; }
podman image exists localhost/orbit-prometheus:local \
  || podman build -q -f deploy/compose/prometheus.Containerfile --build-arg BASE_IMAGE="$ORBIT_BASE_IMAGE" -t localhost/orbit-prometheus:local deploy/compose >/dev/null
containers_api_start

bootstrap() {  # the local broker's address, from the volume the stack shares
  local id; id=$(compose ps -q local-broker)
  for _ in $(seq 150); do
    b=$(podman exec "$id" cat /var/lib/orbit/bootstrap 2>/dev/null || true)
    [ -n "$b" ] && { echo "$b"; return 0; }
    sleep 0.2
  done
  echo "the local broker wrote no address" >&2; return 1
}
up() {  # the order local.yml documents: broker and Prometheus, topics, then the services
  compose up -d --no-build --no-deps local-broker local-prometheus 2>>"$work/up.log" || { cat "$work/up.log" >&2; return 1; }
  B=$(bootstrap)
  # The pseudonym key every service reads from the orbit-secrets volume, made once as the image's user.
  compose up --no-build --no-deps --exit-code-from privacy-key-init privacy-key-init >"$work/privacy-key-init.log" 2>&1 || { cat "$work/privacy-key-init.log" >&2; return 1; }
  compose up --no-build --no-deps --exit-code-from topic-init topic-init >"$work/topic-init.log" 2>&1 || { cat "$work/topic-init.log" >&2; return 1; }
  compose up -d --no-deps "$@" orbit-ingest orbit-scorer orbit-members orbit-notify 2>>"$work/up.log" || { cat "$work/up.log" >&2; return 1; }
  wait_healthy
}
wait_healthy() {  # every running Orbit container answers /health/live (podman runs no health timers here)
  local deadline=$(( $(date +%s) + 120 )) unhealthy=""
  while [ "$(date +%s)" -lt $deadline ]; do
    unhealthy=""
    for id in $(compose ps -q orbit-ingest orbit-scorer orbit-members orbit-notify); do
      podman exec "$id" orbit-healthcheck || unhealthy="$unhealthy $(podman inspect --format '{{.Name}}' "$id")"
    done
    [ -z "$unhealthy" ] && return 0
    sleep 1
  done
  echo "services not healthy in 120 s:$unhealthy" >&2
  for name in $unhealthy; do podman exec "$name" bash -c 'printf "GET /health HTTP/1.0\r\n\r\n" | timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/${ORBIT__SERVICE__HTTP_PORT}; cat >&3; cat <&3"' >&2 || true; done
  return 1
}

log "step 2: the stack (one scorer)"
up --no-build
compose ps
"$orbit" topics list --bootstrap "$B" >"$work/topics.txt"

log "step 3-4: publish the demo population from the host and check every service's output"
"$orbit" demo --attach --bootstrap "$B" --users 300 --mail-port 2525 --gateway-port 8095 --timeout 240 | tee "$work/demo.txt"
grep -q "orbit demo: OK" "$work/demo.txt"

log "step 6: every Grafana panel's query has data"
python3 scripts/compose_check.py panels --prometheus http://127.0.0.1:19090 deploy/grafana/dashboards/*.json

# The single scorer's final profiles, and the inputs that made them: valid events, attributes
# and membership's level and plan changes (those come partly from the demo's member commands).
"$orbit" tail orbit.user-events.valid --from-beginning --idle-exit 3 --bootstrap "$B" >"$work/valid.jsonl"
"$orbit" tail orbit.user-attributes --from-beginning --idle-exit 3 --bootstrap "$B" >"$work/attributes.jsonl"
"$orbit" tail orbit.member-events --from-beginning --idle-exit 3 --bootstrap "$B" >"$work/member-events.jsonl"
"$orbit" tail orbit.user-profiles --from-beginning --idle-exit 3 --bootstrap "$B" >"$work/profiles-1.jsonl"
python3 -c 'import json,sys; [print(json.dumps(json.loads(l)["value"], separators=(",",":"))) for l in open(sys.argv[1])]' "$work/valid.jsonl" >"$work/valid-events.jsonl"

log "step 5: a fresh stack with 3 scorers, the same scorer inputs, one scorer SIGKILLed"
compose down -v >/dev/null 2>&1
up --no-build --scale orbit-scorer=3
[ "$(compose ps -q orbit-scorer | wc -l)" = 3 ] || { echo "expected 3 scorers" >&2; exit 1; }
# orbit-members stops: the scorers read the first run's member events, not ones made again
# without the demo's commands.
compose stop orbit-members >/dev/null
"$orbit" publish "$work/attributes.jsonl" --keyed --topic orbit.user-attributes --bootstrap "$B"
"$orbit" publish "$work/member-events.jsonl" --keyed --topic orbit.member-events --bootstrap "$B"
"$orbit" publish "$work/valid-events.jsonl" --topic orbit.user-events.valid --bootstrap "$B"
victim=$(compose ps -q orbit-scorer | sed -n 1p)  # sed reads to the end: head would SIGPIPE compose under pipefail (exit 141)
log "SIGKILL scorer ${victim:0:12}"
podman kill --signal KILL "$victim" >/dev/null
python3 scripts/compose_check.py settle --orbit "$orbit" --bootstrap "$B" --group orbit-scorer --topic orbit.user-profiles \
  --health-ports 9110-9117 --partitions "$ORBIT_PARTITIONS" --quiet-seconds 8 --timeout 240
"$orbit" tail orbit.user-profiles --from-beginning --idle-exit 3 --bootstrap "$B" >"$work/profiles-3.jsonl"
python3 scripts/compose_check.py same-profiles "$work/profiles-1.jsonl" "$work/profiles-3.jsonl"

log "step 7: docker-compose.yml against the code"
docker-compose -f docker-compose.yml config -q
python3 scripts/compose_check.py contract --orbit "$orbit" --topics-list "$work/topics.txt" docker-compose.yml deploy/compose/local.yml

log "step 8: clean up"
compose down -v --remove-orphans >/dev/null 2>&1
left=$(podman ps -a --filter "label=com.docker.compose.project=$project" -q | wc -l)
[ "$left" = 0 ] || { echo "$left containers left behind" >&2; exit 1; }
log "compose test: OK in $(( $(date +%s) - started )) s"
