//! The MTA log reader (`prebounce-mtalog`) on arbitrary bytes.
//!
//! Invariants: never a panic; the first byte picks the reference time and
//! whether a fixed year is given; every line is counted once, by kind;
//! every delivery has a recipient; reading all at once through a
//! `BufRead` and line by line give the same deliveries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prebounce_mtalog::{Line, Reader, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let reference = i64::from(first) * 86_400 * 97;
    let year = (first & 1 == 1).then_some(2026);

    let mut whole = Reader::new();
    whole.start_file(reference, year);
    let mut all = Vec::new();
    whole.read(body, |d| all.push(d)).expect("reading memory never fails");

    let mut by_line = Reader::new();
    by_line.start_file(reference, year);
    let mut each = Vec::new();
    let mut lines = 0u64;
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        lines += 1;
        if let Line::Deliveries(ds) = by_line.feed(&line[..line.len().min(MAX_LINE)]) {
            each.extend(ds);
        }
    }
    let s = whole.stats();
    assert_eq!(s.lines, lines, "one count per line");
    assert_eq!(
        s.lines,
        s.delivery_lines + s.mta_lines + s.other_program + s.blank + s.unrecognized,
        "{s:?}"
    );
    assert_eq!(all, each, "a BufRead and single lines read alike");
    assert_eq!(s.deliveries as usize, all.len());
    for d in &all {
        assert!(!d.recipient.is_empty(), "{d:?}");
    }
});
