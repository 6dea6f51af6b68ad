#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd): the local stand-in for Mailpit in `orbit demo` and the notification tests.

Every accepted message is appended as one JSON line to --out: envelope, Message-ID, subject
(decoded) and the decoded text and HTML parts. --fail-first N answers the first N DATA commands
with 451 (transient), --reject SUBSTRING answers RCPT TO addresses containing it with 550.
--starttls CERT KEY offers STARTTLS and requires it before MAIL; --auth USER:PASSWORD requires AUTH.
Prints "ready <port>" when listening; stops on SIGTERM.
"""
import argparse, email, email.header, email.policy, json, signal, socket, ssl, sys, threading
from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, fail_first, reject):
        self.out, self.fail_left, self.reject = out, fail_first, reject
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_type() in ("text/plain", "text/html"):
                parts[part.get_content_type()] = part.get_content()
        record = {"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": session.ssl is not None,
                  "authenticated": bool(getattr(session, "authenticated", False)), "message_id": message["Message-ID"],
                  "subject": str(message["Subject"]), "notification": message["X-Orbit-Notification"],
                  "trigger": message["X-Orbit-Trigger"], "text": parts.get("text/plain", ""), "html": parts.get("text/html", ""),
                  "headers": list(message.keys())}
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "250 2.0.0 queued"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--reject", default="")
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth", metavar="USER:PASSWORD")
    args = ap.parse_args()
    options = {}
    if args.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.starttls)
        options.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            from aiosmtpd.smtp import AuthResult, LoginPassword
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok)
        options.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(args.starttls))
    port = args.port
    if not port:  # aiosmtpd's controller cannot start on port 0: take a free one
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    controller = Controller(Sink(args.out, args.fail_first, args.reject), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print(f"ready {port}", flush=True)
    stop = threading.Event()
    # A parent may start us from a thread that blocks signals (Swift's concurrency threads do).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
