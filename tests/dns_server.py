#!/usr/bin/env python3
"""A DNS server for the integration tests: serves one zone file on 127.0.0.1, UDP and TCP
on the same kernel-chosen port, with dnslib (PyPI) doing the wire format.

Usage: dns_server.py ZONEFILE [QUERYLOG]

Prints "port N" on stdout once both sockets listen, then answers until its standard input
closes (the test holding the pipe ended). Names in the zone answer their records (a CNAME
is followed within the zone); a name with other types only gets NODATA, an unknown name
NXDOMAIN, both with the zone's SOA (or a made-up one, minimum 60 s) for negative caching.
Each question is appended to QUERYLOG as "name type" when given. With DNS_AD=1 in the
environment every answer has the AD bit set, as a validating resolver on loopback would
(the zone stands for DNSSEC-signed data; the tests of DANE need it). The zone file is
read again when its modification time changes, so a test can change records while the
server runs (e.g. a new MTA-STS policy id).
"""
import os
import socket
import sys
import threading

from dnslib import DNSRecord, QTYPE, RCODE, RR, SOA
from dnslib.server import BaseResolver, DNSServer


class ZoneFileResolver(BaseResolver):
    def __init__(self, zone_path, query_log):
        self.authentic = os.environ.get("DNS_AD") == "1"
        self.zone_path = zone_path
        self.zone_mtime = None
        self.query_log = query_log
        self.lock = threading.Lock()
        self.load()

    def load(self):
        """Reads the zone file when it changed since it was last read."""
        mtime = os.stat(self.zone_path).st_mtime_ns
        if mtime == self.zone_mtime:
            return
        self.zone_mtime = mtime
        self.records = RR.fromZone(open(self.zone_path).read())
        soas = [rr for rr in self.records if rr.rtype == QTYPE.SOA]
        self.soa = soas[0] if soas else RR("invalid.", QTYPE.SOA, ttl=60,
                                           rdata=SOA("ns.invalid.", "hostmaster.invalid.", (1, 3600, 600, 86400, 60)))

    def resolve(self, request, handler):
        with self.lock:
            self.load()
        reply = request.reply()
        if self.authentic:
            reply.header.ad = 1
        qname, qtype = request.q.qname, request.q.qtype
        if self.query_log:
            with self.lock, open(self.query_log, "a") as log:
                log.write("%s %s\n" % (str(qname).rstrip(".").lower(), QTYPE[qtype]))
        name = qname
        for _ in range(8):
            here = [rr for rr in self.records if rr.rname == name]
            matches = [rr for rr in here if rr.rtype == qtype]
            if matches:
                for rr in matches:
                    reply.add_answer(rr)
                return reply
            aliases = [rr for rr in here if rr.rtype == QTYPE.CNAME]
            if not aliases:
                break
            reply.add_answer(aliases[0])
            name = aliases[0].rdata.label
        if not any(rr.rname == name for rr in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(self.soa)
        return reply


def main():
    query_log = sys.argv[2] if len(sys.argv) > 2 else None
    resolver = ZoneFileResolver(sys.argv[1], query_log)
    # One port number for UDP and TCP: the kernel picks a free UDP port, and the same
    # number may be taken for TCP (an outgoing connection's ephemeral port), so try again.
    for _attempt in range(100):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        try:
            udp = DNSServer(resolver, port=port, address="127.0.0.1", logger=Quiet())
        except OSError:
            continue
        try:
            tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=Quiet())
        except OSError:
            udp.server.server_close()
            continue
        break
    else:
        sys.exit("no port free for both UDP and TCP")
    udp.start_thread()
    tcp.start_thread()
    print("port %d" % port, flush=True)
    sys.stdin.read()
    udp.stop()
    tcp.stop()


class Quiet:
    def __getattr__(self, _name):
        return lambda *args, **kwargs: None


if __name__ == "__main__":
    main()
