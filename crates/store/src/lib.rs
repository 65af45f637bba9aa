//! # prebounce-store
//!
//! The history of domains. Every observation keeps the **evidence** it was
//! judged on (DNS answers, per-target lookups, probes, the typo analysis:
//! [`prebounce_core::evidence::DomainEvidence::encode`], a stable,
//! versioned JSON encoding documented in `docs/evidence-format.md`), the
//! reading that evidence gave, and the verdict of the day as an index for
//! `suppressions` and timelines. The verdict is never reused as such: a
//! reused observation is decided again from its evidence under today's
//! policy. Domains only: addresses are the user's data and stay in the
//! user's files.
//!
//! [`Store`] is the seam for other backends (a shared PostgreSQL later);
//! [`SqliteStore`] is the embedded one: WAL, a busy timeout so concurrent
//! runs on one file wait for each other, versioned migrations applied one
//! step at a time, codes stored as text (rows with codes this version does
//! not know are skipped).
//!
//! [`PgStore`] (feature `postgres`) is the shared one: many processes on
//! many machines, one PostgreSQL database (see its module for the rules).
#![warn(missing_docs)]

mod direct;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
pub use pg::{is_postgres_url, redact, PgStore, MIGRATION_LOCK, PG_SCHEMA_VERSION};

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use direct::Direct;
use prebounce_core::history::{backoff, is_success, History, Reading};
use prebounce_core::ipfmt::push_u64;
use prebounce_core::verdict::{Action, EnhancedStatus, Reason, Warning};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

/// One observation of one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The domain, ASCII lowercase.
    pub domain: String,
    /// When, in seconds since the Unix epoch.
    pub at: i64,
    /// The reason the evidence alone gave, before history.
    pub reading: Reason,
    /// The final reason, after history.
    pub verdict: Reason,
    /// The final action.
    pub action: Action,
    /// The final enhanced status code.
    pub status: Option<EnhancedStatus>,
    /// The detail line.
    pub detail: String,
    /// The warnings.
    pub warnings: Vec<Warning>,
    /// The MX evidence in one line, for timelines.
    pub mx: String,
    /// The probe's status name, when probed.
    pub probe: Option<String>,
    /// The evidence, encoded ([`prebounce_core::evidence::DomainEvidence::encode`]);
    /// `None` for observations recorded before evidence was kept (schema 1).
    pub evidence: Option<String>,
    /// Whether the reading counts toward `dead_domain` (false when made
    /// while our own resolver or probe canary was unhealthy).
    pub counts: bool,
}

/// The newest observation of a domain, as far as reuse needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    /// When.
    pub at: i64,
    /// The reading then; `None` when its code is unknown to this version.
    pub reading: Option<Reason>,
    /// The final action then.
    pub action: Option<Action>,
    /// The encoded evidence, when kept.
    pub evidence: Option<String>,
}

/// What the store knows of a domain before it is checked again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainState {
    /// The newest observation.
    pub latest: Option<Latest>,
    /// Its past: the last success and the readings since (the newest
    /// included).
    pub history: History,
}

/// A suppressed domain, for `prebounce suppressions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The domain.
    pub domain: String,
    /// The reason.
    pub reason: Reason,
    /// The status code.
    pub status: Option<EnhancedStatus>,
    /// Since when it is suppressed (the first observation of the streak).
    pub since: i64,
    /// The latest observation's time.
    pub last_seen: i64,
    /// The detail line.
    pub detail: String,
}

/// What kind of store failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The file or its folder cannot be opened or created.
    Open,
    /// Not an SQLite database at all (corrupt, or another kind of file).
    Corrupt,
    /// An SQLite database, but not prebounce's.
    Foreign,
    /// Written by a newer prebounce.
    Newer,
    /// The store cannot be written (read-only file, folder or mount).
    ReadOnly,
    /// A query or a write failed.
    Io,
    /// The location asks for something this build cannot do (a URL's TLS
    /// mode, a malformed URL): a usage error.
    Config,
}

/// A store failure: the message says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// What kind.
    pub kind: StoreErrorKind,
    /// What happened and what to do.
    pub message: String,
}

impl StoreError {
    fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// A result of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The history store.
pub trait Store: Send + Sync {
    /// Where it is, for summaries (a path, or a URL without password).
    fn location(&self) -> String;
    /// What the store knows of each of `domains` (absent: never seen), in
    /// one pass: a run reads ahead in batches with this.
    fn states(&self, domains: &[&str]) -> Result<HashMap<String, DomainState>>;
    /// Records observations, in one transaction.
    fn record(&self, observations: &[Observation]) -> Result<()>;
    /// Domains in `retry` whose next check is due at `now`, soonest first.
    fn due(&self, now: i64, limit: usize) -> Result<Vec<String>>;
    /// Every observation of a domain, oldest first.
    fn timeline(&self, domain: &str) -> Result<Vec<Observation>>;
    /// Suppressed domains, suppressed since `since` or later.
    fn suppressions(&self, since: Option<i64>) -> Result<Vec<Suppression>>;
    /// Forgets a domain; returns how many observations went.
    fn forget(&self, domain: &str) -> Result<usize>;
    /// What the store holds, for operators (`prebounce db stats`).
    fn stats(&self) -> Result<StoreStats> {
        Err(StoreError::new(
            StoreErrorKind::Io,
            format!("{}: this store keeps no statistics", self.location()),
        ))
    }
}

/// What a store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// The backend: `sqlite` or `postgresql`.
    pub backend: &'static str,
    /// Its schema version (each backend counts its own).
    pub schema: i64,
    /// Domains known.
    pub domains: u64,
    /// Observations kept.
    pub observations: u64,
    /// Domains suppressed now.
    pub suppressed: u64,
    /// Domains in `retry` now.
    pub retry: u64,
}

/// The schema version this binary writes: 4 keeps only the state in a
/// domain's row (its verdict is its newest observation's), 3 chains each
/// domain's observations instead of indexing them, 2 keeps the evidence of
/// every observation (1 kept verdicts only).
pub const SCHEMA_VERSION: i64 = 4;

/// Readings kept per domain since its last success: the first and the
/// newest ones (the rules need the first, the count and the newest).
pub const STREAK_MAX: usize = 64;

