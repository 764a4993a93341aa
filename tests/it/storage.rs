//! One storage suite, run unchanged against every backend: memory, a local folder, and a real S3 API
//! server (moto). Then the whole chain with the lake on S3, and a run whose logs must not contain
//! any of the secrets it was given.

use std::collections::HashMap;

use bookpipe::cli::flags;
use bookpipe::exit::Outcome;
use bookpipe::lake::commit::{self, Manifest};
use bookpipe::lake::parquet::{ParquetOut, read_batches};
use bookpipe::lake::{Lake, layout};
use bookpipe::settings::Partition;
use bookpipe::settings::{Ds, LakeUrl, Subject, TransformSettings};
use bookpipe::tables::{self, Table};
use bytes::Bytes;
use chrono::Utc;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::support::openlibrary::World;
use crate::support::s3::{ACCESS_KEY, Moto, SECRET_KEY};
use crate::support::{fetch_settings, today};

/// What every backend must do the same way.
async fn suite(lake: Lake) {
    // Objects: round trip, absence, sorted listing limited to the prefix, idempotent delete.
    let a = Path::from("suite/b/two.json");
    lake.put(&a, Bytes::from_static(b"{\"n\": 2}")).await.unwrap();
    lake.put(&Path::from("suite/a/one.json"), Bytes::from_static(b"1")).await.unwrap();
    lake.put(&Path::from("suite-other/x"), Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(lake.get(&a).await.unwrap().as_ref(), b"{\"n\": 2}");
    assert!(lake.get_opt(&Path::from("suite/missing")).await.unwrap().is_none());
    let listed: Vec<String> =
        lake.list(&Path::from("suite")).await.unwrap().iter().map(|o| o.location.to_string()).collect();
    assert_eq!(listed, ["suite/a/one.json", "suite/b/two.json"]);
    lake.put(&a, Bytes::from_static(b"replaced")).await.unwrap();
    assert_eq!(lake.get(&a).await.unwrap().as_ref(), b"replaced");
    lake.delete(&a).await.unwrap();
    lake.delete(&a).await.unwrap();
    assert!(lake.get_opt(&a).await.unwrap().is_none());

    // The commit protocol: begin (the manifest goes), commit (it is written last), read back with
    // its checksum, begin again (un-committed).
    let partition = Path::from("suite/partition");
    let target =
        Partition::new(Subject::parse(flags::SUBJECT, "love").unwrap(), Ds::parse(flags::DS, "2024-05-01").unwrap());
    let m = Manifest::new("suite", &target, Utc::now(), vec![], vec![], serde_json::json!({"k": 1}));
    let sha = commit::begin(&lake, &partition).await.unwrap().commit(&lake, &m).await.unwrap();
    let read = commit::read::<serde_json::Value>(&lake, &partition).await.unwrap().unwrap();
    assert_eq!((read.manifest, read.sha256), (m, sha));
    let redo = commit::begin(&lake, &partition).await.unwrap();
    assert!(commit::read::<serde_json::Value>(&lake, &partition).await.unwrap().is_none());
    drop(redo);

    // Parquet streamed out and back, checksum included (one part: S3's multipart path has its own
    // test, multipart.rs).
    let rows: Vec<bookpipe::records::BookAuthor> = (0..60_000i32)
        .map(|i| bookpipe::records::BookAuthor {
            work_key: format!("OL{i}W"),
            author_key: format!("OL{}A", i % 997),
            position: i % 3,
            listed_author_key: None,
            listed_name: None,
        })
        .collect();
    let batch = tables::book_authors(&rows);
    let path = Path::from("suite/parquet/part-00000.parquet");
    let mut out = ParquetOut::create(&lake, &path, Table::BookAuthors.schema());
    out.write(&batch).await.unwrap();
    let object = out.finish(60_000).await.unwrap();
    assert_eq!(object.sha256, commit::sha256_hex(&lake.get(&path).await.unwrap()));
    let back: Vec<_> = read_batches(&lake, &path, object.bytes).await.unwrap().try_collect().await.unwrap();
    assert_eq!(arrow::compute::concat_batches(&Table::BookAuthors.schema(), &back).unwrap(), batch);

    // Resume: two pages already stored, no manifest: fetch asks only for the third.
    let world = World::generated("love", 2500, 30);
    let ds = today();
    let raw = layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, "love").unwrap(),
        Ds::parse(flags::DS, &ds).unwrap(),
    ));
    lake.put(&raw.clone().join("page-00000.json"), Bytes::from(world.page(1000, 0))).await.unwrap();
    lake.put(&raw.clone().join("page-00001.json"), Bytes::from(world.page(1000, 1000))).await.unwrap();
    let server = world.serve();
    crate::support::fetch_love(&lake, &server.url(), &ds, &[]).await.unwrap();
    let pages: Vec<String> = server.targets().into_iter().filter(|t| t.starts_with("/subjects/")).collect();
    assert_eq!(pages, ["/subjects/love.json?limit=1000&offset=2000&sort=key"]);
    let settings = TransformSettings {
        partition: Partition::new(Subject::parse(flags::SUBJECT, "love").unwrap(), Ds::parse(flags::DS, &ds).unwrap()),
        max_reject_ratio: 0.01,
        force: false,
    };
    assert_eq!(
        bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(),
        Outcome::Done
    );
    assert_eq!(
        bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(),
        Outcome::NothingToDo
    );
}

