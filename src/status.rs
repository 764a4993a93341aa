//! `status`: for each subject and ds of a range, how far its partition got — raw, silver, the
//! quality gate's verdict, loaded, gold (the gold tables and their CSV exports) — each complete (its manifests, or its `loads` record, exist), incomplete (objects without
//! a manifest: a task died or is running) or absent, with rows counted from the manifests and the
//! warehouse's `loads`. How an operator sees what a backfill must redo, without opening Airflow.
//!
//! Reads only: folder listings (one per stage table and subject) and the manifests of the days in
//! range; the warehouse is not created or migrated when it does not exist yet.

use std::collections::{BTreeMap, BTreeSet};

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::cli::OutputFormat;
use crate::exit::Outcome;
use crate::gold::GOLD_LAYOUT;
use crate::lake::commit;
use crate::lake::{Lake, layout};
use crate::quality::Verdict;
use crate::settings::{Ds, StatusSettings, Subject};
use crate::silver::SILVER_LAYOUT;
use crate::tables::Table;
use crate::warehouse::{Gold, Warehouse};

/// How far one stage of one partition got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Complete,
    Incomplete,
    Absent,
}

/// One stage of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub state: State,
    /// Rows of the stage's main table: raw works, silver books, loaded books, gold authors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl Cell {
    const ABSENT: Cell = Cell { state: State::Absent, rows: None };

    /// A stage of several tables: complete when every table is committed, incomplete when any has
    /// a folder, absent otherwise. `rows` count only for a complete stage.
    pub fn of(tables: &[Presence], rows: Option<u64>) -> Self {
        if !tables.is_empty() && tables.iter().all(|t| t.committed) {
            Cell { state: State::Complete, rows }
        } else if tables.iter().any(|t| t.folder) {
            Cell { state: State::Incomplete, rows: None }
        } else {
            Cell::ABSENT
        }
    }
}

/// What the lake holds for one table of one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presence {
    pub folder: bool,
    pub committed: bool,
}

/// What load's quality gate said of a partition (`quality/subject=S/ds=D/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QualityCell {
    pub state: State,
    /// `passed`, `warned`, `accepted` or `refused`, for a complete document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<u64>,
}

impl QualityCell {
    const ABSENT: QualityCell = QualityCell { state: State::Absent, verdict: None, warnings: None };
}

/// One line of the grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub subject: String,
    pub ds: String,
    pub raw: Cell,
    pub silver: Cell,
    pub quality: QualityCell,
    pub loaded: Cell,
    pub gold: Cell,
}

/// The grid: every subject × every ds of the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    pub from: String,
    pub to: String,
    /// The warehouse, redacted; `loaded` is absent everywhere when it does not exist.
    pub warehouse: String,
    pub warehouse_exists: bool,
    pub partitions: Vec<Line>,
}

/// The manifest fields `status` counts rows from.
#[derive(Deserialize)]
struct Counted<D> {
    details: D,
}

#[derive(Deserialize)]
struct RawRows {
    works: u64,
    #[serde(default)]
    distinct_works: u64,
}

#[derive(Deserialize)]
struct SilverRows {
    books: u64,
    /// As `silver::TransformDetails` reads it: absent in the first layout.
    #[serde(default = "first_layout")]
    layout: u32,
}

fn first_layout() -> u32 {
    1
}

#[derive(Deserialize)]
struct GoldRows {
    rows: u64,
    /// As `aggregate::GoldDetails` reads it: absent in the first layout.
    #[serde(default = "first_layout")]
    layout: u32,
}

/// The gold table whose rows `status` shows: one per author.
const GOLD_COUNTED: Gold = Gold::AuthorYearlyAverage;

/// `bookpipe status`: prints the grid of `s`, as a table or one JSON document with `--output
/// json`. Always exits 0: it reports, it does not judge.
pub async fn print(lake: &Lake, s: &StatusSettings) -> anyhow::Result<Outcome> {
    let grid = status(lake, s).await?;
    match s.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&grid)?),
        OutputFormat::Auto => print!("{}", render(&grid)),
    }
    Ok(Outcome::Done)
}

