//! Checked settings: what was typed ([`crate::cli`]) turned into types that cannot hold bad values.
//!
//! Every refusal is a [`BadInput`] naming the flag, so the process exits with the bad-input code and
//! a message a person can act on, before any network or storage is touched.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;

use crate::cli::{
    AggregateArgs, ExportArgs, ExportFormat, FetchArgs, FetchOptions, Flag, GateArgs, GlobalArgs, LoadArgs,
    OutputFormat, ReportArgs, RunArgs, StatusArgs, TransformArgs, flags,
};
use crate::exit::BadInput;

mod lineage;
mod partition;
mod warehouse_url;
pub use lineage::{ApiKey, LineageSettings, LineageSink, RunRef, is_uuid};
pub use partition::{Ds, Partition, Subject};
pub use warehouse_url::{PgEnv, PgTarget, PgTls, RedshiftTarget, TlsMode, WarehouseUrl, redacted};

/// Where the lake lives. All access goes through `object_store`; this says which backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    /// A local directory (a plain path or `file://`), created when absent.
    Local(PathBuf),
    /// A process-local in-memory store, for tests.
    Memory,
    /// `s3://bucket/prefix`: Amazon S3 or an S3-compatible server (`AWS_ENDPOINT_URL`).
    S3 { bucket: String, prefix: String },
}

impl LakeUrl {
    pub fn parse(flag: Flag, raw: &str) -> Result<Self, BadInput> {
        if raw.is_empty() {
            return Err(BadInput::new(flag, "the lake location is empty"));
        }
        if raw == "memory://" || raw == "memory:" {
            return Ok(LakeUrl::Memory);
        }
        if let Some(rest) = raw.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(BadInput::new(
                    flag,
                    format!("{raw:?}: a file:// URL needs an absolute path (file:///data/lake)"),
                ));
            }
            return Ok(LakeUrl::Local(PathBuf::from(rest)));
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
            if !valid {
                return Err(BadInput::new(flag, format!("{raw:?}: {bucket:?} is not an S3 bucket name")));
            }
            let prefix = prefix.trim_matches('/');
            // A plain path of characters S3 keys keep as they are (it also ends up in SQL literals:
            // Redshift's COPY names the objects by URI).
            let plain = prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_.-=:".contains(&b));
            if !plain || prefix.split('/').any(|part| part == ".." || part == ".") || prefix.contains("//") {
                return Err(BadInput::new(flag, format!("{raw:?}: the prefix must be a plain path")));
            }
            return Ok(LakeUrl::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() });
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(BadInput::new(
                flag,
                format!("{raw:?}: the {scheme}:// scheme is not supported; use a path, file://, s3:// or memory://"),
            ));
        }
        Ok(LakeUrl::Local(PathBuf::from(raw)))
    }
}

impl fmt::Display for LakeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeUrl::Local(path) => write!(f, "{}", path.display()),
            LakeUrl::Memory => f.write_str("memory://"),
            LakeUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct GlobalSettings {
    pub lake: LakeUrl,
    pub lineage: LineageSettings,
}

impl GlobalSettings {
    /// The global flags; lineage falls back to OpenLineage's variables in the process environment.
    pub fn resolve(args: &GlobalArgs) -> Result<Self, BadInput> {
        Ok(Self {
            lake: LakeUrl::parse(flags::LAKE, &args.lake)?,
            lineage: LineageSettings::resolve(&args.lineage, |name| std::env::var(name).ok())?,
        })
    }
}

/// How the HTTP client retries and paces itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub api_url: Url,
    pub user_agent: String,
    /// Requests per second, shared by every request of the process.
    pub rate: f64,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_base: Duration,
}

/// Everything `fetch` needs, checked.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub partition: Partition,
    pub http: HttpSettings,
    pub limit: u32,
    pub max_works: Option<u64>,
    pub author_max_age: chrono::Duration,
    /// Keys per `/api/get_many` request.
    pub author_batch: usize,
    /// The share of `work_count` that may be missing after the last page.
    pub max_missing_ratio: f64,
    pub force: bool,
    pub allow_past_ds: bool,
    pub concurrency: usize,
    /// The moment the task started: stamps `fetched_at` and judges the author cache's age.
    pub now: DateTime<Utc>,
    /// This run's tag in the names of the author objects it writes (`layout::author_batch_name`):
    /// drawn, because two runs of one partition may share the millisecond and every setting.
    pub run_tag: String,
}