/// The streak column: `at:reading:counts` entries, space-separated.
fn parse_streak(text: &str) -> Vec<Reading> {
    text.split_ascii_whitespace()
        .filter_map(|e| {
            let mut p = e.splitn(3, ':');
            let at = p.next()?.parse().ok()?;
            let reason = Reason::from_code(p.next()?)?;
            let counts = p.next() != Some("0");
            Some(Reading { at, reason, counts })
        })
        .collect()
}

fn format_streak(readings: &[Reading]) -> String {
    let mut out = String::new();
    for r in readings {
        if !out.is_empty() {
            out.push(' ');
        }
        if r.at < 0 {
            out.push('-');
        }
        push_u64(&mut out, r.at.unsigned_abs());
        out.push(':');
        out.push_str(r.reason.code());
        out.push_str(if r.counts { ":1" } else { ":0" });
    }
    out
}

/// The streak after `reading`: emptied by a success, else extended (the
/// first and the newest [`STREAK_MAX`] - 1 kept).
fn extend_streak(mut streak: Vec<Reading>, reading: Reading) -> Vec<Reading> {
    if is_success(reading.reason) {
        return Vec::new();
    }
    streak.push(reading);
    if streak.len() > STREAK_MAX {
        streak.drain(1..streak.len() - (STREAK_MAX - 1));
    }
    streak
}

/// The embedded SQLite store: one connection writes, another reads (WAL
/// lets them work side by side).
pub struct SqliteStore {
    path: PathBuf,
    writer: Option<Mutex<Connection>>,
    reader: Mutex<Connection>,
    /// Domains [`Store::states`] found no row for, by their hash (a hint,
    /// see [`SqliteStore::record`]'s use of it: a collision costs a read).
    absent: Mutex<hashbrown::HashSet<u64>>,
    names: hashbrown::DefaultHashBuilder,
}

/// Names kept in [`SqliteStore::absent`] at most: names read and never
/// recorded (a command that only reads) would otherwise stay.
const ABSENT_MAX: usize = 1 << 20;

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.writer.is_none())
            .finish()
    }
}

fn err(path: &Path, what: &str, e: impl fmt::Display) -> StoreError {
    StoreError::new(
        StoreErrorKind::Io,
        format!("history database {}: {what}: {e}", path.display()),
    )
}

fn read_only_error(path: &Path) -> StoreError {
    StoreError::new(
        StoreErrorKind::ReadOnly,
        format!(
            "history database {} is read-only (file, folder or mount): this command records observations; make it writable, name another file with --db, or pass --no-history",
            path.display()
        ),
    )
}

/// Switches a database to WAL. Two processes opening a new database at
/// once can each hold a shared lock and want the exclusive one: SQLite
/// then answers "database is locked" at once, without waiting in the busy
/// handler (it would be a deadlock), so the switch is tried again for up to
/// 30 s.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<()> {
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    let mut pause = Duration::from_millis(5);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::ReadOnly))
}

