//! Every SQL statement bookpipe sends, written once for both engines: the schema migrations, the
//! statements that replace and record a slice, the counts, and the three answers (design doc:
//! gold). Parameters are `$1` (subject) and `$2` (ds, as `CAST($2 AS DATE)`), which DuckDB and
//! PostgreSQL both read; where a migration must differ, it has a text per engine.

use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::error::WarehouseError;

/// The schema migrations, in order; each runs once, recorded in `bookpipe_migrations`.
pub const MIGRATIONS: [Migration; 3] = [
    Migration {
        version: 1,
        name: "tables",
        duckdb: include_str!("../../sql/migrations/0001_tables.sql"),
        postgres: include_str!("../../sql/migrations/0001_tables.sql"),
        redshift: include_str!("../../sql/migrations/redshift/0001_tables.sql"),
    },
    Migration {
        version: 2,
        name: "listed_author_key",
        duckdb: include_str!("../../sql/migrations/0002_listed_author_key.sql"),
        postgres: include_str!("../../sql/migrations/0002_listed_author_key.sql"),
        redshift: include_str!("../../sql/migrations/redshift/0002_listed_author_key.sql"),
    },
    Migration {
        version: 3,
        name: "slice_layout",
        duckdb: include_str!("../../sql/migrations/0003_slice_layout.duckdb.sql"),
        postgres: include_str!("../../sql/migrations/0003_slice_layout.postgres.sql"),
        redshift: include_str!("../../sql/migrations/redshift/0003_slice_layout.sql"),
    },
];

/// One schema version: its SQL for each engine (the same text where the dialects allow).
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub duckdb: &'static str,
    pub postgres: &'static str,
    pub redshift: &'static str,
}

/// Which migrations a schema at `current` still needs, in order.
pub fn pending(current: Option<i32>) -> impl Iterator<Item = &'static Migration> {
    MIGRATIONS.iter().filter(move |m| m.version as i32 > current.unwrap_or(0))
}

/// The table that records which migrations ran.
pub const CREATE_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS bookpipe_migrations \
     (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)";
/// The schema's version (NULL before the first migration).
pub const CURRENT_VERSION: &str = "SELECT max(version) FROM bookpipe_migrations";
/// Records that migration `$1` (named `$2`) ran.
pub const RECORD_MIGRATION: &str = "INSERT INTO bookpipe_migrations VALUES ($1, $2, current_timestamp)";
/// The same on Redshift, whose clock function is GETDATE().
pub const RECORD_MIGRATION_REDSHIFT: &str = "INSERT INTO bookpipe_migrations VALUES ($1, $2, GETDATE())";

/// Deletes one slice of `table` (a slice table, one of its day partitions, or `loads`).
pub fn delete_slice(table: &str) -> String {
    assert!(is_identifier(table), "table names are identifiers");
    format!("DELETE FROM {table} WHERE subject = $1 AND ds = CAST($2 AS DATE)")
}

/// Records a load: subject, ds, and the rows of books, authors and book_authors (`$3`..`$5`).
pub const RECORD_LOAD: &str = "INSERT INTO loads VALUES ($1, CAST($2 AS DATE), $3, $4, $5, current_timestamp)";
/// The same on Redshift.
pub const RECORD_LOAD_REDSHIFT: &str = "INSERT INTO loads VALUES ($1, CAST($2 AS DATE), $3, $4, $5, GETDATE())";

/// Whether the schema has a `loads` table yet (a warehouse nothing was loaded into has none).
pub const HAS_LOADS: &str = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'loads'";
/// Every load of a range of days (`$1`..`$2`): subject, ds as text, books.
pub const LOADS_IN_RANGE: &str = "SELECT subject, CAST(ds AS VARCHAR), books FROM loads \
     WHERE ds BETWEEN CAST($1 AS DATE) AND CAST($2 AS DATE)";

fn is_identifier(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `SELECT count(*) FROM table [WHERE subject = $1 AND ds = CAST($2 AS DATE)]`.
pub fn count_sql(table: &str, sliced: bool) -> String {
    assert!(is_identifier(table), "table names are identifiers");
    let filter = if sliced { " WHERE subject = $1 AND ds = CAST($2 AS DATE)" } else { "" };
    format!("SELECT count(*) FROM {table}{filter}")
}

pub const UNDATED_SQL: &str =
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
    pub fn replace_sql(&self) -> [String; 2] {
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
    pub fn read_sql(&self) -> String {
        format!("SELECT {} FROM {} WHERE subject = $1 AND ds = CAST($2 AS DATE)", self.columns(), self.name)
    }

    /// The engine's batches as one batch of exactly this schema, sorted by `order_by`.
    pub fn conform(&self, batches: &[RecordBatch]) -> Result<RecordBatch, WarehouseError> {
        conform(self.name, &self.schema, self.order_by, batches)
    }
}

/// An engine's batches as one batch of exactly `schema` (columns cast to its types), sorted by
/// `order_by`: both engines then give the same rows in the same order and types.
pub fn conform(
    what: &str,
    schema: &SchemaRef,
    order_by: &[&str],
    batches: &[RecordBatch],
) -> Result<RecordBatch, WarehouseError> {
    let arrow = |source| WarehouseError::Arrow { context: format!("reading {what}"), source };
    let mut columns = vec![];
    for (i, field) in schema.fields().iter().enumerate() {
        let parts: Vec<_> = batches.iter().map(|b| b.column(i).clone()).collect();
        let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        let column = if refs.is_empty() {
            arrow::array::new_empty_array(field.data_type())
        } else {
            arrow::compute::concat(&refs).map_err(arrow)?
        };
        columns.push(arrow::compute::cast(&column, field.data_type()).map_err(arrow)?);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow)?;
    if order_by.is_empty() {
        return Ok(batch);
    }
    let sort: Vec<SortColumn> = order_by
        .iter()
        .map(|name| SortColumn {
            values: batch.column_by_name(name).expect("order columns exist").clone(),
            options: None,
        })
        .collect();
    let order = lexsort_to_indices(&sort, None).map_err(arrow)?;
    take_record_batch(&batch, &order).map_err(arrow)
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
