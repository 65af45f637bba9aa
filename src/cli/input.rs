//! The input reader lives in the library ([`prebounce::input`], where the
//! fuzz targets and property tests reach it); this maps the command line's
//! flags and exit codes onto it, says how each input is read, and gives
//! the end-of-run warnings about the input.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use prebounce::input::{self, InputFormat as Format, ReadOptions, ReadStats};
pub use prebounce::input::{pick_column, Row};

use super::args::{CheckArgs, InputFormat, OutputFormat};
use super::config::UsageError;

/// Most rows were `address_invalid`: the wrong column or format, most
/// likely. The rows are written; exit code 4.
#[derive(Debug)]
pub struct InputSuspect(pub String);

impl std::fmt::Display for InputSuspect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputSuspect {}

/// The exit code of [`InputSuspect`].
pub const EXIT_INPUT_SUSPECT: u8 = 4;

/// All the inputs of a run; see [`prebounce::input::Inputs`].
pub struct Inputs(input::Inputs);

impl Inputs {
    /// Opens every input as the flags say, and says on standard error
    /// (unless `--quiet`) how each is read; a usage mistake becomes the
    /// CLI's [`UsageError`] (exit code 2).
    pub fn open(args: &CheckArgs) -> anyhow::Result<Inputs> {
        let opts = ReadOptions {
            format: args.input_format.map(|f| match f {
                InputFormat::Text => Format::Text,
                InputFormat::Csv => Format::Csv,
            }),
            column: args.column.clone(),
            delimiter: args.delimiter,
            no_header: args.no_header,
            lenient: args.lenient,
            extract: args.extract,
        };
        if opts.format == Some(Format::Text)
            && (opts.delimiter.is_some() || opts.no_header || opts.column.is_some())
        {
            return Err(UsageError(
                "--column, --delimiter and --no-header apply to CSV input, not --input-format text"
                    .into(),
            )
            .into());
        }
        let inputs = input::Inputs::open(&args.files, &opts).map_err(|e| match e
            .downcast::<input::UsageError>()
        {
            Ok(usage) => UsageError(usage.0).into(),
            Err(e) => e,
        })?;
        if !args.quiet {
            for info in &inputs.infos {
                eprintln!("prebounce: reading {}", info.describe());
            }
        }
        Ok(Inputs(inputs))
    }
}

impl Deref for Inputs {
    type Target = input::Inputs;

    fn deref(&self) -> &input::Inputs {
        &self.0
    }
}

impl DerefMut for Inputs {
    fn deref_mut(&mut self) -> &mut input::Inputs {
        &mut self.0
    }
}

/// What the end of a run says about the input, made while the inputs are
/// open (they move to the reader thread).
pub struct InputReport {
    stats: Arc<Mutex<ReadStats>>,
    /// How the addresses were read, for the warning.
    read_as: String,
    /// The CSV header, to list the other columns.
    header: Option<Vec<String>>,
}

impl InputReport {
    pub fn new(inputs: &Inputs) -> InputReport {
        let read_as = match inputs.infos.first() {
            Some(info) => match &info.column {
                Some(c) => format!(
                    "were read from column {} '{}' of {} ({})",
                    c.index + 1,
                    c.name,
                    info.name,
                    c.why
                ),
                None => format!(
                    "were read as text, one address per line, from {}",
                    info.name
                ),
            },
            None => String::new(),
        };
        InputReport {
            stats: inputs.stats(),
            read_as,
            header: inputs.header.clone(),
        }
    }

    /// Warns on standard error (whatever `--quiet` says) about ragged rows
    /// and lenient reading, and returns [`InputSuspect`] (exit code 4)
    /// when more than half of at least 10 rows were `address_invalid`.
    pub fn finish(&self, rows: u64, address_invalid: u64) -> Result<(), InputSuspect> {
        let stats = self
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((name, line)) = &stats.first_ragged {
            eprintln!(
                "prebounce: warning: {} row(s) have another number of fields than the header (the first: {name} line {line}); every field is kept (in CSV output, extra fields follow prebounce's columns)",
                stats.ragged
            );
        }
        for why in &stats.lenient {
            eprintln!("prebounce: warning: {why}");
        }
        if rows >= 10 && address_invalid * 2 > rows {
            let hint = match &self.header {
                Some(h) => format!(
                    "if that is the wrong column, name the right one with --column NAME (the header has: {}); for a file without a header row use --no-header",
                    h.join(", ")
                ),
                None => "if the input is CSV, say so with --input-format csv (and --column NAME)"
                    .to_string(),
            };
            return Err(InputSuspect(format!(
                "WARNING: {address_invalid} of {rows} rows are address_invalid. The addresses {}; {hint}",
                self.read_as
            )));
        }
        Ok(())
    }
}

/// The output format an output file's name implies: `.csv`, `.jsonl` or
/// `.ndjson`, `.json`, `.txt` (the table).
pub fn format_for_output(path: &Path) -> Option<OutputFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(OutputFormat::Csv),
        "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
        "json" => Some(OutputFormat::Json),
        "txt" => Some(OutputFormat::Table),
        _ => None,
    }
}

/// `check --shard I/N`: this process takes the rows whose domain hashes to
/// shard `I` of `N` (1-based). The hash is FNV-1a 64 of the shard key's
/// bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3) and the
/// shard is `hash % N + 1`. The key is the address's domain as checked:
/// ASCII (A-labels), lowercase, no trailing dot. A row whose address does
/// not parse takes the text after its last `@`, trimmed, without a
/// trailing dot, ASCII-lowercased (empty when there is no `@`), so every
/// row belongs to exactly one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

/// Shards at most.
pub const MAX_SHARDS: u64 = 65_536;

impl Shard {
    /// Parses `I/N` (1 <= I <= N <= [`MAX_SHARDS`]).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!("'{text}' is not I/N: a shard number I from 1 to N, and the number of shards N (at most {MAX_SHARDS}), e.g. 2/3")
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard takes `row`.
    pub fn holds(&self, row: &Row) -> bool {
        shard_of(&shard_key(row), self.count) == self.index
    }
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard (1-based) of a key among `count`.
pub fn shard_of(key: &str, count: u64) -> u64 {
    fnv1a64(key.as_bytes()) % count.max(1) + 1
}

/// The key a row is sharded by (see [`Shard`]).
pub fn shard_key(row: &Row) -> String {
    match &row.parsed {
        Ok(a) => a.domain.clone(),
        Err(_) => row
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn shard_specs_are_checked() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", "", "1/70000", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
