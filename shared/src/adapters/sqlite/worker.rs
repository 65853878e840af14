//! The one thread that owns the SQLite connection, with group commit.
//!
//! Store calls queue closures on a channel. The thread takes what has queued up (up to
//! `MAX_GROUP` calls) and runs it as one transaction. Callers hear back only after the
//! COMMIT, which with `synchronous=FULL` (see `schema`) is on disk: an answer never reports a
//! write that a crash or power loss could still undo. The fsync is paid once a group.
//!
//! A failing call must roll back only its own writes. The group first runs without
//! savepoints (`run_optimistic`); only when a call fails is the transaction rolled back and
//! the group run again with each call in its own savepoint (`run_careful`). So a call may
//! run twice, which is why a call is `FnMut`: it must do nothing but its SQL.
//!
//! Why: with a connection behind a mutex and `spawn_blocking`, 32 concurrent form captures
//! meant dozens of blocked threads taking turns on a futex, and a commit (WAL frames plus
//! file locks) for every one of the ~5 writes a capture makes. A queue drained by one thread
//! hands the connection over without contention, and one commit serves every call that
//! arrived while the previous group ran.

use crate::ports::store::StoreError;
use rusqlite::Connection;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

/// Calls run in one transaction at most; bounds how long the first caller of a group waits,
/// and how many calls run again when one of them fails.
const MAX_GROUP: usize = 64;

/// A queued call: SQL that may run more than once (the last run counts), then its answer.
pub(super) trait Job: Send {
    /// Runs on the connection; says whether it succeeded.
    fn run(&mut self, conn: &mut Connection) -> bool;
    /// Hands the last run's result to its caller once the group has ended: `commit_failure`
    /// is `None` when it committed, or why the COMMIT failed.
    fn reply(self: Box<Self>, commit_failure: Option<&str>);
}

pub(super) type Call = Box<dyn Job>;

/// A caller's closure, its last result, and where the answer goes.
struct Ask<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    answer: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Ask<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &mut Connection) -> bool {
        let result = (self.f)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn reply(self: Box<Self>, commit_failure: Option<&str>) {
        // Never run (its savepoint could not start): dropping the sender says no answer came.
        let Some(result) = self.result else { return };
        let result = match commit_failure {
            Some(why) if result.is_ok() => Err(StoreError::Unavailable(
                format!("the transaction holding this write did not commit: {why}").into(),
            )),
            _ => result,
        };
        let _ = self.answer.send(result);
    }
}

#[derive(Clone)]
pub struct Worker {
    calls: mpsc::Sender<Call>,
}

impl Worker {
    /// Starts the thread; it ends when the last `Worker` handle is dropped.
    pub fn start(conn: Connection) -> Result<Self, StoreError> {
        let (calls, queue) = mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("leadgate-sqlite".into())
            .spawn(move || serve(conn, queue))
            .map_err(StoreError::unavailable)?;
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

/// Queues `f` on `calls` and waits for its answer: the writer's queue or the readers'.
pub(super) async fn ask<T, F>(calls: &mpsc::Sender<Call>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnMut(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    let call: Call = Box::new(Ask {
        f,
        result: None,
        answer,
    });
    calls.send(call).map_err(|_| no_answer())?;
    // A call that panicked drops its sender without answering.
    answered.await.map_err(|_| no_answer())?
}

fn no_answer() -> StoreError {
    StoreError::Unavailable(
        "the SQLite connection's thread did not answer (the call panicked or could not start, or the store closed)"
            .into(),
    )
}

fn serve(mut conn: Connection, queue: mpsc::Receiver<Call>) {
    while let Ok(first) = queue.recv() {
        let mut group = VecDeque::from([first]);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(call) => group.push_back(call),
                Err(_) => break,
            }
        }
        if group.len() > 1 {
            run_optimistic(&mut conn, &mut group);
        }
        while !group.is_empty() {
            run_careful(&mut conn, &mut group);
        }
    }
}

/// Runs the whole group in one transaction without savepoints and commits it, answering
/// every call; or, as soon as a call fails or panics, rolls the transaction back and leaves
/// the group for `run_careful` (a call that panicked is dropped, unanswered, not run again).
///
/// Why: inside a savepoint SQLite copies every page a statement is first to change into a
/// statement journal (a temporary file opened and deleted per savepoint). Under form
/// captures, where most calls share a group, that copy and the file's life were about a
/// sixth of the writer thread's time, and without them captures ran 17% faster
/// (BENCHMARKS.md). Calls rarely fail, so running a group again when one does costs less.
fn run_optimistic(conn: &mut Connection, group: &mut VecDeque<Call>) {
    if run_cached(conn, "BEGIN IMMEDIATE").is_err() {
        return;
    }
    let mut ran: Vec<Call> = Vec::with_capacity(group.len());
    while let Some(mut call) = group.pop_front() {
        let outcome = catch_unwind(AssertUnwindSafe(|| call.run(conn)));
        if let Ok(true) = outcome
            && !conn.is_autocommit()
        {
            ran.push(call);
            continue;
        }
        // Undone, all of it; the group runs again with savepoints, in the same order.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if outcome.is_ok() {
            group.push_front(call);
        }
        for call in ran.into_iter().rev() {
            group.push_front(call);
        }
        return;
    }
    let committed = run_cached(conn, "COMMIT");
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let failed = committed.err().map(|e| e.to_string());
    for call in ran {
        call.reply(failed.as_deref());
    }
}

