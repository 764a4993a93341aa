//! `transform` and `export` on raw partitions fetched from the fake Open Library: the real
//! fixtures, broken records, determinism, and the CSV deliverable.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type};
use bookpipe::cli::flags;
use bookpipe::exit::{Code, Outcome, code_for};
use bookpipe::lake::Lake;
use bookpipe::lake::commit::{self, Manifest};
use bookpipe::lake::layout::{silver_object, silver_partition};
use bookpipe::settings::Partition;
use bookpipe::settings::{Ds, ExportSettings, LakeUrl, Subject, TransformSettings};
use bookpipe::silver::TransformDetails;
use bookpipe::tables::Table;
use bookpipe::transform;
use chrono::Utc;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::support::openlibrary::World;
use crate::support::{fetch_settings, science_fiction_lake, serve_page, today};

const ROWLING: &str = include_str!("../fixtures/author_OL23919A__2021-10.json");
const PAULSEN: &str = include_str!("../fixtures/author_OL4452558A__2021-09.json");
const RAUTROY: &str = include_str!("../fixtures/author_OL1A__2013.json");

fn settings(subject: &str, ds: &str, max_reject_ratio: f64, force: bool) -> TransformSettings {
    TransformSettings {
        partition: Partition::new(Subject::parse(flags::SUBJECT, subject).unwrap(), Ds::parse(flags::DS, ds).unwrap()),
        max_reject_ratio,
        force,
    }
}

async fn read_table(lake: &Lake, table: Table, subject: &str, ds: &str) -> RecordBatch {
    let partition = silver_partition(
        table,
        &Partition::new(Subject::parse(flags::SUBJECT, subject).unwrap(), Ds::parse(flags::DS, ds).unwrap()),
    );
    let committed = commit::read::<TransformDetails>(lake, &partition).await.unwrap().expect("committed");
    let object = &committed.manifest.objects[0];
    let stream =
        bookpipe::lake::parquet::read_batches(lake, &Path::from(object.path.as_str()), object.bytes).await.unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(), object.rows.unwrap());
    concat_batches(&table.schema(), &batches).unwrap()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    (0..array.len()).map(|i| array.is_valid(i).then(|| array.value(i).to_string())).collect()
}

fn string(batch: &RecordBatch, column: &str) -> Vec<String> {
    strings(batch, column).into_iter().map(Option::unwrap).collect()
}

async fn silver_manifest(lake: &Lake, table: Table, subject: &str, ds: &str) -> Option<Manifest<TransformDetails>> {
    let partition = silver_partition(
        table,
        &Partition::new(Subject::parse(flags::SUBJECT, subject).unwrap(), Ds::parse(flags::DS, ds).unwrap()),
    );
    commit::read(lake, &partition).await.unwrap().map(|c| c.manifest)
}

