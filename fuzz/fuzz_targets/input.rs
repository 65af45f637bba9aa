//! The text/CSV input reader on arbitrary bytes.
//!
//! The first byte picks the format (bit 0: CSV), how the bytes arrive
//! (bits 1-2: in chunks of 1, 2 or 7 bytes, or all at once) and whether an
//! overlong first line is prepended (bit 3), so line ends and multi-byte
//! characters split across reads and the 64 KiB limit are exercised; the
//! rest is the file.
//!
//! Invariants: never a panic; every row's syntax check names a syntax
//! reason; rows come in order of their line numbers. For plain text (valid
//! UTF-8 without CR or NUL, so no encoding sniffing applies): no error, and
//! exactly one row per line that is neither blank nor a comment (the
//! reader's own `is_comment`), in order, with the line's number, the
//! trimmed address and the same syntax check as `parse_address`; overlong
//! lines are `address_invalid` rows. Other input may be refused with an
//! error (another encoding, an unterminated quote), as documented.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use prebounce::input::{is_comment, InputFormat, Inputs, MAX_LINE};
use prebounce_core::address::parse_address;
use prebounce_core::verdict::Reason;

/// A reader that hands out at most `chunk` bytes per read (after `fast`
/// bytes handed out in one go, so an overlong line costs little).
struct Chunked {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
    fast: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = if self.at < self.fast {
            self.fast - self.at
        } else {
            self.chunk
        };
        let n = chunk.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// What the text reader must give: `(line number, raw bytes)` per row.
fn expected_text_rows(bytes: &[u8]) -> Vec<(u64, &[u8], usize)> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        lines.pop();
    }
    let mut rows = Vec::new();
    for (i, raw) in lines.into_iter().enumerate() {
        let mut line = raw;
        if line.len() <= MAX_LINE {
            line = line.strip_suffix(b"\r").unwrap_or(line);
        }
        let len = line.len();
        if i == 0 {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        let t = line.trim_ascii();
        if len <= MAX_LINE && (t.is_empty() || is_comment(t)) {
            continue;
        }
        rows.push((i as u64 + 1, line, len));
    }
    rows
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let format = if mode & 1 == 1 {
        InputFormat::Csv
    } else {
        InputFormat::Text
    };
    let chunk = [usize::MAX, 1, 2, 7][usize::from(mode >> 1 & 3)];
    let mut bytes = Vec::new();
    let mut fast = 0;
    if mode & 8 != 0 {
        bytes.resize(MAX_LINE + usize::from(mode >> 4) - 8, b'x');
        bytes.push(b'\n');
        // Small reads only around the limit.
        fast = MAX_LINE - 64;
    }
    bytes.extend_from_slice(rest);
    let reader = Chunked {
        data: bytes.clone(),
        at: 0,
        chunk,
        fast,
    };
    let plain = format == InputFormat::Text
        && std::str::from_utf8(&bytes).is_ok()
        && !bytes.contains(&b'\r')
        && !bytes.contains(&0);
    let mut inputs = match Inputs::from_reader("fuzz", Box::new(reader), format, None) {
        Ok(i) => i,
        Err(e) => {
            assert!(!plain, "plain text refused: {e:#}");
            return;
        }
    };
    let mut rows = Vec::new();
    loop {
        match inputs.next_row() {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => break,
            Err(e) => {
                assert!(!plain, "plain text failed: {e:#}");
                return;
            }
        }
    }
    for row in &rows {
        match &row.parsed {
            Ok(a) => assert!(a.domain.is_ascii()),
            Err(e) => assert!(matches!(
                e.reason,
                Reason::AddressInvalid | Reason::DomainInvalid | Reason::DomainReserved
            )),
        }
    }
    for pair in rows.windows(2) {
        assert!(pair[0].line <= pair[1].line, "rows out of order");
    }
    if !plain {
        return;
    }
    let want = expected_text_rows(&bytes);
    assert_eq!(rows.len(), want.len(), "one row per non-comment line");
    for (row, (line, raw, len)) in rows.iter().zip(want) {
        assert_eq!(row.line, line);
        assert!(row.columns.is_none());
        if len > MAX_LINE {
            assert!(row.parsed.is_err() && row.address.ends_with('…'));
            continue;
        }
        let text = std::str::from_utf8(raw).expect("plain text");
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        assert_eq!(row.address, text);
        assert_eq!(row.parsed, parse_address(text));
    }
});
