//! A `(subject, ds)` slice as the engines load it: which silver tables, as what stream (DuckDB,
//! PostgreSQL) or which S3 objects (Redshift), counted how, with the slice's columns in front.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::error::WarehouseError;
use crate::lake::Lake;
use crate::lake::parquet::read_batches;
use crate::settings::Partition;
use crate::tables::Table;

/// One silver table of a slice: its committed objects, with their sizes (from the manifest).
#[derive(Debug, Clone)]
pub struct SilverTable {
    pub table: Table,
    pub objects: Vec<(Path, u64)>,
}

/// A silver table's rows, streamed from the lake object by object.
pub async fn batches(lake: &Lake, silver: &SilverTable) -> Result<Batches, WarehouseError> {
    let mut streams = Vec::with_capacity(silver.objects.len());
    for (path, size) in &silver.objects {
        let named = path.to_string();
        let stream = read_batches(lake, path, *size)
            .await
            .map_err(|source| WarehouseError::Parquet { path: named.clone(), source })?;
        streams.push(stream.map_err(move |source| WarehouseError::Parquet { path: named.clone(), source }));
    }
    Ok(futures::stream::iter(streams).flatten().boxed())
}

/// Each silver table's committed objects as S3 URIs, which Redshift's COPY reads itself.
pub fn s3_uris(lake: &Lake, silver: &[SilverTable]) -> Result<Vec<(Table, Vec<String>)>, WarehouseError> {
    let on_s3 = |table: &SilverTable| -> Option<Vec<String>> {
        table.objects.iter().map(|(path, _)| lake.s3_uri(path)).collect()
    };
    silver
        .iter()
        .map(|table| {
            Ok((table.table, on_s3(table).ok_or_else(|| WarehouseError::LakeNotOnS3 { lake: lake.url().into() })?))
        })
        .collect()
}

/// The silver tables `load` puts into the warehouse, in the order it loads them.
pub const LOADED: [Table; 3] = [Table::Books, Table::Authors, Table::BookAuthors];

/// Rows `load` wrote per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadCounts {
    pub books: u64,
    pub authors: u64,
    pub book_authors: u64,
}

impl LoadCounts {
    /// The count of one loaded table.
    pub fn get_mut(&mut self, table: Table) -> &mut u64 {
        match table {
            Table::Books => &mut self.books,
            Table::Authors => &mut self.authors,
            Table::BookAuthors => &mut self.book_authors,
            Table::Rejects => unreachable!("rejects are not loaded"),
        }
    }
}

/// A silver table's batches, streamed from the lake.
pub type Batches = BoxStream<'static, Result<RecordBatch, WarehouseError>>;

/// A silver batch with the slice's `subject` and `ds` columns in front: the warehouse row layout.
pub fn with_slice_columns(batch: &RecordBatch, slice: &Partition) -> Result<RecordBatch, ArrowError> {
    let rows = batch.num_rows();
    let days = (slice.ds.date() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32;
    let mut fields = vec![Field::new("subject", DataType::Utf8, false), Field::new("ds", DataType::Date32, false)];
    fields.extend(batch.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(arrow::array::StringArray::from(vec![slice.subject.as_str(); rows])),
        Arc::new(arrow::array::Date32Array::from(vec![days; rows])),
    ];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
