//! `report`: one day's report of a subject as a self-contained HTML page in the lake,
//! `gold/report/subject=S/ds=D/index.html` (committed with a manifest like every partition), and
//! `gold/report/index.html`, the list of every subject's latest report, rewritten after it.
//!
//! It reads the warehouse (the slice's counts and gold tables, the previous loaded day's) and the
//! silver rejects from the lake; what the page says is computed purely ([`model`]) and rendered from
//! templates ([`page`]). The page loads nothing when opened: the chart library is inlined.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::cli::flags;
use crate::exit::{MissingInput, Outcome};
use crate::lake::commit::{self, Manifest, Object};
use crate::lake::parquet::read_batches;
use crate::lake::{Lake, layout};
use crate::lineage::Lineage;
use crate::settings::{Ds, Partition, ReportSettings};
use crate::silver;
use crate::tables::Table;
use crate::warehouse::{Gold, Warehouse, sql};

pub mod model;
pub mod page;

use model::{Changes, Headline, Quality, Report};

/// The report manifest's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDetails {
    pub bytes: u64,
    /// The day the page compares with, if any.
    pub previous_ds: Option<String>,
    pub warehouse: String,
}

// The columns of the report's queries (their text: sql/report/, through warehouse::sql).
fn schema(fields: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(fields.iter().map(|(name, t)| Field::new(*name, t.clone(), true)).collect::<Vec<_>>()))
}

static HEADLINE: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Int32, Int64};
    schema(&[
        ("works", Int64),
        ("dated_works", Int64),
        ("first_year", Int32),
        ("last_year", Int32),
        ("authors", Int64),
        ("authors_without_record", Int64),
        ("merged_authors", Int64),
    ])
});
static PREVIOUS: LazyLock<SchemaRef> = LazyLock::new(|| schema(&[("previous", DataType::Utf8)]));
static CHANGES: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[("works_added", DataType::Int64), ("works_removed", DataType::Int64), ("new_authors", DataType::Int64)])
});

/// `bookpipe report`: the report page of `s.partition` written, announced as the task `report`.
pub async fn report(lake: &Lake, lineage: &Lineage, s: &ReportSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(Some(&s.warehouse)).report(&s.partition);
    crate::task::announced(lake, lineage, "report", &s.partition, io, write_report(lake, s)).await
}

