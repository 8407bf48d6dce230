"""NOTIFY (RFC 5465) against the real server: client A sets NOTIFY on a raw socket
and then issues no command; client B (imaplib) and an SMTP delivery (smtplib) change
the account; A reads what the server sends it unprompted, straight from the socket.

Usage: notify.py HOST IMAP_PORT SMTP_PORT USER PASSWORD PID (events | overflow)
Prints a line per step.
"""

import imaplib
import re
import smtplib
import socket
import sys
import time

HOST, PORT, SMTP_PORT, USER, PASSWORD, PID, PHASE = sys.argv[1:8]
PORT, SMTP_PORT = int(PORT), int(SMTP_PORT)


class Raw:
    """A line-based IMAP client that reads whatever the server sends."""

    def __init__(self, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the window the server sees stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((HOST, PORT))
        self.buffer = b""
        self.line(30)

    def line(self, timeout):
        deadline = time.time() + timeout
        while b"\r\n" not in self.buffer:
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                raise EOFError("server closed")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        # UIDVALIDITY comes from the clock: the same text on every run.
        return re.sub(r"UIDVALIDITY \d+", "UIDVALIDITY n", line.decode())

    def command(self, tag, text):
        """Sends a command; returns (untagged lines, tagged line)."""
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        untagged = []
        while True:
            line = self.line(60)
            if line is None:
                raise TimeoutError(f"no answer to {text}")
            if line.startswith(tag + " "):
                return untagged, line
            untagged.append(line)

    def expect(self, pattern, timeout=30):
        """Reads lines until one matches; returns it (other lines are skipped)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.line(deadline - time.time())
            if line is not None and re.search(pattern, line):
                return line
        raise TimeoutError(f"nothing matched {pattern}")


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def login_raw(rcvbuf=None):
    a = Raw(rcvbuf)
    _, ok = a.command("a1", f"LOGIN {USER} {PASSWORD}")
    assert " OK " in ok, ok
    return a


def other():
    b = imaplib.IMAP4(HOST, PORT)
    b.login(USER, PASSWORD)
    return b


def events():
    a = login_raw()
    untagged, ok = a.command(
        "a2",
        "NOTIFY SET STATUS (INBOXES (MessageNew MessageExpunge FlagChange)) "
        "(PERSONAL (MessageNew MessageExpunge MailboxName SubscriptionChange "
        "MailboxMetadataChange ServerMetadataChange))",
    )
    print("NOTIFY SET STATUS =>", ok.split(" ", 1)[1], [u for u in untagged if "INBOX" in u])

    smtp = smtplib.SMTP(HOST, SMTP_PORT)
    smtp.sendmail("alice@example.org", [USER], b"Subject: hello\r\n\r\nhi\r\n")
    smtp.quit()
    print("SMTP delivery =>", a.expect(r"^\* STATUS INBOX "))

    b = other()
    b.select("INBOX")
    b.store("1", "+FLAGS", "(\\Seen)")
    print("STORE \\Seen =>", a.expect(r"^\* STATUS INBOX "))
    b.create("Work")
    print("CREATE =>", a.expect(r"^\* LIST "))
    b.rename("Work", "Play")
    print("RENAME =>", a.expect(r"^\* LIST "))
    b.subscribe("Play")
    print("SUBSCRIBE =>", a.expect(r"^\* LIST "))
    b.append("Play", None, None, b"Subject: x\r\n\r\nbody\r\n")
    print("APPEND elsewhere =>", a.expect(r"^\* STATUS "))
    tag = b._new_tag().decode()
    b.send(f'{tag} SETMETADATA Play (/private/comment "note")\r\n'.encode())
    while not b.readline().decode().startswith(tag):
        pass
    print("SETMETADATA mailbox =>", a.expect(r"^\* METADATA "))
    tag = b._new_tag().decode()
    b.send(f'{tag} SETMETADATA "" (/shared/comment "server")\r\n'.encode())
    while not b.readline().decode().startswith(tag):
        pass
    print("SETMETADATA server =>", a.expect(r"^\* METADATA "))
    b.delete("Play")
    print("DELETE =>", a.expect(r"^\* LIST "))
    b.logout()
    untagged, ok = a.command("a3", "NOOP")
    print("NOOP =>", ok.split(" ", 1)[1], untagged)
    untagged, ok = a.command("a4", "NOTIFY NONE")
    print("NOTIFY NONE =>", ok.split(" ", 1)[1])

    # The selected mailbox: MessageNew's FETCH attributes, expunges between commands.
    a.command("a5", "SELECT INBOX")
    _, ok = a.command(
        "a6",
        "NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) "
        "MessageExpunge FlagChange))",
    )
    print("NOTIFY SET SELECTED =>", ok.split(" ", 1)[1])
    smtp = smtplib.SMTP(HOST, SMTP_PORT)
    smtp.sendmail("alice@example.org", [USER], b"Subject: second\r\n\r\nhi\r\n")
    smtp.quit()
    print("SMTP delivery =>", a.expect(r"EXISTS$"))
    fetched = [a.expect(r"^\* 2 FETCH ")]
    while fetched[-1] != ")":
        fetched.append(a.line(30))
    print("MessageNew FETCH =>", fetched)
    b = other()
    b.select("INBOX")
    b.store("1", "+FLAGS", "(\\Deleted)")
    print("STORE by B =>", a.expect(r"^\* 1 FETCH "))
    b.expunge()
    print("EXPUNGE by B =>", a.expect(r"EXPUNGE$"))

    # In IDLE: other mailboxes' events as well as the selected one's.
    a.command("a7", "NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MailboxName))")
    a.sock.sendall(b"a8 IDLE\r\n")
    print("IDLE =>", a.line(30))
    b.create("Idle-box")
    print("CREATE in IDLE =>", a.expect(r"^\* LIST "))
    b.append("INBOX", None, None, b"Subject: third\r\n\r\nhi\r\n")
    print("APPEND in IDLE =>", a.expect(r"EXISTS$"))
    # RENAME INBOX moves its messages (RFC 9051 §6.3.6): a new name, and INBOX's expunges.
    b.rename("INBOX", "Old-inbox")
    print("RENAME INBOX in IDLE =>", a.expect(r"^\* LIST "))
    print("its expunges =>", a.expect(r"EXPUNGE$"), a.expect(r"EXPUNGE$"))
    a.sock.sendall(b"DONE\r\n")
    print("DONE =>", a.expect(r"^a8 "))
    b.logout()
    # The session that renames INBOX while showing it sees each expunge once.
    for n in (1, 2):
        a.command(f"a9{n}", "APPEND INBOX {8+}\r\nx: y\r\n\r\n")
    untagged, ok = a.command("a10", "RENAME INBOX Again")
    print("own RENAME INBOX =>", ok.split(" ", 1)[1], untagged)
    untagged, ok = a.command("a11", "NOOP")
    print("NOOP =>", ok.split(" ", 1)[1], untagged)
    # A selected child of a renamed mailbox is renamed with it: deleting it by its new
    # name closes it.
    a.command("a12", "NOTIFY NONE")
    a.command("a13", "CREATE p/q")
    a.command("a14", "SELECT p/q")
    a.command("a15", "RENAME p r")
    untagged, ok = a.command("a16", "DELETE r/q")
    print("DELETE renamed selected child =>", ok.split(" ", 1)[1])
    untagged, ok = a.command("a17", "FETCH 1 FLAGS")
    print("then FETCH =>", ok.split(" ", 1)[1])


def overflow():
    b = other()
    a = login_raw(rcvbuf=4096)
    _, ok = a.command("a2", "NOTIFY SET (PERSONAL (MailboxMetadataChange))")
    print("NOTIFY SET =>", ok.split(" ", 1)[1])
    before = rss_kib()
    # A reads nothing while B makes events of 25 KiB each (100 entry names of 250
    # octets, removed: nothing is stored), more than the socket buffers hold.
    names = " ".join(f"/private/e{i:03}{'x' * 240} NIL" for i in range(100))
    events = 600
    for n in range(events):
        tag = b._new_tag().decode()
        b.send(f"{tag} SETMETADATA INBOX ({names})\r\n".encode())
        while True:
            line = b.readline().decode()
            if line.startswith(tag):
                assert " OK " in line, line
                break
    grown = rss_kib() - before
    print("server RSS growth under 32 MiB =>", grown < 32 * 1024)
    print(f"RSS growth {grown} KiB", file=sys.stderr)
    notified, overflowed, after = 0, False, 0
    while True:
        line = a.line(3)
        if line is None:
            break
        if "[NOTIFICATIONOVERFLOW]" in line:
            overflowed = True
        elif line.startswith("* METADATA"):
            if overflowed:
                after += 1
            else:
                notified += 1
    print("overflow said =>", overflowed)
    print("fewer notifications than events =>", 0 < notified < events)
    print(f"{notified} METADATA of {events}", file=sys.stderr)
    print("notifications after the overflow =>", after)
    untagged, ok = a.command("a3", "NOOP")
    print("NOOP after =>", ok.split(" ", 1)[1], untagged)
    b.logout()


{"events": events, "overflow": overflow}[PHASE]()
