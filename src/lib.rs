//! # prebounce
//!
//! Finds email addresses that cannot be delivered, from DNS evidence,
//! before any mail is sent. For every address it says **deliver**,
//! **retry** or **suppress**, with a stable reason code, an RFC 3463
//! enhanced status code and the MX evidence it saw. A temporary failure
//! (SERVFAIL, timeout) is never reported as permanent.
//!
//! The work is split the same way as the crates: [`prebounce_core`] holds
//! the syntax checks, the evidence types and the pure rules;
//! [`prebounce_dns`] gathers evidence through one caching resolver;
//! [`prebounce_lab`] is a small authoritative DNS server for offline runs.
//! This crate ties them together in a [`Checker`].
//!
//! ## Classifying one domain
//!
//! ```
//! use prebounce::{Checker, CheckerConfig};
//! use prebounce::core::verdict::{Action, Reason};
//! use prebounce::lab::{Lab, LabServer, Zone};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // A zone served on loopback, so the example needs no network.
//! let zone = "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n\
//!             shop MX 0 .\n";
//! let (zone, faults) = Zone::parse(zone, None).unwrap();
//! let mut lab = Lab::new();
//! lab.add_zone(zone, faults).unwrap();
//! let server = LabServer::start(lab, "127.0.0.1:0".parse().unwrap(), None).await?;
//!
//! let config = CheckerConfig::with_servers(vec![server.local_addr()]);
//! let checker = Checker::new(config)?;
//! let report = checker.check_domain("shop.zz").await;
//! assert_eq!(report.verdict.reason, Reason::NullMx);
//! assert_eq!(report.verdict.action(), Action::Suppress);
//!
//! let row = checker.check_address("ann@shop.zz").await;
//! assert_eq!(row.verdict.reason, Reason::NullMx);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod health;
pub mod history;
pub mod input;

#[cfg(test)]
mod brief_tests;
#[cfg(test)]
mod long_lived_tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use prebounce_core as core;
pub use prebounce_dns as dns;
pub use prebounce_hygiene as hygiene;
pub use prebounce_lab as lab;
pub use prebounce_probe as probe;
pub use prebounce_probe::{ProbeConfig, Prober};
pub use prebounce_store as store;

use health::Health;
pub use health::{HealthConfig, Outage, DEFAULT_CANARIES};
pub use history::{Clock, Guard, HistoryError, HistoryNote, HistorySetup, ReuseStats};
use history::{Record, Recorder};

use prebounce_core::address::{normalize_domain, parse_address, SyntaxError};
use prebounce_core::decide::{decide, judge, Past, Subject};
use prebounce_core::evidence::{DomainEvidence, Lookup, QueryStatus};
use prebounce_core::probe::probe_plan;
use prebounce_core::rules::{ImplicitMx, Policy};
use prebounce_core::verdict::{Action, Verdict, Warning};
use prebounce_dns::oncemap::{OnceMap, Ticket};
use prebounce_dns::{
    BulkConfig, BulkTransport, HickoryTransport, Resolver, StubConfig, StubTransport,
};

/// The evidence about one domain and the verdict on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainReport {
    /// The domain, ASCII lowercase.
    pub domain: String,
    /// What DNS said; `None` when the domain failed the syntax checks.
    pub evidence: Option<DomainEvidence>,
    /// The judgement.
    pub verdict: Verdict,
    /// When it was observed, and whether reused from the history store
    /// (boxed: a run without history keeps none, and a run keeps the report
    /// of every distinct domain).
    pub history: Option<Box<HistoryNote>>,
}

impl DomainReport {
    fn from_syntax(domain: &str, e: SyntaxError) -> DomainReport {
        DomainReport {
            domain: e.domain.clone().unwrap_or_else(|| domain.to_string()),
            evidence: None,
            verdict: syntax_verdict(&e, domain),
            history: None,
        }
    }
}

/// The report of a domain that was not checked because of a failure of
/// ours (`warning` says which): `retry`, never recorded.
fn our_fault(domain: String, why: &str) -> Arc<DomainReport> {
    fault_report(domain, why, Warning::ResolverUnhealthy)
}

