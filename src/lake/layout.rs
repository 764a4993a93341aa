//! Where everything lies in the lake (design doc: lake layout): every folder, partition and object
//! name, here and nowhere else.
//!
//! Partitions are Hive-style (`subject=<slug>/ds=<date>`) so Athena, Spark and DuckDB prune them as
//! they are:
//!
//! ```text
//! raw/openlibrary/subjects/subject=S/ds=D/page-00000.json ... _manifest.json   (fetch)
//! raw/openlibrary/authors/subject=S/ds=D/batch-<stamp>-<run>-00000.json ...    (fetch, immutable)
//! silver/<table>/subject=S/ds=D/part-00000.parquet, _manifest.json              (transform)
//! gold/<table>/subject=S/ds=D/part-00000.parquet, _manifest.json                (aggregate)
//! exports/gold_csv/<table>/subject=S/ds=D/part-00000.csv, _manifest.json        (aggregate)
//! gold/report/subject=S/ds=D/index.html, _manifest.json                          (report)
//! gold/report/index.html: every subject's latest report                         (report)
//! quality/subject=S/ds=D/checks.json, _manifest.json                             (load's gate)
//! ```
//!
//! `quality/` holds the quality gate's result for each day `load` was asked to load: every check,
//! its numbers and the verdict, committed whether the day was loaded or refused. It lies outside
//! `silver/` and `gold/` because it is no table (engines reading those folders would trip on it),
//! and beside nothing it describes so that a refusal changes no byte of them.
//!
//! A table folder (`silver/<table>`, `gold/<table>`) holds that table's Parquet objects and
//! `_`-prefixed metadata, nothing else: query engines (Athena through Glue, Spark, Trino,
//! `pyarrow.dataset`) read every other object below a table's location as the table's format. So
//! the CSV copy of a gold partition, for people and spreadsheets, lies in a zone of its own,
//! `exports/`, committed like any partition. Gold written before that layout (GOLD_LAYOUT 1 in
//! `crate::aggregate`) held `part-00000.csv` beside the Parquet; `aggregate` removes it when it
//! rewrites the partition ([`legacy_gold_csv`]).
//!
//! A subject value is written into folder names as it is (no escaping): `Subject::parse` refuses
//! every character that object_store would percent-encode or that Hive-style readers and Athena's
//! partition projection would read back differently (docs/engines.md).

use object_store::path::Path;

use crate::settings::{Ds, Partition, Subject};
use crate::tables::Table;

/// The file every complete partition ends with (design doc: commit protocol).
pub const MANIFEST: &str = "_manifest.json";

/// What an interrupted `fetch` leaves in its raw partition: the settings its pages were asked with.
pub const FETCH_STATE: &str = "_fetch_state.json";

/// The one data object of a silver or gold partition, as Parquet.
const PART_PARQUET: &str = "part-00000.parquet";
/// The one object of a CSV export partition (and of a gold partition of the first layout).
const PART_CSV: &str = "part-00000.csv";
/// The page of a report partition, and the report index.
const REPORT_PAGE: &str = "index.html";

/// `raw/openlibrary/subjects/subject=<slug>/ds=<date>`: the subject pages of one fetch.
pub fn raw_subject_partition(partition: &Partition) -> Path {
    hive(&["raw", "openlibrary", "subjects"], partition)
}

/// `raw/openlibrary/subjects/subject=<slug>`: every ds of a subject's pages, one folder each.
pub fn raw_subject_prefix(subject: &Subject) -> Path {
    Path::from_iter(["raw", "openlibrary", "subjects", &format!("subject={subject}")])
}

/// `raw/openlibrary/authors/subject=<slug>/ds=<date>`: the author objects one fetch wrote, each
/// immutable once written (never overwritten, never deleted), so the manifest of this partition
/// and of every later one that reuses a record can point at it. Earlier versions wrote single
/// records to `raw/openlibrary/authors/<KEY>/<stamp>.json`; manifests that name them stay readable.
pub fn raw_author_partition(partition: &Partition) -> Path {
    hive(&["raw", "openlibrary", "authors"], partition)
}

