//! Measures a committed silver partition for the gate: counts, keys, nulls and years, streaming its
//! record batches once in constant memory.
//!
//! Keys are checked for uniqueness by comparing each row with the row before it: transform writes
//! every table sorted by its key (`tables::Table::sort_columns`), so a repeat is always adjacent,
//! and a row out of order is counted as a failure of its own (the adjacency argument would not hold).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int16Type, Int32Type};
use futures::TryStreamExt;

use super::{Metrics, YEAR_MIN};
use crate::lake::Lake;
use crate::lake::parquet::read_batches;
use crate::settings::Ds;
use crate::tables::Table;

/// A silver partition's tables, measured: each table with its committed objects (path, bytes).
pub async fn measure(
    lake: &Lake,
    ds: Ds,
    tables: &[(Table, Vec<(object_store::path::Path, u64)>)],
) -> anyhow::Result<Metrics> {
    let mut measure = Measure::new(ds);
    for (table, objects) in tables {
        for (path, size) in objects {
            let mut stream =
                read_batches(lake, path, *size).await.map_err(|e| anyhow::anyhow!("reading {path}: {e}"))?;
            while let Some(batch) = stream.try_next().await.map_err(|e| anyhow::anyhow!("reading {path}: {e}"))? {
                measure.batch(*table, &batch);
            }
        }
    }
    Ok(measure.metrics)
}

/// The running counts over a partition's batches, table by table.
#[derive(Debug)]
pub struct Measure {
    metrics: Metrics,
    latest_year: i16,
    /// The key of the previous row of the table being read.
    previous: Option<(Table, String, i32)>,
}

impl Measure {
    pub fn new(ds: Ds) -> Self {
        let year = ds.date().format("%Y").to_string().parse::<i16>().unwrap_or(i16::MAX);
        Self { metrics: Metrics::default(), latest_year: year.saturating_add(1), previous: None }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts one batch of `table` (batches of a table in their file order).
    pub fn batch(&mut self, table: Table, batch: &RecordBatch) {
        let name = table.name();
        let key_columns: &[&str] = match table {
            Table::Books => &["work_key"],
            Table::Authors => &["author_key"],
            Table::BookAuthors => &["work_key", "position"],
            Table::Rejects => return,
        };
        for field in table.schema().fields().iter().filter(|f| !f.is_nullable()) {
            if let Some(column) = batch.column_by_name(field.name())
                && column.null_count() > 0
            {
                *self.metrics.nulls.entry(format!("{name}.{}", field.name())).or_default() +=
                    column.null_count() as u64;
            }
        }
        let rows = batch.num_rows() as u64;
        match table {
            Table::Books => {
                self.metrics.works += rows;
                if let Some(years) = batch.column_by_name("first_publish_year") {
                    for year in years.as_primitive::<Int16Type>().iter() {
                        self.year(year);
                    }
                }
            }
            Table::Authors => {
                self.metrics.authors += rows;
                if let Some(from_record) = batch.column_by_name("from_record") {
                    let without = from_record.as_boolean().iter().filter(|v| *v == Some(false)).count();
                    self.metrics.authors_without_record += without as u64;
                }
            }
            Table::BookAuthors => self.metrics.links += rows,
            Table::Rejects => {}
        }
        let Some(keys) = batch.column_by_name(key_columns[0]) else { return };
        let keys = keys.as_string::<i32>();
        let positions = key_columns.get(1).and_then(|c| batch.column_by_name(c)).map(|c| c.as_primitive::<Int32Type>());
        for row in 0..batch.num_rows() {
            if keys.is_null(row) {
                continue;
            }
            let position = positions.map_or(0, |p| p.value(row));
            let key = keys.value(row);
            if let Some((previous_table, previous_key, previous_position)) = &self.previous
                && *previous_table == table
            {
                let order = (previous_key.as_str(), *previous_position).cmp(&(key, position));
                let counter = match order {
                    std::cmp::Ordering::Equal => Some(&mut self.metrics.duplicate_keys),
                    std::cmp::Ordering::Greater => Some(&mut self.metrics.unsorted_keys),
                    std::cmp::Ordering::Less => None,
                };
                if let Some(counter) = counter {
                    *counter.entry(name.to_string()).or_default() += 1;
                }
            }
            match &mut self.previous {
                Some((t, k, p)) => {
                    *t = table;
                    k.clear();
                    k.push_str(key);
                    *p = position;
                }
                None => self.previous = Some((table, key.to_string(), position)),
            }
        }
    }

    fn year(&mut self, year: Option<i16>) {
        let Some(year) = year else {
            self.metrics.works_without_year += 1;
            return;
        };
        if !(YEAR_MIN..=self.latest_year).contains(&year) {
            self.metrics.years_out_of_range += 1;
        }
        self.metrics.min_year = Some(self.metrics.min_year.map_or(year, |y| y.min(year)));
        self.metrics.max_year = Some(self.metrics.max_year.map_or(year, |y| y.max(year)));
    }
}