fn fault_report(domain: String, why: &str, warning: Warning) -> Arc<DomainReport> {
    let verdict = decide(
        Subject::OurFault {
            domain: &domain,
            why,
            warning,
        },
        None,
        &Policy::default(),
        0,
    )
    .verdict;
    Arc::new(DomainReport {
        domain,
        evidence: None,
        verdict,
        history: None,
    })
}

/// The report of a domain whose check did not finish in time for its
/// answer (a server's per-request deadline): `retry` (`dns_failure`, warning
/// `unfinished`), built by the same rule as any failure of ours, so that
/// running out of time can never suppress anyone. `why` says what ran out,
/// in a few words. Nothing is recorded: the check itself goes on and is
/// cached when it ends.
pub fn unfinished_report(domain: &str, why: &str) -> Arc<DomainReport> {
    fault_report(domain.to_string(), why, Warning::Unfinished)
}

/// The verdict on an address or domain that failed the syntax checks; a
/// mistyped popular domain (`user@gmail`) gets the domain meant.
pub fn syntax_verdict(e: &SyntaxError, domain: &str) -> Verdict {
    let meant = prebounce_hygiene::suggest_domain(domain);
    decide(
        Subject::Syntax { error: e, meant },
        None,
        &Policy::default(),
        0,
    )
    .verdict
}

/// The verdict on one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressReport {
    /// The address as given, trimmed.
    pub address: String,
    /// The ASCII domain, when the address could be split.
    pub domain: Option<String>,
    /// The judgement.
    pub verdict: Verdict,
    /// The domain's report, when DNS was asked.
    pub report: Option<Arc<DomainReport>>,
}

/// The MX evidence in one line, as the CSV `mx` column and the history
/// store show it: `10 mx1.a.zz [192.0.2.1 2001:db8::1]; 20 mx2.a.zz
/// (unresolvable)`. Empty when there are no MX records.
pub fn mx_summary(ev: &DomainEvidence, policy: &Policy) -> String {
    let mut out = String::new();
    for (i, t) in ev.targets.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let a = prebounce_core::rules::assess_target(t, policy);
        // (Pushed, not formatted: every CSV row of a new domain has this
        // column, and `write!` cost about 900 instructions a target.)
        prebounce_core::ipfmt::push_u64(&mut out, u64::from(t.mx.preference));
        out.push(' ');
        out.push_str(&t.mx.exchange);
        out.push(' ');
        if a.addresses.is_empty() {
            out.push('(');
            out.push_str(a.state.as_str());
            out.push(')');
        } else {
            out.push('[');
            for (k, c) in a.addresses.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                prebounce_core::ipfmt::push_ip(&mut out, c.ip);
            }
            out.push(']');
        }
    }
    out
}

/// Which DNS engine sends the questions. Both give the same verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// A few long-lived UDP sockets, one timer task, adaptive
    /// retransmission: for lists of millions.
    #[default]
    Bulk,
    /// A socket per question, fixed timeouts: simple, slower.
    Stub,
    /// hickory-resolver: a reference and a fallback.
    Hickory,
}

/// How a [`Checker`] resolves and judges.
#[derive(Clone, Debug)]
pub struct CheckerConfig {
    /// DNS servers to ask (recursive resolvers, or the lab).
    pub servers: Vec<SocketAddr>,
    /// Timeout of each DNS attempt.
    pub timeout: Duration,
    /// DNS attempts per question.
    pub attempts: u32,
    /// DNS questions in flight at most.
    pub max_queries_in_flight: usize,
    /// Domains being checked at once at most.
    pub concurrency: usize,
    /// The rules' policy.
    pub policy: Policy,
    /// The DNS engine.
    pub engine: Engine,
    /// At most this many new questions per second (bulk engine).
    pub qps: Option<u32>,
    /// Port-25 probing, when asked for.
    pub probe: Option<ProbeSetup>,
    /// The history store, when on.
    pub history: Option<HistorySetup>,
    /// The resolver health check's canaries (none: no check).
    pub health: HealthConfig,
    /// `None` (a run): each domain is checked once and its report kept for
    /// the checker's lifetime. `Some(ttl)` (a long-lived process such as
    /// `serve` or `policy`): a report, and a cached MX host lookup, serve
    /// for `ttl` (a `retry` report and a temporary lookup for
    /// [`prebounce_dns::TEMPORARY_TTL`] at most) and are then checked again;
    /// call [`Checker::checkpoint`] now and then.
    pub cache_ttl: Option<Duration>,
}

