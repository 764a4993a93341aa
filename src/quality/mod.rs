//! The quality gate: `load` measures a silver partition and compares it with the subject's last
//! loaded day and the trailing loaded days before it, then loads it, or refuses it before the
//! warehouse is touched (README: the quality gate).
//!
//! Why inside `load` and not a task of its own: a gate that a direct `bookpipe load` could step
//! around would not be one, and the result that makes history ("this day was loaded") is only true
//! once the warehouse transaction committed, which `load` alone knows. The DAG keeps its five steps;
//! a refusal is `load` failing with exit 5, never retried.
//!
//! The wing has three rooms: this file holds the checks as pure functions of numbers ([`evaluate`]:
//! metrics, history, thresholds in; a [`Verdict`] and its checks out); [`measure`] reads a silver
//! partition's rows into [`Metrics`]; [`record`] reads the history from the lake's committed
//! quality documents and commits this day's (`quality/subject=S/ds=D/checks.json`).
//!
//! History comes from the lake, not the warehouse's `loads` table: the documents carry every number
//! the checks compare (shares included), read the same whatever the engine (DuckDB, PostgreSQL,
//! Redshift), and need no migration.

pub mod measure;
pub mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cli::flags;
use crate::settings::Ds;

/// The layout of the quality documents this version writes.
pub const QUALITY_LAYOUT: u32 = 1;

/// A share (works without a year, authors without a record) warns when it is this many points
/// (0.05 = 5 percentage points) above its median over the trailing days.
pub const SHARE_WARN_POINTS: f64 = 0.05;

/// The earliest `first_publish_year` taken as sane; the latest is the year after the ds.
pub const YEAR_MIN: i16 = 1;

/// What one silver partition holds, as the checks count it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows of `books`, `authors`, `book_authors` (links).
    pub works: u64,
    pub authors: u64,
    pub links: u64,
    pub works_without_year: u64,
    /// Authors known only by the name a subject page lists (no record from Open Library).
    pub authors_without_record: u64,
    /// Works whose `first_publish_year` is outside [`YEAR_MIN`] ..= the ds's year + 1.
    pub years_out_of_range: u64,
    pub min_year: Option<i16>,
    pub max_year: Option<i16>,
    /// Rows whose key equals the row before it, by table (`books`: work_key, `authors`:
    /// author_key, `book_authors`: work_key and position); transform writes them sorted by key.
    pub duplicate_keys: BTreeMap<String, u64>,
    /// Rows whose key sorts before the row before it, by table.
    pub unsorted_keys: BTreeMap<String, u64>,
    /// Nulls in columns the contract declares not null, by `table.column`.
    pub nulls: BTreeMap<String, u64>,
}

impl Metrics {
    /// The share of works without a `first_publish_year` (0 for no works).
    pub fn share_without_year(&self) -> f64 {
        share(self.works_without_year, self.works)
    }

    /// The share of authors without a record (0 for no authors).
    pub fn share_without_record(&self) -> f64 {
        share(self.authors_without_record, self.authors)
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// A day of the subject that was loaded, with what its partition measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDay {
    pub ds: Ds,
    pub metrics: Metrics,
}

/// The flags that move the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A fall of works beyond this share (0.5: more than half gone) refuses the day.
    pub max_drop: f64,
    /// A move of works, authors or links beyond this share (either way) warns.
    pub warn_change: f64,
    /// Loaded days before the ds whose median is the second baseline.
    pub days: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { max_drop: 0.5, warn_change: 0.05, days: 7 }
    }
}

/// Why a day older than the subject's newest loaded day may still be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backfill {
    /// `--backfill` (the DAG passes it for Airflow's backfill runs).
    Flag,
    /// The day was loaded before: a re-run of it replaces its own slice.
    Rerun,
}

/// What the gate is asked about one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub ds: Ds,
    pub metrics: &'a Metrics,
    /// The subject's loaded days before `ds`, oldest first.
    pub before: &'a [LoadedDay],
    /// The subject's newest loaded day after `ds`, if any.
    pub newer: Option<Ds>,
    pub backfill: Option<Backfill>,
    pub accept_drop: bool,
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    /// A refusal a flag lifted (`--accept-drop`).
    Accepted,
    Fail,
}

impl Status {
    /// As `checks.json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Accepted => "accepted",
            Status::Fail => "fail",
        }
    }
}

