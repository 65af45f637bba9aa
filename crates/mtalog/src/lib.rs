//! MTA delivery logs as events: Postfix (syslog or `maillog_file`), Exim
//! main logs and KumoMTA JSON logs.
//!
//! What this crate is: a pure reader. Bytes in (one line at a time, or a
//! [`BufRead`]), [`Delivery`] events out: who sent to whom, through which
//! relay, with which outcome (`sent`, `deferred`, `bounced`) and when. It
//! joins what a format spreads over several lines (Postfix's `qmgr
//! from=<...>` line, Exim's `<=` arrival line) by queue ID. What it is not:
//! it opens no file, decompresses nothing, and judges no domain.
//!
//! It never panics on input: any bytes, invalid UTF-8 (read lossily), or
//! lines of any length (a [`BufRead`] is read in lines of at most
//! [`MAX_LINE`] bytes; the rest of a longer line is skipped and counted).
//!
//! Memory: the per-message state is the sender of each queue ID, forgotten
//! when the message leaves the queue (Postfix `removed`, Exim `Completed`),
//! and cleared if it ever holds more than [`MAX_QUEUE_IDS`] IDs (a log whose
//! removals are missing).
//!
//! # Time
//! Exim and RFC 3339 syslog timestamps are complete. KumoMTA writes epoch
//! seconds (or RFC 3339). A classic syslog timestamp (RFC 3164,
//! `Nov 30 03:58:41`) has neither year nor zone: it is read as UTC, in the
//! year given by [`Reader::start_file`]'s `year` if any, else in the latest
//! year that puts it no more than one day after the file's reference time
//! (its last modification: a log is written in order, so no line is newer
//! than the file). A log that spans New Year thus gets both years right.

use std::collections::HashMap;
use std::io::{self, BufRead};

/// The longest line read from a [`BufRead`]; the rest is skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// Queue IDs whose sender is held, at most.
pub const MAX_QUEUE_IDS: usize = 1_000_000;

/// What the MTA says happened to one recipient of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Handed over (Postfix `status=sent`, Exim `=>`/`->`, KumoMTA
    /// `Delivery`).
    Sent,
    /// A temporary failure; the MTA will try again (Postfix
    /// `status=deferred`, Exim `==`, KumoMTA `TransientFailure`).
    Deferred,
    /// A permanent failure, returned to the sender (Postfix
    /// `status=bounced`, Exim `**`, KumoMTA `Bounce`, `Expiration`).
    Bounced,
}

impl Status {
    /// The stable name: `sent`, `deferred`, `bounced`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
        }
    }
}

/// A log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Postfix,
    Exim,
    Kumo,
}

impl Format {
    /// The stable name: `postfix`, `exim`, `kumomta`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Postfix => "postfix",
            Format::Exim => "exim",
            Format::Kumo => "kumomta",
        }
    }
}

/// One delivery attempt's outcome for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub format: Format,
    /// Unix seconds (UTC), when the line has a timestamp that can be read.
    pub time: Option<i64>,
    /// The MTA's queue or message ID.
    pub queue_id: String,
    /// The envelope recipient, as logged.
    pub recipient: String,
    /// The envelope sender, when the log names it (`None` when unknown,
    /// `Some("")` for the null sender `<>`).
    pub sender: Option<String>,
    /// The host the MTA handed the message to or tried (`mx.example[192.0.2.1]:25`),
    /// `None` when it reached none (Postfix `relay=none`).
    pub relay: Option<String>,
    /// The enhanced status code the MTA logged (`5.1.0`), if any.
    pub dsn: Option<String>,
    pub status: Status,
}

/// What one line was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// Delivery outcomes (KumoMTA records may name several recipients).
    Deliveries(Vec<Delivery>),
    /// A line of a known MTA that is not a delivery outcome (Postfix qmgr,
    /// smtpd, cleanup; Exim `<=`, `Completed`; KumoMTA `Reception`...).
    Mta,
    /// A syslog line of another program.
    Other,
    /// Empty.
    Blank,
    /// Nothing we can read.
    Unrecognized,
}

