"""CATENATE (RFC 4469) with Python's imaplib.

imaplib has no CATENATE, so the APPENDs are written raw (TEXT parts as LITERAL+
literals, URL parts as quoted strings) and their answers read with imaplib's response
reader. A draft is saved in Drafts, then a new message is made of text, the whole
draft, one of its parts, a range of another part and (by an absolute URL) its body;
the new message's bytes are fetched back and compared. Then BADURL cases, with
non-synchronizing and synchronizing literals after the bad URL, each followed by a
command that must work.

Usage: catenate.py HOST PORT USER PASSWORD
Prints a line per step: `step => result`.
"""

import imaplib
import re
import sys

DRAFT = (
    b"From: mox@localhost\r\nTo: bob@example.org\r\nSubject: draft\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    b"first part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n"
)


def raw(imap, payload):
    """Sends `tag payload` and returns (status, tagged text)."""
    tag = imap._new_tag()
    imap.tagged_commands[tag] = None
    imap.send(tag + b" " + payload + b"\r\n")
    try:
        typ, data = imap._command_complete("APPEND", tag)
    except imaplib.IMAP4.error as error:
        return "BAD", str(error)
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode()
    return typ, text


def text(value):
    return b"TEXT {%d+}\r\n" % len(value) + value


def fetch_body(imap, uid):
    typ, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
    assert typ == "OK", (typ, data)
    return data[0][1]


def main():
    host, port, user, password = sys.argv[1:5]
    imap = imaplib.IMAP4(host, int(port))
    imap.login(user, password)
    print("CAPABILITY =>", "CATENATE" in imap.capabilities)
    typ, data = imap.append("Drafts", r"(\Draft)", None, DRAFT)
    uidvalidity, uid = re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups()
    uidvalidity, uid = int(uidvalidity), int(uid)
    print("APPEND draft =>", typ)

    encoded_user = user.replace("@", "%40").encode()
    base = b"/Drafts;UIDVALIDITY=%d/;UID=%d" % (uidvalidity, uid)
    header = b"Subject: combined\r\n\r\n"
    payload = (
        b"APPEND Drafts (\\Seen) CATENATE ("
        + text(header)
        + b' URL "' + base + b'"'
        + b' URL "' + base + b'/;SECTION=1"'
        + b' URL "/Drafts/;uid=%d/;section=2/;partial=0.6"' % uid
        + b" " + text(b"\r\n--\r\n")
        # The server's host name (localserve: localhost) and any port.
        + b' URL "imap://' + encoded_user + b"@localhost:" + port.encode()
        + b'/Drafts/;UID=%d/;SECTION=1.MIME")' % uid
    )
    typ, answer = raw(imap, payload)
    print("APPEND CATENATE =>", typ, re.sub(rb"\d+", b"n", answer.encode()).decode())
    new_uid = int(re.search(r"APPENDUID \d+ (\d+)", answer).group(1))
    imap.select("Drafts", readonly=True)
    got = fetch_body(imap, new_uid)
    expected = header + DRAFT + b"first part" + b"second" + b"\r\n--\r\n" + b"Content-Type: text/plain\r\n\r\n"
    print("FETCH combined => identical" if got == expected else "FETCH combined => %r" % got)

    bad = b"/Drafts;UIDVALIDITY=%d/;UID=%d" % (uidvalidity, uid + 100)
    typ, answer = raw(imap, b'APPEND Drafts CATENATE (URL "' + bad + b'" ' + text(b"dropped text") + b")")
    print("BADURL then LITERAL+ =>", typ, re.sub(r"\d+", "n", answer))
    print("NOOP =>", imap.noop()[0])
    typ, answer = raw(imap, b'APPEND Drafts CATENATE (URL "' + bad + b'" TEXT {5}')
    print("BADURL then synchronizing literal =>", typ, re.sub(r"\d+", "n", answer))
    print("NOOP =>", imap.noop()[0])
    typ, answer = raw(imap, b'APPEND Drafts CATENATE (URL "imap://nobody@localhost/Drafts/;UID=1")')
    print("other user =>", typ, answer.split("]")[0] + "]")
    typ, data = imap.status("Drafts", "(MESSAGES)")
    print("STATUS =>", data[0].decode())
    imap.logout()


main()
