//! DuckDB: the embedded engine, one file, no server. What every engine does alike (migrations,
//! answers, reads) is in [`super`]; here is how DuckDB executes a statement, opens its file and
//! bulk-loads a slice.
//!
//! DuckDB's API is blocking, so every call runs on a blocking thread; loads stream Arrow batches
//! through a small channel (bounded memory) into DuckDB's parallel Arrow scan inside one
//! transaction, which commits only when every table arrived ([`super::duckdb_scan`]).
//!
//! DuckDB lets one process at a time open a file, readers included: a second process fails at once
//! with "Could not set lock on file". Parallel subjects (the DAG's mapped tasks, `run` beside a
//! `status`) are normal here, so opening waits for the other process to close the file, up to
//! `--warehouse-lock-timeout`, as PostgreSQL's `lock_timeout` waits for a concurrent load.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::duckdb::types::Value;
use ::duckdb::{Connection, params_from_iter};
use arrow::array::RecordBatch;
use futures::TryStreamExt;

use super::duckdb_scan::{ChannelReader, Feed, RawConnection, RawDatabase, ScanView};
use super::error::WarehouseError;
use super::slice::{Batches, LOADED, LoadCounts};
use super::sql;
use super::{Dialect, Param, Query};
use crate::settings::Partition;
use crate::tables::Table;

/// One process has the file at a time (it waits for the file lock): nothing to lock inside it.
pub const DIALECT: Dialect = Dialect {
    lock_migrations_first: None,
    lock_migrations: None,
    migration: |m| m.duckdb,
    record_migration: sql::RECORD_MIGRATION,
    lock_gold: None,
};

pub struct DuckDb {
    // Dropped in this order: the crate's connection before the database it was made on.
    conn: Arc<Mutex<Connection>>,
    raw: Arc<RawDatabase>,
    path: String,
}

impl DuckDb {
    /// Opens (creating when absent) the file, waiting up to `lock_timeout` while another process
    /// has it open.
    pub async fn open(path: &Path, lock_timeout: Duration) -> Result<Self, WarehouseError> {
        let display = path.display().to_string();
        let owned: PathBuf = path.to_path_buf();
        let (opened, waited) = tokio::task::spawn_blocking(move || {
            if let Some(parent) = owned.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            if !owned.exists()
                && let Err(err) = create_atomically(&owned)
            {
                return (Err(err), None);
            }
            open_waiting(&owned, lock_timeout)
        })
        .await
        .map_err(|err| WarehouseError::Worker(err.to_string()))?;
        let conn = opened.map_err(|source| WarehouseError::DuckDb {
            path: display.clone(),
            context: match waited {
                Some(waited) if is_lock_conflict(&source) => format!(
                    "opening: another process held the file for {} s, the most --warehouse-lock-timeout allows",
                    waited.as_secs()
                ),
                _ => "opening".into(),
            },
            source,
        })?;
        let (raw, conn) = conn;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), raw: Arc::new(raw), path: display })
    }

    /// Runs `f` on a blocking thread with the connection; errors carry the file and `context`.
    async fn blocking<T: Send + 'static>(
        &self,
        context: &str,
        f: impl FnOnce(&mut Connection) -> Result<T, WarehouseError> + Send + 'static,
    ) -> Result<T, WarehouseError> {
        let conn = self.conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| WarehouseError::Worker("a DuckDB call panicked".into()))?;
            f(&mut conn)
        })
        .await
        .map_err(|err| WarehouseError::Worker(err.to_string()))?;
        result.map_err(|err| match err {
            WarehouseError::DuckDb { source, context: inner, .. } if inner.is_empty() => {
                WarehouseError::DuckDb { path: self.path.clone(), context: context.to_string(), source }
            }
            other => other,
        })
    }

    pub async fn batch(&mut self, context: &str, sql: &str) -> Result<(), WarehouseError> {
        let sql = sql.to_string();
        self.blocking(context, move |conn| conn.execute_batch(&sql).map_err(db)).await
    }

    pub async fn execute(&mut self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<u64, WarehouseError> {
        let (sql, values) = (sql.to_string(), values(params));
        self.blocking(context, move |conn| {
            conn.execute(&sql, params_from_iter(values)).map(|rows| rows as u64).map_err(db)
        })
        .await
    }

    pub async fn query(&mut self, query: Query<'_>) -> Result<RecordBatch, WarehouseError> {
        let Query { what, sql, params, schema } = query;
        let (sql, values) = (sql.to_string(), values(params));
        let batches = self
            .blocking(what, move |conn| {
                let mut statement = conn.prepare(&sql).map_err(db)?;
                Ok(statement.query_arrow(params_from_iter(values)).map_err(db)?.collect::<Vec<_>>())
            })
            .await?;
        sql::conform(what, schema, &[], &batches)
    }

    /// Replaces the slice in one transaction on a connection of its own: the slice deleted, each
    /// table's batches inserted by DuckDB's parallel Arrow scan as the async side streams them from
    /// the lake, the load recorded, then the commit (a failure anywhere rolls every table back).
    pub async fn replace_slice(
        &mut self,
        slice: &Partition,
        tables: Vec<(Table, Batches)>,
    ) -> Result<LoadCounts, WarehouseError> {
        let mut senders = Vec::with_capacity(tables.len());
        let mut readers = Vec::with_capacity(tables.len());
        for (table, _) in &tables {
            let (sender, receiver) = tokio::sync::mpsc::channel::<Feed>(4);
            senders.push(sender);
            readers.push((*table, ChannelReader::new(table.schema(), receiver)));
        }
        let (raw, slice) = (self.raw.clone(), slice.clone());
        let writer = self.blocking("loading", move |_conn| {
            let (subject, ds) = (slice.subject.to_string(), slice.ds.to_string());
            let con = raw.connect().map_err(scan_error)?;
            let mut views = Vec::with_capacity(readers.len());
            for (table, reader) in readers {
                views.push((table, con.scan_view(table.name(), reader).map_err(scan_error)?));
            }
            let loaded = load_slice(&con, (&subject, &ds), &views);
            if loaded.is_err() {
                let _ = con.execute(sql::ROLLBACK);
            }
            con.drop_views(views.into_iter().map(|(_, view)| view).collect());
            loaded
        });
        let reader = async move {
            for ((_, mut batches), sender) in tables.into_iter().zip(senders) {
                while let Some(batch) = batches.try_next().await? {
                    if sender.send(Feed::Batch(batch)).await.is_err() {
                        return Ok(()); // The writer stopped; its error is the one to report.
                    }
                }
                let _ = sender.send(Feed::End).await;
            }
            Ok::<(), WarehouseError>(())
        };
        let (written, read) = tokio::join!(writer, reader);
        read?;
        written
    }
}

