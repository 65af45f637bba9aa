//! The decision: what is known about a domain (its syntax, or the evidence
//! DNS, the port-25 probe and the typo analysis gathered), its past
//! observations and today's policy in; one [`Verdict`] out.
//!
//! Pure: no I/O and no clock (the caller passes `now`). The rules are a
//! table, [`RULES`], tried in order; the first that matches wins. The order
//! is the reason table's ([`crate::verdict::REASONS`], and the README's
//! table, which a test compares with both). Two steps then refine the
//! winning verdict without changing its reason:
//!
//! - **confirmation of flips** (history): a permanent reading of a domain
//!   that was deliverable lately is held as `retry` until a second reading
//!   agrees ([`crate::history::FLIP_REASONS`]);
//! - **the address meant**: a failing domain close to one popular mailbox
//!   domain gets it as a suggestion ([`SUGGEST_FOR`]).
//!
//! The one invariant above all: a temporary failure anywhere in the
//! evidence that could change the answer gives `retry`, never `suppress`.

use std::cell::OnceCell;

use crate::address::SyntaxError;
use crate::evidence::{DomainEvidence, ExchangeKind, MxTarget, QueryStatus};
use crate::history::{date, is_flip, secs, History, HistoryPolicy};
use crate::ipfmt::push_u64;
use crate::probe::{HostOutcome, ProbeEvidence, ProbeStatus};
use crate::rules::{
    assess_host, assess_target, list_addresses, ImplicitMx, Policy, TargetAssessment, TargetState,
};
use crate::verdict::{Action, Reason, Suggestion, Verdict, Warning};

/// What a decision is about.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// An address or domain that failed the syntax checks: never asked of DNS.
    Syntax {
        /// Why it failed.
        error: &'a SyntaxError,
        /// The popular mailbox domain it was probably meant to be.
        meant: Option<&'a str>,
    },
    /// What was gathered about a syntactically valid domain.
    Evidence(&'a DomainEvidence),
    /// Nothing could be gathered because of a failure on our side: our own
    /// resolver failed its health check, or the check ran out of the
    /// caller's time. Never the domain's fault.
    OurFault {
        /// The domain.
        domain: &'a str,
        /// What failed, in a few words.
        why: &'a str,
        /// Which failure: [`Warning::ResolverUnhealthy`] or
        /// [`Warning::Unfinished`].
        warning: Warning,
    },
}

/// A domain's past, and the thresholds to read it with.
#[derive(Clone, Copy, Debug)]
pub struct Past<'a> {
    /// The observations before this one.
    pub history: &'a History,
    /// The thresholds of the history rules.
    pub policy: &'a HistoryPolicy,
    /// Whether today's reading counts toward `dead_domain`: false when it
    /// was made while our own resolver (or probe canary) was unhealthy.
    pub today_counts: bool,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The reason the evidence alone gives, before history (`None` for a
    /// syntax failure): what the history store remembers as the reading.
    pub reading: Option<Reason>,
}

/// Where a rule's facts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// The address or domain syntax, before DNS.
    Syntax,
    /// Past observations together with today's reading.
    History,
    /// Today's evidence (DNS, probe, typo analysis) under the policy.
    Evidence,
}

/// One row of the rule table.
#[derive(Clone, Copy)]
pub struct Rule {
    /// The reason it gives.
    pub reason: Reason,
    /// What it looks at.
    pub kind: RuleKind,
    /// The rule: a verdict when it matches.
    pub test: fn(&Facts<'_>) -> Option<Verdict>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("reason", &self.reason)
            .field("kind", &self.kind)
            .finish()
    }
}

const fn rule(reason: Reason, kind: RuleKind, test: fn(&Facts<'_>) -> Option<Verdict>) -> Rule {
    Rule { reason, kind, test }
}

/// The rules, in the order they are tried: the reason table's order.
pub const RULES: &[Rule] = &[
    rule(Reason::AddressInvalid, RuleKind::Syntax, address_invalid),
    rule(Reason::DomainInvalid, RuleKind::Syntax, domain_invalid),
    rule(Reason::DomainReserved, RuleKind::Syntax, domain_reserved),
    rule(Reason::DeadDomain, RuleKind::History, dead_domain),
    rule(Reason::Nxdomain, RuleKind::Evidence, nxdomain),
    rule(Reason::NullMx, RuleKind::Evidence, null_mx),
    rule(
        Reason::NullMxMalformed,
        RuleKind::Evidence,
        null_mx_malformed,
    ),
    rule(Reason::NoMailHost, RuleKind::Evidence, no_mail_host),
    rule(Reason::NoMx, RuleKind::Evidence, no_mx),
    rule(Reason::NoAnswer, RuleKind::Evidence, no_answer),
    rule(Reason::Deliverable, RuleKind::Evidence, deliverable),
    rule(Reason::ImplicitMx, RuleKind::Evidence, implicit_mx),
    rule(Reason::DnsFailure, RuleKind::Evidence, dns_failure),
    rule(Reason::MxLocalhost, RuleKind::Evidence, mx_localhost),
    rule(Reason::MxUnroutable, RuleKind::Evidence, mx_unroutable),
    rule(Reason::MxTypo, RuleKind::Evidence, mx_typo),
    rule(Reason::MxUnresolvable, RuleKind::Evidence, mx_unresolvable),
];

/// Reasons whose domain may be a mistyped popular one: the verdict carries
/// the address meant when the typo analysis found one.
pub const SUGGEST_FOR: [Reason; 5] = [
    Reason::Nxdomain,
    Reason::NoMx,
    Reason::NoMailHost,
    Reason::MxUnresolvable,
    Reason::DomainInvalid,
];

/// The DNS facts, assessed once for all the rules.
struct Dns<'a> {
    ev: &'a DomainEvidence,
    kinds: Vec<ExchangeKind>,
    /// Each MX target's assessment, in `ev.targets` order.
    assessed: Vec<TargetAssessment>,
    /// The implicit MX's assessment (MX NODATA and A/AAAA looked up).
    implicit: Option<TargetAssessment>,
    /// Warnings about the MX set: `mx_ip_literal`, `mx_cname`.
    warnings: Vec<Warning>,
}

