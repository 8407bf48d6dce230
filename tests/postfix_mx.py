#!/usr/bin/env python3
"""A private Postfix for the integration tests: the receiving MX of one virtual domain,
smtpd on 127.0.0.1 at a given port, STARTTLS offered with a given certificate, mail
delivered by the `virtual` agent into maildirs under DIR/mail.

Usage:
  postfix_mx.py start DIR PORT DOMAIN MAILBOX CERT KEY
  postfix_mx.py stop DIR

`start` writes DIR/conf (main.cf, master.cf), DIR/queue and DIR/data, starts Postfix
with `postfix -c DIR/conf start` and returns once smtpd accepts connections; Postfix
logs to DIR/postfix.log. MAILBOX (an address in DOMAIN) is delivered to
DIR/mail/MAILBOX/new. `stop` runs `postfix -c DIR/conf stop`. Needs root (Postfix's
master runs as root and drops to the `postfix` user). DIR must be traversable by that
user: the caller makes it mode 0755.

The postfix command reports its errors on stderr only when that is a terminal (otherwise
only to syslog, which may not exist here), so it runs under `script`'s pseudo-terminal.
"""
import os
import pwd
import socket
import subprocess
import sys
import time

MASTER_CF = """# A private Postfix for a test (no chroot: its own queue directory).
127.0.0.1:{port} inet n   -       n       -       -       smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""

# How long smtpd may take to listen after `postfix start` on a loaded machine.
START_SECONDS_MAX = 60


def run_postfix(args):
    line = " ".join(["postfix"] + args)
    result = subprocess.run(["script", "-qec", line, "/dev/null"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("%s exited %d:\n%s%s" % (line, result.returncode, result.stdout, result.stderr))


def start(base, port, domain, mailbox, cert, key):
    conf, queue, data, mail = (os.path.join(base, d) for d in ("conf", "queue", "data", "mail"))
    for path in (conf, queue, data, mail):
        os.makedirs(path, exist_ok=True)
    owner = pwd.getpwnam("postfix")
    for path in (data, mail):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    with open(os.path.join(conf, "vmailbox"), "w") as f:
        f.write("%s %s/\n" % (mailbox, mailbox))
    main_cf = f"""# A private Postfix for a test: the MX of {domain}.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {base}/postfix.log
maillog_file_prefixes = {base}
myhostname = mx.{domain}
mydomain = {domain}
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_transport = error:local delivery is disabled
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {mail}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
virtual_minimum_uid = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
readme_directory = no
smtp_dns_support_level = disabled
"""
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(main_cf)
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write(MASTER_CF.format(port=port))
    # Creates the queue's subdirectories with their owners and modes.
    subprocess.run(["script", "-qec", "postfix -c %s set-permissions" % conf, "/dev/null"],
                   capture_output=True)
    run_postfix(["-c", conf, "check"])
    run_postfix(["-c", conf, "start"])
    deadline = time.time() + START_SECONDS_MAX
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                log = os.path.join(base, "postfix.log")
                text = open(log).read() if os.path.exists(log) else "(no log)"
                sys.exit("postfix smtpd did not listen on port %d:\n%s" % (port, text))
            time.sleep(0.1)


def main():
    if len(sys.argv) == 8 and sys.argv[1] == "start":
        start(sys.argv[2], int(sys.argv[3]), *sys.argv[4:8])
    elif len(sys.argv) == 3 and sys.argv[1] == "stop":
        run_postfix(["-c", os.path.join(sys.argv[2], "conf"), "stop"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
