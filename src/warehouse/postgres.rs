//! The server warehouse: PostgreSQL through `tokio-postgres`, loading with binary `COPY`.
//!
//! Redshift speaks the same protocol: a `redshift://` warehouse is this engine with Redshift's
//! dialect where it differs ([`super::redshift`]: COPY from S3, table locks, its migrations). Nothing
//! here logs the connection string: errors name the server by its redacted URL.

use std::pin::pin;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type, SchemaRef};
use chrono::NaiveDate;
use futures::TryStreamExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use super::error::WarehouseError;
use super::redshift::{self, Step};
use super::slice::{Batches, LOADED, LoadCounts, SilverTable};
use super::sql::{self, GOLD};
use crate::lake::Lake;
use crate::settings::{Ds, Partition, PgTarget, RedshiftTarget};
use crate::tables::Table;

pub struct Postgres {
    client: Client,
    url: String,
    /// On Redshift: the IAM role its COPY assumes to read the lake.
    redshift: Option<String>,
}

/// Serialises writers of one slice (the key is hashed into PostgreSQL's advisory lock space).
const SLICE_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext($1))";

/// How long one statement may run.
const STATEMENT_TIMEOUT: &str = "SET statement_timeout = '1h'";
/// The gold queries read one slice: compiling them (PostgreSQL's JIT, which the planner's estimate
/// of a join can switch on) took 475 ms of a 380 ms query at 20,000 books (EXPLAIN ANALYZE).
const NO_JIT: &str = "SET jit = off";

/// Dates cast to text read `YYYY-MM-DD` whatever the role's or database's DateStyle.
const ISO_DATES: &str = "SET DateStyle = ISO";

/// Serialises migrations of concurrent `load`s (an arbitrary, fixed advisory lock key).
const MIGRATION_LOCK: i64 = 0x626f_6f6b_7069_7065;

