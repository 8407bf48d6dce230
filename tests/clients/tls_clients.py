#!/usr/bin/env python3
"""TLS and authentication checks with Python's own clients, driven by tests/tls_auth.rs.

Usage:
  tls_clients.py smtp SUBMISSION SUBMISSIONS SMTP CAFILE
  tls_clients.py imap IMAP IMAPS CAFILE
  tls_clients.py logindisabled IMAP CAFILE
  tls_clients.py injection SMTP IMAP
  tls_clients.py clientcert IMAPS SUBMISSIONS CAFILE CERT KEY (preauth|external)
  tls_clients.py bruteforce IMAP

Exits 0 on success; an AssertionError says what went wrong.
"""
import imaplib
import smtplib
import socket
import ssl
import sys
import threading
import time

USER, PASSWORD = "mox@localhost", "moxmoxmox"
MESSAGE = b"From: mox@localhost\r\nTo: someone@example.com\r\nSubject: tls test\r\n\r\nhello over tls\r\n"


def context(cafile, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def smtp(submission, submissions, port25, cafile):
    ctx = context(cafile)
    with smtplib.SMTP("127.0.0.1", submission, timeout=30) as s:
        s.ehlo("python.example")
        assert s.has_extn("starttls"), s.esmtp_features
        s.starttls(context=ctx)
        s.ehlo("python.example")
        assert s.has_extn("auth"), s.esmtp_features
        assert "REQUIRETLS" in s.esmtp_features or "requiretls" in s.esmtp_features, s.esmtp_features
        assert not s.has_extn("starttls"), "STARTTLS offered again after TLS"
        s.login(USER, PASSWORD)
        assert s.sendmail("mox@localhost", ["someone@example.com"], MESSAGE) == {}
    with smtplib.SMTP_SSL("127.0.0.1", submissions, context=ctx, timeout=30) as s:
        s.ehlo("python.example")
        s.login(USER, PASSWORD)
        assert s.sendmail("mox@localhost", ["other@example.net"], MESSAGE) == {}
    with smtplib.SMTP("127.0.0.1", submission, timeout=30) as s:
        s.starttls(context=ctx)
        s.ehlo("python.example")
        try:
            s.login(USER, "wrong password")
            raise AssertionError("wrong password accepted")
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
        code, _ = s.mail("mox@localhost")
        assert code == 530, ("MAIL before AUTH on submission", code)
    with smtplib.SMTP("127.0.0.1", port25, timeout=30) as s:
        s.ehlo("python.example")
        assert s.has_extn("starttls"), s.esmtp_features
        assert not s.has_extn("auth"), "AUTH must not be offered on port 25"
        s.starttls(context=ctx)
        s.ehlo("python.example")
        assert not s.has_extn("auth"), "AUTH must not be offered on port 25"
        assert s.sendmail("sender@example.org", ["mox@localhost"], MESSAGE) == {}


def imap(port, imaps, cafile):
    ctx = context(cafile)
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx, timeout=30)
    assert "STARTTLS" not in m.capabilities, m.capabilities
    assert "AUTH=PLAIN" in m.capabilities and "AUTH=SCRAM-SHA-256-PLUS" in m.capabilities, m.capabilities
    m.login(USER, PASSWORD)
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    assert "STARTTLS" in m.capabilities, m.capabilities
    m.starttls(ssl_context=ctx)
    m.login(USER, PASSWORD)
    m.logout()


def logindisabled(port, cafile):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    caps = m.capabilities
    assert "LOGINDISABLED" in caps and "STARTTLS" in caps, caps
    assert "AUTH=PLAIN" not in caps, caps
    assert "AUTH=SCRAM-SHA-256" in caps, caps  # never sends the password
    typ, data = m._simple_command("LOGIN", USER, PASSWORD)
    assert typ == "NO" and b"PRIVACYREQUIRED" in data[0], (typ, data)
    m.starttls(ssl_context=context(cafile))
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities, m.capabilities
    m.login(USER, PASSWORD)
    m.logout()


