//! `load`, `aggregate` and `run` on both engines: one suite of scenarios, run against an embedded
//! DuckDB file and a real PostgreSQL server started by the test.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use bookpipe::cli::OutputFormat;
use bookpipe::cli::flags;
use bookpipe::exit::{Code, Outcome, code_for};
use bookpipe::lake::Lake;
use bookpipe::lake::commit::{self, Object};
use bookpipe::lake::layout::{gold_csv, gold_partition};
use bookpipe::lake::layout::{silver_object, silver_partition};
use bookpipe::lake::parquet::{ParquetOut, read_batches};
use bookpipe::settings::Partition;
use bookpipe::settings::{AggregateSettings, Ds, LoadSettings, Subject, TransformSettings, WarehouseUrl};
use bookpipe::silver::TransformDetails;
use bookpipe::tables::{self, Table};
use bookpipe::warehouse::Warehouse;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::support::postgres::PgServer;
use crate::support::{science_fiction_lake, serve_page, today, yesterday};

fn subject(s: &str) -> Subject {
    Subject::parse(flags::SUBJECT, s).unwrap()
}

fn ds(s: &str) -> Ds {
    Ds::parse(flags::DS, s).unwrap()
}

async fn transform(lake: &Lake, subject_: &str, ds_: &str) {
    let settings = TransformSettings {
        partition: Partition::new(subject(subject_), ds(ds_)),
        max_reject_ratio: 0.01,
        force: false,
    };
    bookpipe::transform::transform(lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
}

async fn load(lake: &Lake, url: &WarehouseUrl, subject_: &str, ds_: &str) -> anyhow::Result<Outcome> {
    bookpipe::load::load(
        lake,
        &bookpipe::lineage::Lineage::off(),
        &LoadSettings {
            partition: Partition::new(subject(subject_), ds(ds_)),
            warehouse: url.clone(),
            gate: Default::default(),
        },
    )
    .await
}

async fn aggregate(lake: &Lake, url: &WarehouseUrl, subject_: &str, ds_: &str) -> anyhow::Result<Outcome> {
    let settings = AggregateSettings {
        partition: Partition::new(subject(subject_), ds(ds_)),
        warehouse: url.clone(),
        output: OutputFormat::Auto,
    };
    bookpipe::aggregate::aggregate(lake, &bookpipe::lineage::Lineage::off(), &settings).await
}

async fn counts(url: &WarehouseUrl, subject_: &str, ds_: &str) -> [i64; 3] {
    let mut wh = Warehouse::connect(url).await.unwrap();
    let slice = Partition::new(subject(subject_), ds(ds_));
    let slice = Some(&slice);
    let mut out = [0; 3];
    for (i, table) in ["books", "authors", "book_authors"].into_iter().enumerate() {
        out[i] = wh.count(table, slice).await.unwrap();
    }
    out
}

async fn total(url: &WarehouseUrl, table: &str) -> i64 {
    Warehouse::connect(url).await.unwrap().count(table, None).await.unwrap()
}

fn duckdb_url(dir: &tempfile::TempDir) -> WarehouseUrl {
    WarehouseUrl::parse(
        &format!("duckdb:{}/warehouse.duckdb", dir.path().display()),
        None,
        &bookpipe::settings::PgEnv::default(),
    )
    .unwrap()
}

fn postgres_url(pg: &PgServer, db: &str) -> WarehouseUrl {
    WarehouseUrl::parse(&pg.database(db), None, &bookpipe::settings::PgEnv::default()).unwrap()
}

/// Load twice, a second ds, `latest_*`, and a load that fails half-way.
async fn load_semantics(url: WarehouseUrl) {
    let (a, b) = (yesterday(), today());
    let lake = science_fiction_lake(&a).await;
    let lake_b = science_fiction_lake(&b).await;
    // Both days in one lake: copy ds B's raw partition in.
    copy_prefix(&lake_b, &lake, "raw/").await;
    transform(&lake, "science_fiction", &a).await;
    transform(&lake, "science_fiction", &b).await;

    load(&lake, &url, "science_fiction", &a).await.unwrap();
    load(&lake, &url, "science_fiction", &a).await.unwrap();
    assert_eq!(counts(&url, "science_fiction", &a).await, [12, 18, 20]);
    assert_eq!(total(&url, "books").await, 12, "loading twice duplicates nothing");

    load(&lake, &url, "science_fiction", &b).await.unwrap();
    assert_eq!(counts(&url, "science_fiction", &b).await, [12, 18, 20]);
    assert_eq!(total(&url, "books").await, 24);
    assert_eq!((total(&url, "latest_books").await, total(&url, "latest_authors").await), (12, 18));
    assert_eq!(total(&url, "latest_book_authors").await, 20);
    let mut wh = Warehouse::connect(&url).await.unwrap();
    assert_eq!(wh.count("latest_books", Some(&Partition::new(subject("science_fiction"), ds(&b)))).await.unwrap(), 12);
    assert_eq!(wh.count("latest_books", Some(&Partition::new(subject("science_fiction"), ds(&a)))).await.unwrap(), 0);

    // A bad row in the last table loaded: books and authors went in, then the transaction fails.
    let bad = vec![bookpipe::records::BookAuthor {
        work_key: "OL1W".into(),
        author_key: "OL1A".into(),
        position: -1,
        listed_author_key: None,
        listed_name: None,
    }];
    replace_silver(&lake, Table::BookAuthors, "science_fiction", &b, &tables::book_authors(&bad)).await;
    let err = load(&lake, &url, "science_fiction", &b).await.unwrap_err();
    let message = format!("{err:#}").to_lowercase();
    assert!(message.contains("check") && message.contains("constraint"), "{message}");
    assert_eq!(code_for(&Err(err)), Code::Failure);
    assert_eq!(counts(&url, "science_fiction", &b).await, [12, 18, 20], "the previous slice is intact");
    assert_eq!(total(&url, "books").await, 24);
}

/// Copies every object under `prefix` from one lake to another.
async fn copy_prefix(from: &Lake, to: &Lake, prefix: &str) {
    for object in from.list(&Path::from(prefix)).await.unwrap() {
        let bytes = from.get(&object.location).await.unwrap();
        to.put(&object.location, bytes).await.unwrap();
    }
}

/// Rewrites a committed silver table with `batch`, keeping its manifest consistent.
async fn replace_silver(lake: &Lake, table: Table, subject_: &str, ds_: &str, batch: &RecordBatch) {
    let path = silver_object(table, &Partition::new(subject(subject_), ds(ds_)));
    let mut out = ParquetOut::create(lake, &path, table.schema());
    out.write(batch).await.unwrap();
    let object: Object = out.finish(batch.num_rows() as u64).await.unwrap();
    let partition = silver_partition(table, &Partition::new(subject(subject_), ds(ds_)));
    let mut committed = commit::read::<TransformDetails>(lake, &partition).await.unwrap().unwrap().manifest;
    committed.objects = vec![object];
    commit::begin(lake, &partition).await.unwrap().commit(lake, &committed).await.unwrap();
}

/// The gold rows of one table, read back from the lake's Parquet, as text (for comparison).
async fn gold_rows(lake: &Lake, table: &str, subject_: &str, ds_: &str) -> Vec<Vec<String>> {
    let partition = gold_partition(table, &Partition::new(subject(subject_), ds(ds_)));
    let committed = commit::read::<serde_json::Value>(lake, &partition).await.unwrap().expect("gold committed");
    let object = committed.manifest.objects.iter().find(|o| o.path.ends_with(".parquet")).unwrap();
    let stream = read_batches(lake, &Path::from(object.path.as_str()), object.bytes).await.unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    let mut rows = vec![];
    for batch in batches {
        for row in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|c| cell(c.as_ref(), row)).collect());
        }
    }
    rows
}

