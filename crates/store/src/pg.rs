//! The shared store: PostgreSQL (feature `postgres`).
//!
//! Many processes on many machines write one history. The same tables as
//! the SQLite store (observations with their encoded evidence, one row per
//! domain with its state and streak), with these rules:
//!
//! - **Migrations** are versioned ([`PG_SCHEMA_VERSION`]) and applied in
//!   one transaction that first takes a transaction-scoped advisory lock
//!   ([`MIGRATION_LOCK`]): processes that start together apply them once.
//! - **Batches**: [`Store::record`] writes a batch in one transaction with
//!   at most six statements whatever its size (rows from arrays with
//!   `unnest`).
//! - **No lost observations**: a batch's new domains are inserted whole
//!   (their key is unique: a concurrent writer of the same new domain waits
//!   and then finds it existing); the rows that existed are locked
//!   (`SELECT ... FOR UPDATE`, in domain order) before their new state is
//!   computed from them, so concurrent writers of one domain take turns and
//!   each one extends the streak the other left.
//! - **Exactly-once escalations**: whether an observation escalates (a
//!   domain turned `dead_domain`, or a deliverable domain turned
//!   suppressed) is decided again under that lock, from the row as it is
//!   now, and kept in `observations.escalation`. When two processes decide
//!   the same escalation from the same old state, the first to commit
//!   escalates; the other's observation is kept as an ordinary one. A
//!   temporary reading (`retry`) decided from a state older than the row's
//!   `dead_domain` is kept in the timeline and the streak but does not
//!   lift the suppression: decided again now, it would be `dead_domain`.
//! - A deadlock or serialization failure retries the batch (up to 5 times).
//!
//! The driver is `tokio-postgres` with a `deadpool` pool, on a small runtime
//! that the store owns: the trait's methods are synchronous and are called
//! from plain threads (the history writer) and `spawn_blocking`; each call
//! hands its work to that runtime and waits on a channel, so it never starts
//! a runtime inside a runtime and works from any thread. TLS is not built
//! in: `sslmode=require` (and `verify-ca`, `verify-full`) is refused with a
//! clear error; `disable` and `prefer` connect in plain text (for loopback,
//! a private network, or a tunnel).
//!
//! The password is never shown: [`redact`] is the only form of the URL
//! that leaves this module.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use prebounce_core::history::{backoff, is_success, is_temporary, History, Reading};
use prebounce_core::verdict::{Action, Reason, Warning};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls, Row};

use crate::{
    extend_streak, format_streak, parse_streak, DomainState, Latest, Observation, Result, Store,
    StoreError, StoreErrorKind, StoreStats, Suppression,
};

/// The schema version this binary writes in PostgreSQL (its own line: 1 is
/// SQLite's schema 2 plus `observations.escalation`; 2 chains each domain's
/// observations by `prev_id`, as SQLite's schema 3 does).
pub const PG_SCHEMA_VERSION: i64 = 2;

/// The advisory lock key taken while migrating: "prebounc" in ASCII.
pub const MIGRATION_LOCK: i64 = 0x7072_6562_6f75_6e63;

/// Connections per process, at most.
const POOL_SIZE: usize = 4;

/// Domains asked per query when reading ahead.
const STATES_CHUNK: usize = 5000;