/// What the rules look at: the subject, assessed once, with the past and
/// the policy.
pub struct Facts<'a> {
    subject: Subject<'a>,
    dns: Option<Dns<'a>>,
    policy: &'a Policy,
    past: Option<Past<'a>>,
    now: i64,
    reading: OnceCell<Option<Verdict>>,
}

impl<'a> Facts<'a> {
    /// Assesses the subject under the policy.
    pub fn new(
        subject: Subject<'a>,
        past: Option<Past<'a>>,
        policy: &'a Policy,
        now: i64,
    ) -> Facts<'a> {
        let dns = match subject {
            Subject::Syntax { .. } | Subject::OurFault { .. } => None,
            Subject::Evidence(ev) => {
                let kinds: Vec<ExchangeKind> = ev.targets.iter().map(MxTarget::kind).collect();
                let mut warnings = Vec::new();
                if kinds
                    .iter()
                    .any(|k| matches!(k, ExchangeKind::IpLiteral(_)))
                {
                    warnings.push(Warning::MxIpLiteral);
                }
                if ev
                    .targets
                    .iter()
                    .any(|t| t.host.as_ref().is_some_and(|h| !h.cname().is_empty()))
                {
                    warnings.push(Warning::MxCname);
                }
                Some(Dns {
                    ev,
                    assessed: ev
                        .targets
                        .iter()
                        .map(|t| assess_target(t, policy))
                        .collect(),
                    implicit: (ev.mx.status == QueryStatus::NoData)
                        .then(|| ev.implicit.as_ref().map(|h| assess_host(h, policy)))
                        .flatten(),
                    kinds,
                    warnings,
                })
            }
        };
        Facts {
            subject,
            dns,
            policy,
            past,
            now,
            reading: OnceCell::new(),
        }
    }

    /// The verdict of the evidence rules alone: today's reading.
    fn reading(&self) -> Option<&Verdict> {
        self.reading
            .get_or_init(|| {
                RULES
                    .iter()
                    .filter(|r| r.kind == RuleKind::Evidence)
                    .find_map(|r| (r.test)(self))
            })
            .as_ref()
    }

    fn syntax(&self) -> Option<&'a SyntaxError> {
        match self.subject {
            Subject::Syntax { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The DNS facts when the MX query answered with records.
    fn answered(&self) -> Option<&Dns<'a>> {
        self.dns
            .as_ref()
            .filter(|d| d.ev.mx.status == QueryStatus::Answer)
    }

    /// The DNS facts and the implicit MX's assessment, when the MX query
    /// said NODATA and the domain's own A/AAAA were looked up.
    fn nodata(&self) -> Option<(&Dns<'a>, &TargetAssessment)> {
        let d = self.dns.as_ref()?;
        Some((d, d.implicit.as_ref()?))
    }

    fn probe(&self) -> Option<&'a ProbeEvidence> {
        self.dns.as_ref()?.ev.probe.as_deref()
    }

    fn probe_status(&self) -> Option<ProbeStatus> {
        self.probe().map(ProbeEvidence::status)
    }
}

impl Dns<'_> {
    fn domain(&self) -> &str {
        &self.ev.domain
    }

    fn usable(&self) -> impl Iterator<Item = (&MxTarget, &TargetAssessment)> {
        self.ev
            .targets
            .iter()
            .zip(&self.assessed)
            .filter(|(_, a)| a.state == TargetState::Usable)
    }

    fn first_in(&self, state: TargetState) -> Option<(&MxTarget, &TargetAssessment)> {
        self.ev
            .targets
            .iter()
            .zip(&self.assessed)
            .find(|(_, a)| a.state == state)
    }

    /// No MX target is usable (the MX query answered).
    fn none_usable(&self) -> bool {
        !self.assessed.iter().any(|a| a.state == TargetState::Usable)
    }

    /// The detail of a verdict about one unusable target.
    fn unusable_detail(&self, target: &MxTarget, a: &TargetAssessment, tail: &str) -> String {
        let domain = self.domain();
        if self.assessed.len() == 1 {
            format!(
                "{domain}: its only MX host {} {}{tail}",
                target.mx.exchange,
                a.note()
            )
        } else {
            format!(
                "{domain}: none of its {} MX hosts is usable; {} {}{tail}",
                self.assessed.len(),
                target.mx.exchange,
                a.note()
            )
        }
    }

    /// A verdict about the MX set, with its warnings.
    fn verdict(&self, reason: Reason, detail: String) -> Verdict {
        Verdict::new(reason, detail).with_warnings(self.warnings.iter().copied())
    }

    /// A verdict about the implicit MX under `--implicit-mx accept`.
    fn implicit_verdict(&self, reason: Reason, a: &TargetAssessment) -> Verdict {
        let domain = self.domain();
        Verdict::new(
            reason,
            format!("{domain}: no MX records; implicit MX {domain} {}", a.note()),
        )
        .with_warnings([Warning::ImplicitMx])
    }
}

fn syntax_rule(f: &Facts<'_>, reason: Reason) -> Option<Verdict> {
    let e = f.syntax().filter(|e| e.reason == reason)?;
    Some(Verdict::new(reason, e.detail.clone()))
}

