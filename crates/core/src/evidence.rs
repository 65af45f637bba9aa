//! Typed DNS evidence: what the I/O layer saw, before any judgement.
//!
//! Every query ends in a [`QueryStatus`]; negative answers and failures are
//! values, not errors, and the type keeps permanent negatives (NXDOMAIN,
//! NODATA) apart from temporary failures (SERVFAIL, timeouts, ...).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

/// How one DNS query ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryStatus {
    /// NOERROR with records of the asked type (after following CNAMEs).
    Answer,
    /// NOERROR, no records of the type, an SOA in the authority section:
    /// the name exists but has no such records (RFC 2308 §2.2). Permanent.
    NoData,
    /// NXDOMAIN: the name does not exist (RFC 2308 §2.1). Permanent.
    NxDomain,
    /// SERVFAIL: the server could not answer. Temporary (RFC 5321 §5.1).
    ServFail,
    /// REFUSED: the server will not answer. Temporary: the fault is in the path.
    Refused,
    /// No reply within the timeout, after every attempt. Temporary.
    Timeout,
    /// NOERROR, no records and no SOA: a referral or a lame server. Temporary.
    Lame,
    /// A reply that could not be parsed or did not fit the question. Temporary.
    Malformed,
    /// Another response code (FORMERR, NOTIMP, ...). Temporary.
    Rcode(u16),
}

impl QueryStatus {
    /// Whether this outcome says nothing final about the name: the query
    /// must be asked again later, and no suppression may rest on it.
    pub fn is_temporary(self) -> bool {
        !matches!(
            self,
            QueryStatus::Answer | QueryStatus::NoData | QueryStatus::NxDomain
        )
    }

    /// A stable lowercase name: `answer`, `nodata`, `nxdomain`, `servfail`,
    /// `refused`, `timeout`, `lame`, `malformed`, `rcode_N`.
    pub fn name(self) -> String {
        match self {
            QueryStatus::Answer => "answer".into(),
            QueryStatus::NoData => "nodata".into(),
            QueryStatus::NxDomain => "nxdomain".into(),
            QueryStatus::ServFail => "servfail".into(),
            QueryStatus::Refused => "refused".into(),
            QueryStatus::Timeout => "timeout".into(),
            QueryStatus::Lame => "lame".into(),
            QueryStatus::Malformed => "malformed".into(),
            QueryStatus::Rcode(c) => format!("rcode_{c}"),
        }
    }

    /// The status named by [`QueryStatus::name`], `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<QueryStatus> {
        Some(match name {
            "answer" => QueryStatus::Answer,
            "nodata" => QueryStatus::NoData,
            "nxdomain" => QueryStatus::NxDomain,
            "servfail" => QueryStatus::ServFail,
            "refused" => QueryStatus::Refused,
            "timeout" => QueryStatus::Timeout,
            "lame" => QueryStatus::Lame,
            "malformed" => QueryStatus::Malformed,
            other => QueryStatus::Rcode(other.strip_prefix("rcode_")?.parse().ok()?),
        })
    }

    /// A short phrase for detail lines.
    pub fn describe(self) -> String {
        match self {
            QueryStatus::Answer => "answered".into(),
            QueryStatus::NoData => "NODATA (the name exists, no such records)".into(),
            QueryStatus::NxDomain => "NXDOMAIN (no such domain)".into(),
            QueryStatus::ServFail => "SERVFAIL".into(),
            QueryStatus::Refused => "REFUSED".into(),
            QueryStatus::Timeout => "timed out".into(),
            QueryStatus::Lame => "a referral or lame answer (no records, no SOA)".into(),
            QueryStatus::Malformed => "a malformed reply".into(),
            QueryStatus::Rcode(1) => "FORMERR".into(),
            QueryStatus::Rcode(4) => "NOTIMP".into(),
            QueryStatus::Rcode(9) => "NOTAUTH".into(),
            QueryStatus::Rcode(c) => format!("response code {c}"),
        }
    }
}

