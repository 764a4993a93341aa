//! The PostgreSQL wire client through `tokio-postgres`, shared by the two server engines
//! ([`super::postgres`] and [`super::redshift`], which speaks the protocol): connecting with the
//! session settings, and the primitives the statements written once in [`super`] are sent through.
//! Nothing here logs the connection string: errors name the server by its redacted URL.

use arrow::array::{ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, SchemaRef};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::error::WarehouseError;
use super::sql;
use super::{Param, Query};
use crate::settings::PgTarget;

/// A connection to a server, named by its redacted URL.
pub struct Wire {
    pub client: Client,
    pub url: String,
}

impl Wire {
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
        let lock_timeout = sql::pg_lock_timeout(target.lock_timeout.as_secs());
        for setting in [&lock_timeout, sql::PG_STATEMENT_TIMEOUT, sql::PG_NO_JIT, sql::PG_ISO_DATES] {
            if let Err(err) = client.batch_execute(setting).await {
                tracing::debug!(setting, error = %err, "the server refused a session setting");
            }
        }
        Ok(Self { client, url })
    }

    pub async fn batch(&mut self, context: &str, sql: &str) -> Result<(), WarehouseError> {
        self.client.batch_execute(sql).await.map_err(pg_err(&self.url, context))
    }

    pub async fn execute(&mut self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<u64, WarehouseError> {
        self.client.execute(sql, &values(params)).await.map_err(pg_err(&self.url, context))
    }

    pub async fn query(&mut self, query: Query<'_>) -> Result<RecordBatch, WarehouseError> {
        let Query { what, sql, params, schema } = query;
        let rows = self.client.query(sql, &values(params)).await.map_err(pg_err(&self.url, what))?;
        rows_to_batch(schema, &rows)
            .map_err(|source| WarehouseError::Arrow { context: format!("reading {what}"), source })
    }
}

/// The parameters as `tokio-postgres` binds them.
fn values<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| -> &(dyn ToSql + Sync) {
            match param {
                Param::Text(text) => text,
                Param::Date(date) => date,
                Param::Int(int) => int,
                Param::BigInt(int) => int,
            }
        })
        .collect()
}

/// A PostgreSQL error, naming the server (redacted) and what was being done.
pub fn pg_err(url: &str, context: impl Into<String>) -> Box<dyn FnOnce(tokio_postgres::Error) -> WarehouseError> {
    let (url, context) = (url.to_string(), context.into());
    Box::new(move |source| WarehouseError::Postgres { url, context, source })
}

/// Query rows into one batch of `schema` (text, int4, int8, float8 columns).
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
                other => unreachable!("queries read no {other} column"),
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
}
