#!/usr/bin/python3
"""hostile-client.py - send raw bytes to an SMTP server and keep listening.

    hostile-client.py --port P [--file F] [--timeout S]

Connects to 127.0.0.1:P, sends the bytes of F (default stdin) without ever
closing its own side, and prints every reply line (CR removed) until the
server closes the connection.  Exit 0 when the server closed it, 2 when it
was still open after S seconds (default 10), 1 on a connection error.
"""
import argparse
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file")
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    data = open(a.file, "rb").read() if a.file else sys.stdin.buffer.read()
    deadline = time.monotonic() + a.timeout
    try:
        s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    except OSError as e:
        print("connect: %s" % e, file=sys.stderr)
        return 1
    got = b""
    closed = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass          # the server may stop reading once it gave up on us
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        s.close()
    sys.stdout.write(got.decode("latin-1").replace("\r", ""))
    if not closed:
        print("hostile-client: connection still open after %ss" % a.timeout, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
