#!/usr/bin/env python3
"""Real-client SMTP checks driven by the Rust integration tests (tests/smtp_clients.rs).

Usage:
  smtp_clients.py smtplib PORT FILE...   send each file with smtplib (EHLO, 8BITMIME when needed)
  smtp_clients.py multi PORT FILE        one message, three recipients (two in one account)
  smtp_clients.py refusals PORT          unknown user, non-local domain, SIZE over the limit
  smtp_clients.py bdat PORT FILE         pipelined BDAT chunks on a raw socket (RFC 3030)

Exits 0 on success; prints what went wrong otherwise.
"""
import smtplib
import socket
import sys


def smtplib_send(port, files):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("python.example")
        assert smtp.has_extn("pipelining"), smtp.esmtp_features
        assert smtp.has_extn("chunking"), smtp.esmtp_features
        for path in files:
            data = open(path, "rb").read()
            options = ["BODY=8BITMIME"] if any(b > 127 for b in data) else []
            refused = smtp.sendmail("sender@example.org", ["mox@localhost"], data, mail_options=options)
            assert refused == {}, refused


def multi(port, path):
    data = open(path, "rb").read()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        refused = smtp.sendmail(
            "sender@example.org", ["mox@localhost", "other@localhost", "MOX+tag@LOCALHOST"], data
        )
        assert refused == {}, refused


def refusals(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("python.example")
        limit = int(smtp.esmtp_features["size"])
        try:
            smtp.sendmail("a@example.org", ["someone@elsewhere.example"], b"Subject: x\r\n\r\nx\r\n")
            raise AssertionError("relaying to a non-local domain was accepted")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["someone@elsewhere.example"]
            assert code == 550, (code, text)
        smtp.rset()
        code, text = smtp.mail("a@example.org", ["SIZE=%d" % (limit + 1)])
        assert code == 552, (code, text)
        smtp.rset()
        code, text = smtp.mail("a@example.org")
        assert code == 250, (code, text)
        code, text = smtp.rcpt("mox@localhost")
        assert code == 250, (code, text)
        code, text = smtp.rcpt("mox@elsewhere.example")
        assert code == 550, (code, text)
        smtp.rset()


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise AssertionError("connection closed; replies so far %r" % lines)
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


def bdat(port, path):
    data = open(path, "rb").read()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = sock.makefile("rb")
    code, _ = read_reply(f)
    assert code == 220
    sock.sendall(b"EHLO python.example\r\n")
    code, lines = read_reply(f)
    assert code == 250 and any(b"CHUNKING" in l for l in lines), lines
    third = max(1, len(data) // 3)
    chunks = [data[:third], data[third : 2 * third], data[2 * third :]]
    # Everything pipelined in one write: envelope and all chunks (RFC 3030 allows it).
    out = b"MAIL FROM:<sender@example.org> BODY=BINARYMIME\r\nRCPT TO:<mox@localhost>\r\n"
    for i, chunk in enumerate(chunks):
        last = b" LAST" if i == len(chunks) - 1 else b""
        out += b"BDAT %d%s\r\n" % (len(chunk), last) + chunk
    sock.sendall(out)
    for expected in [250, 250] + [250] * len(chunks):
        code, lines = read_reply(f)
        assert code == expected, (code, lines)
    sock.sendall(b"QUIT\r\n")
    code, _ = read_reply(f)
    assert code == 221


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "smtplib":
        smtplib_send(port, sys.argv[3:])
    elif mode == "multi":
        multi(port, sys.argv[3])
    elif mode == "refusals":
        refusals(port)
    elif mode == "bdat":
        bdat(port, sys.argv[3])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
