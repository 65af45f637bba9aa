//! Output formats: JSONL, CSV and a table, one output row per input row.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;

use prebounce::DomainReport;
use prebounce_core::evidence::{HostEvidence, MxTarget, QueryStatus};
use prebounce_core::history::format_rfc3339;
use prebounce_core::probe::HostOutcome;
use prebounce_core::rules::{assess_host, assess_target, Policy};
use prebounce_core::verdict::{Suggestion, Verdict, Warning};
use serde::Serialize;

use super::args::OutputFormat;
use super::input::Row;

/// One MX target as shown to users.
#[derive(Debug, Serialize)]
pub struct MxView<'a> {
    pub preference: u16,
    pub exchange: &'a str,
    /// Written as text (`192.0.2.1`, `2001:db8::1`).
    #[serde(serialize_with = "ip_texts")]
    pub addresses: Vec<IpAddr>,
    /// `usable`, `temp_fail`, `loopback`, `non_global`, `unresolvable`, `botched`.
    pub state: &'static str,
    pub note: String,
}

/// The DNS queries behind a verdict.
#[derive(Debug, Serialize)]
pub struct DnsView {
    /// How the MX query ended.
    pub mx: QueryStatus,
    /// Aliases followed by the MX query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mx_cname: Vec<String>,
    /// The implicit MX (the domain's own A/AAAA) when MX was NODATA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implicit: Option<ImplicitView>,
}

#[derive(Debug, Serialize)]
pub struct ImplicitView {
    pub a: QueryStatus,
    pub aaaa: QueryStatus,
    /// Written as text.
    #[serde(serialize_with = "ip_texts")]
    pub addresses: Vec<IpAddr>,
    pub state: &'static str,
}

/// Addresses as text, the text `Display` gives, written without it (see
/// [`prebounce_core::ipfmt`]).
fn ip_texts<S: serde::Serializer>(ips: &[IpAddr], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ips.len()))?;
    let mut text = String::with_capacity(39);
    for &ip in ips {
        text.clear();
        prebounce_core::ipfmt::push_ip(&mut text, ip);
        seq.serialize_element(text.as_str())?;
    }
    seq.end()
}

/// One MX target, judged under the policy.
fn target_view<'a>(t: &'a MxTarget, policy: &Policy) -> MxView<'a> {
    let a = assess_target(t, policy);
    MxView {
        preference: t.mx.preference,
        exchange: &t.mx.exchange,
        addresses: a.addresses.iter().map(|c| c.ip).collect(),
        state: a.state.as_str(),
        note: a.note(),
    }
}

/// The queries of a report.
pub fn dns_view(report: &DomainReport, policy: &Policy) -> Option<DnsView> {
    let ev = report.evidence.as_ref()?;
    Some(DnsView {
        mx: ev.mx.status,
        mx_cname: ev.mx.cname.clone(),
        implicit: ev.implicit.as_ref().map(|h| {
            let a = assess_host(h, policy);
            ImplicitView {
                a: h.a.status,
                aaaa: h.aaaa.status,
                addresses: a.addresses.iter().map(|c| c.ip).collect(),
                state: a.state.as_str(),
            }
        }),
    })
}

