//! `prebounce db migrate` and `prebounce db stats`: the history store, for
//! operators (SQLite or PostgreSQL alike).

use std::io::{self, Write};

use super::args::DbCommand;
use super::config::{open_store, StoreMode};

/// Runs a `db` subcommand.
pub fn run(cmd: DbCommand) -> anyhow::Result<()> {
    let (args, migrate) = match &cmd {
        DbCommand::Migrate(a) => (a, true),
        DbCommand::Stats(a) => (a, false),
    };
    let store = open_store(
        &args.db,
        if migrate {
            StoreMode::Write
        } else {
            StoreMode::Read
        },
    )?;
    let stats = store.stats().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = io::stdout().lock();
    if migrate {
        writeln!(
            out,
            "{}: {} schema {}, up to date",
            store.location(),
            stats.backend,
            stats.schema
        )?;
    } else {
        writeln!(
            out,
            "store: {}\nbackend: {} (schema {})\ndomains: {}\nobservations: {}\nsuppressed: {}\nretry: {}",
            store.location(),
            stats.backend,
            stats.schema,
            stats.domains,
            stats.observations,
            stats.suppressed,
            stats.retry
        )?;
    }
    Ok(())
}
