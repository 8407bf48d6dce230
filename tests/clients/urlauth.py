"""URLAUTH (RFC 4467) with Python's imaplib.

imaplib has no URLAUTH commands, so GENURLAUTH, URLFETCH and RESETKEY are sent raw and
their untagged responses read from imaplib's response store. Stage `first`: a message
is appended, URLs to it (the whole message, a section, a range of a section) are signed
and fetched back and compared with FETCH; an expired URL, a tampered MAC, a
submission-only URL, and URLs for or of another account give NIL (the other account
fetches what was signed for it); RESETKEY of the mailbox makes its URLs worthless. One
signed URL is saved to a file. Stage `restart` (after the server restarted): the saved
URL still works, and RESETKEY of all mailboxes ends it.

Usage: urlauth.py HOST PORT USER PASSWORD OTHER_USER OTHER_PASSWORD STATE_FILE STAGE
Prints a line per step: `step => result`.
"""

import imaplib
import sys

MESSAGE = (
    b"From: mox@localhost\r\nTo: bob@example.org\r\nSubject: urlauth\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    b"first part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n"
)


def raw(imap, name, payload):
    """Sends `tag payload`; returns (status, untagged `name` responses)."""
    tag = imap._new_tag()
    imap.tagged_commands[tag] = None
    imap.untagged_responses.pop(name, None)
    imap.send(tag + b" " + payload + b"\r\n")
    try:
        typ, data = imap._command_complete(name, tag)
    except imaplib.IMAP4.error as error:
        return "BAD " + str(error), []
    return typ, imap.untagged_responses.pop(name, [])


def generate(imap, rump):
    typ, data = raw(imap, "GENURLAUTH", b'GENURLAUTH "' + rump + b'" INTERNAL')
    if typ != "OK":
        return typ, None
    return typ, data[0].strip().strip(b'"')


def urlfetch(imap, url):
    """The content of one URL: bytes, or None for NIL."""
    typ, data = raw(imap, "URLFETCH", b'URLFETCH "' + url + b'"')
    assert typ == "OK", (typ, data)
    first = data[0]
    if isinstance(first, tuple):
        assert first[0].startswith(b'"' + url + b'" {'), first[0]
        return first[1]
    assert first == b'"' + url + b'" NIL', first
    return None


def show(step, got, expected):
    print(step, "=>", "identical" if got == expected else "NIL" if got is None else repr(got))


def login(host, port, user, password):
    imap = imaplib.IMAP4(host, int(port))
    imap.login(user, password)
    return imap


def first(imap, other, user, other_user, state_file):
    print("CAPABILITY =>", "URLAUTH" in imap.capabilities)
    typ, data = imap.append("INBOX", None, None, MESSAGE)
    uidvalidity, uid = data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()
    base = b"imap://%s@localhost/INBOX;UIDVALIDITY=%s/;UID=%s" % (user.replace("@", "%40").encode(), uidvalidity, uid)
    imap.select("INBOX", readonly=True)
    body = imap.uid("FETCH", uid, "(BODY.PEEK[])")[1][0][1]
    _, whole = generate(imap, base + b";URLAUTH=authuser")
    show("URLFETCH whole", urlfetch(imap, whole), body)
    _, section = generate(imap, base + b"/;SECTION=2;URLAUTH=user+" + user.replace("@", "%40").encode())
    show("URLFETCH section", urlfetch(imap, section), b"second part")
    _, partial = generate(imap, base + b"/;SECTION=1/;PARTIAL=2.4;URLAUTH=authuser")
    show("URLFETCH partial", urlfetch(imap, partial), b"rst ")
    _, expired = generate(imap, base + b";EXPIRE=2020-01-01T00:00:00Z;URLAUTH=authuser")
    show("URLFETCH expired", urlfetch(imap, expired), b"")
    tampered = whole[:-1] + (b"0" if whole[-1:] != b"0" else b"1")
    show("URLFETCH tampered", urlfetch(imap, tampered), b"")
    _, submit = generate(imap, base + b";URLAUTH=submit+" + user.replace("@", "%40").encode())
    show("URLFETCH submit+ over IMAP", urlfetch(imap, submit), b"")
    _, for_other = generate(imap, base + b";URLAUTH=user+" + other_user.replace("@", "%40").encode())
    show("URLFETCH for the other user, by this one", urlfetch(imap, for_other), b"")
    show("URLFETCH for the other user, by it", urlfetch(other, for_other), body)
    show("URLFETCH of this user's user+ URL, by the other", urlfetch(other, section), b"")
    other_rump = b"imap://%s@localhost/INBOX/;UID=1;URLAUTH=authuser" % user.replace("@", "%40").encode()
    typ, _ = generate(other, other_rump)
    print("GENURLAUTH for another user's mailbox =>", typ)
    typ, _ = raw(imap, "RESETKEY", b"RESETKEY INBOX INTERNAL")
    print("RESETKEY INBOX =>", typ)
    show("URLFETCH after RESETKEY", urlfetch(imap, whole), b"")
    _, saved = generate(imap, base + b"/;SECTION=1;URLAUTH=authuser")
    show("URLFETCH new key", urlfetch(imap, saved), b"first part")
    with open(state_file, "wb") as f:
        f.write(saved)


def restart(imap, state_file):
    with open(state_file, "rb") as f:
        saved = f.read()
    show("URLFETCH after restart", urlfetch(imap, saved), b"first part")
    typ, _ = raw(imap, "RESETKEY", b"RESETKEY")
    print("RESETKEY =>", typ)
    show("URLFETCH after RESETKEY of all", urlfetch(imap, saved), b"")


def main():
    host, port, user, password, other_user, other_password, state_file, stage = sys.argv[1:9]
    imap = login(host, port, user, password)
    if stage == "first":
        other = login(host, port, other_user, other_password)
        first(imap, other, user, other_user, state_file)
        other.logout()
    else:
        restart(imap, state_file)
    imap.logout()


main()
