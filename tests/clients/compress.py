#!/usr/bin/env python3
"""IMAP COMPRESS=DEFLATE (RFC 4978) with Python's imaplib over a socket wrapped in raw
DEFLATE (zlib with wbits -15 both ways), driven by tests/imap_compress.rs.

  compress.py flows PORT SMTP_PORT MODE [CAFILE]   MODE: plain (client writes with
      partial flushes), plain-sync, starttls, imaps (PORT is then the implicit TLS one)
  compress.py bigfetch PORT FILE                   FETCH BODY[] of message 1, compressed
  compress.py bomb PORT MEGABYTES                  zeros in a literal over the limit
  compress.py idlers PORT COUNT deflate|plain      COUNT connections in IDLE
  compress.py shutdown PORT                        IDLE, compressed, while the server stops
  compress.py slowreader PORT FILE                 a compressed FETCH the client reads late

Each prints what it saw and exits non-zero on the first thing that is not as expected.
"""

import imaplib
import smtplib
import socket
import ssl
import sys
import zlib

USER = "mox@localhost"
PASSWORD = "moxmoxmox"

# imaplib checks the state a command may be sent in; these tests send commands in states
# where the server must refuse them.
imaplib.Commands["COMPRESS"] = ("NONAUTH", "AUTH", "SELECTED")
imaplib.Commands["STARTTLS"] = ("NONAUTH", "AUTH", "SELECTED")


class Deflated:
    """What imaplib reads from (`file`) and writes to (`sock`) once COMPRESS is on."""

    def __init__(self, sock, flush):
        self.sock = sock
        self.flush = flush
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)
        self.buffer = bytearray()
        self.wire_in = 0
        self.plain_in = 0

    def sendall(self, data):
        self.sock.sendall(self.deflate.compress(data) + self.deflate.flush(self.flush))

    def fill(self):
        raw = self.sock.recv(65536)
        if not raw:
            raise EOFError("server closed the connection")
        self.wire_in += len(raw)
        plain = self.inflate.decompress(raw)
        self.plain_in += len(plain)
        self.buffer += plain

    def readline(self, limit=-1):
        while b"\n" not in self.buffer:
            self.fill()
        end = self.buffer.index(b"\n") + 1
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    def read(self, size):
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def close(self):
        pass

    def shutdown(self, how):
        self.sock.shutdown(how)

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)


def ready():
    """Logged in (password hashing done, its memory freed): the test reads the server's
    memory from here on. Waits for its go."""
    print("READY", flush=True)
    sys.stdin.readline()


def expect(condition, what):
    if not condition:
        print("FAILED:", what)
        sys.exit(1)


def refused(m, *command):
    """Sends a command that must be refused with BAD; returns the server's text."""
    try:
        typ, data = m._simple_command(*command)
    except imaplib.IMAP4.error as error:
        return str(error)
    expect(False, f"{command} was not refused: {typ} {data}")


def compress(m, flush):
    typ, data = m._simple_command("COMPRESS", "DEFLATE")
    expect(typ == "OK", f"COMPRESS DEFLATE: {typ} {data}")
    wrapped = Deflated(m.sock, flush)
    m.sock = wrapped
    m.file = wrapped
    return wrapped


def capabilities(m):
    typ, data = m.capability()
    expect(typ == "OK", f"CAPABILITY {typ}")
    return data[0].decode().split()


def connect(mode, port, cafile):
    if mode == "imaps":
        context = ssl.create_default_context(cafile=cafile)
        return imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=60)
    m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    if mode == "starttls":
        m.starttls(ssl_context=ssl.create_default_context(cafile=cafile))
    return m


def idle_until_exists(m, smtp_port):
    """IDLE under compression, woken by a message delivered over SMTP."""
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    expect(line.startswith(b"+"), f"IDLE continuation: {line!r}")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
        s.sendmail("sender@example.org", [USER], b"Subject: wake\r\n\r\nidle under deflate\r\n")
    while True:
        line = m.readline()
        if line.endswith(b"EXISTS\r\n"):
            break
        expect(line.startswith(b"*"), f"in IDLE: {line!r}")
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag):
            expect(b" OK " in line, f"IDLE end: {line!r}")
            return


