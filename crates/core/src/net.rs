//! IP address classes for MX targets: the IANA IPv4 and IPv6 Special-Purpose
//! Address Registries (RFC 6890, RFC 8190) and the address space registries.

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
    /// Loopback or unspecified (0.0.0.0/8, 127.0.0.0/8, ::, ::1, and the IPv6
    /// forms that carry such an IPv4 address): never a destination.
    Loopback,
    /// Not globally reachable (private, link-local, documentation, multicast,
    /// reserved, deprecated, identifiers, ...).
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

/// What a row's "Globally Reachable" column says in the IANA IPv4 and IPv6
/// Special-Purpose Address Registries (RFC 6890, RFC 8190 §2: "whether an IP
/// datagram whose destination address is drawn from the allocated
/// special-purpose address block is forwardable beyond a specified
/// administrative domain").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    /// `True`.
    Global,
    /// `False`.
    NotGlobal,
    /// `N/A`: deprecated blocks, and blocks whose reachability the
    /// registry leaves to their RFC (Teredo, 6to4).
    NotApplicable,
    /// Not a special-purpose row: a block of the IANA IPv4 or IPv6 Address
    /// Space registries (multicast, reserved by the IETF, deprecated
    /// site-local, the deprecated IPv4-compatible form).
    AddressSpace,
}

/// An IPv6 form that carries an IPv4 address, judged by that address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedding {
    /// Where the 32 bits of the IPv4 address start, counted from the left.
    pub at: u8,
    /// Whether the form is a destination when the embedded address is
    /// global; otherwise it is not globally reachable whatever it carries.
    pub global_if_global: bool,
    /// The range names given when the embedded address is loopback, and
    /// when it is not global; `None`: the embedded address's own range name.
    pub names: Option<(&'static str, &'static str)>,
}

/// How prebounce judges the addresses of a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// A destination.
    Global,
    /// Never a destination: this host, loopback ([`AddrClass::Loopback`]).
    Loopback,
    /// Not globally reachable ([`AddrClass::NonGlobal`]).
    NonGlobal,
    /// By the embedded IPv4 address: loopback if it is loopback, not global
    /// if it is not global, else as [`Embedding::global_if_global`] says.
    Embeds(Embedding),
}

/// One row of the address class table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block.
    pub net: Cidr,
    /// What it is and the RFC that defines it, as shown in output.
    pub name: &'static str,
    /// The registry's "Globally Reachable" column.
    pub registry: Registry,
    /// Our judgement (equal to the registry's where it is explicit, except
    /// for the identifier blocks ORCHIDv2 and DETs, and the IPv4-mapped and
    /// NAT64 forms judged by the address they carry).
    pub judgement: Judgement,
}

