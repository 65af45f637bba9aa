//! The `prebounce` binary: a thin face over the library.

use std::process::ExitCode;

mod cli;

// The run allocates small objects at a high rate on several threads;
// mimalloc is faster at that than glibc's malloc and fragments less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::args::{Cli, Command, LabCommand};
use cli::config::{GuardTripped, UsageError};

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check(args) => cli::check::run(args).await,
        Command::Domain(args) => cli::domain::run(args).await,
        Command::Recheck(args) => cli::recheck::run(args).await,
        Command::History(args) => cli::records::history(args),
        Command::Suppressions(args) => cli::records::suppressions(args),
        Command::Forget(args) => cli::records::forget(args),
        Command::Lab(LabCommand::Serve(args)) => cli::lab::serve(args).await,
    }
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = Cli::parse_checked();
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
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("prebounce: {e:#}");
            ExitCode::from(1)
        }
    }
}