/// One probed address as shown to users.
#[derive(Debug, Serialize)]
pub struct HostView {
    pub address: String,
    /// `answered`, `refused`, `timeout`, `reset`, `no_greeting`,
    /// `bad_greeting`, `rejected`, `unreachable`, `unavailable` (not the
    /// host's failure: ours).
    pub outcome: &'static str,
    /// The greeting's code when not 220.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// For timeouts: `connect` or `greeting`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'static str>,
    pub ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starttls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The port-25 probes of a domain.
#[derive(Debug, Serialize)]
pub struct ProbeView {
    /// `answered`, `no_answer`, `unavailable`, `not_probed`.
    pub status: &'static str,
    pub hosts: Vec<HostView>,
    /// The greeting of the host that answered (or the rejection line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Why probing was not possible (outbound port 25 blocked here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Each address family's canary (`ipv4`, `ipv6`) when the domain was
    /// probed.
    pub canary: std::collections::BTreeMap<&'static str, CanaryView>,
}

/// One address family's canary as shown to users.
#[derive(Debug, Serialize)]
pub struct CanaryView {
    /// `answered`, `failed`, `not_checked`.
    pub status: &'static str,
    /// The canary address that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Why the family is unavailable here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The probes of a report, when it was probed.
pub fn probe_view(report: &DomainReport) -> Option<ProbeView> {
    let p = report.evidence.as_ref()?.probe.as_ref()?;
    Some(ProbeView {
        status: p.status().name(),
        hosts: p
            .hosts
            .iter()
            .map(|h| HostView {
                address: h.addr.to_string(),
                outcome: h.outcome.name(),
                code: match h.outcome {
                    HostOutcome::Rejected(c) => Some(c),
                    _ => None,
                },
                stage: match h.outcome {
                    HostOutcome::ConnectTimeout => Some("connect"),
                    HostOutcome::GreetingTimeout => Some("greeting"),
                    _ => None,
                },
                ms: h.millis,
                starttls: h.starttls,
                error: match &h.outcome {
                    HostOutcome::Unreachable(e)
                    | HostOutcome::BadGreeting(e)
                    | HostOutcome::Unavailable(e) => Some(e.clone()),
                    _ => None,
                },
            })
            .collect(),
        greeting: p.hosts.iter().rev().find_map(|h| h.greeting.clone()),
        unavailable: p.unavailable.clone(),
        canary: p
            .canaries
            .iter()
            .map(|c| {
                (
                    c.family.name(),
                    CanaryView {
                        status: c.status.name(),
                        address: c.addr.map(|a| a.to_string()),
                        error: c.why.clone(),
                    },
                )
            })
            .collect(),
    })
}

fn probe_text(v: &Option<ProbeView>) -> String {
    let Some(p) = v else {
        return String::new();
    };
    let hosts: Vec<String> = p
        .hosts
        .iter()
        .map(|h| match h.code {
            Some(c) => format!("{} {} {c}", h.address, h.outcome),
            None => format!("{} {}", h.address, h.outcome),
        })
        .collect();
    match &p.unavailable {
        Some(why) => format!("{}: {why}", p.status),
        None => format!("{}: {}", p.status, hosts.join("; ")),
    }
}

/// What is known about one row once its domain is judged.
pub struct Outcome<'a> {
    pub row: &'a Row,
    pub domain: Option<&'a str>,
    pub verdict: &'a Verdict,
    pub report: Option<&'a Arc<DomainReport>>,
}

/// The part of a JSON row that every row of a domain shares.
#[derive(Serialize)]
struct JsonVerdict<'a> {
    domain: Option<&'a str>,
    action: &'static str,
    reason: &'static str,
    status: Option<String>,
    detail: &'a str,
    warnings: &'a [Warning],
    mx: Vec<MxView<'a>>,
    dns: Option<DnsView>,
    probe: Option<ProbeView>,
    history: Option<HistoryView>,
}

/// The JSON members every row of a domain shares, but the MX targets
/// (`mx` left empty: the writer writes them from its [`TargetCache`]).
fn json_verdict<'a>(
    domain: Option<&'a str>,
    v: &'a Verdict,
    status: Option<String>,
    report: Option<&'a Arc<DomainReport>>,
    policy: &Policy,
) -> JsonVerdict<'a> {
    JsonVerdict {
        domain,
        action: v.action().as_str(),
        reason: v.reason.code(),
        status,
        detail: &v.detail,
        warnings: &v.warnings,
        mx: Vec::new(),
        dns: report.and_then(|r| dns_view(r, policy)),
        probe: report.and_then(|r| probe_view(r)),
        history: report
            .and_then(|r| r.history.as_ref())
            .map(|h| HistoryView {
                observed: format_rfc3339(h.observed),
                reused: h.reused,
                age: h.age,
            }),
    }
}

/// Writes `v` as serde_json would (`{"domain":...}`, members in declaration
/// order, no spaces), without serde: a rendering through serde_json cost
/// about 12,000 instructions, a third of it in its byte-at-a-time string
/// escaping. The rare parts (warnings, a CNAME'd or implicit MX, the
/// probe) still go through serde_json; the history object, on every row
/// of a run with history, is written here. A test holds the two equal on
/// every reason code of the demo zone, and on history objects of both
/// flags and every sign of age. The MX targets are written by `push_mx`
/// (the writer's [`TargetCache`]; the tests write `v.mx`).
fn push_verdict(out: &mut Vec<u8>, v: &JsonVerdict<'_>, push_mx: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"{\"domain\":");
    push_opt_str(out, v.domain);
    out.extend_from_slice(b",\"action\":");
    push_json_str(out, v.action);
    out.extend_from_slice(b",\"reason\":");
    push_json_str(out, v.reason);
    out.extend_from_slice(b",\"status\":");
    push_opt_str(out, v.status.as_deref());
    out.extend_from_slice(b",\"detail\":");
    push_json_str(out, v.detail);
    out.extend_from_slice(b",\"warnings\":");
    if v.warnings.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        push_serde(out, &v.warnings);
    }
    out.extend_from_slice(b",\"mx\":");
    push_mx(out);
    out.extend_from_slice(b",\"dns\":");
    match &v.dns {
        None => out.extend_from_slice(b"null"),
        Some(d) if d.mx_cname.is_empty() && d.implicit.is_none() => {
            out.extend_from_slice(b"{\"mx\":");
            push_json_str(out, &d.mx.name());
            out.push(b'}');
        }
        Some(d) => push_serde(out, d),
    }
    out.extend_from_slice(b",\"probe\":");
    match &v.probe {
        None => out.extend_from_slice(b"null"),
        Some(p) => push_serde(out, p),
    }
    out.extend_from_slice(b",\"history\":");
    match &v.history {
        None => out.extend_from_slice(b"null"),
        Some(h) => {
            // Every row of a run with history has one: written here, not
            // through serde_json.
            out.extend_from_slice(b"{\"observed\":");
            push_json_str(out, &h.observed);
            out.extend_from_slice(if h.reused {
                b",\"reused\":true,\"age\":"
            } else {
                b",\"reused\":false,\"age\":"
            });
            if h.age < 0 {
                out.push(b'-');
            }
            push_u64(out, h.age.unsigned_abs());
            out.push(b'}');
        }
    }
    out.push(b'}');
}