/// One check's outcome, with the numbers it compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `volume.works.last_day`, `keys.unique`, `freshness`, ...
    pub name: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub message: String,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, message: impl Into<String>) -> Self {
        Self { name: name.into(), status, value: None, baseline: None, message: message.into() }
    }

    fn compared(mut self, value: f64, baseline: f64) -> Self {
        (self.value, self.baseline) = (Some(value), Some(baseline));
        self
    }
}

/// The gate's answer for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed.
    Passed,
    /// Loaded, with warnings for the report.
    Warned,
    /// Loaded because `--accept-drop` accepted a drop that refuses.
    Accepted,
    /// Not loaded.
    Refused,
}

impl Verdict {
    /// As `checks.json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Warned => "warned",
            Verdict::Accepted => "accepted",
            Verdict::Refused => "refused",
        }
    }
}

/// The baselines the volume checks compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub last_loaded_ds: String,
    pub last: Counts,
    /// The loaded days whose median is `median`, oldest first.
    pub trailing_days: Vec<String>,
    pub median: Counts,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub works: f64,
    pub authors: f64,
    pub links: f64,
}

/// [`evaluate`]'s result: what `checks.json` holds besides the partition's names.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub verdict: Verdict,
    pub baseline: Option<Baseline>,
    pub checks: Vec<Check>,
}

/// Runs every check of a day. Pure: the numbers in, the verdict out.
pub fn evaluate(r: &Request) -> Evaluation {
    let mut checks = Vec::new();
    let trailing = &r.before[r.before.len().saturating_sub(r.thresholds.days)..];
    let baseline = r.before.last().map(|last| {
        let counts = |m: &Metrics| Counts { works: m.works as f64, authors: m.authors as f64, links: m.links as f64 };
        let median_of = |f: fn(&Metrics) -> u64| median(trailing.iter().map(|d| f(&d.metrics) as f64).collect());
        Baseline {
            last_loaded_ds: last.ds.to_string(),
            last: counts(&last.metrics),
            trailing_days: trailing.iter().map(|d| d.ds.to_string()).collect(),
            median: Counts {
                works: median_of(|m| m.works),
                authors: median_of(|m| m.authors),
                links: median_of(|m| m.links),
            },
        }
    });
    volume(r, baseline.as_ref(), &mut checks);
    content(r, trailing, &mut checks);
    checks.push(freshness(r));
    let verdict = if checks.iter().any(|c| c.status == Status::Fail) {
        Verdict::Refused
    } else if checks.iter().any(|c| c.status == Status::Accepted) {
        Verdict::Accepted
    } else if checks.iter().any(|c| c.status == Status::Warn) {
        Verdict::Warned
    } else {
        Verdict::Passed
    };
    Evaluation { verdict, baseline, checks }
}

/// Works, authors and links against the last loaded day and the trailing median: a fall of works
/// beyond `max_drop` fails (accepted with `--accept-drop`), any move beyond `warn_change` warns.
fn volume(r: &Request, baseline: Option<&Baseline>, checks: &mut Vec<Check>) {
    let Some(b) = baseline else {
        checks.push(Check::new("volume", Status::Pass, format!("no loaded day before {}: nothing to compare", r.ds)));
        return;
    };
    let m = r.metrics;
    let measures = [
        ("works", m.works, b.last.works, b.median.works),
        ("authors", m.authors, b.last.authors, b.median.authors),
        ("links", m.links, b.last.links, b.median.links),
    ];
    let last_label = format!("the last loaded day, {}", b.last_loaded_ds);
    let median_label = format!("the median of the {} loaded days up to {}", b.trailing_days.len(), b.last_loaded_ds);
    for (what, now, last, median) in measures {
        for (against, base, label) in [("last_day", last, &last_label), ("median", median, &median_label)] {
            let name = format!("volume.{what}.{against}");
            let now = now as f64;
            if base <= 0.0 {
                checks.push(
                    Check::new(name, Status::Pass, format!("{what}: {now} ({label} had none)")).compared(now, base),
                );
                continue;
            }
            let change = (now - base) / base;
            let told = format!("{what}: {now} against {base} on {label} ({:+.1} %)", change * 100.0);
            let status = if -change > r.thresholds.max_drop && what == "works" {
                if r.accept_drop { Status::Accepted } else { Status::Fail }
            } else if change.abs() > r.thresholds.warn_change {
                Status::Warn
            } else {
                Status::Pass
            };
            let message = match status {
                Status::Fail => format!(
                    "{told}: more than {:.0} % of the works gone, beyond {}",
                    r.thresholds.max_drop * 100.0,
                    flags::MAX_DROP
                ),
                Status::Accepted => format!("{told}: accepted with {}", flags::ACCEPT_DROP),
                _ => told,
            };
            checks.push(Check::new(name, status, message).compared(now, base));
        }
    }
}

