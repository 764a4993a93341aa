//! `bookpipe status`: the partition grid an operator reads before a backfill, from the binary.

use serde_json::{Value, json};

use crate::support::openlibrary::World;
use crate::support::{bookpipe_on, days_ago, run_day, stdout_of, today};

#[test]
fn the_grid_shows_each_stage_complete_incomplete_or_absent_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, warehouse) = (dir.path().join("lake"), format!("duckdb:{}/w.duckdb", dir.path().display()));
    let summary = run_day(World::generated("love", 30, 10), &lake, &warehouse, &today());
    // Yesterday's fetch died after its first page: objects, no manifest.
    let yesterday = lake.join(format!("raw/openlibrary/subjects/subject=love/ds={}", days_ago(1)));
    std::fs::create_dir_all(&yesterday).unwrap();
    std::fs::write(yesterday.join("page-00000.json"), b"{}").unwrap();

    let args = ["status", "--from", &days_ago(2), "--to", &today(), "--warehouse", &warehouse, "--output", "json"];
    let grid: Value = serde_json::from_str(&stdout_of(&mut bookpipe_on(&lake, &args))).unwrap();
    let absent = json!({"state": "absent"});
    let complete = |rows: &Value| json!({"state": "complete", "rows": rows});
    assert_eq!(grid["warehouse_exists"], true);
    assert_eq!(
        grid["partitions"],
        json!([
            {"subject": "love", "ds": days_ago(2), "raw": absent, "silver": absent, "quality": absent,
             "loaded": absent, "gold": absent},
            {"subject": "love", "ds": days_ago(1), "raw": {"state": "incomplete"}, "silver": absent,
             "quality": absent, "loaded": absent, "gold": absent},
            {"subject": "love", "ds": today(), "raw": complete(&json!(30)), "silver": complete(&summary["books"]),
             "quality": {"state": "complete", "verdict": "passed", "warnings": 0},
             "loaded": complete(&json!(30)), "gold": complete(&summary["authors"])},
        ])
    );
    assert_eq!(summary["books"], 30);

    // The table, with every subject of the raw zone when none is named.
    let table = stdout_of(&mut bookpipe_on(
        &lake,
        &["status", "--from", &today(), "--to", &today(), "--warehouse", &warehouse],
    ));
    let line = format!("love     {}  30 works  30 books  passed   30 books  {} authors", today(), summary["authors"]);
    assert!(table.lines().any(|l| l == line), "{table}");

    // A warehouse that does not exist is reported, not created.
    let missing = dir.path().join("nowhere.duckdb");
    let args = [
        "status",
        "--from",
        &today(),
        "--to",
        &today(),
        "--warehouse",
        &format!("duckdb:{}", missing.display()),
        "--output",
        "json",
    ];
    let grid: Value = serde_json::from_str(&stdout_of(&mut bookpipe_on(&lake, &args))).unwrap();
    assert_eq!((grid["warehouse_exists"].clone(), grid["partitions"][0]["loaded"].clone()), (json!(false), absent));
    assert!(!missing.exists());
}

#[test]
fn a_range_backwards_or_over_a_year_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, why) in
        [("2024-05-02", "2024-05-01", "is before --from"), ("2024-01-01", "2025-01-01", "longer than 366 days")]
    {
        let out = bookpipe_on(dir.path(), &["status", "--from", from, "--to", to]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("invalid value for --to (BOOKPIPE_TO)") && stderr.contains(why), "{stderr}");
    }
}