impl Postgres {
    pub async fn connect(target: &PgTarget) -> Result<Self, WarehouseError> {
        let url = target.redacted.clone();
        let tls =
            super::tls::connector(&target.tls).map_err(|source| WarehouseError::Tls { url: url.clone(), source })?;
        let (client, connection) = target.config.connect(tls).await.map_err(|source| WarehouseError::Postgres {
            url: url.clone(),
            context: format!("connecting (sslmode={})", target.tls.mode.as_str()),
            source,
        })?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(error = %err, "PostgreSQL connection closed with an error");
            }
        });
        // A lock held by a stuck session (another load's advisory lock, a migration) fails the
        // task after this long instead of hanging it; so does a statement that never ends.
        // Servers without these settings (Redshift) refuse them: they are then left as they are.
        // How long a statement waits for a lock (an advisory lock of a concurrent load included):
        // --warehouse-lock-timeout.
        let lock_timeout = format!("SET lock_timeout = '{}s'", target.lock_timeout.as_secs());
        for setting in [&lock_timeout, STATEMENT_TIMEOUT, NO_JIT, ISO_DATES] {
            if let Err(err) = client.batch_execute(setting).await {
                tracing::debug!(setting, error = %err, "the server refused a session setting");
            }
        }
        Ok(Self { client, url, redshift: None })
    }

    /// A Redshift cluster or workgroup, through the same protocol.
    pub async fn connect_redshift(target: &RedshiftTarget) -> Result<Self, WarehouseError> {
        let mut db = Self::connect(&target.pg).await?;
        db.redshift = Some(target.iam_role.clone());
        Ok(db)
    }

    pub fn is_redshift(&self) -> bool {
        self.redshift.is_some()
    }

    pub async fn migrate(&mut self) -> Result<Vec<u32>, WarehouseError> {
        let url = self.url.clone();
        let redshift = self.is_redshift();
        let tx = self.client.transaction().await.map_err(pg_err(&url, "migrating"))?;
        if redshift {
            // No advisory locks: the migrations table itself is locked, once it exists.
            tx.batch_execute(sql::CREATE_MIGRATIONS).await.map_err(pg_err(&url, "migrating"))?;
            tx.batch_execute(redshift::MIGRATION_LOCK).await.map_err(pg_err(&url, "migrating"))?;
        } else {
            let lock = tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await;
            lock.map_err(pg_err(&url, "migrating"))?;
            tx.batch_execute(sql::CREATE_MIGRATIONS).await.map_err(pg_err(&url, "migrating"))?;
        }
        let record = if redshift { sql::RECORD_MIGRATION_REDSHIFT } else { sql::RECORD_MIGRATION };
        let row = tx.query_one(sql::CURRENT_VERSION, &[]).await.map_err(pg_err(&url, "migrating"))?;
        let mut applied = vec![];
        for migration in sql::pending(row.get(0)) {
            let (version, name) = (migration.version, migration.name);
            let text = if redshift { migration.redshift } else { migration.postgres };
            tx.batch_execute(text).await.map_err(pg_err(&url, format!("applying migration {version} ({name})")))?;
            tx.execute(record, &[&(version as i32), &name]).await.map_err(pg_err(&url, "migrating"))?;
            applied.push(version);
        }
        tx.commit().await.map_err(pg_err(&url, "migrating"))?;
        Ok(applied)
    }

    /// Creates the partitions of `ds` (one per slice table, shared by every subject) if they do
    /// not exist yet, in a transaction of their own, serialised by an advisory lock so that loads
    /// of several subjects of one day do not race; returns their names.
    async fn day_partitions(&mut self, ds: Ds) -> Result<Vec<String>, WarehouseError> {
        let url = self.url.clone();
        let err = |context: &str| pg_err(&url, context.to_string());
        let day = ds.date();
        let suffix = day.format("%Y%m%d").to_string();
        let tx = self.client.transaction().await.map_err(err("creating partitions"))?;
        tx.execute(SLICE_LOCK, &[&format!("partitions:{day}")]).await.map_err(err("locking the partitions"))?;
        let mut names = Vec::with_capacity(LOADED.len());
        for table in LOADED.iter().map(|t| t.name()) {
            let name = format!("{table}_d{suffix}");
            let exists: bool = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                .await
                .map_err(err("creating partitions"))?
                .get(0);
            if !exists {
                // Created apart, then attached: ATTACH takes a lock on the parent that readers do
                // not wait for (CREATE … PARTITION OF would lock every reader of the table out).
                let sql = format!(
                    "CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
                     ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES IN ('{day}')"
                );
                tx.batch_execute(&sql).await.map_err(err("creating partitions"))?;
            }
            names.push(name);
        }
        tx.commit().await.map_err(err("creating partitions"))?;
        Ok(names)
    }

    pub async fn replace_slice(
        &mut self,
        slice: &Partition,
        tables: Vec<(Table, Batches)>,
    ) -> Result<LoadCounts, WarehouseError> {
        let url = self.url.clone();
        let err = |context: String| pg_err(&url, context);
        let partitions = self.day_partitions(slice.ds).await?;
        let (subject, date) = params(slice);
        let tx = self.client.transaction().await.map_err(err("loading".into()))?;
        // One writer per slice: a concurrent load of the same slice waits here until this one
        // commits, then replaces it (without the lock both would delete the old rows and insert).
        tx.execute(SLICE_LOCK, &[&format!("load:{subject}:{date}")]).await.map_err(err("locking the slice".into()))?;
        // The slice's rows live in the day's partitions: deleted and copied there directly, so the
        // work does not depend on how many days the tables hold.
        let partition = |table: Table| &partitions[LOADED.iter().position(|t| *t == table).expect("a loaded table")];
        for table in LOADED.iter().map(|&t| partition(t).as_str()).chain(["loads"]) {
            tx.execute(&sql::delete_slice(table), &[&subject, &date])
                .await
                .map_err(err(format!("clearing {table}")))?;
        }
        let mut counts = LoadCounts::default();
        for (table, mut batches) in tables {
            let schema = table.schema();
            let mut types = vec![Type::VARCHAR, Type::DATE];
            types.extend(schema.fields().iter().map(|f| pg_type(f.data_type())));
            let columns: Vec<&str> =
                ["subject", "ds"].into_iter().chain(schema.fields().iter().map(|f| f.name().as_str())).collect();
            let copy = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", partition(table), columns.join(", "));
            let context = || format!("copying into {}", table.name());
            let sink = tx.copy_in(&copy).await.map_err(err(context()))?;
            let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
            while let Some(batch) = batches.try_next().await? {
                let values: Vec<Values> = batch.columns().iter().map(Values::of).collect();
                for row in 0..batch.num_rows() {
                    let mut fields: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(values.len() + 2);
                    fields.push(&subject);
                    fields.push(&date);
                    fields.extend(values.iter().map(|v| v.get(row)));
                    writer.as_mut().write(&fields).await.map_err(err(context()))?;
                }
            }
            *counts.get_mut(table) = writer.as_mut().finish().await.map_err(err(context()))?;
        }
        // Fresh statistics, or the planner guesses nested loops for the gold joins (minutes, not
        // seconds, at 100,000 books): of the day's partitions only, whatever the history.
        tx.batch_execute(&format!("ANALYZE {}", partitions.join(", "))).await.map_err(err("analyzing".into()))?;
        let (books, authors, links) = (counts.books as i64, counts.authors as i64, counts.book_authors as i64);
        tx.execute(sql::RECORD_LOAD, &[&subject, &date, &books, &authors, &links])
            .await
            .map_err(err("recording the load".into()))?;
        tx.commit().await.map_err(err("committing the load".into()))?;
        Ok(counts)
    }

    pub async fn count(&mut self, table: &str, slice: Option<&Partition>) -> Result<i64, WarehouseError> {
        let sql = sql::count_sql(table, slice.is_some());
        let row = match slice.map(params) {
            Some((subject, date)) => self.client.query_one(&sql, &[&subject, &date]).await,
            None => self.client.query_one(&sql, &[]).await,
        }
        .map_err(pg_err(&self.url, "counting"))?;
        Ok(row.get(0))
    }

    /// Replaces the slice on Redshift: its COPY reads the silver objects from the S3 lake
    /// ([`redshift::load_steps`]), in one transaction with the `loads` record.
    pub async fn copy_slice(
        &mut self,
        lake: &Lake,
        slice: &Partition,
        silver: &[SilverTable],
    ) -> Result<LoadCounts, WarehouseError> {
        let role = self.redshift.clone().expect("copy_slice is Redshift's");
        let mut uris = Vec::with_capacity(silver.len());
        for table in silver {
            let located: Option<Vec<String>> = table.objects.iter().map(|(path, _)| lake.s3_uri(path)).collect();
            uris.push((table.table, located.ok_or_else(|| WarehouseError::LakeNotOnS3 { lake: lake.url().into() })?));
        }
        let url = self.url.clone();
        let (subject, date) = params(slice);
        let tx = self.client.transaction().await.map_err(pg_err(&url, "loading"))?;
        let mut counts = LoadCounts::default();
        for step in redshift::load_steps(&uris, &role) {
            let context =
                || format!("loading ({})", step.sql().split_whitespace().take(3).collect::<Vec<_>>().join(" "));
            match &step {
                Step::Plain(sql) => tx.batch_execute(sql).await.map_err(pg_err(&url, context()))?,
                Step::Slice(sql) => {
                    tx.execute(sql.as_str(), &[&subject, &date]).await.map_err(pg_err(&url, context()))?;
                }
                Step::Insert(table, sql) => {
                    *counts.get_mut(*table) =
                        tx.execute(sql.as_str(), &[&subject, &date]).await.map_err(pg_err(&url, context()))?
                }
            }
        }
        let (books, authors, links) = (counts.books as i64, counts.authors as i64, counts.book_authors as i64);
        tx.execute(sql::RECORD_LOAD_REDSHIFT, &[&subject, &date, &books, &authors, &links])
            .await
            .map_err(pg_err(&url, "recording the load"))?;
        tx.commit().await.map_err(pg_err(&url, "committing the load"))?;
        Ok(counts)
    }

    pub async fn loads(&mut self, from: Ds, to: Ds) -> Result<Vec<(String, String, i64)>, WarehouseError> {
        let err = || pg_err(&self.url, "reading loads");
        let tables: i64 = self.client.query_one(sql::HAS_LOADS, &[]).await.map_err(err())?.get(0);
        if tables == 0 {
            return Ok(vec![]);
        }
        let rows = self.client.query(sql::LOADS_IN_RANGE, &[&from.date(), &to.date()]).await.map_err(err())?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect())
    }

    pub async fn select(
        &mut self,
        query: &str,
        schema: &SchemaRef,
        slice: &Partition,
        other: Option<Ds>,
    ) -> Result<RecordBatch, WarehouseError> {
        let (subject, date) = params(slice);
        let rows = match other {
            Some(other) => self.client.query(query, &[&subject, &date, &other.date()]).await,
            None => self.client.query(query, &[&subject, &date]).await,
        }
        .map_err(pg_err(&self.url, "reading"))?;
        rows_to_batch(schema, &rows).map_err(|source| WarehouseError::Arrow { context: "reading".into(), source })
    }

    pub async fn undated_books(&mut self, slice: &Partition) -> Result<(i64, i64), WarehouseError> {
        let (subject, date) = params(slice);
        let row = self
            .client
            .query_one(sql::UNDATED_SQL, &[&subject, &date])
            .await
            .map_err(pg_err(&self.url, "counting undated books"))?;
        Ok((row.get(0), row.get(1)))
    }

    pub async fn aggregate(&mut self, slice: &Partition) -> Result<Vec<Vec<RecordBatch>>, WarehouseError> {
        let (subject, date) = params(slice);
        let url = self.url.clone();
        let tx = self.client.transaction().await.map_err(pg_err(&url, "aggregating"))?;
        if self.redshift.is_some() {
            for step in redshift::aggregate_steps() {
                let done = match &step {
                    Step::Slice(sql) => tx.execute(sql.as_str(), &[&subject, &date]).await.map(drop),
                    other => tx.batch_execute(other.sql()).await,
                };
                done.map_err(pg_err(&url, "computing the answers"))?;
            }
        } else {
            tx.execute(SLICE_LOCK, &[&format!("aggregate:{subject}:{date}")])
                .await
                .map_err(pg_err(&url, "locking the slice"))?;
            for gold in GOLD.iter() {
                for sql in gold.replace_sql() {
                    let done = tx.execute(&sql, &[&subject, &date]).await;
                    done.map_err(pg_err(&url, format!("computing {}", gold.name)))?;
                }
            }
        }
        let mut answers = Vec::with_capacity(GOLD.len());
        for gold in GOLD.iter() {
            let rows = tx.query(&gold.read_sql(), &[&subject, &date]).await.map_err(pg_err(&url, "reading gold"))?;
            let batch = rows_to_batch(&gold.schema, &rows)
                .map_err(|source| WarehouseError::Arrow { context: format!("reading {}", gold.name), source })?;
            answers.push(vec![batch]);
        }
        tx.commit().await.map_err(pg_err(&url, "aggregating"))?;
        Ok(answers)
    }
}

