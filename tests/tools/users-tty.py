#!/usr/bin/python3
"""users-tty.py PROGRAM ARGS... -- ANSWER...: run PROGRAM on a terminal
(a pty), type each ANSWER after the next prompt ends in ": ", and print
everything the terminal showed.  Exits with the program's status."""
import os
import pty
import select
import sys
import time

split = sys.argv.index('--')
argv, answers = sys.argv[1:split], sys.argv[split + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
shown = b''
deadline = time.monotonic() + 20


def read_until_prompt():
    global shown
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.5)[0]:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        shown += chunk
        if shown.rstrip(b' ').endswith(b':'):
            return True
    return False


for answer in answers:
    if not read_until_prompt():
        break
    shown += b'\n'   # the line break the person types, not echoed
    os.write(fd, answer.encode() + b'\n')
while time.monotonic() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