impl fmt::Display for QueryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for QueryStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for QueryStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        QueryStatus::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown query status {name:?}")))
    }
}

/// One query's result: its status, the records of the asked type, and the
/// CNAME chain followed on the way (empty when the name was no alias).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup<T> {
    /// How the query ended.
    pub status: QueryStatus,
    /// The records found (empty unless `status` is `Answer`).
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<T>,
    /// Alias targets followed, in order, lowercase without the trailing dot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cname: Vec<String>,
}

impl<T> Lookup<T> {
    /// A lookup that ended with `status` and found nothing.
    pub fn empty(status: QueryStatus) -> Self {
        Lookup {
            status,
            records: Vec::new(),
            cname: Vec::new(),
        }
    }
}

/// One MX record (RFC 1035 §3.3.9).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MxRecord {
    /// Lower is preferred (RFC 5321 §5.1).
    pub preference: u16,
    /// The exchange, lowercase, without the trailing dot; the root is `.`.
    pub exchange: String,
}

/// The A and AAAA lookups of one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEvidence {
    /// The host name, lowercase, without the trailing dot. Not written by
    /// [`DomainEvidence::encode`]: it is the MX exchange (or the domain, for
    /// the implicit MX), and [`DomainEvidence::decode`] puts it back.
    #[serde(default, skip_serializing)]
    pub name: String,
    /// The A query.
    pub a: Lookup<IpAddr>,
    /// The AAAA query.
    pub aaaa: Lookup<IpAddr>,
}

impl HostEvidence {
    /// Every address found, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.a
            .records
            .iter()
            .chain(self.aaaa.records.iter())
            .copied()
    }

    /// Whether either lookup failed temporarily.
    pub fn has_temporary_failure(&self) -> bool {
        self.a.status.is_temporary() || self.aaaa.status.is_temporary()
    }

    /// The first temporary failure, if any, as `(query type, status)`.
    pub fn temporary_failure(&self) -> Option<(&'static str, QueryStatus)> {
        if self.a.status.is_temporary() {
            Some(("A", self.a.status))
        } else if self.aaaa.status.is_temporary() {
            Some(("AAAA", self.aaaa.status))
        } else {
            None
        }
    }

    /// The alias chain of the A lookup, else of the AAAA lookup.
    pub fn cname(&self) -> &[String] {
        if self.a.cname.is_empty() {
            &self.aaaa.cname
        } else {
            &self.a.cname
        }
    }
}

/// What an MX exchange name is, decided from its text alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeKind {
    /// `.`: the null MX of RFC 7505.
    Null,
    /// An all-numeric name such as `0` (the "MX 0 0." typo): never looked up.
    Numeric,
    /// An IPv4 address written as a name: parsed, not looked up.
    IpLiteral(IpAddr),
    /// `localhost` or a name under it: loopback without asking DNS (RFC 6761 §6.3).
    Localhost,
    /// A host name to resolve.
    Host,
}

impl ExchangeKind {
    /// Classifies an exchange written lowercase without the trailing dot
    /// (the root as `.` or empty).
    pub fn of(exchange: &str) -> ExchangeKind {
        let name = exchange.trim_end_matches('.');
        if name.is_empty() {
            return ExchangeKind::Null;
        }
        // An address and an all-digit name end in a digit, a bracketed
        // literal in `]`: a name ending otherwise (a host name's letters)
        // is none of them. (This runs several times per domain.)
        let last = name.as_bytes()[name.len() - 1];
        if last.is_ascii_digit() || last == b']' {
            if let Ok(v4) = name.parse::<Ipv4Addr>() {
                return ExchangeKind::IpLiteral(IpAddr::V4(v4));
            }
            if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
                if let Ok(ip) = inner.trim_start_matches("IPv6:").parse::<IpAddr>() {
                    return ExchangeKind::IpLiteral(ip);
                }
            }
            if name
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            {
                return ExchangeKind::Numeric;
            }
        }
        // (Compared in place: this runs several times per domain.)
        let bytes = name.as_bytes();
        if name.eq_ignore_ascii_case("localhost")
            || (bytes.len() >= 10 && bytes[bytes.len() - 10..].eq_ignore_ascii_case(b".localhost"))
        {
            return ExchangeKind::Localhost;
        }
        ExchangeKind::Host
    }
}

