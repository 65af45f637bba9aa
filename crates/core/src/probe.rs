//! Port-25 reachability evidence: what happened when an MX address was
//! asked for its SMTP greeting (RFC 5321 §3.1, §4.2). Only the greeting is
//! read, and optionally the EHLO reply; never MAIL FROM or RCPT TO.

use std::net::{IpAddr, SocketAddr};

use crate::evidence::{DomainEvidence, ExchangeKind, QueryStatus};
use crate::net::classify_ip;
use crate::rules::Policy;

/// How one connection to port 25 ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostOutcome {
    /// The connection opened and a `220` greeting arrived in time.
    Answered,
    /// The connection was refused (RST): nothing listens there.
    Refused,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Connected, but no complete greeting within the greeting timeout.
    GreetingTimeout,
    /// The connection was reset before a greeting.
    Reset,
    /// Closed by the host before a complete greeting.
    NoGreeting,
    /// A greeting other than 220: `421` (service not available) or `554`
    /// (no SMTP service here), RFC 5321 §3.1 and §4.2.
    Rejected(u16),
    /// The address could not be reached at all (no route, network down).
    Unreachable(String),
    /// Connected, but what arrived is no valid greeting: a line or a reply
    /// over the size limits (RFC 5321 §4.5.3.1.5), endless `220-`
    /// continuation lines, something that is not an SMTP reply. Says why.
    BadGreeting(String),
    /// Not a failure of the host: the probe could not be made from here
    /// (our network has no route to that address family, or the family's
    /// canary did not answer, or the connection failed with an error of
    /// ours such as ENETUNREACH, EHOSTUNREACH or EADDRNOTAVAIL). Says why.
    /// Never counts against the domain.
    Unavailable(String),
}

impl HostOutcome {
    /// The stable name used in output: `answered`, `refused`, `timeout`,
    /// `reset`, `no_greeting`, `rejected`, `unreachable`.
    pub fn name(&self) -> &'static str {
        match self {
            HostOutcome::Answered => "answered",
            HostOutcome::Refused => "refused",
            HostOutcome::ConnectTimeout | HostOutcome::GreetingTimeout => "timeout",
            HostOutcome::Reset => "reset",
            HostOutcome::NoGreeting => "no_greeting",
            HostOutcome::Rejected(_) => "rejected",
            HostOutcome::Unreachable(_) => "unreachable",
            HostOutcome::BadGreeting(_) => "bad_greeting",
            HostOutcome::Unavailable(_) => "unavailable",
        }
    }

    /// A short phrase for detail lines.
    pub fn describe(&self) -> String {
        match self {
            HostOutcome::Answered => "answered".into(),
            HostOutcome::Refused => "refused".into(),
            HostOutcome::ConnectTimeout => "connect timeout".into(),
            HostOutcome::GreetingTimeout => "no greeting in time".into(),
            HostOutcome::Reset => "reset".into(),
            HostOutcome::NoGreeting => "closed without a greeting".into(),
            HostOutcome::Rejected(code) => format!("greeted {code}"),
            HostOutcome::Unreachable(why) => format!("unreachable ({why})"),
            HostOutcome::BadGreeting(why) => format!("no valid greeting ({why})"),
            HostOutcome::Unavailable(why) => format!("not probed, unavailable from here ({why})"),
        }
    }

    /// Whether the outcome is our failure, not the host's: it says nothing
    /// of the domain.
    pub fn is_ours(&self) -> bool {
        matches!(self, HostOutcome::Unavailable(_))
    }
}

/// An IP address family: each is probed only when its own canary answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];

    /// The family of an address (an IPv4-mapped IPv6 address is IPv6: it
    /// is reached over an IPv6 socket).
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// `ipv4` or `ipv6`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// `IPv4` or `IPv6`, for sentences.
    pub fn label(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }

    /// 0 for IPv4, 1 for IPv6 (an index into per-family arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where a family's canary stood when a domain was probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryStatus {
    /// Not asked yet (no address of the family was needed so far).
    NotChecked,
    /// The canary answered with a complete `220` greeting: the family's
    /// outbound port 25 works here.
    Answered,
    /// The canary did not answer, could not be resolved or was refused as a
    /// destination, or no canary of the family was given: the family is
    /// not probed for the rest of the run.
    Failed,
}

impl CanaryStatus {
    /// `not_checked`, `answered`, `failed`.
    pub fn name(self) -> &'static str {
        match self {
            CanaryStatus::NotChecked => "not_checked",
            CanaryStatus::Answered => "answered",
            CanaryStatus::Failed => "failed",
        }
    }
}

/// One family's canary state, as seen by a domain's probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyCanary {
    /// The family.
    pub family: Family,
    /// Its state.
    pub status: CanaryStatus,
    /// The canary address that answered, when one did.
    pub addr: Option<SocketAddr>,
    /// Why it failed, when it did.
    pub why: Option<String>,
}

/// One probe of one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProbe {
    /// Where.
    pub addr: SocketAddr,
    /// How it ended.
    pub outcome: HostOutcome,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// The greeting's last line, when one arrived.
    pub greeting: Option<String>,
    /// Whether EHLO listed STARTTLS (information only), when asked.
    pub starttls: Option<bool>,
}

/// The probes made for one domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeEvidence {
    /// The addresses tried, in order, until one answered.
    pub hosts: Vec<std::sync::Arc<HostProbe>>,
    /// Set when probing could not be trusted: outbound port 25 seems
    /// blocked here (the canary did not answer) for every family the
    /// domain's addresses are in, or every address failed on our side.
    /// Says why.
    pub unavailable: Option<String>,
    /// Each family's canary state when the domain was probed.
    pub canaries: Vec<FamilyCanary>,
}

