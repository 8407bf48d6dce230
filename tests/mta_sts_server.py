#!/usr/bin/env python3
"""An HTTPS server for the outbound TLS tests: serves one MTA-STS policy file at
/.well-known/mta-sts.txt on 127.0.0.1 (kernel-chosen port), with Python's ssl.

Usage: mta_sts_server.py CERT KEY POLICYFILE

Prints "port N" once it listens; serves until its standard input closes. Every other
path gets 404. Each request's path is printed to stderr. POLICYFILE is read at each
request, so a test can change the policy while the server runs.
"""
import http.server
import ssl
import sys
import threading


def main():
    cert, key, policy_file = sys.argv[1:4]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            sys.stderr.write("GET %s\n" % self.path)
            if self.path != "/.well-known/mta-sts.txt":
                self.send_response(404)
                self.end_headers()
                return
            policy = open(policy_file, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(policy)))
            self.end_headers()
            self.wfile.write(policy)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("port %d" % server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