/// One MX target with what was found about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxTarget {
    /// The MX record.
    pub mx: MxRecord,
    /// The A/AAAA lookups, present when the exchange is a [`ExchangeKind::Host`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Arc<HostEvidence>>,
}

impl MxTarget {
    /// The kind of the exchange name.
    pub fn kind(&self) -> ExchangeKind {
        ExchangeKind::of(&self.mx.exchange)
    }
}

/// An MX exchange that is a near miss of a major provider's MX domain
/// (`mx1.pphosted.con` for Proofpoint's `pphosted.com`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxNearMiss {
    /// The exchange as published.
    pub host: String,
    /// The provider (`Proofpoint`).
    pub provider: String,
    /// The provider's MX domain (`pphosted.com`).
    pub provider_domain: String,
    /// The host probably meant (`mx1.pphosted.com`).
    pub meant: String,
}

/// The typo analysis of a domain: made from its names alone, kept with the
/// DNS evidence so that the decision needs nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypoEvidence {
    /// MX exchanges (host names) that are near misses of a provider's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub near_misses: Vec<MxNearMiss>,
    /// The popular mailbox domain this domain is probably a typo of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meant: Option<String>,
}

impl TypoEvidence {
    /// Whether the analysis found nothing.
    pub fn is_empty(&self) -> bool {
        self.near_misses.is_empty() && self.meant.is_none()
    }
}

/// Everything DNS said about one mail domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvidence {
    /// The domain, ASCII lowercase.
    pub domain: String,
    /// The MX query (its records are also in `targets`: the encoding keeps
    /// them there only, and [`DomainEvidence::decode`] puts them back).
    #[serde(with = "mx_query")]
    pub mx: Lookup<MxRecord>,
    /// The MX records with their address lookups, in RFC 5321 §5.1 order
    /// (preference, then name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<MxTarget>,
    /// The domain's own A/AAAA, looked up when the MX query said NODATA
    /// (the implicit MX of RFC 5321 §5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit: Option<Arc<HostEvidence>>,
    /// Port-25 probes of the usable addresses, when probing was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Boxed: most domains are never probed, and a run keeps the evidence
    /// of every distinct domain.
    pub probe: Option<Box<crate::probe::ProbeEvidence>>,
    /// The typo analysis of the MX exchanges and of the domain itself.
    #[serde(default, skip_serializing_if = "TypoEvidence::is_empty")]
    pub typos: TypoEvidence,
}

/// The MX query as encoded: its status and CNAME chain (its records are
/// the targets').
mod mx_query {
    use super::{Lookup, MxRecord, QueryStatus};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Query<'a> {
        status: QueryStatus,
        #[serde(default, borrow, skip_serializing_if = "<[_]>::is_empty")]
        cname: std::borrow::Cow<'a, [String]>,
    }

    pub fn serialize<S: Serializer>(l: &Lookup<MxRecord>, s: S) -> Result<S::Ok, S::Error> {
        Query {
            status: l.status,
            cname: std::borrow::Cow::Borrowed(&l.cname),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Lookup<MxRecord>, D::Error> {
        let q = Query::deserialize(d)?;
        Ok(Lookup {
            status: q.status,
            records: Vec::new(),
            cname: q.cname.into_owned(),
        })
    }
}

/// `s` as serde_json writes a string: as it is between quotes when it has
/// nothing to escape (`"`, `\\` and control characters are all serde_json
/// escapes), else through serde_json itself.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
    }
}

/// A status as its serde form writes it: its name, a JSON string.
fn push_status(out: &mut String, status: QueryStatus) {
    out.push('"');
    match status {
        QueryStatus::Rcode(c) => {
            out.push_str("rcode_");
            crate::ipfmt::push_u64(out, u64::from(c));
        }
        other => out.push_str(&other.name()),
    }
    out.push('"');
}