/// What running one call (inside its savepoint, or first in its transaction) came to.
enum Ran {
    /// It ran to the end: succeeded with its writes standing (until the group commits), or
    /// failed with them rolled back. The text says why a success was rolled back after all
    /// (its savepoint could not be released).
    Answered(Call, Option<String>),
    /// SQLite rolled back the whole transaction while it ran (disk full, I/O error, out of
    /// memory): every write of the group so far is gone.
    TransactionLost(Option<Call>),
    /// It panicked, or its savepoint could not start: its caller hears that no answer came.
    NoAnswer,
}

/// Runs calls from the front of `group` in one transaction, each after the first inside its
/// own savepoint, and answers them all after it ends: a failed call's answer can rest on
/// other calls' writes too (a version conflict with one of them), and a caller that reads
/// again at once must find those committed. If SQLite abandons the transaction, the calls
/// run so far are told, and the rest stay in `group` for a new transaction.
fn run_careful(conn: &mut Connection, group: &mut VecDeque<Call>) {
    // Without the outer transaction (the file is locked from outside), each call's savepoint
    // is its own transaction and RELEASE commits it.
    let mut grouped = run_cached(conn, "BEGIN IMMEDIATE").is_ok();
    // Nothing written in the transaction yet: the next call runs without a savepoint.
    let mut fresh = grouped;
    let mut answers: Vec<(Call, Option<String>)> = Vec::with_capacity(group.len());
    while let Some(call) = group.pop_front() {
        let ran = if fresh {
            fresh = false;
            run_first(conn, call, &mut grouped, &mut fresh)
        } else {
            run_call(conn, call)
        };
        if !grouped {
            // A failed first call's restart could not begin a transaction again: the answers
            // held so far are all of failed calls, their writes gone, so they go out now.
            for (call, why) in answers.drain(..) {
                call.reply(why.as_deref());
            }
        }
        let answer = match ran {
            Ran::Answered(call, why) => (call, why),
            Ran::TransactionLost(call) => {
                let why = "SQLite rolled the transaction back (disk full, I/O error or out of memory)";
                for (call, _) in answers.drain(..) {
                    call.reply(Some(why));
                }
                if let Some(call) = call {
                    call.reply(Some(why));
                }
                return;
            }
            Ran::NoAnswer => continue,
        };
        if grouped {
            answers.push(answer);
        } else {
            let (call, why) = answer;
            call.reply(why.as_deref());
        }
    }
    if grouped {
        let committed = run_cached(conn, "COMMIT");
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let failed = committed.err().map(|e| e.to_string());
        for (call, why) in answers {
            call.reply(failed.as_deref().or(why.as_deref()));
        }
    }
}

