//! `prebounce check`: the streaming pipeline.
//!
//! A reader thread parses rows; a dispatcher starts each new domain's check
//! (bounded by `--concurrency`); the main task waits for rows in input order
//! (a bounded window), renders their verdicts and hands them to a writer
//! thread, which gives the written rows back to the reader to free. Memory
//! grows with distinct domains and the window, never with the input's
//! length.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Instant;

use prebounce::{DomainReport, PendingReport};
use prebounce_core::verdict::{Reason, Verdict};
use tokio::sync::mpsc;

use super::args::{CheckArgs, OutputFormat};
use super::config::{dns_setup, history_setup, GuardTripped, UsageError};
use super::input::{format_for_output, pick_column, InputReport, Inputs, Row};
use super::output::{Outcome, Rendered, Writer};
use super::progress::{input_size, row_bytes, Progress};
use super::report::ReportData;
use super::summary::{Counts, Summary};

/// Rows waiting in order for their domain's verdict.
const WINDOW: usize = 32_768;
/// Rows handed between threads at once.
const BATCH: usize = 1024;

/// The verdict on a row that failed the syntax checks.
fn syntax_verdict(row: &Row, e: &prebounce_core::address::SyntaxError) -> Verdict {
    let domain = row.address.rsplit_once('@').map(|(_, d)| d);
    prebounce::syntax_verdict(e, domain.unwrap_or_default())
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    counts: Counts,
    /// Counts by source, for the summary and the HTML report.
    by_source: Option<ReportData>,
}

/// A row's verdict: known at once (syntax), or after DNS.
enum Step {
    Ready(Verdict),
    Wait(PendingReport),
}

/// A batch of rows on its way to the dispatcher, with history on: the
/// reports of the domains already started when it was read ahead, row by
/// row (empty without history).
struct Ahead {
    rows: Vec<Row>,
    known: Vec<Option<PendingReport>>,
}

/// Rows with their verdicts, for the writer: the rows stay in the vector
/// the reader filled (moved whole, never row by row), the verdicts beside,
/// rendered (by the ordering loop: the writer thread has enough to do with
/// the rest of each row, and a long list's rows come faster than one
/// thread renders and writes them).
struct Judged {
    rows: Vec<Row>,
    judgements: Vec<(Judgement, Arc<Rendered>)>,
}

/// What a row's verdict comes from: its own syntax check, or its domain's
/// report (read there, never copied row by row).
enum Judgement {
    Syntax(Verdict),
    Domain(Arc<DomainReport>),
}

impl Judgement {
    /// What is known of `row` with this judgement.
    fn outcome<'a>(&'a self, row: &'a Row) -> Outcome<'a> {
        let (verdict, report) = match self {
            Judgement::Syntax(v) => (v, None),
            Judgement::Domain(r) => (&r.verdict, Some(r)),
        };
        let domain = match &row.parsed {
            Ok(a) => Some(a.domain.as_str()),
            Err(e) => e.domain.as_deref(),
        };
        Outcome {
            row,
            domain,
            verdict,
            report,
        }
    }
}

enum Done {
    Finished(Box<Tally>),
    /// The reader of our output went away (a closed pipe): stop quietly.
    Closed,
}

/// SIGINT, caught from the start of a run: from then on it stops the run
/// cleanly (see [`run`]) instead of killing the process.
struct Interrupt(Option<tokio::signal::unix::Signal>);

impl Interrupt {
    fn catch() -> Interrupt {
        use tokio::signal::unix::{signal, SignalKind};
        Interrupt(signal(SignalKind::interrupt()).ok())
    }

    /// Waits for the next SIGINT (forever when it could not be caught).
    async fn recv(&mut self) {
        if let Some(s) = &mut self.0 {
            if s.recv().await.is_some() {
                return;
            }
        }
        std::future::pending().await
    }
}

/// The exit code of a run stopped by SIGINT (128 + 2, as shells report a
/// process killed by it).
const EXIT_INTERRUPTED: i32 = 130;

