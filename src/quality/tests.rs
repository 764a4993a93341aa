//! The gate's checks on numbers: what refuses, what warns, what passes.

use super::*;

fn ds(raw: &str) -> Ds {
    Ds::parse(flags::DS, raw).unwrap()
}

fn metrics(works: u64, authors: u64, links: u64) -> Metrics {
    Metrics { works, authors, links, ..Metrics::default() }
}

fn day(raw: &str, works: u64) -> LoadedDay {
    LoadedDay { ds: ds(raw), metrics: metrics(works, works / 2, works) }
}

fn request<'a>(m: &'a Metrics, before: &'a [LoadedDay]) -> Request<'a> {
    Request {
        ds: ds("2024-05-09"),
        metrics: m,
        before,
        newer: None,
        backfill: None,
        accept_drop: false,
        thresholds: Thresholds::default(),
    }
}

fn status_of(e: &Evaluation, name: &str) -> Status {
    e.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name}")).status
}

#[test]
fn a_first_day_has_nothing_to_compare_and_passes() {
    let m = metrics(200, 100, 200);
    let e = evaluate(&request(&m, &[]));
    assert_eq!(e.verdict, Verdict::Passed);
    assert_eq!(e.baseline, None);
    assert_eq!(status_of(&e, "volume"), Status::Pass);
}

#[test]
fn sixty_percent_of_the_works_gone_refuses_naming_the_numbers_and_the_flag() {
    let before = [day("2024-05-07", 210), day("2024-05-08", 200)];
    let m = metrics(80, 50, 80);
    let e = evaluate(&request(&m, &before));
    assert_eq!(e.verdict, Verdict::Refused);
    assert_eq!(status_of(&e, "volume.works.last_day"), Status::Fail);
    assert_eq!(status_of(&e, "volume.works.median"), Status::Fail);
    // Authors and links warn: the refusal is about works.
    assert_eq!(status_of(&e, "volume.authors.last_day"), Status::Warn);
    let baseline = e.baseline.as_ref().unwrap();
    assert_eq!(
        (baseline.last_loaded_ds.as_str(), baseline.last.works, baseline.median.works),
        ("2024-05-08", 200.0, 205.0)
    );
    let reasons = refusal_reasons(&e.checks);
    assert!(
        reasons.starts_with(
            "volume.works.last_day: works: 80 against 200 on the last loaded day, 2024-05-08 (-60.0 %): more than 50 % \
             of the works gone, beyond --max-drop (BOOKPIPE_MAX_DROP)"
        ),
        "{reasons}"
    );
    assert!(reasons.ends_with("rerun the load with --accept-drop (BOOKPIPE_ACCEPT_DROP)"), "{reasons}");
    // Accepted with the flag: loaded, and said so.
    let accepted = evaluate(&Request { accept_drop: true, ..request(&m, &before) });
    assert_eq!(accepted.verdict, Verdict::Accepted);
    assert_eq!(status_of(&accepted, "volume.works.last_day"), Status::Accepted);
}

#[test]
fn the_median_catches_a_drop_the_last_day_already_had() {
    // The last day was accepted at 90; the trailing median still says 200.
    let before = [day("2024-05-05", 200), day("2024-05-06", 200), day("2024-05-07", 200), day("2024-05-08", 90)];
    let m = metrics(85, 40, 85);
    let e = evaluate(&request(&m, &before));
    assert_eq!(status_of(&e, "volume.works.last_day"), Status::Warn);
    assert_eq!(status_of(&e, "volume.works.median"), Status::Fail);
    assert_eq!(e.verdict, Verdict::Refused);
}

#[test]
fn a_ten_percent_move_warns_and_a_small_one_passes() {
    let before = [day("2024-05-08", 200)];
    let m = metrics(180, 90, 180);
    let e = evaluate(&request(&m, &before));
    assert_eq!(e.verdict, Verdict::Warned);
    assert_eq!(status_of(&e, "volume.works.last_day"), Status::Warn);
    let m = metrics(196, 98, 196);
    assert_eq!(evaluate(&request(&m, &before)).verdict, Verdict::Passed);
    // Exactly half gone is not more than half.
    let m = metrics(100, 50, 100);
    assert_eq!(status_of(&evaluate(&request(&m, &before)), "volume.works.last_day"), Status::Warn);
}

#[test]
fn only_the_trailing_days_make_the_median() {
    let before: Vec<LoadedDay> =
        (1..=9).map(|d| day(&format!("2024-05-0{d}"), if d <= 2 { 1000 } else { 100 })).collect();
    let m = metrics(100, 50, 100);
    let e = evaluate(&Request { ds: ds("2024-05-10"), ..request(&m, &before) });
    let baseline = e.baseline.unwrap();
    assert_eq!(baseline.trailing_days.len(), 7);
    assert_eq!(baseline.trailing_days[0], "2024-05-03");
    assert_eq!(baseline.median.works, 100.0);
    assert_eq!(e.verdict, Verdict::Passed);
}

#[test]
fn repeated_keys_and_nulls_refuse_and_no_flag_accepts_them() {
    let mut m = metrics(200, 100, 200);
    m.duplicate_keys.insert("books".into(), 3);
    m.nulls.insert("books.title".into(), 1);
    let e = evaluate(&Request { accept_drop: true, ..request(&m, &[]) });
    assert_eq!(e.verdict, Verdict::Refused);
    assert_eq!(status_of(&e, "keys.unique"), Status::Fail);
    assert_eq!(status_of(&e, "not_null"), Status::Fail);
    let reasons = refusal_reasons(&e.checks);
    assert!(reasons.contains("repeated rows: books: 3"), "{reasons}");
    assert!(reasons.contains("books.title: 1"), "{reasons}");
    assert!(!reasons.contains("accept-drop"), "{reasons}");
}

