//! `prebounce policy`: a Postfix SMTP access policy delegation service
//! (Postfix's SMTPD_POLICY_README).
//!
//! The protocol: a request is `name=value` lines ending with an empty line;
//! the reply is one `action=...` line and an empty line; a connection
//! carries many requests. At `protocol_state=RCPT` the recipient's domain
//! is judged, and:
//!
//! - suppress: `550 X.Y.Z prebounce: REASON: DOMAIN WHAT[; SUGGESTION]`,
//!   the verdict's RFC 3463 status (see [`action`] for the exact shape);
//! - retry: `DUNNO`, or with `--on-retry defer`, `DEFER_IF_PERMIT 4.Y.Z
//!   prebounce: ...`;
//! - deliver: `DUNNO`.
//!
//! The service fails open: every other state, a request without a
//! recipient, a malformed request, a lookup slower than `--policy-timeout`,
//! our own resolver failing its health check, an address our parser
//! refuses (Postfix has already accepted its syntax) are all `DUNNO`.
//!
//! The parsing ([`Parser`], [`ask`]) and the reply ([`action`]) are pure;
//! the socket layer below them is thin.
//!
//! Limits (each documented in the README):
//! - a line is at most [`MAX_LINE`] bytes, a request at most
//!   [`MAX_REQUEST`] bytes: more closes the connection (no reply can be
//!   matched to a request cut short);
//! - a request has at most [`MAX_ATTRS`] attributes: more is answered
//!   `DUNNO` without a lookup;
//! - `--idle-timeout` (default 10 min) closes a silent connection;
//! - `--max-connections` (default 1000): one more is closed at once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prebounce::Checker;
use prebounce_core::verdict::{Action, Reason, Suggestion, Verdict, Warning};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{watch, Semaphore};

use super::args::{Listen, OnRetryArg, PolicyArgs};
use super::config::{history_setup, long_lived_dns_setup, unhealthy_error, GuardTripped};

/// The longest request line, in bytes, newline included. Postfix's longest
/// attributes (certificate subjects, SASL names) are far shorter.
pub const MAX_LINE: usize = 8192;

/// The most attributes in one request (Postfix 3.7 sends about 35).
pub const MAX_ATTRS: usize = 256;

/// The most bytes in one request.
pub const MAX_REQUEST: usize = 64 * 1024;

/// How often the service checkpoints (see `Checker::checkpoint`): expired
/// reports dropped, an unhealthy resolver asked again, history written.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// The SMTP reply code of a rejection.
pub const REJECT_CODE: u16 = 550;

/// One request, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The attributes in the order sent (the first [`MAX_ATTRS`]).
    pub attrs: Vec<(String, String)>,
    /// Why the request cannot be trusted, when it cannot.
    pub malformed: Option<&'static str>,
}

impl Request {
    /// The value of the attribute `name`; `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.attrs.iter().filter(|(n, _)| n == name).count()
    }
}

/// What reading one more line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The request goes on.
    More,
    /// The empty line ended a request.
    Request(Request),
    /// A line or the request is over the limits: close the connection.
    TooLong,
}

/// Reads requests line by line.
#[derive(Debug, Default)]
pub struct Parser {
    current: Request,
    bytes: usize,
}

impl Parser {
    /// A parser waiting for a request.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Whether no part of a request has been read.
    pub fn is_idle(&self) -> bool {
        self.bytes == 0
    }

    /// Takes one line, with or without its `\n` (or `\r\n`).
    pub fn push(&mut self, line: &[u8]) -> Step {
        if line.len() > MAX_LINE {
            return Step::TooLong;
        }
        self.bytes += line.len().max(1);
        if self.bytes > MAX_REQUEST {
            return Step::TooLong;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.bytes = 0;
            return Step::Request(std::mem::take(&mut self.current));
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            self.current.malformed = Some("a line without '='");
            return Step::More;
        };
        if eq == 0 {
            self.current.malformed = Some("an attribute without a name");
            return Step::More;
        }
        if self.current.attrs.len() >= MAX_ATTRS {
            self.current.malformed = Some("too many attributes");
            return Step::More;
        }
        let name = String::from_utf8_lossy(&line[..eq]).into_owned();
        let value = String::from_utf8_lossy(&line[eq + 1..]).into_owned();
        self.current.attrs.push((name, value));
        Step::More
    }
}

