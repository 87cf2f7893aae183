#!/usr/bin/python3
"""sink.py - an SMTP server that keeps what it is sent (aiosmtpd), for smtp-relay tests.

usage: sink.py --port P --dir D [--pidfile F] [--script FILE] [--no-8bitmime]
               [--no-smtputf8] [--tls-cert C --tls-key K] [--require-tls]
               [--auth USER:PASS] [--size N] [--hostname H] [--host ADDR] [-v]

Listens on 127.0.0.1:P (--host H: on H:P).  Start it in the background; the pid file is written
(atomically) only once the socket listens, so wait for the file, then talk.
SIGTERM or SIGINT: stop listening, remove the pid file, exit 0.

Every accepted message n = 1, 2, ... (numbering goes on from the files already
in D when the sink is restarted on the same D):
  D/<n>.eml  the DATA content exactly as received, after un-dot-stuffing,
             CRLF line ends kept, without the final ".";
  D/<n>.env  JSON: mail_from, rcpt_tos, mail_options (as aiosmtpd parsed them:
             upper-cased), rcpt_options (one list per recipient), peer
             ("127.0.0.1:PORT"), helo, tls (true/false), auth (user or null).
  D/attempts the number of DATA ends seen (accepted or refused), rewritten
             after the .eml/.env of that DATA are in place: wait on it.
All three are written to a temporary name and renamed: never seen half-done.

--script FILE makes it misbehave on command, one rule a line (# comments):
  rcpt ADDRESS REPLY   REPLY to every RCPT of ADDRESS (case-insensitive)
  mail REPLY           } consumed in order, one use per line: two "data 451 ..."
  data REPLY           } lines = the first two DATA ends get 451, then 250.
  greet REPLY          } mail: the next MAIL; greet: the next connection
e.g. "rcpt bob@b.test 550 5.1.1 no such user", "data 451 4.3.0 try later",
"mail 421 4.3.2 shutting down", "greet 554 5.3.2 go away"; the reply "pass"
uses up its turn doing what the sink does anyway ("mail pass" twice, then
"mail 421 ...": the third MAIL gets the 421).  After any 421
reply the sink closes the connection (RFC 5321 3.8).  After a 554 greeting it
answers 503 to everything but QUIT (RFC 5321 3.1).

--no-8bitmime   do not offer 8BITMIME; MAIL ... BODY=8BITMIME then gets 555
--no-smtputf8   do not offer SMTPUTF8 (aiosmtpd: MAIL ... SMTPUTF8 gets 501)
--tls-cert/-key offer STARTTLS; --require-tls: 530 to mail commands before it
--auth U:P      offer AUTH PLAIN LOGIN (after STARTTLS when TLS is on, in the
                clear otherwise) and require it: MAIL before AUTH gets 530
--size N        the SIZE limit (default 33554432; 0: no SIZE, no limit)

What aiosmtpd (1.4) itself does, that a test may meet: no CHUNKING, no
PIPELINING keyword (it still reads pipelined commands correctly), no DSN; MAIL
takes only SIZE, BODY, SMTPUTF8 (anything else: 555), RCPT takes no
parameters (555); text lines over 1000 octets: 500 at the end of DATA.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.controller import UnthreadedController
from aiosmtpd.smtp import SMTP, AuthResult


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def parse_script(path):
    """The rules of --script: {address: reply} for rcpt, queues for the rest."""
    rcpt, queues = {}, {"mail": [], "data": [], "greet": []}
    with open(path, encoding="utf-8") as f:
        for num, line in enumerate(f, 1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            kind = words[0].lower()
            if kind == "rcpt" and len(words) >= 3:
                rcpt[words[1].lower()] = " ".join(words[2:])
            elif kind in queues and len(words) >= 2:
                queues[kind].append(" ".join(words[1:]))
            else:
                sys.exit("sink.py: %s:%d: not a rule: %s" % (path, num, line.strip()))
            reply = rcpt.get(words[1].lower()) if kind == "rcpt" else queues[kind][-1]
            if reply != "pass" and not (reply[:3].isdigit() and reply[0] in "2345" and reply[3:4] in ("", " ")):
                sys.exit("sink.py: %s:%d: not a reply: %s" % (path, num, reply))
    return rcpt, queues


class Sink:
    """The aiosmtpd handler: its hooks decide the replies and save the mail."""

    def __init__(self, args, rcpt_rules, queues):
        self.dir = args.dir
        self.no_8bitmime = args.no_8bitmime
        self.rcpt_rules = rcpt_rules
        self.queues = queues
        self.auth = args.auth
        names = [n for n in os.listdir(self.dir) if n.endswith(".eml")]
        self.saved = max([int(n[:-4]) for n in names if n[:-4].isdigit()], default=0)
        try:
            with open(os.path.join(self.dir, "attempts")) as f:
                self.attempts = int(f.read())
        except (OSError, ValueError):
            self.attempts = 0

    def take(self, kind):
        """The next scripted reply of this kind, or None."""
        q = self.queues[kind]
        reply = q.pop(0) if q else None
        return None if reply == "pass" else reply

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.no_8bitmime:
            responses = [r for r in responses if r[4:] != "8BITMIME"]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = self.take("mail")
        if reply:
            return reply
        if self.no_8bitmime and "BODY=8BITMIME" in options:
            return "555 5.5.4 BODY=8BITMIME was not offered"
        # a hook that answers must fill the envelope itself (aiosmtpd's rule)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        envelope.rcpt_options = []   # ours: one list per recipient
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = self.rcpt_rules.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.take("data")
        if not reply:
            self.saved += 1
            n = str(self.saved)
            auth = None
            if session.authenticated and session.auth_data is not None:
                auth = session.auth_data.login.decode("utf-8", "surrogateescape")
            env = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "mail_options": envelope.mail_options,
                "rcpt_options": envelope.rcpt_options,
                "peer": "%s:%d" % tuple(session.peer[:2]),
                "helo": session.host_name,
                "tls": session.ssl is not None,
                "auth": auth,
            }
            write_atomic(os.path.join(self.dir, n + ".eml"), envelope.original_content)
            write_atomic(os.path.join(self.dir, n + ".env"),
                         (json.dumps(env, indent=1) + "\n").encode())
            reply = "250 2.0.0 OK queued as " + n
        # counted last: a test that saw attempts=N finds the files of DATA N
        self.attempts += 1
        write_atomic(os.path.join(self.dir, "attempts"), b"%d\n" % self.attempts)
        return reply

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        user, _, password = self.auth.partition(":")
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SinkSMTP(SMTP):
    """aiosmtpd's SMTP with a scripted greeting and closing after 421."""

    async def _handle_client(self):
        # the greeting is hard-wired in aiosmtpd's _handle_client
        reply = self.event_handler.take("greet")
        if reply is None:
            return await super()._handle_client()
        await self.push(reply)
        while self.transport is not None:
            line = await self._reader.readline()
            if not line:
                break
            if line.strip().upper() == b"QUIT":
                await self.push("221 2.0.0 Bye")
                self.transport.close()
            else:
                await self.push("503 5.5.1 No service, only QUIT")

    async def push(self, status):
        await super().push(status)
        logging.info("%r << %s", self.session.peer, status)
        if isinstance(status, str) and status.startswith("421") and self.transport is not None:
            self.transport.close()