/// Checks that `conn` is a prebounce history (or empty) and returns its
/// schema version (0 when empty).
fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                format!(
                    "{} is not a prebounce history database ({e}); name another file with --db, or move this one away",
                    path.display()
                ),
            )
        })?;
    if tables.is_empty() {
        return Ok(0);
    }
    if !tables.iter().any(|t| t == "prebounce_meta") {
        return Err(StoreError::new(
            StoreErrorKind::Foreign,
            format!(
                "{} is an SQLite database but not prebounce's (it has the tables {}); name another file with --db",
                path.display(),
                tables.join(", ")
            ),
        ));
    }
    let version = conn
        .query_row(
            "SELECT value FROM prebounce_meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(|e| err(path, "cannot read the schema version", e))?
        .map(|v| v.parse().unwrap_or(i64::MAX))
        .unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(
            StoreErrorKind::Newer,
            format!(
                "{} was written by a newer prebounce (schema {version}, this one knows {SCHEMA_VERSION}); upgrade prebounce",
                path.display()
            ),
        ));
    }
    Ok(version)
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` for reading and writing
    /// and brings its schema up to date. A store that cannot be written is
    /// a [`StoreErrorKind::ReadOnly`] error.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Open,
                    format!(
                        "history database {}: cannot create its folder: {e}",
                        path.display()
                    ),
                )
            })?;
        }
        let open = |flags| {
            Connection::open_with_flags(path, flags).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Open,
                    format!("history database {}: cannot open: {e}", path.display()),
                )
            })
        };
        // NO_MUTEX: each connection is behind a mutex of ours already;
        // SQLite's own, taken on every call, cost as much as the B-trees'
        // key comparisons.
        let conn = open(
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            if path.exists() {
                read_only_error(path)
            } else {
                e
            }
        })?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| err(path, "cannot set a busy timeout", e))?;
        let version = schema_version(&conn, path)?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(read_only_error(path));
        }
        // A new database gets pages of 16 KiB (SQLite's default is 4):
        // a run inserts each new domain at a random place in the domains'
        // B-tree, and larger pages make fewer levels and fewer splits
        // (2.5% fewer instructions for the history writer). Only possible
        // before the first table and the switch to WAL.
        if version == 0 {
            conn.pragma_update(None, "page_size", 16384)
                .map_err(|e| err(path, "cannot set the page size", e))?;
        }
        switch_to_wal(&conn).map_err(|e| {
            if is_read_only(&e) {
                read_only_error(path)
            } else {
                err(path, "cannot switch to WAL", e)
            }
        })?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| err(path, "cannot set synchronous", e))?;
        // Runs write a domain per observation in random key order: a page
        // cache of 32 MiB keeps the B-trees in memory. Not memory-mapped:
        // the mapped pages counted in the process's memory (a fifth more
        // per domain on a million new domains), and every first touch of
        // one was a page fault; without, runs with history took 2-9% less
        // time. Checkpoints every 64 MiB of WAL rather than every 4 MiB: a
        // run writes in long batches, and each checkpoint copies pages
        // again.
        for (pragma, value) in [
            ("cache_size", "-32768"),
            ("mmap_size", "0"),
            ("wal_autocheckpoint", "16384"),
        ] {
            conn.pragma_update(None, pragma, value)
                .map_err(|e| err(path, &format!("cannot set {pragma}"), e))?;
        }
        migrate(&conn, path, version)?;
        let reader = open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        reader
            .busy_timeout(Duration::from_secs(30))
            .map_err(|e| err(path, "cannot set a busy timeout", e))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Some(Mutex::new(conn)),
            reader: Mutex::new(reader),
            absent: Mutex::default(),
            names: Default::default(),
        })
    }

    /// Opens an existing database for reading only (`history`,
    /// `suppressions`): works on a read-only file, folder or mount. Its
    /// schema must be this version's (a writable open migrates it).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        if !path.exists() {
            return Err(StoreError::new(
                StoreErrorKind::Open,
                format!("history database {}: no such file", path.display()),
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let uri = |extra: &str| {
            let mut u = String::from("file:");
            for b in path.to_string_lossy().bytes() {
                match b {
                    b'%' | b'?' | b'#' => u.push_str(&format!("%{b:02X}")),
                    _ => u.push(b as char),
                }
            }
            u.push_str(extra);
            u
        };
        // A WAL database needs its -shm file; where that cannot be made
        // (a read-only folder), read it as immutable: a snapshot.
        let mut last = None;
        for extra in ["?mode=ro", "?immutable=1"] {
            let conn = match Connection::open_with_flags(uri(extra), flags) {
                Ok(c) => c,
                Err(e) => {
                    last = Some(err(path, "cannot open", e));
                    continue;
                }
            };
            let _ = conn.busy_timeout(Duration::from_secs(30));
            match schema_version(&conn, path) {
                Ok(SCHEMA_VERSION) => {
                    return Ok(SqliteStore {
                        path: path.to_path_buf(),
                        writer: None,
                        reader: Mutex::new(conn),
                        absent: Mutex::default(),
                        names: Default::default(),
                    })
                }
                Ok(v) => {
                    return Err(StoreError::new(
                        StoreErrorKind::ReadOnly,
                        format!(
                            "history database {} has schema {v}; open it once with a command that writes (check, recheck) to migrate it",
                            path.display()
                        ),
                    ))
                }
                Err(e) if e.kind == StoreErrorKind::Corrupt => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| read_only_error(path)))
    }

    /// Opens for writing when possible, else for reading only (commands
    /// that only read: `history`, `suppressions`).
    pub fn open_for_reading(path: &Path) -> Result<SqliteStore> {
        match SqliteStore::open(path) {
            Err(e) if e.kind == StoreErrorKind::ReadOnly => SqliteStore::open_read_only(path),
            other => other,
        }
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        match &self.writer {
            Some(w) => Ok(w.lock().unwrap_or_else(|p| p.into_inner())),
            None => Err(read_only_error(&self.path)),
        }
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Applies the schema steps a database lacks, one at a time.
fn migrate(conn: &Connection, path: &Path, _seen: i64) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| err(path, "cannot start the migration", e))?;
    let result = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(|e| err(path, "cannot create the meta table", e))?;
        // Read again inside the transaction: another process may have
        // migrated meanwhile.
        let mut v = schema_version(conn, path)?;
        while v < SCHEMA_VERSION {
            v += 1;
            conn.execute_batch(step(v))
                .map_err(|e| err(path, &format!("schema step {v} failed"), e))?;
        }
        conn.execute(
            "INSERT INTO prebounce_meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| err(path, "cannot write the schema version", e))?;
        Ok(())
    })();
    match result {
        Ok(()) => conn
            .execute_batch("COMMIT")
            .map_err(|e| err(path, "cannot commit the migration", e)),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Schema step `v` (from `v - 1`).
fn step(v: i64) -> &'static str {
    match v {
        1 => {
            "CREATE TABLE observations (
                id INTEGER PRIMARY KEY,
                domain TEXT NOT NULL,
                at INTEGER NOT NULL,
                reading TEXT NOT NULL,
                verdict TEXT NOT NULL,
                action TEXT NOT NULL,
                status TEXT,
                detail TEXT NOT NULL,
                warnings TEXT NOT NULL,
                mx TEXT NOT NULL,
                digest TEXT NOT NULL,
                probe TEXT
            );
            CREATE INDEX observations_domain_at ON observations (domain, at);
            CREATE TABLE domains (
                domain TEXT PRIMARY KEY,
                first_seen INTEGER NOT NULL,
                last_at INTEGER NOT NULL,
                action TEXT NOT NULL,
                verdict TEXT NOT NULL,
                status TEXT,
                detail TEXT NOT NULL,
                last_success INTEGER,
                state_since INTEGER NOT NULL,
                retries INTEGER NOT NULL,
                next_check INTEGER
            );
            CREATE INDEX domains_due ON domains (action, next_check);"
        }
        // Evidence: each observation keeps what it was judged on; the
        // domain row points at its newest observation and keeps the
        // readings since the last success. The retry schedule's index only
        // holds domains in retry (every run rewrites every domain's row). Observations of schema 1 keep
        // no evidence (NULL): readable in timelines, never reused.
        2 => {
            "ALTER TABLE observations DROP COLUMN digest;
            ALTER TABLE observations ADD COLUMN evidence TEXT;
            ALTER TABLE observations ADD COLUMN counts INTEGER NOT NULL DEFAULT 1;
            ALTER TABLE domains ADD COLUMN latest_id INTEGER;
            ALTER TABLE domains ADD COLUMN streak TEXT NOT NULL DEFAULT '';
            DROP INDEX domains_due;
            CREATE INDEX domains_due ON domains (next_check) WHERE action = 'retry';
            UPDATE domains SET latest_id = (
                SELECT id FROM observations o WHERE o.domain = domains.domain
                ORDER BY at DESC, id DESC LIMIT 1);
            UPDATE domains SET streak = COALESCE((
                SELECT group_concat(at || ':' || reading || ':1', ' ') FROM (
                    SELECT at, reading FROM observations o
                    WHERE o.domain = domains.domain
                      AND o.at > COALESCE(domains.last_success, -9223372036854775808)
                    ORDER BY at, id)), '');"
        }
        // Each observation names the domain's previous one: a run's
        // observations arrive in random domain order, and the index on
        // (domain, at) took a random B-tree insert per observation. A
        // domain's newest observation (`latest_id`) is its highest id, the
        // chain follows ids down.
        3 => {
            "ALTER TABLE observations ADD COLUMN prev_id INTEGER;
            UPDATE observations SET prev_id = p.prev FROM (
                SELECT id, lag(id) OVER (PARTITION BY domain ORDER BY id) AS prev FROM observations) AS p
              WHERE p.id = observations.id AND p.prev IS NOT NULL;
            UPDATE domains SET latest_id = (
                SELECT max(id) FROM observations o WHERE o.domain = domains.domain);
            DROP INDEX observations_domain_at;"
        }
        // The domain row keeps the state only: its verdict, status and
        // detail are its newest observation's (`latest_id`), which the
        // row copied. And it is its own key's B-tree (WITHOUT ROWID), not
        // a table beside an index on the name: each new domain in a run
        // is one insert at a random place, not two. 8% fewer instructions
        // for the history writer on a new list.
        4 => {
            "CREATE TABLE domains_v4 (
                domain TEXT PRIMARY KEY,
                first_seen INTEGER NOT NULL,
                last_at INTEGER NOT NULL,
                action TEXT NOT NULL,
                last_success INTEGER,
                state_since INTEGER NOT NULL,
                retries INTEGER NOT NULL,
                next_check INTEGER,
                latest_id INTEGER,
                streak TEXT NOT NULL DEFAULT ''
            ) WITHOUT ROWID;
            INSERT INTO domains_v4 SELECT domain, first_seen, last_at, action,
                last_success, state_since, retries, next_check, latest_id, streak FROM domains;
            DROP TABLE domains;
            ALTER TABLE domains_v4 RENAME TO domains;
            CREATE INDEX domains_due ON domains (next_check) WHERE action = 'retry';"
        }
        _ => "",
    }
}

/// A domain's observations (`?1`), newest first, following `prev_id`
/// from its row's `latest_id` (`UNION`: a damaged chain cannot loop).
const CHAIN: &str = "WITH RECURSIVE chain(id) AS (
        SELECT latest_id FROM domains WHERE domain = ?1 AND latest_id IS NOT NULL
        UNION
        SELECT o.prev_id FROM observations o JOIN chain c ON o.id = c.id WHERE o.prev_id IS NOT NULL)";

const COLUMNS: &str =
    "domain, at, reading, verdict, action, status, detail, warnings, mx, probe, evidence, counts";

/// An observation row; `None` when a code is unknown to this version.
fn observation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Observation>> {
    let code = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let (Some(reading), Some(verdict), Some(action)) = (
        Reason::from_code(&code(2)?),
        Reason::from_code(&code(3)?),
        Action::from_name(&code(4)?),
    ) else {
        return Ok(None);
    };
    Ok(Some(Observation {
        domain: r.get(0)?,
        at: r.get(1)?,
        reading,
        verdict,
        action,
        status: r.get::<_, Option<String>>(5)?.and_then(|s| s.parse().ok()),
        detail: r.get(6)?,
        warnings: r
            .get::<_, String>(7)?
            .split(';')
            .filter_map(Warning::from_code)
            .collect(),
        mx: r.get(8)?,
        probe: r.get(9)?,
        evidence: r.get(10)?,
        counts: r.get::<_, i64>(11)? != 0,
    }))
}

/// Domains asked per query: when reading ahead, and when a batch of
/// observations reads its domains' rows.
const STATES_CHUNK: usize = 2_000;

/// Domain names as one JSON array, the parameter of a query that walks
/// it (`json_each(?1) AS j CROSS JOIN domains d ON d.domain = j.value`: the
/// CROSS JOIN keeps the names outside, each looked up by the key, never a
/// scan of the table). One parameter, not one per name: a statement with
/// 500 `?` cost about 2 million instructions to prepare, bind and finalize
/// (SQLite codes every IN value as its own opcode), a tenth of what
/// history added to a run; this one costs the same whatever the number of
/// names.
fn json_names(names: &[&str]) -> String {
    serde_json::to_string(names).expect("strings always serialize")
}

/// A domain's row as a batch of observations finds it.
struct Prior {
    /// `None` when its code is unknown to this version.
    action: Option<Action>,
    since: i64,
    retries: i64,
    streak: String,
    /// Its newest observation: the new one's `prev_id`.
    latest_id: Option<i64>,
}

/// A domain's row as [`prior`] reads it (table `d`).
const PRIOR: &str = "d.domain, d.action, d.state_since, d.retries, d.streak, d.latest_id";

/// A domain and its row, from a query selecting [`PRIOR`].
fn prior(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Prior)> {
    Ok((
        r.get(0)?,
        Prior {
            action: Action::from_name(&r.get::<_, String>(1)?),
            since: r.get(2)?,
            retries: r.get(3)?,
            streak: r.get(4)?,
            latest_id: r.get(5)?,
        },
    ))
}

/// A domain's row after observation `o` (stored as `id`), from its row
/// before (`None`: it had none).
fn after(prev: Option<&Prior>, o: &Observation, id: i64) -> Prior {
    let same = prev.is_some_and(|p| p.action == Some(o.action));
    let since = match prev {
        Some(p) if same => p.since,
        _ => o.at,
    };
    let retry = o.action == Action::Retry;
    let retries = match prev {
        Some(p) if same && retry => p.retries + 1,
        _ if retry => 1,
        _ => 0,
    };
    let streak = format_streak(&extend_streak(
        prev.map(|p| parse_streak(&p.streak)).unwrap_or_default(),
        Reading {
            at: o.at,
            reason: o.reading,
            counts: o.counts,
        },
    ));
    Prior {
        action: Some(o.action),
        since,
        retries,
        streak,
        latest_id: Some(id),
    }
}

/// A domain's row from [`domain_row`]'s parameters, before its `ON
/// CONFLICT` clause.
const WRITE_DOMAIN: &str = "INSERT INTO domains (domain, first_seen, last_at, action, last_success, state_since, retries, next_check, latest_id, streak)
     VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The parameters of the statements that write a domain's row
