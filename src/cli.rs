//! The command line as typed: clap types and nothing else (this module imports nothing of the
//! crate, so everything may import it).
//!
//! These structs hold raw strings and numbers; [`crate::settings`] turns them into checked types.
//! Every flag has exactly one environment variable (`BOOKPIPE_*`), both named once in [`flags`]:
//! clap reads them from there and every refusal names them from there, so a container can be
//! configured entirely from its environment and an error says which variable was wrong.

use std::fmt;

// Boolean flags read their env var with BoolishValueParser: `1/0`, `true/false`, `yes/no`, `on/off`
// (any case), as operators and Kubernetes manifests write them.
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// A flag and its environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without its dashes.
    pub long: &'static str,
    pub env: &'static str,
}

impl fmt::Display for Flag {
    /// `--ds (BOOKPIPE_DS)`: how refusals name the flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{} ({})", self.long, self.env)
    }
}

/// Every flag, by the name clap and the error messages both use.
pub mod flags {
    use super::Flag;

    const fn flag(long: &'static str, env: &'static str) -> Flag {
        Flag { long, env }
    }

    pub const LAKE: Flag = flag("lake", "BOOKPIPE_LAKE");
    pub const LOG_FORMAT: Flag = flag("log-format", "BOOKPIPE_LOG_FORMAT");
    pub const NOTHING_TO_DO_EXIT_CODE: Flag = flag("nothing-to-do-exit-code", "BOOKPIPE_NOTHING_TO_DO_EXIT_CODE");
    pub const DS: Flag = flag("ds", "BOOKPIPE_DS");
    pub const SUBJECT: Flag = flag("subject", "BOOKPIPE_SUBJECT");
    /// `run`'s subjects: the same `--subject`, repeated or comma-separated.
    pub const SUBJECTS: Flag = flag("subject", "BOOKPIPE_SUBJECTS");
    pub const API_URL: Flag = flag("api-url", "BOOKPIPE_API_URL");
    pub const CONTACT: Flag = flag("contact", "BOOKPIPE_CONTACT");
    pub const RATE: Flag = flag("rate", "BOOKPIPE_RATE");
    pub const LIMIT: Flag = flag("limit", "BOOKPIPE_LIMIT");
    pub const MAX_WORKS: Flag = flag("max-works", "BOOKPIPE_MAX_WORKS");
    pub const AUTHOR_MAX_AGE: Flag = flag("author-max-age", "BOOKPIPE_AUTHOR_MAX_AGE");
    pub const AUTHOR_BATCH: Flag = flag("author-batch", "BOOKPIPE_AUTHOR_BATCH");
    pub const MAX_MISSING_RATIO: Flag = flag("max-missing-ratio", "BOOKPIPE_MAX_MISSING_RATIO");
    pub const FORCE: Flag = flag("force", "BOOKPIPE_FORCE");
    pub const ALLOW_PAST_DS: Flag = flag("allow-past-ds", "BOOKPIPE_ALLOW_PAST_DS");
    pub const TIMEOUT: Flag = flag("timeout", "BOOKPIPE_TIMEOUT");
    pub const RETRIES: Flag = flag("retries", "BOOKPIPE_RETRIES");
    pub const RETRY_BASE_MS: Flag = flag("retry-base-ms", "BOOKPIPE_RETRY_BASE_MS");
    pub const CONCURRENCY: Flag = flag("concurrency", "BOOKPIPE_CONCURRENCY");
    pub const MAX_REJECT_RATIO: Flag = flag("max-reject-ratio", "BOOKPIPE_MAX_REJECT_RATIO");
    pub const EXPORT_FORMAT: Flag = flag("format", "BOOKPIPE_EXPORT_FORMAT");
    pub const EXPORT_OUT: Flag = flag("out", "BOOKPIPE_EXPORT_OUT");
    pub const WAREHOUSE: Flag = flag("warehouse", "BOOKPIPE_WAREHOUSE");
    pub const WAREHOUSE_PASSWORD_FILE: Flag = flag("warehouse-password-file", "BOOKPIPE_WAREHOUSE_PASSWORD_FILE");
    pub const WAREHOUSE_LOCK_TIMEOUT: Flag = flag("warehouse-lock-timeout", "BOOKPIPE_WAREHOUSE_LOCK_TIMEOUT");
    pub const OUTPUT: Flag = flag("output", "BOOKPIPE_OUTPUT");
    pub const ACCEPT_DROP: Flag = flag("accept-drop", "BOOKPIPE_ACCEPT_DROP");
    pub const BACKFILL: Flag = flag("backfill", "BOOKPIPE_BACKFILL");
    pub const MAX_DROP: Flag = flag("max-drop", "BOOKPIPE_MAX_DROP");
    pub const WARN_CHANGE: Flag = flag("warn-change", "BOOKPIPE_WARN_CHANGE");
    pub const QUALITY_DAYS: Flag = flag("quality-days", "BOOKPIPE_QUALITY_DAYS");
    pub const FROM: Flag = flag("from", "BOOKPIPE_FROM");
    pub const TO: Flag = flag("to", "BOOKPIPE_TO");
    pub const LINEAGE_URL: Flag = flag("lineage-url", "BOOKPIPE_LINEAGE_URL");
    pub const LINEAGE_FILE: Flag = flag("lineage-file", "BOOKPIPE_LINEAGE_FILE");
    pub const LINEAGE_NAMESPACE: Flag = flag("lineage-namespace", "BOOKPIPE_LINEAGE_NAMESPACE");
    pub const LINEAGE_TIMEOUT: Flag = flag("lineage-timeout", "BOOKPIPE_LINEAGE_TIMEOUT");
    /// The lineage receiver's API key (sent as a bearer token): an environment variable only, so it
    /// never shows in a process listing.
    pub const LINEAGE_API_KEY_ENV: &str = "BOOKPIPE_LINEAGE_API_KEY";

