"""SORT and THREAD on a small corpus, for comparing servers (RFC 5256, RFC 5957).

Usage: sort_thread.py HOST PORT USER PASSWORD [PREFIX KEPT]
APPENDs the corpus into two new mailboxes (with INTERNALDATEs), runs SORT and THREAD
commands and prints a line per command, sorted: `command => status result`. The
corpora are those of protocols/tests/imap_sort.rs.

With PREFIX and KEPT, the mailboxes PREFIX + "sort" and PREFIX + "thread" exist already
and hold the first messages of each corpus (all of them for KEPT "all", the first half
for "half", stored by the test itself); only the others are APPENDed.

Usage: sort_thread.py corpus DIR
Writes the corpora to DIR, one file per message named `sort-N-T.eml` or
`thread-N-T.eml` (N its index, T its INTERNALDATE in Unix seconds), for a test to store.
"""

import os

import imaplib
import sys
import time

JAN_1 = 1672531200  # 2023-01-01T00:00:00Z
DAY = 86400


def msg(headers, pad):
    return (headers + "\r\n\r\n" + "x" * pad + "\r\n").encode()


SORT_CORPUS = [
    ('From: "Zed" <zed@b.example>\r\nTo: carol@x.example\r\nCc: dave@x.example\r\nSubject: Re: Apple\r\n'
     "Date: Tue, 03 Jan 2023 10:00:00 +0000\r\nMessage-ID: <1@x>", 1000, -4),
    ("From: alice@a.example\r\nTo: Bob <bob@x.example>\r\nSubject: banana\r\n"
     "Date: Sun, 01 Jan 2023 10:00:00 +0000\r\nMessage-ID: <2@x>", 3000, -2),
    ("From: Mike <mike@c.example>\r\nTo: amy@x.example\r\nSubject: [list] apple\r\nMessage-ID: <3@x>", 0, -3),
    ("From: =?utf-8?q?=C3=89mile?= <emile@d.example>\r\nTo: zoe@x.example\r\nCc: bob@x.example\r\n"
     "Subject: Fwd: Cherry\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000\r\nMessage-ID: <4@x>", 2000, -1),
]

THREAD_CORPUS = [
    "Message-ID: <a@x>\r\nSubject: Party\r\nDate: Sun, 01 Jan 2023 10:00:00 +0000",
    "Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: Party\r\nDate: Sun, 01 Jan 2023 11:00:00 +0000",
    "Message-ID: <c@x>\r\nReferences: <a@x>\r\n <b@x>\r\nSubject: Re: Party\r\nDate: Sun, 01 Jan 2023 12:00:00 +0000",
    "Message-ID: <d@x>\r\nReferences: <a@x>\r\nSubject: Re: Party\r\nDate: Sun, 01 Jan 2023 11:30:00 +0000",
    "Message-ID: <e@x>\r\nSubject: Other\r\nDate: Sun, 01 Jan 2023 09:00:00 +0000",
    "Message-ID: <f@x>\r\nReferences: <missing@x>\r\nSubject: Lost\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000",
    "Message-ID: <g@x>\r\nReferences: <missing@x>\r\nSubject: Re: Lost\r\nDate: Tue, 03 Jan 2023 10:00:00 +0000",
    "Message-ID: <h@x>\r\nSubject: Re: Other\r\nDate: Wed, 04 Jan 2023 10:00:00 +0000",
    "Subject: Party\r\nDate: Thu, 05 Jan 2023 10:00:00 +0000",
]

