//! The progress display of `prebounce check`, on standard error when it is
//! a terminal: a bar with the percentage, rows, domains, rows per second and
//! the time left when the inputs' size is known (files), a spinner
//! otherwise (standard input).
//!
//! The table output may go to the same terminal. Rather than hide the bar
//! then, every write to a terminal standard output goes through
//! [`Progress::output`]: whole lines only, written while the bar is
//! cleared, which then redraws below them. Rows and bar never share a line.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use super::input::Row;
use super::summary::thousands;

/// How often the display is refreshed.
const TICK: Duration = Duration::from_millis(200);

/// The progress of a run: counters the writer thread moves, and the bar
/// that shows them (none with `--quiet` or when standard error is not a
/// terminal).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Input bytes of the rows written so far (estimated from each row's
    /// length; see [`Progress::row`]).
    bytes: Arc<AtomicU64>,
    /// Rows written.
    rows: Arc<AtomicU64>,
    total: Option<u64>,
}

/// The total size of the inputs, when every one is a regular file (not
/// standard input, a pipe or a device).
pub fn input_size(files: &[PathBuf]) -> Option<u64> {
    if files.is_empty() {
        return None;
    }
    let mut total = 0u64;
    for f in files {
        if f == Path::new("-") {
            return None;
        }
        let meta = std::fs::metadata(f).ok()?;
        if !meta.is_file() {
            return None;
        }
        total += meta.len();
    }
    Some(total)
}

/// About how many input bytes `row` took (its length, its separators, and
/// for text the skipped blank or comment lines before it, a byte each at
/// least): the bar's position. `last_line` is the previous row's line.
pub fn row_bytes(row: &Row, last_line: &mut u64) -> u64 {
    let bytes = match &row.columns {
        Some(cols) => cols.iter().map(|c| c.len() as u64 + 1).sum(),
        None => {
            // A new file starts its lines again.
            let skipped = row.line.saturating_sub(*last_line + 1);
            row.address.len() as u64 + 1 + skipped
        }
    };
    *last_line = row.line;
    bytes
}

impl Progress {
    /// A display when `show`, sized by `total` input bytes when known.
    pub fn new(show: bool, total: Option<u64>) -> Progress {
        let bar = show.then(|| {
            let target = ProgressDrawTarget::term_like_with_hz(Box::new(Narrow(Term::stderr())), 5);
            match total {
                Some(total) => {
                    let bar = ProgressBar::with_draw_target(Some(total.max(1)), target);
                    bar.set_style(
                        ProgressStyle::with_template("{percent:>3}% [{wide_bar}] {msg}, ETA {eta}")
                            .expect("a valid template")
                            .progress_chars("=> "),
                    );
                    bar
                }
                None => {
                    let bar = ProgressBar::with_draw_target(None, target);
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg}, {elapsed}")
                            .expect("a valid template")
                            .tick_chars("|/-\\ "),
                    );
                    bar
                }
            }
        });
        Progress {
            bar,
            bytes: Arc::default(),
            rows: Arc::default(),
            total,
        }
    }

    /// Counts a written row of about `bytes` input bytes.
    pub fn row(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.rows.fetch_add(1, Ordering::Relaxed);
    }

    /// Redraws with the counts so far; `domains` seen, since `started`.
    pub fn update(&self, domains: usize, started: Instant) {
        let Some(bar) = &self.bar else { return };
        let rows = self.rows.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{} rows, {} domains, {} rows/s",
            thousands(rows),
            thousands(domains as u64),
            thousands((rows as f64 / secs) as u64)
        ));
        match self.total {
            // The estimate stays short of the end until the run is done.
            Some(total) => bar.set_position(
                self.bytes
                    .load(Ordering::Relaxed)
                    .min(total.saturating_sub(1)),
            ),
            None => bar.tick(),
        }
    }

    /// Refreshes the display every [`TICK`] until the task is aborted.
    pub fn spawn_ticker(
        &self,
        checker: prebounce::Checker,
        started: Instant,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.bar.as_ref()?;
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                me.update(checker.domains_seen(), started);
            }
        }))
    }

    /// Clears the display for good (before the summary).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The output, wrapped so that it never collides with the bar: needed
    /// when the output is the terminal the bar is drawn on.
    pub fn output(&self, out: Box<dyn Write + Send>, to_terminal: bool) -> Box<dyn Write + Send> {
        match &self.bar {
            Some(bar) if to_terminal => Box::new(AroundBar {
                inner: out,
                bar: bar.clone(),
                partial: Vec::new(),
            }),
            _ => out,
        }
    }
}

/// Standard error, as a terminal a few columns narrower than it is.
/// indicatif pads the bar's line to the full width, which leaves the cursor
/// in the last column; the `^C` the terminal echoes on Ctrl-C then wraps
/// onto the next line, and the bar's final clearing would clear that line
/// and leave the bar above it. With room to spare, `^C` stays on the bar's
/// line and is cleared with it.
#[derive(Debug)]
struct Narrow(Term);

/// The columns left free at the end of the bar's line.
const SPARE: u16 = 4;

impl TermLike for Narrow {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(SPARE).max(20)
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A writer that writes whole lines only, each batch while the bar is
/// cleared; a partial line waits for its end.
struct AroundBar {
    inner: Box<dyn Write + Send>,
    bar: ProgressBar,
    partial: Vec<u8>,
}

impl AroundBar {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        let AroundBar {
            inner,
            bar,
            partial,
        } = self;
        bar.suspend(|| {
            inner.write_all(partial)?;
            inner.write_all(lines)?;
            inner.flush()
        })?;
        partial.clear();
        Ok(())
    }
}

impl Write for AroundBar {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match buf.iter().rposition(|&b| b == b'\n') {
            None => self.partial.extend_from_slice(buf),
            Some(end) => {
                self.write_lines(&buf[..=end])?;
                self.partial.extend_from_slice(&buf[end + 1..]);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.partial.is_empty() {
            return self.inner.flush();
        }
        self.write_lines(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines reach the output whole, in order, whatever the chunks.
    #[test]
    fn around_bar_writes_whole_lines() {
        #[derive(Clone, Default)]
        struct Sink(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if !buf.is_empty() {
                    self.0.lock().unwrap().push(buf.to_vec());
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let mut w = AroundBar {
            inner: Box::new(sink.clone()),
            bar: ProgressBar::hidden(),
            partial: Vec::new(),
        };
        for chunk in [
            "a@x.zz deliver",
            "\nb@y",
            ".zz retry\nc@z.zz",
            " suppress\n",
        ] {
            w.write_all(chunk.as_bytes()).unwrap();
        }
        w.write_all(b"tail").unwrap();
        let before_flush: Vec<u8> = sink.0.lock().unwrap().concat();
        assert_eq!(
            String::from_utf8(before_flush).unwrap(),
            "a@x.zz deliver\nb@y.zz retry\nc@z.zz suppress\n"
        );
        w.flush().unwrap();
        let all: Vec<u8> = sink.0.lock().unwrap().concat();
        assert!(all.ends_with(b"suppress\ntail"));
    }

    #[test]
    fn input_size_needs_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        std::fs::write(&a, "a@x.zz\n").unwrap();
        std::fs::write(&b, "b@y.zz\nc@z.zz\n").unwrap();
        assert_eq!(input_size(&[a.clone(), b.clone()]), Some(21));
        assert_eq!(input_size(&[]), None, "standard input");
        assert_eq!(input_size(&[a.clone(), PathBuf::from("-")]), None);
        assert_eq!(input_size(&[PathBuf::from("/dev/null")]), None);
        assert_eq!(input_size(&[dir.path().join("missing")]), None);
    }
}