    /// The OpenLineage clients' own variables, read when bookpipe's are not set, so a container
    /// configured for any OpenLineage integration (Airflow's provider renders the parent IDs) needs
    /// nothing more.
    pub mod openlineage {
        pub const URL: &str = "OPENLINEAGE_URL";
        pub const ENDPOINT: &str = "OPENLINEAGE_ENDPOINT";
        pub const API_KEY: &str = "OPENLINEAGE_API_KEY";
        pub const NAMESPACE: &str = "OPENLINEAGE_NAMESPACE";
        pub const DISABLED: &str = "OPENLINEAGE_DISABLED";
        /// `<namespace>/<job name>/<run id>` of the run that started this one (the Airflow task).
        pub const PARENT_ID: &str = "OPENLINEAGE_PARENT_ID";
        /// The same of the root of the chain (the Airflow DAG run).
        pub const ROOT_PARENT_ID: &str = "OPENLINEAGE_ROOT_PARENT_ID";
    }

    /// The log filter (`info`, `debug`, `bookpipe=debug,...`): an environment variable only.
    pub const LOG_ENV: &str = "BOOKPIPE_LOG";
}

const EXAMPLES: &str = "\
Examples:
  bookpipe fetch --ds 2024-05-01 --subject science_fiction --contact data@example.com
  bookpipe transform --ds 2024-05-01 --subject science_fiction
  bookpipe load --ds 2024-05-01 --subject science_fiction --warehouse duckdb:./warehouse.duckdb
  bookpipe aggregate --ds 2024-05-01 --subject science_fiction --output json
  bookpipe report --ds 2024-05-01 --subject science_fiction
  bookpipe run --subject science_fiction --subject love --contact data@example.com
  bookpipe export --ds 2024-05-01 --subject science_fiction --format csv --out ./export
  bookpipe status --from 2024-05-01 --to 2024-05-07 --subject science_fiction
  BOOKPIPE_LAKE=/data/lake bookpipe fetch --ds 2024-05-01 --subject place:london

