//! IP address classes for MX targets (RFC 6890 special-purpose registries).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

/// An IP network written as `ADDR/LEN` (a bare address is a host network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The network `addr/len`; host bits must be zero.
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(CidrError(format!(
                "prefix length {len} is longer than {max} bits"
            )));
        }
        let masked = mask(addr, len);
        if masked != addr {
            return Err(CidrError(format!(
                "host part of {addr}/{len} is not zero. Did you mean {masked}/{len}?"
            )));
        }
        Ok(Cidr { addr, len })
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            len,
        }
    }

    const fn v6(segments: [u16; 8], len: u8) -> Cidr {
        let [a, b, c, d, e, f, g, h] = segments;
        Cidr {
            addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            len,
        }
    }

    /// Whether `ip` is inside the network. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.len) == self.addr
            }
            _ => false,
        }
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// A CIDR that does not parse, with a hint at the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(pub String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| {
            CidrError(format!(
                "'{addr}' is not an IP address (expected e.g. 10.0.0.0/8 or fd00::/8)"
            ))
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l.trim().parse::<u8>().map_err(|_| {
                CidrError(format!(
                    "prefix length '{l}' is not a number from 0 to {max}"
                ))
            })?,
        };
        Cidr::new(addr, len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What kind of destination an address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddrClass {
    /// Globally reachable: a real destination.
    Global,
    /// Inside a `--trusted-net`: usable although not global.
    Trusted,
    /// Loopback or unspecified (0.0.0.0/8, 127.0.0.0/8, ::, ::1): never a destination.
    Loopback,
    /// Not globally reachable (private, link-local, documentation, multicast, ...).
    NonGlobal,
}

impl AddrClass {
    /// Whether mail can be sent to an address of this class.
    pub fn is_usable(self) -> bool {
        matches!(self, AddrClass::Global | AddrClass::Trusted)
    }

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Global => "global",
            AddrClass::Trusted => "trusted",
            AddrClass::Loopback => "loopback",
            AddrClass::NonGlobal => "non_global",
        }
    }
}

/// RFC 6890 §2.2.2 / §2.2.3 "never a destination": this host and loopback.
const LOOPBACK: &[(Cidr, &str)] = &[
    (Cidr::v4(0, 0, 0, 0, 8), "this network, RFC 791"),
    (Cidr::v4(127, 0, 0, 0, 8), "loopback, RFC 1122"),
    (Cidr::v6([0; 8], 128), "unspecified, RFC 4291"),
    (
        Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "loopback, RFC 4291",
    ),
];

/// RFC 6890 (and its successors) ranges that are not globally reachable.
const NON_GLOBAL: &[(Cidr, &str)] = &[
    (Cidr::v4(10, 0, 0, 0, 8), "private-use, RFC 1918"),
    (Cidr::v4(172, 16, 0, 0, 12), "private-use, RFC 1918"),
    (Cidr::v4(192, 168, 0, 0, 16), "private-use, RFC 1918"),
    (
        Cidr::v4(100, 64, 0, 0, 10),
        "shared address space, RFC 6598",
    ),
    (Cidr::v4(169, 254, 0, 0, 16), "link-local, RFC 3927"),
    (
        Cidr::v4(192, 0, 0, 0, 24),
        "IETF protocol assignments, RFC 6890",
    ),
    (
        Cidr::v4(192, 0, 2, 0, 24),
        "documentation TEST-NET-1, RFC 5737",
    ),
    (Cidr::v4(198, 18, 0, 0, 15), "benchmarking, RFC 2544"),
    (
        Cidr::v4(198, 51, 100, 0, 24),
        "documentation TEST-NET-2, RFC 5737",
    ),
    (
        Cidr::v4(203, 0, 113, 0, 24),
        "documentation TEST-NET-3, RFC 5737",
    ),
    (Cidr::v4(224, 0, 0, 0, 4), "multicast, RFC 5771"),
    (Cidr::v4(240, 0, 0, 0, 4), "reserved, RFC 1112"),
    (
        Cidr::v4(255, 255, 255, 255, 32),
        "limited broadcast, RFC 919",
    ),
    (
        Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique-local, RFC 4193",
    ),
    (
        Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "link-local, RFC 4291",
    ),
    (
        Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation, RFC 3849",
    ),
    (
        Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "multicast, RFC 4291",
    ),
    (
        Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "discard-only, RFC 6666",
    ),
];

