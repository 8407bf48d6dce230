#!/usr/bin/env python3
"""Makes what tests/inbound_auth.rs sends: a zone file (SPF, DKIM key, DMARC policies,
reverse names for 127.0.0.1), messages signed by dkimpy (PyPI) with a fresh RSA key, and
a DMARC aggregate report (gzip) and a TLS report (application/tlsrpt+gzip) as reporters
send them, built with Python's email package.

Usage: auth_messages.py OUTDIR [CORPUS_COUNT]
  writes OUTDIR/zone and OUTDIR/<name>.eml; with CORPUS_COUNT also OUTDIR/corpus/ with
  that many signed 4 KiB messages for moxide-load (`scripts/auth-perf`), signed without
  Message-ID in h= because moxide-load replaces it.
"""
import base64
import gzip
import os
from email.message import EmailMessage
import subprocess
import sys

import dkim


def openssl(args, data=None):
    return subprocess.run(["openssl"] + args, input=data, capture_output=True, check=True).stdout


def txt(text):
    """A TXT value as quoted character-strings of at most 255 octets each."""
    return " ".join('"%s"' % text[i:i + 250] for i in range(0, len(text), 250))


def message(sender, subject, extra=b""):
    return (b"From: Sender <" + sender + b">\r\nTo: mox@localhost\r\nSubject: " + subject + b"\r\n"
            b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <" + subject.replace(b" ", b"-") + b"@test>\r\n"
            + extra + b"\r\nHello from the authentication test.\r\n")


DMARC_XML = b"""<?xml version="1.0"?><feedback><report_metadata><org_name>receiver.example</org_name>
<email>dmarc@receiver.example</email><report_id>agg-1</report_id>
<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
<policy_published><domain>localhost</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>4</count><policy_evaluated><disposition>none</disposition>
<dkim>pass</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>localhost</header_from></identifiers>
</record></feedback>"""

TLS_JSON = b"""{"organization-name": "receiver.example", "report-id": "r1",
"date-range": {"start-datetime": "2023-11-14T00:00:00Z", "end-datetime": "2023-11-14T23:59:59Z"},
"policies": [{"policy": {"policy-type": "no-policy-found", "policy-domain": "localhost"},
"summary": {"total-successful-session-count": 3, "total-failure-session-count": 0}}]}"""


def report_message(maintype, subtype, filename, data):
    report = EmailMessage()
    report["From"] = "reports@receiver.example"
    report["To"] = "dmarc-reports@localhost"
    report["Subject"] = "Report " + filename
    report["Message-ID"] = "<%s@receiver.example>" % filename.replace("!", ".")
    report.set_content("A report is attached.")
    report.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return report.as_bytes(policy=report.policy.clone(linesep="\r\n"))


def main():
    out = sys.argv[1]
    pem = openssl(["genrsa", "-traditional", "2048"])
    public = base64.b64encode(openssl(["rsa", "-pubout", "-outform", "DER"], pem)).decode()
    zone = "\n".join([
        "$TTL 300",
        "good.example. IN SOA ns.good.example. hostmaster.good.example. ( 1 3600 600 86400 60 )",
        'good.example. IN TXT "v=spf1 ip4:127.0.0.1 -all"',
        "sel._domainkey.good.example. IN TXT " + txt("v=DKIM1; k=rsa; p=" + public),
        '_dmarc.good.example. IN TXT "v=DMARC1; p=reject"',
        'reject.example. IN TXT "v=spf1 -all"',
        '_dmarc.reject.example. IN TXT "v=DMARC1; p=reject"',
        '_dmarc.quarantine.example. IN TXT "v=DMARC1; p=quarantine"',
        "1.0.0.127.in-addr.arpa. IN PTR mail.good.example.",
        "mail.good.example. IN A 127.0.0.1",
        "",
    ])
    with open(os.path.join(out, "zone"), "w") as f:
        f.write(zone)

    def signed(body):
        return dkim.sign(body, b"sel", b"good.example", pem, canonicalize=(b"relaxed", b"relaxed")) + body

    good = signed(message(b"alice@good.example", b"signed"))
    forged = (b"Authentication-Results: localhost; dkim=pass header.d=bank.example\r\n"
              + signed(message(b"alice@good.example", b"forged results")))
    messages = {
        "good": good,
        "forged": forged,
        # Signed, then changed in transit: the signature fails, SPF still passes and aligns.
        "tampered": signed(message(b"alice@good.example", b"tampered")).replace(
            b"Hello from the authentication test.", b"Hello from someone else."),
        "reject": message(b"ceo@reject.example", b"spoofed reject"),
        "quarantine": message(b"ceo@quarantine.example", b"spoofed quarantine"),
    }
    messages["dmarc-report"] = report_message(
        "application", "gzip", "receiver.example!localhost!1700000000!1700086399.xml.gz", gzip.compress(DMARC_XML))
    messages["tls-report"] = report_message(
        "application", "tlsrpt+gzip", "receiver.example!localhost!1700000000!r1.json.gz", gzip.compress(TLS_JSON))
    for name, body in messages.items():
        with open(os.path.join(out, name + ".eml"), "wb") as f:
            f.write(body)
    if len(sys.argv) > 2:
        corpus = os.path.join(out, "corpus")
        os.makedirs(corpus, exist_ok=True)
        for n in range(int(sys.argv[2])):
            text = b"".join(b"Line %03d of message %d, some ordinary text to sign.\r\n" % (i, n) for i in range(75))
            body = (b"From: Alice <alice@good.example>\r\nTo: mox@localhost\r\nSubject: load %d\r\n"
                    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <load%d@good.example>\r\n\r\n" % (n, n)
                    + text)
            signature = dkim.sign(body, b"sel", b"good.example", pem, canonicalize=(b"relaxed", b"relaxed"),
                                  include_headers=[b"from", b"to", b"subject", b"date"])
            with open(os.path.join(corpus, "%03d.eml" % n), "wb") as f:
                f.write(signature + body)


if __name__ == "__main__":
    main()