/// `,"cname":[..]`, or nothing for an empty chain.
fn push_cname(out: &mut String, cname: &[String]) {
    if cname.is_empty() {
        return;
    }
    out.push_str(",\"cname\":[");
    for (i, c) in cname.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, c);
    }
    out.push(']');
}

/// A host's lookups as serde writes them (its name is left out).
fn push_host(out: &mut String, host: &HostEvidence) {
    let HostEvidence { name: _, a, aaaa } = host;
    out.push_str("{\"a\":");
    push_addresses(out, a);
    out.push_str(",\"aaaa\":");
    push_addresses(out, aaaa);
    out.push('}');
}

/// An address lookup as serde writes it: addresses as their text.
fn push_addresses(out: &mut String, lookup: &Lookup<IpAddr>) {
    let Lookup {
        status,
        records,
        cname,
    } = lookup;
    out.push_str("{\"status\":");
    push_status(out, *status);
    if !records.is_empty() {
        out.push_str(",\"records\":[");
        for (i, &ip) in records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            crate::ipfmt::push_ip(out, ip);
            out.push('"');
        }
        out.push(']');
    }
    push_cname(out, cname);
    out.push('}');
}

/// The version of the stored evidence encoding written by
/// [`DomainEvidence::encode`]. See `docs/evidence-format.md`.
pub const EVIDENCE_FORMAT: u32 = 1;

#[derive(Serialize)]
struct EncodedRef<'a> {
    v: u32,
    evidence: &'a DomainEvidence,
}

#[derive(Deserialize)]
struct Encoded {
    v: u32,
    evidence: DomainEvidence,
}

impl DomainEvidence {
    /// The evidence as the history stores it: JSON, `{"v":1,"evidence":{..}}`,
    /// stable field names (documented in `docs/evidence-format.md`).
    ///
    /// Evidence without a probe or typo findings (nearly all of a run's) is
    /// written by hand, byte for byte as serde_json writes it (a property
    /// test holds the two equal): serde's machinery was about 6,000
    /// instructions a domain, a sixth of what history adds to a run.
    pub fn encode(&self) -> String {
        if self.probe.is_none() && self.typos.is_empty() {
            self.encode_plain()
        } else {
            self.encode_serde()
        }
    }

    /// [`DomainEvidence::encode`] through serde.
    fn encode_serde(&self) -> String {
        let mut out = Vec::with_capacity(512);
        serde_json::to_writer(
            &mut out,
            &EncodedRef {
                v: EVIDENCE_FORMAT,
                evidence: self,
            },
        )
        .expect("evidence always serializes");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// [`DomainEvidence::encode`] by hand, for evidence without a probe or
    /// typo findings: the fields in serde's order, empty ones left out as
    /// its attributes say.
    fn encode_plain(&self) -> String {
        // Taken apart whole: a field added to any of these types does not
        // compile here until it is written (or said to be left out).
        let DomainEvidence {
            domain,
            mx,
            targets,
            implicit,
            probe: _,
            typos: _,
        } = self;
        let Lookup {
            status,
            records: _, // written as the targets
            cname,
        } = mx;
        let mut out = String::with_capacity(192 + 96 * targets.len());
        out.push_str("{\"v\":");
        crate::ipfmt::push_u64(&mut out, u64::from(EVIDENCE_FORMAT));
        out.push_str(",\"evidence\":{\"domain\":");
        push_json_str(&mut out, domain);
        out.push_str(",\"mx\":{\"status\":");
        push_status(&mut out, *status);
        push_cname(&mut out, cname);
        out.push('}');
        if !targets.is_empty() {
            out.push_str(",\"targets\":[");
            for (i, MxTarget { mx, host }) in targets.iter().enumerate() {
                let MxRecord {
                    preference,
                    exchange,
                } = mx;
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"mx\":{\"preference\":");
                crate::ipfmt::push_u64(&mut out, u64::from(*preference));
                out.push_str(",\"exchange\":");
                push_json_str(&mut out, exchange);
                out.push('}');
                if let Some(host) = host {
                    out.push_str(",\"host\":");
                    push_host(&mut out, host);
                }
                out.push('}');
            }
            out.push(']');
        }
        if let Some(host) = implicit {
            out.push_str(",\"implicit\":");
            push_host(&mut out, host);
        }
        out.push_str("}}");
        out
    }

