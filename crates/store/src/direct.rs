//! A prepared statement that binds text without copying it.
//!
//! rusqlite binds every text parameter with `SQLITE_TRANSIENT`: SQLite
//! allocates a buffer and copies the text into it, and frees it at the next
//! bind. Writing a batch of observations binds about twenty values per
//! observation, and those copies and frees were a tenth of the history
//! writer's instructions. [`Direct::execute`] binds with `SQLITE_STATIC` instead:
//! SQLite reads the caller's text in place, which is sound because the
//! parameters are borrowed for the whole call and the bindings are cleared
//! before it returns, so the statement never holds a pointer past the
//! borrow.

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rusqlite::{ffi, Connection};

/// One parameter of [`Direct::execute`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

/// A statement that changes rows (it returns none), prepared on `conn` and
/// finalized when dropped; it cannot outlive the connection.
pub(crate) struct Direct<'c> {
    db: *mut ffi::sqlite3,
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: usize,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> Direct<'c> {
    /// Prepares `sql`, one statement.
    pub(crate) fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Direct<'c>> {
        // SAFETY: the handle is the open connection's, used only while
        // `conn` is borrowed ('c), on the thread that holds that borrow.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
        // SAFETY: `sql` is valid for `len` bytes (SQLite does not need a
        // terminating NUL when given the length); `stmt` is written on
        // success only.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db,
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(failure(db, rc));
        }
        let stmt = NonNull::new(stmt).ok_or(rusqlite::Error::InvalidQuery)?;
        // SAFETY: `stmt` is a live prepared statement.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        Ok(Direct {
            db,
            stmt,
            params: usize::try_from(params).unwrap_or(0),
            _conn: PhantomData,
        })
    }

    /// Binds `params` (all of the statement's, in order), runs it to the
    /// end and returns the number of rows it changed.
    pub(crate) fn execute(&mut self, params: &[Param<'_>]) -> rusqlite::Result<u64> {
        if params.len() != self.params {
            return Err(rusqlite::Error::InvalidParameterCount(
                params.len(),
                self.params,
            ));
        }
        let result = self.bind(params).and_then(|()| self.step());
        let stmt = self.stmt.as_ptr();
        // SAFETY: `stmt` is live. After these two calls it holds no
        // pointer to `params` (the error, if any, was read above).
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }

    fn bind(&mut self, params: &[Param<'_>]) -> rusqlite::Result<()> {
        let stmt = self.stmt.as_ptr();
        for (i, p) in params.iter().enumerate() {
            let col = c_int::try_from(i + 1).map_err(|_| rusqlite::Error::InvalidQuery)?;
            // SAFETY: `stmt` is live and `col` is within its parameters.
            // Text is bound with SQLITE_STATIC: it is read in place until
            // `execute` resets the statement and clears the bindings,
            // while `params` is still borrowed.
            let rc = unsafe {
                match *p {
                    Param::Null => ffi::sqlite3_bind_null(stmt, col),
                    Param::Int(v) => ffi::sqlite3_bind_int64(stmt, col, v),
                    Param::Text(t) => ffi::sqlite3_bind_text64(
                        stmt,
                        col,
                        t.as_ptr().cast(),
                        t.len() as ffi::sqlite3_uint64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(failure(self.db, rc));
            }
        }
        Ok(())
    }

    fn step(&mut self) -> rusqlite::Result<u64> {
        // SAFETY: `stmt` is live, its parameters bound; `db` is its
        // connection.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_DONE => Ok(unsafe { ffi::sqlite3_changes64(self.db) }.max(0) as u64),
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            rc => Err(failure(self.db, rc)),
        }
    }
}

impl Drop for Direct<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` is live and finalized once, here.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The error SQLite reported for `rc`, with its message.
fn failure(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is a live connection; the message is copied before
    // any other call on it.
    let msg = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c TEXT UNIQUE)")
            .unwrap();
        conn
    }

    #[test]
    fn rows_hold_the_text_after_the_borrow_ends() {
        let conn = table();
        let mut st = Direct::prepare(&conn, "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)").unwrap();
        for i in 0..100i64 {
            // Each text lives only for its own call, and its buffer is
            // overwritten before the next one is made.
            let mut a = format!("row {i} ünïcode");
            let c = format!("key-{i}");
            st.execute(&[Param::Text(&a), Param::Int(i), Param::Text(&c)])
                .unwrap();
            a.clear();
            a.push_str("overwritten");
        }
        st.execute(&[Param::Text(""), Param::Null, Param::Null])
            .unwrap();
        drop(st);
        let rows: Vec<(String, Option<i64>, Option<String>)> = conn
            .prepare("SELECT a, b, c FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows.len(), 101);
        for (i, (a, b, c)) in rows.iter().take(100).enumerate() {
            assert_eq!(a, &format!("row {i} ünïcode"));
            assert_eq!(*b, Some(i as i64));
            assert_eq!(c.as_deref(), Some(format!("key-{i}").as_str()));
        }
        assert_eq!(rows[100], (String::new(), None, None));
    }

    #[test]
    fn failures_are_sqlite_errors_and_the_statement_goes_on() {
        let conn = table();
        let mut st = Direct::prepare(&conn, "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)").unwrap();
        assert_eq!(
            st.execute(&["x".into(), 1.into(), "same".into()]).unwrap(),
            1
        );
        let mut quiet = Direct::prepare(
            &conn,
            "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3) ON CONFLICT(c) DO NOTHING",
        )
        .unwrap();
        assert_eq!(
            quiet
                .execute(&["q".into(), 9.into(), "same".into()])
                .unwrap(),
            0
        );
        let e = st
            .execute(&["y".into(), 2.into(), "same".into()])
            .unwrap_err();
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{e}"
        );
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        let e = st.execute(&["y".into()]).unwrap_err();
        assert!(
            matches!(e, rusqlite::Error::InvalidParameterCount(1, 3)),
            "{e}"
        );
        st.execute(&["z".into(), Param::Null, "other".into()])
            .unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        assert!(Direct::prepare(&conn, "INSERT INTO nowhere VALUES (1)").is_err());
    }
}
