//! Where the load goes and where it comes from: resolving `HOST:PORT` (refusing targets
//! that are not loopback unless allowed), parsing `--sources`, and connecting sockets,
//! optionally bound to a chosen local address.
//!
//! The loopback rule exists because a load generator pointed at someone else's server is
//! an attack; every resolved address must be loopback, so a name that resolves to both a
//! loopback and a public address is refused too.
//!
//! Binding a source uses `IP_BIND_ADDRESS_NO_PORT` so the kernel picks the local port at
//! `connect` time knowing the full 4-tuple: with it each source address gets its own
//! ~28k ephemeral ports per destination, which is what makes 50k connections to one
//! server port possible.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Most source addresses `--sources` may name: a /16 worth, more than any port-space
/// arithmetic needs (50k connections ÷ 28k ports per address = 2).
pub(crate) const SOURCES_MAX: usize = 65_536;

/// Why a target or source list was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    /// Not `HOST:PORT`, or the name did not resolve.
    #[error("cannot resolve {text:?}: {reason}")]
    Resolve {
        /// What was given.
        text: String,
        /// Why it failed.
        reason: String,
    },
    /// Resolved to a non-loopback address without `--allow-remote`.
    #[error(
        "refusing to load {text} ({address}): not a loopback address; pass --allow-remote if you \
         own that server"
    )]
    NotLoopback {
        /// What was given.
        text: String,
        /// The offending address.
        address: IpAddr,
    },
    /// A `--sources` list that does not parse.
    #[error("bad --sources {text:?}: {reason}")]
    Sources {
        /// What was given.
        text: String,
        /// Why.
        reason: &'static str,
    },
}

/// Resolves `text` (`HOST:PORT`) and returns its first address. Every address it resolves
/// to must be loopback unless `allow_remote`.
pub(crate) fn resolve(text: &str, allow_remote: bool) -> Result<SocketAddr, TargetError> {
    let resolve_error = |reason: String| TargetError::Resolve { text: text.to_string(), reason };
    let addresses: Vec<SocketAddr> =
        text.to_socket_addrs().map_err(|e| resolve_error(e.to_string()))?.collect();
    let Some(first) = addresses.first().copied() else {
        return Err(resolve_error("no addresses".to_string()));
    };
    if !allow_remote && let Some(bad) = addresses.iter().find(|address| !address.ip().is_loopback()) {
        return Err(TargetError::NotLoopback { text: text.to_string(), address: bad.ip() });
    }
    Ok(first)
}

/// Parses `--sources`: comma-separated items, each an address or an IPv4 range
/// `A.B.C.D-E.F.G.H` (inclusive). Loopback only unless `allow_remote`.
pub(crate) fn parse_sources(text: &str, allow_remote: bool) -> Result<Vec<IpAddr>, TargetError> {
    let refuse = |reason| TargetError::Sources { text: text.to_string(), reason };
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        if let Some((first, last)) = item.split_once('-') {
            let first: Ipv4Addr = first.trim().parse().map_err(|_| refuse("range start is not IPv4"))?;
            let last: Ipv4Addr = last.trim().parse().map_err(|_| refuse("range end is not IPv4"))?;
            let (first, last) = (u32::from(first), u32::from(last));
            if first > last {
                return Err(refuse("range ends before it starts"));
            }
            if (last - first) as usize >= SOURCES_MAX {
                return Err(refuse("more than 65536 addresses"));
            }
            out.extend((first..=last).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
        } else {
            out.push(item.parse().map_err(|_| refuse("not an IP address"))?);
        }
        if out.len() > SOURCES_MAX {
            return Err(refuse("more than 65536 addresses"));
        }
    }
    if out.is_empty() {
        return Err(refuse("no addresses"));
    }
    if !allow_remote && out.iter().any(|address| !address.is_loopback()) {
        return Err(refuse("non-loopback source address (pass --allow-remote)"));
    }
    Ok(out)
}

/// Creates a TCP socket for `target`, bound to `source` if given (port chosen at connect).
pub(crate) fn new_socket(target: SocketAddr, source: Option<IpAddr>) -> io::Result<Socket> {
    let domain = if target.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(source) = source {
        if source.is_ipv4() != target.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and target address families differ",
            ));
        }
        // Port 0: the kernel picks one free for this source address; sockets bound to
        // different sources do not conflict, so each source gives a full ephemeral range.
        socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    }
    Ok(socket)
}

/// A blocking connection with `TCP_NODELAY` and read/write timeouts of `timeout`.
pub(crate) fn connect_blocking(
    target: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = new_socket(target, source)?;
    socket.connect_timeout(&SockAddr::from(target), timeout)?;
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Raises the soft descriptor limit to the hard limit; returns the limit now in force.
pub(crate) fn raise_fd_limit() -> io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), maximum) = (limit.current, limit.maximum) else {
        return Ok(u64::MAX);
    };
    // No maximum means unlimited; a kernel still caps the soft limit at nr_open.
    let wanted = maximum.unwrap_or(1 << 20);
    if current < wanted {
        setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit { current: Some(wanted), maximum: limit.maximum },
        )?;
        return Ok(wanted);
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn loopback_targets_resolve() {
        assert_eq!(resolve("127.0.0.1:25", false).unwrap(), "127.0.0.1:25".parse().unwrap());
        assert_eq!(resolve("[::1]:143", false).unwrap(), "[::1]:143".parse().unwrap());
        assert!(resolve("localhost:25", false).unwrap().ip().is_loopback());
    }

    #[test]
    fn remote_targets_need_allow_remote() {
        let error = resolve("192.0.2.7:25", false).unwrap_err();
        assert!(matches!(error, TargetError::NotLoopback { .. }));
        assert!(error.to_string().contains("--allow-remote"));
        assert_eq!(resolve("192.0.2.7:25", true).unwrap(), "192.0.2.7:25".parse().unwrap());
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(matches!(resolve("127.0.0.1", false), Err(TargetError::Resolve { .. })));
        assert!(matches!(resolve("127.0.0.1:notaport", false), Err(TargetError::Resolve { .. })));
    }

    #[test]
    fn sources_ranges_and_lists() {
        let sources = parse_sources("127.0.0.2-127.0.0.4, ::1", false).unwrap();
        assert_eq!(sources.len(), 4);
        assert_eq!(sources[0], "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(sources[2], "127.0.0.4".parse::<IpAddr>().unwrap());
        assert_eq!(parse_sources("127.0.1.255-127.0.2.0", false).unwrap().len(), 2);
        assert!(parse_sources("127.0.0.9-127.0.0.2", false).is_err());
        assert!(parse_sources("10.0.0.1", false).is_err());
        assert!(parse_sources("10.0.0.1", true).is_ok());
        assert!(parse_sources("", false).is_err());
        assert!(parse_sources("127.0.0.0-127.255.255.255", false).is_err());
    }

    #[test]
    fn connects_from_a_chosen_source() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let source: IpAddr = "127.0.0.3".parse().unwrap();
        let stream = connect_blocking(target, Some(source), Duration::from_secs(5)).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), source);
        assert_eq!(stream.local_addr().unwrap().ip(), source);
    }

    #[test]
    fn fd_limit_is_positive() {
        assert!(raise_fd_limit().unwrap() > 0);
    }
}
