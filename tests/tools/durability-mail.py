#!/usr/bin/python3
"""durability-mail.py - self-checking test messages and the kill harness.

Every message this tool makes carries its own proof of completeness:

    Subject: durability <TOKEN>
    ...
    <empty line>
    token=<TOKEN>
    <random lines, some starting with '.'>
    sha256=<hex digest of the body lines above, LF line ends>

so a Maildir file is "complete" when its body ends with a sha256= line that
matches what comes before it, the token in the body is the one in the
Subject, the S=<size> in its name is its size and it has LF line ends.
A file cut anywhere fails that check.

Subcommands (see tests/durability.bats and tests/hostile.bats):

  message  --token T --size N [--crlf]     one message on stdout
  session  --token T --size N [--count K] [--rcpt A] [--ehlo H] [--bdat] [--rset]
                                           an SMTP transcript (CRLF, dot-stuffed)
                                           delivering K such messages (--bdat:
                                           every other one in two BDAT chunks),
                                           then QUIT
  send     --port P --seconds S --threads N --results FILE [--ehlo H]
                                           N threads, one message per
                                           connection, until S seconds passed;
                                           every outcome goes to FILE (JSON lines)
  kill     --conf DIR --stop-file F [--max-seconds S] [--min-ms A --max-ms B]
                                           SIGKILLs a random smtp-recv or
                                           mail-store of this configuration
                                           every A..B ms until F exists
  wait-idle --conf DIR [--timeout S]       waits until no smtp-recv or
                                           mail-store of this configuration runs
  watch    --dir NEW --stop-file F [--max-seconds S] [--report FILE]
                                           reads every file that appears in NEW
                                           as fast as it can; exit 1 if one was
                                           ever incomplete
  check-dir DIR...                         every file in DIR is complete (exit 1 if not)
  verify   --maildir M --db DB --results FILE
                                           every 250'd token is in M/new (and
                                           its row in DB), every file in M/new
                                           is complete

Processes "of this configuration" are found through /proc: the name
(comm) is smtp-recv or mail-store AND the environment holds exactly
MAILPIPE_CONF=<DIR>, so nothing outside the test is ever signalled.  The
signal goes through a pidfd opened before the check, so a recycled pid
cannot be hit.  A process whose parent has the same name is a fork, not a
program (smtp-recv before its exec of mail-store, LeakSanitizer's helper in
a sanitizer build): it is never a target.
"""
import argparse
import base64
import hashlib
import json
import os
import random
import re
import signal
import smtplib
import sqlite3
import sys
import threading
import time

PROGS = (b"smtp-recv", b"mail-store")
SENDER = "sender@remote.test"
RCPT = "alice@example.test"


# ---- messages ---------------------------------------------------------------

