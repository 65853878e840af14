//! Capture: every submission is stored before the caller gets a 2xx, and processed into a
//! lead, a "resubmitted" activity on a matching open lead, spam, or a failed capture an admin
//! can replay. A platform delivery is stored raw first (`store_submission`); a form post is
//! stored with its outcome (`take_form_post`). Platform deliveries are keyed by the platform's lead id, so a delivery that
//! arrives ten times is stored once and makes one lead.

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::capture::{
    Channel, GoogleConfig, LinkedinConfig, MetaConfig, Submission, SubmissionStatus, map_fields,
};
use crate::domain::email::Email;
use crate::domain::ids::{LeadId, SourceId};
use crate::domain::lead::ExternalRef;
use crate::domain::phone::Phone;
use crate::domain::query::{Page, decode_position_cursor, encode_position_cursor};
use crate::domain::settings::ResubmissionPolicy;
use crate::domain::tenant::Tenant;
use crate::ports::clock::Clock;
use crate::ports::fetch::LeadFetcher;
use crate::ports::store::{Expect, LeadStore, RecordWrite, StoreError, get_typed, kinds, put_typed};
use crate::services::ServiceError;
use crate::services::duplicates::find_duplicate;
use crate::services::leads::{CreateLead, CreateResult, DuplicatePolicy, create_lead, get_lead};
use crate::services::settings::get_form;
use serde::de::DeserializeOwned;

/// What storing a submission found.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Stored now: process it.
    New(Submission),
    /// The same delivery was stored before (as it is now).
    Seen(Submission),
}

/// Stores the raw submission. With a deterministic id (platform deliveries) a repeat finds
/// the first one instead.
pub async fn store_submission(
    store: &dyn LeadStore,
    tenant: &Tenant,
    sub: Submission,
) -> Result<Intake, ServiceError> {
    match put_typed(
        store,
        &tenant.id,
        kinds::SUBMISSION,
        &sub.id,
        &sub,
        Expect::Absent,
    )
    .await
    {
        Ok(_) => Ok(Intake::New(sub)),
        Err(StoreError::Conflict { .. }) => Ok(Intake::Seen(get_submission(store, tenant, &sub.id).await?)),
        Err(e) => Err(e.into()),
    }
}

/// What a form post came to.
#[derive(Debug, Clone, PartialEq)]
pub enum FormPost {
    /// Processed (or spam): the submission as stored, with its outcome.
    Done(Submission),
    /// Processing failed (the store erring): the post is stored as a failed capture, for a
    /// replay.
    Kept(Submission),
}