/// What a request asks of this service.
#[derive(Debug, PartialEq, Eq)]
pub enum Ask {
    /// Judge this recipient address (`protocol_state=RCPT`).
    Recipient(String),
    /// Answer `DUNNO` without a lookup; why, in words.
    Pass(&'static str),
}

/// Reads what a request asks: only an `smtpd_access_policy` request at
/// `protocol_state=RCPT` with one non-empty `recipient` is judged.
pub fn ask(req: &Request) -> Ask {
    if let Some(why) = req.malformed {
        return Ask::Pass(why);
    }
    for name in ["request", "protocol_state", "recipient"] {
        if req.count(name) > 1 {
            return Ask::Pass("an attribute given twice");
        }
    }
    match req.get("request") {
        Some("smtpd_access_policy") => {}
        Some(_) => return Ask::Pass("not an smtpd_access_policy request"),
        None => return Ask::Pass("no request attribute"),
    }
    if !req
        .get("protocol_state")
        .is_some_and(|s| s.eq_ignore_ascii_case("RCPT"))
    {
        return Ask::Pass("not at RCPT");
    }
    match req.get("recipient").map(str::trim) {
        Some(r) if !r.is_empty() => Ask::Recipient(r.to_string()),
        _ => Ask::Pass("no recipient"),
    }
}

/// The reply line of an action: `action=...`, then the empty line.
pub fn reply_line(action: &str) -> String {
    format!("action={action}\n\n")
}

/// The longest reply text, in characters.
pub const MAX_TEXT: usize = 250;

/// Printable ASCII only (anything else becomes `?`), at most `max` chars.
fn clean(s: &str, max: usize) -> String {
    let long = s.chars().count() > max;
    let keep = if long { max.saturating_sub(3) } else { max };
    let mut out: String = s
        .chars()
        .take(keep)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if long {
        out.push_str("...");
    }
    out
}

/// What the domain is, in a few words, for the reply text.
fn what(reason: Reason) -> &'static str {
    match reason {
        Reason::NullMx => "accepts no mail (RFC 7505)",
        Reason::NullMxMalformed => "publishes a malformed null MX (a numeric MX host)",
        Reason::Nxdomain => "does not exist (NXDOMAIN)",
        Reason::DeadDomain => "has failed every DNS lookup for days",
        Reason::NoMailHost => "has no MX and no address",
        Reason::NoMx => "has no MX records",
        Reason::MxLocalhost => "has its MX on localhost",
        Reason::MxUnroutable => "has its MX on private addresses only",
        Reason::MxUnresolvable => "has no MX host that resolves",
        Reason::MxTypo => "has a mistyped MX host",
        Reason::DomainInvalid => "is not a valid domain",
        Reason::DomainReserved => "is a special-use name that receives no mail",
        Reason::AddressInvalid => "is in an invalid address",
        Reason::DnsFailure => "could not be looked up (temporary DNS failure)",
        Reason::NoAnswer => "has no MX host answering on port 25",
        _ => "cannot receive mail now",
    }
}

/// The reply text: `prebounce: REASON: DOMAIN WHAT`, then `; did you mean
/// DOMAIN?` for a mistyped mailbox domain, `; probably meant MX HOST` for a
/// mistyped MX host, ` (awaiting confirmation)` for a held verdict.
/// Printable ASCII, no newline, at most [`MAX_TEXT`] characters.
pub fn text(verdict: &Verdict, domain: &str) -> String {
    let mut t = format!(
        "prebounce: {}: {} {}",
        verdict.reason.code(),
        clean(domain, 100),
        what(verdict.reason)
    );
    match &verdict.suggestion {
        Some(Suggestion::Domain(d)) => t.push_str(&format!("; did you mean {}?", clean(d, 100))),
        Some(Suggestion::Host(h)) => t.push_str(&format!("; probably meant MX {}", clean(h, 100))),
        None => {}
    }
    if verdict.held {
        t.push_str(" (awaiting confirmation)");
    }
    clean(&t, MAX_TEXT)
}

/// What to do with a `retry` verdict.
pub type OnRetry = OnRetryArg;

