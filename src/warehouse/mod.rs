//! The warehouse: the only code that talks to a database, one module per engine — [`duckdb`]
//! (embedded, the default) and [`postgres`] (PostgreSQL, and by protocol Redshift).
//!
//! Both engines run the same SQL text ([`sql`]: migrations, slice statements, the three answers),
//! and both replace whole `(subject, ds)` slices in one transaction through their bulk paths (Arrow
//! appends into DuckDB, binary `COPY` into PostgreSQL); what differs per engine is only how a
//! statement is executed, how rows are bulk-loaded and how writers are serialised. Results come
//! back as Arrow batches with the explicit gold schemas of [`sql::GOLD`], sorted in Rust so both
//! engines give the same rows in the same order.

pub mod duckdb;
mod duckdb_scan;
mod error;
pub mod postgres;
pub mod redshift;
mod slice;
pub mod sql;
pub mod tls;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

pub use error::WarehouseError;
pub use slice::{Batches, LOADED, LoadCounts, SilverTable, batches, with_slice_columns};
pub use sql::{GOLD, Gold, MIGRATIONS, Migration};

use crate::lake::Lake;
use crate::settings::{Ds, Partition, WarehouseUrl};

/// A connected warehouse.
pub enum Warehouse {
    DuckDb(duckdb::DuckDb),
    Postgres(postgres::Postgres),
}

impl Warehouse {
    pub async fn connect(url: &WarehouseUrl) -> Result<Self, WarehouseError> {
        Ok(match url {
            WarehouseUrl::DuckDb { path, lock_timeout } => {
                Warehouse::DuckDb(duckdb::DuckDb::open(path, *lock_timeout).await?)
            }
            WarehouseUrl::Postgres(pg) => Warehouse::Postgres(postgres::Postgres::connect(pg).await?),
            WarehouseUrl::Redshift(rs) => Warehouse::Postgres(postgres::Postgres::connect_redshift(rs).await?),
        })
    }

    /// The warehouse if it exists, without creating it (a DuckDB file that is not there is `None`):
    /// for readers that must not leave a new, empty warehouse behind.
    pub async fn connect_existing(url: &WarehouseUrl) -> Result<Option<Self>, WarehouseError> {
        match url {
            WarehouseUrl::DuckDb { path, .. } if !path.exists() => Ok(None),
            url => Self::connect(url).await.map(Some),
        }
    }

    /// Every slice `load` recorded with a ds in `from..=to`: `(subject, ds, books)`. A warehouse
    /// nothing was loaded into yet has none.
    pub async fn loads(&mut self, from: Ds, to: Ds) -> Result<Vec<(String, String, i64)>, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.loads(from, to).await,
            Warehouse::Postgres(db) => db.loads(from, to).await,
        }
    }

    /// Creates or upgrades the schema; returns the versions applied now.
    pub async fn migrate(&mut self) -> Result<Vec<u32>, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.migrate().await,
            Warehouse::Postgres(db) => db.migrate().await,
        }
    }

    /// Replaces the `(subject, ds)` slice of `books`, `authors` and `book_authors` with the silver
    /// tables' committed objects, in one transaction: all three tables change, or none. DuckDB and
    /// PostgreSQL stream the rows from the lake; Redshift copies the objects from S3 itself.
    pub async fn replace_slice(
        &mut self,
        lake: &Lake,
        slice: &Partition,
        silver: &[SilverTable],
    ) -> Result<LoadCounts, WarehouseError> {
        if let Warehouse::Postgres(db) = self
            && db.is_redshift()
        {
            return db.copy_slice(lake, slice, silver).await;
        }
        let mut tables = Vec::with_capacity(silver.len());
        for table in silver {
            tables.push((table.table, slice::batches(lake, table).await?));
        }
        match self {
            Warehouse::DuckDb(db) => db.replace_slice(slice, tables).await,
            Warehouse::Postgres(db) => db.replace_slice(slice, tables).await,
        }
    }

    /// Whether `load` has put this slice in (it records every load in `loads`).
    pub async fn is_loaded(&mut self, slice: &Partition) -> Result<bool, WarehouseError> {
        Ok(self.count("loads", Some(slice)).await? > 0)
    }

    /// Replaces the slice of every gold table with the answers computed in SQL, in one
    /// transaction, and returns them sorted (the rows without `subject` and `ds`).
    pub async fn aggregate(&mut self, slice: &Partition) -> Result<Vec<RecordBatch>, WarehouseError> {
        let batches = match self {
            Warehouse::DuckDb(db) => db.aggregate(slice).await?,
            Warehouse::Postgres(db) => db.aggregate(slice).await?,
        };
        GOLD.iter().zip(batches).map(|(gold, batches)| gold.conform(&batches)).collect()
    }

    /// The rows of a read-only query of one slice — `$1` its subject, `$2` its ds, `$3` the ds
    /// `other` when given — as one batch of `schema`, in the engine's order. (The report's queries.)
    pub async fn select(
        &mut self,
        what: &str,
        query: &str,
        schema: &SchemaRef,
        slice: &Partition,
        other: Option<Ds>,
    ) -> Result<RecordBatch, WarehouseError> {
        let batches = match self {
            Warehouse::DuckDb(db) => db.select(query, slice, other).await?,
            Warehouse::Postgres(db) => vec![db.select(query, schema, slice, other).await?],
        };
        sql::conform(what, schema, &[], &batches)
    }

    /// Works in the slice, and how many of them have no first_publish_year.
    pub async fn undated_books(&mut self, slice: &Partition) -> Result<(i64, i64), WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.undated_books(slice).await,
            Warehouse::Postgres(db) => db.undated_books(slice).await,
        }
    }

    /// Rows of `table` in the slice (`None` for every slice): for checks and tests.
    pub async fn count(&mut self, table: &str, slice: Option<&Partition>) -> Result<i64, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.count(table, slice).await,
            Warehouse::Postgres(db) => db.count(table, slice).await,
        }
    }
}
