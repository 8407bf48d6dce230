"""METADATA (RFC 5464) and LIST-METADATA (RFC 9590) with Python's imaplib.

imaplib knows only the old ANNOTATE draft (getannotation/setannotation), so the
commands are written raw (values as LITERAL+ literals, which imaplib's own literal
support cannot place inside a parenthesized list) and their answers read back with
imaplib's response reader.

Usage: metadata.py HOST PORT USER PASSWORD (write | read)
Prints a line per step: `command => result`.
"""

import imaplib
import sys

COMMENT = "Grüße, ✓ — a comment\r\nwith a line break".encode()
BINARY = bytes(range(1, 32)) + "é".encode() + b"\x00\xff"


def literal(value):
    """A LITERAL+ literal, `~{n+}` (literal8) when the value holds NUL."""
    prefix = b"~" if b"\x00" in value else b""
    return prefix + b"{%d+}\r\n" % len(value) + value


def raw(imap, command, payload):
    """Sends `tag payload` and returns (status, tagged text, untagged METADATA items);
    a BAD raises imaplib's error."""
    imap.untagged_responses.pop("METADATA", None)
    tag = imap._new_tag()
    imap.tagged_commands[tag] = None
    imap.send(tag + b" " + payload + b"\r\n")
    typ, data = imap._command_complete(command, tag)
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode()
    # imaplib files a tagged response's code under its name too: `[METADATA LONGENTRIES
    # n]` arrives among the untagged METADATA items.
    items = imap.untagged_responses.pop("METADATA", [])
    codes = (b"LONGENTRIES", b"MAXSIZE", b"TOOMANY", b"NOPRIVATE")
    return typ, text, [i for i in items if not (isinstance(i, bytes) and i.startswith(codes))]


def entries(items):
    """Untagged METADATA items as `mailbox: name=value ...`, literals read back whole."""
    flat = b""
    for item in items:
        flat += b"".join(item) if isinstance(item, tuple) else item
    return flat


def get(imap, mailbox, names, options=b""):
    payload = b"GETMETADATA " + options + b'"' + mailbox + b'" (' + b" ".join(names) + b")"
    return raw(imap, "GETMETADATA", payload)


def set_(imap, mailbox, pairs):
    body = b" ".join(name + b" " + value for name, value in pairs)
    return raw(imap, "SETMETADATA", b'SETMETADATA "' + mailbox + b'" (' + body + b")")


def write(imap):
    print("CAPABILITY =>", " ".join(c for c in ("METADATA", "LIST-METADATA") if c in imap.capabilities))
    typ, text, _ = set_(imap, b"INBOX", [(b"/shared/comment", literal(COMMENT)),
                                         (b"/private/vendor/moxide/blob", literal(BINARY)),
                                         (b"/private/comment", b'"inbox"')])
    print("SETMETADATA INBOX =>", typ)
    typ, text, items = get(imap, b"INBOX", [b"/shared/comment", b"/private/vendor/moxide/blob"])
    flat = entries(items)
    print("GETMETADATA INBOX =>", typ, COMMENT in flat, BINARY in flat)
    typ, text, items = get(imap, b"INBOX", [b"/private"], b"(MAXSIZE 10 DEPTH infinity) ")
    print("GETMETADATA MAXSIZE 10 =>", typ, text.split("]")[0] + "]", entries(items).decode())
    typ, text, items = get(imap, b"", [b"/shared/admin"])
    print("GETMETADATA server =>", typ, entries(items).decode())
    print("SETMETADATA /shared/admin =>", set_(imap, b"", [(b"/shared/admin", b'"x"')])[0:2])
    typ, text, _ = set_(imap, b"", [(b"/shared/comment", b'"server note"')])
    print("SETMETADATA server =>", typ)
    try:
        get(imap, b"INBOX", [b"/shared//comment"])
        print("GETMETADATA // => OK")
    except imap.error:
        print("GETMETADATA // => BAD")
    typ, text, _ = set_(imap, b"INBOX", [(b"/shared/big", literal(b"v" * 40000))])
    print("SETMETADATA 40000 octets =>", typ, text.split("]")[0] + "]")
    imap.create("Annotated")
    many = [(b"/shared/e%d" % n, b'"v"') for n in range(100)]
    print("SETMETADATA 100 entries =>", set_(imap, b"Annotated", many)[0])
    typ, text, _ = set_(imap, b"Annotated", [(b"/shared/one-more", b'"v"')])
    print("SETMETADATA 101st entry =>", typ, text.split("]")[0] + "]")
    set_(imap, b"Annotated", [(b"/shared/e%d" % n, b"NIL") for n in range(100)])
    set_(imap, b"Annotated", [(b"/private/comment", b'"annotated"')])
    imap.rename("Annotated", "Renamed")
    typ, text, items = get(imap, b"Renamed", [b"/private/comment"])
    print("GETMETADATA after RENAME =>", typ, entries(items).decode())
    typ, _ = imap.list('""', "Renamed")
    typ, text, items = raw(imap, "LIST", b'LIST "" (INBOX Renamed Sent) RETURN (METADATA (/private/comment))')
    print("LIST RETURN METADATA =>", typ, entries(items).decode())
    imap.delete("Renamed")
    imap.create("Renamed")
    typ, text, items = get(imap, b"Renamed", [b"/private/comment"])
    print("GETMETADATA after DELETE and CREATE =>", typ, len(items))


def read(imap):
    typ, text, items = get(imap, b"INBOX", [b"/shared/comment", b"/private/vendor/moxide/blob", b"/private/comment"])
    flat = entries(items)
    print("GETMETADATA INBOX after restart =>", typ, COMMENT in flat, BINARY in flat, b'"inbox"' in flat)
    typ, text, items = get(imap, b"", [b"/shared/comment"])
    print("GETMETADATA server after restart =>", typ, entries(items).decode())


def main():
    host, port, user, password, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    write(imap) if phase == "write" else read(imap)
    imap.logout()


main()