/// Counts of lines by kind, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub lines: u64,
    /// Lines that were delivery outcomes.
    pub delivery_lines: u64,
    /// Deliveries (a KumoMTA record may name several recipients).
    pub deliveries: u64,
    pub mta_lines: u64,
    pub other_program: u64,
    pub blank: u64,
    pub unrecognized: u64,
    /// Lines that were not valid UTF-8 (read lossily; also counted by kind).
    pub invalid_utf8: u64,
    /// Lines longer than [`MAX_LINE`] (cut there).
    pub too_long: u64,
    /// Times the queue-ID table hit [`MAX_QUEUE_IDS`] and was cleared.
    pub queue_ids_dropped: u64,
}

/// A streaming reader: detects each file's format from its first readable
/// line, and keeps the per-queue-ID senders across files (a log rotated in
/// the middle of a message's life).
#[derive(Debug, Default)]
pub struct Reader {
    format: Option<Format>,
    reference: i64,
    year: Option<i32>,
    postfix_senders: HashMap<String, String>,
    exim_senders: HashMap<String, String>,
    stats: Stats,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Starts a new file: its format is detected again. `reference` is the
    /// file's last modification (Unix seconds; now for standard input),
    /// `year` a fixed year for timestamps without one.
    pub fn start_file(&mut self, reference: i64, year: Option<i32>) {
        self.format = None;
        self.reference = reference;
        self.year = year;
    }

    /// The format detected in the current file, if any yet.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Senders held by queue ID now (for the memory bound's tests).
    pub fn held_queue_ids(&self) -> usize {
        self.postfix_senders.len() + self.exim_senders.len()
    }