/// ([`WRITE_DOMAIN`]).
fn domain_row<'a>(o: &'a Observation, row: &'a Prior) -> [direct::Param<'a>; 9] {
    let retry = o.action == Action::Retry;
    [
        o.domain.as_str().into(),
        o.at.into(),
        o.action.as_str().into(),
        is_success(o.reading).then_some(o.at).into(),
        row.since.into(),
        row.retries.into(),
        retry.then(|| o.at + backoff(row.retries)).into(),
        row.latest_id.into(),
        row.streak.as_str().into(),
    ]
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn states(&self, domains: &[&str]) -> Result<HashMap<String, DomainState>> {
        let conn = self.reader();
        let e = |e| err(&self.path, "cannot read the history", e);
        let mut out = HashMap::with_capacity(domains.len());
        let mut st = conn
            .prepare(
                "SELECT d.domain, d.last_success, d.streak, o.at, o.reading, o.action, o.evidence
                 FROM json_each(?1) AS j CROSS JOIN domains d ON d.domain = j.value
                 LEFT JOIN observations o ON o.id = d.latest_id",
            )
            .map_err(e)?;
        for chunk in domains.chunks(STATES_CHUNK) {
            let rows = st
                .query_map([json_names(chunk)], |r| {
                    let domain: String = r.get(0)?;
                    let latest = match r.get::<_, Option<i64>>(3)? {
                        Some(at) => Some(Latest {
                            at,
                            reading: Reason::from_code(&r.get::<_, String>(4)?),
                            action: Action::from_name(&r.get::<_, String>(5)?),
                            evidence: r.get(6)?,
                        }),
                        None => None,
                    };
                    let state = DomainState {
                        latest,
                        history: History {
                            last_success: r.get(1)?,
                            since_success: parse_streak(&r.get::<_, String>(2)?),
                        },
                    };
                    Ok((domain, state))
                })
                .map_err(e)?;
            for row in rows {
                let (d, s) = row.map_err(e)?;
                out.insert(d, s);
            }
        }
        if self.writer.is_some() {
            let mut absent = self.absent.lock().unwrap_or_else(|p| p.into_inner());
            if absent.len() + domains.len() > ABSENT_MAX {
                absent.clear();
            }
            for d in domains {
                if !out.contains_key(*d) {
                    absent.insert(self.names.hash_one(d));
                }
            }
        }
        Ok(out)
    }

    fn record(&self, observations: &[Observation]) -> Result<()> {
        if observations.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer()?;
        let e = |e: rusqlite::Error| {
            if is_read_only(&e) {
                read_only_error(&self.path)
            } else {
                err(&self.path, "cannot record observations", e)
            }
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        {
            // The batch's domains as they stand, read in chunks inside the
            // transaction (no other writer can change them until it
            // ends), then kept up to date as the batch goes: a batch may
            // observe a domain twice. One statement per chunk, not one per
            // observation. Not read: the domains `states` found no row
            // for. Their first observation here inserts a new row, and
            // only if one is there after all (another process wrote it
            // since, or an earlier batch of this one) is it read and the
            // observation joined to it. On a new list that spares a lookup
            // a domain (a tenth of the writer's instructions).
            let mut seen: hashbrown::HashSet<&str> =
                hashbrown::HashSet::with_capacity(observations.len());
            let mut fresh: hashbrown::HashSet<&str> = hashbrown::HashSet::new();
            let mut names: Vec<&str> = Vec::with_capacity(observations.len());
            {
                let mut absent = self.absent.lock().unwrap_or_else(|p| p.into_inner());
                for o in observations {
                    let d = o.domain.as_str();
                    if seen.insert(d) {
                        if absent.remove(&self.names.hash_one(d)) {
                            fresh.insert(d);
                        } else {
                            names.push(d);
                        }
                    }
                }
            }
            let mut states: hashbrown::HashMap<&str, Prior> =
                hashbrown::HashMap::with_capacity(seen.len());
            let mut st = tx
                .prepare(&format!(
                    "SELECT {PRIOR} FROM json_each(?1) AS j CROSS JOIN domains d ON d.domain = j.value"
                ))
                .map_err(e)?;
            for chunk in names.chunks(STATES_CHUNK) {
                let mut rows = st.query([json_names(chunk)]).map_err(e)?;
                while let Some(r) = rows.next().map_err(e)? {
                    let (domain, prior) = prior(r).map_err(e)?;
                    // (The key borrows the batch's own name.)
                    if let Some(&name) = seen.get(domain.as_str()) {
                        states.insert(name, prior);
                    }
                }
            }
            let mut insert = Direct::prepare(&tx, &format!(
                    "INSERT INTO observations ({COLUMNS}, prev_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ))
                .map_err(e)?;
            let mut upsert = Direct::prepare(
                &tx,
                &format!(
                    "{WRITE_DOMAIN} ON CONFLICT(domain) DO UPDATE SET
                       last_at = ?2, action = ?3,
                       last_success = COALESCE(?4, last_success), state_since = ?5, retries = ?6,
                       next_check = ?7, latest_id = ?8, streak = ?9"
                ),
            )
            .map_err(e)?;
            let mut create = Direct::prepare(
                &tx,
                &format!("{WRITE_DOMAIN} ON CONFLICT(domain) DO NOTHING"),
            )
            .map_err(e)?;
            for o in observations {
                let d = o.domain.as_str();
                let prev = states.get(d);
                let new = prev.is_none() && fresh.contains(d);
                let status = o.status.map(|s| s.to_string());
                let warnings = Warning::join(&o.warnings);
                insert
                    .execute(&[
                        d.into(),
                        o.at.into(),
                        o.reading.code().into(),
                        o.verdict.code().into(),
                        o.action.as_str().into(),
                        status.as_deref().into(),
                        o.detail.as_str().into(),
                        warnings.as_str().into(),
                        o.mx.as_str().into(),
                        o.probe.as_deref().into(),
                        o.evidence.as_deref().into(),
                        i64::from(o.counts).into(),
                        prev.and_then(|p| p.latest_id).into(),
                    ])
                    .map_err(e)?;
                let id = tx.last_insert_rowid();
                let mut next = after(prev, o, id);
                let created = new && create.execute(&domain_row(o, &next)).map_err(e)? == 1;
                if !created {
                    if new {
                        // A row after all: read it, and join the
                        // observation to its chain.
                        let prev = tx
                            .query_row(
                                &format!("SELECT {PRIOR} FROM domains d WHERE d.domain = ?1"),
                                [d],
                                prior,
                            )
                            .map_err(e)?
                            .1;
                        tx.execute(
                            "UPDATE observations SET prev_id = ?1 WHERE id = ?2",
                            params![prev.latest_id, id],
                        )
                        .map_err(e)?;
                        next = after(Some(&prev), o, id);
                    }
                    upsert.execute(&domain_row(o, &next)).map_err(e)?;
                }
                states.insert(d, next);
            }
        }
        tx.commit().map_err(e)
    }

    fn due(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let conn = self.reader();
        let e = |e| err(&self.path, "cannot list domains due", e);
        let mut st = conn
            .prepare(
                "SELECT domain FROM domains WHERE action = 'retry' AND next_check <= ?1 ORDER BY next_check, domain LIMIT ?2",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![now, limit.min(i64::MAX as usize) as i64], |r| {
                r.get(0)
            })
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(e)?;
        Ok(rows)
    }

    fn timeline(&self, domain: &str) -> Result<Vec<Observation>> {
        let conn = self.reader();
        let e = |e| err(&self.path, "cannot read the timeline", e);
        let mut st = conn
            .prepare(&format!(
                "{CHAIN} SELECT {COLUMNS} FROM observations
                 WHERE id IN (SELECT id FROM chain) AND domain = ?1 ORDER BY at, id"
            ))
            .map_err(e)?;
        let rows = st
            .query_map(params![domain], observation)
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn suppressions(&self, since: Option<i64>) -> Result<Vec<Suppression>> {
        let conn = self.reader();
        let e = |e| err(&self.path, "cannot list suppressions", e);
        let mut st = conn
            .prepare(
                "SELECT d.domain, o.verdict, o.status, d.state_since, d.last_at, o.detail
                 FROM domains d JOIN observations o ON o.id = d.latest_id
                 WHERE d.action = 'suppress' AND d.state_since >= ?1
                 ORDER BY d.state_since, d.domain",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![since.unwrap_or(i64::MIN)], |r| {
                let Some(reason) = Reason::from_code(&r.get::<_, String>(1)?) else {
                    return Ok(None);
                };
                Ok(Some(Suppression {
                    domain: r.get(0)?,
                    reason,
                    status: r.get::<_, Option<String>>(2)?.and_then(|s| s.parse().ok()),
                    since: r.get(3)?,
                    last_seen: r.get(4)?,
                    detail: r.get(5)?,
                }))
            })
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn stats(&self) -> Result<StoreStats> {
        let conn = self.reader();
        conn.query_row(
            "SELECT (SELECT count(*) FROM domains), (SELECT count(*) FROM observations),
                    (SELECT count(*) FROM domains WHERE action = 'suppress'),
                    (SELECT count(*) FROM domains WHERE action = 'retry')",
            [],
            |r| {
                Ok(StoreStats {
                    backend: "sqlite",
                    schema: SCHEMA_VERSION,
                    domains: r.get::<_, i64>(0)? as u64,
                    observations: r.get::<_, i64>(1)? as u64,
                    suppressed: r.get::<_, i64>(2)? as u64,
                    retry: r.get::<_, i64>(3)? as u64,
                })
            },
        )
        .map_err(|e| err(&self.path, "cannot count", e))
    }

    fn forget(&self, domain: &str) -> Result<usize> {
        let mut conn = self.writer()?;
        let e = |e| err(&self.path, "cannot forget", e);
        let tx = conn.transaction().map_err(e)?;
        let n = tx
            .execute(
                &format!(
                    "{CHAIN} DELETE FROM observations WHERE id IN (SELECT id FROM chain) AND domain = ?1"
                ),
                params![domain],
            )
            .map_err(e)?;
        tx.execute("DELETE FROM domains WHERE domain = ?1", params![domain])
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many processes (here threads, each with its own connection) opening
    /// one new database at once all get it: the switch to WAL waits out the
    /// others instead of failing with "database is locked".
    #[test]
    fn many_openers_of_a_new_database_all_succeed() {
        for round in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("h{round}.sqlite"));
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        SqliteStore::open(&path).map(|_| ())
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap().unwrap();
            }
        }
    }

    fn obs(domain: &str, at: i64, reading: Reason, action: Action) -> Observation {
        Observation {
            domain: domain.into(),
            at,
            reading,
            verdict: reading,
            action,
            status: reading.status(),
            detail: "d".into(),
            warnings: vec![],
            mx: String::new(),
            probe: None,
            evidence: Some("{\"v\":1}".into()),
            counts: true,
        }
    }

    const SF: Reason = Reason::DnsFailure;

    /// The times of a domain's observations, oldest first.
    fn ats(s: &SqliteStore, domain: &str) -> Vec<i64> {
        s.timeline(domain).unwrap().iter().map(|o| o.at).collect()
    }

    /// The one value `sql` selects.
    fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn records_history_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("sub/h.sqlite")).unwrap();
        s.record(&[obs("a.zz", 100, SF, Action::Retry)]).unwrap();
        s.record(&[obs("a.zz", 200, Reason::Deliverable, Action::Deliver)])
            .unwrap();
        s.record(&[
            obs("a.zz", 300, SF, Action::Retry),
            obs("a.zz", 400, SF, Action::Retry),
        ])
        .unwrap();
        let states = s.states(&["a.zz", "never.zz"]).unwrap();
        assert_eq!(states.len(), 1);
        let st = &states["a.zz"];
        let latest = st.latest.as_ref().unwrap();
        assert_eq!(latest.at, 400);
        assert_eq!(latest.reading, Some(SF));
        assert_eq!(latest.evidence.as_deref(), Some("{\"v\":1}"));
        assert_eq!(st.history.last_success, Some(200));
        assert_eq!(
            st.history
                .since_success
                .iter()
                .map(|r| r.at)
                .collect::<Vec<_>>(),
            [300, 400]
        );
        assert_eq!(s.due(400 + 4 * 3600, 10).unwrap(), vec!["a.zz"]);
        assert!(
            s.due(400 + 3600, 10).unwrap().is_empty(),
            "second retry waits 4 h"
        );
        s.record(&[obs("b.zz", 500, Reason::NullMx, Action::Suppress)])
            .unwrap();
        let sup = s.suppressions(None).unwrap();
        assert_eq!(sup.len(), 1);
        assert_eq!(sup[0].since, 500);
        assert_eq!(sup[0].reason, Reason::NullMx);
        assert_eq!(sup[0].status.unwrap().to_string(), "5.1.10");
        assert!(s.suppressions(Some(501)).unwrap().is_empty());
        assert_eq!(s.timeline("a.zz").unwrap().len(), 4);
        assert_eq!(s.forget("a.zz").unwrap(), 4);
        assert!(s.timeline("a.zz").unwrap().is_empty());
        // Reopening keeps everything, migrations run once.
        drop(s);
        let s = SqliteStore::open(&dir.path().join("sub/h.sqlite")).unwrap();
        assert_eq!(s.suppressions(None).unwrap().len(), 1);
    }

    #[test]
    fn the_streak_keeps_its_first_and_newest_readings() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("h.sqlite")).unwrap();
        let many: Vec<Observation> = (0..200)
            .map(|i| obs("a.zz", 1000 + i, SF, Action::Retry))
            .collect();
        s.record(&many).unwrap();
        // One batch, one domain 200 times: each observation chained to
        // the one before it in the same transaction.
        assert_eq!(s.timeline("a.zz").unwrap().len(), 200);
        let st = &s.states(&["a.zz"]).unwrap()["a.zz"];
        let r = &st.history.since_success;
        assert_eq!(r.len(), STREAK_MAX);
        assert_eq!(r[0].at, 1000);
        assert_eq!(r.last().unwrap().at, 1199);
        let mut off = obs("a.zz", 2000, SF, Action::Retry);
        off.counts = false;
        s.record(&[off]).unwrap();
        let st = &s.states(&["a.zz"]).unwrap()["a.zz"];
        assert!(!st.history.since_success.last().unwrap().counts);
    }

    #[test]
    fn schema_1_stores_migrate_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(step(1)).unwrap();
        conn.execute_batch(
            "CREATE TABLE prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO prebounce_meta VALUES ('schema_version', '1');
             INSERT INTO observations (domain, at, reading, verdict, action, status, detail, warnings, mx, digest, probe)
               VALUES ('a.zz', 100, 'deliverable', 'deliverable', 'deliver', NULL, 'ok', '', '10 mx.a.zz [192.0.2.1]', 'abc', NULL),
                      ('a.zz', 200, 'dns_failure', 'dns_failure', 'retry', '4.4.3', 'sf', '', '', 'def', NULL);
             INSERT INTO domains VALUES ('a.zz', 100, 200, 'retry', 'dns_failure', '4.4.3', 'sf', 100, 200, 1, 3800);",
        )
        .unwrap();
        drop(conn);
        let s = SqliteStore::open(&path).unwrap();
        let t = s.timeline("a.zz").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].mx, "10 mx.a.zz [192.0.2.1]");
        assert!(t.iter().all(|o| o.evidence.is_none()));
        let st = &s.states(&["a.zz"]).unwrap()["a.zz"];
        assert_eq!(st.latest.as_ref().unwrap().at, 200);
        assert_eq!(st.latest.as_ref().unwrap().evidence, None);
        assert_eq!(st.history.last_success, Some(100));
        assert_eq!(st.history.since_success.len(), 1);
        assert_eq!(st.history.since_success[0].reason, SF);
        assert_eq!(s.forget("a.zz").unwrap(), 2);
    }

    /// Schema 3 chains observations: a schema-2 store's observations,
    /// interleaved across domains, are all still in each timeline, new
    /// ones join the chain, and `forget` finds every one of them.
    #[test]
    fn schema_2_stores_migrate_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(step(1)).unwrap();
        conn.execute_batch(step(2)).unwrap();
        conn.execute_batch(
            "CREATE TABLE prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO prebounce_meta VALUES ('schema_version', '2');",
        )
        .unwrap();
        for (i, d) in ["a.zz", "b.zz", "a.zz", "c.zz", "a.zz", "b.zz"]
            .iter()
            .enumerate()
        {
            let at = 100 * (i as i64 + 1);
            conn.execute(
                "INSERT INTO observations (domain, at, reading, verdict, action, status, detail, warnings, mx, probe, evidence, counts)
                 VALUES (?1, ?2, 'dns_failure', 'dns_failure', 'retry', '4.4.3', 'sf', '', '', NULL, '{\"v\":1}', 1)",
                params![d, at],
            )
            .unwrap();
            let id = conn.last_insert_rowid();
            conn.execute(
                "INSERT INTO domains (domain, first_seen, last_at, action, verdict, status, detail, last_success, state_since, retries, next_check, latest_id, streak)
                 VALUES (?1, ?2, ?2, 'retry', 'dns_failure', '4.4.3', 'sf', NULL, ?2, 1, NULL, ?3, '')
                 ON CONFLICT(domain) DO UPDATE SET last_at = ?2, latest_id = ?3",
                params![d, at, id],
            )
            .unwrap();
        }
        drop(conn);
        let s = SqliteStore::open(&path).unwrap();
        let ats = |d: &str| ats(&s, d);
        assert_eq!(ats("a.zz"), [100, 300, 500]);
        assert_eq!(ats("b.zz"), [200, 600]);
        assert_eq!(ats("c.zz"), [400]);
        s.record(&[
            obs("b.zz", 700, SF, Action::Retry),
            obs("a.zz", 800, SF, Action::Retry),
        ])
        .unwrap();
        assert_eq!(ats("a.zz"), [100, 300, 500, 800]);
        assert_eq!(ats("b.zz"), [200, 600, 700]);
        let st = &s.states(&["a.zz"]).unwrap()["a.zz"];
        assert_eq!(st.latest.as_ref().unwrap().at, 800);
        assert_eq!(s.forget("a.zz").unwrap(), 4);
        assert_eq!(s.stats().unwrap().observations, 4);
        assert_eq!(ats("b.zz"), [200, 600, 700]);
        // The index is gone, and the store says it is up to date.
        let conn = Connection::open(&path).unwrap();
        let indexes: i64 = one(
            &conn,
            "SELECT count(*) FROM sqlite_master WHERE name = 'observations_domain_at'",
        );
        assert_eq!(indexes, 0);
        assert_eq!(s.stats().unwrap().schema, SCHEMA_VERSION);
    }

    /// A domain `states` found no row for is inserted without a read; if
    /// a row is there after all (another process, or an earlier batch of
    /// this one, wrote it since), it is read and the observation joins its
    /// chain, as when the row was known.
    #[test]
    fn rows_written_after_the_read_ahead_are_joined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        assert!(a.states(&["x.zz", "y.zz", "z.zz"]).unwrap().is_empty());
        // Another process writes x.zz; this one, in an earlier batch, y.zz.
        b.record(&[obs("x.zz", 100, SF, Action::Retry)]).unwrap();
        a.record(&[obs("y.zz", 100, SF, Action::Retry)]).unwrap();
        a.record(&[
            obs("x.zz", 200, SF, Action::Retry),
            obs("y.zz", 200, SF, Action::Retry),
            obs("z.zz", 200, SF, Action::Retry),
            obs("z.zz", 300, SF, Action::Retry),
        ])
        .unwrap();
        let ats = |d: &str| ats(&a, d);
        assert_eq!(ats("x.zz"), [100, 200]);
        assert_eq!(ats("y.zz"), [100, 200]);
        assert_eq!(ats("z.zz"), [200, 300]);
        for d in ["x.zz", "y.zz", "z.zz"] {
            let st = &a.states(&[d]).unwrap()[d];
            assert_eq!(st.history.since_success.len(), 2, "{d}");
        }
        let conn = Connection::open(&path).unwrap();
        let rows: Vec<(String, i64, i64, i64)> = conn
            .prepare("SELECT domain, retries, state_since, first_seen FROM domains ORDER BY domain")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("x.zz".to_string(), 2, 100, 100),
                ("y.zz".to_string(), 2, 100, 100),
                ("z.zz".to_string(), 2, 200, 200)
            ]
        );
        // Every observation but each domain's first names the one before.
        let unchained: i64 = one(
            &conn,
            "SELECT count(*) FROM observations WHERE prev_id IS NULL",
        );
        assert_eq!(unchained, 3);
    }

    /// Schema 4 keeps only the state in a domain's row: a schema-3
    /// store's rows keep their state, and what they copied from their
    /// newest observation (verdict, status, detail) is read from it.
    #[test]
    fn schema_3_stores_migrate_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.sqlite");
        let conn = Connection::open(&path).unwrap();
        for v in 1..=3 {
            conn.execute_batch(step(v)).unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO prebounce_meta VALUES ('schema_version', '3');
             INSERT INTO observations (id, domain, at, reading, verdict, action, status, detail, warnings, mx, probe, evidence, counts, prev_id)
               VALUES (1, 'n.zz', 100, 'null_mx', 'null_mx', 'suppress', '5.1.10', 'n.zz publishes a null MX', '', '', NULL, '{\"v\":1}', 1, NULL),
                      (2, 'f.zz', 150, 'dns_failure', 'dns_failure', 'retry', '4.4.3', 'SERVFAIL', '', '', NULL, '{\"v\":1}', 1, NULL),
                      (3, 'f.zz', 250, 'dns_failure', 'dns_failure', 'retry', '4.4.3', 'SERVFAIL again', '', '', NULL, '{\"v\":1}', 1, 2);
             INSERT INTO domains (domain, first_seen, last_at, action, verdict, status, detail, last_success, state_since, retries, next_check, latest_id, streak)
               VALUES ('n.zz', 100, 100, 'suppress', 'null_mx', '5.1.10', 'n.zz publishes a null MX', NULL, 100, 0, NULL, 1, '100:null_mx:1'),
                      ('f.zz', 150, 250, 'retry', 'dns_failure', '4.4.3', 'SERVFAIL again', 90, 150, 2, 1000, 3, '150:dns_failure:1 250:dns_failure:1');",
        )
        .unwrap();
        drop(conn);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.stats().unwrap().schema, SCHEMA_VERSION);
        let sup = s.suppressions(None).unwrap();
        assert_eq!(sup.len(), 1);
        assert_eq!(sup[0].domain, "n.zz");
        assert_eq!(sup[0].reason, Reason::NullMx);
        assert_eq!(
            sup[0].status.map(|s| s.to_string()).as_deref(),
            Some("5.1.10")
        );
        assert_eq!((sup[0].since, sup[0].last_seen), (100, 100));
        assert_eq!(sup[0].detail, "n.zz publishes a null MX");
        assert_eq!(s.due(999, 10).unwrap(), Vec::<String>::new());
        assert_eq!(s.due(1000, 10).unwrap(), ["f.zz"]);
        let st = &s.states(&["f.zz"]).unwrap()["f.zz"];
        assert_eq!(st.latest.as_ref().unwrap().at, 250);
        assert_eq!(st.history.last_success, Some(90));
        assert_eq!(st.history.since_success.len(), 2);
        // A new observation continues the row: the retry count, the
        // state's start and the chain.
        s.record(&[obs("f.zz", 300, SF, Action::Retry)]).unwrap();
        let st = &s.states(&["f.zz"]).unwrap()["f.zz"];
        assert_eq!(st.history.since_success.len(), 3);
        assert_eq!(st.history.last_success, Some(90));
        assert_eq!(ats(&s, "f.zz"), [150, 250, 300]);
        let conn = Connection::open(&path).unwrap();
        let (retries, since): (i64, i64) = conn
            .query_row(
                "SELECT retries, state_since FROM domains WHERE domain = 'f.zz'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((retries, since), (3, 150));
        let sql: String = one(
            &conn,
            "SELECT sql FROM sqlite_master WHERE name = 'domains'",
        );
        assert!(
            sql.contains("WITHOUT ROWID") && !sql.contains("detail"),
            "{sql}"
        );
        // The page size of an existing file stays; a new one gets 16 KiB.
        let page: i64 = one(&conn, "PRAGMA page_size");
        assert_eq!(page, 4096);
        let fresh = dir.path().join("new.sqlite");
        drop(SqliteStore::open(&fresh).unwrap());
        let page: i64 = one(&Connection::open(&fresh).unwrap(), "PRAGMA page_size");
        assert_eq!(page, 16384);
    }

    #[test]
    fn foreign_and_corrupt_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
        let e = SqliteStore::open(&junk).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Corrupt, "{e}");
        assert!(
            e.message.contains("is not a prebounce history database"),
            "{e}"
        );
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE invoices (id INTEGER)")
            .unwrap();
        let e = SqliteStore::open(&foreign).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Foreign);
        assert!(
            e.message
                .contains("not prebounce's (it has the tables invoices)"),
            "{e}"
        );
        let newer = dir.path().join("newer.db");
        drop(SqliteStore::open(&newer).unwrap());
        Connection::open(&newer)
            .unwrap()
            .execute_batch("UPDATE prebounce_meta SET value = '99' WHERE key = 'schema_version'")
            .unwrap();
        let e = SqliteStore::open(&newer).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Newer);
        assert!(e.message.contains("newer prebounce"), "{e}");
    }

    #[test]
    fn read_only_opening_reads_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let s = SqliteStore::open(&path).unwrap();
        s.record(&[obs("b.zz", 500, Reason::NullMx, Action::Suppress)])
            .unwrap();
        drop(s);
        let ro = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(ro.suppressions(None).unwrap().len(), 1);
        let e = ro.record(&[obs("c.zz", 1, SF, Action::Retry)]).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::ReadOnly);
        assert!(e.message.contains("is read-only"), "{e}");
    }
}
