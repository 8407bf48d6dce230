"""Mailbox export and import through moxide's HTTP API, checked with Python's own
readers and writers of the formats (zipfile, tarfile, mailbox) and imaplib.

Usage: export_import.py roundtrip HTTP IMAP
       export_import.py checkarchive FILE FORMAT ARCHIVE   (an archive the CLI wrote)
       export_import.py rss HTTP IMAP PID
       export_import.py slow HTTP IMAP   (a download paused longer than the idle timeout)
Exits non-zero with a message on the first failed check.
"""

import base64
import imaplib
import io
import json
import mailbox
import os
import re
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile

ADMIN = ("admin", "moxadmin")
SOURCE = ("mox@localhost", "moxmoxmox")

# (mailbox, flags, subject, body): bodies include lines mbox must quote.
MESSAGES = [
    ("INBOX", r"(\Seen \Flagged $Important)", "first", "Hello\r\nFrom the start of a line\r\n>From quoted\r\n"),
    ("INBOX", r"(\Answered)", "second", "Plain body\r\n"),
    ("INBOX", "()", "third", "No flags\r\n\r\n\r\nFrom x\r\n"),
    ("Work/Projects", r"(\Seen project)", "fourth", "In a subfolder\r\n"),
    ("Work/Projects", r"(\Draft \Deleted)", "fifth", "Draft\r\n"),
]


def expect(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


def call(http, method, path, body=None, token=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://{http}{path}", data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
            kind = response.headers.get_content_type()
            return response.status, (json.loads(text) if kind == "application/json" else text)
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, (json.loads(text) if text else None)


def login(http, username, password):
    status, body = call(http, "POST", "/api/v0/login", {"username": username, "password": password})
    expect(status == 200, f"login {username}: {status} {body}")
    return body["token"]


def imap(address, user, password):
    host, port = address.rsplit(":", 1)
    client = imaplib.IMAP4(host, int(port), timeout=120)
    client.login(user, password)
    return client


def message_bytes(subject, body):
    return (f"From: a@example.org\r\nTo: mox@localhost\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.org>\r\n\r\n{body}").encode()


def fill_source(imap_address):
    client = imap(imap_address, *SOURCE)
    client.create("Work/Projects")
    for name, flags, subject, body in MESSAGES:
        typ, data = client.append(name, flags, None, message_bytes(subject, body))
        expect(typ == "OK", f"APPEND {subject}: {data}")
    client.logout()


def mailbox_state(imap_address, user, password):
    """{mailbox: sorted [(subject, flags)]} over IMAP."""
    client = imap(imap_address, user, password)
    typ, listed = client.list()
    names = [re.search(rb'"([^"]*)"$|(\S+)$', line).group(0).decode().strip('"') for line in listed]
    state = {}
    for name in names:
        typ, data = client.select(f'"{name}"', readonly=True)
        expect(typ == "OK", f"SELECT {name}: {data}")
        count = int(data[0])
        entries = []
        if count:
            typ, fetched = client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            for item in fetched:
                if not isinstance(item, tuple):
                    continue
                flags = sorted(f.decode() for f in imaplib.ParseFlags(item[0]) if f != rb"\Recent")
                subject = item[1].decode().split(":", 1)[1].strip()
                entries.append((subject, tuple(flags)))
        state[name] = sorted(entries)
    client.logout()
    return state


def check_mbox_archive(data, archive):
    files = archive_files(data, archive)
    expect("INBOX.mbox" in files and "Work/Projects.mbox" in files, f"mbox files: {sorted(files)}")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "inbox.mbox")
        with open(path, "wb") as f:
            f.write(files["INBOX.mbox"])
        box = mailbox.mbox(path)
        messages = list(box)
        expect([m["Subject"] for m in messages] == ["first", "second", "third"],
               f"INBOX.mbox subjects: {[m['Subject'] for m in messages]}")
        payload = messages[0].get_payload()
        expect(">From the start of a line" in payload and ">>From quoted" in payload,
               f"mboxrd quoting: {payload!r}")
        expect(b"\r\n" not in files["INBOX.mbox"], "mbox lines end in LF")


def check_maildir_archive(data, archive):
    files = archive_files(data, archive)
    with tempfile.TemporaryDirectory() as directory:
        for name, content in files.items():
            path = os.path.join(directory, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content)
        for name in ("INBOX", "Work/Projects"):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(directory, name, sub), exist_ok=True)
        box = mailbox.Maildir(os.path.join(directory, "INBOX"), factory=None, create=False)
        flags = {m["Subject"]: m.get_flags() for m in box}
        expect(flags == {"first": "FSa", "second": "R", "third": ""}, f"INBOX Maildir flags: {flags}")
        keywords = files["INBOX/dovecot-keywords"].decode().splitlines()
        expect(keywords == ["0 $Important"], f"INBOX dovecot-keywords: {keywords}")
        first = [n for n in files if n.startswith("INBOX/cur/") and n.endswith(",FSa")]
        expect(len(first) == 1, f"keyword letter in the file name: {sorted(files)}")
        work = mailbox.Maildir(os.path.join(directory, "Work/Projects"), factory=None, create=False)
        flags = sorted(m.get_flags() for m in work)
        expect(flags == ["DT", "Sa"], f"Work/Projects flags: {flags}")


