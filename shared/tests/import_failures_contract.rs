//! Import failures on every store/bucket pair: a failing store or bucket at each stage of a
//! run, a file that vanished, a run that stalled, and a poison file. Every job ends in a
//! terminal state with a reason; a transient fault costs a retry, never a lead or a duplicate.

use crate::common;

use common::faults::{Fault, Faults, FaultyBlobs, FaultyStore, Stage};
use leadgate_core::domain::query::LeadQuery;
use leadgate_core::domain::tenant::Tenant;
use leadgate_core::import::{DuplicatePolicy, ImportMode, ImportOptions};
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::{Clock, FixedClock};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::imports::pipeline::Budget;
use leadgate_core::services::imports::{
    ImportJob, ImportJobStatus, ImportPhase, MAX_ATTEMPTS, ObjectImport, get_import_job, import_object_with,
    list_import_jobs,
};
use leadgate_core::services::tenants;
use std::sync::Arc;

const ROWS: usize = 9;

fn file() -> Vec<u8> {
    let mut s = String::from("Name,Email,Lead Source\n");
    for i in 0..ROWS {
        s.push_str(&format!("Row {i},row{i}@fault.example,Referral\n"));
    }
    s.into_bytes()
}

struct Env {
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
    /// The real backends, for setting up and checking without faults.
    real_blobs: Arc<dyn BlobStore>,
    faults: Arc<Faults>,
    clock: Arc<FixedClock>,
    tenant: Tenant,
    key: BlobKey,
    etag: String,
    scratch: tempfile::TempDir,
}