SORTS = [
    "(ARRIVAL) UTF-8 ALL", "(DATE) UTF-8 ALL", "(FROM) UTF-8 ALL", "(TO) US-ASCII ALL", "(CC) UTF-8 ALL",
    "(SUBJECT) UTF-8 ALL", "(SIZE) UTF-8 ALL", "(DISPLAYFROM) UTF-8 ALL", "(DISPLAYTO) UTF-8 ALL",
    "(SUBJECT DATE) UTF-8 ALL", "(SUBJECT REVERSE DATE) UTF-8 ALL", "(REVERSE SIZE) UTF-8 NOT FROM zed",
]
ESORTS = [
    ("SORT", "RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL"),
    ("UID SORT", "RETURN () (REVERSE ARRIVAL) UTF-8 ALL"),
    ("SORT", "RETURN (ALL) (SUBJECT) UTF-8 SUBJECT nothing"),
    ("SORT", "RETURN (COUNT ALL) (SIZE) UTF-8 ALL"),
]
THREADS = ["REFERENCES UTF-8 ALL", "ORDEREDSUBJECT UTF-8 ALL", "REFERENCES US-ASCII NOT 9", "REFS UTF-8 ALL"]


def kept(messages, how):
    """How many of `messages` a test stored already (see the module docs)."""
    return {"all": len(messages), "half": len(messages) // 2}.get(how, 0)


def corpora():
    sort = [(msg(h, pad), JAN_1 + days * DAY) for h, pad, days in SORT_CORPUS]
    thread = [(msg(h, 10), JAN_1 + (n + 1) * DAY) for n, h in enumerate(THREAD_CORPUS)]
    return sort, thread


def write_corpora(directory):
    os.makedirs(directory, exist_ok=True)
    sort, thread = corpora()
    for name, messages in (("sort", sort), ("thread", thread)):
        for n, (body, when) in enumerate(messages):
            with open(os.path.join(directory, f"{name}-{n}-{when}.eml"), "wb") as f:
                f.write(body)


def append_all(imap, mailbox, messages, create=True):
    if create:
        imap.create(mailbox)
    for body, when in messages:
        typ, _ = imap.append(mailbox, None, imaplib.Time2Internaldate(when), body)
        assert typ == "OK", typ


def main():
    if sys.argv[1] == "corpus":
        write_corpora(sys.argv[2])
        return
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    sort, thread = corpora()
    if len(sys.argv) > 6:
        prefix, how = sys.argv[5], sys.argv[6]
        sort_box, thread_box = prefix + "sort", prefix + "thread"
        append_all(imap, sort_box, sort[kept(sort, how):], create=False)
        append_all(imap, thread_box, thread[kept(thread, how):], create=False)
    else:
        stamp = str(int(time.time() * 1000))
        sort_box, thread_box = "sort" + stamp, "thread" + stamp
        append_all(imap, sort_box, sort)
        append_all(imap, thread_box, thread)
    results = {}
    imap.select(sort_box)
    for command in SORTS:
        criteria, rest = command.split(") ", 1)
        charset, *search = rest.split(" ")
        typ, data = imap.sort(criteria + ")", charset, *search)
        results["SORT " + command] = (typ, " ".join(d.decode() for d in data if d))
    for command, arguments in ESORTS:
        words = arguments.replace("() ", "NONE ").split(" ")
        args, i = [], 0
        while i < len(words):  # re-join parenthesized lists into single arguments
            if words[i].startswith("(") and not words[i].endswith(")"):
                j = next(k for k in range(i, len(words)) if words[k].endswith(")"))
                args.append(" ".join(words[i:j + 1]))
                i = j + 1
            else:
                args.append("()" if words[i] == "NONE" else words[i])
                i += 1
        if command == "UID SORT":
            typ, _ = imap.uid("SORT", *args)
        else:
            typ, _ = imap._simple_command("SORT", *args)
        data = imap.untagged_responses.pop("ESEARCH", [])
        # The tag differs from server to server and run to run.
        line = " ".join(d.decode() for d in data if d)
        line = line[line.index(")") + 1:].strip() if line.startswith("(TAG") else line
        results[f"{command} {arguments}"] = (typ, line)
    imap.select(thread_box)
    for command in THREADS:
        algorithm, charset, *criteria = command.split(" ")
        typ, data = imap.thread(algorithm, charset, *criteria)
        results["THREAD " + command] = (typ, " ".join(d.decode() for d in data if d))
    imap.logout()
    for command in sorted(results):
        typ, line = results[command]
        print(f"{command} => {typ} {line}".rstrip())


if __name__ == "__main__":
    main()
