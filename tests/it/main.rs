//! The one integration-test binary (one link step instead of one per file): each module is a suite.

mod cli;
mod crash;
mod duckdb_lock;
mod faults;
mod fetch;
mod fetch_concurrent;
mod fetch_rules;
mod gate;
mod lineage;
mod multipart;
mod raw_batches;
mod refusals;
mod report;
mod secrets;
mod status;
mod storage;
mod support;
mod table_folders;
mod tls;
mod transform;
mod warehouse;
mod warehouse_history;
