//! The warehouse: the only code that talks to a database, one module per engine — [`duckdb`]
//! (embedded, the default), [`postgres`] (PostgreSQL) and [`redshift`] (Amazon Redshift); the two
//! servers share the PostgreSQL wire client (`wire`).
//!
//! What every engine does alike is written once, here: migrating the schema, computing the
//! answers, counting and reading, all as statements of [`sql`] sent through four primitives (a
//! batch of statements, a statement with parameters, a query into Arrow, and a transaction around
//! them). An engine's file holds only what differs: how it connects and executes, how it bulk-loads
//! a slice (DuckDB's parallel Arrow scan, binary `COPY` into PostgreSQL, `COPY` from S3 into Redshift)
//! and how it serialises writers ([`Dialect`]). Results come back as Arrow batches with the
//! explicit schemas the caller names, sorted in Rust where order matters, so every engine gives the
//! same rows in the same order.

pub mod duckdb;
mod duckdb_scan;
mod error;
mod pg_copy;
pub mod postgres;
pub mod redshift;
mod slice;
pub mod sql;
pub mod tls;
mod wire;

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use chrono::NaiveDate;

pub use error::WarehouseError;
pub use slice::{Batches, LOADED, LoadCounts, SilverTable, batches, with_slice_columns};
pub use sql::{Gold, MIGRATIONS, Migration};

use crate::lake::Lake;
use crate::settings::{Ds, Partition, WarehouseUrl};

/// A connected warehouse.
pub enum Warehouse {
    DuckDb(duckdb::DuckDb),
    Postgres(postgres::Postgres),
    Redshift(redshift::Redshift),
}

/// The three answers of one slice, each gold table's rows by name.
#[derive(Debug, Clone)]
pub struct Answers {
    pub author_books_per_year: RecordBatch,
    pub author_yearly_average: RecordBatch,
    pub books_per_year: RecordBatch,
}

impl Answers {
    /// The rows of `gold`.
    pub fn get(&self, gold: Gold) -> &RecordBatch {
        match gold {
            Gold::AuthorBooksPerYear => &self.author_books_per_year,
            Gold::AuthorYearlyAverage => &self.author_yearly_average,
            Gold::BooksPerYear => &self.books_per_year,
        }
    }

    /// Every table with its rows, in [`Gold::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Gold, &RecordBatch)> {
        Gold::ALL.into_iter().map(|gold| (gold, self.get(gold)))
    }
}

/// A query: its text and parameters, the schema its rows are read as, and what it reads (for errors).
pub struct Query<'a> {
    pub what: &'a str,
    pub sql: &'a str,
    pub params: &'a [Param<'a>],
    pub schema: &'a SchemaRef,
}

/// A statement's parameter, as each engine binds it.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(&'a str),
    /// Read as `CAST($n AS DATE)` in the statements.
    Date(NaiveDate),
    Int(i32),
    BigInt(i64),
}

/// What an engine's SQL differs in, beyond its bulk load: the locks that serialise writers and
/// its migrations' texts.
pub struct Dialect {
    /// Taken before the migrations table is created (PostgreSQL's advisory lock).
    pub lock_migrations_first: Option<Lock>,
    /// Taken once the migrations table exists (Redshift's `LOCK`, which needs the table).
    pub lock_migrations: Option<Lock>,
    /// A migration's text for this engine.
    pub migration: fn(&Migration) -> &'static str,
    /// Records a migration (`$1` its version, `$2` its name).
    pub record_migration: &'static str,
    /// Taken before the gold tables' slices are replaced.
    pub lock_gold: Option<Lock>,
}