/// One MX target's JSON object, as serde_json writes an [`MxView`].
fn push_target(out: &mut Vec<u8>, mx: &MxView<'_>) {
    out.extend_from_slice(b"{\"preference\":");
    push_u64(out, u64::from(mx.preference));
    out.extend_from_slice(b",\"exchange\":");
    push_json_str(out, mx.exchange);
    out.extend_from_slice(b",\"addresses\":[");
    let mut text = String::with_capacity(39);
    for (j, &ip) in mx.addresses.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        text.clear();
        prebounce_core::ipfmt::push_ip(&mut text, ip);
        // (An address's text needs no escaping.)
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"],\"state\":");
    push_json_str(out, mx.state);
    out.extend_from_slice(b",\"note\":");
    push_json_str(out, &mx.note);
    out.push(b'}');
}

/// The JSON of MX targets on hosts that several domains share (the big
/// providers' MX hosts, shared by thousands), by host: such a target is
/// judged and written once, not once per domain. A target's JSON depends on
/// its preference, its exchange and the host's evidence (the policy is the
/// writer's own), so the key is the host's evidence (its address: the
/// cache holds it, so the address is not reused) and the preference, for
/// an exchange that is the host's own name. A host held by one report
/// alone (besides the resolver's cache) is not kept: most domains with
/// their own MX host never come again. At most [`TARGETS`] hosts, then
/// the cache starts over.
#[derive(Default)]
struct TargetCache {
    json: hashbrown::HashMap<TargetKey, (Arc<HostEvidence>, Box<[u8]>)>,
}

/// A host's evidence (its address) and a preference.
type TargetKey = (usize, u16);

/// Hosts the [`TargetCache`] keeps at most.
const TARGETS: usize = 8_192;

impl TargetCache {
    /// Writes the JSON array of `report`'s MX targets.
    fn push_targets(&mut self, out: &mut Vec<u8>, report: Option<&DomainReport>, policy: &Policy) {
        out.push(b'[');
        let targets = report
            .and_then(|r| r.evidence.as_ref())
            .map(|ev| ev.targets.as_slice())
            .unwrap_or_default();
        for (i, t) in targets.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let shared = t
                .host
                .as_ref()
                .filter(|h| Arc::strong_count(h) > 2 && h.name == t.mx.exchange);
            let Some(host) = shared else {
                push_target(out, &target_view(t, policy));
                continue;
            };
            let key = (Arc::as_ptr(host) as usize, t.mx.preference);
            if let Some((_, json)) = self.json.get(&key) {
                out.extend_from_slice(json);
                continue;
            }
            let start = out.len();
            push_target(out, &target_view(t, policy));
            if self.json.len() >= TARGETS {
                self.json.clear();
            }
            self.json.insert(key, (host.clone(), out[start..].into()));
        }
        out.push(b']');
    }
}

/// A value through serde_json (writing to a vector cannot fail, and these
/// values have no map with non-string keys).
fn push_serde(out: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer(&mut *out, value).expect("serializing to memory");
}

fn push_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `s` as a JSON string, exactly as serde_json writes it: a string with
/// nothing to escape (the common case, found without branching per byte)
/// is copied whole.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if json_plain(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        push_serde(out, &s);
    }
}

/// Whether `s` is written in JSON as it is, between quotes: serde_json
/// escapes `"`, `\` and the control characters below 0x20, nothing else.
/// (Folded over every byte, without a branch per byte.)
fn json_plain(s: &str) -> bool {
    s.bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
}

/// `n` in decimal, without the formatting machinery.
fn push_u64(out: &mut Vec<u8>, n: u64) {
    // (Writing to a vector cannot fail.)
    let _ = write_u64(out, n);
}

/// When the evidence was observed, whether it was reused from the store
/// instead of asking DNS, and its age then (seconds).
#[derive(Serialize)]
struct HistoryView {
    observed: String,
    reused: bool,
    age: i64,
}

