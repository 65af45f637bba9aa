//! Port-25 reachability evidence: what happened when an MX address was
//! asked for its SMTP greeting (RFC 5321 §3.1, §4.2). Only the greeting is
//! read, and optionally the EHLO reply; never MAIL FROM or RCPT TO.

use std::net::{IpAddr, SocketAddr};

use crate::evidence::{DomainEvidence, ExchangeKind, QueryStatus};
use crate::net::{classify_ip, Cidr};
use crate::rules::Policy;

/// How one connection to port 25 ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FamilyCanary {
    /// The family.
    pub family: Family,
    /// Its state.
    pub status: CanaryStatus,
    /// The canary address that answered, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One probe of one address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostProbe {
    /// Where.
    pub addr: SocketAddr,
    /// How it ended.
    pub outcome: HostOutcome,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// The greeting's last line, when one arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Whether EHLO listed STARTTLS (information only), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<bool>,
}

/// The probes made for one domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeEvidence {
    /// The addresses tried, in order, until one answered.
    #[serde(default)]
    pub hosts: Vec<std::sync::Arc<HostProbe>>,
    /// Set when probing could not be trusted: outbound port 25 seems
    /// blocked here (the canary did not answer) for every family the
    /// domain's addresses are in, or every address failed on our side.
    /// Says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Each family's canary state when the domain was probed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

/// The addresses a domain's probe may connect to, in RFC 5321 §5.1 order.
/// Only [`probe_plan`] makes one, and it keeps only usable addresses (global
/// by the special-purpose registries, or inside a `--trusted-net`): the
/// prober takes nothing else, so it never connects to a loopback, private,
/// reserved or otherwise non-global address that no `--trusted-net` covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbePlan {
    groups: Vec<Vec<IpAddr>>,
}

impl ProbePlan {
    /// The groups of equal MX preference, lowest first.
    pub fn groups(&self) -> &[Vec<IpAddr>] {
        &self.groups
    }

    /// The groups, by value.
    pub fn into_groups(self) -> Vec<Vec<IpAddr>> {
        self.groups
    }

    /// The groups, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Vec<IpAddr>> {
        self.groups.iter()
    }

    /// Whether there is nothing to probe.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl PartialEq<Vec<Vec<IpAddr>>> for ProbePlan {
    fn eq(&self, other: &Vec<Vec<IpAddr>>) -> bool {
        &self.groups == other
    }
}

