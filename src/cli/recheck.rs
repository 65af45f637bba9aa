//! `prebounce recheck`: the domains in `retry` whose next check is due
//! (backoff 1 h, 4 h, 12 h, then every 24 h), checked again and recorded.
//! Made for cron or a systemd timer.

use std::io::{self, BufWriter, IsTerminal};
use std::time::Instant;

use prebounce_core::address::Address;
use prebounce_core::verdict::Action;

use super::args::{OutputFormat, RecheckArgs};
use super::config::{dns_setup, history_setup, GuardTripped, UsageError};
use super::input::Row;
use super::output::{Outcome, Writer};

pub async fn run(args: RecheckArgs) -> anyhow::Result<()> {
    if args.history.no_history {
        return Err(UsageError("recheck works on the history: drop --no-history".into()).into());
    }
    let offline = !args.dns.zone.is_empty();
    if offline && args.history.db.db.is_none() {
        return Err(UsageError(
            "recheck with --zone needs --db: lab answers are not recorded otherwise".into(),
        )
        .into());
    }
    let history = history_setup(&args.history, false, false)?
        .ok_or_else(|| UsageError("recheck needs the history database".into()))?;
    let store = history.store.clone();
    let now = history.clock.now();
    let due = store.due(now, args.limit)?;
    let setup = dns_setup(&args.dns, &args.probe, Some(history)).await?;
    let checker = setup.checker.clone();
    let _ = checker.check_resolver(true).await;
    let started = Instant::now();

    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
    // One row per domain: no address column.
    let mut writer = Writer::for_domains(
        format,
        BufWriter::new(io::stdout()),
        checker.policy().clone(),
        checker.prober().is_some(),
    )?;
    let mut pending = Vec::with_capacity(due.len());
    for d in &due {
        pending.push(checker.start(d).await);
    }
    let mut counts = [0usize; 3];
    for (i, (domain, ticket)) in due.iter().zip(pending).enumerate() {
        let report = ticket.wait().await;
        let row = Row {
            line: i as u64 + 1,
            address: domain.clone(),
            columns: None,
            parsed: Ok(Address {
                local: String::new(),
                domain: domain.clone(),
            }),
        };
        writer.write(&Outcome {
            row: &row,
            domain: Some(domain),
            verdict: &report.verdict,
            report: Some(&report),
        })?;
        counts[match report.verdict.action() {
            Action::Deliver => 0,
            Action::Retry => 1,
            Action::Suppress => 2,
        }] += 1;
    }
    writer.flush()?;
    match checker.finish_history() {
        Ok(()) => {}
        Err(e @ prebounce::HistoryError::Guard(_)) => {
            return Err(GuardTripped(e.to_string()).into())
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    if let Some(why) = checker.resolver_unhealthy() {
        return Err(super::config::unhealthy_error(&why).into());
    }
    if !args.quiet {
        eprintln!(
            "prebounce recheck: {} domains due, {} deliver, {} retry, {} suppress, {:.2} s; {}",
            due.len(),
            counts[0],
            counts[1],
            counts[2],
            started.elapsed().as_secs_f64(),
            setup.describe()
        );
    }
    Ok(())
}