/// Port-25 probing of a run.
#[derive(Clone, Debug)]
pub struct ProbeSetup {
    /// How probes are made.
    pub config: ProbeConfig,
    /// Probe every deliverable domain (`--probe`); when false, only the
    /// implicit MX of domains without MX (`--implicit-mx probe`).
    pub all: bool,
}

impl CheckerConfig {
    /// Defaults (3 s timeout, 2 attempts, 256 domains at once, 192 queries
    /// in flight (see [`prebounce_dns::default_in_flight`]), the default
    /// policy) with these servers.
    pub fn with_servers(servers: Vec<SocketAddr>) -> CheckerConfig {
        CheckerConfig {
            servers,
            timeout: Duration::from_secs(3),
            attempts: 2,
            max_queries_in_flight: prebounce_dns::default_in_flight(256),
            concurrency: 256,
            policy: Policy::default(),
            engine: Engine::default(),
            qps: None,
            probe: None,
            history: None,
            health: HealthConfig::default(),
            cache_ttl: None,
        }
    }
}

/// A domain's report, ready or as it becomes ready; clone it freely and
/// `wait()` for it.
#[derive(Clone)]
pub struct PendingReport {
    ticket: Ticket<Known>,
}

impl PendingReport {
    /// The report, once the domain is checked.
    pub async fn wait(self) -> Arc<DomainReport> {
        self.ticket.wait().await.open()
    }

    /// The report when the domain was checked already (most rows of a
    /// list: their domain came earlier), without waiting; else the pending
    /// report back.
    pub fn ready(self) -> Result<Arc<DomainReport>, PendingReport> {
        match self.ticket.now() {
            Ok(known) => Ok(known.open()),
            Err(ticket) => Err(PendingReport { ticket }),
        }
    }
}

/// What a run keeps of a finished domain: its report, or only its MX
/// query's status (and when it was observed, with history) when the report
/// says nothing more (see [`brief`]); the report is made again from that,
/// by the same rules, when a later row of the domain asks. A run keeps one
/// of these for every distinct domain, and a list's dead domains are mostly
/// of the second kind.
#[derive(Clone)]
enum Known {
    Full(Arc<DomainReport>),
    Brief(Brief),
}

/// A report kept as what makes it again (see [`brief_report`]).
#[derive(Clone)]
struct Brief {
    domain: Box<str>,
    status: QueryStatus,
    /// When the status was observed (a fresh observation of a domain
    /// without a past), or [`UNRECORDED`].
    observed: i64,
    /// The rules it was decided under (one for the whole run, shared).
    rules: Arc<Rules>,
}

impl Brief {
    fn report(&self) -> DomainReport {
        brief_report(&self.domain, self.status, self.observed, &self.rules)
    }
}

/// The observation time of a brief report made without history.
const UNRECORDED: i64 = i64::MIN;

impl Known {
    fn domain(&self) -> &str {
        match self {
            Known::Full(r) => &r.domain,
            Known::Brief(b) => &b.domain,
        }
    }

    /// The report this keeps.
    fn open(self) -> Arc<DomainReport> {
        match self {
            Known::Full(r) => r,
            Known::Brief(b) => Arc::new(b.report()),
        }
    }
}

/// What a brief report is decided under: today's policy, and the history
/// thresholds when history is on.
#[derive(Clone)]
struct Rules {
    policy: Policy,
    history: Option<prebounce_core::history::HistoryPolicy>,
}

