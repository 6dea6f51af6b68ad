#!/usr/bin/env python3
"""Chaos for the whole pipeline: four services, one local broker, SIGKILLs at random moments.

One run publishes user events and membership commands from an outside client (`orbit publish`)
in waves while a killer SIGKILLs a random service (ingest, scorer, members, notify) and restarts
it, at least twice each. When everything has settled, the outputs are checked against a
recomputation written here from the published inputs and the chaos configuration's rules (this
file never calls Orbit's code for an expected value):

- every valid event is on orbit.user-events.valid, repeated only as identical copies, and no
  invalid one is;
- every command has exactly one distinct result, and it is the expected one;
- every member's balance (orbit.member-accounts) equals the recomputed balance;
- `orbit verify ledger` passes;
- the final profiles equal those of an uninterrupted run on the same input;
- every notification on the outbox reached its receiver (mail sink, webhook gateway or the
  in-app inbox), repeats carrying the same key.

Usage: scripts/chaos.sh [--events N] [--commands N] [--kills N] [--seed S] (see README "Chaos").
"""
import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = [("ingest", "orbit-ingest", "ingest.yaml"), ("scorer", "orbit-scorer", "scoring.yaml"),
            ("members", "orbit-members", "membership.yaml"), ("notify", "orbit-notify", "notify.yaml")]
# Consumer groups and what they read: settled when every one has read everything.
GROUPS = {
    "orbit-ingest": ["orbit.user-events"],
    "orbit-scorer": ["orbit.user-events.valid", "orbit-scorer.referral-credits"],
    "orbit-members-router": ["orbit.user-events.valid", "orbit.segment-changes", "orbit.member-commands", "orbit-members.internal"],
    "orbit-members": ["orbit-members.inputs"],
    "orbit-notify-router": ["orbit.user-events.valid", "orbit.segment-changes", "orbit.member-events", "orbit.points-ledger",
                            "orbit.user-profiles", "orbit.member-accounts", "orbit.user-contacts"],
    "orbit-notify-delivery": ["orbit.notifications"],
}
# Topics a service writes to on a timer (clock ticks): a few records of lag there are time passing.
TICKING = {"orbit-members.internal", "orbit-members.inputs"}
OUTPUTS = ["orbit.user-events.valid", "orbit.user-profiles", "orbit.points-ledger", "orbit.member-accounts",
           "orbit.member-events", "orbit.notifications"]

# The chaos run's membership rules: simple enough to recompute by hand, and the recomputation
# below reads its numbers from here.
SIGNUP_POINTS = 100
POINTS_PER_USD = 1
MEMBERSHIP_YAML = f"""
service: {{name: orbit-members, http_port: 0}}
kafka: {{client.id: orbit-members}}
processing: {{guarantee: at_least_once, max_batch_records: 5000, max_batch_wait_ms: 200}}
membership:
  config_version: chaos
  group_id: orbit-members
  evaluation_interval_seconds: 5
  points_currency: USD
  currencies_file: currencies.yaml
  lot_expiry: never
  lock_days: 0
  expiring_soon_days: 14
  allow_negative_balance: false
  refund_window_days: 400
  default_status: active
  statuses: {{active: {{earn: true, spend: true}}}}
  downgrade_grace_days: 30
  levels:
    - {{name: bronze, threshold: 0, points_multiplier: 1.0}}
  rules:
    - {{id: spend, kind: spending, points_per_unit: {POINTS_PER_USD}, minimum_amount: 0}}
    - {{id: signup, kind: event, event: signup, points: {SIGNUP_POINTS}}}
"""


def log(message):
    print(f"chaos: {message}", flush=True)


def fail(message):
    print(f"chaos: FAILED: {message}", flush=True)
    sys.exit(1)


