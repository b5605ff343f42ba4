//! Who the client is: the TCP peer, or — only behind a proxy you trust — the address
//! that proxy reports in `X-Forwarded-For`.
//!
//! By default `X-Forwarded-For` is ignored: anyone can send one, so trusting it would
//! let every request pick its own rate-limit bucket. With trusted proxies configured,
//! and only when the TCP peer is one of them, the client is the rightmost address in
//! `X-Forwarded-For` that is not itself a trusted proxy (entries left of it were
//! written by the client and prove nothing).

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use http::HeaderMap;

use crate::error::{Error, ErrorKind};

/// An address block: `10.0.0.0/8`, `::1/128`, or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "invalid proxy address {text:?}: expected an IP address or a block like 10.0.0.0/8"
                ),
            )
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed. Defaults to none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
}

impl TrustedProxies {
    /// No proxy is trusted: the client is always the TCP peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts these address blocks.
    pub fn new(blocks: impl IntoIterator<Item = Cidr>) -> Self {
        Self {
            blocks: blocks.into_iter().collect(),
        }
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address for a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        // Every X-Forwarded-For line, in order, as one list; walk it from the right.
        let mut hops: Vec<&str> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            hops.extend(text.split(',').map(str::trim));
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The rate-limit bucket of an address: itself for IPv4, its /64 for IPv6 (one
/// subscriber usually holds a whole /64, so per-address buckets would be free to evade).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn blocks() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.9.9.9")));
        let c: Cidr = "fd00::/16".parse().unwrap();
        assert!(c.contains(ip("fd00:1::1")) && !c.contains(ip("fe80::1")));
        let c: Cidr = "127.0.0.1".parse().unwrap();
        assert!(c.contains(ip("127.0.0.1")) && !c.contains(ip("127.0.0.2")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn spoofed_forwarded_for_is_ignored_by_default() {
        let none = TrustedProxies::none();
        assert_eq!(
            none.client(ip("203.0.113.9"), &xff(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let proxies =
            TrustedProxies::new(["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]);
        let proxy = ip("127.0.0.1");
        // The client claims 1.2.3.4; the proxy appended what it saw: 198.51.100.7.
        assert_eq!(
            proxies.client(proxy, &xff(&["1.2.3.4, 198.51.100.7"])),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(proxy, &xff(&["1.2.3.4", "198.51.100.7, 10.0.0.2"])),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), proxy);
        // Garbage stops the walk at what was proven so far.
        assert_eq!(
            proxies.client(proxy, &xff(&["nonsense, 10.0.0.3"])),
            ip("10.0.0.3")
        );
        // A peer that is not a trusted proxy is the client, whatever it says.
        assert_eq!(
            proxies.client(ip("198.51.100.7"), &xff(&["1.2.3.4"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_buckets_are_per_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            bucket(ip("2001:db8:1:2:ffff::9")),
            bucket(ip("2001:db8:1:2::1"))
        );
        assert_ne!(bucket(ip("2001:db8:1:3::1")), bucket(ip("2001:db8:1:2::1")));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
