//! Reading addresses: text (one per line) or CSV, from files or stdin.
//!
//! Every input row becomes exactly one [`Row`]; rows that cannot hold an
//! address (invalid UTF-8, overlong lines, binary junk) are rows too, with
//! an `address_invalid` verdict. Only blank lines and `#` comments in text
//! input are skipped.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use prebounce_core::address::{parse_address, Address, SyntaxError};
use prebounce_core::verdict::Reason;

/// How an input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One address per line; blank lines and `#` comments skipped.
    Text,
    /// CSV with a header row.
    Csv,
}

/// A mistake in how the inputs were named (mixed formats, an unknown
/// column, a CSV input without a header): the command line's exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Longest line (or CSV field) read as an address; the rest is skipped.
pub const MAX_LINE: usize = 64 * 1024;
/// How much of an overlong line is echoed in the output.
const ECHO: usize = 256;

/// One input row.
#[derive(Debug)]
pub struct Row {
    /// The line number in its file (the record's first line for CSV).
    pub line: u64,
    /// The address as given, trimmed (shortened when overlong).
    pub address: String,
    /// All CSV fields, for pass-through.
    pub columns: Option<Vec<String>>,
    /// The syntax check.
    pub parsed: Result<Address, SyntaxError>,
}

fn invalid(detail: String) -> Result<Address, SyntaxError> {
    Err(SyntaxError {
        reason: Reason::AddressInvalid,
        detail,
        domain: None,
    })
}

/// Makes a row from the raw bytes of one address field.
fn row_from_bytes(line: u64, bytes: &[u8], full_len: usize, columns: Option<Vec<String>>) -> Row {
    if full_len > MAX_LINE {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(ECHO)]);
        return Row {
            line,
            address: format!("{}…", shown.trim()),
            columns,
            parsed: invalid(format!(
                "line {line} is {full_len} bytes long, more than {MAX_LINE}: not an address"
            )),
        };
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            Row {
                line,
                address: text.to_string(),
                columns,
                parsed: parse_address(text),
            }
        }
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes);
            let lossy: String = lossy.trim().chars().take(ECHO).collect();
            Row {
                line,
                address: lossy,
                columns,
                parsed: invalid(format!(
                    "line {line} is not valid UTF-8 (bad byte at offset {})",
                    e.valid_up_to()
                )),
            }
        }
    }
}

/// Reads up to `max` bytes of the next line into `out` (without the line
/// end); returns the line's full length, or `None` at the end of input.
fn read_line_limited(
    r: &mut dyn BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    out.clear();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(any.then_some(len));
        }
        any = true;
        let (chunk, used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = max.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        len += chunk.len();
        r.consume(used);
        if done {
            break;
        }
    }
    if out.last() == Some(&b'\r') && len <= max {
        out.pop();
        len -= 1;
    }
    Ok(Some(len))
}

/// Where the lines of a CSV input start, so a record is numbered by its
/// first line. The csv crate's record position is where it began reading,
/// which is before the `\n` of the previous record's CRLF and before the
/// blank lines it skips: CRLF files came out numbered one line early.
#[derive(Debug)]
struct LineStarts {
    /// `(byte offset, line)` of every byte that is not a line end and
    /// follows one (or starts the input), from the current record on.
    starts: VecDeque<(u64, u64)>,
    offset: u64,
    line: u64,
    after_break: bool,
}

impl LineStarts {
    fn new() -> LineStarts {
        LineStarts {
            starts: VecDeque::new(),
            offset: 0,
            line: 1,
            after_break: true,
        }
    }

    /// The line of the first byte at or after `from` that is not a line
    /// end, forgetting the ones before.
    fn line_from(&mut self, from: u64) -> Option<u64> {
        while self.starts.front().is_some_and(|&(o, _)| o < from) {
            self.starts.pop_front();
        }
        self.starts.front().map(|&(_, line)| line)
    }
}

