//! DuckDB's own parallel Arrow scan for `load`, through its C API.
//!
//! The duckdb crate's safe API appends Arrow batches through the appender, which converts and
//! appends on the one calling thread. DuckDB can do better itself: its `arrow_scan` (the C API's
//! `duckdb_arrow_scan`) reads an Arrow C stream as a table, its worker threads taking batches from
//! the stream in turn and converting them in parallel, and `INSERT … SELECT` from it writes and
//! compresses row groups on every thread. The crate offers no handle to a connection for that
//! call, so the database is opened here through the C API ([`RawDatabase`]), the crate's
//! [`Connection`] is made on it for everything else, and a load runs its whole transaction on a
//! connection of its own ([`RawConnection`]).
//!
//! The batches still come from the lake through `object_store` (local and S3 alike): the stream
//! DuckDB scans is fed by the async side through a bounded channel ([`ChannelReader`]).

use std::ffi::{CStr, CString};
use std::ptr;

use ::duckdb::{Connection, ffi};
use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use tokio::sync::mpsc::Receiver;

use super::sql;

/// What the async side sends the scan of one table: its batches, then `End`. A channel closed
/// without `End` means the reading side failed, and the scan fails with it.
pub enum Feed {
    Batch(RecordBatch),
    End,
}

/// A database opened through the C API; closed when dropped (after every connection on it).
pub struct RawDatabase {
    db: ffi::duckdb_database,
}

// DuckDB's database handle is thread-safe: connections are made on it from any thread.
unsafe impl Send for RawDatabase {}
unsafe impl Sync for RawDatabase {}

impl RawDatabase {
    /// Opens the database file, and the crate's connection on it (which does not close it).
    ///
    /// The instance itself is in memory with the file attached as [`sql::DUCKDB_WAREHOUSE`], made the crate
    /// connection's default (`USE`). `duckdb_arrow_scan` creates a *persistent* view (DuckDB 2.0's
    /// C API: `CreateView(name, replace, temporary = false)`) in the connection's default catalog;
    /// in a file that view's commit fails, as DuckDB cannot write its scan to the WAL ("Cannot
    /// serialize a table function with process-local bind input"). The load's connection keeps the
    /// in-memory catalog as its default, so the views live there and never reach the file.
    pub fn open(path: &std::path::Path) -> ::duckdb::Result<(Self, Connection)> {
        let mut db: ffi::duckdb_database = ptr::null_mut();
        let mut error: *mut std::os::raw::c_char = ptr::null_mut();
        // SAFETY: a null path is an in-memory database; both out-pointers point at locals.
        let state = unsafe { ffi::duckdb_open_ext(ptr::null(), &mut db, ptr::null_mut(), &mut error) };
        if state != ffi::DuckDBSuccess {
            let message = (!error.is_null()).then(|| {
                // SAFETY: DuckDB wrote a NUL-terminated message, freed with duckdb_free.
                let text = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
                unsafe { ffi::duckdb_free(error.cast()) };
                text
            });
            return Err(::duckdb::Error::DuckDBFailure(ffi::Error::new(state), message));
        }
        let raw = Self { db };
        // SAFETY: `db` is open and outlives the connection: DuckDb drops its Connection first.
        let conn = unsafe { Connection::open_from_raw(raw.db) }?;
        // Spills go beside the file, as they would for a file opened directly (an in-memory
        // instance would spill into `.tmp` in the working directory).
        let file = path.to_string_lossy();
        conn.execute_batch(&sql::duckdb_attach(&file))?;
        Ok((raw, conn))
    }

    /// A new connection on the database. Its default is the in-memory catalog, where
    /// `duckdb_arrow_scan` puts its views; the warehouse tables are named `warehouse.<table>`.
    pub fn connect(&self) -> Result<RawConnection, String> {
        let mut con: ffi::duckdb_connection = ptr::null_mut();
        // SAFETY: the database is open; `con` is a local out-pointer.
        if unsafe { ffi::duckdb_connect(self.db, &mut con) } != ffi::DuckDBSuccess {
            return Err("could not connect to the database".into());
        }
        Ok(RawConnection { con })
    }
}

impl Drop for RawDatabase {
    fn drop(&mut self) {
        // SAFETY: opened by duckdb_open_ext and closed once, here.
        unsafe { ffi::duckdb_close(&mut self.db) };
    }
}

/// A connection of the C API; disconnected when dropped (rolling back an open transaction).
pub struct RawConnection {
    con: ffi::duckdb_connection,
}