#[tokio::test]
async fn the_science_fiction_fixture_gives_its_books_links_and_authors() {
    let ds = today();
    let lake = science_fiction_lake(&ds).await;
    assert_eq!(
        transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("science_fiction", &ds, 0.01, false))
            .await
            .unwrap(),
        Outcome::Done
    );

    let books = read_table(&lake, Table::Books, "science_fiction", &ds).await;
    // Sorted by key (as text).
    assert_eq!(
        string(&books, "work_key"),
        [
            "OL1168083W",
            "OL118388W",
            "OL138052W",
            "OL18417W",
            "OL262460W",
            "OL450063W",
            "OL52114W",
            "OL52266W",
            "OL52267W",
            "OL64365W",
            "OL74502W",
            "OL85892W"
        ]
    );
    let titles: HashMap<String, (String, i16)> = string(&books, "work_key")
        .into_iter()
        .zip(string(&books, "title"))
        .zip(books.column_by_name("first_publish_year").unwrap().as_primitive::<Int16Type>().values().iter())
        .map(|((key, title), year)| (key, (title, *year)))
        .collect();
    assert_eq!(titles["OL64365W"], ("Brave New World".to_string(), 1800));
    assert_eq!(titles["OL138052W"], ("Alice's Adventures in Wonderland".to_string(), 1865));
    assert_eq!(titles["OL1168083W"], ("Nineteen Eighty-Four".to_string(), 1949));
    assert_eq!(titles["OL52266W"], ("The Invisible Man".to_string(), 1897));
    assert_eq!(books.column_by_name("first_publish_year").unwrap().null_count(), 0);

    let links = read_table(&lake, Table::BookAuthors, "science_fiction", &ds).await;
    assert_eq!(links.num_rows(), 20);
    let positions = links.column_by_name("position").unwrap().as_primitive::<Int32Type>();
    let brave: Vec<(String, i32)> = string(&links, "work_key")
        .into_iter()
        .zip(string(&links, "author_key"))
        .zip(positions.values().iter())
        .filter(|((work, _), _)| work == "OL64365W")
        .map(|((_, author), position)| (author, *position))
        .collect();
    let expected = [
        "OL19767A",
        "OL3127898A",
        "OL7366049A",
        "OL7232070A",
        "OL3647036A",
        "OL14449831A",
        "OL13750402A",
        "OL8261782A",
        "OL15092181A",
    ];
    assert_eq!(brave, expected.iter().enumerate().map(|(i, k)| (k.to_string(), i as i32)).collect::<Vec<_>>());

    let authors = read_table(&lake, Table::Authors, "science_fiction", &ds).await;
    assert_eq!(authors.num_rows(), 18);
    let names: Vec<(String, Option<String>)> =
        string(&authors, "author_key").into_iter().zip(strings(&authors, "name")).collect();
    let huxleys: Vec<&str> =
        names.iter().filter(|(_, n)| n.as_deref() == Some("Aldous Huxley")).map(|(k, _)| k.as_str()).collect();
    assert_eq!(huxleys, ["OL19767A", "OL7366049A"]);
    // The 404 author keeps the page's name, marked as not from a record.
    let from_record = authors.column_by_name("from_record").unwrap().as_boolean();
    let missing = names.iter().position(|(k, _)| k == "OL15092181A").unwrap();
    assert_eq!(names[missing].1.as_deref(), Some("[英]阿道司·赫胥黎"));
    assert!(!from_record.value(missing));
    assert_eq!(from_record.true_count(), 17);

    let m = silver_manifest(&lake, Table::Books, "science_fiction", &ds).await.unwrap();
    assert_eq!((m.details.books, m.details.authors, m.details.book_authors, m.details.rejects), (12, 18, 20, 0));
    assert_eq!(m.inputs.len(), 1);
    assert_eq!(
        m.inputs[0].manifest,
        format!("raw/openlibrary/subjects/subject=science_fiction/ds={ds}/_manifest.json")
    );
    assert_eq!(m.objects[0].rows, Some(12));
}

#[tokio::test]
async fn the_real_author_records_become_author_rows() {
    let page = serde_json::json!({"work_count": 1, "works": [{"key": "/works/OL1W", "title": "T", "authors": [
        {"key": "/authors/OL23919A", "name": "J. K. Rowling"}, {"key": "/authors/OL4452558A", "name": "Gary Paulsen"},
        {"key": "/authors/OL1A", "name": "Sachi Rautroy"}]}]});
    let authors: HashMap<String, String> =
        [("OL23919A", ROWLING), ("OL4452558A", PAULSEN), ("OL1A", RAUTROY)].map(|(k, v)| (k.into(), v.into())).into();
    let server = serve_page(serde_json::to_vec(&page).unwrap(), authors);
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    let ds = today();
    crate::support::fetch_love(&lake, &server.url(), &ds, &[]).await.unwrap();
    transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.01, false)).await.unwrap();

    let authors = read_table(&lake, Table::Authors, "love", &ds).await;
    assert_eq!(string(&authors, "author_key"), ["OL1A", "OL23919A", "OL4452558A"]);
    assert_eq!(
        strings(&authors, "name"),
        [Some("Sachi Rautroy".into()), Some("J. K. Rowling".into()), Some("Gary Paulsen".into())]
    );
    assert_eq!(
        strings(&authors, "birth_date"),
        [Some("1916".into()), Some("31 July 1965".into()), Some("1939".into())]
    );
    assert_eq!(strings(&authors, "death_date"), [Some("2004".into()), None, None]);
    let years = |c: &str| -> Vec<Option<i16>> {
        let a = authors.column_by_name(c).unwrap().as_primitive::<Int16Type>();
        (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
    };
    assert_eq!(years("birth_year"), [Some(1916), Some(1965), Some(1939)]);
    assert_eq!(years("death_year"), [Some(2004), None, None]);
    let bios = strings(&authors, "bio");
    assert_eq!((bios[0].as_deref(), bios[2].as_deref()), (None, None));
    assert!(bios[1].as_deref().unwrap().contains("best known as the creator of the Harry Potter fantasy series"));
    assert_eq!(strings(&authors, "wikidata"), [None, Some("Q34660".into()), Some("Q718463".into())]);
}

const BROKEN_PAGE: &str = r#"{"work_count": 7, "works": [
    {"key": "/works/OL1W", "title": "Good", "first_publish_year": 1999, "authors": [{"key": "/authors/OL1A", "name": "A"}]},
    {"title": "No key"},
    {"key": "/books/OL2M", "title": "Bad key"},
    {"key": "/works/OL3W"},
    {"key": "/works/OL4W", "title": 12},
    {"key": "/works/OL5W", "title": "Soft", "first_publish_year": "soon", "authors": [{"key": "/authors/OL1A"}]},
    {"key": "/works/OL1W", "title": "Good again", "authors": [{"key": "/authors/OL9A", "name": "Z"}]}
]}"#;

