//! Zones loaded from standard zone files (RFC 1035 §5), with fault
//! directives in comments, and the authoritative answer logic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

/// A fault the lab injects for a name instead of the normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Answer FORMERR.
    FormErr,
    /// Never answer (the client times out), over UDP and TCP.
    Timeout,
    /// Over UDP, answer with the TC bit and no records; over TCP, answer normally.
    Truncate,
    /// Answer with bytes that carry the query's id but do not parse.
    Malformed,
    /// Answer NOERROR with no records and no SOA: a lame server.
    Lame,
    /// Over UDP, the normal answer padded with TXT records in the additional
    /// section to about 6.6 KB, without the TC bit, whatever EDNS payload
    /// the client advertised (a protocol violation); over TCP, the normal
    /// answer.
    Oversize,
}

/// How large an `oversize` reply is made, at least.
pub const OVERSIZE_BYTES: usize = 6_600;

impl FaultKind {
    /// Every kind with its name, as written in directives.
    pub const NAMES: &'static [(&'static str, FaultKind)] = &[
        ("servfail", FaultKind::ServFail),
        ("refused", FaultKind::Refused),
        ("formerr", FaultKind::FormErr),
        ("timeout", FaultKind::Timeout),
        ("truncate", FaultKind::Truncate),
        ("malformed", FaultKind::Malformed),
        ("lame", FaultKind::Lame),
        ("oversize", FaultKind::Oversize),
    ];
}

impl std::str::FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown fault '{s}' (one of {})", names.join(", "))
            })
    }
}

/// A fault for a name (and its subtree when written `*.name`), optionally
/// for one record type only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The name, fully qualified, lowercase.
    pub name: LowerName,
    /// Whether names below `name` are affected too.
    pub subtree: bool,
    /// Only this query type, when set.
    pub rtype: Option<RecordType>,
    /// What to do.
    pub kind: FaultKind,
}

impl Fault {
    /// Parses `NAME KIND [TYPE]` (the directive's words) or `NAME=KIND[/TYPE]`;
    /// a relative NAME is taken below `origin`.
    pub fn parse(text: &str, origin: Option<&Name>) -> Result<Fault, String> {
        let text = text.trim();
        let (name, rest) = if let Some((n, r)) = text.split_once('=') {
            (n.trim(), r.replace('/', " "))
        } else {
            let mut it = text.splitn(2, char::is_whitespace);
            (
                it.next().unwrap_or_default(),
                it.next().unwrap_or_default().to_string(),
            )
        };
        let mut words = rest.split_whitespace();
        let kind: FaultKind = words
            .next()
            .ok_or_else(|| {
                format!(
                    "fault '{text}' names no kind (write NAME KIND, e.g. 'mx.shop.com servfail')"
                )
            })?
            .parse()?;
        let rtype = match words.next() {
            None => None,
            Some(t) => Some(
                t.to_ascii_uppercase()
                    .parse::<RecordType>()
                    .map_err(|_| format!("fault '{text}': unknown record type '{t}'"))?,
            ),
        };
        let (subtree, name) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let name = Name::parse(name, origin)
            .map_err(|e| format!("fault '{text}': bad name '{name}': {e}"))?;
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        Ok(Fault {
            name: LowerName::new(&name),
            subtree,
            rtype,
            kind,
        })
    }

    fn applies(&self, qname: &LowerName, qtype: RecordType) -> bool {
        let name_ok = if self.subtree {
            self.name.zone_of(qname) && *qname != self.name
        } else {
            *qname == self.name
        };
        name_ok && self.rtype.is_none_or(|t| t == qtype)
    }
}

/// A zone file that could not be loaded.
#[derive(Debug)]
pub struct ZoneError(pub String);

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZoneError {}

/// One authoritative zone.
#[derive(Clone, Debug)]
pub struct Zone {
    origin: LowerName,
    soa: Record,
    nodes: HashMap<LowerName, BTreeMap<RecordType, Vec<Record>>>,
    /// Every name that exists: owners and their ancestors up to the apex
    /// (empty non-terminals exist, RFC 8020).
    existing: HashSet<LowerName>,
}

/// The directive prefix for faults inside zone-file comments.
pub const FAULT_DIRECTIVE: &str = ";! fault ";

