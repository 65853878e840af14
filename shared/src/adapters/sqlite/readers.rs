//! Read-only connections for the store calls that only read (gets, lists, lookups), so that
//! they run beside the writer thread and beside each other: in WAL mode a reader sees the last
//! commit without blocking it or being blocked. The writer answers only after its COMMIT, so a
//! read that follows a write sees it.
//!
//! An in-memory store has no second connection to the same database; its reads go to the
//! writer.

use super::db;
use super::worker::{Call, ask};
use crate::ports::store::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

#[derive(Clone)]
pub struct Readers {
    calls: mpsc::Sender<Call>,
}

impl Readers {
    /// One thread and connection per core, at least two and at most four.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let (calls, queue) = mpsc::channel::<Call>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let mut conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(db)?;
            conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
            super::keep_statements(&conn)?;
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("leadgate-sqlite-read-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next call.
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(mut read) => {
                                // A read has nothing to commit: it is answered as it ends.
                                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    read.run(&mut conn)
                                }));
                                if ran.is_ok() {
                                    read.reply(None);
                                }
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(StoreError::unavailable)?;
        }
        Ok(Self { calls })
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        ask(&self.calls, f).await
    }
}
