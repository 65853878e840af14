//! The contacts (emails and phones) an import has seen so far, for duplicate detection within
//! a file, by the same keys the store is matched on.
//!
//! Kept in a scratch SQLite file with a small page cache rather than in a hash map, so memory
//! stays flat whatever the number of rows (a map of 1M email hashes alone is ~35 MB). Only
//! 64-bit hashes of normalized emails and E.164 phones are stored, never the values.

use crate::domain::duplicate::MatchKey;
use crate::domain::ids::LeadId;
use rusqlite::{Connection, OptionalExtension, params};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Rows inserted between commits; one transaction per chunk keeps inserts fast.
const COMMIT_EVERY: u32 = 20_000;

pub struct SeenContacts {
    conn: Connection,
    path: PathBuf,
    pending: u32,
}

fn key_hash(k: &MatchKey) -> i64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match k {
        MatchKey::Email(e) => ("email", e.as_str()).hash(&mut h),
        MatchKey::Phone(p) => ("phone", p.to_string()).hash(&mut h),
    }
    h.finish() as i64
}

impl SeenContacts {
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

    /// The line where one of `keys` was first seen (the first key that was, in order);
    /// otherwise records them all at `line` and returns `None`.
    pub fn first_line(&mut self, keys: &[MatchKey], line: usize) -> rusqlite::Result<Option<usize>> {
        self.first_line_of(keys.iter().map(key_hash).collect(), line)
    }

    /// The line of the earlier row that matched this stored lead, if any; otherwise records
    /// it at `line`. Two rows with different contacts of one lead are one lead's rows.
    pub fn first_line_of_lead(&mut self, lead: &LeadId, line: usize) -> rusqlite::Result<Option<usize>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ("lead", lead.to_string()).hash(&mut h);
        self.first_line_of(vec![h.finish() as i64], line)
    }

    fn first_line_of(&mut self, hashes: Vec<i64>, line: usize) -> rusqlite::Result<Option<usize>> {
        for h in &hashes {
            let first: Option<i64> = self
                .conn
                .prepare_cached("SELECT line FROM seen WHERE h = ?1")?
                .query_row(params![h], |r| r.get(0))
                .optional()?;
            if let Some(l) = first {
                return Ok(Some(l as usize));
            }
        }
        for h in hashes {
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO seen (h, line) VALUES (?1, ?2)")?
                .execute(params![h, line as i64])?;
            self.pending += 1;
        }
        if self.pending >= COMMIT_EVERY {
            self.conn.execute_batch("COMMIT; BEGIN;")?;
            self.pending = 0;
        }
        Ok(None)
    }
}

impl Drop for SeenContacts {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> MatchKey {
        MatchKey::Email(crate::domain::email::Email::parse(s).unwrap())
    }

    fn phone(s: &str) -> MatchKey {
        MatchKey::Phone(crate::domain::phone::Phone::parse_field(s, Default::default(), "phone").unwrap())
    }

    #[test]
    fn when_email_repeats_should_return_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = SeenContacts::create(&dir.path().join("s.db")).unwrap();
        let a = email("a@example.com");
        let b = email("b@example.com");
        assert_eq!(seen.first_line(std::slice::from_ref(&a), 2).unwrap(), None);
        assert_eq!(seen.first_line(std::slice::from_ref(&b), 3).unwrap(), None);
        assert_eq!(seen.first_line(std::slice::from_ref(&a), 9).unwrap(), Some(2));
        for i in 0..50_000 {
            let e = email(&format!("u{i}@example.com"));
            assert_eq!(seen.first_line(&[e], 10 + i).unwrap(), None);
        }
        assert_eq!(seen.first_line(&[b], 99_999).unwrap(), Some(3));
    }

    #[test]
    fn when_a_phone_repeats_under_another_email_should_match_like_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = SeenContacts::create(&dir.path().join("s.db")).unwrap();
        let p = phone("+44 20 7946 0018");
        assert_eq!(
            seen.first_line(&[email("a@example.com"), p.clone()], 2).unwrap(),
            None
        );
        assert_eq!(
            seen.first_line(&[email("b@example.com"), p.clone()], 3).unwrap(),
            Some(2)
        );
        // The duplicate row's email was not recorded: a later row with it is new.
        assert_eq!(seen.first_line(&[email("b@example.com")], 4).unwrap(), None);
        assert_eq!(seen.first_line(&[p], 5).unwrap(), Some(2));
    }

    #[test]
    fn when_dropped_should_remove_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SeenContacts::create(&path).unwrap());
        assert!(!path.exists());
    }
}
