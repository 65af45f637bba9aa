//! Reading a reply: turns a DNS message into a [`QueryStatus`], the
//! records of the asked type and the CNAME chain. Pure, so every case is
//! unit-tested without a server.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use prebounce_core::evidence::QueryStatus;

use crate::transport::Reply;

/// Longest CNAME chain followed (RFC 1034 §3.6.2 leaves it to the resolver;
/// BIND stops at 16).
pub const MAX_CNAME_CHAIN: usize = 16;

/// What one reply says about `(qname, qtype)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpretation {
    /// How the query ended.
    pub status: QueryStatus,
    /// The records of the asked type at the end of the chain.
    pub records: Vec<RData>,
    /// CNAME targets followed, in order.
    pub cname: Vec<Name>,
    /// Set when the chain ends at a name the reply says nothing about: the
    /// caller asks again for this name.
    pub chase: Option<Name>,
    /// The raw response code, when there was a reply.
    pub rcode: Option<u16>,
}

impl Interpretation {
    fn status(status: QueryStatus, rcode: Option<u16>) -> Self {
        Interpretation {
            status,
            records: Vec::new(),
            cname: Vec::new(),
            chase: None,
            rcode,
        }
    }
}

/// Interprets `reply` to the question `(qname, qtype)`:
///
/// - NXDOMAIN, SERVFAIL, REFUSED and other codes map to their status
///   (NXDOMAIN after a CNAME means the alias target does not exist);
/// - NOERROR with records of `qtype` (directly or through CNAMEs in the
///   answer section) is an answer;
/// - NOERROR without them and with an SOA in the authority section is
///   NODATA (RFC 2308 §2.2);
/// - NOERROR with a chain that ends at a name the reply does not cover asks
///   for a chase;
/// - NOERROR with nothing and no SOA is a referral or a lame answer.
pub fn interpret(qname: &Name, qtype: RecordType, reply: &Reply) -> Interpretation {
    let msg: &Message = match reply {
        Reply::Message(m) => m,
        Reply::Read(read) => return (**read).clone(),
        Reply::Timeout => return Interpretation::status(QueryStatus::Timeout, None),
        Reply::Malformed(_) => return Interpretation::status(QueryStatus::Malformed, None),
    };
    let code = msg.metadata.response_code;
    let rcode = Some(u16::from(code));
    let mut cname = Vec::new();
    let mut current = qname.clone();
    let mut records = Vec::new();
    loop {
        let owned = |r: &&hickory_proto::rr::Record| r.name.eq_ignore_root(&current);
        // hickory decodes a record with an empty RDATA as `Update0` (RFC
        // 2136 uses those in updates) and leaves it to the caller: in an
        // answer, where an MX, an address or an alias must be, it is a
        // malformed reply, not an answer without data.
        if msg.answers.iter().filter(owned).any(|r| {
            matches!(r.data, RData::Update0(_))
                && (r.record_type() == qtype || r.record_type() == RecordType::CNAME)
        }) {
            let mut i = Interpretation::status(QueryStatus::Malformed, rcode);
            i.cname = cname;
            return i;
        }
        records.extend(
            msg.answers
                .iter()
                .filter(owned)
                .filter(|r| r.record_type() == qtype)
                .map(|r| r.data.clone()),
        );
        if !records.is_empty() || qtype == RecordType::CNAME {
            break;
        }
        let alias = msg
            .answers
            .iter()
            .filter(owned)
            .find_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
        match alias {
            Some(target) if cname.len() < MAX_CNAME_CHAIN && !cname.contains(&target) => {
                cname.push(target.clone());
                current = target;
            }
            Some(_) => {
                // A loop or an overlong chain: the name cannot be resolved now.
                let mut i = Interpretation::status(QueryStatus::ServFail, rcode);
                i.cname = cname;
                return i;
            }
            None => break,
        }
    }
    let status = match code {
        ResponseCode::NoError => {
            if !records.is_empty() {
                QueryStatus::Answer
            } else if msg
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::SOA)
            {
                QueryStatus::NoData
            } else if !cname.is_empty() {
                return Interpretation {
                    status: QueryStatus::Lame,
                    records,
                    chase: Some(current),
                    cname,
                    rcode,
                };
            } else {
                QueryStatus::Lame
            }
        }
        ResponseCode::NXDomain => QueryStatus::NxDomain,
        ResponseCode::ServFail => QueryStatus::ServFail,
        ResponseCode::Refused => QueryStatus::Refused,
        other => QueryStatus::Rcode(u16::from(other)),
    };
    Interpretation {
        status,
        records: if status == QueryStatus::Answer {
            records
        } else {
            Vec::new()
        },
        cname,
        chase: None,
        rcode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, CNAME, MX, NS, SOA};
    use hickory_proto::rr::Record;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn reply(code: ResponseCode, answers: Vec<Record>, authority: Vec<Record>) -> Reply {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = code;
        m.add_query(Query::query(n("d.test."), RecordType::MX));
        m.answers = answers;
        m.authorities = authority;
        Reply::Message(Box::new(m))
    }

    fn soa() -> Record {
        Record::from_rdata(
            n("test."),
            60,
            RData::SOA(SOA::new(n("ns.test."), n("h.test."), 1, 60, 60, 60, 60)),
        )
    }

    fn mx(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 60, RData::MX(MX::new(10, n(target))))
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 60, RData::CNAME(CNAME(n(target))))
    }

    fn status(r: &Reply) -> QueryStatus {
        interpret(&n("d.test."), RecordType::MX, r).status
    }

    #[test]
    fn response_codes() {
        use QueryStatus::*;
        assert_eq!(
            status(&reply(ResponseCode::NXDomain, vec![], vec![soa()])),
            NxDomain
        );
        assert_eq!(
            status(&reply(ResponseCode::ServFail, vec![], vec![])),
            ServFail
        );
        assert_eq!(
            status(&reply(ResponseCode::Refused, vec![], vec![])),
            Refused
        );
        assert_eq!(
            status(&reply(ResponseCode::FormErr, vec![], vec![])),
            Rcode(1)
        );
        assert_eq!(
            status(&reply(ResponseCode::NotImp, vec![], vec![])),
            Rcode(4)
        );
        assert_eq!(status(&Reply::Timeout), Timeout);
        assert_eq!(status(&Reply::Malformed("x".into())), Malformed);
    }

    #[test]
    fn nodata_versus_referral() {
        use QueryStatus::*;
        assert_eq!(
            status(&reply(ResponseCode::NoError, vec![], vec![soa()])),
            NoData
        );
        let ns = Record::from_rdata(n("d.test."), 60, RData::NS(NS(n("ns.elsewhere."))));
        assert_eq!(
            status(&reply(ResponseCode::NoError, vec![], vec![ns])),
            Lame
        );
        assert_eq!(status(&reply(ResponseCode::NoError, vec![], vec![])), Lame);
        // Records of another type only: not an answer.
        let a = Record::from_rdata(n("d.test."), 60, RData::A(A::new(8, 8, 8, 8)));
        assert_eq!(
            status(&reply(ResponseCode::NoError, vec![a], vec![soa()])),
            NoData
        );
    }

    #[test]
    fn answers_and_cname_chains() {
        let direct = interpret(
            &n("d.test."),
            RecordType::MX,
            &reply(
                ResponseCode::NoError,
                vec![mx("D.TEST.", "mx.d.test.")],
                vec![],
            ),
        );
        assert_eq!(direct.status, QueryStatus::Answer);
        assert_eq!(direct.records.len(), 1);
        assert!(direct.cname.is_empty());

        let chained = interpret(
            &n("d.test."),
            RecordType::MX,
            &reply(
                ResponseCode::NoError,
                vec![
                    cname("d.test.", "e.test."),
                    cname("e.test.", "f.test."),
                    mx("f.test.", "mx.f.test."),
                ],
                vec![],
            ),
        );
        assert_eq!(chained.status, QueryStatus::Answer);
        assert_eq!(chained.cname, vec![n("e.test."), n("f.test.")]);

        let to_nothing = interpret(
            &n("d.test."),
            RecordType::MX,
            &reply(
                ResponseCode::NXDomain,
                vec![cname("d.test.", "gone.test.")],
                vec![soa()],
            ),
        );
        assert_eq!(to_nothing.status, QueryStatus::NxDomain);
        assert_eq!(to_nothing.cname, vec![n("gone.test.")]);

        let to_nodata = interpret(
            &n("d.test."),
            RecordType::MX,
            &reply(
                ResponseCode::NoError,
                vec![cname("d.test.", "web.test.")],
                vec![soa()],
            ),
        );
        assert_eq!(to_nodata.status, QueryStatus::NoData);

        let out_of_zone = interpret(
            &n("d.test."),
            RecordType::MX,
            &reply(
                ResponseCode::NoError,
                vec![cname("d.test.", "other.zone.")],
                vec![],
            ),
        );
        assert_eq!(out_of_zone.chase, Some(n("other.zone.")));
    }

    /// Found by the `reply` fuzz target: an MX record with an empty RDATA
    /// was read as an answer without any MX, which the rules cannot judge
    /// (they panicked). It is a malformed reply: temporary.
    #[test]
    fn empty_rdata_is_malformed() {
        let wire = [
            0x12, 0x34, 0x2b, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, // header: 1 question, 1 answer
            1, b'e', 4, b't', b'e', b's', b't', 0, 0, 0x74, 0, 1, // e.test. type 116 IN
            0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 2, 0, 0, 0, // e.test. MX IN ttl 512, RDLENGTH 0
            0x0c, 0x01, 0, 0, 0x3c, 0, 4, 0, 0x0a, 0xc0, 0x0c, // trailing bytes
        ];
        let msg = Message::from_vec(&wire).unwrap();
        assert!(matches!(
            msg.answers[0].data,
            RData::Update0(RecordType::MX)
        ));
        let read = interpret(
            &n("e.test."),
            RecordType::MX,
            &Reply::Message(Box::new(msg)),
        );
        assert_eq!(read.status, QueryStatus::Malformed);
        assert!(read.records.is_empty());

        let empty = |t: RecordType| Record::update0(n("d.test."), 60, t);
        for (answers, qtype) in [
            (vec![empty(RecordType::MX)], RecordType::MX),
            (
                vec![mx("d.test.", "mx.d.test."), empty(RecordType::MX)],
                RecordType::MX,
            ),
            (vec![empty(RecordType::A)], RecordType::A),
            (vec![empty(RecordType::CNAME)], RecordType::MX),
        ] {
            let r = reply(ResponseCode::NoError, answers, vec![soa()]);
            assert_eq!(
                interpret(&n("d.test."), qtype, &r).status,
                QueryStatus::Malformed
            );
        }
        // An empty record of another type, or of another owner, is not ours.
        let r = reply(
            ResponseCode::NoError,
            vec![empty(RecordType::TXT), mx("d.test.", "mx.d.test.")],
            vec![],
        );
        assert_eq!(status(&r), QueryStatus::Answer);
    }

    #[test]
    fn cname_loops_fail_temporarily() {
        let looped = interpret(
            &n("d.test."),
            RecordType::MX,
            &reply(
                ResponseCode::NoError,
                vec![cname("d.test.", "e.test."), cname("e.test.", "d.test.")],
                vec![],
            ),
        );
        assert!(looped.status.is_temporary());
    }
}