const fn row(
    net: Cidr,
    name: &'static str,
    registry: Registry,
    judgement: Judgement,
) -> SpecialRange {
    SpecialRange {
        net,
        name,
        registry,
        judgement,
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Cidr {
    Cidr::v4(a, b, c, d, len)
}

const fn v6(segments: [u16; 8], len: u8) -> Cidr {
    Cidr::v6(segments, len)
}

use Judgement::{Global as G, Loopback as L, NonGlobal as N};
use Registry::{AddressSpace as Space, Global as True, NotApplicable as NA, NotGlobal as False};

/// The 6to4 range names: carrying a loopback address, a non-global one.
const SIX_TO_FOUR: (&str, &str) = (
    "6to4 form of a loopback address, RFC 3056",
    "6to4 form of a non-global address, RFC 3056 §2",
);

/// Every special-purpose block, the most specific match wins. The IPv4 rows
/// are the IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its
/// updates, as of 2025) and multicast from the IPv4 Address
/// Space registry; the IPv6 rows are the IANA IPv6 Special-Purpose Address
/// Registry, then the IPv6 Address Space registry for what lies outside
/// the global unicast space 2000::/3.
///
/// Decisions where the registry says `N/A` or is not followed:
/// - 192.88.99.0/24 (6to4 relay anycast, deprecated by RFC 7526 §4) and
///   2001:10::/28 (ORCHID, expired 2014): not global.
/// - 2001::/32 Teredo (`N/A`, RFC 4380 §5): not global; a Teredo address is
///   a host behind a NAT, reached only through Teredo relays.
/// - 2002::/16 6to4 (`N/A`, RFC 3056): judged by the embedded IPv4 address
///   (loopback or not global), and not global even when that address is
///   global: the registry does not call it reachable, and the anycast relays
///   that made it reachable from native IPv6 are deprecated (RFC 7526).
/// - 64:ff9b::/96 NAT64 well-known prefix (`True`): judged by the embedded
///   address; RFC 6052 §3.1 forbids it for non-global IPv4 addresses, so
///   only a global embedded address makes it global.
/// - 64:ff9b:1::/48 NAT64 local-use prefix (`False`, RFC 8215): not global
///   whatever it carries (the operator chooses where the IPv4 address sits).
/// - ::ffff:0:0/96 IPv4-mapped (`False` as a wire address): the sockets
///   API connects to the IPv4 address it carries, so it is judged by it.
/// - ::/96 IPv4-compatible (deprecated, RFC 4291 §2.5.5.1): judged by the
///   embedded address, and never global.
/// - 2001:20::/28 ORCHIDv2 (RFC 7343) and 2001:30::/28 DETs (RFC 9374, an
///   ORCHIDv2 construction): the registry says `True`, but these are HIP
///   host identifiers for applications, not locators to appear in IPv6
///   headers (RFC 7343, RFC 4843): no MTA reaches an SMTP server there,
///   so not global.
/// - The registry's other `True` rows inside non-global blocks (anycast
///   services, AMT, AS112) stay global.
pub const SPECIAL_RANGES: &[SpecialRange] = &[
    // IANA IPv4 Special-Purpose Address Registry.
    row(v4(0, 0, 0, 0, 8), "this network, RFC 791", False, L),
    row(
        v4(0, 0, 0, 0, 32),
        "this host on this network, RFC 1122",
        False,
        L,
    ),
    row(v4(10, 0, 0, 0, 8), "private-use, RFC 1918", False, N),
    row(
        v4(100, 64, 0, 0, 10),
        "shared address space, RFC 6598",
        False,
        N,
    ),
    row(v4(127, 0, 0, 0, 8), "loopback, RFC 1122", False, L),
    row(v4(169, 254, 0, 0, 16), "link-local, RFC 3927", False, N),
    row(v4(172, 16, 0, 0, 12), "private-use, RFC 1918", False, N),
    row(
        v4(192, 0, 0, 0, 24),
        "IETF protocol assignments, RFC 6890",
        False,
        N,
    ),
    row(
        v4(192, 0, 0, 0, 29),
        "IPv4 service continuity prefix, RFC 7335",
        False,
        N,
    ),
    row(
        v4(192, 0, 0, 8, 32),
        "IPv4 dummy address, RFC 7600",
        False,
        N,
    ),
    row(v4(192, 0, 0, 9, 32), "PCP anycast, RFC 7723", True, G),
    row(v4(192, 0, 0, 10, 32), "TURN anycast, RFC 8155", True, G),
    row(
        v4(192, 0, 0, 170, 32),
        "NAT64/DNS64 discovery, RFC 8880",
        False,
        N,
    ),
    row(
        v4(192, 0, 0, 171, 32),
        "NAT64/DNS64 discovery, RFC 8880",
        False,
        N,
    ),
    row(
        v4(192, 0, 2, 0, 24),
        "documentation TEST-NET-1, RFC 5737",
        False,
        N,
    ),
    row(v4(192, 31, 196, 0, 24), "AS112-v4, RFC 7535", True, G),
    row(v4(192, 52, 193, 0, 24), "AMT, RFC 7450", True, G),
    row(
        v4(192, 88, 99, 0, 24),
        "6to4 relay anycast (deprecated), RFC 7526",
        NA,
        N,
    ),
    row(
        v4(192, 88, 99, 2, 32),
        "6a44 relay anycast, RFC 6751",
        False,
        N,
    ),
    row(v4(192, 168, 0, 0, 16), "private-use, RFC 1918", False, N),
    row(
        v4(192, 175, 48, 0, 24),
        "AS112 direct delegation, RFC 7534",
        True,
        G,
    ),
    row(v4(198, 18, 0, 0, 15), "benchmarking, RFC 2544", False, N),
    row(
        v4(198, 51, 100, 0, 24),
        "documentation TEST-NET-2, RFC 5737",
        False,
        N,
    ),
    row(
        v4(203, 0, 113, 0, 24),
        "documentation TEST-NET-3, RFC 5737",
        False,
        N,
    ),
    row(v4(240, 0, 0, 0, 4), "reserved, RFC 1112", False, N),
    row(
        v4(255, 255, 255, 255, 32),
        "limited broadcast, RFC 8190",
        False,
        N,
    ),
    // IANA IPv4 Address Space registry.
    row(v4(224, 0, 0, 0, 4), "multicast, RFC 5771", Space, N),
    // IANA IPv6 Special-Purpose Address Registry.
    row(
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "loopback, RFC 4291",
        False,
        L,
    ),
    row(v6([0; 8], 128), "unspecified, RFC 4291", False, L),
    row(
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
        "IPv4-mapped, RFC 4291",
        False,
        Judgement::Embeds(Embedding {
            at: 96,
            global_if_global: true,
            names: None,
        }),
    ),
    row(
        v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
        "NAT64 well-known prefix, RFC 6052",
        True,
        Judgement::Embeds(Embedding {
            at: 96,
            global_if_global: true,
            names: Some((
                "NAT64 form of a loopback address, RFC 6052",
                "NAT64 form of a non-global address, RFC 6052 §3.1",
            )),
        }),
    ),
    row(
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "NAT64 local-use prefix, RFC 8215",
        False,
        N,
    ),
    row(
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "discard-only, RFC 6666",
        False,
        N,
    ),
    row(
        v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64),
        "dummy IPv6 prefix, RFC 9780",
        False,
        N,
    ),
    row(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignments, RFC 2928",
        False,
        N,
    ),
    row(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        "Teredo, RFC 4380",
        NA,
        N,
    ),
    row(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),
        "PCP anycast, RFC 7723",
        True,
        G,
    ),
    row(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128),
        "TURN anycast, RFC 8155",
        True,
        G,
    ),
    row(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128),
        "DNS-SD SRP anycast, RFC 9665",
        True,
        G,
    ),
    row(
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "benchmarking, RFC 5180",
        False,
        N,
    ),
    row(
        v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32),
        "AMT, RFC 7450",
        True,
        G,
    ),
    row(
        v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48),
        "AS112-v6, RFC 7535",
        True,
        G,
    ),
    row(
        v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
        "ORCHID (deprecated), RFC 4843",
        NA,
        N,
    ),
    row(
        v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),
        "ORCHIDv2 identifiers, not locators, RFC 7343",
        True,
        N,
    ),
    row(
        v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28),
        "DRIP entity tags, identifiers, RFC 9374",
        True,
        N,
    ),
    row(
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation, RFC 3849",
        False,
        N,
    ),
    row(
        v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
        "6to4 (relays deprecated by RFC 7526), RFC 3056",
        NA,
        Judgement::Embeds(Embedding {
            at: 16,
            global_if_global: false,
            names: Some(SIX_TO_FOUR),
        }),
    ),
    row(
        v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48),
        "AS112 direct delegation, RFC 7534",
        True,
        G,
    ),
    row(
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "documentation, RFC 9637",
        False,
        N,
    ),
    row(
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "SRv6 SIDs, RFC 9602",
        False,
        N,
    ),
    row(
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique-local, RFC 4193",
        False,
        N,
    ),
    row(
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "link-local, RFC 4291",
        False,
        N,
    ),
    // IANA IPv6 Address Space registry: unicast is allocated from
    // 2000::/3 only; the rest is reserved by the IETF or special.
    row(
        v6([0; 8], 96),
        "IPv4-compatible (deprecated), RFC 4291 §2.5.5.1",
        Space,
        Judgement::Embeds(Embedding {
            at: 96,
            global_if_global: false,
            names: Some((
                "IPv4-compatible form of a loopback address, RFC 4291 §2.5.5.1",
                "IPv4-compatible (deprecated), RFC 4291 §2.5.5.1",
            )),
        }),
    ),
    row(
        v6([0; 8], 3),
        "reserved by the IETF (outside 2000::/3), RFC 4291",
        Space,
        N,
    ),
    row(
        v6([0x4000, 0, 0, 0, 0, 0, 0, 0], 2),
        "reserved by the IETF (outside 2000::/3), RFC 4291",
        Space,
        N,
    ),
    row(
        v6([0x8000, 0, 0, 0, 0, 0, 0, 0], 1),
        "reserved by the IETF (outside 2000::/3), RFC 4291",
        Space,
        N,
    ),
    row(
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated), RFC 3879",
        Space,
        N,
    ),
    row(
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "multicast, RFC 4291",
        Space,
        N,
    ),
];

