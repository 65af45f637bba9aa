//! Judgement over time: what a domain's past readings change about today's.
//!
//! Pure: the store gathers the [`History`], [`crate::decide::decide`]
//! applies the rules (`dead_domain`, and the confirmation of flips).
//!
//! - Escalation: temporary failures that persist become permanent. An MTA
//!   gives up on a message after 4-5 days (RFC 5321 §4.5.4.1; Exim 4 days,
//!   Postfix 5, KumoMTA 7), returning it with X.4.7 (RFC 3463, delivery
//!   time expired). A domain whose readings since its last success are all
//!   `retry`, spanning at least `dead_after` with at least `dead_min_checks`
//!   readings, is `dead_domain`.
//! - Confirmation of flips: a domain that was deliverable within
//!   `confirm_window` and now reads NXDOMAIN, no mail host, unresolvable MX
//!   or no MX may be a registrar or DNS-operator hiccup. It is held as
//!   `retry` (warning `needs_confirmation`) until a reading at least
//!   `confirm_delay` after the first one agrees. A null MX is an explicit
//!   statement (RFC 7505) and is never held.

use std::time::Duration;

use crate::verdict::{Action, Reason};

/// One past reading of a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// When, in seconds since the Unix epoch.
    pub at: i64,
    /// The reason DNS (and the probe) gave then, before history.
    pub reason: Reason,
    /// Whether it counts toward `dead_domain`: false for a temporary
    /// reading made while our own resolver or probe canary was unhealthy
    /// (an outage on our side is no evidence against the domain).
    pub counts: bool,
}

/// A domain's past, as far as the rules need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The last reading whose action was `deliver`.
    pub last_success: Option<i64>,
    /// The readings after the last success (all readings if none), oldest
    /// first. Readings whose reason is unknown to this version are left out.
    pub since_success: Vec<Reading>,
}

/// The thresholds of the history rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// How long temporary failures must last to make a domain dead.
    pub dead_after: Duration,
    /// How many readings that takes, at least (today's included).
    pub dead_min_checks: usize,
    /// How recent a success makes a permanent reading suspicious.
    pub confirm_window: Duration,
    /// How long after a suspicious reading a second one may confirm it.
    pub confirm_delay: Duration,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        HistoryPolicy {
            dead_after: Duration::from_secs(5 * 86_400),
            dead_min_checks: 3,
            confirm_window: Duration::from_secs(30 * 86_400),
            confirm_delay: Duration::from_secs(3_600),
        }
    }
}

/// Permanent readings that a recent success makes suspicious.
pub const FLIP_REASONS: [Reason; 4] = [
    Reason::Nxdomain,
    Reason::NoMailHost,
    Reason::MxUnresolvable,
    Reason::NoMx,
];

/// Seconds of a duration, saturating.
pub(crate) fn secs(d: Duration) -> i64 {
    d.as_secs().min(i64::MAX as u64) as i64
}