#[tokio::test]
async fn storage_suite_on_memory() {
    suite(Lake::open(&LakeUrl::Memory).unwrap()).await;
}

#[tokio::test]
async fn storage_suite_on_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    suite(Lake::open(&LakeUrl::Local(dir.path().join("lake"))).unwrap()).await;
}

#[tokio::test]
async fn storage_suite_on_an_s3_api_server() {
    let moto = Moto::start();
    moto.bucket("bookpipe-lake");
    suite(moto.lake("bookpipe-lake", "tests/suite")).await;
}

#[tokio::test]
async fn the_whole_chain_with_the_lake_on_s3_gives_the_same_silver_bytes() {
    let moto = Moto::start();
    moto.bucket("chain");
    let s3 = moto.lake("chain", "prod");
    let memory = Lake::open(&LakeUrl::Memory).unwrap();
    let server = World::generated("love", 1500, 80).serve();
    let ds = today();
    let dir = tempfile::tempdir().unwrap();
    let mut silver = HashMap::new();
    for (name, lake) in [("s3", &s3), ("memory", &memory)] {
        let url = bookpipe::settings::WarehouseUrl::parse(
            &format!("duckdb:{}/{name}.duckdb", dir.path().display()),
            None,
            &bookpipe::settings::PgEnv::default(),
        )
        .unwrap();
        let partition =
            Partition::new(Subject::parse(flags::SUBJECT, "love").unwrap(), Ds::parse(flags::DS, &ds).unwrap());
        let settings = bookpipe::settings::RunSettings {
            subjects: vec![bookpipe::settings::SubjectRun {
                fetch: fetch_settings(&server.url(), &ds, "love", &[], Utc::now()),
                transform: TransformSettings { partition: partition.clone(), max_reject_ratio: 0.01, force: false },
                load: bookpipe::settings::LoadSettings {
                    partition: partition.clone(),
                    warehouse: url.clone(),
                    gate: Default::default(),
                },
                aggregate: bookpipe::settings::AggregateSettings {
                    partition: partition.clone(),
                    warehouse: url.clone(),
                    output: bookpipe::cli::OutputFormat::Auto,
                },
                report: bookpipe::settings::ReportSettings { partition: partition.clone(), warehouse: url.clone() },
            }],
        };
        assert_eq!(
            bookpipe::commands::run_chain(lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(),
            Outcome::Done
        );
        let object = bookpipe::lake::layout::silver_object(Table::Books, &partition);
        silver.insert(name, lake.get(&object).await.unwrap());
        let gold = bookpipe::lake::layout::gold_partition("books_per_year", &partition);
        assert!(lake.get_opt(&gold.join("_manifest.json")).await.unwrap().is_some(), "{name}: gold committed");
        // The table folder holds the Parquet and its manifest only; the CSV copy is an export.
        let folder = bookpipe::lake::layout::gold_partition("books_per_year", &partition);
        let listed: Vec<String> = lake.list(&folder).await.unwrap().iter().map(|o| o.location.to_string()).collect();
        assert_eq!(listed, [format!("{folder}/_manifest.json"), format!("{folder}/part-00000.parquet")], "{name}");
        let csv = bookpipe::lake::layout::gold_csv_partition("books_per_year", &partition);
        assert!(lake.get_opt(&csv.join("_manifest.json")).await.unwrap().is_some(), "{name}: CSV export committed");
    }
    assert_eq!(silver["s3"], silver["memory"], "the same silver bytes on S3 and in memory");
}

#[test]
fn no_secret_reaches_the_logs() {
    let moto = Moto::start();
    moto.bucket("secrets");
    let server = World::generated("love", 30, 5).serve();
    let session_token = "FakeSessionTokenBookpipe//0001==";
    let pg_password = "PgFakePassw0rd-Bookpipe";
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("pgpass");
    std::fs::write(&password_file, "FilePassw0rd-Bookpipe\n").unwrap();
    let run = |warehouse: &str, extra: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bookpipe"));
        command.args(["run", "--subject", "love", "--rate", "200", "--api-url", &server.url()]);
        command.args(["--lake", "s3://secrets/prod", "--warehouse", warehouse]);
        command.env("AWS_ACCESS_KEY_ID", ACCESS_KEY).env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        command.env("AWS_SESSION_TOKEN", session_token).env("AWS_ENDPOINT_URL", moto.endpoint());
        command.env("AWS_REGION", "us-east-1").env("BOOKPIPE_LOG", "trace");
        command.env("PGPASSWORD", "EnvPassw0rd-Bookpipe");
        for (k, v) in extra {
            command.env(k, v);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    // Postgres on a closed port: fetch and transform on S3 succeed, load fails naming the server.
    let (code, text) = run(&format!("postgres://etl:{pg_password}@127.0.0.1:9/books"), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("silver partition committed"), "fetch and transform ran on S3: {text}");
    assert!(text.contains("postgres://etl:***@127.0.0.1:9/books"), "{text}");
    let (code, more) = run(
        "postgres://etl@127.0.0.1:9/books",
        &[("BOOKPIPE_WAREHOUSE_PASSWORD_FILE", password_file.to_str().unwrap())],
    );
    assert_eq!(code, Some(1), "{more}");
    for secret in [ACCESS_KEY, SECRET_KEY, session_token, pg_password, "EnvPassw0rd-Bookpipe", "FilePassw0rd-Bookpipe"]
    {
        assert!(!text.contains(secret) && !more.contains(secret), "{secret} leaked");
    }
}