def archive_files(data, archive):
    files = {}
    if archive == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            expect(z.testzip() is None, "zip CRCs")
            for info in z.infolist():
                if not info.is_dir():
                    files[info.filename] = z.read(info)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
            for member in t.getmembers():
                if member.isfile():
                    files[member.name] = t.extractfile(member).read()
    return files


def export(http, token, fmt, archive, path="/api/v0/account/export"):
    status, data = call(http, "GET", f"{path}?format={fmt}&archive={archive}", token=token)
    expect(status == 200, f"export {fmt} {archive}: {status} {data}")
    return data


def run_import(http, token, data, path="/api/v0/account/import", query=""):
    status, body = call(http, "POST", path + query, token=token, raw=data)
    expect(status == 202, f"import: {status} {body}")
    deadline = time.time() + 120
    while time.time() < deadline:
        status, progress = call(http, "GET", f"{path}/{body['id']}", token=token)
        expect(status == 200, f"import progress: {status} {progress}")
        if progress["state"] != "running":
            expect(progress["state"] == "done" and progress["errors"] == 0, f"import ended: {progress}")
            return progress
        time.sleep(0.2)
    sys.exit("FAILED: import did not finish")


def python_maildir_zip():
    with tempfile.TemporaryDirectory() as directory:
        box = mailbox.Maildir(os.path.join(directory, "md"), create=True)
        message = mailbox.MaildirMessage(message_bytes("py-one", "made by python\n").replace(b"\r\n", b"\n"))
        message.set_flags("RS")
        message.set_subdir("cur")
        box.add(message)
        sub = box.add_folder("Lists")
        sub.add(mailbox.MaildirMessage(message_bytes("py-two", "in a folder\n").replace(b"\r\n", b"\n")))
        out = io.BytesIO()
        root = os.path.join(directory, "md")
        with zipfile.ZipFile(out, "w") as z:
            for base, _, names in os.walk(root):
                for name in names:
                    path = os.path.join(base, name)
                    z.write(path, os.path.relpath(path, root))
        return out.getvalue()


