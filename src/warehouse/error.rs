//! Why a warehouse operation failed, naming the database (redacted) and what was being done.

use arrow::error::ArrowError;

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("PostgreSQL {url}: {source}")]
    Tls { url: String, source: super::tls::TlsError },
    #[error("DuckDB {path}: {context}: {source}")]
    DuckDb { path: String, context: String, source: ::duckdb::Error },
    #[error("PostgreSQL {url}: {context}: {source}")]
    Postgres { url: String, context: String, source: tokio_postgres::Error },
    #[error("{context}: {source}")]
    Arrow { context: String, source: ArrowError },
    #[error("reading {path}: {source}")]
    Parquet { path: String, source: parquet::errors::ParquetError },
    #[error("Redshift loads with COPY from S3, so the lake must be s3://… (it is {lake})")]
    LakeNotOnS3 { lake: String },
    #[error("the DuckDB worker thread died: {0}")]
    Worker(String),
}
