//! The quality gate in `load`, through the binary: a generated subject that loses 60 % of its works
//! overnight is refused (exit 5; the warehouse file and every lake byte outside that day's
//! `quality/` document unchanged), loads with `--accept-drop`; a 10 % move warns and loads; a day
//! older than the newest loaded one needs `--backfill` unless it is a re-run. `status` and the
//! report show the verdicts.

use std::path::Path;

use serde_json::Value;

use crate::support::bookpipe_on as bookpipe;
use crate::support::openlibrary::World;
use crate::support::stdout_of;
use crate::support::{days_ago, snapshot};

/// Fetches (`works` generated works of `love`) and transforms `ds` into `lake`.
fn fetch_and_transform(lake: &Path, ds: &str, works: usize) {
    let server = World::generated("love", works, works / 3).serve();
    let url = server.url();
    let fetch = ["fetch", "--ds", ds, "--subject", "love", "--api-url", &url, "--rate", "500", "--allow-past-ds"];
    stdout_of(&mut bookpipe(lake, &fetch));
    stdout_of(&mut bookpipe(lake, &["transform", "--ds", ds, "--subject", "love"]));
}

/// `load` of `ds` with `extra` flags: its exit code and stderr.
fn load(lake: &Path, warehouse: &str, ds: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["load", "--ds", ds, "--subject", "love", "--warehouse", warehouse];
    args.extend(extra);
    let out = bookpipe(lake, &args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn checks(lake: &Path, ds: &str) -> Value {
    let path = lake.join(format!("quality/subject=love/ds={ds}/checks.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn status_of(doc: &Value, check: &str) -> String {
    let found = doc["checks"].as_array().unwrap().iter().find(|c| c["name"] == check);
    found.unwrap_or_else(|| panic!("no check {check} in {doc}"))["status"].as_str().unwrap().to_string()
}

fn not_passed(doc: &Value) -> Vec<String> {
    let checks = doc["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "pass");
    checks.map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_sixty_percent_drop_is_refused_until_accepted_and_a_ten_percent_move_warns() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = dir.path().join("w.duckdb");
    let warehouse = format!("duckdb:{}", file.display());
    let (d0, d1, d2, d3) = (days_ago(4), days_ago(3), days_ago(2), days_ago(1));

    // Day 1: 300 works, nothing to compare with.
    fetch_and_transform(&lake, &d1, 300);
    assert_eq!(load(&lake, &warehouse, &d1, &[]).0, 0);
    let first = checks(&lake, &d1);
    assert_eq!(first["loaded"], true);
    assert_eq!(first["metrics"]["works"], 300);
    assert_eq!(status_of(&first, "volume"), "pass");
    // The generated works' years run past next year (a fixture year plus up to 119): a warning,
    // the only one.
    assert_eq!((first["verdict"].as_str(), not_passed(&first)), (Some("warned"), vec!["years.range".to_string()]));

    // Day 2: 270 works, a 10 % move: loaded, with warnings.
    fetch_and_transform(&lake, &d2, 270);
    let (code, stderr) = load(&lake, &warehouse, &d2, &[]);
    assert_eq!(code, 0, "{stderr}");
    let second = checks(&lake, &d2);
    assert_eq!(second["verdict"], "warned");
    assert_eq!(status_of(&second, "volume.works.last_day"), "warn");
    assert!(stderr.contains("works: 270 against 300 on the last loaded day"), "{stderr}");
    for day in [&d1, &d2] {
        stdout_of(&mut bookpipe(&lake, &["aggregate", "--ds", day, "--subject", "love", "--warehouse", &warehouse]));
    }

    // Day 3: 108 works, 60 % of day 2's gone: refused, nothing but its quality document written.
    fetch_and_transform(&lake, &d3, 108);
    let (lake_before, warehouse_before) = (snapshot(&lake), snapshot(dir.path())["w.duckdb"].clone());
    let (code, stderr) = load(&lake, &warehouse, &d3, &[]);
    println!("the refusal:\n{stderr}");
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: load of subject love for ds {d3} failed: the quality gate refused subject love for ds {d3}, so \
             nothing was loaded and the warehouse keeps its previous slice and gold: volume.works.last_day: works: \
             108 against 270 on the last loaded day, {d2} (-60.0 %): more than 50 % of the works gone, beyond \
             --max-drop (BOOKPIPE_MAX_DROP); volume.works.median: works: 108 against 285 on the median of the 2 \
             loaded days up to {d2} (-62.1 %)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("rerun the load with --accept-drop (BOOKPIPE_ACCEPT_DROP)"), "{stderr}");
    assert!(stderr.contains(&format!("(every check: {}/quality/subject=love/ds={d3}/checks.json)", lake.display())));
    let mut lake_after = snapshot(&lake);
    let written: Vec<String> = lake_after.keys().filter(|k| !lake_before.contains_key(*k)).cloned().collect();
    assert_eq!(
        written,
        [format!("quality/subject=love/ds={d3}/_manifest.json"), format!("quality/subject=love/ds={d3}/checks.json")]
    );
    lake_after.retain(|k, _| lake_before.contains_key(k));
    assert_eq!(lake_after, lake_before, "no other byte of the lake changed (gold of day 2 included)");
    assert!(lake_before.keys().any(|k| k.starts_with(&format!("gold/books_per_year/subject=love/ds={d2}/"))));
    assert_eq!(snapshot(dir.path())["w.duckdb"], warehouse_before, "the warehouse file was not even opened");
    let refused = checks(&lake, &d3);
    assert_eq!((refused["verdict"].as_str(), refused["loaded"].as_bool()), (Some("refused"), Some(false)));
    assert_eq!(refused["baseline"]["last"]["works"], 270.0);

    // status says so: refused, and day 3 not loaded.
    let args = ["status", "--from", &d1, "--to", &d3, "--warehouse", &warehouse, "--output", "json"];
    let grid: Value = serde_json::from_str(&stdout_of(&mut bookpipe(&lake, &args))).unwrap();
    let quality: Vec<&Value> = grid["partitions"].as_array().unwrap().iter().map(|p| &p["quality"]).collect();
    assert_eq!(quality[0]["verdict"], "warned");
    assert_eq!(quality[1]["verdict"], "warned");
    assert_eq!(quality[2]["verdict"], "refused");
    assert_eq!(grid["partitions"][2]["loaded"]["state"], "absent");
    let table = stdout_of(&mut bookpipe(&lake, &["status", "--from", &d1, "--to", &d3, "--warehouse", &warehouse]));
    println!("{table}");
    assert!(table.contains(&format!("love     {d3}  108 works  108 books  REFUSED")), "{table}");

    // The drop is real: accepted with the flag, through `run` (its fetch and transform find their
    // partitions complete), loaded, aggregated, reported, and said so.
    let server = World::generated("love", 108, 36).serve();
    let url = server.url();
    let run = ["run", "--ds", &d3, "--subject", "love", "--api-url", &url, "--warehouse", &warehouse, "--accept-drop"];
    stdout_of(&mut bookpipe(&lake, &run));
    let accepted = checks(&lake, &d3);
    assert_eq!((accepted["verdict"].as_str(), accepted["accept_drop"].as_bool()), (Some("accepted"), Some(true)));
    assert_eq!(status_of(&accepted, "volume.works.last_day"), "accepted");
    let grid: Value = serde_json::from_str(&stdout_of(&mut bookpipe(&lake, &args))).unwrap();
    assert_eq!(grid["partitions"][2]["loaded"], serde_json::json!({"state": "complete", "rows": 108}));
    assert_eq!(grid["partitions"][2]["quality"]["verdict"], "accepted");
    // The report's data-quality section lists the checks, the accepted drop among them.
    let page = std::fs::read_to_string(lake.join(format!("gold/report/subject=love/ds={d3}/index.html"))).unwrap();
    let section =
        page.split("<section aria-labelledby=\"quality\">").nth(1).unwrap().split("</section>").next().unwrap();
    assert!(section.contains("<strong id=\"q-verdict\">accepted</strong>"), "{section}");
    assert!(
        section.contains(&format!(
            "<tr class=\"check-accepted\"><td class=\"name\">volume.works.last_day</td><td>accepted</td><td \
             class=\"name\">works: 108 against 270 on the last loaded day, {d3_before} (-60.0 %): accepted with \
             --accept-drop (BOOKPIPE_ACCEPT_DROP)</td></tr>",
            d3_before = d2
        )),
        "{section}"
    );
    println!("the report's data-quality section:\n{section}");

    // A day older than the newest loaded one: refused unless a backfill.
    fetch_and_transform(&lake, &d0, 300);
    let (code, stderr) = load(&lake, &warehouse, &d0, &["--accept-drop=false"]);
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "freshness: {d0} is older than {d3}, the subject's newest loaded day, and not a backfill; a backfill \
             passes --backfill (BOOKPIPE_BACKFILL)"
        )),
        "{stderr}"
    );
    let mut env_backfill = bookpipe(&lake, &["load", "--ds", &d0, "--subject", "love", "--warehouse", &warehouse]);
    stdout_of(env_backfill.env("BOOKPIPE_BACKFILL", "true"));
    assert_eq!(checks(&lake, &d0)["backfill"], "flag");
    // A re-run of a day loaded before is a backfill by itself.
    let (code, stderr) = load(&lake, &warehouse, &d2, &[]);
    assert_eq!(code, 0, "{stderr}");
    let rerun = checks(&lake, &d2);
    assert_eq!((rerun["backfill"].as_str(), status_of(&rerun, "freshness").as_str()), (Some("rerun"), "pass"));
    // Day 2's baseline is now day 1 and day 0 (loaded as a backfill), never a later day.
    assert_eq!(rerun["baseline"]["trailing_days"], serde_json::json!([d0, d1]));
}

#[test]
fn the_gate_s_thresholds_are_checked_at_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, env) in [
        ("--max-drop", "1.5", "BOOKPIPE_MAX_DROP"),
        ("--warn-change", "0", "BOOKPIPE_WARN_CHANGE"),
        ("--quality-days", "0", "BOOKPIPE_QUALITY_DAYS"),
    ] {
        let out =
            bookpipe(dir.path(), &["load", "--ds", "2024-05-01", "--subject", "love", flag, value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("invalid value for {flag} ({env})")), "{stderr}");
    }
}