/// A CSV writer's error as an I/O error of the same kind (an EPIPE stays
/// an EPIPE, so a closed pipe ends the run quietly).
fn csv_io(e: csv::Error) -> io::Error {
    let kind = match e.kind() {
        csv::ErrorKind::Io(io) => io.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// Our columns in CSV output, after any input columns.
const CSV_COLUMNS: [&str; 9] = [
    "address",
    "domain",
    "action",
    "reason",
    "status",
    "detail",
    "warnings",
    "mx",
    "suggestion",
];

/// The suggestion of a row: the host meant, or the address with the
/// domain meant.
pub fn suggestion_text(row: &Row, v: &Verdict) -> Option<String> {
    match v.suggestion.as_ref()? {
        Suggestion::Host(h) => Some(h.clone()),
        Suggestion::Domain(d) => {
            let local = row
                .address
                .rsplit_once('@')
                .map(|(l, _)| l)
                .unwrap_or_default();
            Some(format!("{local}@{d}"))
        }
    }
}

enum Sink<W: Write> {
    Plain(W),
    Csv(Box<csv::Writer<W>>),
}

/// What the rows are: input rows (addresses), or domains (`recheck`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    Addresses,
    Domains,
}

/// Writes rows in one format.
pub struct Writer<W: Write> {
    format: OutputFormat,
    rows: Rows,
    sink: Sink<W>,
    /// Rows written (JSON: a comma goes before every row but the first).
    written: u64,
    /// Whether the output is finished (JSON: the closing bracket).
    finished: bool,
    header: Option<Vec<String>>,
    /// Renders the rows given to [`Writer::write`].
    renderer: Renderer,
}

/// Renders what a verdict decides of a row in one format (see
/// [`Rendered`]), once for all the rows of a domain as far as its cache
/// goes. A writer has one; `check` renders on another thread than the one
/// that writes, with [`Writer::renderer`] and [`Writer::write_rendered`].
pub struct Renderer {
    format: OutputFormat,
    policy: Policy,
    /// Whether CSV output has a `probe` column (probing is on).
    probe_column: bool,
    /// What was rendered for a domain's report, reused by its other rows.
    cache: RenderCache,
    /// Where a JSON rendering is written before it is kept.
    scratch: Vec<u8>,
    /// The JSON of MX targets on shared hosts.
    targets: TargetCache,
}

/// Renderings by report (its address; the report is held, so the address
/// is not reused while cached), in two generations of at most [`CACHE`]
/// each: when the young one is full it becomes the old one and the old one
/// is dropped, and a hit in the old one moves to the young one, about what
/// a least-recently-used cache of the same size keeps, without its
/// bookkeeping. A report is kept from its second rendering on: the first
/// only notes its address (in two generations of [`SEEN`]), so a list of
/// distinct domains keeps none (each rendering is about 500 bytes).
///
/// A real list's domains recur all through it, not only within the window
/// of rows waiting for verdicts. Replayed over the benchmark's list
/// (100,000 domains with a Zipf-like spread over 1,000,000 rows): a cache
/// cleared whenever it held 16,384 renderings, of reports held by more
/// than one waiting row, renders 362,529 times; this one 268,165 times
/// (keeping every rendering from the first: 265,366; a true LRU of 16,384:
/// 291,970).
#[derive(Default)]
struct RenderCache {
    young: hashbrown::HashMap<usize, (Arc<DomainReport>, Arc<Rendered>)>,
    old: hashbrown::HashMap<usize, (Arc<DomainReport>, Arc<Rendered>)>,
    seen: hashbrown::HashSet<usize>,
    seen_before: hashbrown::HashSet<usize>,
}

/// How many report addresses each generation of rendered-once ones keeps.
const SEEN: usize = 65_536;

impl RenderCache {
    fn get(&mut self, key: usize) -> Option<Arc<Rendered>> {
        if let Some((_, r)) = self.young.get(&key) {
            return Some(r.clone());
        }
        let (report, r) = self.old.remove(&key)?;
        let found = r.clone();
        self.keep(key, report, r);
        Some(found)
    }

    /// Takes a new rendering: kept when the report was rendered before.
    fn insert(&mut self, key: usize, report: &Arc<DomainReport>, r: &Arc<Rendered>) {
        if self.seen.contains(&key) || self.seen_before.contains(&key) {
            self.keep(key, report.clone(), r.clone());
            return;
        }
        if self.seen.len() >= SEEN {
            self.seen_before = std::mem::take(&mut self.seen);
        }
        self.seen.insert(key);
    }

    fn keep(&mut self, key: usize, report: Arc<DomainReport>, r: Arc<Rendered>) {
        if self.young.len() >= CACHE {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, (report, r));
    }
}

/// The output of a verdict, the same for every row that shares it: the CSV
/// fields after the address, or the JSON members after the address (an
/// object whose braces are left out when it is written), or the table
/// columns after the address.
pub enum Rendered {
    Fields(Vec<String>),
    /// A JSON object's text (UTF-8: written from text and serde_json).
    Object(Box<[u8]>),
    Text(String),
}

/// How many domains' renderings each generation of the cache keeps.
const CACHE: usize = 16_384;

/// Shows control characters visibly (for the table).
fn visible(s: &str, width: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .take(width)
        .collect();
    if s.chars().count() > width && width > 1 {
        out.pop();
        out.push('…');
    }
    out
}

impl Renderer {
    fn new(format: OutputFormat, policy: Policy, probe_column: bool) -> Renderer {
        Renderer {
            format,
            policy,
            probe_column,
            cache: RenderCache::default(),
            scratch: Vec::new(),
            targets: TargetCache::default(),
        }
    }

    fn render(&mut self, o: &Outcome<'_>) -> Rendered {
        let v = o.verdict;
        let status = v.status().map(|s| s.to_string());
        match self.format {
            OutputFormat::Csv => {
                let mut fields = vec![
                    o.domain.unwrap_or_default().to_string(),
                    v.action().as_str().to_string(),
                    v.reason.code().to_string(),
                    status.unwrap_or_default(),
                    v.detail.clone(),
                    Warning::join(&v.warnings),
                    match o.report.and_then(|r| r.evidence.as_ref()) {
                        Some(ev) => prebounce::mx_summary(ev, &self.policy),
                        None => String::new(),
                    },
                ];
                if self.probe_column {
                    fields.push(probe_text(&o.report.and_then(|r| probe_view(r))));
                }
                Rendered::Fields(fields)
            }
            OutputFormat::Jsonl | OutputFormat::Json => {
                // Written into the writer's buffer (serde_json's own 128
                // bytes regrew two or three times a rendering), then kept
                // at its exact size (the cache holds tens of thousands).
                let json = &mut self.scratch;
                json.clear();
                let members = json_verdict(o.domain, v, status, o.report, &self.policy);
                let (targets, policy) = (&mut self.targets, &self.policy);
                push_verdict(json, &members, |out| {
                    targets.push_targets(out, o.report.map(|r| &**r), policy)
                });
                // Kept with its braces, which the writer leaves out: it is
                // spliced into each row's object. (As bytes: validating it
                // as text again cost about 275 instructions a rendering.)
                Rendered::Object(json.as_slice().into())
            }
            OutputFormat::Table => {
                let mut detail = visible(&v.detail, 200);
                if !v.warnings.is_empty() {
                    detail.push_str(&format!(" [{}]", Warning::join(&v.warnings)));
                }
                Rendered::Text(format!(
                    "{:<8} {:<18} {:<6} {}",
                    v.action().as_str(),
                    v.reason.code(),
                    status.as_deref().unwrap_or("-"),
                    detail
                ))
            }
        }
    }

    /// What `o`'s verdict decides of its row, rendered or taken from the
    /// cache.
    pub fn rendered(&mut self, o: &Outcome<'_>) -> Arc<Rendered> {
        let Some(report) = o.report else {
            return Arc::new(self.render(o));
        };
        let key = Arc::as_ptr(report) as usize;
        if let Some(r) = self.cache.get(key) {
            return r;
        }
        let r = Arc::new(self.render(o));
        // Held by this row alone: a report the run's map keeps in brief
        // and makes again for each row, so its address never recurs. Any
        // other may have rows further down the list (a real list's domains
        // recur all through it, not only within the window of rows waiting
        // for verdicts).
        if Arc::strong_count(report) <= 1 {
            return r;
        }
        self.cache.insert(key, report, &r);
        r
    }
}

impl<W: Write> Writer<W> {
    /// A writer; `header` is the CSV input header when the input is CSV.
    pub fn new(
        format: OutputFormat,
        out: W,
        header: Option<Vec<String>>,
        policy: Policy,
        probe_column: bool,
    ) -> io::Result<Self> {
        Self::with_rows(format, Rows::Addresses, out, header, policy, probe_column)
    }

    /// A writer whose rows are domains, not addresses (`recheck`): no
    /// `address` column, no `line`.
    pub fn for_domains(
        format: OutputFormat,
        out: W,
        policy: Policy,
        probe_column: bool,
    ) -> io::Result<Self> {
        Self::with_rows(format, Rows::Domains, out, None, policy, probe_column)
    }

    fn with_rows(
        format: OutputFormat,
        rows: Rows,
        out: W,
        header: Option<Vec<String>>,
        policy: Policy,
        probe_column: bool,
    ) -> io::Result<Self> {
        let mut sink = match format {
            OutputFormat::Csv => Sink::Csv(Box::new(
                csv::WriterBuilder::new().flexible(true).from_writer(out),
            )),
            _ => Sink::Plain(out),
        };
        let first = match rows {
            Rows::Addresses => "ADDRESS",
            Rows::Domains => "DOMAIN",
        };
        match &mut sink {
            Sink::Csv(w) => {
                let mut cols = csv_header(header.as_deref(), probe_column);
                if rows == Rows::Domains {
                    cols.retain(|c| c != "address");
                }
                w.write_record(cols).map_err(csv_io)?
            }
            Sink::Plain(out) if format == OutputFormat::Table => writeln!(
                out,
                "{:<40} {:<8} {:<18} {:<6} DETAIL",
                first, "ACTION", "REASON", "STATUS"
            )?,
            Sink::Plain(out) if format == OutputFormat::Json => out.write_all(b"[")?,
            Sink::Plain(_) => {}
        }
        Ok(Writer {
            format,
            rows,
            written: 0,
            finished: false,
            sink,
            header,
            renderer: Renderer::new(format, policy, probe_column),
        })
    }

    /// A renderer for this writer's rows, with caches of its own: its
    /// renderings go to [`Writer::write_rendered`].
    pub fn renderer(&self) -> Renderer {
        let r = &self.renderer;
        Renderer::new(r.format, r.policy.clone(), r.probe_column)
    }

    /// The suggestion of a row: for a domain row, the host or domain meant.
    fn suggestion(&self, o: &Outcome<'_>) -> Option<String> {
        match self.rows {
            Rows::Addresses => suggestion_text(o.row, o.verdict),
            Rows::Domains => o.verdict.suggestion.as_ref().map(|s| match s {
                Suggestion::Host(h) | Suggestion::Domain(h) => h.clone(),
            }),
        }
    }

    /// Writes one row.
    pub fn write(&mut self, o: &Outcome<'_>) -> io::Result<()> {
        let rendered = self.renderer.rendered(o);
        self.write_rendered(o, &rendered)
    }

    /// Writes one row whose verdict's part is rendered already (by a
    /// [`Writer::renderer`]).
    pub fn write_rendered(&mut self, o: &Outcome<'_>, rendered: &Rendered) -> io::Result<()> {
        let suggestion = self.suggestion(o);
        let domains = self.rows == Rows::Domains;
        match (&mut self.sink, rendered) {
            (Sink::Csv(w), Rendered::Fields(fields)) => {
                let row = || -> csv::Result<()> {
                    if domains {
                        // Rows are domains: the fields start with the domain.
                    } else if let (Some(cols), Some(h)) = (&o.row.columns, &self.header) {
                        for i in 0..h.len() {
                            w.write_field(cols.get(i).map(String::as_str).unwrap_or_default())?;
                        }
                    } else {
                        w.write_field(&o.row.address)?;
                    }
                    // The cached fields are domain..mx, then probe when on;
                    // the suggestion (per row: it names the local part) goes
                    // between.
                    for f in &fields[..7] {
                        w.write_field(f)?;
                    }
                    w.write_field(suggestion.unwrap_or_default())?;
                    for f in &fields[7..] {
                        w.write_field(f)?;
                    }
                    // A ragged row's extra fields follow ours: never dropped.
                    if let (false, Some(cols), Some(h)) = (domains, &o.row.columns, &self.header) {
                        for extra in cols.iter().skip(h.len()) {
                            w.write_field(extra)?;
                        }
                    }
                    w.write_record(None::<&[u8]>)
                };
                row().map_err(csv_io)
            }
            (Sink::Plain(out), Rendered::Object(object)) => {
                let json = self.format == OutputFormat::Json;
                if json {
                    out.write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
                }
                self.written += 1;
                if domains {
                    out.write_all(b"{")?;
                } else {
                    out.write_all(b"{\"line\":")?;
                    write_u64(out, o.row.line)?;
                    out.write_all(b",\"address\":")?;
                    write_json_str(out, &o.row.address)?;
                    out.write_all(b",")?;
                }
                // The members, without the object's braces.
                let members = object
                    .strip_prefix(b"{")
                    .and_then(|o| o.strip_suffix(b"}"))
                    .unwrap_or(object);
                out.write_all(members)?;
                out.write_all(b",\"suggestion\":")?;
                match &suggestion {
                    Some(s) => write_json_str(out, s)?,
                    None => out.write_all(b"null")?,
                }
                if let (Some(values), Some(names)) = (&o.row.columns, &self.header) {
                    let columns: BTreeMap<&str, &str> = names
                        .iter()
                        .zip(values.iter())
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    out.write_all(b",\"columns\":")?;
                    serde_json::to_writer(&mut *out, &columns)?;
                    // A ragged row's fields beyond the header.
                    if values.len() > names.len() {
                        out.write_all(b",\"extra_fields\":")?;
                        serde_json::to_writer(&mut *out, &values[names.len()..])?;
                    }
                }
                out.write_all(if json { b"}" } else { b"}\n" })
            }
            (Sink::Plain(out), Rendered::Text(text)) => {
                let first = match self.rows {
                    Rows::Addresses => o.row.address.as_str(),
                    Rows::Domains => o.domain.unwrap_or(o.row.address.as_str()),
                };
                match suggestion {
                    Some(s) => writeln!(
                        out,
                        "{:<40} {} (did you mean {s}?)",
                        visible(first, 40),
                        text
                    ),
                    None => writeln!(out, "{:<40} {}", visible(first, 40), text),
                }
            }
            _ => unreachable!("rendered for this writer's own format"),
        }
    }

    /// Finishes the output (JSON: the closing bracket) and flushes
    /// everything written. Call it once, after the last row.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(w) => w.flush(),
            Sink::Plain(out) => {
                if self.format == OutputFormat::Json && !self.finished {
                    self.finished = true;
                    out.write_all(b"\n]\n")?;
                }
                out.flush()
            }
        }
    }
}

