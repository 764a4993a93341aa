//! PostgreSQL: the server engine, loading with binary `COPY` into day partitions and serialising
//! writers with advisory locks. It talks through the wire client it shares with Redshift
//! ([`super::wire`]); what every engine does alike (migrations, answers, reads) is in [`super`].

use std::pin::pin;

use arrow::array::{ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type};
use chrono::NaiveDate;
use futures::TryStreamExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::error::WarehouseError;
use super::slice::{Batches, LOADED, LoadCounts};
use super::sql;
use super::wire::{Wire, pg_err};
use super::{Dialect, Lock};
use crate::settings::{Ds, Partition, PgTarget};
use crate::tables::Table;

pub struct Postgres {
    pub(super) wire: Wire,
}

/// Serialises migrations of concurrent `load`s (an arbitrary, fixed advisory lock key).
const MIGRATION_LOCK: i64 = 0x626f_6f6b_7069_7065;

/// PostgreSQL's locks (advisory: no table is locked for readers) and migrations.
pub const DIALECT: Dialect = Dialect {
    lock_migrations_first: Some(Lock::Key(sql::PG_MIGRATION_LOCK, MIGRATION_LOCK)),
    lock_migrations: None,
    migration: |m| m.postgres,
    record_migration: sql::RECORD_MIGRATION,
    lock_gold: Some(Lock::Slice(sql::PG_SLICE_LOCK, "aggregate")),
};

impl Postgres {
    pub async fn connect(target: &PgTarget) -> Result<Self, WarehouseError> {
        Ok(Self { wire: Wire::connect(target).await? })
    }

    /// Creates the partitions of `ds` (one per slice table, shared by every subject) if they do
    /// not exist yet, in a transaction of their own, serialised by an advisory lock so that loads
    /// of several subjects of one day do not race; returns their names.
    async fn day_partitions(&mut self, ds: Ds) -> Result<Vec<String>, WarehouseError> {
        let url = self.wire.url.clone();
        let err = |context: &str| pg_err(&url, context.to_string());
        let day = ds.date();
        let suffix = day.format("%Y%m%d").to_string();
        let tx = self.wire.client.transaction().await.map_err(err("creating partitions"))?;
        tx.execute(sql::PG_SLICE_LOCK, &[&format!("partitions:{day}")]).await.map_err(err("locking the partitions"))?;
        let mut names = Vec::with_capacity(LOADED.len());
        for table in LOADED.iter().map(|t| t.name()) {
            let name = format!("{table}_d{suffix}");
            let exists: bool =
                tx.query_one(sql::PG_TABLE_EXISTS, &[&name]).await.map_err(err("creating partitions"))?.get(0);
            if !exists {
                // Created apart, then attached (sql::pg_create_day_partition says why).
                tx.batch_execute(&sql::pg_create_day_partition(&name, table, day))
                    .await
                    .map_err(err("creating partitions"))?;
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
        let url = self.wire.url.clone();
        let err = |context: String| pg_err(&url, context);
        let partitions = self.day_partitions(slice.ds).await?;
        let (subject, date) = params(slice);
        let tx = self.wire.client.transaction().await.map_err(err("loading".into()))?;
        // One writer per slice: a concurrent load of the same slice waits here until this one
        // commits, then replaces it (without the lock both would delete the old rows and insert).
        tx.execute(sql::PG_SLICE_LOCK, &[&format!("load:{subject}:{date}")])
            .await
            .map_err(err("locking the slice".into()))?;
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
            let copy = sql::pg_copy_binary(partition(table), &columns);
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
        tx.batch_execute(&sql::pg_analyze(&partitions)).await.map_err(err("analyzing".into()))?;
        let (books, authors, links) = (counts.books as i64, counts.authors as i64, counts.book_authors as i64);
        tx.execute(sql::RECORD_LOAD, &[&subject, &date, &books, &authors, &links])
            .await
            .map_err(err("recording the load".into()))?;
        tx.commit().await.map_err(err("committing the load".into()))?;
        Ok(counts)
    }
}

/// A slice's `$1` and `$2` as PostgreSQL is given them: text and a date.
fn params(slice: &Partition) -> (&str, NaiveDate) {
    (slice.subject.as_str(), slice.ds.date())
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
