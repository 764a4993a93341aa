//! `aggregate`: the three answers (design doc: gold), computed in SQL inside the warehouse from
//! the loaded slice, stored in the gold tables (slice replaced in one transaction), and written to
//! the lake as `gold/<table>/subject=S/ds=D/part-00000.parquet` and, for people, as
//! `exports/gold_csv/<table>/subject=S/ds=D/part-00000.csv`, each partition with its manifest.
//!
//! Per table, the CSV export is committed first and the gold partition last: a failure before the
//! gold partition is begun leaves it as it was, and a committed gold partition (of
//! [`GOLD_LAYOUT`]) means its CSV export of the same run is committed too. Gold of layout 1 kept its
//! CSV inside the table folder, where engines reading the folder fail on it: the rewrite removes
//! it, inside the gold partition's commit (manifest removed first, written last), and only once the
//! export holding the same rows is committed.
//!
//! Where each number is counted: `sql/gold/*.sql`. The summary the command prints is computed here
//! from the answers, purely.

use std::io::IsTerminal;

use arrow::array::RecordBatch;
use bytes::Bytes;
use serde::Serialize;
use serde::ser::SerializeSeq;

use crate::cli::OutputFormat;
use crate::exit::{MissingInput, Outcome};
use crate::gold::{self, AuthorAverage, GOLD_LAYOUT, GoldDetails, Year};
use crate::lake::commit::{self, Manifest};
use crate::lake::parquet::ParquetOut;
use crate::lake::{Lake, layout};
use crate::lineage::Lineage;
use crate::settings::{AggregateSettings, Partition};
use crate::warehouse::{Answers, LOADED, Warehouse};

/// The short answer printed after a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub subject: String,
    pub ds: String,
    pub books: i64,
    pub books_without_year: i64,
    pub authors: u64,
    /// Printed with the gold table's column names, without the career's years.
    #[serde(serialize_with = "top_authors")]
    pub top_authors: Vec<AuthorAverage>,
    pub busiest_years: Vec<Year>,
}

impl crate::task::Wrote for Summary {
    fn wrote(&self) -> bool {
        true
    }
}

/// The summary's authors as its JSON has always named them (the gold table's columns).
fn top_authors<S: serde::Serializer>(authors: &[AuthorAverage], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct TopAuthor<'a> {
        author_key: &'a str,
        author_name: Option<&'a str>,
        total_books: i64,
        dated_books: i64,
        avg_books_per_active_year: Option<f64>,
        avg_books_per_career_year: Option<f64>,
    }
    let mut seq = serializer.serialize_seq(Some(authors.len()))?;
    for a in authors {
        seq.serialize_element(&TopAuthor {
            author_key: &a.key,
            author_name: a.name.as_deref(),
            total_books: a.total_books,
            dated_books: a.dated_books,
            avg_books_per_active_year: a.per_active_year,
            avg_books_per_career_year: a.per_career_year,
        })?;
    }
    seq.end()
}

/// `bookpipe aggregate`: the answers of a loaded slice computed, announced as the task
/// `aggregate`, and their summary printed: one JSON document with `--output json`, a table when
/// stdout is a terminal, nothing otherwise.
pub async fn aggregate(lake: &Lake, lineage: &Lineage, s: &AggregateSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(Some(&s.warehouse)).aggregate(&s.partition);
    let summary = crate::task::announced(lake, lineage, "aggregate", &s.partition, io, compute(lake, s)).await?;
    match s.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&summary)?),
        OutputFormat::Auto if std::io::stdout().is_terminal() => print!("{}", render(&summary)),
        OutputFormat::Auto => {}
    }
    Ok(Outcome::Done)
}

/// Computes the answers for `s.partition` in the warehouse and commits them to the gold zone;
/// returns their summary.
async fn compute(lake: &Lake, s: &AggregateSettings) -> anyhow::Result<Summary> {
    let p = &s.partition;
    let mut warehouse = Warehouse::connect(&s.warehouse).await?;
    warehouse.migrate().await?;
    if !warehouse.is_loaded(p).await? {
        return Err(MissingInput {
            what: "the warehouse slice".into(),
            path: format!("{} (subject {}, ds {})", s.warehouse, p.subject, p.ds),
            hint: format!("run `bookpipe load --ds {} --subject {}` first", p.ds, p.subject),
        }
        .into());
    }
    let answers = warehouse.aggregate(p).await?;
    let (books, undated) = warehouse.undated_books(p).await?;

    let mut inputs = Vec::new();
    for table in LOADED {
        if let Some(c) = commit::read::<serde_json::Value>(lake, &layout::silver_partition(table, p)).await? {
            inputs.push(c.input());
        }
    }
    for (gold, batch) in answers.iter() {
        let rows = batch.num_rows() as u64;
        let details =
            GoldDetails { table: gold.name().into(), rows, warehouse: s.warehouse.to_string(), layout: GOLD_LAYOUT };
        // The clock is read for the manifests' created_at only.
        let now = chrono::Utc::now();

        let export = commit::begin(lake, &layout::gold_csv_partition(gold.name(), p)).await?;
        let csv = csv_bytes(batch)?;
        let csv_path = layout::gold_csv(gold.name(), p);
        let csv_object = commit::Object::describe(&csv_path, &csv, Some(rows));
        lake.put(&csv_path, Bytes::from(csv)).await?;
        let task = format!("aggregate:{}:csv", gold.name());
        export.commit(lake, &Manifest::new(task, p, now, inputs.clone(), vec![csv_object], details.clone())).await?;

        let partition = commit::begin(lake, &layout::gold_partition(gold.name(), p)).await?;
        // Layout 1's CSV copy: gone before the new Parquet lands, so from here on the folder holds
        // Parquet only, whichever step a crash interrupts. Absent on lakes of this layout (no error).
        lake.delete(&layout::legacy_gold_csv(gold.name(), p)).await?;
        let mut out = ParquetOut::create(lake, &layout::gold_parquet(gold.name(), p), gold.schema());
        out.write(batch).await?;
        let parquet = out.finish(rows).await?;
        let task = format!("aggregate:{}", gold.name());
        partition.commit(lake, &Manifest::new(task, p, now, inputs.clone(), vec![parquet], details)).await?;
    }
    let summary = summarize(p, &answers, books, undated);
    tracing::info!(
        books = summary.books,
        books_without_year = summary.books_without_year,
        authors = summary.authors,
        "gold tables written"
    );
    Ok(summary)
}

