//! Port-25 reachability evidence: what happened when an MX address was
//! asked for its SMTP greeting (RFC 5321 §3.1, §4.2). Only the greeting is
//! read, and optionally the EHLO reply; never MAIL FROM or RCPT TO.

use std::net::{IpAddr, SocketAddr};

use crate::evidence::{DomainEvidence, ExchangeKind, QueryStatus};
use crate::net::classify_ip;
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
        }
    }
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
    /// blocked here (the canary did not answer). Says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
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
    /// The sum of the probes.
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
        } else {
            ProbeStatus::NoAnswer
        }
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