/// Whether `text` is a PostgreSQL URL (`postgres://` or `postgresql://`).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The URL without its password: `postgres://user:***@host:port/db`
/// (a `password=` parameter is masked too).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The password as written in the URL (to scrub it from driver messages).
fn password_of(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some((user, _)) = rest[..end].rsplit_once('@') {
            if let Some((_, pw)) = user.split_once(':') {
                out.push(pw.to_string());
            }
        }
        if let Some((_, query)) = rest.split_once('?') {
            for kv in query.split('&') {
                if let Some((k, v)) = kv.split_once('=') {
                    if k.eq_ignore_ascii_case("password") {
                        out.push(v.to_string());
                    }
                }
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// The shared store in PostgreSQL.
pub struct PgStore {
    location: String,
    secrets: Vec<String>,
    pool: Pool,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Allowed anywhere, even on a runtime's thread (a plain drop is not).
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// What a query failure says, without the password.
struct Ctx {
    location: String,
    secrets: Vec<String>,
}

impl Ctx {
    fn err(&self, kind: StoreErrorKind, what: &str, e: impl std::fmt::Display) -> StoreError {
        let mut text = format!("history database {}: {what}: {e}", self.location);
        for s in &self.secrets {
            text = text.replace(s.as_str(), "***");
        }
        StoreError::new(kind, text)
    }

    fn io(&self, what: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        let what = what.to_string();
        move |e| self.err(StoreErrorKind::Io, &what, pg_error_text(&e))
    }
}

/// The server's message when there is one (the driver's Display says only
/// "db error").
fn pg_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://` or
    /// `postgresql://`, libpq's URL form) and brings its schema up to date.
    /// A URL this build cannot serve (TLS) is a [`StoreErrorKind::Config`]
    /// error; a server that cannot be reached, [`StoreErrorKind::Open`].
    pub fn open(url: &str) -> Result<PgStore> {
        let location = redact(url);
        let secrets = password_of(url);
        let ctx = Ctx {
            location: location.clone(),
            secrets: secrets.clone(),
        };
        if let Some((_, query)) = url.split_once('?') {
            for kv in query.split('&') {
                if let Some((k, v)) = kv.split_once('=') {
                    if k.eq_ignore_ascii_case("sslmode")
                        && !matches!(
                            v.to_ascii_lowercase().as_str(),
                            "disable" | "prefer" | "allow"
                        )
                    {
                        return Err(StoreError::new(
                            StoreErrorKind::Config,
                            format!(
                                "history database {location}: sslmode={v} asks for TLS, which this prebounce does not build in; use sslmode=disable over loopback, a private network or a tunnel (ssh -L, stunnel)"
                            ),
                        ));
                    }
                }
            }
        }
        // libpq's "allow" means plain first: the driver does not know it.
        let parsed_url = url.replace("sslmode=allow", "sslmode=disable");
        let config = Config::from_str(&parsed_url).map_err(|e| {
            ctx.err(
                StoreErrorKind::Config,
                "not a PostgreSQL URL (postgres://user:password@host:port/dbname)",
                e,
            )
        })?;
        if !matches!(config.get_ssl_mode(), SslMode::Disable | SslMode::Prefer) {
            return Err(ctx.err(
                StoreErrorKind::Config,
                "TLS is not built into this prebounce",
                "use sslmode=disable",
            ));
        }
        let mut config = config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("prebounce");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("prebounce-pg")
            .enable_all()
            .build()
            .map_err(|e| ctx.err(StoreErrorKind::Open, "cannot start its runtime", e))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(120)))
            .create_timeout(Some(Duration::from_secs(15)))
            .build()
            .map_err(|e| ctx.err(StoreErrorKind::Open, "cannot make a pool", e))?;
        let store = PgStore {
            location,
            secrets,
            pool,
            rt: Some(rt),
        };
        let (pool, ctx) = (store.pool.clone(), store.ctx());
        store.run(async move { migrate(&pool, &ctx).await })?;
        Ok(store)
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            location: self.location.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// Runs `f` on the store's runtime and waits for it (from any thread).
    fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let Some(rt) = &self.rt else {
            return Err(self.ctx().err(StoreErrorKind::Io, "closed", "no runtime"));
        };
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(self
                .ctx()
                .err(StoreErrorKind::Io, "the database task stopped", "no answer"))
        })
    }
}

async fn get(pool: &Pool, ctx: &Ctx) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| {
        let text = match &e {
            deadpool_postgres::PoolError::Backend(b) => pg_error_text(b),
            other => other.to_string(),
        };
        ctx.err(StoreErrorKind::Open, "cannot connect", text)
    })
}

