"""MULTISEARCH (RFC 7377) with Python's imaplib.

Usage: multisearch.py HOST PORT USER PASSWORD
Creates a small tree of mailboxes (and 120 more with a message each), then, without
selecting a mailbox, runs ESEARCH over subtrees, a subtree-one, named mailboxes and all
120; selects one and runs ESEARCH on it alone. Prints a line per step:
`command => status results` with the tag and UIDVALIDITY numbers taken out and the
prefix replaced by `P`.
"""

import imaplib
import re
import sys
import time

imaplib.Commands.setdefault("ESEARCH", ("AUTH", "SELECTED"))

MANY = 120


def message(subject):
    return f"Subject: {subject}\r\nMessage-ID: <{subject}.{time.time()}@x>\r\n\r\nbody\r\n".encode()


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    print("CAPABILITY =>", "MULTISEARCH" if "MULTISEARCH" in imap.capabilities else "")
    prefix = "ms" + str(int(time.time() * 1000))
    for name, subjects in [
        ("", ["needle 1", "hay"]),
        ("/a", ["hay", "needle 2"]),
        ("/a/b", ["needle 3", "needle 4"]),
        ("/a/b/c", ["needle 5"]),
        ("/x", ["hay"]),
    ]:
        box = prefix + name
        typ, _ = imap.create(box)
        assert typ == "OK", typ
        for subject in subjects:
            typ, _ = imap.append(box, None, None, message(subject))
            assert typ == "OK", typ
    for n in range(MANY):
        box = f"{prefix}many/{n:03}"
        imap.create(box)
        imap.append(box, None, None, message(f"many {n}"))

    def esearch(label, *args):
        typ, _ = imap._simple_command("ESEARCH", *args)
        lines = [d.decode() for d in imap.untagged_responses.pop("ESEARCH", []) if d]
        lines = [re.sub(r'TAG "[^"]*" ', "", line) for line in lines]
        lines = [re.sub(r" UIDVALIDITY \d+", "", line).replace(prefix, "P") for line in lines]
        return label, typ, lines

    results = [
        esearch("ESEARCH IN (subtree P) SUBJECT needle", "IN", f"(subtree {prefix})", "SUBJECT", "needle"),
        esearch("ESEARCH IN (subtree-one P/a) ALL", "IN", f"(subtree-one {prefix}/a)", "ALL"),
        esearch(
            "ESEARCH IN (mailboxes (P/x P/a/b)) RETURN (MIN COUNT) ALL",
            "IN",
            f"(mailboxes ({prefix}/x {prefix}/a/b))",
            "RETURN",
            "(MIN COUNT)",
            "ALL",
        ),
    ]
    label, typ, lines = esearch("many", "IN", f"(subtree {prefix}many)", "RETURN", "(COUNT)", "ALL")
    counted = sum(1 for line in lines if line.endswith("UID COUNT 1"))
    results.append((f"ESEARCH IN (subtree Pmany) RETURN (COUNT) ALL", typ, [f"{counted} mailboxes"]))
    try:
        typ, _ = imap._simple_command("ESEARCH", "ALL")
    except imap.error as error:
        typ = "BAD" if "BAD" in str(error) else str(error)
    results.append(("ESEARCH ALL (nothing selected)", typ, []))
    imap.select(prefix + "/a/b")
    results.append(esearch("ESEARCH RETURN (MAX) ALL (selected)", "RETURN", "(MAX)", "ALL"))
    imap.logout()
    for command, typ, lines in results:
        print(f"{command} => {typ}", *lines, sep="\n  " if len(lines) > 1 else " ")


if __name__ == "__main__":
    main()
