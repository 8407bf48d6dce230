"""PARTIAL (RFC 9394) and CONTEXT=SEARCH (RFC 5267 §4) with Python's imaplib.

Usage: paging.py HOST PORT USER PASSWORD
APPENDs ten messages a day apart into a new mailbox, marks the even ones seen and
expunges UIDs 4 and 5; then pages SEARCH, SORT and FETCH results with PARTIAL, keeps
an UPDATE context on UNSEEN while a second connection appends, flags and expunges,
and prints a line per step: `command => status result` (tags taken out).
"""

import imaplib
import re
import sys
import time

JAN_1 = 1672531200  # 2023-01-01T00:00:00Z
DAY = 86400

imaplib.Commands.setdefault("CANCELUPDATE", ("SELECTED",))


def untag(text):
    return re.sub(r'\(TAG "[^"]*"\) ?', "", text)


def esearch(imap):
    return " | ".join(untag(d.decode()) for d in imap.untagged_responses.pop("ESEARCH", []) if d)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    caps = imap.capabilities
    print("CAPABILITY =>", " ".join(c for c in ("PARTIAL", "CONTEXT=SEARCH") if c in caps))
    box = "paging" + str(int(time.time() * 1000))
    imap.create(box)
    for n in range(1, 11):
        body = f"Subject: message {n}\r\nMessage-ID: <{n}@x>\r\n\r\nbody {n}\r\n".encode()
        typ, _ = imap.append(box, None, imaplib.Time2Internaldate(JAN_1 + n * DAY), body)
        assert typ == "OK", typ
    imap.select(box)
    imap.uid("STORE", "2,4,6,8,10", "+FLAGS.SILENT", r"(\Seen)")
    imap.uid("STORE", "4:5", "+FLAGS.SILENT", r"(\Deleted)")
    imap.expunge()
    imap.untagged_responses.clear()

    results = []
    for command, args in [
        ("UID SEARCH", ["RETURN", "(PARTIAL 1:3)", "ALL"]),
        ("SEARCH", ["RETURN", "(COUNT PARTIAL -1:-2)", "ALL"]),
        ("SEARCH", ["RETURN", "(PARTIAL 20:30)", "ALL"]),
        ("SORT", ["RETURN", "(PARTIAL 1:2)", "(REVERSE ARRIVAL)", "UTF-8", "ALL"]),
    ]:
        if command.startswith("UID "):
            typ, _ = imap.uid(command[4:], *args)
        else:
            typ, _ = imap._simple_command(command, *args)
        results.append((f"{command} {' '.join(args)}", typ, esearch(imap)))
    for command, args in [("UID FETCH", ["1:*", "(UID)", "(PARTIAL -1:-3)"]), ("FETCH", ["1:*", "(UID)", "(PARTIAL 2:3)"])]:
        if command.startswith("UID "):
            typ, data = imap.uid("FETCH", *args)
        else:
            typ, data = imap._simple_command("FETCH", *args)
            data = imap.untagged_responses.pop("FETCH", [])
        uids = [re.search(rb"UID (\d+)", d).group(1).decode() for d in data if d]
        results.append((f"{command} {' '.join(args)}", typ, " ".join(uids)))

    # An UPDATE context on UNSEEN (UIDs 1 3 7 9); another connection changes the mailbox.
    typ, _ = imap.uid("SEARCH", "RETURN", "(UPDATE)", "UNSEEN")
    results.append(("UID SEARCH RETURN (UPDATE) UNSEEN", typ, esearch(imap)))
    other = imaplib.IMAP4(host, port)
    other.login(user, password)
    other.select(box)
    other.append(box, None, imaplib.Time2Internaldate(JAN_1 + 11 * DAY), b"Subject: new\r\n\r\nnew\r\n")
    other.uid("STORE", "1", "+FLAGS.SILENT", r"(\Seen)")
    other.uid("STORE", "9", "+FLAGS.SILENT", r"(\Deleted)")
    other.expunge()
    other.logout()
    time.sleep(0.2)  # the change events reach the first session
    typ, _ = imap.noop()
    tags = re.findall(rb'\(TAG "([^"]*)"\)', b" ".join(imap.untagged_responses.get("ESEARCH", [b""])))
    results.append(("NOOP", typ, esearch(imap)))
    typ, _ = imap._simple_command("CANCELUPDATE", '"%s"' % tags[0].decode() if tags else '"none"')
    results.append(("CANCELUPDATE", typ, ""))
    imap.logout()
    for command, typ, line in results:
        print(f"{command} => {typ} {line}".rstrip())


if __name__ == "__main__":
    main()
