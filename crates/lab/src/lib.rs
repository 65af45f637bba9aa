//! # prebounce-lab
//!
//! A small authoritative DNS server for offline runs and tests: it answers
//! over UDP and TCP from standard zone files (RFC 1035 §5), with faults
//! injected per name: SERVFAIL, REFUSED, FORMERR, no answer (timeout),
//! truncation, malformed replies, lame answers and oversize UDP replies;
//! and, as a whole, a server that does not echo the question's case.
//!
//! Faults are written in the zone file as comments, so the same file loads
//! unchanged in another server (knot, nsd):
//!
//! ```text
//! ;! fault down.shop.zz. servfail
//! ;! fault slow.shop.zz. timeout MX
//! ;! fault *.flaky.zz. truncate
//! ```
//!
//! It never recurses and never forwards: names outside its zones are REFUSED.
#![warn(missing_docs)]

pub mod server;
pub mod zone;

pub use server::{LabServer, QueryLog};
pub use zone::{Fault, FaultKind, Lab, Zone, ZoneError};