def make_body(token, size, rng):
    """LF body of about size bytes ending with its own sha256 line."""
    lines = [b"token=" + token.encode()]
    total = len(lines[0]) + 1
    blob = base64.b64encode(os.urandom(size * 3 // 4 + 96))
    pos = 0
    while total < size:
        n = rng.randint(0, 120)
        raw = blob[pos:pos + n]
        pos += n
        r = rng.random()
        if r < 0.05:
            raw = b"." + raw          # needs dot-stuffing on the wire
        elif r < 0.07:
            raw = b"."                # a lone dot line inside the data
        lines.append(raw)
        total += len(raw) + 1
    text = b"\n".join(lines) + b"\n"
    return text + b"sha256=" + hashlib.sha256(text).hexdigest().encode() + b"\n"


def make_message(token, size, rng=random):
    head = ("From: <%s>\nTo: <%s>\nSubject: durability %s\n"
            "Message-ID: <%s@durability.test>\n\n" % (SENDER, RCPT, token, token)).encode()
    return head + make_body(token, max(0, size - len(head)), rng)


def to_wire(msg):
    """LF message -> CRLF lines, dot-stuffed, without the final dot."""
    lines = msg.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)


def check_message(data, name=None):
    """None when data is a complete message of ours, else the reason."""
    if b"\r" in data:
        return "CR in a Maildir file (line ends must be LF)"
    if name is not None:
        m = re.search(r",S=(\d+)", name)
        if not m:
            return "no S=<size> in the file name"
        if int(m.group(1)) != len(data):
            return "S=%s but the file has %d bytes" % (m.group(1), len(data))
    sep = data.find(b"\n\n")
    if sep < 0:
        return "no end of headers"
    head, body = data[:sep + 1], data[sep + 2:]
    m = re.search(rb"^Subject: durability (\S+)\n", head, re.M)
    if not m:
        return "no 'Subject: durability TOKEN' header"
    token = m.group(1)
    if not body.startswith(b"token=" + token + b"\n"):
        return "body does not start with the token of the Subject"
    if not body.endswith(b"\n"):
        return "body does not end with a line end"
    last = body.rfind(b"\n", 0, len(body) - 1) + 1
    tail = body[last:]
    if not tail.startswith(b"sha256="):
        return "no sha256= line at the end (truncated?)"
    want = tail[len(b"sha256="):-1].decode("ascii", "replace")
    got = hashlib.sha256(body[:last]).hexdigest()
    if want != got:
        return "sha256 mismatch (partial or mixed content)"
    return None


def token_of(data):
    m = re.search(rb"^Subject: durability (\S+)\n", data, re.M)
    return m.group(1).decode() if m else None


def check_file(path):
    """(token, problem) for one Maildir file; problem None when complete."""
    with open(path, "rb") as f:
        data = f.read()
    return token_of(data), check_message(data, os.path.basename(path))


# ---- processes of one configuration ---------------------------------------

def parent_comm(pid):
    with open("/proc/%d/stat" % pid, "rb") as f:
        stat = f.read()
    ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
    with open("/proc/%d/comm" % ppid, "rb") as f:
        return f.read().strip()


def our_pids(conf, targets_only=False):
    """[(pid, comm)] of smtp-recv and mail-store running with MAILPIPE_CONF=conf.

    targets_only leaves out a process whose parent has the same name: not a
    program of its own but a fork of one (smtp-recv before it execs
    mail-store, or the LeakSanitizer helper of a sanitizer build, which the
    process it stopped waits for forever if it is killed)."""
    want = b"MAILPIPE_CONF=" + os.fsencode(conf)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % entry, "rb") as f:
                comm = f.read().strip()
            if comm not in PROGS:
                continue
            with open("/proc/%s/environ" % entry, "rb") as f:
                env = f.read().split(b"\0")
            if want in env and targets_only and parent_comm(int(entry)) == comm:
                continue
        except (OSError, ValueError, IndexError):
            continue
        if want in env:
            found.append((int(entry), comm.decode()))
    return found


def still_target(pid, conf):
    """Is pid (still) a kill target of ours?  See our_pids."""
    want = b"MAILPIPE_CONF=" + os.fsencode(conf)
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            comm = f.read().strip()
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read().split(b"\0")
        return comm in PROGS and want in env and parent_comm(pid) != comm
    except (OSError, ValueError, IndexError):
        return False