impl Zone {
    /// Reads a zone file; fault directives (`;! fault NAME KIND [TYPE]`) in
    /// its comments are returned beside it.
    pub fn load(path: &Path) -> Result<(Zone, Vec<Fault>), ZoneError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ZoneError(format!("cannot read zone file {}: {e}", path.display())))?;
        Self::parse(&text, Some(path))
            .map_err(|e| ZoneError(format!("zone file {}: {}", path.display(), e.0)))
    }

    /// Parses zone text; see [`Zone::load`].
    pub fn parse(text: &str, path: Option<&Path>) -> Result<(Zone, Vec<Fault>), ZoneError> {
        let parsed = Parser::new(text, path.map(Path::to_path_buf), None)
            .parse()
            .map_err(|e| ZoneError(format!("does not parse: {e}")))?;
        let sets = parsed.1;
        let soa = sets
            .values()
            .flat_map(|s| s.records_without_rrsigs())
            .find(|r| r.record_type() == RecordType::SOA)
            .cloned()
            .ok_or_else(|| ZoneError("has no SOA record (the zone apex)".into()))?;
        let origin = LowerName::new(&soa.name);
        let mut zone = Zone {
            origin: origin.clone(),
            soa,
            nodes: HashMap::new(),
            existing: HashSet::new(),
        };
        for set in sets.values() {
            for record in set.records_without_rrsigs() {
                let owner = LowerName::new(&record.name);
                if !origin.zone_of(&owner) {
                    return Err(ZoneError(format!(
                        "record {} is outside the zone {origin}",
                        record.name
                    )));
                }
                let mut name = owner.clone();
                while name != origin && zone.existing.insert(name.clone()) {
                    name = name.base_name();
                }
                zone.nodes
                    .entry(owner)
                    .or_default()
                    .entry(record.record_type())
                    .or_default()
                    .push(record.clone());
            }
        }
        zone.existing.insert(origin.clone());

        let mut faults = Vec::new();
        let apex: Name = (&zone.origin).into();
        for (i, line) in text.lines().enumerate() {
            if let Some(d) = line.trim_start().strip_prefix(FAULT_DIRECTIVE) {
                faults.push(
                    Fault::parse(d, Some(&apex))
                        .map_err(|e| ZoneError(format!("line {}: {e}", i + 1)))?,
                );
            }
        }
        Ok((zone, faults))
    }

    /// The apex.
    pub fn origin(&self) -> &LowerName {
        &self.origin
    }

    /// How many owner names the zone has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the zone holds only its apex records.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    fn rrset(&self, name: &LowerName, rtype: RecordType) -> Option<&Vec<Record>> {
        self.nodes.get(name).and_then(|n| n.get(&rtype))
    }

    /// The delegation (NS below the apex) that covers `name`, if any.
    fn delegation(&self, name: &LowerName) -> Option<&Vec<Record>> {
        let mut cut = name.clone();
        let mut found = None;
        while cut != self.origin && self.origin.zone_of(&cut) {
            if let Some(ns) = self.rrset(&cut, RecordType::NS) {
                found = Some(ns);
            }
            cut = cut.base_name();
        }
        found
    }

    /// The records at `name` after wildcard synthesis (RFC 4592).
    fn node(&self, name: &LowerName) -> Option<BTreeMap<RecordType, Vec<Record>>> {
        if let Some(n) = self.nodes.get(name) {
            return Some(n.clone());
        }
        if self.existing.contains(name) {
            return Some(BTreeMap::new());
        }
        // Closest encloser, then its wildcard child.
        let mut encloser = name.base_name();
        while !self.existing.contains(&encloser) {
            if encloser.is_root() || encloser == self.origin {
                break;
            }
            encloser = encloser.base_name();
        }
        let wild: Name = Name::from(&encloser).prepend_label("*").ok()?;
        let wild = self.nodes.get(&LowerName::new(&wild))?;
        let owner: Name = name.into();
        Some(
            wild.iter()
                .map(|(t, rs)| {
                    let rs = rs
                        .iter()
                        .map(|r| {
                            let mut r = r.clone();
                            r.name = owner.clone();
                            r
                        })
                        .collect();
                    (*t, rs)
                })
                .collect(),
        )
    }

    /// Fills `resp` with the authoritative answer for `(qname, qtype)`.
    pub fn answer(&self, qname: &LowerName, qtype: RecordType, resp: &mut Message) {
        let mut name = qname.clone();
        for _ in 0..8 {
            if let Some(ns) = self.delegation(&name) {
                // A referral: no answer, NS in the authority, no SOA.
                resp.metadata.authoritative = false;
                resp.authorities.extend(ns.iter().cloned());
                for r in ns {
                    if let RData::NS(target) = &r.data {
                        let glue = LowerName::new(&target.0);
                        for t in [RecordType::A, RecordType::AAAA] {
                            if let Some(g) = self.rrset(&glue, t) {
                                resp.additionals.extend(g.iter().cloned());
                            }
                        }
                    }
                }
                return;
            }
            let Some(node) = self.node(&name) else {
                resp.metadata.response_code = ResponseCode::NXDomain;
                resp.authorities.push(self.soa.clone());
                return;
            };
            if let Some(rs) = node.get(&qtype) {
                resp.answers.extend(rs.iter().cloned());
                return;
            }
            if let (Some(cname), false) = (node.get(&RecordType::CNAME), qtype == RecordType::CNAME)
            {
                resp.answers.extend(cname.iter().cloned());
                let Some(RData::CNAME(target)) = cname.first().map(|r| &r.data) else {
                    return;
                };
                let target = LowerName::new(&target.0);
                if !self.origin.zone_of(&target) {
                    return; // out of zone: the client follows the alias
                }
                name = target;
                continue;
            }
            resp.authorities.push(self.soa.clone());
            return;
        }
    }
}

