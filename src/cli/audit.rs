//! `prebounce audit`: what an MTA's log says it did with mail to domains
//! prebounce knows are dead.
//!
//! The files are read first (streamed: per-domain counts and per-queue-ID
//! senders are all that is held), then every recipient domain gets its
//! verdict (history first, DNS otherwise, the flags of `check`), then each
//! (log status, verdict action) pair is judged once, in [`finding_for`].
//!
//! | log says  | verdict `suppress`    | `deliver`, `retry` |
//! |-----------|-----------------------|--------------------|
//! | sent      | `logged_delivered`    | -                  |
//! | deferred  | `deferred_dead`       | -                  |
//! | bounced   | `bounced_preventable` | -                  |
//!
//! A `retry` verdict never makes a finding: a temporary failure is never
//! evidence that mail should not have been sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use prebounce::DomainReport;
use prebounce_core::address::normalize_domain;
use prebounce_core::history::format_rfc3339;
use prebounce_core::verdict::Action;
use prebounce_mtalog::{Delivery, Format, Reader, Status};
use serde::Serialize;

use super::args::{AuditArgs, AuditFormat};
use super::config::{clock, dns_setup, history_setup, GuardTripped};

/// `--fail-on-findings` and findings were found: exit code 5.
#[derive(Debug)]
pub struct FindingsFound(pub String);

impl std::fmt::Display for FindingsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FindingsFound {}

/// The exit code for [`FindingsFound`].
pub const EXIT_FINDINGS: u8 = 5;

/// Distinct senders, relays or codes counted per domain and status, at
/// most; the rest are counted under `(other)`.
const MAX_KEYS: usize = 1_000;
/// Distinct deferred messages remembered per domain, at most (past that,
/// each deferral line counts as a message).
const MAX_DEFERRED_IDS: usize = 100_000;

/// A finding: what the log shows that prebounce would have prevented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Finding {
    /// The log says delivered, but the domain cannot receive mail: it went
    /// to whatever relay the MTA named.
    LoggedDelivered,
    /// The MTA keeps retrying a domain that is dead.
    DeferredDead,
    /// A bounce prebounce would have prevented.
    BouncedPreventable,
}

impl Finding {
    pub const ALL: [Finding; 3] = [
        Finding::LoggedDelivered,
        Finding::DeferredDead,
        Finding::BouncedPreventable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Finding::LoggedDelivered => "logged_delivered",
            Finding::DeferredDead => "deferred_dead",
            Finding::BouncedPreventable => "bounced_preventable",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Finding::LoggedDelivered => {
                "The log says delivered, but the domain cannot receive mail: the mail went to the relay named, not to the recipient."
            }
            Finding::DeferredDead => {
                "The MTA keeps retrying a domain that cannot receive mail: drop these messages from the queue."
            }
            Finding::BouncedPreventable => {
                "Bounces prebounce would have prevented: suppress these domains before sending."
            }
        }
    }
}

/// The one decision: a log status and a verdict action make a finding, or
/// none. `retry` never does (temporary is never permanent).
pub fn finding_for(status: Status, action: Action) -> Option<Finding> {
    match (status, action) {
        (_, Action::Deliver | Action::Retry) => None,
        (Status::Sent, Action::Suppress) => Some(Finding::LoggedDelivered),
        (Status::Deferred, Action::Suppress) => Some(Finding::DeferredDead),
        (Status::Bounced, Action::Suppress) => Some(Finding::BouncedPreventable),
    }
}

/// Counts by key, at most [`MAX_KEYS`] keys.
#[derive(Debug, Default)]
struct Counter(HashMap<String, u64>);

impl Counter {
    fn add(&mut self, key: &str, n: u64) {
        if let Some(c) = self.0.get_mut(key) {
            *c += n;
        } else if self.0.len() < MAX_KEYS {
            self.0.insert(key.to_string(), n);
        } else {
            *self.0.entry("(other)".to_string()).or_default() += n;
        }
    }

