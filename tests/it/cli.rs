//! The `bookpipe` binary as a user or an orchestrator runs it: exit codes, messages, help, logs.

use std::process::{Command, Output};

use crate::support::openlibrary::World;
use crate::support::today;

fn bookpipe(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bookpipe"));
    command.args(args);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BOOKPIPE_")) {
        command.env_remove(name);
    }
    command
}

fn run(command: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = command.output().unwrap();
    (status.code().unwrap(), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

/// The names in a folder, sorted.
fn file_names(folder: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn help_shows_every_flag_its_env_var_and_an_example() {
    let (code, stdout, _) = run(&mut bookpipe(&["fetch", "--help"]));
    assert_eq!(code, 0);
    insta::assert_snapshot!("fetch_help", stdout);
    for command in ["transform", "load", "aggregate", "run", "status"] {
        let (code, stdout, _) = run(&mut bookpipe(&[command, "--help"]));
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("{command}_help"), stdout);
    }
    let (code, stdout, _) = run(&mut bookpipe(&["--help"]));
    assert_eq!(code, 0);
    insta::assert_snapshot!("help", stdout);
}

#[test]
fn bad_input_exits_2_naming_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (&["--ds", "2024-02-30", "--subject", "love"], "--ds (BOOKPIPE_DS)"),
        (&["--ds", "2024-05-01", "--subject", "../etc"], "--subject (BOOKPIPE_SUBJECT)"),
        (&["--ds", "2024-05-01", "--subject", ""], "--subject (BOOKPIPE_SUBJECT)"),
        // Subjects whose folder name S3, Hive-style readers and Athena's projection would read
        // differently (docs/engines.md).
        (&["--ds", "2024-05-01", "--subject", "sci~fi"], "--subject (BOOKPIPE_SUBJECT)"),
        (&["--ds", "2024-05-01", "--subject", "ficción"], "--subject (BOOKPIPE_SUBJECT)"),
        (&["--ds", "2024-05-01", "--subject", "love", "--api-url", "not-a-url"], "--api-url (BOOKPIPE_API_URL)"),
        (&["--ds", "2024-05-01", "--subject", "love", "--limit", "5000"], "--limit (BOOKPIPE_LIMIT)"),
        (&["--ds", "2024-05-01", "--subject", "love", "--rate=-1"], "--rate (BOOKPIPE_RATE)"),
    ];
    let lake = tempfile::tempdir().unwrap();
    for (args, flag) in cases {
        let mut command = bookpipe(&["fetch"]);
        command.args(args).arg("--lake").arg(lake.path());
        if !args.contains(&"--api-url") {
            command.args(["--api-url", "http://127.0.0.1:9"]);
        }
        let (code, _, stderr) = run(&mut command);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("invalid value for {flag}")), "{args:?}: {stderr}");
    }
    // Nothing was written for any of them.
    assert_eq!(std::fs::read_dir(lake.path()).unwrap().count(), 0);
}