    /// Reads every line of `input`, calling `each` for each delivery.
    pub fn read(
        &mut self,
        mut input: impl BufRead,
        mut each: impl FnMut(Delivery),
    ) -> io::Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let (got, long) = read_line(&mut input, &mut line)?;
            if !got {
                return Ok(());
            }
            if long {
                self.stats.too_long += 1;
            }
            if let Line::Deliveries(ds) = self.feed(&line) {
                ds.into_iter().for_each(&mut each);
            }
        }
    }

    /// Reads one line (without its newline; a trailing `\r` is ignored).
    pub fn feed(&mut self, raw: &[u8]) -> Line {
        self.stats.lines += 1;
        let text = match std::str::from_utf8(raw) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => {
                self.stats.invalid_utf8 += 1;
                String::from_utf8_lossy(raw)
            }
        };
        let line = text.trim_end_matches(['\r', '\n']);
        let kind = self.classify(line);
        match &kind {
            Line::Deliveries(d) => {
                self.stats.delivery_lines += 1;
                self.stats.deliveries += d.len() as u64;
            }
            Line::Mta => self.stats.mta_lines += 1,
            Line::Other => self.stats.other_program += 1,
            Line::Blank => self.stats.blank += 1,
            Line::Unrecognized => self.stats.unrecognized += 1,
        }
        kind
    }

    fn classify(&mut self, line: &str) -> Line {
        if line.trim().is_empty() {
            return Line::Blank;
        }
        let order: &[Format] = match self.format {
            Some(Format::Postfix) => &[Format::Postfix],
            Some(Format::Exim) => &[Format::Exim],
            Some(Format::Kumo) => &[Format::Kumo],
            None => &[Format::Kumo, Format::Exim, Format::Postfix],
        };
        let mut other = false;
        for f in order {
            let got = match f {
                Format::Postfix => self.postfix(line),
                Format::Exim => self.exim(line),
                Format::Kumo => self.kumo(line),
            };
            match got {
                Some(Line::Other) => other = true,
                Some(l) => {
                    self.format.get_or_insert(*f);
                    return l;
                }
                None => {}
            }
        }
        if other {
            Line::Other
        } else {
            Line::Unrecognized
        }
    }

    fn remember(&mut self, exim: bool, id: &str, sender: &str) {
        let stats = &mut self.stats;
        let map = if exim {
            &mut self.exim_senders
        } else {
            &mut self.postfix_senders
        };
        if map.len() >= MAX_QUEUE_IDS && !map.contains_key(id) {
            map.clear();
            stats.queue_ids_dropped += 1;
        }
        map.insert(id.to_string(), sender.to_string());
    }

    // ---- Postfix ----

    /// A Postfix line: `None` when it is no syslog line at all,
    /// `Some(Other)` for another program's line.
    fn postfix(&mut self, line: &str) -> Option<Line> {
        let (time, rest) = syslog_time(line, self.reference, self.year)?;
        // `host program[pid]: message` (the host may be absent in some
        // `maillog_file` setups: accept a program in first place too).
        let (program, msg) = syslog_program(rest)?;
        let (name, service) = match program.rsplit_once('/') {
            Some((n, s)) => (n, s),
            None => return Some(Line::Other),
        };
        if !name.starts_with("postfix") {
            return Some(Line::Other);
        }
        let Some((id, body)) = msg.split_once(": ") else {
            return Some(Line::Mta);
        };
        if !is_queue_id(id) {
            return Some(Line::Mta);
        }
        if service == "qmgr" {
            if body == "removed" {
                self.postfix_senders.remove(id);
            } else if let Some(from) = body.strip_prefix("from=<") {
                if let Some((sender, _)) = from.split_once(">,") {
                    self.remember(false, id, sender);
                }
            }
            return Some(Line::Mta);
        }
        let Some(rcpt) = body.strip_prefix("to=<") else {
            return Some(Line::Mta);
        };
        let Some((recipient, fields)) = rcpt.split_once('>') else {
            return Some(Line::Mta);
        };
        if recipient.is_empty() {
            return Some(Line::Mta);
        }
        let mut relay = None;
        let mut dsn = None;
        let mut status = None;
        for field in fields.split(", ") {
            let field = field.trim_start_matches(',').trim();
            if let Some(v) = field.strip_prefix("relay=") {
                if v != "none" {
                    relay = Some(v.to_string());
                }
            } else if let Some(v) = field.strip_prefix("dsn=") {
                dsn = Some(v.to_string());
            } else if let Some(v) = field.strip_prefix("status=") {
                let word = v.split(' ').next().unwrap_or_default();
                status = match word {
                    "sent" => Some(Status::Sent),
                    "deferred" => Some(Status::Deferred),
                    "bounced" => Some(Status::Bounced),
                    // `expired`, `undeliverable`, `deliverable` (address
                    // verification and sendmail -bv probes): not deliveries.
                    _ => None,
                };
                // The status comes last; its text may hold ", ".
                break;
            }
        }
        let Some(status) = status else {
            return Some(Line::Mta);
        };
        Some(Line::Deliveries(vec![Delivery {
            format: Format::Postfix,
            time,
            queue_id: id.to_string(),
            recipient: recipient.to_string(),
            sender: self.postfix_senders.get(id).cloned(),
            relay,
            dsn,
            status,
        }]))
    }

    // ---- Exim ----

    /// An Exim main log line: `YYYY-MM-DD HH:MM:SS [+ZZZZ] [[pid]] ID FLAG ...`.
    fn exim(&mut self, line: &str) -> Option<Line> {
        let mut words = line.splitn(3, ' ');
        let date = words.next()?;
        let clock = words.next()?;
        let mut rest = words.next()?;
        let mut time = ymd_hms(date, clock)?;
        // log_timezone: a numeric offset.
        if let Some((tz, after)) = rest.split_once(' ') {
            if let Some(off) = numeric_offset(tz) {
                time -= off;
                rest = after;
            }
        }
        // log_selector +pid: `[1234]`.
        if rest.starts_with('[') {
            if let Some((pid, after)) = rest.split_once(' ') {
                if pid.ends_with(']') {
                    rest = after;
                }
            }
        }
        let Some((id, after)) = rest.split_once(' ') else {
            return Some(Line::Mta);
        };
        if !is_exim_id(id) {
            return Some(Line::Mta);
        }
        let Some((flag, args)) = after.split_once(' ') else {
            // `ID Completed`
            if after == "Completed" {
                self.exim_senders.remove(id);
            }
            return Some(Line::Mta);
        };
        let status = match flag {
            "<=" => {
                let sender = args.split(' ').next().unwrap_or_default();
                let sender = if sender == "<>" { "" } else { sender };
                self.remember(true, id, sender);
                return Some(Line::Mta);
            }
            "=>" | "->" => Status::Sent,
            "==" => Status::Deferred,
            "**" => Status::Bounced,
            _ => {
                if after == "Completed" {
                    self.exim_senders.remove(id);
                }
                return Some(Line::Mta);
            }
        };
        // `rcpt [<original>] R=... T=... H=host [ip]:port ...`; a bounce
        // may end the address with a colon (`** a@b.example: Unrouteable`).
        let recipient = args
            .split(' ')
            .next()
            .unwrap_or_default()
            .trim_end_matches(':')
            .trim_start_matches('<')
            .trim_end_matches('>');
        if recipient.is_empty() {
            return Some(Line::Mta);
        }
        let mut relay = None;
        let mut sender = None;
        let mut it = args.split(' ').peekable();
        while let Some(w) = it.next() {
            if let Some(host) = w.strip_prefix("H=") {
                let host = host.trim_end_matches(':');
                let ip = it
                    .peek()
                    .filter(|n| n.starts_with('['))
                    .map(|n| n.trim_end_matches(':').to_string());
                relay = Some(match ip {
                    Some(ip) if !host.starts_with('[') => format!("{host}{ip}"),
                    _ => host.to_string(),
                });
            } else if let Some(f) = w.strip_prefix("F=<") {
                sender = Some(f.trim_end_matches('>').to_string());
            }
        }
        let sender = sender.or_else(|| self.exim_senders.get(id).cloned());
        Some(Line::Deliveries(vec![Delivery {
            format: Format::Exim,
            time: Some(time),
            queue_id: id.to_string(),
            recipient: recipient.to_string(),
            sender,
            relay,
            dsn: enhanced_code_in(args),
            status,
        }]))
    }

    // ---- KumoMTA ----

    fn kumo(&mut self, line: &str) -> Option<Line> {
        let t = line.trim_start();
        if !t.starts_with('{') {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let kind = v.get("type")?.as_str()?;
        let status = match kind {
            "Delivery" => Status::Sent,
            "TransientFailure" => Status::Deferred,
            "Bounce" | "Expiration" | "AdminBounce" => Status::Bounced,
            _ => return Some(Line::Mta),
        };
        let recipients: Vec<String> = match v.get("recipient") {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let recipients: Vec<String> = recipients.into_iter().filter(|r| !r.is_empty()).collect();
        if recipients.is_empty() {
            return Some(Line::Mta);
        }
        let time = match v.get("timestamp") {
            Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f as i64)
            }),
            Some(serde_json::Value::String(s)) => rfc3339(s),
            _ => None,
        };
        let relay = v.get("peer_address").and_then(|p| {
            let name = p.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            let addr = p.get("addr").and_then(|n| n.as_str()).unwrap_or_default();
            match (name.is_empty(), addr.is_empty()) {
                (true, true) => None,
                (false, true) => Some(name.to_string()),
                (true, false) => Some(format!("[{addr}]")),
                (false, false) => Some(format!("{name}[{addr}]")),
            }
        });
        let dsn = v
            .get("response")
            .and_then(|r| r.get("enhanced_code"))
            .and_then(|e| {
                let n = |k: &str| e.get(k).and_then(|x| x.as_u64());
                Some(format!(
                    "{}.{}.{}",
                    n("class")?,
                    n("subject")?,
                    n("detail")?
                ))
            });
        let sender = v.get("sender").and_then(|s| s.as_str()).map(str::to_string);
        let id = v
            .get("id")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_string();
        Some(Line::Deliveries(
            recipients
                .into_iter()
                .map(|recipient| Delivery {
                    format: Format::Kumo,
                    time,
                    queue_id: id.clone(),
                    recipient,
                    sender: sender.clone(),
                    relay: relay.clone(),
                    dsn: dsn.clone(),
                    status,
                })
                .collect(),
        ))
    }
}

