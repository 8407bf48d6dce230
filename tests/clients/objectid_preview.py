"""OBJECTID (RFC 8474) and PREVIEW (RFC 8970) with Python's imaplib, on messages
delivered with smtplib.

Usage: objectid_preview.py HOST IMAP_PORT USER PASSWORD SMTP_PORT
       objectid_preview.py HOST IMAP_PORT USER PASSWORD old
Prints a line per step: `what => result`; ids are printed as how they compare, never
as values. With `old`, INBOX holds one message stored with a summary from before
previews were kept: PREVIEW (LAZY) is NIL for it, PREVIEW is made from the file.
"""

import base64
import imaplib
import json
import re
import smtplib
import sys

MESSAGES = [
    ("plain", b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
     b"Hello   from plain text.\r\n\r\n> a quoted line\r\nBye.\r\n-- \r\nThe signature\r\n"),
    ("qp", b"Content-Type: text/plain; charset=iso-8859-1\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"Gr=FC=DFe aus K=F6ln, ein sehr langer =\r\nSatz.\r\n"),
    ("base64", b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + base64.encodebytes("Hello, w\u00f6rld! A base64 body.".encode()).replace(b"\n", b"\r\n")),
    ("html", b"Content-Type: text/html; charset=utf-8\r\n\r\n"
     b"<html><head><style>p { color: red }</style></head>"
     b"<body><p>Hello <b>HTML</b> world</p></body></html>\r\n"),
    ("alternative", b"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
     b"--b1\r\nContent-Type: text/html\r\n\r\n<p>the HTML version</p>\r\n"
     b"--b1\r\nContent-Type: text/plain\r\n\r\nthe plain version\r\n--b1--\r\n"),
    ("windows-1252", b"Content-Type: text/plain; charset=windows-1252\r\n"
     b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 cr\xe8me \x80 5\r\n"),
    ("empty", b"Content-Type: text/plain\r\n\r\n"),
    ("parent", b"Message-ID: <parent@example.org>\r\n\r\nThe question.\r\n"),
    ("reply", b"Message-ID: <reply@example.org>\r\nIn-Reply-To: <parent@example.org>\r\n"
     b"References: <parent@example.org>\r\n\r\nThe answer.\r\n> The question.\r\n"),
    ("other", b"Message-ID: <other@example.org>\r\n\r\nUnrelated.\r\n"),
]


def deliver(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for subject, rest in MESSAGES:
            data = b"From: sender@example.org\r\nTo: mox@localhost\r\nSubject: " + subject.encode() + b"\r\n" + rest
            smtp.sendmail("sender@example.org", ["mox@localhost"], data)


def item(imap, number, name, uid=False):
    """The raw value of one FETCH item of message `number`."""
    if uid:
        typ, data = imap.uid("FETCH", str(number), f"({name})")
    else:
        typ, data = imap.fetch(str(number), f"({name})")
    assert typ == "OK", (typ, data)
    first = data[0]
    if isinstance(first, tuple):  # a literal
        return first[1].decode()
    return first.decode()


def preview(imap, number, lazy=False):
    raw = item(imap, number, "PREVIEW (LAZY)" if lazy else "PREVIEW")
    if "PREVIEW NIL" in raw:
        return None
    quoted = re.search(r'PREVIEW "((?:[^"\\]|\\.)*)"', raw)
    if quoted:
        return re.sub(r"\\(.)", r"\1", quoted.group(1))
    return raw  # the literal's text


def objectid(raw, name):
    found = re.search(name + r" \(([A-Za-z0-9_-]+)\)", raw)
    assert found, raw
    assert 1 <= len(found.group(1)) <= 255
    return found.group(1)


def mailbox_id_of_select(imap):
    for line in imap.untagged_responses.get("OK", []):
        found = re.search(rb"\[MAILBOXID \(([A-Za-z0-9_-]+)\)\]", line)
        if found:
            return found.group(1).decode()
    raise AssertionError("no MAILBOXID in SELECT")


def status_id(imap, box):
    typ, data = imap.status(box, "(MAILBOXID)")
    assert typ == "OK", data
    return objectid(data[0].decode(), "MAILBOXID")


def create_id(imap, box):
    typ, data = imap.create(box)
    assert typ == "OK", data
    return objectid(data[0].decode(), "MAILBOXID")


def previews(imap):
    imap.select("INBOX")
    for number, (subject, _) in enumerate(MESSAGES, start=1):
        print(f"PREVIEW {subject} =>", json.dumps(preview(imap, number), ensure_ascii=False))
    print("PREVIEW (LAZY) plain =>", json.dumps(preview(imap, 1, lazy=True)))
    typ, data = imap.fetch("1", "(FLAGS)")
    print("after PREVIEW, \\Seen on 1 =>", "\\Seen" in data[0].decode())


def threads(imap):
    parent, reply, other = (objectid(item(imap, n, "THREADID"), "THREADID") for n in (8, 9, 10))
    print("THREADID reply == parent =>", reply == parent)
    print("THREADID other == parent =>", other == parent)
    typ, data = imap.search(None, "THREADID", parent)
    print("SEARCH THREADID parent =>", typ, data[0].decode())


def mailboxes(imap):
    imap.select("INBOX")
    inbox = mailbox_id_of_select(imap)
    print("SELECT INBOX MAILBOXID == STATUS =>", inbox == status_id(imap, "INBOX"))
    created = create_id(imap, "Projects")
    print("CREATE == STATUS =>", created == status_id(imap, "Projects"), "; != INBOX =>", created != inbox)
    typ, _ = imap.rename("Projects", "Renamed")
    print("RENAME =>", typ, "; MAILBOXID kept =>", status_id(imap, "Renamed") == created)
    typ, _ = imap.delete("Renamed")
    again = create_id(imap, "Renamed")
    print("DELETE, CREATE again =>", typ, "; new MAILBOXID =>", again != created)
    imap.select("Renamed")
    print("SELECT Renamed MAILBOXID == CREATE =>", mailbox_id_of_select(imap) == again)


def emails(imap):
    imap.select("INBOX")
    original = objectid(item(imap, 1, "EMAILID"), "EMAILID")
    typ, data = imap.search(None, "EMAILID", original)
    print("SEARCH EMAILID =>", typ, data[0].decode())
    imap.create("Copies")
    imap.create("Moved")
    imap.copy("1", "Copies")
    imap.select("Copies")
    copy = objectid(item(imap, 1, "EMAILID"), "EMAILID")
    print("COPY keeps EMAILID =>", copy == original)
    imap.select("INBOX")
    typ, _ = imap._simple_command("MOVE", "1", "Moved")
    print("MOVE =>", typ)
    imap.select("Moved")
    moved = objectid(item(imap, 1, "EMAILID"), "EMAILID")
    print("MOVE keeps EMAILID =>", moved == original)
    typ, data = imap.search(None, "EMAILID", original)
    print("SEARCH EMAILID in Moved =>", typ, data[0].decode())
    typ, data = imap.search(None, "EMAILID", copy)
    print("SEARCH copy's EMAILID in Moved =>", typ, repr(data[0].decode()))


def old_summary(imap):
    imap.select("INBOX")
    print("PREVIEW (LAZY) old =>", json.dumps(preview(imap, 1, lazy=True)))
    print("PREVIEW old =>", json.dumps(preview(imap, 1)))
    print("PREVIEW (LAZY) old, again =>", json.dumps(preview(imap, 1, lazy=True)))
    thread = objectid(item(imap, 1, "THREADID"), "THREADID")
    typ, data = imap.search(None, "THREADID", thread)
    print("SEARCH THREADID old =>", typ, data[0].decode())


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if sys.argv[5] == "old":
        imap = imaplib.IMAP4(host, port)
        imap.login(user, password)
        old_summary(imap)
        imap.logout()
        return
    smtp_port = int(sys.argv[5])
    imaplib.Commands.setdefault("MOVE", ("SELECTED",))
    deliver(smtp_port)
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    print("CAPABILITY =>", " ".join(c for c in ("OBJECTID", "PREVIEW") if c in imap.capabilities))
    previews(imap)
    threads(imap)
    mailboxes(imap)
    emails(imap)
    imap.logout()


main()
