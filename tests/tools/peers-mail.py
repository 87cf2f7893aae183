#!/usr/bin/python3
"""peers-mail.py - look inside a delivered Maildir file (for tests/peers.bats).

  peers-mail.py body FILE
      Writes FILE without the trace headers mailpipe puts on top of a local
      copy (Return-Path:, Delivered-To:, Received: and their continuation
      lines), i.e. the message as the client sent it.  Exits 1 when FILE
      does not start with Return-Path: and Delivered-To:.

  peers-mail.py trace FILE
      Writes only those trace header lines.

  peers-mail.py attachments FILE
      One line per attachment: "filename size md5" of the decoded content.

  peers-mail.py text FILE
      The decoded text of the first text/plain part (UTF-8).
"""
import email
import email.policy
import hashlib
import re
import sys

TRACE = re.compile(rb"^(Return-Path|Delivered-To|Received):", re.I)


def split_trace(data):
    lines = data.splitlines(keepends=True)
    n = 0
    while n < len(lines):
        line = lines[n]
        if TRACE.match(line) or (n > 0 and line[:1] in (b" ", b"\t")):
            n += 1
        else:
            break
    return b"".join(lines[:n]), b"".join(lines[n:])


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 64
    cmd, path = argv[1], argv[2]
    with open(path, "rb") as f:
        data = f.read()
    if cmd in ("body", "trace"):
        trace, rest = split_trace(data)
        if not (trace.startswith(b"Return-Path:") and b"\nDelivered-To:" in trace):
            sys.stderr.write("peers-mail.py: %s: no Return-Path:/Delivered-To: on top\n" % path)
            return 1
        sys.stdout.buffer.write(rest if cmd == "body" else trace)
        return 0
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if cmd == "attachments":
        for part in msg.iter_attachments():
            content = part.get_payload(decode=True)
            print(part.get_filename(), len(content), hashlib.md5(content).hexdigest())
        return 0
    if cmd == "text":
        body = msg.get_body(preferencelist=("plain",))
        sys.stdout.buffer.write(body.get_content().encode("utf-8"))
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
