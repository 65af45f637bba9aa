//! One resolver and one cache for a whole run.
//!
//! Every host's A/AAAA is asked at most once: identical lookups in flight
//! are merged into one, and the evidence is kept (compact, shared by every
//! domain that uses the host) for the rest of the run, so MX hosts shared
//! by thousands of domains are resolved once. A domain's MX is asked once
//! too: the caller (the `Checker`) keeps one result per domain.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join, join_all, FutureExt};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use prebounce_core::evidence::{
    DomainEvidence, ExchangeKind, HostEvidence, Lookup, MxRecord, MxTarget, QueryStatus,
};
use tokio::sync::Semaphore;

use crate::interpret::{interpret, Interpretation, MAX_CNAME_CHAIN};
use crate::oncemap::OnceMap;
use crate::transport::{Reply, Transport, TransportStats};

/// Counters of one resolver, for the run's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolverStats {
    /// Questions sent through the transport (retries inside it not counted).
    pub queries: u64,
    /// Host lookups answered from the cache or merged with one in flight.
    pub cache_hits: u64,
    /// The transport's own counters.
    pub transport: TransportStats,
}

/// In a long-lived process, a temporary failure (SERVFAIL, timeout) is
/// kept at most this long before it is asked again, whatever the cache's
/// lifetime.
pub const TEMPORARY_TTL: Duration = Duration::from_secs(30);

/// How long a cached value may serve: `ttl`, shortened to
/// [`TEMPORARY_TTL`] when `temporary`.
pub fn cache_lifetime(ttl: Duration, temporary: bool) -> Duration {
    if temporary {
        ttl.min(TEMPORARY_TTL)
    } else {
        ttl
    }
}

struct Inner {
    transport: Box<dyn Transport>,
    hosts: Arc<OnceMap<Arc<HostEvidence>>>,
    /// None: host lookups are cached for the resolver's lifetime (a run);
    /// Some: for this long (a long-lived process).
    cache_ttl: Option<Duration>,
    permits: Semaphore,
    queries: AtomicU64,
    hits: AtomicU64,
}

/// A caching, merging resolver over a [`Transport`]. Cheap to clone: clones
/// share the cache.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("stats", &self.stats())
            .finish()
    }
}

fn host_lifetime(h: &HostEvidence, ttl: Duration) -> Duration {
    cache_lifetime(
        ttl,
        h.a.status.is_temporary() || h.aaaa.status.is_temporary(),
    )
}

fn fqdn(name: &Name) -> Name {
    let mut n = name.to_lowercase();
    n.set_fqdn(true);
    n
}

/// A name as text: lowercase, no trailing dot, the root as `.`; bytes
/// that are not plain in a host name escaped as hickory escapes them
/// (`Name::to_ascii`).
pub fn name_text(name: &Name) -> String {
    if name.is_root() {
        return ".".into();
    }
    // The common case, a name of plain labels, is written here directly:
    // the same text as hickory's, which built a lowercase copy of the name
    // and formatted it label by label (about 1,300 instructions a name).
    let mut s = Vec::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        let plain = match label.split_first() {
            Some((&first, rest)) => {
                plain_label_byte(first, true) && rest.iter().all(|&b| plain_label_byte(b, false))
            }
            None => true,
        };
        if !plain {
            return hickory_name_text(name);
        }
        if i > 0 {
            s.push(b'.');
        }
        s.extend_from_slice(label);
    }
    s.make_ascii_lowercase();
    // Plain bytes are ASCII: this cannot fail (checked once per name, not
    // per label).
    String::from_utf8(s).unwrap_or_else(|_| hickory_name_text(name))
}

/// A byte hickory writes as itself in a label (its `is_safe_ascii` for
/// encoding): ASCII letters and digits, `_`, `-` but not first, `*` first.
fn plain_label_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || (b == b'-' && !first) || (b == b'*' && first)
}