impl Env {
    async fn new(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Env {
        let id = common::tenant("flt");
        let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Faults", chrono::Utc::now())
            .await
            .unwrap();
        let key = BlobKey::parse(&format!("imports/{}/drop.csv", tenant.id)).unwrap();
        let meta = blobs.put(&key, file().into(), "text/csv").await.unwrap();
        let faults = Arc::new(Faults::default());
        Env {
            store: Arc::new(FaultyStore {
                inner: store,
                faults: faults.clone(),
            }),
            blobs: Arc::new(FaultyBlobs {
                inner: blobs.clone(),
                faults: faults.clone(),
            }),
            real_blobs: blobs,
            faults,
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
            tenant,
            key,
            etag: meta.etag,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// One delivery of the object (an S3 event, a folder scan), checkpointing every 2 rows.
    async fn deliver(&self, budget: Budget) -> Result<ObjectImport, String> {
        self.deliver_as(ImportMode::ValidRows, budget).await
    }

    async fn deliver_as(&self, mode: ImportMode, budget: Budget) -> Result<ObjectImport, String> {
        let options = ImportOptions {
            mode,
            duplicates: DuplicatePolicy::Skip,
            default_source: None,
            ..Default::default()
        };
        let r = import_object_with(
            &*self.store,
            &*self.blobs,
            &*self.clock,
            &self.key,
            &self.etag,
            options,
            self.scratch.path(),
            budget,
            2,
        )
        .await
        .map_err(|e| e.to_string());
        // The next delivery comes a little later.
        self.clock.set(self.clock.now() + chrono::Duration::seconds(1));
        r
    }

    async fn job(&self) -> ImportJob {
        let jobs = list_import_jobs(&*self.store, &*self.real_blobs, &self.tenant.id, self.clock.now())
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1, "one job per dropped file: {jobs:?}");
        get_import_job(
            &*self.store,
            &*self.real_blobs,
            &self.tenant.id,
            &jobs[0].id,
            self.clock.now(),
        )
        .await
        .unwrap()
    }

    async fn lead_count(&self) -> usize {
        let q = LeadQuery {
            limit: 500,
            ..Default::default()
        };
        self.store
            .list_leads(&self.tenant.id, &q)
            .await
            .unwrap()
            .items
            .len()
    }
}

const STAGES: [Stage; 4] = [Stage::Download, Stage::Lookup, Stage::Write, Stage::Report];

async fn transient_faults_cost_a_retry(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    for stage in STAGES.into_iter().chain([Stage::Job]) {
        let e = Env::new(store.clone(), blobs.clone()).await;
        e.faults.arm(stage, Fault::Fail(1));
        let first = e.deliver(Budget::UNLIMITED).await;
        assert!(
            first.is_err(),
            "{stage:?}: the failing run reports its error: {first:?}"
        );
        if stage != Stage::Job {
            // (When the job record itself could not be written, there is none to show yet.)
            assert_eq!(e.job().await.status, ImportJobStatus::Running, "{stage:?}");
        }
        // The lease was given back: the very next delivery goes on, from the last checkpoint.
        let retry = e.deliver(Budget::UNLIMITED).await;
        let Ok(ObjectImport::Done(report)) = retry else {
            panic!("{stage:?}: the retry finishes: {retry:?}");
        };
        assert_eq!(report.created, ROWS as u64, "{stage:?}: {report:?}");
        assert_eq!(e.lead_count().await, ROWS, "{stage:?}: no lead lost or doubled");
        let job = e.job().await;
        assert_eq!(
            (job.status, job.created_by.as_str()),
            (ImportJobStatus::Completed, "bucket"),
            "{stage:?}"
        );
        assert!(job.failure.is_none() && job.progress.is_none(), "{job:?}");
    }
}

/// A bucket failure at any one of the report writes (parts, the assembled reports, the
/// summary) costs a retry: the reports come out whole, with the bad row in them.
async fn a_report_failure_anywhere_is_retried(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    for nth in 0..12 {
        let mut e = Env::new(store.clone(), blobs.clone()).await;
        let mut body = file();
        body.extend_from_slice(b"Bad Row,not-an-email,Referral\n");
        e.etag = e
            .real_blobs
            .put(&e.key, body.into(), "text/csv")
            .await
            .unwrap()
            .etag;
        e.faults.arm(Stage::Report, Fault::FailOnceAfter(nth));
        let mut outcome = None;
        for _ in 0..MAX_ATTEMPTS {
            if let Ok(ObjectImport::Done(r)) = e.deliver(Budget::UNLIMITED).await {
                outcome = Some(r);
                break;
            }
        }
        let r = outcome.unwrap_or_else(|| panic!("report call {nth}: the retry finishes"));
        assert_eq!(
            (r.created, r.error_rows),
            (ROWS as u64, 1),
            "report call {nth}: {r:?}"
        );
        let mut errors = String::new();
        use tokio::io::AsyncReadExt;
        e.real_blobs
            .get(&BlobKey::parse(&r.errors_csv).unwrap())
            .await
            .unwrap()
            .read_to_string(&mut errors)
            .await
            .unwrap();
        assert!(errors.contains("not-an-email"), "report call {nth}: {errors}");
    }
}

async fn lasting_faults_fail_the_job(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    for stage in STAGES {
        let e = Env::new(store.clone(), blobs.clone()).await;
        e.faults.arm(stage, Fault::Fail(1_000));
        for attempt in 1..MAX_ATTEMPTS {
            let r = e.deliver(Budget::UNLIMITED).await;
            assert!(r.is_err(), "{stage:?} attempt {attempt}: {r:?}");
        }
        let Ok(ObjectImport::Failed { reason }) = e.deliver(Budget::UNLIMITED).await else {
            panic!("{stage:?}: the last attempt fails the job");
        };
        assert!(
            reason.contains(&format!("attempt {MAX_ATTEMPTS} of {MAX_ATTEMPTS}")),
            "{reason}"
        );
        let job = e.job().await;
        assert_eq!(job.status, ImportJobStatus::Failed, "{stage:?}");
        assert_eq!(job.failure.as_deref(), Some(reason.as_str()));
        assert!(job.lease_until.is_none(), "a failed job holds no lease");
        // Terminal: later deliveries change nothing.
        e.faults.disarm();
        assert_eq!(
            e.deliver(Budget::UNLIMITED).await,
            Ok(ObjectImport::AlreadyHandled)
        );
        assert_eq!(e.job().await.status, ImportJobStatus::Failed);
        if stage != Stage::Report {
            assert!(reason.contains("nothing was written"), "{stage:?}: {reason}");
            assert_eq!(e.lead_count().await, 0, "{stage:?}");
        }
    }
}

async fn a_vanished_file_fails_at_once(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    e.faults.arm(Stage::Download, Fault::Missing);
    let Ok(ObjectImport::Failed { reason }) = e.deliver(Budget::UNLIMITED).await else {
        panic!("a file that is gone is not retried");
    };
    assert!(reason.contains("removed from the bucket"), "{reason}");
    assert_eq!(e.job().await.status, ImportJobStatus::Failed);
}

async fn a_stalled_job_is_settled_when_read(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    for file_gone in [true, false] {
        let e = Env::new(store.clone(), blobs.clone()).await;
        // A Lambda chunk pauses after 4 rows; its continuation never comes.
        let budget = Budget {
            deadline: None,
            max_rows: Some(4),
        };
        assert!(matches!(e.deliver(budget).await, Ok(ObjectImport::Paused { .. })));
        let job = e.job().await;
        assert_eq!(job.status, ImportJobStatus::Running);
        let progress = job.progress.clone().expect("a running job shows its progress");
        assert_eq!((progress.phase, progress.rows_done), (ImportPhase::Validating, 4));
        if file_gone {
            e.real_blobs.delete(&e.key).await.unwrap();
        }
        // Within its lease (and the grace after it) it is left alone.
        assert_eq!(e.job().await.status, ImportJobStatus::Running);
        e.clock.set(e.clock.now() + chrono::Duration::minutes(10));
        let settled = e.job().await;
        assert_eq!(settled.status, ImportJobStatus::Failed, "{settled:?}");
        let why = settled.failure.unwrap();
        let expected = if file_gone {
            "removed from the bucket"
        } else {
            "was not resumed"
        };
        assert!(why.contains(expected), "{why}");
        assert!(why.contains("nothing was written"), "{why}");
        // A continuation arriving after that changes nothing.
        assert_eq!(
            e.deliver(Budget::UNLIMITED).await,
            Ok(ObjectImport::AlreadyHandled)
        );
    }
}

async fn a_poison_file_fails_after_its_attempts(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Arc::new(Env::new(store, blobs).await);
    // Each run freezes at its first batch write, as a process killed there would.
    for attempt in 1..=MAX_ATTEMPTS {
        e.faults.arm(Stage::Write, Fault::Hang);
        let before = e.faults.struck.load(std::sync::atomic::Ordering::SeqCst);
        let run = {
            let e = e.clone();
            tokio::spawn(async move { e.deliver(Budget::UNLIMITED).await })
        };
        while e.faults.struck.load(std::sync::atomic::Ordering::SeqCst) == before {
            assert!(!run.is_finished(), "attempt {attempt} ended before its write");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Mid-write, the job says where it is.
        let job = e.job().await;
        assert_eq!(job.status, ImportJobStatus::Running);
        let p = job.progress.expect("progress while running");
        assert_eq!((p.phase, p.rows_total), (ImportPhase::Writing, Some(ROWS as u64)));
        run.abort();
        let _ = run.await;
        assert_eq!(e.deliver(Budget::UNLIMITED).await, Ok(ObjectImport::InProgress));
        e.clock.set(e.clock.now() + chrono::Duration::minutes(3));
    }
    e.faults.disarm();
    let Ok(ObjectImport::Failed { reason }) = e.deliver(Budget::UNLIMITED).await else {
        panic!("the attempt after the last is refused");
    };
    assert!(
        reason.contains(&format!("started {MAX_ATTEMPTS} times")),
        "{reason}"
    );
    assert_eq!(e.job().await.status, ImportJobStatus::Failed);
}

async fn all_or_nothing_undoes_a_failed_write(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    // Two batches land, then every write fails: the run cannot finish.
    e.faults.arm(Stage::Write, Fault::FailAfter(2));
    for _ in 1..MAX_ATTEMPTS {
        assert!(
            e.deliver_as(ImportMode::AllOrNothing, Budget::UNLIMITED)
                .await
                .is_err()
        );
    }
    assert_eq!(
        e.lead_count().await,
        4,
        "the two batches that landed are still there"
    );
    let Ok(ObjectImport::Failed { reason }) = e.deliver_as(ImportMode::AllOrNothing, Budget::UNLIMITED).await
    else {
        panic!("the last attempt fails the job");
    };
    assert!(reason.contains("4 leads it created were removed"), "{reason}");
    assert_eq!(e.lead_count().await, 0, "all or nothing: nothing");
    assert_eq!(e.job().await.status, ImportJobStatus::Failed);
}

/// Pass 2 writes a batch while it looks up the next one's contacts, on either store: each
/// lookup waits for the batch write under way to finish, which it does. (A DynamoDB write
/// moves only while polled: pass 2 once left it alone until the next batch was looked up,
/// so such a lookup waited its 30 s out and no write finished during one.)
async fn a_batch_is_written_while_the_next_is_looked_up(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let mut e = Env::new(store, blobs).await;
    let rows = leadgate_core::services::imports::pipeline::BATCH * 2 + 100;
    let mut csv = String::from("Name,Email,Lead Source\n");
    for i in 0..rows {
        csv.push_str(&format!("Row {i},row{i}@overlap.example,Referral\n"));
    }
    e.etag = e
        .real_blobs
        .put(&e.key, csv.into_bytes().into(), "text/csv")
        .await
        .unwrap()
        .etag;
    e.faults.arm(Stage::Lookup, Fault::WaitForWrites);
    let options = ImportOptions {
        mode: ImportMode::ValidRows,
        ..Default::default()
    };
    let done = import_object_with(
        &*e.store,
        &*e.blobs,
        &*e.clock,
        &e.key,
        &e.etag,
        options,
        e.scratch.path(),
        Budget::UNLIMITED,
        rows as u64 * 10,
    )
    .await
    .unwrap();
    let ObjectImport::Done(report) = done else {
        panic!("the import should finish: {done:?}");
    };
    assert_eq!(report.created, rows as u64);
    let calls = e.faults.take_calls();
    assert_eq!(calls.iter().filter(|c| **c == "put_leads_batch").count(), 3);
    assert!(
        e.faults
            .writes_done_during_lookups
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1,
        "no batch write finished while the next batch was looked up"
    );
}

store_and_bucket_cases!(
    when_a_batch_is_written_should_look_up_the_next_meanwhile => a_batch_is_written_while_the_next_is_looked_up,
    when_any_report_write_fails_once_should_retry_and_write_whole_reports => a_report_failure_anywhere_is_retried,
    when_the_store_or_bucket_fails_once_at_any_stage_should_finish_on_the_retry => transient_faults_cost_a_retry,
    when_the_store_or_bucket_keeps_failing_should_fail_the_job_with_a_reason => lasting_faults_fail_the_job,
    when_the_file_vanished_should_fail_the_job_at_once => a_vanished_file_fails_at_once,
    when_a_job_stalled_past_its_lease_should_be_failed_when_read => a_stalled_job_is_settled_when_read,
    when_an_all_or_nothing_job_fails_mid_write_should_remove_what_it_wrote => all_or_nothing_undoes_a_failed_write,
    when_a_file_kills_every_run_should_fail_after_its_attempts => a_poison_file_fails_after_its_attempts,
);