def kill_one(pid, conf):
    """SIGKILL pid if it still is one of ours; True when signalled."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if not still_target(pid, conf):    # checked after the pidfd pins it
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def cmd_kill(a):
    deadline = time.monotonic() + a.max_seconds
    counts = {"smtp-recv": 0, "mail-store": 0}
    while not os.path.exists(a.stop_file) and time.monotonic() < deadline:
        time.sleep(random.uniform(a.min_ms, a.max_ms) / 1000.0)
        procs = our_pids(a.conf, targets_only=True)
        if not procs:
            continue
        kind = random.choice(list(counts))   # both kinds get killed often
        pool = [p for p in procs if p[1] == kind] or procs
        pid, comm = random.choice(pool)
        if kill_one(pid, a.conf):
            counts[comm] += 1
    counts["total"] = counts["smtp-recv"] + counts["mail-store"]
    print(json.dumps(counts))
    return 0


def cmd_wait_idle(a):
    deadline = time.monotonic() + a.timeout
    while our_pids(a.conf):
        if time.monotonic() > deadline:
            print("still running after %ss: %s" % (a.timeout, our_pids(a.conf)),
                  file=sys.stderr)
            return 1
        time.sleep(0.05)
    return 0


# ---- senders ------------------------------------------------------------------

def send_one(port, token, size, ehlo, rng):
    msg = to_wire(make_message(token, size, rng))
    rec = {"token": token, "size": size, "code": None, "reply": None, "error": None}
    s = None
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname=ehlo, timeout=20)
        code, _ = s.ehlo()
        if code != 250:
            rec["error"] = "EHLO %d" % code
            return rec
        code, _ = s.mail(SENDER)
        if code != 250:
            rec["error"] = "MAIL %d" % code
            return rec
        code, _ = s.rcpt(RCPT)
        if code != 250:
            rec["error"] = "RCPT %d" % code
            return rec
        # msg is CRLF and dot-stuffed already: use the raw DATA exchange
        code, repl = s.docmd("DATA")
        if code != 354:
            rec["error"] = "DATA %d" % code
            return rec
        s.send(msg + b".\r\n")
        code, repl = s.getreply()
        rec["code"] = code
        rec["reply"] = repl.decode("ascii", "replace")
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass
    except (OSError, smtplib.SMTPException) as e:
        rec["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if s is not None:
            try:
                s.close()
            except OSError:
                pass
    return rec


def cmd_send(a):
    deadline = time.monotonic() + a.seconds
    run = os.urandom(4).hex()
    results = []
    lock = threading.Lock()

    def worker(n):
        rng = random.Random()
        i = 0
        while time.monotonic() < deadline:
            token = "%s-%d-%d" % (run, n, i)
            i += 1
            rec = send_one(a.port, token, rng.randint(a.min_size, a.max_size), a.ehlo, rng)
            with lock:
                results.append(rec)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(a.results, "w") as f:
        for rec in results:
            f.write(json.dumps(rec) + "\n")
    ok = sum(1 for r in results if r["code"] == 250)
    print(json.dumps({"sent": len(results), "accepted": ok}))
    return 0


# ---- the reader -------------------------------------------------------------

def cmd_watch(a):
    deadline = time.monotonic() + a.max_seconds
    seen, bad, vanished, passes = set(), [], 0, 0
    stopping = False
    while True:
        stopping = os.path.exists(a.stop_file) or time.monotonic() > deadline
        try:
            names = os.listdir(a.dir)
        except FileNotFoundError:
            names = []
        for name in names:
            if name in seen:
                continue
            try:
                token, problem = check_file(os.path.join(a.dir, name))
            except FileNotFoundError:
                vanished += 1
                continue
            seen.add(name)
            if problem:
                bad.append("%s: %s" % (name, problem))
        passes += 1
        if stopping:       # one full pass after the stop file appeared
            break
    report = {"read": len(seen), "partial": len(bad), "vanished": vanished,
              "passes": passes, "bad": bad[:20]}
    text = json.dumps(report)
    if a.report:
        with open(a.report, "w") as f:
            f.write(text + "\n")
    print(text)
    return 1 if bad else 0


# ---- checks -----------------------------------------------------------------

def cmd_check_dir(a):
    problems = 0
    for d in a.dirs:
        for name in sorted(os.listdir(d)):
            token, problem = check_file(os.path.join(d, name))
            if problem:
                print("%s/%s: %s" % (d, name, problem))
                problems += 1
    return 1 if problems else 0


def cmd_verify(a):
    new = os.path.join(a.maildir, "new")
    results = [json.loads(l) for l in open(a.results)]
    accepted = [r for r in results if r["code"] == 250]
    failures = []

    files = {}          # token -> [names]
    for name in sorted(os.listdir(new)):
        token, problem = check_file(os.path.join(new, name))
        if problem:
            failures.append("new/%s is not a complete message: %s" % (name, problem))
        files.setdefault(token, []).append(name)

    db = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True) if os.path.exists(a.db) else None
    rows = {}
    if db is not None:
        for mid, subject, mfile in db.execute(
                "SELECT m.id, m.subject, r.mailbox_file FROM messages m"
                " LEFT JOIN recipients r ON r.message = m.id AND r.address = ?", (RCPT,)):
            rows[mid] = (subject, mfile)

    for r in accepted:
        token = r["token"]
        if token not in files:
            failures.append("250 for %s (%s) but it is not in new/" % (token, r["reply"]))
        m = re.search(r"id=(\d+)", r["reply"] or "")
        if not m:
            failures.append("250 for %s without id=: %r" % (token, r["reply"]))
            continue
        row = rows.get(int(m.group(1)))
        if row is None:
            failures.append("250 for %s says id=%s but mail.db has no such row"
                            % (token, m.group(1)))
        elif row[0] != "durability " + token:
            failures.append("mail.db row %s has subject %r, expected the token %s"
                            % (m.group(1), row[0], token))
        elif not row[1] or row[1] not in files.get(token, []):
            failures.append("mail.db row %s names file %r, not a file of %s in new/"
                            % (m.group(1), row[1], token))

    known = {r["token"] for r in results}
    stray = [t for t in files if t not in known]
    for t in stray:
        failures.append("new/ holds a message nobody sent: %r" % t)
    duplicates = sum(len(v) - 1 for t, v in files.items() if t in known)
    extra = sum(1 for r in results if r["code"] != 250 and r["token"] in files)
    outcomes = {}
    for r in results:
        kind = str(r["code"]) if r["code"] else (r["error"] or "?").split(":")[0]
        outcomes[kind] = outcomes.get(kind, 0) + 1
    summary = {"sent": len(results), "accepted": len(accepted), "outcomes": outcomes,
               "files": sum(map(len, files.values())),
               "duplicates": duplicates, "delivered_without_250": extra,
               "rows": len(rows), "failures": len(failures)}
    print(json.dumps(summary))
    for f in failures[:50]:
        print("FAIL: " + f)
    return 1 if failures else 0


# ---- generators ---------------------------------------------------------------

def cmd_message(a):
    msg = make_message(a.token, a.size)
    sys.stdout.buffer.write(to_wire(msg) if a.crlf else msg)
    return 0


def cmd_session(a):
    out = sys.stdout.buffer
    out.write(b"EHLO %s\r\n" % a.ehlo.encode())
    for i in range(a.count):
        token = a.token if a.count == 1 else "%s-%d" % (a.token, i)
        out.write(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" % (SENDER.encode(), a.rcpt.encode()))
        msg = make_message(token, a.size)
        if a.bdat and i % 2 == 1:
            # every other message in two BDAT chunks (CRLF lines, no dot-stuffing)
            wire = msg.replace(b"\n", b"\r\n")
            cut = random.randint(0, len(wire))
            out.write(b"BDAT %d\r\n" % cut + wire[:cut])
            out.write(b"BDAT %d LAST\r\n" % (len(wire) - cut) + wire[cut:])
        else:
            out.write(b"DATA\r\n" + to_wire(msg) + b".\r\n")
        if a.rset:
            out.write(b"RSET\r\nNOOP\r\n")
    out.write(b"QUIT\r\n")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("message")
    s.add_argument("--token", required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--crlf", action="store_true")

    s = sub.add_parser("session")
    s.add_argument("--token", required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--rcpt", default=RCPT)
    s.add_argument("--ehlo", default="client.test")
    s.add_argument("--bdat", action="store_true", help="every other message with BDAT")
    s.add_argument("--rset", action="store_true", help="RSET and NOOP after each message")

    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--threads", type=int, default=4)
    s.add_argument("--min-size", type=int, default=3 * 1024)
    s.add_argument("--max-size", type=int, default=200 * 1024)
    s.add_argument("--ehlo", default="durability-client.test")
    s.add_argument("--results", required=True)

    s = sub.add_parser("kill")
    s.add_argument("--conf", required=True)
    s.add_argument("--stop-file", required=True)
    s.add_argument("--max-seconds", type=float, default=60)
    s.add_argument("--min-ms", type=float, default=20)
    s.add_argument("--max-ms", type=float, default=100)

    s = sub.add_parser("wait-idle")
    s.add_argument("--conf", required=True)
    s.add_argument("--timeout", type=float, default=30)

    s = sub.add_parser("watch")
    s.add_argument("--dir", required=True)
    s.add_argument("--stop-file", required=True)
    s.add_argument("--max-seconds", type=float, default=60)
    s.add_argument("--report")

    s = sub.add_parser("check-dir")
    s.add_argument("dirs", nargs="+")

    s = sub.add_parser("verify")
    s.add_argument("--maildir", required=True)
    s.add_argument("--db", required=True)
    s.add_argument("--results", required=True)

    a = p.parse_args()
    return {"message": cmd_message, "session": cmd_session, "send": cmd_send,
            "kill": cmd_kill, "wait-idle": cmd_wait_idle, "watch": cmd_watch,
            "check-dir": cmd_check_dir, "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