def main():
    p = argparse.ArgumentParser(description="SMTP sink for smtp-relay tests")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (another 127.x inside tools/netns-dns)")
    p.add_argument("--dir", required=True)
    p.add_argument("--pidfile")
    p.add_argument("--script")
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--size", type=int, default=33554432)
    p.add_argument("--hostname", default="sink.test")
    p.add_argument("-v", action="store_true", help="log the dialogue on stderr")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.require_tls and not args.tls_cert:
        p.error("--require-tls needs --tls-cert and --tls-key")
    if args.auth is not None and ":" not in args.auth:
        p.error("--auth USER:PASS")
    if not os.path.isdir(args.dir):
        p.error("--dir %s: no such directory" % args.dir)
    logging.basicConfig(level=logging.INFO if args.v else logging.ERROR,
                        format="sink.py: %(message)s")
    # aiosmtpd warns about AUTH without TLS; here that is on purpose
    warnings.simplefilter("ignore")

    rcpt_rules, queues = parse_script(args.script) if args.script else ({}, {"mail": [], "data": [], "greet": []})
    handler = Sink(args, rcpt_rules, queues)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    kw = {}
    if args.auth is not None:
        kw = dict(authenticator=handler.authenticate, auth_required=True,
                  auth_require_tls=tls is not None)

    class Controller(UnthreadedController):
        def factory(self):
            return SinkSMTP(self.handler, **self.SMTP_kwargs)

    # The unthreaded controller binds in begin() and, unlike Controller.start(),
    # makes no test connection to itself (which would eat a scripted greeting).
    loop = asyncio.new_event_loop()
    ctl = Controller(handler, hostname=args.host, port=args.port, loop=loop,
                     server_hostname=args.hostname, ident="ESMTP sink.py",
                     enable_SMTPUTF8=not args.no_smtputf8, data_size_limit=args.size or None,
                     tls_context=tls, require_starttls=args.require_tls, **kw)
    ctl.begin()
    if args.pidfile:
        write_atomic(args.pidfile, b"%d\n" % os.getpid())
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    # close the listener; open sessions die with the process
    ctl.server.close()


if __name__ == "__main__":
    main()