/// Runs `prebounce check`. On SIGINT, every row decided before the first
/// undecided one is written (in order, whole), the history observed so far
/// is recorded, a partial summary says the run was interrupted, and the
/// process exits with [`EXIT_INTERRUPTED`]; a second SIGINT exits at once.
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let mut interrupt = Interrupt::catch();
    let inputs = Inputs::open(&args)?;
    let input_report = InputReport::new(&inputs);
    let header = inputs.header.clone();
    let source_index = match (&args.source_column, &header) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(UsageError(
                "--source-column needs CSV input (a .csv file or --input-format csv)".into(),
            )
            .into())
        }
        (Some(name), Some(h)) => Some(
            pick_column(h, Some(name))
                .map_err(|e| UsageError(format!("--source-column: {}", e.0)))?,
        ),
    };
    let by_source = args.report.is_some() || source_index.is_some();
    let history = history_setup(&args.history, !args.dns.zone.is_empty(), true)?;
    let setup = dns_setup(&args.dns, &args.probe, history).await?;
    let checker = setup.checker.clone();
    let policy = checker.policy().clone();
    // Before any domain: is our resolver healthy? (If not, the rows say so.)
    let _ = checker.check_resolver(true).await;

    // `-o -` is standard output, as `-` is standard input.
    let output = args
        .output
        .as_deref()
        .filter(|p| *p != std::path::Path::new("-"));
    let to_terminal = output.is_none() && io::stdout().is_terminal();
    let by_name = output.and_then(format_for_output);
    let format = args.format.or(by_name).unwrap_or(if to_terminal {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
    let sink: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(io::stdout()),
    };
    let progress = Progress::new(
        !args.quiet && io::stderr().is_terminal(),
        input_size(&args.files),
    );
    let sink = progress.output(sink, to_terminal);
    // Created now, so that a path we cannot write stops the run before it
    // starts; written at the end.
    let summary_file = match &args.summary_json {
        Some(path) => Some((
            path,
            File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        )),
        None => None,
    };
    let mut writer = Writer::new(
        format,
        BufWriter::with_capacity(256 * 1024, sink),
        header,
        policy,
        checker.prober().is_some(),
    )?;
    let mut renderer = writer.renderer();

    let started = Instant::now();

    // Reader thread -> dispatcher, in batches of rows.
    let (row_tx, mut row_rx) = mpsc::channel::<anyhow::Result<Vec<Row>>>(8);
    // Writer thread -> reader thread: the written batches, whose rows the
    // reader frees and whose vectors it fills again. (A row's strings freed
    // by the thread that made them cost about 90 instructions, freed by the
    // writer about 440 and a page reclaim in the allocator; the writer is
    // the busiest thread of a long list.)
    let (spent_tx, spent_rx) = std_mpsc::channel::<Vec<Row>>();
    let shard = args.shard;
    let reader = std::thread::spawn(move || {
        let mut inputs = inputs;
        let fresh = || match spent_rx.try_recv() {
            Ok(mut rows) => {
                rows.clear();
                rows
            }
            Err(_) => Vec::with_capacity(BATCH),
        };
        let mut batch = fresh();
        loop {
            match inputs.next_row() {
                Ok(Some(row)) => {
                    // --shard: another process takes this row.
                    if shard.is_some_and(|s| !s.holds(&row)) {
                        if batch.is_empty() || inputs.has_buffered() {
                            continue;
                        }
                        let full = std::mem::replace(&mut batch, fresh());
                        if row_tx.blocking_send(Ok(full)).is_err() {
                            return;
                        }
                        continue;
                    }
                    batch.push(row);
                    if batch.len() < BATCH && inputs.has_buffered() {
                        continue;
                    }
                    let full = std::mem::replace(&mut batch, fresh());
                    if row_tx.blocking_send(Ok(full)).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    if !batch.is_empty() {
                        let _ = row_tx.blocking_send(Ok(batch));
                    }
                    return;
                }
                Err(e) => {
                    if !batch.is_empty() {
                        let _ = row_tx.blocking_send(Ok(std::mem::take(&mut batch)));
                    }
                    let _ = row_tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });

    // Dispatcher -> in-order window: starts each new domain's check.
    let (win_tx, mut win_rx) =
        mpsc::channel::<anyhow::Result<(Vec<Row>, Vec<Step>)>>(WINDOW / BATCH);
    // Read-ahead -> dispatcher: the history of each batch's new domains is
    // read in one pass, a few batches ahead of the dispatcher, so that the
    // store is never waited for domain by domain.
    // The rows whose domain had already started come with its report: the
    // dispatcher need not look it up again.
    let (ahead_tx, mut ahead_rx) = mpsc::channel::<anyhow::Result<Ahead>>(8);
    let ahead_checker = checker.clone();
    let history_on = checker.history_location().is_some();
    let read_ahead = tokio::spawn(async move {
        while let Some(item) = row_rx.recv().await {
            let item = match item {
                // (Without history there is nothing to read.)
                Ok(rows) if history_on => {
                    let mut known = Vec::with_capacity(rows.len());
                    let mut fresh: Vec<String> = Vec::new();
                    for row in &rows {
                        let started = row.parsed.as_ref().ok().and_then(|a| {
                            match ahead_checker.started(&a.domain) {
                                None => {
                                    fresh.push(a.domain.clone());
                                    None
                                }
                                known => known,
                            }
                        });
                        known.push(started);
                    }
                    fresh.sort_unstable();
                    fresh.dedup();
                    ahead_checker.read_ahead(fresh).await;
                    Ok(Ahead { rows, known })
                }
                Ok(rows) => Ok(Ahead {
                    rows,
                    known: Vec::new(),
                }),
                Err(e) => Err(e),
            };
            if ahead_tx.send(item).await.is_err() {
                return;
            }
        }
    });

    let dispatch_checker = checker.clone();
    let dispatcher = tokio::spawn(async move {
        while let Some(item) = ahead_rx.recv().await {
            let item = match item {
                Ok(Ahead { rows, known }) => {
                    let mut steps = Vec::with_capacity(rows.len());
                    let mut known = known.into_iter();
                    for row in &rows {
                        let started = known.next().flatten();
                        steps.push(match (&row.parsed, started) {
                            (Ok(_), Some(report)) => Step::Wait(report),
                            (Ok(a), None) => Step::Wait(dispatch_checker.start(&a.domain).await),
                            (Err(e), _) => Step::Ready(syntax_verdict(row, e)),
                        });
                    }
                    Ok((rows, steps))
                }
                Err(e) => Err(e),
            };
            if win_tx.send(item).await.is_err() {
                return;
            }
        }
    });

    // Writer thread.
    let (out_tx, out_rx) = std_mpsc::sync_channel::<Judged>(16);
    let counter = progress.clone();
    let writer_thread = std::thread::spawn(move || -> io::Result<Done> {
        let mut tally = Tally {
            by_source: by_source.then(ReportData::default),
            ..Tally::default()
        };
        let mut last_line = 0;
        for Judged { rows, judgements } in out_rx {
            for (row, (judgement, rendered)) in rows.iter().zip(judgements) {
                let outcome = judgement.outcome(row);
                let verdict = outcome.verdict;
                if let Some(data) = tally.by_source.as_mut() {
                    let source = match (source_index, &row.columns) {
                        (Some(i), Some(cols)) => cols
                            .get(i)
                            .map(|s| s.trim())
                            .filter(|s| !s.is_empty())
                            .unwrap_or("(none)"),
                        _ => "all",
                    };
                    data.add(source, outcome.domain, verdict);
                }
                match writer.write_rendered(&outcome, &rendered) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Done::Closed),
                    Err(e) => return Err(e),
                }
                tally.counts.add(verdict.action(), verdict.reason);
                counter.row(row_bytes(row, &mut last_line));
            }
            // (The reader may have finished: the rows are then freed here.)
            let _ = spent_tx.send(rows);
        }
        match writer.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Done::Closed),
            Err(e) => Err(e),
            Ok(()) => Ok(Done::Finished(Box::new(tally))),
        }
    });

    let ticker = progress.spawn_ticker(checker.clone(), started);

    let mut failure = None;
    let mut interrupted = false;
    'rows: loop {
        let item = tokio::select! {
            biased;
            () = interrupt.recv() => {
                interrupted = true;
                break 'rows;
            }
            item = win_rx.recv() => match item {
                Some(item) => item,
                None => break 'rows,
            },
        };
        let (mut rows, steps) = match item {
            Ok(batch) => batch,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let mut judgements = Vec::with_capacity(steps.len());
        for (row, step) in rows.iter().zip(steps) {
            let judgement = match step {
                Step::Ready(verdict) => Judgement::Syntax(verdict),
                // (A domain checked already needs no wait, nor a look at
                // SIGINT: the rows before the first that waits are written
                // when interrupted.)
                Step::Wait(pending) => match pending.ready() {
                    Ok(report) => Judgement::Domain(report),
                    Err(pending) => {
                        let report = tokio::select! {
                            biased;
                            () = interrupt.recv() => None,
                            report = pending.wait() => Some(report),
                        };
                        let Some(report) = report else {
                            // The rows before this one are written; none after.
                            interrupted = true;
                            break;
                        };
                        Judgement::Domain(report)
                    }
                },
            };
            let rendered = renderer.rendered(&judgement.outcome(row));
            judgements.push((judgement, rendered));
        }
        rows.truncate(judgements.len());
        let out = Judged { rows, judgements };
        if out_tx.send(out).is_err() {
            break 'rows; // the writer stopped: its result says why
        }
        if interrupted {
            break 'rows;
        }
        if checker.guard_tripped() {
            break 'rows; // the resolver looks broken: stop here
        }
    }
    if interrupted {
        // Finishing takes a moment (the output, the history); a second
        // SIGINT does not wait for it.
        tokio::spawn(async move {
            interrupt.recv().await;
            eprintln!("\nprebounce: interrupted again: exiting now");
            std::process::exit(EXIT_INTERRUPTED);
        });
    }
    drop(out_tx);
    drop(win_rx);
    let done = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the output thread panicked"))?;
    dispatcher.abort();
    read_ahead.abort();
    if !interrupted {
        // (When interrupted, the reader may be waiting on a terminal or a
        // pipe that never ends: it is left to the process's end.)
        let _ = reader.join();
    }
    if let Some(t) = ticker {
        t.abort();
    }
    progress.clear();
    let done = done.map_err(|e| anyhow::anyhow!("cannot write the output: {e}"))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let tally = match done {
        Done::Finished(t) => t,
        Done::Closed => return Ok(()),
    };
    match checker.finish_history() {
        Ok(()) => {}
        Err(e @ prebounce::HistoryError::Guard(_)) => {
            return Err(
                GuardTripped(format!("stopped after {} rows: {e}", tally.counts.rows)).into(),
            );
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    if let (Some(path), Some(data)) = (&args.report, &tally.by_source) {
        let settings = super::report::RunSettings::new(&args, &setup);
        std::fs::write(path, super::report::html(data, &settings))
            .map_err(|e| anyhow::anyhow!("cannot write the report {}: {e}", path.display()))?;
    }
    let blocked = match checker.prober() {
        Some(p) => p.blocked().await,
        None => None,
    };
    let summary = Summary::collect(
        &tally.counts,
        started.elapsed(),
        &setup,
        blocked,
        interrupted,
    );
    if let Some((path, mut file)) = summary_file {
        file.write_all(summary.json().as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if !args.quiet {
        eprint!("{}", summary.text());
        if let (Some(_), Some(data)) = (&args.source_column, &tally.by_source) {
            eprint!("{}", data.summary());
        }
    } else {
        if let Some(why) = summary.probe.as_ref().and_then(|p| p.blocked.as_ref()) {
            eprintln!("prebounce: outbound port 25 seems blocked here: {why}; probing stopped");
        }
        if interrupted {
            eprintln!(
                "prebounce: interrupted (SIGINT) after {} rows; the rest of the input was not checked",
                summary.rows
            );
        }
    }
    let input_verdict = input_report.finish(
        tally.counts.rows,
        tally.counts.of_reason(Reason::AddressInvalid),
    );
    if interrupted {
        // Everything is written: the rows, the history, the summary.
        std::process::exit(EXIT_INTERRUPTED);
    }
    if let Some(why) = checker.resolver_unhealthy() {
        return Err(super::config::unhealthy_error(&why).into());
    }
    input_verdict?;
    // The process ends now: freeing every domain's evidence one by one
    // would only cost time (a sixth of a run's CPU in profiles).
    std::mem::forget(setup);
    std::mem::forget(checker);
    Ok(())
}
