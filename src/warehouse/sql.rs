//! Every SQL statement bookpipe sends, in one place so that a reader (or the Redshift dialect test)
//! finds them all: the schema migrations, the statements that replace and record a slice, the
//! counts, the three answers ([`Gold`], design doc: gold), the report's queries, and what each
//! engine sends of its own (PostgreSQL's session settings, advisory locks and day partitions,
//! Redshift's table locks and COPY from S3). Parameters are `$1` (subject) and `$2` (ds, as
//! `CAST($2 AS DATE)`), which all three engines read; where a statement must differ, it has a text
//! per engine. The statements' texts live here or in `sql/`; the engines only send them.

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
/// A transaction around statements sent one by one.
pub const BEGIN: &str = "BEGIN";
pub const COMMIT: &str = "COMMIT";
pub const ROLLBACK: &str = "ROLLBACK";

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

/// A gold table (design doc: gold): named, so that a reader never needs to know an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gold {
    /// Books per author and year.
    AuthorBooksPerYear,
    /// Each author's totals, career and both averages.
    AuthorYearlyAverage,
    /// Books and authors per year.
    BooksPerYear,
}

impl Gold {
    /// Every gold table, in the order `aggregate` computes and writes them.
    pub const ALL: [Gold; 3] = [Gold::AuthorBooksPerYear, Gold::AuthorYearlyAverage, Gold::BooksPerYear];

    /// The table's name, in the warehouse and the lake.
    pub fn name(self) -> &'static str {
        match self {
            Gold::AuthorBooksPerYear => "author_books_per_year",
            Gold::AuthorYearlyAverage => "author_yearly_average",
            Gold::BooksPerYear => "books_per_year",
        }
    }

    /// The query computing the table's rows of one slice (`sql/gold/`), from the slice's silver
    /// tables and [`AUTHOR_YEARS`].
    pub fn select(self) -> &'static str {
        match self {
            Gold::AuthorBooksPerYear => include_str!("../../sql/gold/author_books_per_year.sql"),
            Gold::AuthorYearlyAverage => include_str!("../../sql/gold/author_yearly_average.sql"),
            Gold::BooksPerYear => include_str!("../../sql/gold/books_per_year.sql"),
        }
    }

    /// The table's columns (without `subject` and `ds`), with their Arrow types.
    pub fn schema(self) -> SchemaRef {
        SCHEMAS[self as usize].clone()
    }

    /// The order its rows are kept in.
    pub fn order_by(self) -> &'static [&'static str] {
        match self {
            Gold::AuthorBooksPerYear => &["author_key", "year"],
            Gold::AuthorYearlyAverage => &["author_key"],
            Gold::BooksPerYear => &["year"],
        }
    }

    fn columns(self) -> String {
        self.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The statements that replace the slice: delete it, insert the answer.
    pub fn replace_sql(self) -> [String; 2] {
        [
            format!("DELETE FROM {} WHERE subject = $1 AND ds = CAST($2 AS DATE)", self.name()),
            format!(
                "INSERT INTO {} (subject, ds, {}) SELECT $1, CAST($2 AS DATE), q.* FROM ({}) q",
                self.name(),
                self.columns(),
                self.select()
            ),
        ]
    }

    /// Reads the slice back.
    pub fn read_sql(self) -> String {
        format!("SELECT {} FROM {} WHERE subject = $1 AND ds = CAST($2 AS DATE)", self.columns(), self.name())
    }

    /// The engine's batches as one batch of exactly this schema, sorted by `order_by`.
    pub fn conform(self, batches: &[RecordBatch]) -> Result<RecordBatch, WarehouseError> {
        conform(self.name(), &self.schema(), self.order_by(), batches)
    }
}

/// The temporary table every answer is counted from: per author and year, the author's works.
pub const AUTHOR_YEARS: &str = "gold_author_years";

/// Creates [`AUTHOR_YEARS`] for the slice (`sql/gold/author_years.sql`), inside the aggregate's
/// transaction. The slice is spliced in as literals, because CREATE TABLE AS takes no parameters,
/// and it must be CREATE TABLE AS: PostgreSQL computes that on every core, an INSERT … SELECT on one.
pub fn create_author_years((subject, ds): (&str, &str)) -> String {
    let query = include_str!("../../sql/gold/author_years.sql");
    format!("CREATE TEMP TABLE {AUTHOR_YEARS} AS\n{}", splice_slice(query, (subject, ds)))
}

/// Drops [`AUTHOR_YEARS`] before the aggregate commits (not every engine knows ON COMMIT DROP; a
/// rollback drops it with the rest).
pub fn drop_author_years() -> String {
    format!("DROP TABLE {AUTHOR_YEARS}")
}

