#!/usr/bin/env python3
"""Real-client IMAP checks driven by the Rust integration tests (tests/imap_clients.rs),
using Python's imaplib (and smtplib to deliver while IMAP sessions watch).

Usage:
  imap_clients.py basic IMAP_PORT SMTP_PORT
  imap_clients.py idle IMAP_PORT SMTP_PORT
  imap_clients.py twosessions IMAP_PORT
  imap_clients.py status IMAP_PORT               prints "UIDVALIDITY <n>" of INBOX
  imap_clients.py bigbox IMAP_PORT COUNT         checks a mailbox of COUNT messages
  imap_clients.py stress IMAP_PORT CONNS SECONDS [strict]
                                                 concurrent EXPUNGE, FETCH, STORE, APPEND

Exits 0 on success; an AssertionError says what went wrong.
"""
import base64
import imaplib
import re
import smtplib
import socket
import sys
import time

USER, PASSWORD = "mox@localhost", "moxmoxmox"


def connect(port):
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    return imap


def ok(result, what=""):
    typ, data = result
    assert typ == "OK", (what, typ, data)
    return data


def mutf7(name):
    """RFC 3501 5.1.3 modified UTF-7 (imaplib does not encode mailbox names)."""
    out, buf = [], []

    def flush():
        if buf:
            import base64
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append("&" + b + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def q(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


NESTED = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: nested structure\r\n"
    b"Date: Mon, 02 Jan 2023 10:00:00 +0100\r\n"
    b"Message-ID: <nested@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"plain body findme\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>html body</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/octet-stream; name=data.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=data.bin\r\n"
    b"\r\n"
    b"AAECAwQFBgcICQ==\r\n"
    b"--outer--\r\n"
)


def simple(subject, body="hello"):
    return (
        "From: Carol <carol@example.org>\r\nTo: mox@localhost\r\nSubject: %s\r\n"
        "Date: Tue, 03 Jan 2023 11:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n"
        % (subject, subject.replace(" ", "-"), body)
    ).encode()


def fetch_one(imap, uid, item):
    data = ok(imap.uid("FETCH", str(uid), item), item)
    for part in data:
        if isinstance(part, tuple):
            return part[1]
    raise AssertionError("no literal in %r" % (data,))


def basic(port, smtp_port):
    imap = connect(port)
    try:
        imap.login(USER, "wrong")
        raise AssertionError("wrong password accepted")
    except imaplib.IMAP4.error:
        pass
    ok(imap.login(USER, PASSWORD))
    caps = imap.capabilities
    for cap in ["IMAP4REV2", "IDLE", "MOVE", "UIDPLUS", "CONDSTORE", "QRESYNC", "ESEARCH", "LITERAL+", "SPECIAL-USE"]:
        assert cap in caps, (cap, caps)

    # LIST with special-use attributes.
    listing = b"\n".join(ok(imap.list('""', "*")))
    for name, attr in [(b"INBOX", None), (b"Sent", b"\\Sent"), (b"Drafts", b"\\Drafts"), (b"Archive", b"\\Archive"), (b"Trash", b"\\Trash"), (b"Junk", b"\\Junk")]:
        line = [l for l in listing.split(b"\n") if l.endswith(b'"' + name + b'"') or l.endswith(b" " + name)]
        assert line, (name, listing)
        if attr:
            assert attr in line[0], (attr, line)

    # CREATE / RENAME / DELETE with non-ASCII names.
    parent, child = "Tëst", "Tëst/Ünter"
    ok(imap.create(q(mutf7(child))), "create child (and parent)")
    listing = b"\n".join(ok(imap.list('""', "*")))
    assert mutf7(child).encode() in listing and mutf7(parent).encode() in listing, listing
    typ, _ = imap.delete(q(mutf7(parent)))
    assert typ == "NO", "deleting a mailbox with children must fail"
    ok(imap.rename(q(mutf7(child)), q(mutf7("Tëst/Neü"))))
    listing = b"\n".join(ok(imap.list('""', q(mutf7("Tëst") + "/*"))))
    assert mutf7("Tëst/Neü").encode() in listing and mutf7(child).encode() not in listing, listing
    ok(imap.delete(q(mutf7("Tëst/Neü"))))
    ok(imap.delete(q(mutf7(parent))))
    ok(imap.create("Work"))
    ok(imap.subscribe("Work"))
    assert b'"Work"' in b"".join(ok(imap.lsub('""', "*"))) or b" Work" in b"".join(ok(imap.lsub('""', "*")))

    # APPEND with flags and date; fetch back byte-identical.
    date = imaplib.Time2Internaldate(time.mktime((2023, 1, 2, 9, 30, 0, 0, 1, -1)))
    typ, data = imap.append("Work", r"(\Flagged $Junk)", date, NESTED)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    appended_uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
    ok(imap.select("Work"))
    assert fetch_one(imap, appended_uid, "(BODY.PEEK[])") == NESTED
    flags = b" ".join(ok(imap.uid("FETCH", str(appended_uid), "(FLAGS INTERNALDATE RFC822.SIZE)")))
    assert b"\\Flagged" in flags and b"$Junk" in flags and b"\\Seen" not in flags, flags
    assert (b"RFC822.SIZE %d" % len(NESTED)) in flags, flags
    assert b'"02-Jan-2023' in flags, flags

    # BODYSTRUCTURE on a nested multipart; sections; partial fetch.
    bs = b" ".join(x if isinstance(x, bytes) else b"".join(x) for x in ok(imap.uid("FETCH", str(appended_uid), "(BODYSTRUCTURE)")))
    for piece in [b'"ALTERNATIVE"', b'"MIXED"', b'"PLAIN"', b'"HTML"', b'"APPLICATION" "OCTET-STREAM"', b'"BASE64"', b'"attachment"']:
        assert piece.lower() in bs.lower(), (piece, bs)
    assert fetch_one(imap, appended_uid, "(BODY.PEEK[1.1])") == b"plain body findme"
    assert fetch_one(imap, appended_uid, "(BODY.PEEK[2])") == b"AAECAwQFBgcICQ=="
    assert fetch_one(imap, appended_uid, "(BINARY.PEEK[2])") == bytes(range(10))
    assert fetch_one(imap, appended_uid, "(BODY.PEEK[]<10.20>)") == NESTED[10:30]
    subject = fetch_one(imap, appended_uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert subject == b"Subject: nested structure\r\n\r\n", subject
    env = b" ".join(x if isinstance(x, bytes) else b"".join(x) for x in ok(imap.uid("FETCH", str(appended_uid), "(ENVELOPE)")))
    assert b'"nested structure"' in env and b'"alice" "example.org"' in env, env
    # Non-PEEK fetch sets \Seen.
    fetch_one(imap, appended_uid, "(BODY[TEXT])")
    assert b"\\Seen" in b" ".join(ok(imap.uid("FETCH", str(appended_uid), "(FLAGS)")))

    # More messages, STORE and SEARCH variants.
    for i in range(5):
        ok(imap.append("Work", None, None, simple("search me %d" % i, "body%d alpha" % i)))
    ok(imap.select("Work"))
    ok(imap.store("2:3", "+FLAGS", r"(\Flagged)"))
    found = ok(imap.search(None, "FLAGGED"))[0].split()
    assert found == [b"1", b"2", b"3"], found
    found = ok(imap.search(None, "UNFLAGGED"))[0].split()
    assert found == [b"4", b"5", b"6"], found
    found = ok(imap.search(None, 'SUBJECT "search me 3"'))[0].split()
    assert found == [b"5"], found
    found = ok(imap.search(None, 'BODY "findme"'))[0].split()
    assert found == [b"1"], found
    found = ok(imap.search(None, 'OR FLAGGED BODY "body4"'))[0].split()
    assert found == [b"1", b"2", b"3", b"6"], found
    found = ok(imap.search(None, 'NOT FROM "carol"'))[0].split()
    assert found == [b"1"], found
    found = ok(imap.search(None, 'SENTBEFORE 03-Jan-2023'))[0].split()
    assert found == [b"1"], found
    # SUBJECT decodes RFC 2047 words and folds case; mixed with a header key.
    ok(imap.append("Work", None, None, simple("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=")))
    found = ok(imap.search("UTF-8", b'SUBJECT "K\xc3\x96LN"'.decode("unicode_escape").encode("latin-1")))[0].split()
    assert found == [b"7"], found
    found = ok(imap.search(None, 'OR SUBJECT "search me 1" FROM "alice"'))[0].split()
    assert found == [b"1", b"3"], found
    found = ok(imap.search(None, 'NOT SUBJECT "search" SENTON 03-Jan-2023'))[0].split()
    assert found == [b"7"], found
    ok(imap.store("7", "+FLAGS.SILENT", r"(\Deleted)"))
    ok(imap.expunge())
    found = ok(imap.uid("SEARCH", "UNSEEN"))[0].split()
    assert len(found) == 5, found
    typ, data = imap._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
    assert typ == "OK", data
    esearch = imap.untagged_responses.pop("ESEARCH", [b""])[0]
    assert b"MIN 1" in esearch and b"MAX 6" in esearch and b"COUNT 6" in esearch, esearch

    # COPY and MOVE with COPYUID.
    typ, data = imap.copy("1:2", "Archive")
    assert typ == "OK" and b"COPYUID" in data[0], data
    typ, data = imap._simple_command("MOVE", "3", "Trash")
    assert typ == "OK", data
    copyuid = imap.untagged_responses.pop("OK", [b""])
    assert any(b"COPYUID" in c for c in copyuid), copyuid
    expunged = imap.untagged_responses.pop("EXPUNGE", [])
    assert expunged == [b"3"], expunged
    ok(imap.select("Archive"))
    assert ok(imap.search(None, "ALL"))[0].split() == [b"1", b"2"]
    ok(imap.select("Trash"))
    assert fetch_one(imap, 1, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])").startswith(b"Subject: search me 1")

    # EXPUNGE and UID EXPUNGE.
    ok(imap.select("Work"))
    ok(imap.store("1,3", "+FLAGS", r"(\Deleted)"))
    typ, data = imap.expunge()
    assert typ == "OK" and data == [b"3", b"1"], data
    uids = ok(imap.uid("SEARCH", "ALL"))[0].split()
    ok(imap.uid("STORE", b",".join(uids[:2]).decode(), "+FLAGS", r"(\Deleted)"))
    typ, data = imap._simple_command("UID", "EXPUNGE", uids[0].decode())
    assert typ == "OK", data
    remaining = ok(imap.uid("SEARCH", "ALL"))[0].split()
    assert remaining == uids[1:], (remaining, uids)
    assert ok(imap.search(None, "DELETED"))[0].split() == [b"1"]

    # STATUS with SIZE and HIGHESTMODSEQ.
    status = ok(imap.status("Work", "(MESSAGES UIDNEXT UNSEEN SIZE HIGHESTMODSEQ)"))[0]
    assert b"MESSAGES 2" in status and b"SIZE " in status and b"HIGHESTMODSEQ " in status, status
    imap.logout()


def read_until(sock, pattern, timeout):
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while not re.search(pattern, data):
        if time.time() > deadline:
            raise AssertionError("timeout waiting for %r, got %r" % (pattern, data))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed, got %r" % data)
        data += chunk
    return data


def idle(port, smtp_port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    read_until(sock, rb"\* OK", 10)
    sock.sendall(b"a LOGIN mox@localhost moxmoxmox\r\n")
    read_until(sock, rb"a OK", 10)
    sock.sendall(b"b SELECT INBOX\r\n")
    data = read_until(sock, rb"b OK", 10)
    exists = int(re.search(rb"\* (\d+) EXISTS", data).group(1))
    sock.sendall(b"c IDLE\r\n")
    read_until(sock, rb"\+ ", 10)
    start = time.time()
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        smtp.sendmail("idle@example.org", ["mox@localhost"], simple("idle wakeup"))
    data = read_until(sock, rb"\* %d EXISTS" % (exists + 1), 10)
    waited = time.time() - start
    sock.sendall(b"DONE\r\n")
    read_until(sock, rb"c OK", 10)
    sock.sendall(b"d LOGOUT\r\n")
    read_until(sock, rb"d OK", 10)
    print("idle wakeup after SMTP 250: %.1f ms" % (waited * 1000))


TEXT_SEARCH_MESSAGES = [
    b"Subject: plain one\r\n\r\nThe quick brown fox jumps.\r\n",
    b"Subject: two\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me br=FB=\r\nl=E9e\r\n",
    b"Subject: three\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes("Grüße aus Köln, quetzalcoatl".encode()).replace(b"\n", b"\r\n"),
    b"Subject: four\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>wor</b>ld</p>\r\n",
    b"Subject: five\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Type: text/plain\r\n\r\nattached below\r\n--b\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(b"secretword") + b"\r\n--b--\r\n",
    b"Subject: six\r\nX-Note: zanzibar\r\n\r\nplain text\r\n",
]

# (search criteria, expected sequence numbers), for the messages above in order.
TEXT_SEARCHES = [
    ('BODY "QUICK BROWN"', [1]),
    ('TEXT "plain one"', [1]),
    ('BODY "plain one"', []),
    ('BODY "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e"', [2]),
    ('BODY "K\xc3\xb6ln"', [3]),
    ('BODY "quetzalcoatl"', [3]),
    ('BODY "hello world"', [4]),
    ('BODY "attached below"', [5]),
    ('BODY "secretword"', []),
    ('TEXT "zanzibar"', [6]),
    ('BODY "zanzibar"', []),
    ('BODY "nowhere-at-all"', []),
    ('BODY "o"', [1, 3, 4, 5]),
    ('NOT BODY "quetzalcoatl"', [1, 2, 4, 5, 6]),
    ('OR BODY "quick" TEXT "zanzibar"', [1, 6]),
]


def textsearch(port, smtp_port):
    """SEARCH BODY and TEXT over delivered messages (each with its text signature),
    charsets and encodings of every kind, needles present and absent, short and long;
    again in a COPY of the mailbox and after an EXPUNGE."""
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        for message in TEXT_SEARCH_MESSAGES:
            smtp.sendmail("search@example.org", ["mox@localhost"], message)
    imap = connect(port)
    ok(imap.login(USER, PASSWORD))
    ok(imap.select("INBOX"))

    def check(mailbox_numbers):
        for criteria, expected in TEXT_SEARCHES:
            raw = criteria.encode("latin-1")
            charset = "UTF-8" if any(byte >= 0x80 for byte in raw) else None
            found = [int(n) for n in ok(imap.search(charset, raw), criteria)[0].split()]
            want = [mailbox_numbers[n] for n in expected if n in mailbox_numbers]
            assert found == want, (criteria, found, want)

    check({n: n for n in range(1, 7)})
    ok(imap.create("Searched"))
    ok(imap.copy("1:*", "Searched"))
    ok(imap.select("Searched"))
    check({n: n for n in range(1, 7)})
    ok(imap.store("3", "+FLAGS.SILENT", r"(\Deleted)"))
    ok(imap.expunge())
    check({1: 1, 2: 2, 4: 3, 5: 4, 6: 5})
    imap.logout()


def twosessions(port):
    a, b = connect(port), connect(port)
    ok(a.login(USER, PASSWORD))
    ok(b.login(USER, PASSWORD))
    ok(a.append("INBOX", None, None, simple("shared view")))
    ok(a.select("INBOX"))
    ok(b.select("INBOX"))
    count = int(ok(b.search(None, "ALL"))[0].split()[-1])
    ok(a.store(str(count), "+FLAGS", r"(\Answered)"))
    typ, data = b.noop()
    fetches = b.untagged_responses.pop("FETCH", [])
    assert any(b"\\Answered" in f for f in fetches), (fetches, data)
    ok(a.store(str(count), "+FLAGS", r"(\Deleted)"))
    ok(a.expunge())
    b.noop()
    expunged = b.untagged_responses.pop("EXPUNGE", [])
    assert expunged == [str(count).encode()], expunged
    # Changes larger than what a sync reads on the session's core (64 of each kind) are
    # read on a helper thread: the other session must see them all the same.
    b.untagged_responses.clear()
    found = ok(b.search(None, "ALL"))[0].split()
    before = int(found[-1]) if found else 0
    for n in range(70):
        ok(a.append("INBOX", None, None, simple("large change %d" % n)))
    b.noop()
    exists = b.untagged_responses.pop("EXISTS", [])
    assert exists and int(exists[-1]) == before + 70, (exists, before)
    ok(a.select("INBOX"))
    ok(a.store("1:*", "+FLAGS.SILENT", r"(\Flagged)"))
    b.untagged_responses.clear()
    b.noop()
    fetches = b.untagged_responses.pop("FETCH", [])
    flagged = {int(f.split()[0]) for f in fetches if b"\\Flagged" in f}
    assert flagged == set(range(1, before + 71)), (len(flagged), before + 70)
    ok(a.store("%d:*" % (before + 1), "+FLAGS.SILENT", r"(\Deleted)"))
    ok(a.expunge())
    b.untagged_responses.clear()
    b.noop()
    expunged = b.untagged_responses.pop("EXPUNGE", [])
    assert len(expunged) == 70, expunged
    a.logout()
    b.logout()


def raw_session(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    read_until(sock, rb"\* OK", 10)
    counter = [0]

    def cmd(line):
        counter[0] += 1
        tag = b"t%d" % counter[0]
        sock.sendall(tag + b" " + line.encode() + b"\r\n")
        data = read_until(sock, rb"(?m)^" + tag + rb" (OK|NO|BAD)[^\r]*\r\n", 20)
        assert re.search(rb"(?m)^" + tag + rb" OK", data), (line, data)
        return data

    cmd("LOGIN mox@localhost moxmoxmox")
    return sock, cmd


def qresync(port):
    """RFC 7162: a client that knows (UIDVALIDITY, MODSEQ) resynchronizes in SELECT."""
    sock, cmd = raw_session(port)
    cmd("ENABLE QRESYNC")
    cmd("CREATE Resync")
    for i in range(4):
        cmd("APPEND Resync {%d+}\r\n%s" % (len(simple("resync %d" % i)), simple("resync %d" % i).decode()))
    data = cmd("SELECT Resync")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", data).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", data).group(1))
    cmd("UID STORE 2 +FLAGS (\\Flagged)")
    cmd("UID STORE 3 +FLAGS (\\Deleted)")
    data = cmd("UID EXPUNGE 3")
    assert b"* VANISHED 3" in data, data
    cmd("UNSELECT")
    data = cmd("SELECT Resync (QRESYNC (%d %d 1:4))" % (uidvalidity, modseq))
    assert b"* VANISHED (EARLIER) 3" in data, data
    assert re.search(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", data), data
    assert b"UID 1 " not in data and b"UID 4 " not in data, data
    data = cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
    assert b"* VANISHED (EARLIER) 3" in data and b"UID 2 " in data and b"UID 4 " not in data, data
    sock.close()


def changedsince(port):
    """RFC 7162 §3.1.4: CHANGEDSINCE reports exactly the messages changed after the
    modseq, here read from the store's modseq index: another session's flag change, and a
    message it expunged that this session still shows (its FETCH comes from the kept
    record; UID FETCH may report the expunge instead)."""
    a, cmd_a = raw_session(port)
    b, cmd_b = raw_session(port)
    cmd_a("CREATE Changes")
    for i in range(40):
        text = simple("change %d" % i)
        cmd_a("APPEND Changes {%d+}\r\n%s" % (len(text), text.decode()))
    data = cmd_a("SELECT Changes (CONDSTORE)")
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", data).group(1))
    cmd_b("SELECT Changes")
    cmd_b("UID STORE 30 +FLAGS.SILENT ($Test)")
    cmd_b("UID STORE 10 +FLAGS.SILENT (\\Deleted)")
    cmd_b("EXPUNGE")
    data = cmd_a("FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % modseq)
    fetched = sorted(int(u) for u in re.findall(rb"\* \d+ FETCH \(UID (\d+)", data))
    assert fetched == [10, 30], data
    assert b"EXPUNGE" not in data, data
    data = cmd_a("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseq)
    assert re.search(rb"\* \d+ FETCH \(UID 30 FLAGS \([^)]*\$Test", data), data
    data = cmd_a("FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")
    assert len(re.findall(rb"\* \d+ FETCH ", data)) == 39, data
    data = cmd_a("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % (modseq + 1000))
    assert not re.search(rb"\* \d+ FETCH ", data), data
    a.close()
    b.close()


def rev2(port):
    """RFC 9051: an IMAP4rev2 client gets ESEARCH, a LIST in SELECT and no RECENT."""
    sock, cmd = raw_session(port)
    data = cmd("ENABLE IMAP4rev2")
    assert b"* ENABLED IMAP4REV2" in data, data
    data = cmd("SELECT INBOX")
    assert b"RECENT" not in data and b'* LIST () "/" INBOX' in data, data
    data = cmd("SEARCH ALL")
    assert b"* ESEARCH (TAG " in data and b"* SEARCH" not in data, data
    data = cmd('CREATE "Ünïcødé"')
    data = cmd('LIST "" "Ü*"')
    assert '"Ünïcødé"'.encode() in data or "Ünïcødé".encode() in data, data
    sock.close()


def status(port):
    imap = connect(port)
    ok(imap.login(USER, PASSWORD))
    data = ok(imap.status("INBOX", "(UIDVALIDITY MESSAGES)"))[0]
    print("UIDVALIDITY", re.search(rb"UIDVALIDITY (\d+)", data).group(1).decode())
    imap.logout()


def bigbox(port, count):
    imap = connect(port)
    ok(imap.login(USER, PASSWORD))
    start = time.time()
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) == count, data
    typ, data = imap.fetch("1:*", "(FLAGS)")
    assert typ == "OK", typ
    assert len(data) == count, (len(data), count)
    assert data[0].startswith(b"1 (FLAGS ()"), data[0]
    assert data[-1].startswith(b"%d (FLAGS ()" % count), data[-1]
    ok(imap.store("1:%d" % (count // 2), "+FLAGS.SILENT", r"(\Seen)"))
    typ, _ = imap._simple_command("SEARCH", "RETURN", "(COUNT MIN MAX)", "UNSEEN")
    esearch = imap.untagged_responses.pop("ESEARCH", [b""])[0]
    assert b"COUNT %d" % (count - count // 2) in esearch, esearch
    assert b"MIN %d" % (count // 2 + 1) in esearch, esearch
    # A set out of order and with a repeat: every named message once.
    typ, data = imap.fetch("%d,1:2,2" % count, "(FLAGS)")
    assert typ == "OK" and sorted(int(d.split()[0]) for d in data) == [1, 2, count], data
    typ, data = imap.uid("FETCH", "%d:*" % (count - 5), "(UID RFC822.SIZE FLAGS)")
    assert typ == "OK" and len(data) == 6, data
    found = ok(imap.uid("SEARCH", "UID %d:* SUBJECT \"odd\"" % (count - 9)))[0].split()
    assert found == [str(u).encode() for u in range(count - 9, count + 1) if u % 2 == 0], found
    bigbox_sort_thread(imap, count)
    bigbox_preview(imap)
    bigbox_vanished(imap)
    print("bigbox: %d messages checked in %.1f s" % (count, time.time() - start))
    imap.logout()


def bigbox_preview(imap):
    """PREVIEW (RFC 8970) of messages whose stored summary has one (odd UIDs) and of
    messages stored without (even UIDs: made from the file on a helper thread)."""
    typ, data = imap.fetch("1:4", "(PREVIEW)")
    assert typ == "OK" and len(data) == 4, data
    for n, line in enumerate(data, 1):
        kind = "even" if n % 2 else "odd"
        assert line == b'%d (PREVIEW "bulk body %s")' % (n, kind.encode()), line


def bigbox_vanished(imap):
    """VANISHED (EARLIER) (RFC 7162 3.2.10) of 5,000 expunges, more than a session reads
    on its core (4,096: the rest are read on a helper thread), then of 100 (on the core).
    UIDs are sequence numbers in this mailbox until the first expunge."""
    ok(imap.unselect())  # ENABLE is for the authenticated state (RFC 5161 3.1)
    ok(imap.enable("QRESYNC"))
    ok(imap.select("INBOX"))
    for first, gone in ((1, 5000), (5001, 100)):
        status = ok(imap.status("INBOX", "(HIGHESTMODSEQ)"))[0]
        since = int(re.search(rb"HIGHESTMODSEQ (\d+)", status).group(1))
        ok(imap.store("1:%d" % gone, "+FLAGS.SILENT", r"(\Deleted)"))
        ok(imap.expunge())
        imap.untagged_responses.pop("VANISHED", None)
        typ, data = imap.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d VANISHED)" % since)
        assert typ == "OK" and data == [None], data[:3]
        vanished = set()
        for line in imap.untagged_responses.pop("VANISHED", []):
            assert line.startswith(b"(EARLIER) "), line
            for part in line.split()[1].split(b","):
                low, _, high = part.partition(b":")
                vanished.update(range(int(low), int(high or low) + 1))
        assert vanished == set(range(first, first + gone)), (gone, sorted(vanished)[:5], len(vanished))


def bigbox_sort_thread(imap, count):
    """SORT and THREAD over every message: odd UIDs say "bulk even", even ones "bulk odd",
    arrival in UID order, no Message-IDs."""
    imaplib._MAXLINE = 10_000_000  # a THREAD of 100k messages is one line of about 800 KB
    odd, even = list(range(1, count + 1, 2)), list(range(2, count + 1, 2))
    started = time.time()
    typ, data = imap.sort("(REVERSE ARRIVAL)", "UTF-8", "ALL")
    assert typ == "OK" and data[0].split() == [str(n).encode() for n in range(count, 0, -1)], data[0][:80]
    typ, data = imap.sort("(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and data[0].split() == [str(n).encode() for n in odd + even], data[0][:80]
    sorted_at = time.time()
    typ, data = imap.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    expected = "(%d %s)(%d %s)" % (
        odd[0], "".join("(%d)" % n for n in odd[1:]), even[0], "".join("(%d)" % n for n in even[1:]))
    assert typ == "OK" and data[0].decode() == expected, data[0][:80]
    # REFERENCES: no ids, so one subject thread each, under a dummy.
    typ, data = imap.thread("REFERENCES", "UTF-8", "ALL")
    expected = "(%s)(%s)" % ("".join("(%d)" % n for n in odd), "".join("(%d)" % n for n in even))
    assert typ == "OK" and data[0].decode() == expected, data[0][:80]
    print("bigbox: 2 SORTs in %.2f s, 2 THREADs in %.2f s" % (sorted_at - started, time.time() - sorted_at))


KEYWORD_RE = re.compile(rb"FLAGS \(([^)]*)\)")
FETCH_RE = re.compile(rb"^(\d+) \(")


class Tracked(imaplib.IMAP4):
    """imaplib, keeping every untagged response in the order the server sent it
    (imaplib itself files them by type), so a checker can follow the session's state."""

    def __init__(self, *args, **kwargs):
        self.events = []
        super().__init__(*args, **kwargs)

    def _append_untagged(self, typ, dat):
        self.events.append((typ, dat))
        super()._append_untagged(typ, dat)


class View:
    """What the client knows of the selected mailbox: its message count and the flags
    announced. Every response is checked against it in order."""

    def __init__(self, worker, errors):
        self.worker, self.errors = worker, errors
        self.exists, self.announced = 0, set()

    def follow(self, events):
        for typ, dat in events:
            line = dat[0] if isinstance(dat, tuple) else dat
            if typ == "EXISTS":
                self.exists = int(line)
            elif typ == "EXPUNGE":
                if not 1 <= int(line) <= self.exists:
                    self.error("EXPUNGE %s out of range (%d messages)" % (line, self.exists))
                self.exists -= 1
            elif typ == "FLAGS":
                self.announced = set(line.strip(b"()").split())
            elif typ == "FETCH":
                match = FETCH_RE.match(line)
                if match and not 1 <= int(match.group(1)) <= self.exists:
                    self.error("FETCH %s out of range (%d messages)" % (match.group(1), self.exists))
                for flags in KEYWORD_RE.findall(line):
                    for flag in flags.split():
                        if not flag.startswith(b"\\") and flag not in self.announced:
                            self.error("keyword %r shown before FLAGS announced it" % flag)

    def error(self, text):
        self.errors.append("worker %d: %s" % (self.worker, text))


def stress_worker(port, worker, seconds, errors, strict):
    """One connection: loops SELECT, FETCH (flags, and the whole body of a message that
    another session may just have expunged), STORE of flags and random keywords,
    EXPUNGE of what it marked, APPEND of new mail. It follows the session's state from
    the untagged responses in order: a failed command, a FETCH without its data, a
    message number out of range, or a keyword not announced in FLAGS is an error. With
    `strict`, a FETCH of a message expunged meanwhile must still return its data (moxide
    keeps it until the session is told); otherwise `BODY[] NIL` is taken too (Dovecot's
    answer when the file is gone)."""
    import random
    rng = random.Random(worker)
    imap = Tracked("127.0.0.1", port, timeout=60)
    ok(imap.login(USER, PASSWORD))
    deadline = time.time() + seconds
    rounds = 0

    def run(what, command):
        imap.events.clear()
        typ, data = command()
        view.follow(imap.events)
        if typ != "OK":
            view.error("%s: %s %r" % (what, typ, data))
        return typ, data

    try:
        while time.time() < deadline and not errors:
            rounds += 1
            view = View(worker, errors)
            run("SELECT", lambda: imap.select("Stress"))
            for _ in range(8):
                if view.exists:
                    seq = str(rng.randint(1, view.exists))
                    # Another session may expunge this message meanwhile: the FETCH must
                    # still answer with its data (the expunge is reported later).
                    typ, data = run("FETCH " + seq, lambda: imap.fetch(seq, "(UID FLAGS BODY.PEEK[])"))
                    bodies = [item[1] for item in data if isinstance(item, tuple)]
                    gone = any(isinstance(item, bytes) and b"BODY[] NIL" in item for item in data)
                    if typ == "OK" and not any(b"Subject: stress" in body for body in bodies) and (strict or not gone):
                        view.error("FETCH %s returned no message: %r" % (seq, data))
                action = rng.random()
                if view.exists and action < 0.4:
                    seq, keyword = str(rng.randint(1, view.exists)), "($kw%d)" % rng.randint(1, 12)
                    run("STORE", lambda: imap.store(seq, "+FLAGS", keyword))
                elif view.exists and action < 0.7:
                    seq = str(rng.randint(1, view.exists))
                    run("STORE", lambda: imap.store(seq, "+FLAGS.SILENT", r"(\Deleted)"))
                    run("EXPUNGE", imap.expunge)
                else:
                    message = simple("stress %d-%d" % (worker, rounds))
                    run("APPEND", lambda: imap.append("Stress", None, None, message))
                run("NOOP", imap.noop)
        imap.logout()
    except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
        errors.append("worker %d: %r" % (worker, error))


def stress(port, conns, seconds, strict):
    """Several connections on one mailbox at once; see stress_worker."""
    import threading
    imap = connect(port)
    ok(imap.login(USER, PASSWORD))
    imap.create("Stress")
    for n in range(40):
        ok(imap.append("Stress", None, None, simple("stress seed-%d" % n)))
    imap.logout()
    errors = []
    threads = [threading.Thread(target=stress_worker, args=(port, w, seconds, errors, strict)) for w in range(conns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, "\n".join(errors[:20])
    print("stress: %d connections for %d s, no protocol errors" % (conns, seconds))


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "basic":
        basic(port, int(sys.argv[3]))
    elif mode == "idle":
        idle(port, int(sys.argv[3]))
    elif mode == "twosessions":
        twosessions(port)
    elif mode == "textsearch":
        textsearch(port, int(sys.argv[3]))
    elif mode == "qresync":
        qresync(port)
    elif mode == "rev2":
        rev2(port)
    elif mode == "changedsince":
        changedsince(port)
    elif mode == "status":
        status(port)
    elif mode == "bigbox":
        bigbox(port, int(sys.argv[3]))
    elif mode == "stress":
        stress(port, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:] == ["strict"])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
