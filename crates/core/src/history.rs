//! Judgement over time: what a domain's past readings change about today's.
//!
//! Pure: the store gathers the [`History`], [`apply_history`] decides.
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

use crate::verdict::{Action, Reason, Verdict, Warning};

/// One past reading of a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// When, in seconds since the Unix epoch.
    pub at: i64,
    /// The reason DNS (and the probe) gave then, before history.
    pub reason: Reason,
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

fn secs(d: Duration) -> i64 {
    d.as_secs().min(i64::MAX as u64) as i64
}

/// A date for detail lines: `2026-11-02`.
pub fn date(unix: i64) -> String {
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
    format!("{y:04}-{m:02}-{d:02}")
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

/// Today's verdict, `now` (Unix seconds), in the light of the domain's past.
pub fn apply_history(now: i64, today: Verdict, past: &History, policy: &HistoryPolicy) -> Verdict {
    match today.action() {
        Action::Deliver => today,
        Action::Retry => {
            let streak_ok = past
                .since_success
                .iter()
                .all(|r| r.reason.action() == Action::Retry);
            let Some(first) = past.since_success.first() else {
                return today;
            };
            let checks = past.since_success.len() + 1;
            if streak_ok
                && checks >= policy.dead_min_checks
                && now - first.at >= secs(policy.dead_after)
            {
                let cause = match today.reason {
                    Reason::NoAnswer => "no answer on port 25",
                    _ => "DNS failing temporarily",
                };
                let verdict = Verdict::new(
                    Reason::DeadDomain,
                    format!(
                        "{cause} since {}, {checks} checks, no success since; last: {}",
                        date(first.at),
                        today.detail
                    ),
                );
                return verdict.with_warnings(today.warnings);
            }
            today
        }
        Action::Suppress => {
            if !is_flip(today.reason) {
                return today;
            }
            let recent = past
                .last_success
                .is_some_and(|t| now - t <= secs(policy.confirm_window));
            if !recent {
                return today;
            }
            let confirmed = past
                .since_success
                .iter()
                .any(|r| r.reason == today.reason && now - r.at >= secs(policy.confirm_delay));
            if confirmed {
                return today;
            }
            let mut held = today.with_warnings([Warning::NeedsConfirmation]);
            held.held = true;
            held.detail.push_str(&format!(
                "; deliverable on {}, so held until a second reading agrees",
                date(past.last_success.unwrap_or(now))
            ));
            held
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_793_577_600; // 2026-11-02

    fn v(reason: Reason) -> Verdict {
        Verdict::new(reason, "today")
    }

    fn past(last_success: Option<i64>, readings: &[(i64, Reason)]) -> History {
        History {
            last_success,
            since_success: readings
                .iter()
                .map(|(at, reason)| Reading {
                    at: *at,
                    reason: *reason,
                })
                .collect(),
        }
    }

    fn apply(now: i64, today: Reason, h: &History) -> Verdict {
        apply_history(now, v(today), h, &HistoryPolicy::default())
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
    fn persistent_temporary_failures_become_dead() {
        let sf = Reason::DnsFailure;
        // Day 0, 2, 5: dead on day 5.
        let h = past(None, &[(T0, sf), (T0 + 2 * DAY, sf)]);
        let d = apply(T0 + 5 * DAY, sf, &h);
        assert_eq!(d.reason, Reason::DeadDomain);
        assert_eq!(d.action(), Action::Suppress);
        assert_eq!(d.status().unwrap().to_string(), "5.4.7");
        assert!(
            d.detail
                .starts_with("DNS failing temporarily since 2026-11-02, 3 checks"),
            "{}",
            d.detail
        );
        // Not before day 5.
        assert_eq!(apply(T0 + 5 * DAY - 1, sf, &h).reason, sf);
        // Not with only two checks.
        assert_eq!(apply(T0 + 5 * DAY, sf, &past(None, &[(T0, sf)])).reason, sf);
        // Port 25 says so too.
        let na = Reason::NoAnswer;
        let d = apply(T0 + 6 * DAY, na, &past(None, &[(T0, na), (T0 + DAY, sf)]));
        assert!(
            d.detail
                .starts_with("no answer on port 25 since 2026-11-02, 3 checks"),
            "{}",
            d.detail
        );
        // A permanent reading in the streak breaks it.
        let mixed = past(None, &[(T0, sf), (T0 + DAY, Reason::Nxdomain)]);
        assert_eq!(apply(T0 + 6 * DAY, sf, &mixed).reason, sf);
        // Once dead, dead until a success: the streak holds raw readings.
        let long = past(
            Some(T0 - DAY),
            &[(T0, sf), (T0 + 3 * DAY, sf), (T0 + 5 * DAY, sf)],
        );
        assert_eq!(apply(T0 + 6 * DAY, sf, &long).reason, Reason::DeadDomain);
    }

    #[test]
    fn recent_successes_hold_flips_for_confirmation() {
        let h = past(Some(T0), &[]);
        let held = apply(T0 + DAY, Reason::Nxdomain, &h);
        assert_eq!(held.reason, Reason::Nxdomain);
        assert_eq!(held.action(), Action::Retry);
        assert_eq!(held.status().unwrap().to_string(), "4.1.2");
        assert_eq!(held.warnings, vec![Warning::NeedsConfirmation]);
        // A second reading less than an hour later: still held.
        let h2 = past(Some(T0), &[(T0 + DAY, Reason::Nxdomain)]);
        assert_eq!(
            apply(T0 + DAY + 1800, Reason::Nxdomain, &h2).action(),
            Action::Retry
        );
        // An hour later: confirmed.
        let c = apply(T0 + DAY + 3600, Reason::Nxdomain, &h2);
        assert_eq!(c.action(), Action::Suppress);
        assert!(c.warnings.is_empty());
        // A different permanent reading does not confirm.
        assert_eq!(
            apply(T0 + DAY + 3600, Reason::NoMx, &h2).action(),
            Action::Retry
        );
        // A null MX is explicit: never held.
        assert_eq!(
            apply(T0 + DAY, Reason::NullMx, &h).action(),
            Action::Suppress
        );
        // An old success does not hold anything.
        assert_eq!(
            apply(T0 + 31 * DAY, Reason::Nxdomain, &h).action(),
            Action::Suppress
        );
        // No success at all: nothing to confirm against.
        assert_eq!(
            apply(T0, Reason::Nxdomain, &History::default()).action(),
            Action::Suppress
        );
        for r in FLIP_REASONS {
            assert!(apply(T0 + DAY, r, &h).held, "{r}");
        }
    }

    #[test]
    fn deliverable_is_never_changed() {
        let h = past(
            None,
            &[(T0, Reason::DnsFailure), (T0 + DAY, Reason::DnsFailure)],
        );
        assert_eq!(
            apply(T0 + 9 * DAY, Reason::Deliverable, &h).reason,
            Reason::Deliverable
        );
    }
}