/// `address_invalid`: the local part or the address's shape breaks RFC 5321
/// §4.1.2 (dot-string or quoted string) or the lengths of §4.5.3.1.
fn address_invalid(f: &Facts<'_>) -> Option<Verdict> {
    syntax_rule(f, Reason::AddressInvalid)
}

/// `domain_invalid`: the domain is no host name (RFC 1035 §2.3.1, RFC 5321
/// §4.1.2, UTS #46 for IDNA), or an address literal.
fn domain_invalid(f: &Facts<'_>) -> Option<Verdict> {
    syntax_rule(f, Reason::DomainInvalid)
}

/// `domain_reserved`: a special-use name that never receives Internet mail
/// (RFC 6761, RFC 6762 `.local`, RFC 7686 `.onion`, RFC 9476 `.alt`).
fn domain_reserved(f: &Facts<'_>) -> Option<Verdict> {
    syntax_rule(f, Reason::DomainReserved)
}

/// `dead_domain`: today's reading is temporary (`dns_failure`, `no_answer`)
/// and so is every reading since the last success, spanning at least
/// `dead_after` with at least `dead_min_checks` readings. An MTA gives up on
/// a message after 4-5 days (RFC 5321 §4.5.4.1; Exim 4 days, Postfix 5,
/// KumoMTA 7) and returns it with X.4.7, delivery time expired (RFC 3463).
/// Readings made while our own resolver or probe canary was unhealthy do
/// not count.
fn dead_domain(f: &Facts<'_>) -> Option<Verdict> {
    let past = f.past?;
    let today = f.reading()?;
    if today.action() != Action::Retry || !past.today_counts {
        return None;
    }
    let streak = &past.history.since_success;
    if !streak.iter().all(|r| r.reason.action() == Action::Retry) {
        return None;
    }
    let counted: Vec<_> = streak.iter().filter(|r| r.counts).collect();
    let first = counted.first()?;
    let checks = counted.len() + 1;
    if checks < past.policy.dead_min_checks || f.now - first.at < secs(past.policy.dead_after) {
        return None;
    }
    let cause = match today.reason {
        Reason::NoAnswer => "no answer on port 25",
        _ => "DNS failing temporarily",
    };
    Some(
        Verdict::new(
            Reason::DeadDomain,
            format!(
                "{cause} since {}, {checks} checks, no success since; last: {}",
                date(first.at),
                today.detail
            ),
        )
        .with_warnings(today.warnings.iter().copied()),
    )
}

/// `nxdomain`: the MX query answered NXDOMAIN (RFC 5321 §5.1: a
/// non-existent domain is an error; RFC 2308 §2.1).
fn nxdomain(f: &Facts<'_>) -> Option<Verdict> {
    let d = f.dns.as_ref()?;
    (d.ev.mx.status == QueryStatus::NxDomain).then(|| {
        Verdict::new(
            Reason::Nxdomain,
            format!(
                "{}: MX query answered NXDOMAIN, the domain does not exist",
                d.domain()
            ),
        )
    })
}

/// `null_mx`: an MX with exchange `.` (RFC 7505 §3; senders return 5.1.10,
/// §4.1). Beside other records (against §3), warning `null_mx_mixed`.
fn null_mx(f: &Facts<'_>) -> Option<Verdict> {
    let d = f.answered()?;
    if !d.kinds.contains(&ExchangeKind::Null) {
        return None;
    }
    let domain = d.domain();
    let others = d.ev.targets.len() - 1;
    Some(if others > 0 {
        Verdict::new(
            Reason::NullMx,
            format!(
                "{domain} publishes a null MX (RFC 7505) beside {others} other MX record(s): it accepts no mail"
            ),
        )
        .with_warnings([Warning::NullMxMixed])
    } else {
        Verdict::new(
            Reason::NullMx,
            format!("{domain} publishes a null MX (RFC 7505): it accepts no mail"),
        )
    })
}

/// `null_mx_malformed`: every exchange is all-numeric (`MX 0 0.`), a
/// botched null MX; an all-numeric name is no host name (RFC 1123 §2.1).
fn null_mx_malformed(f: &Facts<'_>) -> Option<Verdict> {
    let d = f.answered()?;
    if d.kinds.is_empty() || !d.kinds.iter().all(|k| *k == ExchangeKind::Numeric) {
        return None;
    }
    let names: Vec<String> =
        d.ev.targets
            .iter()
            .map(|t| format!("MX {} {}.", t.mx.preference, t.mx.exchange))
            .collect();
    Some(Verdict::new(
        Reason::NullMxMalformed,
        format!(
            "{} publishes {}: an all-numeric exchange, a botched null MX",
            d.domain(),
            names.join(", ")
        ),
    ))
}

/// `no_mail_host`: MX NODATA, and the domain's own A and AAAA lookups both
/// final and empty: no implicit MX either (RFC 5321 §5.1).
fn no_mail_host(f: &Facts<'_>) -> Option<Verdict> {
    let (d, a) = f.nodata()?;
    (a.addresses.is_empty() && a.state != TargetState::TempFail).then(|| {
        Verdict::new(
            Reason::NoMailHost,
            format!(
                "{}: no MX records and no A/AAAA records: no host accepts its mail",
                d.domain()
            ),
        )
    })
}

