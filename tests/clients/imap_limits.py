#!/usr/bin/env python3
"""Mailbox limits and LIST patterns through Python's imaplib, driven by
tests/imap_limits.rs against `moxide serve` configured with mailboxes_max = 12 and
mailbox_depth_max = 4.

Usage:
  imap_limits.py IMAP_PORT USER PASSWORD

Exits 0 on success; an AssertionError says what went wrong.
"""
import imaplib
import sys
import threading
import time


def connect(port, user, password):
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    typ, data = imap.login(user, password)
    assert typ == "OK", (typ, data)
    return imap


def status_of(imap, command, *args):
    typ, data = getattr(imap, command)(*args)
    return typ, b" ".join(d for d in data if isinstance(d, bytes))


def listed(imap):
    typ, data = imap.list('""', "*")
    assert typ == "OK", (typ, data)
    return sorted(line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in data)


def limits(port, user, password):
    imap = connect(port, user, password)
    before = listed(imap)
    assert len(before) == 6, before  # INBOX and the 5 default mailboxes

    # Depth: 4 levels are allowed, 5 are not, and nothing of the refused name is made.
    assert status_of(imap, "create", "a/b/c/d")[0] == "OK"
    typ, text = status_of(imap, "create", "a/b/c/d/e")
    assert typ == "NO" and b"[LIMIT]" in text, (typ, text)
    typ, text = status_of(imap, "create", "p/q/r/s/t")
    assert typ == "NO" and b"[LIMIT]" in text, (typ, text)
    assert "p" not in listed(imap)

    # Count: 10 mailboxes now; a leaf with a missing parent would make 12 + 1.
    assert status_of(imap, "create", "x")[0] == "OK"  # 11
    typ, text = status_of(imap, "create", "y/z")
    assert typ == "NO" and b"[LIMIT]" in text, (typ, text)
    assert "y" not in listed(imap)
    assert status_of(imap, "create", "y")[0] == "OK"  # 12: at the limit
    typ, text = status_of(imap, "create", "z")
    assert typ == "NO" and b"[LIMIT]" in text, (typ, text)
    # RENAME that makes a parent passes the count; one that makes none does not.
    typ, text = status_of(imap, "rename", "x", "n/x")
    assert typ == "NO" and b"[LIMIT]" in text, (typ, text)
    typ, text = status_of(imap, "rename", "x", "a/b/c/d/x")
    assert typ == "NO" and b"[LIMIT]" in text, (typ, text)
    assert status_of(imap, "rename", "x", "a/x")[0] == "OK"
    assert len(listed(imap)) == 12, listed(imap)
    # After a DELETE there is room again.
    assert status_of(imap, "delete", "y")[0] == "OK"
    assert status_of(imap, "create", "z")[0] == "OK"
    imap.logout()


def patterns(port, user, password):
    """LIST with 60 000 `%` and long names: fast, and a second session is not held up."""
    imap = connect(port, user, password)
    other = connect(port, user, password)
    for n in range(3):
        name = "/".join([f"{n}" + "l" * 60] * 4)  # 4 levels, 247 bytes
        assert status_of(imap, "delete", name)[0] in ("OK", "NO")
    noop_times = []
    stop = threading.Event()

    def noops():
        while not stop.is_set():
            started = time.monotonic()
            typ, _ = other.noop()
            assert typ == "OK"
            noop_times.append(time.monotonic() - started)
            time.sleep(0.01)

    watcher = threading.Thread(target=noops)
    watcher.start()
    pattern = "%" * 60000
    started = time.monotonic()
    for _ in range(5):
        typ, data = imap.list('""', pattern)
        assert typ == "OK", (typ, data)
    for wild in ["*%" * 20000, "a%" * 120, "%l" * 200]:
        typ, data = imap.list('""', wild)
        assert typ == "OK", (typ, data)
    elapsed = time.monotonic() - started
    stop.set()
    watcher.join()
    typ, data = imap.list('""', pattern)
    names = sorted(line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in data)
    assert "INBOX" in names and "a" in names and "a/b" not in names, names
    # Eight LISTs took 12 s each with the backtracking matcher.
    assert elapsed < 2.0, elapsed
    assert noop_times and max(noop_times) < 1.0, max(noop_times)
    print(f"8 LISTs with long patterns: {elapsed * 1000:.0f} ms; slowest NOOP beside them: {max(noop_times) * 1000:.0f} ms")
    other.logout()
    imap.logout()


if __name__ == "__main__":
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    limits(port, user, password)
    patterns(port, user, password)
