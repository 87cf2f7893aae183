#!/usr/bin/python3
"""tls-procs.py - the smtp-recv processes of one test configuration.

    tls-procs.py CONF_DIR

Prints the pid of every running smtp-recv process (not a zombie) whose
environment has MAILPIPE_CONF=CONF_DIR, one a line.  A test finds its own
servers this way: their command line is only "smtp-recv -s", the same in
every test, and the configuration directory is in the environment.
"""
import os
import sys


def main():
    want = b"MAILPIPE_CONF=" + os.fsencode(sys.argv[1])
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        try:
            with open("/proc/%s/comm" % pid, "rb") as f:
                if f.read().rstrip(b"\n") != b"smtp-recv":
                    continue
            with open("/proc/%s/stat" % pid, "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                if want in f.read().split(b"\0"):
                    print(pid)
        except OSError:
            pass   # it ended while we looked


if __name__ == "__main__":
    main()
