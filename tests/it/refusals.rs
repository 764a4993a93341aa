//! Every refusal (bad input, nothing to do, missing input) of every task, through the binary: the
//! lake is byte-identical afterwards (design doc: a past day's raw partition is irreplaceable, and
//! nothing may delete it unless a refetch is really going to happen). And boolean env vars read as
//! operators write them.

use std::process::Command;

use crate::support::openlibrary::World;
use crate::support::today;
use crate::support::{days_ago, snapshot};

use crate::support::bookpipe_on as bookpipe;

fn code(command: &mut Command) -> (i32, String) {
    let output = command.output().unwrap();
    (output.status.code().unwrap(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn every_refusal_leaves_the_lake_byte_identical() {
    let server = World::generated("love", 300, 40).serve();
    let api = server.url();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let warehouse = format!("duckdb:{}", dir.path().join("w.duckdb").display());
    let past = days_ago(5);
    let fetch_past = ["fetch", "--ds", &past, "--subject", "love", "--api-url", &api, "--rate", "500"];
    // A complete past day: fetched then (as --allow-past-ds stands in for), transformed, loaded.
    let mut setup = vec![fetch_past.to_vec()];
    setup[0].push("--allow-past-ds");
    setup.push(vec!["transform", "--ds", &past, "--subject", "love"]);
    setup.push(vec!["load", "--ds", &past, "--subject", "love", "--warehouse", &warehouse]);
    setup.push(vec!["aggregate", "--ds", &past, "--subject", "love", "--warehouse", &warehouse]);
    for args in &setup {
        let (code, stderr) = code(&mut bookpipe(&lake, args));
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let before = snapshot(&lake);
    assert!(before.keys().any(|p| p.contains("raw/openlibrary/subjects") && p.ends_with("_manifest.json")));

    let other = days_ago(9);
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(5)).to_string();
    let export = dir.path().join("export");
    let export = export.to_str().unwrap();
    let force_past: Vec<&str> = fetch_past.iter().copied().chain(["--force"]).collect();
    let refusals: Vec<(Vec<&str>, i32, &str)> = vec![
        // The bug this guards against: --force on a past day removed the day, then refused.
        (force_past.clone(), 2, "--allow-past-ds"),
        (
            vec!["run", "--ds", &past, "--subject", "love", "--force", "--api-url", &api, "--warehouse", &warehouse],
            2,
            "--allow-past-ds",
        ),
        (fetch_past.to_vec(), 3, "nothing to do"),
        (vec!["fetch", "--ds", &future, "--subject", "love", "--api-url", &api], 2, "in the future"),
        (force_past.iter().copied().chain(["--limit", "0"]).collect(), 2, "--limit"),
        (vec!["transform", "--ds", &past, "--subject", "love"], 3, "nothing to do"),
        (vec!["transform", "--ds", &other, "--subject", "love"], 4, "fetch"),
        (vec!["transform", "--ds", &past, "--subject", "love", "--max-reject-ratio", "2"], 2, "--max-reject-ratio"),
        (vec!["export", "--ds", &other, "--subject", "love", "--out", export], 4, "transform"),
        (vec!["load", "--ds", &other, "--subject", "love", "--warehouse", &warehouse], 4, "transform"),
        (vec!["aggregate", "--ds", &other, "--subject", "love", "--warehouse", &warehouse], 4, "load"),
        (vec!["load", "--ds", &past, "--subject", "love", "--warehouse", "mysql://x/y"], 2, "--warehouse"),
    ];
    for (args, expected, says) in &refusals {
        let (code, stderr) = code(&mut bookpipe(&lake, args));
        assert_eq!(code, *expected, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(snapshot(&lake), before, "{args:?} changed the lake");
    }
    let (code, stderr) = code(bookpipe(&lake, &fetch_past).env("BOOKPIPE_FORCE", "maybe"));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(snapshot(&lake), before, "BOOKPIPE_FORCE=maybe changed the lake");
}

#[test]
fn boolean_env_vars_read_as_operators_write_them() {
    let server = World::generated("love", 20, 4).serve();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let ds = today();
    let args = ["fetch", "--ds", &ds, "--subject", "love", "--api-url", &server.url(), "--rate", "500"];
    assert_eq!(code(&mut bookpipe(&lake, &args)).0, 0);
    for yes in ["1", "true", "TRUE", "yes", "Yes", "on"] {
        let (code, stderr) = code(bookpipe(&lake, &args).env("BOOKPIPE_FORCE", yes));
        assert_eq!(code, 0, "BOOKPIPE_FORCE={yes} should refetch: {stderr}");
    }
    for no in ["0", "false", "False", "no", "off"] {
        let (code, stderr) = code(bookpipe(&lake, &args).env("BOOKPIPE_FORCE", no));
        assert_eq!(code, 3, "BOOKPIPE_FORCE={no} should not refetch: {stderr}");
    }
    let (code, stderr) = code(bookpipe(&lake, &args).env("BOOKPIPE_FORCE", "maybe"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("maybe"), "{stderr}");
}

#[test]
fn a_past_partial_partition_of_other_settings_is_not_a_resume() {
    // An interrupted fetch of a past day left a page fetched with --limit 500: a rerun with other
    // settings would discard it and file today's answer under that day, so it needs --allow-past-ds.
    let server = World::generated("love", 30, 5).serve();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let past = days_ago(5);
    let partition = lake.join(format!("raw/openlibrary/subjects/subject=love/ds={past}"));
    std::fs::create_dir_all(&partition).unwrap();
    std::fs::write(partition.join("page-00000.json"), World::generated("love", 30, 5).page(500, 0)).unwrap();
    std::fs::write(partition.join("_fetch_state.json"), r#"{"limit":500,"max_works":null,"sort":"key"}"#).unwrap();
    let before = snapshot(&lake);
    let args = ["fetch", "--ds", &past, "--subject", "love", "--api-url", &server.url(), "--rate", "500"];
    let (refused, stderr) = code(&mut bookpipe(&lake, &args));
    assert_eq!(refused, 2, "{stderr}");
    assert!(stderr.contains("--allow-past-ds"), "{stderr}");
    assert_eq!(snapshot(&lake), before);
    // The same settings do resume, without the flag.
    let resume: Vec<&str> = args.iter().copied().chain(["--limit", "500"]).collect();
    let (resumed, stderr) = code(&mut bookpipe(&lake, &resume));
    assert_eq!(resumed, 0, "{stderr}");
}
