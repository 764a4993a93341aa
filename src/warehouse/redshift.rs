//! Amazon Redshift: the PostgreSQL engine's dialect for it, where Redshift differs. Redshift speaks
//! the protocol, but has no binary `COPY FROM STDIN` (it loads from S3), no advisory locks (it has
//! `LOCK` on tables), no declarative partitions and no `current_timestamp` in DML (`GETDATE()`).
//!
//! A slice load, in one transaction: lock the slice tables, delete the slice, then per table copy
//! its committed Parquet objects from the lake into a temporary staging table (Parquet holds the
//! table's columns only), insert them with the slice's `subject` and `ds` in front, and drop the
//! stage; the `loads` record last. The statements are built here, purely, and pinned by a test.

use arrow::datatypes::DataType;

use super::slice::LOADED;
use super::sql::{self, GOLD};
use crate::tables::Table;

/// Serialises migrations (taken after the table exists: `LOCK` needs it).
pub const MIGRATION_LOCK: &str = "LOCK bookpipe_migrations";
/// Serialises loads: one writer of the slice tables at a time.
pub const LOAD_LOCK: &str = "LOCK books, authors, book_authors, loads";
/// Serialises aggregates.
pub const GOLD_LOCK: &str = "LOCK author_books_per_year, author_yearly_average, books_per_year";

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
    let mut steps = vec![Step::Plain(LOAD_LOCK.into())];
    steps.extend(LOADED.iter().map(|t| t.name()).chain(["loads"]).map(|t| Step::Slice(sql::delete_slice(t))));
    for (table, uris) in silver {
        let stage = format!("bookpipe_stage_{}", table.name());
        let schema = table.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let typed: Vec<String> =
            schema.fields().iter().map(|f| format!("{} {}", f.name(), redshift_type(f.data_type()))).collect();
        steps.push(Step::Plain(format!("CREATE TEMP TABLE {stage} ({})", typed.join(", "))));
        for uri in uris {
            steps.push(Step::Plain(format!(
                "COPY {stage} FROM {} IAM_ROLE {} FORMAT AS PARQUET",
                literal(uri),
                literal(iam_role)
            )));
        }
        let list = columns.join(", ");
        steps.push(Step::Insert(
            *table,
            format!(
                "INSERT INTO {} (subject, ds, {list}) SELECT $1, CAST($2 AS DATE), {list} FROM {stage}",
                table.name()
            ),
        ));
        steps.push(Step::Plain(format!("DROP TABLE {stage}")));
    }
    steps
}

/// The statements of an aggregate: the lock, then each gold table's slice replaced.
pub fn aggregate_steps() -> Vec<Step> {
    let mut steps = vec![Step::Plain(GOLD_LOCK.into())];
    steps.extend(GOLD.iter().flat_map(|gold| gold.replace_sql()).map(Step::Slice));
    steps
}

/// A SQL string literal: quotes and backslashes doubled, so neither can end it whether or not the
/// server reads backslashes as escapes. (What goes in — S3 URIs of checked bucket, prefix and
/// subject names, a checked role ARN — holds neither backslash nor, but for a subject, quote.)
fn literal(text: &str) -> String {
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
    use super::*;

    /// Everything the Redshift path sends for one migrate, load and aggregate, in order, as
    /// tests/redshift_statements.sql: the infra tests parse each statement with sqlglot's Redshift
    /// dialect, and this test fails when the sequence changes without that file.
    #[test]
    fn literals_cannot_be_left() {
        assert_eq!(literal("a'b\\c"), "'a''b\\\\c'");
    }

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
            MIGRATION_LOCK.to_string(),
            sql::CURRENT_VERSION.to_string(),
            sql::RECORD_MIGRATION_REDSHIFT.to_string(),
        ];
        sent.extend(load.iter().map(|s| s.sql().to_string()));
        sent.push(sql::RECORD_LOAD_REDSHIFT.to_string());
        sent.push(sql::count_sql("loads", true));
        sent.extend(aggregate_steps().iter().map(|s| s.sql().to_string()));
        sent.extend(GOLD.iter().map(|gold| gold.read_sql()));
        sent.push(sql::UNDATED_SQL.to_string());
        sent.push(sql::HAS_LOADS.to_string());
        sent.push(sql::LOADS_IN_RANGE.to_string());
        // The report's queries, which it sends to Redshift as to PostgreSQL.
        sent.extend(crate::report::QUERIES.iter().map(|q| q.to_string()));
        let text: String = sent.iter().map(|s| format!("{};\n", s.trim_end().trim_end_matches(';'))).collect();
        let pinned = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/redshift_statements.sql");
        if std::env::var_os("BOOKPIPE_UPDATE_PINNED").is_some() {
            std::fs::write(pinned, &text).unwrap();
        }
        assert_eq!(text, std::fs::read_to_string(pinned).unwrap(), "BOOKPIPE_UPDATE_PINNED=1 rewrites {pinned}");
    }
}
