//! OpenAPI links from the operations that create things to the operations that use them, so a
//! client generator (and schemathesis's stateful phase) can follow a new lead to its timeline,
//! attachments and conversion instead of guessing ids. One table, applied to the merged
//! document of every part.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

/// (path, method, status) of a creating operation, where its response holds the new id, and
/// the operations (by operation id) that take that id as `{id}`.
const LINKS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "/v1/leads",
        "post",
        "201",
        "$response.body#/id",
        &[
            "get_lead",
            "patch_lead",
            "delete_lead",
            "assign_lead",
            "list_activities",
            "add_activity",
            "create_attachment",
            "list_attachments",
            "convert_one",
        ],
    ),
    (
        "/v1/imports",
        "post",
        "201",
        "$response.body#/job/id",
        &["get_job", "undo_job", "run_job"],
    ),
    (
        "/v1/exports",
        "post",
        "202",
        "$response.body#/id",
        &["get_export"],
    ),
    (
        "/v1/settings/sources",
        "post",
        "201",
        "$response.body#/id",
        &["change_source", "delete_source"],
    ),
    (
        "/v1/settings/webhooks",
        "post",
        "201",
        "$response.body#/id",
        &[
            "get_webhook",
            "change_webhook",
            "delete_webhook",
            "rotate_webhook_secret",
            "list_webhook_deliveries",
            "replay_failed_webhooks",
        ],
    ),
];

fn operation<'a>(doc: &'a mut OpenApi, path: &str, method: &str) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(path)?;
    match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "put" => item.put.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

/// Adds the links of `LINKS` whose operations are in `doc`.
pub fn add_links(doc: &mut OpenApi) {
    let known: Vec<String> = doc
        .paths
        .paths
        .values()
        .flat_map(|i| [&i.get, &i.put, &i.post, &i.delete, &i.patch])
        .flatten()
        .filter_map(|o| o.operation_id.clone())
        .collect();
    for (path, method, status, id_at, targets) in LINKS {
        let Some(op) = operation(doc, path, method) else {
            continue;
        };
        let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
            continue;
        };
        for target in targets.iter().filter(|t| known.iter().any(|k| k == *t)) {
            let mut link = LinkBuilder::new().operation_id(*target).parameter("id", *id_at);
            // Lead writes need the version the create answered with.
            if matches!(*target, "patch_lead" | "delete_lead") {
                link = link.parameter("header.If-Match", "$response.header.ETag");
            }
            response
                .links
                .insert((*target).to_owned(), RefOr::T(link.build()));
        }
    }
}
