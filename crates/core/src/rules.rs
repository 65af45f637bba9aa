//! The policy, and the assessment of MX targets and addresses that the
//! rules ([`crate::decide`]) build on: pure functions, no I/O.

use std::net::IpAddr;

pub use crate::decide::judge;
use crate::evidence::{ExchangeKind, HostEvidence, MxTarget, QueryStatus};
use crate::net::{classify_ip, AddrClass, Cidr};

/// What to do with a domain that publishes no MX but has A/AAAA records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImplicitMx {
    /// `no_mx`: a domain with no MX does not want mail (the default: in
    /// bulk lists, such domains are almost always web-only).
    #[default]
    Suppress,
    /// Judge the domain's own addresses as its MX, as RFC 5321 §5.1 allows.
    Accept,
    /// Deliver only when the domain's own address answers on port 25
    /// (the probe); otherwise `no_mx`.
    Probe,
}

/// The user's choices that the rules depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The implicit MX policy.
    pub implicit_mx: ImplicitMx,
    /// Networks whose addresses count as usable although not global
    /// (private deployments, tests).
    pub trusted_nets: Vec<Cidr>,
}

/// How usable one MX target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetState {
    /// At least one address is global or trusted.
    Usable,
    /// A lookup failed temporarily and no usable address was found.
    TempFail,
    /// `localhost`, or only loopback/unspecified addresses.
    Loopback,
    /// Only non-global addresses (some may be loopback).
    NonGlobal,
    /// No address at all (NXDOMAIN or NODATA for both A and AAAA).
    Unresolvable,
    /// An all-numeric name, or the root (null MX) among other records.
    Botched,
}

impl TargetState {
    /// A stable lowercase name: `usable`, `temp_fail`, `loopback`,
    /// `non_global`, `unresolvable`, `botched`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Usable => "usable",
            TargetState::TempFail => "temp_fail",
            TargetState::Loopback => "loopback",
            TargetState::NonGlobal => "non_global",
            TargetState::Unresolvable => "unresolvable",
            TargetState::Botched => "botched",
        }
    }
}

/// One address of a target with its class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassifiedAddr {
    /// The address.
    pub ip: IpAddr,
    /// Its class under the policy.
    pub class: AddrClass,
    /// The special-purpose range it falls in, when not global.
    pub range: Option<&'static str>,
}

/// The judgement on one MX target (or on the implicit MX).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetAssessment {
    /// The state.
    pub state: TargetState,
    /// The addresses found, classified.
    pub addresses: Vec<ClassifiedAddr>,
    /// Why: written out by [`TargetAssessment::note`] only when asked (the
    /// decision and the output assess every target of every domain; few
    /// notes are ever shown).
    why: Why,
}

/// The kind of a [`TargetAssessment`]'s note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Fixed(&'static str),
    ResolvesTo,
    ResolvesOnlyTo,
    Lookup(&'static str, QueryStatus),
    IpLiteral,
}

impl TargetAssessment {
    /// Why, in a few words (`resolves only to 127.0.0.1`, ...).
    pub fn note(&self) -> String {
        let mut out = String::new();
        self.push_note(&mut out);
        out
    }

    /// Appends [`TargetAssessment::note`] to `out` (pushed, not formatted:
    /// the verdict of every deliverable domain says it).
    pub fn push_note(&self, out: &mut String) {
        let lead = match self.why {
            Why::Fixed(text) => return out.push_str(text),
            Why::Lookup(rtype, status) => {
                out.push_str(rtype);
                out.push_str(" lookup ");
                return out.push_str(&status.describe());
            }
            Why::ResolvesTo => "resolves to ",
            Why::ResolvesOnlyTo => "resolves only to ",
            Why::IpLiteral => "is an IP address, not a host name: ",
        };
        out.push_str(lead);
        push_addresses(out, &self.addresses);
    }
}

