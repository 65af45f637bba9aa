//! # prebounce-probe
//!
//! Finds "no server at the MX" without sending mail: connects to port 25,
//! reads the greeting (RFC 5321 §4.2), optionally asks EHLO to note whether
//! STARTTLS is offered, says QUIT (§4.1.1.10) and closes. Never MAIL FROM,
//! never RCPT TO: a probe costs the recipient one idle connection and the
//! sender no reputation.
//!
//! - Each address is probed at most once per run; every domain that uses
//!   it shares the result (a provider's MX hosts serve thousands).
//! - A global limit on open connections; one connection per address at a
//!   time follows from probing each once.
//! - A greeting is an answer only when a complete `220` reply (any `220-`
//!   continuation lines, then a final `220 ` line) arrives within the
//!   greeting timeout and the size limits: 512 octets a line (RFC 5321
//!   §4.5.3.1.5), 4 KiB a reply.
//! - Each address family (IPv4, IPv6) has its own canary, a host known to
//!   answer on port 25, checked before the first probe of the family and
//!   again before any domain is declared unanswering when the last check
//!   is older than a minute. When a family's canary fails, that family is
//!   unreachable from here: its addresses are not probed, and their
//!   failures are ours, never the domain's. So are connections that fail
//!   with an error of our own network (ENETUNREACH, EHOSTUNREACH,
//!   EADDRNOTAVAIL, ...).
//! - A canary is an IP literal or a name resolved by the system resolver
//!   (getaddrinfo), never by the run's resolver, which may be untrusted;
//!   and it must be a destination we would probe: a loopback or private
//!   address is refused unless a trusted network covers it.
#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{join_all, FutureExt};
use prebounce_core::net::{classify_ip, AddrClass, Cidr};
use prebounce_core::probe::{
    CanaryStatus, Family, FamilyCanary, HostOutcome, HostProbe, ProbeEvidence, ProbePlan,
};
use prebounce_dns::oncemap::OnceMap;
use prebounce_dns::Resolver;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::timeout;

/// The longest reply line we accept, CRLF included (RFC 5321 §4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;
/// The longest whole reply we accept (continuation lines included).
pub const MAX_REPLY: usize = 4096;

