//! `load`: a committed silver partition into the warehouse, replacing the `(subject, ds)` slice of
//! `books`, `authors` and `book_authors` in one transaction (design doc: warehouse).
//!
//! Re-running never duplicates a row: the slice is deleted and inserted in the same transaction,
//! so a reader sees the old slice or the new one, and a load that fails half-way leaves the old
//! one. The schema is created or upgraded first by versioned migrations.

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lake::commit::Committed;
use crate::lake::parquet::read_batches;
use crate::settings::LoadSettings;
use crate::silver::{TransformDetails, read_committed};
use crate::warehouse::{Batches, LOADED, Warehouse, WarehouseError};

/// Loads the silver partition of `s.partition` into the warehouse.
pub async fn load(lake: &Lake, s: &LoadSettings) -> anyhow::Result<Outcome> {
    let silver = read_silver(lake, s).await?;
    let mut warehouse = Warehouse::connect(&s.warehouse).await?;
    let applied = warehouse.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "warehouse schema migrated");
    }
    let mut tables = Vec::with_capacity(LOADED.len());
    for (table, committed) in LOADED.iter().zip(&silver) {
        let mut streams = Vec::new();
        for object in &committed.manifest.objects {
            let path = Path::from(object.path.as_str());
            let stream = read_batches(lake, &path, object.bytes)
                .await
                .map_err(|source| WarehouseError::Parquet { path: object.path.clone(), source })?;
            let named = object.path.clone();
            streams.push(stream.map_err(move |source| WarehouseError::Parquet { path: named.clone(), source }));
        }
        let batches: Batches = futures::stream::iter(streams).flatten().boxed();
        tables.push((*table, batches));
    }
    let started = std::time::Instant::now();
    let counts = warehouse.replace_slice(&s.partition, tables).await?;
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
