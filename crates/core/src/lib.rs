//! # prebounce-core
//!
//! The part of prebounce that does no I/O: address and domain syntax
//! ([`address`]), IP address classes ([`net`]), the typed DNS evidence
//! ([`evidence`]), the verdict model ([`verdict`]), the assessment of MX
//! targets ([`rules`]) and the one pure decision that turns evidence, past
//! observations and policy into a verdict ([`decide`]).
//!
//! ```
//! use std::sync::Arc;
//! use prebounce_core::evidence::*;
//! use prebounce_core::rules::{judge, Policy};
//! use prebounce_core::verdict::{Action, Reason};
//!
//! // example.net publishes `MX 0 .`: a null MX (RFC 7505).
//! let null = MxRecord { preference: 0, exchange: ".".into() };
//! let evidence = DomainEvidence {
//!     domain: "shop.example.net".into(),
//!     mx: Lookup { status: QueryStatus::Answer, records: vec![null.clone()], cname: vec![] },
//!     targets: vec![MxTarget { mx: null, host: None }],
//!     implicit: None,
//!     probe: None,
//!     typos: TypoEvidence::default(),
//! };
//! let verdict = judge(&evidence, &Policy::default());
//! assert_eq!(verdict.reason, Reason::NullMx);
//! assert_eq!(verdict.action(), Action::Suppress);
//! assert_eq!(verdict.status().unwrap().to_string(), "5.1.10");
//! ```
#![warn(missing_docs)]

pub mod address;
pub mod decide;
pub mod duration;
pub mod evidence;
pub mod history;
pub mod ipfmt;
pub mod net;
pub mod probe;
pub mod rules;
pub mod verdict;