/// Whether `ip` is inside `net`, as written (no unmapping).
fn within(net: &Cidr, ip: IpAddr) -> bool {
    net.addr.is_ipv4() == ip.is_ipv4() && mask(ip, net.len) == net.addr
}

/// The most specific row of [`SPECIAL_RANGES`] that holds `ip`, if any.
pub fn special_range(ip: IpAddr) -> Option<&'static SpecialRange> {
    // Most addresses of a run are global, and their first byte is in no
    // row: they skip the table.
    if !first_bytes()[usize::from(ip.is_ipv6())].contains(first_byte(ip)) {
        return None;
    }
    SPECIAL_RANGES
        .iter()
        .filter(|r| within(&r.net, ip))
        .max_by_key(|r| r.net.len)
}

fn first_byte(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) => a.octets()[0],
        IpAddr::V6(a) => a.octets()[0],
    }
}

/// A set of bytes.
#[derive(Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

/// The first bytes of the addresses of [`SPECIAL_RANGES`]' rows, IPv4 then
/// IPv6.
fn first_bytes() -> &'static [ByteSet; 2] {
    static SETS: std::sync::OnceLock<[ByteSet; 2]> = std::sync::OnceLock::new();
    SETS.get_or_init(|| {
        let mut sets = [ByteSet::default(), ByteSet::default()];
        for r in SPECIAL_RANGES {
            let set = &mut sets[usize::from(r.net.addr.is_ipv6())];
            // A row shorter than a byte covers 2^(8 - len) first bytes.
            let first = first_byte(r.net.addr);
            let span = 1u16 << (8 - r.net.len.min(8));
            for b in u16::from(first)..(u16::from(first) + span).min(256) {
                set.insert(b as u8);
            }
        }
        sets
    })
}

