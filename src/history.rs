//! History in a run: reading the store ahead, deciding whether a stored
//! observation may be reused, recording observations on a writer thread,
//! and the sanity guard. The judgement itself is core's
//! [`prebounce_core::decide::decide`]: this module only fetches the past and
//! keeps today's evidence.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prebounce_core::evidence::DomainEvidence;
use prebounce_core::history::{is_temporary, parse_time, History, HistoryPolicy};
use prebounce_core::verdict::{Action, Reason};
use prebounce_store::{DomainState, Observation, Store, StoreError};

use crate::DomainReport;

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
    /// An observation younger than this is decided again from its evidence
    /// instead of asking DNS again.
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
            .field("store", &self.store.location())
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
    /// When the evidence was observed (Unix seconds).
    pub observed: i64,
    /// Whether it was reused from an earlier run instead of asking DNS.
    pub reused: bool,
    /// How old the evidence was when used, in seconds (0 when fresh).
    pub age: i64,
    /// The domain's past before this observation.
    pub past: History,
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

/// How many domains history served in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Domains decided again from stored evidence, without DNS.
    pub reused: u64,
    /// The oldest reused observation's time (Unix seconds).
    pub oldest: Option<i64>,
}

/// Observations written per transaction, at most.
const BATCH: usize = 16_384;

/// Records handed to the writer thread per message.
const SEND: usize = 256;

/// An observation on its way to the writer thread, which encodes it.
pub(crate) struct Record {
    pub(crate) report: Arc<DomainReport>,
    pub(crate) reading: Reason,
    pub(crate) counts: bool,
    /// A new dead domain, or a deliverable domain turned permanent: written
    /// only when the sanity guard allows.
    pub(crate) escalation: bool,
}

/// Fresh readings of a run, in windows of [`WINDOW`] domains.
#[derive(Default)]
pub(crate) struct Window {
    seen: u64,
    temporary: u64,
    nxdomain: u64,
    held: Vec<Record>,
}

/// Readings per window (see [`crate::health`]).
pub const WINDOW: u64 = crate::health::SPIKE_WINDOW;

impl Window {
    /// More than half of its readings temporary, among at least
    /// [`crate::health::OUTAGE_MIN`]: an outage on our side.
    pub(crate) fn outage(&self) -> bool {
        self.seen >= crate::health::OUTAGE_MIN && self.temporary * 2 > self.seen
    }

    /// More than half temporary or NXDOMAIN: ask the health check again
    /// before recording its failures.
    pub(crate) fn spike(&self) -> bool {
        (self.temporary + self.nxdomain) * 100 > self.seen * crate::health::SPIKE_SHARE_PERCENT
    }
}

/// A stored observation that may be decided again instead of asking DNS.
pub(crate) struct Reusable {
    pub(crate) evidence: DomainEvidence,
    pub(crate) at: i64,
    /// The past before that observation.
    pub(crate) past: History,
}

pub(crate) struct Recorder {
    pub(crate) setup: HistorySetup,
    /// States read ahead, taken by the domain's check.
    ahead: Mutex<hashbrown::HashMap<String, DomainState>>,
    queue: Mutex<Option<SyncSender<Vec<Record>>>>,
    /// Records waiting to be handed to the writer thread in one message.
    outbox: Mutex<Vec<Record>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Escalations, kept back until the guard has had its say.
    deferred: Mutex<Vec<Record>>,
    /// The current window of fresh readings: failures and escalations are
    /// kept back until the window closes and the outage guard (and, on a
    /// spike, the health check) has had its say.
    window: Mutex<Window>,
    /// Temporary readings recorded as not counting (outage windows).
    uncounted: AtomicU64,
    previously_deliverable: AtomicU64,
    turned_permanent: AtomicU64,
    reused: AtomicU64,
    oldest_reused: AtomicI64,
    error: Arc<Mutex<Option<StoreError>>>,
}

fn keep_first(slot: &Mutex<Option<StoreError>>, e: StoreError) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        *slot = Some(e);
    }
}

/// The stored form of a record.
fn observation(r: &Record) -> Observation {
    let report = &r.report;
    let v = &report.verdict;
    let ev = report.evidence.as_ref();
    Observation {
        domain: report.domain.clone(),
        at: report.history.as_ref().map(|h| h.observed).unwrap_or(0),
        reading: r.reading,
        verdict: v.reason,
        action: v.action(),
        status: v.status(),
        detail: v.detail.clone(),
        warnings: v.warnings.clone(),
        // The evidence holds the MX set; the one-line form is derived from
        // it when a timeline is shown (kept only for schema-1 rows).
        mx: String::new(),
        probe: ev
            .and_then(|e| e.probe.as_ref())
            .map(|p| p.status().name().to_string()),
        evidence: ev.map(DomainEvidence::encode),
        counts: r.counts,
    }
}

