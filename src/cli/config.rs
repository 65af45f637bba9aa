//! From checked flags to real objects: the resolver, the lab, the policy.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use prebounce::lab::{Lab, LabServer};
use prebounce::{
    Checker, CheckerConfig, Engine, HealthConfig, ProbeConfig, ProbeSetup, DEFAULT_CANARIES,
};
use prebounce_core::rules::{ImplicitMx, Policy};
use prebounce_dns::SystemConfig;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prebounce::store::{PgStore, SqliteStore, Store};
use prebounce::{Clock, HistorySetup};
use prebounce_core::history::HistoryPolicy;

use super::args::{DbArgs, DnsArgs, EngineArg, HistoryArgs, ImplicitMxArg, ProbeArgs};

/// A mistake in how the command was called: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The sanity guard tripped: exit code 3.
#[derive(Debug)]
pub struct GuardTripped(pub String);

impl fmt::Display for GuardTripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuardTripped {}

/// Where the history is: an SQLite file, or a PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// An SQLite file.
    File(PathBuf),
    /// A `postgres://` or `postgresql://` URL (with its password: show it
    /// only through [`prebounce::store::redact`]).
    Postgres(String),
}

impl fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::File(p) => f.debug_tuple("File").field(p).finish(),
            DbLocation::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&prebounce::store::redact(url))
                .finish(),
        }
    }
}

/// A `--db` value: a URL (`postgres://`, `postgresql://`; other schemes are
/// a usage error naming those), else a file path.
fn parse_location(value: &Path, from: &str) -> anyhow::Result<DbLocation> {
    let text = value.to_string_lossy();
    let scheme = text.split_once("://").map(|(s, _)| s).filter(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    match scheme {
        None => Ok(DbLocation::File(value.to_path_buf())),
        Some(_) if prebounce::store::is_postgres_url(&text) => {
            Ok(DbLocation::Postgres(text.into_owned()))
        }
        Some(scheme) => Err(UsageError(format!(
            "{from}: '{scheme}://' URLs are not supported: name an SQLite file path, or a PostgreSQL database as postgres://user:password@host:port/dbname (or postgresql://)"
        ))
        .into()),
    }
}

/// The history database: `--db`, else `PREBOUNCE_DB`, else the XDG data
/// directory's SQLite file.
pub fn db_location(args: &DbArgs) -> anyhow::Result<DbLocation> {
    if let Some(p) = &args.db {
        return parse_location(p, "--db");
    }
    if let Some(p) = std::env::var_os("PREBOUNCE_DB").filter(|p| !p.is_empty()) {
        return parse_location(&PathBuf::from(p), "PREBOUNCE_DB");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .ok_or_else(|| {
            UsageError("no place for the history database: set --db, PREBOUNCE_DB or HOME, or pass --no-history".into())
        })?;
    Ok(DbLocation::File(
        data.join("prebounce").join("history.sqlite"),
    ))
}

/// What a command does with the history store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// Only reads (`history`, `suppressions`): a read-only store will do.
    Read,
    /// Records or forgets.
    Write,
}

/// Opens the history store: SQLite or PostgreSQL, behind one trait.
pub fn open_store(args: &DbArgs, mode: StoreMode) -> anyhow::Result<Arc<dyn Store>> {
    let to_error = |e: prebounce::store::StoreError| -> anyhow::Error {
        if e.kind == prebounce::store::StoreErrorKind::Config {
            UsageError(e.message).into()
        } else {
            anyhow::anyhow!("{e}")
        }
    };
    match db_location(args)? {
        DbLocation::File(path) => {
            let store = match mode {
                StoreMode::Read => SqliteStore::open_for_reading(&path),
                StoreMode::Write => SqliteStore::open(&path),
            }
            .map_err(to_error)?;
            Ok(Arc::new(store))
        }
        DbLocation::Postgres(url) => Ok(Arc::new(PgStore::open(&url).map_err(to_error)?)),
    }
}

/// The run's clock (`PREBOUNCE_NOW`).
pub fn clock() -> anyhow::Result<Clock> {
    Clock::from_env().map_err(|e| UsageError(e).into())
}

/// The history setup of a run: none with `--no-history`, and none for an
/// offline `--zone` run unless `--db` names a database (lab answers are not
/// observations of the real world).
pub fn history_setup(
    args: &HistoryArgs,
    offline: bool,
    reuse: bool,
) -> anyhow::Result<Option<HistorySetup>> {
    if args.no_history || (offline && args.db.db.is_none()) {
        return Ok(None);
    }
    Ok(Some(HistorySetup {
        store: open_store(&args.db, StoreMode::Write)?,
        policy: HistoryPolicy {
            dead_after: args.dead_after,
            dead_min_checks: args.dead_min_checks,
            ..HistoryPolicy::default()
        },
        max_age: args.max_age,
        reuse,
        force: args.force,
        clock: clock()?,
    }))
}

/// Where DNS questions go, in words for the summary.
pub struct DnsSetup {
    pub checker: Checker,
    /// Keeps the in-process lab alive for `--zone`.
    pub lab: Option<LabServer>,
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub attempts: u32,
    pub engine: EngineArg,
}

impl DnsSetup {
    pub fn describe(&self) -> String {
        let servers: Vec<String> = self.servers.iter().map(|s| s.to_string()).collect();
        let via = if self.lab.is_some() {
            "in-process zone lab"
        } else {
            "resolver"
        };
        let engine = match self.engine {
            EngineArg::Bulk => "bulk",
            EngineArg::Stub => "stub",
            EngineArg::Hickory => "hickory",
        };
        format!(
            "{via} {} ({engine} engine, timeout {:?} x {} attempts)",
            servers.join(", "),
            self.timeout,
            self.attempts
        )
    }
}

/// This machine's host name, for EHLO.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost.localdomain".into())
}

