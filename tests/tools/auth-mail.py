#!/usr/bin/python3
"""auth-mail.py - both ends of tests/auth.bats: DKIM keys and signatures made
by dkimpy (Debian python3-dkim, a signer nobody here wrote), an SMTP client
that pipes one message into smtp-recv, and a reader of the
Authentication-Results fields of a delivered message (python3-authres).

  auth-mail.py keys DIR
      Makes DIR/rsa.pem, DIR/rsa2.pem (RSA 2048) and DIR/ed.key (Ed25519,
      dkimpy's form: the base64 seed), and for each NAME the DNS TXT record
      text of its public key in DIR/NAME.txt ("v=DKIM1; k=...; p=...").

  auth-mail.py sign KEYFILE DOMAIN SELECTOR [--ed25519] [--canon H/B] < MSG
      Writes MSG (LF or CRLF; written with CRLF) with a DKIM-Signature by
      dkimpy on top.  --canon: relaxed/simple (dkimpy's default),
      relaxed/relaxed, simple/simple...

  auth-mail.py big SIZE
      A message of about SIZE octets (CRLF lines, some starting with a dot)
      from bob@sender.test to alice@example.test.

  auth-mail.py session [--helo H] [--from ADDR]... [--to ADDR]... [--tls]
                       [--auth USER:PASSWORD] [--bdat] [--log FILE] MESSAGE...
                       -- PROGRAM [ARGS]
      Runs PROGRAM (smtp-recv) with the messages on its stdin the way a
      client does, reply by reply: greeting, EHLO, [STARTTLS, EHLO,]
      [AUTH PLAIN,] then for each message MAIL FROM (the Nth --from, else
      the last one, default bob@sender.test), RCPT... (default
      alice@example.test), DATA, the message (LF made CRLF, dot-stuffed) and
      the dot (with --bdat: one BDAT LAST), then QUIT.  Prints every reply
      line (CR removed); a refused MAIL or DATA skips that message.  Then
      "data N: REPLY" for the reply to the end of each message, and last
      "time data=S[,S...] session=S": from the end of each message to
      the reply to it, and from the start of PROGRAM to its exit.  PROGRAM's
      stderr (the log) goes to FILE (appended).  Exit 0 when the dialogue
      ran, 1 when a reply did not come within 60 s or TLS failed.

  auth-mail.py ar FILE [--id AUTHSERV-ID]
      The Authentication-Results field of FILE with our authserv-id
      (default mx.example.test, compared case-insensitively), parsed with
      authres, one line for the id and one per result:
          mx.example.test
          spf=pass smtp.mailfrom=bob@sender.test
          dkim=fail (body hash did not verify) header.d=sender.test header.s=sel ...
      A result's comment is taken from the text (authres drops it); a
      header.b value is written <sigN> when it is a prefix (of at least 8
      characters) of the b= of the Nth DKIM-Signature of FILE and of no
      other.  Exit 1 (saying why) unless there is exactly one such field,
      above every Received: field.

  auth-mail.py ids FILE
      The authserv-id of every Authentication-Results field of FILE, in
      order, as written (comments dropped).
"""
import base64
import os
import re
import select
import ssl
import subprocess
import sys
import time

import authres
import dkim
import nacl.encoding
import nacl.signing


def die(text):
    sys.stderr.write('auth-mail.py: %s\n' % text)
    sys.exit(1)


# ---- keys and signatures ------------------------------------------------------------

def rsa_key(path):
    subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
                    'rsa_keygen_bits:2048', '-out', path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(['openssl', 'pkey', '-in', path, '-pubout', '-outform', 'DER'],
                         check=True, capture_output=True).stdout
    return 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode()