/// Runs the first call of a transaction without a savepoint: undoing it is rolling the
/// transaction back, which then starts again for the calls behind it (`grouped` says whether
/// it did, `fresh` that it is empty again). Why: a savepoint's statement journal
/// (`run_optimistic`). An import batch changes hundreds of index pages and is mostly alone
/// in its group; that copy, the file's writes and its deletion were most of the writer's
/// time under imports. The statement journal in memory (`temp_store=MEMORY`) was slower
/// still.
fn run_first(conn: &mut Connection, mut call: Call, grouped: &mut bool, fresh: &mut bool) -> Ran {
    let outcome = catch_unwind(AssertUnwindSafe(|| call.run(conn)));
    if conn.is_autocommit() {
        return Ran::TransactionLost(outcome.ok().map(|_| call));
    }
    let mut start_again = || {
        let _ = conn.execute_batch("ROLLBACK");
        *grouped = run_cached(conn, "BEGIN IMMEDIATE").is_ok();
        *fresh = *grouped;
    };
    match outcome {
        Ok(true) => Ran::Answered(call, None),
        Ok(false) => {
            start_again();
            Ran::Answered(call, None)
        }
        Err(_) => {
            start_again();
            Ran::NoAnswer
        }
    }
}

fn run_call(conn: &mut Connection, mut call: Call) -> Ran {
    if run_cached(conn, "SAVEPOINT call").is_err() {
        return Ran::NoAnswer;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| call.run(conn)));
    if conn.is_autocommit() {
        return Ran::TransactionLost(outcome.ok().map(|_| call));
    }
    match outcome {
        Ok(true) => match run_cached(conn, "RELEASE call") {
            Ok(()) => Ran::Answered(call, None),
            Err(e) => {
                undo(conn);
                Ran::Answered(call, Some(e.to_string()))
            }
        },
        Ok(false) => {
            undo(conn);
            Ran::Answered(call, None)
        }
        Err(_) => {
            undo(conn);
            Ran::NoAnswer
        }
    }
}