/// Schema step `v` (from `v - 1`).
fn step(v: i64) -> &'static str {
    match v {
        1 => {
            "CREATE TABLE observations (
                id BIGSERIAL PRIMARY KEY,
                domain TEXT NOT NULL,
                at BIGINT NOT NULL,
                reading TEXT NOT NULL,
                verdict TEXT NOT NULL,
                action TEXT NOT NULL,
                status TEXT,
                detail TEXT NOT NULL,
                warnings TEXT NOT NULL,
                mx TEXT NOT NULL,
                probe TEXT,
                evidence TEXT,
                counts BOOLEAN NOT NULL,
                escalation BOOLEAN NOT NULL DEFAULT false
            );
            CREATE INDEX observations_domain_at ON observations (domain, at, id);
            CREATE TABLE domains (
                domain TEXT PRIMARY KEY,
                first_seen BIGINT,
                last_at BIGINT,
                action TEXT NOT NULL DEFAULT '',
                verdict TEXT NOT NULL DEFAULT '',
                status TEXT,
                detail TEXT NOT NULL DEFAULT '',
                last_success BIGINT,
                state_since BIGINT,
                retries BIGINT NOT NULL DEFAULT 0,
                next_check BIGINT,
                latest_id BIGINT,
                streak TEXT NOT NULL DEFAULT ''
            );
            CREATE INDEX domains_due ON domains (next_check) WHERE action = 'retry';
            CREATE INDEX domains_suppressed ON domains (state_since) WHERE action = 'suppress';"
        }
        // Each observation names the domain's previous one, and the index
        // on (domain, at, id) goes: one B-tree insert less per
        // observation. Chains are made in id order, and a domain's newest
        // observation becomes its highest id (a batch's ids are taken
        // before its rows are locked, so under concurrent writers the one
        // applied last could have had the lower id: the two were made at
        // the same time).
        2 => {
            "ALTER TABLE observations ADD COLUMN prev_id BIGINT;
            UPDATE observations o SET prev_id = p.prev
              FROM (SELECT id, lag(id) OVER (PARTITION BY domain ORDER BY id) AS prev FROM observations) p
              WHERE p.id = o.id AND p.prev IS NOT NULL;
            UPDATE domains d SET latest_id = m.id
              FROM (SELECT domain, max(id) AS id FROM observations GROUP BY domain) m
              WHERE m.domain = d.domain;
            DROP INDEX observations_domain_at;"
        }
        _ => "",
    }
}

/// Applies the steps the database lacks, once, under the advisory lock.
async fn migrate(pool: &Pool, ctx: &Ctx) -> Result<()> {
    let mut client = get(pool, ctx).await?;
    let e = ctx.io("cannot migrate its schema");
    let tx = client.transaction().await.map_err(&e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(&e)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )
    .await
    .map_err(&e)?;
    let mut v: i64 = tx
        .query_opt(
            "SELECT value FROM prebounce_meta WHERE key = 'schema_version'",
            &[],
        )
        .await
        .map_err(&e)?
        .map(|r| r.get::<_, String>(0).parse().unwrap_or(i64::MAX))
        .unwrap_or(0);
    if v > PG_SCHEMA_VERSION {
        return Err(StoreError::new(
            StoreErrorKind::Newer,
            format!(
                "history database {} was written by a newer prebounce (schema {v}, this one knows {PG_SCHEMA_VERSION}); upgrade prebounce",
                ctx.location
            ),
        ));
    }
    if v == PG_SCHEMA_VERSION {
        return tx.commit().await.map_err(&e);
    }
    while v < PG_SCHEMA_VERSION {
        v += 1;
        tx.batch_execute(step(v)).await.map_err(&e)?;
    }
    tx.execute(
        "INSERT INTO prebounce_meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&PG_SCHEMA_VERSION.to_string()],
    )
    .await
    .map_err(&e)?;
    tx.commit().await.map_err(&e)
}

