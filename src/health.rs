//! Is our own resolver healthy? A failure on our side is never the
//! domain's fault: when the resolver that answers for a run is dead or
//! lying, no row may be suppressed on its answers and nothing may be
//! recorded against any domain.
//!
//! - **The health check** asks the MX of canary domains that must have a
//!   usable MX (`--dns-canary`, default `gmail.com`, `yahoo.com`,
//!   `hotmail.com`; healthy when at least one resolves to a usable MX) and
//!   the MX of one random, never-registered name under the first canary's
//!   top-level domain, which must be NXDOMAIN (a resolver that answers it
//!   invents answers). It runs before the run, again when temporary failures
//!   or NXDOMAINs spike during it, and before any domain is declared
//!   `dead_domain` (at most every [`RECHECK_AFTER`]).
//! - **The outage guard** needs no history and no canary: a run in which
//!   more than half of at least [`OUTAGE_MIN`] distinct domains read
//!   temporarily failing is an outage on our side. Its temporary readings
//!   are recorded as not counting toward `dead_domain`, and its new
//!   `dead_domain` escalations are not recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prebounce_core::evidence::QueryStatus;
use prebounce_core::history::is_temporary;
use prebounce_core::verdict::{Action, Reason};

/// The canaries when none are named.
pub const DEFAULT_CANARIES: [&str; 3] = ["gmail.com", "yahoo.com", "hotmail.com"];

/// The outage guard looks at runs of at least this many distinct domains.
pub const OUTAGE_MIN: u64 = 20;

/// A spike: in a window of this many decided domains, more than
/// [`SPIKE_SHARE_PERCENT`] percent temporary failures or NXDOMAINs.
pub const SPIKE_WINDOW: u64 = 200;

/// See [`SPIKE_WINDOW`].
pub const SPIKE_SHARE_PERCENT: u64 = 50;

/// A passed health check is trusted this long before a `dead_domain`
/// verdict asks again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(30);

/// The canaries of a run; empty: no health check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthConfig {
    /// Domains that must have a usable MX (ASCII).
    pub canaries: Vec<String>,
}

/// How the run's domains read, for the outage guard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outage {
    /// Distinct domains decided from fresh DNS evidence.
    pub decided: u64,
    /// Of those, the ones whose reading was temporary.
    pub temporary: u64,
}

impl Outage {
    /// More than half of at least [`OUTAGE_MIN`] domains failed temporarily.
    pub fn is_outage(&self) -> bool {
        self.decided >= OUTAGE_MIN && self.temporary * 2 > self.decided
    }
}

#[derive(Default)]
struct Window {
    seen: u64,
    bad: u64,
}

pub(crate) struct Health {
    pub(crate) config: HealthConfig,
    unhealthy: Mutex<Option<String>>,
    last_ok: Mutex<Option<Instant>>,
    checking: tokio::sync::Mutex<()>,
    pub(crate) checks: AtomicU64,
    decided: AtomicU64,
    temporary: AtomicU64,
    window: Mutex<Window>,
}

impl Health {
    pub(crate) fn new(config: HealthConfig) -> Health {
        Health {
            config,
            unhealthy: Mutex::new(None),
            last_ok: Mutex::new(None),
            checking: tokio::sync::Mutex::new(()),
            checks: AtomicU64::new(0),
            decided: AtomicU64::new(0),
            temporary: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.config.canaries.is_empty()
    }

    pub(crate) fn unhealthy(&self) -> Option<String> {
        self.unhealthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_unhealthy(&self, why: String) {
        let mut slot = self.unhealthy.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(why);
        }
    }

    /// Forgets an unhealthy finding, so that the next check asks again (a
    /// long-lived process recovers when its resolver does).
    pub(crate) fn clear_unhealthy(&self) {
        *self.unhealthy.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn passed(&self) {
        *self.last_ok.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Whether the last passed check is recent enough to trust.
    pub(crate) fn fresh(&self) -> bool {
        self.last_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < RECHECK_AFTER)
    }

    pub(crate) async fn single_flight(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.checking.lock().await
    }

    /// Counts a fresh reading; true when the window just closed on a spike
    /// of temporary failures or NXDOMAINs.
    pub(crate) fn observe(&self, reading: Reason) -> bool {
        self.decided.fetch_add(1, Ordering::Relaxed);
        let temporary = is_temporary(reading);
        if temporary {
            self.temporary.fetch_add(1, Ordering::Relaxed);
        }
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.seen += 1;
        if temporary || reading == Reason::Nxdomain {
            w.bad += 1;
        }
        if w.seen < SPIKE_WINDOW {
            return false;
        }
        let spike = w.bad * 100 > w.seen * SPIKE_SHARE_PERCENT;
        *w = Window::default();
        spike
    }

    pub(crate) fn outage(&self) -> Outage {
        Outage {
            decided: self.decided.load(Ordering::Relaxed),
            temporary: self.temporary.load(Ordering::Relaxed),
        }
    }
}

/// A never-registered name under the first canary's top-level domain.
pub(crate) fn made_up_name(canaries: &[String]) -> String {
    let tld = canaries
        .first()
        .and_then(|c| c.rsplit('.').next())
        .filter(|t| !t.is_empty())
        .unwrap_or("com");
    let n: u64 = rand::random();
    format!("prebounce-health-{n:016x}.{tld}")
}

/// Judges a canary's evidence: `Ok` when it has a usable MX.
pub(crate) fn canary_ok(name: &str, action: Action, reason: Reason) -> Result<(), String> {
    if action == Action::Deliver {
        Ok(())
    } else {
        Err(format!("{name}: {reason}"))
    }
}

/// Judges the made-up name's MX query: `Ok` when NXDOMAIN.
pub(crate) fn made_up_ok(name: &str, status: QueryStatus) -> Result<(), String> {
    match status {
        QueryStatus::NxDomain => Ok(()),
        s if s.is_temporary() => Err(format!("{name} (made up): MX query {}", s.describe())),
        s => Err(format!(
            "{name}, a name that cannot exist, got {} instead of NXDOMAIN: the resolver invents answers",
            s.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_needs_a_majority_of_enough_domains() {
        assert!(!Outage {
            decided: 19,
            temporary: 19
        }
        .is_outage());
        assert!(Outage {
            decided: 20,
            temporary: 11
        }
        .is_outage());
        assert!(!Outage {
            decided: 20,
            temporary: 10
        }
        .is_outage());
    }

    #[test]
    fn spikes_close_a_window() {
        let h = Health::new(HealthConfig::default());
        for _ in 0..SPIKE_WINDOW - 1 {
            assert!(!h.observe(Reason::Nxdomain));
        }
        assert!(h.observe(Reason::Nxdomain));
        for _ in 0..SPIKE_WINDOW {
            assert!(!h.observe(Reason::Deliverable));
        }
        assert_eq!(h.outage().decided, 2 * SPIKE_WINDOW);
    }

    #[test]
    fn made_up_names_are_under_the_first_canarys_tld() {
        let n = made_up_name(&["ok.zz".into()]);
        assert!(
            n.starts_with("prebounce-health-") && n.ends_with(".zz"),
            "{n}"
        );
        assert!(made_up_ok(&n, QueryStatus::NxDomain).is_ok());
        assert!(made_up_ok(&n, QueryStatus::Answer)
            .unwrap_err()
            .contains("invents answers"));
        assert!(made_up_ok(&n, QueryStatus::Timeout).is_err());
    }
}
