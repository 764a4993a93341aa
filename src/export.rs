//! `export`: the silver tables of one partition as files a person can open — `books.csv`,
//! `authors.csv`, `book_authors.csv` — written with the Arrow CSV writer (a header row, RFC 4180
//! quoting, empty fields for nulls).
//!
//! Reads only committed silver partitions, streams batch by batch, and writes each file under a
//! temporary name renamed into place, so a reader of the folder never sees half a file.

use std::path::PathBuf;

use anyhow::Context;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::cli::ExportFormat;
use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lake::parquet::read_batches;
use crate::lineage::Lineage;
use crate::settings::ExportSettings;
use crate::silver::read_committed;
use crate::tables::Table;

/// The tables exported, in this order.
pub const EXPORTED: [Table; 3] = [Table::Books, Table::Authors, Table::BookAuthors];

/// `bookpipe export`: the silver partition written as files a person can open, announced as the
/// task `export`.
pub async fn export(lake: &Lake, lineage: &Lineage, s: &ExportSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(None).export(&s.partition, &crate::lineage::datasets::absolute(&s.out));
    crate::task::announced(lake, lineage, "export", &s.partition, io, write_files(lake, s)).await
}

/// Writes the silver tables of `s.partition` into `s.out`, in `s.format`.
async fn write_files(lake: &Lake, s: &ExportSettings) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&s.out).with_context(|| format!("creating {}", s.out.display()))?;
    for table in EXPORTED {
        let committed = read_committed(lake, table, &s.partition).await?;
        let (extension, write) = match s.format {
            ExportFormat::Csv => ("csv", write_csv),
        };
        let target = s.out.join(format!("{}.{extension}", table.name()));
        let mut rows = 0;
        for object in &committed.manifest.objects {
            rows += write(lake, Path::from(object.path.as_str()), object.bytes, target.clone()).await?;
        }
        tracing::info!(table = table.name(), rows, file = %target.display(), "exported");
    }
    Ok(Outcome::Done)
}

/// Streams one Parquet object into a CSV file; returns the rows written.
async fn write_csv(lake: &Lake, source: Path, size: u64, target: PathBuf) -> anyhow::Result<u64> {
    let (source, target) = (&source, target.as_path());
    let mut stream = read_batches(lake, source, size).await.with_context(|| format!("reading {source}"))?;
    let partial = PathBuf::from(format!("{}.partial", target.display()));
    let file = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(std::io::BufWriter::new(file));
    let mut rows = 0;
    while let Some(batch) = stream.try_next().await.with_context(|| format!("reading {source}"))? {
        rows += batch.num_rows() as u64;
        writer.write(&batch).with_context(|| format!("writing {}", partial.display()))?;
    }
    let mut inner = writer.into_inner();
    std::io::Write::flush(&mut inner).with_context(|| format!("writing {}", partial.display()))?;
    drop(inner);
    std::fs::rename(&partial, target).with_context(|| format!("renaming {} into place", partial.display()))?;
    Ok(rows)
}
