//! OpenLineage events through the binary, against a local receiver: a `run` announces itself and
//! each of its five tasks (START, then COMPLETE with what was written, counted from the manifests),
//! names the datasets by the spec's naming and links every task to its parent run; a failing task
//! sends FAIL with why; a receiver that hangs or refuses costs one timeout per process and never
//! the task; `--lineage-file` writes the same events as JSON lines. (The DAG tests validate the
//! events against the pinned OpenLineage schemas.)

use std::path::Path;

use serde_json::Value;

use crate::support::bookpipe_on as bookpipe;
use crate::support::openlibrary::World;
use crate::support::receiver::{Answer, Receiver};
use crate::support::today;

const PARENT: &str = "airflow/bookpipe_openlibrary.subject.fetch/01937a4e-7b3c-7d2e-8f00-0123456789ab";
const ROOT: &str = "airflow/bookpipe_openlibrary/01937a4e-0000-7000-8000-00000000beef";

/// `bookpipe run` of `love` (`works` generated works) for `ds` with `extra` flags and `env`: the
/// exit code and stderr.
fn run(lake: &Path, ds: &str, works: usize, extra: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let server = World::generated("love", works, works / 3).serve();
    let url = server.url();
    let warehouse = format!("duckdb:{}", lake.with_extension("duckdb").display());
    let mut args =
        vec!["run", "--subject", "love", "--ds", ds, "--api-url", &url, "--rate", "500", "--warehouse", &warehouse];
    args.extend(extra);
    let out = bookpipe(lake, &args).envs(env.iter().copied()).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn job(event: &Value) -> String {
    format!("{} {}", event["eventType"].as_str().unwrap(), event["job"]["name"].as_str().unwrap())
}

fn names(datasets: &Value) -> Vec<String> {
    let datasets = datasets.as_array().unwrap().iter();
    datasets.map(|d| format!("{} {}", d["namespace"].as_str().unwrap(), d["name"].as_str().unwrap())).collect()
}

/// The rows a committed lake partition's manifest counts.
fn manifest_rows(lake: &Path, partition: &str) -> u64 {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(lake.join(partition).join("_manifest.json")).unwrap()).unwrap();
    manifest["objects"].as_array().unwrap().iter().filter_map(|o| o["rows"].as_u64()).sum()
}

