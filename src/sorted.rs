//! Sorted, deterministic Parquet from batches that arrive in any order, in bounded memory.
//!
//! Batches are buffered up to a memory limit, then sorted and spilled to a local temp file as an
//! Arrow IPC run; at the end the runs are merged (k-way, on the table's sort key) straight into the
//! Parquet writer. A subject that fits in memory never touches the disk. Because every table's sort
//! key is unique and the writer is always fed slices of exactly [`CHUNK_ROWS`] rows with fixed
//! settings, the bytes written depend only on the rows, not on where spills fell.
//!

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter as StdBufWriter};
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::compute::interleave_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use object_store::path::Path;

use crate::lake::Lake;
use crate::lake::commit::Object;
use crate::lake::parquet::{ParquetOut, ParquetWriteError};
use crate::tables::Table;

/// Rows per batch handed to the Parquet writer (and per merge output).
pub const CHUNK_ROWS: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum SortError {
    #[error("sorting {table}: {source}")]
    Arrow { table: &'static str, source: ArrowError },
    #[error("spilling {table} to {path}: {source}")]
    Spill { table: &'static str, path: String, source: std::io::Error },
    #[error(transparent)]
    Write(#[from] ParquetWriteError),
}

/// Rows in sort order, as `(batch, row)` indices into a list of batches.
type SortOrder = Vec<(usize, usize)>;

/// Collects one table's rows and writes them sorted as one Parquet object.
pub struct SortedParquet {
    table: Table,
    schema: SchemaRef,
    sort_columns: Vec<usize>,
    converter: RowConverter,
    buffer: Vec<RecordBatch>,
    buffered_bytes: usize,
    spill_limit: usize,
    spill_dir: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
    rows: u64,
}

impl SortedParquet {
    /// `spill_limit`: bytes of buffered batches above which a sorted run goes to disk.
    pub fn new(table: Table, spill_limit: usize) -> Self {
        let schema = table.schema();
        let sort_columns: Vec<usize> =
            table.sort_columns().iter().map(|name| schema.index_of(name).expect("sort columns exist")).collect();
        let fields = sort_columns.iter().map(|&i| SortField::new(schema.field(i).data_type().clone())).collect();
        let converter = RowConverter::new(fields).expect("sort columns are sortable types");
        Self {
            table,
            schema,
            sort_columns,
            converter,
            buffer: vec![],
            buffered_bytes: 0,
            spill_limit,
            spill_dir: None,
            runs: vec![],
            rows: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// How many sorted runs went to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    pub fn push(&mut self, batch: RecordBatch) -> Result<(), SortError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffer.push(batch);
        if self.buffered_bytes > self.spill_limit {
            self.spill()?;
        }
        Ok(())
    }

    fn arrow(&self) -> impl FnOnce(ArrowError) -> SortError + use<> {
        let table = self.table.name();
        move |source| SortError::Arrow { table, source }
    }

    fn sort_keys(&self, batch: &RecordBatch) -> Result<Rows, SortError> {
        let columns: Vec<_> = self.sort_columns.iter().map(|&i| batch.column(i).clone()).collect();
        self.converter.convert_columns(&columns).map_err(self.arrow())
    }

    /// Empties the buffer: its batches and the order of their rows, as `(batch, row)` pairs. The
    /// rows are never copied into one sorted batch (that would hold the buffer two more times):
    /// callers take them [`CHUNK_ROWS`] at a time with [`interleave_record_batch`].
    fn take_sorted(&mut self) -> Result<(Vec<RecordBatch>, SortOrder), SortError> {
        let batches = std::mem::take(&mut self.buffer);
        self.buffered_bytes = 0;
        let keys = batches.iter().map(|batch| self.sort_keys(batch)).collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<(usize, usize)> =
            batches.iter().enumerate().flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r))).collect();
        order.sort_unstable_by(|&(a, i), &(b, j)| keys[a].row(i).cmp(&keys[b].row(j)));
        Ok((batches, order))
    }

    fn spill(&mut self) -> Result<(), SortError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let (batches, order) = self.take_sorted()?;
        let table = self.table.name();
        let spill_err = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| SortError::Spill { table, path, source }
        };
        if self.spill_dir.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("bookpipe-sort-")
                .tempdir()
                .map_err(spill_err(&std::env::temp_dir()))?;
            self.spill_dir = Some(dir);
        }
        let dir = self.spill_dir.as_ref().expect("created above").path();
        let path = dir.join(format!("{table}-{:05}.arrow", self.runs.len()));
        let file = File::create(&path).map_err(spill_err(&path))?;
        let mut writer = FileWriter::try_new(StdBufWriter::new(file), &self.schema).map_err(self.arrow())?;
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        for picks in order.chunks(CHUNK_ROWS) {
            writer.write(&interleave_record_batch(&refs, picks).map_err(self.arrow())?).map_err(self.arrow())?;
        }
        writer.finish().map_err(self.arrow())?;
        tracing::debug!(table, run = self.runs.len(), rows = order.len(), "spilled a sorted run");
        self.runs.push(path);
        // The buffer, its sort keys and the IPC writer's buffers were just freed: give them back
        // rather than let them strand below live memory (src/allocator.rs).
        crate::allocator::release_free_pages();
        Ok(())
    }

    /// Writes every row pushed, sorted, as one Parquet object at `path`.
    pub async fn write(mut self, lake: &Lake, path: &Path) -> Result<Object, SortError> {
        let mut out = ParquetOut::create(lake, path, self.schema.clone());
        if self.runs.is_empty() {
            let (batches, order) = self.take_sorted()?;
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            for picks in order.chunks(CHUNK_ROWS) {
                out.write(&interleave_record_batch(&refs, picks).map_err(self.arrow())?).await?;
            }
        } else {
            self.spill()?;
            let mut merge = Merge::open(&self)?;
            while let Some(chunk) = merge.next_chunk().map_err(self.arrow())? {
                out.write(&chunk).await?;
            }
        }
        Ok(out.finish(self.rows).await?)
    }
}