/// `no_mx`: MX NODATA, the domain has A/AAAA, and the policy does not take
/// them as an implicit MX (RFC 5321 §5.1 allows it; in bulk lists such
/// domains are almost always web-only): `--implicit-mx suppress`, or
/// `--implicit-mx probe` and the address did not answer on port 25.
fn no_mx(f: &Facts<'_>) -> Option<Verdict> {
    let (d, a) = f.nodata()?;
    if a.addresses.is_empty() {
        return None;
    }
    let domain = d.domain();
    let addrs = list_addresses(&a.addresses);
    match f.policy.implicit_mx {
        ImplicitMx::Accept => None,
        ImplicitMx::Suppress => Some(Verdict::new(
            Reason::NoMx,
            format!(
                "{domain}: no MX records, only A/AAAA ({addrs}); a domain without MX does not want mail (--implicit-mx suppress)"
            ),
        )),
        ImplicitMx::Probe => {
            let status = f.probe_status();
            if status == Some(ProbeStatus::Answered) && a.state == TargetState::Usable {
                return None;
            }
            let why = match status {
                Some(ProbeStatus::NoAnswer) => "did not answer on port 25",
                Some(ProbeStatus::Unavailable) => {
                    "could not be probed (outbound port 25 seems blocked)"
                }
                _ => "is not a usable destination",
            };
            let v = Verdict::new(
                Reason::NoMx,
                format!(
                    "{domain}: no MX records, and its own address ({addrs}) {why} (--implicit-mx probe)"
                ),
            );
            Some(if status == Some(ProbeStatus::Unavailable) {
                v.with_warnings([Warning::ProbeUnavailable])
            } else {
                v
            })
        }
    }
}

/// `no_answer`: DNS gives a usable destination, but every probed address
/// failed on port 25 (refused, timeout, reset, `421`/`554` greeting, no
/// greeting). RFC 5321 §4.5.4.1: a host that does not answer is retried;
/// RFC 3463 X.4.1, no answer from host.
fn no_answer(f: &Facts<'_>) -> Option<Verdict> {
    let probe = f.probe()?;
    if probe.status() != ProbeStatus::NoAnswer {
        return None;
    }
    let (domain, warnings) = if let Some(d) = f.answered() {
        let usable = d.usable().count();
        if usable == 0 {
            return None;
        }
        let mut w = d.warnings.clone();
        if usable < d.assessed.len() {
            w.push(Warning::MxPartiallyUnusable);
        }
        (d.domain(), w)
    } else {
        let (d, a) = f.nodata()?;
        if f.policy.implicit_mx != ImplicitMx::Accept || a.state != TargetState::Usable {
            return None;
        }
        (d.domain(), vec![Warning::ImplicitMx])
    };
    let tried: Vec<String> = probe
        .hosts
        .iter()
        .map(|h| format!("{} {}", h.addr, h.outcome.describe()))
        .collect();
    let port = probe.hosts.first().map(|h| h.addr.port()).unwrap_or(25);
    let mut v = Verdict::new(
        Reason::NoAnswer,
        format!(
            "{domain}: no MX address answered on port {port} ({}); try again later",
            tried.join(", ")
        ),
    )
    .with_warnings(warnings);
    typo_suspect(f, &mut v);
    Some(v)
}

/// Warnings every deliverable-by-DNS verdict carries: a near-miss MX host
/// that resolves (`mx_typo_suspect`).
fn typo_suspect(f: &Facts<'_>, v: &mut Verdict) {
    if let Some(d) = f.answered() {
        let suspect = d.ev.typos.near_misses.iter().any(|m| {
            d.ev.targets
                .iter()
                .zip(&d.assessed)
                .any(|(t, a)| t.mx.exchange == m.host && a.state == TargetState::Usable)
        });
        if suspect {
            v.warnings.push(Warning::MxTypoSuspect);
            v.warnings.sort();
            v.warnings.dedup();
        }
    }
}

/// The detail the probe adds to a deliverable verdict, and its warning when
/// our own port 25 seems blocked.
fn with_probe(f: &Facts<'_>, mut v: Verdict) -> Verdict {
    match f.probe() {
        Some(p) if p.status() == ProbeStatus::Unavailable => {
            v = v.with_warnings([Warning::ProbeUnavailable]);
        }
        Some(p) => {
            if let Some(h) = p.hosts.iter().find(|h| h.outcome == HostOutcome::Answered) {
                v.detail.push_str(&format!(
                    "; {} answered on port {}",
                    h.addr.ip(),
                    h.addr.port()
                ));
            }
        }
        None => {}
    }
    v
}

/// `deliverable`: at least one MX target has a usable (global or trusted)
/// address (RFC 5321 §5.1: unusable targets are skipped). Warnings:
/// `mx_partially_unusable`, `mx_cname` (RFC 2181 §10.3), `mx_ip_literal`,
/// `mx_typo_suspect`, `probe_unavailable`.
fn deliverable(f: &Facts<'_>) -> Option<Verdict> {
    let d = f.answered()?;
    let usable: Vec<_> = d.usable().collect();
    let (first, a) = usable.first()?;
    let mut v = d.verdict(
        Reason::Deliverable,
        deliverable_detail(d.domain(), usable.len(), d.assessed.len(), first, a),
    );
    if usable.len() < d.assessed.len() {
        v = v.with_warnings([Warning::MxPartiallyUnusable]);
    }
    typo_suspect(f, &mut v);
    Some(with_probe(f, v))
}

