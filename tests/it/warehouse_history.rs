//! Upgrading a warehouse keeps every row: a version 1 warehouse (the schema and data an older
//! bookpipe wrote) is migrated to the current version on both engines, and every table compared.
//! On PostgreSQL the slice tables end partitioned by ds, with a partition for every day they held.

use bookpipe::cli::flags;
use bookpipe::settings::Partition;
use bookpipe::settings::{PgEnv, WarehouseUrl};
use bookpipe::warehouse::Warehouse;

use crate::support::postgres::PgServer;

const V1: &str = include_str!("../../sql/migrations/0001_tables.sql");

/// Rows an older bookpipe left: two subjects, three days, every table.
const ROWS: &str = "
INSERT INTO books VALUES
  ('love', DATE '2026-01-01', 'OL1W', 'One', 1999, 3, 10, true, false),
  ('love', DATE '2026-01-02', 'OL1W', 'One', 1999, 3, 10, true, false),
  ('love', DATE '2026-01-02', 'OL2W', 'Two, with a comma', NULL, NULL, NULL, NULL, NULL),
  ('fantasy', DATE '2026-01-03', 'OL3W', 'Three', 2001, 1, NULL, false, true);
INSERT INTO authors VALUES
  ('love', DATE '2026-01-01', 'OL1A', 'Ann', '1 July 1950', NULL, 1950, NULL, 'bio', 'Q1', NULL, NULL, true),
  ('love', DATE '2026-01-02', 'OL1A', 'Ann', '1 July 1950', NULL, 1950, NULL, 'bio', 'Q1', NULL, NULL, true),
  ('fantasy', DATE '2026-01-03', 'OL2A', 'Bob', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false);
INSERT INTO book_authors VALUES
  ('love', DATE '2026-01-01', 'OL1W', 'OL1A', 0),
  ('love', DATE '2026-01-02', 'OL1W', 'OL1A', 0),
  ('love', DATE '2026-01-02', 'OL2W', 'OL1A', 0),
  ('fantasy', DATE '2026-01-03', 'OL3W', 'OL2A', 0);
INSERT INTO loads VALUES
  ('love', DATE '2026-01-01', 1, 1, 1, TIMESTAMP '2026-01-01 06:00:00'),
  ('love', DATE '2026-01-02', 2, 1, 2, TIMESTAMP '2026-01-02 06:00:00'),
  ('fantasy', DATE '2026-01-03', 1, 1, 1, TIMESTAMP '2026-01-03 06:00:00');
INSERT INTO author_books_per_year VALUES ('love', DATE '2026-01-02', 'OL1A', 'Ann', 1999, 1);
INSERT INTO author_yearly_average VALUES
  ('love', DATE '2026-01-02', 'OL1A', 'Ann', 2, 1, 1999, 1999, 1, 1.0, 1.0);
INSERT INTO books_per_year VALUES ('love', DATE '2026-01-02', 1999, 1, 1);
CREATE TABLE bookpipe_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL);
INSERT INTO bookpipe_migrations VALUES (1, 'tables', TIMESTAMP '2026-01-01 06:00:00');
";

/// Every table's rows as text, in a fixed order, over the version 1 columns.
const TABLES: [(&str, &str); 7] = [
    ("books", "subject, ds, work_key, title, first_publish_year, edition_count, cover_id, has_fulltext, public_scan"),
    (
        "authors",
        "subject, ds, author_key, name, birth_date, death_date, birth_year, death_year, bio, wikidata, viaf, isni, from_record",
    ),
    ("book_authors", "subject, ds, work_key, author_key, position"),
    ("loads", "subject, ds, books, authors, book_authors, loaded_at"),
    ("author_books_per_year", "subject, ds, author_key, author_name, year, books"),
    ("author_yearly_average", "subject, ds, author_key, total_books, dated_books, avg_books_per_active_year"),
    ("books_per_year", "subject, ds, year, books, authors"),
];

fn select(table: &str, columns: &str) -> String {
    let text: Vec<String> = columns.split(", ").map(|c| format!("coalesce(CAST({c} AS VARCHAR), 'null')")).collect();
    format!("SELECT {} FROM {table} ORDER BY {columns}", text.join(" || '|' || "))
}

fn duckdb_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let db = duckdb::Connection::open(path).unwrap();
    TABLES
        .iter()
        .map(|(table, columns)| {
            let mut statement = db.prepare(&select(table, columns)).unwrap();
            statement.query_map([], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
        })
        .collect()
}

async fn postgres_rows(client: &tokio_postgres::Client) -> Vec<Vec<String>> {
    let mut out = vec![];
    for (table, columns) in TABLES {
        let rows = client.query(&select(table, columns), &[]).await.unwrap();
        out.push(rows.iter().map(|row| row.get::<_, String>(0)).collect());
    }
    out
}

#[tokio::test]
async fn a_version_1_duckdb_warehouse_is_upgraded_without_losing_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.duckdb");
    duckdb::Connection::open(&path).unwrap().execute_batch(&format!("{V1}{ROWS}")).unwrap();
    let before = duckdb_rows(&path);
    assert_eq!(before[0].len(), 4);
    let url = WarehouseUrl::parse(&format!("duckdb:{}", path.display()), None, &PgEnv::default()).unwrap();
    let applied = Warehouse::connect(&url).await.unwrap().migrate().await.unwrap();
    assert_eq!(applied, [2, 3]);
    assert_eq!(duckdb_rows(&path), before);
}

