#!/usr/bin/env python3
"""Checks of scripts/compose-test.sh (Python's standard library, plus PyYAML, which Debian's
docker-compose brings):

  panels --prometheus URL DASHBOARD.json...   every panel's queries: known metric names, and data
  settle --orbit BIN --bootstrap B --group G --topic T [--quiet-seconds S] [--timeout S]
                                              wait until G has no lag and T stopped growing
  same-profiles A.jsonl B.jsonl               the last profile of every user is the same in both
  contract --orbit BIN [--topics-list FILE] docker-compose.yml [OVERRIDE.yml]
                                              the compose files against the code
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = {  # compose service -> (executable, configuration file)
    "orbit-ingest": ("orbit-ingest", "ingest.yaml"),
    "orbit-scorer": ("orbit-scorer", "scoring.yaml"),
    "orbit-members": ("orbit-members", "membership.yaml"),
    "orbit-notify": ("orbit-notify", "notify.yaml"),
}


def fail(message):
    print(f"compose check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def prometheus(url, path, **params):
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(body)
    return body["data"]


def panels(args):
    """Every target's metric names exist, and every panel has data (at least one target returns a
    series), retried while scrapes and rate windows fill."""
    problems = []
    for path in args.dashboards:
        dashboard = json.load(open(path))
        deadline = time.time() + args.timeout
        pending = list(dashboard["panels"])
        while pending:
            names = set(prometheus(args.prometheus, "/api/v1/label/__name__/values"))
            still = []
            for panel in pending:
                results = []
                for target in panel["targets"]:
                    expr = target["expr"]
                    metrics = {m for m in re.findall(r"\b(orbit_[a-z0-9_]+|kafka_[a-z0-9_]+)\b", expr)}
                    missing = sorted(m for m in metrics if m not in names)
                    series = prometheus(args.prometheus, "/api/v1/query", query=expr)["result"] if not missing else []
                    results.append((expr, missing, series))
                if any(series for _, _, series in results):
                    shown = next(series for _, _, series in results if series)
                    print(f"  panel {panel['title']!r}: {sum(len(s) for _, _, s in results)} series, e.g. {shown[0]['metric']} = {shown[0]['value'][1]}")
                    for expr, missing, _ in results:
                        if missing:
                            problems.append(f"panel {panel['title']!r}: {expr}: no metric named {', '.join(missing)}")
                else:
                    still.append((panel, results))
            if not still:
                break
            if time.time() > deadline:
                for panel, results in still:
                    problems.append(f"panel {panel['title']!r} has no data: " + "; ".join(
                        f"{expr} ({'unknown ' + ', '.join(missing) if missing else 'empty'})" for expr, missing, _ in results))
                break
            pending = [panel for panel, _ in still]
            time.sleep(3)
    if problems:
        fail("\n  ".join(problems))
    print("compose check: every panel has data")


def lag(args, group, topics):
    out = subprocess.run([args.orbit, "topics", "lag", "--group", group, *topics, "--bootstrap", args.bootstrap],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1])


def settle(args):
    """The group has read everything, and the output topic has not grown for quiet-seconds."""
    deadline = time.time() + args.timeout
    inputs = ["orbit.user-events.valid", "orbit-scorer.referral-credits"] if args.group == "orbit-scorer" else args.inputs
    last, since = None, time.time()
    while time.time() < deadline:
        behind = lag(args, args.group, inputs)
        size = lag(args, "compose-check-probe-never-commits", [args.topic])  # a group without offsets: the topic's size
        # A killed member's partitions have no owner until the group notices (the session
        # timeout): quiet output means nothing until the live members hold every partition.
        owned = assigned(args.health_ports, inputs[0]) if args.health_ports else None
        if owned is not None and len(owned) < args.partitions:
            since = time.time()
        elif behind != 0 or size != last:
            last, since = size, time.time()
        elif time.time() - since >= args.quiet_seconds:
            print(f"compose check: {args.group} settled: lag 0, {args.topic} at {size} records")
            return
        time.sleep(1)
    fail(f"{args.group} did not settle in {args.timeout} s (lag {behind}, {args.topic} at {last})")


def assigned(ports, topic):
    """The partitions of `topic` the services answering /health on `ports` (first-last) hold."""
    first, last = (int(p) for p in ports.split("-"))
    owned = set()
    for port in range(first, last + 1):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                owned.update(p for p in json.load(response).get("assigned_partitions", []) if p.startswith(topic + "/"))
        except (OSError, ValueError):
            continue
    return owned


def last_values(path):
    last = {}
    for line in open(path):
        if line.strip():
            record = json.loads(line)
            last[record["key"]] = record["value"]
    return last


def same_profiles(args):
    a, b = last_values(args.a), last_values(args.b)
    if not a:
        fail(f"no profiles in {args.a}")
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    differing = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    if missing or extra or differing:
        detail = []
        if missing: detail.append(f"{len(missing)} users missing, e.g. {missing[:3]}")
        if extra: detail.append(f"{len(extra)} users extra, e.g. {extra[:3]}")
        for k in differing[:3]:
            fields = sorted(f for f in set(a[k]) | set(b[k]) if a[k].get(f) != b[k].get(f))
            detail.append(f"{k}: {', '.join(f'{f}: {a[k].get(f)!r} vs {b[k].get(f)!r}' for f in fields)}")
        fail(f"final profiles differ ({len(differing)} differ): " + "; ".join(detail))
    print(f"compose check: the final profiles of {len(a)} users are identical")


def stand_in_key():
    import tempfile
    path = os.path.join(tempfile.gettempdir(), f"orbit-compose-check-{os.getpid()}.key")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(os.urandom(32))
        import atexit
        atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return path


def contract(args):
    import yaml  # Debian's docker-compose depends on python3-yaml
    base = yaml.safe_load(open(args.files[0]))
    services = base["services"]
    problems = []
    for name in ["kafka", "topic-init", *SERVICES, "mailpit", "prometheus", "grafana"]:
        if name not in services:
            problems.append(f"service {name} is missing")
    scorer = services.get("orbit-scorer", {})
    for key in ("container_name", "ports", "hostname"):
        if key in scorer:
            problems.append(f"orbit-scorer has {key}: it cannot be scaled with --scale orbit-scorer=3")
    dockerfile = open(os.path.join(ROOT, "deploy/docker/Dockerfile")).read()
    workdir = re.findall(r"^WORKDIR\s+(\S+)", dockerfile, re.M)[-1]
    if not re.search(r"^USER\s+(?!root)\S+", dockerfile, re.M):
        problems.append("the Dockerfile's image does not run as a non-root user")
    if "HEALTHCHECK" not in dockerfile:
        problems.append("the Dockerfile has no HEALTHCHECK")
    scrape = yaml.safe_load(open(os.path.join(ROOT, "deploy/prometheus/prometheus.yml")))
    scrape_ports = {job["job_name"]: {sd["port"] for sd in job.get("dns_sd_configs", [])} for job in scrape["scrape_configs"]}
    bin_dir = os.path.dirname(args.orbit)
    for name, (executable, config) in SERVICES.items():
        service = services.get(name, {})
        if service.get("command", [None])[0] != executable:
            problems.append(f"{name}: command {service.get('command')} does not run {executable}")
        if not service.get("init"):
            problems.append(f"{name}: init: true is missing (SIGTERM as PID 1)")
        if not service.get("restart"):
            problems.append(f"{name}: no restart policy")
        mounts = [v for v in service.get("volumes", []) if isinstance(v, str)]
        if not any(v.split(":")[1] == f"{workdir}/deploy/config" for v in mounts if v.startswith("./deploy/config:")):
            problems.append(f"{name}: ./deploy/config is not mounted at {workdir}/deploy/config (the image's WORKDIR)")
        environment = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        port = environment.get("ORBIT__SERVICE__HTTP_PORT")
        if port is None or int(port) not in scrape_ports.get(name, set()):
            problems.append(f"{name}: listens on {port}, Prometheus scrapes {sorted(scrape_ports.get(name, []))}")
        for layer in args.files:
            merged = dict(environment)
            if layer != args.files[0]:
                override = (yaml.safe_load(open(layer))["services"].get(name) or {}).get("environment") or {}
                merged.update({k: str(v) for k, v in override.items()})
            # Every ORBIT__ key must be a setting the service knows: the service itself says so.
            env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT__")}
            env.update({k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", v) for k, v in merged.items()})
            # The shared pseudonym key exists only in its volume: the check reads a stand-in.
            if env.get("ORBIT__PRIVACY__PSEUDONYM_KEY_FILE", "").startswith("/var/lib/orbit-secrets/"):
                env["ORBIT__PRIVACY__PSEUDONYM_KEY_FILE"] = stand_in_key()
            check = subprocess.run([os.path.join(bin_dir, executable), "--config", f"deploy/config/{config}", "--check-config"],
                                   cwd=ROOT, env=env, capture_output=True, text=True)
            if check.returncode != 0:
                problems.append(f"{name} ({os.path.basename(layer)}): {check.stderr.strip() or check.stdout.strip()}")
    # The local broker's rebalances wait session.timeout.ms - 1 s: the override for it must carry
    # LocalProfile's short session, or one lost SyncGroup race costs 44 s (docs/BENCHMARKS.md).
    for layer in args.files[1:]:
        for name in SERVICES:
            override = (yaml.safe_load(open(layer))["services"].get(name) or {}).get("environment") or {}
            if str(override.get("ORBIT__KAFKA__SESSION_TIMEOUT_MS", "")) != "6000":
                problems.append(f"{os.path.basename(layer)}: {name} does not set ORBIT__KAFKA__SESSION_TIMEOUT_MS: 6000 (LocalProfile) for the local broker")
    init = services.get("topic-init", {}).get("command", [])
    if init[:3] != ["orbit", "topics", "create"]:
        problems.append(f"topic-init does not run `orbit topics create`: {init}")
    # One pseudonym key for every service: made by privacy-key-init where the services read it.
    key_init = services.get("privacy-key-init", {})
    key_command = key_init.get("command", [])
    if key_command[:2] != ["orbit", "privacy-key"] or len(key_command) != 3:
        problems.append(f"privacy-key-init does not run `orbit privacy-key FILE`: {key_command}")
    else:
        key_dir = os.path.dirname(key_command[2])
        if not any(isinstance(v, str) and v.count(":") >= 1 and v.split(":")[1] == key_dir and not v.endswith(":ro") for v in key_init.get("volumes", [])):
            problems.append(f"privacy-key-init does not write a volume at {key_dir}")
        for name in SERVICES:
            service = services.get(name, {})
            key_file = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str((service.get("environment") or {}).get("ORBIT__PRIVACY__PSEUDONYM_KEY_FILE", "")))
            if key_file != key_command[2]:
                problems.append(f"{name}: ORBIT__PRIVACY__PSEUDONYM_KEY_FILE is {key_file or 'unset'}, not the shared key {key_command[2]}")
            if not any(isinstance(v, str) and v.count(":") >= 1 and v.split(":")[1] == key_dir for v in service.get("volumes", [])):
                problems.append(f"{name}: the pseudonym key's volume is not mounted at {key_dir}")
    if args.topics_list:
        catalogue = {}
        for line in open(args.topics_list):
            parts = line.split()
            if len(parts) == 2:
                catalogue[parts[0]] = parts[1]
        for topic, count in catalogue.items():
            if count == "missing":
                problems.append(f"topic {topic} was not created")
        for _, config in SERVICES.values():
            text = open(os.path.join(ROOT, "deploy/config", config)).read()
            section = yaml.safe_load(text).get("topics") or {}
            for key, topic in section.items():
                if isinstance(topic, str) and topic not in catalogue:
                    problems.append(f"deploy/config/{config}: topics.{key} = {topic} is not an Orbit topic `orbit topics create` makes")
    if problems:
        fail("\n  ".join(problems))
    print(f"compose check: {', '.join(os.path.basename(f) for f in args.files)} agree with the code "
          f"({len(services)} services; commands, ports, init, restart, config mount and every ORBIT__ setting checked)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("panels"); p.add_argument("--prometheus", required=True); p.add_argument("--timeout", type=float, default=90)
    p.add_argument("dashboards", nargs="+"); p.set_defaults(run=panels)
    p = sub.add_parser("settle"); p.add_argument("--orbit", required=True); p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True); p.add_argument("--topic", required=True); p.add_argument("--inputs", nargs="*", default=[])
    p.add_argument("--quiet-seconds", type=float, default=8); p.add_argument("--timeout", type=float, default=240)
    p.add_argument("--health-ports", help="first-last: also wait until the services there hold every input partition")
    p.add_argument("--partitions", type=int, default=12); p.set_defaults(run=settle)
    p = sub.add_parser("same-profiles"); p.add_argument("a"); p.add_argument("b"); p.set_defaults(run=same_profiles)
    p = sub.add_parser("contract"); p.add_argument("--orbit", required=True); p.add_argument("--topics-list")
    p.add_argument("files", nargs="+"); p.set_defaults(run=contract)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