/// `deliverable`'s detail: `d.zz: 1 of 2 MX host(s) usable; first mx.d.zz
/// resolves to 192.0.2.1`. Pushed, not formatted: it is written for most
/// domains of a list, and `format!` cost 1,800 instructions of its 2,900.
fn deliverable_detail(
    domain: &str,
    usable: usize,
    of: usize,
    first: &MxTarget,
    a: &TargetAssessment,
) -> String {
    let mut out = String::with_capacity(domain.len() + first.mx.exchange.len() + 72);
    out.push_str(domain);
    out.push_str(": ");
    push_u64(&mut out, usable as u64);
    out.push_str(" of ");
    push_u64(&mut out, of as u64);
    out.push_str(" MX host(s) usable; first ");
    out.push_str(&first.mx.exchange);
    out.push(' ');
    a.push_note(&mut out);
    out
}

/// `implicit_mx`: MX NODATA and the domain's own address is usable, under
/// `--implicit-mx accept`, or `--implicit-mx probe` when it answered on
/// port 25 (RFC 5321 §5.1, the implicit MX).
fn implicit_mx(f: &Facts<'_>) -> Option<Verdict> {
    let (d, a) = f.nodata()?;
    if a.state != TargetState::Usable {
        return None;
    }
    match f.policy.implicit_mx {
        ImplicitMx::Suppress => None,
        ImplicitMx::Accept => Some(with_probe(f, d.implicit_verdict(Reason::ImplicitMx, a))),
        ImplicitMx::Probe => (f.probe_status() == Some(ProbeStatus::Answered)).then(|| {
            Verdict::new(
                Reason::ImplicitMx,
                format!(
                    "{}: no MX records; its own address answered on port 25 (implicit MX, {})",
                    d.domain(),
                    list_addresses(&a.addresses)
                ),
            )
            .with_warnings([Warning::ImplicitMx])
        }),
    }
}

/// `dns_failure`: a lookup that could change the answer failed temporarily
/// (SERVFAIL, REFUSED, timeout, lame, malformed): the MX query itself, the
/// domain's own A/AAAA when it has no MX, or an MX target's when no other
/// target is usable; or a failure of ours: our own resolver failed its
/// health check (warning `resolver_unhealthy`), or the check did not finish
/// in the caller's time (warning `unfinished`). RFC 5321 §5.1: a temporary
/// DNS error must be retried.
fn dns_failure(f: &Facts<'_>) -> Option<Verdict> {
    if let Subject::OurFault {
        domain,
        why,
        warning,
    } = f.subject
    {
        return Some(
            Verdict::new(
                Reason::DnsFailure,
                format!("{domain}: not checked: {why}; try again later"),
            )
            .with_warnings([warning]),
        );
    }
    let d = f.dns.as_ref()?;
    let domain = d.domain();
    match d.ev.mx.status {
        QueryStatus::Answer => {
            if !d.none_usable() {
                return None;
            }
            let (t, a) = d.first_in(TargetState::TempFail)?;
            Some(d.verdict(
                Reason::DnsFailure,
                d.unusable_detail(t, a, "; try again later"),
            ))
        }
        QueryStatus::NoData => {
            let Some(host) = &d.ev.implicit else {
                return Some(Verdict::new(
                    Reason::DnsFailure,
                    format!(
                        "{domain}: MX NODATA but the A/AAAA lookups were not made; try again later"
                    ),
                ));
            };
            let a = d.implicit.as_ref()?;
            if a.state != TargetState::TempFail {
                return None;
            }
            if f.policy.implicit_mx == ImplicitMx::Accept && !a.addresses.is_empty() {
                return Some(d.implicit_verdict(Reason::DnsFailure, a));
            }
            let (rtype, status) = host.temporary_failure()?;
            Some(Verdict::new(
                Reason::DnsFailure,
                format!(
                    "{domain}: no MX records, and the {rtype} lookup {}; try again later",
                    status.describe()
                ),
            ))
        }
        QueryStatus::NxDomain => None,
        temporary => Some(Verdict::new(
            Reason::DnsFailure,
            format!(
                "{domain}: MX query {}; try again later",
                temporary.describe()
            ),
        )),
    }
}

/// An unusable-destination rule: the first MX target in `state` when none
/// is usable, or the implicit MX in `state` under `--implicit-mx accept`.
fn unusable(f: &Facts<'_>, state: TargetState, reason: Reason) -> Option<Verdict> {
    if let Some(d) = f.answered() {
        if !d.none_usable() {
            return None;
        }
        let (t, a) = d.first_in(state)?;
        return Some(d.verdict(reason, d.unusable_detail(t, a, "")));
    }
    let (d, a) = f.nodata()?;
    (f.policy.implicit_mx == ImplicitMx::Accept && a.state == state)
        .then(|| d.implicit_verdict(reason, a))
}

/// `mx_localhost`: no usable target, and one is `localhost` (RFC 6761
/// §6.3) or resolves only to loopback/unspecified addresses (RFC 6890):
/// mail would loop back to the sender (Postfix 5.4.6, KumoMTA 5.4.4).
fn mx_localhost(f: &Facts<'_>) -> Option<Verdict> {
    unusable(f, TargetState::Loopback, Reason::MxLocalhost)
}

/// `mx_unroutable`: no usable target, and the addresses found are not
/// globally reachable (the IANA special-purpose registries, RFC 6890).
fn mx_unroutable(f: &Facts<'_>) -> Option<Verdict> {
    unusable(f, TargetState::NonGlobal, Reason::MxUnroutable)
}