/// Open Library refuses `limit` above this (a `422` since 2026, a `400` before).
pub const MAX_LIMIT: u32 = 1000;
/// Keys per `/api/get_many` request at most: Open Library's own clients ask for 100 at a time.
pub const MAX_AUTHOR_BATCH: u32 = 100;

impl FetchSettings {
    pub fn resolve(args: &FetchArgs, now: DateTime<Utc>) -> Result<Self, BadInput> {
        Self::from_options(Partition::resolve(&args.partition)?, &args.options, now)
    }

    /// The settings for `partition` with the fetch options given (shared with `run`).
    pub fn from_options(partition: Partition, args: &FetchOptions, now: DateTime<Utc>) -> Result<Self, BadInput> {
        let api_url = parse_api_url(flags::API_URL, &args.api_url)?;
        let contact = match args.contact.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) if c.chars().any(|ch| ch.is_control() || matches!(ch, '(' | ')')) => {
                return Err(BadInput::new(
                    flags::CONTACT,
                    "must be one line without parentheses, e.g. data@example.com",
                ));
            }
            Some(c) => Some(c.to_string()),
        };
        let rate = args.rate.unwrap_or(if contact.is_some() { 3.0 } else { 1.0 });
        if !(rate.is_finite() && rate > 0.0 && rate <= 1000.0) {
            return Err(BadInput::new(
                flags::RATE,
                format!("{rate} is not a rate between 0 and 1000 requests per second"),
            ));
        }
        if args.limit == 0 || args.limit > MAX_LIMIT {
            return Err(BadInput::new(
                flags::LIMIT,
                format!("{} is outside 1..={MAX_LIMIT}, the range Open Library accepts", args.limit),
            ));
        }
        if args.max_works == Some(0) {
            return Err(BadInput::new(flags::MAX_WORKS, "0 would fetch nothing"));
        }
        if args.timeout == 0 {
            return Err(BadInput::new(flags::TIMEOUT, "must be at least 1 second"));
        }
        if args.concurrency == 0 {
            return Err(BadInput::new(flags::CONCURRENCY, "must be at least 1"));
        }
        if args.author_batch == 0 || args.author_batch > MAX_AUTHOR_BATCH {
            return Err(BadInput::new(
                flags::AUTHOR_BATCH,
                format!("{} is outside 1..={MAX_AUTHOR_BATCH}", args.author_batch),
            ));
        }
        let ratio = args.max_missing_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(BadInput::new(flags::MAX_MISSING_RATIO, format!("{ratio} is not between 0 and 1")));
        }
        let user_agent = match &contact {
            Some(contact) => format!("bookpipe/{} ({contact})", crate::VERSION),
            None => format!("bookpipe/{}", crate::VERSION),
        };
        Ok(Self {
            partition,
            http: HttpSettings {
                api_url,
                user_agent,
                rate,
                timeout: Duration::from_secs(args.timeout),
                retries: args.retries,
                retry_base: Duration::from_millis(args.retry_base_ms),
            },
            limit: args.limit,
            max_works: args.max_works,
            author_max_age: chrono::Duration::days(i64::from(args.author_max_age)),
            author_batch: args.author_batch as usize,
            max_missing_ratio: ratio,
            force: args.force,
            allow_past_ds: args.allow_past_ds,
            concurrency: args.concurrency,
            now,
            run_tag: format!("{:08x}", fastrand::u32(..)),
        })
    }
}

/// Everything `transform` needs, checked.
#[derive(Debug, Clone)]
pub struct TransformSettings {
    pub partition: Partition,
    /// Rejected records over all records above which the task fails.
    pub max_reject_ratio: f64,
    pub force: bool,
}

impl TransformSettings {
    pub fn resolve(args: &TransformArgs) -> Result<Self, BadInput> {
        let partition = Partition::resolve(&args.partition)?;
        Ok(Self { partition, max_reject_ratio: reject_ratio(args.max_reject_ratio)?, force: args.force })
    }
}

/// `--max-reject-ratio`, a share.
fn reject_ratio(ratio: f64) -> Result<f64, BadInput> {
    if !(0.0..=1.0).contains(&ratio) {
        return Err(BadInput::new(flags::MAX_REJECT_RATIO, format!("{ratio} is not between 0 and 1")));
    }
    Ok(ratio)
}

/// Everything `export` needs, checked.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub partition: Partition,
    pub format: ExportFormat,
    pub out: PathBuf,
}

