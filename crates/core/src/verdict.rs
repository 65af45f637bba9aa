//! What prebounce says about an address: an [`Action`], a stable [`Reason`]
//! code, an RFC 3463 enhanced status code, a detail line and [`Warning`]s.
//!
//! The reason table ([`REASONS`]) is the single source of truth for the
//! code, action and status of every reason; the README's table is checked
//! against it by a test.

use std::fmt;

use serde::Serialize;

/// What the sender should do with the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// DNS says mail can be routed: send.
    Deliver,
    /// The evidence is incomplete or the failure is temporary: keep the
    /// address and ask again later. Never a reason to suppress.
    Retry,
    /// The failure is permanent: stop sending to the address.
    Suppress,
}

impl Action {
    /// All actions, in display order.
    pub const ALL: [Action; 3] = [Action::Deliver, Action::Retry, Action::Suppress];

    /// The stable lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deliver => "deliver",
            Action::Retry => "retry",
            Action::Suppress => "suppress",
        }
    }

    /// The action named by [`Action::as_str`].
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 3463 enhanced mail system status code (`class.subject.detail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    /// 2 success, 4 persistent transient failure, 5 permanent failure.
    pub class: u8,
    /// The subject (1 addressing, 4 network and routing, ...).
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl EnhancedStatus {
    const fn new(class: u8, subject: u16, detail: u16) -> Self {
        EnhancedStatus {
            class,
            subject,
            detail,
        }
    }
}

impl std::str::FromStr for EnhancedStatus {
    type Err = String;

    /// Parses `class.subject.detail` (`5.1.10`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not an enhanced status code such as 5.1.10");
        let mut parts = s.trim().split('.');
        let class: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let subject = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let detail = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return Err(bad());
        }
        Ok(EnhancedStatus::new(class, subject, detail))
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl Serialize for EnhancedStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why an address got its action. The codes are stable: scripts match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Address syntax is wrong (RFC 5321 §4.1.2, §4.5.3.1).
    AddressInvalid,
    /// Domain syntax is wrong (RFC 1035 §2.3.1, RFC 5321 §4.1.2, UTS #46).
    DomainInvalid,
    /// A special-use name that never receives Internet mail (RFC 6761, RFC 6762, RFC 7686, RFC 9476).
    DomainReserved,
    /// The MX query answered NXDOMAIN: the domain does not exist (RFC 5321 §5.1).
    Nxdomain,
    /// A DNS lookup failed temporarily (SERVFAIL, REFUSED, timeout, lame, malformed).
    DnsFailure,
    /// The domain publishes a null MX (RFC 7505 §3).
    NullMx,
    /// Every MX target is an all-numeric name such as `0.`: a botched null MX.
    NullMxMalformed,
    /// No MX records and no A/AAAA either: nothing to deliver to (RFC 5321 §5.1).
    NoMailHost,
    /// No MX records, only A/AAAA, and the policy does not accept an implicit MX.
    NoMx,
    /// At least one MX target has a usable address.
    Deliverable,
    /// No MX records; the domain's own A/AAAA is usable and the policy accepts it (RFC 5321 §5.1).
    ImplicitMx,
    /// No usable target; a target is `localhost` or resolves only to loopback/unspecified addresses.
    MxLocalhost,
    /// No usable target; the addresses found are not globally reachable (RFC 6890).
    MxUnroutable,
    /// No MX target resolves to any address.
    MxUnresolvable,
    /// Every probed MX address failed on port 25 (refused, timeout, reset,
    /// 421/554 greeting, no greeting): retry, RFC 3463 X.4.1.
    NoAnswer,
    /// Temporary failures only, for days: the domain is dead (RFC 3463
    /// X.4.7, delivery time expired; MTAs give up after 4-7 days).
    DeadDomain,
    /// No MX target is usable, and one is a near miss of a major provider's
    /// MX domain (`mx1.pphosted.con`): the owner mistyped it.
    MxTypo,
}

/// One row of the reason table.
#[derive(Clone, Copy, Debug)]
pub struct ReasonInfo {
    /// The reason.
    pub reason: Reason,
    /// Its stable code.
    pub code: &'static str,
    /// What to do.
    pub action: Action,
    /// The enhanced status code, none for deliverable reasons.
    pub status: Option<EnhancedStatus>,
    /// When it applies, in one line.
    pub when: &'static str,
}

const fn row(
    reason: Reason,
    code: &'static str,
    action: Action,
    status: Option<EnhancedStatus>,
    when: &'static str,
) -> ReasonInfo {
    ReasonInfo {
        reason,
        code,
        action,
        status,
        when,
    }
}

/// Each reason's row in [`REASONS`], by the reason's discriminant. Built
/// at compile time, which also checks the table: a reason with two rows
/// does not compile, nor does a table that leaves a gap among the
/// discriminants it covers (a reason left out of it altogether fails the
/// test `every_reason_has_its_own_row`).
const ROW_OF: [u8; REASONS.len()] = {
    let mut rows = [u8::MAX; REASONS.len()];
    let mut i = 0;
    while i < REASONS.len() {
        let d = REASONS[i].reason as usize;
        assert!(rows[d] == u8::MAX, "a reason with two rows in REASONS");
        rows[d] = i as u8;
        i += 1;
    }
    rows
};

const S512: Option<EnhancedStatus> = Some(EnhancedStatus::new(5, 1, 2));
const S544: Option<EnhancedStatus> = Some(EnhancedStatus::new(5, 4, 4));
const S5110: Option<EnhancedStatus> = Some(EnhancedStatus::new(5, 1, 10));

/// The reason table, in the order the rules try them ([`crate::decide::RULES`]
/// follows it; a test compares both with the README).
pub const REASONS: &[ReasonInfo] = &[
    row(
        Reason::AddressInvalid,
        "address_invalid",
        Action::Suppress,
        Some(EnhancedStatus::new(5, 1, 3)),
        "address syntax",
    ),
    row(
        Reason::DomainInvalid,
        "domain_invalid",
        Action::Suppress,
        S512,
        "domain syntax",
    ),
    row(
        Reason::DomainReserved,
        "domain_reserved",
        Action::Suppress,
        S512,
        "special-use name (.invalid, .test, .example, .localhost, .local, .onion, .arpa, .alt, .internal)",
    ),
    row(
        Reason::DeadDomain,
        "dead_domain",
        Action::Suppress,
        Some(EnhancedStatus::new(5, 4, 7)),
        "history: only temporary failures since the last success, for at least `--dead-after` and `--dead-min-checks` checks",
    ),
    row(
        Reason::Nxdomain,
        "nxdomain",
        Action::Suppress,
        S512,
        "MX query answered NXDOMAIN",
    ),
    row(
        Reason::NullMx,
        "null_mx",
        Action::Suppress,
        S5110,
        "an MX with exchange `.` (RFC 7505)",
    ),
    row(
        Reason::NullMxMalformed,
        "null_mx_malformed",
        Action::Suppress,
        S5110,
        "every MX target is an all-numeric name such as `0.`",
    ),
    row(
        Reason::NoMailHost,
        "no_mail_host",
        Action::Suppress,
        S544,
        "no MX records and no A/AAAA either",
    ),
    row(
        Reason::NoMx,
        "no_mx",
        Action::Suppress,
        S544,
        "no MX records, A/AAAA present, `--implicit-mx suppress`",
    ),
    row(
        Reason::NoAnswer,
        "no_answer",
        Action::Retry,
        Some(EnhancedStatus::new(4, 4, 1)),
        "`--probe`: every probed MX address failed on port 25 (refused, timeout, reset, 421/554 greeting, no greeting)",
    ),
    row(
        Reason::Deliverable,
        "deliverable",
        Action::Deliver,
        None,
        "at least one MX target has a usable address",
    ),
    row(
        Reason::ImplicitMx,
        "implicit_mx",
        Action::Deliver,
        None,
        "no MX records, usable A/AAAA, `--implicit-mx accept`",
    ),
    row(
        Reason::DnsFailure,
        "dns_failure",
        Action::Retry,
        Some(EnhancedStatus::new(4, 4, 3)),
        "a lookup failed temporarily: SERVFAIL, REFUSED, timeout, lame delegation, malformed reply",
    ),
    row(
        Reason::MxLocalhost,
        "mx_localhost",
        Action::Suppress,
        S544,
        "no usable target; a target is localhost or resolves only to loopback/unspecified",
    ),
    row(
        Reason::MxUnroutable,
        "mx_unroutable",
        Action::Suppress,
        S544,
        "no usable target; the addresses found are not globally reachable",
    ),
    row(
        Reason::MxTypo,
        "mx_typo",
        Action::Suppress,
        S544,
        "no usable MX target, and one is a near miss of a major provider's MX domain",
    ),
    row(
        Reason::MxUnresolvable,
        "mx_unresolvable",
        Action::Suppress,
        S544,
        "no MX target resolves to any address",
    ),
];

impl Reason {
    /// This reason's row in [`REASONS`].
    pub fn info(self) -> &'static ReasonInfo {
        // Every output row asks for its reason's code, action and status:
        // an index, not a search of the table.
        &REASONS[ROW_OF[self as usize] as usize]
    }

    /// The stable code, e.g. `null_mx`.
    pub fn code(self) -> &'static str {
        self.info().code
    }

    /// The action this reason implies.
    pub fn action(self) -> Action {
        self.info().action
    }

    /// The RFC 3463 status, `None` when the address is deliverable.
    pub fn status(self) -> Option<EnhancedStatus> {
        self.info().status
    }

    /// Looks a reason up by its code.
    pub fn from_code(code: &str) -> Option<Reason> {
        REASONS.iter().find(|r| r.code == code).map(|r| r.reason)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Something worth knowing that does not change the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// A null MX published beside other MX records, against RFC 7505 §3.
    NullMxMixed,
    /// An MX exchange is an alias (CNAME), against RFC 2181 §10.3; MTAs deliver anyway.
    MxCname,
    /// An MX exchange is written as an IP address, not a host name (RFC 5321 §5.1).
    MxIpLiteral,
    /// Some MX targets are unusable; mail goes to the others.
    MxPartiallyUnusable,
    /// No MX records: mail would go to the domain's own A/AAAA (RFC 5321 §5.1).
    ImplicitMx,
    /// Probing was asked for but outbound port 25 seems blocked here: the
    /// verdict rests on DNS alone.
    ProbeUnavailable,
    /// A domain that was deliverable lately now reads as permanently
    /// failing: held as `retry` until a second reading an hour later agrees.
    NeedsConfirmation,
    /// A usable MX target whose domain is a near miss of a major provider's
    /// (a typosquatted domain may be receiving the mail).
    MxTypoSuspect,
    /// Our own resolver failed its health check (the canaries did not
    /// resolve, or it invented an answer for a name that cannot exist): no
    /// verdict rests on its answers.
    ResolverUnhealthy,
    /// The check did not finish within the caller's time limit (a server's
    /// request deadline): the row is `retry`, and the check goes on.
    Unfinished,
}

impl Warning {
    /// Every warning, for documentation and tests.
    pub const ALL: [Warning; 10] = [
        Warning::NullMxMixed,
        Warning::MxCname,
        Warning::MxIpLiteral,
        Warning::MxPartiallyUnusable,
        Warning::ImplicitMx,
        Warning::ProbeUnavailable,
        Warning::NeedsConfirmation,
        Warning::MxTypoSuspect,
        Warning::ResolverUnhealthy,
        Warning::Unfinished,
    ];

    /// The stable code, e.g. `mx_cname`.
    pub fn code(self) -> &'static str {
        match self {
            Warning::NullMxMixed => "null_mx_mixed",
            Warning::MxCname => "mx_cname",
            Warning::MxIpLiteral => "mx_ip_literal",
            Warning::MxPartiallyUnusable => "mx_partially_unusable",
            Warning::ImplicitMx => "implicit_mx",
            Warning::ProbeUnavailable => "probe_unavailable",
            Warning::NeedsConfirmation => "needs_confirmation",
            Warning::MxTypoSuspect => "mx_typo_suspect",
            Warning::ResolverUnhealthy => "resolver_unhealthy",
            Warning::Unfinished => "unfinished",
        }
    }
}

impl Warning {
    /// The codes of `warnings`, `;`-separated (the CSV and history form).
    pub fn join(warnings: &[Warning]) -> String {
        warnings
            .iter()
            .map(|w| w.code())
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Looks a warning up by its code.
    pub fn from_code(code: &str) -> Option<Warning> {
        Warning::ALL.into_iter().find(|w| w.code() == code)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A probable correction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suggestion {
    /// The MX host the domain's owner probably meant (`mx1.pphosted.com`).
    Host(String),
    /// The mailbox domain the address's owner probably meant (`gmail.com`).
    Domain(String),
}

/// The judgement on one address (or one domain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Why.
    pub reason: Reason,
    /// A one-line explanation for humans, naming the evidence.
    pub detail: String,
    /// Sorted, without duplicates.
    pub warnings: Vec<Warning>,
    /// A permanent reason held back as `retry` until confirmed (see
    /// [`Warning::NeedsConfirmation`]): the action is `retry` and the
    /// status the reason's with class 4.
    pub held: bool,
    /// A probable correction, when one stands out.
    pub suggestion: Option<Suggestion>,
}

impl Verdict {
    /// A verdict with no warnings.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Verdict {
            reason,
            detail: detail.into(),
            warnings: Vec::new(),
            held: false,
            suggestion: None,
        }
    }

    /// What to do; implied by the reason, `retry` when held.
    pub fn action(&self) -> Action {
        if self.held {
            Action::Retry
        } else {
            self.reason.action()
        }
    }

    /// The enhanced status code; implied by the reason, class 4 when held.
    pub fn status(&self) -> Option<EnhancedStatus> {
        let s = self.reason.status()?;
        Some(if self.held {
            EnhancedStatus { class: 4, ..s }
        } else {
            s
        })
    }

    /// Adds warnings, keeping the list sorted and unique.
    pub fn with_warnings(mut self, warnings: impl IntoIterator<Item = Warning>) -> Self {
        self.warnings.extend(warnings);
        self.warnings.sort();
        self.warnings.dedup();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_one_row_and_a_unique_code() {
        for info in REASONS {
            assert_eq!(info.reason.info().code, info.code);
            assert_eq!(Reason::from_code(info.code), Some(info.reason));
        }
        let mut codes: Vec<_> = REASONS.iter().map(|r| r.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), REASONS.len());
    }

    #[test]
    fn every_reason_has_its_own_row() {
        use Reason::*;
        let all = [
            AddressInvalid,
            DomainInvalid,
            DomainReserved,
            Nxdomain,
            DnsFailure,
            NullMx,
            NullMxMalformed,
            NoMailHost,
            NoMx,
            Deliverable,
            ImplicitMx,
            MxLocalhost,
            MxUnroutable,
            MxUnresolvable,
            NoAnswer,
            DeadDomain,
            MxTypo,
        ];
        // Exhaustive: a new reason does not compile until it is listed.
        for r in all {
            match r {
                AddressInvalid | DomainInvalid | DomainReserved | Nxdomain | DnsFailure
                | NullMx | NullMxMalformed | NoMailHost | NoMx | Deliverable | ImplicitMx
                | MxLocalhost | MxUnroutable | MxUnresolvable | NoAnswer | DeadDomain | MxTypo => {}
            }
        }
        assert_eq!(REASONS.len(), all.len());
        for r in all {
            assert_eq!(r.info().reason, r);
        }
    }

    #[test]
    fn temporary_reasons_never_carry_a_permanent_status() {
        for info in REASONS {
            match info.action {
                Action::Deliver => assert!(info.status.is_none(), "{}", info.code),
                Action::Retry => assert_eq!(info.status.unwrap().class, 4, "{}", info.code),
                Action::Suppress => assert_eq!(info.status.unwrap().class, 5, "{}", info.code),
            }
        }
    }

    #[test]
    fn status_prints_dotted() {
        assert_eq!(Reason::NullMx.status().unwrap().to_string(), "5.1.10");
        assert_eq!(
            "5.1.10".parse::<EnhancedStatus>(),
            Ok(Reason::NullMx.status().unwrap())
        );
        assert!("5.1".parse::<EnhancedStatus>().is_err());
        assert_eq!(Action::from_name("retry"), Some(Action::Retry));
        assert_eq!(Reason::DnsFailure.status().unwrap().to_string(), "4.4.3");
    }
}