/// The report of a domain whose MX query ended with `status` and found
/// nothing else: no records, no aliases, no probe, no typo findings, and
/// no past (a name that does not exist, a server failure, a timeout), seen
/// fresh at `observed` ([`UNRECORDED`]: without history).
fn brief_report(domain: &str, status: QueryStatus, observed: i64, rules: &Rules) -> DomainReport {
    let evidence = DomainEvidence {
        domain: domain.to_string(),
        mx: Lookup::empty(status),
        targets: Vec::new(),
        implicit: None,
        probe: None,
        typos: Default::default(),
    };
    let (verdict, history) = match &rules.history {
        Some(thresholds) if observed != UNRECORDED => {
            let none = prebounce_core::history::History::default();
            let past = Past {
                history: &none,
                policy: thresholds,
                today_counts: true,
            };
            let decision = decide(
                Subject::Evidence(&evidence),
                Some(past),
                &rules.policy,
                observed,
            );
            let note = HistoryNote {
                observed,
                reused: false,
                age: 0,
                past: none,
            };
            (decision.verdict, Some(Box::new(note)))
        }
        _ => {
            let decision = decide(Subject::Evidence(&evidence), None, &rules.policy, 0);
            (decision.verdict, None)
        }
    };
    DomainReport {
        domain: domain.to_string(),
        evidence: Some(evidence),
        verdict,
        history,
    }
}

/// The brief form of a report, when [`brief_report`] makes it again
/// exactly (checked here, field by field, so that a later row can never
/// differ from the first).
fn brief(known: &Known, rules: &Arc<Rules>) -> Option<Known> {
    let Known::Full(r) = known else {
        return None;
    };
    let ev = r.evidence.as_ref()?;
    let observed = match &r.history {
        None => UNRECORDED,
        Some(h) if !h.reused && h.age == 0 && h.observed != UNRECORDED => h.observed,
        Some(_) => return None,
    };
    let plain = ev.domain == r.domain
        && ev.mx.records.is_empty()
        && ev.mx.cname.is_empty()
        && ev.targets.is_empty()
        && ev.implicit.is_none()
        && ev.probe.is_none()
        && ev.typos.is_empty();
    (plain && brief_report(&r.domain, ev.mx.status, observed, rules) == **r).then(|| {
        Known::Brief(Brief {
            domain: r.domain.as_str().into(),
            status: ev.mx.status,
            observed,
            rules: rules.clone(),
        })
    })
}

/// The map of a run's domains: finished reports are kept brief when they
/// can be (`rules` given), or whole (a long-lived process, whose entries
/// expire: see [`CheckerConfig::cache_ttl`]).
fn domain_map(rules: Option<Rules>) -> OnceMap<Known> {
    let map = OnceMap::keyed(Known::domain);
    match rules {
        Some(rules) => {
            let rules = Arc::new(rules);
            map.settled(move |k| brief(k, &rules))
        }
        None => map,
    }
}

struct Inner {
    resolver: Resolver,
    prober: Option<(Prober, bool)>,
    history: Option<Recorder>,
    health: Health,
    policy: Policy,
    domains: Arc<OnceMap<Known>>,
    slots: Arc<Semaphore>,
    cache_ttl: Option<Duration>,
}

impl Inner {
    /// What brief reports are decided under.
    fn rules(&self) -> Rules {
        Rules {
            policy: self.policy.clone(),
            history: self.history.as_ref().map(|r| r.setup.policy.clone()),
        }
    }
}

/// How long a domain's report may serve in a long-lived process.
fn report_lifetime(k: &Known, ttl: Duration) -> Duration {
    let action = match k {
        Known::Full(r) => r.verdict.action(),
        Known::Brief(b) => b.report().verdict.action(),
    };
    prebounce_dns::cache_lifetime(ttl, action == Action::Retry)
}

/// Checks addresses and domains with one resolver and one cache: each
/// distinct domain is resolved and judged once per checker.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("resolver", &self.inner.resolver)
            .finish()
    }
}