#[test]
fn years_out_of_range_and_rising_shares_warn() {
    let mut before = vec![];
    for d in 1..=3 {
        let mut m = metrics(200, 100, 200);
        (m.works_without_year, m.authors_without_record) = (20, 5);
        before.push(LoadedDay { ds: ds(&format!("2024-05-0{d}")), metrics: m });
    }
    let mut m = metrics(200, 100, 200);
    (m.works_without_year, m.authors_without_record) = (40, 5);
    (m.years_out_of_range, m.min_year, m.max_year) = (1, Some(1605), Some(2031));
    let e = evaluate(&Request { ds: ds("2024-05-04"), ..request(&m, &before) });
    assert_eq!(e.verdict, Verdict::Warned);
    let share = e.checks.iter().find(|c| c.name == "share.works_without_year").unwrap();
    assert_eq!((share.status, share.value, share.baseline), (Status::Warn, Some(0.2), Some(0.1)));
    assert_eq!(
        share.message,
        "works without a first_publish_year: 20.0 % against a median of 10.0 % over the trailing 3 loaded days"
    );
    assert_eq!(status_of(&e, "share.authors_without_record"), Status::Pass);
    let years = e.checks.iter().find(|c| c.name == "years.range").unwrap();
    assert_eq!(years.status, Status::Warn);
    assert_eq!(
        years.message,
        "1 works have a first_publish_year outside 1..=2025 (from 1605 to 2031); kept as Open Library has them"
    );
}

#[test]
fn a_day_older_than_the_newest_loaded_one_needs_a_backfill() {
    let m = metrics(200, 100, 200);
    let newer = Some(ds("2024-05-10"));
    let e = evaluate(&Request { newer, ..request(&m, &[]) });
    assert_eq!(e.verdict, Verdict::Refused);
    assert_eq!(
        refusal_reasons(&e.checks),
        "freshness: 2024-05-09 is older than 2024-05-10, the subject's newest loaded day, and not a backfill; a \
         backfill passes --backfill (BOOKPIPE_BACKFILL)"
    );
    for backfill in [Backfill::Flag, Backfill::Rerun] {
        let e = evaluate(&Request { newer, backfill: Some(backfill), ..request(&m, &[]) });
        assert_eq!(e.verdict, Verdict::Passed, "{backfill:?}");
    }
}

#[test]
fn medians() {
    assert_eq!(median(vec![]), 0.0);
    assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
}

#[test]
fn names_are_what_checks_json_writes() {
    for status in [Status::Pass, Status::Warn, Status::Accepted, Status::Fail] {
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    for verdict in [Verdict::Passed, Verdict::Warned, Verdict::Accepted, Verdict::Refused] {
        assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.as_str());
    }
}

#[test]
fn measure_counts_rows_years_records_and_adjacent_repeats() {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray};

    use crate::tables::Table;

    let strings = |v: &[Option<&str>]| Arc::new(v.iter().copied().collect::<StringArray>()) as arrow::array::ArrayRef;
    let n = 4;
    let books = RecordBatch::try_new(
        Table::Books.schema(),
        vec![
            strings(&[Some("OL1W"), Some("OL2W"), Some("OL2W"), Some("OL3W")]),
            strings(&[Some("a"); 4]),
            Arc::new(Int16Array::from(vec![Some(1950), None, Some(2031), Some(0)])),
            Arc::new(Int32Array::from(vec![None::<i32>; n])),
            Arc::new(Int64Array::from(vec![None::<i64>; n])),
            Arc::new(BooleanArray::from(vec![None::<bool>; n])),
            Arc::new(BooleanArray::from(vec![None::<bool>; n])),
        ],
    )
    .unwrap();
    // A second batch that goes back in order: OL0W after OL3W.
    let more = books.slice(0, 1);
    let authors = RecordBatch::try_new(
        Table::Authors.schema(),
        [
            vec![strings(&[Some("OL1A"), Some("OL2A")])],
            (0..3).map(|_| strings(&[None, None])).collect(),
            vec![
                Arc::new(Int16Array::from(vec![None::<i16>; 2])) as _,
                Arc::new(Int16Array::from(vec![None::<i16>; 2])),
            ],
            (0..4).map(|_| strings(&[None, None])).collect(),
            vec![Arc::new(BooleanArray::from(vec![true, false])) as _],
        ]
        .concat(),
    )
    .unwrap();
    let links = RecordBatch::try_new(
        Table::BookAuthors.schema(),
        vec![
            strings(&[Some("OL1W"), Some("OL1W"), Some("OL2W")]),
            strings(&[Some("OL1A"), Some("OL2A"), Some("OL1A")]),
            Arc::new(Int32Array::from(vec![0, 1, 0])),
            strings(&[Some("OL1A"), Some("OL2A"), Some("OL1A")]),
        ],
    )
    .unwrap();
    let mut measure = measure::Measure::new(ds("2030-06-01"));
    measure.batch(Table::Books, &books);
    measure.batch(Table::Books, &more);
    measure.batch(Table::Authors, &authors);
    measure.batch(Table::BookAuthors, &links);
    let m = measure.metrics();
    assert_eq!((m.works, m.authors, m.links), (5, 2, 3));
    assert_eq!((m.works_without_year, m.authors_without_record), (1, 1));
    // 0 is before YEAR_MIN; 2031 is the year after the ds, still sane.
    assert_eq!((m.years_out_of_range, m.min_year, m.max_year), (1, Some(0), Some(2031)));
    assert_eq!(m.duplicate_keys, BTreeMap::from([("books".to_string(), 1)]));
    assert_eq!(m.unsorted_keys, BTreeMap::from([("books".to_string(), 1)]));
    assert!(m.nulls.is_empty(), "{:?}", m.nulls);
}