/// The object of the `n`-th `/api/get_many` answer of the fetch that started at `stamp` and drew
/// the tag `run`. The tag makes the name one run's alone: two fetches of a partition that start in
/// the same millisecond (two Airflow tries, a backfill beside the schedule) would otherwise write
/// the same names with different answers, and each run's manifest would name the other's bytes.
pub fn author_batch_name(stamp: &str, run: &str, n: u32) -> String {
    format!("batch-{stamp}-{run}-{n:05}.json")
}

/// The object of one `/authors/<key>.json` answer of the fetch that started at `stamp` and drew
/// the tag `run` (see [`author_batch_name`]).
pub fn author_record_name(key: &str, stamp: &str, run: &str) -> String {
    format!("{key}-{stamp}-{run}.json")
}

/// What an author object's name says: a batch (`None`) or one author's record, and the stamp.
/// Names written before runs drew a tag (`batch-<stamp>-00000.json`, `<KEY>-<stamp>.json`) read the
/// same way.
pub fn parse_author_object_name(name: &str) -> Option<(Option<&str>, &str)> {
    let stem = name.strip_suffix(".json")?;
    // The stamp holds no '-'; a run's tag, when there is one, follows it.
    fn stamp_of(rest: &str) -> Option<&str> {
        rest.split('-').next().filter(|stamp| !stamp.is_empty())
    }
    if let Some(rest) = stem.strip_prefix("batch-") {
        let (rest, n) = rest.rsplit_once('-')?;
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some((None, stamp_of(rest)?));
    }
    let (key, rest) = stem.split_once('-')?;
    Some((Some(key), stamp_of(rest)?))
}

/// The name of the n-th page object of a raw subject partition.
pub fn page_name(index: u32) -> String {
    format!("page-{index:05}.json")
}

/// The page index of a page object's file name, if it is one.
pub fn parse_page_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("page-")?.strip_suffix(".json")?;
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `silver/<table>/subject=<slug>/ds=<date>`.
pub fn silver_partition(table: Table, partition: &Partition) -> Path {
    hive(&["silver", table.name()], partition)
}

/// The one data object of a silver partition.
pub fn silver_object(table: Table, partition: &Partition) -> Path {
    silver_partition(table, partition).join(PART_PARQUET)
}

/// `gold/<table>/subject=<slug>/ds=<date>`.
pub fn gold_partition(table: &str, partition: &Partition) -> Path {
    hive(&["gold", table], partition)
}

/// The Parquet object of a gold partition.
pub fn gold_parquet(table: &str, partition: &Partition) -> Path {
    gold_partition(table, partition).join(PART_PARQUET)
}

/// Where gold layout 1 kept a partition's CSV copy, beside its Parquet object: `aggregate` removes
/// it, because engines reading the table folder fail on it.
pub fn legacy_gold_csv(table: &str, partition: &Partition) -> Path {
    gold_partition(table, partition).join(PART_CSV)
}

/// `exports/gold_csv/<table>/subject=<slug>/ds=<date>`: the CSV copy of a gold partition, for
/// people (a spreadsheet opens it), outside every table folder.
pub fn gold_csv_partition(table: &str, partition: &Partition) -> Path {
    hive(&["exports", "gold_csv", table], partition)
}

/// The CSV object of a gold CSV export partition (the same rows as the gold Parquet object).
pub fn gold_csv(table: &str, partition: &Partition) -> Path {
    gold_csv_partition(table, partition).join(PART_CSV)
}

/// `gold/report/subject=<slug>/ds=<date>`: one day's report page of a subject.
pub fn report_partition(partition: &Partition) -> Path {
    hive(&["gold", "report"], partition)
}

/// The page of a report partition.
pub fn report_page(partition: &Partition) -> Path {
    report_partition(partition).join(REPORT_PAGE)
}

/// `gold/report`: one `subject=<slug>` folder per subject reported, and the index page.
pub fn report_root() -> Path {
    Path::from_iter(["gold", "report"])
}

/// `gold/report/index.html`: links to every subject's latest report (rewritten by each report).
pub fn report_index() -> Path {
    report_root().join(REPORT_PAGE)
}

/// A report page's path relative to the index page, for its link.
pub fn report_link(partition: &Partition) -> String {
    format!("subject={}/ds={}/{REPORT_PAGE}", partition.subject, partition.ds)
}