/// Takes a form post: processes it, and the submission is stored with its outcome, in the
/// lead's own write when it makes or meets a lead. A new form lead is one write, where
/// storing the raw post first made it two. The caller still hears of nothing that is not
/// stored: when processing fails, the post is stored as a failed capture instead (one more
/// try at the store), and only when that fails too does the caller get the error. The cost:
/// a process that dies mid-post, or a store that is down, leaves nothing where the raw copy
/// was stored before; the sender got no 2xx for it either way. A form post's id is new, so
/// there is no earlier delivery to find first, as there is for a platform's (which still
/// stores the raw delivery first: `store_submission`).
pub async fn take_form_post(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    fetcher: &dyn LeadFetcher,
    tenant: &Tenant,
    sub: Submission,
    known: Option<Known>,
) -> Result<FormPost, ServiceError> {
    if sub.status == SubmissionStatus::Spam {
        let (Intake::New(kept) | Intake::Seen(kept)) = store_submission(store, tenant, sub).await?;
        return Ok(FormPost::Done(kept));
    }
    let failed = match process_known(store, clock, fetcher, tenant, sub.clone(), known).await {
        Ok(done) => return Ok(FormPost::Done(done)),
        Err(e) => e,
    };
    tracing::error!(error = ?failed, submission = %sub.id, "capture processing failed; keeping the post for replay");
    // Kept as a failed capture, with its event, so an admin finds it under `?status=failed`
    // and replays it; only if nothing of it is stored yet.
    let mut kept = sub;
    kept.status = SubmissionStatus::Failed;
    kept.attempts += 1;
    kept.error = Some("the post could not be processed then; replay it".into());
    let writes = failure_writes(clock, tenant, &kept, Expect::Absent)?;
    match store.put_records(&tenant.id, &writes).await {
        Ok(()) => Ok(FormPost::Kept(kept)),
        // The failed processing stored its outcome after all (a write that erred once it
        // was done): that outcome stands.
        Err(StoreError::Conflict { .. }) => {
            Ok(FormPost::Done(get_submission(store, tenant, &kept.id).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes a platform's delivery: stored raw first under the platform's id, so a repeat finds
/// the first (answered as it is once processed; processed again when it had failed), then
/// processed. A processing error leaves it as it was stored (`received`, or `failed` for a
/// repeat of a failed one) for a replay, and the platform still gets its 200: it has
/// delivered, and would only deliver again and again.
pub async fn take_platform_delivery(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    fetcher: &dyn LeadFetcher,
    tenant: &Tenant,
    sub: Submission,
    known: Known,
) -> Result<Submission, ServiceError> {
    let sub = match store_submission(store, tenant, sub).await? {
        Intake::New(s) => s,
        Intake::Seen(s) if s.status == SubmissionStatus::Failed => s,
        Intake::Seen(s) => return Ok(s),
    };
    match process_known(store, clock, fetcher, tenant, sub.clone(), Some(known)).await {
        Ok(done) => Ok(done),
        Err(e) => {
            tracing::error!(error = ?e, submission = %sub.id, "capture processing failed; kept for replay");
            Ok(sub)
        }
    }
}

pub async fn get_channel<T: DeserializeOwned>(
    store: &dyn LeadStore,
    tenant: &Tenant,
    channel: Channel,
) -> Result<Option<T>, ServiceError> {
    Ok(
        get_typed::<T>(store, &tenant.id, kinds::CHANNEL, channel.as_str())
            .await?
            .map(|v| v.value),
    )
}

pub async fn put_channel<T: serde::Serialize>(
    store: &dyn LeadStore,
    tenant: &Tenant,
    channel: Channel,
    cfg: &T,
) -> Result<(), ServiceError> {
    put_typed(
        store,
        &tenant.id,
        kinds::CHANNEL,
        channel.as_str(),
        cfg,
        Expect::Any,
    )
    .await?;
    Ok(())
}

/// What the entry point already read to check a delivery (the form, the channel's secrets):
/// processing uses it instead of reading it again.
#[derive(Debug, Clone)]
pub enum Known {
    Form(crate::domain::settings::CaptureForm),
    Meta(MetaConfig),
    Google(GoogleConfig),
    Linkedin(LinkedinConfig),
}

impl Known {
    pub fn channel(&self) -> Channel {
        match self {
            Known::Form(_) => Channel::Form,
            Known::Meta(_) => Channel::Meta,
            Known::Google(_) => Channel::Google,
            Known::Linkedin(_) => Channel::Linkedin,
        }
    }
}

struct Plan {
    pairs: Vec<(String, String)>,
    /// The ad, as a platform's fetched lead names it (none for forms and Google, whose
    /// webhook names it instead).
    ad: crate::domain::lead::AdRef,
    mapping: std::collections::BTreeMap<String, String>,
    source: SourceId,
    policy: ResubmissionPolicy,
}

/// Gathers the answers of a submission: from the form post, or from the platform.
async fn plan(
    store: &dyn LeadStore,
    fetcher: &dyn LeadFetcher,
    tenant: &Tenant,
    sub: &Submission,
    known: Option<Known>,
) -> Result<Plan, String> {
    let missing = |c: &str| format!("the {c} channel is not configured for this tenant");
    let external = sub.external_id.clone().unwrap_or_default();
    let known = known.filter(|k| k.channel() == sub.channel);
    match sub.channel {
        Channel::Form => {
            let key = sub.form.clone().unwrap_or_default();
            let form = match known {
                Some(Known::Form(f)) if f.key == key => f,
                _ => get_form(store, &tenant.id, &key)
                    .await
                    .map_err(|_| format!("form '{key}' no longer exists"))?,
            };
            Ok(Plan {
                ad: Default::default(),
                pairs: crate::domain::capture::form_pairs(&sub.payload),
                mapping: form.mapping,
                source: form.source,
                policy: form.on_resubmission,
            })
        }
        Channel::Google => {
            let cfg: GoogleConfig = match known {
                Some(Known::Google(c)) => c,
                _ => get_channel(store, tenant, Channel::Google)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(missing("google"))?,
            };
            Ok(Plan {
                ad: Default::default(),
                pairs: crate::domain::capture::google_pairs(&sub.payload),
                mapping: Default::default(),
                source: cfg.source,
                policy: ResubmissionPolicy::Attach,
            })
        }
        Channel::Meta => {
            let cfg: MetaConfig = match known {
                Some(Known::Meta(c)) => c,
                _ => get_channel(store, tenant, Channel::Meta)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(missing("meta"))?,
            };
            let lead = fetcher
                .meta_lead(&cfg, &external)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Plan {
                ad: lead.ad,
                pairs: lead.answers,
                mapping: Default::default(),
                source: cfg.source,
                policy: ResubmissionPolicy::Attach,
            })
        }
        Channel::Linkedin => {
            let cfg: LinkedinConfig = match known {
                Some(Known::Linkedin(c)) => c,
                _ => get_channel(store, tenant, Channel::Linkedin)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(missing("linkedin"))?,
            };
            let lead = fetcher
                .linkedin_response(&cfg, &external)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Plan {
                ad: lead.ad,
                pairs: lead.answers,
                mapping: Default::default(),
                source: cfg.source,
                policy: ResubmissionPolicy::Attach,
            })
        }
    }
}

/// Processes a stored submission and saves its outcome on the record.
pub async fn process_submission(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    fetcher: &dyn LeadFetcher,
    tenant: &Tenant,
    sub: Submission,
) -> Result<Submission, ServiceError> {
    process_known(store, clock, fetcher, tenant, sub, None).await
}

/// `process_submission` with what the entry point read already (its form or channel
/// settings), so a delivery reads them once.
pub async fn process_known(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    fetcher: &dyn LeadFetcher,
    tenant: &Tenant,
    mut sub: Submission,
    known: Option<Known>,
) -> Result<Submission, ServiceError> {
    sub.attempts += 1;
    sub.error = None;
    sub.errors.clear();
    match plan(store, fetcher, tenant, &sub, known).await {
        Err(why) => {
            sub.status = SubmissionStatus::Failed;
            sub.error = Some(why);
        }
        Ok(plan) => {
            let mut input = map_fields(&plan.pairs, &plan.mapping, &plan.source);
            input.provenance.channel = sub.channel.as_str().to_owned();
            input.provenance.form = sub.form.clone();
            input.provenance.is_test = sub.is_test;
            // The fetched lead's ids first (Meta's Graph lead names the campaign), the
            // webhook's for the rest.
            input.provenance.ad = plan
                .ad
                .clone()
                .or(crate::domain::capture::ad_ref(sub.channel, &sub.payload));
            let actor = Actor::Capture {
                channel: sub.channel.as_str().to_owned(),
            };
            let email = input.email.as_deref().and_then(|e| Email::parse(e).ok());
            let phone = input
                .phone
                .as_deref()
                .or(input.mobile.as_deref())
                .and_then(|p| Phone::parse(p, tenant.settings.default_region).ok());
            if plan.policy == ResubmissionPolicy::Attach
                && let Some(m) =
                    find_duplicate(store, &tenant.id, email.as_ref(), phone.as_ref(), None).await?
                && let Some(done) = attach_resubmission(store, clock, tenant, &sub, m.lead_id, &actor).await?
            {
                return Ok(done);
            }
            let external = match sub.channel {
                Channel::Form => None,
                c => sub.external_id.clone().map(|id| ExternalRef {
                    provider: c.as_str().to_owned(),
                    id,
                }),
            };
            // The outcome is written with the lead, so no crash leaves a lead whose submission
            // still says `received` (a replay would then find the lead by its guard, but a
            // list of failed captures would never show the stuck one).
            let lead_id = LeadId::new();
            let mut done = sub.clone();
            done.status = SubmissionStatus::Processed;
            done.lead_id = Some(lead_id);
            let req = CreateLead {
                input,
                actor: actor.clone(),
                external,
                // A replayed form submission must not make a second lead either.
                // Any replay may reuse it: the form's mapping may have changed since.
                idempotency_key: Some(crate::ports::store::IdempotencyKey {
                    key: format!("capture:{}", sub.id),
                    fingerprint: None,
                }),
                duplicates: DuplicatePolicy::Create,
                entries: vec![ActivityKind::Captured {
                    channel: sub.channel.as_str().into(),
                    submission_id: sub.id.clone(),
                    resubmitted: false,
                }],
                id: Some(lead_id),
                quality: tenant.settings.capture_data_quality,
                records: vec![RecordWrite::typed(
                    kinds::SUBMISSION,
                    sub.id.clone(),
                    &done,
                    Expect::Any,
                )?],
            };
            match create_lead(store, clock, tenant, req).await {
                Ok(CreateResult::Created(_)) => return Ok(done),
                Ok(CreateResult::AlreadyProcessed(id)) => {
                    sub.status = SubmissionStatus::Processed;
                    sub.lead_id = Some(id);
                }
                Ok(CreateResult::Duplicate(m)) => {
                    sub.status = SubmissionStatus::Processed;
                    sub.lead_id = Some(m.lead_id);
                }
                Err(ServiceError::Validation(errs)) => {
                    sub.status = SubmissionStatus::Failed;
                    sub.error = Some("the submission is not a valid lead".into());
                    sub.errors = errs.0.into_iter().map(Into::into).collect();
                }
                Err(e) => return Err(e),
            }
        }
    }
    if sub.status == SubmissionStatus::Failed {
        store
            .put_records(&tenant.id, &failure_writes(clock, tenant, &sub, Expect::Any)?)
            .await?;
    } else {
        put_typed(store, &tenant.id, kinds::SUBMISSION, &sub.id, &sub, Expect::Any).await?;
    }
    Ok(sub)
}

/// A failed submission and its `capture.failed` event, to go in one write; each failed
/// attempt is its own event.
fn failure_writes(
    clock: &dyn Clock,
    tenant: &Tenant,
    sub: &Submission,
    expect: Expect,
) -> Result<[RecordWrite; 2], ServiceError> {
    let event = crate::domain::webhook::OutboxEntry::other(
        tenant.id.clone(),
        crate::domain::webhook::EventType::CaptureFailed,
        &format!("capture-{}-{}", sub.id, sub.attempts),
        clock.now(),
        serde_json::json!({ "submission": sub }),
    );
    Ok([
        RecordWrite::typed(kinds::SUBMISSION, sub.id.clone(), sub, expect)?,
        crate::ports::store::outbox_record(&event)?,
    ])
}

/// A resubmission on an open lead: its `captured` entry and the submission's outcome in one
/// write with the lead. `None` when the lead is closed (the submission then makes a new
/// lead). A lead changed meanwhile is read again, a few times.
async fn attach_resubmission(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    sub: &Submission,
    lead_id: LeadId,
    actor: &Actor,
) -> Result<Option<Submission>, ServiceError> {
    const ATTEMPTS: u32 = 3;
    let mut done = sub.clone();
    done.status = SubmissionStatus::Resubmitted;
    done.lead_id = Some(lead_id);
    let outcome = RecordWrite::typed(kinds::SUBMISSION, sub.id.clone(), &done, Expect::Any)?;
    let entry = Activity::new(
        tenant.id.clone(),
        lead_id,
        clock.now(),
        actor.clone(),
        ActivityKind::Captured {
            channel: sub.channel.as_str().into(),
            submission_id: sub.id.clone(),
            resubmitted: true,
        },
    );
    for attempt in 1..=ATTEMPTS {
        let lead = get_lead(store, &tenant.id, &lead_id).await?;
        if !lead.status.is_open() {
            return Ok(None);
        }
        match store
            .commit_lead_change(
                &lead,
                std::slice::from_ref(&outcome),
                std::slice::from_ref(&entry),
            )
            .await
        {
            Ok(_) => return Ok(Some(done)),
            Err(StoreError::Conflict {
                expected: Some(_), ..
            }) if attempt < ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the last attempt returns")
}

/// Processes a failed (or interrupted) submission again; a processed one is returned as is.
pub async fn replay_submission(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    fetcher: &dyn LeadFetcher,
    tenant: &Tenant,
    id: &str,
) -> Result<Submission, ServiceError> {
    let sub = get_submission(store, tenant, id).await?;
    match sub.status {
        SubmissionStatus::Failed | SubmissionStatus::Received => {
            process_submission(store, clock, fetcher, tenant, sub).await
        }
        _ => Ok(sub),
    }
}

pub async fn get_submission(
    store: &dyn LeadStore,
    tenant: &Tenant,
    id: &str,
) -> Result<Submission, ServiceError> {
    Ok(get_typed::<Submission>(store, &tenant.id, kinds::SUBMISSION, id)
        .await?
        .ok_or(ServiceError::NotFound { what: "submission" })?
        .value)
}

/// Submissions, newest ids last, optionally only one status.
pub async fn list_submissions(
    store: &dyn LeadStore,
    tenant: &Tenant,
    status: Option<SubmissionStatus>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Submission>, ServiceError> {
    let mut after = cursor.map(decode_position_cursor).transpose()?;
    let limit = limit.clamp(1, 200) as usize;
    let mut items = Vec::new();
    loop {
        let batch = store
            .list_records(&tenant.id, kinds::SUBMISSION, after.as_deref(), 500)
            .await?;
        let done = batch.len() < 500;
        for r in batch {
            after = Some(r.id.clone());
            let s: Submission = serde_json::from_value(r.body)
                .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("submission: {e}"))))?;
            if status.is_none_or(|st| s.status == st) {
                items.push(s);
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        next_cursor: after.as_deref().map(encode_position_cursor),
                    });
                }
            }
        }
        if done {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
    }
}
