//! `load`: a committed silver partition into the warehouse, replacing the `(subject, ds)` slice of
//! `books`, `authors` and `book_authors` in one transaction (design doc: warehouse).
//!
//! Re-running never duplicates a row: the slice is deleted and inserted in the same transaction,
//! so a reader sees the old slice or the new one, and a load that fails half-way leaves the old
//! one. The schema is created or upgraded first by versioned migrations.

use object_store::path::Path;

use crate::cli::flags;
use crate::exit::{BadInput, Outcome};
use crate::lake::Lake;
use crate::lake::commit::Committed;
use crate::settings::{LoadSettings, WarehouseUrl};
use crate::silver::{TransformDetails, read_committed};
use crate::warehouse::{LOADED, SilverTable, Warehouse};

/// Loads the silver partition of `s.partition` into the warehouse.
pub async fn load(lake: &Lake, s: &LoadSettings) -> anyhow::Result<Outcome> {
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
    let mut warehouse = Warehouse::connect(&s.warehouse).await?;
    let applied = warehouse.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "warehouse schema migrated");
    }
    let tables: Vec<SilverTable> = LOADED
        .iter()
        .zip(&silver)
        .map(|(&table, committed)| SilverTable {
            table,
            objects: committed.manifest.objects.iter().map(|o| (Path::from(o.path.as_str()), o.bytes)).collect(),
        })
        .collect();
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
    Ok(Outcome::Done)
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
