"""A loopback SMTP server for the email tests (aiosmtpd): accepts AUTH PLAIN/LOGIN for
user/secret without TLS, and writes each message to OUTDIR/N.json (envelope, auth login,
raw content). Usage: smtp_sink.py PORT OUTDIR [CERT KEY]: with a certificate, STARTTLS is
offered and required before MAIL. Prints READY when listening; exits when stdin closes."""
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, outdir = int(sys.argv[1]), sys.argv[2]
count = 0
lock = threading.Lock()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        with lock:
            count += 1
            n = count
        login = session.auth_data
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login.decode() if isinstance(login, bytes) else login,
            "content": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
        }
        path = os.path.join(outdir, f"{n}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"user" and auth_data.password == b"secret"
    # handled=False: aiosmtpd answers 535 itself (its default, True, answers nothing)
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


tls = {}
if len(sys.argv) > 4:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    tls = {"tls_context": context, "require_starttls": True}

controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_require_tls=False,
    **tls,
)
controller.start()
print("READY", flush=True)
sys.stdin.read()
controller.stop()
