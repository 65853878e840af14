//! The emails an import has seen so far, for duplicate detection within a file.
//!
//! Kept in a scratch SQLite file with a small page cache rather than in a hash map, so memory
//! stays flat whatever the number of rows (a map of 1M email hashes alone is ~35 MB). Only
//! 64-bit hashes of normalized emails are stored, never the emails.

use crate::domain::email::Email;
use rusqlite::{Connection, OptionalExtension, params};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Rows inserted between commits; one transaction per chunk keeps inserts fast.
const COMMIT_EVERY: u32 = 20_000;

pub struct SeenEmails {
    conn: Connection,
    path: PathBuf,
    pending: u32,
}

fn email_hash(e: &Email) -> i64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e.as_str().hash(&mut h);
    h.finish() as i64
}

impl SeenEmails {
    /// A fresh, empty set in `path` (any previous file there is replaced).
    pub fn create(path: &Path) -> rusqlite::Result<Self> {
        let _ = std::fs::remove_file(path);
        let conn = Connection::open(path)?;
        // A scratch file: no journal, no fsync, a 2 MiB cache.
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2048;
             PRAGMA temp_store = FILE;
             CREATE TABLE seen (h INTEGER PRIMARY KEY, line INTEGER NOT NULL);
             BEGIN;",
        )?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            pending: 0,
        })
    }

    /// Records `email` at `line`; returns the line where it was first seen, if earlier.
    pub fn first_line(&mut self, email: &Email, line: usize) -> rusqlite::Result<Option<usize>> {
        let h = email_hash(email);
        let inserted = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO seen (h, line) VALUES (?1, ?2)")?
            .execute(params![h, line as i64])?;
        if inserted == 1 {
            self.pending += 1;
            if self.pending >= COMMIT_EVERY {
                self.conn.execute_batch("COMMIT; BEGIN;")?;
                self.pending = 0;
            }
            return Ok(None);
        }
        let first: Option<i64> = self
            .conn
            .prepare_cached("SELECT line FROM seen WHERE h = ?1")?
            .query_row(params![h], |r| r.get(0))
            .optional()?;
        Ok(first.map(|l| l as usize))
    }
}

impl Drop for SeenEmails {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_email_repeats_should_return_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = SeenEmails::create(&dir.path().join("s.db")).unwrap();
        let a = Email::parse("a@example.com").unwrap();
        let b = Email::parse("b@example.com").unwrap();
        assert_eq!(seen.first_line(&a, 2).unwrap(), None);
        assert_eq!(seen.first_line(&b, 3).unwrap(), None);
        assert_eq!(seen.first_line(&a, 9).unwrap(), Some(2));
        for i in 0..50_000 {
            let e = Email::parse(&format!("u{i}@example.com")).unwrap();
            assert_eq!(seen.first_line(&e, 10 + i).unwrap(), None);
        }
        assert_eq!(seen.first_line(&b, 99_999).unwrap(), Some(3));
    }

    #[test]
    fn when_dropped_should_remove_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SeenEmails::create(&path).unwrap());
        assert!(!path.exists());
    }
}