def roundtrip(http, imap_address):
    admin = login(http, *ADMIN)
    for name in ("copy", "pycopy"):
        status, body = call(http, "POST", "/api/v0/admin/accounts",
                            {"name": name, "addresses": [f"{name}@localhost"], "password": f"{name}-password"},
                            token=admin)
        expect(status in (200, 201), f"add account {name}: {status} {body}")
    fill_source(imap_address)
    source = mailbox_state(imap_address, *SOURCE)
    token = login(http, *SOURCE)
    archives = {}
    for fmt in ("mbox", "maildir"):
        for archive in ("zip", "tgz"):
            data = export(http, token, fmt, archive)
            (check_mbox_archive if fmt == "mbox" else check_maildir_archive)(data, archive)
            archives[(fmt, archive)] = data
    admin_copy = export(http, admin, "maildir", "tgz", "/api/v0/admin/accounts/mox/export")
    check_maildir_archive(admin_copy, "tgz")
    status, _ = call(http, "GET", "/api/v0/admin/accounts/mox/export", token=token)
    expect(status == 403, f"an account's token on the admin export: {status}")
    status, body = call(http, "GET", "/api/v0/account/export?format=pdf", token=token)
    expect(status == 400, f"a bad format: {status} {body}")

    # A session watching the copy's INBOX sees the import's messages arrive.
    watcher = imap(imap_address, "copy@localhost", "copy-password")
    watcher.select("INBOX")
    copy = login(http, "copy@localhost", "copy-password")
    progress = run_import(http, copy, archives[("maildir", "zip")])
    expect(progress["messages"] == len(MESSAGES), f"maildir zip import: {progress}")
    for _ in range(50):
        watcher.noop()
        exists = watcher.untagged_responses.get("EXISTS", [])
        if exists and int(exists[-1]) == 3:
            break
        time.sleep(0.1)
    expect(exists and int(exists[-1]) == 3, f"EXISTS after the import: {watcher.untagged_responses}")
    watcher.logout()
    copied = mailbox_state(imap_address, "copy@localhost", "copy-password")
    for name in ("INBOX", "Work/Projects"):
        expect(copied.get(name) == source[name], f"{name} after the Maildir import: {copied.get(name)} != {source[name]}")

    # The mbox export of the same messages on top: each is already there (same
    # Message-ID, size and date), so nothing is stored twice.
    progress = run_import(http, admin, archives[("mbox", "tgz")], "/api/v0/admin/accounts/copy/import")
    expect(progress["messages"] == 0 and progress["skipped"] == len(MESSAGES), f"mbox tgz import again: {progress}")
    copied = mailbox_state(imap_address, "copy@localhost", "copy-password")
    for name in ("INBOX", "Work/Projects"):
        expect(copied.get(name) == source[name], f"{name} after importing twice: {copied.get(name)}")

    # A bare mbox file into a named mailbox: its body's From lines unquoted, its flags
    # (Status, X-Status, X-Keywords) read back and left out of the stored bytes.
    mbox_file = archive_files(archives[("mbox", "zip")], "zip")["INBOX.mbox"]
    expect(b"\nStatus: RO\nX-Status: F\nX-Keywords: $Important\n" in mbox_file, f"mbox flags: {mbox_file[:300]!r}")
    progress = run_import(http, copy, mbox_file, query="?mailbox=Imported%2FOld")
    expect(progress["messages"] == 3 and progress["mailboxes_created"] == 1, f"bare mbox: {progress}")
    client = imap(imap_address, "copy@localhost", "copy-password")
    client.select('"Imported/Old"', readonly=True)
    typ, fetched = client.fetch("1", "(BODY.PEEK[])")
    expect(fetched[0][1] == message_bytes(*MESSAGES[0][2:]), f"first message's bytes: {fetched[0][1]!r}")
    client.logout()
    copied = mailbox_state(imap_address, "copy@localhost", "copy-password")
    expect(copied["Imported/Old"] == source["INBOX"], f"mbox flags round trip: {copied['Imported/Old']} != {source['INBOX']}")

    # Resuming: an import that stopped after the first message (here: an archive cut
    # short), then the whole archive again: only what was missing is stored.
    cut = mbox_file[:mbox_file.index(b"\nFrom ", 10) + 1]
    progress = run_import(http, copy, cut, query="?mailbox=Resumed")
    expect(progress["messages"] == 1, f"the first part: {progress}")
    progress = run_import(http, copy, mbox_file, query="?mailbox=Resumed")
    expect(progress["messages"] == 2 and progress["skipped"] == 1, f"resumed: {progress}")
    copied = mailbox_state(imap_address, "copy@localhost", "copy-password")
    expect(copied["Resumed"] == source["INBOX"], f"resumed mailbox: {copied['Resumed']}")

    # A Maildir made by Python's mailbox module (Maildir++ folders, LF line ends).
    pycopy = login(http, "pycopy@localhost", "pycopy-password")
    progress = run_import(http, pycopy, python_maildir_zip())
    expect(progress["messages"] == 2, f"python Maildir import: {progress}")
    state = mailbox_state(imap_address, "pycopy@localhost", "pycopy-password")
    expect(state["INBOX"] == [("py-one", (r"\Answered", r"\Seen"))], f"python Maildir INBOX: {state}")
    expect(state.get("Lists") == [("py-two", ())], f"python Maildir folder: {state}")

    # Over quota the import stops, saying why.
    status, body = call(http, "POST", "/api/v0/admin/accounts",
                        {"name": "small", "addresses": ["small@localhost"], "quota_bytes": 400}, token=admin)
    expect(status in (200, 201), f"add account small: {status} {body}")
    status, body = call(http, "POST", "/api/v0/admin/accounts/small/import", token=admin,
                        raw=archives[("maildir", "zip")])
    expect(status == 202, f"import into small: {status} {body}")
    deadline = time.time() + 60
    while time.time() < deadline:
        status, progress = call(http, "GET", f"/api/v0/admin/accounts/small/import/{body['id']}", token=admin)
        if progress["state"] != "running":
            break
        time.sleep(0.2)
    expect(progress["state"] == "failed" and "quota" in (progress["reason"] or ""), f"over quota: {progress}")

    # Status of another account's import is not visible; garbage is an error, not a crash.
    status, _ = call(http, "GET", "/api/v0/account/import/nonexistent", token=copy)
    expect(status == 404, f"unknown import: {status}")
    status, body = call(http, "POST", "/api/v0/account/import", token=copy, raw=b"PK\x03\x04garbage")
    expect(status == 202, f"garbage import accepted for reading: {status} {body}")
    deadline = time.time() + 60
    while time.time() < deadline:
        status, progress = call(http, "GET", f"/api/v0/account/import/{body['id']}", token=copy)
        if progress["state"] != "running":
            break
        time.sleep(0.2)
    expect(progress["state"] == "failed", f"garbage zip: {progress}")
    print("roundtrip ok")


