"""BURL (RFC 4468) with Python's imaplib and smtplib.

A draft is appended to Drafts over IMAP, GENURLAUTH signs a `submit+` URL for it, and
smtplib sends it over submission with `BURL <url> LAST` after MAIL and RCPT (smtplib
has no BURL command: `docmd`). The delivered copy must be the draft byte for byte
after the server's trace header fields. Then the refusals, each followed by a working
command on the same connection: a tampered MAC, an expired URL, another account's
`submit+` URL, a `user+` URL, a URL for another host (and, for the SSRF class, one for a
host:port this script listens on, which must never be connected to), BURL before AUTH.
Last, BURL without LAST followed by `BDAT n LAST`: the draft with the chunk after it.

Usage: burl.py HOST IMAP_PORT SUBMISSION_PORT USER PASSWORD OTHER_USER OTHER_PASSWORD
Prints a line per step: `step => result`.
"""

import imaplib
import smtplib
import socket
import sys

DRAFT = (
    b"From: mox@localhost\r\nTo: mox@localhost\r\nSubject: burl draft\r\n"
    b"Message-ID: <burl-draft@localhost>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"first line\r\n.a line with a dot\r\ncaf\xc3\xa9 \x01 raw\r\n"
)
TRACE = (b"Received:", b"DKIM-Signature:", b"Authentication-Results:", b" ", b"\t")


def raw(imap, name, payload):
    """Sends `tag payload`; returns (status, untagged `name` responses)."""
    tag = imap._new_tag()
    imap.tagged_commands[tag] = None
    imap.untagged_responses.pop(name, None)
    imap.send(tag + b" " + payload + b"\r\n")
    typ, _ = imap._command_complete(name, tag)
    return typ, imap.untagged_responses.pop(name, [])


def sign(imap, rump):
    typ, data = raw(imap, "GENURLAUTH", b'GENURLAUTH "' + rump + b'" INTERNAL')
    assert typ == "OK", (typ, data)
    return data[0].strip().strip(b'"').decode()


def draft_url(imap, user, draft):
    """Appends `draft` to Drafts; the URL base (up to `;UID=n`)."""
    imap.create("Drafts")  # may exist already
    typ, data = imap.append("Drafts", r"(\Draft)", None, draft)
    assert typ == "OK", (typ, data)
    uidvalidity, uid = data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()
    quoted = user.replace("@", "%40").encode()
    return b"imap://%s@localhost/Drafts;UIDVALIDITY=%s/;UID=%s" % (quoted, uidvalidity, uid)


def newest_in_inbox(imap):
    imap.select("INBOX", readonly=True)
    uids = imap.uid("SEARCH", None, "ALL")[1][0].split()
    return imap.uid("FETCH", uids[-1], "(BODY.PEEK[])")[1][0][1]


def compare(delivered, expected):
    """`identical` when `delivered` is `expected` after trace header fields only."""
    if not delivered.endswith(expected):
        return "different: %r" % delivered[-200:]
    prefix = delivered[: len(delivered) - len(expected)]
    lines = prefix.split(b"\r\n")[:-1]
    if not lines or not all(line.startswith(TRACE) for line in lines):
        return "unexpected prefix: %r" % prefix
    return "identical"


def transaction(smtp, user):
    assert smtp.mail(user)[0] == 250
    assert smtp.rcpt(user)[0] == 250


def show(step, reply):
    code, text = reply
    print(step, "=>", code, text.decode().split(" ", 1)[0])


def main(host, imap_port, submission_port, user, password, other_user, other_password):
    imap = imaplib.IMAP4(host, int(imap_port))
    imap.login(user, password)
    base = draft_url(imap, user, DRAFT)
    quoted = user.replace("@", "%40").encode()
    url = sign(imap, base + b";URLAUTH=submit+" + quoted)
    expired = sign(imap, base + b";EXPIRE=2020-01-01T00:00:00Z;URLAUTH=submit+" + quoted)
    user_url = sign(imap, base + b";URLAUTH=user+" + quoted)
    other = imaplib.IMAP4(host, int(imap_port))
    other.login(other_user, other_password)
    other_base = draft_url(other, other_user, DRAFT)
    other_url = sign(other, other_base + b";URLAUTH=submit+" + other_user.replace("@", "%40").encode())
    other.logout()

    smtp = smtplib.SMTP(host, int(submission_port), timeout=120)
    smtp.ehlo("client.example")
    print("EHLO before AUTH =>", smtp.esmtp_features.get("burl"))
    show("BURL before AUTH", smtp.docmd("BURL", url + " LAST"))
    smtp.login(user, password)
    transaction(smtp, user)
    show("BURL LAST", smtp.docmd("BURL", url + " LAST"))
    print("delivered =>", compare(newest_in_inbox(imap), DRAFT))

    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    elsewhere = url.replace("@localhost/", "@127.0.0.1:%d/" % listener.getsockname()[1])
    for step, bad in [
        ("BURL tampered MAC", tampered),
        ("BURL expired", expired),
        ("BURL another account's URL", other_url),
        ("BURL user+ URL", user_url),
        ("BURL another host", url.replace("@localhost/", "@imap.example.org/")),
        ("BURL a host:port we listen on", elsewhere),
        ("BURL http URL", "http://127.0.0.1:%d/draft" % listener.getsockname()[1]),
    ]:
        transaction(smtp, user)
        show(step, smtp.docmd("BURL", bad + " LAST"))
        show(step + ", then NOOP", smtp.noop())
    try:
        listener.accept()
        print("connections to our listener => some")
    except BlockingIOError:
        print("connections to our listener => none")

    transaction(smtp, user)
    show("BURL without LAST", smtp.docmd("BURL", url))
    trailer = b"appended by BDAT\r\n"
    smtp.send(b"BDAT %d LAST\r\n" % len(trailer) + trailer)
    show("BDAT LAST", smtp.getreply())
    print("delivered with the chunk =>", compare(newest_in_inbox(imap), DRAFT + trailer))

    transaction(smtp, user)
    show("BURL after a mixed message", smtp.docmd("BURL", url + " LAST"))
    smtp.quit()
    imap.logout()


if __name__ == "__main__":
    main(*sys.argv[1:8])