#[test]
fn a_run_announces_every_task_with_its_datasets_and_parent() {
    let receiver = Receiver::start(Answer::Created);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let ds = today();
    let env = [
        ("OPENLINEAGE_URL", receiver.url()),
        ("OPENLINEAGE_PARENT_ID", PARENT.into()),
        ("OPENLINEAGE_ROOT_PARENT_ID", ROOT.into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stderr) = run(&lake, &ds, 120, &[], &env);
    assert_eq!(code, 0, "{stderr}");

    let posted = receiver.posted();
    assert!(posted.iter().all(|p| p.path == "/api/v1/lineage" && p.authorization.is_none()));
    let events = receiver.events();
    let order: Vec<String> = events.iter().map(job).collect();
    let mut expected = vec!["START bookpipe_openlibrary.run".to_string()];
    for task in ["fetch", "transform", "load", "aggregate", "report"] {
        expected.push(format!("START bookpipe_openlibrary.{task}"));
        expected.push(format!("COMPLETE bookpipe_openlibrary.{task}"));
    }
    expected.push("COMPLETE bookpipe_openlibrary.run".into());
    assert_eq!(order, expected);

    // Every event of a run repeats its run ID; `run`'s parent is the Airflow task, the tasks' is `run`.
    let chain = &events[0];
    let chain_id = chain["run"]["runId"].as_str().unwrap();
    assert_eq!(events[11]["run"]["runId"], chain_id);
    assert_eq!(chain["run"]["facets"]["parent"]["run"]["runId"], "01937a4e-7b3c-7d2e-8f00-0123456789ab");
    assert_eq!(chain["run"]["facets"]["parent"]["job"]["name"], "bookpipe_openlibrary.subject.fetch");
    assert_eq!(chain["run"]["facets"]["parent"]["root"]["job"]["name"], "bookpipe_openlibrary");
    for pair in events[1..11].chunks(2) {
        assert_eq!(pair[0]["run"]["runId"], pair[1]["run"]["runId"]);
        assert_ne!(pair[0]["run"]["runId"], chain_id);
        let parent = &pair[1]["run"]["facets"]["parent"];
        assert_eq!(parent["run"]["runId"], chain_id);
        assert_eq!(parent["job"]["name"], "bookpipe_openlibrary.run");
        assert_eq!(parent["root"]["run"]["runId"], "01937a4e-0000-7000-8000-00000000beef");
        assert_eq!(pair[1]["run"]["facets"]["nominalTime"]["nominalStartTime"], format!("{ds}T00:00:00Z"));
        assert_eq!(pair[1]["job"]["namespace"], "default");
    }

    // Datasets by the spec's naming: the local lake's table folders, DuckDB's catalog.main.table.
    let root = std::path::absolute(&lake).unwrap().display().to_string();
    let duckdb = format!("duckdb://{}", std::path::absolute(lake.with_extension("duckdb")).unwrap().display());
    let (fetch, transform, load, aggregate, report) = (&events[2], &events[4], &events[6], &events[8], &events[10]);
    let api = fetch["inputs"][0]["namespace"].as_str().unwrap();
    assert!(api.starts_with("http://127.0.0.1:"), "{api}");
    assert_eq!(
        names(&fetch["outputs"]),
        [format!("file {root}/raw/openlibrary/subjects"), format!("file {root}/raw/openlibrary/authors")]
    );
    assert_eq!(names(&transform["inputs"]), names(&fetch["outputs"]));
    let silver: Vec<String> =
        ["books", "authors", "book_authors", "rejects"].iter().map(|t| format!("file {root}/silver/{t}")).collect();
    assert_eq!(names(&transform["outputs"]), silver);
    assert_eq!(names(&load["inputs"]), silver[..3]);
    let loaded: Vec<String> =
        ["books", "authors", "book_authors", "loads"].iter().map(|t| format!("{duckdb} lake.main.{t}")).collect();
    assert_eq!(names(&load["outputs"])[..4], loaded);
    assert_eq!(names(&load["outputs"])[4], format!("file {root}/quality"));
    assert_eq!(names(&aggregate["inputs"]), loaded[..3]);
    assert_eq!(names(&aggregate["outputs"]).len(), 9);
    assert_eq!(names(&report["outputs"]), [format!("file {root}/gold/report")]);

    // What was written, counted from the committed manifests; schemas on the tables.
    let partition = format!("subject=love/ds={ds}");
    let books = manifest_rows(&lake, &format!("silver/books/{partition}"));
    assert_eq!(books, 120);
    let written = &transform["outputs"][0]["outputFacets"]["outputStatistics"];
    assert_eq!(written["rowCount"], books);
    assert_eq!(written["fileCount"], 1);
    assert!(written["size"].as_u64().unwrap() > 0);
    assert_eq!(load["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"], books);
    assert!(load["outputs"][0]["outputFacets"]["outputStatistics"].get("size").is_none());
    let authors = manifest_rows(&lake, &format!("silver/authors/{partition}"));
    assert_eq!(load["outputs"][1]["outputFacets"]["outputStatistics"]["rowCount"], authors);
    let pages = &fetch["outputs"][0]["outputFacets"]["outputStatistics"];
    assert_eq!((pages["rowCount"].as_u64(), pages["fileCount"].as_u64()), (Some(120), Some(1)));
    let gold = manifest_rows(&lake, &format!("gold/books_per_year/{partition}"));
    let gold_out =
        aggregate["outputs"].as_array().unwrap().iter().find(|d| d["name"] == format!("{root}/gold/books_per_year"));
    assert_eq!(gold_out.unwrap()["outputFacets"]["outputStatistics"]["rowCount"], gold);
    let fields = load["outputs"][0]["facets"]["schema"]["fields"].as_array().unwrap();
    assert_eq!(
        fields[..3].iter().map(|f| f["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["subject", "ds", "work_key"]
    );
    assert!(events[1].get("outputs").unwrap()[0].get("outputFacets").is_none(), "START counts nothing");

    // A second run finds every partition complete: COMPLETE events, nothing counted as written.
    let again = Receiver::start(Answer::Created);
    let (code, stderr) = run(&lake, &ds, 120, &["--lineage-url", &again.url()], &[]);
    assert_eq!(code, 0, "{stderr}");
    let events = again.events();
    assert_eq!(events[2]["eventType"], "COMPLETE");
    assert!(events[2]["outputs"][0].get("outputFacets").is_none(), "fetch wrote nothing: {}", events[2]);
}

#[test]
fn a_failing_task_sends_fail_with_why() {
    let receiver = Receiver::start(Answer::Created);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = bookpipe(&lake, &["transform", "--ds", &today(), "--subject", "love", "--lineage-url", &receiver.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "missing input");
    let events = receiver.events();
    assert_eq!(
        events.iter().map(job).collect::<Vec<_>>(),
        ["START bookpipe_openlibrary.transform", "FAIL bookpipe_openlibrary.transform"]
    );
    let error = &events[1]["run"]["facets"]["errorMessage"];
    assert!(error["message"].as_str().unwrap().contains("the raw partition is missing or incomplete"), "{error}");
    assert_eq!(error["programmingLanguage"], "RUST");
    assert!(events[1]["run"]["facets"].get("parent").is_none(), "no parent given, none named");
}

#[test]
fn a_receiver_that_hangs_or_fails_costs_one_timeout_and_never_the_task() {
    for answer in [Answer::Never, Answer::ServerError] {
        let receiver = Receiver::start(answer);
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        // One second to wait for the receiver that never answers; ten for the one that fails at
        // once, so a busy machine cannot turn its 500 into a timeout.
        let timeout = if answer == Answer::Never { "1" } else { "10" };
        let extra = ["--lineage-url", &receiver.url(), "--lineage-timeout", timeout];
        let (code, stderr) = run(&lake, &today(), 30, &extra, &[]);
        assert_eq!(code, 0, "{answer:?}: {stderr}");
        // The first event is the only one sent: the transport is off after it failed.
        assert_eq!(receiver.posted().len(), 1, "{answer:?}");
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("lineage event not sent")).collect();
        assert_eq!(warnings.len(), 1, "{answer:?}: {stderr}");
        let why = if answer == Answer::Never { "no answer within 1 s" } else { "500 Internal Server Error" };
        assert!(warnings[0].contains(why), "{answer:?}: {}", warnings[0]);
    }
    // Nothing listening at all: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (code, stderr) = run(&lake, &today(), 30, &["--lineage-url", &url], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("lineage event not sent").count(), 1, "{stderr}");
}

#[test]
fn lineage_file_holds_the_same_events_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = dir.path().join("events.jsonl");
    let env = [("BOOKPIPE_LINEAGE_NAMESPACE", "books-prod"), ("OPENLINEAGE_API_KEY", "unused-for-files")];
    let (code, stderr) = run(&lake, &today(), 30, &["--lineage-file", file.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 12);
    assert!(events.iter().all(|e| e["job"]["namespace"] == "books-prod"));
    assert!(!stderr.contains("unused-for-files"));
}
