//! The command line, as clap sees it. Values are checked here (durations,
//! CIDRs, resolver addresses); `config` turns them into real objects.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use prebounce_core::net::Cidr;

/// Find email addresses that can never be delivered, from DNS, before you send.
///
/// For every address: deliver, retry or suppress, with a stable reason code,
/// an RFC 3463 status code and the MX evidence. Temporary DNS failures are
/// never reported as permanent.
#[derive(Debug, Parser)]
#[command(
    name = "prebounce",
    version = env!("PREBOUNCE_VERSION"),
    max_term_width = 100,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line; a usage error (exit code 2) for what clap
    /// cannot see alone: combinations of flags.
    pub fn parse_checked() -> Cli {
        let cli = Cli::parse();
        if let Err(msg) = cli.validate() {
            Cli::command()
                .error(clap::error::ErrorKind::ArgumentConflict, msg)
                .exit();
        }
        cli
    }

    /// Checks the combinations of flags.
    pub fn validate(&self) -> Result<(), String> {
        let (dns, probe) = match &self.command {
            Command::Check(a) => (&a.dns, &a.probe),
            Command::Domain(a) => (&a.dns, &a.probe),
            Command::Recheck(a) => (&a.dns, &a.probe),
            Command::Audit(a) => (&a.dns, &a.probe),
            Command::Policy(a) => (&a.dns, &a.probe),
            _ => return Ok(()),
        };
        dns.validate()?;
        probe.validate(dns)
    }
}

impl DnsArgs {
    /// The bulk engine sends from sockets of one address family.
    pub fn validate(&self) -> Result<(), String> {
        if self.dns_engine == EngineArg::Bulk {
            let v4 = self.resolver.iter().find(|s| s.is_ipv4());
            let v6 = self.resolver.iter().find(|s| s.is_ipv6());
            if let (Some(v4), Some(v6)) = (v4, v6) {
                return Err(format!(
                    "--resolver {v4} and --resolver {v6}: the bulk DNS engine takes IPv4 or IPv6 resolvers, not both; give resolvers of one family, or use --dns-engine stub"
                ));
            }
        }
        Ok(())
    }
}

impl ProbeArgs {
    /// A canary given as a loopback or private address needs a trusted
    /// network.
    pub fn validate(&self, dns: &DnsArgs) -> Result<(), String> {
        for c in &self.probe_canary {
            if let Some(why) = c.refused(&dns.trusted_net) {
                return Err(format!("--probe-canary {c}: {why}"));
            }
        }
        Ok(())
    }
}

/// The exit codes, as `--help` lists them (README: Exit codes).
pub const EXIT_CODES: &str = "\
Exit codes:
  0  completed, whatever the verdicts (also when the reader of the output goes
     away, as in `| head`)
  1  fatal I/O error: an input or output that cannot be read or written, a
     history database that is corrupt, not prebounce's, or read-only
  2  usage error: a bad flag or value, before anything is resolved or recorded
  3  the history's sanity guard stopped the run, or the resolver failed its
     health check (rows are written, as retry)
  4  most rows invalid: wrong column?";

/// `recheck --help`: what it does, and how to run it on a schedule.
const RECHECK_AFTER_HELP: &str = "\
Run it on a schedule, e.g. every hour from cron:
  17 * * * *  prebounce recheck --quiet --format jsonl >> /var/log/prebounce-recheck.jsonl
or from a systemd timer (OnCalendar=hourly) running
  prebounce recheck --quiet --format jsonl

Exit codes:
  0  completed, whatever the verdicts (also when the reader of the output goes
     away, as in `| head`)
  1  fatal I/O error: an output that cannot be written, a history database
     that is corrupt, not prebounce's, or read-only
  2  usage error: a bad flag or value, before anything is resolved or recorded
  3  the history's sanity guard stopped the run, or the resolver failed its
     health check (rows are written, as retry)
  4  most rows invalid: wrong column?";