/// A statement that serialises writers, with its parameter.
#[derive(Debug, Clone, Copy)]
pub enum Lock {
    /// No parameter.
    Plain(&'static str),
    /// `$1`, a fixed key.
    Key(&'static str, i64),
    /// `$1`, the slice's key: `<prefix>:<subject>:<ds>`.
    Slice(&'static str, &'static str),
}

/// The parameters of a slice statement: `$1` the subject, `$2` the ds.
fn slice_params(slice: &Partition) -> [Param<'_>; 2] {
    [Param::Text(slice.subject.as_str()), Param::Date(slice.ds.date())]
}

fn schema(fields: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(fields.iter().map(|(name, t)| Field::new(*name, t.clone(), true)).collect::<Vec<_>>()))
}

static VERSION: LazyLock<SchemaRef> = LazyLock::new(|| schema(&[("version", DataType::Int32)]));
static COUNT: LazyLock<SchemaRef> = LazyLock::new(|| schema(&[("count", DataType::Int64)]));
static UNDATED: LazyLock<SchemaRef> =
    LazyLock::new(|| schema(&[("books", DataType::Int64), ("undated", DataType::Int64)]));
static LOADS: LazyLock<SchemaRef> =
    LazyLock::new(|| schema(&[("subject", DataType::Utf8), ("ds", DataType::Utf8), ("books", DataType::Int64)]));

impl Warehouse {
    pub async fn connect(url: &WarehouseUrl) -> Result<Self, WarehouseError> {
        Ok(match url {
            WarehouseUrl::DuckDb { path, lock_timeout } => {
                Warehouse::DuckDb(duckdb::DuckDb::open(path, *lock_timeout).await?)
            }
            WarehouseUrl::Postgres(pg) => Warehouse::Postgres(postgres::Postgres::connect(pg).await?),
            WarehouseUrl::Redshift(rs) => Warehouse::Redshift(redshift::Redshift::connect(rs).await?),
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

    fn dialect(&self) -> &'static Dialect {
        match self {
            Warehouse::DuckDb(_) => &duckdb::DIALECT,
            Warehouse::Postgres(_) => &postgres::DIALECT,
            Warehouse::Redshift(_) => &redshift::DIALECT,
        }
    }

    /// Sends `sql`, one or more statements without parameters.
    async fn batch(&mut self, context: &str, sql: &str) -> Result<(), WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.batch(context, sql).await,
            Warehouse::Postgres(postgres::Postgres { wire }) | Warehouse::Redshift(redshift::Redshift { wire, .. }) => {
                wire.batch(context, sql).await
            }
        }
    }