fn classify_all(ips: impl Iterator<Item = IpAddr>, policy: &Policy) -> Vec<ClassifiedAddr> {
    ips.map(|ip| {
        let (class, range) = classify_ip(ip, &policy.trusted_nets);
        ClassifiedAddr { ip, class, range }
    })
    .collect()
}

/// Addresses for detail lines: `192.0.2.1 (documentation), 10.0.0.1 (private)`.
pub fn list_addresses(addrs: &[ClassifiedAddr]) -> String {
    let mut out = String::with_capacity(24 * addrs.len());
    push_addresses(&mut out, addrs);
    out
}

/// Appends [`list_addresses`] to `out`.
fn push_addresses(out: &mut String, addrs: &[ClassifiedAddr]) {
    for (i, a) in addrs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        crate::ipfmt::push_ip(out, a.ip);
        if let Some(range) = a.range {
            out.push_str(" (");
            out.push_str(range);
            out.push(')');
        }
    }
}

/// Judges addresses found for a host: usable, loopback, non-global,
/// temporarily unknown or unresolvable.
pub fn assess_host(host: &HostEvidence, policy: &Policy) -> TargetAssessment {
    let addresses = classify_all(host.addresses(), policy);
    let (state, why) = if addresses.iter().any(|a| a.class.is_usable()) {
        (TargetState::Usable, Why::ResolvesTo)
    } else if let Some((rtype, status)) = host.temporary_failure() {
        (TargetState::TempFail, Why::Lookup(rtype, status))
    } else if addresses.is_empty() {
        let why = if host.a.status == QueryStatus::NxDomain {
            "does not exist (NXDOMAIN)"
        } else {
            "has no A or AAAA records"
        };
        (TargetState::Unresolvable, Why::Fixed(why))
    } else if addresses.iter().all(|a| a.class == AddrClass::Loopback) {
        (TargetState::Loopback, Why::ResolvesOnlyTo)
    } else {
        (TargetState::NonGlobal, Why::ResolvesOnlyTo)
    };
    TargetAssessment {
        state,
        addresses,
        why,
    }
}