/// The load's transaction on `con`: the slice deleted from every table and `loads`, each table
/// inserted from its scan view, the load recorded, then the commit.
fn load_slice(
    con: &RawConnection,
    slice: (&str, &str),
    views: &[(Table, ScanView)],
) -> Result<LoadCounts, WarehouseError> {
    con.execute(sql::BEGIN).map_err(scan_error)?;
    for table in LOADED.iter().map(|t| t.name()).chain(["loads"]) {
        con.execute(&sql::duckdb_delete_slice(table, slice)).map_err(scan_error)?;
    }
    let mut counts = LoadCounts::default();
    for (table, view) in views {
        *counts.get_mut(*table) = con.insert_from(table.name(), slice, view).map_err(scan_error)?;
    }
    con.execute(&sql::duckdb_record_load(slice, counts.books, counts.authors, counts.book_authors))
        .map_err(scan_error)?;
    con.execute(sql::COMMIT).map_err(scan_error)?;
    Ok(counts)
}

/// Opens the file, retrying while another process holds its lock (with a log line when it starts
/// to wait, and one when it got the file), until `timeout`; also returns how long it waited, if it did.
fn open_waiting(path: &Path, timeout: Duration) -> (::duckdb::Result<(RawDatabase, Connection)>, Option<Duration>) {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let mut waiting = false;
    loop {
        match RawDatabase::open(path) {
            Err(err) if is_lock_conflict(&err) && started.elapsed() < timeout => {
                if !waiting {
                    tracing::info!(
                        file = %path.display(),
                        timeout_s = timeout.as_secs(),
                        holder = %err,
                        "the DuckDB file is open in another process; waiting for it to close the file"
                    );
                    waiting = true;
                }
                std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            result => {
                let waited = waiting.then(|| started.elapsed());
                if let (Ok(_), Some(waited)) = (&result, waited) {
                    tracing::info!(file = %path.display(), waited_ms = waited.as_millis() as u64, "got the DuckDB file");
                }
                return (result, waited);
            }
        }
    }
}

/// DuckDB's refusal to open a file another process holds (its message is the only sign of it).
fn is_lock_conflict(err: &::duckdb::Error) -> bool {
    err.to_string().contains("Could not set lock on file")
}

/// Creates a new database file under a temporary name and links it into place, so a process
/// killed while DuckDB writes a new file's header never leaves a file DuckDB refuses to open. A
/// leftover `.<name>.creating-<pid>` from such a crash is garbage and may be deleted.
fn create_atomically(path: &Path) -> ::duckdb::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.creating-{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let conn = Connection::open(&temporary)?;
    conn.execute_batch(sql::DUCKDB_CHECKPOINT)?;
    drop(conn);
    let _ = std::fs::remove_file(temporary.with_file_name(format!(".{name}.creating-{}.wal", std::process::id())));
    // A hard link never replaces: if another process created the file meanwhile, its file stays
    // (it may already hold data) and ours is dropped.
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(::duckdb::Error::ToSqlConversionFailure(Box::new(err))),
    }
}

/// The parameters as DuckDB is given them: a date as its text (cast to a date in the SQL).
fn values(params: &[Param<'_>]) -> Vec<Value> {
    params
        .iter()
        .map(|param| match *param {
            Param::Text(text) => Value::Text(text.to_string()),
            Param::Date(date) => Value::Text(date.to_string()),
            Param::Int(int) => Value::Int(int),
            Param::BigInt(int) => Value::BigInt(int),
        })
        .collect()
}

/// A failure of the C API's load connection, as a DuckDB error (its message is DuckDB's).
fn scan_error(message: String) -> WarehouseError {
    db(::duckdb::Error::DuckDBFailure(::duckdb::ffi::Error::new(::duckdb::ffi::DuckDBError), Some(message)))
}

/// A DuckDB error; [`DuckDb::blocking`] fills in the file and the context.
fn db(source: ::duckdb::Error) -> WarehouseError {
    WarehouseError::DuckDb { path: String::new(), context: String::new(), source }
}
