#!/usr/bin/python3
"""tls-session.py - a scripted SMTP client over TCP, with TLS, for tls.bats.

    tls-session.py --port P [--cafile PEM] [--timeout S] < SCRIPT

Connects to 127.0.0.1:P and runs SCRIPT, one step a line, printing every
server reply line (CR removed) as it arrives, so a test can compare the
dialogue with what it expects.  Steps:

    R:                read one reply (all its lines) and print it
    C: text          send text CRLF in one write, then read one reply
    W: text          send text in one write, reply not read; Python escapes
                     (\\r \\n \\x00 ...) are decoded, no CRLF is added
    TLS:             TLS handshake as a client (verifying the server's
                     certificate against --cafile for mx.example.test when
                     given); prints "tls VERSION CIPHER"
    HELLO-HALF:      send the first half of a TLS ClientHello, then close
    HELLO-CLOSE:     send a whole ClientHello, wait for the first bytes of
                     the server's answer, then close (gone mid-handshake)
    CLOSE:           close the connection (no QUIT)
    EOF?:            wait (at most --timeout s) for the server to close
                     the connection; prints "closed" or "still open"
                     (under TLS: "closed without close_notify" when the
                     server ended TCP without a TLS close_notify alert)
    EXEC: command    run a shell command now (the session stays open)
    # ...            a comment

When the server closes the connection while a reply is awaited, "closed"
(or "closed without close_notify") is printed and the script ends there.  Exit 0 when the script ran, 1 on a
connection or TLS error (printed as "error: ...").
"""
import argparse
import socket
import ssl
import subprocess
import sys
import time


class Closed(Exception):
    pass


class Session:
    def __init__(self, port, cafile, timeout):
        self.timeout = timeout
        self.cafile = cafile
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def recv(self):
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except ssl.SSLError as e:
            # the TCP connection ended without a TLS close_notify alert
            if isinstance(e, ssl.SSLEOFError) or e.reason == "UNEXPECTED_EOF_WHILE_READING":
                raise Closed("closed without close_notify")
            raise
        if not data:
            raise Closed("closed")
        self.buf += data

    def line(self):
        while b"\n" not in self.buf:
            self.recv()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def reply(self):
        while True:
            line = self.line()
            print(line, flush=True)
            if len(line) < 4 or line[3] != "-":
                return

    def send(self, data):
        self.sock.sendall(data)

    def client_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Debian's Python ignores a TCP close without close_notify by
        # default; this client wants to see it
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        if self.cafile:
            ctx.load_verify_locations(self.cafile)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def tls(self):
        if self.buf:
            # the server said something after its 220 and before the
            # handshake: never allowed (RFC 3207)
            print("unexpected clear text before TLS: %r" % self.buf, flush=True)
        ctx = self.client_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.example.test",
                                    suppress_ragged_eofs=False)
        print("tls %s %s" % (self.sock.version(), self.sock.cipher()[0]), flush=True)

    def client_hello(self):
        """The bytes of a real ClientHello, made with a memory BIO."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.client_context().wrap_bio(incoming, outgoing,
                                             server_hostname="mx.example.test")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return outgoing.read()

    def wait_eof(self):
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                self.recv()
            except Closed as e:
                return str(e)
            except (socket.timeout, TimeoutError):
                return None
            except ssl.SSLError as e:
                return "closed (%s)" % e.reason   # an alert: the server is gone
            # anything the server says now is shown (binary data escaped)
            for line in self.buf.split(b"\n"):
                if line:
                    print(repr(line.rstrip(b"\r"))[2:-1], flush=True)
            self.buf = b""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile")
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    try:
        s = Session(a.port, a.cafile, a.timeout)
    except OSError as e:
        print("error: connect: %s" % e, flush=True)
        return 1
    try:
        for raw in sys.stdin.read().splitlines():
            step, _, arg = raw.partition(":")
            arg = arg[1:] if arg.startswith(" ") else arg
            step = step.strip()
            if not step or step.startswith("#"):
                continue
            if step == "R":
                s.reply()
            elif step == "C":
                s.send(arg.encode("utf-8") + b"\r\n")
                s.reply()
            elif step == "W":
                s.send(arg.encode("latin-1").decode("unicode_escape").encode("latin-1"))
            elif step == "TLS":
                s.tls()
            elif step == "HELLO-HALF":
                hello = s.client_hello()
                s.send(hello[: len(hello) // 2])
                s.sock.close()
                print("sent %d of %d octets of a ClientHello, closed" % (len(hello) // 2, len(hello)))
                return 0
            elif step == "HELLO-CLOSE":
                s.send(s.client_hello())
                s.recv()
                s.sock.close()
                print("got %d octets of the server's handshake, closed" % len(s.buf))
                return 0
            elif step == "CLOSE":
                s.sock.close()
                return 0
            elif step == "EOF?":
                print(s.wait_eof() or "still open", flush=True)
            elif step == "EXEC":
                subprocess.run(arg, shell=True, check=False)
            else:
                print("error: unknown step %r" % raw, flush=True)
                return 1
    except Closed as e:
        print(e, flush=True)
    except (socket.timeout, TimeoutError):
        print("error: no reply within %ss" % a.timeout, flush=True)
        return 1
    except (ssl.SSLError, OSError) as e:
        print("error: %s" % e, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
