//! The `prebounce` binary: a thin face over the library.

use std::process::ExitCode;

mod cli;

// The run allocates small objects at a high rate on several threads;
// mimalloc is faster at that than glibc's malloc and fragments less.
#[global_allocator]
static ALLOCATOR: cli::alloc::Allocator = cli::alloc::Allocator;

use cli::args::{Cli, Command, LabCommand};
use cli::config::{GuardTripped, UsageError};

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check(args) => cli::check::run(args).await,
        Command::Domain(args) => cli::domain::run(args).await,
        Command::Recheck(args) => cli::recheck::run(args).await,
        Command::Audit(args) => cli::audit::run(args).await,
        Command::Policy(args) => cli::policy::run(args).await,
        Command::History(args) => cli::records::history(args),
        Command::Suppressions(args) => cli::records::suppressions(args),
        Command::Forget(args) => cli::records::forget(args),
        Command::Lab(LabCommand::Serve(args)) => cli::lab::serve(args).await,
        Command::Serve(args) => cli::serve::run(args).await,
        Command::Db(cmd) => cli::db::run(cmd),
        Command::Completions(args) => cli::docs::completions(args.shell),
        Command::Man => cli::docs::man(),
    }
}

/// Whether an error is the reader of our output going away (`| head`): an
/// EPIPE anywhere in the chain, as an I/O error or inside a CSV or JSON
/// writer's error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    fn io_pipe(io: &std::io::Error) -> bool {
        io.kind() == std::io::ErrorKind::BrokenPipe
            || io
                .get_ref()
                .is_some_and(|inner| inner_pipe(inner as &(dyn std::error::Error + 'static)))
    }
    fn inner_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io_pipe(io);
        }
        if let Some(c) = e.downcast_ref::<csv::Error>() {
            return matches!(c.kind(), csv::ErrorKind::Io(io) if io_pipe(io));
        }
        if let Some(j) = e.downcast_ref::<serde_json::Error>() {
            return j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe);
        }
        false
    }
    e.chain().any(inner_pipe)
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = Cli::parse_checked();
    if matches!(
        cli.command,
        Command::Check(_) | Command::Recheck(_) | Command::Audit(_) | Command::Domain(_)
    ) {
        cli::alloc::keep_freed_memory();
        cli::alloc::avoid_huge_pages();
        // Before the runtime: its threads inherit the policy.
        cli::sched::run_as_batch();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("prebounce: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<UsageError>() => {
            eprintln!("prebounce: {e}");
            ExitCode::from(2)
        }
        Err(e) if e.is::<GuardTripped>() => {
            eprintln!("prebounce: {e}");
            ExitCode::from(3)
        }
        Err(e) if e.is::<cli::input::InputSuspect>() => {
            eprintln!("prebounce: {e}");
            ExitCode::from(cli::input::EXIT_INPUT_SUSPECT)
        }
        Err(e) if e.is::<cli::audit::FindingsFound>() => {
            eprintln!("prebounce: {e}");
            ExitCode::from(cli::audit::EXIT_FINDINGS)
        }
        // A closed pipe is a normal end, for every command and format.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prebounce: {e:#}");
            ExitCode::from(1)
        }
    }
}