#[tokio::test]
async fn a_version_1_postgres_warehouse_is_partitioned_without_losing_a_row() {
    let pg = PgServer::start();
    let url = pg.database("old");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("{V1}{ROWS}")).await.unwrap();
    client.batch_execute("CREATE ROLE analyst; GRANT SELECT ON books, latest_books TO analyst").await.unwrap();
    let before = postgres_rows(&client).await;
    assert_eq!(before[0].len(), 4);

    let warehouse = WarehouseUrl::parse(&url, None, &PgEnv::default()).unwrap();
    let applied = Warehouse::connect(&warehouse).await.unwrap().migrate().await.unwrap();
    assert_eq!(applied, [2, 3]);
    assert_eq!(postgres_rows(&client).await, before);
    // The slice tables are partitioned by ds, a partition for each day they held.
    let partitions: Vec<String> = client
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('books', 'authors', 'book_authors') \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let days = ["20260101", "20260102", "20260103"];
    let expected: Vec<String> =
        ["authors", "book_authors", "books"].iter().flat_map(|t| days.map(|d| format!("{t}_d{d}"))).collect();
    assert_eq!(partitions, expected);
    // The views follow the new tables: each subject's newest day.
    let latest: i64 = client.query_one("SELECT count(*) FROM latest_books", &[]).await.unwrap().get(0);
    assert_eq!(latest, 3);
    // What was granted on the old table and view is granted on their successors.
    let granted: (bool, bool, bool) = {
        let row = client
            .query_one(
                "SELECT has_table_privilege('analyst', 'books', 'SELECT'), \
                 has_table_privilege('analyst', 'latest_books', 'SELECT'), \
                 has_table_privilege('analyst', 'authors', 'SELECT')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!(granted, (true, true, false));
    // A new day's partition is attached by the next load, beside the old ones.
    let today = crate::support::today();
    let lake = crate::support::science_fiction_lake(&today).await;
    let (subject, ds) = (
        bookpipe::settings::Subject::parse(flags::SUBJECT, "science_fiction").unwrap(),
        bookpipe::settings::Ds::parse(flags::DS, &today).unwrap(),
    );
    let transform = bookpipe::settings::TransformSettings {
        partition: Partition::new(subject.clone(), ds),
        max_reject_ratio: 0.01,
        force: false,
    };
    bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &transform).await.unwrap();
    let load = bookpipe::settings::LoadSettings {
        partition: Partition::new(subject, ds),
        warehouse,
        gate: Default::default(),
    };
    bookpipe::load::load(&lake, &bookpipe::lineage::Lineage::off(), &load).await.unwrap();
    let partition = format!("SELECT count(*) FROM books_d{}", today.replace('-', ""));
    let in_partition: i64 = client.query_one(&partition, &[]).await.unwrap().get(0);
    assert_eq!(in_partition, 12);
}

#[tokio::test]
async fn silver_of_an_older_layout_is_rebuilt_by_transform_and_refused_by_load() {
    use bookpipe::exit::{Code, Outcome, code_for};
    use bookpipe::settings::{Ds, LoadSettings, Subject, TransformSettings};
    use bookpipe::tables::Table;

    let ds_text = crate::support::today();
    let lake = crate::support::science_fiction_lake(&ds_text).await;
    let (subject, ds) =
        (Subject::parse(flags::SUBJECT, "science_fiction").unwrap(), Ds::parse(flags::DS, &ds_text).unwrap());
    let transform =
        TransformSettings { partition: Partition::new(subject.clone(), ds), max_reject_ratio: 0.01, force: false };
    assert_eq!(
        bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &transform).await.unwrap(),
        Outcome::Done
    );
    // As the first layout wrote them: no `layout` in the manifests.
    for table in Table::ALL {
        let path = bookpipe::lake::commit::manifest_path(&bookpipe::lake::layout::silver_partition(
            table,
            &Partition::new(subject.clone(), ds),
        ));
        let mut manifest: serde_json::Value = serde_json::from_slice(&lake.get(&path).await.unwrap()).unwrap();
        manifest["details"].as_object_mut().unwrap().remove("layout").unwrap();
        lake.put(&path, serde_json::to_vec(&manifest).unwrap().into()).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let warehouse =
        WarehouseUrl::parse(&format!("duckdb:{}", dir.path().join("w.duckdb").display()), None, &Default::default())
            .unwrap();
    let load = LoadSettings { partition: Partition::new(subject.clone(), ds), warehouse, gate: Default::default() };
    let refused = bookpipe::load::load(&lake, &bookpipe::lineage::Lineage::off(), &load).await.unwrap_err();
    assert!(format!("{refused:#}").contains("older bookpipe"), "{refused:#}");
    assert_eq!(code_for(&Err(refused)), Code::MissingInput);
    // transform sees the partition is not current and rebuilds it; then it loads.
    assert_eq!(
        bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &transform).await.unwrap(),
        Outcome::Done
    );
    assert_eq!(bookpipe::load::load(&lake, &bookpipe::lineage::Lineage::off(), &load).await.unwrap(), Outcome::Done);
}
