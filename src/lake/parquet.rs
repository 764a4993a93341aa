//! Parquet in and out of the lake, through `object_store` only.
//!
//! [`ParquetOut`] streams a file to the lake through `object_store`'s buffered writer (atomic on
//! every backend: a local temp file renamed, an S3 multipart upload completed) and computes its
//! sha256 on the way, for the manifest; [`writer_properties`] are the fixed settings that make the
//! same rows give the same bytes. [`read_batches`] streams a file back, reading only the byte
//! ranges it needs.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryFutureExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::Lake;
use super::commit::Object;

/// Writing a Parquet object failed.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct ParquetWriteError {
    pub path: String,
    pub source: ParquetError,
}

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The fixed writer settings: same rows in, same bytes out.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("3 is a valid zstd level")))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("bookpipe {}", crate::VERSION))
        .build()
}

/// A Parquet object being streamed to the lake, hashed as it goes.
pub struct ParquetOut {
    writer: AsyncArrowWriter<HashingWriter>,
    digest: Arc<Mutex<(Sha256, u64)>>,
    path: Path,
}

impl ParquetOut {
    pub fn create(lake: &Lake, path: &Path, schema: SchemaRef) -> Self {
        let digest = Arc::new(Mutex::new((Sha256::new(), 0)));
        let inner = HashingWriter { inner: BufWriter::new(lake.store().clone(), path.clone()), digest: digest.clone() };
        let writer = AsyncArrowWriter::try_new(inner, schema, Some(writer_properties()))
            .expect("an Arrow schema always maps to Parquet");
        Self { writer, digest, path: path.clone() }
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetWriteError> {
        self.writer.write(batch).await.map_err(|source| ParquetWriteError { path: self.path.to_string(), source })
    }

    /// Closes the file (it becomes visible, whole) and describes it for the manifest.
    pub async fn finish(self, rows: u64) -> Result<Object, ParquetWriteError> {
        let path = self.path.to_string();
        self.writer.close().await.map_err(|source| ParquetWriteError { path: path.clone(), source })?;
        let (hasher, bytes) = std::mem::take(&mut *self.digest.lock().expect("never poisoned"));
        let sha256 = super::commit::hex(&hasher.finalize());
        Ok(Object { path, bytes, sha256, rows: Some(rows) })
    }
}

struct HashingWriter {
    inner: BufWriter,
    digest: Arc<Mutex<(Sha256, u64)>>,
}

impl AsyncFileWriter for HashingWriter {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        {
            let mut digest = self.digest.lock().expect("never poisoned");
            digest.0.update(&bs);
            digest.1 += bs.len() as u64;
        }
        async move { self.inner.write_all(&bs).await.map_err(|err| ParquetError::External(Box::new(err))) }.boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move { self.inner.shutdown().await.map_err(|err| ParquetError::External(Box::new(err))) }.boxed()
    }
}

/// Streams the record batches of the Parquet object `path` (`size` bytes, from its manifest).
pub async fn read_batches(
    lake: &Lake,
    path: &Path,
    size: u64,
) -> Result<BoxStream<'static, Result<RecordBatch, ParquetError>>, ParquetError> {
    let reader = LakeReader { store: lake.store().clone(), path: path.clone(), size };
    Ok(ParquetRecordBatchStreamBuilder::new(reader).await?.build()?.boxed())
}

/// An [`AsyncFileReader`] over one lake object: byte-range GETs, nothing more.
struct LakeReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn external(err: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(err))
}

impl AsyncFileReader for LakeReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store.get_range(&self.path, range).map_err(external).boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.store.get_ranges(&self.path, &ranges).await.map_err(external) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata =
                ParquetMetaDataReader::new().with_arrow_reader_options(options).load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