/// The writer thread: batches what arrives and writes each batch in one
/// transaction, off the runtime's threads.
fn write_loop(
    rx: Receiver<Vec<Record>>,
    store: Arc<dyn Store>,
    error: Arc<Mutex<Option<StoreError>>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.extend(first.iter().map(observation));
        // Few, large transactions: a commit writes every page it dirtied,
        // and a run inserts domains in random key order, so a small commit
        // rewrites most of the B-trees' leaves. Wait a little for more to
        // arrive (a run makes about 30,000 observations a second; batches
        // of 16,384 or a quarter second took 9% less CPU than 4,096 or
        // 50 ms on the 1M-address benchmark).
        let until = std::time::Instant::now() + Duration::from_millis(250);
        while batch.len() < BATCH {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(more) => batch.extend(more.iter().map(observation)),
                Err(_) => break,
            }
        }
        if let Err(e) = store.record(&batch) {
            keep_first(&error, e);
        }
        batch.clear();
    }
}

impl Recorder {
    pub(crate) fn new(setup: HistorySetup) -> Recorder {
        let error = Arc::new(Mutex::new(None));
        let (tx, rx) = sync_channel(64);
        let thread = {
            let store = setup.store.clone();
            let error = error.clone();
            std::thread::Builder::new()
                .name("prebounce-history".into())
                .spawn(move || write_loop(rx, store, error))
                .expect("cannot start the history writer thread")
        };
        Recorder {
            setup,
            ahead: Mutex::new(hashbrown::HashMap::new()),
            queue: Mutex::new(Some(tx)),
            outbox: Mutex::new(Vec::new()),
            thread: Mutex::new(Some(thread)),
            deferred: Mutex::new(Vec::new()),
            window: Mutex::new(Window::default()),
            uncounted: AtomicU64::new(0),
            previously_deliverable: AtomicU64::new(0),
            turned_permanent: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            oldest_reused: AtomicI64::new(i64::MAX),
            error,
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.setup.clock.now()
    }

    /// Reads the states of `domains` in one pass (blocking: call it from a
    /// blocking thread).
    pub(crate) fn read_ahead(&self, domains: &[&str]) {
        match self.setup.store.states(domains) {
            Ok(found) => {
                let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
                for d in domains {
                    ahead.insert(d.to_string(), DomainState::default());
                }
                ahead.extend(found);
            }
            Err(e) => keep_first(&self.error, e),
        }
    }

    /// The state of a domain when it was read ahead.
    pub(crate) fn take_ahead(&self, domain: &str) -> Option<DomainState> {
        self.ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(domain)
    }

    /// The state of a domain: read ahead, else read now (blocking).
    pub(crate) fn take_state(&self, domain: &str) -> DomainState {
        if let Some(s) = self.take_ahead(domain) {
            return s;
        }
        match self.setup.store.states(&[domain]) {
            Ok(mut m) => m.remove(domain).unwrap_or_default(),
            Err(e) => {
                keep_first(&self.error, e);
                DomainState::default()
            }
        }
    }

    /// The newest observation, when it may be decided again instead of
    /// asking DNS: younger than `--max-age`, with evidence this version
    /// reads, and not a temporary reading (`dns_failure`, `no_answer`, or a
    /// probe that could not be made: those are always asked again).
    pub(crate) fn reusable(&self, state: &DomainState, now: i64) -> Option<Reusable> {
        if !self.setup.reuse {
            return None;
        }
        let latest = state.latest.as_ref()?;
        let age = now - latest.at;
        if !(0..self.setup.max_age.as_secs().min(i64::MAX as u64) as i64).contains(&age) {
            return None;
        }
        if latest.reading.is_none_or(is_temporary) {
            return None;
        }
        let evidence = DomainEvidence::decode(latest.evidence.as_deref()?)?;
        if evidence
            .probe
            .as_ref()
            .is_some_and(|p| p.unavailable.is_some())
        {
            return None;
        }
        // The past before that observation: without its own reading, and
        // without the success it was (re-deciding it under another policy
        // must not hold it against itself).
        let mut past = state.history.clone();
        if past.since_success.last().is_some_and(|r| r.at == latest.at) {
            past.since_success.pop();
        }
        if past.last_success == Some(latest.at) {
            past.last_success = None;
        }
        self.reused.fetch_add(1, Ordering::Relaxed);
        self.oldest_reused.fetch_min(latest.at, Ordering::Relaxed);
        Some(Reusable {
            evidence,
            at: latest.at,
            past,
        })
    }

    /// Queues today's observation; counts it for the guards. A success is
    /// written at once; a failure or an escalation waits in the current
    /// window. Returns the window when this reading closed it: the caller
    /// asks the health check when it is a spike, then [`Recorder::flush`]es.
    pub(crate) fn record(&self, state: &DomainState, record: Record) -> Option<Window> {
        let was_deliverable = state
            .latest
            .as_ref()
            .is_some_and(|l| l.action == Some(Action::Deliver));
        let turned = was_deliverable && record.reading.action() == Action::Suppress;
        if was_deliverable {
            self.previously_deliverable.fetch_add(1, Ordering::Relaxed);
            if turned {
                self.turned_permanent.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.seen += 1;
        if is_temporary(record.reading) {
            w.temporary += 1;
        }
        if record.reading == Reason::Nxdomain {
            w.nxdomain += 1;
        }
        let escalation = record.report.verdict.reason == Reason::DeadDomain || turned;
        if escalation || !prebounce_core::history::is_success(record.reading) {
            w.held.push(Record {
                escalation,
                ..record
            });
        } else {
            self.send(record);
        }
        (w.seen >= WINDOW).then(|| std::mem::take(&mut *w))
    }

    /// Queues a record for the writer thread, in messages of [`SEND`].
    fn send(&self, record: Record) {
        let full = {
            let mut out = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            out.push(record);
            (out.len() >= SEND).then(|| std::mem::take(&mut *out))
        };
        if let Some(batch) = full {
            self.hand_over(batch);
        }
    }

    fn hand_over(&self, batch: Vec<Record>) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = queue.as_ref() {
            let tx = tx.clone();
            drop(queue);
            let _ = tx.send(batch);
        }
    }

    /// Records a closed window's held readings: nothing when our resolver
    /// is unhealthy; in an outage window, temporary readings as not
    /// counting toward `dead_domain` and no new `dead_domain`; escalations
    /// kept for the sanity guard.
    pub(crate) fn flush(&self, window: Window, healthy: bool) {
        if !healthy {
            return;
        }
        let outage = window.outage();
        for mut r in window.held {
            if outage && is_temporary(r.reading) {
                r.counts = false;
                self.uncounted.fetch_add(1, Ordering::Relaxed);
            }
            if r.escalation {
                if outage && r.report.verdict.reason == Reason::DeadDomain {
                    continue;
                }
                self.deferred
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(r);
            } else {
                self.send(r);
            }
        }
    }

    /// Takes the current window, however few readings it holds (a
    /// long-lived process closes it by time, not only by count).
    pub(crate) fn take_window(&self) -> Window {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// For a long-lived process: records a window closed by time (see
    /// [`Recorder::flush`]), hands what is queued to the writer thread, and
    /// writes the escalations held since the last checkpoint when the
    /// sanity guard, counted over the same period, allows; then starts the
    /// guard's counts afresh. Blocking: call it from a blocking thread.
    pub(crate) fn checkpoint(&self, window: Window, healthy: bool) -> Result<(), HistoryError> {
        self.flush(window, healthy);
        let rest = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
        if !rest.is_empty() {
            self.hand_over(rest);
        }
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        let guard = Guard {
            previously_deliverable: self.previously_deliverable.swap(0, Ordering::Relaxed),
            turned_permanent: self.turned_permanent.swap(0, Ordering::Relaxed),
        };
        if guard.tripped() && !self.setup.force {
            return Err(HistoryError::Guard(guard));
        }
        if !deferred.is_empty() {
            let deferred: Vec<Observation> = deferred.iter().map(observation).collect();
            if let Err(e) = self.setup.store.record(&deferred) {
                keep_first(&self.error, e);
            }
        }
        self.take_error()
    }

    /// Temporary readings recorded as not counting so far.
    pub(crate) fn uncounted(&self) -> u64 {
        self.uncounted.load(Ordering::Relaxed)
    }

    pub(crate) fn guard(&self) -> Guard {
        Guard {
            previously_deliverable: self.previously_deliverable.load(Ordering::Relaxed),
            turned_permanent: self.turned_permanent.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reuse_stats(&self) -> ReuseStats {
        let oldest = self.oldest_reused.load(Ordering::Relaxed);
        ReuseStats {
            reused: self.reused.load(Ordering::Relaxed),
            oldest: (oldest != i64::MAX).then_some(oldest),
        }
    }

    /// Flushes the last window (`healthy`: our resolver passed its checks),
    /// writes what is queued, then the escalations when the sanity guard
    /// allows.
    pub(crate) fn finish(&self, healthy: bool) -> Result<(), HistoryError> {
        let last = std::mem::take(&mut *self.window.lock().unwrap_or_else(|p| p.into_inner()));
        self.flush(last, healthy);
        let rest = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
        self.hand_over(rest);
        drop(self.queue.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        if !healthy {
            return self.take_error();
        }
        let guard = self.guard();
        if guard.tripped() && !self.setup.force {
            return Err(HistoryError::Guard(guard));
        }
        let deferred: Vec<Observation> = deferred.iter().map(observation).collect();
        if let Err(e) = self.setup.store.record(&deferred) {
            keep_first(&self.error, e);
        }
        self.take_error()
    }

    fn take_error(&self) -> Result<(), HistoryError> {
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