Exit codes: 0 success, 1 failure, 2 bad input, 3 nothing to do (partition complete),
4 missing input (run the earlier task first), 5 refused by load's quality gate (nothing loaded).";

#[derive(Debug, Parser)]
#[command(
    name = "bookpipe",
    version,
    about = "Open Library subjects into a lake and a warehouse, one date partition at a time"
)]
#[command(after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where the lake lives: a path, file:///path, s3://bucket/prefix, or memory:// (tests only).
    #[arg(long = flags::LAKE.long, global = true, env = flags::LAKE.env, default_value = "./lake")]
    pub lake: String,
    /// Log line format; `auto` is human on a terminal and JSON otherwise.
    #[arg(long = flags::LOG_FORMAT.long, global = true, env = flags::LOG_FORMAT.env, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// Exit code for "nothing to do" (the DAG's runtimes, ECS included, skip on 3; set 0 for a runner
    /// that cannot).
    #[arg(long = flags::NOTHING_TO_DO_EXIT_CODE.long, global = true, env = flags::NOTHING_TO_DO_EXIT_CODE.env, default_value_t = 3)]
    pub nothing_to_do_exit_code: u8,
    #[command(flatten)]
    pub lineage: LineageArgs,
}

/// Where each task's OpenLineage events (START, then COMPLETE or FAIL) go; off unless a URL or a
/// file is given here or in OpenLineage's own variables.
#[derive(Debug, Clone, Args)]
pub struct LineageArgs {
    /// OpenLineage receiver (Marquez, DataHub, ...): events are POSTed to <URL>/api/v1/lineage
    /// [else OPENLINEAGE_URL, with OPENLINEAGE_ENDPOINT and OPENLINEAGE_API_KEY]. Example:
    /// --lineage-url http://marquez:5000
    #[arg(long = flags::LINEAGE_URL.long, global = true, env = flags::LINEAGE_URL.env, hide_env_values = true)]
    pub lineage_url: Option<String>,
    /// Append the events to this file as JSON lines instead (`-`: stdout).
    #[arg(long = flags::LINEAGE_FILE.long, global = true, env = flags::LINEAGE_FILE.env)]
    pub lineage_file: Option<std::path::PathBuf>,
    /// Namespace of bookpipe's jobs [else OPENLINEAGE_NAMESPACE, else `default`, as Airflow's].
    #[arg(long = flags::LINEAGE_NAMESPACE.long, global = true, env = flags::LINEAGE_NAMESPACE.env)]
    pub lineage_namespace: Option<String>,
    /// Seconds one event may take to send; a receiver that fails or is slower is logged and sent
    /// nothing more by this process, and never fails the task.
    #[arg(long = flags::LINEAGE_TIMEOUT.long, global = true, env = flags::LINEAGE_TIMEOUT.env, default_value_t = 5)]
    pub lineage_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Human,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch a subject's works and their authors from Open Library into the raw zone.
    #[command(
        after_help = "Example:\n  bookpipe fetch --ds 2024-05-01 --subject science_fiction --contact data@example.com"
    )]
    Fetch(FetchArgs),
    /// Turn a raw partition into the silver Parquet tables books, authors, book_authors and rejects.
    #[command(after_help = "Example:\n  bookpipe transform --ds 2024-05-01 --subject science_fiction")]
    Transform(TransformArgs),
    /// Write a silver partition as books.csv, authors.csv and book_authors.csv.
    #[command(
        after_help = "Example:\n  bookpipe export --ds 2024-05-01 --subject science_fiction --format csv --out ./export"
    )]
    Export(ExportArgs),
    /// Check a silver partition against the subject's loaded days (the quality gate), then load it into
    /// the warehouse, replacing its (subject, ds) slice in one transaction.
    #[command(after_help = "Examples:\n  bookpipe load --ds 2024-05-01 --subject science_fiction\n  \
        PGPASSWORD=... bookpipe load --ds 2024-05-01 --subject science_fiction --warehouse postgres://etl@db/books")]
    Load(LoadArgs),
    /// Compute the three answers in the warehouse: gold Parquet in the lake, CSV copies in exports/.
    #[command(after_help = "Example:\n  bookpipe aggregate --ds 2024-05-01 --subject science_fiction --output json")]
    Aggregate(AggregateArgs),
    /// Fetch, transform, load, aggregate and report one or more subjects for one ds (default: today, UTC).
    #[command(
        after_help = "Example:\n  bookpipe run --subject science_fiction --subject love --contact data@example.com"
    )]
    Run(RunArgs),
    /// Write a subject's report for one ds as a self-contained HTML page in the lake (and the index of reports).
    #[command(after_help = "Example:\n  bookpipe report --ds 2024-05-01 --subject science_fiction")]
    Report(ReportArgs),
    /// Show, for each subject and ds of a range, which stages are complete: raw, silver, loaded, gold.
    #[command(after_help = "Examples:\n  bookpipe status --from 2024-05-01 --to 2024-05-07\n  \
        bookpipe status --from 2024-05-01 --to 2024-05-07 --subject love --output json")]
    Status(StatusArgs),
}