/// A slice's `$1` and `$2` as PostgreSQL is given them: text and a date.
fn params(slice: &Partition) -> (&str, NaiveDate) {
    (slice.subject.as_str(), slice.ds.date())
}

/// A PostgreSQL error, naming the server (redacted) and what was being done.
fn pg_err(url: &str, context: impl Into<String>) -> Box<dyn FnOnce(tokio_postgres::Error) -> WarehouseError> {
    let (url, context) = (url.to_string(), context.into());
    Box::new(move |source| WarehouseError::Postgres { url, context, source })
}

/// The PostgreSQL type binary COPY must be told for an Arrow column (as the migration declares).
fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Utf8 => Type::VARCHAR,
        DataType::Int16 => Type::INT2,
        DataType::Int32 => Type::INT4,
        DataType::Int64 => Type::INT8,
        DataType::Boolean => Type::BOOL,
        other => unreachable!("silver tables have no {other} column"),
    }
}

/// One Arrow column as values `tokio-postgres` can write.
enum Values<'a> {
    Text(Vec<Option<&'a str>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

impl<'a> Values<'a> {
    fn of(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Utf8 => Values::Text(array.as_string::<i32>().iter().collect()),
            DataType::Int16 => Values::I16(array.as_primitive::<Int16Type>().iter().collect()),
            DataType::Int32 => Values::I32(array.as_primitive::<Int32Type>().iter().collect()),
            DataType::Int64 => Values::I64(array.as_primitive::<Int64Type>().iter().collect()),
            DataType::Boolean => {
                let bools: &BooleanArray = array.as_boolean();
                Values::Bool(bools.iter().collect())
            }
            other => unreachable!("silver tables have no {other} column"),
        }
    }

    fn get(&self, row: usize) -> &(dyn ToSql + Sync) {
        match self {
            Values::Text(v) => &v[row],
            Values::I16(v) => &v[row],
            Values::I32(v) => &v[row],
            Values::I64(v) => &v[row],
            Values::Bool(v) => &v[row],
        }
    }
}

/// Query rows into one batch of `schema` (gold tables: text, int4, int8, float8 columns).
fn rows_to_batch(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| -> ArrayRef {
            match field.data_type() {
                DataType::Utf8 => {
                    let mut b = StringBuilder::new();
                    rows.iter().for_each(|r| b.append_option(r.get::<_, Option<&str>>(i)));
                    std::sync::Arc::new(b.finish())
                }
                DataType::Int32 => {
                    let mut b = Int32Builder::new();
                    rows.iter().for_each(|r| b.append_option(r.get::<_, Option<i32>>(i)));
                    std::sync::Arc::new(b.finish())
                }
                DataType::Int64 => {
                    let mut b = Int64Builder::new();
                    rows.iter().for_each(|r| b.append_option(r.get::<_, Option<i64>>(i)));
                    std::sync::Arc::new(b.finish())
                }
                DataType::Float64 => {
                    let mut b = Float64Builder::new();
                    rows.iter().for_each(|r| b.append_option(r.get::<_, Option<f64>>(i)));
                    std::sync::Arc::new(b.finish())
                }
                other => unreachable!("gold tables have no {other} column"),
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
}
