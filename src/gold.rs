//! The gold contract: the layout version and manifest record of a gold partition (what `aggregate`
//! writes and `status` reads), and the gold tables' rows as Rust values, one type per table read,
//! from their Arrow batches (the schemas of [`crate::warehouse::Gold`]): what `aggregate`'s summary
//! and the report's page are made of, so that neither names a table by its position.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use serde::{Deserialize, Serialize};

/// The layout of the gold partitions this version writes: 2 moved the CSV copy out of the table
/// folder to `exports/gold_csv/` (a folder engines read must hold Parquet only).
pub const GOLD_LAYOUT: u32 = 2;

/// The gold manifest's record (and the CSV export's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldDetails {
    pub table: String,
    pub rows: u64,
    pub warehouse: String,
    /// [`GOLD_LAYOUT`] when written (absent, so 1, in manifests of the first layout).
    #[serde(default = "first_layout")]
    pub layout: u32,
}

fn first_layout() -> u32 {
    1
}

/// One author's row of `author_yearly_average`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorAverage {
    pub key: String,
    pub name: Option<String>,
    pub total_books: i64,
    pub dated_books: i64,
    pub first_year: Option<i32>,
    pub last_year: Option<i32>,
    pub per_active_year: Option<f64>,
    pub per_career_year: Option<f64>,
}

/// The rows of an `author_yearly_average` batch (the gold schema).
pub fn author_averages(batch: &RecordBatch) -> Vec<AuthorAverage> {
    let text = |name: &str| batch.column_by_name(name).expect("gold column").as_string::<i32>().clone();
    let int = |name: &str| batch.column_by_name(name).expect("gold column").as_primitive::<Int64Type>().clone();
    let year = |name: &str| batch.column_by_name(name).expect("gold column").as_primitive::<Int32Type>().clone();
    let avg = |name: &str| batch.column_by_name(name).expect("gold column").as_primitive::<Float64Type>().clone();
    let (keys, names, total, dated) = (text("author_key"), text("author_name"), int("total_books"), int("dated_books"));
    let (first, last) = (year("first_year"), year("last_year"));
    let (active, career) = (avg("avg_books_per_active_year"), avg("avg_books_per_career_year"));
    (0..batch.num_rows())
        .map(|i| AuthorAverage {
            key: keys.value(i).to_string(),
            name: names.is_valid(i).then(|| names.value(i).to_string()),
            total_books: total.value(i),
            dated_books: dated.value(i),
            first_year: first.is_valid(i).then(|| first.value(i)),
            last_year: last.is_valid(i).then(|| last.value(i)),
            per_active_year: active.is_valid(i).then(|| active.value(i)),
            per_career_year: career.is_valid(i).then(|| career.value(i)),
        })
        .collect()
}

/// One row of `books_per_year`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Year {
    pub year: i32,
    pub books: i64,
    pub authors: i64,
}

/// The rows of a `books_per_year` batch, by year.
pub fn years(batch: &RecordBatch) -> Vec<Year> {
    let column = |name: &str| batch.column_by_name(name).expect("gold column");
    let (year, books, authors) = (
        column("year").as_primitive::<Int32Type>(),
        column("books").as_primitive::<Int64Type>(),
        column("authors").as_primitive::<Int64Type>(),
    );
    let mut rows: Vec<Year> = (0..batch.num_rows())
        .map(|i| Year { year: year.value(i), books: books.value(i), authors: authors.value(i) })
        .collect();
    rows.sort_by_key(|y| y.year);
    rows
}