/// `audit --help`: the exit codes.
const AUDIT_AFTER_HELP: &str = "\
Exit codes:
  0  completed, findings or not (unless --fail-on-findings)
  1  fatal I/O error: a log that cannot be opened or read (a corrupt gzip
     file), an output that cannot be written, a history database that is
     corrupt, not prebounce's, or read-only
  2  usage error: a bad flag or value
  3  the history's sanity guard stopped the run, or the resolver failed its
     health check (no finding is made from its answers)
  5  --fail-on-findings, and there are findings (they are written first)";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify a list of addresses (text, one per line, or CSV).
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Explain the verdict on one or more domains, with all the evidence.
    #[command(after_help = EXIT_CODES)]
    Domain(DomainArgs),
    /// Check again the domains in `retry` whose next check is due (for cron
    /// or a systemd timer).
    ///
    /// Reads the history database for the domains whose verdict is `retry`
    /// (dns_failure, no_answer, a flip waiting for confirmation) and whose
    /// next check is due (1 h after the first failure, then 4 h, 12 h, then
    /// every 24 h), checks them again with
    /// today's flags, records the readings, and writes one row per domain
    /// (not per address): domain, action, reason, status, detail, warnings,
    /// mx, suggestion. Repeated failures make a domain `dead_domain`
    /// (--dead-after, --dead-min-checks); a recovered domain leaves `retry`.
    /// A summary line goes to standard error unless --quiet.
    #[command(after_help = RECHECK_AFTER_HELP)]
    Recheck(RecheckArgs),
    /// Read MTA logs (Postfix, Exim, KumoMTA) and report mail the MTA sent,
    /// kept retrying or bounced for domains prebounce finds dead.
    ///
    /// Every recipient domain in the logs gets its verdict (history first,
    /// DNS otherwise, the flags of `check`). Findings, one per domain and
    /// log status: `logged_delivered` (the log says sent, the domain cannot
    /// receive mail: the mail went to the relay named), `deferred_dead`
    /// (deferred, the domain is dead), `bounced_preventable` (bounced, the
    /// domain is dead). `retry` verdicts never make a finding. Gzip files
    /// and `-` (standard input) are read too; the format is detected per
    /// file. A summary goes to standard error unless --quiet.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Audit(AuditArgs),
    /// A Postfix SMTP access policy service: rejects RCPT TO a domain that
    /// can never receive mail (null MX, NXDOMAIN...), fails open otherwise.
    ///
    /// Speaks Postfix's policy delegation protocol (SMTPD_POLICY_README) on
    /// TCP or a UNIX socket, many connections at once, one shared cache
    /// and history store. At `protocol_state=RCPT`: suppress is `550 X.Y.Z
    /// prebounce: REASON: DOMAIN ...`, retry is `DUNNO` (or with
    /// `--on-retry defer`, `DEFER_IF_PERMIT 4.Y.Z ...`), deliver is `DUNNO`;
    /// anything else, and every fault of ours (a lookup slower than
    /// --policy-timeout, a malformed request), is `DUNNO`. The first line
    /// on standard output is the address listened on. SIGTERM or Ctrl-C
    /// stops: in-flight requests are answered, the history is written.
    #[command(after_help = POLICY_AFTER_HELP)]
    Policy(PolicyArgs),
    /// Show the observations of a domain, oldest first.
    History(HistoryCmdArgs),
    /// List the suppressed domains, with reason, status and since when.
    Suppressions(SuppressionsArgs),
    /// Forget everything about domains.
    Forget(ForgetArgs),
    /// The offline DNS lab.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Serve the checks over HTTP: a JSON API, Prometheus metrics, an
    /// OpenAPI document and a small page (see README: serve).
    Serve(super::serve::ServeArgs),
    /// The history store, for operators: migrate it, count what it holds.
    #[command(subcommand)]
    Db(DbCommand),
    /// Print a shell completion script on standard output.
    ///
    /// bash: prebounce completions bash > ~/.local/share/bash-completion/completions/prebounce
    /// zsh: prebounce completions zsh > ~/.zfunc/_prebounce (with ~/.zfunc in fpath)
    /// fish: prebounce completions fish > ~/.config/fish/completions/prebounce.fish
    Completions(CompletionsArgs),
    /// Print the manual page (roff, the whole command tree) on standard
    /// output.
    ///
    /// prebounce man > ~/.local/share/man/man1/prebounce.1 (then `man prebounce`),
    /// or read it at once: prebounce man | man -l -
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where the history database is.
#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// The history database: an SQLite file, or a shared PostgreSQL
    /// database as postgres://user:password@host:port/dbname [env:
    /// PREBOUNCE_DB; default: $XDG_DATA_HOME/prebounce/history.sqlite, else
    /// ~/.local/share/prebounce/history.sqlite].
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
}

