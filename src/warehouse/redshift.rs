//! Amazon Redshift: a server engine of its own that speaks PostgreSQL's protocol (it shares the
//! wire client, [`super::wire`]) but not its dialect: no binary `COPY FROM STDIN` (it loads from
//! S3), no advisory locks (it has `LOCK` on tables), no declarative partitions and no
//! `current_timestamp` in DML (`GETDATE()`). What every engine does alike is in [`super`].
//!
//! A slice load, in one transaction: lock the slice tables, delete the slice, then per table copy
//! its committed Parquet objects from the lake into a temporary staging table (Parquet holds the
//! table's columns only), insert them with the slice's `subject` and `ds` in front, and drop the
//! stage; the `loads` record last. The sequence is built here, purely, from the statements of
//! [`super::sql`], and pinned by a test.

use super::error::WarehouseError;
use super::slice::{LOADED, LoadCounts};
use super::sql;
use super::wire::{Wire, pg_err};
use super::{Dialect, Lock};
use crate::settings::{Partition, RedshiftTarget};
use crate::tables::Table;

/// A Redshift cluster or workgroup.
pub struct Redshift {
    pub(super) wire: Wire,
    /// The IAM role its COPY assumes to read the lake.
    iam_role: String,
}

/// Redshift's locks (on tables, which must exist first) and migrations.
pub const DIALECT: Dialect = Dialect {
    lock_migrations_first: None,
    lock_migrations: Some(Lock::Plain(sql::REDSHIFT_MIGRATION_LOCK)),
    migration: |m| m.redshift,
    record_migration: sql::RECORD_MIGRATION_REDSHIFT,
    lock_gold: Some(Lock::Plain(sql::REDSHIFT_GOLD_LOCK)),
};

/// One statement of a slice load, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No parameters.
    Plain(String),
    /// `$1` the subject, `$2` the ds.
    Slice(String),
    /// The insert of a staged table into its slice (`$1`, `$2`): its row count is the table's.
    Insert(Table, String),
}

impl Step {
    pub fn sql(&self) -> &str {
        match self {
            Step::Plain(sql) | Step::Slice(sql) | Step::Insert(_, sql) => sql,
        }
    }
}

/// The statements that replace a slice (bound as `$1`, `$2`, never written into the text) with the
/// silver objects `silver` (the S3 URIs of each table's committed objects), read by Redshift as
/// `iam_role`.
pub fn load_steps(silver: &[(Table, Vec<String>)], iam_role: &str) -> Vec<Step> {
    let mut steps = vec![Step::Plain(sql::REDSHIFT_LOAD_LOCK.into())];
    steps.extend(LOADED.iter().map(|t| t.name()).chain(["loads"]).map(|t| Step::Slice(sql::delete_slice(t))));
    for (table, uris) in silver {
        let stage = format!("bookpipe_stage_{}", table.name());
        let schema = table.schema();
        steps.push(Step::Plain(sql::redshift_create_stage(&stage, &schema)));
        steps.extend(uris.iter().map(|uri| Step::Plain(sql::redshift_copy_parquet(&stage, uri, iam_role))));
        steps.push(Step::Insert(*table, sql::redshift_insert_staged(table.name(), &stage, &schema)));
        steps.push(Step::Plain(sql::redshift_drop_stage(&stage)));
    }
    steps
}

impl Redshift {
    /// Connects through the PostgreSQL protocol.
    pub async fn connect(target: &RedshiftTarget) -> Result<Self, WarehouseError> {
        Ok(Self { wire: Wire::connect(&target.pg).await?, iam_role: target.iam_role.clone() })
    }

    /// Replaces the slice: Redshift's COPY reads the silver objects from the S3 lake, `uris` each
    /// table's ([`load_steps`]), in one transaction with the `loads` record.
    pub async fn replace_slice(
        &mut self,
        slice: &Partition,
        uris: &[(Table, Vec<String>)],
    ) -> Result<LoadCounts, WarehouseError> {
        let url = self.wire.url.clone();
        let (subject, date) = (slice.subject.as_str(), slice.ds.date());
        let tx = self.wire.client.transaction().await.map_err(pg_err(&url, "loading"))?;
        let mut counts = LoadCounts::default();
        for step in load_steps(uris, &self.iam_role) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the Redshift path sends for one migrate, load and aggregate, in order, as
    /// tests/redshift_statements.sql: the infra tests parse each statement with sqlglot's Redshift
    /// dialect, and this test fails when the sequence changes without that file.
    #[test]
    fn one_load_sends_exactly_these_statements() {
        let uri = |table: Table| {
            format!(
                "s3://example-bookpipe-lake/prod/silver/{}/subject=o'brien/ds=2024-05-01/part-00000.parquet",
                table.name()
            )
        };
        let silver: Vec<(Table, Vec<String>)> = LOADED.iter().map(|&t| (t, vec![uri(t)])).collect();
        let role = "arn:aws:iam::123456789012:role/bookpipe-redshift-copy";
        let load = load_steps(&silver, role);
        // The slice is bound, never spliced into the text; the URI is a literal, its quote doubled.
        assert!(load.iter().all(|s| !s.sql().contains("2024-05-01'")));
        assert!(load.iter().any(|s| s.sql().contains("subject=o''brien/ds=2024-05-01/part-00000.parquet'")));
        let inserts: Vec<Table> =
            load.iter().filter_map(|s| if let Step::Insert(t, _) = s { Some(*t) } else { None }).collect();
        assert_eq!(inserts, LOADED);

        let mut sent = vec![
            sql::CREATE_MIGRATIONS.to_string(),
            sql::REDSHIFT_MIGRATION_LOCK.to_string(),
            sql::CURRENT_VERSION.to_string(),
            sql::RECORD_MIGRATION_REDSHIFT.to_string(),
        ];
        sent.extend(load.iter().map(|s| s.sql().to_string()));
        sent.push(sql::RECORD_LOAD_REDSHIFT.to_string());
        sent.push(sql::count_sql("loads", true));
        // An aggregate: the lock, the works per author and year counted once, each gold table's
        // slice replaced, then read back.
        sent.push(sql::REDSHIFT_GOLD_LOCK.to_string());
        sent.push(sql::create_author_years(("o'brien", "2024-05-01")));
        sent.extend(sql::Gold::ALL.iter().flat_map(|gold| gold.replace_sql()));
        sent.push(sql::drop_author_years());
        sent.extend(sql::Gold::ALL.iter().map(|gold| gold.read_sql()));
        sent.push(sql::UNDATED_SQL.to_string());
        sent.push(sql::HAS_LOADS.to_string());
        sent.push(sql::LOADS_IN_RANGE.to_string());
        // The report's queries, which it sends to Redshift as to PostgreSQL.
        sent.extend(sql::REPORT_QUERIES.iter().map(|q| q.to_string()));
        let text: String = sent.iter().map(|s| format!("{};\n", s.trim_end().trim_end_matches(';'))).collect();
        let pinned = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/redshift_statements.sql");
        if std::env::var_os("BOOKPIPE_UPDATE_PINNED").is_some() {
            std::fs::write(pinned, &text).unwrap();
        }
        assert_eq!(text, std::fs::read_to_string(pinned).unwrap(), "BOOKPIPE_UPDATE_PINNED=1 rewrites {pinned}");
    }
}