/// The action (the value after `action=`) for a verdict on a recipient in
/// `domain`:
///
/// - suppress: `550 X.Y.Z TEXT` (see [`text`]), except `address_invalid`
///   (`DUNNO`: Postfix has parsed the address already, and our syntax
///   rules are stricter than what mail systems accept);
/// - retry: `DUNNO`, or `DEFER_IF_PERMIT 4.Y.Z TEXT` with `--on-retry
///   defer`, except when our own resolver is unhealthy (`DUNNO`);
/// - deliver: `DUNNO`.
pub fn action(verdict: &Verdict, domain: &str, on_retry: OnRetry) -> String {
    const DUNNO: &str = "DUNNO";
    match verdict.action() {
        Action::Deliver => DUNNO.into(),
        Action::Suppress => {
            if verdict.reason == Reason::AddressInvalid {
                return DUNNO.into();
            }
            match verdict.status() {
                Some(s) if s.class == 5 => {
                    format!("{REJECT_CODE} {s} {}", text(verdict, domain))
                }
                _ => DUNNO.into(),
            }
        }
        Action::Retry => {
            if on_retry == OnRetry::Dunno || verdict.warnings.contains(&Warning::ResolverUnhealthy)
            {
                return DUNNO.into();
            }
            match verdict.status() {
                Some(s) if s.class == 4 => {
                    format!("DEFER_IF_PERMIT {s} {}", text(verdict, domain))
                }
                _ => DUNNO.into(),
            }
        }
    }
}

/// What the service counts, for the line it writes when it stops.
#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    refused: AtomicU64,
    requests: AtomicU64,
    rejected: AtomicU64,
    deferred: AtomicU64,
    timeouts: AtomicU64,
    malformed: AtomicU64,
}

struct Service {
    checker: Checker,
    on_retry: OnRetry,
    policy_timeout: Duration,
    idle_timeout: Duration,
    stats: Stats,
    /// Whether the resolver's failed health check has been logged.
    unhealthy_told: std::sync::atomic::AtomicBool,
}

impl Service {
    /// Says on standard error when the resolver turns unhealthy, and when
    /// it passes its health check again.
    fn tell_health(&self) {
        match self.checker.resolver_unhealthy() {
            Some(why) if !self.unhealthy_told.swap(true, Ordering::Relaxed) => eprintln!(
                "prebounce policy: {why}; every answer is DUNNO until it passes again (asked every {CHECKPOINT_EVERY:?})"
            ),
            None if self.unhealthy_told.swap(false, Ordering::Relaxed) => {
                eprintln!("prebounce policy: the resolver passed its health check again")
            }
            _ => {}
        }
    }

    /// Now and then: expired reports dropped, an unhealthy resolver asked
    /// again, the history's readings written.
    async fn checkpoint(&self) {
        if let Err(e) = self.checker.checkpoint().await {
            eprintln!("prebounce policy: history checkpoint: {e}");
        }
        self.tell_health();
    }