/// History settings of `check` and `recheck`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "History")]
pub struct HistoryArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Keep no history: no reuse, no escalation, nothing written.
    #[arg(long, conflicts_with = "db")]
    pub no_history: bool,

    /// Reuse an observation younger than this instead of asking DNS again.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration_in(SECS(1), DAYS(365)))]
    pub max_age: Duration,

    /// Temporary failures for this long (and --dead-min-checks checks) make
    /// a domain `dead_domain`.
    #[arg(long, value_name = "DURATION", default_value = "5d", value_parser = duration_in(SECS(3600), DAYS(365)))]
    pub dead_after: Duration,

    /// How many checks that takes, at least.
    #[arg(long, value_name = "N", default_value = "3", value_parser = number_in(limits::DEAD_MIN_CHECKS.0, limits::DEAD_MIN_CHECKS.1))]
    pub dead_min_checks: usize,

    /// Record escalations even when more than 20% of at least 100
    /// previously deliverable domains turn permanent in one run (the sanity
    /// guard, which otherwise stops the run: the resolver looks broken).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RecheckArgs {
    /// At most this many domains (the longest overdue first).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = number_in(limits::RECHECK_LIMIT.0, limits::RECHECK_LIMIT.1))]
    pub limit: usize,

    /// Output format, one row per domain [default: table on a terminal,
    /// else csv].
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<OutputFormat>,

    /// No summary on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub history: HistoryArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,
}

/// `audit --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Aligned columns for reading.
    Table,
    /// One JSON object per finding, one per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// MTA log files (plain or gzip); `-` reads standard input.
    #[arg(value_name = "LOGFILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Output format [default: table on a terminal, else jsonl].
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<AuditFormat>,

    /// Also write a self-contained HTML report.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Exit with code 5 when there are findings.
    #[arg(long)]
    pub fail_on_findings: bool,

    /// The year of syslog timestamps that have none (`Nov 30 04:08:44`)
    /// [default: the latest year that puts a line at most a day after the
    /// file's last modification; for standard input, now].
    #[arg(long, value_name = "YEAR", value_parser = number_in(1970i32, 9999i32))]
    pub year: Option<i32>,

    /// Relays, senders and codes listed per finding, at most.
    #[arg(long, value_name = "N", default_value = "10", value_parser = number_in(1usize, 1000usize))]
    pub top: usize,

    /// No summary on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub history: HistoryArgs,
}

#[derive(Debug, Args)]
pub struct HistoryCmdArgs {
    /// The domain.
    #[arg(value_name = "DOMAIN")]
    pub domain: String,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ExplainFormat::Table)]
    pub format: ExplainFormat,

    #[command(flatten)]
    pub db: DbArgs,
}

/// `suppressions --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for reading.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One JSON array.
    Json,
}

#[derive(Debug, Args)]
pub struct SuppressionsArgs {
    /// Only domains suppressed since this date (2026-11-02 or RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<i64>,

    /// Output format [default: table on a terminal, else csv].
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<ListFormat>,

    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Domains to forget.
    #[arg(value_name = "DOMAIN", required = true)]
    pub domains: Vec<String>,

    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the store or bring its schema up to date (every command that
    /// writes does this too), and print its schema version.
    Migrate(DbOnlyArgs),
    /// Count what the store holds: domains, observations, suppressed and
    /// retry domains.
    Stats(DbOnlyArgs),
}

#[derive(Debug, Args)]
pub struct DbOnlyArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Serve zone files as an authoritative DNS server (UDP and TCP), with
    /// fault injection, until interrupted.
    Serve(LabServeArgs),
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    // A duration is a few parts (`1h30m`); a very long one is a mistake
    // (and summing thousands of parts could overflow).
    if s.len() > 40 {
        let head: String = s.chars().take(20).collect();
        return Err(format!(
            "'{head}...' is not a duration (expected e.g. 500ms, 2s, 5d)"
        ));
    }
    prebounce_core::duration::parse_duration(s)
}

