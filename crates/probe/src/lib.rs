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
//! - A canary (a host known to answer on port 25) is checked before the
//!   first probe, and again before any domain is declared unanswering when
//!   the last check is older than a minute: when the canary fails, outbound
//!   port 25 is blocked here, probing stops, and no domain is blamed.
#![warn(missing_docs)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::FutureExt;
use prebounce_core::probe::{HostOutcome, HostProbe, ProbeEvidence, ProbePlan};
use prebounce_dns::oncemap::OnceMap;
use prebounce_dns::Resolver;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout;

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
    /// Addresses tried per domain, at most.
    pub max_hosts: usize,
    /// Ask EHLO after the greeting to note STARTTLS.
    pub ehlo: bool,
    /// A host that answers on port 25 when our outbound port 25 works:
    /// `HOST[:PORT]` (a name is resolved with the run's resolver).
    pub canary: String,
}

impl ProbeConfig {
    /// The defaults: port 25, 10 s to connect, 30 s for the greeting, 100
    /// connections, 5 addresses per domain, EHLO on, the canary a large
    /// mailbox provider's MX.
    pub fn new(helo_name: impl Into<String>) -> ProbeConfig {
        ProbeConfig {
            port: 25,
            connect_timeout: Duration::from_secs(10),
            greeting_timeout: Duration::from_secs(30),
            helo_name: helo_name.into(),
            concurrency: 100,
            max_hosts: 5,
            ehlo: true,
            canary: DEFAULT_CANARY.into(),
        }
    }
}

/// The default canary: Google's inbound MX, which answers on port 25 from
/// anywhere that may send mail.
pub const DEFAULT_CANARY: &str = "gmail-smtp-in.l.google.com:25";

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Addresses probed (each once).
    pub probed: u64,
    /// Of those, answered with 220.
    pub answered: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Milliseconds from the first probe's start to the last one's end.
    pub span_ms: u64,
}

struct Gate {
    /// `Some(why)` once the canary failed: probing is off for the run.
    blocked: Option<String>,
    /// When the canary last answered.
    checked: Option<Instant>,
}

/// The prober of a run: one cache of results per address.
pub struct Prober {
    config: ProbeConfig,
    resolver: Resolver,
    results: Arc<OnceMap<Arc<HostProbe>>>,
    permits: Arc<Semaphore>,
    gate: tokio::sync::Mutex<Gate>,
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

impl Prober {
    /// A prober; `resolver` resolves a canary given by name.
    pub fn new(config: ProbeConfig, resolver: Resolver) -> Prober {
        Prober {
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            resolver,
            results: Arc::new(OnceMap::default()),
            gate: tokio::sync::Mutex::new(Gate {
                blocked: None,
                checked: None,
            }),
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
        let start = *self.started.lock().unwrap_or_else(|p| p.into_inner());
        let end = *self.last_end.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Why probing stopped, if it did: outbound port 25 seems blocked.
    pub async fn blocked(&self) -> Option<String> {
        self.gate.lock().await.blocked.clone()
    }

    /// Checks the canary unless it answered less than `fresh` ago; once it
    /// fails, probing is off for the rest of the run.
    async fn outbound_ok(&self, fresh: Duration) -> Result<(), String> {
        let mut gate = self.gate.lock().await;
        if let Some(why) = &gate.blocked {
            return Err(why.clone());
        }
        if gate.checked.is_some_and(|t| t.elapsed() < fresh) {
            return Ok(());
        }
        let result = match self.canary_addr().await {
            Err(why) => Err(why),
            Ok(addr) => {
                let p = smtp_probe(addr, &self.config).await;
                if p.outcome == HostOutcome::Answered {
                    Ok(())
                } else {
                    Err(format!(
                        "the canary {} ({addr}) did not answer: {}",
                        self.config.canary,
                        p.outcome.describe()
                    ))
                }
            }
        };
        match result {
            Ok(()) => {
                gate.checked = Some(Instant::now());
                Ok(())
            }
            Err(why) => {
                gate.blocked = Some(why.clone());
                Err(why)
            }
        }
    }

    async fn canary_addr(&self) -> Result<SocketAddr, String> {
        let spec = self.config.canary.trim();
        if let Ok(sa) = spec.parse::<SocketAddr>() {
            return Ok(sa);
        }
        let (host, port) = match spec.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse().unwrap_or(25)),
            _ => (spec, 25),
        };
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let name = hickory_proto::rr::Name::from_ascii(format!("{}.", host.trim_end_matches('.')))
            .map_err(|e| format!("the canary '{host}' is not a host name: {e}"))?;
        let h = self.resolver.host(&name).await;
        let first = h.addresses().next();
        first.map(|ip| SocketAddr::new(ip, port)).ok_or_else(|| {
            format!(
                "the canary {host} does not resolve ({})",
                h.a.status.describe()
            )
        })
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
        if started {
            self.probed.fetch_add(1, Ordering::Relaxed);
            if result.outcome == HostOutcome::Answered {
                self.answered.fetch_add(1, Ordering::Relaxed);
            }
            *self.last_end.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        result
    }

    fn note_start(&self) {
        let mut s = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            *s = Some(Instant::now());
        }
    }