/// Builds the grid for `s`.
pub async fn status(lake: &Lake, s: &StatusSettings) -> anyhow::Result<Grid> {
    let days = s.days();
    let subjects = if s.subjects.is_empty() { subjects_in(lake).await? } else { s.subjects.clone() };
    let mut loads: BTreeMap<(String, String), u64> = BTreeMap::new();
    let warehouse = Warehouse::connect_existing(&s.warehouse).await?;
    let warehouse_exists = warehouse.is_some();
    if let Some(mut warehouse) = warehouse {
        for (subject, ds, books) in warehouse.loads(s.from, s.to).await? {
            loads.insert((subject, ds), books as u64);
        }
    }
    let mut partitions = Vec::with_capacity(subjects.len() * days.len());
    for subject in &subjects {
        let raw_days = ds_folders(lake, &layout::raw_subject_prefix(subject), s).await?;
        let mut silver_days = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            silver_days.push(ds_folders(lake, &layout::silver_subject_prefix(table, subject), s).await?);
        }
        let quality_days = ds_folders(lake, &layout::quality_subject_prefix(subject), s).await?;
        let mut gold_days = Vec::with_capacity(Gold::ALL.len());
        let mut csv_days = Vec::with_capacity(Gold::ALL.len());
        for gold in Gold::ALL {
            gold_days.push(ds_folders(lake, &layout::gold_subject_prefix(gold.name(), subject), s).await?);
            csv_days.push(ds_folders(lake, &layout::gold_csv_subject_prefix(gold.name(), subject), s).await?);
        }
        for &ds in &days {
            let partition = crate::settings::Partition::new(subject.clone(), ds);
            let raw = if raw_days.contains(&ds) {
                let folder = layout::raw_subject_partition(&partition);
                let counted = read::<RawRows>(lake, &folder).await?;
                let rows = counted.as_ref().map(|r| if r.distinct_works > 0 { r.distinct_works } else { r.works });
                Cell::of(&[Presence { folder: true, committed: counted.is_some() }], rows)
            } else {
                Cell::ABSENT
            };
            let mut silver = Vec::with_capacity(Table::ALL.len());
            let mut books = None;
            for (table, days) in Table::ALL.iter().zip(&silver_days) {
                let folder = days.contains(&ds);
                let counted = match folder {
                    true => read::<SilverRows>(lake, &layout::silver_partition(*table, &partition)).await?,
                    false => None,
                };
                // A partition of an older layout is one `load` refuses: not complete (transform rebuilds it).
                let current = counted.as_ref().is_some_and(|c| c.layout == SILVER_LAYOUT);
                if *table == Table::Books && current {
                    books = counted.as_ref().map(|c| c.books);
                }
                silver.push(Presence { folder, committed: current });
            }
            let mut gold = Vec::with_capacity(Gold::ALL.len());
            let mut authors = None;
            for ((table, days), csv_days) in Gold::ALL.iter().zip(&gold_days).zip(&csv_days) {
                let folder = days.contains(&ds);
                let counted = match folder {
                    true => read::<GoldRows>(lake, &layout::gold_partition(table.name(), &partition)).await?,
                    false => None,
                };
                // Gold of an older layout (its CSV inside the table folder, which engines cannot
                // read) is not complete: `aggregate` rewrites it in this layout.
                let current = counted.as_ref().is_some_and(|c| c.layout == GOLD_LAYOUT);
                if *table == GOLD_COUNTED && current {
                    authors = counted.as_ref().map(|c| c.rows);
                }
                let csv_folder = csv_days.contains(&ds);
                let csv = match csv_folder {
                    true => read::<GoldRows>(lake, &layout::gold_csv_partition(table.name(), &partition)).await?,
                    false => None,
                };
                gold.push(Presence { folder, committed: current });
                gold.push(Presence { folder: csv_folder, committed: csv.is_some() });
            }
            let quality = match quality_days.contains(&ds) {
                false => QualityCell::ABSENT,
                true => match crate::quality::record::read_details(lake, &partition).await? {
                    Some(d) => {
                        QualityCell { state: State::Complete, verdict: Some(d.verdict), warnings: Some(d.warnings) }
                    }
                    None => QualityCell { state: State::Incomplete, verdict: None, warnings: None },
                },
            };
            let loaded = match loads.get(&(subject.to_string(), ds.to_string())) {
                Some(&books) => Cell { state: State::Complete, rows: Some(books) },
                None => Cell::ABSENT,
            };
            partitions.push(Line {
                subject: subject.to_string(),
                ds: ds.to_string(),
                raw,
                silver: Cell::of(&silver, books),
                quality,
                loaded,
                gold: Cell::of(&gold, authors),
            });
        }
    }
    Ok(Grid {
        from: s.from.to_string(),
        to: s.to.to_string(),
        warehouse: s.warehouse.to_string(),
        warehouse_exists,
        partitions,
    })
}

/// Every subject with a folder in the raw zone.
async fn subjects_in(lake: &Lake) -> anyhow::Result<Vec<Subject>> {
    let folders = lake.list_folders(&layout::raw_subjects_root()).await?;
    Ok(folders.iter().filter_map(layout::parse_subject_folder).collect())
}

/// The ds folders below `prefix` that fall in the range.
async fn ds_folders(lake: &Lake, prefix: &Path, s: &StatusSettings) -> anyhow::Result<BTreeSet<Ds>> {
    let folders = lake.list_folders(prefix).await?;
    Ok(folders.iter().filter_map(layout::parse_ds_folder).filter(|ds| (s.from..=s.to).contains(ds)).collect())
}

