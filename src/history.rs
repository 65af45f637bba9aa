//! History in a run: reading the store before asking DNS, applying the
//! history rules after, recording observations, and the sanity guard.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prebounce_core::evidence::DomainEvidence;
use prebounce_core::history::{apply_history, parse_time, History, HistoryPolicy};
use prebounce_core::verdict::{Action, Reason, Verdict, Warning};
use prebounce_store::{Observation, Store, StoreError};

/// The one clock of a run: the system's, or a fixed time (`PREBOUNCE_NOW`)
/// for tests and for replaying.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    fixed: Option<i64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    /// A clock stopped at `unix` seconds.
    pub fn fixed(unix: i64) -> Clock {
        Clock { fixed: Some(unix) }
    }

    /// `PREBOUNCE_NOW` (RFC 3339) when set, else the system clock.
    pub fn from_env() -> Result<Clock, String> {
        match std::env::var("PREBOUNCE_NOW") {
            Ok(v) if !v.trim().is_empty() => parse_time(&v)
                .map(Clock::fixed)
                .map_err(|e| format!("PREBOUNCE_NOW: {e}")),
            _ => Ok(Clock::system()),
        }
    }

    /// Now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.fixed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }
}

/// History settings of a run.
#[derive(Clone)]
pub struct HistorySetup {
    /// Where observations go.
    pub store: Arc<dyn Store>,
    /// The rules' thresholds.
    pub policy: HistoryPolicy,
    /// An observation younger than this is used instead of asking DNS.
    pub max_age: Duration,
    /// Whether to reuse young observations at all (`recheck` does not).
    pub reuse: bool,
    /// Record escalations even when the sanity guard trips.
    pub force: bool,
    /// The clock.
    pub clock: Clock,
}

impl std::fmt::Debug for HistorySetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistorySetup")
            .field("policy", &self.policy)
            .field("max_age", &self.max_age)
            .field("reuse", &self.reuse)
            .field("force", &self.force)
            .field("clock", &self.clock)
            .finish()
    }
}

/// What history says of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryNote {
    /// When the observation was made (Unix seconds).
    pub observed: i64,
    /// Whether it was reused from an earlier run instead of asking DNS.
    pub reused: bool,
    /// The MX evidence in one line, as stored (for reused observations).
    pub mx: String,
}

/// The sanity guard: when a run turns a fifth of at least this many
/// previously deliverable domains permanent, the resolver looks broken.
pub const GUARD_MIN: u64 = 100;

/// The guard's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Guard {
    /// Domains whose last observation was deliverable.
    pub previously_deliverable: u64,
    /// Of those, the ones that read permanently failing now.
    pub turned_permanent: u64,
}

impl Guard {
    /// More than 20% of at least [`GUARD_MIN`].
    pub fn tripped(&self) -> bool {
        self.previously_deliverable >= GUARD_MIN
            && self.turned_permanent * 5 > self.previously_deliverable
    }
}

/// Observations written per transaction while the run goes on.
const BATCH: usize = 512;

pub(crate) struct Recorder {
    pub(crate) setup: HistorySetup,
    pending: Mutex<Vec<Observation>>,
    /// Escalations, kept back until the guard has had its say.
    deferred: Mutex<Vec<Observation>>,
    previously_deliverable: AtomicU64,
    turned_permanent: AtomicU64,
    error: Mutex<Option<StoreError>>,
}

/// Before DNS: reuse a young observation, or the past to judge against.
pub(crate) enum Before {
    Reuse(Verdict, HistoryNote),
    Fresh {
        previous: Option<Observation>,
        past: History,
    },
}

fn digest(line: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    format!("{:016x}", h.finish())
}

impl Recorder {
    pub(crate) fn new(setup: HistorySetup) -> Recorder {
        Recorder {
            setup,
            pending: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
            previously_deliverable: AtomicU64::new(0),
            turned_permanent: AtomicU64::new(0),
            error: Mutex::new(None),
        }
    }

    fn fail(&self, e: StoreError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.setup.clock.now()
    }

