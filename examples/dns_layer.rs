//! The DNS layer alone, for the benchmark (`bench/run.py`): the bulk
//! engine's evidence gathering (`Resolver::gather`: the MX query, then A
//! and AAAA of each MX host, hosts shared by domains asked once) for every
//! distinct domain of a list, the way `check` runs it: 256 domains at a
//! time, a task each, at most 192 queries in flight, the same allocator,
//! its settings and the same scheduling policy. Without the decision, the
//! typo analysis, the ordering and the output. Prints wall time, CPU time
//! and the queries, so that `check` on the same list can be set beside it:
//! the difference is what everything above the DNS layer costs.
//!
//! ```sh
//! cargo run --release --example dns_layer -- 127.0.0.1:5300 domains.txt
//! ```
//!
//! A line of the list is a domain or an address (its domain is taken);
//! lines that are not valid are skipped.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use prebounce_dns::bulk::{BulkConfig, BulkTransport};
use prebounce_dns::resolver::Resolver;

// The allocator of the `prebounce` binary, the same file.
#[path = "../src/cli/alloc.rs"]
mod alloc;

// The scheduling policy of its batch commands, the same file.
#[path = "../src/cli/sched.rs"]
mod sched;

#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;

/// Domains at once, as `check`'s default (and its default questions in
/// flight for that).
const CONCURRENCY: usize = 256;

/// User and system CPU seconds of this process so far.
fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, list] = args.as_slice() else {
        eprintln!("usage: dns_layer SERVER:PORT LIST");
        return ExitCode::from(2);
    };
    let Ok(server) = server.parse() else {
        eprintln!("dns_layer: not an address and port: {server}");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dns_layer: cannot read {list}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut seen = HashSet::new();
    let domains: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let domain = l.rsplit('@').next()?.trim();
            prebounce_core::address::normalize_domain(domain).ok()
        })
        .filter(|d| seen.insert(d.clone()))
        .collect();

    alloc::keep_freed_memory();
    alloc::avoid_huge_pages();
    sched::run_as_batch();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let transport = match BulkTransport::new(BulkConfig::new(vec![server])) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("dns_layer: cannot open the sockets: {e}");
                return ExitCode::from(1);
            }
        };
        let resolver = Arc::new(Resolver::new(
            transport,
            prebounce_dns::default_in_flight(CONCURRENCY),
        ));
        let n = domains.len();
        let (user0, sys0) = cpu_seconds();
        let started = Instant::now();
        stream::iter(domains)
            .map(|domain| {
                let resolver = resolver.clone();
                tokio::spawn(async move { resolver.gather(&domain).await })
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|_| async {})
            .await;
        let wall = started.elapsed().as_secs_f64();
        let (user1, sys1) = cpu_seconds();
        let stats = resolver.stats();
        let (user, sys) = (user1 - user0, sys1 - sys0);
        let per_query = (user + sys) / stats.queries.max(1) as f64 * 1e6;
        println!(
            "dns layer: {n} domains, {} queries ({} retransmitted), {wall:.2} s, \
             {:.2} s CPU ({user:.2} user, {sys:.2} system) = {per_query:.1} us per query",
            stats.queries,
            stats.transport.retransmits,
            user + sys
        );
        ExitCode::SUCCESS
    })
}
