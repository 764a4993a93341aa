//! The silver zone's contract between `transform`, which writes it, and `load` and `export`, which
//! read it: the layout version, the record every silver manifest carries, and reading a committed
//! partition of one table (or saying which task to run first).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::exit::MissingInput;
use crate::lake::commit::{self, Committed};
use crate::lake::{Lake, layout};
use crate::settings::Partition;
use crate::tables::Table;

/// The layout of the silver tables this version writes: 2 added `book_authors.listed_author_key`.
/// A partition of an older layout is rebuilt by `transform` and refused by `load`.
pub const SILVER_LAYOUT: u32 = 2;

/// The task's record in each silver manifest (the same for the four tables of a partition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformDetails {
    /// [`SILVER_LAYOUT`] when written (absent, so 1, in manifests of the first layout).
    #[serde(default = "first_layout")]
    pub layout: u32,
    pub pages: u64,
    /// Work records on the pages, duplicates and rejects included.
    pub works_seen: u64,
    /// Works seen again on a later page, kept once.
    pub duplicate_works: u64,
    pub author_records: u64,
    pub books: u64,
    pub authors: u64,
    pub book_authors: u64,
    pub rejects: u64,
    pub reject_ratio: f64,
    pub max_reject_ratio: f64,
    /// Soft problems, by kind: the record was kept, the field is null.
    pub issues: BTreeMap<String, u64>,
}

fn first_layout() -> u32 {
    1
}

/// The committed silver partition of `table` in this version's layout, or a [`MissingInput`] that
/// says to run transform. (An `anyhow` error so the [`MissingInput`] stays findable in the chain for
/// the exit code; a wrapping enum would hide it.)
pub async fn read_committed(
    lake: &Lake,
    table: Table,
    partition: &Partition,
) -> anyhow::Result<Committed<TransformDetails>> {
    let folder = layout::silver_partition(table, partition);
    let (ds, subject) = (partition.ds, &partition.subject);
    match commit::read::<TransformDetails>(lake, &folder).await? {
        Some(committed) if committed.manifest.details.layout == SILVER_LAYOUT => Ok(committed),
        Some(committed) => Err(MissingInput {
            what: format!(
                "the silver {} partition in layout {SILVER_LAYOUT} (it is in layout {}, written by an older bookpipe)",
                table.name(),
                committed.manifest.details.layout
            ),
            path: format!("{}/{folder}", lake.url()),
            hint: format!("run `bookpipe transform --ds {ds} --subject {subject}` first: it rebuilds the partition"),
        }
        .into()),
        None => Err(MissingInput {
            what: format!("the silver {} partition", table.name()),
            path: format!("{}/{folder}", lake.url()),
            hint: format!("run `bookpipe transform --ds {ds} --subject {subject}` first"),
        }
        .into()),
    }
}