/// A canary: a host that answers on port 25 whenever outbound port 25
/// works here. Written `IP`, `IP:PORT`, `[IPv6]:PORT`, `HOST` or
/// `HOST:PORT` (port 25 when none is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// The address, when given as an IP literal.
    pub ip: Option<IpAddr>,
    /// The host name, when given as a name (resolved with the system
    /// resolver).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(ip) => write!(f, "{}", SocketAddr::new(ip, self.port)),
            None => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl FromStr for Canary {
    type Err = String;

    fn from_str(s: &str) -> Result<Canary, String> {
        let spec = s.trim();
        let bad = |why: &str| {
            format!("'{s}' is not a canary ({why}; write HOST[:PORT], IP[:PORT] or [IPv6]:PORT)")
        };
        if let Ok(sa) = spec.parse::<SocketAddr>() {
            if sa.port() == 0 {
                return Err(bad("port 0"));
            }
            return Ok(Canary {
                ip: Some(sa.ip()),
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        if let Ok(ip) = spec.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(Canary {
                ip: Some(ip),
                host: ip.to_string(),
                port: 25,
            });
        }
        let (host, port) = match spec.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(p) if p > 0 => (h, p),
                _ => return Err(bad("not a port from 1 to 65535")),
            },
            None => (spec, 25),
        };
        let host = host.trim_end_matches('.');
        let ldh = host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if host.is_empty() || host.len() > 253 || !ldh {
            return Err(bad("not a host name or IP address"));
        }
        Ok(Canary {
            ip: None,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl Canary {
    /// Why this canary may not be used as a destination, when it is an IP
    /// literal outside the global address space and no trusted network
    /// covers it.
    pub fn refused(&self, trusted: &[Cidr]) -> Option<String> {
        self.ip.and_then(|ip| refusal(ip, trusted))
    }
}

/// Why `ip` may not be a canary: loopback, unspecified or special-purpose
/// space (a resolver that answers `127.0.0.25` for a provider's MX must
/// not choose where we connect), unless a trusted network covers it.
fn refusal(ip: IpAddr, trusted: &[Cidr]) -> Option<String> {
    let (class, range) = classify_ip(ip, trusted);
    if class.is_usable() {
        return None;
    }
    let what = match class {
        AddrClass::Loopback => "a loopback or unspecified address",
        _ => "not a globally reachable address",
    };
    Some(format!(
        "{ip} is {what}{}: refused as a canary (add --trusted-net {} to allow it)",
        range.map(|r| format!(" ({r})")).unwrap_or_default(),
        match ip {
            IpAddr::V4(_) => format!("{ip}/32"),
            IpAddr::V6(_) => format!("{ip}/128"),
        }
    ))
}

/// How probes are made.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The SMTP port (25; tests use another).
    pub port: u16,
    /// How long a TCP connection may take to open.
    pub connect_timeout: Duration,
    /// How long the greeting (and the EHLO reply) may take.
    pub greeting_timeout: Duration,
    /// The name we give in EHLO.
    pub helo_name: String,
    /// Connections open at once, at most.
    pub concurrency: usize,
    /// Addresses tried per domain, at most (addresses not tried because
    /// their family is unavailable here do not count).
    pub max_hosts: usize,
    /// Ask EHLO after the greeting to note STARTTLS.
    pub ehlo: bool,
    /// The canaries, in order. Each serves the families of its addresses
    /// (an IP literal its own; a name those it resolves to, with the
    /// system resolver); a family is probed when one of its canaries
    /// answers, and not at all when it has none.
    pub canaries: Vec<Canary>,
    /// Networks whose loopback or private addresses may still be canaries.
    pub trusted_nets: Vec<Cidr>,
}

impl ProbeConfig {
    /// The defaults: port 25, 10 s to connect, 30 s for the greeting, 100
    /// connections, 5 addresses per domain, EHLO on, the canaries
    /// [`DEFAULT_CANARIES`].
    pub fn new(helo_name: impl Into<String>) -> ProbeConfig {
        ProbeConfig {
            port: 25,
            connect_timeout: Duration::from_secs(10),
            greeting_timeout: Duration::from_secs(30),
            helo_name: helo_name.into(),
            concurrency: 100,
            max_hosts: 5,
            ehlo: true,
            canaries: default_canaries(),
            trusted_nets: Vec::new(),
        }
    }
}

/// The default canary: Google's inbound MX, which answers on port 25 from
/// anywhere that may send mail.
pub const DEFAULT_CANARY: &str = "gmail-smtp-in.l.google.com:25";

/// The default canaries: Google's inbound MX host, whose A record is the
/// IPv4 canary and whose AAAA record is the IPv6 canary (Google publishes
/// both and receives mail over both).
pub const DEFAULT_CANARIES: &[&str] = &[DEFAULT_CANARY];

/// [`DEFAULT_CANARIES`], parsed.
pub fn default_canaries() -> Vec<Canary> {
    DEFAULT_CANARIES
        .iter()
        .map(|c| c.parse().expect("a valid default canary"))
        .collect()
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Addresses probed (each once; not those whose connection failed on
    /// our side, such as ENETUNREACH).
    pub probed: u64,
    /// Of those, answered with 220.
    pub answered: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Milliseconds from the first probe's start to the last one's end.
    pub span_ms: u64,
}

/// One family's outbound state.
#[derive(Clone, Debug, Default)]
struct Gate {
    /// `Some(why)` once the family's canary failed: the family is off for
    /// the run.
    blocked: Option<String>,
    /// When the canary last answered, and which address it was.
    checked: Option<(Instant, SocketAddr)>,
}

/// The canary addresses of each family, or why the family has none.
type Candidates = [Result<Vec<(String, SocketAddr)>, String>; 2];

/// The prober of a run: one cache of results per address.
pub struct Prober {
    config: ProbeConfig,
    results: Arc<OnceMap<Arc<HostProbe>>>,
    permits: Arc<Semaphore>,
    /// Serialises the canary checks of each family.
    checking: [tokio::sync::Mutex<()>; 2],
    gates: Mutex<[Gate; 2]>,
    candidates: OnceCell<Candidates>,
    started: Mutex<Option<Instant>>,
    last_end: Mutex<Option<Instant>>,
    probed: AtomicU64,
    answered: AtomicU64,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("config", &self.config)
            .finish()
    }
}

/// How old a canary success may be before a domain is declared unanswering.
const CANARY_FRESH: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Prober {
    /// A prober. The resolver is not used: canaries given by name are
    /// resolved by the system resolver, never by the run's resolver (which
    /// may be untrusted); the parameter stays for the callers.
    pub fn new(config: ProbeConfig, _resolver: Resolver) -> Prober {
        Prober::with_config(config)
    }

    /// A prober.
    pub fn with_config(config: ProbeConfig) -> Prober {
        Prober {
            permits: Arc::new(Semaphore::new(
                config.concurrency.clamp(1, Semaphore::MAX_PERMITS),
            )),
            config,
            results: Arc::new(OnceMap::default()),
            checking: Default::default(),
            gates: Mutex::new(Default::default()),
            candidates: OnceCell::new(),
            started: Mutex::new(None),
            last_end: Mutex::new(None),
            probed: AtomicU64::new(0),
            answered: AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> ProbeStats {
        let probed = self.probed.load(Ordering::Relaxed);
        let answered = self.answered.load(Ordering::Relaxed);
        let start = *lock(&self.started);
        let end = *lock(&self.last_end);
        let span_ms = match (start, end) {
            (Some(s), Some(e)) if e > s => (e - s).as_millis() as u64,
            _ => 0,
        };
        ProbeStats {
            probed,
            answered,
            failed: probed - answered,
            span_ms,
        }
    }

    /// Why probing stopped, if it did: a canary failed and none answered
    /// (outbound port 25 seems blocked here). Each family that failed is
    /// named; see [`Prober::canaries`] for the state of each.
    pub async fn blocked(&self) -> Option<String> {
        let gates = lock(&self.gates).clone();
        if gates
            .iter()
            .any(|g| g.blocked.is_none() && g.checked.is_some())
        {
            return None;
        }
        let why: Vec<String> = gates.iter().filter_map(|g| g.blocked.clone()).collect();
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Each family's canary state now.
    pub fn canaries(&self) -> Vec<FamilyCanary> {
        let gates = lock(&self.gates).clone();
        Family::ALL
            .iter()
            .map(|&family| {
                let g = &gates[family.index()];
                let status = match (&g.blocked, g.checked) {
                    (Some(_), _) => CanaryStatus::Failed,
                    (None, Some(_)) => CanaryStatus::Answered,
                    (None, None) => CanaryStatus::NotChecked,
                };
                FamilyCanary {
                    family,
                    status,
                    addr: g.checked.map(|(_, a)| a).filter(|_| g.blocked.is_none()),
                    why: g.blocked.clone(),
                }
            })
            .collect()
    }

    fn family_blocked(&self, family: Family) -> Option<String> {
        lock(&self.gates)[family.index()].blocked.clone()
    }

    /// Checks a family's canary unless it answered less than `fresh` ago;
    /// once it fails, the family is off for the rest of the run.
    async fn outbound_ok(&self, family: Family, fresh: Duration) -> Result<(), String> {
        let _checking = self.checking[family.index()].lock().await;
        {
            let gates = lock(&self.gates);
            let g = &gates[family.index()];
            if let Some(why) = &g.blocked {
                return Err(why.clone());
            }
            if g.checked.is_some_and(|(t, _)| t.elapsed() < fresh) {
                return Ok(());
            }
        }
        let result = self.check_family(family).await;
        let mut gates = lock(&self.gates);
        let g = &mut gates[family.index()];
        match result {
            Ok(addr) => {
                g.checked = Some((Instant::now(), addr));
                Ok(())
            }
            Err(why) => {
                let why = format!(
                    "{} outbound port 25 unavailable here: {why}",
                    family.label()
                );
                g.blocked = Some(why.clone());
                Err(why)
            }
        }
    }

    /// Asks the family's canaries in turn until one answers.
    async fn check_family(&self, family: Family) -> Result<SocketAddr, String> {
        let candidates = self
            .candidates
            .get_or_init(|| resolve_canaries(&self.config))
            .await;
        let list = candidates[family.index()].as_ref().map_err(Clone::clone)?;
        let mut failures = Vec::new();
        for (name, addr) in list {
            let p = smtp_probe(*addr, &self.config).await;
            if p.outcome == HostOutcome::Answered {
                return Ok(*addr);
            }
            let how = match &p.outcome {
                HostOutcome::Unavailable(e) => e.clone(),
                other => other.describe(),
            };
            let at = if *name == addr.to_string() {
                String::new()
            } else {
                format!(" ({addr})")
            };
            failures.push(format!("the canary {name}{at} did not answer: {how}"));
        }
        Err(failures.join("; "))
    }

    /// Probes one address, once per run. Private: the addresses come from a
    /// [`ProbePlan`], which holds only usable ones.
    async fn probe_host(&self, ip: IpAddr) -> Arc<HostProbe> {
        let addr = SocketAddr::new(ip, self.config.port);
        let key = addr.to_string();
        if let Some(t) = self.results.get(&key) {
            return t.wait().await;
        }
        let config = self.config.clone();
        let permits = self.permits.clone();
        let (ticket, started) = self.results.get_or_start(&key, move || {
            async move {
                let _permit = permits.acquire_owned().await;
                Arc::new(smtp_probe(addr, &config).await)
            }
            .boxed()
        });
        if started {
            self.note_start();
        }
        let result = ticket.wait().await;
        // A connection that failed on our side (no route) probed nothing.
        if started && !result.outcome.is_ours() {
            self.probed.fetch_add(1, Ordering::Relaxed);
            if result.outcome == HostOutcome::Answered {
                self.answered.fetch_add(1, Ordering::Relaxed);
            }
            *lock(&self.last_end) = Some(Instant::now());
        }
        result
    }

    fn note_start(&self) {
        let mut s = lock(&self.started);
        if s.is_none() {
            *s = Some(Instant::now());
        }
    }

    /// Probes a domain's addresses (the groups of
    /// [`prebounce_core::probe::probe_plan`], shuffled within a group here)
    /// in order until one answers, at most `max_hosts` of them. Addresses
    /// of a family whose canary failed are listed as unavailable and not
    /// tried; before the domain is declared unanswering, the canary of
    /// each family that failed is asked again (when its last answer is
    /// older than a minute), and a family that fails it turns its failures
    /// into ours. A plan holds only usable addresses: global, or inside a
    /// `--trusted-net`.
    pub async fn probe_domain(&self, plan: ProbePlan) -> ProbeEvidence {
        let mut order: Vec<IpAddr> = Vec::new();
        for mut group in plan.into_groups() {
            shuffle(&mut group);
            for ip in group {
                if !order.contains(&ip) {
                    order.push(ip);
                }
            }
        }
        let mut needed: Vec<Family> = order.iter().map(|ip| Family::of(*ip)).collect();
        needed.sort();
        needed.dedup();
        join_all(needed.iter().map(|f| self.outbound_ok(*f, Duration::MAX))).await;

        let port = self.config.port;
        let max = self.config.max_hosts.max(1);
        let mut hosts: Vec<Arc<HostProbe>> = Vec::new();
        let mut tried = 0;
        for ip in order {
            if tried >= max {
                break;
            }
            if let Some(why) = self.family_blocked(Family::of(ip)) {
                hosts.push(Arc::new(HostProbe {
                    addr: SocketAddr::new(ip, port),
                    outcome: HostOutcome::Unavailable(why),
                    millis: 0,
                    greeting: None,
                    starttls: None,
                }));
                continue;
            }
            let p = self.probe_host(ip).await;
            if !p.outcome.is_ours() {
                tried += 1;
            }
            let answered = p.outcome == HostOutcome::Answered;
            hosts.push(p);
            if answered {
                return self.evidence(hosts);
            }
        }
        // Before blaming the domain, make sure our own port 25 still works
        // in each family whose addresses failed.
        let mut failed: Vec<Family> = hosts
            .iter()
            .filter(|h| !h.outcome.is_ours())
            .map(|h| Family::of(h.addr.ip()))
            .collect();
        failed.sort();
        failed.dedup();
        for family in failed {
            if let Err(why) = self.outbound_ok(family, CANARY_FRESH).await {
                for h in hosts.iter_mut() {
                    if Family::of(h.addr.ip()) == family && !h.outcome.is_ours() {
                        let mut ours = HostProbe::clone(h);
                        ours.outcome = HostOutcome::Unavailable(format!(
                            "{why}; this probe had ended: {}",
                            h.outcome.describe()
                        ));
                        *h = Arc::new(ours);
                    }
                }
            }
        }
        self.evidence(hosts)
    }

    fn evidence(&self, hosts: Vec<Arc<HostProbe>>) -> ProbeEvidence {
        let unavailable = if !hosts.is_empty() && hosts.iter().all(|h| h.outcome.is_ours()) {
            let mut why: Vec<String> = Vec::new();
            for h in &hosts {
                if let HostOutcome::Unavailable(w) = &h.outcome {
                    let w = w.split("; this probe had ended").next().unwrap_or(w);
                    let w = if w.contains("unavailable here") {
                        w.to_string()
                    } else {
                        format!("{}: {w}", h.addr)
                    };
                    if !why.contains(&w) {
                        why.push(w);
                    }
                }
            }
            Some(why.join("; "))
        } else {
            None
        };
        ProbeEvidence {
            hosts,
            unavailable,
            canaries: self.canaries(),
        }
    }
}

/// Each family's canary addresses: IP literals as given; names resolved
/// by the system resolver (getaddrinfo), never by the run's resolver; an
/// address outside the global space (unless trusted) refused.
async fn resolve_canaries(config: &ProbeConfig) -> Candidates {
    let mut lists: [Vec<(String, SocketAddr)>; 2] = Default::default();
    let mut why: [Vec<String>; 2] = Default::default();
    for canary in &config.canaries {
        let addrs: Vec<SocketAddr> = match canary.ip {
            Some(ip) => vec![SocketAddr::new(ip, canary.port)],
            None => {
                let lookup = tokio::net::lookup_host((canary.host.as_str(), canary.port));
                match timeout(config.connect_timeout, lookup).await {
                    Ok(Ok(it)) => it.collect(),
                    Ok(Err(e)) => {
                        for w in why.iter_mut() {
                            w.push(format!("the canary {canary} does not resolve ({e})"));
                        }
                        continue;
                    }
                    Err(_) => {
                        for w in why.iter_mut() {
                            w.push(format!("the canary {canary} did not resolve in time"));
                        }
                        continue;
                    }
                }
            }
        };
        for family in Family::ALL {
            let of_family: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| Family::of(a.ip()) == family)
                .collect();
            if of_family.is_empty() {
                if canary.ip.is_none() {
                    why[family.index()].push(format!(
                        "the canary {canary} has no {} address",
                        family.label()
                    ));
                }
                continue;
            }
            match of_family
                .iter()
                .find(|a| refusal(a.ip(), &config.trusted_nets).is_none())
            {
                Some(a) => lists[family.index()].push((canary.to_string(), *a)),
                None => {
                    let r = refusal(of_family[0].ip(), &config.trusted_nets).unwrap_or_default();
                    why[family.index()].push(format!("the canary {canary}: {r}"));
                }
            }
        }
    }
    let [v4, v6] = lists;
    let [w4, w6] = why;
    let finish = |list: Vec<(String, SocketAddr)>, why: Vec<String>, family: Family| {
        if !list.is_empty() {
            Ok(list)
        } else if why.is_empty() {
            Err(format!(
                "no {} canary was given (--probe-canary)",
                family.label()
            ))
        } else {
            Err(why.join("; "))
        }
    };
    [finish(v4, w4, Family::Ipv4), finish(v6, w6, Family::Ipv6)]
}

fn shuffle(v: &mut [IpAddr]) {
    for i in (1..v.len()).rev() {
        let j = rand::random_range(0..=i);
        v.swap(i, j);
    }
}

/// One SMTP reply line's code, when the line is `NNN` followed by a space,
/// a hyphen (continuation) or nothing (RFC 5321 §4.2).
fn reply_code(line: &str) -> Option<(u16, bool)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let more = match b.get(3) {
        None | Some(b' ') => false,
        Some(b'-') => true,
        Some(_) => return None,
    };
    let code = line[..3].parse().ok()?;
    Some((code, more))
}

/// Why a reply could not be read.
#[derive(Debug)]
enum ReplyError {
    /// The connection closed before the reply was complete.
    Closed,
    /// What arrived is no valid reply; says why.
    Invalid(String),
    /// A socket error.
    Io(io::Error),
}

/// One whole reply: its code, its last line and every line.
type Reply = (u16, String, Vec<String>);

/// Reads one whole reply (continuation lines included), within the size
/// limits: [`MAX_REPLY_LINE`] octets a line, [`MAX_REPLY`] in all.
async fn read_reply<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Reply, ReplyError> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0usize;
    let mut first_code = None;
    loop {
        let mut buf = Vec::new();
        let n = (&mut *reader)
            .take(MAX_REPLY_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(ReplyError::Io)?;
        total += n;
        if n == 0 {
            return Err(ReplyError::Closed);
        }
        if buf.len() > MAX_REPLY_LINE {
            return Err(ReplyError::Invalid(format!(
                "greeting too long: a line over {MAX_REPLY_LINE} bytes"
            )));
        }
        if !buf.ends_with(b"\n") {
            return Err(ReplyError::Closed);
        }
        if total > MAX_REPLY {
            return Err(ReplyError::Invalid(format!(
                "endless continuation: over {MAX_REPLY} bytes in {} lines without a final reply line",
                lines.len() + 1
            )));
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        let Some((code, more)) = reply_code(&line) else {
            let shown: String = line.chars().take(40).collect();
            return Err(ReplyError::Invalid(format!("not an SMTP reply: {shown:?}")));
        };
        if first_code.is_some_and(|c| c != code) {
            return Err(ReplyError::Invalid(format!(
                "reply code changed within a reply: {line:?}"
            )));
        }
        first_code = Some(code);
        lines.push(line.clone());
        if !more {
            return Ok((code, line, lines));
        }
    }
}

/// A connection that could not be made: the host's failure (refused,
/// reset, timeout) or ours (no route, no address of the family, a local
/// firewall, too many open files: anything else).
fn connect_outcome(e: &io::Error) -> HostOutcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => HostOutcome::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => HostOutcome::Reset,
        io::ErrorKind::TimedOut => HostOutcome::ConnectTimeout,
        _ => HostOutcome::Unavailable(e.to_string()),
    }
}

/// A socket error after the connection opened.
fn read_outcome(e: &io::Error) -> HostOutcome {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => HostOutcome::Reset,
        io::ErrorKind::TimedOut => HostOutcome::GreetingTimeout,
        _ => HostOutcome::Unreachable(e.to_string()),
    }
}

/// The SMTP exchange with one address: connect, greeting, EHLO, QUIT.
pub async fn smtp_probe(addr: SocketAddr, config: &ProbeConfig) -> HostProbe {
    let start = Instant::now();
    let done = |outcome: HostOutcome, greeting: Option<String>, starttls: Option<bool>| HostProbe {
        addr,
        outcome,
        millis: start.elapsed().as_millis() as u64,
        greeting,
        starttls,
    };
    let stream = match timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => return done(HostOutcome::ConnectTimeout, None, None),
        Ok(Err(e)) => return done(connect_outcome(&e), None, None),
        Ok(Ok(s)) => s,
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let greeting = match timeout(config.greeting_timeout, read_reply(&mut reader)).await {
        Err(_) => return done(HostOutcome::GreetingTimeout, None, None),
        Ok(Err(ReplyError::Invalid(why))) => {
            return done(HostOutcome::BadGreeting(why), None, None)
        }
        Ok(Err(ReplyError::Closed)) => return done(HostOutcome::NoGreeting, None, None),
        Ok(Err(ReplyError::Io(e))) => return done(read_outcome(&e), None, None),
        Ok(Ok(g)) => g,
    };
    let (code, last, _) = greeting;
    if code != 220 {
        let _ = write.write_all(b"QUIT\r\n").await;
        return done(HostOutcome::Rejected(code), Some(last), None);
    }
    let mut starttls = None;
    if config.ehlo {
        let ehlo = format!("EHLO {}\r\n", config.helo_name);
        if write.write_all(ehlo.as_bytes()).await.is_ok() {
            if let Ok(Ok((250, _, lines))) =
                timeout(config.greeting_timeout, read_reply(&mut reader)).await
            {
                starttls = Some(lines.iter().any(|l| {
                    l.get(4..)
                        .is_some_and(|rest| rest.trim().eq_ignore_ascii_case("STARTTLS"))
                }));
            }
        }
    }
    if write.write_all(b"QUIT\r\n").await.is_ok() {
        // A polite wait for 221, briefly; the verdict does not depend on it.
        let _ = timeout(Duration::from_secs(2), read_reply(&mut reader)).await;
    }
    done(HostOutcome::Answered, Some(last), starttls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes() {
        assert_eq!(reply_code("220 mx.example ESMTP"), Some((220, false)));
        assert_eq!(reply_code("250-STARTTLS"), Some((250, true)));
        assert_eq!(reply_code("554"), Some((554, false)));
        assert_eq!(reply_code("HTTP/1.1 400"), None);
        assert_eq!(reply_code("22"), None);
        assert_eq!(reply_code("220x"), None);
    }

    async fn read(bytes: &[u8]) -> Result<Reply, ReplyError> {
        let mut r = BufReader::new(bytes);
        read_reply(&mut r).await
    }

    #[tokio::test]
    async fn replies_within_limits() {
        let (code, last, lines) = read(b"220-first\r\n220-second\r\n220 done\r\n")
            .await
            .unwrap();
        assert_eq!((code, last.as_str(), lines.len()), (220, "220 done", 3));
        assert!(read(b"220\r\n").await.is_ok());
        // Exactly 512 octets, CRLF included: accepted; 513: not.
        let line = |n: usize| format!("220 {}\r\n", "x".repeat(n - 6)).into_bytes();
        assert!(read(&line(512)).await.is_ok());
        match read(&line(513)).await {
            Err(ReplyError::Invalid(why)) => assert!(why.contains("greeting too long"), "{why}"),
            other => panic!("{other:?}"),
        }
        let endless = "220-more\r\n".repeat(1000);
        match read(endless.as_bytes()).await {
            Err(ReplyError::Invalid(why)) => {
                assert!(why.contains("endless continuation"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        // Continuation lines then a close: no reply.
        assert!(matches!(
            read(b"220-a\r\n220-b\r\n").await,
            Err(ReplyError::Closed)
        ));
        assert!(matches!(read(b"220 no end").await, Err(ReplyError::Closed)));
        assert!(matches!(
            read(b"220-a\r\n250 b\r\n").await,
            Err(ReplyError::Invalid(_))
        ));
        assert!(matches!(
            read(b"SSH-2.0-OpenSSH\r\n").await,
            Err(ReplyError::Invalid(_))
        ));
    }

    #[test]
    fn canaries_parse() {
        let c: Canary = "gmail-smtp-in.l.google.com:25".parse().unwrap();
        assert_eq!(
            (c.ip, c.host.as_str(), c.port),
            (None, "gmail-smtp-in.l.google.com", 25)
        );
        let c: Canary = "[::1]:2525".parse().unwrap();
        assert_eq!((c.ip, c.port), (Some("::1".parse().unwrap()), 2525));
        let c: Canary = "2001:db8::1".parse().unwrap();
        assert_eq!((c.ip, c.port), (Some("2001:db8::1".parse().unwrap()), 25));
        let c: Canary = "127.0.0.1".parse().unwrap();
        assert_eq!(c.to_string(), "127.0.0.1:25");
        for bad in ["", "host:0", "host:99999", "a b", "127.0.0.1:0", "[::1]:x"] {
            assert!(bad.parse::<Canary>().is_err(), "{bad}");
        }
        assert_eq!(default_canaries().len(), DEFAULT_CANARIES.len());
    }

    #[test]
    fn private_canaries_are_refused_unless_trusted() {
        let c: Canary = "127.0.0.25:25".parse().unwrap();
        let why = c.refused(&[]).unwrap();
        assert!(
            why.contains("loopback") && why.contains("--trusted-net"),
            "{why}"
        );
        assert!(c.refused(&["127.0.0.0/8".parse().unwrap()]).is_none());
        let c: Canary = "10.1.2.3".parse().unwrap();
        assert!(c.refused(&[]).is_some());
        let c: Canary = "8.8.8.8".parse().unwrap();
        assert!(c.refused(&[]).is_none());
    }

    #[tokio::test]
    async fn a_family_without_a_canary_is_unavailable() {
        let mut config = ProbeConfig::new("test");
        config.canaries = vec!["127.0.0.1:9".parse().unwrap()];
        config.trusted_nets = vec!["127.0.0.0/8".parse().unwrap()];
        let c = resolve_canaries(&config).await;
        assert_eq!(c[0].as_ref().unwrap().len(), 1);
        assert!(c[1].as_ref().unwrap_err().contains("no IPv6 canary"));
        // An untrusted loopback canary is refused, and said so.
        config.trusted_nets.clear();
        let c = resolve_canaries(&config).await;
        assert!(c[0].as_ref().unwrap_err().contains("refused as a canary"));
    }
}