/// A k-way merge of sorted runs into chunks of [`CHUNK_ROWS`] rows.
struct Merge<'a> {
    sorter: &'a SortedParquet,
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<(OwnedRow, usize)>>,
}

struct Cursor {
    reader: FileReader<BufReader<File>>,
    batch: RecordBatch,
    keys: Rows,
    index: usize,
}

impl<'a> Merge<'a> {
    fn open(sorter: &'a SortedParquet) -> Result<Self, SortError> {
        let mut merge = Self { sorter, cursors: vec![], heap: BinaryHeap::new() };
        for path in &sorter.runs {
            let table = sorter.table.name();
            let file = File::open(path).map_err(|source| SortError::Spill {
                table,
                path: path.display().to_string(),
                source,
            })?;
            let mut reader = FileReader::try_new(BufReader::new(file), None).map_err(sorter.arrow())?;
            if let Some(batch) = next_batch(&mut reader).map_err(sorter.arrow())? {
                let keys = sorter.sort_keys(&batch)?;
                merge.heap.push(Reverse((keys.row(0).owned(), merge.cursors.len())));
                merge.cursors.push(Cursor { reader, batch, keys, index: 0 });
            }
        }
        Ok(merge)
    }

    fn next_chunk(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        // Batches the picked rows point into: each cursor's batch as it was when picked from.
        let mut sources: Vec<RecordBatch> = self.cursors.iter().map(|c| c.batch.clone()).collect();
        let mut current: Vec<usize> = (0..self.cursors.len()).collect();
        let mut picks = Vec::with_capacity(CHUNK_ROWS);
        while picks.len() < CHUNK_ROWS {
            let Some(Reverse((_, c))) = self.heap.pop() else { break };
            let cursor = &mut self.cursors[c];
            picks.push((current[c], cursor.index));
            cursor.index += 1;
            if cursor.index == cursor.batch.num_rows() {
                let Some(batch) = next_batch(&mut cursor.reader)? else { continue };
                cursor.keys = self.sorter.sort_keys(&batch).map_err(|err| ArrowError::ExternalError(Box::new(err)))?;
                cursor.batch = batch.clone();
                cursor.index = 0;
                current[c] = sources.len();
                sources.push(batch);
            }
            self.heap.push(Reverse((cursor.keys.row(cursor.index).owned(), c)));
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        interleave_record_batch(&refs, &picks).map(Some)
    }
}

fn next_batch(reader: &mut FileReader<BufReader<File>>) -> Result<Option<RecordBatch>, ArrowError> {
    for batch in reader.by_ref() {
        let batch = batch?;
        if batch.num_rows() > 0 {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Book;
    use crate::settings::LakeUrl;
    use arrow::array::{Array, StringArray};
    use bytes::Bytes;

    fn book(n: usize) -> Book {
        Book {
            work_key: format!("OL{n}W"),
            title: format!("Title {n}"),
            first_publish_year: Some(1900 + (n % 100) as i16),
            edition_count: Some(n as i32),
            cover_id: None,
            has_fulltext: Some(n.is_multiple_of(2)),
            public_scan: None,
        }
    }

    async fn write(spill_limit: usize, order: &[usize]) -> (Object, usize, Bytes) {
        let lake = Lake::open(&LakeUrl::Memory).unwrap();
        let mut sorter = SortedParquet::new(Table::Books, spill_limit);
        for chunk in order.chunks(700) {
            let rows: Vec<Book> = chunk.iter().map(|&n| book(n)).collect();
            sorter.push(crate::tables::books(&rows)).unwrap();
        }
        let runs = sorter.spilled_runs();
        let path = Path::from("t/part-00000.parquet");
        let object = sorter.write(&lake, &path).await.unwrap();
        (object, runs, lake.get(&path).await.unwrap())
    }

    #[tokio::test]
    async fn spilled_and_in_memory_sorts_write_the_same_bytes() {
        // 20,000 rows in a scrambled order: once all in memory, once spilled in many small runs.
        let order: Vec<usize> = (0..20_000).map(|i| (i * 7919) % 20_000).collect();
        let (in_memory, runs, bytes) = write(usize::MAX, &order).await;
        assert_eq!(runs, 0);
        let (spilled, runs, spilled_bytes) = write(64 * 1024, &order).await;
        assert!(runs > 5, "{runs} runs");
        assert_eq!(in_memory, spilled);
        assert_eq!(bytes, spilled_bytes);
        assert_eq!(in_memory.rows, Some(20_000));
        assert_eq!(in_memory.bytes, bytes.len() as u64);
        assert_eq!(in_memory.sha256, crate::lake::commit::sha256_hex(&bytes));

        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 4096).unwrap();
        let mut keys = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            keys.extend((0..column.len()).map(|i| column.value(i).to_string()));
        }
        let mut expected: Vec<String> = (0..20_000).map(|n| format!("OL{n}W")).collect();
        expected.sort();
        assert_eq!(keys, expected);
    }
}