/// Writes `s` as a JSON string: as it is when nothing in it needs escaping
/// (printable ASCII without `"` and `\\`: nearly every address), else
/// through serde_json. A million rows each write one.
fn write_json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    if json_plain(s) {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        out.write_all(b"\"")
    } else {
        serde_json::to_writer(out, s).map_err(io::Error::from)
    }
}

/// Writes `n` in decimal, without the formatting machinery.
fn write_u64(out: &mut impl Write, n: u64) -> io::Result<()> {
    let mut buf = [0u8; 20];
    out.write_all(prebounce_core::ipfmt::u64_digits(n, &mut buf))
}

/// One row exactly as `check --format jsonl` writes it, without the
/// newline: the same writer, for faces that answer row by row (`serve`).
pub fn jsonl_row(o: &Outcome<'_>, policy: &Policy) -> io::Result<Vec<u8>> {
    let mut w = Writer::new(
        OutputFormat::Jsonl,
        Vec::with_capacity(512),
        None,
        policy.clone(),
        false,
    )?;
    w.write(o)?;
    match w.sink {
        Sink::Plain(mut bytes) => {
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            Ok(bytes)
        }
        Sink::Csv(_) => unreachable!("a JSONL writer writes plain bytes"),
    }
}

/// The CSV output header: the input's columns (if any), then ours; ours
/// get a `prebounce_` prefix where an input column has the same name.
fn csv_header(input: Option<&[String]>, probe: bool) -> Vec<String> {
    let mut cols: Vec<String> = input.map(<[String]>::to_vec).unwrap_or_default();
    let taken: Vec<String> = cols.iter().map(|c| c.trim().to_ascii_lowercase()).collect();
    let probe_col = probe.then_some("probe");
    for c in CSV_COLUMNS.iter().copied().chain(probe_col) {
        if input.is_some() && c == "address" {
            continue; // the address is already among the input's columns
        }
        if taken.iter().any(|t| t == c) {
            cols.push(format!("prebounce_{c}"));
        } else {
            cols.push(c.to_string());
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_json_strings_and_numbers_equal_serde_json() {
        let strings = [
            "a@b.example",
            "",
            "quote\"d@x.example",
            "back\\slash@x.example",
            "tab\there@x.example",
            "del\u{7f}@x.example",
            "bücher@bücher.example",
            "nul\u{0}@x.example",
            "line\nbreak\r",
            "\u{2028}sep",
            "\u{1f}\u{20}",
        ];
        for s in strings {
            let mut ours = Vec::new();
            write_json_str(&mut ours, s).unwrap();
            let theirs = serde_json::to_string(s).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{s:?}");
            let mut ours = Vec::new();
            push_json_str(&mut ours, s);
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{s:?}");
        }
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut ours = Vec::new();
            write_u64(&mut ours, n).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), n.to_string());
        }
    }

    /// The JSON array of `targets`, as serde_json writes it.
    fn push_views(out: &mut Vec<u8>, targets: &[MxView<'_>]) {
        out.push(b'[');
        for (i, mx) in targets.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_target(out, mx);
        }
        out.push(b']');
    }

    /// The MX targets of a report, judged under the policy: `JsonVerdict::mx`
    /// for serde_json, the reference.
    fn mx_view<'a>(report: &'a DomainReport, policy: &Policy) -> Vec<MxView<'a>> {
        let Some(ev) = &report.evidence else {
            return Vec::new();
        };
        ev.targets.iter().map(|t| target_view(t, policy)).collect()
    }

    /// A checker asking the lab server serving `zone` on loopback.
    async fn checker_for(zone: &str) -> (prebounce_lab::LabServer, prebounce::Checker) {
        use prebounce_lab::{Lab, LabServer, Zone};
        let (zone, faults) = Zone::parse(zone, None).unwrap();
        let mut lab = Lab::new();
        lab.add_zone(zone, faults).unwrap();
        let server = LabServer::start(lab, "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let checker = prebounce::Checker::new(prebounce::CheckerConfig {
            timeout: std::time::Duration::from_millis(300),
            attempts: 1,
            ..prebounce::CheckerConfig::with_servers(vec![server.local_addr()])
        })
        .unwrap();
        (server, checker)
    }

    /// The hand-written JSON of a verdict is serde_json's, byte for byte,
    /// on every reason code of the demo (its zone served on loopback).
    #[tokio::test]
    async fn hand_written_json_equals_serde_json_on_every_reason() {
        let (_server, checker) = checker_for(include_str!("../../examples/demo.zone")).await;
        let policy = checker.policy().clone();
        let mut reasons = std::collections::BTreeSet::new();
        let mut with_mx = 0;
        let mut targets = TargetCache::default();
        let domains = include_str!("../../examples/addresses.txt")
            .lines()
            .filter_map(|l| l.rsplit_once('@').map(|(_, d)| d.trim()));
        for domain in domains {
            let report = checker.check_domain(domain).await;
            let v = &report.verdict;
            for (domain, report) in [(Some(domain), Some(&report)), (None, None)] {
                let status = v.status().map(|s| s.to_string());
                let mut jv = json_verdict(domain, v, status, report, &policy);
                jv.mx = report.map(|r| mx_view(r, &policy)).unwrap_or_default();
                with_mx += usize::from(!jv.mx.is_empty());
                let theirs = String::from_utf8(serde_json::to_vec(&jv).unwrap()).unwrap();
                let mut ours = Vec::new();
                push_verdict(&mut ours, &jv, |out| push_views(out, &jv.mx));
                assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{domain:?}");
                // As the writer does it: the targets through the cache.
                let mut ours = Vec::new();
                let status = v.status().map(|s| s.to_string());
                let members = json_verdict(domain, v, status, report, &policy);
                push_verdict(&mut ours, &members, |out| {
                    targets.push_targets(out, report.map(|r| &**r), &policy)
                });
                assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{domain:?}");
            }
            reasons.insert(v.reason);
        }
        assert!(reasons.len() >= 12, "only {reasons:?}");
        assert!(with_mx >= 10, "{with_mx} verdicts with MX targets");

        // Strings that need escaping, and the parts serde_json still writes.
        let odd = [
            MxView {
                preference: 10,
                exchange: "a\\034b.odd.zz",
                addresses: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                state: "usable",
                note: "quote \" and tab \t and nul \u{0}".into(),
            },
            MxView {
                preference: 20,
                exchange: "bücher.odd.zz",
                addresses: vec![],
                state: "unresolvable",
                note: String::new(),
            },
        ];
        let jv = JsonVerdict {
            domain: Some("odd\u{7f}.zz"),
            action: "retry",
            reason: "dns_failure",
            status: None,
            detail: "line\nbreak \\ \u{1f}",
            warnings: &[Warning::MxCname, Warning::ImplicitMx],
            mx: odd.into(),
            dns: Some(DnsView {
                mx: QueryStatus::Answer,
                mx_cname: vec!["alias\"d.odd.zz".into()],
                implicit: None,
            }),
            probe: None,
            history: Some(HistoryView {
                observed: "2026-11-30T12:00:00Z".into(),
                reused: true,
                age: 7,
            }),
        };
        let mut ours = Vec::new();
        push_verdict(&mut ours, &jv, |out| push_views(out, &jv.mx));
        let ours = String::from_utf8(ours).unwrap();
        assert_eq!(ours, serde_json::to_string(&jv).unwrap());
        assert!(ours.contains(r#"a\\034b"#), "{ours}");
        // The history object, written by hand: both flags, ages of every
        // sign and size.
        let mut jv = jv;
        for (reused, age) in [(false, 0), (true, -5), (false, i64::MIN), (true, i64::MAX)] {
            jv.history = Some(HistoryView {
                observed: format_rfc3339(1_796_040_000 + age.rem_euclid(86_400)),
                reused,
                age,
            });
            let mut ours = Vec::new();
            push_verdict(&mut ours, &jv, |out| push_views(out, &jv.mx));
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&jv).unwrap()
            );
        }
    }

    /// MX targets on a host several domains share are written once and
    /// then copied, with the same bytes as serde_json's; a host of one
    /// domain is not kept.
    #[tokio::test]
    async fn shared_hosts_targets_are_written_once_with_the_same_bytes() {
        let zone = "$ORIGIN .\n$TTL 300\n. SOA ns.lab. hostmaster.lab. 1 3600 600 86400 300\n\
            a.zz. MX 10 mx.shared.zz.\nb.zz. MX 10 mx.shared.zz.\nb.zz. MX 20 mx.b.zz.\n\
            c.zz. MX 20 mx.shared.zz.\nd.zz. MX 5 lo.zz.\n\
            mx.shared.zz. A 93.184.215.14\nmx.shared.zz. AAAA 2606:2800:21f:cb07:6820:80da:af6b:8b2c\n\
            mx.b.zz. A 93.184.215.15\nlo.zz. A 127.0.0.1\n";
        let (_server, checker) = checker_for(zone).await;
        let policy = checker.policy().clone();
        let mut reports = Vec::new();
        for d in ["a.zz", "b.zz", "c.zz", "d.zz"] {
            reports.push(checker.check_domain(d).await);
        }
        let mut cache = TargetCache::default();
        for round in 0..2 {
            for r in &reports {
                let mut ours = Vec::new();
                cache.push_targets(&mut ours, Some(r), &policy);
                let theirs = serde_json::to_string(&mx_view(r, &policy)).unwrap();
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    theirs,
                    "{} round {round}",
                    r.domain
                );
            }
            // mx.shared.zz at preferences 10 and 20; not mx.b.zz nor lo.zz.
            let mut kept: Vec<(String, u16)> = cache
                .json
                .values()
                .map(|(h, json)| {
                    let pref = serde_json::from_slice::<serde_json::Value>(json).unwrap()
                        ["preference"]
                        .as_u64()
                        .unwrap();
                    (h.name.clone(), pref as u16)
                })
                .collect();
            kept.sort();
            assert_eq!(
                kept,
                [
                    ("mx.shared.zz".to_string(), 10),
                    ("mx.shared.zz".to_string(), 20)
                ]
            );
        }
    }

    #[test]
    fn csv_header_keeps_input_columns_and_avoids_clashes() {
        assert_eq!(csv_header(None, false), CSV_COLUMNS.to_vec());
        assert_eq!(csv_header(None, true).last().unwrap(), "probe");
        let input = vec!["email".to_string(), "Action".to_string()];
        assert_eq!(
            csv_header(Some(&input), false),
            vec![
                "email",
                "Action",
                "domain",
                "prebounce_action",
                "reason",
                "status",
                "detail",
                "warnings",
                "mx",
                "suggestion"
            ]
        );
    }
}