/// The probe setup: each family's canaries (the defaults when none is
/// given) and the trusted networks that may hold a canary.
fn probe_setup(args: &ProbeArgs, dns: &DnsArgs) -> Option<ProbeSetup> {
    if !args.probe && dns.implicit_mx != ImplicitMxArg::Probe {
        return None;
    }
    let canaries = if args.probe_canary.is_empty() {
        prebounce::probe::default_canaries()
    } else {
        args.probe_canary.clone()
    };
    Some(ProbeSetup {
        config: ProbeConfig {
            port: args.smtp_port,
            connect_timeout: args.connect_timeout,
            greeting_timeout: args.greeting_timeout,
            concurrency: args.probe_concurrency,
            max_hosts: args.probe_max_hosts,
            canaries,
            trusted_nets: dns.trusted_net.clone(),
            ..ProbeConfig::new(args.helo_name.clone().unwrap_or_else(host_name))
        },
        all: args.probe,
    })
}

/// `--dns-in-flight`, or its default for `--concurrency`.
pub fn queries_in_flight(args: &DnsArgs) -> usize {
    args.dns_in_flight
        .unwrap_or_else(|| prebounce_dns::default_in_flight(args.concurrency))
}

/// The resolver health check's canaries: `--dns-canary`, else
/// `PREBOUNCE_DNS_CANARY` (comma-separated), else the defaults; `none`
/// turns it off, and offline `--zone` runs need none.
fn health_config(args: &DnsArgs) -> anyhow::Result<HealthConfig> {
    if !args.zone.is_empty() {
        return Ok(HealthConfig::default());
    }
    let named: Vec<String> = if !args.dns_canary.is_empty() {
        args.dns_canary.clone()
    } else if let Ok(v) = std::env::var("PREBOUNCE_DNS_CANARY") {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        DEFAULT_CANARIES.iter().map(|s| s.to_string()).collect()
    };
    if named.iter().any(|n| n.eq_ignore_ascii_case("none")) {
        if named.len() > 1 {
            return Err(UsageError(
                "--dns-canary none turns the health check off: name no other canary".into(),
            )
            .into());
        }
        return Ok(HealthConfig::default());
    }
    let canaries = named
        .iter()
        .map(|n| {
            prebounce_core::address::normalize_domain(n.trim().trim_end_matches('.')).map_err(|e| {
                UsageError(format!(
                    "--dns-canary {n}: not a domain that can have MX records ({})",
                    e.detail
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HealthConfig { canaries })
}

/// The line that ends a run whose resolver failed its health check (exit 3).
pub fn unhealthy_error(why: &str) -> GuardTripped {
    GuardTripped(format!(
        "{why}. No domain was judged on its answers: those rows are retry (warning resolver_unhealthy) and no failure was recorded. Fix the resolver, name another with --resolver, or choose canaries with --dns-canary (none skips the check)"
    ))
}

/// Builds the checker that `args` describe; starts the lab for `--zone`.
pub async fn dns_setup(
    args: &DnsArgs,
    probe: &ProbeArgs,
    history: Option<HistorySetup>,
) -> anyhow::Result<DnsSetup> {
    dns_setup_with(args, probe, history, None).await
}

/// [`dns_setup`] for a long-lived process (`serve`, `policy`): reports and
/// host lookups are cached for `cache_ttl`, then checked again (see
/// `CheckerConfig::cache_ttl`); the face calls `Checker::checkpoint` now
/// and then.
pub async fn long_lived_dns_setup(
    args: &DnsArgs,
    probe: &ProbeArgs,
    history: Option<HistorySetup>,
    cache_ttl: Duration,
) -> anyhow::Result<DnsSetup> {
    dns_setup_with(args, probe, history, Some(cache_ttl)).await
}

async fn dns_setup_with(
    args: &DnsArgs,
    probe: &ProbeArgs,
    history: Option<HistorySetup>,
    cache_ttl: Option<Duration>,
) -> anyhow::Result<DnsSetup> {
    // The command line checks these (Cli::validate); a caller that builds
    // the flags itself gets the same usage errors.
    args.validate().map_err(UsageError)?;
    probe.validate(args).map_err(UsageError)?;
    let policy = Policy {
        implicit_mx: match args.implicit_mx {
            ImplicitMxArg::Suppress => ImplicitMx::Suppress,
            ImplicitMxArg::Accept => ImplicitMx::Accept,
            ImplicitMxArg::Probe => ImplicitMx::Probe,
        },
        trusted_nets: args.trusted_net.clone(),
    };
    let (servers, lab, system) = if !args.zone.is_empty() {
        let mut lab = Lab::new();
        for path in &args.zone {
            lab.load_zone_file(path)
                .map_err(|e| UsageError(e.to_string()))?;
        }
        let server = LabServer::start(lab, SocketAddr::from(([127, 0, 0, 1], 0)), None).await?;
        (
            vec![server.local_addr()],
            Some(server),
            SystemConfig::default(),
        )
    } else if !args.resolver.is_empty() {
        (args.resolver.clone(), None, SystemConfig::default())
    } else {
        let system = SystemConfig::load().map_err(|e| {
            anyhow::anyhow!(
                "cannot read /etc/resolv.conf ({e}); name a resolver with --resolver IP"
            )
        })?;
        if system.servers.is_empty() {
            return Err(UsageError(
                "/etc/resolv.conf names no nameserver; name a resolver with --resolver IP".into(),
            )
            .into());
        }
        let mut servers = system.servers.clone();
        // The bulk engine sends from sockets of one family: with both in
        // resolv.conf, it asks those of the first nameserver's family.
        if args.dns_engine == EngineArg::Bulk {
            let first_v6 = servers[0].is_ipv6();
            if servers.iter().any(|s| s.is_ipv6() != first_v6) {
                servers.retain(|s| s.is_ipv6() == first_v6);
                eprintln!(
                    "prebounce: /etc/resolv.conf names IPv4 and IPv6 nameservers; the bulk engine asks the {} ones ({}); --dns-engine stub asks all",
                    if first_v6 { "IPv6" } else { "IPv4" },
                    servers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        (servers, None, system)
    };
    // resolv.conf's `timeout:` is in whole seconds, at most 30 for glibc; a
    // 0 there must not turn every row into dns_failure.
    let timeout = args.dns_timeout.unwrap_or_else(|| {
        system
            .timeout
            .map(|t| t.clamp(Duration::from_secs(1), Duration::from_secs(30)))
            .unwrap_or(Duration::from_secs(3))
    });
    let attempts = args
        .dns_attempts
        .or(system.attempts)
        .unwrap_or(2)
        .clamp(1, 10);
    let health = health_config(args)?;
    let config = CheckerConfig {
        servers: servers.clone(),
        timeout,
        attempts,
        max_queries_in_flight: queries_in_flight(args),
        concurrency: args.concurrency,
        policy,
        engine: match args.dns_engine {
            EngineArg::Bulk => Engine::Bulk,
            EngineArg::Stub => Engine::Stub,
            EngineArg::Hickory => Engine::Hickory,
        },
        qps: args.qps,
        probe: probe_setup(probe, args),
        history,
        health,
        cache_ttl,
    };
    let checker = Checker::new(config)?;
    Ok(DnsSetup {
        checker,
        lab,
        servers,
        timeout,
        attempts,
        engine: args.dns_engine,
    })
}
