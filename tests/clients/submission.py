#!/usr/bin/env python3
"""Submission rules checked with Python's smtplib against `moxide serve`
(tests/submission.rs). Account alice owns alice@example.org and al@example.org; bob owns
bob@example.org. Password for alice: first argument after the ports.

Usage:
  submission.py SUBMISSION_PORT SMTP_PORT PASSWORD

Checks, in order:
  - AUTH PLAIN with an authzid that is another address of the same account: 235;
    with an authzid of another account: 535;
  - the message's From: must be an address of the authenticated account: another
    account's address gets 550 5.7.1, also with MAIL FROM:<> (which itself is accepted,
    RFC 6409 section 3.2); no From, or two, gets 554 5.6.0;
  - a local part of 65 octets gets 501 in MAIL and RCPT (RFC 5321 section 4.5.3.1.1); 64 is
    fine syntactically.

Prints one line per check; exits 0 on success.
"""
import base64
import smtplib
import sys


def message(author, tag, extra=""):
    return (
        "From: %s\r\nTo: bob@example.org\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n%s\r\nbody of %s\r\n"
        % (author, tag, tag, extra, tag)
    ).encode()


def auth_plain(smtp, authzid, authcid, password):
    token = base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, password)).encode()).decode()
    return smtp.docmd("AUTH", "PLAIN " + token)


def expect_refused(smtp, sender, data, code, enhanced):
    try:
        smtp.sendmail(sender, ["bob@example.org"], data)
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == code, (e.smtp_code, e.smtp_error)
        assert e.smtp_error.decode().startswith(enhanced), e.smtp_error
        return e.smtp_error.decode()
    raise AssertionError("accepted: %r" % data[:60])


def submission(port, password):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("python.example")
        code, text = auth_plain(smtp, "bob@example.org", "alice@example.org", password)
        assert code == 535, (code, text)
        print("authzid of another account:", code, text.decode())
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("python.example")
        code, text = auth_plain(smtp, "al@example.org", "alice@example.org", password)
        assert code == 235, (code, text)
        print("authzid of the same account:", code, text.decode())

        refused = smtp.sendmail("alice@example.org", ["bob@example.org"], message("Alice <al@example.org>", "own"))
        assert refused == {}, refused
        print("From of the account: accepted")
        text = expect_refused(smtp, "alice@example.org", message("bob@example.org", "forged"), 550, "5.7.1")
        print("From of another account:", text)
        text = expect_refused(smtp, "", message("Bob <bob@example.org>", "forged-null"), 550, "5.7.1")
        print("null reverse path, From of another account:", text)
        refused = smtp.sendmail("", ["bob@example.org"], message("alice@example.org", "own-null"))
        assert refused == {}, refused
        print("null reverse path, From of the account: accepted")
        data = b"To: bob@example.org\r\nSubject: anonymous\r\n\r\nno author\r\n"
        text = expect_refused(smtp, "alice@example.org", data, 554, "5.6.0")
        print("no From:", text)
        data = message("alice@example.org", "two", "From: bob@example.org\r\n")
        text = expect_refused(smtp, "alice@example.org", data, 554, "5.6.0")
        print("two From fields:", text)


def localpart_limit(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("python.example")
        code, text = smtp.mail("a" * 65 + "@example.net")
        assert code == 501, (code, text)
        print("MAIL with a 65-octet local part:", code, text.decode())
        code, text = smtp.mail("a" * 64 + "@example.net")
        assert code == 250, (code, text)
        code, text = smtp.rcpt("b" * 65 + "@example.org")
        assert code == 501, (code, text)
        print("RCPT with a 65-octet local part:", code, text.decode())
        code, text = smtp.rcpt("b" * 64 + "@example.org")
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
        print("RCPT with a 64-octet local part: unknown user, as it should be")


def main():
    submission_port, smtp_port, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    submission(submission_port, password)
    localpart_limit(smtp_port)


if __name__ == "__main__":
    main()