#[test]
fn clap_usage_errors_share_the_bad_input_code() {
    let (code, _, stderr) = run(&mut bookpipe(&["fetch", "--subject", "love"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("--ds"), "{stderr}");
}

#[test]
fn fetch_end_to_end_logs_json_and_a_rerun_has_nothing_to_do() {
    let server = World::generated("science_fiction", 120, 9).serve();
    let lake = tempfile::tempdir().unwrap();
    let ds = today();
    let mut command = bookpipe(&["fetch", "--ds", &ds, "--rate", "200"]);
    command.env("BOOKPIPE_SUBJECT", "Science_Fiction").env("BOOKPIPE_API_URL", server.url());
    command.env("BOOKPIPE_LAKE", lake.path()).env("BOOKPIPE_CONTACT", "ops@example.com");
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");

    // stderr is not a terminal here, so every log line is JSON carrying the partition.
    let lines: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let committed = lines.iter().find(|l| l["message"] == "raw partition committed").expect("commit logged");
    assert_eq!(committed["span"]["task"], "fetch");
    assert_eq!(committed["span"]["subject"], "science_fiction");
    assert_eq!(committed["span"]["ds"], ds.as_str());
    assert_eq!(committed["works"], 120);
    assert_eq!(committed["authors_fetched"], 9);

    let partition = lake.path().join(format!("raw/openlibrary/subjects/subject=science_fiction/ds={ds}"));
    let mut files: Vec<String> =
        std::fs::read_dir(&partition).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["_manifest.json", "page-00000.json"]);
    // The 9 author records came in one /api/get_many answer, stored as received.
    let authors = lake.path().join(format!("raw/openlibrary/authors/subject=science_fiction/ds={ds}"));
    let batches: Vec<String> =
        std::fs::read_dir(&authors).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert!(batches[0].starts_with("batch-"), "{batches:?}");
    assert_eq!(server.requests().len(), 2);

    let (code, _, stderr) = run(&mut command);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("nothing to do"), "{stderr}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn an_old_ds_without_a_partition_is_refused_with_the_reason() {
    let lake = tempfile::tempdir().unwrap();
    let mut command =
        bookpipe(&["fetch", "--ds", "2024-05-01", "--subject", "love", "--api-url", "http://127.0.0.1:9"]);
    command.arg("--lake").arg(lake.path());
    let (code, _, stderr) = run(&mut command);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("only answers with today's data") && stderr.contains("--allow-past-ds"), "{stderr}");
}

#[test]
fn an_unreachable_api_is_a_failure_naming_the_url() {
    let lake = tempfile::tempdir().unwrap();
    let ds = today();
    let mut command = bookpipe(&["fetch", "--ds", &ds, "--subject", "love", "--api-url", "http://127.0.0.1:9"]);
    command.args(["--retries", "1", "--retry-base-ms", "10", "--rate", "100"]).arg("--lake").arg(lake.path());
    let (code, _, stderr) = run(&mut command);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:9/subjects/love.json?limit=1000&offset=0"), "{stderr}");
    assert!(stderr.contains("after 2 attempt(s)"), "{stderr}");
}