/// The quality gate's document of a day (`crate::quality::record::Document`).
const QUALITY_CHECKS: &str = "checks.json";

/// `quality/subject=<slug>/ds=<date>`: the quality gate's result for one day of a subject.
pub fn quality_partition(partition: &Partition) -> Path {
    hive(&["quality"], partition)
}

/// The `checks.json` of a quality partition.
pub fn quality_checks(partition: &Partition) -> Path {
    quality_partition(partition).join(QUALITY_CHECKS)
}

/// `quality/subject=<slug>`: every day the gate judged for a subject, one folder each.
pub fn quality_subject_prefix(subject: &Subject) -> Path {
    Path::from_iter(["quality", &format!("subject={subject}")])
}

/// `raw/openlibrary/subjects`: one `subject=<slug>` folder per subject ever fetched.
pub fn raw_subjects_root() -> Path {
    Path::from_iter(["raw", "openlibrary", "subjects"])
}

/// `raw/openlibrary/authors`: the author objects of every fetch, one `subject=<slug>/ds=<date>`
/// folder each.
pub fn raw_authors_root() -> Path {
    Path::from_iter(["raw", "openlibrary", "authors"])
}

/// `quality`: the quality gate's documents, one `subject=<slug>/ds=<date>` folder each.
pub fn quality_root() -> Path {
    Path::from("quality")
}

/// `silver/<table>`: a silver table's location, as engines and the lineage events name it.
pub fn silver_table(table: Table) -> Path {
    Path::from_iter(["silver", table.name()])
}

/// `gold/<table>`: a gold table's location.
pub fn gold_table(table: &str) -> Path {
    Path::from_iter(["gold", table])
}

/// `exports/gold_csv/<table>`: the CSV copies of a gold table.
pub fn gold_csv_table(table: &str) -> Path {
    Path::from_iter(["exports", "gold_csv", table])
}

/// `silver/<table>/subject=<slug>`: every ds of a subject's silver table, one folder each.
pub fn silver_subject_prefix(table: Table, subject: &Subject) -> Path {
    Path::from_iter(["silver", table.name(), &format!("subject={subject}")])
}

/// `gold/<table>/subject=<slug>`: every ds of a subject's gold table, one folder each.
pub fn gold_subject_prefix(table: &str, subject: &Subject) -> Path {
    Path::from_iter(["gold", table, &format!("subject={subject}")])
}

/// `exports/gold_csv/<table>/subject=<slug>`: every ds of a subject's CSV export, one folder each.
pub fn gold_csv_subject_prefix(table: &str, subject: &Subject) -> Path {
    Path::from_iter(["exports", "gold_csv", table, &format!("subject={subject}")])
}

/// The subject of a `subject=<slug>` folder (the last part of `folder`), if it is one.
pub fn parse_subject_folder(folder: &Path) -> Option<Subject> {
    let name = folder.filename()?.strip_prefix("subject=")?;
    Subject::parse(crate::cli::flags::SUBJECT, name).ok()
}

/// The ds of a `ds=<date>` folder (the last part of `folder`), if it is one.
pub fn parse_ds_folder(folder: &Path) -> Option<Ds> {
    let date = folder.filename()?.strip_prefix("ds=")?;
    Ds::parse(crate::cli::flags::DS, date).ok()
}