    /// The action for one request; never fails (every fault is `DUNNO`).
    async fn answer(&self, req: &Request) -> String {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let rcpt = match ask(req) {
            Ask::Recipient(r) => r,
            Ask::Pass(why) => {
                if req.malformed.is_some() {
                    self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("prebounce policy: DUNNO for a malformed request ({why})");
                }
                return "DUNNO".into();
            }
        };
        // The lookup runs as its own task: a timeout leaves it running (its
        // result is cached for the next request), and a panic in it is a
        // DUNNO, not a lost connection.
        let checker = self.checker.clone();
        let address = rcpt.clone();
        let lookup = tokio::spawn(async move { checker.check_address(&address).await });
        let report = match tokio::time::timeout(self.policy_timeout, lookup).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                eprintln!(
                    "prebounce policy: DUNNO for <{}>: the lookup failed ({e})",
                    clean(&rcpt, 300)
                );
                return "DUNNO".into();
            }
            Err(_) => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "prebounce policy: DUNNO for <{}>: no verdict within {:?}",
                    clean(&rcpt, 300),
                    self.policy_timeout
                );
                return "DUNNO".into();
            }
        };
        let domain = report
            .report
            .as_ref()
            .map(|r| r.domain.as_str())
            .or(report.domain.as_deref())
            .unwrap_or_default();
        if report
            .verdict
            .warnings
            .contains(&Warning::ResolverUnhealthy)
        {
            self.tell_health();
        }
        let action = action(&report.verdict, domain, self.on_retry);
        if action != "DUNNO" {
            if action.starts_with("DEFER") {
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
            }
            eprintln!("prebounce policy: <{}> {action}", clean(&rcpt, 300));
        }
        action
    }

    /// Serves one connection until the peer closes it, it idles too long,
    /// it breaks the limits, or the service stops (between requests).
    async fn serve<S: AsyncRead + AsyncWrite>(&self, stream: S, mut stop: watch::Receiver<bool>) {
        let (r, mut w) = tokio::io::split(stream);
        let mut r = BufReader::new(r);
        let mut parser = Parser::new();
        let mut line = Vec::with_capacity(256);
        loop {
            if *stop.borrow() && parser.is_idle() {
                return;
            }
            line.clear();
            let mut limited = (&mut r).take(MAX_LINE as u64 + 1);
            let read = limited.read_until(b'\n', &mut line);
            let idle = parser.is_idle();
            let n = tokio::select! {
                res = tokio::time::timeout(self.idle_timeout, read) => match res {
                    Ok(Ok(n)) => n,
                    // Idle too long, or a read error: close.
                    _ => return,
                },
                _ = stop.changed(), if idle => return,
            };
            if n == 0 || (line.last() != Some(&b'\n') && line.len() <= MAX_LINE) {
                // The peer closed, maybe in the middle of a line.
                return;
            }
            let req = match parser.push(&line) {
                Step::More => continue,
                Step::TooLong => {
                    self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "prebounce policy: closed a connection whose request is over the limits ({MAX_LINE} bytes a line, {MAX_REQUEST} a request)"
                    );
                    return;
                }
                Step::Request(req) => req,
            };
            let action = self.answer(&req).await;
            let out = reply_line(&action);
            match tokio::time::timeout(self.idle_timeout, w.write_all(out.as_bytes())).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }
}

/// A bound listener.
enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

/// An accepted connection.
enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn bind(listen: &Listen) -> anyhow::Result<Listener> {
        match listen {
            Listen::Tcp(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
                Ok(Listener::Tcp(l))
            }
            Listen::Unix(path) => {
                remove_stale_socket(path)?;
                let l = tokio::net::UnixListener::bind(path).map_err(|e| {
                    anyhow::anyhow!("cannot listen on unix:{}: {e}", path.display())
                })?;
                // Postfix's smtpd runs as another user: it must be able to
                // connect. Access is restricted by the directory.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
                Ok(Listener::Unix(l, path.clone()))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "?".into()),
            Listener::Unix(_, p) => format!("unix:{}", p.display()),
        }
    }

    async fn accept(&self) -> std::io::Result<Conn> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
            Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A socket file left by a service that is gone is removed; one that
/// answers, or a file that is not a socket, is an error.
fn remove_stale_socket(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        anyhow::bail!(
            "cannot listen on unix:{}: a file that is not a socket is there",
            path.display()
        );
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!(
            "cannot listen on unix:{}: another service is listening there",
            path.display()
        );
    }
    std::fs::remove_file(path)?;
    Ok(())
}

/// SIGTERM or SIGINT; the handlers are installed when this is called.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async move {
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let int = async {
            match int.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = int => {}
        }
    }
}