/// Classifies `ip` (IPv4-mapped IPv6 follows its IPv4 address). Addresses
/// inside one of `trusted` are [`AddrClass::Trusted`] whatever else they are.
/// Returns the class and, when not global, the name of the range.
pub fn classify_ip(ip: IpAddr, trusted: &[Cidr]) -> (AddrClass, Option<&'static str>) {
    if trusted.iter().any(|c| c.contains(ip)) {
        return (AddrClass::Trusted, Some("--trusted-net"));
    }
    if let Some((_, name)) = LOOPBACK.iter().find(|(c, _)| c.contains(ip)) {
        return (AddrClass::Loopback, Some(name));
    }
    if let Some((_, name)) = NON_GLOBAL.iter().find(|(c, _)| c.contains(ip)) {
        return (AddrClass::NonGlobal, Some(name));
    }
    (AddrClass::Global, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddrClass {
        classify_ip(s.parse().unwrap(), &[]).0
    }

    #[test]
    fn address_table() {
        use AddrClass::*;
        for (ip, want) in [
            ("0.0.0.0", Loopback),
            ("0.1.2.3", Loopback),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("::", Loopback),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:0.0.0.0", Loopback),
            ("10.1.2.3", NonGlobal),
            ("172.16.0.1", NonGlobal),
            ("172.31.255.255", NonGlobal),
            ("172.32.0.1", Global),
            ("192.168.1.1", NonGlobal),
            ("100.64.0.1", NonGlobal),
            ("100.128.0.1", Global),
            ("169.254.1.1", NonGlobal),
            ("192.0.0.8", NonGlobal),
            ("192.0.2.1", NonGlobal),
            ("198.18.0.1", NonGlobal),
            ("198.19.255.1", NonGlobal),
            ("198.20.0.1", Global),
            ("198.51.100.7", NonGlobal),
            ("203.0.113.9", NonGlobal),
            ("224.0.0.1", NonGlobal),
            ("239.1.1.1", NonGlobal),
            ("240.0.0.1", NonGlobal),
            ("255.255.255.255", NonGlobal),
            ("::ffff:10.0.0.1", NonGlobal),
            ("fc00::1", NonGlobal),
            ("fd12:3456::1", NonGlobal),
            ("fe80::1", NonGlobal),
            ("2001:db8::25", NonGlobal),
            ("ff02::1", NonGlobal),
            ("100::1", NonGlobal),
            ("8.8.8.8", Global),
            ("1.1.1.1", Global),
            ("2a00:1450:4001::1b", Global),
            ("::ffff:8.8.8.8", Global),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn trusted_nets_win() {
        let trusted: Vec<Cidr> = vec!["127.0.1.0/24".parse().unwrap(), "fd00::/8".parse().unwrap()];
        assert_eq!(
            classify_ip("127.0.1.5".parse().unwrap(), &trusted).0,
            AddrClass::Trusted
        );
        assert_eq!(
            classify_ip("127.0.0.1".parse().unwrap(), &trusted).0,
            AddrClass::Loopback
        );
        assert_eq!(
            classify_ip("fd00::25".parse().unwrap(), &trusted).0,
            AddrClass::Trusted
        );
        assert_eq!(
            classify_ip("::ffff:127.0.1.9".parse().unwrap(), &trusted).0,
            AddrClass::Trusted
        );
    }

    #[test]
    fn cidr_parsing_explains_mistakes() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "192.0.2.7".parse::<Cidr>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!(
            "10.0.0.1/24".parse::<Cidr>().unwrap_err().to_string(),
            "host part of 10.0.0.1/24 is not zero. Did you mean 10.0.0.0/24?"
        );
        assert!("10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .0
            .contains("longer than 32"));
        assert!("ten/8"
            .parse::<Cidr>()
            .unwrap_err()
            .0
            .contains("not an IP address"));
        assert!("10.0.0.0/x"
            .parse::<Cidr>()
            .unwrap_err()
            .0
            .contains("prefix length"));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