/// The name `text` stands for (a domain or host as [`name_text`] writes
/// it: no trailing dot), fully qualified: what `Name::from_ascii` makes of
/// `text` with a dot appended, `None` where that fails. Names of plain
/// labels (ASCII letters, digits, `_`, and `-` but not first) are built
/// from their wire form by hickory's decoder, in about a third of the
/// instructions; anything else goes through `Name::from_ascii`. A property
/// test holds the two equal.
fn name_of_text(text: &str) -> Option<Name> {
    plain_name(text).or_else(|| Name::from_ascii(format!("{text}.")).ok())
}

/// [`name_of_text`] for names of plain labels; `None` for anything else.
fn plain_name(text: &str) -> Option<Name> {
    let bytes = text.as_bytes();
    // With the first length byte and the root's, at most 255 on the wire.
    if bytes.is_empty() || bytes.len() > 253 {
        return None;
    }
    let mut wire = [0u8; 256];
    // Where the current label's length byte goes, and its length so far.
    let (mut at, mut len) = (0, 0);
    for &b in bytes {
        if b == b'.' {
            if len == 0 {
                return None;
            }
            wire[at] = len as u8;
            at += 1 + len;
            len = 0;
        } else {
            // hickory's parser takes `-` anywhere but first.
            if len == 63 || !(b.is_ascii_alphanumeric() || b == b'_' || (b == b'-' && len > 0)) {
                return None;
            }
            wire[at + 1 + len] = b;
            len += 1;
        }
    }
    if len == 0 {
        return None;
    }
    wire[at] = len as u8;
    // The root label follows: already 0.
    let end = at + 1 + len + 1;
    let mut name = Name::read(&mut BinDecoder::new(&wire[..end])).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// [`name_text`] through hickory: any name, escapes included.
fn hickory_name_text(name: &Name) -> String {
    if name.is_root() {
        return ".".into();
    }
    let mut s = name.to_lowercase().to_ascii();
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// The default ceiling of questions in flight for `domains` checked at
/// once: three quarters of them (192 for 256).
///
/// - A server's socket holds only so many waiting queries: with Linux's
///   default receive buffer (`net.core.rmem_default`, 212,992 bytes; Unbound
///   and Knot keep it unless told otherwise) about 200 small datagrams.
///   Beyond that, whatever arrives while the server is busy or off the CPU
///   is dropped, and each drop costs a retransmission timeout (100 ms at
///   least). In the benchmark, 256 in flight lost about 600 queries of
///   168,000 to knot's socket, 224 lost about 230, and 192 lost none.
/// - More domains than questions keep the questions' slots full: a domain
///   waiting for a slot is ready to ask the moment one frees.
pub fn default_in_flight(domains: usize) -> usize {
    (domains - domains / 4).max(1)
}

impl Resolver {
    /// A resolver sending at most `max_in_flight` questions at once.
    pub fn new(transport: impl Transport, max_in_flight: usize) -> Resolver {
        Self::with_cache_ttl(transport, max_in_flight, None)
    }

    /// A resolver for a long-lived process: a host lookup is cached for
    /// `cache_ttl` (a temporary failure for [`TEMPORARY_TTL`] at most), then
    /// asked again. `None` caches for the resolver's lifetime, as
    /// [`Resolver::new`] does.
    pub fn with_cache_ttl(
        transport: impl Transport,
        max_in_flight: usize,
        cache_ttl: Option<Duration>,
    ) -> Resolver {
        Resolver {
            inner: Arc::new(Inner {
                transport: Box::new(transport),
                hosts: Arc::new(OnceMap::keyed(|h| &h.name)),
                cache_ttl,
                permits: Semaphore::new(max_in_flight.max(1)),
                queries: AtomicU64::new(0),
                hits: AtomicU64::new(0),
            }),
        }
    }

    /// Drops cached host lookups older than the cache's lifetime (only
    /// with a `cache_ttl`); returns how many.
    pub fn sweep(&self) -> usize {
        match self.inner.cache_ttl {
            Some(ttl) => self.inner.hosts.sweep(|h| host_lifetime(h, ttl)),
            None => 0,
        }
    }

    /// Host lookups cached or in flight.
    pub fn cached_hosts(&self) -> usize {
        self.inner.hosts.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> ResolverStats {
        ResolverStats {
            queries: self.inner.queries.load(Ordering::Relaxed),
            cache_hits: self.inner.hits.load(Ordering::Relaxed),
            transport: self.inner.transport.stats(),
        }
    }

    /// Looks up `rtype` records of `name` (following CNAME chains). Not
    /// cached: see [`Resolver::host`].
    pub async fn lookup(&self, name: &Name, rtype: RecordType) -> Interpretation {
        self.resolve(fqdn(name), rtype).await
    }

    /// [`Resolver::lookup`] of a name already lowercase and fully
    /// qualified (built here from lowercase text): without the copy that
    /// lowercases it.
    async fn lookup_lowercase(&self, name: &Name, rtype: RecordType) -> Interpretation {
        debug_assert!(name.is_fqdn() && name.eq_case(&fqdn(name)), "{name}");
        self.resolve(name.clone(), rtype).await
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Interpretation {
        let _permit = self.inner.permits.acquire().await;
        self.inner.queries.fetch_add(1, Ordering::Relaxed);
        match self.inner.transport.query(name, rtype).await {
            Reply::Read(read) => *read,
            reply => interpret(name, rtype, &reply),
        }
    }

    /// Asks, then follows a CNAME chain the server left unfinished (an
    /// authoritative server answers only for its own zone). Chased names
    /// bypass the cache so a loop cannot wait on itself.
    async fn resolve(&self, name: Name, rtype: RecordType) -> Interpretation {
        let mut result = self.ask(&name, rtype).await;
        while let Some(next) = result.chase.take() {
            if result.cname.len() >= MAX_CNAME_CHAIN || next == name {
                result.status = QueryStatus::ServFail;
                break;
            }
            let more = self.ask(&fqdn(&next), rtype).await;
            if more
                .cname
                .iter()
                .any(|c| result.cname.contains(c) || *c == name)
            {
                result.status = QueryStatus::ServFail;
                break;
            }
            result.cname.extend(more.cname);
            result.status = more.status;
            result.records = more.records;
            result.chase = more.chase;
            result.rcode = more.rcode;
        }
        result
    }

    /// The A and AAAA lookups of `host` (asked together), once per run.
    pub async fn host(&self, host: &Name) -> Arc<HostEvidence> {
        self.host_named(&name_text(host), Some(host))
            .await
            .expect("a name's own text is a name")
    }

    /// [`Resolver::host`] by the host's text (lowercase, no trailing dot,
    /// as [`name_text`] writes it): a host already looked up costs one map
    /// lookup, no name parsed. `None` when the text is not a name.
    async fn host_named(&self, key: &str, name: Option<&Name>) -> Option<Arc<HostEvidence>> {
        if let Some(ttl) = self.inner.cache_ttl {
            self.inner.hosts.expire(key, |h| host_lifetime(h, ttl));
        }
        let ticket = match self.inner.hosts.get(key) {
            Some(t) => {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                t
            }
            None => {
                let me = self.clone();
                let host = match name {
                    Some(n) => fqdn(n),
                    None => name_of_text(key)?,
                };
                let (t, started) = self.inner.hosts.get_or_start(key, move || {
                    async move {
                        let (a, aaaa) = join(
                            me.lookup_lowercase(&host, RecordType::A),
                            me.lookup_lowercase(&host, RecordType::AAAA),
                        )
                        .await;
                        Arc::new(HostEvidence {
                            name: name_text(&host),
                            a: addr_lookup(&a),
                            aaaa: addr_lookup(&aaaa),
                        })
                    }
                    .boxed()
                });
                if !started {
                    self.inner.hits.fetch_add(1, Ordering::Relaxed);
                }
                t
            }
        };
        Some(ticket.wait().await)
    }

    /// Gathers the evidence for a mail domain (ASCII, lowercase, no trailing
    /// dot): the MX query; on NODATA the domain's A/AAAA (implicit MX,
    /// RFC 5321 §5.1); for every MX exchange that is a host name, its A/AAAA.
    pub async fn gather(&self, domain: &str) -> DomainEvidence {
        let Some(name) = name_of_text(domain) else {
            return DomainEvidence {
                domain: domain.to_string(),
                mx: Lookup::empty(QueryStatus::Malformed),
                targets: Vec::new(),
                implicit: None,
                probe: None,
                typos: Default::default(),
            };
        };
        // Built from the domain's text: lowercase unless the caller broke
        // the rule above.
        let name = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            fqdn(&name)
        } else {
            name
        };
        let mx = self.lookup_lowercase(&name, RecordType::MX).await;
        let mut records: Vec<MxRecord> = mx
            .records
            .iter()
            .filter_map(|r| match r {
                RData::MX(m) => Some(MxRecord {
                    preference: m.preference,
                    exchange: name_text(&m.exchange),
                }),
                _ => None,
            })
            .collect();
        records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
        records.dedup();
        // The rules judge an answer by its MX records: one without any
        // (data that did not decode as MX) is a malformed reply.
        let status = match mx.status {
            QueryStatus::Answer if records.is_empty() => QueryStatus::Malformed,
            s => s,
        };
        let mx_lookup = Lookup {
            status,
            records: records.clone(),
            cname: mx.cname.iter().map(name_text).collect(),
        };

        let mut implicit = None;
        let mut targets = Vec::new();
        match status {
            QueryStatus::NoData => implicit = Some(self.host(&name).await),
            QueryStatus::Answer => {
                let hosts = join_all(records.iter().map(|r| async move {
                    if ExchangeKind::of(&r.exchange) != ExchangeKind::Host {
                        return None;
                    }
                    // The exchange is already a host's text (name_text).
                    self.host_named(&r.exchange, None).await
                }))
                .await;
                targets = records
                    .into_iter()
                    .zip(hosts)
                    .map(|(mx, host)| MxTarget { mx, host })
                    .collect();
            }
            _ => {}
        }
        DomainEvidence {
            domain: domain.to_string(),
            mx: mx_lookup,
            targets,
            implicit,
            probe: None,
            typos: Default::default(),
        }
    }
}

fn addr_lookup(i: &Interpretation) -> Lookup<IpAddr> {
    let records: Vec<IpAddr> = i
        .records
        .iter()
        .filter_map(|r| match r {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    Lookup {
        // An answer is judged by its addresses: one without any is malformed.
        status: match i.status {
            QueryStatus::Answer if records.is_empty() => QueryStatus::Malformed,
            s => s,
        },
        records,
        cname: i.cname.iter().map(name_text).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Reply, ReplyFuture};
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::MX;
    use hickory_proto::rr::Record;
    use prebounce_core::rules::{judge, Policy};
    use prebounce_core::verdict::Action;

    /// Answers every question with the same message.
    struct Canned(Message);

    impl Transport for Canned {
        fn query<'a>(&'a self, _: &'a Name, _: RecordType) -> ReplyFuture<'a> {
            let reply = Reply::Message(Box::new(self.0.clone()));
            Box::pin(async move { reply })
        }

        fn stats(&self) -> TransportStats {
            TransportStats::default()
        }
    }

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn name_text_writes_what_hickory_writes() {
        let names = [
            ".",
            "mx.example.com.",
            "MX.Example.COM.",
            "mx.example.com",
            "_dmarc.x.test.",
            "*.x.test.",
            "a-b.x.test.",
            "0.x.test.",
            "xn--bcher-kva.test.",
        ];
        for text in names {
            let name = n(text);
            assert_eq!(name_text(&name), hickory_name_text(&name), "{text}");
        }
        assert_eq!(name_text(&n("MX.Example.COM.")), "mx.example.com");
        assert_eq!(name_text(&n(".")), ".");
        // One label that hickory escapes makes the whole name take its path.
        for label in [&b"-a"[..], b"a*", b"*a", b"_a", b"a-", b"a.b", b"A"] {
            let name = Name::from_labels([label, b"x", b"test"]).unwrap();
            assert_eq!(name_text(&name), hickory_name_text(&name), "{label:?}");
        }
        assert_eq!(
            name_text(&Name::from_labels([&b"-a"[..], b"x"]).unwrap()),
            "\\-a.x"
        );
        let odd = Name::from_labels([&b"-a"[..], b"b*", b"c.d", b"e f", b"\\", b"\xff\x00", b"X"])
            .unwrap();
        assert_eq!(name_text(&odd), hickory_name_text(&odd));
        assert!(name_text(&odd).contains('\\'), "{}", name_text(&odd));
    }

    proptest::proptest! {
        /// Any labels at all (the bytes a reply may carry): the same text.
        #[test]
        fn name_text_equals_hickory_on_any_labels(
            labels in proptest::collection::vec(
                proptest::prop_oneof![
                    // Nearly plain: where `-` and `*` may stand matters.
                    proptest::collection::vec(proptest::sample::select(b"aZ09-_*".to_vec()), 1..6),
                    proptest::collection::vec(
                        proptest::prop_oneof![
                            proptest::sample::select(b"aZ09-_*.\\ ".to_vec()),
                            proptest::num::u8::ANY,
                        ],
                        1..12,
                    ),
                ],
                0..5,
            ),
            fqdn in proptest::bool::ANY,
        ) {
            let mut name = Name::from_labels(labels.iter().map(|l| l.as_slice())).unwrap();
            name.set_fqdn(fqdn);
            proptest::prop_assert_eq!(name_text(&name), hickory_name_text(&name));
        }
    }

    proptest::proptest! {
        /// Text near the edges of plain (dots, hyphens, underscores, long
        /// labels, escapes, other bytes): the same name as hickory's
        /// parser makes of it, label bytes and all, or none from both.
        #[test]
        fn name_of_text_equals_hickory(
            text in proptest::prop_oneof![
                "[a-zA-Z0-9_.-]{0,20}",
                "[a-z]{60,66}\\.[a-z0-9-]{1,4}",
                "([a-z]{40,63}\\.){3,6}[a-z]{1,10}",
                "[a-z]{1,4}[*\\\\ @ä\\x00][a-z]{0,3}\\.zz",
            ],
        ) {
            let hickory = Name::from_ascii(format!("{text}.")).ok();
            let ours = name_of_text(&text);
            let labels = |n: &Option<Name>| {
                n.as_ref().map(|n| (n.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), n.is_fqdn()))
            };
            proptest::prop_assert_eq!(labels(&ours), labels(&hickory), "{:?}", text);
            if plain_name(&text).is_some() {
                proptest::prop_assert!(hickory.is_some());
            }
        }
    }

    /// Found by the `reply` fuzz target: an MX (or address) record with an
    /// empty RDATA made the evidence an answer without records, and the
    /// rules panicked on it. Now it is malformed: retry.
    #[tokio::test]
    async fn empty_records_are_malformed_not_a_panic() {
        for (owner, rtype) in [("d.test.", RecordType::MX), ("mx.d.test.", RecordType::A)] {
            let mut m = Message::new(1, MessageType::Response, OpCode::Query);
            m.metadata.response_code = ResponseCode::NoError;
            m.answers = vec![
                Record::from_rdata(n("d.test."), 60, RData::MX(MX::new(10, n("mx.d.test.")))),
                Record::update0(n(owner), 60, rtype),
            ];
            let resolver = Resolver::new(Canned(m), 4);
            let ev = resolver.gather("d.test").await;
            let verdict = judge(&ev, &Policy::default());
            assert_eq!(
                verdict.action(),
                Action::Retry,
                "{owner} {rtype}: {verdict:?}"
            );
        }
    }
}
