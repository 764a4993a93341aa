//! The warehouse: the only code that talks to a database, one module per engine — [`duckdb`]
//! (embedded, the default) and [`postgres`] (PostgreSQL, and by protocol Redshift).
//!
//! Both engines run the same SQL text from `sql/` (migrations and the three answers), and both
//! replace whole `(subject, ds)` slices in one transaction through their bulk paths (Arrow appends
//! into DuckDB, binary `COPY` into PostgreSQL). Results come back as Arrow batches with the explicit
//! gold schemas below, sorted here in Rust so both engines give the same rows in the same order.

pub mod duckdb;
pub mod postgres;
pub mod tls;

use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use futures::stream::BoxStream;

use crate::settings::{Ds, Subject, WarehouseUrl};
use crate::tables::Table;

/// The schema migrations, in order; each runs once, recorded in `bookpipe_migrations`.
pub const MIGRATIONS: [Migration; 3] = [
    Migration::both(1, "tables", include_str!("../../sql/migrations/0001_tables.sql")),
    Migration::both(2, "listed_author_key", include_str!("../../sql/migrations/0002_listed_author_key.sql")),
    Migration {
        version: 3,
        name: "slice_layout",
        duckdb: include_str!("../../sql/migrations/0003_slice_layout.duckdb.sql"),
        postgres: include_str!("../../sql/migrations/0003_slice_layout.postgres.sql"),
    },
];

/// One schema version: its SQL for each engine (the same text where the dialects allow).
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub duckdb: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    const fn both(version: u32, name: &'static str, sql: &'static str) -> Self {
        Self { version, name, duckdb: sql, postgres: sql }
    }
}

/// The silver tables `load` puts into the warehouse, in the order it loads them.
pub const LOADED: [Table; 3] = [Table::Books, Table::Authors, Table::BookAuthors];

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("PostgreSQL {url}: {source}")]
    Tls { url: String, source: tls::TlsError },
    #[error("DuckDB {path}: {context}: {source}")]
    DuckDb { path: String, context: String, source: ::duckdb::Error },
    #[error("PostgreSQL {url}: {context}: {source}")]
    Postgres { url: String, context: String, source: tokio_postgres::Error },
    #[error("{context}: {source}")]
    Arrow { context: String, source: ArrowError },
    #[error("reading {path}: {source}")]
    Parquet { path: String, source: parquet::errors::ParquetError },
    #[error("cannot read the warehouse password file {path}: {source}")]
    PasswordFile { path: String, source: std::io::Error },
    #[error("the DuckDB worker thread died: {0}")]
    Worker(String),
}

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

/// A connected warehouse.
pub enum Warehouse {
    DuckDb(duckdb::DuckDb),
    Postgres(postgres::Postgres),
}

impl Warehouse {
    pub async fn connect(url: &WarehouseUrl) -> Result<Self, WarehouseError> {
        Ok(match url {
            WarehouseUrl::DuckDb(path) => Warehouse::DuckDb(duckdb::DuckDb::open(path).await?),
            WarehouseUrl::Postgres(pg) => Warehouse::Postgres(postgres::Postgres::connect(pg).await?),
        })
    }

    /// Creates or upgrades the schema; returns the versions applied now.
    pub async fn migrate(&mut self) -> Result<Vec<u32>, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.migrate().await,
            Warehouse::Postgres(db) => db.migrate().await,
        }
    }

    /// Replaces the `(subject, ds)` slice of `books`, `authors` and `book_authors` in one
    /// transaction: all three tables change, or none.
    pub async fn replace_slice(
        &mut self,
        subject: &Subject,
        ds: Ds,
        tables: Vec<(Table, Batches)>,
    ) -> Result<LoadCounts, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.replace_slice(subject, ds, tables).await,
            Warehouse::Postgres(db) => db.replace_slice(subject, ds, tables).await,
        }
    }

    /// Whether `load` has put this slice in.
    pub async fn is_loaded(&mut self, subject: &Subject, ds: Ds) -> Result<bool, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.is_loaded(subject, ds).await,
            Warehouse::Postgres(db) => db.is_loaded(subject, ds).await,
        }
    }

    /// Replaces the slice of every gold table with the answers computed in SQL, in one
    /// transaction, and returns them sorted (the rows without `subject` and `ds`).
    pub async fn aggregate(&mut self, subject: &Subject, ds: Ds) -> Result<Vec<RecordBatch>, WarehouseError> {
        let batches = match self {
            Warehouse::DuckDb(db) => db.aggregate(subject, ds).await?,
            Warehouse::Postgres(db) => db.aggregate(subject, ds).await?,
        };
        GOLD.iter().zip(batches).map(|(gold, batches)| gold.conform(&batches)).collect()
    }

    /// Works in the slice, and how many of them have no first_publish_year.
    pub async fn undated_books(&mut self, subject: &Subject, ds: Ds) -> Result<(i64, i64), WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.undated_books(subject, ds).await,
            Warehouse::Postgres(db) => db.undated_books(subject, ds).await,
        }
    }

    /// Rows of `table` in the slice (`None` for every slice): for checks and tests.
    pub async fn count(&mut self, table: &str, slice: Option<(&Subject, Ds)>) -> Result<i64, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.count(table, slice).await,
            Warehouse::Postgres(db) => db.count(table, slice).await,
        }
    }
}