/// Reads one line into `buf` (without the newline), at most [`MAX_LINE`]
/// bytes of it: (whether a line was read, whether it was cut).
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<(bool, bool)> {
    let mut any = false;
    let mut long = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((any, long));
        }
        any = true;
        let (part, used, end) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        if part.len() > room {
            long = true;
        }
        buf.extend_from_slice(&part[..part.len().min(room)]);
        input.consume(used);
        if end {
            return Ok((true, long));
        }
    }
}

/// A Postfix queue ID: short (hex) or long form, letters and digits.
fn is_queue_id(s: &str) -> bool {
    (5..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// An Exim message ID: `1tXYZa-000abc-AB` (or the 4.97 long form): letters,
/// digits and two dashes.
fn is_exim_id(s: &str) -> bool {
    (14..=32).contains(&s.len())
        && s.bytes().filter(|&b| b == b'-').count() == 2
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The first `d.d.d` enhanced status code in a text (Exim puts it in the
/// reply text).
fn enhanced_code_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// Splits a syslog header's timestamp off: RFC 3164 `Mmm dd hh:mm:ss`
/// (year and zone inferred, see the crate docs) or RFC 3339.
fn syslog_time(line: &str, reference: i64, year: Option<i32>) -> Option<(Option<i64>, &str)> {
    let (first, rest) = line.split_once(' ')?;
    if first.len() >= 19 && first.as_bytes().get(4) == Some(&b'-') {
        return Some((rfc3339(first), rest));
    }
    let month = month_number(first)?;
    let rest = rest.trim_start_matches(' ');
    let (day, rest) = rest.split_once(' ')?;
    let (clock, rest) = rest.split_once(' ')?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let secs = hms(clock)?;
    let at = |y: i32| days_from_civil(y, month, day) * 86_400 + secs;
    let time = match year {
        Some(y) => at(y),
        None => {
            let ref_year = civil_year(reference);
            // The latest year that puts the line at most a day after the
            // reference.
            if at(ref_year) <= reference + 86_400 {
                at(ref_year)
            } else {
                at(ref_year.saturating_sub(1))
            }
        }
    };
    Some((Some(time), rest))
}

/// `host program[pid]: message` or `program[pid]: message`: the program
/// (without the pid) and the message.
fn syslog_program(rest: &str) -> Option<(&str, &str)> {
    let (head, msg) = rest.split_once(": ")?;
    let tag = match head.split_once(' ') {
        Some((_host, tag)) => tag,
        None => head,
    };
    if tag.contains(' ') || tag.is_empty() {
        return None;
    }
    let program = tag.split('[').next().unwrap_or(tag);
    Some((program, msg))
}

fn month_number(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// `hh:mm:ss` (fractions ignored) in seconds.
fn hms(s: &str) -> Option<i64> {
    let s = s.split('.').next()?;
    let mut p = s.split(':');
    let h: i64 = p.next()?.parse().ok().filter(|h| (0..24).contains(h))?;
    let m: i64 = p.next()?.parse().ok().filter(|m| (0..60).contains(m))?;
    let sec: i64 = p.next()?.parse().ok().filter(|s| (0..=60).contains(s))?;
    if p.next().is_some() {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// `YYYY-MM-DD` and `hh:mm:ss` as Unix seconds (UTC).
fn ymd_hms(date: &str, clock: &str) -> Option<i64> {
    let mut p = date.split('-');
    let y: i32 = p
        .next()?
        .parse()
        .ok()
        .filter(|y| (1970..=9999).contains(y))?;
    let m: u32 = p.next()?.parse().ok().filter(|m| (1..=12).contains(m))?;
    let d: u32 = p.next()?.parse().ok().filter(|d| (1..=31).contains(d))?;
    if p.next().is_some() || date.len() != 10 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hms(clock)?)
}

/// `+0100` or `-0530` in seconds east of UTC.
fn numeric_offset(s: &str) -> Option<i64> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// An RFC 3339 timestamp (`2026-11-30T03:58:41.123+01:00`, `...Z`).
pub fn rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let base = ymd_hms(date, clock)?;
    let off = match zone {
        "" | "Z" | "z" => 0,
        z => numeric_offset(z)?,
    };
    Some(base - off)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC year of a Unix time.
fn civil_year(t: i64) -> i32 {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    y.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests;
