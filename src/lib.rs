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

pub mod history;
pub mod input;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::FutureExt;
use tokio::sync::Semaphore;

pub use prebounce_core as core;
pub use prebounce_dns as dns;
pub use prebounce_hygiene as hygiene;
pub use prebounce_lab as lab;
pub use prebounce_probe as probe;
pub use prebounce_probe::{ProbeConfig, Prober};
pub use prebounce_store as store;

use history::{Before, Recorder};
pub use history::{Clock, Guard, HistoryError, HistoryNote, HistorySetup};

use prebounce_core::address::{normalize_domain, parse_address, SyntaxError};
use prebounce_core::evidence::{DomainEvidence, QueryStatus};
use prebounce_core::probe::probe_plan;
use prebounce_core::rules::{judge, ImplicitMx, Policy};
use prebounce_core::verdict::{Action, Verdict};
use prebounce_dns::oncemap::{OnceMap, Ticket};
use prebounce_dns::{
    BulkConfig, BulkTransport, HickoryTransport, Resolver, StubConfig, StubTransport,
};
use prebounce_hygiene::apply_hygiene;

/// The evidence about one domain and the verdict on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainReport {
    /// The domain, ASCII lowercase.
    pub domain: String,
    /// What DNS said; `None` when the domain failed the syntax checks.
    pub evidence: Option<DomainEvidence>,
    /// The judgement.
    pub verdict: Verdict,
    /// When it was observed, and whether reused from the history store.
    pub history: Option<HistoryNote>,
}

impl DomainReport {
    fn from_syntax(domain: &str, e: SyntaxError) -> DomainReport {
        DomainReport {
            domain: e.domain.unwrap_or_else(|| domain.to_string()),
            evidence: None,
            verdict: Verdict::new(e.reason, e.detail),
            history: None,
        }
    }
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
    let parts: Vec<String> = ev
        .targets
        .iter()
        .map(|t| {
            let a = prebounce_core::rules::assess_target(t, policy);
            if a.addresses.is_empty() {
                format!(
                    "{} {} ({})",
                    t.mx.preference,
                    t.mx.exchange,
                    a.state.as_str()
                )
            } else {
                let ips: Vec<String> = a.addresses.iter().map(|c| c.ip.to_string()).collect();
                format!("{} {} [{}]", t.mx.preference, t.mx.exchange, ips.join(" "))
            }
        })
        .collect();
    parts.join("; ")
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
    /// Defaults (3 s timeout, 2 attempts, 256 domains and queries at once,
    /// the default policy) with these servers.
    pub fn with_servers(servers: Vec<SocketAddr>) -> CheckerConfig {
        CheckerConfig {
            servers,
            timeout: Duration::from_secs(3),
            attempts: 2,
            max_queries_in_flight: 256,
            concurrency: 256,
            policy: Policy::default(),
            engine: Engine::default(),
            qps: None,
            probe: None,
            history: None,
        }
    }
}

/// A domain's report, ready or as it becomes ready; clone it freely and
/// `wait()` for it.
pub type PendingReport = Ticket<Arc<DomainReport>>;

struct Inner {
    resolver: Resolver,
    prober: Option<(Prober, bool)>,
    history: Option<Recorder>,
    policy: Policy,
    domains: Arc<OnceMap<Arc<DomainReport>>>,
    slots: Arc<Semaphore>,
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
        let resolver = match config.engine {
            Engine::Stub => Resolver::new(StubTransport::new(stub)?, in_flight),
            Engine::Hickory => Resolver::new(HickoryTransport::new(stub)?, in_flight),
            Engine::Bulk => Resolver::new(
                BulkTransport::new(BulkConfig {
                    timeout: config.timeout,
                    attempts: config.attempts,
                    qps: config.qps,
                    ..BulkConfig::new(stub.servers)
                })?,
                in_flight,
            ),
        };
        let mut checker = Self::with_resolver(resolver, config.policy, config.concurrency);
        let inner = Arc::get_mut(&mut checker.inner).expect("not shared yet");
        if let Some(p) = config.probe {
            inner.prober = Some((Prober::new(p.config, inner.resolver.clone()), p.all));
        }
        inner.history = config.history.map(Recorder::new);
        Ok(checker)
    }

    /// A checker over an existing resolver (any transport).
    pub fn with_resolver(resolver: Resolver, policy: Policy, concurrency: usize) -> Checker {
        Checker {
            inner: Arc::new(Inner {
                resolver,
                prober: None,
                history: None,
                policy,
                domains: Arc::new(OnceMap::default()),
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
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

    /// Gathers and judges one domain: DNS first; then, when probing is on
    /// and DNS says deliverable (or, under `--implicit-mx probe`, the
    /// domain has only its own address), port 25; then the rules again.
    async fn evaluate(&self, domain: &str) -> (DomainEvidence, Verdict) {
        let inner = &self.inner;
        let mut evidence = inner.resolver.gather(domain).await;
        let mut verdict = judge(&evidence, &inner.policy);
        if let Some((prober, all)) = &inner.prober {
            let implicit = evidence.mx.status == QueryStatus::NoData
                && inner.policy.implicit_mx == ImplicitMx::Probe;
            let deliverable = *all && verdict.action() == Action::Deliver;
            if implicit || deliverable {
                let plan = probe_plan(&evidence, &inner.policy);
                if !plan.is_empty() {
                    evidence.probe = Some(prober.probe_domain(plan).await);
                    verdict = judge(&evidence, &inner.policy);
                }
            }
        }
        let verdict = apply_hygiene(&evidence, verdict, &inner.policy);
        (evidence, verdict)
    }

    /// The report of a domain: from a young observation in the history
    /// store, or from DNS (and the probe) judged in the light of history.
    async fn report(&self, domain: String) -> DomainReport {
        let Some(rec) = &self.inner.history else {
            let (evidence, verdict) = self.evaluate(&domain).await;
            return DomainReport {
                domain,
                evidence: Some(evidence),
                verdict,
                history: None,
            };
        };
        match rec.before(&domain) {
            Before::Reuse(verdict, note) => DomainReport {
                domain,
                evidence: None,
                verdict,
                history: Some(note),
            },
            Before::Fresh { previous, past } => {
                let (evidence, reading) = self.evaluate(&domain).await;
                let mx = mx_summary(&evidence, &self.inner.policy);
                let (verdict, note) = rec.after(&domain, previous, &past, &evidence, mx, reading);
                DomainReport {
                    domain,
                    evidence: Some(evidence),
                    verdict,
                    history: Some(note),
                }
            }
        }
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

    /// Writes the observations still queued (escalations only when the
    /// sanity guard allows). Call once, at the end of a run.
    pub fn finish_history(&self) -> Result<(), HistoryError> {
        match &self.inner.history {
            Some(r) => r.finish(),
            None => Ok(()),
        }
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
        if let Some(t) = self.inner.domains.get(domain) {
            return t;
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
        let (ticket, _) = self.inner.domains.get_or_start(domain, move || {
            let task = tokio::spawn(async move {
                let report = me.report(name).await;
                drop(permit);
                Arc::new(report)
            });
            task.map(|r| match r {
                Ok(report) => report,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            })
            .boxed()
        });
        ticket
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
                verdict: Verdict::new(e.reason, e.detail),
                report: None,
            },
        }
    }
}
