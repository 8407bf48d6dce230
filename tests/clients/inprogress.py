"""INPROGRESS (RFC 9585) with Python's imaplib: long searches over a large mailbox, the
untagged `OK [INPROGRESS ("tag" done total)]` responses read while they run.

Usage: inprogress.py HOST PORT USER PASSWORD MESSAGES
Prints one line per command: its name, how long it took, and whether its progress
responses kept the rules; exits 1 when one broke a rule.
"""

import imaplib
import re
import sys
import time

imaplib.Commands.setdefault("SORT", ("SELECTED",))

PROGRESS = re.compile(rb'^\("([^"]*)" (\d+) (\d+)\)$')

# SEARCH ALL over the whole mailbox answers in one line longer than imaplib's 1 MB default.
imaplib._MAXLINE = 10_000_000


def run(imap, name, messages, *args):
    """Runs one command; returns (seconds, progress responses as (tag, done, total))."""
    imap.untagged_responses.clear()
    # imaplib numbers its tags: this command gets the prefix and the next number.
    expected = imap.tagpre.decode() + str(imap.tagnum)
    started = time.monotonic()
    typ, _ = imap._simple_command(name, *args)
    elapsed = time.monotonic() - started
    assert typ == "OK", (name, typ)
    seen = []
    for data in imap.untagged_responses.get("INPROGRESS", []):
        match = PROGRESS.match(data)
        assert match, data
        seen.append((match.group(1).decode(), int(match.group(2)), int(match.group(3))))
    return expected, elapsed, seen


def check(name, expected, elapsed, seen, messages):
    for tag, done, total in seen:
        assert tag == expected, (tag, expected)
        assert total == messages, (total, messages)
        assert done <= total, (done, total)
    dones = [done for _, done, _ in seen]
    assert dones == sorted(dones), dones
    # At most one a second, the first after a second.
    assert len(seen) <= max(0, int(elapsed)), (len(seen), elapsed)
    # A command that ran well past the first second reported at least once.
    if elapsed >= 2.5:
        assert seen, elapsed
    return len(seen)


def main():
    host, port, user, password, messages = sys.argv[1:6]
    messages = int(messages)
    imap = imaplib.IMAP4(host, int(port))
    imap.login(user, password)
    print("CAPABILITY =>", "INPROGRESS" in imap.capabilities)
    imap.select("INBOX")
    reported = 0
    for name, args in [
        ("SEARCH", ("TEXT", '"no such words"')),
        ("SEARCH", ("BODY", '"nothing here"')),
        ("SORT", ("(SUBJECT)", "UTF-8", "BODY", '"nor here"')),
        ("SEARCH", ("ALL",)),
    ]:
        expected, elapsed, seen = run(imap, name, messages, *args)
        count = check(name, expected, elapsed, seen, messages)
        reported += count > 0
        print(f"{name} {args[0]}: {elapsed:.1f} s, {count} progress responses", file=sys.stderr)
    print("rules kept =>", True)
    print("progress seen =>", reported > 0)
    imap.logout()


main()
