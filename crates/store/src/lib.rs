//! # prebounce-store
//!
//! The history of domains: every observation (time, reading, verdict,
//! action, status, a digest of the MX evidence, the probe outcome) and each
//! domain's current state. Domains only: addresses are the user's data and
//! stay in the user's files.
//!
//! [`Store`] is the seam for other backends (a shared PostgreSQL later);
//! [`SqliteStore`] is the embedded one: WAL, a busy timeout so concurrent
//! runs on one file wait for each other, versioned migrations applied one
//! step at a time, codes stored as text so an older binary can read a newer
//! history (unknown codes are skipped).
#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use prebounce_core::history::{History, Reading};
use prebounce_core::verdict::{Action, Reason};
use rusqlite::{params, Connection, OptionalExtension};

/// One observation of one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The domain, ASCII lowercase.
    pub domain: String,
    /// When, in seconds since the Unix epoch.
    pub at: i64,
    /// The reason DNS and the probe gave, before history (a reason code).
    pub reading: String,
    /// The final reason, after history (a reason code).
    pub verdict: String,
    /// The final action.
    pub action: String,
    /// The final enhanced status code.
    pub status: Option<String>,
    /// The detail line.
    pub detail: String,
    /// Warning codes, `;`-separated.
    pub warnings: String,
    /// The MX evidence in one line.
    pub mx: String,
    /// A digest of the MX evidence (changes when the MX set changes).
    pub digest: String,
    /// The probe's status, when probed.
    pub probe: Option<String>,
}

/// A suppressed domain, for `prebounce suppressions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The domain.
    pub domain: String,
    /// The reason code.
    pub reason: String,
    /// The status code.
    pub status: Option<String>,
    /// Since when it is suppressed (the first observation of the streak).
    pub since: i64,
    /// The latest observation's time.
    pub last_seen: i64,
    /// The detail line.
    pub detail: String,
}

/// A store failure: the message says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// A result of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The history store.
pub trait Store: Send + Sync {
    /// The latest observation of a domain and its history since the last success.
    fn history(&self, domain: &str) -> Result<(Option<Observation>, History)>;
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
}

/// When a domain in `retry` is due again: 1 h, 4 h, 12 h, then every 24 h.
pub fn backoff(retries: i64) -> i64 {
    match retries {
        ..=1 => 3_600,
        2 => 4 * 3_600,
        3 => 12 * 3_600,
        _ => 24 * 3_600,
    }
}

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = 1;

/// The embedded SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn err(path: &Path, what: &str, e: impl fmt::Display) -> StoreError {
    StoreError(format!("history database {}: {what}: {e}", path.display()))
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and brings its schema up
    /// to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(path, "cannot create its folder", e))?;
        }
        let conn = Connection::open(path).map_err(|e| err(path, "cannot open", e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| err(path, "cannot set a busy timeout", e))?;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(|e| {
                StoreError(format!(
                    "{} is not a prebounce history database ({e}); name another file with --db, or move this one away",
                    path.display()
                ))
            })?;
        if !tables.is_empty() && !tables.iter().any(|t| t == "prebounce_meta") {
            return Err(StoreError(format!(
                "{} is an SQLite database but not prebounce's (it has the tables {}); name another file with --db",
                path.display(),
                tables.join(", ")
            )));
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| err(path, "cannot switch to WAL", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| err(path, "cannot set synchronous", e))?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies the schema steps this database lacks, one at a time.
    fn migrate(&self) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| err(&self.path, "cannot start the migration", e))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(|e| err(&self.path, "cannot create the meta table", e))?;
        let version: i64 = tx
            .query_row(
                "SELECT value FROM prebounce_meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| err(&self.path, "cannot read the schema version", e))?
            .map(|v| v.parse().unwrap_or(i64::MAX))
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!(
                "{} was written by a newer prebounce (schema {version}, this one knows {SCHEMA_VERSION}); upgrade prebounce",
                self.path.display()
            )));
        }
        let mut v = version;
        while v < SCHEMA_VERSION {
            v += 1;
            tx.execute_batch(step(v))
                .map_err(|e| err(&self.path, &format!("schema step {v} failed"), e))?;
        }
        tx.execute(
            "INSERT INTO prebounce_meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| err(&self.path, "cannot write the schema version", e))?;
        tx.commit()
            .map_err(|e| err(&self.path, "cannot commit the migration", e))
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
        _ => "",
    }
}

