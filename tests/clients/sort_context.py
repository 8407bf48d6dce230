"""CONTEXT=SORT (RFC 5267 §4) with Python's imaplib and a second connection.

Usage: sort_context.py HOST PORT USER PASSWORD
APPENDs four messages whose subjects sort as UIDs 2 4 3 1, keeps a UID SORT UPDATE
context on UNSEEN ordered by SUBJECT, while a second connection appends a message that
sorts third, marks UID 4 seen and expunges UID 1; prints a line per step:
`command => status result` (tags taken out).
"""

import imaplib
import re
import sys
import time

imaplib.Commands.setdefault("CANCELUPDATE", ("SELECTED",))


def untag(text):
    return re.sub(r'\(TAG "[^"]*"\) ?', "", text)


def esearch(imap):
    return " | ".join(untag(d.decode()) for d in imap.untagged_responses.pop("ESEARCH", []) if d)


def message(subject):
    return f"Subject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\nbody\r\n".encode()


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    print("CAPABILITY =>", " ".join(c for c in ("ESORT", "CONTEXT=SORT") if c in imap.capabilities))
    box = "sorted" + str(int(time.time() * 1000))
    imap.create(box)
    for subject in ("m8", "m2", "m6", "m4"):
        typ, _ = imap.append(box, None, None, message(subject))
        assert typ == "OK", typ
    imap.select(box)
    imap.untagged_responses.clear()
    results = []
    args = ["RETURN", "(UPDATE PARTIAL 1:3)", "(SUBJECT)", "UTF-8", "UNSEEN"]
    typ, _ = imap.uid("SORT", *args)
    results.append(("UID SORT " + " ".join(args), typ, esearch(imap)))

    other = imaplib.IMAP4(host, port)
    other.login(user, password)
    other.select(box)
    other.append(box, None, None, message("m5"))
    other.uid("STORE", "4", "+FLAGS.SILENT", r"(\Seen)")
    other.uid("STORE", "1", "+FLAGS.SILENT", r"(\Deleted)")
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