/// A statement of the group's frame, prepared once rather than parsed for every call (the
/// parser showed in the writer thread's profile under form captures).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Rolls back to the call's savepoint and removes it.
fn undo(conn: &Connection) {
    let _ = conn.execute_batch("ROLLBACK TO call; RELEASE call");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker over an in-memory database with one table, `t (x)`.
    fn worker_over_t() -> Worker {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        Worker::start(conn).unwrap()
    }

    /// What table `t` holds, in order.
    async fn stored(worker: &Worker) -> Vec<i64> {
        worker
            .run(|c| {
                let mut st = c
                    .prepare("SELECT x FROM t ORDER BY x")
                    .map_err(super::super::db)?;
                let rows = st.query_map([], |r| r.get(0)).map_err(super::super::db)?;
                rows.collect::<Result<_, _>>().map_err(super::super::db)
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn when_calls_in_one_group_fail_or_panic_should_keep_only_the_writes_of_those_that_succeeded() {
        let worker = worker_over_t();
        let calls = (0..300i64).map(|i| {
            let worker = worker.clone();
            tokio::spawn(async move {
                worker
                    .run(move |c| {
                        c.execute("INSERT INTO t (x) VALUES (?1)", [i])
                            .map_err(super::super::db)?;
                        match i % 3 {
                            0 => Err(StoreError::NotFound),
                            1 if i == 7 => panic!("a call that panics after writing"),
                            _ => Ok(i),
                        }
                    })
                    .await
            })
        });
        let results = futures::future::join_all(calls).await;
        let mut expected = Vec::new();
        for (i, result) in (0..300i64).zip(results) {
            match result.unwrap() {
                Ok(x) => {
                    assert_eq!(x, i);
                    expected.push(i);
                }
                Err(StoreError::NotFound) => assert_eq!(i % 3, 0),
                Err(StoreError::Unavailable(_)) => assert_eq!(i, 7),
                Err(e) => panic!("call {i}: {e}"),
            }
        }
        let stored = stored(&worker).await;
        assert_eq!(stored, expected);
        assert_eq!(stored.len(), 199);
    }

    /// Queues a call that holds the thread until the returned sender is used, and returns once
    /// it runs: the calls queued after this meet in the next group, in the order queued.
    async fn hold(worker: &Worker) -> (std::sync::mpsc::Sender<()>, impl Future<Output = ()>) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (running, runs) = tokio::sync::oneshot::channel::<()>();
        let mut running = Some(running);
        let mut call = Box::pin(worker.run(move |_| {
            if let Some(running) = running.take() {
                running.send(()).unwrap();
                held.recv().unwrap();
            }
            Ok(())
        }));
        assert!(futures::poll!(&mut call).is_pending());
        runs.await.unwrap();
        (release, async move { call.await.unwrap() })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_first_call_of_a_group_fails_or_panics_should_undo_only_it_and_commit_the_rest() {
        let worker = worker_over_t();
        let insert = |x: i64, then: fn(i64) -> Result<i64, StoreError>| {
            worker.run(move |c| {
                c.execute("INSERT INTO t (x) VALUES (?1)", [x])
                    .map_err(super::super::db)?;
                then(x)
            })
        };
        for first_fails in [
            (|_| Err(StoreError::NotFound)) as fn(i64) -> Result<i64, StoreError>,
            |_| panic!("a first call that panics after writing"),
        ] {
            let (release, held) = hold(&worker).await;
            // Each call is queued when first polled; poll them in order behind the gate.
            let mut first = Box::pin(insert(1, first_fails));
            let mut second = Box::pin(insert(2, Ok));
            let mut third = Box::pin(insert(3, |_| Err(StoreError::NotFound)));
            let mut fourth = Box::pin(insert(4, Ok));
            assert!(futures::poll!(&mut first).is_pending());
            assert!(futures::poll!(&mut second).is_pending());
            assert!(futures::poll!(&mut third).is_pending());
            assert!(futures::poll!(&mut fourth).is_pending());
            release.send(()).unwrap();
            held.await;
            assert!(first.await.is_err());
            assert_eq!(second.await.unwrap(), 2);
            assert!(third.await.is_err());
            assert_eq!(fourth.await.unwrap(), 4);
            let stored = stored(&worker).await;
            assert_eq!(stored, vec![2, 4]);
            worker
                .run(|c| c.execute("DELETE FROM t", []).map_err(super::super::db))
                .await
                .unwrap();
        }
    }

    /// A group runs without savepoints; when one of its calls fails, the calls before it run
    /// again (each in its own savepoint now), the failed call's writes are gone, and every
    /// caller gets the answer of the run that counted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_a_call_of_a_group_fails_should_run_the_group_again_and_undo_only_that_call() {
        let worker = worker_over_t();
        let runs: Vec<std::sync::Arc<std::sync::atomic::AtomicUsize>> =
            (0..4).map(|_| Default::default()).collect();
        let insert = |x: i64, fails: bool| {
            let runs = runs[x as usize].clone();
            worker.run(move |c| {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                c.execute("INSERT INTO t (x) VALUES (?1)", [x])
                    .map_err(super::super::db)?;
                // What the call saw: the rows of the calls before it, and its own.
                let seen: i64 = c
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .map_err(super::super::db)?;
                match fails {
                    true => Err(StoreError::NotFound),
                    false => Ok(seen),
                }
            })
        };
        let (release, held) = hold(&worker).await;
        let mut calls = [
            Box::pin(insert(0, false)),
            Box::pin(insert(1, false)),
            Box::pin(insert(2, true)),
            Box::pin(insert(3, false)),
        ];
        for call in calls.iter_mut() {
            assert!(futures::poll!(call).is_pending());
        }
        release.send(()).unwrap();
        held.await;
        let [a, b, c, d] = calls;
        assert_eq!(a.await.unwrap(), 1);
        assert_eq!(b.await.unwrap(), 2);
        assert!(matches!(c.await, Err(StoreError::NotFound)));
        assert_eq!(d.await.unwrap(), 3);
        assert_eq!(stored(&worker).await, vec![0, 1, 3]);
        let runs: Vec<usize> = runs
            .iter()
            .map(|r| r.load(std::sync::atomic::Ordering::SeqCst))
            .collect();
        // The held call opened the group, so these four met in the next one: the two before
        // the failure ran twice, the failed call twice (again in its savepoint), the last once.
        assert_eq!(runs, vec![2, 2, 2, 1]);

        // Without a failure each call runs once.
        let (release, held) = hold(&worker).await;
        let once = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut calls: Vec<_> = (10..14i64)
            .map(|x| {
                let once = once.clone();
                Box::pin(worker.run(move |c| {
                    once.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    c.execute("INSERT INTO t (x) VALUES (?1)", [x])
                        .map_err(super::super::db)
                }))
            })
            .collect();
        for call in calls.iter_mut() {
            assert!(futures::poll!(call).is_pending());
        }
        release.send(()).unwrap();
        held.await;
        for call in calls {
            assert_eq!(call.await.unwrap(), 1);
        }
        assert_eq!(once.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
