//! A lean reader of DNS replies, for the bulk engine's fast path.
//!
//! [`read_reply`] reads a reply straight from the datagram into the
//! [`Interpretation`] that [`crate::interpret::interpret`] would give for
//! the same bytes, without building a hickory [`Message`] (its names,
//! records and vectors were a tenth of the bulk engine's CPU). It accepts
//! only the plain shapes a mail-domain lookup meets: one question of class
//! IN for MX, A or AAAA; answer, authority and additional records of types
//! A, AAAA, MX, CNAME, NS and SOA in class IN, each with exactly the RDATA
//! its type defines; at most one OPT record, in the additional section,
//! with no options and no extended response code; names with backward
//! compression pointers only and at most 255 bytes long; nothing after the
//! last record. Anything else gives `None`, and the caller decodes the
//! message in full as before. So every reply it accepts is one hickory
//! decodes too, and it reads it the same way: the tests below hold it to
//! that on generated and on damaged messages.
//!
//! [`Message`]: hickory_proto::op::Message

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use hickory_proto::rr::rdata::{A, AAAA, MX};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use prebounce_core::evidence::QueryStatus;

use crate::interpret::{Interpretation, MAX_CNAME_CHAIN};

/// What [`read_reply`] read.
#[derive(Debug)]
pub struct LeanReply {
    /// The header's id.
    pub id: u16,
    /// The QR bit: a response.
    pub response: bool,
    /// The TC bit.
    pub truncated: bool,
    /// The response code.
    pub rcode: u16,
    /// Where the question's name is, in wire form (no compression).
    pub qname: Range<usize>,
    /// The question's type.
    pub qtype: u16,
    /// The reply read for its question and the asked type.
    pub interpretation: Interpretation,
}

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_MX: u16 = 15;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

/// The RDATA kept from a record.
#[derive(Clone, Copy)]
enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(u16, usize),
    Cname(usize),
    Other,
}

/// A record of the answer section: its owner (where its name starts), its
/// type and what its RDATA says.
#[derive(Clone, Copy)]
struct Answer {
    owner: usize,
    rtype: u16,
    data: Data,
}

struct Reader<'a> {
    msg: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn u16(&mut self) -> Option<u16> {
        let b = self.msg.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.msg.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.msg.get(self.at..self.at + n)?;
        self.at += n;
        Some(b)
    }

    /// Skips a name, checking it as hickory's decoder does (labels of at
    /// most 63 bytes, pointers only to bytes before the name part that
    /// holds them, at most 255 bytes in all); returns where it starts.
    /// With `plain`, a pointer is refused too.
    fn name(&mut self, plain: bool) -> Option<usize> {
        let start = self.at;
        let mut at = self.at;
        // Reads must stay before this once a pointer was followed.
        let mut limit = usize::MAX;
        let mut part_start = at;
        let mut len = 1; // the root's length byte
        let mut end = None;
        loop {
            if at >= limit {
                return None;
            }
            let b = *self.msg.get(at)?;
            match b & 0xC0 {
                0x00 if b == 0 => {
                    at += 1;
                    break;
                }
                0x00 => {
                    let n = usize::from(b);
                    self.msg.get(at + 1..at + 1 + n)?;
                    len += 1 + n;
                    if len > 255 {
                        return None;
                    }
                    at += 1 + n;
                }
                0xC0 if !plain => {
                    let lo = *self.msg.get(at + 1)?;
                    let target = usize::from(u16::from_be_bytes([b & 0x3F, lo]));
                    if target >= part_start {
                        return None;
                    }
                    if end.is_none() {
                        end = Some(at + 2);
                    }
                    limit = part_start;
                    part_start = target;
                    at = target;
                }
                _ => return None,
            }
        }
        self.at = end.unwrap_or(at);
        Some(start)
    }
}

/// The labels of the (already checked) name at `at`.
fn labels(msg: &[u8], mut at: usize) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || loop {
        let b = msg[at];
        if b & 0xC0 == 0xC0 {
            at = usize::from(u16::from_be_bytes([b & 0x3F, msg[at + 1]]));
            continue;
        }
        if b == 0 {
            return None;
        }
        let n = usize::from(b);
        let label = &msg[at + 1..at + 1 + n];
        at += 1 + n;
        return Some(label);
    })
}

/// Whether the names at `a` and `b` are the same, ignoring ASCII case.
fn same_name(msg: &[u8], a: usize, b: usize) -> bool {
    let (mut x, mut y) = (labels(msg, a), labels(msg, b));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p.eq_ignore_ascii_case(q) => {}
            _ => return false,
        }
    }
}

