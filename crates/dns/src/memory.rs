//! An in-memory transport: questions answered by a [`Lab`] built from zone
//! text, with no socket.
//!
//! [`MemoryTransport`] is made for tests of everything above the wire (the
//! [`Resolver`](crate::Resolver): CNAME chases, merged lookups, the cache,
//! evidence) and for embedding an offline DNS world in a program. It keeps
//! the parts of the wire that matter to those: every question is encoded to
//! bytes, answered by [`Lab::reply_bytes`] (so the lab's fault directives
//! apply: `servfail`, `refused`, `formerr`, `timeout`, `truncate`,
//! `malformed`, `lame`) and decoded again; a truncated reply is asked again
//! "over TCP" (the lab's TCP answer); lost copies are sent again on the
//! bulk engine's schedule ([`RetryPolicy`], with the round trip measured
//! and smoothed the same way), and a reply to an earlier copy that arrives
//! after a retransmission is accepted, as the bulk engine does.
//!
//! On top of that it can
//!
//! - count the questions it is asked and the copies it sends, per name and
//!   type ([`MemoryTransport::questions`], [`MemoryTransport::copies`],
//!   [`MemoryTransport::asked`]);
//! - lose the next N copies of a question ([`MemoryTransport::drop_first`]),
//!   to exercise retransmission;
//! - delay every reply, or one question's ([`MemoryTransport::set_delay`],
//!   [`MemoryTransport::set_delay_for`]), so lookups overlap in flight.
//!
//! Waiting uses Tokio's clock: under a paused clock
//! (`#[tokio::test(start_paused = true)]`) a 6-second timeout takes no
//! real time, and the instants are exact.
//!
//! The lab's drop rate ([`Lab::set_drop_rate`]) loses that share of
//! replies at random, as the lab server does over UDP.
//!
//! A clone shares everything (counters, drops, delays): keep one to look at
//! the counts after handing the other to a `Resolver`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{Name, RecordType};
use prebounce_lab::{Lab, Zone, ZoneError};
use tokio::time::{sleep_until, Instant};

use crate::resolver::name_text;
use crate::rto::{RetryPolicy, SmoothedRtt, Step};
use crate::transport::{
    build_query, matches_request, Reply, ReplyFuture, Transport, TransportStats,
};

type Key = (String, RecordType);

#[derive(Default)]
struct State {
    questions: HashMap<Key, u64>,
    copies: HashMap<Key, u64>,
    drops: HashMap<Key, u64>,
    delays: HashMap<Key, Duration>,
    delay: Duration,
}

struct Inner {
    lab: Lab,
    policy: RetryPolicy,
    srtt: SmoothedRtt,
    state: Mutex<State>,
    sent: AtomicU64,
    retransmits: AtomicU64,
    unmatched: AtomicU64,
    tcp: AtomicU64,
}

