//! bookpipe: Open Library subjects into a lake and a warehouse, one idempotent, date-partitioned task
//! at a time.
//!
//! The modules read in the order the data flows (docs/architecture.md has the map, file by file):
//!
//! - [`cli`] holds what was typed (clap types and every flag's env var, importing nothing of the
//!   crate); [`settings`] turns it into checked types ([`settings::Partition`], [`settings::Ds`],
//!   [`settings::LakeUrl`], ...) and refuses bad input at the edge; [`exit`] is the outcomes and
//!   their documented exit codes;
//! - [`lake`] is the only door to storage (`object_store`): [`lake::layout`] names every path,
//!   [`lake::commit`] is the commit protocol, [`lake::parquet`] streams Parquet;
//! - [`openlibrary`] is the only door to the HTTP API, paced by [`ratelimit`];
//! - [`fetch`] is the first task: Open Library → the raw zone;
//! - [`transform`] the second: raw → silver Parquet, with [`records`] (JSON → rows, pure),
//!   [`tables`] (the explicit schemas) and [`sorted`] (sorted, deterministic Parquet in bounded
//!   memory); [`silver`] is the contract between it and its readers; [`export`] writes silver as
//!   CSV;
//! - [`load`] puts silver into the [`warehouse`] (DuckDB, PostgreSQL or Redshift, each engine
//!   holding only what differs, every SQL text in [`warehouse::sql`] or `sql/`) once [`quality`],
//!   the gate, found the day plausible against the subject's history; [`aggregate`] computes the
//!   three answers there ([`warehouse::Gold`], by name) and writes them to the gold zone ([`gold`]
//!   reads their rows back, one type per table); [`report`] turns them into a page;
//! - [`status`] reads how far every partition of a range got, stage by stage;
//! - each command has one home: the task's own module (`fetch::fetch`, `load::load`, ...) or
//!   [`status`]; [`task`] is what every task's run shares (its span, its error context, its
//!   OpenLineage events through [`lineage`]); [`commands`] dispatches the command line and chains
//!   the five tasks for `run`.
//!
//! No task imports another: they meet only in the lake's layout, the silver contract and the
//! warehouse. [`logging`] sets up tracing; [`allocator`] tunes glibc's malloc.

// The synthetic test data (tests/it/support/synth.rs), shared with the integration tests, names
// the crate as they do; the unit tests include it too.
#[cfg(test)]
extern crate self as bookpipe;

pub mod aggregate;
pub mod allocator;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod export;
pub mod fetch;
pub mod gold;
pub mod lake;
pub mod lineage;
pub mod load;
pub mod logging;
pub mod openlibrary;
pub mod quality;
pub mod ratelimit;
pub mod records;
pub mod report;
pub mod settings;
pub mod silver;
pub mod sorted;
pub mod status;
pub mod tables;
pub mod task;
pub mod transform;
pub mod warehouse;

/// The version written into User-Agent headers and manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