/// The IPv4 address in the 32 bits of `v6` that start at bit `at`.
fn embedded(v6: Ipv6Addr, at: u8) -> Ipv4Addr {
    let bits = u128::from(v6) >> (96 - u32::from(at));
    Ipv4Addr::from(bits as u32)
}

/// The class of `ip` by [`SPECIAL_RANGES`] alone.
fn by_table(ip: IpAddr) -> (AddrClass, Option<&'static str>) {
    let Some(range) = special_range(ip) else {
        return (AddrClass::Global, None);
    };
    match range.judgement {
        Judgement::Global => (AddrClass::Global, None),
        Judgement::Loopback => (AddrClass::Loopback, Some(range.name)),
        Judgement::NonGlobal => (AddrClass::NonGlobal, Some(range.name)),
        Judgement::Embeds(e) => {
            let IpAddr::V6(v6) = ip else {
                return (AddrClass::NonGlobal, Some(range.name));
            };
            let (class, inner) = by_table(IpAddr::V4(embedded(v6, e.at)));
            match class {
                AddrClass::Loopback => (AddrClass::Loopback, e.names.map(|n| n.0).or(inner)),
                AddrClass::Global if e.global_if_global => (AddrClass::Global, None),
                AddrClass::Global => (AddrClass::NonGlobal, Some(range.name)),
                _ => (AddrClass::NonGlobal, e.names.map(|n| n.1).or(inner)),
            }
        }
    }
}

/// Classifies `ip` by the IANA special-purpose registries
/// ([`SPECIAL_RANGES`]): IPv6 forms that carry an IPv4 address (IPv4-mapped,
/// NAT64, 6to4, IPv4-compatible) follow that address. Addresses inside one
/// of `trusted` are [`AddrClass::Trusted`] whatever else they are (an IPv4
/// network also holds the IPv4-mapped forms of its addresses, not the other
/// forms). Returns the class and, when not global, the name of the range.
pub fn classify_ip(ip: IpAddr, trusted: &[Cidr]) -> (AddrClass, Option<&'static str>) {
    if trusted.iter().any(|c| c.contains(ip)) {
        return (AddrClass::Trusted, Some("--trusted-net"));
    }
    by_table(ip)
}