impl ExportSettings {
    pub fn resolve(args: &ExportArgs) -> Result<Self, BadInput> {
        let partition = Partition::resolve(&args.partition)?;
        if args.out.as_os_str().is_empty() {
            return Err(BadInput::new(flags::EXPORT_OUT, "the output folder is empty"));
        }
        Ok(Self { partition, format: args.format, out: args.out.clone() })
    }
}

/// Everything `load` needs, checked.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub partition: Partition,
    pub warehouse: WarehouseUrl,
    pub gate: GateSettings,
}

impl LoadSettings {
    pub fn resolve(args: &LoadArgs) -> Result<Self, BadInput> {
        Ok(Self {
            partition: Partition::resolve(&args.partition)?,
            warehouse: WarehouseUrl::resolve(&args.warehouse)?,
            gate: GateSettings::resolve(&args.gate)?,
        })
    }
}

/// How `load`'s quality gate judges a day, checked. The default is the flags' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GateSettings {
    pub thresholds: crate::quality::Thresholds,
    pub accept_drop: bool,
    pub backfill: bool,
}

impl GateSettings {
    pub fn resolve(args: &GateArgs) -> Result<Self, BadInput> {
        let share = |flag: Flag, value: f64| {
            if value.is_finite() && value > 0.0 && value < 1.0 {
                Ok(value)
            } else {
                Err(BadInput::new(flag, format!("{value} is not a share between 0 and 1 (both excluded)")))
            }
        };
        if args.quality_days == 0 || args.quality_days > 366 {
            return Err(BadInput::new(flags::QUALITY_DAYS, format!("{} is not between 1 and 366", args.quality_days)));
        }
        Ok(Self {
            thresholds: crate::quality::Thresholds {
                max_drop: share(flags::MAX_DROP, args.max_drop)?,
                warn_change: share(flags::WARN_CHANGE, args.warn_change)?,
                days: args.quality_days as usize,
            },
            accept_drop: args.accept_drop,
            backfill: args.backfill,
        })
    }
}

/// Everything `aggregate` needs, checked.
#[derive(Debug, Clone)]
pub struct AggregateSettings {
    pub partition: Partition,
    pub warehouse: WarehouseUrl,
    pub output: OutputFormat,
}

impl AggregateSettings {
    pub fn resolve(args: &AggregateArgs) -> Result<Self, BadInput> {
        let partition = Partition::resolve(&args.partition)?;
        Ok(Self { partition, warehouse: WarehouseUrl::resolve(&args.warehouse)?, output: args.output })
    }
}

/// Everything `report` needs, checked.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub partition: Partition,
    pub warehouse: WarehouseUrl,
}

impl ReportSettings {
    pub fn resolve(args: &ReportArgs) -> Result<Self, BadInput> {
        Ok(Self { partition: Partition::resolve(&args.partition)?, warehouse: WarehouseUrl::resolve(&args.warehouse)? })
    }
}

/// Everything `run` needs: each subject's five tasks, each with settings built for that subject.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub subjects: Vec<SubjectRun>,
}

/// The chain for one subject of a `run`.
#[derive(Debug, Clone)]
pub struct SubjectRun {
    pub fetch: FetchSettings,
    pub transform: TransformSettings,
    pub load: LoadSettings,
    pub aggregate: AggregateSettings,
    pub report: ReportSettings,
}

impl RunSettings {
    pub fn resolve(args: &RunArgs, now: DateTime<Utc>) -> Result<Self, BadInput> {
        let ds = match &args.ds {
            Some(raw) => Ds::parse(flags::DS, raw)?,
            None => Ds::from(now.date_naive()),
        };
        let mut partitions: Vec<Partition> = Vec::with_capacity(args.subjects.len());
        for raw in &args.subjects {
            let partition = Partition::new(Subject::parse(flags::SUBJECTS, raw)?, ds);
            if !partitions.contains(&partition) {
                partitions.push(partition);
            }
        }
        if partitions.is_empty() {
            return Err(BadInput::new(flags::SUBJECTS, "give at least one subject"));
        }
        let max_reject_ratio = reject_ratio(args.max_reject_ratio)?;
        let warehouse = WarehouseUrl::resolve(&args.warehouse)?;
        let gate = GateSettings::resolve(&args.gate)?;
        let subjects = partitions
            .into_iter()
            .map(|partition| {
                Ok(SubjectRun {
                    fetch: FetchSettings::from_options(partition.clone(), &args.fetch, now)?,
                    transform: TransformSettings {
                        partition: partition.clone(),
                        max_reject_ratio,
                        force: args.fetch.force,
                    },
                    load: LoadSettings { partition: partition.clone(), warehouse: warehouse.clone(), gate },
                    aggregate: AggregateSettings {
                        partition: partition.clone(),
                        warehouse: warehouse.clone(),
                        output: args.output,
                    },
                    report: ReportSettings { partition, warehouse: warehouse.clone() },
                })
            })
            .collect::<Result<_, BadInput>>()?;
        Ok(Self { subjects })
    }
}

