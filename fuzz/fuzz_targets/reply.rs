//! The DNS reply interpreter on arbitrary bytes, as they come off the wire.
//!
//! The bytes are decoded as a DNS message (the path every transport takes:
//! bytes that do not decode become `Reply::Malformed`, a temporary
//! failure), then read by `interpret` for the message's question (or
//! `d.test. MX`) under several record types, and served by a stub transport
//! as the reply to every question of `Resolver::gather`, whose evidence is
//! judged by the rules after the typo analysis.
//!
//! The same bytes go to the bulk engine's lean reader
//! (`prebounce::dns::wire::read_reply`): a reply it takes must decode and
//! read the same way through hickory and `interpret`.
//!
//! Invariants: never a panic; the rcode is reported as received; NXDOMAIN
//! only for an NXDOMAIN reply, NODATA and an answer only for NOERROR, and a
//! SERVFAIL or REFUSED reply always temporary; records only with an answer,
//! all of the asked type; CNAME chains bounded and loop-free; a chase only
//! from a lame answer; no empty RDATA read as data; an MX answer in the
//! evidence has MX records; and when every reply is SERVFAIL or REFUSED,
//! the verdict is never `suppress`.
#![no_main]

use std::sync::OnceLock;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use libfuzzer_sys::fuzz_target;
use prebounce::core::evidence::QueryStatus;
use prebounce::core::rules::{judge, Policy};
use prebounce::core::verdict::Action;
use prebounce::dns::interpret::{interpret, Interpretation, MAX_CNAME_CHAIN};
use prebounce::dns::resolver::name_text;
use prebounce::dns::transport::{Reply, ReplyFuture, Transport, TransportStats};
use prebounce::dns::wire::read_reply;
use prebounce::dns::Resolver;
use prebounce::hygiene::analyse;

const TYPES: [RecordType; 5] = [
    RecordType::MX,
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::SOA,
];

/// Answers every question with the same message.
struct Canned(Message);

impl Transport for Canned {
    fn query<'a>(&'a self, _name: &'a Name, _rtype: RecordType) -> ReplyFuture<'a> {
        let reply = Reply::Message(Box::new(self.0.clone()));
        Box::pin(async move { reply })
    }

    fn stats(&self) -> TransportStats {
        TransportStats::default()
    }
}

fn check(read: &Interpretation, code: ResponseCode, qtype: RecordType) {
    assert_eq!(read.rcode, Some(u16::from(code)));
    match read.status {
        QueryStatus::NxDomain => assert_eq!(code, ResponseCode::NXDomain),
        QueryStatus::NoData | QueryStatus::Answer => assert_eq!(code, ResponseCode::NoError),
        _ => {}
    }
    if matches!(code, ResponseCode::ServFail | ResponseCode::Refused) {
        assert!(
            read.status.is_temporary(),
            "{code:?} read as {:?}",
            read.status
        );
    }
    if read.status == QueryStatus::Answer {
        assert!(!read.records.is_empty());
        assert!(read.records.iter().all(|r| r.record_type() == qtype));
        assert!(
            !read.records.iter().any(|r| matches!(r, RData::Update0(_))),
            "an empty RDATA read as an answer"
        );
    } else {
        assert!(read.records.is_empty());
    }
    assert!(read.cname.len() <= MAX_CNAME_CHAIN);
    for (i, c) in read.cname.iter().enumerate() {
        assert!(!read.cname[..i].contains(c), "a CNAME loop was followed");
    }
    if read.chase.is_some() {
        assert_eq!(read.status, QueryStatus::Lame);
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // The bulk engine's lean reader: whatever it takes, hickory decodes
    // too and `interpret` reads the same way.
    for qtype in [RecordType::MX, RecordType::A, RecordType::AAAA] {
        if let Some(lean) = read_reply(data, qtype) {
            let msg = Message::from_vec(data).expect("the lean reader took what hickory refuses");
            assert_eq!(lean.rcode, u16::from(msg.metadata.response_code));
            assert_eq!(lean.truncated, msg.metadata.truncation);
            let q = msg.queries[0].name().clone();
            assert_eq!(
                lean.interpretation,
                interpret(&q, qtype, &Reply::Message(Box::new(msg)))
            );
        }
    }
    let Ok(msg) = Message::from_vec(data) else {
        return;
    };
    let code = msg.metadata.response_code;
    let fallback = Name::from_ascii("d.test.").expect("a name");
    let qname = msg
        .queries
        .first()
        .map(|q| q.name().clone())
        .unwrap_or(fallback);
    for qtype in TYPES {
        let read = interpret(&qname, qtype, &Reply::Message(Box::new(msg.clone())));
        check(&read, code, qtype);
    }
    // Encoding what was decoded must not panic either.
    let _ = msg.to_vec();

    let domain = name_text(&qname);
    let resolver = Resolver::new(Canned(msg), 8);
    let mut evidence = runtime().block_on(resolver.gather(&domain));
    evidence.typos = analyse(&evidence);
    if evidence.mx.status == QueryStatus::Answer {
        assert!(
            !evidence.mx.records.is_empty(),
            "an MX answer without MX records"
        );
    }
    let policy = Policy::default();
    let verdict = judge(&evidence, &policy);
    if matches!(code, ResponseCode::ServFail | ResponseCode::Refused) {
        assert!(evidence.mx.status.is_temporary());
        assert_ne!(
            verdict.action(),
            Action::Suppress,
            "every reply was {code:?}, yet {verdict:?}"
        );
    }
});
