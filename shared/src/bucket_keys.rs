//! Where things live in the bucket: every key layout, built and read in this one place. The
//! bucket's notifications (infra/template.yaml, checked by the infra test) send the first
//! four prefixes to their functions; on one machine the gateway's watchers read the same.
//!
//! | prefix | layout | who writes it |
//! |---|---|---|
//! | `imports/` | `{tenant}/{file}`, `{tenant}/{profile}/{file}`, `{tenant}/{job}/{file}` | admins, import jobs' upload URLs |
//! | `imports-continue/` | `{tenant}/{id}-{tag}.json` | a paused import run |
//! | `exports/requests/`, `bulk-edits/requests/` | `{tenant}/{job}.json` | the API, for a job |
//! | `attachments/` | `{tenant}/{lead}/{attachment}/{file}` | upload URLs |
//! | `exports/` | `{tenant}/{job}.{csv,xlsx}` | an export run |
//! | `reports/` | `{tenant}/{job}/{name}`, `{tenant}/{job}/parts/…` | an import run |

use crate::domain::ids::{LeadId, TenantId};
use crate::ports::blob::BlobKey;

/// The object key in an S3 event record: URL-encoded, with `+` for spaces.
pub fn decode_event_key(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub const IMPORTS: &str = "imports/";
/// Where a paused import leaves its continuation marker (Lambda). The prefix has its own
/// bucket notification to the import function, so the next chunk starts in a fresh invocation.
pub const IMPORTS_CONTINUE: &str = "imports-continue/";
/// Where the API drops an export job's request, which starts the export function.
pub const EXPORT_REQUESTS: &str = "exports/requests/";
/// Where the API drops a bulk-edit job's request (past 1,000 leads).
pub const BULK_EDIT_REQUESTS: &str = "bulk-edits/requests/";
pub const ATTACHMENTS: &str = "attachments/";

/// An object under `imports/`: the tenant's, and the folder between the tenant and the file
/// when there is one (a profile's folder, or an import job's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportKey<'a> {
    pub tenant: &'a str,
    pub folder: Option<&'a str>,
}

/// Reads `imports/{tenant}/{file}` or `imports/{tenant}/{folder}/{file…}`; `None` for any
/// other key (another prefix, or no file after the tenant).
pub fn import_key(key: &str) -> Option<ImportKey<'_>> {
    let mut parts = key.strip_prefix(IMPORTS)?.splitn(3, '/');
    let tenant = parts.next()?;
    let second = parts.next()?;
    Some(ImportKey {
        tenant,
        folder: parts.next().map(|_| second),
    })
}

/// The tenant an import object belongs to.
pub fn import_tenant(key: &BlobKey) -> Option<TenantId> {
    TenantId::parse(import_key(key.as_str())?.tenant).ok()
}

/// Where an import job's file is uploaded: `imports/{tenant}/{job}/{file}`.
pub fn import_upload(tenant: &TenantId, job: &str, file_segment: &str) -> String {
    format!("{IMPORTS}{tenant}/{job}/{file_segment}")
}

/// The prefix of a tenant's import objects.
pub fn tenant_imports(tenant: &str) -> String {
    format!("{IMPORTS}{tenant}/")
}

/// A continuation marker of the import of an object of `tenant`.
pub fn continuation(tenant: &str, id: &str, tag: &str) -> String {
    format!("{IMPORTS_CONTINUE}{tenant}/{id}-{tag}.json")
}

/// The tenant segment of a continuation marker (a marker may only point into its tenant's
/// imports).
pub fn continuation_tenant(marker: &str) -> &str {
    marker
        .strip_prefix(IMPORTS_CONTINUE)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
}

/// A job's request object under `prefix` (`EXPORT_REQUESTS`, `BULK_EDIT_REQUESTS`).
pub fn request(prefix: &str, tenant: &TenantId, id: &str) -> String {
    format!("{prefix}{tenant}/{id}.json")
}

/// The tenant and job a request key under `prefix` stands for.
pub fn request_of(prefix: &str, key: &BlobKey) -> Option<(TenantId, String)> {
    let rest = key.as_str().strip_prefix(prefix)?;
    let (tenant, file) = rest.split_once('/')?;
    let id = file.strip_suffix(".json")?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    Some((TenantId::parse(tenant).ok()?, id.to_owned()))
}

/// An export's file: `exports/{tenant}/{job}.{extension}`.
pub fn export_file(tenant: &TenantId, job: &str, extension: &str) -> String {
    format!("exports/{tenant}/{job}.{extension}")
}

/// An import job's report file (`summary.json`, `errors.csv`, …, and `parts/…` while it runs).
pub fn report(tenant: &TenantId, job: &str, name: &str) -> String {
    format!("reports/{tenant}/{job}/{name}")
}

/// The prefix of a job's report parts, removed once the job is done.
pub fn report_parts(tenant: &TenantId, job: &str) -> String {
    report(tenant, job, "parts/")
}

/// Where a lead's attachments are kept.
pub fn attachments_prefix(tenant: &TenantId, lead: &LeadId) -> String {
    format!("{ATTACHMENTS}{tenant}/{lead}/")
}

/// The tenant, lead and attachment id of an attachment's key; `None` for any other key.
pub fn attachment_of(key: &BlobKey) -> Option<(TenantId, LeadId, String)> {
    let mut parts = key.as_str().strip_prefix(ATTACHMENTS)?.splitn(4, '/');
    let tenant = TenantId::parse(parts.next()?).ok()?;
    let lead = LeadId::parse(parts.next()?).ok()?;
    let id = parts.next()?.to_owned();
    parts.next().filter(|name| !name.is_empty())?;
    Some((tenant, lead, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_import_keys_are_read_should_tell_tenant_and_folder() {
        let plain = import_key("imports/acme/leads.csv").unwrap();
        assert_eq!((plain.tenant, plain.folder), ("acme", None));
        let profiled = import_key("imports/acme/hubspot/leads.csv").unwrap();
        assert_eq!((profiled.tenant, profiled.folder), ("acme", Some("hubspot")));
        let deep = import_key("imports/acme/job-1/a/b.csv").unwrap();
        assert_eq!(deep.folder, Some("job-1"));
        assert_eq!(import_key("imports/acme"), None, "no file");
        assert_eq!(import_key("exports/acme/x.csv"), None);
        assert_eq!(continuation_tenant(&continuation("acme", "ab", "0")), "acme");
        let t = TenantId::parse("acme").unwrap();
        let req = BlobKey::parse(&request(EXPORT_REQUESTS, &t, "j1")).unwrap();
        assert_eq!(request_of(EXPORT_REQUESTS, &req), Some((t.clone(), "j1".into())));
        assert_eq!(request_of(BULK_EDIT_REQUESTS, &req), None);
        assert_eq!(report_parts(&t, "j1"), "reports/acme/j1/parts/");
    }
}