/// Everything the lab serves: zones and faults.
#[derive(Clone, Debug, Default)]
pub struct Lab {
    zones: Vec<Zone>,
    faults: Vec<Fault>,
    drop_rate: f64,
    lowercase_questions: bool,
}

/// What the lab does with one query.
#[derive(Clone, Debug)]
pub enum Response {
    /// Send this message.
    Message(Box<Message>),
    /// Send these bytes (a malformed reply).
    Raw(Vec<u8>),
    /// Send nothing.
    Drop,
}

impl Lab {
    /// A lab with no zones.
    pub fn new() -> Lab {
        Lab::default()
    }

    /// Loads a zone file and its fault directives.
    pub fn load_zone_file(&mut self, path: &Path) -> Result<(), ZoneError> {
        let (zone, faults) = Zone::load(path)?;
        self.add_zone(zone, faults)
    }

    /// Adds a zone; two zones with the same apex are an error.
    pub fn add_zone(&mut self, zone: Zone, faults: Vec<Fault>) -> Result<(), ZoneError> {
        if self.zones.iter().any(|z| z.origin == zone.origin) {
            return Err(ZoneError(format!("zone {} is loaded twice", zone.origin)));
        }
        self.zones.push(zone);
        self.faults.extend(faults);
        Ok(())
    }

    /// Adds a fault.
    pub fn add_fault(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Drops this share (0 to 1) of UDP replies at random, to simulate a
    /// lossy path. TCP is never dropped.
    pub fn set_drop_rate(&mut self, rate: f64) {
        self.drop_rate = rate.clamp(0.0, 1.0);
    }

    /// Echoes the question in lowercase instead of as asked, as some
    /// resolvers and middleboxes do: a client's DNS 0x20 case does not come
    /// back (`prebounce lab serve --no-case-echo`).
    pub fn set_lowercase_questions(&mut self, on: bool) {
        self.lowercase_questions = on;
    }

    /// The share of UDP replies dropped.
    pub fn drop_rate(&self) -> f64 {
        self.drop_rate
    }

    /// The zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    fn zone_for(&self, name: &LowerName) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| z.origin.zone_of(name))
            .max_by_key(|z| z.origin.num_labels())
    }

    /// The fault that applies to `(qname, qtype)`, if any.
    pub fn fault_for(&self, qname: &LowerName, qtype: RecordType) -> Option<FaultKind> {
        self.faults
            .iter()
            .find(|f| f.applies(qname, qtype))
            .map(|f| f.kind)
    }

