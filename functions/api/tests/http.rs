//! The integration tests of `leadgate-api`, as one test binary (the SDK linked once): the
//! routes over HTTP (`api`), the Lambda events the function is invoked with
//! (`lambda_events`), and the served OpenAPI document (`openapi`).

#[macro_use]
mod common;

mod api;
mod lambda_events;
mod openapi;
