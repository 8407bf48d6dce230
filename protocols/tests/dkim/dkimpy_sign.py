#!/usr/bin/env python3
"""Signs test messages with dkimpy (PyPI) for protocols/tests/dkim_interop.rs.

Makes fresh keys (RSA 2048 and 1024 with openssl, Ed25519 with PyNaCl), signs each test
message with every algorithm and canonicalization pair moxide verifies, with and without
l=, seals one message with ARC over one and two hops, and prints one JSON object: the key
records by DNS name, the signed messages and the ARC-sealed ones (base64). Needs the
dkimpy, pynacl and authres packages and the openssl command.
"""
import base64
import json
import subprocess
import sys

import dkim
import nacl.signing

DOMAIN = b"dkimpy.example"


def openssl(args, data=None):
    return subprocess.run(["openssl"] + args, input=data, capture_output=True, check=True).stdout


def rsa_key(bits):
    pem = openssl(["genrsa", "-traditional", str(bits)])
    spki = openssl(["rsa", "-pubout", "-outform", "DER"], pem)
    bare = openssl(["rsa", "-RSAPublicKey_out", "-outform", "DER"], pem)
    return pem, base64.b64encode(spki).decode(), base64.b64encode(bare).decode()


MESSAGES = {
    "plain": b"From: Alice <alice@dkimpy.example>\r\nTo: bob@moxide.example\r\n"
    b"Subject: plain\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <plain@dkimpy.example>\r\n\r\nHello Bob.\r\n",
    "whitespace": b"From: alice@dkimpy.example\r\nTo:   bob@moxide.example  \r\n"
    b"Subject: folded\r\n  subject\twith tabs \r\nReceived: from a by b\r\nReceived: from c by d\r\n"
    b"Message-ID: <ws@dkimpy.example>\r\n\r\n"
    b"  leading spaces\r\ntrailing spaces   \r\n\ttabs\t\tinside\t\r\n\r\n\r\nafter blank lines\r\n\r\n\r\n",
    "empty-body": b"From: alice@dkimpy.example\r\nSubject: empty\r\n"
    b"Message-ID: <empty@dkimpy.example>\r\n\r\n",
    "large": b"From: alice@dkimpy.example\r\nSubject: large\r\nMessage-ID: <large@dkimpy.example>\r\n\r\n"
    + b"".join(b"line %05d of a long body with some text in it  \r\n" % i for i in range(3000)),
}

CANONICALIZATIONS = [(a, b) for a in (b"simple", b"relaxed") for b in (b"simple", b"relaxed")]


def main():
    rsa2048, rsa2048_spki, rsa2048_bare = rsa_key(2048)
    rsa1024, rsa1024_spki, _ = rsa_key(1024)
    ed = nacl.signing.SigningKey.generate()
    ed_private = base64.b64encode(bytes(ed))
    keys = {
        "rsa2048": ("v=DKIM1; k=rsa; p=" + rsa2048_spki, rsa2048),
        "rsabare": ("v=DKIM1; p=" + rsa2048_bare, rsa2048),
        "rsa1024": ("k=rsa; p=" + rsa1024_spki, rsa1024),
        "ed": ("v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(ed.verify_key)).decode(), ed_private),
    }
    plans = [
        (b"rsa-sha256", "rsa2048"),
        (b"rsa-sha256", "rsabare"),
        (b"rsa-sha256", "rsa1024"),
        (b"rsa-sha1", "rsa2048"),
        (b"ed25519-sha256", "ed"),
    ]
    signed = []
    for message_name, message in MESSAGES.items():
        for algorithm, selector in plans:
            for canonicalize in CANONICALIZATIONS:
                for length in (False, True):
                    private = keys[selector][1]
                    header = dkim.sign(
                        message,
                        selector.encode(),
                        DOMAIN,
                        private,
                        canonicalize=canonicalize,
                        signature_algorithm=algorithm,
                        length=length,
                    )
                    signed.append({
                        "name": "%s %s %s %s/%s%s" % (
                            message_name, algorithm.decode(), selector, canonicalize[0].decode(),
                            canonicalize[1].decode(), " l=" if length else ""),
                        "length": length,
                        "message": base64.b64encode(header + message).decode(),
                    })
    records = {"%s._domainkey.%s" % (s, DOMAIN.decode()): k[0] for s, k in keys.items()}
    for hop in ("hop1.example", "hop2.example"):
        records["arc._domainkey." + hop] = keys["rsa2048"][0]
    arc = arc_messages(rsa2048)
    json.dump({"keys": records, "messages": signed, "arc": arc}, sys.stdout)


def arc_messages(private):
    """One message sealed by one hop, then by a second hop (cv=pass)."""
    message = (b"Authentication-Results: hop1.example; spf=pass smtp.mailfrom=alice@dkimpy.example\r\n"
               + MESSAGES["whitespace"])
    first = b"".join(dkim.arc_sign(message, b"arc", b"hop1.example", private, b"hop1.example")) + message
    second_input = b"Authentication-Results: hop2.example; arc=pass\r\n" + first
    second = b"".join(dkim.arc_sign(second_input, b"arc", b"hop2.example", private, b"hop2.example")) + second_input
    return [base64.b64encode(first).decode(), base64.b64encode(second).decode()]


if __name__ == "__main__":
    main()
