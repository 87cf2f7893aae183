#!/usr/bin/python3
"""imap-client.py - what an IMAP user sees, with Python's imaplib, for
tests/imap.bats.  Every command connects to 127.0.0.1:PORT, logs in with
LOGIN and prints plain lines for the test to check.

  imap-client.py [opts] login PORT USER PASS
      prints "caps: ..." (before login) and "login: OK ..." or
      "login: NO ..."; exit 0 when the login worked, 1 when refused
  imap-client.py [opts] fetch PORT USER PASS MAILBOX
      SELECTs MAILBOX and prints, for each message in it,
        UID flags: FLAGS          e.g. "1 flags: \\Seen"
        UID subject: SUBJECT
        UID body: LINE            one per line of the body
      (after "exists: N"); exit 0
  imap-client.py [opts] store PORT USER PASS MAILBOX UID FLAGS
      UID STORE UID +FLAGS (FLAGS), prints the new flags like fetch
  imap-client.py [opts] idle PORT USER PASS SECONDS COMMAND...
      SELECTs INBOX, sends IDLE, and once the server has answered "+",
      runs COMMAND (which must exit 0); then waits at most SECONDS for an
      untagged "* N EXISTS" with N above the count at SELECT, prints
      "idle: * N EXISTS", ends the IDLE with DONE (the tagged OK must
      follow) and exits 0.  Exit 1, printing what came, when nothing came.

Options (before the command):
  --starttls CAFILE   STARTTLS first, verifying the server's certificate
                      with CAFILE for the name 127.0.0.1
  --source IP         connect from this local address (e.g. 127.0.0.2, so
                      the connection is not loopback-to-itself)
"""
import imaplib
import socket
import ssl
import subprocess
import sys
import time

TIMEOUT = 30   # seconds for any single answer


class Client(imaplib.IMAP4):
    source = None

    def _create_socket(self, timeout):
        src = (self.source, 0) if self.source else None
        return socket.create_connection((self.host, self.port), timeout, source_address=src)


def connect(opts, port, user, password, must_login=True):
    Client.source = opts.get("source")
    m = Client("127.0.0.1", int(port), timeout=TIMEOUT)
    if "starttls" in opts:
        ctx = ssl.create_default_context(cafile=opts["starttls"])
        m.starttls(ctx)
    print("caps: " + " ".join(m.capabilities))
    try:
        typ, data = m.login(user, password)
    except imaplib.IMAP4.error as e:
        print("login: NO %s" % e)
        if must_login:
            sys.exit(1)
        return None
    print("login: %s %s" % (typ, b" ".join(data).decode()))
    return m


def show(m, uids):
    for uid in uids:
        typ, data = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
        if typ != "OK":
            sys.exit("fetch %s: %s %s" % (uid, typ, data))
        flags, subject, body = "", "", b""
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, payload = item
            parsed = imaplib.ParseFlags(meta)
            if parsed:
                flags = " ".join(f.decode() for f in parsed)
            if b"HEADER.FIELDS" in meta:
                subject = payload.decode().strip()
                subject = subject[len("Subject:"):].strip() if subject.lower().startswith("subject:") else subject
            elif b"BODY[TEXT]" in meta:
                body = payload
        if not flags:   # FLAGS after the literals: in the closing bytes
            for item in data:
                if isinstance(item, bytes):
                    parsed = imaplib.ParseFlags(b"x " + item)
                    if parsed:
                        flags = " ".join(f.decode() for f in parsed)
        print("%s flags: %s" % (uid, flags))
        print("%s subject: %s" % (uid, subject))
        for line in body.decode(errors="replace").splitlines():
            print("%s body: %s" % (uid, line))


def select(m, mailbox):
    typ, data = m.select('"%s"' % mailbox)
    if typ != "OK":
        sys.exit("select %s: %s %s" % (mailbox, typ, data))
    print("exists: %s" % data[0].decode())
    return int(data[0])


def all_uids(m):
    typ, data = m.uid("SEARCH", None, "ALL")
    return data[0].decode().split() if typ == "OK" and data[0] else []


def cmd_fetch(opts, port, user, password, mailbox):
    m = connect(opts, port, user, password)
    select(m, mailbox)
    show(m, all_uids(m))
    m.logout()


def cmd_store(opts, port, user, password, mailbox, uid, flags):
    m = connect(opts, port, user, password)
    select(m, mailbox)
    typ, data = m.uid("STORE", uid, "+FLAGS", "(%s)" % flags)
    if typ != "OK":
        sys.exit("store: %s %s" % (typ, data))
    show(m, [uid])
    m.logout()


def cmd_login(opts, port, user, password):
    m = connect(opts, port, user, password)
    m.logout()


def cmd_idle(opts, port, user, password, seconds, *command):
    m = connect(opts, port, user, password)
    before = select(m, "INBOX")
    m.send(b"I1 IDLE\r\n")
    line = m.readline()
    if not line.startswith(b"+"):
        sys.exit("IDLE refused: %r" % line)
    print("idle: waiting")
    sys.stdout.flush()
    subprocess.run(command, check=True)
    deadline = time.monotonic() + float(seconds)
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("idle: no EXISTS within %s s; got %r" % (seconds, seen))
            sys.exit(1)
        m.sock.settimeout(left)
        try:
            line = m.readline()
        except (socket.timeout, TimeoutError):
            continue
        if not line:
            sys.exit("idle: connection closed; got %r" % seen)
        seen.append(line)
        words = line.split()
        if len(words) == 3 and words[0] == b"*" and words[2].upper() == b"EXISTS" and int(words[1]) > before:
            print("idle: " + line.decode().strip())
            break
    m.sock.settimeout(TIMEOUT)
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if not line:
            sys.exit("idle: closed before the tagged reply")
        if line.startswith(b"I1 "):
            print("idle: " + line.decode().strip())
            if not line.startswith(b"I1 OK"):
                sys.exit(1)
            break
    m.logout()


def main(argv):
    opts = {}
    while argv and argv[0].startswith("--"):
        if len(argv) < 2 or argv[0] not in ("--starttls", "--source"):
            sys.exit(__doc__)
        opts[argv[0][2:]] = argv[1]
        argv = argv[2:]
    commands = {"login": (cmd_login, 3), "fetch": (cmd_fetch, 4), "store": (cmd_store, 6),
                "idle": (cmd_idle, None)}
    if not argv or argv[0] not in commands:
        sys.exit(__doc__)
    fn, n = commands[argv[0]]
    args = argv[1:]
    if (n is not None and len(args) != n) or (n is None and len(args) < 5):
        sys.exit(__doc__)
    fn(opts, *args)


if __name__ == "__main__":
    main(sys.argv[1:])