/// `mx_typo`: no usable target, and one of them is a near miss of a major
/// provider's MX domain (`mx1.pphosted.con`): the owner mistyped it. The
/// suggestion names the host meant.
fn mx_typo(f: &Facts<'_>) -> Option<Verdict> {
    let d = f.answered()?;
    if !d.none_usable() {
        return None;
    }
    let m = d.ev.typos.near_misses.first()?;
    let (t, a) =
        d.ev.targets
            .iter()
            .zip(&d.assessed)
            .find(|(t, _)| t.mx.exchange == m.host)?;
    let mut v = d.verdict(
        Reason::MxTypo,
        format!(
            "{}: its MX host {} looks like a typo of {}'s {}; the owner probably meant {} ({})",
            d.domain(),
            m.host,
            m.provider,
            m.provider_domain,
            m.meant,
            d.unusable_detail(t, a, "")
        ),
    );
    v.suggestion = Some(Suggestion::Host(m.meant.clone()));
    Some(v)
}

/// `mx_unresolvable`: no target resolves to any address (NXDOMAIN or NODATA
/// for both A and AAAA; RFC 5321 §5.1: MX records present but none usable
/// is an error).
fn mx_unresolvable(f: &Facts<'_>) -> Option<Verdict> {
    if let Some(d) = f.answered() {
        if !d.none_usable() {
            return None;
        }
        let (t, a) = d.ev.targets.iter().zip(&d.assessed).next()?;
        return Some(d.verdict(Reason::MxUnresolvable, d.unusable_detail(t, a, "")));
    }
    let (d, a) = f.nodata()?;
    (f.policy.implicit_mx == ImplicitMx::Accept
        && matches!(a.state, TargetState::Unresolvable | TargetState::Botched))
    .then(|| d.implicit_verdict(Reason::MxUnresolvable, a))
}

/// Confirmation of flips: a domain deliverable within `confirm_window`
/// that now reads NXDOMAIN, no mail host, unresolvable MX or no MX may be a
/// registrar or DNS-operator hiccup. Held as `retry` (warning
/// `needs_confirmation`, status class 4) until a reading at least
/// `confirm_delay` after an earlier one agrees. A null MX is an explicit
/// statement (RFC 7505) and is never held.
fn confirm_flip(v: Verdict, past: Option<Past<'_>>, now: i64) -> Verdict {
    let Some(past) = past else { return v };
    if !is_flip(v.reason) {
        return v;
    }
    let h = past.history;
    let recent = h
        .last_success
        .is_some_and(|t| now - t <= secs(past.policy.confirm_window));
    if !recent {
        return v;
    }
    let confirmed = h
        .since_success
        .iter()
        .any(|r| r.reason == v.reason && now - r.at >= secs(past.policy.confirm_delay));
    if confirmed {
        return v;
    }
    let mut held = v.with_warnings([Warning::NeedsConfirmation]);
    held.held = true;
    held.detail.push_str(&format!(
        "; deliverable on {}, so held until a second reading agrees",
        date(h.last_success.unwrap_or(now))
    ));
    held
}

/// Decides: the first rule of [`RULES`] that matches, then the
/// confirmation of flips and the address meant.
pub fn decide(subject: Subject<'_>, past: Option<Past<'_>>, policy: &Policy, now: i64) -> Decision {
    let mut facts = Facts::new(subject, past, policy, now);
    // The evidence rules close the table (a test holds it so): they are
    // tried once, as today's reading, which the history rule may already
    // have asked for; the reading is needed for the decision either way.
    let earlier = RULES
        .iter()
        .take_while(|r| r.kind != RuleKind::Evidence)
        .find_map(|r| (r.test)(&facts));
    let reading = facts.reading().map(|r| r.reason);
    let verdict = earlier
        .or_else(|| facts.reading.take().flatten())
        .unwrap_or_else(|| {
            // Unreachable for well-formed evidence: every MX answer has a
            // target and every target a state. Never suppress on a gap.
            Verdict::new(
                Reason::DnsFailure,
                "the evidence is incomplete; try again later".to_string(),
            )
        });
    let mut verdict = confirm_flip(verdict, past, now);
    if SUGGEST_FOR.contains(&verdict.reason) && verdict.suggestion.is_none() {
        let meant = match subject {
            Subject::Syntax { meant, .. } => meant.map(str::to_string),
            Subject::Evidence(ev) => ev.typos.meant.clone(),
            Subject::OurFault { .. } => None,
        };
        verdict.suggestion = meant.map(Suggestion::Domain);
    }
    Decision { reading, verdict }
}