/// The addresses to probe for a domain, in RFC 5321 §5.1 order: groups of
/// equal MX preference, lowest first (the caller shuffles within a group);
/// within a target, its usable addresses, IPv4 then IPv6. For a domain
/// without MX, its own usable addresses (the implicit MX). Only usable
/// (global or trusted, [`classify_ip`]) addresses are probed.
pub fn probe_plan(ev: &DomainEvidence, policy: &Policy) -> ProbePlan {
    let trusted: &[Cidr] = &policy.trusted_nets;
    let usable = |ip: &IpAddr| classify_ip(*ip, trusted).0.is_usable();
    if ev.mx.status == QueryStatus::NoData {
        let groups = ev
            .implicit
            .iter()
            .map(|h| h.addresses().filter(usable).collect::<Vec<_>>())
            .filter(|g| !g.is_empty())
            .collect();
        return ProbePlan { groups };
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
    ProbePlan {
        groups: groups.into_iter().map(|(_, g)| g).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::evidence::{HostEvidence, Lookup, MxRecord, MxTarget};
    use crate::rules::{judge, ImplicitMx};
    use crate::verdict::Reason;

    /// Issue 10, item 4: the IPv6 forms of loopback addresses...
    const LOOPBACK_FORMS: &[&str] = &["64:ff9b::7f00:1", "2002:7f00:1::1", "::127.0.0.1"];
    /// ... and of other non-global addresses, with 192.88.99.0/24.
    const NON_GLOBAL_FORMS: &[&str] = &[
        "64:ff9b::a00:1",
        "fec0::1",
        "2001:2::1",
        "3fff::1",
        "64:ff9b:1::1",
        "5f00::1",
        "2001::1",
        "2001:20::1",
        "192.88.99.1",
    ];

    fn host(name: &str, ips: &[&str]) -> Arc<HostEvidence> {
        let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
        let lookup = |v4: bool| {
            let records: Vec<IpAddr> = ips
                .iter()
                .copied()
                .filter(|ip| ip.is_ipv4() == v4)
                .collect();
            Lookup {
                status: if records.is_empty() {
                    QueryStatus::NoData
                } else {
                    QueryStatus::Answer
                },
                records,
                cname: vec![],
            }
        };
        Arc::new(HostEvidence {
            name: name.into(),
            a: lookup(true),
            aaaa: lookup(false),
        })
    }

    fn domain(targets: &[(u16, &str, &[&str])]) -> DomainEvidence {
        let targets: Vec<MxTarget> = targets
            .iter()
            .map(|&(preference, exchange, ips)| MxTarget {
                mx: MxRecord {
                    preference,
                    exchange: exchange.into(),
                },
                host: match ExchangeKind::of(exchange) {
                    ExchangeKind::Host => Some(host(exchange, ips)),
                    _ => None,
                },
            })
            .collect();
        DomainEvidence {
            domain: "d.com".into(),
            mx: Lookup {
                status: QueryStatus::Answer,
                records: targets.iter().map(|t| t.mx.clone()).collect(),
                cname: vec![],
            },
            targets,
            implicit: None,
            probe: None,
            typos: Default::default(),
        }
    }

    fn ips(s: &[&str]) -> Vec<IpAddr> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn non_global_forms_are_judged_and_never_planned() {
        let p = Policy::default();
        for (forms, want) in [
            (LOOPBACK_FORMS, Reason::MxLocalhost),
            (NON_GLOBAL_FORMS, Reason::MxUnroutable),
        ] {
            for &ip in forms {
                let ev = domain(&[(10, "mx.d.com", &[ip])]);
                assert_eq!(judge(&ev, &p).reason, want, "{ip}");
                assert!(probe_plan(&ev, &p).is_empty(), "{ip}");
                // Written as an address literal in the MX record.
                let literal = if ip.contains(':') {
                    format!("[IPv6:{ip}]")
                } else {
                    format!("{ip}.")
                };
                let ev = domain(&[(10, &literal, &[])]);
                assert_eq!(judge(&ev, &p).reason, want, "{literal}");
                assert!(probe_plan(&ev, &p).is_empty(), "{literal}");
            }
            // All of them on one host.
            let ev = domain(&[(10, "mx.d.com", forms)]);
            assert_eq!(judge(&ev, &p).reason, want);
            assert!(probe_plan(&ev, &p).is_empty());
        }
    }

    #[test]
    fn the_plan_skips_non_global_forms_beside_a_global_host() {
        let p = Policy::default();
        let all: Vec<&str> = LOOPBACK_FORMS
            .iter()
            .chain(NON_GLOBAL_FORMS)
            .copied()
            .collect();
        let ev = domain(&[
            (5, "bad.d.com", &all),
            (10, "good.d.com", &["8.8.8.8", "64:ff9b::808:808"]),
        ]);
        assert_eq!(judge(&ev, &p).reason, Reason::Deliverable);
        assert_eq!(
            probe_plan(&ev, &p),
            vec![ips(&["8.8.8.8", "64:ff9b::808:808"])]
        );
        // The implicit MX of a domain without MX records, likewise.
        let mut implicit: Vec<&str> = all.clone();
        implicit.push("2a00:1450::1");
        let web = DomainEvidence {
            mx: Lookup::empty(QueryStatus::NoData),
            targets: vec![],
            implicit: Some(host("d.com", &implicit)),
            ..domain(&[])
        };
        let accept = Policy {
            implicit_mx: ImplicitMx::Probe,
            ..Policy::default()
        };
        assert_eq!(probe_plan(&web, &accept), vec![ips(&["2a00:1450::1"])]);
    }

    #[test]
    fn trusted_nets_put_non_global_forms_in_the_plan() {
        let p = Policy {
            trusted_nets: vec![
                "64:ff9b::/96".parse().unwrap(),
                "fec0::/10".parse().unwrap(),
            ],
            ..Policy::default()
        };
        let ev = domain(&[(10, "mx.d.com", &["64:ff9b::7f00:1", "fec0::1", "3fff::1"])]);
        assert_eq!(judge(&ev, &p).reason, Reason::Deliverable);
        assert_eq!(
            probe_plan(&ev, &p),
            vec![ips(&["64:ff9b::7f00:1", "fec0::1"])]
        );
    }
}

#[cfg(test)]
mod family_tests {
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