fn cell(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "null".into();
    }
    match array.data_type() {
        arrow::datatypes::DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        arrow::datatypes::DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        arrow::datatypes::DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        arrow::datatypes::DataType::Float64 => format!("{:.4}", array.as_primitive::<Float64Type>().value(row)),
        other => panic!("no gold column is {other}"),
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// The three answers for the science_fiction fixture, against numbers worked out by hand.
async fn gold_numbers(url: WarehouseUrl) -> HashMap<&'static str, Vec<Vec<String>>> {
    let d = today();
    let lake = science_fiction_lake(&d).await;
    transform(&lake, "science_fiction", &d).await;
    let err = aggregate(&lake, &url, "science_fiction", &d).await.unwrap_err();
    assert_eq!(code_for(&Err(err)), Code::MissingInput, "aggregate before load");
    load(&lake, &url, "science_fiction", &d).await.unwrap();
    assert_eq!(aggregate(&lake, &url, "science_fiction", &d).await.unwrap(), Outcome::Done);
    assert_eq!(aggregate(&lake, &url, "science_fiction", &d).await.unwrap(), Outcome::Done);

    let per_year = gold_rows(&lake, "author_books_per_year", "science_fiction", &d).await;
    assert_eq!(per_year.len(), 20);
    let wells: Vec<&Vec<String>> = per_year.iter().filter(|r| r[0] == "OL13066A").collect();
    assert_eq!(
        wells,
        [
            &row(&["OL13066A", "H. G. Wells", "1895", "1"]),
            &row(&["OL13066A", "H. G. Wells", "1897", "1"]),
            &row(&["OL13066A", "H. G. Wells", "1898", "1"])
        ]
    );
    assert!(per_year.contains(&row(&["OL7366049A", "Aldous Huxley", "1800", "1"])));
    assert!(per_year.contains(&row(&["OL15092181A", "[英]阿道司·赫胥黎", "1800", "1"])));

    let averages = gold_rows(&lake, "author_yearly_average", "science_fiction", &d).await;
    assert_eq!(averages.len(), 18);
    assert!(averages.contains(&row(&["OL13066A", "H. G. Wells", "3", "3", "1895", "1898", "3", "1.0000", "0.7500"])));
    assert!(averages.contains(&row(&["OL25342A", "Mary Shelley", "1", "1", "1818", "1818", "1", "1.0000", "1.0000"])));

    let years = gold_rows(&lake, "books_per_year", "science_fiction", &d).await;
    let expected: Vec<Vec<String>> = [
        ("1800", "1", "9"),
        ("1818", "1", "1"),
        ("1865", "1", "1"),
        ("1884", "1", "1"),
        ("1895", "1", "1"),
        ("1897", "2", "2"),
        ("1898", "1", "1"),
        ("1899", "1", "1"),
        ("1900", "1", "1"),
        ("1907", "1", "1"),
        ("1949", "1", "1"),
    ]
    .iter()
    .map(|(y, b, a)| row(&[y, b, a]))
    .collect();
    assert_eq!(years, expected);
    let csv = lake.get(&gold_csv("books_per_year", &Partition::new(subject("science_fiction"), ds(&d)))).await.unwrap();
    assert!(String::from_utf8_lossy(&csv).starts_with("year,books,authors\n1800,1,9\n1818,1,1\n"));

    // Works without a year, and an author with no dated work at all.
    let page = serde_json::json!({"work_count": 3, "works": [
        {"key": "/works/OL1W", "title": "Dated", "first_publish_year": 1990, "authors": [{"key": "/authors/OL1A", "name": "Ann"}]},
        {"key": "/works/OL2W", "title": "Undated", "authors": [{"key": "/authors/OL1A", "name": "Ann"}]},
        {"key": "/works/OL3W", "title": "Also undated", "authors": [{"key": "/authors/OL2A", "name": "Bob"}]}]});
    let server = serve_page(serde_json::to_vec(&page).unwrap(), HashMap::new());
    let fetch = crate::support::fetch_settings(&server.url(), &d, "love", &[], chrono::Utc::now());
    bookpipe::fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &fetch).await.unwrap();
    transform(&lake, "love", &d).await;
    load(&lake, &url, "love", &d).await.unwrap();
    aggregate(&lake, &url, "love", &d).await.unwrap();
    let love = gold_rows(&lake, "author_yearly_average", "love", &d).await;
    assert_eq!(
        love,
        [
            row(&["OL1A", "Ann", "2", "1", "1990", "1990", "1", "1.0000", "1.0000"]),
            row(&["OL2A", "Bob", "1", "0", "null", "null", "0", "null", "null"])
        ]
    );
    assert_eq!(gold_rows(&lake, "books_per_year", "love", &d).await, [row(&["1990", "1", "1"])]);
    let mut wh = Warehouse::connect(&url).await.unwrap();
    assert_eq!(wh.undated_books(&Partition::new(subject("love"), ds(&d))).await.unwrap(), (3, 2));

    let mut all = HashMap::new();
    for table in ["author_books_per_year", "author_yearly_average", "books_per_year"] {
        let mut rows = gold_rows(&lake, table, "science_fiction", &d).await;
        rows.extend(gold_rows(&lake, table, "love", &d).await);
        all.insert(table, rows);
    }
    all
}