    /// Answers one request received over UDP (`udp` true) or TCP.
    pub fn respond(&self, request: &Message, udp: bool) -> Response {
        let mut resp = Message::new(
            request.metadata.id,
            MessageType::Response,
            request.metadata.op_code,
        );
        resp.metadata.recursion_desired = request.metadata.recursion_desired;
        resp.queries = request.queries.clone();
        if self.lowercase_questions {
            for q in &mut resp.queries {
                let lower = q.name().to_lowercase();
                q.set_name(lower);
            }
        }
        if request.edns.is_some() {
            let mut edns = hickory_proto::op::Edns::new();
            edns.set_max_payload(1232);
            resp.set_edns(edns);
        }
        let [query] = request.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return Response::Message(Box::new(resp));
        };
        let qname = LowerName::new(query.name());
        let qtype = query.query_type();
        match self.fault_for(&qname, qtype) {
            Some(FaultKind::Timeout) => return Response::Drop,
            Some(FaultKind::ServFail) => {
                resp.metadata.response_code = ResponseCode::ServFail;
                return Response::Message(Box::new(resp));
            }
            Some(FaultKind::Refused) => {
                resp.metadata.response_code = ResponseCode::Refused;
                return Response::Message(Box::new(resp));
            }
            Some(FaultKind::FormErr) => {
                resp.metadata.response_code = ResponseCode::FormErr;
                return Response::Message(Box::new(resp));
            }
            Some(FaultKind::Lame) => return Response::Message(Box::new(resp)),
            Some(FaultKind::Malformed) => {
                // The id, then a header that promises records that never come.
                let mut bytes = request.metadata.id.to_be_bytes().to_vec();
                bytes.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 0xff]);
                return Response::Raw(bytes);
            }
            Some(FaultKind::Truncate) if udp => {
                resp.metadata.truncation = true;
                resp.metadata.authoritative = true;
                return Response::Message(Box::new(resp));
            }
            Some(FaultKind::Truncate | FaultKind::Oversize) | None => {}
        }
        match self.zone_for(&qname) {
            None => resp.metadata.response_code = ResponseCode::Refused,
            Some(zone) => {
                resp.metadata.authoritative = true;
                zone.answer(&qname, qtype, &mut resp);
            }
        }
        if udp && self.fault_for(&qname, qtype) == Some(FaultKind::Oversize) {
            return oversize(resp, query.name());
        }
        Response::Message(Box::new(resp))
    }
}

