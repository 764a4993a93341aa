//! `load`: a committed silver partition into the warehouse, replacing the `(subject, ds)` slice of
//! `books`, `authors` and `book_authors` in one transaction (design doc: warehouse).
//!
//! Re-running never duplicates a row: the slice is deleted and inserted in the same transaction,
//! so a reader sees the old slice or the new one, and a load that fails half-way leaves the old
//! one. The schema is created or upgraded first by versioned migrations.
//!
//! Before the warehouse is opened, the quality gate ([`crate::quality`]) measures the partition and
//! compares it with the subject's loaded days: a refusal commits its `checks.json` and returns
//! [`Refused`] (exit 5) with nothing else touched; a day that passes is loaded, then its
//! `checks.json` is committed, so a document that says `loaded` is only ever written after the
//! warehouse transaction committed (the history the next days compare with).

use object_store::path::Path;

use crate::cli::flags;
use crate::exit::{BadInput, Outcome, Refused};
use crate::lake::Lake;
use crate::lake::commit::Committed;
use crate::lineage::Lineage;
use crate::quality::record::Document;
use crate::quality::{self, Backfill, Request, Verdict};
use crate::settings::{LoadSettings, WarehouseUrl};
use crate::silver::{TransformDetails, read_committed};
use crate::warehouse::{LOADED, SilverTable, Warehouse};

/// `bookpipe load`: the silver partition loaded into the warehouse, announced as the task `load`.
pub async fn load(lake: &Lake, lineage: &Lineage, s: &LoadSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(Some(&s.warehouse)).load(&s.partition);
    crate::task::announced(lake, lineage, "load", &s.partition, io, load_slice(lake, s)).await
}

/// Loads the silver partition of `s.partition` into the warehouse.
async fn load_slice(lake: &Lake, s: &LoadSettings) -> anyhow::Result<Outcome> {
    let silver = read_silver(lake, s).await?;
    if matches!(s.warehouse, WarehouseUrl::Redshift(_)) && !lake.is_s3() {
        // Checked before connecting: Redshift's COPY reads the objects from S3 itself.
        return Err(BadInput::new(
            flags::WAREHOUSE,
            format!(
                "redshift:// loads with COPY from S3, so the lake must be s3://bucket/prefix (it is {})",
                lake.url()
            ),
        )
        .into());
    }
    let tables: Vec<SilverTable> = LOADED
        .iter()
        .zip(&silver)
        .map(|(&table, committed)| SilverTable {
            table,
            objects: committed.manifest.objects.iter().map(|o| (Path::from(o.path.as_str()), o.bytes)).collect(),
        })
        .collect();
    let document = gate(lake, s, &tables).await?;
    let inputs = silver.iter().map(Committed::input).collect::<Vec<_>>();
    if document.verdict == Verdict::Refused {
        let path = quality::record::commit(lake, &s.partition, inputs, &document).await?;
        return Err(Refused {
            subject: s.partition.subject.to_string(),
            ds: s.partition.ds.to_string(),
            path: format!("{}/{path}", lake.url()),
            reasons: quality::refusal_reasons(&document.checks),
        }
        .into());
    }
    let mut warehouse = Warehouse::connect(&s.warehouse).await?;
    let applied = warehouse.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "warehouse schema migrated");
    }
    let started = std::time::Instant::now();
    let counts = warehouse.replace_slice(lake, &s.partition, &tables).await?;
    let expected = silver[0].manifest.details.clone();
    if (counts.books, counts.authors, counts.book_authors) != (expected.books, expected.authors, expected.book_authors)
    {
        tracing::warn!(?counts, "loaded row counts differ from the silver manifest");
    }
    let seconds = started.elapsed().as_secs_f64();
    let rows = counts.books + counts.authors + counts.book_authors;
    tracing::info!(
        books = counts.books,
        authors = counts.authors,
        book_authors = counts.book_authors,
        seconds,
        rows_per_second = (rows as f64 / seconds.max(1e-9)) as u64,
        "warehouse slice replaced"
    );
    quality::record::commit(lake, &s.partition, inputs, &document).await?;
    Ok(Outcome::Done)
}

/// Measures the partition, reads the subject's history and judges the day; logs every warning.
async fn gate(lake: &Lake, s: &LoadSettings, tables: &[SilverTable]) -> anyhow::Result<Document> {
    let objects: Vec<_> = tables.iter().map(|t| (t.table, t.objects.clone())).collect();
    let metrics = quality::measure::measure(lake, s.partition.ds, &objects).await?;
    let history = quality::record::history(lake, &s.partition, s.gate.thresholds.days).await?;
    let backfill = match (s.gate.backfill, history.loaded_before) {
        (true, _) => Some(Backfill::Flag),
        (false, true) => Some(Backfill::Rerun),
        (false, false) => None,
    };
    let evaluation = quality::evaluate(&Request {
        ds: s.partition.ds,
        metrics: &metrics,
        before: &history.before,
        newer: history.newer,
        backfill,
        accept_drop: s.gate.accept_drop,
        thresholds: s.gate.thresholds,
    });
    for check in evaluation.checks.iter().filter(|c| c.status == quality::Status::Warn) {
        tracing::warn!(check = %check.name, "quality gate: {}", check.message);
    }
    let verdict = evaluation.verdict;
    tracing::info!(?verdict, works = metrics.works, authors = metrics.authors, links = metrics.links, "quality gate");
    Ok(Document::new(&s.partition, evaluation, metrics, s.gate.thresholds, backfill, s.gate.accept_drop))
}

/// The three committed silver partitions, which must come from the same raw partition.
async fn read_silver(lake: &Lake, s: &LoadSettings) -> anyhow::Result<Vec<Committed<TransformDetails>>> {
    let mut silver = Vec::with_capacity(LOADED.len());
    for table in LOADED {
        silver.push(read_committed(lake, table, &s.partition).await?);
    }
    if silver.iter().any(|c| c.manifest.inputs != silver[0].manifest.inputs) {
        anyhow::bail!(
            "the silver tables of subject {} ds {} were built from different raw partitions; rerun transform",
            s.partition.subject,
            s.partition.ds
        );
    }
    Ok(silver)
}
