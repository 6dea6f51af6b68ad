#!/usr/bin/env python3
"""A flood: 10x the input rate the whole pipeline sustains, for 60 s, then its catch-up.

The four services and the local broker run as processes (as in scripts/chaos.py). The script
first measures the rate the pipeline sustains (a calibration wave, from publish to settled), then
publishes new events for a fixed population at ten times that rate for 60 s, and samples every
service's resident memory (VmRSS) twice a second: idle (after the population's first events),
peak (during the flood and the catch-up) and after. Memory must stay bounded (the runtime's
batches and in-flight work are bounded; the state grows with users, not with events), and the
pipeline must catch up: every flooded event reaches `.valid` and every service's lag returns to 0.

Usage: scripts/flood.sh [--users N] [--factor 10] [--seconds 60]
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import ROOT, SERVICES, Stack, log, fail  # noqa: E402


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.peak = {}
        self.last = {}
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.5):
            for name, process in list(self.stack.processes.items()) + [("broker", self.stack.broker)]:
                kib = rss_kib(process.pid)
                if kib is not None:
                    self.last[name] = kib
                    self.peak[name] = max(self.peak.get(name, 0), kib)

    def reset_peak(self):
        self.peak = dict(self.last)


def events(users, count, prefix, rng, now):
    lines = []
    for n in range(count):
        user = users[rng.randrange(len(users))]
        at = now - rng.randrange(1, 30 * 86_400_000)
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at / 1000)) + f".{at % 1000:03d}Z"
        if rng.random() < 0.3:
            lines.append(f'{{"id":"{prefix}-{n}","user_id":"{user}","type":"purchase","time":"{when}",'
                         f'"properties":{{"order_id":"o-{prefix}-{n}","amount":"{rng.randint(1, 300)}.00","currency":"USD"}}}}')
        else:
            lines.append(f'{{"id":"{prefix}-{n}","user_id":"{user}","type":"login","time":"{when}"}}')
    return lines


def write(stack, lines, name):
    path = os.path.join(stack.home, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--calibration", type=int, default=100_000, help="events of the calibration wave")
    parser.add_argument("--factor", type=float, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--partitions", type=int, default=256,
                        help="partitions per topic: the local broker keeps 5 MiB per partition and drops older records, read or not, so the flood's backlog must fit")
    parser.add_argument("--window", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # SIGTERM (a CI timeout, Ctrl-C from a wrapper) unwinds through the clean-up of every process started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rng = random.Random(7)
    now = int(time.time() * 1000)
    stack = Stack(args, "flood")
    sampler = Sampler(stack)
    sampler.start()
    try:
        users = [f"flood-{i:06d}" for i in range(args.users)]
        contacts = [json.dumps({"key": u, "value": {"email": f"{u}@example.com", "locale": "en", "time_zone": "UTC"}}) for u in users]
        stack.publish("orbit.user-contacts", contacts, keyed=True)
        signups = []
        for i, u in enumerate(users):
            at = now - 40 * 86_400_000 - i
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at / 1000)) + f".{at % 1000:03d}Z"
            signups.append(f'{{"id":"signup-{u}","user_id":"{u}","type":"signup","time":"{when}"}}')
        stack.publish("orbit.user-events", signups)
        stack.settle(args.timeout)
        # Calibration: the rate the whole pipeline sustains, from publish to settled. Mail
        # delivery is left out: it runs at the pace of the mail server (here a Python SMTP sink
        # that takes a few hundred messages a second), not Orbit's, and waits on the outbox topic,
        # not in memory. The catch-up below waits for it too.
        calibration = events(users, args.calibration, "cal", rng, now)
        path = write(stack, calibration, "calibration.jsonl")
        started = time.time()
        stack.orbit("publish", path)
        stack.settle(args.timeout, quiet=3, skip=("orbit-notify-delivery",))
        sustained = args.calibration / (time.time() - started - 3)
        time.sleep(5)
        idle = dict(sampler.last)
        log(f"the pipeline sustains {sustained:,.0f} events/s (calibration: {args.calibration:,} events); idle RSS " +
            ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in sorted(idle.items())))
        # The flood: one file per second, each published on schedule (not waiting for the last).
        per_second = int(sustained * args.factor)
        files = [write(stack, events(users, per_second, f"flood{s}", rng, now), f"flood-{s}.jsonl") for s in range(args.seconds)]
        total = per_second * args.seconds
        log(f"flooding: {per_second:,} events/s ({args.factor:g}x) for {args.seconds} s, {total:,} events")
        sampler.reset_peak()
        flood_start = time.time()
        publishers = []
        for s, file in enumerate(files):
            time.sleep(max(0.0, flood_start + s - time.time()))
            publishers.append(subprocess.Popen([stack.bin("orbit"), "publish", file, "--bootstrap", stack.bootstrap],
                                               cwd=ROOT, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in publishers:
            if p.wait() != 0:
                fail("a publisher failed")
        published_in = time.time() - flood_start
        log(f"published {total:,} events in {published_in:.0f} s ({total / published_in:,.0f}/s); catching up")
        stack.settle(args.timeout, quiet=5)
        caught_up = time.time() - flood_start
        valid = stack.size("orbit.user-events.valid")
        expected = args.users + args.calibration + total
        time.sleep(3)
        after = dict(sampler.last)
        print()
        print(f"flood: {total:,} events at {args.factor:g}x the sustained {sustained:,.0f}/s for {args.seconds} s; "
              f"caught up {caught_up:.0f} s after the flood began; .valid holds {valid:,} of {expected:,} events")
        print()
        print("| process | idle RSS | peak RSS (flood + catch-up) | after | peak / idle |")
        print("|---|---|---|---|---|")
        for name in [s for s, _, _ in SERVICES] + ["broker"]:
            i, p, a = idle.get(name, 0), sampler.peak.get(name, 0), after.get(name, 0)
            print(f"| {name} | {i / 1024:.0f} MiB | {p / 1024:.0f} MiB | {a / 1024:.0f} MiB | {p / max(i, 1):.2f} |")
        print("\n(the broker is librdkafka's mock cluster: it keeps every record in memory, so it grows with the data by design)")
        if valid < expected:
            fail(f".valid holds {valid} events, expected at least {expected}")
    finally:
        sampler.stopped.set()
        stack.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(stack.home, ignore_errors=True)


if __name__ == "__main__":
    main()