    /// Sends one statement with its parameters; returns the rows it changed.
    async fn execute(&mut self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<u64, WarehouseError> {
        match self {
            Warehouse::DuckDb(db) => db.execute(context, sql, params).await,
            Warehouse::Postgres(postgres::Postgres { wire }) | Warehouse::Redshift(redshift::Redshift { wire, .. }) => {
                wire.execute(context, sql, params).await
            }
        }
    }

    /// The rows of a query as one batch of `schema` (columns cast to its types), in the engine's
    /// order; `what` names it in errors.
    async fn query(
        &mut self,
        what: &str,
        sql: &str,
        params: &[Param<'_>],
        schema: &SchemaRef,
    ) -> Result<RecordBatch, WarehouseError> {
        let query = Query { what, sql, params, schema };
        match self {
            Warehouse::DuckDb(db) => db.query(query).await,
            Warehouse::Postgres(postgres::Postgres { wire }) | Warehouse::Redshift(redshift::Redshift { wire, .. }) => {
                wire.query(query).await
            }
        }
    }

    /// Runs `work` in one transaction: committed when it succeeds, rolled back when it fails.
    async fn transaction<T>(
        &mut self,
        context: &str,
        work: impl AsyncFnOnce(&mut Self) -> Result<T, WarehouseError>,
    ) -> Result<T, WarehouseError> {
        self.batch(context, sql::BEGIN).await?;
        match work(self).await {
            Ok(done) => {
                self.batch(context, sql::COMMIT).await?;
                Ok(done)
            }
            Err(err) => {
                // The error that failed the work is the one to report.
                let _ = self.batch(context, sql::ROLLBACK).await;
                Err(err)
            }
        }
    }

    async fn lock(
        &mut self,
        context: &str,
        lock: Option<Lock>,
        slice: Option<&Partition>,
    ) -> Result<(), WarehouseError> {
        match lock {
            None => Ok(()),
            Some(Lock::Plain(sql)) => self.batch(context, sql).await,
            Some(Lock::Key(sql, key)) => self.execute(context, sql, &[Param::BigInt(key)]).await.map(drop),
            Some(Lock::Slice(sql, prefix)) => {
                let slice = slice.expect("a slice lock locks a slice");
                let key = format!("{prefix}:{}:{}", slice.subject, slice.ds.date());
                self.execute(context, sql, &[Param::Text(&key)]).await.map(drop)
            }
        }
    }

    /// Every slice `load` recorded with a ds in `from..=to`: `(subject, ds, books)`. A warehouse
    /// nothing was loaded into yet has none.
    pub async fn loads(&mut self, from: Ds, to: Ds) -> Result<Vec<(String, String, i64)>, WarehouseError> {
        let tables = self.query("reading loads", sql::HAS_LOADS, &[], &COUNT).await?;
        if tables.column(0).as_primitive::<Int64Type>().value(0) == 0 {
            return Ok(vec![]);
        }
        let range = [Param::Date(from.date()), Param::Date(to.date())];
        let rows = self.query("reading loads", sql::LOADS_IN_RANGE, &range, &LOADS).await?;
        let (subjects, days) = (rows.column(0).as_string::<i32>(), rows.column(1).as_string::<i32>());
        let books = rows.column(2).as_primitive::<Int64Type>();
        Ok((0..rows.num_rows())
            .map(|i| (subjects.value(i).to_string(), days.value(i).to_string(), books.value(i)))
            .collect())
    }

    /// Creates or upgrades the schema, in one transaction; returns the versions applied now.
    pub async fn migrate(&mut self) -> Result<Vec<u32>, WarehouseError> {
        let dialect = self.dialect();
        let context = "migrating";
        self.transaction(context, async |db| {
            db.lock(context, dialect.lock_migrations_first, None).await?;
            db.batch(context, sql::CREATE_MIGRATIONS).await?;
            db.lock(context, dialect.lock_migrations, None).await?;
            let current = db.query(context, sql::CURRENT_VERSION, &[], &VERSION).await?;
            let current = current.column(0).as_primitive::<Int32Type>();
            let current = current.is_valid(0).then(|| current.value(0));
            let mut applied = vec![];
            for migration in sql::pending(current) {
                let (version, name) = (migration.version, migration.name);
                db.batch(&format!("applying migration {version} ({name})"), (dialect.migration)(migration)).await?;
                let record = [Param::Int(version as i32), Param::Text(name)];
                db.execute(context, dialect.record_migration, &record).await?;
                applied.push(version);
            }
            Ok(applied)
        })
        .await
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
        if let Warehouse::Redshift(db) = self {
            return db.replace_slice(slice, &slice::s3_uris(lake, silver)?).await;
        }
        let mut tables = Vec::with_capacity(silver.len());
        for table in silver {
            tables.push((table.table, slice::batches(lake, table).await?));
        }
        match self {
            Warehouse::DuckDb(db) => db.replace_slice(slice, tables).await,
            Warehouse::Postgres(db) => db.replace_slice(slice, tables).await,
            Warehouse::Redshift(_) => unreachable!("Redshift copied above"),
        }
    }

    /// Whether `load` has put this slice in (it records every load in `loads`).
    pub async fn is_loaded(&mut self, slice: &Partition) -> Result<bool, WarehouseError> {
        Ok(self.count("loads", Some(slice)).await? > 0)
    }

    /// Replaces the slice of every gold table with the answers computed in SQL, in one
    /// transaction, and returns them sorted (the rows without `subject` and `ds`). The slice's
    /// links are joined and counted once, into a temporary table the three answers read.
    pub async fn aggregate(&mut self, slice: &Partition) -> Result<Answers, WarehouseError> {
        let dialect = self.dialect();
        let params = slice_params(slice);
        let ds = slice.ds.to_string();
        self.transaction("aggregating", async |db| {
            db.lock("locking the slice", dialect.lock_gold, Some(slice)).await?;
            let counting = format!("counting the works of each author and year ({})", sql::AUTHOR_YEARS);
            db.batch(&counting, &sql::create_author_years((slice.subject.as_str(), &ds))).await?;
            for gold in Gold::ALL {
                for sql in gold.replace_sql() {
                    db.execute(&format!("computing {}", gold.name()), &sql, &params).await?;
                }
            }
            db.batch(&counting, &sql::drop_author_years()).await?;
            Ok(Answers {
                author_books_per_year: db.read_gold(Gold::AuthorBooksPerYear, slice).await?,
                author_yearly_average: db.read_gold(Gold::AuthorYearlyAverage, slice).await?,
                books_per_year: db.read_gold(Gold::BooksPerYear, slice).await?,
            })
        })
        .await
    }

    /// The rows of `gold`'s slice, sorted.
    pub async fn read_gold(&mut self, gold: Gold, slice: &Partition) -> Result<RecordBatch, WarehouseError> {
        let rows = self.query(gold.name(), &gold.read_sql(), &slice_params(slice), &gold.schema()).await?;
        gold.conform(&[rows])
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
        let [subject, ds] = slice_params(slice);
        match other {
            Some(other) => self.query(what, query, &[subject, ds, Param::Date(other.date())], schema).await,
            None => self.query(what, query, &[subject, ds], schema).await,
        }
    }

    /// Works in the slice, and how many of them have no first_publish_year.
    pub async fn undated_books(&mut self, slice: &Partition) -> Result<(i64, i64), WarehouseError> {
        let counts = self.query("counting undated books", sql::UNDATED_SQL, &slice_params(slice), &UNDATED).await?;
        let int = |i: usize| counts.column(i).as_primitive::<Int64Type>().value(0);
        Ok((int(0), int(1)))
    }

    /// Rows of `table` in the slice (`None` for every slice): for checks and tests.
    pub async fn count(&mut self, table: &str, slice: Option<&Partition>) -> Result<i64, WarehouseError> {
        let sql = sql::count_sql(table, slice.is_some());
        let params = slice.map(slice_params);
        let counted = self.query("counting", &sql, params.as_ref().map_or(&[][..], |p| &p[..]), &COUNT).await?;
        Ok(counted.column(0).as_primitive::<Int64Type>().value(0))
    }
}
