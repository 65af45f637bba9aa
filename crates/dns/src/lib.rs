//! # prebounce-dns
//!
//! The DNS layer of prebounce: a [`Transport`] trait with two engines, the
//! [`BulkTransport`] (a rotating pool of sockets, one timer task, adaptive
//! retransmission) and the simple [`StubTransport`] (a socket per query,
//! UDP then TCP on truncation, timeouts and attempts), a pure
//! reply reader ([`interpret`]) that tells NODATA from NXDOMAIN from
//! referrals, and the [`Resolver`]: one cache for the whole run, merged
//! in-flight queries, and [`Resolver::gather`], which collects the
//! [`prebounce_core::evidence::DomainEvidence`] of a mail domain. The
//! engines' defences against spoofed replies (random source ports, DNS
//! 0x20, no oversize UDP replies) are described in [`guard`].
//!
//! The bulk engine reads plain replies with its own lean reader
//! ([`wire::read_reply`], held to hickory plus [`interpret`] by property
//! tests and a fuzz target) and leaves anything else to hickory.
//!
//! The bulk engine's retransmission rules are the pure [`rto::RetryPolicy`];
//! the [`MemoryTransport`] answers from a lab zone in memory, without
//! sockets, for tests and embedding.
#![warn(missing_docs)]

pub mod bulk;
pub mod guard;
pub mod hickory;
pub mod interpret;
pub mod memory;
pub mod oncemap;
pub mod resolver;
pub mod rto;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod resolver_tests;

pub use bulk::{BulkConfig, BulkTransport};
pub use hickory::HickoryTransport;
pub use memory::MemoryTransport;
pub use resolver::{cache_lifetime, default_in_flight, Resolver, ResolverStats, TEMPORARY_TTL};
pub use transport::{
    parse_server, Reply, StubConfig, StubTransport, SystemConfig, Transport, TransportStats,
};
