//! The integration tests of `leadgate-core`, as one test binary: each suite is a module, and
//! the AWS SDK and the adapters are linked once instead of once per suite (ten links of
//! about 80 MB each made most of a clean `scripts/test`'s build time and disk). Run one
//! suite with `cargo test --workspace --test contract store_contract::`.

#[macro_use]
mod common;

mod blob_contract;
mod bulk_edit_contract;
mod conversion_contract;
mod export_contract;
mod import_contract;
mod import_failures_contract;
mod import_tables_contract;
mod import_update_contract;
mod infra_schema;
mod store_contract;