/// The name at `at` as a hickory name (fully qualified, as decoded), read
/// by hickory's own name decoder, as the full decoder reads it (building
/// it with `Name::from_labels` cost about 1,600 instructions a name, three
/// times as much). `None` for a name hickory would not read: the reply then
/// goes to the full decoder.
fn to_name(msg: &[u8], at: usize) -> Option<Name> {
    let at = u16::try_from(at).ok()?;
    let mut decoder = BinDecoder::new(msg).clone(at);
    let mut name = Name::read(&mut decoder).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// Reads one record; `None` for anything outside the accepted shapes.
fn record(r: &mut Reader<'_>, additional: bool, opt_seen: &mut bool) -> Option<Answer> {
    let owner = r.name(false)?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let rdlen = usize::from(r.u16()?);
    let rdata_end = r.at.checked_add(rdlen)?;
    if rdata_end > r.msg.len() {
        return None;
    }
    if rtype == TYPE_OPT {
        // The EDNS record: root owner, no options, no extended rcode.
        // (Extended rcode and version are the TTL's top 16 bits.)
        if !additional || *opt_seen || r.msg[owner] != 0 || rdlen != 0 || ttl >> 16 != 0 {
            return None;
        }
        *opt_seen = true;
        return Some(Answer {
            owner,
            rtype,
            data: Data::Other,
        });
    }
    if class != CLASS_IN || rdlen == 0 {
        return None;
    }
    let data = match rtype {
        TYPE_A => {
            let b = r.bytes(4)?;
            Data::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        TYPE_AAAA => {
            let b: [u8; 16] = r.bytes(16)?.try_into().ok()?;
            Data::Aaaa(Ipv6Addr::from(b))
        }
        TYPE_MX => {
            let preference = r.u16()?;
            Data::Mx(preference, r.name(false)?)
        }
        TYPE_CNAME => Data::Cname(r.name(false)?),
        TYPE_NS => {
            r.name(false)?;
            Data::Other
        }
        TYPE_SOA => {
            r.name(false)?;
            r.name(false)?;
            r.bytes(20)?;
            Data::Other
        }
        _ => return None,
    };
    // The RDATA must be exactly what the type defines.
    (r.at == rdata_end).then_some(Answer { owner, rtype, data })
}

/// Reads `datagram` as a reply to a question of type `qtype` (MX, A or
/// AAAA), see the module's text; `None` when it is not one of the plain
/// shapes this reader takes.
pub fn read_reply(datagram: &[u8], qtype: RecordType) -> Option<LeanReply> {
    let want = u16::from(qtype);
    if !matches!(want, TYPE_MX | TYPE_A | TYPE_AAAA) {
        return None;
    }
    let mut r = Reader {
        msg: datagram,
        at: 0,
    };
    let id = r.u16()?;
    let flags = r.u16()?;
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    // Opcode QUERY only, one question.
    if (flags >> 11) & 0xF != 0 || counts[0] != 1 {
        return None;
    }
    let qstart = r.name(true)?;
    let qname = qstart..r.at;
    let asked = r.u16()?;
    if r.u16()? != CLASS_IN {
        return None;
    }
    let mut answers = Vec::with_capacity(usize::from(counts[1]).min(8));
    let mut soa = false;
    let mut opt = false;
    for _ in 0..counts[1] {
        answers.push(record(&mut r, false, &mut opt)?);
    }
    for _ in 0..counts[2] {
        soa |= record(&mut r, false, &mut opt)?.rtype == TYPE_SOA;
    }
    for _ in 0..counts[3] {
        record(&mut r, true, &mut opt)?;
    }
    if r.at != datagram.len() {
        return None;
    }
    let rcode = flags & 0xF;
    Some(LeanReply {
        id,
        response: flags & 0x8000 != 0,
        truncated: flags & 0x0200 != 0,
        rcode,
        qname,
        qtype: asked,
        interpretation: interpret(datagram, qstart, want, rcode, &answers, soa)?,
    })
}

/// [`crate::interpret::interpret`]'s reading, over the records as read.
fn interpret(
    msg: &[u8],
    qname: usize,
    qtype: u16,
    rcode: u16,
    answers: &[Answer],
    soa: bool,
) -> Option<Interpretation> {
    let status_of = |status| Interpretation {
        status,
        records: Vec::new(),
        cname: Vec::new(),
        chase: None,
        rcode: Some(rcode),
    };
    let mut current = qname;
    let mut chain: Vec<usize> = Vec::new();
    let mut records = Vec::new();
    let names = |chain: &[usize]| -> Option<Vec<Name>> {
        chain.iter().map(|&at| to_name(msg, at)).collect()
    };
    loop {
        for a in answers {
            if a.rtype == qtype && same_name(msg, a.owner, current) {
                records.push(match a.data {
                    Data::A(ip) => RData::A(A(ip)),
                    Data::Aaaa(ip) => RData::AAAA(AAAA(ip)),
                    Data::Mx(preference, exchange) => {
                        RData::MX(MX::new(preference, to_name(msg, exchange)?))
                    }
                    Data::Cname(_) | Data::Other => return None,
                });
            }
        }
        if !records.is_empty() {
            break;
        }
        let alias = answers.iter().find_map(|a| match a.data {
            Data::Cname(target) if same_name(msg, a.owner, current) => Some(target),
            _ => None,
        });
        match alias {
            Some(target)
                if chain.len() < MAX_CNAME_CHAIN
                    && !chain.iter().any(|&c| same_name(msg, c, target)) =>
            {
                chain.push(target);
                current = target;
            }
            Some(_) => {
                let mut i = status_of(QueryStatus::ServFail);
                i.cname = names(&chain)?;
                return Some(i);
            }
            None => break,
        }
    }
    let status = match rcode {
        0 if !records.is_empty() => QueryStatus::Answer,
        0 if soa => QueryStatus::NoData,
        0 if !chain.is_empty() => {
            return Some(Interpretation {
                status: QueryStatus::Lame,
                records,
                cname: names(&chain)?,
                chase: Some(to_name(msg, current)?),
                rcode: Some(rcode),
            });
        }
        0 => QueryStatus::Lame,
        3 => QueryStatus::NxDomain,
        2 => QueryStatus::ServFail,
        5 => QueryStatus::Refused,
        other => QueryStatus::Rcode(other),
    };
    Some(Interpretation {
        status,
        records: if status == QueryStatus::Answer {
            records
        } else {
            Vec::new()
        },
        cname: names(&chain)?,
        chase: None,
        rcode: Some(rcode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpret::interpret as interpret_message;
    use crate::transport::Reply;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{CNAME, NS, SOA, TXT};
    use hickory_proto::rr::Record;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// Owners and targets: related names in several spellings, so that
    /// ownership, CNAME chains and loops all happen.
    const NAMES: [&str; 9] = [
        "d.test.",
        "D.Test.",
        "mx.d.test.",
        "MX.d.TEST.",
        "alias.test.",
        "x.alias.test.",
        "test.",
        "other.example.",
        "a-very-long-label-to-make-the-message-longer-than-most.d.test.",
    ];

    fn name(rng: &mut StdRng) -> Name {
        Name::from_ascii(NAMES[rng.random_range(0..NAMES.len())]).unwrap()
    }

    /// A record of one of the types the reader takes (`plain`), or of
    /// another (TXT).
    fn record(rng: &mut StdRng, plain: bool) -> Record {
        let owner = name(rng);
        let data = match rng.random_range(0..if plain { 6 } else { 7 }) {
            0 => RData::A(A(Ipv4Addr::from(rng.random::<u32>()))),
            1 => RData::AAAA(AAAA(Ipv6Addr::from(rng.random::<u128>()))),
            2 => RData::MX(MX::new(rng.random_range(0..30), name(rng))),
            3 => RData::CNAME(CNAME(name(rng))),
            4 => RData::NS(NS(name(rng))),
            5 => RData::SOA(SOA::new(name(rng), name(rng), 1, 2, 3, 4, 5)),
            _ => RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
        };
        Record::from_rdata(owner, 60, data)
    }

    /// A random reply; whether it only has shapes the reader takes.
    fn message(rng: &mut StdRng) -> (Message, bool) {
        let plain = rng.random_bool(0.8);
        let kind = if rng.random_bool(0.95) {
            MessageType::Response
        } else {
            MessageType::Query
        };
        let mut m = Message::new(rng.random(), kind, OpCode::Query);
        m.metadata.truncation = rng.random_bool(0.1);
        m.metadata.response_code = ResponseCode::from(
            0,
            [0, 0, 0, 0, 3, 3, 2, 5, 1, 4, 9, 15][rng.random_range(0..12)],
        );
        let qtype = [RecordType::MX, RecordType::A, RecordType::AAAA][rng.random_range(0..3)];
        m.add_query(Query::query(name(rng), qtype));
        for _ in 0..rng.random_range(0..5) {
            m.answers.push(record(rng, plain));
        }
        for _ in 0..rng.random_range(0..3) {
            m.authorities.push(record(rng, plain));
        }
        for _ in 0..rng.random_range(0..3) {
            m.additionals.push(record(rng, plain));
        }
        if rng.random_bool(0.7) {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            m.set_edns(edns);
        }
        (m, plain && kind == MessageType::Response)
    }

    /// When the reader takes `bytes` as a reply to `qtype`, hickory decodes
    /// them too and reads them the same way.
    fn agrees(bytes: &[u8], qtype: RecordType) -> bool {
        let Some(lean) = read_reply(bytes, qtype) else {
            return false;
        };
        let m = Message::from_vec(bytes)
            .unwrap_or_else(|e| panic!("the reader took what hickory refuses ({e}): {bytes:?}"));
        assert_eq!(lean.id, m.metadata.id);
        assert_eq!(
            lean.response,
            m.metadata.message_type == MessageType::Response
        );
        assert_eq!(lean.truncated, m.metadata.truncation);
        assert_eq!(lean.rcode, u16::from(m.metadata.response_code));
        let q = &m.queries[0];
        assert_eq!(lean.qtype, u16::from(q.query_type()));
        let qname = Name::from_labels(labels(bytes, lean.qname.start)).unwrap();
        assert_eq!(qname.cmp_case(q.name()), std::cmp::Ordering::Equal);
        let want = interpret_message(q.name(), qtype, &Reply::Message(Box::new(m.clone())));
        assert_eq!(lean.interpretation, want, "{m}");
        true
    }

    #[test]
    fn reads_generated_replies_as_hickory_and_interpret_do() {
        let mut rng = StdRng::seed_from_u64(0x5eed_0001);
        let (mut taken, mut plain_seen) = (0, 0);
        for _ in 0..20_000 {
            let (m, plain) = message(&mut rng);
            let bytes = m.to_vec().unwrap();
            let qtype = m.queries[0].query_type();
            let took = agrees(&bytes, qtype);
            taken += usize::from(took);
            // The plain shapes all take the fast path.
            if plain {
                plain_seen += 1;
                assert!(took, "a plain reply was left to hickory: {m}");
            }
            // Read for another type too (owner and type filters).
            let other = if qtype == RecordType::MX {
                RecordType::A
            } else {
                RecordType::MX
            };
            agrees(&bytes, other);
        }
        assert!(
            plain_seen > 10_000 && taken >= plain_seen,
            "{taken} {plain_seen}"
        );
    }

    #[test]
    fn damaged_replies_are_read_as_hickory_reads_them_or_left_to_it() {
        let mut rng = StdRng::seed_from_u64(0x5eed_0002);
        let mut taken = 0;
        for _ in 0..30_000 {
            let (m, _) = message(&mut rng);
            let mut bytes = m.to_vec().unwrap();
            match rng.random_range(0..4) {
                // A few bytes set at random.
                0 | 1 => {
                    for _ in 0..rng.random_range(1..4) {
                        let at = rng.random_range(0..bytes.len());
                        bytes[at] = rng.random();
                    }
                }
                // Cut short, or with bytes after the end.
                2 => bytes.truncate(rng.random_range(0..bytes.len())),
                _ => bytes.extend((0..rng.random_range(1..4)).map(|_| rng.random::<u8>())),
            }
            taken += usize::from(agrees(&bytes, m.queries[0].query_type()));
        }
        // Most damage goes unnoticed by a decoder (a changed TTL, address
        // or id): those replies are still read.
        assert!(taken > 3_000, "{taken}");
    }

    #[test]
    fn refuses_the_shapes_it_leaves_to_hickory() {
        let q = Name::from_ascii("d.test.").unwrap();
        let base = || {
            let mut m = Message::new(7, MessageType::Response, OpCode::Query);
            m.add_query(Query::query(q.clone(), RecordType::MX));
            m
        };
        let plain = base().to_vec().unwrap();
        assert!(read_reply(&plain, RecordType::MX).is_some());
        // Not MX, A or AAAA.
        assert!(read_reply(&plain, RecordType::TXT).is_none());
        // An extended rcode (BADVERS) lives in the OPT record.
        let mut m = base();
        m.set_edns(Edns::new());
        m.metadata.response_code = ResponseCode::BADVERS;
        assert!(read_reply(&m.to_vec().unwrap(), RecordType::MX).is_none());
        // Two questions; an opcode other than QUERY; trailing bytes.
        let mut m = base();
        m.add_query(Query::query(q.clone(), RecordType::A));
        assert!(read_reply(&m.to_vec().unwrap(), RecordType::MX).is_none());
        let mut m = base();
        m.metadata.op_code = OpCode::Notify;
        assert!(read_reply(&m.to_vec().unwrap(), RecordType::MX).is_none());
        let mut trailing = plain.clone();
        trailing.push(0);
        assert!(read_reply(&trailing, RecordType::MX).is_none());
        // A pointer that loops onto itself, and one that points forward.
        let mut looped = plain.clone();
        looped.truncate(12);
        looped.extend_from_slice(&[0xC0, 12, 0, 15, 0, 1]);
        assert!(read_reply(&looped, RecordType::MX).is_none());
        assert!(Message::from_vec(&looped).is_err());
        let mut m = base();
        m.answers.push(Record::from_rdata(
            q.clone(),
            60,
            RData::TXT(TXT::new(vec!["x".into()])),
        ));
        assert!(read_reply(&m.to_vec().unwrap(), RecordType::MX).is_none());
    }

    /// A reply to `d.test. MX` (name at byte 12) with one answer: `owner`
    /// and `rdata` as given, in wire form.
    fn handmade(qname: &[u8], owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(qname);
        b.extend_from_slice(&[0, 15, 0, 1]);
        b.extend_from_slice(owner);
        b.extend_from_slice(&rtype.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        b.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        b.extend_from_slice(rdata);
        b
    }

    #[test]
    fn compression_pointers_only_backward_and_names_at_most_255_bytes() {
        let q = b"\x01d\x04test\x00";
        let mx = |target: &[u8]| [&[0u8, 10][..], target].concat();
        // Backward pointers: the owner and the exchange point at the
        // question's name.
        let ok = handmade(q, &[0xC0, 12], 15, &mx(&[2, b'm', b'x', 0xC0, 12]));
        assert!(agrees(&ok, RecordType::MX));
        // A pointer to itself, and one forward (into the RDATA).
        let own = 12 + q.len() + 4;
        let looped = handmade(q, &[0xC0, own as u8], 15, &mx(&[0xC0, 12]));
        assert!(read_reply(&looped, RecordType::MX).is_none());
        assert!(Message::from_vec(&looped).is_err());
        let forward = handmade(q, &[0xC0, (own + 12) as u8], 15, &mx(&[0xC0, 12]));
        assert!(read_reply(&forward, RecordType::MX).is_none());
        assert!(Message::from_vec(&forward).is_err());
        // A pointer into a name that then runs past where the pointer was.
        let overlap = handmade(q, &[1, b'x', 0xC0, (own + 2) as u8], 15, &mx(&[0xC0, 12]));
        assert!(read_reply(&overlap, RecordType::MX).is_none());
        // A question of 255 bytes; an owner of one label more, by pointer,
        // is too long for hickory and for the reader.
        let mut long = Vec::new();
        for _ in 0..3 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(61);
        long.extend_from_slice(&[b'b'; 61]);
        long.push(0);
        assert_eq!(long.len(), 255);
        let fits = handmade(&long, &[0xC0, 12], 15, &mx(&[0xC0, 12]));
        assert!(agrees(&fits, RecordType::MX));
        let over = handmade(&long, &[1, b'x', 0xC0, 12], 15, &mx(&[0xC0, 12]));
        assert!(read_reply(&over, RecordType::MX).is_none());
        assert!(Message::from_vec(&over).is_err());
        // An RDATA longer than its type defines.
        let padded = handmade(q, &[0xC0, 12], 15, &[&mx(&[0xC0, 12])[..], &[0]].concat());
        assert!(read_reply(&padded, RecordType::MX).is_none());
        assert!(Message::from_vec(&padded).is_err());
    }

    #[test]
    fn an_mx_answer_is_read_with_its_chain() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let mut m = Message::new(9, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(n("MaiL.D.test."), RecordType::MX));
        m.answers = vec![
            Record::from_rdata(n("mail.d.test."), 60, RData::CNAME(CNAME(n("real.test.")))),
            Record::from_rdata(
                n("REAL.test."),
                60,
                RData::MX(MX::new(10, n("mx.real.test."))),
            ),
            Record::from_rdata(
                n("real.test."),
                60,
                RData::MX(MX::new(20, n("mx2.real.test."))),
            ),
        ];
        let bytes = m.to_vec().unwrap();
        let read = read_reply(&bytes, RecordType::MX).unwrap();
        assert_eq!(&bytes[read.qname.clone()], b"\x04MaiL\x01D\x04test\x00");
        let i = read.interpretation;
        assert_eq!(i.status, QueryStatus::Answer);
        assert_eq!(i.cname, vec![n("real.test.")]);
        assert_eq!(
            i.records,
            vec![
                RData::MX(MX::new(10, n("mx.real.test."))),
                RData::MX(MX::new(20, n("mx2.real.test.")))
            ]
        );
        assert!(agrees(&bytes, RecordType::MX));
    }
}