/// `SELECT count(*) FROM table [WHERE subject = $1 AND ds = CAST($2 AS DATE)]`.
fn count_sql(table: &str, sliced: bool) -> String {
    assert!(table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "table names are identifiers");
    let filter = if sliced { " WHERE subject = $1 AND ds = CAST($2 AS DATE)" } else { "" };
    format!("SELECT count(*) FROM {table}{filter}")
}

const UNDATED_SQL: &str =
    "SELECT count(*), count(*) - count(first_publish_year) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE)";

/// A gold table: its SQL (from `sql/gold/`), its columns and the order its rows are kept in.
pub struct Gold {
    pub name: &'static str,
    pub select: &'static str,
    pub schema: SchemaRef,
    pub order_by: &'static [&'static str],
}

impl Gold {
    fn columns(&self) -> String {
        self.schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The statements that replace the slice: delete it, insert the answer.
    fn replace_sql(&self) -> [String; 2] {
        [
            format!("DELETE FROM {} WHERE subject = $1 AND ds = CAST($2 AS DATE)", self.name),
            format!(
                "INSERT INTO {} (subject, ds, {}) SELECT $1, CAST($2 AS DATE), q.* FROM ({}) q",
                self.name,
                self.columns(),
                self.select
            ),
        ]
    }

    /// Reads the slice back.
    fn read_sql(&self) -> String {
        format!("SELECT {} FROM {} WHERE subject = $1 AND ds = CAST($2 AS DATE)", self.columns(), self.name)
    }

    /// The engine's batches as one batch of exactly this schema, sorted by `order_by`.
    fn conform(&self, batches: &[RecordBatch]) -> Result<RecordBatch, WarehouseError> {
        let arrow = |source| WarehouseError::Arrow { context: format!("reading {}", self.name), source };
        let mut columns = vec![];
        for (i, field) in self.schema.fields().iter().enumerate() {
            let parts: Vec<_> = batches.iter().map(|b| b.column(i).clone()).collect();
            let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            let column = if refs.is_empty() {
                arrow::array::new_empty_array(field.data_type())
            } else {
                arrow::compute::concat(&refs).map_err(arrow)?
            };
            columns.push(arrow::compute::cast(&column, field.data_type()).map_err(arrow)?);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(arrow)?;
        let sort: Vec<SortColumn> = self
            .order_by
            .iter()
            .map(|name| SortColumn {
                values: batch.column_by_name(name).expect("order columns exist").clone(),
                options: None,
            })
            .collect();
        let order = lexsort_to_indices(&sort, None).map_err(arrow)?;
        take_record_batch(&batch, &order).map_err(arrow)
    }
}

fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

/// The three answers (design doc: gold).
pub static GOLD: LazyLock<[Gold; 3]> = LazyLock::new(|| {
    use DataType::{Float64, Int32, Int64, Utf8};
    [
        Gold {
            name: "author_books_per_year",
            select: include_str!("../../sql/gold/author_books_per_year.sql"),
            schema: Arc::new(Schema::new(vec![
                field("author_key", Utf8, false),
                field("author_name", Utf8, true),
                field("year", Int32, false),
                field("books", Int64, false),
            ])),
            order_by: &["author_key", "year"],
        },
        Gold {
            name: "author_yearly_average",
            select: include_str!("../../sql/gold/author_yearly_average.sql"),
            schema: Arc::new(Schema::new(vec![
                field("author_key", Utf8, false),
                field("author_name", Utf8, true),
                field("total_books", Int64, false),
                field("dated_books", Int64, false),
                field("first_year", Int32, true),
                field("last_year", Int32, true),
                field("active_years", Int64, false),
                field("avg_books_per_active_year", Float64, true),
                field("avg_books_per_career_year", Float64, true),
            ])),
            order_by: &["author_key"],
        },
        Gold {
            name: "books_per_year",
            select: include_str!("../../sql/gold/books_per_year.sql"),
            schema: Arc::new(Schema::new(vec![
                field("year", Int32, false),
                field("books", Int64, false),
                field("authors", Int64, false),
            ])),
            order_by: &["year"],
        },
    ]
});

/// A silver batch with the slice's `subject` and `ds` columns in front: the warehouse row layout.
pub fn with_slice_columns(batch: &RecordBatch, subject: &Subject, ds: Ds) -> Result<RecordBatch, ArrowError> {
    let rows = batch.num_rows();
    let days = (ds.date() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32;
    let mut fields = vec![Field::new("subject", DataType::Utf8, false), Field::new("ds", DataType::Date32, false)];
    fields.extend(batch.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(arrow::array::StringArray::from(vec![subject.as_str(); rows])),
        Arc::new(arrow::array::Date32Array::from(vec![days; rows])),
    ];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