/// Everything `status` needs, checked.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub from: Ds,
    pub to: Ds,
    /// The subjects asked about; empty: every subject of the raw zone.
    pub subjects: Vec<Subject>,
    pub warehouse: WarehouseUrl,
    pub output: OutputFormat,
}

/// The longest range `status` reports, in days.
pub const MAX_STATUS_DAYS: i64 = 366;

impl StatusSettings {
    pub fn resolve(args: &StatusArgs) -> Result<Self, BadInput> {
        let (from, to) = (Ds::parse(flags::FROM, &args.from)?, Ds::parse(flags::TO, &args.to)?);
        if to < from {
            return Err(BadInput::new(flags::TO, format!("{to} is before --from {from}")));
        }
        if (to.date() - from.date()).num_days() >= MAX_STATUS_DAYS {
            return Err(BadInput::new(
                flags::TO,
                format!("the range {from}..{to} is longer than {MAX_STATUS_DAYS} days"),
            ));
        }
        let mut subjects = Vec::with_capacity(args.subjects.len());
        for raw in &args.subjects {
            let subject = Subject::parse(flags::SUBJECTS, raw)?;
            if !subjects.contains(&subject) {
                subjects.push(subject);
            }
        }
        Ok(Self { from, to, subjects, warehouse: WarehouseUrl::resolve(&args.warehouse)?, output: args.output })
    }

    /// Every ds of the range, in order.
    pub fn days(&self) -> Vec<Ds> {
        self.from.date().iter_days().take_while(|d| *d <= self.to.date()).map(Ds::from).collect()
    }
}

/// An http(s) base URL, normalised to end in `/` so endpoint paths join under it (mirrors may
/// serve the API below a path).
fn parse_api_url(flag: Flag, raw: &str) -> Result<Url, BadInput> {
    let mut url = Url::parse(raw).map_err(|err| BadInput::new(flag, format!("{raw:?} is not a URL ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(BadInput::new(flag, format!("{raw:?} is not an http(s) URL with a host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BadInput::new(flag, format!("{raw:?} must not carry a query or fragment")));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Flag = flags::LAKE;

    #[test]
    fn lake_urls() {
        assert_eq!(LakeUrl::parse(F, "./lake").unwrap(), LakeUrl::Local("./lake".into()));
        assert_eq!(LakeUrl::parse(F, "file:///data/lake").unwrap(), LakeUrl::Local("/data/lake".into()));
        assert_eq!(LakeUrl::parse(F, "memory://").unwrap(), LakeUrl::Memory);
        assert!(LakeUrl::parse(F, "file://relative").is_err());
        assert!(LakeUrl::parse(F, "gs://bucket").is_err());
        let s3 = LakeUrl::parse(F, "s3://my-lake/prod/books/").unwrap();
        assert_eq!(s3, LakeUrl::S3 { bucket: "my-lake".into(), prefix: "prod/books".into() });
        assert_eq!(s3.to_string(), "s3://my-lake/prod/books");
        assert_eq!(LakeUrl::parse(F, "s3://my-lake").unwrap().to_string(), "s3://my-lake");
        assert!(LakeUrl::parse(F, "s3://My_Bucket/x").is_err());
        assert!(LakeUrl::parse(F, "s3://bucket/../x").is_err());
        assert!(LakeUrl::parse(F, "s3://bucket/it's").is_err(), "a quote would end Redshift's COPY literal");
        assert!(LakeUrl::parse(F, "s3://bucket/a\\b").is_err());
        assert!(LakeUrl::parse(F, "s3://bucket/prod/ds=1:x_y-z.v").is_ok());
    }

    #[test]
    fn api_url_is_normalised() {
        assert_eq!(parse_api_url(F, "http://127.0.0.1:8080").unwrap().as_str(), "http://127.0.0.1:8080/");
        assert_eq!(parse_api_url(F, "https://mirror.example/ol").unwrap().as_str(), "https://mirror.example/ol/");
        assert!(parse_api_url(F, "not-a-url").is_err());
        assert!(parse_api_url(F, "ftp://x").is_err());
    }
}