async fn broken_lake(ds: &str) -> Lake {
    let record = World::author("OL1A");
    let server =
        serve_page(BROKEN_PAGE.as_bytes().to_vec(), [("OL1A".to_string(), String::from_utf8(record).unwrap())].into());
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    // The page repeats a work (7 records, 6 works): within this tolerance of the shortfall check.
    let settings = fetch_settings(&server.url(), ds, "love", &["--max-missing-ratio", "0.2"], Utc::now());
    bookpipe::fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
    lake
}

#[tokio::test]
async fn broken_records_go_to_rejects_and_the_good_rows_stay() {
    let ds = today();
    let lake = broken_lake(&ds).await;
    transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.9, false)).await.unwrap();

    let books = read_table(&lake, Table::Books, "love", &ds).await;
    assert_eq!(string(&books, "work_key"), ["OL1W", "OL5W"]);
    // The first OL1W wins; its duplicate and the duplicate's links are dropped.
    assert_eq!(string(&books, "title"), ["Good", "Soft"]);
    let links = read_table(&lake, Table::BookAuthors, "love", &ds).await;
    assert_eq!(string(&links, "author_key"), ["OL1A", "OL1A"]);

    let rejects = read_table(&lake, Table::Rejects, "love", &ds).await;
    let positions = rejects.column_by_name("position").unwrap().as_primitive::<Int32Type>();
    let rows: Vec<(i32, String)> = positions.values().iter().copied().zip(string(&rejects, "reason")).collect();
    assert_eq!(
        rows,
        [
            (1, "no key".to_string()),
            (2, "key \"/books/OL2M\" is not a work key (/works/OL…W)".to_string()),
            (3, "no title".to_string()),
            (4, "title must be a string, found a number".to_string())
        ]
    );
    assert!(string(&rejects, "source").iter().all(|s| s.ends_with("/page-00000.json")));
    assert_eq!(string(&rejects, "record")[0], r#"{"title":"No key"}"#);

    let d = silver_manifest(&lake, Table::Rejects, "love", &ds).await.unwrap().details;
    assert_eq!((d.works_seen, d.duplicate_works, d.books, d.rejects, d.author_records), (7, 1, 2, 4, 1));
    assert_eq!(d.issues.get("bad_first_publish_year"), Some(&1));
    assert_eq!(d.issues.get("missing_first_publish_year"), Some(&1));
    assert!((d.reject_ratio - 0.5).abs() < 1e-9, "{}", d.reject_ratio);
}

#[tokio::test]
async fn above_the_reject_ratio_nothing_becomes_visible() {
    let ds = today();
    let lake = broken_lake(&ds).await;
    let err = transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.01, false))
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("4 of 8 records rejected") && message.contains("--max-reject-ratio 0.01"), "{message}");
    assert_eq!(code_for(&Err(err)), Code::Failure);
    for table in Table::ALL {
        assert!(silver_manifest(&lake, table, "love", &ds).await.is_none(), "{}", table.name());
        let object = silver_object(
            table,
            &Partition::new(Subject::parse(flags::SUBJECT, "love").unwrap(), Ds::parse(flags::DS, &ds).unwrap()),
        );
        assert!(lake.get_opt(&object).await.unwrap().is_none(), "no data file for {}", table.name());
    }
}

#[tokio::test]
async fn twice_is_byte_identical_and_a_changed_raw_partition_overwrites_cleanly() {
    let ds = today();
    let server = World::generated("love", 2500, 300).serve();
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    crate::support::fetch_love(&lake, &server.url(), &ds, &[]).await.unwrap();
    transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.01, false)).await.unwrap();
    let first = snapshot(&lake, "love", &ds).await;
    assert_eq!(
        transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.01, false))
            .await
            .unwrap(),
        Outcome::NothingToDo
    );
    transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.01, true)).await.unwrap();
    let second = snapshot(&lake, "love", &ds).await;
    assert_eq!(first, second);
    let books = silver_manifest(&lake, Table::Books, "love", &ds).await.unwrap();
    assert_eq!(books.objects[0].sha256, commit::sha256_hex(&first[0]));
    assert_eq!(books.details.books, 2500);

    // The raw partition is fetched again with other data: transform redoes the partition.
    let server = World::generated("love", 900, 50).serve();
    crate::support::fetch_love(&lake, &server.url(), &ds, &["--force"]).await.unwrap();
    assert_eq!(
        transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.01, false))
            .await
            .unwrap(),
        Outcome::Done
    );
    let books = read_table(&lake, Table::Books, "love", &ds).await;
    assert_eq!(books.num_rows(), 900);
    assert_eq!(read_table(&lake, Table::Authors, "love", &ds).await.num_rows(), 50);
}