    /// Probes a domain's addresses (the groups of
    /// [`prebounce_core::probe::probe_plan`], shuffled within a group here)
    /// in order until one answers, at most `max_hosts` of them. A plan holds
    /// only usable addresses: global, or inside a `--trusted-net`.
    pub async fn probe_domain(&self, plan: ProbePlan) -> ProbeEvidence {
        if let Err(why) = self.outbound_ok(Duration::MAX).await {
            return ProbeEvidence {
                hosts: vec![],
                unavailable: Some(why),
            };
        }
        let mut order: Vec<IpAddr> = Vec::new();
        for mut group in plan.into_groups() {
            shuffle(&mut group);
            for ip in group {
                if !order.contains(&ip) {
                    order.push(ip);
                }
            }
        }
        order.truncate(self.config.max_hosts.max(1));
        let mut hosts = Vec::new();
        for ip in order {
            let p = self.probe_host(ip).await;
            let answered = p.outcome == HostOutcome::Answered;
            hosts.push(p);
            if answered {
                return ProbeEvidence {
                    hosts,
                    unavailable: None,
                };
            }
        }
        // Before blaming the domain, make sure our own port 25 still works.
        let unavailable = self.outbound_ok(CANARY_FRESH).await.err();
        ProbeEvidence { hosts, unavailable }
    }
}

fn shuffle(v: &mut [IpAddr]) {
    for i in (1..v.len()).rev() {
        let j = rand::random_range(0..=i);
        v.swap(i, j);
    }
}

/// One SMTP reply line's code, when the line is `NNN` followed by a space,
/// a hyphen (continuation) or nothing.
fn reply_code(line: &str) -> Option<(u16, bool)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = line[..3].parse().ok()?;
    let more = b.get(3) == Some(&b'-');
    Some((code, more))
}

/// Reads one whole reply (continuation lines included); returns its code,
/// its last line and every line. `None` at a clean close.
async fn read_reply(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> io::Result<Option<(u16, String, Vec<String>)>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        // Replies are short; a host that sends more than this is no SMTP server.
        let n = (&mut *reader).take(4096).read_line(&mut line).await?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(None);
        }
        let line = line.trim_end().to_string();
        let Some((code, more)) = reply_code(&line) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an SMTP reply",
            ));
        };
        lines.push(line.clone());
        if !more || lines.len() > 100 {
            return Ok(Some((code, line, lines)));
        }
    }
}

fn connect_outcome(e: &io::Error) -> HostOutcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => HostOutcome::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => HostOutcome::Reset,
        io::ErrorKind::TimedOut => HostOutcome::ConnectTimeout,
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
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
            return done(HostOutcome::NoGreeting, None, None)
        }
        Ok(Err(e)) => return done(connect_outcome(&e), None, None),
        Ok(Ok(None)) => return done(HostOutcome::NoGreeting, None, None),
        Ok(Ok(Some(g))) => g,
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
            if let Ok(Ok(Some((250, _, lines)))) =
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
    }
}