/// The verdict of the evidence alone: no history, today's policy.
pub fn judge(ev: &DomainEvidence, policy: &Policy) -> Verdict {
    decide(Subject::Evidence(ev), None, policy, 0).verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{HostEvidence, Lookup, MxNearMiss, MxRecord};
    use crate::history::Reading;
    use crate::verdict::REASONS;
    use std::sync::Arc;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_793_577_600; // 2026-11-02

    fn status(s: QueryStatus) -> DomainEvidence {
        DomainEvidence {
            domain: "d.zz".into(),
            mx: Lookup::empty(s),
            targets: vec![],
            implicit: None,
            probe: None,
            typos: Default::default(),
        }
    }

    /// The deliverable detail, pushed: as it read when formatted, with the
    /// count of usable hosts, the first one and its note.
    #[test]
    fn the_deliverable_detail_reads_as_before() {
        let mut ev = mx_to("mx1.d.zz", &["192.0.2.7", "8.8.4.4"], QueryStatus::Answer);
        let second = mx_to("mx2.d.zz", &[], QueryStatus::NxDomain).targets;
        ev.targets.extend(second);
        let policy = Policy::default();
        let v = decide(Subject::Evidence(&ev), None, &policy, 0).verdict;
        assert_eq!(v.reason, Reason::Deliverable);
        let note = assess_target(&ev.targets[0], &policy).note();
        assert_eq!(
            v.detail,
            format!(
                "{}: 1 of 2 MX host(s) usable; first mx1.d.zz {note}",
                ev.domain
            )
        );
        assert!(v.detail.ends_with(
            "first mx1.d.zz resolves to 192.0.2.7 (documentation TEST-NET-1, RFC 5737), 8.8.4.4"
        ));
    }

    fn mx_to(exchange: &str, ips: &[&str], a: QueryStatus) -> DomainEvidence {
        let rec = MxRecord {
            preference: 10,
            exchange: exchange.into(),
        };
        let host = Arc::new(HostEvidence {
            name: exchange.into(),
            a: Lookup {
                status: a,
                records: ips.iter().map(|s| s.parse().unwrap()).collect(),
                cname: vec![],
            },
            aaaa: Lookup::empty(QueryStatus::NoData),
        });
        DomainEvidence {
            mx: Lookup {
                status: QueryStatus::Answer,
                records: vec![rec.clone()],
                cname: vec![],
            },
            targets: vec![MxTarget {
                mx: rec,
                host: Some(host),
            }],
            ..status(QueryStatus::Answer)
        }
    }

    fn past(last_success: Option<i64>, readings: &[(i64, Reason)]) -> History {
        History {
            last_success,
            since_success: readings
                .iter()
                .map(|(at, reason)| Reading {
                    at: *at,
                    reason: *reason,
                    counts: true,
                })
                .collect(),
        }
    }

    fn at(now: i64, ev: &DomainEvidence, h: &History) -> Verdict {
        let hp = HistoryPolicy::default();
        let p = Past {
            history: h,
            policy: &hp,
            today_counts: true,
        };
        decide(Subject::Evidence(ev), Some(p), &Policy::default(), now).verdict
    }

    #[test]
    fn our_own_fault_is_always_retry() {
        let h = past(
            None,
            &[(T0, Reason::DnsFailure), (T0 + 2 * DAY, Reason::DnsFailure)],
        );
        let hp = HistoryPolicy::default();
        let p = Past {
            history: &h,
            policy: &hp,
            today_counts: false,
        };
        let d = decide(
            Subject::OurFault {
                domain: "d.zz",
                why: "the resolver failed its health check",
                warning: Warning::ResolverUnhealthy,
            },
            Some(p),
            &Policy::default(),
            T0 + 9 * DAY,
        );
        assert_eq!(d.verdict.reason, Reason::DnsFailure);
        assert_eq!(d.verdict.warnings, vec![Warning::ResolverUnhealthy]);
        assert_eq!(d.verdict.status().unwrap().to_string(), "4.4.3");
        // Out of the caller's time: the same rule, its own warning.
        let d = decide(
            Subject::OurFault {
                domain: "d.zz",
                why: "no answer within --request-timeout 5s",
                warning: Warning::Unfinished,
            },
            Some(p),
            &Policy::default(),
            T0 + 9 * DAY,
        );
        assert_eq!(d.verdict.action(), Action::Retry);
        assert_eq!(d.verdict.warnings, vec![Warning::Unfinished]);
    }

    #[test]
    fn the_rules_follow_the_reason_table() {
        let rules: Vec<Reason> = RULES.iter().map(|r| r.reason).collect();
        let table: Vec<Reason> = REASONS.iter().map(|r| r.reason).collect();
        assert_eq!(rules, table);
    }

    /// `decide` tries the evidence rules once, as the reading, after the
    /// others: that is the table's order only while they close it.
    #[test]
    fn the_evidence_rules_close_the_table() {
        let first = RULES
            .iter()
            .position(|r| r.kind == RuleKind::Evidence)
            .unwrap();
        assert!(RULES[first..].iter().all(|r| r.kind == RuleKind::Evidence));
        assert!(RULES[..first].iter().all(|r| r.kind != RuleKind::Evidence));
    }

    #[test]
    fn persistent_temporary_failures_become_dead() {
        let sf = Reason::DnsFailure;
        let servfail = status(QueryStatus::ServFail);
        // Day 0, 2, 5: dead on day 5.
        let h = past(None, &[(T0, sf), (T0 + 2 * DAY, sf)]);
        let d = at(T0 + 5 * DAY, &servfail, &h);
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
        assert_eq!(at(T0 + 5 * DAY - 1, &servfail, &h).reason, sf);
        // Not with only two checks.
        assert_eq!(
            at(T0 + 5 * DAY, &servfail, &past(None, &[(T0, sf)])).reason,
            sf
        );
        // A permanent reading in the streak breaks it.
        let mixed = past(None, &[(T0, sf), (T0 + DAY, Reason::Nxdomain)]);
        assert_eq!(at(T0 + 6 * DAY, &servfail, &mixed).reason, sf);
        // Once dead, dead until a success: the streak holds raw readings.
        let long = past(
            Some(T0 - DAY),
            &[(T0, sf), (T0 + 3 * DAY, sf), (T0 + 5 * DAY, sf)],
        );
        assert_eq!(
            at(T0 + 6 * DAY, &servfail, &long).reason,
            Reason::DeadDomain
        );
        // A permanent reading today is not dead_domain, whatever the past.
        assert_eq!(
            at(T0 + 9 * DAY, &status(QueryStatus::NxDomain), &long).reason,
            Reason::Nxdomain
        );
        // Readings made during our own outage do not count.
        let mut outage = h.clone();
        outage.since_success[1].counts = false;
        assert_eq!(at(T0 + 5 * DAY, &servfail, &outage).reason, sf);
        // Nor does today's, when our resolver is unhealthy now.
        let hp = HistoryPolicy::default();
        let unhealthy = Past {
            history: &h,
            policy: &hp,
            today_counts: false,
        };
        let v = decide(
            Subject::Evidence(&servfail),
            Some(unhealthy),
            &Policy::default(),
            T0 + 9 * DAY,
        );
        assert_eq!(v.verdict.reason, sf);
        assert_eq!(v.reading, Some(sf));
    }

    #[test]
    fn recent_successes_hold_flips_for_confirmation() {
        let nx = status(QueryStatus::NxDomain);
        let h = past(Some(T0), &[]);
        let held = at(T0 + DAY, &nx, &h);
        assert_eq!(held.reason, Reason::Nxdomain);
        assert_eq!(held.action(), Action::Retry);
        assert_eq!(held.status().unwrap().to_string(), "4.1.2");
        assert_eq!(held.warnings, vec![Warning::NeedsConfirmation]);
        // A second reading less than an hour later: still held.
        let h2 = past(Some(T0), &[(T0 + DAY, Reason::Nxdomain)]);
        assert_eq!(at(T0 + DAY + 1800, &nx, &h2).action(), Action::Retry);
        // An hour later: confirmed.
        let c = at(T0 + DAY + 3600, &nx, &h2);
        assert_eq!(c.action(), Action::Suppress);
        assert!(c.warnings.is_empty());
        // A different permanent reading does not confirm.
        let unresolvable = mx_to("mx.d.zz", &[], QueryStatus::NxDomain);
        assert_eq!(
            at(T0 + DAY + 3600, &unresolvable, &h2).action(),
            Action::Retry
        );
        // A null MX is explicit: never held.
        let mut null = mx_to(".", &[], QueryStatus::NoData);
        null.targets[0].host = None;
        assert_eq!(at(T0 + DAY, &null, &h).reason, Reason::NullMx);
        assert_eq!(at(T0 + DAY, &null, &h).action(), Action::Suppress);
        // An old success does not hold anything.
        assert_eq!(at(T0 + 31 * DAY, &nx, &h).action(), Action::Suppress);
        // No success at all: nothing to confirm against.
        assert_eq!(at(T0, &nx, &History::default()).action(), Action::Suppress);
    }

    #[test]
    fn deliverable_is_never_changed_by_history() {
        let ok = mx_to("mx.d.zz", &["8.8.8.8"], QueryStatus::Answer);
        let h = past(
            None,
            &[(T0, Reason::DnsFailure), (T0 + DAY, Reason::DnsFailure)],
        );
        assert_eq!(at(T0 + 9 * DAY, &ok, &h).reason, Reason::Deliverable);
    }

    #[test]
    fn first_match_wins_localhost_before_typo() {
        // One MX at loopback, one a typo of a provider that does not
        // resolve: the table lists mx_localhost first.
        let mut ev = mx_to("mx.d.zz", &["127.0.0.1"], QueryStatus::Answer);
        let typo = MxRecord {
            preference: 20,
            exchange: "mx1.pphosted.con".into(),
        };
        ev.targets.push(MxTarget {
            mx: typo.clone(),
            host: Some(Arc::new(HostEvidence {
                name: typo.exchange.clone(),
                a: Lookup::empty(QueryStatus::NxDomain),
                aaaa: Lookup::empty(QueryStatus::NxDomain),
            })),
        });
        ev.typos.near_misses.push(MxNearMiss {
            host: "mx1.pphosted.con".into(),
            provider: "Proofpoint".into(),
            provider_domain: "pphosted.com".into(),
            meant: "mx1.pphosted.com".into(),
        });
        assert_eq!(judge(&ev, &Policy::default()).reason, Reason::MxLocalhost);
        // Without the loopback target, the typo wins over mx_unresolvable.
        ev.targets.remove(0);
        let v = judge(&ev, &Policy::default());
        assert_eq!(v.reason, Reason::MxTypo);
        assert_eq!(
            v.suggestion,
            Some(Suggestion::Host("mx1.pphosted.com".into()))
        );
    }

    #[test]
    fn the_address_meant_only_for_failing_domains() {
        let mut nx = status(QueryStatus::NxDomain);
        nx.typos.meant = Some("gmail.com".into());
        assert_eq!(
            judge(&nx, &Policy::default()).suggestion,
            Some(Suggestion::Domain("gmail.com".into()))
        );
        let mut ok = mx_to("mx.d.zz", &["8.8.8.8"], QueryStatus::Answer);
        ok.typos.meant = Some("gmail.com".into());
        assert_eq!(judge(&ok, &Policy::default()).suggestion, None);
        let mut sf = status(QueryStatus::ServFail);
        sf.typos.meant = Some("gmail.com".into());
        assert_eq!(judge(&sf, &Policy::default()).suggestion, None);
    }

    #[test]
    fn the_documented_example_decodes() {
        let doc = include_str!("../../../docs/evidence-format.md");
        let json = doc
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/evidence-format.md has a json example");
        let ev = DomainEvidence::decode(json.trim()).expect("the example decodes");
        assert_eq!(ev.domain, "shop.example.net");
        assert_eq!(
            judge(&ev, &Policy::default()).reason,
            Reason::MxUnroutable,
            "192.0.2.1 is documentation space"
        );
    }

    #[test]
    fn evidence_round_trips_through_its_encoding() {
        let mut ev = mx_to("mx.d.zz", &["8.8.8.8"], QueryStatus::Answer);
        ev.typos.meant = Some("gmail.com".into());
        let text = ev.encode();
        assert!(text.starts_with("{\"v\":1,\"evidence\":{"), "{text}");
        assert_eq!(DomainEvidence::decode(&text), Some(ev));
        assert_eq!(DomainEvidence::decode("{\"v\":99,\"evidence\":{}}"), None);
        assert_eq!(DomainEvidence::decode("not json"), None);
    }
}