class Stack:
    """The local broker, the mail sink and webhook gateway, and the four services as processes."""

    def __init__(self, args, name):
        self.args = args
        self.home = tempfile.mkdtemp(prefix=f"orbit-chaos-{name}-")
        self.logs = os.path.join(self.home, "logs")
        os.makedirs(self.logs)
        self.config = os.path.join(self.home, "config")
        shutil.copytree(os.path.join(ROOT, "deploy/config"), self.config)
        with open(os.path.join(self.config, "membership.yaml"), "w") as f:
            f.write(MEMBERSHIP_YAML)
        self.processes = {}
        self.env = dict(os.environ, ORBIT_HOME=self.home)
        # The local broker keeps at most 5 MiB per partition and silently drops older records
        # (docs: shared reference, mock.c): enough partitions keep every record of a large run.
        self.broker = self.spawn("broker", [self.bin("orbit"), "broker", "--partitions", str(args.partitions)])
        bootstrap_file = os.path.join(self.home, "bootstrap")
        wait_for(lambda: os.path.exists(bootstrap_file), 60, "the broker's address file")
        self.bootstrap = open(bootstrap_file).read().strip()
        python = os.path.join(ROOT, ".build/test-tools/bin/python")
        if not os.access(python, os.X_OK):
            fail(f"{python} is missing: run scripts/install-deps.sh")
        self.mail_out = os.path.join(self.home, "mail.jsonl")
        self.hooks_out = os.path.join(self.home, "webhooks.jsonl")
        self.mail, mail_port = self.peer(python, "smtp_sink.py", self.mail_out, {})
        self.hooks, hook_port = self.peer(python, "webhook_receiver.py", self.hooks_out, {"ORBIT_WEBHOOK_SECRET": "chaos-secret"})
        self.env.update({
            "ORBIT__KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "ORBIT__KAFKA__SESSION_TIMEOUT_MS": "6000", "ORBIT__KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
            "ORBIT__KAFKA__FETCH_WAIT_MAX_MS": "100",
            "ORBIT__SERVICE__HTTP_PORT": "0", "ORBIT__SERVICE__HTTP_HOST": "127.0.0.1",
            "ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS": "2", "ORBIT__NOTIFY__EVALUATION_INTERVAL_SECONDS": "2",
            "ORBIT__DELIVERY__EMAIL__HOST": "127.0.0.1", "ORBIT__DELIVERY__EMAIL__PORT": str(mail_port),
            "ORBIT__DELIVERY__SMS__URL": f"http://127.0.0.1:{hook_port}/sms",
            "ORBIT__DELIVERY__PUSH__URL": f"http://127.0.0.1:{hook_port}/push",
            "ORBIT_WEBHOOK_SECRET": "chaos-secret",
            # No default quiet hours: the reference and the chaos run must not differ because
            # one of them started after 22:00 UTC and deferred its messages to the morning.
            "ORBIT__NOTIFY__QUIET_HOURS": "",
        })
        for service, _, _ in SERVICES:
            self.start(service)

    def bin(self, name):
        return os.path.join(self.args.bin_dir, name)

    def spawn(self, name, command, env=None):
        out = open(os.path.join(self.logs, f"{name}.log"), "a")
        return subprocess.Popen(command, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT)

    def peer(self, python, script, out, extra):
        process = subprocess.Popen([python, os.path.join(ROOT, "deploy/local", script), "--out", out],
                                   cwd=ROOT, env=dict(self.env, **extra), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = process.stdout.readline().strip()
        if not line.startswith("ready "):
            fail(f"{script} did not start: {line!r}")
        return process, int(line.split()[1])

    def start(self, service):
        executable, config = next((e, c) for s, e, c in SERVICES if s == service)
        self.processes[service] = self.spawn(service, [self.bin(executable), "--config", os.path.join(self.config, config)])

    def kill(self, service):
        process = self.processes[service]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def exited(self):
        """Services that stopped on their own (a SIGKILL of ours is -9, and the killer restarts it)."""
        return {s: p.returncode for s, p in self.processes.items() if p.poll() is not None and p.returncode != -signal.SIGKILL}

    def orbit(self, *arguments, check=True):
        result = subprocess.run([self.bin("orbit"), *arguments, "--bootstrap", self.bootstrap], cwd=ROOT, env=self.env,
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            fail(f"orbit {' '.join(arguments)} exited {result.returncode}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result

    def publish(self, topic, lines, keyed=False):
        path = os.path.join(self.home, f"publish-{time.time_ns()}.jsonl")
        with open(path, "w") as f:
            for line in lines:
                f.write(line + "\n")
        self.orbit("publish", path, "--topic", topic, *(["--keyed"] if keyed else []))

    def lag(self, group, topics):
        out = self.orbit("topics", "lag", "--group", group, *topics).stdout
        return int(out.strip().splitlines()[-1])

    def size(self, topic):
        return self.lag("chaos-probe-never-commits", [topic])

    def settle(self, timeout, quiet=8, skip=()):
        """Every group (but those in `skip`) has read everything, and no output has grown for `quiet` seconds."""
        deadline = time.time() + timeout
        last, since = None, time.time()
        while time.time() < deadline:
            if self.exited():
                fail(f"a service exited on its own: {self.exited()} (logs in {self.logs})")
            behind = {f"{g} {t}": self.lag(g, [t]) for g, topics in GROUPS.items() if g not in skip for t in topics}
            late = {k: n for k, n in behind.items() if n > (16 if k.split()[1] in TICKING else 0)}
            sizes = [self.size(t) for t in OUTPUTS]
            if late or sizes != last:
                last, since = sizes, time.time()
            elif time.time() - since >= quiet:
                return sizes
            time.sleep(1)
        fail(f"the pipeline did not settle in {timeout} s: lag {behind} (logs in {self.logs})")

    def read(self, topic):
        result = self.orbit("tail", topic, "--from-beginning", "--to-end", "--idle-exit", "60")
        records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        first = {}
        for r in records:
            first[r["partition"]] = min(first.get(r["partition"], r["offset"]), r["offset"])
        if any(offset > 0 for offset in first.values()):
            fail(f"the local broker dropped the oldest records of {topic} (it keeps 5 MiB per partition): run with more --partitions")
        return records

    def stop(self):
        for process in list(self.processes.values()) + [self.mail, self.hooks]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in list(self.processes.values()) + [self.mail, self.hooks]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.broker.send_signal(signal.SIGTERM)
        try:
            self.broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.broker.kill()


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


class Workload:
    """The inputs, generated from a seed, and what they must produce."""

    def __init__(self, events, commands, seed):
        rng = random.Random(seed)
        users = max(10, events // 10)
        self.users = [f"chaos-{i:06d}" for i in range(users)]
        now = int(time.time() * 1000)
        self.contacts = [json.dumps({"key": u, "value": {"email": f"{u}@example.com", "locale": "en", "time_zone": "UTC"}}) for u in self.users]
        self.valid_ids = set()
        self.invalid = 0
        self.balance = collections.Counter()
        self.event_waves = []
        lines = []
        for n in range(events):
            user = self.users[n % users] if n < users else rng.choice(self.users)
            eid = f"e-{seed}-{n}"
            at = now - rng.randint(1, 50 * 86_400_000) if n >= users else now - 55 * 86_400_000 - n
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at / 1000)) + f".{at % 1000:03d}Z"
            if n < users:
                event = {"id": eid, "user_id": user, "type": "signup", "time": when}
                self.balance[user] += SIGNUP_POINTS
            elif rng.random() < 0.02:
                lines.append(json.dumps({"id": eid, "user_id": user, "type": "purchase", "time": when}))  # no amount: a dead letter
                self.invalid += 1
                continue
            elif rng.random() < 0.4:
                dollars = rng.randint(1, 300)
                event = {"id": eid, "user_id": user, "type": "purchase", "time": when,
                         "properties": {"order_id": f"o-{eid}", "amount": f"{dollars}.00", "currency": "USD"}}
                self.balance[user] += dollars * POINTS_PER_USD
            else:
                event = {"id": eid, "user_id": user, "type": rng.choice(["login", "check_in", "post", "like"]), "time": when}
            line = json.dumps(event)
            lines.append(line)
            self.valid_ids.add(eid)
            if rng.random() < 0.01:
                lines.append(line)  # a producer's repeat: deduplicated by id
        # Signups first (a member's first input), then the rest in waves.
        # (Producer repeats of signups stay in the signups' wave: grants follow it.)
        signups = [l for l in lines if '"type": "signup"' in l]
        others = [l for l in lines if '"type": "signup"' not in l]
        self.event_waves = [signups] + [w for w in chunks(others, 5) if w]
        # Commands: grants during the events, redemptions after (their outcome depends on the balance).
        self.adjusts, self.redeems, self.expected_results = [], [], {}
        for n in range(commands // 2):
            user = rng.choice(self.users)
            points = rng.randint(1, 50)
            request = {"type": "adjust", "request_id": f"adj-{seed}-{n}", "user_id": user, "points": points, "reason": "chaos", "operator": "chaos"}
            self.adjusts.append(json.dumps(request))
            self.balance[user] += points
            self.expected_results[request["request_id"]] = "accepted"
        self.redeem_rng = rng
        self.redeem_count = commands - commands // 2

    def make_redeems(self, seed):
        """Redemptions against the balances every earlier input gives: some too large (rejected)."""
        rng = self.redeem_rng
        balance = collections.Counter(self.balance)
        for n in range(self.redeem_count):
            user = rng.choice(self.users)
            points = rng.randint(1, max(1, balance[user] // 2)) if rng.random() < 0.8 else balance[user] + rng.randint(1, 100)
            request = {"type": "redeem", "request_id": f"red-{seed}-{n}", "user_id": user, "points": points, "reward_id": "chaos"}
            if points <= balance[user]:
                balance[user] -= points
                self.expected_results[request["request_id"]] = "accepted"
            else:
                self.expected_results[request["request_id"]] = "rejected"
            line = json.dumps(request)
            self.redeems.append(line)
            if rng.random() < 0.02:
                self.redeems.append(line)  # a repeated request: answered with the original result
        self.balance = balance


def chunks(items, parts):
    size = max(1, (len(items) + parts - 1) // parts)
    return [items[i:i + size] for i in range(0, len(items), size)]


class Killer(threading.Thread):
    """SIGKILLs a random service at random moments (each at least twice) and restarts it."""

    def __init__(self, stack, kills, seed, window):
        super().__init__(daemon=True)
        rng = random.Random(seed * 7919)
        plan = [s for s, _, _ in SERVICES] * 2 + [rng.choice([s for s, _, _ in SERVICES]) for _ in range(max(0, kills - 8))]
        rng.shuffle(plan)
        self.plan = plan
        self.rng = rng
        self.stack = stack
        self.window = window
        self.done = collections.Counter()
        self.stopped = threading.Event()

    def run(self):
        gap = self.window / (len(self.plan) + 1)
        for service in self.plan:
            if self.stopped.wait(gap * self.rng.uniform(0.5, 1.5)):
                break
            self.stack.kill(service)
            self.done[service] += 1
            log(f"killed {service} (SIGKILL), restarting")
            time.sleep(self.rng.uniform(0.2, 2.0))
            self.stack.start(service)


def run(args, workload, kills):
    stack = Stack(args, "chaos" if kills else "reference")
    try:
        stack.publish("orbit.user-contacts", workload.contacts, keyed=True)
        killer = Killer(stack, kills, args.seed, args.window) if kills else None
        if killer:
            killer.start()
        started = time.time()
        adjust_waves = chunks(workload.adjusts, len(workload.event_waves))
        for i, wave in enumerate(workload.event_waves):
            stack.publish("orbit.user-events", wave)
            if i == 0:
                stack.settle(args.timeout)  # every member exists before commands name them (they travel another topic)
            if i < len(adjust_waves):
                stack.publish("orbit.member-commands", adjust_waves[i])
            # Waves spread over the window, so kills land while records are moving.
            time.sleep(max(0.0, started + args.window * (i + 1) / (len(workload.event_waves) + 1) - time.time()))
        # Redemptions depend on balances: publish them once every earlier input is applied.
        stack.settle(args.timeout)
        stack.publish("orbit.member-commands", workload.redeems)
        if killer:
            killer.join()
            while sum(killer.done.values()) < len(killer.plan):
                time.sleep(1)
        sizes = stack.settle(args.timeout)
        log(f"{'chaos' if kills else 'reference'} run settled in {time.time() - started:.0f} s: " +
            ", ".join(f"{t} {n}" for t, n in zip(OUTPUTS, sizes)))
        # Every record of every state changelog must still be there, or a restore could have missed
        # state for a reason that is the local broker's, not Orbit's.
        # (Internal topics already consumed, such as the merged inputs, may lose old records harmlessly.)
        starts = [line for line in stack.orbit("topics", "starts").stdout.strip().splitlines()[:-1] if "changelog/" in line]
        if starts:
            fail("the local broker dropped the oldest records of some state changelogs (it keeps 5 MiB per partition): "
                 f"run with more --partitions or fewer events: {'; '.join(starts[:5])}")
        outputs = {t: stack.read(t) for t in ["orbit.user-events.valid", "orbit.user-profiles", "orbit.member-accounts",
                                             "orbit.member-events", "orbit.notifications", "orbit.user-inbox"]}
        ledger = stack.orbit("verify", "ledger", check=False)
        outputs["ledger"] = (ledger.returncode, ledger.stdout)
        outputs["mail"] = [json.loads(l) for l in open(stack.mail_out)] if os.path.exists(stack.mail_out) else []
        outputs["hooks"] = [json.loads(l) for l in open(stack.hooks_out)] if os.path.exists(stack.hooks_out) else []
        outputs["kills"] = dict(killer.done) if killer else {}
        return outputs
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(stack.home, ignore_errors=True)
        else:
            log(f"kept {stack.home}")


def latest(records):
    last = {}
    for r in records:
        last[r["key"]] = r["value"]
    return {k: v for k, v in last.items() if v is not None}


def check(workload, chaos, reference):
    mismatches = []
    repeats = collections.Counter()
    # 1. Every valid event on .valid, copies identical; nothing else.
    copies = collections.defaultdict(list)
    for r in chaos["orbit.user-events.valid"]:
        copies[r["value"]["id"]].append(json.dumps(r["value"], sort_keys=True))
    missing = workload.valid_ids - set(copies)
    extra = set(copies) - workload.valid_ids
    differing = [i for i, c in copies.items() if len(set(c)) > 1]
    repeats["valid events"] = sum(len(c) - 1 for c in copies.values())
    if missing: mismatches.append(f"{len(missing)} valid events missing from .valid, e.g. {sorted(missing)[:3]}")
    if extra: mismatches.append(f"{len(extra)} unexpected events on .valid, e.g. {sorted(extra)[:3]}")
    if differing: mismatches.append(f"{len(differing)} events repeated with other content, e.g. {differing[:3]}")
    # 2. One distinct result per command, the expected one.
    results = collections.defaultdict(set)
    for r in chaos["orbit.member-events"]:
        v = r["value"]
        if v.get("kind") == "command_result":
            results[v["request_id"]].add(json.dumps(v, sort_keys=True))
    repeats["command results"] = sum(1 for r in chaos["orbit.member-events"] if r["value"].get("kind") == "command_result") - len(results)
    wrong_results = collections.Counter()
    examples = {}
    for request, expected in workload.expected_results.items():
        got = results.get(request)
        status = "no result" if not got else f"{len(got)} different results" if len(got) > 1 else json.loads(next(iter(got)))["status"]
        if status != expected:
            wrong_results[(status, expected)] += 1
            examples.setdefault((status, expected), request)
    for (status, expected), n in sorted(wrong_results.items()):
        mismatches.append(f"{n} commands: {status}, expected {expected} (e.g. {examples[(status, expected)]})")
    # 3. Balances equal the recomputation.
    accounts = latest(chaos["orbit.member-accounts"])
    wrong = [(u, accounts.get(u, {}).get("balance"), b) for u, b in workload.balance.items() if accounts.get(u, {}).get("balance") != b]
    for user, got, expected in wrong[:5]:
        mismatches.append(f"{user}: balance {got}, recomputed {expected}")
    if len(wrong) > 5: mismatches.append(f"... {len(wrong)} balances differ in all")
    # 4. orbit verify ledger.
    code, text = chaos["ledger"]
    if code != 0: mismatches.append("orbit verify ledger: " + text.strip().splitlines()[-1])
    # 5. Final profiles equal the uninterrupted run's.
    a, b = latest(chaos["orbit.user-profiles"]), latest(reference["orbit.user-profiles"])
    if len(a) != len(workload.users): mismatches.append(f"{len(a)} profiles for {len(workload.users)} users")
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if differ: mismatches.append(f"{len(differ)} final profiles differ from the uninterrupted run, e.g. {differ[:3]}")
    # 6. Every notification reached its receiver, repeats with the same key.
    outbox = {}
    for r in chaos["orbit.notifications"]:
        outbox[r["value"]["id"]] = r["value"]["channel"]
    received = collections.Counter(m["notification"] for m in chaos["mail"])
    received.update(h.get("idempotency_key") for h in chaos["hooks"])
    received.update(r["key"].split("/", 1)[1] for r in chaos["orbit.user-inbox"] if r["value"] is not None)
    lost = [i for i in outbox if received[i] == 0]
    repeats["notifications received"] = sum(n - 1 for n in received.values() if n > 1)
    if lost: mismatches.append(f"{len(lost)} notifications never reached their receiver, e.g. {lost[:3]}")
    return mismatches, repeats, len(outbox)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--window", type=float, default=120, help="seconds over which events are published and kills happen")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=256,
                        help="partitions per topic: the local broker keeps 5 MiB per partition, and the full run's notify state changelog needs 256")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to settle")
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--keep", action="store_true", help="keep each run's directory (logs, received mail)")
    args = parser.parse_args()
    # SIGTERM (a CI timeout, Ctrl-C from a wrapper) unwinds through the clean-up of every process started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.kills < 8:
        parser.error("--kills must be at least 8 (each service twice)")
    workload = Workload(args.events, args.commands, args.seed)
    workload.make_redeems(args.seed)
    log(f"{args.events} events ({len(workload.valid_ids)} valid, {workload.invalid} invalid) for {len(workload.users)} users, "
        f"{len(workload.adjusts) + len(workload.redeems)} commands, {args.kills} kills over {args.window:.0f} s")
    reference = run(args, workload, kills=0)
    chaos = run(args, workload, kills=args.kills)
    mismatches, repeats, notifications = check(workload, chaos, reference)
    print()
    print("| service | kills |")
    print("|---|---|")
    for service, _, _ in SERVICES:
        print(f"| {service} | {chaos['kills'].get(service, 0)} |")
    print()
    print("| check | repeats seen | mismatches |")
    print("|---|---|---|")
    rows = [("valid events on .valid", repeats["valid events"]), ("one result per command", repeats["command results"]),
            ("balances = recomputation", "-"), ("orbit verify ledger", "-"), ("profiles = uninterrupted run", "-"),
            (f"{notifications} notifications received", repeats["notifications received"])]
    for name, seen in rows:
        print(f"| {name} | {seen} | |")
    print(f"\nmismatches: {len(mismatches)}")
    for m in mismatches:
        print(f"  {m}")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