/// Judges one MX target.
pub fn assess_target(target: &MxTarget, policy: &Policy) -> TargetAssessment {
    let fixed = |state, addresses, note: &'static str| TargetAssessment {
        state,
        addresses,
        why: Why::Fixed(note),
    };
    match target.kind() {
        ExchangeKind::Null => fixed(TargetState::Botched, vec![], "null MX"),
        ExchangeKind::Numeric => fixed(
            TargetState::Botched,
            vec![],
            "all-numeric name, a botched null MX (not looked up)",
        ),
        ExchangeKind::Localhost => fixed(
            TargetState::Loopback,
            classify_all([IpAddr::from([127, 0, 0, 1])].into_iter(), policy),
            "is loopback by definition (RFC 6761 §6.3), not looked up",
        ),
        ExchangeKind::IpLiteral(ip) => {
            let addresses = classify_all([ip].into_iter(), policy);
            let state = match addresses[0].class {
                AddrClass::Global | AddrClass::Trusted => TargetState::Usable,
                AddrClass::Loopback => TargetState::Loopback,
                AddrClass::NonGlobal => TargetState::NonGlobal,
            };
            TargetAssessment {
                state,
                addresses,
                why: Why::IpLiteral,
            }
        }
        ExchangeKind::Host => match &target.host {
            Some(host) => assess_host(host, policy),
            None => fixed(TargetState::TempFail, vec![], "not looked up"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{DomainEvidence, Lookup, MxRecord};
    use crate::verdict::{Action, Reason, Warning};
    use std::sync::Arc;
    use QueryStatus::*;

    /// Notes are pushed, not formatted: each kind reads as the formatted
    /// text did, addresses with their ranges.
    #[test]
    fn notes_read_as_formatted() {
        let addresses = classify_all(
            ["192.0.2.1", "10.0.0.1", "2001:db8::25"]
                .iter()
                .map(|s| s.parse().unwrap()),
            &Policy::default(),
        );
        let listed = list_addresses(&addresses);
        assert_eq!(
            listed,
            "192.0.2.1 (documentation TEST-NET-1, RFC 5737), 10.0.0.1 (private-use, RFC 1918), \
             2001:db8::25 (documentation, RFC 3849)"
        );
        let with = |why| TargetAssessment {
            state: TargetState::Usable,
            addresses: addresses.clone(),
            why,
        };
        for (why, expected) in [
            (Why::Fixed("not looked up"), "not looked up".to_string()),
            (Why::ResolvesTo, format!("resolves to {listed}")),
            (Why::ResolvesOnlyTo, format!("resolves only to {listed}")),
            (
                Why::Lookup("AAAA", ServFail),
                format!("AAAA lookup {}", ServFail.describe()),
            ),
            (
                Why::Lookup("A", Rcode(23)),
                "A lookup response code 23".to_string(),
            ),
            (
                Why::IpLiteral,
                format!("is an IP address, not a host name: {listed}"),
            ),
        ] {
            let a = with(why);
            assert_eq!(a.note(), expected);
            let mut pushed = String::from("before ");
            a.push_note(&mut pushed);
            assert_eq!(pushed, format!("before {expected}"));
        }
    }

    /// A host with the given A and AAAA outcomes; addresses imply `Answer`.
    fn host(
        name: &str,
        a: (QueryStatus, &[&str]),
        aaaa: (QueryStatus, &[&str]),
    ) -> Arc<HostEvidence> {
        let lookup = |(status, ips): (QueryStatus, &[&str])| Lookup {
            status,
            records: ips.iter().map(|s| s.parse().unwrap()).collect(),
            cname: vec![],
        };
        Arc::new(HostEvidence {
            name: name.into(),
            a: lookup(a),
            aaaa: lookup(aaaa),
        })
    }

    fn v4(name: &str, ips: &[&str]) -> Arc<HostEvidence> {
        host(name, (Answer, ips), (NoData, &[]))
    }

    fn mx(pref: u16, exchange: &str, host: Option<Arc<HostEvidence>>) -> MxTarget {
        MxTarget {
            mx: MxRecord {
                preference: pref,
                exchange: exchange.into(),
            },
            host,
        }
    }

    fn with_mx(targets: Vec<MxTarget>) -> DomainEvidence {
        DomainEvidence {
            domain: "d.com".into(),
            mx: Lookup {
                status: Answer,
                records: targets.iter().map(|t| t.mx.clone()).collect(),
                cname: vec![],
            },
            targets,
            implicit: None,
            probe: None,
            typos: Default::default(),
        }
    }

    fn mx_status(status: QueryStatus, implicit: Option<Arc<HostEvidence>>) -> DomainEvidence {
        DomainEvidence {
            domain: "d.com".into(),
            mx: Lookup::empty(status),
            targets: vec![],
            implicit,
            probe: None,
            typos: Default::default(),
        }
    }

    fn check(ev: &DomainEvidence, policy: &Policy, want: Reason, warnings: &[Warning]) {
        let v = judge(ev, policy);
        assert_eq!(v.reason, want, "detail: {}", v.detail);
        assert_eq!(v.warnings, warnings, "detail: {}", v.detail);
        assert!(v.detail.starts_with("d.com"), "{}", v.detail);
    }

    fn accept() -> Policy {
        Policy {
            implicit_mx: ImplicitMx::Accept,
            ..Policy::default()
        }
    }

    const GLOBAL: &str = "8.8.8.8";

    #[test]
    fn mx_query_outcomes() {
        let p = Policy::default();
        check(&mx_status(NxDomain, None), &p, Reason::Nxdomain, &[]);
        for s in [ServFail, Refused, Timeout, Lame, Malformed, Rcode(1)] {
            let v = judge(&mx_status(s, None), &p);
            assert_eq!(v.reason, Reason::DnsFailure, "{s}");
            assert_eq!(v.action(), Action::Retry);
        }
    }

    #[test]
    fn null_mx_rules() {
        let p = Policy::default();
        check(&with_mx(vec![mx(0, ".", None)]), &p, Reason::NullMx, &[]);
        check(
            &with_mx(vec![
                mx(0, ".", None),
                mx(10, "mx.d.com", Some(v4("mx.d.com", &[GLOBAL]))),
            ]),
            &p,
            Reason::NullMx,
            &[Warning::NullMxMixed],
        );
        // A null MX at a non-zero preference is still a null MX.
        check(&with_mx(vec![mx(10, ".", None)]), &p, Reason::NullMx, &[]);
        check(
            &with_mx(vec![mx(0, "0", None)]),
            &p,
            Reason::NullMxMalformed,
            &[],
        );
        check(
            &with_mx(vec![mx(0, "0", None), mx(10, "00", None)]),
            &p,
            Reason::NullMxMalformed,
            &[],
        );
        // One all-numeric target beside a working one: deliverable.
        check(
            &with_mx(vec![
                mx(0, "0", None),
                mx(10, "mx.d.com", Some(v4("mx.d.com", &[GLOBAL]))),
            ]),
            &p,
            Reason::Deliverable,
            &[Warning::MxPartiallyUnusable],
        );
    }

    #[test]
    fn implicit_mx_rules() {
        let p = Policy::default();
        let none = host("d.com", (NoData, &[]), (NoData, &[]));
        check(
            &mx_status(NoData, Some(none.clone())),
            &p,
            Reason::NoMailHost,
            &[],
        );
        check(
            &mx_status(NoData, Some(none)),
            &accept(),
            Reason::NoMailHost,
            &[],
        );
        let web = v4("d.com", &[GLOBAL]);
        check(&mx_status(NoData, Some(web.clone())), &p, Reason::NoMx, &[]);
        check(
            &mx_status(NoData, Some(web)),
            &accept(),
            Reason::ImplicitMx,
            &[Warning::ImplicitMx],
        );
        let lo = v4("d.com", &["127.0.0.1"]);
        check(&mx_status(NoData, Some(lo.clone())), &p, Reason::NoMx, &[]);
        check(
            &mx_status(NoData, Some(lo)),
            &accept(),
            Reason::MxLocalhost,
            &[Warning::ImplicitMx],
        );
        let private = v4("d.com", &["10.0.0.1"]);
        check(
            &mx_status(NoData, Some(private)),
            &accept(),
            Reason::MxUnroutable,
            &[Warning::ImplicitMx],
        );
        // Incomplete evidence is retried, never suppressed.
        let half = host("d.com", (Timeout, &[]), (NoData, &[]));
        check(
            &mx_status(NoData, Some(half.clone())),
            &p,
            Reason::DnsFailure,
            &[],
        );
        check(
            &mx_status(NoData, Some(half)),
            &accept(),
            Reason::DnsFailure,
            &[],
        );
        let half6 = host("d.com", (NoData, &[]), (ServFail, &[]));
        check(&mx_status(NoData, Some(half6)), &p, Reason::DnsFailure, &[]);
        // A present, AAAA failed: the domain has an address, so no_mx stands...
        let a_only = host("d.com", (Answer, &[GLOBAL]), (ServFail, &[]));
        check(
            &mx_status(NoData, Some(a_only.clone())),
            &p,
            Reason::NoMx,
            &[],
        );
        // ...and under accept it is usable.
        check(
            &mx_status(NoData, Some(a_only)),
            &accept(),
            Reason::ImplicitMx,
            &[Warning::ImplicitMx],
        );
        // Loopback A and failed AAAA under accept: the AAAA might be usable.
        let lo_half = host("d.com", (Answer, &["127.0.0.1"]), (Timeout, &[]));
        check(
            &mx_status(NoData, Some(lo_half)),
            &accept(),
            Reason::DnsFailure,
            &[Warning::ImplicitMx],
        );
        check(&mx_status(NoData, None), &p, Reason::DnsFailure, &[]);
    }

    #[test]
    fn target_rules() {
        let p = Policy::default();
        let good = || mx(10, "mx1.d.com", Some(v4("mx1.d.com", &[GLOBAL])));
        let gone = || {
            mx(
                20,
                "mx2.d.com",
                Some(host("mx2.d.com", (NxDomain, &[]), (NxDomain, &[]))),
            )
        };
        let empty = || {
            mx(
                20,
                "mx3.d.com",
                Some(host("mx3.d.com", (NoData, &[]), (NoData, &[]))),
            )
        };
        let slow = || {
            mx(
                30,
                "mx4.d.com",
                Some(host("mx4.d.com", (Timeout, &[]), (NoData, &[]))),
            )
        };
        let lo = || mx(40, "mx5.d.com", Some(v4("mx5.d.com", &["127.0.0.1"])));
        let private = || mx(50, "mx6.d.com", Some(v4("mx6.d.com", &["192.168.1.1"])));
        let zero = || {
            mx(
                60,
                "mx7.d.com",
                Some(host("mx7.d.com", (Answer, &["0.0.0.0"]), (Answer, &["::"]))),
            )
        };
        let lo6 = || {
            mx(
                60,
                "mx8.d.com",
                Some(host("mx8.d.com", (NoData, &[]), (Answer, &["::1"]))),
            )
        };
        let mixed = || {
            mx(
                70,
                "mx9.d.com",
                Some(v4("mx9.d.com", &["127.0.0.1", "10.1.1.1"])),
            )
        };

        check(&with_mx(vec![good()]), &p, Reason::Deliverable, &[]);
        check(
            &with_mx(vec![gone(), good()]),
            &p,
            Reason::Deliverable,
            &[Warning::MxPartiallyUnusable],
        );
        check(
            &with_mx(vec![slow(), good()]),
            &p,
            Reason::Deliverable,
            &[Warning::MxPartiallyUnusable],
        );
        // A temporary failure blocks every suppression.
        check(&with_mx(vec![slow()]), &p, Reason::DnsFailure, &[]);
        check(&with_mx(vec![slow(), lo()]), &p, Reason::DnsFailure, &[]);
        check(
            &with_mx(vec![slow(), gone(), private()]),
            &p,
            Reason::DnsFailure,
            &[],
        );
        check(&with_mx(vec![lo()]), &p, Reason::MxLocalhost, &[]);
        check(&with_mx(vec![zero()]), &p, Reason::MxLocalhost, &[]);
        check(&with_mx(vec![lo6()]), &p, Reason::MxLocalhost, &[]);
        check(
            &with_mx(vec![mx(10, "localhost", None)]),
            &p,
            Reason::MxLocalhost,
            &[],
        );
        check(
            &with_mx(vec![lo(), private()]),
            &p,
            Reason::MxLocalhost,
            &[],
        );
        check(&with_mx(vec![private()]), &p, Reason::MxUnroutable, &[]);
        check(&with_mx(vec![mixed()]), &p, Reason::MxUnroutable, &[]);
        check(
            &with_mx(vec![private(), gone()]),
            &p,
            Reason::MxUnroutable,
            &[],
        );
        check(&with_mx(vec![gone()]), &p, Reason::MxUnresolvable, &[]);
        check(
            &with_mx(vec![gone(), empty()]),
            &p,
            Reason::MxUnresolvable,
            &[],
        );
        check(
            &with_mx(vec![mx(0, "0", None), gone()]),
            &p,
            Reason::MxUnresolvable,
            &[],
        );
    }

    #[test]
    fn ip_literal_and_cname_warnings() {
        let p = Policy::default();
        check(
            &with_mx(vec![mx(10, "8.8.4.4", None)]),
            &p,
            Reason::Deliverable,
            &[Warning::MxIpLiteral],
        );
        check(
            &with_mx(vec![mx(10, "127.0.0.1", None)]),
            &p,
            Reason::MxLocalhost,
            &[Warning::MxIpLiteral],
        );
        check(
            &with_mx(vec![mx(10, "10.0.0.1", None)]),
            &p,
            Reason::MxUnroutable,
            &[Warning::MxIpLiteral],
        );
        let mut aliased = (*v4("mx.d.com", &[GLOBAL])).clone();
        aliased.a.cname = vec!["real.d.com".into()];
        check(
            &with_mx(vec![mx(10, "mx.d.com", Some(Arc::new(aliased)))]),
            &p,
            Reason::Deliverable,
            &[Warning::MxCname],
        );
    }

    #[test]
    fn trusted_nets_make_private_targets_usable() {
        let p = Policy {
            trusted_nets: vec!["127.0.1.0/24".parse().unwrap()],
            ..Policy::default()
        };
        let t = mx(10, "mx.d.com", Some(v4("mx.d.com", &["127.0.1.3"])));
        check(&with_mx(vec![t.clone()]), &p, Reason::Deliverable, &[]);
        check(
            &with_mx(vec![t]),
            &Policy::default(),
            Reason::MxLocalhost,
            &[],
        );
    }

    /// Whatever the permanent evidence around it, one temporary failure in a
    /// lookup that could supply a usable address never yields suppress.
    #[test]
    fn temporary_never_suppresses() {
        let p = Policy::default();
        let temps = [ServFail, Refused, Timeout, Lame, Malformed, Rcode(2)];
        let others: Vec<MxTarget> = vec![
            mx(5, "localhost", None),
            mx(5, "0", None),
            mx(5, "10.9.9.9", None),
            mx(
                5,
                "x.d.com",
                Some(host("x.d.com", (NxDomain, &[]), (NxDomain, &[]))),
            ),
            mx(5, "y.d.com", Some(v4("y.d.com", &["127.0.0.2"]))),
        ];
        for t in temps {
            for (a, aaaa) in [(t, NoData), (NoData, t), (t, t)] {
                let failing = mx(1, "f.d.com", Some(host("f.d.com", (a, &[]), (aaaa, &[]))));
                for n in 0..=others.len() {
                    let mut targets = vec![failing.clone()];
                    targets.extend(others.iter().take(n).cloned());
                    let v = judge(&with_mx(targets), &p);
                    assert_eq!(
                        v.action(),
                        Action::Retry,
                        "{t} with {n} others: {}",
                        v.detail
                    );
                }
            }
        }
    }

    fn probed(
        outcomes: &[crate::probe::HostOutcome],
        unavailable: bool,
    ) -> crate::probe::ProbeEvidence {
        crate::probe::ProbeEvidence {
            hosts: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    Arc::new(crate::probe::HostProbe {
                        addr: format!("8.8.8.{i}:25").parse().unwrap(),
                        outcome: o.clone(),
                        millis: 1,
                        greeting: None,
                        starttls: None,
                    })
                })
                .collect(),
            unavailable: unavailable.then(|| "canary timeout".to_string()),
            canaries: vec![],
        }
    }

    #[test]
    fn probe_rules() {
        use crate::probe::HostOutcome::*;
        let p = Policy::default();
        let base = || {
            with_mx(vec![
                mx(10, "mx1.d.com", Some(v4("mx1.d.com", &[GLOBAL]))),
                mx(
                    20,
                    "gone.d.com",
                    Some(host("gone.d.com", (NxDomain, &[]), (NxDomain, &[]))),
                ),
            ])
        };
        let with_probe = |probe| DomainEvidence {
            probe: Some(Box::new(probe)),
            ..base()
        };
        check(
            &with_probe(probed(&[Refused, Answered], false)),
            &p,
            Reason::Deliverable,
            &[Warning::MxPartiallyUnusable],
        );
        let v = judge(
            &with_probe(probed(
                &[Refused, ConnectTimeout, Rejected(554), GreetingTimeout],
                false,
            )),
            &p,
        );
        assert_eq!(v.reason, Reason::NoAnswer);
        assert_eq!(v.action(), Action::Retry);
        assert_eq!(v.status().unwrap().to_string(), "4.4.1");
        assert!(
            v.detail.contains("refused") && v.detail.contains("greeted 554"),
            "{}",
            v.detail
        );
        assert_eq!(v.warnings, vec![Warning::MxPartiallyUnusable]);
        // Our own blocked port 25 is never the domain's fault.
        check(
            &with_probe(probed(&[ConnectTimeout], true)),
            &p,
            Reason::Deliverable,
            &[Warning::MxPartiallyUnusable, Warning::ProbeUnavailable],
        );
        // Probes change nothing for a domain that DNS already condemns.
        let null = DomainEvidence {
            probe: Some(Box::new(probed(&[Refused], false))),
            ..with_mx(vec![mx(0, ".", None)])
        };
        check(&null, &p, Reason::NullMx, &[]);
    }

    #[test]
    fn implicit_mx_probe_policy() {
        use crate::probe::HostOutcome::*;
        let p = Policy {
            implicit_mx: ImplicitMx::Probe,
            ..Policy::default()
        };
        let web = |probe| DomainEvidence {
            probe,
            ..mx_status(NoData, Some(v4("d.com", &[GLOBAL])))
        };
        check(
            &web(Some(Box::new(probed(&[Answered], false)))),
            &p,
            Reason::ImplicitMx,
            &[Warning::ImplicitMx],
        );
        check(
            &web(Some(Box::new(probed(&[Refused], false)))),
            &p,
            Reason::NoMx,
            &[],
        );
        check(
            &web(Some(Box::new(probed(&[], true)))),
            &p,
            Reason::NoMx,
            &[Warning::ProbeUnavailable],
        );
        check(&web(None), &p, Reason::NoMx, &[]);
        // A loopback implicit MX is not probed, and not delivered to.
        let lo = DomainEvidence {
            probe: Some(Box::new(probed(&[Answered], false))),
            ..mx_status(NoData, Some(v4("d.com", &["127.0.0.1"])))
        };
        check(&lo, &p, Reason::NoMx, &[]);
    }

    #[test]
    fn probe_plan_follows_preference_and_skips_unusable() {
        let ev = with_mx(vec![
            mx(
                5,
                "mx0.d.com",
                Some(host(
                    "mx0.d.com",
                    (Answer, &["8.8.8.1"]),
                    (Answer, &["2a00::1"]),
                )),
            ),
            mx(5, "mx1.d.com", Some(v4("mx1.d.com", &["8.8.8.2"]))),
            mx(10, "lo.d.com", Some(v4("lo.d.com", &["127.0.0.1"]))),
            mx(20, "8.8.4.4", None),
            mx(
                30,
                "mx3.d.com",
                Some(v4("mx3.d.com", &["10.0.0.1", "8.8.8.3"])),
            ),
        ]);
        let plan = crate::probe::probe_plan(&ev, &Policy::default());
        let text: Vec<Vec<String>> = plan
            .iter()
            .map(|g| g.iter().map(|ip| ip.to_string()).collect())
            .collect();
        assert_eq!(
            text,
            vec![
                vec!["8.8.8.1", "2a00::1", "8.8.8.2"],
                vec!["8.8.4.4"],
                vec!["8.8.8.3"]
            ]
        );
        let web = mx_status(NoData, Some(v4("d.com", &["8.8.8.9", "192.168.0.1"])));
        assert_eq!(
            crate::probe::probe_plan(&web, &Policy::default()),
            vec![vec!["8.8.8.9".parse::<IpAddr>().unwrap()]]
        );
    }
}