    /// The largest counts first (then by key), at most `n`.
    fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.0.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

/// What the log says about one domain, for one status.
#[derive(Debug, Default)]
struct Tally {
    lines: u64,
    messages: u64,
    first: Option<i64>,
    last: Option<i64>,
    relays: Counter,
    senders: Counter,
    sender_domains: Counter,
    dsns: Counter,
    formats: HashSet<Format>,
    /// Deferred only: the (queue ID, recipient) pairs seen, hashed.
    seen: HashSet<u64>,
}

impl Tally {
    fn add(&mut self, d: &Delivery) {
        self.lines += 1;
        let new_message = if d.status == Status::Deferred {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&d.queue_id, &d.recipient).hash(&mut h);
            let key = h.finish();
            if self.seen.contains(&key) {
                false
            } else {
                if self.seen.len() < MAX_DEFERRED_IDS {
                    self.seen.insert(key);
                }
                true
            }
        } else {
            true
        };
        if new_message {
            self.messages += 1;
        }
        if let Some(t) = d.time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        let n = u64::from(new_message);
        if let Some(r) = &d.relay {
            self.relays.add(r, 1);
        }
        if let Some(s) = &d.sender {
            let shown = if s.is_empty() { "<>" } else { s.as_str() };
            self.senders.add(shown, n);
            let domain = s.rsplit_once('@').map(|(_, dom)| dom.to_ascii_lowercase());
            self.sender_domains
                .add(domain.as_deref().unwrap_or(shown), n);
        }
        if let Some(c) = &d.dsn {
            self.dsns.add(c, 1);
        }
        self.formats.insert(d.format);
    }
}

/// Messages by sender or sender domain.
#[derive(Serialize)]
struct Count {
    name: String,
    messages: u64,
}

fn counts(c: &Counter, top: usize) -> Vec<Count> {
    c.top(top)
        .into_iter()
        .map(|(name, messages)| Count { name, messages })
        .collect()
}

/// Log lines (delivery attempts) by relay or logged code: a message
/// deferred ten times through one relay is ten attempts.
#[derive(Serialize)]
struct Attempts {
    name: String,
    attempts: u64,
}

fn attempts(c: &Counter, top: usize) -> Vec<Attempts> {
    c.top(top)
        .into_iter()
        .map(|(name, attempts)| Attempts { name, attempts })
        .collect()
}

/// One finding, as `--format jsonl` writes it.
#[derive(Serialize)]
pub struct FindingJson {
    finding: &'static str,
    domain: String,
    action: &'static str,
    reason: &'static str,
    status: Option<String>,
    detail: String,
    /// What the log said: sent, deferred or bounced.
    log_status: &'static str,
    /// Messages (recipients): distinct (queue ID, recipient) pairs for
    /// deferrals, log lines otherwise.
    messages: u64,
    log_lines: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    /// deferred_dead: seconds from the first deferral to the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    retrying_for: Option<i64>,
    /// Attempts by relay (`host[ip]:port` as logged).
    relays: Vec<Attempts>,
    /// Messages by envelope sender (`<>` for the null sender).
    senders: Vec<Count>,
    sender_domains: Vec<Count>,
    /// Attempts by the enhanced status code the MTA logged.
    dsns: Vec<Attempts>,
    formats: Vec<&'static str>,
}

fn finding_json(
    finding: Finding,
    status: Status,
    report: &DomainReport,
    t: &Tally,
    top: usize,
) -> FindingJson {
    let v = &report.verdict;
    let mut formats: Vec<&'static str> = t.formats.iter().map(|f| f.as_str()).collect();
    formats.sort_unstable();
    FindingJson {
        finding: finding.code(),
        domain: report.domain.clone(),
        action: v.action().as_str(),
        reason: v.reason.code(),
        status: v.status().map(|s| s.to_string()),
        detail: v.detail.clone(),
        log_status: status.as_str(),
        messages: t.messages,
        log_lines: t.lines,
        first_seen: t.first.map(format_rfc3339),
        last_seen: t.last.map(format_rfc3339),
        retrying_for: match (finding, t.first, t.last) {
            (Finding::DeferredDead, Some(f), Some(l)) => Some(l - f),
            _ => None,
        },
        relays: attempts(&t.relays, top),
        senders: counts(&t.senders, top),
        sender_domains: counts(&t.sender_domains, top),
        dsns: attempts(&t.dsns, top),
        formats,
    }
}