/// Writes the report of `s.partition` and the index of latest reports.
async fn write_report(lake: &Lake, s: &ReportSettings) -> anyhow::Result<Outcome> {
    let p = &s.partition;
    let mut inputs = Vec::with_capacity(Gold::ALL.len() + 1);
    for gold in Gold::ALL {
        let folder = layout::gold_partition(gold.name(), p);
        match commit::read::<serde_json::Value>(lake, &folder).await? {
            Some(committed) => inputs.push(committed.input()),
            None => {
                return Err(missing(
                    format!("the gold {} partition", gold.name()),
                    format!("{}/{folder}", lake.url()),
                    "aggregate",
                    p,
                ));
            }
        }
    }
    // The quality gate's document of the day (absent for a day loaded before the gate existed).
    let gate = match commit::read::<serde::de::IgnoredAny>(lake, &layout::quality_partition(p)).await? {
        Some(committed) => {
            inputs.push(committed.input());
            crate::quality::record::read_document(lake, p).await?.map(|d| model::Gate::of(&d))
        }
        None => None,
    };
    let rejects = silver::read_committed(lake, Table::Rejects, p).await?;
    inputs.push(rejects.input());
    let reasons = reject_reasons(lake, &rejects.manifest.objects).await?;

    let Some(mut warehouse) = Warehouse::connect_existing(&s.warehouse).await? else {
        return Err(missing("the warehouse".into(), s.warehouse.to_string(), "load", p));
    };
    if !warehouse.is_loaded(p).await? {
        return Err(missing(
            "the warehouse slice".into(),
            format!("{} (subject {}, ds {})", s.warehouse, p.subject, p.ds),
            "load",
            p,
        ));
    }
    let counts = warehouse.select("the headline", sql::REPORT_HEADLINE, &HEADLINE, p, None).await?;
    let averages = model::author_averages(&warehouse.read_gold(Gold::AuthorYearlyAverage, p).await?);
    let per_year = model::years(&warehouse.read_gold(Gold::BooksPerYear, p).await?);
    let previous = warehouse.select("the previous day", sql::REPORT_PREVIOUS, &PREVIOUS, p, None).await?;
    let previous = text(&previous, "previous").map(|d| Ds::parse(flags::DS, &d)).transpose()?;
    let changes = match previous {
        Some(before) => {
            let changed = warehouse.select("the changes", sql::REPORT_CHANGES, &CHANGES, p, Some(before)).await?;
            let earlier = Partition::new(p.subject.clone(), before);
            let average = Gold::AuthorYearlyAverage;
            // The movers need the previous day's answers: a day loaded but never aggregated has
            // none, and would make every author look new.
            let aggregated =
                commit::read_as::<serde::de::IgnoredAny>(lake, &layout::gold_partition(average.name(), &earlier))
                    .await?
                    .is_some();
            let movers = match aggregated {
                true => {
                    let then = model::author_averages(&warehouse.read_gold(average, &earlier).await?);
                    Some(model::movers(&averages, &then, model::MOVERS))
                }
                false => None,
            };
            Some(Changes {
                previous_ds: before.to_string(),
                works_added: int(&changed, "works_added").unwrap_or(0),
                works_removed: int(&changed, "works_removed").unwrap_or(0),
                new_authors: int(&changed, "new_authors").unwrap_or(0),
                movers,
            })
        }
        None => None,
    };
    let headline = Headline {
        works: int(&counts, "works").unwrap_or(0),
        dated_works: int(&counts, "dated_works").unwrap_or(0),
        first_year: year(&counts, "first_year"),
        last_year: year(&counts, "last_year"),
        authors: int(&counts, "authors").unwrap_or(0),
        authors_without_record: int(&counts, "authors_without_record").unwrap_or(0),
        merged_authors: int(&counts, "merged_authors").unwrap_or(0),
        rejects: reasons.len() as u64,
        ..Headline::default()
    }
    .derive();
    let report = Report {
        subject: p.subject.to_string(),
        ds: p.ds.to_string(),
        quality: Quality {
            undated_works: headline.works - headline.dated_works,
            authors_without_record: headline.authors_without_record,
            merged_authors: headline.merged_authors,
            rejects_by_reason: model::rejects_by_reason(reasons.iter().map(String::as_str)),
            gate,
        },
        headline,
        per_year,
        top_authors: model::top_authors(&averages, model::TOP_AUTHORS),
        distribution: model::distribution(&averages),
        changes,
    };

    let html = page::render(&report);
    let partition = commit::begin(lake, &layout::report_partition(p)).await?;
    let path = layout::report_page(p);
    let object = Object::describe(&path, html.as_bytes(), None);
    lake.put(&path, Bytes::from(html)).await?;
    let details = ReportDetails {
        bytes: object.bytes,
        previous_ds: previous.map(|d| d.to_string()),
        warehouse: s.warehouse.to_string(),
    };
    let manifest = Manifest::new("report", p, chrono::Utc::now(), inputs, vec![object], details);
    partition.commit(lake, &manifest).await?;
    let entries = write_index(lake).await?;
    tracing::info!(page = %path, bytes = manifest.details.bytes, subjects = entries, "report written");
    Ok(Outcome::Done)
}

fn missing(what: String, path: String, task: &str, p: &Partition) -> anyhow::Error {
    MissingInput { what, path, hint: format!("run `bookpipe {task} --ds {} --subject {}` first", p.ds, p.subject) }
        .into()
}

/// The `reason` of every rejected record of the silver partition.
async fn reject_reasons(lake: &Lake, objects: &[Object]) -> anyhow::Result<Vec<String>> {
    let mut reasons = Vec::new();
    for object in objects {
        let mut batches = read_batches(lake, &Path::from(object.path.as_str()), object.bytes).await?;
        while let Some(batch) = batches.try_next().await? {
            let column = batch.column_by_name("reason").expect("rejects have a reason").as_string::<i32>();
            reasons.extend(column.iter().flatten().map(str::to_string));
        }
    }
    Ok(reasons)
}

/// Rewrites `gold/report/index.html` from the committed reports; returns how many subjects it lists.
///
/// Subjects' reports run at once (one Airflow task each), and each rewrites the whole index from a
/// listing: a report committed after another's listing but before that one's write would be left
/// out of the index for good. So the folder is listed again after each write, and the index
/// rewritten until a listing matches what was written: whichever task writes last has then listed
/// after every report committed before its write, and any report committed later writes again.
async fn write_index(lake: &Lake) -> anyhow::Result<usize> {
    let write = |entries: Vec<page::IndexEntry>| async move {
        lake.put(&layout::report_index(), Bytes::from(page::render_index(&entries))).await?;
        Ok(())
    };
    Ok(settle(|| index_entries(lake), write).await?.len())
}