async fn snapshot(lake: &Lake, subject: &str, ds: &str) -> Vec<bytes::Bytes> {
    let mut files = vec![];
    for table in Table::ALL {
        let object = silver_object(
            table,
            &Partition::new(Subject::parse(flags::SUBJECT, subject).unwrap(), Ds::parse(flags::DS, ds).unwrap()),
        );
        files.push(lake.get(&object).await.unwrap());
    }
    files
}

#[tokio::test]
async fn the_schema_column_by_column_and_the_csv_round_trip() {
    let ds = today();
    let lake = science_fiction_lake(&ds).await;
    transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("science_fiction", &ds, 0.01, false))
        .await
        .unwrap();

    let books = read_table(&lake, Table::Books, "science_fiction", &ds).await;
    let columns: Vec<(String, DataType, bool)> =
        books.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable())).collect();
    let expected = [
        ("work_key", DataType::Utf8, false),
        ("title", DataType::Utf8, false),
        ("first_publish_year", DataType::Int16, true),
        ("edition_count", DataType::Int32, true),
        ("cover_id", DataType::Int64, true),
        ("has_fulltext", DataType::Boolean, true),
        ("public_scan", DataType::Boolean, true),
    ];
    assert_eq!(columns, expected.map(|(n, t, nullable)| (n.to_string(), t, nullable)));
    let covers = books.column_by_name("cover_id").unwrap().as_primitive::<Int64Type>();
    assert_eq!(covers.value(string(&books, "work_key").iter().position(|k| k == "OL52114W").unwrap()), 36314);
    for table in [Table::Authors, Table::BookAuthors, Table::Rejects] {
        let batch = read_table(&lake, table, "science_fiction", &ds).await;
        assert_eq!(batch.schema(), table.schema(), "{}", table.name());
    }

    let out = tempfile::tempdir().unwrap();
    let export = ExportSettings {
        partition: Partition::new(
            Subject::parse(flags::SUBJECT, "science_fiction").unwrap(),
            Ds::parse(flags::DS, &ds).unwrap(),
        ),
        format: bookpipe::cli::ExportFormat::Csv,
        out: out.path().to_path_buf(),
    };
    bookpipe::export::export(&lake, &bookpipe::lineage::Lineage::off(), &export).await.unwrap();
    for table in bookpipe::export::EXPORTED {
        let file = std::fs::File::open(out.path().join(format!("{}.csv", table.name()))).unwrap();
        let reader = arrow::csv::ReaderBuilder::new(table.schema()).with_header(true).build(file).unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let from_csv = concat_batches(&table.schema(), &batches).unwrap();
        assert_eq!(from_csv, read_table(&lake, table, "science_fiction", &ds).await, "{}", table.name());
    }
    let text = std::fs::read_to_string(out.path().join("books.csv")).unwrap();
    assert!(text.starts_with("work_key,title,first_publish_year,edition_count,cover_id,has_fulltext,public_scan\n"));
    assert!(text.contains("OL138052W,Alice's Adventures in Wonderland,1865,3546,10527843,true,true\n"), "{text}");
    let authors = std::fs::read_to_string(out.path().join("authors.csv")).unwrap();
    assert!(authors.contains("\"Huxley, Aldous\""), "a comma in a name is quoted");
}

#[tokio::test]
async fn a_missing_raw_partition_says_to_run_fetch_first() {
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    let err =
        transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", "2024-05-01", 0.01, false))
            .await
            .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("run `bookpipe fetch --ds 2024-05-01 --subject love` first"), "{message}");
    assert_eq!(code_for(&Err(err)), Code::MissingInput);
}

#[tokio::test]
async fn a_raw_page_changed_after_fetch_is_refused_by_its_checksum() {
    let ds = today();
    let lake = broken_lake(&ds).await;
    let page = bookpipe::lake::layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, "love").unwrap(),
        Ds::parse(flags::DS, &ds).unwrap(),
    ))
    .join("page-00000.json");
    lake.put(&page, bytes::Bytes::from_static(br#"{"works": []}"#)).await.unwrap();
    let err = transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings("love", &ds, 0.9, false))
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("page-00000.json: checksum") && message.contains("the raw zone changed"), "{message}");
    assert_eq!(code_for(&Err(err)), Code::Failure);
    assert!(silver_manifest(&lake, Table::Books, "love", &ds).await.is_none());
}
