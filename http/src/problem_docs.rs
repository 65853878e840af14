//! Makes the OpenAPI document say what the error handling does, once for every operation
//! rather than in each handler's annotation: every error answers `application/problem+json`
//! (the `Problem` schema), and every operation lists the errors any route can give: 400 (a
//! malformed query or body), 401 (no or a bad key), 403 (a role or tenant that may not), 404
//! where the path names something, 422 where there is input to validate, and 413 and 415
//! where there is a body. Found by schemathesis: the handlers' annotations listed only the
//! errors their own code returns, and as `application/json`.

use crate::error::PROBLEM_JSON;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

fn problem_response(description: &str) -> RefOr<Response> {
    let mut r = Response::new(description);
    r.content.insert(
        PROBLEM_JSON.to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    RefOr::T(r)
}

fn document_operation(path: &str, op: &mut Operation) {
    // Errors that handlers documented are problem+json, not application/json.
    for (code, resp) in op.responses.responses.iter_mut() {
        if !(code.starts_with('4') || code.starts_with('5')) {
            continue;
        }
        if let RefOr::T(r) = resp
            && let Some(json) = r.content.shift_remove("application/json")
        {
            r.content.insert(PROBLEM_JSON.to_owned(), json);
        }
    }
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = |code: &str, description: &str| {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| problem_response(description));
    };
    add("400", "the query string or body is malformed");
    add("401", "no API key or token, or one that is not valid");
    add("403", "the caller's role or tenant may not do this");
    if path.contains('{') {
        add(
            "404",
            "nothing of that id in the caller's tenant (or not visible to them)",
        );
    }
    if has_body || has_params {
        add("422", "the input is invalid; `errors` names each field");
    }
    if has_body {
        add("413", "the body is over the route's size limit");
        add("415", "the body is not JSON");
    }
}

/// Applies the rules above to every operation of `doc`.
pub fn document_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            document_operation(path, op);
        }
    }
}