impl Checker {
    /// A checker asking `config.servers` with the configured engine (the
    /// bulk engine needs a running Tokio runtime).
    pub fn new(config: CheckerConfig) -> std::io::Result<Checker> {
        let stub = StubConfig {
            servers: config.servers.clone(),
            timeout: config.timeout,
            attempts: config.attempts,
        };
        let in_flight = config.max_queries_in_flight;
        let ttl = config.cache_ttl;
        let resolver = match config.engine {
            Engine::Stub => Resolver::with_cache_ttl(StubTransport::new(stub)?, in_flight, ttl),
            Engine::Hickory => {
                Resolver::with_cache_ttl(HickoryTransport::new(stub)?, in_flight, ttl)
            }
            Engine::Bulk => Resolver::with_cache_ttl(
                BulkTransport::new(BulkConfig {
                    timeout: config.timeout,
                    attempts: config.attempts,
                    qps: config.qps,
                    ..BulkConfig::new(stub.servers)
                })?,
                in_flight,
                ttl,
            ),
        };
        let mut checker = Self::with_resolver(resolver, config.policy, config.concurrency);
        let inner = Arc::get_mut(&mut checker.inner).expect("not shared yet");
        if let Some(p) = config.probe {
            inner.prober = Some((Prober::new(p.config, inner.resolver.clone()), p.all));
        }
        inner.history = config.history.map(Recorder::new);
        inner.health = Health::new(config.health);
        inner.cache_ttl = config.cache_ttl;
        // Entries that expire are kept whole.
        inner.domains = Arc::new(domain_map(
            config.cache_ttl.is_none().then(|| inner.rules()),
        ));
        Ok(checker)
    }

    /// A checker over an existing resolver (any transport).
    pub fn with_resolver(resolver: Resolver, policy: Policy, concurrency: usize) -> Checker {
        let domains = Arc::new(domain_map(Some(Rules {
            policy: policy.clone(),
            history: None,
        })));
        Checker {
            inner: Arc::new(Inner {
                resolver,
                prober: None,
                history: None,
                health: Health::new(HealthConfig::default()),
                policy,
                domains,
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
                cache_ttl: None,
            }),
        }
    }