/// What the probes of a domain add up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeStatus {
    /// A host answered with 220.
    Answered,
    /// Every host tried failed.
    NoAnswer,
    /// Our own port 25 seems blocked: the probes say nothing of the domain.
    Unavailable,
    /// Nothing was probed.
    NotProbed,
}

impl ProbeStatus {
    /// The stable name: `answered`, `no_answer`, `unavailable`, `not_probed`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeStatus::Answered => "answered",
            ProbeStatus::NoAnswer => "no_answer",
            ProbeStatus::Unavailable => "unavailable",
            ProbeStatus::NotProbed => "not_probed",
        }
    }
}

impl ProbeEvidence {
    /// The sum of the probes. Failures of ours ([`HostOutcome::is_ours`]:
    /// an address family without a working canary, no route) say nothing
    /// of the domain: when every address failed and the failures of a
    /// family are ours, the verdict rests on the other family's failures
    /// alone; when all of them are ours, probing was unavailable.
    pub fn status(&self) -> ProbeStatus {
        if self.unavailable.is_some() {
            ProbeStatus::Unavailable
        } else if self
            .hosts
            .iter()
            .any(|h| h.outcome == HostOutcome::Answered)
        {
            ProbeStatus::Answered
        } else if self.hosts.is_empty() {
            ProbeStatus::NotProbed
        } else if self.hosts.iter().all(|h| h.outcome.is_ours()) {
            ProbeStatus::Unavailable
        } else {
            ProbeStatus::NoAnswer
        }
    }

    /// The canary state of a family, when recorded.
    pub fn canary(&self, family: Family) -> Option<&FamilyCanary> {
        self.canaries.iter().find(|c| c.family == family)
    }
}

/// The addresses to probe for a domain, in RFC 5321 §5.1 order: groups of
/// equal MX preference, lowest first (the caller shuffles within a group);
/// within a target, its usable addresses, IPv4 then IPv6. For a domain
/// without MX, its own usable addresses (the implicit MX). Only usable
/// (global or trusted) addresses are probed.
pub fn probe_plan(ev: &DomainEvidence, policy: &Policy) -> Vec<Vec<IpAddr>> {
    let usable = |ip: &IpAddr| classify_ip(*ip, &policy.trusted_nets).0.is_usable();
    if ev.mx.status == QueryStatus::NoData {
        return ev
            .implicit
            .iter()
            .map(|h| h.addresses().filter(usable).collect::<Vec<_>>())
            .filter(|g| !g.is_empty())
            .collect();
    }
    let mut groups: Vec<(u16, Vec<IpAddr>)> = Vec::new();
    for t in &ev.targets {
        let addrs: Vec<IpAddr> = match t.kind() {
            ExchangeKind::IpLiteral(ip) => vec![ip],
            ExchangeKind::Host => t
                .host
                .iter()
                .flat_map(|h| h.addresses().collect::<Vec<_>>())
                .collect(),
            _ => vec![],
        };
        let addrs: Vec<IpAddr> = addrs.into_iter().filter(usable).collect();
        if addrs.is_empty() {
            continue;
        }
        match groups.last_mut() {
            Some((p, g)) if *p == t.mx.preference => g.extend(addrs),
            _ => groups.push((t.mx.preference, addrs)),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn host(addr: &str, outcome: HostOutcome) -> Arc<HostProbe> {
        Arc::new(HostProbe {
            addr: addr.parse().unwrap(),
            outcome,
            millis: 1,
            greeting: None,
            starttls: None,
        })
    }

    fn ev(hosts: Vec<Arc<HostProbe>>) -> ProbeEvidence {
        ProbeEvidence {
            hosts,
            ..ProbeEvidence::default()
        }
    }

    #[test]
    fn failures_of_ours_never_make_no_answer() {
        let ours = || HostOutcome::Unavailable("IPv6 canary failed".into());
        // Every address in an unavailable family: unavailable, not no_answer.
        let v6_only = ev(vec![host("[2001:db8::25]:25", ours())]);
        assert_eq!(v6_only.status(), ProbeStatus::Unavailable);
        // The other family answered: answered.
        let mixed_ok = ev(vec![
            host("[2001:db8::25]:25", ours()),
            host("192.0.2.25:25", HostOutcome::Answered),
        ]);
        assert_eq!(mixed_ok.status(), ProbeStatus::Answered);
        // The other family really failed: no_answer, on those.
        let mixed_fail = ev(vec![
            host("[2001:db8::25]:25", ours()),
            host("192.0.2.25:25", HostOutcome::Refused),
        ]);
        assert_eq!(mixed_fail.status(), ProbeStatus::NoAnswer);
        // A bad greeting is the host's failure.
        let bad = ev(vec![host(
            "192.0.2.25:25",
            HostOutcome::BadGreeting("greeting too long".into()),
        )]);
        assert_eq!(bad.status(), ProbeStatus::NoAnswer);
        assert_eq!(ev(vec![]).status(), ProbeStatus::NotProbed);
    }

    #[test]
    fn families() {
        assert_eq!(Family::of("192.0.2.1".parse().unwrap()), Family::Ipv4);
        assert_eq!(
            Family::of("::ffff:192.0.2.1".parse().unwrap()),
            Family::Ipv6
        );
        assert_eq!(Family::Ipv6.name(), "ipv6");
        assert_eq!(Family::ALL.map(Family::index), [0, 1]);
    }
}