#[tokio::test]
async fn duckdb_load_semantics() {
    let dir = tempfile::tempdir().unwrap();
    load_semantics(duckdb_url(&dir)).await;
}

#[tokio::test]
async fn postgres_load_semantics() {
    let pg = PgServer::start();
    load_semantics(postgres_url(&pg, "semantics")).await;
}

#[tokio::test]
async fn both_engines_give_the_hand_computed_gold_and_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let duck = gold_numbers(duckdb_url(&dir)).await;
    let pg = PgServer::start();
    let postgres = gold_numbers(postgres_url(&pg, "gold")).await;
    assert_eq!(duck, postgres);
}

#[tokio::test]
async fn redshift_refuses_a_lake_that_is_not_on_s3_before_connecting() {
    let d = today();
    let lake = science_fiction_lake(&d).await;
    let partition = Partition::new(subject("science_fiction"), ds(&d));
    let transform = TransformSettings { partition: partition.clone(), max_reject_ratio: 0.01, force: false };
    bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &transform).await.unwrap();
    // Port 9 of 127.0.0.1: nothing listens, so a connection attempt would fail differently.
    let url = "redshift://loader@127.0.0.1:9/books?iam_role=arn:aws:iam::123456789012:role/bookpipe-redshift-copy";
    let warehouse = WarehouseUrl::parse(url, None, &bookpipe::settings::PgEnv::default()).unwrap();
    let result = bookpipe::load::load(
        &lake,
        &bookpipe::lineage::Lineage::off(),
        &LoadSettings { partition, warehouse, gate: Default::default() },
    )
    .await;
    let message = format!("{:#}", result.as_ref().unwrap_err());
    assert_eq!(code_for(&result), Code::BadInput, "{message}");
    assert!(
        message.contains("--warehouse (BOOKPIPE_WAREHOUSE)") && message.contains("lake must be s3://"),
        "{message}"
    );
}
