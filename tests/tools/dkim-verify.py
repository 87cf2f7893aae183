#!/usr/bin/python3
"""dkim-verify.py - checks every DKIM-Signature of a message with Python's
dkimpy (Debian python3-dkim), a verifier nobody here wrote.

usage: dkim-verify.py MESSAGE KEYS...
  MESSAGE  a file; LF line ends are made CRLF, as they go on the wire
  KEYS     SELECTOR=PEMFILE: the private key whose public half is the DNS
           record of SELECTOR._domainkey.<d=> (given to dkimpy as its DNS)
Prints one line per signature, "a=<algorithm> d=<domain> s=<selector> pass"
(or fail), and exits 0 only when there is at least one and all pass.
"""
import re
import subprocess
import sys
import base64

import dkim


def record(pem):
    der = subprocess.run(['openssl', 'pkey', '-in', pem, '-pubout', '-outform', 'DER'],
                         check=True, capture_output=True).stdout
    text = subprocess.run(['openssl', 'pkey', '-in', pem, '-noout', '-text'],
                          check=True, capture_output=True, text=True).stdout
    if 'ED25519' in text.upper():
        return 'v=DKIM1; k=ed25519; p=' + base64.b64encode(der[-32:]).decode()
    return 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode()


def main():
    data = open(sys.argv[1], 'rb').read()
    msg = re.sub(rb'\r?\n', b'\r\n', data)
    keys = {}
    for arg in sys.argv[2:]:
        sel, pem = arg.split('=', 1)
        keys[sel] = record(pem)

    def dns(name, timeout=5):
        sel = name.decode().split('._domainkey.')[0]
        return keys[sel].encode() if sel in keys else None

    d = dkim.DKIM(msg)
    sigs = [h for h in d.headers if h[0].lower() == b'dkim-signature']
    ok = bool(sigs)
    for i, (_, value) in enumerate(sigs):
        tags = dkim.util.parse_tag_value(re.sub(rb'\s+', b'', value))
        good = d.verify(idx=i, dnsfunc=dns)
        ok = ok and good
        print('a=%s d=%s s=%s %s' % (tags[b'a'].decode(), tags[b'd'].decode(),
                                      tags[b's'].decode(), 'pass' if good else 'fail'))
    sys.exit(0 if ok else 1)


main()