    /// The resolver (for its statistics).
    pub fn resolver(&self) -> &Resolver {
        &self.inner.resolver
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The port-25 prober, when probing is on.
    pub fn prober(&self) -> Option<&Prober> {
        self.inner.prober.as_ref().map(|(p, _)| p)
    }

    /// Adds port-25 evidence when today's policy wants it and the evidence
    /// lacks it: every domain DNS finds deliverable (`--probe`), or, under
    /// `--implicit-mx probe`, a domain that has only its own address.
    async fn probe_if_wanted(&self, evidence: &mut DomainEvidence) -> bool {
        let inner = &self.inner;
        let Some((prober, all)) = &inner.prober else {
            return false;
        };
        if evidence.probe.is_some() {
            return false;
        }
        let implicit = evidence.mx.status == QueryStatus::NoData
            && inner.policy.implicit_mx == ImplicitMx::Probe;
        let deliverable = *all && judge(evidence, &inner.policy).action() == Action::Deliver;
        if !(implicit || deliverable) {
            return false;
        }
        let plan = probe_plan(evidence, &inner.policy);
        if plan.is_empty() {
            return false;
        }
        evidence.probe = Some(Box::new(prober.probe_domain(plan).await));
        true
    }

    /// Gathers today's evidence: DNS, the probe when wanted, the typo
    /// analysis.
    async fn gather(&self, domain: &str) -> DomainEvidence {
        let mut evidence = self.inner.resolver.gather(domain).await;
        self.probe_if_wanted(&mut evidence).await;
        evidence.typos = prebounce_hygiene::analyse(&evidence);
        evidence
    }

    /// The report of a domain: its evidence (fresh, or stored and young
    /// enough) decided under today's policy in the light of its past.
    async fn report(&self, domain: String) -> Arc<DomainReport> {
        let policy = &self.inner.policy;
        if let Some(why) = self.inner.health.unhealthy() {
            return our_fault(domain, &why);
        }
        let Some(rec) = &self.inner.history else {
            let evidence = self.gather(&domain).await;
            let decision = decide(Subject::Evidence(&evidence), None, policy, 0);
            if let Some(reading) = decision.reading {
                self.observe(reading);
            }
            return Arc::new(DomainReport {
                domain,
                evidence: Some(evidence),
                verdict: decision.verdict,
                history: None,
            });
        };
        let state = match rec.take_ahead(&domain) {
            Some(state) => state,
            None => {
                let me = self.clone();
                let name = domain.clone();
                tokio::task::spawn_blocking(move || {
                    let rec = me.inner.history.as_ref().expect("history is on");
                    rec.take_state(&name)
                })
                .await
                .unwrap_or_default()
            }
        };
        let now = rec.now();
        let hp = &rec.setup.policy;
        if let Some(stored) = rec.reusable(&state, now) {
            let mut evidence = stored.evidence;
            if !self.probe_if_wanted(&mut evidence).await {
                // Decided again as of its own time, with the past it had.
                let past = Past {
                    history: &stored.past,
                    policy: hp,
                    today_counts: true,
                };
                let verdict =
                    decide(Subject::Evidence(&evidence), Some(past), policy, stored.at).verdict;
                return Arc::new(DomainReport {
                    domain,
                    evidence: Some(evidence),
                    verdict,
                    history: Some(Box::new(HistoryNote {
                        observed: stored.at,
                        reused: true,
                        age: now - stored.at,
                        past: stored.past,
                    })),
                });
            }
            // Today's policy needed a probe the stored evidence lacked: the
            // probe is new, so this is a new observation.
            return self.record(rec, domain, evidence, state, now).await;
        }
        let evidence = self.gather(&domain).await;
        self.record(rec, domain, evidence, state, now).await
    }

    /// Counts a fresh reading of a run without history; a spike of
    /// temporary failures or NXDOMAINs asks the health check again.
    fn observe(&self, reading: prebounce_core::verdict::Reason) {
        let health = &self.inner.health;
        if health.observe(reading) && health.enabled() {
            let me = self.clone();
            tokio::spawn(async move {
                let _ = me.check_resolver(true).await;
            });
        }
    }

    /// The resolver health check (see [`health`]): `Err` says why the
    /// resolver is unhealthy, and from then on no domain is judged on its
    /// answers (rows are `retry`, warning `resolver_unhealthy`). `force`
    /// asks again even when a check passed lately. Without canaries, `Ok`.
    pub async fn check_resolver(&self, force: bool) -> Result<(), String> {
        let health = &self.inner.health;
        if !health.enabled() {
            return Ok(());
        }
        let _one = health.single_flight().await;
        if let Some(why) = health.unhealthy() {
            return Err(why);
        }
        if !force && health.fresh() {
            return Ok(());
        }
        health
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let canaries = &health.config.canaries;
        let mut failures = Vec::new();
        let mut answered = Vec::new();
        for c in canaries {
            let ev = self.inner.resolver.gather(c).await;
            let v = judge(&ev, &self.inner.policy);
            match health::canary_ok(c, v.action(), v.reason) {
                Ok(()) => answered.push(c.clone()),
                Err(e) => failures.push(e),
            }
        }
        let made_up = health::made_up_name(canaries);
        let ev = self.inner.resolver.gather(&made_up).await;
        let invented = health::made_up_ok(&made_up, ev.mx.status).err();
        if !answered.is_empty() && invented.is_none() {
            health.passed();
            return Ok(());
        }
        failures.extend(invented);
        let why = format!(
            "the resolver failed its health check ({})",
            failures.join("; ")
        );
        health.set_unhealthy(why.clone());
        Err(why)
    }

    /// Why the resolver was found unhealthy in this run, if it was.
    pub fn resolver_unhealthy(&self) -> Option<String> {
        self.inner.health.unhealthy()
    }

    /// How many health checks ran, and whether any is configured.
    pub fn health_checks(&self) -> Option<u64> {
        let h = &self.inner.health;
        h.enabled()
            .then(|| h.checks.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The outage guard's counts so far.
    pub fn outage(&self) -> Outage {
        self.inner.health.outage()
    }

    /// Temporary readings this run recorded as not counting toward
    /// `dead_domain` (their window was an outage on our side).
    pub fn uncounted(&self) -> u64 {
        self.inner
            .history
            .as_ref()
            .map(Recorder::uncounted)
            .unwrap_or(0)
    }

    /// Decides fresh evidence in the light of the past, and records it.
    async fn record(
        &self,
        rec: &Recorder,
        domain: String,
        evidence: DomainEvidence,
        state: prebounce_store::DomainState,
        now: i64,
    ) -> Arc<DomainReport> {
        let past = Past {
            history: &state.history,
            policy: &rec.setup.policy,
            today_counts: true,
        };
        let decision = decide(
            Subject::Evidence(&evidence),
            Some(past),
            &self.inner.policy,
            now,
        );
        if let Some(reading) = decision.reading {
            // Counted for the summary; with history, spikes are watched by
            // the recorder's windows below, which hold the failures back.
            self.inner.health.observe(reading);
        }
        // A domain is never declared dead on the word of a resolver that
        // fails its health check now.
        if decision.verdict.reason == prebounce_core::verdict::Reason::DeadDomain {
            if let Err(why) = self.check_resolver(false).await {
                return our_fault(domain, &why);
            }
        }
        let report = Arc::new(DomainReport {
            domain,
            evidence: Some(evidence),
            verdict: decision.verdict,
            history: Some(Box::new(HistoryNote {
                observed: now,
                reused: false,
                age: 0,
                past: state.history.clone(),
            })),
        });
        if let Some(reading) = decision.reading {
            let closed = rec.record(
                &state,
                Record {
                    report: report.clone(),
                    reading,
                    counts: true,
                    escalation: false,
                },
            );
            if let Some(window) = closed {
                // A spike of failures is recorded only once the health
                // check, asked again, says the resolver is fine.
                let healthy = if window.spike() && self.inner.health.enabled() {
                    self.check_resolver(true).await.is_ok()
                } else {
                    self.inner.health.unhealthy().is_none()
                };
                rec.flush(window, healthy);
            }
        }
        report
    }

    /// Reads the history of `domains` ahead, in one pass, so that their
    /// checks need not each ask the store (a no-op without history).
    pub async fn read_ahead(&self, domains: Vec<String>) {
        if self.inner.history.is_none() || domains.is_empty() {
            return;
        }
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(rec) = &me.inner.history {
                let names: Vec<&str> = domains.iter().map(String::as_str).collect();
                rec.read_ahead(&names);
            }
        })
        .await;
    }

    /// Whether `domain` has been started (see [`Checker::start`]).
    pub fn is_started(&self, domain: &str) -> bool {
        self.inner.domains.get(domain).is_some()
    }

    /// The pending report of `domain` when it has been started and may be
    /// shared as it is (a checker whose reports expire says `None`: ask
    /// [`Checker::start`]).
    pub fn started(&self, domain: &str) -> Option<PendingReport> {
        if self.inner.cache_ttl.is_some() {
            return None;
        }
        let ticket = self.inner.domains.get(domain)?;
        Some(PendingReport { ticket })
    }

    /// How many domains history served, when it is on.
    pub fn history_reuse(&self) -> Option<ReuseStats> {
        self.inner.history.as_ref().map(Recorder::reuse_stats)
    }

    /// Where the history store is, when history is on.
    pub fn history_location(&self) -> Option<String> {
        self.inner
            .history
            .as_ref()
            .map(|r| r.setup.store.location())
    }

    /// The history policy in force, when history is on.
    pub fn history_policy(&self) -> Option<&prebounce_core::history::HistoryPolicy> {
        self.inner.history.as_ref().map(|r| &r.setup.policy)
    }

    /// The sanity guard's counts so far, when history is on.
    pub fn history_guard(&self) -> Option<Guard> {
        self.inner.history.as_ref().map(Recorder::guard)
    }

    /// Whether the guard has tripped (and `--force` was not given).
    pub fn guard_tripped(&self) -> bool {
        self.inner
            .history
            .as_ref()
            .is_some_and(|r| !r.setup.force && r.guard().tripped())
    }

    /// Writes the observations still held: failure readings (as not
    /// counting toward `dead_domain` when the run was an outage, not at all
    /// when the resolver was found unhealthy) and escalations (when the
    /// sanity guard allows, and not in an outage). Call once, at the end of
    /// a run.
    pub fn finish_history(&self) -> Result<(), HistoryError> {
        match &self.inner.history {
            Some(r) => r.finish(self.inner.health.unhealthy().is_none()),
            None => Ok(()),
        }
    }

    /// For a long-lived process (a checker with a `cache_ttl`), now and
    /// then (every minute or so), and once more before
    /// [`Checker::finish_history`]:
    /// - drops cached reports and host lookups past their lifetime;
    /// - when the resolver was found unhealthy, asks the health check again
    ///   (a run keeps that finding to its end; a server recovers);
    /// - closes the history's current window of readings, however few it
    ///   holds (a spike asks the health check first), and records it as a
    ///   run's window is recorded;
    /// - writes the escalations held since the last checkpoint, when the
    ///   sanity guard counted over the same period allows (`Err` says why
    ///   not; they are dropped, and will be decided again once their
    ///   reports expire).
    pub async fn checkpoint(&self) -> Result<(), HistoryError> {
        let inner = &self.inner;
        if let Some(ttl) = inner.cache_ttl {
            inner.domains.sweep(|k| report_lifetime(k, ttl));
            inner.resolver.sweep();
            if inner.health.unhealthy().is_some() {
                inner.health.clear_unhealthy();
                let _ = self.check_resolver(true).await;
            }
        }
        let Some(rec) = &inner.history else {
            return Ok(());
        };
        let window = rec.take_window();
        let healthy = if window.spike() && inner.health.enabled() {
            self.check_resolver(true).await.is_ok()
        } else {
            inner.health.unhealthy().is_none()
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let rec = me.inner.history.as_ref().expect("history is on");
            rec.checkpoint(window, healthy)
        })
        .await
        .unwrap_or(Ok(()))
    }