/// A duration in words: `500ms`, `10s`, `5m`, `365d`.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= per && ms % per == 0 {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// A value parser for durations from `min` to `max`.
pub(crate) fn duration_in(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let d = parse_duration(s)?;
        if d < min || d > max {
            return Err(format!(
                "'{s}' is out of range: give a duration from {} to {}",
                show_duration(min),
                show_duration(max)
            ));
        }
        Ok(d)
    }
}

/// A value parser for whole numbers from `min` to `max`.
pub(crate) fn number_in<T>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| match s.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("'{s}' is not a whole number from {min} to {max}")),
    }
}

#[allow(non_snake_case)]
fn MS(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[allow(non_snake_case)]
fn SECS(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[allow(non_snake_case)]
fn DAYS(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// The limits of every number on the command line: zero and absurd values
/// are usage errors, never a panic or a run that records nonsense.
pub mod limits {
    /// `--concurrency`: domains at once.
    pub const CONCURRENCY: (usize, usize) = (1, 100_000);
    /// `--dns-in-flight`: DNS questions in flight.
    pub const DNS_IN_FLIGHT: (usize, usize) = (1, 100_000);
    /// `--qps`.
    pub const QPS: (u32, u32) = (1, 1_000_000);
    /// `--dns-attempts`.
    pub const DNS_ATTEMPTS: (u32, u32) = (1, 10);
    /// `--probe-concurrency`: open connections.
    pub const PROBE_CONCURRENCY: (usize, usize) = (1, 10_000);
    /// `--probe-max-hosts`.
    pub const PROBE_MAX_HOSTS: (usize, usize) = (1, 100);
    /// `--dead-min-checks`.
    pub const DEAD_MIN_CHECKS: (usize, usize) = (1, 1_000);
    /// `recheck --limit`.
    pub const RECHECK_LIMIT: (usize, usize) = (1, 100_000_000);
    /// `--smtp-port`.
    pub const PORT: (u16, u16) = (1, 65_535);
    /// `policy --max-connections`.
    pub const POLICY_CONNECTIONS: (usize, usize) = (1, 100_000);
}

fn parse_date(s: &str) -> Result<i64, String> {
    prebounce_core::history::parse_time(s)
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    s.parse::<Cidr>().map_err(|e| e.to_string())
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    prebounce_dns::parse_server(s)
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("'{s}' is not a share from 0 to 1 (e.g. 0.05)")),
    }
}

fn parse_canary(s: &str) -> Result<prebounce::probe::Canary, String> {
    s.parse()
}

/// How DNS is asked and how its answers are judged (shared by `check` and `domain`).
#[derive(Debug, Args, Clone)]
pub struct DnsArgs {
    /// A DNS resolver to ask instead of the system's (/etc/resolv.conf).
    /// Repeatable; tried in turn.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_server)]
    pub resolver: Vec<SocketAddr>,

    /// Serve this zone file in-process on a loopback port and resolve
    /// against it only: an offline, deterministic run. Repeatable.
    #[arg(long, value_name = "ZONEFILE", conflicts_with = "resolver")]
    pub zone: Vec<PathBuf>,

    /// Timeout of each DNS attempt [default: resolv.conf's, else 3s].
    #[arg(long, value_name = "DURATION", value_parser = duration_in(MS(10), SECS(60)))]
    pub dns_timeout: Option<Duration>,

    /// DNS attempts per question [default: resolv.conf's, else 2].
    #[arg(long, value_name = "N", value_parser = number_in(limits::DNS_ATTEMPTS.0, limits::DNS_ATTEMPTS.1))]
    pub dns_attempts: Option<u32>,

    /// The DNS engine: `bulk` (a rotating pool of sockets on random ports,
    /// adaptive retransmission), `stub` (a socket per question) or `hickory`
    /// (hickory-resolver). Same verdicts.
    #[arg(long, value_enum, default_value_t = EngineArg::Bulk)]
    pub dns_engine: EngineArg,

    /// At most this many new DNS questions per second (be kind to a shared
    /// resolver). Bulk engine only.
    #[arg(long, value_name = "N", value_parser = number_in(limits::QPS.0, limits::QPS.1))]
    pub qps: Option<u32>,

    /// How many domains are checked at once.
    #[arg(long, value_name = "N", default_value = "256", value_parser = number_in(limits::CONCURRENCY.0, limits::CONCURRENCY.1))]
    pub concurrency: usize,

    /// At most this many DNS questions in flight at once [default: three
    /// quarters of --concurrency, 192 at its default]. A resolver's socket
    /// holds about 200 waiting queries with Linux's default buffer; more
    /// are dropped when it falls behind, and each drop waits for a
    /// retransmission.
    #[arg(long, value_name = "N", value_parser = number_in(limits::DNS_IN_FLIGHT.0, limits::DNS_IN_FLIGHT.1))]
    pub dns_in_flight: Option<usize>,

    /// Treat addresses in this network as usable MX destinations although
    /// they are private or loopback (private deployments, tests). Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub trusted_net: Vec<Cidr>,

    /// What to do with a domain that has no MX but has A/AAAA records.
    #[arg(long, value_enum, default_value_t = ImplicitMxArg::Suppress)]
    pub implicit_mx: ImplicitMxArg,

    /// Resolver health check: a domain that must have a usable MX;
    /// repeatable. The resolver is healthy when one of them resolves and a
    /// made-up name under the first one's TLD is NXDOMAIN; otherwise no row
    /// is judged on its answers (retry, warning resolver_unhealthy), nothing
    /// is recorded, and the exit code is 3. `none` turns the check off
    /// [env: PREBOUNCE_DNS_CANARY, comma-separated; default: gmail.com,
    /// yahoo.com, hotmail.com; offline --zone runs: none].
    #[arg(long, value_name = "NAME")]
    pub dns_canary: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// A rotating pool of sockets on random ports, one timer task: for big lists.
    Bulk,
    /// A socket per question, fixed timeouts.
    Stub,
    /// hickory-resolver, as a reference and a fallback.
    Hickory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImplicitMxArg {
    /// `no_mx`: a domain without MX does not want mail.
    Suppress,
    /// Deliver to the domain's own address when it is usable (RFC 5321 §5.1).
    Accept,
    /// Deliver only when the domain's own address answers on port 25.
    Probe,
}

/// Port-25 reachability (shared by `check` and `domain`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Port-25 probe")]
pub struct ProbeArgs {
    /// For every domain DNS finds deliverable, connect to its MX addresses
    /// on port 25 and read the greeting (never MAIL or RCPT). When none
    /// answers: `no_answer` (retry).
    #[arg(long)]
    pub probe: bool,

    /// Addresses tried per domain, in MX preference order.
    #[arg(long, value_name = "N", default_value = "5", value_parser = number_in(limits::PROBE_MAX_HOSTS.0, limits::PROBE_MAX_HOSTS.1))]
    pub probe_max_hosts: usize,

    /// Connections open at once, at most.
    #[arg(long, value_name = "N", default_value = "100", value_parser = number_in(limits::PROBE_CONCURRENCY.0, limits::PROBE_CONCURRENCY.1))]
    pub probe_concurrency: usize,

    /// How long a connection may take to open.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration_in(MS(100), SECS(300)))]
    pub connect_timeout: Duration,

    /// How long the whole greeting may take (a complete `220` reply, at
    /// most 512 bytes a line and 4 KiB in all).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_in(MS(100), SECS(600)))]
    pub greeting_timeout: Duration,

    /// The name to give in EHLO [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    pub helo_name: Option<String>,

    /// The SMTP port to probe.
    #[arg(long, value_name = "PORT", default_value = "25", value_parser = number_in(limits::PORT.0, limits::PORT.1))]
    pub smtp_port: u16,

    /// A host that answers on port 25 whenever outbound port 25 works here,
    /// for the address families of its addresses (IPv4, IPv6); repeatable.
    /// A family whose canaries do not answer (or that has none) is not
    /// probed, and no domain is blamed for it. A name is resolved with the
    /// system resolver, never --resolver; a loopback or private canary
    /// needs --trusted-net. [default: gmail-smtp-in.l.google.com:25, its A
    /// record for IPv4 and its AAAA record for IPv6]
    #[arg(long, value_name = "HOST[:PORT]", value_parser = parse_canary)]
    pub probe_canary: Vec<prebounce::probe::Canary>,
}

/// `check --format` and `recheck --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for reading.
    Table,
    /// CSV with a header; CSV input columns pass through.
    Csv,
    /// One JSON object per row, one per line.
    Jsonl,
    /// One JSON array of the objects jsonl writes.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// One address per line; blank lines and comments (`# ...`) skipped.
    Text,
    /// CSV with a header row.
    Csv,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Input files; none or `-` reads standard input. Text or CSV is
    /// sniffed from the content, whatever the name.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    // Input: how the files are read (src/cli/input.rs).
    /// Input format [default: sniffed: CSV when a delimiter splits the lines
    /// alike, or a .csv/.tsv name; else text, one address per line].
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,

    /// The CSV column holding the address, by header [default: a known
    /// email header (Email, Email Address, E-mail 1 - Value...), else the
    /// column whose values are addresses].
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,

    /// The CSV delimiter: `,` `;` `tab` `|` or another character
    /// [default: sniffed].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// The CSV input has no header row (columns are named column1,
    /// column2...).
    #[arg(long)]
    pub no_header: bool,

    /// After a quote that is never closed, read the rest of the file line
    /// by line (quotes taken literally) instead of stopping with an error.
    #[arg(long)]
    pub lenient: bool,

    /// Take the address out of `Name <a@b.example>` and
    /// `mailto:a@b.example` forms.
    #[arg(long)]
    pub extract: bool,

    /// Output format [default: by -o's extension (.csv; .jsonl or .ndjson;
    /// .json; .txt for the table), else table on a terminal, else csv].
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<OutputFormat>,

    /// Write the results to this file instead of standard output (`-`:
    /// standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// No summary and no progress on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// The CSV column naming where each address was collected (signup form,
    /// import, partner feed): the summary and the report group by it.
    #[arg(long, value_name = "NAME")]
    pub source_column: Option<String>,

    /// Write a self-contained HTML report (charts by source, sources that
    /// stand out, top failing domains, suggested corrections).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Also write the end-of-run summary as JSON to this file (written
    /// with --quiet too, and when interrupted).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Check and write only the rows whose domain falls in shard I of N
    /// (1-based; FNV-1a 64 of the ASCII domain, modulo N, plus 1): N
    /// processes, one per shard, take every row exactly once.
    #[arg(long, value_name = "I/N", value_parser = super::input::Shard::parse)]
    pub shard: Option<super::input::Shard>,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub history: HistoryArgs,
}

/// A CSV delimiter: one ASCII character, or `tab`.
fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() && !matches!(s, "\"" | "\n" | "\r") => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(format!(
            "'{s}' is not a delimiter: give one character (, ; | or tab)"
        )),
    }
}