/// Passes the bytes to the CSV parser, noting where lines start.
struct Tap {
    inner: Box<dyn Read + Send>,
    seen: Arc<Mutex<LineStarts>>,
    /// Whether anything was read yet.
    started: bool,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        if !self.started {
            // The csv parser strips a UTF-8 byte-order mark only when its
            // first read holds all three bytes: a pipe may give fewer.
            self.started = true;
            while n > 0 && n < 3.min(buf.len()) {
                match self.inner.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(more) => n += more,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut s = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for &b in &buf[..n] {
            match b {
                b'\n' => {
                    s.line += 1;
                    s.after_break = true;
                }
                b'\r' => s.after_break = true,
                _ => {
                    if s.after_break {
                        let at = (s.offset, s.line);
                        s.starts.push_back(at);
                    }
                    s.after_break = false;
                }
            }
            s.offset += 1;
        }
        Ok(n)
    }
}

enum Source {
    Text {
        reader: BufReader<Box<dyn Read + Send>>,
        line: u64,
    },
    Csv {
        reader: csv::Reader<Tap>,
        lines: Arc<Mutex<LineStarts>>,
        column: usize,
        column_name: String,
    },
}

/// All the inputs of a run, read one after the other.
pub struct Inputs {
    sources: Vec<(String, Source)>,
    /// The CSV header, when the input is CSV.
    pub header: Option<Vec<String>>,
    /// The first input's name, for messages.
    first: Option<String>,
    buf: Vec<u8>,
    record: csv::ByteRecord,
}

fn open(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin()));
    }
    let file =
        File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    Ok(Box::new(file))
}

fn is_csv(path: &Path, format: Option<InputFormat>) -> bool {
    match format {
        Some(f) => f == InputFormat::Csv,
        None => path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
    }
}

/// Picks the address column: `--column` (exact, then case-insensitive), or
/// the first header named email / e-mail / address, or the first column.
pub fn pick_column(header: &[String], wanted: Option<&str>) -> Result<usize, UsageError> {
    let clean = |h: &str| h.trim().trim_start_matches('\u{feff}').to_string();
    if let Some(w) = wanted {
        return header
            .iter()
            .position(|h| clean(h) == w)
            .or_else(|| header.iter().position(|h| clean(h).eq_ignore_ascii_case(w)))
            .ok_or_else(|| {
                UsageError(format!(
                    "--column {w}: no such column; the header has: {}",
                    header.join(", ")
                ))
            });
    }
    Ok(header
        .iter()
        .position(|h| {
            let h = clean(h).to_ascii_lowercase();
            h == "email" || h == "e-mail" || h == "address"
        })
        .unwrap_or(0))
}

impl Inputs {
    /// Opens every input; CSV inputs must share one header.
    pub fn open(
        files: &[PathBuf],
        format: Option<InputFormat>,
        column: Option<&str>,
    ) -> anyhow::Result<Inputs> {
        let stdin = [PathBuf::from("-")];
        let files = if files.is_empty() { &stdin[..] } else { files };
        let csv_inputs = files.iter().filter(|f| is_csv(f, format)).count();
        if csv_inputs != 0 && csv_inputs != files.len() {
            return Err(UsageError(
                "mixing CSV and text inputs in one run is not supported; run them separately or set --input-format".into(),
            )
            .into());
        }
        if csv_inputs == 0 && column.is_some() {
            return Err(UsageError(
                "--column applies to CSV input only (a .csv file or --input-format csv)".into(),
            )
            .into());
        }
        let mut inputs = Inputs::empty();
        for path in files {
            let reader = open(path)?;
            inputs.add(
                path.display().to_string(),
                reader,
                is_csv(path, format),
                column,
            )?;
        }
        inputs.sources.reverse();
        Ok(inputs)
    }

    /// Reads one input from any reader (`name` is used in messages): the
    /// same rows as [`Inputs::open`] gives for a file with these bytes.
    pub fn from_reader(
        name: &str,
        reader: Box<dyn Read + Send>,
        format: InputFormat,
        column: Option<&str>,
    ) -> anyhow::Result<Inputs> {
        let csv = format == InputFormat::Csv;
        if !csv && column.is_some() {
            return Err(UsageError(
                "--column applies to CSV input only (a .csv file or --input-format csv)".into(),
            )
            .into());
        }
        let mut inputs = Inputs::empty();
        inputs.add(name.to_string(), reader, csv, column)?;
        Ok(inputs)
    }

    fn empty() -> Inputs {
        Inputs {
            sources: Vec::new(),
            header: None,
            first: None,
            buf: Vec::with_capacity(1024),
            record: csv::ByteRecord::new(),
        }
    }