    /// Domain reports cached or in flight.
    pub fn cached_domains(&self) -> usize {
        self.inner.domains.len()
    }

    /// How many distinct domains have been started.
    pub fn domains_seen(&self) -> usize {
        self.inner.domains.len()
    }

    /// Starts checking `domain` (ASCII, lowercase, already normalized) in
    /// the background, unless it was started before, and returns its
    /// report's ticket. Waits while `concurrency` domains are in progress,
    /// so a fast reader cannot run ahead of DNS without bound.
    pub async fn start(&self, domain: &str) -> PendingReport {
        if let Some(ttl) = self.inner.cache_ttl {
            self.inner
                .domains
                .expire(domain, |k| report_lifetime(k, ttl));
        }
        if let Some(ticket) = self.inner.domains.get(domain) {
            return PendingReport { ticket };
        }
        let permit = self
            .inner
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let me = self.clone();
        let name = domain.to_string();
        // A task of its own, freed as soon as the check ends.
        let (ticket, _) = self.inner.domains.get_or_spawn(domain, move || async move {
            let report = me.report(name).await;
            drop(permit);
            Known::Full(report)
        });
        PendingReport { ticket }
    }

    /// Whether the run keeps `domain` brief (`None`: not finished).
    #[cfg(test)]
    fn kept_brief(&self, domain: &str) -> Option<bool> {
        match self.inner.domains.get(domain)? {
            Ticket::Ready(Known::Brief(..)) => Some(true),
            Ticket::Ready(Known::Full(_)) => Some(false),
            Ticket::Pending(_) | Ticket::Spawned(_) => None,
        }
    }