/// The counted details of the partition in `folder`, if it is committed.
async fn read<D: serde::de::DeserializeOwned>(lake: &Lake, folder: &Path) -> anyhow::Result<Option<D>> {
    Ok(commit::read_as::<Counted<D>>(lake, folder).await?.map(|(counted, _, _)| counted.details))
}

/// The grid for a person: one line per partition, `-` for an absent stage.
pub fn render(grid: &Grid) -> String {
    let cell = |c: &Cell, unit: &str| match (c.state, c.rows) {
        (State::Complete, Some(rows)) => format!("{rows} {unit}"),
        (State::Complete, None) => "complete".to_string(),
        (State::Incomplete, _) => "INCOMPLETE".to_string(),
        (State::Absent, _) => "-".to_string(),
    };
    let quality = |q: &QualityCell| match (q.state, q.verdict, q.warnings) {
        (State::Complete, Some(Verdict::Refused), _) => "REFUSED".to_string(),
        (State::Complete, Some(verdict), Some(1)) => format!("{} (1 warning)", verdict.as_str()),
        (State::Complete, Some(verdict), Some(n)) if n > 1 => format!("{} ({n} warnings)", verdict.as_str()),
        (State::Complete, Some(verdict), _) => verdict.as_str().to_string(),
        (State::Complete, None, _) => "complete".to_string(),
        (State::Incomplete, _, _) => "INCOMPLETE".to_string(),
        (State::Absent, _, _) => "-".to_string(),
    };
    let mut rows = vec![["subject", "ds", "raw", "silver", "quality", "loaded", "gold"].map(String::from)];
    for p in &grid.partitions {
        rows.push([
            p.subject.clone(),
            p.ds.clone(),
            cell(&p.raw, "works"),
            cell(&p.silver, "books"),
            quality(&p.quality),
            cell(&p.loaded, "books"),
            cell(&p.gold, "authors"),
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("partitions from {} to {}; warehouse {}", grid.from, grid.to, grid.warehouse);
    out.push_str(if grid.warehouse_exists { "\n" } else { " (not created yet: nothing loaded)\n" });
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(text, width)| format!("{text:<width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Presence = Presence { folder: false, committed: false };
    const PART: Presence = Presence { folder: true, committed: false };
    const DONE: Presence = Presence { folder: true, committed: true };

    #[test]
    fn a_stage_is_complete_only_when_every_table_is_committed() {
        assert_eq!(Cell::of(&[DONE, DONE], Some(12)), Cell { state: State::Complete, rows: Some(12) });
        assert_eq!(Cell::of(&[DONE, PART], Some(12)), Cell { state: State::Incomplete, rows: None });
        assert_eq!(Cell::of(&[NONE, PART], None).state, State::Incomplete);
        assert_eq!(Cell::of(&[NONE, NONE], None), Cell::ABSENT);
    }

    #[test]
    fn the_grid_reads_as_a_table_and_as_json() {
        let complete = |rows| Cell { state: State::Complete, rows: Some(rows) };
        let grid = Grid {
            from: "2024-05-01".into(),
            to: "2024-05-02".into(),
            warehouse: "duckdb:w.duckdb".into(),
            warehouse_exists: true,
            partitions: vec![
                Line {
                    subject: "love".into(),
                    ds: "2024-05-01".into(),
                    raw: complete(12),
                    silver: complete(12),
                    quality: QualityCell { state: State::Complete, verdict: Some(Verdict::Warned), warnings: Some(2) },
                    loaded: complete(12),
                    gold: complete(9),
                },
                Line {
                    subject: "love".into(),
                    ds: "2024-05-02".into(),
                    raw: Cell { state: State::Incomplete, rows: None },
                    silver: Cell::ABSENT,
                    quality: QualityCell::ABSENT,
                    loaded: Cell::ABSENT,
                    gold: Cell::ABSENT,
                },
            ],
        };
        assert_eq!(
            render(&grid),
            "partitions from 2024-05-01 to 2024-05-02; warehouse duckdb:w.duckdb\n\
             subject  ds          raw         silver    quality              loaded    gold\n\
             love     2024-05-01  12 works    12 books  warned (2 warnings)  12 books  9 authors\n\
             love     2024-05-02  INCOMPLETE  -         -                    -         -\n"
        );
        let json = serde_json::to_value(&grid).unwrap();
        assert_eq!(json["partitions"][0]["gold"], serde_json::json!({"state": "complete", "rows": 9}));
        assert_eq!(json["partitions"][1]["raw"], serde_json::json!({"state": "incomplete"}));
        assert_eq!(
            json["partitions"][0]["quality"],
            serde_json::json!({"state": "complete", "verdict": "warned", "warnings": 2})
        );
    }
}