/// A domain's observations (`$1`), newest first, following `prev_id` from
/// its row's `latest_id` (`UNION`: a damaged chain cannot loop).
const CHAIN: &str = "WITH RECURSIVE chain(id) AS (
        SELECT latest_id FROM domains WHERE domain = $1 AND latest_id IS NOT NULL
        UNION
        SELECT o.prev_id FROM observations o JOIN chain c ON o.id = c.id WHERE o.prev_id IS NOT NULL)";

const COLUMNS: &str =
    "domain, at, reading, verdict, action, status, detail, warnings, mx, probe, evidence, counts";

fn observation(r: &Row) -> Option<Observation> {
    let reading = Reason::from_code(r.get(2))?;
    let verdict = Reason::from_code(r.get(3))?;
    let action = Action::from_name(r.get(4))?;
    Some(Observation {
        domain: r.get(0),
        at: r.get(1),
        reading,
        verdict,
        action,
        status: r.get::<_, Option<String>>(5).and_then(|s| s.parse().ok()),
        detail: r.get(6),
        warnings: r
            .get::<_, String>(7)
            .split(';')
            .filter_map(Warning::from_code)
            .collect(),
        mx: r.get(8),
        probe: r.get(9),
        evidence: r.get(10),
        counts: r.get(11),
    })
}

/// A domain row as a batch sees it, locked.
#[derive(Default)]
struct Prev {
    exists: bool,
    first_seen: i64,
    action: String,
    verdict: String,
    since: i64,
    retries: i64,
    streak: Vec<Reading>,
    last_success: Option<i64>,
    status: Option<String>,
    detail: String,
    /// Its newest observation: the next one's `prev_id`.
    latest_id: Option<i64>,
}

/// The columns of the batch's statements, one vector per column.
#[derive(Default)]
struct Obs {
    id: Vec<i64>,
    domain: Vec<String>,
    at: Vec<i64>,
    reading: Vec<String>,
    verdict: Vec<String>,
    action: Vec<String>,
    status: Vec<Option<String>>,
    detail: Vec<String>,
    warnings: Vec<String>,
    mx: Vec<String>,
    probe: Vec<Option<String>>,
    evidence: Vec<Option<String>>,
    counts: Vec<bool>,
    escalation: Vec<bool>,
    prev_id: Vec<Option<i64>>,
}

/// The domain rows' new states, one vector per column.
#[derive(Default)]
struct Rows {
    domain: Vec<String>,
    first_seen: Vec<i64>,
    last_at: Vec<i64>,
    action: Vec<String>,
    verdict: Vec<String>,
    status: Vec<Option<String>>,
    detail: Vec<String>,
    last_success: Vec<Option<i64>>,
    since: Vec<i64>,
    retries: Vec<i64>,
    next_check: Vec<Option<i64>>,
    latest_id: Vec<i64>,
    streak: Vec<String>,
}