def check_archive(path, fmt, archive):
    with open(path, "rb") as f:
        data = f.read()
    (check_mbox_archive if fmt == "mbox" else check_maildir_archive)(data, archive)
    print("archive ok")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss(http, imap_address, pid):
    size = 50 * 1024 * 1024
    line = b"x" * 76 + b"\r\n"
    body = line * (size // len(line))
    client = imap(imap_address, *SOURCE)
    client.create("Big")
    typ, data = client.append("Big", None, None, message_bytes("big", "") + body)
    expect(typ == "OK", f"APPEND 50 MB: {data}")
    client.logout()
    del body
    token = login(http, *SOURCE)
    for fmt, archive in (("mbox", "tgz"), ("maildir", "zip")):
        before = rss_kib(pid)
        peak = before
        request = urllib.request.Request(f"http://{http}/api/v0/account/export?format={fmt}&archive={archive}")
        request.add_header("Authorization", f"Bearer {token}")
        total = 0
        with urllib.request.urlopen(request, timeout=300) as response:
            while True:
                piece = response.read(256 * 1024)
                if not piece:
                    break
                total += len(piece)
                peak = max(peak, rss_kib(pid))
        grown = peak - before
        print(f"{fmt}/{archive}: {total} bytes, server RSS {before} KiB -> peak {peak} KiB (+{grown} KiB)")
        expect(total > 100_000, f"archive size {total}")
        expect(grown <= 16 * 1024, f"RSS grew by {grown} KiB exporting a 50 MB message")
    print("rss ok")


def slow(http, imap_address):
    """A client that pauses its download for longer than the server's 60 s idle read
    timeout still gets the whole archive: the timeout is for idle requests, not for a
    response being written."""
    body = base64.encodebytes(os.urandom(15 * 1024 * 1024)).replace(b"\n", b"\r\n")
    client = imap(imap_address, *SOURCE)
    typ, data = client.append("INBOX", None, None, message_bytes("random", "") + body)
    expect(typ == "OK", f"APPEND: {data}")
    client.logout()
    token = login(http, *SOURCE)
    request = urllib.request.Request(f"http://{http}/api/v0/account/export?format=maildir&archive=zip")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=300) as response:
        data = response.read(64 * 1024)
        time.sleep(70)
        data += response.read()
    files = archive_files(data, "zip")
    sizes = [len(v) for k, v in files.items() if k.startswith("INBOX/cur/")]
    expect(sizes and max(sizes) > len(body), f"the big message after a pause: {sizes}")
    print("slow ok")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "roundtrip":
        roundtrip(*args)
    elif command == "checkarchive":
        check_archive(*args)
    elif command == "rss":
        rss(*args)
    elif command == "slow":
        slow(*args)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