/// Keys unique (and sorted, as transform writes them), required columns not null, years sane,
/// and the shares of works without a year and of authors without a record against the trailing days.
fn content(r: &Request, trailing: &[LoadedDay], checks: &mut Vec<Check>) {
    let m = r.metrics;
    let listed = |map: &BTreeMap<String, u64>| {
        map.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
    };
    let (dups, unsorted) = (listed(&m.duplicate_keys), listed(&m.unsorted_keys));
    checks.push(if dups.is_empty() && unsorted.is_empty() {
        Check::new("keys.unique", Status::Pass, "every key is unique in its table")
    } else {
        let mut message = String::from("keys repeat or are out of order, as transform never writes them");
        if !dups.is_empty() {
            message += &format!("; repeated rows: {dups}");
        }
        if !unsorted.is_empty() {
            message += &format!("; rows out of order: {unsorted}");
        }
        Check::new("keys.unique", Status::Fail, message + "; rerun transform with --force")
    });
    let nulls = listed(&m.nulls);
    checks.push(match nulls.is_empty() {
        true => Check::new("not_null", Status::Pass, "no null where the contract says not null"),
        false => {
            Check::new("not_null", Status::Fail, format!("nulls in columns the contract says are not null: {nulls}"))
        }
    });
    let latest = r.ds.date().format("%Y").to_string().parse::<i16>().unwrap_or(i16::MAX).saturating_add(1);
    let range = format!("{YEAR_MIN}..={latest}");
    checks.push(match m.years_out_of_range {
        0 => Check::new("years.range", Status::Pass, format!("every first_publish_year is in {range}")),
        n => Check::new(
            "years.range",
            Status::Warn,
            format!(
                "{n} works have a first_publish_year outside {range} (from {} to {}); kept as Open Library has them",
                m.min_year.map_or("-".into(), |y| y.to_string()),
                m.max_year.map_or("-".into(), |y| y.to_string())
            ),
        )
        .compared(n as f64, 0.0),
    });
    type Share = fn(&Metrics) -> f64;
    let shares: [(&str, &str, Share); 2] = [
        ("share.works_without_year", "works without a first_publish_year", Metrics::share_without_year),
        ("share.authors_without_record", "authors without a record", Metrics::share_without_record),
    ];
    for (name, what, of) in shares {
        let now = of(m);
        if trailing.is_empty() {
            checks.push(Check::new(
                name,
                Status::Pass,
                format!("{what}: {:.1} %, no loaded day to compare", now * 100.0),
            ));
            continue;
        }
        let base = median(trailing.iter().map(|d| of(&d.metrics)).collect());
        let told = format!(
            "{what}: {:.1} % against a median of {:.1} % over the trailing {} loaded days",
            now * 100.0,
            base * 100.0,
            trailing.len()
        );
        let status = if now - base > SHARE_WARN_POINTS { Status::Warn } else { Status::Pass };
        checks.push(Check::new(name, status, told).compared(now, base));
    }
}

/// The day is not older than the subject's newest loaded day, unless it is a backfill.
fn freshness(r: &Request) -> Check {
    match (r.newer, r.backfill) {
        (None, _) => Check::new("freshness", Status::Pass, format!("no loaded day after {}", r.ds)),
        (Some(newer), Some(Backfill::Flag)) => Check::new(
            "freshness",
            Status::Pass,
            format!("a backfill ({}): {newer} is loaded already", flags::BACKFILL),
        ),
        (Some(newer), Some(Backfill::Rerun)) => Check::new(
            "freshness",
            Status::Pass,
            format!("a re-run of a day loaded before (a backfill): {newer} is loaded already"),
        ),
        (Some(newer), None) => Check::new(
            "freshness",
            Status::Fail,
            format!(
                "{} is older than {newer}, the subject's newest loaded day, and not a backfill; a backfill passes {}",
                r.ds,
                flags::BACKFILL
            ),
        ),
    }
}

/// The median (the mean of the middle two for an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// What a refusal says: every failed check, and how each can be lifted.
pub fn refusal_reasons(checks: &[Check]) -> String {
    let failed: Vec<&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    let mut reasons: Vec<String> = failed.iter().map(|c| format!("{}: {}", c.name, c.message)).collect();
    if failed.iter().any(|c| c.name.starts_with("volume.")) {
        reasons.push(format!(
            "if the drop is real (Open Library did lose the works), rerun the load with {}",
            flags::ACCEPT_DROP
        ));
    }
    reasons.join("; ")
}
