"""Drives moxide's admin and account HTTP API with Python's urllib, as an operator's
script would, beside smtplib and imaplib to check that changes apply at once.

Usage: admin_api.py live HTTP SMTP IMAP
       admin_api.py auth HTTP
       admin_api.py ratelimit HTTP
       admin_api.py domains HTTP  (prints the domain names, one a line)
       admin_api.py policy HTTP SUBMISSION IMAP DOMAINS_FILE  (a `serve` with a queue)
Exits non-zero with a message on the first failed check.
"""

import concurrent.futures
import imaplib
import json
import os
import smtplib
import sys
import urllib.error
import urllib.parse
import urllib.request


def call(http, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{http}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            return response.status, (json.loads(text) if text and response.headers.get_content_type() == "application/json" else text)
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, (json.loads(text) if text else None)


def expect(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


def login(http, username, password):
    status, body = call(http, "POST", "/api/v0/login", {"username": username, "password": password})
    expect(status == 200, f"login {username}: {status} {body}")
    return body["token"]


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def send(smtp, recipient, subject):
    with smtplib.SMTP(*host_port(smtp), timeout=60) as client:
        client.sendmail("sender@elsewhere.example", [recipient], f"Subject: {subject}\r\nFrom: sender@elsewhere.example\r\n\r\n{subject} body\r\n")


def imap_login(imap, user, password):
    client = imaplib.IMAP4(*host_port(imap), timeout=60)
    try:
        client.login(user, password)
        return client
    except imaplib.IMAP4.error:
        client.logout()
        return None


def metric(text, name):
    """The value of one sample line `name value` (labels included in name)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def live(http, smtp, imap):
    admin = login(http, "admin", "moxadmin")
    status, created = call(http, "POST", "/api/v0/admin/domains", {"name": "example.org", "localpart_separators": ["+"]}, admin)
    expect(status == 201, f"domain add: {status} {created}")
    expect(any(r["type"] == "MX" for r in created["dns_records"]), f"MX record: {created}")
    selector = created["domain"]["dkim_selectors"][0]
    dkim = [r for r in created["dns_records"] if r["name"] == f"{selector}._domainkey.example.org."]
    expect(len(dkim) == 1 and dkim[0]["value"].startswith('"v=DKIM1; k=ed25519; h=sha256; p='), f"DKIM record: {created}")
    status, records = call(http, "GET", "/api/v0/admin/domains/example.org/records", token=admin)
    expect(status == 200 and records == created["dns_records"], f"records again: {status} {records}")
    status, body = call(http, "POST", "/api/v0/admin/accounts",
                        {"name": "alice", "addresses": ["alice@example.org"], "password": "first-password"}, admin)
    expect(status == 201, f"account add: {status} {body}")
    status, body = call(http, "POST", "/api/v0/admin/accounts", {"name": "alice", "addresses": []}, admin)
    expect(status == 409 and body["code"] == "conflict", f"duplicate account: {status} {body}")
    status, body = call(http, "POST", "/api/v0/admin/accounts/alice/addresses", {"address": "sales@example.org"}, admin)
    expect(status == 204, f"address add: {status} {body}")

    send(smtp, "alice+news@example.org", "first")
    send(smtp, "sales@example.org", "second")
    client = imap_login(imap, "alice@example.org", "first-password")
    expect(client is not None, "IMAP login with the password set through the API")
    status, data = client.select("INBOX")
    expect(status == "OK" and data[0] == b"2", f"two messages in INBOX: {status} {data}")
    status, data = client.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
    expect(b"first" in data[0][1], f"first message: {data}")
    client.logout()

    status, details = call(http, "GET", "/api/v0/admin/accounts/alice", token=admin)
    expect(status == 200 and details["usage"]["messages"] == 2 and details["password_set"], f"details: {details}")
    aliases_and_quota(http, smtp, imap, admin)

    account = login(http, "alice@example.org", "first-password")
    status, own = call(http, "GET", "/api/v0/account", token=account)
    expect(status == 200 and own["name"] == "alice", f"own account: {status} {own}")
    status, body = call(http, "GET", "/api/v0/admin/accounts", token=account)
    expect(status == 403, f"account token on an admin endpoint: {status} {body}")
    status, body = call(http, "PUT", "/api/v0/account/password", {"password": "second-password"}, account)
    expect(status == 204, f"own password: {status} {body}")
    expect(imap_login(imap, "alice@example.org", "first-password") is None, "the old password fails at once")
    client = imap_login(imap, "alice@example.org", "second-password")
    expect(client is not None, "the new password works")
    client.logout()

    status, body = call(http, "DELETE", "/api/v0/admin/accounts/alice", token=admin)
    expect(status == 400 and "alias" in body["message"], f"account rm while an alias has it: {status} {body}")
    status, body = call(http, "DELETE", "/api/v0/admin/aliases/team@example.org", token=admin)
    expect(status == 204, f"alias rm: {status} {body}")
    status, body = call(http, "DELETE", "/api/v0/admin/accounts/bob", token=admin)
    expect(status == 204, f"account rm bob: {status} {body}")
    status, body = call(http, "DELETE", "/api/v0/admin/accounts/alice", token=admin)
    expect(status == 204, f"account rm: {status} {body}")
    try:
        send(smtp, "alice@example.org", "third")
        sys.exit("FAILED: mail to a removed account was accepted")
    except smtplib.SMTPRecipientsRefused as refused:
        code = refused.recipients["alice@example.org"][0]
        expect(code == 550, f"removed account: {code}")
    status, body = call(http, "GET", "/api/v0/account", token=account)
    expect(status == 401, f"the removed account's session ended: {status} {body}")
    status, body = call(http, "DELETE", "/api/v0/admin/domains/example.org", token=admin)
    expect(status == 204, f"domain rm: {status} {body}")

    status, text = call(http, "GET", "/metrics")
    text = text.decode()
    expect(status == 200, "metrics")
    delivered = metric(text, 'moxide_smtp_transactions_total{result="delivered"}')
    refused = metric(text, 'moxide_smtp_transactions_total{result="refused"}')
    deliveries = metric(text, 'moxide_deliveries_total{result="delivered"}')
    failed = metric(text, 'moxide_smtp_transactions_total{result="failed"}')
    # Two to alice, one to the alias (two accounts), one refused by the quota, one to bob.
    expect((delivered, deliveries, failed) == (4, 5, 1), f"transactions and deliveries: {delivered} {deliveries} {failed}")
    expect(metric(text, 'moxide_deliveries_total{result="failed"}') == 1, "the delivery over quota counted")
    expect(metric(text, "moxide_delivery_seconds_count") == 6, "delivery latency observed each time")
    expect(refused == 0, f"a refused RCPT is not a transaction: {refused}")
    expect(metric(text, 'moxide_imap_commands_total{command="login",result="ok"}') >= 2, "IMAP logins counted")
    expect(metric(text, 'moxide_imap_commands_total{command="login",result="no"}') >= 1, "the failed IMAP login counted")
    expect(metric(text, 'moxide_logins_total{mechanism="password",result="ok"}') >= 2, "API logins counted")
    expect('moxide_executor_busy_seconds_total{core="1"}' in text, "busy time of each core")
    expect("moxide_store_cache_hits_total" in text, "store cache hits")
    expect(metric(text, 'moxide_connections_total{protocol="smtp"}') == 7, "seven SMTP connections (one refused at RCPT)")
    print("live ok")


def aliases_and_quota(http, smtp, imap, admin):
    """An alias delivers to each member's account; a quota refuses what would exceed it."""
    status, body = call(http, "POST", "/api/v0/admin/accounts",
                        {"name": "bob", "addresses": ["bob@example.org"], "password": "bob-password"}, admin)
    expect(status == 201 and body["quota_bytes"] is None, f"account bob: {status} {body}")
    members = {"members": ["alice@example.org", "bob@example.org", "sales@example.org"]}
    status, body = call(http, "PUT", "/api/v0/admin/aliases/team@example.org", members, admin)
    expect(status == 200 and body["address"] == "team@example.org", f"alias set: {status} {body}")
    status, body = call(http, "PUT", "/api/v0/admin/aliases/team@example.org", {"members": ["nobody@example.org"]}, admin)
    expect(status == 400 and body["code"] == "bad_request", f"alias with an unknown member: {status} {body}")
    status, body = call(http, "GET", "/api/v0/admin/aliases", token=admin)
    closed = {"address": "team@example.org", **members, "post_public": False, "allowed_senders": []}
    expect(status == 200 and body == [closed], f"aliases: {body}")
    # Only members may post to an alias unless it is public: refused at RCPT with 5.7.1.
    try:
        send(smtp, "team@example.org", "from a stranger")
        sys.exit("FAILED: a stranger posted to a members-only alias")
    except smtplib.SMTPRecipientsRefused as error:
        code, text = error.recipients["team@example.org"]
        expect(code == 550 and text.startswith(b"5.7.1") and b"members" in text, f"stranger to the alias: {code} {text}")
    allowed = {**members, "allowed_senders": ["@Elsewhere.example"]}
    status, body = call(http, "PUT", "/api/v0/admin/aliases/team@example.org", allowed, admin)
    expect(status == 200 and body["allowed_senders"] == ["@Elsewhere.example"], f"allowed senders: {status} {body}")
    send(smtp, "team@example.org", "to the team")
    for user, password, count in (("alice@example.org", "first-password", b"3"), ("bob@example.org", "bob-password", b"1")):
        client = imap_login(imap, user, password)
        status, data = client.select("INBOX")
        expect(data[0] == count, f"{user} has {count} messages: {data}")
        client.logout()

    status, details = call(http, "GET", "/api/v0/admin/accounts/bob", token=admin)
    used = details["usage"]["size_bytes"]
    status, body = call(http, "PUT", "/api/v0/admin/accounts/bob/quota", {"quota_bytes": used + 10}, admin)
    expect(status == 204, f"quota set: {status} {body}")
    status, details = call(http, "GET", "/api/v0/admin/accounts/bob", token=admin)
    expect(details["quota_bytes"] == used + 10, f"quota shown: {details}")
    try:
        send(smtp, "bob@example.org", "over quota")
        sys.exit("FAILED: a message past the quota was accepted")
    except smtplib.SMTPDataError as error:
        expect(error.smtp_code == 452 and b"4.2.2" in error.smtp_error, f"over quota: {error}")
    client = imap_login(imap, "bob@example.org", "bob-password")
    status, data = client.append("INBOX", None, None, b"Subject: appended\r\n\r\nmore than ten bytes of body\r\n")
    expect(status == "NO" and b"OVERQUOTA" in data[0], f"APPEND over quota: {status} {data}")
    # RFC 9208: the same limit and usage in KiB, usage rounded up, the limit down.
    status, data = client.getquotaroot("INBOX")
    quota = f'"" (STORAGE {(used + 1023) // 1024} {(used + 10) // 1024})'.encode()
    expect(status == "OK" and data == [[b'INBOX ""'], [quota]], f"GETQUOTAROOT: {status} {data}")
    client.logout()
    status, body = call(http, "PUT", "/api/v0/admin/accounts/bob/quota", {"quota_bytes": None}, admin)
    expect(status == 204, f"quota removed: {status} {body}")
    send(smtp, "bob@example.org", "room again")


def auth(http):
    """Every admin endpoint refuses without a token (401) and with an account's (403)."""
    status, document = call(http, "GET", "/api/v0/openapi.json")
    expect(status == 200 and document["openapi"].startswith("3.1"), f"document: {status}")
    account = login(http, "mox@localhost", "moxmoxmox")
    checked = 0
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v0/admin/"):
            continue
        concrete = path.replace("{account}", "mox").replace("{domain}", "localhost").replace(
            "{address}", "mox@localhost").replace("{fingerprint}", "0" * 64).replace("{id}", "x").replace(
            "{kind}", "dmarc").replace("{name}", "x.xml")
        for method in operations:
            body = {} if method in ("post", "put") else None
            status, answer = call(http, method.upper(), concrete, body)
            expect(status == 401 and answer["code"] == "unauthorized", f"{method} {path} without a token: {status}")
            status, answer = call(http, method.upper(), concrete, body, "not-a-token")
            expect(status == 401, f"{method} {path} with a bad token: {status}")
            status, answer = call(http, method.upper(), concrete, body, account)
            expect(status == 403 and answer["code"] == "forbidden", f"{method} {path} with an account token: {status}")
            checked += 1
    expect(checked >= 15, f"only {checked} admin operations")
    print(f"auth ok: {checked} admin operations")


def ratelimit(http):
    """Failed logins are counted per network like SMTP and IMAP ones: after the limit,
    even the right password is refused with 429."""
    def wrong(_):
        return call(http, "POST", "/api/v0/login", {"username": "admin", "password": "wrong"})[0]
    # Concurrent attempts may all pass the check before any failure is counted (as for
    # SMTP and IMAP); each failure is counted, so the limit holds from the next one on.
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(wrong, range(12)))
    expect(all(s in (401, 429) for s in statuses), f"statuses {statuses}")
    expect(wrong(0) == 429, "a failed login past the limit")
    status, body = call(http, "POST", "/api/v0/login", {"username": "admin", "password": "moxadmin"})
    expect(status == 429 and body["code"] == "too_many_requests", f"right password over the limit: {status} {body}")
    print("ratelimit ok")


def domains(http):
    admin = login(http, "admin", "moxadmin")
    status, body = call(http, "GET", "/api/v0/admin/domains", token=admin)
    expect(status == 200, f"domains: {status}")
    for domain in body:
        print(domain["name"])


DMARC_XML = """<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name>
<email>noreply-dmarc-support@google.com</email><report_id>{id}</report_id>
<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
<policy_published><domain>localhost</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated><disposition>none</disposition>
<dkim>pass</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>localhost</header_from></identifiers></record>
</feedback>"""

TLS_JSON = """{"organization-name":"Company-X","report-id":"r1",
"date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},
"policies":[{"policy":{"policy-type":"sts","policy-domain":"localhost"},
"summary":{"total-successful-session-count":10,"total-failure-session-count":1},
"failure-details":[{"result-type":"certificate-expired","failed-session-count":1}]}]}"""


def reports(http, data_dir):
    """Stored DMARC and TLS reports: listed a page at a time and read parsed."""
    admin = login(http, "admin", "moxadmin")
    os.makedirs(os.path.join(data_dir, "reports", "dmarc"), exist_ok=True)
    os.makedirs(os.path.join(data_dir, "reports", "tlsrpt"), exist_ok=True)
    for i in range(3):
        name = f"google.com_localhost_1700000000_1700086399_{i}.xml"
        with open(os.path.join(data_dir, "reports", "dmarc", name), "w") as f:
            f.write(DMARC_XML.format(id=i))
    with open(os.path.join(data_dir, "reports", "tlsrpt", "Company-X_2016_r1.json"), "w") as f:
        f.write(TLS_JSON)
    status, page = call(http, "GET", "/api/v0/admin/reports/dmarc?limit=2", token=admin)
    expect(status == 200 and len(page["reports"]) == 2 and page["next_after"] == page["reports"][1]["name"], f"page 1: {page}")
    status, rest = call(http, "GET", "/api/v0/admin/reports/dmarc?limit=2&after=" + page["next_after"], token=admin)
    expect(status == 200 and len(rest["reports"]) == 1 and rest["next_after"] is None, f"page 2: {rest}")
    name = rest["reports"][0]["name"]
    expect(name.endswith("_2.xml") and rest["reports"][0]["size_bytes"] > 100, f"listed: {rest}")
    status, report = call(http, "GET", "/api/v0/admin/reports/dmarc/" + name, token=admin)
    expect(status == 200 and report["report_id"] == "2" and report["domain"] == "localhost", f"report: {report}")
    row = report["rows"][0]
    expect((row["source_ip"], row["count"], row["dkim"], row["spf"]) == ("192.0.2.1", 2, "pass", "fail"), f"row: {row}")
    status, listed = call(http, "GET", "/api/v0/admin/reports/tlsrpt", token=admin)
    expect(status == 200 and [r["name"] for r in listed["reports"]] == ["Company-X_2016_r1.json"], f"tlsrpt: {listed}")
    status, tls = call(http, "GET", "/api/v0/admin/reports/tlsrpt/Company-X_2016_r1.json", token=admin)
    policy = tls["policies"][0]
    expect(status == 200 and tls["organization"] == "Company-X", f"tls report: {tls}")
    expect((policy["successful"], policy["failed"], policy["failure_types"]) == (10, 1, ["certificate-expired"]), f"policy: {policy}")
    for path, code in (("/api/v0/admin/reports/dmarc/nothing.xml", 404), ("/api/v0/admin/reports/spam", 404),
                       ("/api/v0/admin/reports/dmarc?limit=0", 400), ("/api/v0/admin/reports/dmarc/..%2F..%2Fadmin.json", 404)):
        status, body = call(http, "GET", path, token=admin)
        expect(status == code, f"{path}: {status} {body}")
    account = login(http, "mox@localhost", "moxmoxmox")
    status, body = call(http, "GET", "/api/v0/admin/reports/dmarc", token=account)
    expect(status == 403, f"an account reads reports: {status}")
    print("reports ok")


def policy(http, submission, imap, domains_file):
    """Account settings through PATCH (validated, persisted, live on IMAP), suppression
    lists (admin and the account's own, paged; a suppressed address refused at RCPT) and
    hold rules, against `serve` with accounts alice and bob."""
    admin = login(http, "admin", "admin secret")
    path = "/api/v0/admin/accounts/alice"
    status, body = call(http, "PATCH", path, {"quota_messages": 5, "imap_hidden_capabilities": ["THREAD"],
                                              "outgoing_messages_per_day_max": 10}, admin)
    expect(status == 200, f"patch: {status} {body}")
    expect(body["quota_messages"] == 5 and body["imap_hidden_capabilities"] == ["THREAD"]
           and body["outgoing_messages_per_day_max"] == 10 and body["first_time_recipients_per_day_max"] == 200,
           f"patched: {body}")
    status, body = call(http, "GET", path, token=admin)
    expect(status == 200 and body["quota_messages"] == 5 and body["usage"]["messages"] == 0, f"show: {body}")
    status, body = call(http, "GET", "/api/v0/admin/accounts", token=admin)
    expect([a["imap_hidden_capabilities"] for a in body if a["name"] == "alice"] == [["THREAD"]], f"list: {body}")
    text = open(domains_file).read()
    expect("quota_messages = 5" in text and "outgoing_messages_per_day_max = 10" in text, f"file:\n{text}")
    # Live on every core: a new IMAP session after login no longer lists THREAD.
    client = imap_login(imap, "alice@example.org", "alice secret")
    typ, data = client.capability()
    expect(b"THREAD" not in data[0] and b"IMAP4rev2" in data[0], f"capabilities: {data}")
    client.logout()
    # null clears a quota; fields left out stay.
    status, body = call(http, "PATCH", path, {"quota_messages": None}, admin)
    expect(status == 200 and body["quota_messages"] is None and body["imap_hidden_capabilities"] == ["THREAD"],
           f"clear: {status} {body}")
    for bad, code in [({"imap_hidden_capabilities": ["A B"]}, 400), ({"imap_hidden_capabilities": ["X"] * 65}, 400),
                      ({"colour": 1}, 400), ({"outgoing_messages_per_day_max": -1}, 400)]:
        status, body = call(http, "PATCH", path, bad, admin)
        expect(status == code, f"patch {bad}: {status} {body}")
    status, _ = call(http, "PATCH", "/api/v0/admin/accounts/nobody", {"quota_messages": 1}, admin)
    expect(status == 404, f"patch of no account: {status}")
    expect("quota_messages" not in open(domains_file).read(), "a refused change left the file alone")
    status, body = call(http, "POST", "/api/v0/admin/accounts",
                        {"name": "carol", "addresses": ["carol@example.org"], "quota_messages": 3,
                         "first_time_recipients_per_day_max": 7}, admin)
    expect(status == 201 and body["quota_messages"] == 3 and body["first_time_recipients_per_day_max"] == 7
           and body["outgoing_messages_per_day_max"] == 1000, f"create with settings: {status} {body}")
    status, body = call(http, "POST", "/api/v0/admin/accounts",
                        {"name": "dave", "imap_hidden_capabilities": ["("]}, admin)
    expect(status == 400, f"create with a bad setting: {status} {body}")

    # Suppressions: added by the admin, paged, refused at RCPT.
    for i, address in enumerate(["Gone@Remote.example", "a@remote.example", "b@remote.example"]):
        status, body = call(http, "POST", "/api/v0/admin/suppressions",
                            {"account": "alice", "address": address, "reason": f"test {i}"}, admin)
        expect(status == 201 and body["address"] == address.lower(), f"suppress: {status} {body}")
    status, body = call(http, "POST", "/api/v0/admin/suppressions", {"account": "bob", "address": "c@remote.example"}, admin)
    expect(status == 201 and body["reason"] == "added by the postmaster", f"bob: {status} {body}")
    for bad in [{"account": "alice", "address": "no-at"}, {"address": "x@y.example"}]:
        status, body = call(http, "POST", "/api/v0/admin/suppressions", bad, admin)
        expect(status == 400, f"suppress {bad}: {status} {body}")
    status, _ = call(http, "POST", "/api/v0/admin/suppressions", {"account": "nobody", "address": "x@y.example"}, admin)
    expect(status == 404, f"suppress for no account: {status}")
    seen, after = [], None
    while True:
        query = "account=alice&limit=2" + (f"&after={urllib.parse.quote(after)}" if after else "")
        status, body = call(http, "GET", f"/api/v0/admin/suppressions?{query}", token=admin)
        expect(status == 200 and len(body["suppressions"]) <= 2, f"page: {status} {body}")
        seen += [(e["account"], e["address"]) for e in body["suppressions"]]
        after = body["next_after"]
        if after is None:
            break
    expect(seen == [("alice", "a@remote.example"), ("alice", "b@remote.example"), ("alice", "gone@remote.example")],
           f"alice's pages: {seen}")
    status, body = call(http, "GET", "/api/v0/admin/suppressions", token=admin)
    expect(len(body["suppressions"]) == 4, f"all: {body}")
    with smtplib.SMTP(*host_port(submission), timeout=60) as client:
        client.login("alice@example.org", "alice secret")
        try:
            client.sendmail("alice@example.org", ["gone@remote.example"], "Subject: x\r\nFrom: alice@example.org\r\n\r\nx\r\n")
            expect(False, "a suppressed address was accepted")
        except smtplib.SMTPRecipientsRefused as refused:
            code, text = refused.recipients["gone@remote.example"]
            expect(code == 550 and b"5.1.1" in text, f"refusal: {code} {text}")

    # The account's own list: its entries only; it removes and adds its own.
    alice = login(http, "alice@example.org", "alice secret")
    status, body = call(http, "GET", "/api/v0/account/suppressions", token=alice)
    expect(status == 200 and {e["account"] for e in body["suppressions"]} == {"alice"}
           and len(body["suppressions"]) == 3, f"own: {status} {body}")
    status, _ = call(http, "GET", "/api/v0/account/suppressions?account=bob", token=alice)
    expect(status == 400, f"another account's list: {status}")
    status, _ = call(http, "DELETE", "/api/v0/account/suppressions/gone@remote.example", token=alice)
    expect(status == 204, f"own remove: {status}")
    status, _ = call(http, "DELETE", "/api/v0/account/suppressions/gone@remote.example", token=alice)
    expect(status == 404, f"own remove again: {status}")
    status, _ = call(http, "DELETE", "/api/v0/account/suppressions/c@remote.example", token=alice)
    expect(status == 404, f"bob's entry through alice: {status}")
    status, body = call(http, "POST", "/api/v0/account/suppressions", {"address": "d@remote.example"}, alice)
    expect(status == 201 and body["account"] == "alice" and body["reason"] == "added by the account", f"own add: {body}")
    status, _ = call(http, "POST", "/api/v0/account/suppressions", {"account": "bob", "address": "d@remote.example"}, alice)
    expect(status == 400, f"own add for bob: {status}")
    status, _ = call(http, "GET", "/api/v0/admin/suppressions", token=alice)
    expect(status == 403, f"admin list with an account token: {status}")
    status, _ = call(http, "DELETE", "/api/v0/admin/suppressions/bob/c@remote.example", token=admin)
    expect(status == 204, f"admin remove: {status}")

    # Hold rules.
    status, rule = call(http, "POST", "/api/v0/admin/holdrules", {"recipient_domain": "Held.example."}, admin)
    expect(status == 201 and rule["recipient_domain"] == "held.example" and rule["account"] is None, f"rule: {rule}")
    status, _ = call(http, "POST", "/api/v0/admin/holdrules", {"account": ""}, admin)
    expect(status == 400, f"empty account in a rule: {status}")
    status, body = call(http, "GET", "/api/v0/admin/holdrules", token=admin)
    expect(status == 200 and [r["id"] for r in body["rules"]] == [rule["id"]], f"rules: {body}")
    status, _ = call(http, "DELETE", f"/api/v0/admin/holdrules/{rule['id']}", token=admin)
    expect(status == 204, f"rule remove: {status}")
    for rule_id, code in [(rule["id"], 404), ("x", 400)]:
        status, _ = call(http, "DELETE", f"/api/v0/admin/holdrules/{rule_id}", token=admin)
        expect(status == code, f"remove rule {rule_id}: {status}")
    print("policy ok")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"live": live, "auth": auth, "ratelimit": ratelimit, "domains": domains, "reports": reports,
     "policy": policy}[command](*args)
