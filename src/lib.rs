//! bookpipe: Open Library subjects into a lake and a warehouse, one idempotent, date-partitioned task
//! at a time.
//!
//! The modules read in the order the data flows:
//!
//! - [`cli`] holds what was typed (clap), [`settings`] turns it into checked types ([`settings::Ds`],
//!   [`settings::Subject`], [`settings::LakeUrl`], ...) and refuses bad input at the edge;
//! - [`lake`] is the only door to storage (`object_store`), [`manifest`] the commit protocol;
//! - [`openlibrary`] is the only door to the HTTP API, paced by [`ratelimit`];
//! - [`fetch`] is the first task: Open Library → the raw zone;
//! - [`transform`] the second: raw → silver Parquet, with [`records`] (JSON → rows, pure),
//!   [`tables`] (the explicit schemas) and [`sorted`] (sorted, deterministic Parquet in bounded
//!   memory); [`export`] writes silver as CSV;
//! - [`load`] puts silver into the [`warehouse`] (DuckDB or PostgreSQL), [`aggregate`] computes the
//!   three answers there and writes them to the gold zone; [`run`] chains all four.
//!
//! [`synth`] makes Open Library-shaped data for tests and benchmarks.
//! [`exit`] maps every outcome to the documented process exit codes; [`logging`] sets up tracing.

pub mod aggregate;
pub mod cli;
pub mod exit;
pub mod export;
pub mod fetch;
pub mod lake;
pub mod load;
pub mod logging;
pub mod manifest;
pub mod memory;
pub mod openlibrary;
pub mod parquet_io;
pub mod ratelimit;
pub mod records;
pub mod run;
pub mod settings;
pub mod sorted;
pub mod synth;
pub mod tables;
pub mod transform;
pub mod warehouse;

/// The version written into User-Agent headers and manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