def flows(port, smtp_port, mode, cafile=None):
    flush = zlib.Z_PARTIAL_FLUSH if mode == "plain" else zlib.Z_SYNC_FLUSH
    m = connect(mode, port, cafile)
    expect("COMPRESS=DEFLATE" not in capabilities(m), "COMPRESS=DEFLATE offered before login")
    text = refused(m, "COMPRESS", "DEFLATE")
    print("before login:", text)
    m.login(USER, PASSWORD)
    expect("COMPRESS=DEFLATE" in capabilities(m), "COMPRESS=DEFLATE not offered after login")
    print("unknown mechanism:", refused(m, "COMPRESS", "BOGUS"))
    m.select("INBOX")
    wrapped = compress(m, flush)
    # Everything from here is compressed in both directions.
    expect("COMPRESS=DEFLATE" not in capabilities(m), "COMPRESS=DEFLATE offered while on")
    typ, data = m._simple_command("COMPRESS", "DEFLATE")
    expect(typ == "NO" and b"[COMPRESSIONACTIVE]" in data[-1], f"second COMPRESS: {typ} {data}")
    print("second COMPRESS:", typ, data[-1].decode())
    print("STARTTLS after COMPRESS:", refused(m, "STARTTLS"))
    message = b"Subject: appended\r\nFrom: a@example.org\r\n\r\n" + b"compressible line\r\n" * 5000
    typ, data = m.append("INBOX", None, None, message)
    expect(typ == "OK", f"APPEND {typ} {data}")
    typ, data = m.uid("SEARCH", "SUBJECT", "appended")
    uid = data[0].split()[-1].decode()
    typ, data = m.uid("FETCH", uid, "(BODY.PEEK[])")
    expect(typ == "OK" and data[0][1] == message, "appended message fetched back differs")
    idle_until_exists(m, smtp_port)
    typ, data = m.noop()
    expect(typ == "OK", f"NOOP {typ}")
    print(f"{mode}: compressed {wrapped.wire_in} bytes in for {wrapped.plain_in}")
    expect(wrapped.wire_in * 4 < wrapped.plain_in, "the server's output was not compressed")
    typ, data = m.logout()
    expect(typ == "BYE", f"LOGOUT {typ} {data}")


def bigfetch(port, path):
    with open(path, "rb") as f:
        message = f.read()
    m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    m.login(USER, PASSWORD)
    m.select("INBOX", readonly=True)
    ready()  # measured from here: the compression state and the FETCH
    wrapped = compress(m, zlib.Z_SYNC_FLUSH)
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    expect(typ == "OK", f"FETCH {typ}")
    body = data[0][1]
    # The server serves the stored delivery prefix, then the message as sent.
    expect(body.endswith(message), f"fetched {len(body)} bytes that do not end with the message")
    print(f"fetched {len(body)} bytes as {wrapped.wire_in} compressed")
    m.logout()