/// One input: a path or standard input, gzip or plain (sniffed from the
/// first bytes, whatever the name).
fn open(path: &Path) -> anyhow::Result<(Box<dyn BufRead>, Option<i64>)> {
    let (raw, mtime): (Box<dyn Read>, Option<i64>) = if path == Path::new("-") {
        (Box::new(io::stdin()), None)
    } else {
        let f =
            File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        let mtime = f
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        (Box::new(f), mtime)
    };
    let mut buffered = BufReader::with_capacity(64 * 1024, raw);
    let head = buffered
        .fill_buf()
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(buffered);
        Ok((Box::new(BufReader::with_capacity(64 * 1024, gz)), mtime))
    } else {
        Ok((Box::new(buffered), mtime))
    }
}

/// Everything read from the logs.
#[derive(Default)]
struct Logs {
    domains: HashMap<String, [Tally; 3]>,
    /// Deliveries whose recipient has no domain (local mailboxes, pipes).
    no_domain: u64,
    formats: BTreeMap<&'static str, usize>,
    files: usize,
}

fn status_index(s: Status) -> usize {
    match s {
        Status::Sent => 0,
        Status::Deferred => 1,
        Status::Bounced => 2,
    }
}

const STATUSES: [Status; 3] = [Status::Sent, Status::Deferred, Status::Bounced];

fn read_logs(files: &[PathBuf], year: Option<i32>, now: i64) -> anyhow::Result<(Logs, Reader)> {
    let mut reader = Reader::new();
    let mut logs = Logs::default();
    for path in files {
        let (input, mtime) = open(path)?;
        reader.start_file(mtime.unwrap_or(now).min(now.max(0)).max(0), year);
        reader
            .read(input, |d| {
                let domain = match d.recipient.rsplit_once('@') {
                    Some((_, dom)) if !dom.is_empty() => dom.trim_end_matches('.'),
                    _ => {
                        logs.no_domain += 1;
                        return;
                    }
                };
                // One entry per domain as DNS sees it (`Bücher.zz` and
                // `xn--bcher-kva.zz` are one); a name that fails the syntax
                // checks keeps its own spelling and gets its syntax verdict.
                let domain = normalize_domain(domain).unwrap_or_else(|_| domain.to_lowercase());
                logs.domains.entry(domain).or_default()[status_index(d.status)].add(&d);
            })
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        logs.files += 1;
        let name = reader.format().map_or("unrecognized", |f| f.as_str());
        *logs.formats.entry(name).or_default() += 1;
    }
    Ok((logs, reader))
}

/// The findings, in order: by finding, then most messages first, then by
/// domain.
fn findings(
    logs: &Logs,
    reports: &HashMap<String, Arc<DomainReport>>,
    top: usize,
) -> Vec<(Finding, FindingJson)> {
    let mut out = Vec::new();
    for (domain, tallies) in &logs.domains {
        let Some(report) = reports.get(domain) else {
            continue;
        };
        for status in STATUSES {
            let t = &tallies[status_index(status)];
            if t.lines == 0 {
                continue;
            }
            if let Some(f) = finding_for(status, report.verdict.action()) {
                out.push((f, finding_json(f, status, report, t, top)));
            }
        }
    }
    out.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.messages.cmp(&a.1.messages))
            .then_with(|| a.1.domain.cmp(&b.1.domain))
    });
    out
}

fn time_or_dash(t: &Option<String>) -> &str {
    t.as_deref().unwrap_or("-")
}

fn first_and_more<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut it = names.into_iter();
    match (it.next(), it.count()) {
        (None, _) => "-".into(),
        (Some(one), 0) => one.to_string(),
        (Some(one), more) => format!("{one} (+{more})"),
    }
}