/// Runs the service until SIGTERM or SIGINT.
pub async fn run(args: PolicyArgs) -> anyhow::Result<()> {
    let history = history_setup(&args.history, !args.dns.zone.is_empty(), true)?;
    let setup = long_lived_dns_setup(&args.dns, &args.probe, history, args.cache_ttl).await?;
    let checker = setup.checker.clone();
    // A resolver that fails its health check at startup would make every
    // answer DUNNO: better not to start (Postfix applies its
    // smtpd_policy_service_default_action meanwhile).
    if let Err(why) = checker.check_resolver(true).await {
        return Err(unhealthy_error(&why).into());
    }
    let shutdown = shutdown_signal();
    let listener = Listener::bind(&args.listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", listener.describe())?;
        out.flush()?;
    }
    eprintln!(
        "prebounce policy: listening on {}; DNS via {}; SIGTERM or Ctrl-C stops",
        listener.describe(),
        setup.describe()
    );
    let service = Arc::new(Service {
        checker: checker.clone(),
        on_retry: args.on_retry,
        policy_timeout: args.policy_timeout,
        idle_timeout: args.idle_timeout,
        stats: Stats::default(),
        unhealthy_told: Default::default(),
    });
    let slots = Arc::new(Semaphore::new(args.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    // One checkpoint at a time, every CHECKPOINT_EVERY.
    let checkpoints = {
        let svc = service.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                svc.checkpoint().await;
            }
        })
    };
    loop {
        let conn = tokio::select! {
            _ = &mut shutdown => break,
            c = listener.accept() => c,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, a connection reset before it
                // was accepted: wait a little, go on.
                eprintln!("prebounce policy: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            service.stats.refused.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "prebounce policy: {} connections already: closed a new one",
                args.max_connections
            );
            drop(conn);
            continue;
        };
        service.stats.connections.fetch_add(1, Ordering::Relaxed);
        let (svc, stop) = (service.clone(), stop_rx.clone());
        tokio::spawn(async move {
            match conn {
                Conn::Tcp(s) => svc.serve(s, stop).await,
                Conn::Unix(s) => svc.serve(s, stop).await,
            }
            drop(permit);
        });
    }
    // Stop: no new connection; each open one finishes the request it is
    // reading or answering, then closes.
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = args.policy_timeout + Duration::from_secs(2);
    let all = u32::try_from(args.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        eprintln!("prebounce policy: some connections were still busy after {grace:?}");
    }
    checkpoints.abort();
    let _ = checkpoints.await;
    // The last checkpoint asks an unhealthy resolver once more, and writes
    // the escalations the sanity guard allows; then the rest is written.
    let checkpoint = checker.checkpoint().await;
    let finished = checkpoint.and(checker.finish_history());
    let unhealthy = checker.resolver_unhealthy();
    let s = &service.stats;
    eprintln!(
        "prebounce policy: stopped; {} connections ({} refused), {} requests: {} rejected, {} deferred, {} timed out, {} malformed",
        s.connections.load(Ordering::Relaxed),
        s.refused.load(Ordering::Relaxed),
        s.requests.load(Ordering::Relaxed),
        s.rejected.load(Ordering::Relaxed),
        s.deferred.load(Ordering::Relaxed),
        s.timeouts.load(Ordering::Relaxed),
        s.malformed.load(Ordering::Relaxed),
    );
    drop(setup);
    match finished {
        Ok(()) => {}
        Err(e @ prebounce::HistoryError::Guard(_)) => {
            return Err(GuardTripped(e.to_string()).into())
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    if let Some(why) = unhealthy {
        return Err(GuardTripped(format!(
            "{why}: every answer since was DUNNO and no failure was recorded"
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prebounce_core::verdict::EnhancedStatus;

    fn parse_all(input: &[u8]) -> Vec<Step> {
        let mut p = Parser::new();
        input
            .split_inclusive(|&b| b == b'\n')
            .map(|l| p.push(l))
            .filter(|s| *s != Step::More)
            .collect()
    }

    fn request(lines: &[&str]) -> Request {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect::<String>() + "\n";
        match parse_all(text.as_bytes()).pop() {
            Some(Step::Request(r)) => r,
            other => panic!("no request: {other:?}"),
        }
    }

    const RCPT: [&str; 4] = [
        "request=smtpd_access_policy",
        "protocol_state=RCPT",
        "sender=a@b.example",
        "recipient=ann@shop.zz",
    ];

    #[test]
    fn a_request_ends_at_the_empty_line_and_several_follow_each_other() {
        let steps = parse_all(b"request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=a@x.zz\n\nrequest=smtpd_access_policy\r\nrecipient=b@y.zz\r\n\r\n");
        assert_eq!(steps.len(), 2);
        let Step::Request(first) = &steps[0] else {
            panic!()
        };
        assert_eq!(first.get("recipient"), Some("a@x.zz"));
        assert_eq!(first.get("protocol_state"), Some("RCPT"));
        let Step::Request(second) = &steps[1] else {
            panic!()
        };
        assert_eq!(second.get("recipient"), Some("b@y.zz"));
        assert_eq!(second.get("protocol_state"), None);
    }

    #[test]
    fn values_may_hold_equals_signs_and_be_empty() {
        let r = request(&[
            "request=smtpd_access_policy",
            "ccert_subject=CN=a=b",
            "sender=",
        ]);
        assert_eq!(r.get("ccert_subject"), Some("CN=a=b"));
        assert_eq!(r.get("sender"), Some(""));
        assert_eq!(r.malformed, None);
    }

    #[test]
    fn only_rcpt_requests_with_a_recipient_are_judged() {
        assert_eq!(ask(&request(&RCPT)), Ask::Recipient("ann@shop.zz".into()));
        let lower = request(&[
            "request=smtpd_access_policy",
            "protocol_state=rcpt",
            "recipient=a@b.zz",
        ]);
        assert_eq!(ask(&lower), Ask::Recipient("a@b.zz".into()));
        for (lines, why) in [
            (
                vec![
                    "request=smtpd_access_policy",
                    "protocol_state=MAIL",
                    "recipient=a@b.zz",
                ],
                "not at RCPT",
            ),
            (
                vec!["request=smtpd_access_policy", "protocol_state=RCPT"],
                "no recipient",
            ),
            (
                vec![
                    "request=smtpd_access_policy",
                    "protocol_state=RCPT",
                    "recipient=",
                ],
                "no recipient",
            ),
            (
                vec!["protocol_state=RCPT", "recipient=a@b.zz"],
                "no request attribute",
            ),
            (
                vec!["request=junk", "protocol_state=RCPT", "recipient=a@b.zz"],
                "not an smtpd_access_policy request",
            ),
            (
                vec![
                    "request=smtpd_access_policy",
                    "protocol_state=RCPT",
                    "recipient=a@b.zz",
                    "recipient=c@d.zz",
                ],
                "an attribute given twice",
            ),
            (
                vec![
                    "request=smtpd_access_policy",
                    "protocol_state=RCPT",
                    "junk line",
                    "recipient=a@b.zz",
                ],
                "a line without '='",
            ),
            (
                vec![
                    "request=smtpd_access_policy",
                    "=x",
                    "protocol_state=RCPT",
                    "recipient=a@b.zz",
                ],
                "an attribute without a name",
            ),
        ] {
            assert_eq!(ask(&request(&lines)), Ask::Pass(why), "{lines:?}");
        }
    }

    #[test]
    fn too_many_attributes_pass_and_too_long_lines_close() {
        let mut lines: Vec<String> = RCPT.iter().map(|s| s.to_string()).collect();
        lines.extend((0..MAX_ATTRS).map(|i| format!("x{i}=y")));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let r = request(&refs);
        assert_eq!(r.attrs.len(), MAX_ATTRS);
        assert_eq!(ask(&r), Ask::Pass("too many attributes"));

        let mut p = Parser::new();
        assert_eq!(p.push(&vec![b'a'; MAX_LINE + 1]), Step::TooLong);
        let mut p = Parser::new();
        let line = format!("x={}\n", "y".repeat(MAX_LINE - 3));
        assert_eq!(p.push(line.as_bytes()), Step::More);
        let mut closed = false;
        for _ in 0..(MAX_REQUEST / MAX_LINE + 1) {
            if p.push(line.as_bytes()) == Step::TooLong {
                closed = true;
                break;
            }
        }
        assert!(closed, "a request over MAX_REQUEST bytes closes");
    }

    #[test]
    fn a_fresh_parser_after_each_request_is_idle() {
        let mut p = Parser::new();
        assert!(p.is_idle());
        p.push(b"a=b\n");
        assert!(!p.is_idle());
        p.push(b"\n");
        assert!(p.is_idle());
    }

    fn verdict(reason: Reason) -> Verdict {
        Verdict::new(reason, "detail")
    }

    #[test]
    fn suppress_is_550_with_the_status_and_the_reason() {
        // Keep this in sync with the example in the README.
        assert_eq!(
            action(&verdict(Reason::NullMx), "example.com", OnRetry::Dunno),
            "550 5.1.10 prebounce: null_mx: example.com accepts no mail (RFC 7505)"
        );
        assert_eq!(
            action(&verdict(Reason::DeadDomain), "gone.zz", OnRetry::Dunno),
            "550 5.4.7 prebounce: dead_domain: gone.zz has failed every DNS lookup for days"
        );
        assert_eq!(
            action(&verdict(Reason::Nxdomain), "nope.zz", OnRetry::Defer),
            "550 5.1.2 prebounce: nxdomain: nope.zz does not exist (NXDOMAIN)"
        );
        let mut typo = verdict(Reason::MxTypo);
        typo.suggestion = Some(Suggestion::Host("mx1.pphosted.com".into()));
        assert_eq!(
            action(&typo, "corp.zz", OnRetry::Dunno),
            "550 5.4.4 prebounce: mx_typo: corp.zz has a mistyped MX host; probably meant MX mx1.pphosted.com"
        );
        let mut gmail = verdict(Reason::DomainInvalid);
        gmail.suggestion = Some(Suggestion::Domain("gmail.com".into()));
        assert_eq!(
            action(&gmail, "gmail", OnRetry::Dunno),
            "550 5.1.2 prebounce: domain_invalid: gmail is not a valid domain; did you mean gmail.com?"
        );
    }

    #[test]
    fn every_suppress_reason_rejects_with_its_own_status() {
        for info in prebounce_core::verdict::REASONS {
            let a = action(&verdict(info.reason), "d.zz", OnRetry::Dunno);
            match (info.action, info.reason) {
                (Action::Suppress, Reason::AddressInvalid) => assert_eq!(a, "DUNNO"),
                (Action::Suppress, _) => {
                    let status = info.status.unwrap();
                    assert!(
                        a.starts_with(&format!("550 {status} prebounce: {}: d.zz ", info.code)),
                        "{a}"
                    );
                    assert!(
                        !a.contains("cannot receive mail now"),
                        "{a}: a phrase of its own"
                    );
                }
                _ => assert_eq!(a, "DUNNO"),
            }
        }
    }

    #[test]
    fn retry_is_dunno_or_a_temporary_deferral_and_our_fault_is_always_dunno() {
        let servfail = verdict(Reason::DnsFailure);
        assert_eq!(action(&servfail, "sf.zz", OnRetry::Dunno), "DUNNO");
        assert_eq!(
            action(&servfail, "sf.zz", OnRetry::Defer),
            "DEFER_IF_PERMIT 4.4.3 prebounce: dns_failure: sf.zz could not be looked up (temporary DNS failure)"
        );
        let mut held = verdict(Reason::NullMx);
        held.held = true;
        assert_eq!(
            held.status(),
            Some("4.1.10".parse::<EnhancedStatus>().unwrap())
        );
        assert_eq!(action(&held, "x.zz", OnRetry::Dunno), "DUNNO");
        assert_eq!(
            action(&held, "x.zz", OnRetry::Defer),
            "DEFER_IF_PERMIT 4.1.10 prebounce: null_mx: x.zz accepts no mail (RFC 7505) (awaiting confirmation)"
        );
        let ours = verdict(Reason::DnsFailure).with_warnings([Warning::ResolverUnhealthy]);
        assert_eq!(action(&ours, "x.zz", OnRetry::Defer), "DUNNO");
        assert_eq!(
            action(&verdict(Reason::Deliverable), "ok.zz", OnRetry::Defer),
            "DUNNO"
        );
    }

    #[test]
    fn the_text_is_short_printable_ascii() {
        let long = format!("{}\u{e9}\n\r.zz", "a".repeat(400));
        let t = text(&verdict(Reason::DomainInvalid), &long);
        assert!(t.len() <= MAX_TEXT, "{}", t.len());
        assert!(t.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{t:?}");
        let t = text(&verdict(Reason::DomainInvalid), "b\u{fc}cher\n.zz");
        assert_eq!(
            t,
            "prebounce: domain_invalid: b?cher?.zz is not a valid domain"
        );
    }

    #[test]
    fn the_reply_is_one_action_line_and_an_empty_line() {
        assert_eq!(reply_line("DUNNO"), "action=DUNNO\n\n");
    }
}