/// A date for detail lines: `2026-11-02`.
pub fn date(unix: i64) -> String {
    let (y, m, d) = civil(unix);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC calendar date of Unix seconds: year, month, day.
fn civil(unix: i64) -> (i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as RFC 3339 UTC: `2026-11-02T08:30:00Z`.
pub fn format_rfc3339(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    let (y, m, d) = civil(unix);
    if (0..=9999).contains(&y) {
        // Digits written directly: `format!` cost about 3,000 instructions
        // a time, and a run with history writes one per domain.
        let mut out = Vec::with_capacity(20);
        for (n, width) in [
            (y, 4),
            (m, 2),
            (d, 2),
            (s / 3600, 2),
            (s / 60 % 60, 2),
            (s % 60, 2),
        ] {
            let at = out.len();
            out.resize(at + width, b'0');
            let mut n = n;
            for slot in out[at..].iter_mut().rev() {
                *slot = b'0' + (n % 10) as u8;
                n /= 10;
            }
            out.push(match at {
                0 | 5 => b'-',
                8 => b'T',
                11 | 14 => b':',
                _ => b'Z',
            });
        }
        return String::from_utf8(out).expect("digits and separators are ASCII");
    }
    rfc3339_by_format(unix)
}

/// [`format_rfc3339`] through `format!`: for years of more or fewer than
/// four digits, and the tests' reference.
fn rfc3339_by_format(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(unix),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses an RFC 3339 time (`2026-11-02T08:30:00Z`, `...+01:00`, fractions
/// ignored) or a date (`2026-11-02`, midnight UTC) into Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!("'{text}' is not a date or RFC 3339 time (e.g. 2026-11-02 or 2026-11-02T08:30:00Z)")
    };
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    if t.len() < 10 || t.as_bytes()[4] != b'-' || t.as_bytes()[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(&t[0..4])?, num(&t[5..7])?, num(&t[8..10])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    let rest = &t[10..];
    if rest.is_empty() {
        return Ok(secs);
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
    if rest.len() < 8 || rest.as_bytes()[2] != b':' || rest.as_bytes()[5] != b':' {
        return Err(bad());
    }
    let (h, mi, se) = (num(&rest[0..2])?, num(&rest[3..5])?, num(&rest[6..8])?);
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    secs += h * 3600 + mi * 60 + se;
    let mut zone = &rest[8..];
    if let Some(frac) = zone.strip_prefix('.') {
        zone = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    match zone {
        "Z" | "z" => Ok(secs),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':' =>
        {
            let off = num(&z[1..3])? * 3600 + num(&z[4..6])? * 60;
            Ok(if z.starts_with('+') {
                secs - off
            } else {
                secs + off
            })
        }
        _ => Err(bad()),
    }
}

/// Whether `reason` is a permanent reading that a recent success makes
/// suspicious.
pub fn is_flip(reason: Reason) -> bool {
    FLIP_REASONS.contains(&reason)
}

/// Whether a reading is a success: the domain could receive mail (its
/// reason's action is `deliver`). A success ends a streak of failures.
pub fn is_success(reading: Reason) -> bool {
    reading.action() == Action::Deliver
}

/// Whether a reading is temporary: it must be asked again, and only a
/// streak of such readings can make a domain `dead_domain`.
pub fn is_temporary(reading: Reason) -> bool {
    reading.action() == Action::Retry
}

/// When a domain in `retry` is due again, after its `retries`-th retry in
/// a row: 1 h, 4 h, 12 h, then every 24 h (an MTA's queue backs off the
/// same way, RFC 5321 §4.5.4.1).
pub fn backoff(retries: i64) -> i64 {
    match retries {
        ..=1 => 3_600,
        2 => 4 * 3_600,
        3 => 12 * 3_600,
        _ => 24 * 3_600,
    }
}

/// What a domain's past says, in figures (for `prebounce domain`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    /// The last reading that was a success.
    pub last_success: Option<i64>,
    /// When the current run of temporary failures began (its first counted
    /// reading; today when it begins today), if today's reading is one.
    pub failing_since: Option<i64>,
    /// Counted readings in that run, today's included.
    pub checks: usize,
    /// When the run makes (or made) the domain `dead_domain`, if failures
    /// persist: `failing_since` + `dead_after`, and no earlier than the
    /// check that reaches `dead_min_checks`.
    pub dead_from: Option<i64>,
    /// Checks still needed before it can become `dead_domain`.
    pub checks_needed: usize,
}

/// Explains a domain's past as the `dead_domain` rule reads it, with
/// today's reading (`today`, made at `now`).
pub fn explain(
    past: &History,
    today: Option<Reason>,
    now: i64,
    policy: &HistoryPolicy,
) -> Explanation {
    let mut e = Explanation {
        last_success: past.last_success,
        ..Explanation::default()
    };
    let Some(today) = today.filter(|r| is_temporary(*r)) else {
        return e;
    };
    if !past.since_success.iter().all(|r| is_temporary(r.reason)) {
        return e;
    }
    let counted: Vec<&Reading> = past.since_success.iter().filter(|r| r.counts).collect();
    let _ = today;
    let since = counted.first().map(|r| r.at).unwrap_or(now);
    e.failing_since = Some(since);
    e.checks = counted.len() + 1;
    e.checks_needed = policy.dead_min_checks.saturating_sub(e.checks);
    e.dead_from = Some(since.saturating_add(secs(policy.dead_after)));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_793_577_600; // 2026-11-02

    /// The digits written directly equal `format!`'s, from before 1970 to
    /// past 9999 (where `format!` takes over), on every second of a day
    /// and across leap days.
    #[test]
    fn rfc3339_digits_equal_format() {
        let reference = rfc3339_by_format;
        let mut t = -62_200_000_000i64; // before year 0
        while t < 254_000_000_000 {
            assert_eq!(format_rfc3339(t), reference(t), "{t}");
            t += 86_399 * 7 + 12_345;
        }
        for t in (T0..T0 + 86_400).chain([0, -1, 951_782_399, 951_868_800, 253_402_300_799]) {
            assert_eq!(format_rfc3339(t), reference(t), "{t}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date(T0), "2026-11-02");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(parse_time("2026-11-02").unwrap(), T0);
        assert_eq!(parse_time("2026-11-02T00:00:00Z").unwrap(), T0);
        assert_eq!(parse_time("2026-11-02T01:00:00+01:00").unwrap(), T0);
        assert_eq!(parse_time("2026-11-01T23:00:00.123-01:00").unwrap(), T0);
        assert_eq!(format_rfc3339(T0 + 3_723), "2026-11-02T01:02:03Z");
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-02T25:00:00Z",
            "2026-11-02T01:00:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_schedule() {
        assert_eq!(
            [1, 2, 3, 4, 9].map(backoff),
            [3_600, 14_400, 43_200, 86_400, 86_400]
        );
    }

    #[test]
    fn explains_the_way_to_dead_domain() {
        let day = 86_400;
        let sf = Reason::DnsFailure;
        let past = History {
            last_success: Some(T0 - day),
            since_success: vec![Reading {
                at: T0,
                reason: sf,
                counts: true,
            }],
        };
        let e = explain(&past, Some(sf), T0 + day, &HistoryPolicy::default());
        assert_eq!(e.failing_since, Some(T0));
        assert_eq!(e.checks, 2);
        assert_eq!(e.checks_needed, 1);
        assert_eq!(e.dead_from, Some(T0 + 5 * day));
        assert_eq!(e.last_success, Some(T0 - day));
        let ok = explain(
            &past,
            Some(Reason::Deliverable),
            T0 + day,
            &HistoryPolicy::default(),
        );
        assert_eq!(ok.failing_since, None);
    }

    #[test]
    fn success_and_temporary() {
        assert!(is_success(Reason::Deliverable) && is_success(Reason::ImplicitMx));
        assert!(is_temporary(Reason::DnsFailure) && is_temporary(Reason::NoAnswer));
        assert!(!is_temporary(Reason::Nxdomain) && !is_success(Reason::DeadDomain));
    }
}