def read_all(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False


def injection(smtp_port, imap_port):
    # SMTP: STARTTLS with a command pipelined behind it in the same packet.
    s = socket.create_connection(("127.0.0.1", smtp_port), timeout=10)
    s.recv(1024)
    s.sendall(b"EHLO attacker.example\r\n")
    time.sleep(0.2)
    s.recv(4096)
    s.sendall(b"STARTTLS\r\nMAIL FROM:<attacker@example.org>\r\n")
    data, closed = read_all(s)
    assert b"220" not in data and b"554" in data, data
    assert b"250" not in data, ("the injected MAIL was executed", data)
    assert closed, "connection must be closed"
    # IMAP: the same.
    s = socket.create_connection(("127.0.0.1", imap_port), timeout=10)
    s.recv(4096)
    s.sendall(b"a STARTTLS\r\nb LOGIN mox@localhost moxmoxmox\r\n")
    data, closed = read_all(s)
    assert b"a OK" not in data and b"a BAD" in data and b"b OK" not in data, data
    assert closed, "connection must be closed"


def clientcert(imaps, submissions, cafile, cert, key, mode):
    ctx = context(cafile, cert, key)
    if mode == "preauth":
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", imaps), timeout=10), server_hostname="localhost")
        greeting = sock.recv(4096)
        assert greeting.startswith(b"* PREAUTH"), greeting
        sock.sendall(b"a SELECT INBOX\r\n")
        data, _ = read_all(sock, 3)
        assert b"a OK" in data, data
        return
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx, timeout=30)
    assert "AUTH=EXTERNAL" in m.capabilities, m.capabilities
    typ, data = m.authenticate("EXTERNAL", lambda _: b"")
    assert typ == "OK", (typ, data)
    m.logout()
    with smtplib.SMTP_SSL("127.0.0.1", submissions, context=ctx, timeout=30) as s:
        s.ehlo("python.example")
        assert "EXTERNAL" in s.esmtp_features.get("auth", ""), s.esmtp_features
        code, text = s.docmd("AUTH", "EXTERNAL =")
        assert code == 235, (code, text)
        assert s.sendmail("mox@localhost", ["someone@example.com"], MESSAGE) == {}
    # Without the certificate EXTERNAL is not offered.
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=context(cafile), timeout=30)
    assert "AUTH=EXTERNAL" not in m.capabilities, m.capabilities


def attempt(port, password, source="127.0.0.1"):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    try:
        m.login(USER, password)
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            m.logout()
        except Exception:
            pass


def bruteforce(port):
    results = []
    lock = threading.Lock()

    def worker():
        m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
        for i in range(5):
            typ, data = m._simple_command("LOGIN", USER, "guess%d" % i)
            with lock:
                results.append((typ, data[0] if data else b""))
        m.logout()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 100 and all(t == "NO" for t, _ in results), results
    limited = sum(1 for _, d in results if b"UNAVAILABLE" in d)
    # Guesses racing on 20 connections may all pass the check before the first failures
    # are counted; after that every one is refused.
    assert limited >= 60, ("most of 100 guesses must be refused by the rate limit", limited)
    # The right password from the same address is refused too: guessing stops working.
    m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    typ, data = m._simple_command("LOGIN", USER, PASSWORD)
    assert typ == "NO" and b"UNAVAILABLE" in data[0], (typ, data)
    m.logout()
    # From another network (outside 127.0.0.0/21) the right password works.
    class Other(imaplib.IMAP4):
        def _create_socket(self, timeout):
            return socket.create_connection((self.host, self.port), timeout, source_address=("127.0.16.1", 0))

    m = Other("127.0.0.1", port, timeout=60)
    typ, data = m.login(USER, PASSWORD)
    assert typ == "OK", (typ, data)
    m.logout()
    print("bruteforce: %d of 100 refused by the limiter, %.1f s" % (limited, time.time() - start))


def main():
    mode = sys.argv[1]
    args = sys.argv[2:]
    if mode == "smtp":
        smtp(int(args[0]), int(args[1]), int(args[2]), args[3])
    elif mode == "imap":
        imap(int(args[0]), int(args[1]), args[2])
    elif mode == "logindisabled":
        logindisabled(int(args[0]), args[1])
    elif mode == "injection":
        injection(int(args[0]), int(args[1]))
    elif mode == "clientcert":
        clientcert(int(args[0]), int(args[1]), args[2], args[3], args[4], args[5])
    elif mode == "bruteforce":
        bruteforce(int(args[0]))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