fn observation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Observation> {
    Ok(Observation {
        domain: r.get(0)?,
        at: r.get(1)?,
        reading: r.get(2)?,
        verdict: r.get(3)?,
        action: r.get(4)?,
        status: r.get(5)?,
        detail: r.get(6)?,
        warnings: r.get(7)?,
        mx: r.get(8)?,
        digest: r.get(9)?,
        probe: r.get(10)?,
    })
}

const COLUMNS: &str =
    "domain, at, reading, verdict, action, status, detail, warnings, mx, digest, probe";

impl Store for SqliteStore {
    fn history(&self, domain: &str) -> Result<(Option<Observation>, History)> {
        let conn = self.lock();
        let e = |e| err(&self.path, "cannot read the history", e);
        let latest = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM observations WHERE domain = ?1 ORDER BY at DESC, id DESC LIMIT 1"),
                params![domain],
                observation,
            )
            .optional()
            .map_err(e)?;
        let last_success: Option<i64> = conn
            .query_row(
                "SELECT last_success FROM domains WHERE domain = ?1",
                params![domain],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?
            .flatten();
        let mut st = conn
            .prepare(
                "SELECT at, reading FROM observations WHERE domain = ?1 AND at > ?2 ORDER BY at, id LIMIT 10000",
            )
            .map_err(e)?;
        let since_success = st
            .query_map(params![domain, last_success.unwrap_or(i64::MIN)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(e)?
            .filter_map(|row| {
                let (at, code) = row.ok()?;
                Some(Reading {
                    at,
                    reason: Reason::from_code(&code)?,
                })
            })
            .collect();
        Ok((
            latest,
            History {
                last_success,
                since_success,
            },
        ))
    }

    fn record(&self, observations: &[Observation]) -> Result<()> {
        if observations.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock();
        let e = |e| err(&self.path, "cannot record observations", e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        for o in observations {
            tx.prepare(&format!(
                "INSERT INTO observations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    o.domain, o.at, o.reading, o.verdict, o.action, o.status, o.detail, o.warnings, o.mx,
                    o.digest, o.probe
                ])
            })
            .map_err(e)?;
            let prev: Option<(String, i64, i64)> = tx
                .query_row(
                    "SELECT action, state_since, retries FROM domains WHERE domain = ?1",
                    params![o.domain],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(e)?;
            let same = prev.as_ref().is_some_and(|(a, _, _)| *a == o.action);
            let since = match &prev {
                Some((_, s, _)) if same => *s,
                _ => o.at,
            };
            let retries = match &prev {
                Some((_, _, r)) if same && o.action == "retry" => r + 1,
                _ if o.action == "retry" => 1,
                _ => 0,
            };
            let next_check = (o.action == "retry").then(|| o.at + backoff(retries));
            let success =
                Reason::from_code(&o.reading).map(Reason::action) == Some(Action::Deliver);
            tx.execute(
                "INSERT INTO domains (domain, first_seen, last_at, action, verdict, status, detail, last_success, state_since, retries, next_check)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(domain) DO UPDATE SET
                   last_at = ?2, action = ?3, verdict = ?4, status = ?5, detail = ?6,
                   last_success = COALESCE(?7, last_success), state_since = ?8, retries = ?9, next_check = ?10",
                params![
                    o.domain,
                    o.at,
                    o.action,
                    o.verdict,
                    o.status,
                    o.detail,
                    success.then_some(o.at),
                    since,
                    retries,
                    next_check
                ],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    fn due(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let conn = self.lock();
        let e = |e| err(&self.path, "cannot list domains due", e);
        let mut st = conn
            .prepare(
                "SELECT domain FROM domains WHERE action = 'retry' AND next_check <= ?1 ORDER BY next_check, domain LIMIT ?2",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![now, limit as i64], |r| r.get(0))
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(e)?;
        Ok(rows)
    }

    fn timeline(&self, domain: &str) -> Result<Vec<Observation>> {
        let conn = self.lock();
        let e = |e| err(&self.path, "cannot read the timeline", e);
        let mut st = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM observations WHERE domain = ?1 ORDER BY at, id"
            ))
            .map_err(e)?;
        let rows = st
            .query_map(params![domain], observation)
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(rows)
    }

    fn suppressions(&self, since: Option<i64>) -> Result<Vec<Suppression>> {
        let conn = self.lock();
        let e = |e| err(&self.path, "cannot list suppressions", e);
        let mut st = conn
            .prepare(
                "SELECT domain, verdict, status, state_since, last_at, detail FROM domains
                 WHERE action = 'suppress' AND state_since >= ?1 ORDER BY state_since, domain",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![since.unwrap_or(i64::MIN)], |r| {
                Ok(Suppression {
                    domain: r.get(0)?,
                    reason: r.get(1)?,
                    status: r.get(2)?,
                    since: r.get(3)?,
                    last_seen: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(rows)
    }

    fn forget(&self, domain: &str) -> Result<usize> {
        let mut conn = self.lock();
        let e = |e| err(&self.path, "cannot forget", e);
        let tx = conn.transaction().map_err(e)?;
        let n = tx
            .execute(
                "DELETE FROM observations WHERE domain = ?1",
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

    fn obs(domain: &str, at: i64, reading: &str, action: &str) -> Observation {
        Observation {
            domain: domain.into(),
            at,
            reading: reading.into(),
            verdict: reading.into(),
            action: action.into(),
            status: None,
            detail: "d".into(),
            warnings: String::new(),
            mx: String::new(),
            digest: String::new(),
            probe: None,
        }
    }

    #[test]
    fn records_history_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("sub/h.sqlite")).unwrap();
        s.record(&[obs("a.zz", 100, "dns_failure", "retry")])
            .unwrap();
        s.record(&[obs("a.zz", 200, "deliverable", "deliver")])
            .unwrap();
        s.record(&[
            obs("a.zz", 300, "dns_failure", "retry"),
            obs("a.zz", 400, "dns_failure", "retry"),
        ])
        .unwrap();
        let (latest, h) = s.history("a.zz").unwrap();
        assert_eq!(latest.unwrap().at, 400);
        assert_eq!(h.last_success, Some(200));
        assert_eq!(h.since_success.len(), 2);
        assert_eq!(s.due(400 + 4 * 3600, 10).unwrap(), vec!["a.zz"]);
        assert!(
            s.due(400 + 3600, 10).unwrap().is_empty(),
            "second retry waits 4 h"
        );
        s.record(&[obs("b.zz", 500, "null_mx", "suppress")])
            .unwrap();
        let sup = s.suppressions(None).unwrap();
        assert_eq!(sup.len(), 1);
        assert_eq!(sup[0].since, 500);
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
    fn foreign_and_corrupt_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
        let e = SqliteStore::open(&junk).unwrap_err();
        assert!(e.0.contains("is not a prebounce history database"), "{e}");
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE invoices (id INTEGER)")
            .unwrap();
        let e = SqliteStore::open(&foreign).unwrap_err();
        assert!(
            e.0.contains("not prebounce's (it has the tables invoices)"),
            "{e}"
        );
        let newer = dir.path().join("newer.db");
        drop(SqliteStore::open(&newer).unwrap());
        Connection::open(&newer)
            .unwrap()
            .execute_batch("UPDATE prebounce_meta SET value = '99' WHERE key = 'schema_version'")
            .unwrap();
        let e = SqliteStore::open(&newer).unwrap_err();
        assert!(e.0.contains("newer prebounce"), "{e}");
    }

    #[test]
    fn backoff_schedule() {
        assert_eq!(
            [1, 2, 3, 4, 9].map(backoff),
            [3_600, 14_400, 43_200, 86_400, 86_400]
        );
    }
}