/// `query` with `$1` replaced by the literal `subject` and `$2` by the literal `ds`, in one pass (a
/// spliced text is never read again for markers). Quotes are doubled; a subject holds no backslash
/// (settings refuse it), so the literal reads the same whether or not an engine reads backslash
/// escapes.
fn splice_slice(query: &str, (subject, ds): (&str, &str)) -> String {
    assert!(!subject.contains('\\') && !ds.contains('\\'), "a slice holds no backslash");
    let mut out = String::with_capacity(query.len() + subject.len() + ds.len());
    let mut rest = query;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match &after[..digits] {
            "1" => out.push_str(&duckdb_literal(subject)),
            "2" => out.push_str(&duckdb_literal(ds)),
            other => panic!("the slice queries take $1 and $2, not ${other}"),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
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

/// The gold tables' columns, in [`Gold::ALL`]'s order.
static SCHEMAS: LazyLock<[SchemaRef; 3]> = LazyLock::new(|| {
    use DataType::{Float64, Int32, Int64, Utf8};
    [
        Arc::new(Schema::new(vec![
            field("author_key", Utf8, false),
            field("author_name", Utf8, true),
            field("year", Int32, false),
            field("books", Int64, false),
        ])),
        Arc::new(Schema::new(vec![
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
        Arc::new(Schema::new(vec![
            field("year", Int32, false),
            field("books", Int64, false),
            field("authors", Int64, false),
        ])),
    ]
});

/// The report's headline of one slice.
pub const REPORT_HEADLINE: &str = include_str!("../../sql/report/headline.sql");
/// The subject's loaded day before the slice's.
pub const REPORT_PREVIOUS: &str = include_str!("../../sql/report/previous.sql");
/// What changed from the day `$3` to the slice's.
pub const REPORT_CHANGES: &str = include_str!("../../sql/report/changes.sql");
/// Every query the report sends (the Redshift statements test parses them too).
pub const REPORT_QUERIES: [&str; 3] = [REPORT_HEADLINE, REPORT_PREVIOUS, REPORT_CHANGES];

/// DuckDB: the catalog the warehouse file is attached under (the instance itself is in memory:
/// [`super::duckdb_scan`] says why).
pub const DUCKDB_WAREHOUSE: &str = "warehouse";

/// DuckDB: attaches the file `file` as [`DUCKDB_WAREHOUSE`], makes it the default, and spills
/// beside it (an in-memory instance would spill into `.tmp` in the working directory).
pub fn duckdb_attach(file: &str) -> String {
    format!(
        "ATTACH {} AS {DUCKDB_WAREHOUSE}; USE {DUCKDB_WAREHOUSE}; SET temp_directory = {};",
        duckdb_literal(file),
        duckdb_literal(&format!("{file}.tmp"))
    )
}

/// DuckDB, on the load's own connection (C API, no parameters): deletes the slice of `table`.
pub fn duckdb_delete_slice(table: &str, (subject, ds): (&str, &str)) -> String {
    assert!(is_identifier(table), "table names are identifiers");
    let (subject, ds) = (duckdb_literal(subject), duckdb_literal(ds));
    format!("DELETE FROM {DUCKDB_WAREHOUSE}.{table} WHERE subject = {subject} AND ds = CAST({ds} AS DATE)")
}

/// DuckDB, on the load's own connection: every row of the scan view `view` into the slice of `table`.
pub fn duckdb_insert_scanned(table: &str, (subject, ds): (&str, &str), columns: &[String], view: &str) -> String {
    let list = columns.join(", ");
    format!(
        "INSERT INTO {DUCKDB_WAREHOUSE}.{table} (subject, ds, {list}) SELECT {}, CAST({} AS DATE), {list} FROM {view}",
        duckdb_literal(subject),
        duckdb_literal(ds)
    )
}

/// DuckDB, on the load's own connection: records a load of `books`, `authors` and `links` rows.
pub fn duckdb_record_load((subject, ds): (&str, &str), books: u64, authors: u64, links: u64) -> String {
    let (subject, ds) = (duckdb_literal(subject), duckdb_literal(ds));
    format!(
        "INSERT INTO {DUCKDB_WAREHOUSE}.loads VALUES ({subject}, CAST({ds} AS DATE), {books}, {authors}, {links}, current_timestamp)"
    )
}

/// DuckDB: drops a scan view.
pub fn duckdb_drop_view(view: &str) -> String {
    format!("DROP VIEW IF EXISTS {view}")
}

/// A DuckDB string literal (the subject is a slug and ds a date, but quoting never relies on that;
/// DuckDB reads no backslash escapes, so only quotes are doubled).
pub fn duckdb_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// DuckDB: writes a new file's header (a file created empty is one DuckDB refuses to open).
pub const DUCKDB_CHECKPOINT: &str = "CHECKPOINT";

/// PostgreSQL: serialises writers of one slice (the key is hashed into the advisory lock space).
pub const PG_SLICE_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext($1))";
/// PostgreSQL: serialises migrations (`$1` a fixed key).
pub const PG_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// PostgreSQL: how long a statement waits for a lock (another load's advisory lock included).
pub fn pg_lock_timeout(seconds: u64) -> String {
    format!("SET lock_timeout = '{seconds}s'")
}
/// PostgreSQL: how long one statement may run.
pub const PG_STATEMENT_TIMEOUT: &str = "SET statement_timeout = '1h'";
/// PostgreSQL: the gold queries read one slice: compiling them (PostgreSQL's JIT, which the
/// planner's estimate of a join can switch on) took 475 ms of a 380 ms query at 20,000 books
/// (EXPLAIN ANALYZE).
pub const PG_NO_JIT: &str = "SET jit = off";
/// PostgreSQL: dates cast to text read `YYYY-MM-DD` whatever the role's or database's DateStyle.
pub const PG_ISO_DATES: &str = "SET DateStyle = ISO";
/// PostgreSQL: whether the table `$1` exists.
pub const PG_TABLE_EXISTS: &str = "SELECT to_regclass($1) IS NOT NULL";

/// PostgreSQL: creates the partition `name` of `table` for the day `day`. Created apart, then
/// attached: ATTACH takes a lock on the parent that readers do not wait for (CREATE … PARTITION OF
/// would lock every reader of the table out).
pub fn pg_create_day_partition(name: &str, table: &str, day: chrono::NaiveDate) -> String {
    assert!(is_identifier(name) && is_identifier(table), "table names are identifiers");
    format!(
        "CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
         ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES IN ('{day}')"
    )
}

/// PostgreSQL: binary COPY into `table`'s `columns`.
pub fn pg_copy_binary(table: &str, columns: &[&str]) -> String {
    format!("COPY {table} ({}) FROM STDIN (FORMAT binary)", columns.join(", "))
}

/// PostgreSQL: fresh statistics of `tables`.
pub fn pg_analyze(tables: &[String]) -> String {
    format!("ANALYZE {}", tables.join(", "))
}

/// Redshift: serialises migrations (taken after the table exists: `LOCK` needs it).
pub const REDSHIFT_MIGRATION_LOCK: &str = "LOCK bookpipe_migrations";
/// Redshift: serialises loads: one writer of the slice tables at a time.
pub const REDSHIFT_LOAD_LOCK: &str = "LOCK books, authors, book_authors, loads";
/// Redshift: serialises aggregates.
pub const REDSHIFT_GOLD_LOCK: &str = "LOCK author_books_per_year, author_yearly_average, books_per_year";

/// Redshift: the temporary table a silver table's Parquet is copied into.
pub fn redshift_create_stage(stage: &str, schema: &Schema) -> String {
    let typed: Vec<String> =
        schema.fields().iter().map(|f| format!("{} {}", f.name(), redshift_type(f.data_type()))).collect();
    format!("CREATE TEMP TABLE {stage} ({})", typed.join(", "))
}

/// Redshift: copies one Parquet object `uri` into `stage`, read as `iam_role`.
pub fn redshift_copy_parquet(stage: &str, uri: &str, iam_role: &str) -> String {
    format!("COPY {stage} FROM {} IAM_ROLE {} FORMAT AS PARQUET", literal(uri), literal(iam_role))
}

/// Redshift: the staged rows into the slice (`$1`, `$2`) of `table`.
pub fn redshift_insert_staged(table: &str, stage: &str, schema: &Schema) -> String {
    let list = schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    format!("INSERT INTO {table} (subject, ds, {list}) SELECT $1, CAST($2 AS DATE), {list} FROM {stage}")
}

/// Redshift: drops a stage.
pub fn redshift_drop_stage(stage: &str) -> String {
    format!("DROP TABLE {stage}")
}

/// A SQL string literal: quotes and backslashes doubled, so neither can end it whether or not the
/// server reads backslashes as escapes. (What goes in — S3 URIs of checked bucket, prefix and
/// subject names, a checked role ARN — holds neither backslash nor, but for a subject, quote.)
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The Redshift column type of a silver column (as migration 1 declares the warehouse's).
fn redshift_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 => "VARCHAR(65535)",
        DataType::Int16 => "SMALLINT",
        DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Boolean => "BOOLEAN",
        other => unreachable!("silver tables have no {other} column"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_cannot_be_left() {
        assert_eq!(super::literal("a'b\\c"), "'a''b\\\\c'");
    }

    #[test]
    fn the_slice_is_spliced_once_as_literals() {
        let spliced = super::splice_slice("WHERE s = $1 AND ds = CAST($2 AS DATE) -- $1", ("o'$2", "2024-05-01"));
        assert_eq!(spliced, "WHERE s = 'o''$2' AND ds = CAST('2024-05-01' AS DATE) -- 'o''$2'");
        let created = super::create_author_years(("love", "2024-05-01"));
        assert!(created.starts_with("CREATE TEMP TABLE gold_author_years AS\n"), "{created}");
        assert!(created.contains("ba.subject = 'love' AND ba.ds = CAST('2024-05-01' AS DATE)"), "{created}");
        assert!(!created.contains('$'), "{created}");
    }
}
