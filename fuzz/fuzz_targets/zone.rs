//! The lab's zone-file parser (`Zone::parse`, hickory's RFC 1035 §5 text
//! parser plus the `;! fault` directives) on arbitrary text.
//!
//! Invariants: never a panic; an accepted zone answers questions about its
//! apex and the names written in the text with a response to that question
//! which, once encoded and decoded again, `interpret` reads without calling
//! a temporary failure permanent.
#![no_main]

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;
use prebounce_dns::interpret::interpret;
use prebounce_dns::transport::{matches_request, Reply};
use prebounce_lab::zone::Response;
use prebounce_lab::{Lab, Zone};

const TYPES: [RecordType; 5] = [
    RecordType::MX,
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::NS,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok((zone, faults)) = Zone::parse(&text, None) else {
        return;
    };
    let origin: Name = zone.origin().into();
    let mut lab = Lab::new();
    lab.add_zone(zone, faults).expect("one zone");
    let mut names = vec![origin.clone()];
    names.extend(
        text.split_whitespace()
            .take(16)
            .filter_map(|w| Name::parse(w, Some(&origin)).ok()),
    );
    for name in names {
        for qtype in TYPES {
            let mut request = Message::new(7, MessageType::Query, OpCode::Query);
            request.add_query(Query::query(name.clone(), qtype));
            for udp in [true, false] {
                let Response::Message(reply) = lab.respond(&request, udp) else {
                    continue;
                };
                // The server sends nothing when a reply does not encode.
                let Ok(bytes) = reply.to_vec() else {
                    continue;
                };
                let back = Message::from_vec(&bytes).expect("the lab's reply decodes");
                assert!(
                    matches_request(&request, &back),
                    "the lab answered another question"
                );
                let code = back.metadata.response_code;
                let read = interpret(&name, qtype, &Reply::Message(Box::new(back)));
                if matches!(code, ResponseCode::ServFail | ResponseCode::Refused) {
                    assert!(
                        read.status.is_temporary(),
                        "{code:?} read as {:?}",
                        read.status
                    );
                }
            }
        }
    }
});