impl RawConnection {
    /// Runs one statement; the rows it changed.
    pub fn execute(&self, sql: &str) -> Result<u64, String> {
        let c_sql = CString::new(sql).map_err(|err| err.to_string())?;
        // SAFETY: duckdb_result is plain data that duckdb_query fills and duckdb_destroy_result frees.
        let mut result: ffi::duckdb_result = unsafe { std::mem::zeroed() };
        let state = unsafe { ffi::duckdb_query(self.con, c_sql.as_ptr(), &mut result) };
        let outcome = if state == ffi::DuckDBSuccess {
            Ok(unsafe { ffi::duckdb_rows_changed(&mut result) })
        } else {
            let error = unsafe { ffi::duckdb_result_error(&mut result) };
            Err(if error.is_null() {
                format!("{sql}: failed")
            } else {
                unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned()
            })
        };
        unsafe { ffi::duckdb_destroy_result(&mut result) };
        outcome
    }

    /// A temporary view `bookpipe_scan_<table>` over `reader`, which DuckDB's worker threads scan
    /// in parallel when a statement reads the view. Made in the in-memory catalog before the load's
    /// transaction, so that transaction writes to the warehouse file alone.
    pub fn scan_view(&self, table: &str, reader: ChannelReader) -> Result<ScanView, String> {
        let columns: Vec<String> = reader.schema.fields().iter().map(|f| f.name().clone()).collect();
        let name = format!("bookpipe_scan_{table}");
        let mut stream = Box::new(FFI_ArrowArrayStream::new(Box::new(reader)));
        let c_name = CString::new(name.as_str()).map_err(|err| err.to_string())?;
        // SAFETY: the stream is boxed (it does not move) and lives in the ScanView until the view
        // over it is dropped; DuckDB reads it only while a statement reads the view.
        let state = unsafe {
            ffi::duckdb_arrow_scan(self.con, c_name.as_ptr(), (&raw mut *stream).cast::<ffi::_duckdb_arrow_stream>())
        };
        if state != ffi::DuckDBSuccess {
            return Err(format!("could not scan the Arrow stream of {table}"));
        }
        Ok(ScanView { name, columns, _stream: stream })
    }

    /// Inserts every row of `view` into `table`, the slice's `subject` and `ds` as constants and
    /// the other columns by name; the rows inserted.
    pub fn insert_from(&self, table: &str, slice: (&str, &str), view: &ScanView) -> Result<u64, String> {
        self.execute(&sql::duckdb_insert_scanned(table, slice, &view.columns, &view.name))
    }

    /// Drops the views (after the load's transaction ended), then their streams.
    pub fn drop_views(&self, views: Vec<ScanView>) {
        for view in views {
            if let Err(err) = self.execute(&sql::duckdb_drop_view(&view.name)) {
                tracing::debug!(view = %view.name, error = %err, "dropping a scan view");
            }
        }
    }
}

/// A temporary view over an Arrow stream, with the stream it reads.
pub struct ScanView {
    name: String,
    columns: Vec<String>,
    _stream: Box<FFI_ArrowArrayStream>,
}

impl Drop for RawConnection {
    fn drop(&mut self) {
        // SAFETY: connected by duckdb_connect and disconnected once, here.
        unsafe { ffi::duckdb_disconnect(&mut self.con) };
    }
}

/// An Arrow stream of one table's batches as the async side sends them.
pub struct ChannelReader {
    schema: SchemaRef,
    receiver: Receiver<Feed>,
    done: bool,
}

impl ChannelReader {
    pub fn new(schema: SchemaRef, receiver: Receiver<Feed>) -> Self {
        Self { schema, receiver, done: false }
    }
}

impl Iterator for ChannelReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // DuckDB's worker threads call this (one at a time): plain threads, not the runtime's.
        match self.receiver.blocking_recv() {
            Some(Feed::Batch(batch)) if batch.schema().fields() == self.schema.fields() => Some(Ok(batch)),
            Some(Feed::Batch(batch)) => {
                self.done = true;
                Some(Err(ArrowError::SchemaError(format!(
                    "a silver batch has the schema {:?}, not the table's {:?}",
                    batch.schema(),
                    self.schema
                ))))
            }
            Some(Feed::End) => {
                self.done = true;
                None
            }
            None => {
                self.done = true;
                Some(Err(ArrowError::ExternalError("the load was abandoned before the table was read".into())))
            }
        }
    }
}

impl RecordBatchReader for ChannelReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
