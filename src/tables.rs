//! The silver tables' explicit Arrow schemas, and rows ([`crate::records`]) into record batches.
//!
//! The schemas are written out here, never inferred, so every file of a table has the same types
//! whatever the data; the README's column reference documents each one. `subject` and `ds` are not
//! columns of the files: they are the Hive partition (`subject=…/ds=…`), which Spark, Athena and
//! DuckDB read as columns, and which `load` writes into the warehouse.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::records::{Author, Book, BookAuthor, Reject};

/// A silver table: its name in the lake, its schema and the columns its rows are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Books,
    Authors,
    BookAuthors,
    Rejects,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Books, Table::Authors, Table::BookAuthors, Table::Rejects];

    pub fn name(self) -> &'static str {
        match self {
            Table::Books => "books",
            Table::Authors => "authors",
            Table::BookAuthors => "book_authors",
            Table::Rejects => "rejects",
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Books => BOOKS.clone(),
            Table::Authors => AUTHORS.clone(),
            Table::BookAuthors => BOOK_AUTHORS.clone(),
            Table::Rejects => REJECTS.clone(),
        }
    }

    /// The sort key; unique within a partition, so the row order is a pure function of the rows.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Books => &["work_key"],
            Table::Authors => &["author_key"],
            Table::BookAuthors => &["work_key", "position"],
            Table::Rejects => &["source", "position"],
        }
    }
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

static BOOKS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("work_key", false),
        utf8("title", false),
        Field::new("first_publish_year", DataType::Int16, true),
        Field::new("edition_count", DataType::Int32, true),
        Field::new("cover_id", DataType::Int64, true),
        Field::new("has_fulltext", DataType::Boolean, true),
        Field::new("public_scan", DataType::Boolean, true),
    ]))
});

static AUTHORS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("author_key", false),
        utf8("name", true),
        utf8("birth_date", true),
        utf8("death_date", true),
        Field::new("birth_year", DataType::Int16, true),
        Field::new("death_year", DataType::Int16, true),
        utf8("bio", true),
        utf8("wikidata", true),
        utf8("viaf", true),
        utf8("isni", true),
        Field::new("from_record", DataType::Boolean, false),
    ]))
});

static BOOK_AUTHORS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("work_key", false),
        utf8("author_key", false),
        Field::new("position", DataType::Int32, false),
        // Last, as migration 0002 added it to the warehouse table (DuckDB appends by position).
        utf8("listed_author_key", false),
    ]))
});

static REJECTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("source", false),
        Field::new("position", DataType::Int32, true),
        utf8("key", true),
        utf8("reason", false),
        utf8("record", false),
    ]))
});

fn batch(table: Table, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(table.schema(), columns).expect("columns are built to the table's schema")
}

fn strings<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

pub fn books(rows: &[Book]) -> RecordBatch {
    batch(
        Table::Books,
        vec![
            strings(rows, |r| Some(&r.work_key)),
            strings(rows, |r| Some(&r.title)),
            Arc::new(rows.iter().map(|r| r.first_publish_year).collect::<Int16Array>()),
            Arc::new(rows.iter().map(|r| r.edition_count).collect::<Int32Array>()),
            Arc::new(rows.iter().map(|r| r.cover_id).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.has_fulltext).collect::<BooleanArray>()),
            Arc::new(rows.iter().map(|r| r.public_scan).collect::<BooleanArray>()),
        ],
    )
}

pub fn authors(rows: &[Author]) -> RecordBatch {
    batch(
        Table::Authors,
        vec![
            strings(rows, |r| Some(&r.author_key)),
            strings(rows, |r| r.name.as_deref()),
            strings(rows, |r| r.birth_date.as_deref()),
            strings(rows, |r| r.death_date.as_deref()),
            Arc::new(rows.iter().map(|r| r.birth_year).collect::<Int16Array>()),
            Arc::new(rows.iter().map(|r| r.death_year).collect::<Int16Array>()),
            strings(rows, |r| r.bio.as_deref()),
            strings(rows, |r| r.wikidata.as_deref()),
            strings(rows, |r| r.viaf.as_deref()),
            strings(rows, |r| r.isni.as_deref()),
            Arc::new(rows.iter().map(|r| Some(r.from_record)).collect::<BooleanArray>()),
        ],
    )
}

pub fn book_authors(rows: &[BookAuthor]) -> RecordBatch {
    batch(
        Table::BookAuthors,
        vec![
            strings(rows, |r| Some(&r.work_key)),
            strings(rows, |r| Some(&r.author_key)),
            Arc::new(rows.iter().map(|r| Some(r.position)).collect::<Int32Array>()),
            strings(rows, |r| Some(r.listed_author_key.as_deref().unwrap_or(&r.author_key))),
        ],
    )
}

pub fn rejects(rows: &[Reject]) -> RecordBatch {
    batch(
        Table::Rejects,
        vec![
            strings(rows, |r| Some(&r.source)),
            Arc::new(rows.iter().map(|r| r.position).collect::<Int32Array>()),
            strings(rows, |r| r.key.as_deref()),
            strings(rows, |r| Some(&r.reason)),
            strings(rows, |r| Some(&r.record)),
        ],
    )
}
