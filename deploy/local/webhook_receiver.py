#!/usr/bin/env python3
"""A real HTTP webhook receiver: the local stand-in for an SMS or push gateway in `orbit demo` and the tests.

Checks each request's X-Orbit-Signature (t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">) with the
secret in $ORBIT_WEBHOOK_SECRET; a bad or missing signature is answered 401 and not recorded.
Valid requests are appended as JSON lines to --out (idempotency key, path, the body, the arrival
time). --fail-first N answers the first N valid requests with 500; --status CODE answers every
request with CODE.

A request with X-Orbit-WeCom-Signature is a WeCom private message: its signature is WeCom's own
(hex SHA-1 of the token in $ORBIT_WEBHOOK_SECRET, X-Orbit-WeCom-Timestamp, X-Orbit-WeCom-Nonce and
the body, sorted and joined), and it is answered as WeCom answers: 200 with {"errcode":0}; under
--fail-first, {"errcode":45009} (the frequency limit).
Prints "ready <port>"; stops on SIGTERM.
"""
import argparse, hashlib, hmac, json, os, signal, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"fail_left": 0}


def make_handler(args, secret):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.headers.get("X-Orbit-WeCom-Signature") is not None:
                return self.wecom(body)
            signature = self.headers.get("X-Orbit-Signature", "")
            fields = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
            expected = hmac.new(secret, f"{fields.get('t', '')}.".encode() + body, hashlib.sha256).hexdigest()
            fresh = fields.get("t", "").isdigit() and abs(time.time() - int(fields["t"])) < 300
            if not fresh or not hmac.compare_digest(expected, fields.get("v1", "")):
                return self.answer(401, b"bad signature")
            if args.status:
                return self.answer(args.status, b"configured status")
            with lock:
                if state["fail_left"] > 0:
                    state["fail_left"] -= 1
                    return self.answer(500, b"try again")
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key"),
                                        "body": json.loads(body)}, ensure_ascii=False) + "\n")
            self.answer(200, b"ok")

        def wecom(self, body):
            stamp = self.headers.get("X-Orbit-WeCom-Timestamp", "")
            nonce = self.headers.get("X-Orbit-WeCom-Nonce", "")
            parts = sorted([secret.decode(), stamp, nonce, body.decode()])
            expected = hashlib.sha1("".join(parts).encode()).hexdigest()
            fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
            if not fresh or not hmac.compare_digest(expected, self.headers.get("X-Orbit-WeCom-Signature", "")):
                return self.answer(401, b"bad signature")
            with lock:
                if state["fail_left"] > 0:
                    state["fail_left"] -= 1
                    return self.answer(200, b'{"errcode":45009,"errmsg":"api freq out of limit"}')
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key"), "at": time.time(),
                                        "body": json.loads(body)}, ensure_ascii=False) + "\n")
            self.answer(200, b'{"errcode":0,"errmsg":"ok"}')

        def answer(self, code, text):
            self.send_response(code)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--status", type=int, default=0)
    args = ap.parse_args()
    state["fail_left"] = args.fail_first
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args, os.environ["ORBIT_WEBHOOK_SECRET"].encode()))
    print(f"ready {server.server_address[1]}", flush=True)
    # A parent may start us from a thread that blocks signals (Swift's concurrency threads do).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