    /// Adds one input after those already added (in reverse order: the
    /// last source is read first).
    fn add(
        &mut self,
        name: String,
        reader: Box<dyn Read + Send>,
        csv: bool,
        column: Option<&str>,
    ) -> anyhow::Result<()> {
        let first = self.first.get_or_insert_with(|| name.clone()).clone();
        if !csv {
            self.sources.push((
                name,
                Source::Text {
                    reader: BufReader::with_capacity(256 * 1024, reader),
                    line: 0,
                },
            ));
            return Ok(());
        }
        let lines = Arc::new(Mutex::new(LineStarts::new()));
        let reader = Tap {
            inner: reader,
            seen: lines.clone(),
            started: false,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(reader);
        let h: Vec<String> = reader
            .byte_headers()
            .map_err(|e| anyhow::anyhow!("{name}: cannot read the CSV header: {e}"))?
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if h.is_empty() || (h.len() == 1 && h[0].is_empty()) {
            return Err(UsageError(format!("{name}: the CSV input has no header row")).into());
        }
        if self
            .header
            .as_ref()
            .is_some_and(|first_header| *first_header != h)
        {
            return Err(UsageError(format!(
                "{name} has a different CSV header than {first}; run them separately"
            ))
            .into());
        }
        // The same header picks the same column.
        let column = pick_column(&h, column)?;
        let column_name = h[column].clone();
        self.header.get_or_insert(h);
        self.sources.push((
            name,
            Source::Csv {
                reader,
                lines,
                column,
                column_name,
            },
        ));
        Ok(())
    }

    /// Whether the next row can be read without waiting on the input (so
    /// rows read so far can wait to be sent on in a larger batch).
    pub fn has_buffered(&self) -> bool {
        match self.sources.last() {
            Some((_, Source::Text { reader, .. })) => !reader.buffer().is_empty(),
            Some((_, Source::Csv { .. })) => true,
            None => false,
        }
    }

    /// The next row, or `None` when every input is read.
    pub fn next_row(&mut self) -> anyhow::Result<Option<Row>> {
        loop {
            let Some((name, source)) = self.sources.last_mut() else {
                return Ok(None);
            };
            match source {
                Source::Text { reader, line } => {
                    let Some(len) = read_line_limited(reader, &mut self.buf, MAX_LINE)
                        .map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?
                    else {
                        self.sources.pop();
                        continue;
                    };
                    *line += 1;
                    if *line == 1 && self.buf.starts_with("\u{feff}".as_bytes()) {
                        self.buf.drain(..3);
                    }
                    let trimmed = self.buf.trim_ascii();
                    if len <= MAX_LINE && (trimmed.is_empty() || trimmed.starts_with(b"#")) {
                        continue;
                    }
                    return Ok(Some(row_from_bytes(*line, &self.buf, len, None)));
                }
                Source::Csv {
                    reader,
                    lines,
                    column,
                    column_name,
                } => {
                    let more = reader
                        .read_byte_record(&mut self.record)
                        .map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
                    if !more {
                        self.sources.pop();
                        continue;
                    }
                    let line = self.record.position().map_or(0, |p| {
                        lines
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .line_from(p.byte())
                            .unwrap_or(p.line())
                    });
                    let columns: Vec<String> = self
                        .record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    let Some(field) = self.record.get(*column) else {
                        return Ok(Some(Row {
                            line,
                            address: String::new(),
                            parsed: invalid(format!(
                                "line {line} has no value in the '{column_name}' column"
                            )),
                            columns: Some(columns),
                        }));
                    };
                    let field = field.to_vec();
                    let len = field.len();
                    return Ok(Some(row_from_bytes(line, &field, len, Some(columns))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, usize)> {
        let mut r = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(len) = read_line_limited(&mut r, &mut buf, max).unwrap() {
            out.push((buf.clone(), len));
        }
        out
    }

    #[test]
    fn line_reading() {
        let got = lines(b"a@b.de\r\n\nlonglonglong\nlast", 5);
        assert_eq!(
            got,
            vec![
                (b"a@b.d".to_vec(), 7),
                (vec![], 0),
                (b"longl".to_vec(), 12),
                (b"last".to_vec(), 4)
            ]
        );
        assert_eq!(lines(b"x\r\n", 100), vec![(b"x".to_vec(), 1)]);
        assert!(lines(b"", 100).is_empty());
    }

    #[test]
    fn columns() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pick_column(&h(&["name", "E-Mail", "email"]), None).unwrap(),
            1
        );
        assert_eq!(pick_column(&h(&["\u{feff}Email", "x"]), None).unwrap(), 0);
        assert_eq!(pick_column(&h(&["name", "contact"]), None).unwrap(), 0);
        assert_eq!(
            pick_column(&h(&["name", "Contact"]), Some("contact")).unwrap(),
            1
        );
        assert!(pick_column(&h(&["name"]), Some("mail"))
            .unwrap_err()
            .0
            .contains("header has: name"));
    }

    fn rows(bytes: &'static [u8], format: InputFormat) -> Vec<Row> {
        let mut inputs = Inputs::from_reader("mem", Box::new(bytes), format, None).unwrap();
        let mut out = Vec::new();
        while let Some(row) = inputs.next_row().unwrap() {
            out.push(row);
        }
        out
    }

    #[test]
    fn from_reader_reads_text_and_csv() {
        let text = rows(
            b"\xef\xbb\xbfa@b.de\r\n# note\n\n  c@d.de \n\xff\n",
            InputFormat::Text,
        );
        let got: Vec<(u64, &str, bool)> = text
            .iter()
            .map(|r| (r.line, r.address.as_str(), r.parsed.is_ok()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "a@b.de", true),
                (4, "c@d.de", true),
                (5, "\u{fffd}", false)
            ]
        );
        let mut inputs = Inputs::from_reader(
            "mem.csv",
            Box::new(&b"name,Email\nAnn,a@b.de\nBob\n"[..]),
            InputFormat::Csv,
            None,
        )
        .unwrap();
        assert_eq!(
            inputs.header.as_deref(),
            Some(&["name".to_string(), "Email".to_string()][..])
        );
        let ann = inputs.next_row().unwrap().unwrap();
        assert_eq!((ann.line, ann.address.as_str()), (2, "a@b.de"));
        let bob = inputs.next_row().unwrap().unwrap();
        assert!(bob
            .parsed
            .unwrap_err()
            .detail
            .contains("no value in the 'Email' column"));
        assert!(inputs.next_row().unwrap().is_none());
        let e = Inputs::from_reader("t", Box::new(&b""[..]), InputFormat::Text, Some("x"));
        assert!(e.err().unwrap().is::<UsageError>());
        let e = Inputs::from_reader("e.csv", Box::new(&b""[..]), InputFormat::Csv, None);
        assert!(e.err().unwrap().to_string().contains("no header row"));
    }

    /// Found by the `input` fuzz target: after a CRLF (or blank lines) the
    /// csv crate's record position is the line before the record, so two
    /// rows had the same line number and CRLF files were numbered one line
    /// early.
    #[test]
    fn csv_rows_are_numbered_by_their_first_line() {
        let lines = |bytes: &'static [u8]| -> Vec<(u64, String)> {
            let mut inputs =
                Inputs::from_reader("m.csv", Box::new(bytes), InputFormat::Csv, None).unwrap();
            let mut out = Vec::new();
            while let Some(r) = inputs.next_row().unwrap() {
                out.push((r.line, r.address));
            }
            out
        };
        let want = |v: &[(u64, &str)]| -> Vec<(u64, String)> {
            v.iter().map(|(l, a)| (*l, a.to_string())).collect()
        };
        assert_eq!(
            lines(b"n,email\r\nA,a@b.zz\r\nB,\"c@d\r\n.zz\"\r\nC,e@f.zz\r\n\r\n\r\nD,g@h.zz\r\n"),
            want(&[
                (2, "a@b.zz"),
                (3, "c@d\r\n.zz"),
                (5, "e@f.zz"),
                (8, "g@h.zz")
            ])
        );
        assert_eq!(
            lines(b"n,email\nA,a@b.zz\nB,\"c@d\n.zz\"\nC,e@f.zz\n\nD,g@h.zz"),
            want(&[(2, "a@b.zz"), (3, "c@d\n.zz"), (5, "e@f.zz"), (7, "g@h.zz")])
        );
        // The fuzz case, shortened: a record ending in a bare CR, then a
        // quoted field over three lines.
        assert_eq!(
            lines(b"n,email\n\"n8\",x@y.zz\r\n\"# c\r\nlast\",u@v.zz\n"),
            want(&[(2, "x@y.zz"), (3, "u@v.zz")])
        );
        // Lines are counted by `\n`, as in text input; a bare CR ends a
        // record (the csv crate's rule), so two records share a line.
        assert_eq!(
            lines(b"n,email\nA,a@b.zz\rB,c@d.zz\n"),
            want(&[(2, "a@b.zz"), (2, "c@d.zz")])
        );
    }

    /// Found by the `input` fuzz target: the csv parser strips a
    /// byte-order mark only when its first read holds all of it, so a BOM
    /// that came in pieces (a slow pipe) became part of the header.
    #[test]
    fn csv_bom_in_pieces() {
        let pieces = (&b"\xef"[..])
            .chain(&b"\xbb"[..])
            .chain(&b"\xbf\r\nemail\na@b.zz\n"[..]);
        let mut inputs =
            Inputs::from_reader("p.csv", Box::new(pieces), InputFormat::Csv, None).unwrap();
        assert_eq!(inputs.header.as_deref(), Some(&["email".to_string()][..]));
        let row = inputs.next_row().unwrap().unwrap();
        assert_eq!((row.line, row.address.as_str()), (3, "a@b.zz"));
        assert!(inputs.next_row().unwrap().is_none());
    }

    #[test]
    fn junk_rows() {
        let r = row_from_bytes(3, &[0xff, 0xfe, b'@', b'x'], 4, None);
        assert!(r.parsed.unwrap_err().detail.contains("not valid UTF-8"));
        let r = row_from_bytes(4, &[b'a'; 300], 2_000_000, None);
        assert!(r.parsed.unwrap_err().detail.contains("2000000 bytes"));
        assert!(r.address.ends_with('…'));
    }
}

/// Property tests: arbitrary text gives exactly one row per line that is
/// not blank or a comment, in order, however the bytes arrive; CSV gives
/// one row per record.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Hands out at most `chunk` bytes per read, so lines, CRLFs and
    /// multi-byte characters are split across reads.
    struct Chunked {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn read_all(data: Vec<u8>, chunk: usize, format: InputFormat) -> Vec<Row> {
        let reader = Chunked { data, at: 0, chunk };
        let mut inputs = Inputs::from_reader("mem", Box::new(reader), format, None).unwrap();
        let mut rows = Vec::new();
        while let Some(row) = inputs.next_row().unwrap() {
            rows.push(row);
        }
        rows
    }

    proptest! {
        #[test]
        fn one_row_per_line_in_order(
            lines in prop::collection::vec("[ a-z@.#\t\r\u{feff}é\u{0}-]{0,12}", 0..20),
            crlf in any::<bool>(),
            final_newline in any::<bool>(),
            chunk in prop::sample::select(vec![1usize, 2, 3, 5, 4096]),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(end);
            if final_newline && !lines.is_empty() {
                text.push_str(end);
            }
            let rows = read_all(text.clone().into_bytes(), chunk, InputFormat::Text);
            // Exactly the lines that are neither blank nor comments.
            let mut want = Vec::new();
            let mut raw_lines: Vec<&str> = text.split('\n').collect();
            if text.is_empty() || text.ends_with('\n') {
                raw_lines.pop();
            }
            for (i, line) in raw_lines.into_iter().enumerate() {
                let mut line = line.strip_suffix('\r').unwrap_or(line);
                if i == 0 {
                    line = line.strip_prefix('\u{feff}').unwrap_or(line);
                }
                let t = line.trim_ascii();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                want.push((i as u64 + 1, line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')));
            }
            let got: Vec<(u64, &str)> = rows.iter().map(|r| (r.line, r.address.as_str())).collect();
            prop_assert_eq!(got, want);
            for row in &rows {
                prop_assert_eq!(&row.parsed, &parse_address(&row.address));
            }
        }

        #[test]
        fn one_row_per_csv_record_numbered_by_its_line(
            records in prop::collection::vec(("[a-z ]{0,6}", "[ a-z@.é]{0,12}", 0usize..3), 0..12),
            crlf in any::<bool>(),
            chunk in prop::sample::select(vec![1usize, 3, 4096]),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("name,email{end}");
            let mut want_lines = Vec::new();
            let mut line = 1;
            for (name, email, blanks) in &records {
                text.push_str(&end.repeat(*blanks));
                line += blanks + 1;
                want_lines.push(line as u64);
                text.push_str(&format!("{name},{email}{end}"));
            }
            let rows = read_all(text.into_bytes(), chunk, InputFormat::Csv);
            prop_assert_eq!(rows.len(), records.len());
            for ((row, (name, email, _)), line) in rows.iter().zip(&records).zip(want_lines) {
                prop_assert_eq!(row.line, line);
                prop_assert_eq!(row.address.as_str(), email.trim());
                prop_assert_eq!(row.columns.as_deref(), Some(&[name.clone(), email.clone()][..]));
            }
        }
    }
}