/// The partition every task works on.
#[derive(Debug, Clone, Args)]
pub struct PartitionArgs {
    /// Logical date of the partition, YYYY-MM-DD.
    #[arg(long = flags::DS.long, env = flags::DS.env)]
    pub ds: String,
    /// Open Library subject key, e.g. science_fiction, place:london, person:sherlock_holmes.
    #[arg(long = flags::SUBJECT.long, env = flags::SUBJECT.env)]
    pub subject: String,
}

#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub partition: PartitionArgs,
    #[command(flatten)]
    pub options: FetchOptions,
}

/// How `fetch` asks Open Library (shared by `fetch` and `run`).
#[derive(Debug, Clone, Args)]
pub struct FetchOptions {
    /// Base URL of the Open Library API (or a mirror).
    #[arg(long = flags::API_URL.long, env = flags::API_URL.env, default_value = "https://openlibrary.org")]
    pub api_url: String,
    /// Contact (e-mail or URL) sent in the User-Agent, as Open Library asks; raises the default rate.
    #[arg(long = flags::CONTACT.long, env = flags::CONTACT.env)]
    pub contact: Option<String>,
    /// Requests per second for the whole process [default: 1, or 3 with --contact].
    #[arg(long = flags::RATE.long, env = flags::RATE.env)]
    pub rate: Option<f64>,
    /// Works per subject page (Open Library allows at most 1000).
    #[arg(long = flags::LIMIT.long, env = flags::LIMIT.env, default_value_t = 1000)]
    pub limit: u32,
    /// Stop after this many works (caps a huge subject).
    #[arg(long = flags::MAX_WORKS.long, env = flags::MAX_WORKS.env)]
    pub max_works: Option<u64>,
    /// Reuse an author record fetched within this many days instead of fetching it again (each
    /// author's record expires at its own point between half this and this, so refreshes spread).
    #[arg(long = flags::AUTHOR_MAX_AGE.long, env = flags::AUTHOR_MAX_AGE.env, default_value_t = 30)]
    pub author_max_age: u32,
    /// Author records asked for in one /api/get_many request (1 to 100; request lines also stay
    /// under 4000 bytes).
    #[arg(long = flags::AUTHOR_BATCH.long, env = flags::AUTHOR_BATCH.env, default_value_t = 100)]
    pub author_batch: u32,
    /// Fail when more than this share of the subject's work_count was not received (a subject
    /// changes a little while it is read).
    #[arg(long = flags::MAX_MISSING_RATIO.long, env = flags::MAX_MISSING_RATIO.env, default_value_t = 0.001)]
    pub max_missing_ratio: f64,
    /// Refetch a partition that is already complete.
    #[arg(long = flags::FORCE.long, env = flags::FORCE.env, value_parser = BoolishValueParser::new())]
    pub force: bool,
    /// Allow a ds older than yesterday (UTC): the API only answers "today", so the data will be
    /// today's, filed under that older date.
    #[arg(long = flags::ALLOW_PAST_DS.long, env = flags::ALLOW_PAST_DS.env, value_parser = BoolishValueParser::new())]
    pub allow_past_ds: bool,
    /// Seconds before one HTTP request is abandoned (and retried).
    #[arg(long = flags::TIMEOUT.long, env = flags::TIMEOUT.env, default_value_t = 30)]
    pub timeout: u64,
    /// Retries of one request after a 5xx, 429, timeout or connection error.
    #[arg(long = flags::RETRIES.long, env = flags::RETRIES.env, default_value_t = 5)]
    pub retries: u32,
    /// First retry delay in milliseconds; doubles each retry, with jitter.
    #[arg(long = flags::RETRY_BASE_MS.long, env = flags::RETRY_BASE_MS.env, default_value_t = 500)]
    pub retry_base_ms: u64,
    /// Requests in flight at once: subject pages after the first, then author batches (all still share --rate).
    #[arg(long = flags::CONCURRENCY.long, env = flags::CONCURRENCY.env, default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Args)]
pub struct TransformArgs {
    #[command(flatten)]
    pub partition: PartitionArgs,
    /// Fail when more than this share of records (works and author records) is rejected.
    #[arg(long = flags::MAX_REJECT_RATIO.long, env = flags::MAX_REJECT_RATIO.env, default_value_t = 0.01)]
    pub max_reject_ratio: f64,
    /// Rebuild a silver partition that is already complete and current.
    #[arg(long = flags::FORCE.long, env = flags::FORCE.env, value_parser = BoolishValueParser::new())]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub partition: PartitionArgs,
    /// File format of the export.
    #[arg(long = flags::EXPORT_FORMAT.long, env = flags::EXPORT_FORMAT.env, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Local folder the files are written to (created when absent).
    #[arg(long = flags::EXPORT_OUT.long, env = flags::EXPORT_OUT.env)]
    pub out: std::path::PathBuf,
}

/// Where the warehouse is (shared by `load`, `aggregate` and `run`).
#[derive(Debug, Clone, Args)]
pub struct WarehouseArgs {
    /// Where the warehouse is, by URL scheme:
    ///   duckdb:PATH     an embedded DuckDB file, e.g. duckdb:./warehouse.duckdb
    ///   postgres://…    PostgreSQL (postgresql:// too), e.g. postgres://etl@db.example.com:5432/books?sslmode=verify-full
    ///   redshift://…    Redshift (port 5439 unless given; COPY from an s3:// lake as iam_role), e.g.
    ///                   redshift://loader@wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com/books?iam_role=arn:aws:iam::123456789012:role/bookpipe-redshift-copy
    /// A password in the URL is never logged.
    #[arg(long = flags::WAREHOUSE.long, env = flags::WAREHOUSE.env, default_value = "duckdb:./warehouse.duckdb", hide_env_values = true, verbatim_doc_comment)]
    pub warehouse: String,
    /// File holding the PostgreSQL password (else the URL's, else PGPASSWORD).
    #[arg(long = flags::WAREHOUSE_PASSWORD_FILE.long, env = flags::WAREHOUSE_PASSWORD_FILE.env)]
    pub warehouse_password_file: Option<std::path::PathBuf>,
    /// Seconds to wait for another process's lock on the warehouse before failing: DuckDB's file
    /// lock (one process at a time opens the file), PostgreSQL's lock_timeout.
    #[arg(long = flags::WAREHOUSE_LOCK_TIMEOUT.long, env = flags::WAREHOUSE_LOCK_TIMEOUT.env, default_value_t = 600)]
    pub warehouse_lock_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text for people: aggregate's summary when stdout is a terminal (else nothing), status's grid.
    Auto,
    /// The summary as one JSON document on stdout.
    Json,
}

/// The quality gate `load` passes a partition through first (shared by `load` and `run`).
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Load the day even though its works fell beyond --max-drop (a drop that is real); the other
    /// checks still refuse. `--accept-drop=false` too, for orchestrators that render the value.
    #[arg(long = flags::ACCEPT_DROP.long, env = flags::ACCEPT_DROP.env, value_parser = BoolishValueParser::new(),
        action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false",
        default_missing_value = "true")]
    pub accept_drop: bool,
    /// The day is a backfill: it may be older than the subject's newest loaded day (a re-run of a
    /// day loaded before is one anyway). `--backfill=false` too.
    #[arg(long = flags::BACKFILL.long, env = flags::BACKFILL.env, value_parser = BoolishValueParser::new(),
        action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false",
        default_missing_value = "true")]
    pub backfill: bool,
    /// Refuse the day when more than this share of the works is gone against the last loaded day
    /// or the median of the trailing loaded days (0.5: more than half).
    #[arg(long = flags::MAX_DROP.long, env = flags::MAX_DROP.env, default_value_t = 0.5)]
    pub max_drop: f64,
    /// Warn when works, authors or links move by more than this share either way.
    #[arg(long = flags::WARN_CHANGE.long, env = flags::WARN_CHANGE.env, default_value_t = 0.05)]
    pub warn_change: f64,
    /// Loaded days before the ds whose median the day is compared with.
    #[arg(long = flags::QUALITY_DAYS.long, env = flags::QUALITY_DAYS.env, default_value_t = 7)]
    pub quality_days: u32,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub partition: PartitionArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    pub partition: PartitionArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// How the summary is printed.
    #[arg(long = flags::OUTPUT.long, env = flags::OUTPUT.env, value_enum, default_value_t = OutputFormat::Auto)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Subject keys, repeated or comma-separated.
    #[arg(long = flags::SUBJECTS.long, env = flags::SUBJECTS.env, value_delimiter = ',', required = true)]
    pub subjects: Vec<String>,
    /// Logical date, YYYY-MM-DD [default: today, UTC].
    #[arg(long = flags::DS.long, env = flags::DS.env)]
    pub ds: Option<String>,
    #[command(flatten)]
    pub fetch: FetchOptions,
    /// Fail a subject when more than this share of its records is rejected.
    #[arg(long = flags::MAX_REJECT_RATIO.long, env = flags::MAX_REJECT_RATIO.env, default_value_t = 0.01)]
    pub max_reject_ratio: f64,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    /// How each subject's summary is printed.
    #[arg(long = flags::OUTPUT.long, env = flags::OUTPUT.env, value_enum, default_value_t = OutputFormat::Auto)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub partition: PartitionArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// First ds of the range, YYYY-MM-DD.
    #[arg(long = flags::FROM.long, env = flags::FROM.env)]
    pub from: String,
    /// Last ds of the range, YYYY-MM-DD (at most 366 days after --from).
    #[arg(long = flags::TO.long, env = flags::TO.env)]
    pub to: String,
    /// Subject keys, repeated or comma-separated [default: every subject in the raw zone].
    #[arg(long = flags::SUBJECTS.long, env = flags::SUBJECTS.env, value_delimiter = ',')]
    pub subjects: Vec<String>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// `auto` prints the grid as a table, `json` as one JSON document.
    #[arg(long = flags::OUTPUT.long, env = flags::OUTPUT.env, value_enum, default_value_t = OutputFormat::Auto)]
    pub output: OutputFormat,
}