    /// Reads evidence written by [`DomainEvidence::encode`]; `None` for a
    /// version this build does not know or text that does not parse (such
    /// evidence is never reused: the domain is asked again).
    pub fn decode(text: &str) -> Option<DomainEvidence> {
        let e: Encoded = serde_json::from_str(text).ok()?;
        if e.v != EVIDENCE_FORMAT {
            return None;
        }
        let mut ev = e.evidence;
        // What the encoding leaves out because it is written elsewhere.
        ev.mx.records = ev.targets.iter().map(|t| t.mx.clone()).collect();
        for t in &mut ev.targets {
            if let Some(h) = &mut t.host {
                Arc::make_mut(h).name = t.mx.exchange.clone();
            }
        }
        if let Some(h) = &mut ev.implicit {
            Arc::make_mut(h).name = ev.domain.clone();
        }
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_kinds() {
        use ExchangeKind::*;
        assert_eq!(ExchangeKind::of("."), Null);
        assert_eq!(ExchangeKind::of(""), Null);
        assert_eq!(ExchangeKind::of("0"), Numeric);
        assert_eq!(ExchangeKind::of("0."), Numeric);
        assert_eq!(ExchangeKind::of("10.20"), Numeric);
        assert_eq!(
            ExchangeKind::of("192.0.2.1"),
            IpLiteral("192.0.2.1".parse().unwrap())
        );
        assert_eq!(ExchangeKind::of("[::1]"), IpLiteral("::1".parse().unwrap()));
        assert_eq!(ExchangeKind::of("localhost"), Localhost);
        assert_eq!(ExchangeKind::of("mx.localhost"), Localhost);
        assert_eq!(ExchangeKind::of("MX.LocalHost."), Localhost);
        assert_eq!(ExchangeKind::of("bücher.localhost"), Localhost);
        assert_eq!(ExchangeKind::of("xlocalhost"), Host);
        assert_eq!(ExchangeKind::of("localhost-mail.example"), Host);
        assert_eq!(ExchangeKind::of("localhost.example.com"), Host);
        assert_eq!(ExchangeKind::of("mx1.example.com"), Host);
        assert_eq!(ExchangeKind::of("0mail.com"), Host);
    }

    mod encoding {
        use super::super::*;
        use proptest::prelude::*;

        fn status() -> impl Strategy<Value = QueryStatus> {
            prop_oneof![
                Just(QueryStatus::Answer),
                Just(QueryStatus::NoData),
                Just(QueryStatus::NxDomain),
                Just(QueryStatus::ServFail),
                Just(QueryStatus::Refused),
                Just(QueryStatus::Timeout),
                Just(QueryStatus::Lame),
                Just(QueryStatus::Malformed),
                any::<u16>().prop_map(QueryStatus::Rcode),
            ]
        }

        /// Names as they come, and the characters JSON must escape.
        fn text() -> impl Strategy<Value = String> {
            r#"[a-z0-9.-]{0,14}|[ -~\x00-\x1f\x7f\u{e9}\u{1f600}"\\]{0,8}"#
        }

        fn ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
                any::<u128>().prop_map(|n| IpAddr::V6(std::net::Ipv6Addr::from(n))),
                // IPv4-mapped and compatible forms, written specially.
                any::<u32>().prop_map(|n| IpAddr::V6(Ipv4Addr::from(n).to_ipv6_mapped())),
            ]
        }