/// A [`Transport`] that asks a [`Lab`] in memory (see the
/// [module](self)). Cheap to clone; clones share counters and settings.
#[derive(Clone)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("zones", &self.inner.lab.zones().len())
            .field("policy", &self.inner.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A name as the counters key it: lowercase, no trailing dot (the root `.`).
fn key_of(name: &str, rtype: RecordType) -> Key {
    let mut name = name.to_ascii_lowercase();
    if name.len() > 1 && name.ends_with('.') {
        name.pop();
    }
    (name, rtype)
}

/// What arrives for one copy.
enum Incoming {
    Message(Box<Message>),
    Malformed(String),
}

impl MemoryTransport {
    /// Answers from `lab`, with the bulk engine's defaults: 3 s timeout,
    /// 2 attempts, 100 ms minimum retransmission timeout.
    pub fn new(lab: Lab) -> MemoryTransport {
        Self::with_policy(
            lab,
            RetryPolicy::new(Duration::from_secs(3), 2, Duration::from_millis(100)),
        )
    }

    /// Answers from `lab`, retransmitting by `policy`.
    pub fn with_policy(lab: Lab, policy: RetryPolicy) -> MemoryTransport {
        MemoryTransport {
            inner: Arc::new(Inner {
                lab,
                policy,
                srtt: SmoothedRtt::default(),
                state: Mutex::new(State::default()),
                sent: AtomicU64::new(0),
                retransmits: AtomicU64::new(0),
                unmatched: AtomicU64::new(0),
                tcp: AtomicU64::new(0),
            }),
        }
    }

    /// Answers from the zones in `texts` (zone files, with their `;! fault`
    /// directives), with the default policy.
    pub fn from_zones<'a>(
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<MemoryTransport, ZoneError> {
        let mut lab = Lab::new();
        for text in texts {
            let (zone, faults) = Zone::parse(text, None)?;
            lab.add_zone(zone, faults)?;
        }
        Ok(Self::new(lab))
    }

    /// The lab answering.
    pub fn lab(&self) -> &Lab {
        &self.inner.lab
    }

    /// The retransmission policy.
    pub fn policy(&self) -> RetryPolicy {
        self.inner.policy
    }

    /// The smoothed round-trip time measured so far.
    pub fn srtt(&self) -> Option<Duration> {
        self.inner.srtt.get()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times `rtype` of `name` was asked ([`Transport::query`]
    /// calls), whatever came of it. `name` in any case, with or without the
    /// trailing dot.
    pub fn questions(&self, name: &str, rtype: RecordType) -> u64 {
        let key = key_of(name, rtype);
        self.state().questions.get(&key).copied().unwrap_or(0)
    }

    /// How many copies of the question were sent: first transmissions,
    /// retransmissions (lost copies included) and the TCP retry after a
    /// truncated reply.
    pub fn copies(&self, name: &str, rtype: RecordType) -> u64 {
        let key = key_of(name, rtype);
        self.state().copies.get(&key).copied().unwrap_or(0)
    }

    /// Every question asked so far, with its count, sorted by name and type.
    pub fn asked(&self) -> Vec<(String, RecordType, u64)> {
        let mut all: Vec<_> = self
            .state()
            .questions
            .iter()
            .map(|((n, t), c)| (n.clone(), *t, *c))
            .collect();
        all.sort_by(|a, b| (&a.0, u16::from(a.1)).cmp(&(&b.0, u16::from(b.1))));
        all
    }

    /// How many questions were asked in all.
    pub fn total_questions(&self) -> u64 {
        self.state().questions.values().sum()
    }

    /// Loses the next `n` copies of `rtype` of `name` sent over UDP (added
    /// to any still pending): no reply comes for them.
    pub fn drop_first(&self, name: &str, rtype: RecordType, n: u64) {
        *self.state().drops.entry(key_of(name, rtype)).or_default() += n;
    }

    /// Every reply arrives `delay` after its copy was sent (a round trip).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// Replies to `rtype` of `name` take `delay`, instead of the common one.
    pub fn set_delay_for(&self, name: &str, rtype: RecordType, delay: Duration) {
        self.state().delays.insert(key_of(name, rtype), delay);
    }

    /// Counts a copy of `key`, and tells whether it is lost and how long
    /// its reply takes.
    fn send_copy(&self, key: &Key) -> (bool, Duration) {
        let mut state = self.state();
        *state.copies.entry(key.clone()).or_default() += 1;
        let lost = match state.drops.get_mut(key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let delay = state.delays.get(key).copied().unwrap_or(state.delay);
        (lost, delay)
    }

    /// The lab's reply to `bytes`, as the client would take it: `None` when
    /// nothing comes back or what comes would be ignored.
    fn exchange(&self, request: &Message, bytes: &[u8], udp: bool) -> Option<Incoming> {
        let lab = &self.inner.lab;
        let reply = lab.reply_bytes(bytes, udp)?;
        if udp && lab.drop_rate() > 0.0 && rand::random::<f64>() < lab.drop_rate() {
            return None;
        }
        match Message::from_vec(&reply) {
            Ok(m)
                if m.metadata.message_type == MessageType::Response
                    && matches_request(request, &m) =>
            {
                Some(Incoming::Message(Box::new(m)))
            }
            Ok(_) => {
                self.inner.unmatched.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) if reply.len() >= 2 && reply[..2] == request.metadata.id.to_be_bytes() => Some(
                Incoming::Malformed(format!("unparseable reply from the lab: {e}")),
            ),
            Err(_) => {
                self.inner.unmatched.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Reply {
        let inner = &self.inner;
        let key = (name_text(name), rtype);
        *self.state().questions.entry(key.clone()).or_default() += 1;
        let request = build_query(name, rtype);
        let Ok(bytes) = request.to_vec() else {
            return Reply::Malformed("could not encode the query".into());
        };
        let first = Instant::now();
        let mut retry = inner.policy.start(first, inner.srtt.get());
        let mut timer = retry.timer_after(first);
        let mut now = first;
        let mut retransmitted = false;
        // The earliest reply on its way: when it arrives, and what it is.
        let mut inbound: Option<(Instant, Incoming)> = None;
        loop {
            inner.sent.fetch_add(1, Ordering::Relaxed);
            let (lost, delay) = self.send_copy(&key);
            if !lost {
                if let Some(incoming) = self.exchange(&request, &bytes, true) {
                    let at = now + delay;
                    if inbound.as_ref().is_none_or(|(t, _)| at < *t) {
                        inbound = Some((at, incoming));
                    }
                }
            }
            if let Some((at, incoming)) = inbound.take_if(|(at, _)| *at <= timer) {
                sleep_until(at).await;
                let incoming = match incoming {
                    Incoming::Malformed(e) => return Reply::Malformed(e),
                    Incoming::Message(m) => m,
                };
                if !retransmitted {
                    inner.srtt.sample(at - first);
                }
                if incoming.metadata.truncation {
                    return self.over_tcp(&key, &request, &bytes).await;
                }
                // SERVFAIL and REFUSED too: there is no other server to ask.
                return Reply::Message(incoming);
            }
            sleep_until(timer).await;
            now = timer;
            match retry.on_timer(now) {
                Step::GiveUp => return Reply::Timeout,
                Step::Retransmit { next } => {
                    timer = next;
                    retransmitted = true;
                    inner.retransmits.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The question again over TCP after a truncated reply: one try, within
    /// the per-attempt timeout, as the engines do.
    async fn over_tcp(&self, key: &Key, request: &Message, bytes: &[u8]) -> Reply {
        self.inner.tcp.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let timeout = self.inner.policy.timeout;
        let delay = {
            let mut state = self.state();
            *state.copies.entry(key.clone()).or_default() += 1;
            state.delays.get(key).copied().unwrap_or(state.delay)
        };
        match self.exchange(request, bytes, false) {
            Some(incoming) if delay < timeout => {
                sleep_until(start + delay).await;
                match incoming {
                    Incoming::Message(m) => Reply::Message(m),
                    Incoming::Malformed(e) => Reply::Malformed(e),
                }
            }
            _ => {
                sleep_until(start + timeout).await;
                Reply::Timeout
            }
        }
    }
}

impl Transport for MemoryTransport {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ReplyFuture<'a> {
        Box::pin(self.ask(name, rtype))
    }

    fn stats(&self) -> TransportStats {
        let i = &self.inner;
        TransportStats {
            sent: i.sent.load(Ordering::Relaxed),
            retransmits: i.retransmits.load(Ordering::Relaxed),
            unmatched: i.unmatched.load(Ordering::Relaxed),
            tcp: i.tcp.load(Ordering::Relaxed),
            ..TransportStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prebounce_core::evidence::QueryStatus;
    use prebounce_lab::LabServer;

    use crate::interpret::interpret;
    use crate::{BulkConfig, BulkTransport, Resolver};

    const ZONE: &str = "\
$ORIGIN shop.zz.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.53
@ MX 10 mx
mx A 192.0.2.25
www A 192.0.2.80
alias CNAME mx
away CNAME mail.other.yy.
big MX 10 mx
slow MX 10 mx
;! fault big.shop.zz. truncate
;! fault slow.shop.zz. timeout
;! fault broken.shop.zz. servfail
;! fault junk.shop.zz. malformed
";

    fn transport() -> MemoryTransport {
        MemoryTransport::from_zones([ZONE]).unwrap()
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    async fn status(t: &MemoryTransport, n: &str, rtype: RecordType) -> QueryStatus {
        let reply = t.query(&name(n), rtype).await;
        interpret(&name(n), rtype, &reply).status
    }

    #[tokio::test(start_paused = true)]
    async fn counts_questions_per_name_and_type_in_any_case() {
        let t = transport();
        assert_eq!(
            status(&t, "shop.zz.", RecordType::MX).await,
            QueryStatus::Answer
        );
        assert_eq!(
            status(&t, "SHOP.zz.", RecordType::MX).await,
            QueryStatus::Answer
        );
        assert_eq!(
            status(&t, "www.shop.zz.", RecordType::MX).await,
            QueryStatus::NoData
        );
        assert_eq!(
            status(&t, "no.shop.zz.", RecordType::A).await,
            QueryStatus::NxDomain
        );
        assert_eq!(
            status(&t, "other.yy.", RecordType::A).await,
            QueryStatus::Refused
        );
        assert_eq!(t.questions("shop.zz", RecordType::MX), 2);
        assert_eq!(t.questions("Shop.ZZ.", RecordType::MX), 2);
        assert_eq!(t.questions("shop.zz", RecordType::A), 0);
        assert_eq!(
            t.asked(),
            vec![
                ("no.shop.zz".to_string(), RecordType::A, 1),
                ("other.yy".to_string(), RecordType::A, 1),
                ("shop.zz".to_string(), RecordType::MX, 2),
                ("www.shop.zz".to_string(), RecordType::MX, 1),
            ]
        );
        assert_eq!(t.total_questions(), 5);
        assert_eq!(
            t.stats(),
            TransportStats {
                sent: 5,
                ..TransportStats::default()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_slower_than_the_rto_is_still_accepted() {
        let t = transport();
        t.set_delay_for("shop.zz", RecordType::MX, Duration::from_millis(700));
        let start = Instant::now();
        assert_eq!(
            status(&t, "shop.zz.", RecordType::MX).await,
            QueryStatus::Answer
        );
        // Sent again at 500 ms; the first copy's reply lands at 700 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(700));
        assert_eq!(t.copies("shop.zz", RecordType::MX), 2);
        assert_eq!(t.stats().retransmits, 1);
        // Karn: a question sent twice measures nothing.
        assert_eq!(t.srtt(), None);
        // Other questions keep the common delay (none).
        let start = Instant::now();
        status(&t, "mx.shop.zz.", RecordType::A).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn measured_round_trips_shorten_the_retransmission_timeout() {
        let t = transport();
        t.set_delay(Duration::from_millis(20));
        status(&t, "shop.zz.", RecordType::MX).await;
        assert_eq!(t.srtt(), Some(Duration::from_millis(20)));
        // RTO = max(4 x 20 ms, 100 ms): the lost copy is sent again at 100 ms.
        t.drop_first("mx.shop.zz.", RecordType::A, 1);
        let start = Instant::now();
        assert_eq!(
            status(&t, "mx.shop.zz.", RecordType::A).await,
            QueryStatus::Answer
        );
        assert_eq!(start.elapsed(), Duration::from_millis(120));
        assert_eq!(t.copies("mx.shop.zz", RecordType::A), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn policy_and_drop_rate_decide_when_to_give_up() {
        let mut lab = transport().lab().clone();
        lab.set_drop_rate(1.0);
        let policy = RetryPolicy::new(Duration::from_secs(1), 3, Duration::from_millis(100));
        let t = MemoryTransport::with_policy(lab, policy);
        assert_eq!(t.policy(), policy);
        let start = Instant::now();
        assert!(matches!(
            t.query(&name("shop.zz."), RecordType::MX).await,
            Reply::Timeout
        ));
        // 0, 0.5, 1.5, 2.5 s; gives up at 1 s x 3.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(t.copies("shop.zz", RecordType::MX), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn faults_truncation_and_a_slow_tcp_answer() {
        let t = transport();
        assert_eq!(
            status(&t, "broken.shop.zz.", RecordType::MX).await,
            QueryStatus::ServFail
        );
        assert_eq!(
            status(&t, "junk.shop.zz.", RecordType::MX).await,
            QueryStatus::Malformed
        );
        assert_eq!(
            status(&t, "big.shop.zz.", RecordType::MX).await,
            QueryStatus::Answer
        );
        assert_eq!(t.stats().tcp, 1);
        // The TCP answer takes as long as the timeout: it never comes.
        t.set_delay_for("big.shop.zz", RecordType::MX, Duration::from_secs(3));
        let start = Instant::now();
        assert_eq!(
            status(&t, "big.shop.zz.", RecordType::MX).await,
            QueryStatus::Timeout
        );
        // UDP reply at 3 s (before the 3.5 s retransmission), then 3 s of TCP.
        assert_eq!(start.elapsed(), Duration::from_secs(6));
        assert_eq!(t.stats().tcp, 2);
        assert_eq!(t.copies("big.shop.zz", RecordType::MX), 2 + 4);
    }

    /// The same questions through the bulk engine and the lab's real server
    /// on loopback, and through the memory transport: the same evidence.
    #[tokio::test]
    async fn answers_like_the_lab_server_over_loopback() {
        let memory = transport();
        let server = LabServer::start(memory.lab().clone(), "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let config = BulkConfig::new(vec![server.local_addr()]);
        let bulk = Resolver::new(BulkTransport::new(config).unwrap(), 16);
        let memory = Resolver::new(memory, 16);
        // No timeout fault here: waiting for one in real time is slow, and
        // the paused-clock tests above pin the timing.
        for domain in [
            "shop.zz",
            "www.shop.zz",
            "alias.shop.zz",
            "away.shop.zz",
            "no.shop.zz",
            "big.shop.zz",
            "broken.shop.zz",
            "junk.shop.zz",
            "other.yy",
        ] {
            let (a, b) = tokio::join!(bulk.gather(domain), memory.gather(domain));
            assert_eq!(a, b, "{domain}");
        }
        assert_eq!(bulk.stats().queries, memory.stats().queries);
    }
}