/// Writes what `list` gives until a listing after a write gives what was written (at most
/// [`INDEX_WRITES`] writes: reports committed without end would otherwise keep it writing); returns
/// the last listing.
async fn settle<L, LF, W, WF>(mut list: L, mut write: W) -> anyhow::Result<Vec<page::IndexEntry>>
where
    L: FnMut() -> LF,
    LF: Future<Output = anyhow::Result<Vec<page::IndexEntry>>>,
    W: FnMut(Vec<page::IndexEntry>) -> WF,
    WF: Future<Output = anyhow::Result<()>>,
{
    let mut entries = list().await?;
    for _ in 0..INDEX_WRITES {
        write(entries.clone()).await?;
        let again = list().await?;
        if again == entries {
            break;
        }
        entries = again;
    }
    Ok(entries)
}

/// The most times one report rewrites the index.
const INDEX_WRITES: usize = 5;

/// Each subject's latest committed report, by subject.
async fn index_entries(lake: &Lake) -> anyhow::Result<Vec<page::IndexEntry>> {
    let mut entries = Vec::new();
    for subject_folder in lake.list_folders(&layout::report_root()).await? {
        let Some(subject) = layout::parse_subject_folder(&subject_folder) else { continue };
        let mut days: Vec<Ds> =
            lake.list_folders(&subject_folder).await?.iter().filter_map(layout::parse_ds_folder).collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        for ds in days {
            let partition = Partition::new(subject.clone(), ds);
            let folder = layout::report_partition(&partition);
            if commit::read_as::<serde::de::IgnoredAny>(lake, &folder).await?.is_some() {
                let link = layout::report_link(&partition);
                entries.push(page::IndexEntry { subject: subject.to_string(), ds: ds.to_string(), link });
                break;
            }
        }
    }
    // By subject, whatever order the store lists folders in, so two listings compare as equal.
    entries.sort_by(|a, b| a.subject.cmp(&b.subject));
    Ok(entries)
}

fn int(batch: &RecordBatch, name: &str) -> Option<i64> {
    let column = batch.column_by_name(name)?.as_primitive::<Int64Type>();
    (!column.is_empty() && column.is_valid(0)).then(|| column.value(0))
}

fn year(batch: &RecordBatch, name: &str) -> Option<i32> {
    let column = batch.column_by_name(name)?.as_primitive::<Int32Type>();
    (!column.is_empty() && column.is_valid(0)).then(|| column.value(0))
}

fn text(batch: &RecordBatch, name: &str) -> Option<String> {
    let column = batch.column_by_name(name)?.as_string::<i32>();
    (!column.is_empty() && column.is_valid(0)).then(|| column.value(0).to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn entry(subject: &str) -> page::IndexEntry {
        page::IndexEntry { subject: subject.into(), ds: "2026-12-03".into(), link: format!("{subject}/index.html") }
    }

    /// Another subject's report lands between this one's listing and its write: the index is
    /// written again with it; then the listing holds still and the writing stops.
    #[tokio::test]
    async fn a_report_committed_during_the_index_write_is_in_the_index() {
        let listings = Mutex::new(vec![vec![entry("love")], vec![entry("fantasy"), entry("love")]]);
        let list = || {
            let mut listings = listings.lock().unwrap();
            let next = if listings.len() > 1 { listings.remove(0) } else { listings[0].clone() };
            async move { Ok(next) }
        };
        let writes = Mutex::new(vec![]);
        let write = |entries: Vec<page::IndexEntry>| {
            writes.lock().unwrap().push(entries);
            async { Ok(()) }
        };
        let settled = settle(list, write).await.unwrap();
        let both = vec![entry("fantasy"), entry("love")];
        assert_eq!(settled, both);
        assert_eq!(writes.into_inner().unwrap(), [vec![entry("love")], both]);
    }

    /// Reports that never stop landing: the index is written at most INDEX_WRITES times.
    #[tokio::test]
    async fn the_index_is_rewritten_a_bounded_number_of_times() {
        let n = Mutex::new(0);
        let list = || {
            let mut n = n.lock().unwrap();
            *n += 1;
            let entries: Vec<_> = (0..*n).map(|i| entry(&format!("s{i}"))).collect();
            async move { Ok(entries) }
        };
        let writes = Mutex::new(0);
        let write = |_| {
            *writes.lock().unwrap() += 1;
            async { Ok(()) }
        };
        settle(list, write).await.unwrap();
        assert_eq!(writes.into_inner().unwrap(), INDEX_WRITES);
    }
}