        fn addresses() -> impl Strategy<Value = Lookup<IpAddr>> {
            (
                status(),
                proptest::collection::vec(ip(), 0..3),
                proptest::collection::vec(text(), 0..2),
            )
                .prop_map(|(status, records, cname)| Lookup {
                    status,
                    records,
                    cname,
                })
        }

        fn host() -> impl Strategy<Value = Arc<HostEvidence>> {
            (text(), addresses(), addresses())
                .prop_map(|(name, a, aaaa)| Arc::new(HostEvidence { name, a, aaaa }))
        }

        fn evidence() -> impl Strategy<Value = DomainEvidence> {
            (
                text(),
                status(),
                proptest::collection::vec(text(), 0..2),
                proptest::collection::vec(
                    (any::<u16>(), text(), proptest::option::of(host())),
                    0..4,
                ),
                proptest::option::of(host()),
            )
                .prop_map(|(domain, status, cname, targets, implicit)| {
                    let targets: Vec<MxTarget> = targets
                        .into_iter()
                        .map(|(preference, exchange, host)| MxTarget {
                            mx: MxRecord {
                                preference,
                                exchange,
                            },
                            host,
                        })
                        .collect();
                    DomainEvidence {
                        domain,
                        mx: Lookup {
                            status,
                            records: targets.iter().map(|t| t.mx.clone()).collect(),
                            cname,
                        },
                        targets,
                        implicit,
                        probe: None,
                        typos: TypoEvidence::default(),
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]
            /// The hand-written encoding is serde's, byte for byte, and
            /// reads back as the evidence.
            #[test]
            fn the_plain_encoding_is_serdes(ev in evidence()) {
                let plain = ev.encode();
                prop_assert_eq!(&plain, &ev.encode_serde());
                let mut back = DomainEvidence::decode(&plain).expect("reads back");
                // (Host names are not stored: decode puts the exchange back.)
                for (b, t) in back.targets.iter_mut().zip(&ev.targets) {
                    if let (Some(bh), Some(th)) = (&mut b.host, &t.host) {
                        Arc::make_mut(bh).name = th.name.clone();
                    }
                }
                if let (Some(bh), Some(th)) = (&mut back.implicit, &ev.implicit) {
                    Arc::make_mut(bh).name = th.name.clone();
                }
                prop_assert_eq!(back, ev);
            }
        }
    }

    proptest::proptest! {
        /// Names that do not end in a digit or `]` skip the literal and
        /// all-digit checks: the same kinds as with every check made.
        #[test]
        fn the_last_byte_shortcut_changes_no_kind(
            name in r"\[?(IPv6:)?[0-9a-fA-F:.]{0,12}\]?\.?|[0-9a-z.-]{0,12}(localhost)?\.{0,2}",
        ) {
            let trimmed = name.trim_end_matches('.');
            let full = if trimmed.is_empty() {
                ExchangeKind::Null
            } else if let Ok(v4) = trimmed.parse::<Ipv4Addr>() {
                ExchangeKind::IpLiteral(IpAddr::V4(v4))
            } else if let Some(ip) = trimmed
                .strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|inner| inner.trim_start_matches("IPv6:").parse::<IpAddr>().ok())
            {
                ExchangeKind::IpLiteral(ip)
            } else if trimmed
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            {
                ExchangeKind::Numeric
            } else if trimmed.eq_ignore_ascii_case("localhost")
                || trimmed.to_ascii_lowercase().ends_with(".localhost")
            {
                ExchangeKind::Localhost
            } else {
                ExchangeKind::Host
            };
            proptest::prop_assert_eq!(ExchangeKind::of(&name), full, "{:?}", name);
        }
    }

    #[test]
    fn only_answer_nodata_nxdomain_are_final() {
        use QueryStatus::*;
        for s in [
            ServFail,
            Refused,
            Timeout,
            Lame,
            Malformed,
            Rcode(1),
            Rcode(4),
        ] {
            assert!(s.is_temporary(), "{s}");
        }
        for s in [Answer, NoData, NxDomain] {
            assert!(!s.is_temporary(), "{s}");
        }
    }
}