fn write_table(out: &mut impl Write, rows: &[(Finding, FindingJson)]) -> io::Result<()> {
    let header = [
        "FINDING",
        "DOMAIN",
        "REASON",
        "STATUS",
        "MSGS",
        "FIRST SEEN",
        "LAST SEEN",
        "RELAY",
        "SENDER",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|(_, j)| {
            [
                j.finding.to_string(),
                j.domain.clone(),
                j.reason.to_string(),
                j.status.clone().unwrap_or_else(|| "-".into()),
                j.messages.to_string(),
                time_or_dash(&j.first_seen).to_string(),
                time_or_dash(&j.last_seen).to_string(),
                first_and_more(j.relays.iter().map(|c| c.name.as_str())),
                first_and_more(j.senders.iter().map(|c| c.name.as_str())),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: &[&str]| -> io::Result<()> {
        let mut s = String::new();
        for (i, (c, w)) in row.iter().zip(width).enumerate() {
            if i + 1 == row.len() {
                s.push_str(c);
            } else if i == 4 {
                let _ = write!(s, "{c:>w$}  ");
            } else {
                let _ = write!(s, "{c:<w$}  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &header)?;
    for row in &cells {
        line(out, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    if rows.is_empty() {
        writeln!(out, "(no findings)")?;
    }
    Ok(())
}

/// Totals per finding: (domains, messages).
fn totals(rows: &[(Finding, FindingJson)]) -> [(u64, u64); 3] {
    let mut t = [(0u64, 0u64); 3];
    for (f, j) in rows {
        let i = Finding::ALL.iter().position(|x| x == f).unwrap_or(0);
        t[i].0 += 1;
        t[i].1 += j.messages;
    }
    t
}

/// Messages by a key over all findings, largest first.
fn over_findings<'a>(
    rows: &'a [(Finding, FindingJson)],
    key: impl Fn(&'a FindingJson) -> Vec<(&'a str, u64)>,
) -> Vec<(String, u64)> {
    let mut m: HashMap<&str, u64> = HashMap::new();
    for (_, j) in rows {
        for (k, n) in key(j) {
            *m.entry(k).or_default() += n;
        }
    }
    let mut v: Vec<(String, u64)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn by_reason(rows: &[(Finding, FindingJson)]) -> Vec<(String, u64)> {
    over_findings(rows, |j| vec![(j.reason, j.messages)])
}

fn by_sender(rows: &[(Finding, FindingJson)]) -> Vec<(String, u64)> {
    over_findings(rows, |j| {
        j.senders
            .iter()
            .map(|c| (c.name.as_str(), c.messages))
            .collect()
    })
}

fn by_sender_domain(rows: &[(Finding, FindingJson)]) -> Vec<(String, u64)> {
    over_findings(rows, |j| {
        j.sender_domains
            .iter()
            .map(|c| (c.name.as_str(), c.messages))
            .collect()
    })
}

/// The `--report` HTML: the look of `check --report` (its CSS), findings
/// first.
fn html(rows: &[(Finding, FindingJson)], brief: &str, generated: &str) -> String {
    use super::report::{esc, num, CSS};
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>prebounce audit</title>\n<style>{CSS}table.audit {{ table-layout: auto; }} table.audit td {{ overflow-wrap: break-word; }}</style></head><body>\n<main>\n\
         <header><h1>prebounce audit</h1><p class=\"meta\">Generated by prebounce {v} on {g}. \
         What the mail log says happened to mail for domains prebounce finds dead.</p>\
         <p class=\"meta\">{b}</p></header>\n",
        v = env!("CARGO_PKG_VERSION"),
        g = esc(generated),
        b = esc(brief),
    );
    h.push_str("<div class=\"cards\" id=\"totals\">\n");
    for (f, (domains, messages)) in Finding::ALL.iter().zip(totals(rows)) {
        let _ = writeln!(
            h,
            "<div class=\"card\" style=\"--c:#882255\"><span class=\"k\"><code>{c}</code></span><b data-total=\"{c}\">{m}</b> messages, {d} domain{s}<br><span class=\"do\">{w}</span></div>",
            c = f.code(),
            m = num(messages),
            d = num(domains),
            s = if domains == 1 { "" } else { "s" },
            w = esc(f.what()),
        );
    }
    h.push_str("</div>\n");
    h.push_str("<section id=\"findings\"><h2>Findings</h2>\n<div class=\"wrap\"><table class=\"audit\"><colgroup><col><col><col style=\"width:24%\"><col><col><col><col></colgroup><thead><tr><th>finding</th><th>domain</th><th>reason</th><th class=\"n\">messages</th><th>first / last seen</th><th>relays (attempts)</th><th>senders (messages)</th></tr></thead><tbody>\n");
    for (_, j) in rows {
        let list = |c: Vec<(&str, u64)>| {
            c.iter()
                .map(|(name, n)| format!("{} ({})", esc(name), num(*n)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code> {}<span class=\"sub\">{}</span></td><td class=\"n\">{}</td><td>{}<span class=\"sub\">{}</span></td><td>{}</td><td>{}</td></tr>",
            j.finding,
            esc(&j.domain),
            j.reason,
            esc(j.status.as_deref().unwrap_or("")),
            esc(&j.detail),
            num(j.messages),
            html_time(time_or_dash(&j.first_seen)),
            html_time(time_or_dash(&j.last_seen)),
            list(
                j.relays
                    .iter()
                    .map(|c| (c.name.as_str(), c.attempts))
                    .collect()
            ),
            list(
                j.senders
                    .iter()
                    .map(|c| (c.name.as_str(), c.messages))
                    .collect()
            ),
        );
    }
    if rows.is_empty() {
        h.push_str("<tr><td colspan=\"7\">No findings.</td></tr>\n");
    }
    h.push_str("</tbody></table></div></section>\n");
    for (id, title, what, list) in [
        ("reasons", "By reason", "reason", by_reason(rows)),
        (
            "senders",
            "By sender (the stream)",
            "sender",
            by_sender(rows),
        ),
        (
            "sender-domains",
            "By sender domain",
            "sender domain",
            by_sender_domain(rows),
        ),
    ] {
        let _ = write!(
            h,
            "<section id=\"{id}\"><h2>{title}</h2>\n<table><thead><tr><th>{what}</th><th class=\"n\">messages in findings</th></tr></thead><tbody>\n"
        );
        for (k, n) in &list {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(k),
                num(*n)
            );
        }
        h.push_str("</tbody></table></section>\n");
    }
    h.push_str("</main></body></html>\n");
    h
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let now = clock()?.now();
    // Flags first (a bad --zone or --db is a usage error before a long
    // read), then the logs, then the verdicts.
    let history = history_setup(&args.history, !args.dns.zone.is_empty(), true)?;
    let setup = dns_setup(&args.dns, &args.probe, history).await?;
    let checker = setup.checker.clone();
    let (logs, reader) = read_logs(&args.files, args.year, now)?;
    let _ = checker.check_resolver(true).await;
    let mut names: Vec<&String> = logs.domains.keys().collect();
    names.sort();
    // Valid names are started at once (the checker bounds the work in
    // flight); the others get their syntax verdict.
    let mut pending = Vec::with_capacity(names.len());
    for d in &names {
        pending.push(match normalize_domain(d) {
            Ok(ascii) => Ok(checker.start(&ascii).await),
            Err(_) => Err(checker.check_domain(d).await),
        });
    }
    let mut reports = HashMap::with_capacity(names.len());
    let mut actions = [0usize; 3];
    for (d, ticket) in names.iter().zip(pending) {
        let report = match ticket {
            Ok(t) => t.wait().await,
            Err(syntax) => syntax,
        };
        actions[match report.verdict.action() {
            Action::Deliver => 0,
            Action::Retry => 1,
            Action::Suppress => 2,
        }] += 1;
        reports.insert((*d).clone(), report);
    }
    let rows = findings(&logs, &reports, args.top);

    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        AuditFormat::Table
    } else {
        AuditFormat::Jsonl
    });
    let mut out = io::BufWriter::new(io::stdout().lock());
    match format {
        AuditFormat::Jsonl => {
            for (_, j) in &rows {
                serde_json::to_writer(&mut out, j)?;
                writeln!(out)?;
            }
        }
        AuditFormat::Table => write_table(&mut out, &rows)?,
    }
    out.flush()?;

    let s = reader.stats();
    let mut by_status = [0u64; 3];
    for t in logs.domains.values() {
        for (i, n) in by_status.iter_mut().enumerate() {
            *n += t[i].lines;
        }
    }
    let formats: Vec<String> = logs
        .formats
        .iter()
        .map(|(f, n)| format!("{f} {n}"))
        .collect();
    let tot = totals(&rows);
    let found: Vec<String> = Finding::ALL
        .iter()
        .zip(tot)
        .map(|(f, (d, m))| format!("{} {d} domains/{m} messages", f.code()))
        .collect();
    let reasons: Vec<String> = by_reason(&rows)
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let brief = format!(
        "{} file{} ({}), {} lines: {} deliveries ({} sent, {} deferred, {} bounced{}), {} other MTA lines, {} of other programs, {} blank, {} unrecognized ({} not UTF-8, {} too long); {} domains ({} deliver, {} retry, {} suppress)",
        logs.files,
        if logs.files == 1 { "" } else { "s" },
        formats.join(", "),
        s.lines,
        s.deliveries,
        by_status[0],
        by_status[1],
        by_status[2],
        if logs.no_domain > 0 {
            format!(", {} to local recipients", logs.no_domain)
        } else {
            String::new()
        },
        s.mta_lines,
        s.other_program,
        s.blank,
        s.unrecognized,
        s.invalid_utf8,
        s.too_long,
        names.len(),
        actions[0],
        actions[1],
        actions[2],
    );
    if let Some(path) = &args.report {
        std::fs::write(path, html(&rows, &brief, &format_rfc3339(now)))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if !args.quiet {
        eprintln!(
            "prebounce audit: {brief}; findings: {}{}; {:.2} s; {}",
            found.join(", "),
            if reasons.is_empty() {
                String::new()
            } else {
                format!("; by reason: {}", reasons.join(", "))
            },
            started.elapsed().as_secs_f64(),
            setup.describe()
        );
    }
    let finished = checker.finish_history();
    if let Some(why) = checker.resolver_unhealthy() {
        return Err(super::config::unhealthy_error(&why).into());
    }
    match finished {
        Ok(()) => {}
        Err(e @ prebounce::HistoryError::Guard(_)) => {
            return Err(GuardTripped(e.to_string()).into())
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    if args.fail_on_findings && !rows.is_empty() {
        return Err(
            FindingsFound(format!("{} finding(s) (--fail-on-findings)", rows.len())).into(),
        );
    }
    Ok(())
}

/// A time for the report: date and time each kept whole, a line break
/// allowed only between them.
fn html_time(t: &str) -> String {
    use super::report::esc;
    match t.split_once('T') {
        Some((date, time)) => format!(
            "<span class=\"nw\">{}</span><wbr><span class=\"nw\">T{}</span>",
            esc(date),
            esc(time)
        ),
        None => esc(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_suppress_verdicts_make_findings() {
        for s in STATUSES {
            assert_eq!(finding_for(s, Action::Retry), None, "{s:?}");
            assert_eq!(finding_for(s, Action::Deliver), None, "{s:?}");
        }
        assert_eq!(
            finding_for(Status::Sent, Action::Suppress),
            Some(Finding::LoggedDelivered)
        );
        assert_eq!(
            finding_for(Status::Deferred, Action::Suppress),
            Some(Finding::DeferredDead)
        );
        assert_eq!(
            finding_for(Status::Bounced, Action::Suppress),
            Some(Finding::BouncedPreventable)
        );
    }

    #[test]
    fn counters_stay_bounded() {
        let mut c = Counter::default();
        for i in 0..(MAX_KEYS + 50) {
            c.add(&format!("s{i}@x.zz"), 1);
        }
        assert_eq!(c.0.len(), MAX_KEYS + 1);
        assert_eq!(c.0["(other)"], 50);
    }
}