def bomb(port, megabytes):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    m.login(USER, PASSWORD)
    wrapped = compress(m, zlib.Z_SYNC_FLUSH)
    m.noop()
    ready()
    size = megabytes * 1024 * 1024
    # A non-synchronizing literal far over the 64 KiB limit, of zeros: a few KiB on the
    # wire, megabytes once inflated.
    deflate = wrapped.deflate
    wire = deflate.compress(b"b1 SELECT {%d+}\r\n" % size)
    chunk = bytes(1024 * 1024)
    for _ in range(megabytes):
        wire += deflate.compress(chunk)
    wire += deflate.compress(b"\r\nb2 NOOP\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH)
    print(f"sending {size} bytes of literal as {len(wire)} compressed")
    wrapped.sock.sendall(wire)
    answers = {}
    while len(answers) < 2:
        line = m.readline()
        for tag in (b"b1 ", b"b2 "):
            if line.startswith(tag):
                answers[tag] = line
    print("over-long literal:", answers[b"b1 "].decode().strip())
    expect(answers[b"b1 "].split()[1] in (b"BAD", b"NO"), "the over-long literal was accepted")
    expect(answers[b"b2 "].split()[1] == b"OK", "the command after it failed")
    typ, data = m.noop()
    expect(typ == "OK", f"NOOP {typ}")
    m.logout()


def idlers(port, count, compressed):
    """`count` connections in IDLE, compressed or not; READY once all idle."""
    connections = []
    for _ in range(count):
        m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
        m.login(USER, PASSWORD)
        if compressed:
            compress(m, zlib.Z_SYNC_FLUSH)
        m.select("INBOX")
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        line = m.readline()
        expect(line.startswith(b"+"), f"IDLE continuation: {line!r}")
        connections.append((m, tag))
    ready()
    for m, tag in connections:
        m.send(b"DONE\r\n")
        while not m.readline().startswith(tag):
            pass
        m.logout()


def shutdown(port):
    """In IDLE under compression while the server is stopped: the BYE arrives compressed."""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    m.login(USER, PASSWORD)
    compress(m, zlib.Z_SYNC_FLUSH)
    m.select("INBOX")
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    expect(line.startswith(b"+"), f"IDLE continuation: {line!r}")
    ready()  # the test stops the server now
    line = m.readline()
    print("in IDLE at shutdown:", line.decode().strip())
    expect(line.startswith(b"* BYE"), f"expected BYE: {line!r}")


def slowreader(port, path):
    """A compressed FETCH of a large, barely compressible message that the client does
    not read for seconds (the server's writes stall and time out in steps) while another
    connection's NOOPs on the same core are answered; then it reads all of it."""
    import time
    with open(path, "rb") as f:
        message = f.read()
    slow = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow.login(USER, PASSWORD)
    wrapped = compress(slow, zlib.Z_SYNC_FLUSH)
    slow.select("INBOX", readonly=True)
    other = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    other.login(USER, PASSWORD)
    tag = slow._new_tag()
    slow.send(tag + b" FETCH 1 (BODY.PEEK[])\r\n")
    worst = 0.0
    for _ in range(6):
        time.sleep(0.5)
        started = time.monotonic()
        typ, _ = other.noop()
        expect(typ == "OK", "NOOP beside the stalled FETCH")
        worst = max(worst, time.monotonic() - started)
    print(f"slowest NOOP beside the stalled FETCH: {worst * 1000:.0f} ms")
    expect(worst < 1.0, "the stalled FETCH held the core")
    line = slow.readline()
    expect(line.startswith(b"* 1 FETCH (BODY[] {"), f"FETCH line: {line[:80]!r}")
    size = int(line[line.rindex(b"{") + 1 : line.rindex(b"}")])
    body = slow.read(size)
    expect(body.endswith(message), "the body read after the stall differs")
    line = slow.readline()
    expect(line == b")\r\n", f"after the literal: {line!r}")
    line = slow.readline()
    expect(line.startswith(tag + b" OK"), f"tagged: {line!r}")
    print(f"read {size} bytes after the stall, {wrapped.wire_in} compressed")
    other.logout()
    slow.logout()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "flows":
        flows(int(args[0]), int(args[1]), args[2], *args[3:])
    elif mode == "bigfetch":
        bigfetch(int(args[0]), args[1])
    elif mode == "idlers":
        idlers(int(args[0]), int(args[1]), args[2] == "deflate")
    elif mode == "shutdown":
        shutdown(int(args[0]))
    elif mode == "slowreader":
        slowreader(int(args[0]), args[1])
    elif mode == "bomb":
        bomb(int(args[0]), int(args[1]))
    else:
        sys.exit(f"unknown mode {mode}")
    print("ok")


if __name__ == "__main__":
    main()