def cmd_keys(argv):
    (directory,) = argv
    os.makedirs(directory, exist_ok=True)
    for name in ('rsa', 'rsa2'):
        record = rsa_key(os.path.join(directory, name + '.pem'))
        with open(os.path.join(directory, name + '.txt'), 'w') as f:
            f.write(record + '\n')
    key = nacl.signing.SigningKey.generate()
    with open(os.path.join(directory, 'ed.key'), 'wb') as f:
        f.write(key.encode(encoder=nacl.encoding.Base64Encoder) + b'\n')
    with open(os.path.join(directory, 'ed.txt'), 'w') as f:
        f.write('v=DKIM1; k=ed25519; p=%s\n' %
                key.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode())


def cmd_sign(argv):
    keyfile, domain, selector, *opts = argv
    alg, canon = b'rsa-sha256', (b'relaxed', b'simple')
    while opts:
        opt = opts.pop(0)
        if opt == '--ed25519':
            alg = b'ed25519-sha256'
        elif opt == '--canon' and opts:
            canon = tuple(c.encode() for c in opts.pop(0).split('/'))
        else:
            die('sign: unknown option ' + opt)
    with open(keyfile, 'rb') as f:
        key = f.read().strip() if alg == b'ed25519-sha256' else f.read()
    msg = re.sub(rb'\r?\n', b'\r\n', sys.stdin.buffer.read())
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key, canonicalize=canon,
                    signature_algorithm=alg)
    sys.stdout.buffer.write(sig + msg)


def cmd_big(argv):
    size = int(argv[0])
    out = sys.stdout.buffer
    head = (b'From: Bob <bob@sender.test>\r\nTo: alice@example.test\r\n'
            b'Subject: big\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n'
            b'Message-ID: <big@sender.test>\r\n\r\n')
    out.write(head)
    written, n = len(head), 0
    while written < size:
        n += 1
        line = b'%s%08d %s\r\n' % (b'.' if n % 100 == 0 else b'', n, b'x' * 64)
        out.write(line)
        written += len(line)


# ---- the SMTP client ----------------------------------------------------------------

