//! PostgreSQL: the server engine, loading with binary `COPY` into day partitions and serialising
//! writers with advisory locks. It talks through the wire client it shares with Redshift
//! ([`super::wire`]); what every engine does alike (migrations, answers, reads) is in [`super`].

use std::pin::Pin;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::{SinkExt, TryStreamExt};
use tokio_postgres::{Client, CopyInSink};

use super::error::WarehouseError;
use super::pg_copy;
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
            let context = format!("copying into {}", table.name());
            let mut copy = SliceCopy::start(tx.client(), partition(table), &table.schema(), slice)
                .await
                .map_err(err(context.clone()))?;
            while let Some(batch) = batches.try_next().await? {
                copy.write(&batch).await.map_err(err(context.clone()))?;
            }
            *counts.get_mut(table) = copy.finish().await.map_err(err(context))?;
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

/// A binary `COPY` of a slice's rows into `table`: each row its `subject` and `ds`, then the
/// columns of `schema` (Arrow batches of it), encoded by [`pg_copy`].
struct SliceCopy<'a> {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    subject: &'a str,
    date: NaiveDate,
}

impl<'a> SliceCopy<'a> {
    async fn start(
        client: &Client,
        table: &str,
        schema: &SchemaRef,
        slice: &'a Partition,
    ) -> Result<Self, tokio_postgres::Error> {
        let columns: Vec<&str> =
            ["subject", "ds"].into_iter().chain(schema.fields().iter().map(|f| f.name().as_str())).collect();
        let sink = client.copy_in(&sql::pg_copy_binary(table, &columns)).await?;
        let (subject, date) = params(slice);
        let mut copy = Self { sink: Box::pin(sink), subject, date };
        copy.send(pg_copy::HEADER.to_vec()).await?;
        Ok(copy)
    }

    async fn write(&mut self, batch: &RecordBatch) -> Result<(), tokio_postgres::Error> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let rows = pg_copy::CHUNK_ROWS.min(batch.num_rows() - offset);
            let mut chunk = Vec::new();
            pg_copy::encode(&mut chunk, self.subject, self.date, &batch.slice(offset, rows));
            self.send(chunk).await?;
            offset += rows;
        }
        Ok(())
    }

    async fn send(&mut self, chunk: Vec<u8>) -> Result<(), tokio_postgres::Error> {
        self.sink.send(Bytes::from(chunk)).await
    }

    async fn finish(mut self) -> Result<u64, tokio_postgres::Error> {
        self.send(pg_copy::TRAILER.to_vec()).await?;
        self.sink.as_mut().finish().await
    }
}

/// A slice's `$1` and `$2` as PostgreSQL is given them: text and a date.
fn params(slice: &Partition) -> (&str, NaiveDate) {
    (slice.subject.as_str(), slice.ds.date())
}