/// `resp` padded to [`OVERSIZE_BYTES`] with TXT records of `owner` in the
/// additional section, as raw bytes (so the server sends it whole).
fn oversize(mut resp: Message, owner: &Name) -> Response {
    use hickory_proto::rr::rdata::TXT;
    let filler = "x".repeat(255);
    loop {
        let Ok(bytes) = resp.to_vec() else {
            return Response::Drop;
        };
        if bytes.len() >= OVERSIZE_BYTES {
            return Response::Raw(bytes);
        }
        resp.additionals.push(Record::from_rdata(
            owner.to_lowercase(),
            300,
            RData::TXT(TXT::new(vec![filler.clone()])),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{OpCode, Query};

    const ZONE: &str = "$ORIGIN shop.zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n@ MX 10 mx1\n@ MX 20 mx2.other.zz.\nmx1 A 192.0.2.1\nalias CNAME mx1\nwild CNAME nowhere\n*.any A 192.0.2.9\nsub NS ns.elsewhere.zz.\na.b.deep TXT \"x\"\n;! fault broken servfail\n;! fault *.slow.shop.zz. timeout A\n";

    fn lab() -> Lab {
        let (zone, faults) = Zone::parse(ZONE, None).unwrap();
        let mut lab = Lab::new();
        lab.add_zone(zone, faults).unwrap();
        lab
    }

    fn ask(lab: &Lab, name: &str, t: RecordType) -> Message {
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        match lab.respond(&q, true) {
            Response::Message(m) => *m,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn authoritative_answers() {
        let lab = lab();
        let m = ask(&lab, "shop.zz.", RecordType::MX);
        assert_eq!(m.answers.len(), 2);
        assert!(m.metadata.authoritative);
        let nodata = ask(&lab, "mx1.shop.zz.", RecordType::AAAA);
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
        let nx = ask(&lab, "nope.shop.zz.", RecordType::MX);
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        let ent = ask(&lab, "b.deep.shop.zz.", RecordType::A);
        assert_eq!(ent.metadata.response_code, ResponseCode::NoError);
        let refused = ask(&lab, "other.zz.", RecordType::MX);
        assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
        let case = ask(&lab, "SHOP.ZZ.", RecordType::MX);
        assert_eq!(case.answers.len(), 2);
    }

    #[test]
    fn aliases_wildcards_and_referrals() {
        let lab = lab();
        let alias = ask(&lab, "alias.shop.zz.", RecordType::A);
        assert_eq!(alias.answers.len(), 2);
        let dangling = ask(&lab, "wild.shop.zz.", RecordType::A);
        assert_eq!(dangling.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(dangling.answers.len(), 1);
        let w = ask(&lab, "x.any.shop.zz.", RecordType::A);
        assert_eq!(w.answers.len(), 1);
        assert_eq!(
            w.answers[0].name,
            Name::from_ascii("x.any.shop.zz.").unwrap()
        );
        let referral = ask(&lab, "mail.sub.shop.zz.", RecordType::MX);
        assert_eq!(referral.metadata.response_code, ResponseCode::NoError);
        assert!(referral.answers.is_empty());
        assert_eq!(referral.authorities[0].record_type(), RecordType::NS);
    }

    #[test]
    fn faults() {
        let lab = lab();
        assert_eq!(
            ask(&lab, "broken.shop.zz.", RecordType::MX)
                .metadata
                .response_code,
            ResponseCode::ServFail
        );
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(
            Name::from_ascii("h.slow.shop.zz.").unwrap(),
            RecordType::A,
        ));
        assert!(matches!(lab.respond(&q, true), Response::Drop));
        // Only for A, only below slow.
        assert!(matches!(
            lab.respond(
                &{
                    let mut q = q.clone();
                    q.queries = vec![Query::query(
                        Name::from_ascii("h.slow.shop.zz.").unwrap(),
                        RecordType::AAAA,
                    )];
                    q
                },
                true
            ),
            Response::Message(_)
        ));
        assert!(Fault::parse("x.zz. explode", None)
            .unwrap_err()
            .contains("unknown fault"));
        assert_eq!(
            Fault::parse("x.zz.=truncate/MX", None).unwrap().rtype,
            Some(RecordType::MX)
        );
    }

    #[test]
    fn oversize_and_lowercase_echo() {
        let mut lab = lab();
        lab.add_fault(Fault::parse("shop.zz. oversize MX", None).unwrap());
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(
            Name::from_ascii("sHoP.Zz.").unwrap(),
            RecordType::MX,
        ));
        let Response::Raw(bytes) = lab.respond(&q, true) else {
            panic!("oversize over UDP is raw bytes");
        };
        assert!(bytes.len() >= OVERSIZE_BYTES, "{}", bytes.len());
        let m = Message::from_vec(&bytes).unwrap();
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.queries[0].name().to_ascii(), "sHoP.Zz.");
        let Response::Message(tcp) = lab.respond(&q, false) else {
            panic!("a message over TCP");
        };
        assert_eq!(tcp.answers.len(), 2);
        assert!(tcp.additionals.is_empty());
        lab.set_lowercase_questions(true);
        let Response::Message(m) = lab.respond(&q, false) else {
            panic!("a message over TCP");
        };
        assert_eq!(m.queries[0].name().to_ascii(), "shop.zz.");
    }

    #[test]
    fn zone_errors_are_clear() {
        let e = Zone::parse("$ORIGIN a.zz.\n$TTL 60\nwww A 1.2.3.4\n", None)
            .unwrap_err()
            .0;
        assert!(e.contains("SOA"), "{e}");
        assert!(Zone::parse(
            "$ORIGIN a.zz.\n@ SOA ns h 1 1 1 1 1\nwww A 999.1.1.1\n",
            None
        )
        .is_err());
    }
}

/// Property tests: the zone parser never panics, on token soup that looks
/// like a zone file or on any text, and an accepted zone answers.
#[cfg(test)]
mod props {
    use super::*;
    use hickory_proto::op::{OpCode, Query};
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "$ORIGIN",
                "$TTL",
                "$INCLUDE",
                "@",
                "IN",
                "SOA",
                "MX",
                "A",
                "AAAA",
                "CNAME",
                "NS",
                "TXT",
                "SRV",
                "CAA",
                "PTR",
                "*",
                ".",
                "zz.",
                "shop.zz.",
                "ns",
                "hostmaster",
                "0",
                "10",
                "300",
                "65535",
                "4294967296",
                "(",
                ")",
                ";",
                ";! fault",
                "servfail",
                "timeout",
                "\"",
                "\\",
                "192.0.2.1",
                "::1",
                "xn--",
                "\n",
                "\n",
                "\n",
            ])
            .prop_map(str::to_string),
            "[a-z0-9.*@$;\"\\\\()-]{1,8}",
        ]
    }

    fn check(text: &str) {
        if let Ok((zone, faults)) = Zone::parse(text, None) {
            let apex: Name = zone.origin().into();
            let mut lab = Lab::new();
            lab.add_zone(zone, faults).unwrap();
            for t in [RecordType::MX, RecordType::A, RecordType::CNAME] {
                let mut q = Message::new(1, MessageType::Query, OpCode::Query);
                q.add_query(Query::query(apex.clone(), t));
                let _ = lab.respond(&q, true);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn zone_token_soup_never_panics(
            head in prop::sample::select(vec![
                "",
                "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n",
                "@ 300 IN SOA ns.zz. h.zz. ( 1 2 3 4 5 )\n",
            ]),
            tokens in prop::collection::vec(token(), 0..40),
        ) {
            check(&format!("{head}{}", tokens.join(" ")));
        }

        #[test]
        fn any_text_never_panics(text in any::<String>()) {
            check(&text);
        }
    }
}