/// Property tests: whatever the records, a temporary response code never
/// reads as NXDOMAIN, NODATA or an answer, and records come only with an
/// answer.
#[cfg(test)]
mod props {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, CNAME, MX, NS, SOA};
    use hickory_proto::rr::Record;
    use proptest::prelude::*;

    const NAMES: [&str; 5] = ["d.test.", "D.Test.", "e.test.", "f.test.", "x.other."];

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn record() -> impl Strategy<Value = Record> {
        (0..NAMES.len(), 0..NAMES.len(), 0u8..7).prop_map(|(owner, target, kind)| {
            let (owner, target) = (n(NAMES[owner]), n(NAMES[target]));
            let data = match kind {
                // An empty RDATA, as hickory decodes it.
                5 => RData::Update0(RecordType::MX),
                6 => RData::Update0(RecordType::CNAME),
                0 => RData::MX(MX::new(10, target)),
                1 => RData::CNAME(CNAME(target)),
                2 => RData::A(A::new(192, 0, 2, 1)),
                3 => RData::NS(NS(target)),
                _ => RData::SOA(SOA::new(target.clone(), target, 1, 60, 60, 60, 60)),
            };
            Record::from_rdata(owner, 60, data)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn temporary_rcodes_never_read_as_permanent(
            rcode in prop_oneof![0u16..=10, 0u16..4096],
            answers in prop::collection::vec(record(), 0..6),
            authorities in prop::collection::vec(record(), 0..3),
            qtype in prop::sample::select(vec![RecordType::MX, RecordType::A, RecordType::CNAME]),
        ) {
            let code = <ResponseCode as From<u16>>::from(rcode);
            let mut m = Message::new(1, MessageType::Response, OpCode::Query);
            m.metadata.response_code = code;
            m.add_query(Query::query(n("d.test."), qtype));
            m.answers = answers;
            m.authorities = authorities;
            let read = interpret(&n("d.test."), qtype, &Reply::Message(Box::new(m)));
            prop_assert_eq!(read.rcode, Some(u16::from(code)));
            match code {
                ResponseCode::NoError => prop_assert_ne!(read.status, QueryStatus::NxDomain),
                // A CNAME loop, or an empty RDATA on the way: temporary.
                ResponseCode::NXDomain => prop_assert!(matches!(
                    read.status,
                    QueryStatus::NxDomain | QueryStatus::ServFail | QueryStatus::Malformed
                )),
                _ => prop_assert!(read.status.is_temporary(), "{:?} read as {:?}", code, read.status),
            }
            prop_assert_eq!(read.status == QueryStatus::Answer, !read.records.is_empty());
            prop_assert!(read.records.iter().all(|r| r.record_type() == qtype));
            prop_assert!(!read.records.iter().any(|r| matches!(r, RData::Update0(_))));
            prop_assert!(read.cname.len() <= MAX_CNAME_CHAIN);
        }
    }
}
