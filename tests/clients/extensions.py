"""REPLACE (RFC 8508) and UIDONLY (RFC 9586) with Python's imaplib.

Usage: extensions.py HOST PORT USER PASSWORD
Prints a line per step: `command => status result`.
"""

import imaplib
import sys
import time

imaplib.Commands.setdefault("REPLACE", ("SELECTED",))


def message(n):
    return f"Subject: draft {n}\r\nMessage-ID: <draft{n}@x>\r\n\r\nbody {n}\r\n".encode()


def replace(imap, uid, command, number, box, body):
    """Sends REPLACE or UID REPLACE with `body` as its literal; returns the status and
    the untagged responses it brought."""
    imap.untagged_responses.clear()
    imap.literal = body
    if uid:
        typ, _ = imap.uid(command, str(number), box)
    else:
        typ, _ = imap._simple_command(command, str(number), box)
    codes = [d.decode() for d in imap.untagged_responses.get("OK", []) if d and b"APPENDUID" in d]
    expunged = [d.decode() for d in imap.untagged_responses.get("EXPUNGE", [])]
    return typ, codes, expunged


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    print("CAPABILITY =>", " ".join(c for c in ("REPLACE", "UIDONLY") if c in imap.capabilities))
    drafts = "drafts" + str(int(time.time() * 1000))
    imap.create(drafts)
    for n in range(1, 4):
        typ, _ = imap.append(drafts, None, None, message(n))
        assert typ == "OK", typ
    typ, data = imap.select(drafts)
    uidvalidity = imap.untagged_responses["UIDVALIDITY"][0].decode()

    typ, codes, expunged = replace(imap, False, "REPLACE", 2, drafts, message(4))
    codes = [c.replace(uidvalidity, "V") for c in codes]
    print("REPLACE 2 =>", typ, " ".join(codes), "EXPUNGE", " ".join(expunged))
    typ, codes, expunged = replace(imap, True, "REPLACE", 4, drafts, message(5))
    codes = [c.replace(uidvalidity, "V") for c in codes]
    print("UID REPLACE 4 =>", typ, " ".join(codes), "EXPUNGE", " ".join(expunged))
    typ, codes, expunged = replace(imap, True, "REPLACE", 99, drafts, message(6))
    print("UID REPLACE 99 =>", typ)
    typ, data = imap.uid("SEARCH", "ALL")
    print("UID SEARCH ALL =>", typ, data[0].decode())
    typ, data = imap.uid("FETCH", "5", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    print("UID FETCH 5 =>", typ, data[0][1].decode().strip())
    imap.logout()
    uidonly(host, port, user, password, drafts)


def uidonly(host, port, user, password, drafts):
    """ENABLE UIDONLY on a second connection to the same mailbox (UIDs 1 3 5)."""
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    typ, _ = imap.enable("UIDONLY")
    print("ENABLE UIDONLY =>", typ, imap.untagged_responses.pop("ENABLED", [b""])[0].decode())
    imap.select(drafts)
    try:
        imap.fetch("1", "(FLAGS)")
        print("FETCH 1 => OK")
    except imap.error as error:
        print("FETCH 1 => BAD", str(error).split("]")[0].split("[")[-1])
    imap.untagged_responses.clear()
    typ, _ = imap.uid("FETCH", "1:*", "(FLAGS)")
    lines = [d.decode() for d in imap.untagged_responses.pop("UIDFETCH", [])]
    print("UID FETCH 1:* =>", typ, " | ".join(lines))
    typ, _ = imap.uid("STORE", "3", "+FLAGS.SILENT", r"(\Deleted)")
    typ, _ = imap.expunge()
    vanished = [d.decode() for d in imap.untagged_responses.pop("VANISHED", [])]
    expunged = imap.untagged_responses.pop("EXPUNGE", [])
    print("EXPUNGE =>", typ, "VANISHED", " ".join(vanished), "EXPUNGE", len(expunged))
    imap.logout()


main()
