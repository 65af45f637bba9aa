//! `prebounce lab serve`: the authoritative test server as a process.

use std::io::Write;
use std::sync::Arc;

use prebounce::lab::{Fault, Lab, LabServer, QueryLog};

use super::args::LabServeArgs;
use super::config::UsageError;

pub async fn serve(args: LabServeArgs) -> anyhow::Result<()> {
    let mut lab = Lab::new();
    for path in &args.zones {
        lab.load_zone_file(path)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    for f in &args.fault {
        lab.add_fault(Fault::parse(f, None).map_err(|e| UsageError(format!("--fault {e}")))?);
    }
    lab.set_drop_rate(args.drop_rate);
    lab.set_lowercase_questions(args.no_case_echo);
    let zones: Vec<String> = lab.zones().iter().map(|z| z.origin().to_string()).collect();
    let log: Option<QueryLog> = args.log_queries.then(|| -> QueryLog {
        Arc::new(|transport: &str, name: &str, rtype: &str| {
            eprintln!("query {transport} {rtype} {name}");
        })
    });
    let server = LabServer::start(lab, args.listen, log)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    // The bound address on stdout (port 0 picks one), the rest on stderr.
    // A reader that went away (`| head -1`) does not stop the server.
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", server.local_addr()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    drop(out);
    eprintln!(
        "prebounce lab: serving {} on {} (UDP and TCP); Ctrl-C stops",
        zones.join(", "),
        server.local_addr()
    );
    shutdown_signal().await;
    eprintln!("prebounce lab: {} queries answered", server.queries());
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