#[cfg(test)]
mod first_byte_tests {
    use super::*;

    /// The first-byte shortcut never changes the answer: every first byte
    /// of both families, with low bytes of several shapes, against the
    /// whole table.
    #[test]
    fn the_shortcut_agrees_with_the_table() {
        let slow = |ip: IpAddr| {
            SPECIAL_RANGES
                .iter()
                .filter(|r| within(&r.net, ip))
                .max_by_key(|r| r.net.len)
                .map(|r| r.name)
        };
        let mut skipped = 0;
        for first in 0..=255u8 {
            for tail in [0u8, 1, 0x7f, 0xff] {
                let v4 = IpAddr::from([first, tail, tail, tail]);
                let mut b = [tail; 16];
                b[0] = first;
                let v6 = IpAddr::from(b);
                for ip in [v4, v6] {
                    assert_eq!(special_range(ip).map(|r| r.name), slow(ip), "{ip}");
                    skipped += usize::from(slow(ip).is_none());
                }
            }
        }
        assert!(skipped > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddrClass {
        classify_ip(s.parse().unwrap(), &[]).0
    }

    fn class_range(s: &str) -> (AddrClass, Option<&'static str>) {
        classify_ip(s.parse().unwrap(), &[])
    }

    fn bits(ip: IpAddr) -> (u128, u128) {
        match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), u128::from(u32::MAX)),
            IpAddr::V6(v6) => (u128::from(v6), u128::MAX),
        }
    }

    fn from_bits(v4: bool, n: u128) -> IpAddr {
        if v4 {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    }

    /// For every row: its first and last addresses (just inside) and the
    /// addresses just before and after it (just outside), with the class
    /// each must have; `None` where the range touches the end of the space.
    #[test]
    fn every_range_at_its_edges() {
        use AddrClass::{Global as G, Loopback as L, NonGlobal as N};
        type Edge = (
            &'static str,
            AddrClass,
            AddrClass,
            Option<AddrClass>,
            Option<AddrClass>,
        );
        // (range, first, last, just before, just after)
        let table: &[Edge] = &[
            ("0.0.0.0/8", L, L, None, Some(G)),
            ("0.0.0.0/32", L, L, None, Some(L)),
            ("10.0.0.0/8", N, N, Some(G), Some(G)),
            ("100.64.0.0/10", N, N, Some(G), Some(G)),
            ("127.0.0.0/8", L, L, Some(G), Some(G)),
            ("169.254.0.0/16", N, N, Some(G), Some(G)),
            ("172.16.0.0/12", N, N, Some(G), Some(G)),
            ("192.0.0.0/24", N, N, Some(G), Some(G)),
            ("192.0.0.0/29", N, N, Some(G), Some(N)),
            ("192.0.0.8/32", N, N, Some(N), Some(G)),
            ("192.0.0.9/32", G, G, Some(N), Some(G)),
            ("192.0.0.10/32", G, G, Some(G), Some(N)),
            ("192.0.0.170/32", N, N, Some(N), Some(N)),
            ("192.0.0.171/32", N, N, Some(N), Some(N)),
            ("192.0.2.0/24", N, N, Some(G), Some(G)),
            ("192.31.196.0/24", G, G, Some(G), Some(G)),
            ("192.52.193.0/24", G, G, Some(G), Some(G)),
            ("192.88.99.0/24", N, N, Some(G), Some(G)),
            ("192.88.99.2/32", N, N, Some(N), Some(N)),
            ("192.168.0.0/16", N, N, Some(G), Some(G)),
            ("192.175.48.0/24", G, G, Some(G), Some(G)),
            ("198.18.0.0/15", N, N, Some(G), Some(G)),
            ("198.51.100.0/24", N, N, Some(G), Some(G)),
            ("203.0.113.0/24", N, N, Some(G), Some(G)),
            ("240.0.0.0/4", N, N, Some(N), None),
            ("255.255.255.255/32", N, N, Some(N), None),
            ("224.0.0.0/4", N, N, Some(G), Some(N)),
            ("::1/128", L, L, Some(L), Some(L)),
            ("::/128", L, L, None, Some(L)),
            // First ::ffff:0.0.0.0 (this network), last ::ffff:255.255.255.255.
            ("::ffff:0:0/96", L, N, Some(N), Some(N)),
            ("64:ff9b::/96", L, N, Some(N), Some(N)),
            ("64:ff9b:1::/48", N, N, Some(N), Some(N)),
            ("100::/64", N, N, Some(N), Some(N)),
            ("100:0:0:1::/64", N, N, Some(N), Some(N)),
            ("2001::/23", N, N, Some(G), Some(G)),
            ("2001::/32", N, N, Some(G), Some(N)),
            ("2001:1::1/128", G, G, Some(N), Some(G)),
            ("2001:1::2/128", G, G, Some(G), Some(G)),
            ("2001:1::3/128", G, G, Some(G), Some(N)),
            ("2001:2::/48", N, N, Some(N), Some(N)),
            ("2001:3::/32", G, G, Some(N), Some(N)),
            ("2001:4:112::/48", G, G, Some(N), Some(N)),
            ("2001:10::/28", N, N, Some(N), Some(N)),
            ("2001:20::/28", N, N, Some(N), Some(N)),
            ("2001:30::/28", N, N, Some(N), Some(N)),
            ("2001:db8::/32", N, N, Some(G), Some(G)),
            // First 2002:0.0.0.0::, last 2002:255.255.255.255:ffff:...
            ("2002::/16", L, N, Some(G), Some(G)),
            ("2620:4f:8000::/48", G, G, Some(G), Some(G)),
            ("3fff::/20", N, N, Some(G), Some(G)),
            ("5f00::/16", N, N, Some(N), Some(N)),
            ("fc00::/7", N, N, Some(N), Some(N)),
            ("fe80::/10", N, N, Some(N), Some(N)),
            ("::/96", L, N, None, Some(N)),
            ("::/3", L, N, None, Some(G)),
            ("4000::/2", N, N, Some(G), Some(N)),
            ("8000::/1", N, N, Some(N), None),
            ("fec0::/10", N, N, Some(N), Some(N)),
            ("ff00::/8", N, N, Some(N), None),
        ];
        assert_eq!(table.len(), SPECIAL_RANGES.len(), "one edge row per range");
        for r in SPECIAL_RANGES {
            assert!(
                table.iter().any(|e| e.0.parse::<Cidr>().unwrap() == r.net),
                "{} has no edge row",
                r.net
            );
        }
        for &(net, first, last, before, after) in table {
            let c: Cidr = net.parse().unwrap();
            let (lo, max) = bits(c.addr);
            let v4 = c.addr.is_ipv4();
            let hi = lo + max.checked_shr(u32::from(c.len)).unwrap_or(0);
            let at = |n: u128| from_bits(v4, n);
            assert_eq!(classify_ip(at(lo), &[]).0, first, "{net}: first {}", at(lo));
            assert_eq!(classify_ip(at(hi), &[]).0, last, "{net}: last {}", at(hi));
            let found = special_range(at(lo)).unwrap();
            assert!(found.net.len >= c.len && within(&c, at(lo)), "{net}");
            match (lo.checked_sub(1), before) {
                (Some(b), Some(want)) => {
                    assert_eq!(classify_ip(at(b), &[]).0, want, "{net}: before {}", at(b))
                }
                (None, None) => {}
                _ => panic!("{net}: 'before' does not match the space"),
            }
            match (hi.checked_add(1).filter(|&n| n <= max), after) {
                (Some(a), Some(want)) => {
                    assert_eq!(classify_ip(at(a), &[]).0, want, "{net}: after {}", at(a))
                }
                (None, None) => {}
                _ => panic!("{net}: 'after' does not match the space"),
            }
        }
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
            ("233.252.0.1", NonGlobal),
            ("239.1.1.1", NonGlobal),
            ("240.0.0.1", NonGlobal),
            ("255.255.255.255", NonGlobal),
            ("::ffff:10.0.0.1", NonGlobal),
            ("fc00::1", NonGlobal),
            ("fd12:3456::1", NonGlobal),
            ("fe80::1", NonGlobal),
            ("2001:db8::25", NonGlobal),
            ("ff02::1", NonGlobal),
            ("ff0e::1", NonGlobal),
            ("100::1", NonGlobal),
            ("8.8.8.8", Global),
            ("1.1.1.1", Global),
            ("2a00:1450:4001::1b", Global),
            ("2001:4860:4860::8888", Global),
            ("2606:4700::1111", Global),
            ("::ffff:8.8.8.8", Global),
            // Issue 10, item 4: each of these passed as deliverable.
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::a00:1", NonGlobal),
            ("2002:7f00:1::1", Loopback),
            ("::127.0.0.1", Loopback),
            ("fec0::1", NonGlobal),
            ("2001:2::1", NonGlobal),
            ("3fff::1", NonGlobal),
            ("64:ff9b:1::1", NonGlobal),
            ("5f00::1", NonGlobal),
            ("2001::1", NonGlobal),
            ("2001:20::1", NonGlobal),
            ("192.88.99.1", NonGlobal),
            // The embedding forms with other embedded addresses.
            ("64:ff9b::808:808", Global),
            ("64:ff9b::c000:9", Global),
            ("64:ff9b::a9fe:a9fe", NonGlobal),
            ("64:ff9b::c0a8:101", NonGlobal),
            ("64:ff9b::0.0.0.7", Loopback),
            ("64:ff9b:1::7f00:1", NonGlobal),
            ("64:ff9b:1::808:808", NonGlobal),
            ("2002:808:808::1", NonGlobal),
            ("2002:c0a8:101::25", NonGlobal),
            ("2002:c058:6301::", NonGlobal),
            ("2002:0:1::1", Loopback),
            ("::8.8.8.8", NonGlobal),
            ("::10.0.0.1", NonGlobal),
            ("::0.0.0.2", Loopback),
            ("::ffff:0:808:808", NonGlobal),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", NonGlobal),
            ("2001:1::4", NonGlobal),
            ("4000::1", NonGlobal),
            ("1000::1", NonGlobal),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn embedded_forms_name_what_they_carry() {
        use AddrClass::*;
        for (ip, want) in [
            (
                "64:ff9b::7f00:1",
                (Loopback, Some("NAT64 form of a loopback address, RFC 6052")),
            ),
            (
                "64:ff9b::a00:1",
                (
                    NonGlobal,
                    Some("NAT64 form of a non-global address, RFC 6052 §3.1"),
                ),
            ),
            ("64:ff9b::808:808", (Global, None)),
            (
                "2002:7f00:1::1",
                (Loopback, Some("6to4 form of a loopback address, RFC 3056")),
            ),
            (
                "2002:a00:1::1",
                (
                    NonGlobal,
                    Some("6to4 form of a non-global address, RFC 3056 §2"),
                ),
            ),
            (
                "2002:808:808::1",
                (
                    NonGlobal,
                    Some("6to4 (relays deprecated by RFC 7526), RFC 3056"),
                ),
            ),
            (
                "::127.0.0.1",
                (
                    Loopback,
                    Some("IPv4-compatible form of a loopback address, RFC 4291 §2.5.5.1"),
                ),
            ),
            (
                "::8.8.8.8",
                (
                    NonGlobal,
                    Some("IPv4-compatible (deprecated), RFC 4291 §2.5.5.1"),
                ),
            ),
            (
                "::ffff:10.0.0.1",
                (NonGlobal, Some("private-use, RFC 1918")),
            ),
            ("::ffff:127.0.0.1", (Loopback, Some("loopback, RFC 1122"))),
            ("::1", (Loopback, Some("loopback, RFC 4291"))),
            ("::", (Loopback, Some("unspecified, RFC 4291"))),
            (
                "64:ff9b:1::7f00:1",
                (NonGlobal, Some("NAT64 local-use prefix, RFC 8215")),
            ),
            (
                "192.88.99.1",
                (NonGlobal, Some("6to4 relay anycast (deprecated), RFC 7526")),
            ),
        ] {
            assert_eq!(class_range(ip), want, "{ip}");
        }
    }

    /// Our judgement follows the registry's "Globally Reachable" column
    /// wherever it is explicit, but for the documented departures.
    #[test]
    fn judgements_follow_the_registry() {
        let departures: Vec<Cidr> = ["2001:20::/28", "2001:30::/28", "::ffff:0:0/96"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect();
        for r in SPECIAL_RANGES {
            let net = r.net.to_string();
            let ok = match (r.registry, r.judgement) {
                (Registry::Global, Judgement::Global) => true,
                (Registry::Global, Judgement::Embeds(e)) => e.global_if_global,
                (Registry::NotGlobal, Judgement::Loopback | Judgement::NonGlobal) => true,
                (Registry::NotApplicable | Registry::AddressSpace, Judgement::Global) => false,
                (Registry::NotApplicable | Registry::AddressSpace, Judgement::Embeds(e)) => {
                    !e.global_if_global
                }
                (Registry::NotApplicable | Registry::AddressSpace, _) => true,
                _ => departures.contains(&r.net),
            };
            assert!(ok, "{net}: {:?} judged {:?}", r.registry, r.judgement);
        }
        // The departures: identifiers the registry calls reachable, judged
        // not global; the mapped form the registry calls not reachable,
        // judged by the IPv4 address it carries.
        let row = |d: &str| {
            let c: Cidr = d.parse().unwrap();
            SPECIAL_RANGES.iter().find(|r| r.net == c).unwrap()
        };
        for d in ["2001:20::/28", "2001:30::/28"] {
            assert_eq!(row(d).registry, Registry::Global, "{d}");
            assert_eq!(row(d).judgement, Judgement::NonGlobal, "{d}");
        }
        assert_eq!(row("::ffff:0:0/96").registry, Registry::NotGlobal);
        assert_eq!(class("::ffff:8.8.8.8"), AddrClass::Global);
        // Every row of both registries (2025-10-09) is here.
        let special = |v4: bool| {
            SPECIAL_RANGES
                .iter()
                .filter(|r| r.registry != Registry::AddressSpace && r.net.addr.is_ipv4() == v4)
                .count()
        };
        assert_eq!(special(true), 26);
        assert_eq!(special(false), 25);
    }

    #[test]
    fn rows_are_well_formed_and_cited() {
        for (i, r) in SPECIAL_RANGES.iter().enumerate() {
            assert_eq!(Cidr::new(r.net.addr, r.net.len), Ok(r.net), "{}", r.net);
            assert!(r.name.contains("RFC "), "{}: {}", r.net, r.name);
            assert!(
                SPECIAL_RANGES[i + 1..].iter().all(|o| o.net != r.net),
                "{} twice",
                r.net
            );
            if let Judgement::Embeds(e) = r.judgement {
                assert!(r.net.addr.is_ipv6() && r.net.len <= e.at && e.at <= 96);
            }
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
        // An IPv4 network holds the mapped forms of its addresses only: the
        // NAT64, 6to4 and IPv4-compatible forms are other destinations.
        for ip in ["64:ff9b::7f00:105", "2002:7f00:105::1", "::127.0.1.5"] {
            assert_eq!(
                classify_ip(ip.parse().unwrap(), &trusted).0,
                AddrClass::Loopback,
                "{ip}"
            );
        }
        // A trusted IPv6 network overrides every other class.
        let trusted: Vec<Cidr> = [
            "64:ff9b::/96",
            "2002::/16",
            "fec0::/10",
            "2001:2::/48",
            "3fff::/20",
            "64:ff9b:1::/48",
            "5f00::/16",
            "2001::/32",
            "2001:20::/28",
            "::/96",
            "192.88.99.0/24",
        ]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
        for ip in [
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "::127.0.0.1",
            "fec0::1",
            "2001:2::1",
            "3fff::1",
            "64:ff9b:1::1",
            "5f00::1",
            "2001::1",
            "2001:20::1",
            "192.88.99.1",
        ] {
            assert_eq!(
                classify_ip(ip.parse().unwrap(), &trusted),
                (AddrClass::Trusted, Some("--trusted-net")),
                "{ip}"
            );
            assert_ne!(class(ip), AddrClass::Trusted, "{ip}");
        }
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