#[test]
fn transform_and_export_from_the_command_line() {
    let lake = tempfile::tempdir().unwrap();
    let lake_arg = lake.path().to_str().unwrap();
    let ds = today();
    let (code, _, stderr) = run(&mut bookpipe(&["transform", "--ds", &ds, "--subject", "love", "--lake", lake_arg]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("run `bookpipe fetch --ds"), "{stderr}");

    let server = World::generated("love", 40, 6).serve();
    let fetch = ["fetch", "--ds", &ds, "--subject", "love", "--lake", lake_arg, "--rate", "200", "--api-url"];
    let (code, _, stderr) = run(bookpipe(&fetch).arg(server.url()));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&mut bookpipe(&["transform", "--ds", &ds, "--subject", "love", "--lake", lake_arg]));
    assert_eq!(code, 0, "{stderr}");
    let silver = lake.path().join(format!("silver/books/subject=love/ds={ds}"));
    assert!(silver.join("part-00000.parquet").is_file() && silver.join("_manifest.json").is_file());
    let (code, _, stderr) = run(&mut bookpipe(&["transform", "--ds", &ds, "--subject", "love", "--lake", lake_arg]));
    assert_eq!(code, 3, "{stderr}");

    let out = lake.path().join("export");
    let mut export = bookpipe(&["export", "--ds", &ds, "--subject", "love", "--lake", lake_arg, "--format", "csv"]);
    let (code, _, stderr) = run(export.arg("--out").arg(&out));
    assert_eq!(code, 0, "{stderr}");
    let books = std::fs::read_to_string(out.join("books.csv")).unwrap();
    assert_eq!(books.lines().count(), 41);
    assert!(out.join("authors.csv").is_file() && out.join("book_authors.csv").is_file());

    let (code, _, stderr) = run(&mut bookpipe(&[
        "transform",
        "--ds",
        &ds,
        "--subject",
        "love",
        "--lake",
        lake_arg,
        "--max-reject-ratio",
        "2",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--max-reject-ratio (BOOKPIPE_MAX_REJECT_RATIO)"), "{stderr}");
}

#[test]
fn run_chains_the_five_tasks_into_a_duckdb_file() {
    let page: serde_json::Value = serde_json::from_str(crate::support::openlibrary::SCIENCE_FICTION).unwrap();
    let server = crate::support::serve_page(serde_json::to_vec(&page).unwrap(), Default::default());
    let dir = tempfile::tempdir().unwrap();
    let (lake, warehouse) = (dir.path().join("lake"), format!("duckdb:{}/w.duckdb", dir.path().display()));
    let mut command = bookpipe(&["run", "--subject", "science_fiction", "--limit", "12", "--max-works", "12"]);
    command.args(["--rate", "200", "--output", "json", "--warehouse", &warehouse, "--api-url", &server.url()]);
    let (code, stdout, stderr) = run(command.arg("--lake").arg(&lake));
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["ds"], today().as_str());
    assert_eq!((summary["books"].as_i64(), summary["books_without_year"].as_i64()), (Some(12), Some(0)));
    assert_eq!(summary["authors"], 18);
    assert_eq!(summary["top_authors"][0]["author_key"], "OL13066A");
    assert_eq!(summary["top_authors"][0]["total_books"], 3);
    assert_eq!(summary["top_authors"][0]["avg_books_per_career_year"], 0.75);
    assert_eq!(summary["busiest_years"][0]["year"], 1897);
    for table in ["author_books_per_year", "author_yearly_average", "books_per_year"] {
        // A table folder holds the table's Parquet and its manifest, nothing else; the CSV copy lies
        // in exports/.
        let gold = lake.join(format!("gold/{table}/subject=science_fiction/ds={}", today()));
        assert_eq!(file_names(&gold), ["_manifest.json", "part-00000.parquet"], "{table}");
        let csv = lake.join(format!("exports/gold_csv/{table}/subject=science_fiction/ds={}", today()));
        assert_eq!(file_names(&csv), ["_manifest.json", "part-00000.csv"], "{table}");
    }
    // The DuckDB file answers directly.
    let db = duckdb::Connection::open(dir.path().join("w.duckdb")).unwrap();
    let books: i64 = db.query_row("SELECT count(*) FROM latest_books", [], |r| r.get(0)).unwrap();
    assert_eq!(books, 12);
    drop(db);

    // A second run of the same day reuses the raw and silver partitions and duplicates nothing.
    let (code, _, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("nothing to do"), "{stderr}");
    let db = duckdb::Connection::open(dir.path().join("w.duckdb")).unwrap();
    let books: i64 = db.query_row("SELECT count(*) FROM books", [], |r| r.get(0)).unwrap();
    assert_eq!(books, 12);
}

#[test]
fn a_warehouse_password_never_reaches_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().to_str().unwrap();
    let url = "postgres://etl:Sup3rS3cret@127.0.0.1:9/books";
    let mut command =
        bookpipe(&["load", "--ds", "2024-05-01", "--subject", "love", "--lake", lake, "--warehouse", url]);
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 4, "{stderr}");
    let (_, help, _) = run(bookpipe(&["load", "--help"]).env("BOOKPIPE_WAREHOUSE", url));
    for text in [&stdout, &stderr, &help] {
        assert!(!text.contains("Sup3rS3cret"), "{text}");
    }
}

#[test]
fn nothing_to_do_can_exit_0_for_runners_that_cannot_skip() {
    let server = World::generated("love", 10, 2).serve();
    let lake = tempfile::tempdir().unwrap();
    let ds = today();
    let args = ["fetch", "--ds", &ds, "--subject", "love", "--rate", "200", "--api-url", &server.url()];
    let (code, _, _) = run(bookpipe(&args).arg("--lake").arg(lake.path()));
    assert_eq!(code, 0);
    let (code, _, _) = run(bookpipe(&args).arg("--lake").arg(lake.path()));
    assert_eq!(code, 3);
    let (code, _, stderr) =
        run(bookpipe(&args).arg("--lake").arg(lake.path()).env("BOOKPIPE_NOTHING_TO_DO_EXIT_CODE", "0"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("nothing to do"), "{stderr}");
}