fn csv_bytes(batch: &RecordBatch) -> anyhow::Result<Vec<u8>> {
    let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
    writer.write(batch)?;
    Ok(writer.into_inner())
}

/// The summary of the answers: the five authors with the most books, the five busiest years.
pub fn summarize(partition: &Partition, answers: &Answers, books: i64, undated: i64) -> Summary {
    let mut top_authors = gold::author_averages(&answers.author_yearly_average);
    let authors = top_authors.len() as u64;
    top_authors.sort_by(|a, b| b.total_books.cmp(&a.total_books).then_with(|| a.key.cmp(&b.key)));
    top_authors.truncate(5);
    let mut busiest_years = gold::years(&answers.books_per_year);
    busiest_years.sort_by(|a, b| b.books.cmp(&a.books).then_with(|| a.year.cmp(&b.year)));
    busiest_years.truncate(5);
    Summary {
        subject: partition.subject.to_string(),
        ds: partition.ds.to_string(),
        books,
        books_without_year: undated,
        authors,
        top_authors,
        busiest_years,
    }
}

/// The summary for a person at a terminal.
pub fn render(summary: &Summary) -> String {
    let mut out = format!(
        "{} on {}: {} books ({} without a year), {} authors\n",
        summary.subject, summary.ds, summary.books, summary.books_without_year, summary.authors
    );
    out.push_str("top authors            books  dated  per active year  per career year\n");
    let avg = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for a in &summary.top_authors {
        let name = a.name.as_deref().unwrap_or(&a.key);
        let name: String = name.chars().take(22).collect();
        out.push_str(&format!(
            "  {name:<22}{:>5}  {:>5}  {:>15}  {:>15}\n",
            a.total_books,
            a.dated_books,
            avg(a.per_active_year),
            avg(a.per_career_year)
        ));
    }
    out.push_str("busiest years\n");
    for y in &summary.busiest_years {
        out.push_str(&format!("  {}  {} books by {} authors\n", y.year, y.books, y.authors));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn answers() -> Answers {
        use crate::warehouse::Gold;
        let empty = RecordBatch::new_empty(Gold::AuthorBooksPerYear.schema());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["OL1A", "OL2A", "OL3A"])),
            Arc::new(StringArray::from(vec![Some("Ann"), None, Some("Cy")])),
            Arc::new(Int64Array::from(vec![2, 5, 2])),
            Arc::new(Int64Array::from(vec![1, 4, 0])),
            Arc::new(Int32Array::from(vec![Some(1990), Some(2000), None])),
            Arc::new(Int32Array::from(vec![Some(1990), Some(2003), None])),
            Arc::new(Int64Array::from(vec![1, 2, 0])),
            Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), None])),
            Arc::new(Float64Array::from(vec![Some(1.0), Some(1.0), None])),
        ];
        let average = RecordBatch::try_new(Gold::AuthorYearlyAverage.schema(), columns).unwrap();
        let years = RecordBatch::try_new(
            Gold::BooksPerYear.schema(),
            vec![
                Arc::new(Int32Array::from(vec![1990, 2000, 2003])),
                Arc::new(Int64Array::from(vec![1, 3, 3])),
                Arc::new(Int64Array::from(vec![1, 1, 2])),
            ],
        )
        .unwrap();
        Answers { author_books_per_year: empty, author_yearly_average: average, books_per_year: years }
    }

    #[test]
    fn the_summary_ranks_authors_and_years() {
        use crate::cli::flags;
        use crate::settings::{Ds, Subject};
        let partition = Partition::new(
            Subject::parse(flags::SUBJECT, "love").unwrap(),
            Ds::parse(flags::DS, "2024-05-01").unwrap(),
        );
        let summary = summarize(&partition, &answers(), 9, 2);
        let authors: Vec<(&str, i64)> = summary.top_authors.iter().map(|a| (a.key.as_str(), a.total_books)).collect();
        assert_eq!(authors, [("OL2A", 5), ("OL1A", 2), ("OL3A", 2)]);
        assert_eq!(summary.top_authors[2].per_active_year, None);
        let years: Vec<i32> = summary.busiest_years.iter().map(|y| y.year).collect();
        assert_eq!(years, [2000, 2003, 1990]);
        assert_eq!((summary.books, summary.books_without_year, summary.authors), (9, 2, 3));
        let text = render(&summary);
        assert!(text.starts_with("love on 2024-05-01: 9 books (2 without a year), 3 authors\n"), "{text}");
        assert!(text.contains("  OL2A                      5      4             2.00             1.00\n"), "{text}");
        assert!(text.contains("  2000  3 books by 1 authors\n"), "{text}");
    }
}