class Dialogue:
    """smtp-recv on pipes, in clear or (after STARTTLS) through TLS."""

    def __init__(self, proc):
        self.proc, self.fd, self.buf, self.tls = proc, proc.stdout.fileno(), b'', None
        self.last = ''

    def write(self, data):
        if self.tls:
            self.tls.write(data)
            data = self.outgoing.read()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _raw(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            raise TimeoutError('no reply within 60 s')
        chunk = os.read(self.fd, 65536)
        if not chunk:
            raise EOFError('the server closed the connection')
        return chunk

    def line(self, deadline):
        while b'\n' not in self.buf:
            chunk = self._raw(deadline)
            if self.tls:
                self.incoming.write(chunk)
                while True:
                    try:
                        data = self.tls.read(65536)
                    except ssl.SSLWantReadError:
                        break
                    if not data:
                        break
                    self.buf += data
            else:
                self.buf += chunk
        raw, self.buf = self.buf.split(b'\n', 1)
        return raw.rstrip(b'\r').decode('utf-8', 'replace')

    def reply(self):
        """One whole reply, printed; its code."""
        deadline = time.monotonic() + 60
        while True:
            text = self.line(deadline)
            print(text, flush=True)
            if len(text) < 4 or text[3] != '-':
                self.last = text
                return int(text[:3]) if text[:3].isdigit() else 0

    def command(self, text):
        self.write(text.encode() + b'\r\n')
        return self.reply()

    def start_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(self.incoming, self.outgoing, server_side=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.proc.stdin.write(self.outgoing.read())
                self.proc.stdin.flush()
                self.incoming.write(self._raw(deadline))
        self.proc.stdin.write(self.outgoing.read())
        self.proc.stdin.flush()
        self.tls = tls


def dot_stuffed(data):
    data = re.sub(rb'\r?\n', b'\r\n', data)
    if data and not data.endswith(b'\r\n'):
        data += b'\r\n'
    data = re.sub(rb'(?m)^\.', b'..', data)
    return data + b'.\r\n'


def transaction(d, opts, sender, message):
    """MAIL, RCPT..., DATA (or BDAT LAST) and the message; False when the
    session cannot go on."""
    if d.command('MAIL FROM:<%s>' % sender) != 250:
        return True
    if not any([d.command('RCPT TO:<%s>' % rcpt) == 250 for rcpt in opts['to']]):
        return d.command('RSET') == 250
    if opts['bdat']:
        data = re.sub(rb'\r?\n', b'\r\n', message)
        d.write(b'BDAT %d LAST\r\n' % len(data))
        start = time.monotonic()
        d.write(data)
    else:
        if d.command('DATA') != 354:
            return True
        d.write(dot_stuffed(message)[:-3])
        start = time.monotonic()
        d.write(b'.\r\n')
    d.reply()
    opts['data_times'].append(time.monotonic() - start)
    opts['data_replies'].append(d.last)
    return True


def dialogue(d, opts, messages):
    if d.reply() != 220:
        return
    if d.command('EHLO ' + opts['helo']) != 250:
        return
    if opts['tls']:
        if d.command('STARTTLS') != 220:
            return
        d.start_tls()
        if d.command('EHLO ' + opts['helo']) != 250:
            return
    if opts['auth']:
        user, password = opts['auth'].split(':', 1)
        token = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()
        if d.command('AUTH PLAIN ' + token) != 235:
            return
    senders = opts['from'] or ['bob@sender.test']
    for i, message in enumerate(messages):
        if not transaction(d, opts, senders[min(i, len(senders) - 1)], message):
            return


def cmd_session(argv):
    if '--' not in argv:
        die('session: no -- PROGRAM')
    cut = argv.index('--')
    args, program = argv[:cut], argv[cut + 1:]
    opts = {'helo': 'mx.sender.test', 'from': [], 'to': [], 'tls': False, 'bdat': False,
            'auth': None, 'log': os.devnull, 'data_times': [],
            'data_replies': []}
    messages = []
    while args:
        a = args.pop(0)
        if a in ('--helo', '--auth', '--log') and args:
            opts[a[2:]] = args.pop(0)
        elif a in ('--to', '--from') and args:
            opts[a[2:]].append(args.pop(0))
        elif a in ('--tls', '--bdat'):
            opts[a[2:]] = True
        elif not a.startswith('--'):
            with open(a, 'rb') as f:
                messages.append(f.read())
        else:
            die('session: bad argument ' + a)
    if not messages:
        die('session: no message')
    opts['to'] = opts['to'] or ['alice@example.test']
    start = time.monotonic()
    with open(opts['log'], 'ab') as log:
        proc = subprocess.Popen(program, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log)
    d = Dialogue(proc)
    status = 0
    try:
        dialogue(d, opts, messages)
        d.command('QUIT')
    except (TimeoutError, EOFError, ssl.SSLError, BrokenPipeError) as e:
        print('error: %s' % e, flush=True)
        status = 1
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        print('error: the server did not exit')
        status = 1
    session = time.monotonic() - start
    for i, text in enumerate(opts['data_replies'], 1):
        print('data %d: %s' % (i, text))
    data = ','.join('%.2f' % t for t in opts['data_times']) or '-'
    print('time data=%s session=%.2f' % (data, session))
    return status


# ---- reading Authentication-Results ------------------------------------------------

def header_fields(path):
    """(name, raw value with folding) of every header field of the file."""
    with open(path, 'rb') as f:
        data = f.read()
    head = re.split(rb'\r?\n\r?\n', data, 1)[0].decode('utf-8', 'replace')
    fields = []
    for line in re.split(r'\r?\n', head):
        if line[:1] in (' ', '\t') and fields:
            fields[-1][1] += '\n' + line
        elif ':' in line:
            name, value = line.split(':', 1)
            fields.append([name, value])
    return fields


def split_top(text, sep=';'):
    """text split at sep outside comments and quoted strings."""
    parts, cur, depth, quoted, i = [], '', 0, False, 0
    while i < len(text):
        c = text[i]
        if c == '\\' and (depth or quoted) and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if quoted:
            quoted = c != '"'
        elif c == '"' and not depth:
            quoted = True
        elif c == '(':
            depth += 1
        elif c == ')' and depth:
            depth -= 1
        elif c == sep and not depth:
            parts.append(cur)
            cur = ''
            i += 1
            continue
        cur += c
        i += 1
    parts.append(cur)
    return parts


def strip_comments(text):
    out, depth = '', 0
    for c in text:
        if c == '(':
            depth += 1
        elif c == ')' and depth:
            depth -= 1
        elif not depth:
            out += c
    return out


def authserv_id(value):
    return strip_comments(split_top(value)[0]).strip().strip('"')


def result_comment(resinfo):
    """The comment right after method=result, unfolded; '' when none."""
    m = re.match(r'\s*[\w.-]+(?:/\d+)?\s*=\s*[\w-]+\s*(\((?:[^()\\]|\\.)*\))?', resinfo)
    return re.sub(r'\s+', ' ', m.group(1)) if m and m.group(1) else ''


def signature_bs(fields):
    bs = []
    for name, value in fields:
        if name.strip().lower() == 'dkim-signature':
            m = re.search(r'(?:^|;)\s*b\s*=([^;]*)', value)
            bs.append(re.sub(r'\s+', '', m.group(1)) if m else '')
    return bs


def cmd_ar(argv):
    path, ours = argv[0], 'mx.example.test'
    if argv[1:3] and argv[1] == '--id':
        ours = argv[2]
    fields = header_fields(path)
    names = [n.strip().lower() for n, _ in fields]
    mine = [i for i, (n, v) in enumerate(fields)
            if n.strip().lower() == 'authentication-results' and
            authserv_id(v).lower() == ours.lower()]
    if len(mine) != 1:
        die('%s: %d Authentication-Results fields for %s' % (path, len(mine), ours))
    index = mine[0]
    if 'received' in names and names.index('received') < index:
        die('%s: our Authentication-Results is below a Received: field' % path)
    value = fields[index][1]
    try:
        parsed = authres.AuthenticationResultsHeader.parse(
            'Authentication-Results: ' + value.replace('\n', '\r\n'))
    except Exception as e:   # authres raises its own SyntaxError and others
        die('%s: authres cannot parse %r: %s' % (path, value, e))
    resinfos = [r for r in split_top(value)[1:] if strip_comments(r).strip()]
    if len(resinfos) != len(parsed.results):
        die('%s: %d results in the text, authres found %d' %
            (path, len(resinfos), len(parsed.results)))
    bs = signature_bs(fields)
    print(parsed.authserv_id)
    for result, text in zip(parsed.results, resinfos):
        words = ['%s=%s' % (result.method, result.result)]
        comment = result_comment(text)
        if comment:
            words.append(comment)
        for p in result.properties:
            v = p.value
            if (p.type, p.name) == ('header', 'b'):
                hits = [i for i, b in enumerate(bs, 1) if b.startswith(v)]
                v = '<sig%d>' % hits[0] if len(v) >= 8 and len(hits) == 1 else '?' + v
            words.append('%s.%s=%s' % (p.type, p.name, v))
        print(' '.join(words))


def cmd_ids(argv):
    for name, value in header_fields(argv[0]):
        if name.strip().lower() == 'authentication-results':
            print(authserv_id(value))


def main():
    commands = {'keys': cmd_keys, 'sign': cmd_sign, 'big': cmd_big, 'session': cmd_session,
                'ar': cmd_ar, 'ids': cmd_ids}
    if len(sys.argv) < 3 or sys.argv[1] not in commands:
        sys.stderr.write(__doc__)
        return 64
    return commands[sys.argv[1]](sys.argv[2:]) or 0


if __name__ == '__main__':
    sys.exit(main())