/// Applies `observations` (with their ids), in order, to the states in
/// `prev`: the observation rows to insert and the domain rows to write.
fn apply(observations: &[(i64, &Observation)], prev: &mut HashMap<String, Prev>) -> (Obs, Rows) {
    let mut o_cols = Obs::default();
    // Each domain's latest observation: its id and time.
    let mut latest: HashMap<&str, (i64, i64)> = HashMap::new();
    for &(id, o) in observations {
        let Some(p) = prev.get_mut(&o.domain) else {
            continue;
        };
        let action = o.action.as_str();
        // Another process made it dead_domain after this one read its
        // state: a temporary reading decided from the older state keeps
        // the streak going and does not lift the suppression (decided
        // again now, it would be dead_domain too).
        let sticky = p.exists
            && p.verdict == Reason::DeadDomain.code()
            && o.action == Action::Retry
            && is_temporary(o.reading);
        let escalation = !sticky
            && ((o.verdict == Reason::DeadDomain && p.verdict != Reason::DeadDomain.code())
                || (p.action == Action::Deliver.as_str() && o.action == Action::Suppress));
        if !sticky {
            let same = p.exists && p.action == action;
            p.since = if same { p.since } else { o.at };
            let retry = o.action == Action::Retry;
            p.retries = match () {
                _ if same && retry => p.retries + 1,
                _ if retry => 1,
                _ => 0,
            };
            p.action = action.to_string();
            p.verdict = o.verdict.code().to_string();
            p.status = o.status.map(|s| s.to_string());
            p.detail = o.detail.clone();
        }
        p.streak = extend_streak(
            std::mem::take(&mut p.streak),
            Reading {
                at: o.at,
                reason: o.reading,
                counts: o.counts,
            },
        );
        if is_success(o.reading) {
            p.last_success = Some(o.at);
        }
        p.first_seen = if p.exists {
            p.first_seen.min(o.at)
        } else {
            o.at
        };
        p.exists = true;
        o_cols.prev_id.push(p.latest_id.replace(id));
        latest.insert(&o.domain, (id, o.at));
        o_cols.id.push(id);
        o_cols.domain.push(o.domain.clone());
        o_cols.at.push(o.at);
        o_cols.reading.push(o.reading.code().to_string());
        o_cols.verdict.push(o.verdict.code().to_string());
        o_cols.action.push(action.to_string());
        o_cols.status.push(o.status.map(|s| s.to_string()));
        o_cols.detail.push(o.detail.clone());
        o_cols.warnings.push(Warning::join(&o.warnings));
        o_cols.mx.push(o.mx.clone());
        o_cols.probe.push(o.probe.clone());
        o_cols.evidence.push(o.evidence.clone());
        o_cols.counts.push(o.counts);
        o_cols.escalation.push(escalation);
    }
    let mut d = Rows::default();
    let mut names: Vec<&str> = latest.keys().copied().collect();
    names.sort_unstable();
    for domain in names {
        let (id, at) = latest[domain];
        let p = &prev[domain];
        d.domain.push(domain.to_string());
        d.first_seen.push(p.first_seen);
        d.last_at.push(at);
        d.action.push(p.action.clone());
        d.verdict.push(p.verdict.clone());
        d.status.push(p.status.clone());
        d.detail.push(p.detail.clone());
        d.last_success.push(p.last_success);
        d.since.push(p.since);
        d.retries.push(p.retries);
        d.next_check
            .push((p.action == Action::Retry.as_str()).then(|| at + backoff(p.retries)));
        d.latest_id.push(id);
        d.streak.push(format_streak(&p.streak));
    }
    (o_cols, d)
}

/// The domain rows: `INSERT` with `tail` (`ON CONFLICT ...`).
const WRITE_ROWS: &str =
    "INSERT INTO domains AS d (domain, first_seen, last_at, action, verdict, status, detail,
                           last_success, state_since, retries, next_check, latest_id, streak)
 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[],
                      $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[],
                      $13::text[])
 ";

async fn write_rows(
    tx: &tokio_postgres::Transaction<'_>,
    d: &Rows,
    tail: &str,
) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
    tx.query(
        &format!("{WRITE_ROWS}{tail}"),
        &[
            &d.domain,
            &d.first_seen,
            &d.last_at,
            &d.action,
            &d.verdict,
            &d.status,
            &d.detail,
            &d.last_success,
            &d.since,
            &d.retries,
            &d.next_check,
            &d.latest_id,
            &d.streak,
        ],
    )
    .await
}

async fn insert_observations(
    tx: &tokio_postgres::Transaction<'_>,
    o: &Obs,
) -> std::result::Result<(), tokio_postgres::Error> {
    if o.id.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO observations (id, domain, at, reading, verdict, action, status, detail, warnings, mx, probe, evidence, counts, escalation, prev_id)
         SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bool[], $14::bool[],
                              $15::int8[])",
        &[
            &o.id,
            &o.domain,
            &o.at,
            &o.reading,
            &o.verdict,
            &o.action,
            &o.status,
            &o.detail,
            &o.warnings,
            &o.mx,
            &o.probe,
            &o.evidence,
            &o.counts,
            &o.escalation,
            &o.prev_id,
        ],
    )
    .await?;
    Ok(())
}