/// `<zone...>/subject=<slug>/ds=<date>`.
fn hive(zone: &[&str], partition: &Partition) -> Path {
    let subject = format!("subject={}", partition.subject);
    let ds = format!("ds={}", partition.ds);
    Path::from_iter(zone.iter().copied().chain([subject.as_str(), ds.as_str()]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags;

    #[test]
    fn layout_is_hive_style() {
        let partition = Partition::new(
            Subject::parse(flags::SUBJECT, "place:london").unwrap(),
            Ds::parse(flags::DS, "2024-05-01").unwrap(),
        );
        assert_eq!(
            raw_subject_partition(&partition).as_ref(),
            "raw/openlibrary/subjects/subject=place:london/ds=2024-05-01"
        );
        assert_eq!(page_name(7), "page-00007.json");
        assert_eq!(parse_page_name("page-00007.json"), Some(7));
        assert_eq!(parse_page_name("page-7.json"), None);
        assert_eq!(parse_page_name("_manifest.json"), None);
        assert_eq!(
            raw_author_partition(&partition).as_ref(),
            "raw/openlibrary/authors/subject=place:london/ds=2024-05-01"
        );
        let stamp = "20240501T060000.000Z";
        assert_eq!(author_batch_name(stamp, "0a1b2c3d", 3), "batch-20240501T060000.000Z-0a1b2c3d-00003.json");
        assert_eq!(author_record_name("OL1A", stamp, "0a1b2c3d"), "OL1A-20240501T060000.000Z-0a1b2c3d.json");
        assert_eq!(parse_author_object_name(&author_batch_name(stamp, "0a1b2c3d", 3)), Some((None, stamp)));
        assert_eq!(
            parse_author_object_name(&author_record_name("OL1A", stamp, "0a1b2c3d")),
            Some((Some("OL1A"), stamp))
        );
        // Names of fetches before runs drew a tag.
        assert_eq!(parse_author_object_name("batch-20240501T060000.000Z-00003.json"), Some((None, stamp)));
        assert_eq!(parse_author_object_name("OL1A-20240501T060000.000Z.json"), Some((Some("OL1A"), stamp)));
        assert_eq!(parse_author_object_name("batch-20240501T060000.000Z-0a1b2c3d-x.json"), None);
        assert_eq!(parse_author_object_name("_manifest.json"), None);
        assert_eq!(
            silver_object(Table::BookAuthors, &partition).as_ref(),
            "silver/book_authors/subject=place:london/ds=2024-05-01/part-00000.parquet"
        );
        let folder = raw_subject_partition(&partition);
        assert_eq!(parse_ds_folder(&folder), Some(partition.ds));
        assert_eq!(parse_subject_folder(&raw_subject_prefix(&partition.subject)), Some(partition.subject.clone()));
        assert_eq!(parse_ds_folder(&raw_subject_prefix(&partition.subject)), None);
        assert_eq!(
            gold_parquet("books_per_year", &partition).as_ref(),
            "gold/books_per_year/subject=place:london/ds=2024-05-01/part-00000.parquet"
        );
        assert_eq!(
            gold_csv("books_per_year", &partition).as_ref(),
            "exports/gold_csv/books_per_year/subject=place:london/ds=2024-05-01/part-00000.csv"
        );
        assert_eq!(
            gold_csv_partition("books_per_year", &partition),
            gold_csv_subject_prefix("books_per_year", &partition.subject).join("ds=2024-05-01")
        );
        assert_eq!(quality_checks(&partition).as_ref(), "quality/subject=place:london/ds=2024-05-01/checks.json");
        assert_eq!(quality_subject_prefix(&partition.subject).join("ds=2024-05-01"), quality_partition(&partition));
        assert_eq!(
            legacy_gold_csv("books_per_year", &partition).as_ref(),
            "gold/books_per_year/subject=place:london/ds=2024-05-01/part-00000.csv"
        );
    }

    /// Every subject `Subject::parse` accepts lands in folder names exactly as written: object_store
    /// percent-encodes none of its characters, so S3 keys, Hive-style readers and Athena's
    /// projection template all see the same string (docs/engines.md).
    #[test]
    fn an_accepted_subject_is_written_into_folder_names_verbatim() {
        let ds = Ds::parse(flags::DS, "2024-05-01").unwrap();
        let mut accepted = String::new();
        for c in (0x21u8..0x7f).map(char::from).chain(['é', 'ß', '中', '\u{a0}']) {
            let raw = format!("a{c}b");
            let Ok(subject) = Subject::parse(flags::SUBJECT, &raw) else { continue };
            accepted.push(c);
            let partition = Partition::new(subject, ds);
            let expected = format!("subject={}", raw.to_lowercase());
            assert_eq!(
                gold_partition("books_per_year", &partition).parts().nth(2).unwrap().as_ref(),
                expected,
                "{c:?}"
            );
            assert_eq!(
                parse_subject_folder(&gold_subject_prefix("books_per_year", &partition.subject)),
                Some(partition.subject.clone())
            );
        }
        // What stays: ASCII letters (upper case is lowered), digits and the punctuation Open Library
        // keeps, less ~ and * (':' only after a prefix: place:london above).
        assert_eq!(accepted, "!'()-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz");
    }
}