    /// Checks one domain as written by a user (normalized first).
    pub async fn check_domain(&self, domain: &str) -> Arc<DomainReport> {
        let trimmed = domain.trim().trim_end_matches('.');
        match normalize_domain(trimmed) {
            Ok(ascii) => self.start(&ascii).await.wait().await,
            Err(e) => Arc::new(DomainReport::from_syntax(trimmed, e)),
        }
    }

    /// Checks one address.
    pub async fn check_address(&self, address: &str) -> AddressReport {
        let trimmed = address.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        match parse_address(trimmed) {
            Ok(a) => {
                let report = self.start(&a.domain).await.wait().await;
                AddressReport {
                    address: trimmed.to_string(),
                    domain: Some(a.domain),
                    verdict: report.verdict.clone(),
                    report: Some(report),
                }
            }
            Err(e) => AddressReport {
                address: trimmed.to_string(),
                domain: e.domain.clone(),
                verdict: syntax_verdict(
                    &e,
                    trimmed.rsplit_once('@').map(|(_, d)| d).unwrap_or_default(),
                ),
                report: None,
            },
        }
    }
}

#[cfg(test)]
mod decimal_tests {
    #[test]
    fn push_decimal_writes_every_preference_as_format_does() {
        let mut out = String::new();
        for n in 0..=u16::MAX {
            out.clear();
            prebounce_core::ipfmt::push_u64(&mut out, u64::from(n));
            assert_eq!(out, n.to_string());
        }
    }
}