/// One batch, in one transaction. First as if every domain were new: the
/// rows that did not exist are inserted whole (a unique key: a concurrent
/// writer of the same new domain waits, then finds it existing). Then the
/// domains that existed are locked (`FOR UPDATE`, in domain order), their
/// observations applied to the rows as they are now, and written.
async fn record_once(
    client: &mut deadpool_postgres::Object,
    observations: &[Observation],
) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // The sequence is looked up once (a materialized CTE), not once per
    // id: `nextval` of a name parses it on every call. 100,000 ids took
    // 271 ms on the server that way, 35 ms this way.
    let ids: Vec<i64> = tx
        .query(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('observations', 'id')::regclass AS seq)
             SELECT nextval(s.seq) FROM s, generate_series(1, $1::int8)",
            &[&(observations.len() as i64)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut ids = ids;
    ids.sort_unstable();
    let numbered: Vec<(i64, &Observation)> = ids.into_iter().zip(observations).collect();
    let mut as_new: HashMap<String, Prev> = observations
        .iter()
        .map(|o| (o.domain.clone(), Prev::default()))
        .collect();
    let (new_obs, new_rows) = apply(&numbered, &mut as_new);
    let inserted: std::collections::HashSet<String> = write_rows(
        &tx,
        &new_rows,
        "ON CONFLICT (domain) DO NOTHING RETURNING domain",
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let existing: Vec<String> = new_rows
        .domain
        .iter()
        .filter(|d| !inserted.contains(*d))
        .cloned()
        .collect();
    // The new domains' observations as computed.
    let mut fresh = Obs::default();
    for i in 0..new_obs.id.len() {
        if inserted.contains(&new_obs.domain[i]) {
            push_obs(&mut fresh, &new_obs, i);
        }
    }
    insert_observations(&tx, &fresh).await?;
    if !existing.is_empty() {
        let rows = tx
            .query(
                "SELECT d.domain, d.first_seen, d.action, d.verdict, d.state_since, d.retries, d.streak,
                        d.last_success, d.status, d.detail, d.latest_id
                 FROM unnest($1::text[]) AS q(domain) JOIN domains d ON d.domain = q.domain
                 ORDER BY d.domain FOR UPDATE OF d",
                &[&existing],
            )
            .await?;
        let mut prev: HashMap<String, Prev> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let first_seen: Option<i64> = r.get(1);
            prev.insert(
                r.get(0),
                Prev {
                    exists: first_seen.is_some(),
                    first_seen: first_seen.unwrap_or(i64::MAX),
                    action: r.get(2),
                    verdict: r.get(3),
                    since: r.get::<_, Option<i64>>(4).unwrap_or(0),
                    retries: r.get(5),
                    streak: parse_streak(r.get(6)),
                    last_success: r.get(7),
                    status: r.get(8),
                    detail: r.get(9),
                    latest_id: r.get(10),
                },
            );
        }
        let theirs: Vec<(i64, &Observation)> = numbered
            .iter()
            .filter(|(_, o)| !inserted.contains(&o.domain))
            .copied()
            .collect();
        let (obs, rows) = apply(&theirs, &mut prev);
        insert_observations(&tx, &obs).await?;
        write_rows(
            &tx,
            &rows,
            "ON CONFLICT (domain) DO UPDATE SET
               first_seen = LEAST(COALESCE(d.first_seen, EXCLUDED.first_seen), EXCLUDED.first_seen),
               last_at = EXCLUDED.last_at, action = EXCLUDED.action, verdict = EXCLUDED.verdict,
               status = EXCLUDED.status, detail = EXCLUDED.detail, last_success = EXCLUDED.last_success,
               state_since = EXCLUDED.state_since, retries = EXCLUDED.retries,
               next_check = EXCLUDED.next_check, latest_id = EXCLUDED.latest_id, streak = EXCLUDED.streak",
        )
        .await?;
    }
    tx.commit().await
}