/// `domain --format` and `history --format` (`text` is the old name of
/// `table`, kept for scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// Readable text.
    #[value(alias = "text")]
    Table,
    /// JSON: `domain`, one object per domain; `history`, one object with
    /// the domain and its observations.
    Json,
    /// One JSON object per line: `domain`, per domain; `history`, per
    /// observation.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct DomainArgs {
    /// Domains to explain (an address is accepted too: its domain is used).
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ExplainFormat::Table)]
    pub format: ExplainFormat,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub history: HistoryArgs,
}

/// `policy --help`: the Postfix side.
const POLICY_AFTER_HELP: &str = "\
Postfix main.cf:
  smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,
      check_policy_service inet:127.0.0.1:10040
  smtpd_policy_service_default_action = DUNNO

Exit codes:
  0  stopped by SIGTERM or Ctrl-C
  1  cannot listen, or a history database that cannot be opened or written
  2  usage error: a bad flag or value
  3  the resolver failed its health check (at startup: never listened; later:
     every answer since was DUNNO), or the history's sanity guard held
     escalations back";

/// Where `policy` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address (port 0 picks a free one).
    Tcp(SocketAddr),
    /// A UNIX socket path.
    Unix(PathBuf),
}

fn parse_listen(s: &str) -> Result<Listen, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("'unix:' names no path: give unix:/path/to/socket".into());
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    let s = s.strip_prefix("inet:").unwrap_or(s);
    s.parse::<SocketAddr>()
        .map(Listen::Tcp)
        .map_err(|_| format!("'{s}' is not IP:PORT (e.g. 127.0.0.1:10040) or unix:PATH"))
}