    pub(crate) fn before(&self, domain: &str) -> Before {
        let (previous, past) = match self.setup.store.history(domain) {
            Ok(x) => x,
            Err(e) => {
                self.fail(e);
                (None, History::default())
            }
        };
        let now = self.now();
        if let Some(p) = &previous {
            let age = now - p.at;
            if self.setup.reuse && (0..self.setup.max_age.as_secs() as i64).contains(&age) {
                if let Some(reason) = Reason::from_code(&p.verdict) {
                    let mut v = Verdict::new(reason, p.detail.clone())
                        .with_warnings(p.warnings.split(';').filter_map(Warning::from_code));
                    v.held = p.action == "retry" && reason.action() == Action::Suppress;
                    if prebounce_hygiene::SUGGEST_FOR.contains(&reason) {
                        v.suggestion = prebounce_hygiene::suggest_domain(domain)
                            .map(|d| prebounce_core::verdict::Suggestion::Domain(d.to_string()));
                    }
                    let note = HistoryNote {
                        observed: p.at,
                        reused: true,
                        mx: p.mx.clone(),
                    };
                    return Before::Reuse(v, note);
                }
            }
        }
        Before::Fresh { previous, past }
    }

    /// Applies the history rules to today's reading and queues the observation.
    pub(crate) fn after(
        &self,
        domain: &str,
        previous: Option<Observation>,
        past: &History,
        evidence: &DomainEvidence,
        mx: String,
        reading: Verdict,
    ) -> (Verdict, HistoryNote) {
        let now = self.now();
        let raw = reading.reason;
        let verdict = apply_history(now, reading, past, &self.setup.policy);
        let was_deliverable = previous.as_ref().is_some_and(|p| p.action == "deliver");
        let turned = was_deliverable && raw.action() == Action::Suppress;
        if was_deliverable {
            self.previously_deliverable.fetch_add(1, Ordering::Relaxed);
            if turned {
                self.turned_permanent.fetch_add(1, Ordering::Relaxed);
            }
        }
        let obs = Observation {
            domain: domain.to_string(),
            at: now,
            reading: raw.code().to_string(),
            verdict: verdict.reason.code().to_string(),
            action: verdict.action().as_str().to_string(),
            status: verdict.status().map(|s| s.to_string()),
            detail: verdict.detail.clone(),
            warnings: Warning::join(&verdict.warnings),
            digest: digest(&mx),
            mx: mx.clone(),
            probe: evidence
                .probe
                .as_ref()
                .map(|p| p.status().name().to_string()),
        };
        // Escalations wait for the sanity guard: a new dead domain, or a
        // deliverable domain turned permanent (confirmed or held).
        if verdict.reason == Reason::DeadDomain || turned {
            self.deferred
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(obs);
        } else {
            let batch = {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.push(obs);
                (pending.len() >= BATCH).then(|| std::mem::take(&mut *pending))
            };
            if let Some(batch) = batch {
                if let Err(e) = self.setup.store.record(&batch) {
                    self.fail(e);
                }
            }
        }
        let note = HistoryNote {
            observed: now,
            reused: false,
            mx,
        };
        (verdict, note)
    }

    pub(crate) fn guard(&self) -> Guard {
        Guard {
            previously_deliverable: self.previously_deliverable.load(Ordering::Relaxed),
            turned_permanent: self.turned_permanent.load(Ordering::Relaxed),
        }
    }

    /// Writes what is queued; escalations only when the guard allows.
    pub(crate) fn finish(&self) -> Result<(), HistoryError> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if let Err(e) = self.setup.store.record(&pending) {
            self.fail(e);
        }
        let guard = self.guard();
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        if guard.tripped() && !self.setup.force {
            return Err(HistoryError::Guard(guard));
        }
        if let Err(e) = self.setup.store.record(&deferred) {
            self.fail(e);
        }
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(HistoryError::Store(e)),
            None => Ok(()),
        }
    }
}

/// Why a run's history could not be written.
#[derive(Debug)]
pub enum HistoryError {
    /// The sanity guard tripped: escalations were not recorded.
    Guard(Guard),
    /// The store failed.
    Store(StoreError),
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistoryError::Guard(g) => write!(
                f,
                "{} of {} domains that were deliverable now read as permanently failing (more than 20%): the resolver looks broken. Nothing was escalated or recorded for them; check the resolver, or pass --force if this is real",
                g.turned_permanent, g.previously_deliverable
            ),
            HistoryError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HistoryError {}