/// Copies observation `i` of `from` into `to`.
fn push_obs(to: &mut Obs, from: &Obs, i: usize) {
    to.id.push(from.id[i]);
    to.domain.push(from.domain[i].clone());
    to.at.push(from.at[i]);
    to.reading.push(from.reading[i].clone());
    to.verdict.push(from.verdict[i].clone());
    to.action.push(from.action[i].clone());
    to.status.push(from.status[i].clone());
    to.detail.push(from.detail[i].clone());
    to.warnings.push(from.warnings[i].clone());
    to.mx.push(from.mx[i].clone());
    to.probe.push(from.probe[i].clone());
    to.evidence.push(from.evidence[i].clone());
    to.counts.push(from.counts[i]);
    to.escalation.push(from.escalation[i]);
    to.prev_id.push(from.prev_id[i]);
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn states(&self, domains: &[&str]) -> Result<HashMap<String, DomainState>> {
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let client = get(&pool, &ctx).await?;
            let e = ctx.io("cannot read the history");
            let st = client
                .prepare(
                    // From each asked name to its row by the indexes: a
                    // prepared statement's generic plan for `= ANY($1)`
                    // may scan both tables whole, and a plain join with
                    // `unnest` (10 rows, the planner guesses) was planned
                    // as a hash join over the whole table while it was
                    // young and had no statistics: a run into a fresh
                    // store read its domains table 100 times over. The
                    // `LIMIT` keeps the subquery from being merged into a
                    // join: one index probe per name, whatever the
                    // statistics.
                    "SELECT d.domain, d.last_success, d.streak, o.at, o.reading, o.action, o.evidence
                     FROM unnest($1::text[]) AS q(domain)
                     CROSS JOIN LATERAL (SELECT domain, last_success, streak, latest_id FROM domains
                                         WHERE domain = q.domain AND last_at IS NOT NULL LIMIT 1) d
                     LEFT JOIN LATERAL (SELECT at, reading, action, evidence FROM observations
                                        WHERE id = d.latest_id) o ON true",
                )
                .await
                .map_err(&e)?;
            let mut out = HashMap::with_capacity(domains.len());
            for chunk in domains.chunks(STATES_CHUNK) {
                for r in client.query(&st, &[&chunk]).await.map_err(&e)? {
                    let latest = r.get::<_, Option<i64>>(3).map(|at| Latest {
                        at,
                        reading: Reason::from_code(r.get(4)),
                        action: Action::from_name(r.get(5)),
                        evidence: r.get(6),
                    });
                    out.insert(
                        r.get(0),
                        DomainState {
                            latest,
                            history: History {
                                last_success: r.get(1),
                                since_success: parse_streak(r.get(2)),
                            },
                        },
                    );
                }
            }
            Ok(out)
        })
    }

    fn record(&self, observations: &[Observation]) -> Result<()> {
        if observations.is_empty() {
            return Ok(());
        }
        let observations = observations.to_vec();
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let mut client = get(&pool, &ctx).await?;
            let mut tries = 0;
            loop {
                match record_once(&mut client, &observations).await {
                    Ok(()) => return Ok(()),
                    Err(e) if retryable(&e) && tries < 5 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(20 << tries)).await;
                    }
                    Err(e) => {
                        return Err(ctx.err(
                            StoreErrorKind::Io,
                            "cannot record observations",
                            pg_error_text(&e),
                        ))
                    }
                }
            }
        })
    }

    fn due(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let client = get(&pool, &ctx).await?;
            let rows = client
                .query(
                    "SELECT domain FROM domains WHERE action = 'retry' AND next_check <= $1
                     ORDER BY next_check, domain LIMIT $2",
                    &[&now, &(limit.min(i64::MAX as usize) as i64)],
                )
                .await
                .map_err(ctx.io("cannot list domains due"))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn timeline(&self, domain: &str) -> Result<Vec<Observation>> {
        let domain = domain.to_string();
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let client = get(&pool, &ctx).await?;
            let rows = client
                .query(
                    &format!(
                        "{CHAIN} SELECT {COLUMNS} FROM observations
                         WHERE id IN (SELECT id FROM chain) AND domain = $1 ORDER BY at, id"
                    ),
                    &[&domain],
                )
                .await
                .map_err(ctx.io("cannot read the timeline"))?;
            Ok(rows.iter().filter_map(observation).collect())
        })
    }

    fn suppressions(&self, since: Option<i64>) -> Result<Vec<Suppression>> {
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let client = get(&pool, &ctx).await?;
            let rows = client
                .query(
                    "SELECT domain, verdict, status, state_since, last_at, detail FROM domains
                     WHERE action = 'suppress' AND state_since >= $1 ORDER BY state_since, domain",
                    &[&since.unwrap_or(i64::MIN)],
                )
                .await
                .map_err(ctx.io("cannot list suppressions"))?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    Some(Suppression {
                        domain: r.get(0),
                        reason: Reason::from_code(r.get(1))?,
                        status: r.get::<_, Option<String>>(2).and_then(|s| s.parse().ok()),
                        since: r.get::<_, Option<i64>>(3)?,
                        last_seen: r.get::<_, Option<i64>>(4)?,
                        detail: r.get(5),
                    })
                })
                .collect())
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let client = get(&pool, &ctx).await?;
            let v = client
                .query_one(
                    "SELECT (SELECT value FROM prebounce_meta WHERE key = 'schema_version'),
                            (SELECT count(*) FROM domains WHERE last_at IS NOT NULL),
                            (SELECT count(*) FROM observations),
                            (SELECT count(*) FROM domains WHERE action = 'suppress'),
                            (SELECT count(*) FROM domains WHERE action = 'retry')",
                    &[],
                )
                .await
                .map_err(ctx.io("cannot count"))?;
            let n = |i: usize| v.get::<_, i64>(i).max(0) as u64;
            Ok(StoreStats {
                backend: "postgresql",
                schema: v
                    .get::<_, Option<String>>(0)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                domains: n(1),
                observations: n(2),
                suppressed: n(3),
                retry: n(4),
            })
        })
    }

    fn forget(&self, domain: &str) -> Result<usize> {
        let domain = domain.to_string();
        let (pool, ctx) = (self.pool.clone(), self.ctx());
        self.run(async move {
            let mut client = get(&pool, &ctx).await?;
            let e = ctx.io("cannot forget");
            let tx = client.transaction().await.map_err(&e)?;
            tx.execute(
                "SELECT 1 FROM domains WHERE domain = $1 FOR UPDATE",
                &[&domain],
            )
            .await
            .map_err(&e)?;
            let n = tx
                .execute(
                    &format!(
                        "{CHAIN} DELETE FROM observations WHERE id IN (SELECT id FROM chain) AND domain = $1"
                    ),
                    &[&domain],
                )
                .await
                .map_err(&e)?;
            tx.execute("DELETE FROM domains WHERE domain = $1", &[&domain])
                .await
                .map_err(&e)?;
            tx.commit().await.map_err(&e)?;
            Ok(n as usize)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:5432/prebounce"),
            "postgres://app:***@db.internal:5432/prebounce"
        );
        assert_eq!(
            redact("postgresql://app@127.0.0.1/h?password=s3cret&sslmode=disable"),
            "postgresql://app@127.0.0.1/h?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            password_of("postgres://a:p%40ss@h/db?password=x"),
            ["p%40ss", "x"]
        );
        assert!(is_postgres_url("PostgreSQL://h/db"));
        assert!(!is_postgres_url("mysql://h/db"));
    }

    #[test]
    fn tls_is_refused_clearly() {
        let e = PgStore::open("postgres://u:pw@127.0.0.1:1/db?sslmode=require").unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Config);
        assert!(e.message.contains("does not build in"), "{e}");
        assert!(!e.message.contains("pw@"), "{e}");
    }
}