/// `policy --on-retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnRetryArg {
    /// `DUNNO`: let the mail through; the MTA's own retries deal with it.
    Dunno,
    /// `DEFER_IF_PERMIT 4.Y.Z text`: a temporary rejection, unless another
    /// restriction rejects for good.
    Defer,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Where to listen: IP:PORT (TCP; port 0 picks a free one) or
    /// unix:PATH (a UNIX socket, created mode 0666: restrict access with
    /// its directory's permissions).
    #[arg(long, value_name = "IP:PORT|unix:PATH", default_value = "127.0.0.1:10040", value_parser = parse_listen)]
    pub listen: Listen,

    /// What a `retry` verdict (SERVFAIL, timeout, a verdict awaiting
    /// confirmation) answers. A fault of our own resolver is `DUNNO`
    /// whatever this says.
    #[arg(long, value_enum, default_value_t = OnRetryArg::Dunno)]
    pub on_retry: OnRetryArg,

    /// A request whose lookup takes longer is answered `DUNNO` (the lookup
    /// goes on, and its result serves the next request for the domain).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = duration_in(MS(10), SECS(90)))]
    pub policy_timeout: Duration,

    /// A connection that sends nothing for this long is closed (Postfix
    /// closes its own after 300s, smtpd_policy_service_max_idle).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration_in(SECS(1), DAYS(1)))]
    pub idle_timeout: Duration,

    /// How long a domain's verdict serves before DNS is asked again (a
    /// `retry` verdict: 30 s at most). With history on, a stored
    /// observation younger than --max-age may still be reused.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration_in(SECS(1), DAYS(7)))]
    pub cache_ttl: Duration,

    /// Connections served at once; one more is closed at once (Postfix then
    /// retries, then applies smtpd_policy_service_default_action).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = number_in(limits::POLICY_CONNECTIONS.0, limits::POLICY_CONNECTIONS.1))]
    pub max_connections: usize,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub history: HistoryArgs,
}

#[derive(Debug, Args)]
pub struct LabServeArgs {
    /// Zone files (RFC 1035 format, one zone each). Faults can be written
    /// inside as comments: `;! fault NAME KIND [TYPE]`.
    #[arg(value_name = "ZONEFILE", required = true)]
    pub zones: Vec<PathBuf>,

    /// Address to listen on, UDP and TCP (port 0 picks a free one).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:5300")]
    pub listen: SocketAddr,

    /// Inject a fault: NAME=KIND[/TYPE] with KIND one of servfail, refused,
    /// formerr, timeout, truncate, malformed, lame, oversize; `*.NAME`
    /// covers the subtree.
    #[arg(long, value_name = "NAME=KIND")]
    pub fault: Vec<String>,

    /// Print every query received to standard error.
    #[arg(long)]
    pub log_queries: bool,

    /// Echo every question in lowercase, not in the case it was asked in
    /// (a server that defeats DNS 0x20).
    #[arg(long)]
    pub no_case_echo: bool,

    /// Drop this share of UDP replies at random (0 to 1), to simulate a
    /// lossy network.
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = parse_share)]
    pub drop_rate: f64,
}
