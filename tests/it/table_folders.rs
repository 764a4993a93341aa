//! The lake's table folders as query engines read them: a silver or gold table folder holds the
//! table's Parquet objects and `_`-prefixed metadata only (Athena, Spark, Trino and pyarrow read
//! every other object in it as Parquet), the gold CSV copies lie in `exports/gold_csv/`. Gold of the
//! first layout, with its CSV beside the Parquet, is rewritten by `aggregate` through the commit
//! protocol; a refusal or a failure before the rewrite leaves it exactly as it was.

use std::path::{Path, PathBuf};

use bookpipe::lake::commit::sha256_hex;
use serde_json::{Value, json};

use crate::support::openlibrary::World;
use crate::support::{bookpipe_on, files, run_day, stdout_of, today};

const GOLD: [&str; 3] = ["author_books_per_year", "author_yearly_average", "books_per_year"];
const SILVER: [&str; 4] = ["books", "authors", "book_authors", "rejects"];

fn gold(lake: &Path, table: &str, ds: &str) -> PathBuf {
    lake.join(format!("gold/{table}/subject=love/ds={ds}"))
}

fn export(lake: &Path, table: &str, ds: &str) -> PathBuf {
    lake.join(format!("exports/gold_csv/{table}/subject=love/ds={ds}"))
}

fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Turns the day's gold into what the first layout wrote: each partition's CSV beside its Parquet,
/// listed in its manifest, no `layout` in the details, and no exports zone.
fn make_first_layout(lake: &Path, ds: &str) {
    for table in GOLD {
        let csv = std::fs::read(export(lake, table, ds).join("part-00000.csv")).unwrap();
        let folder = gold(lake, table, ds);
        std::fs::write(folder.join("part-00000.csv"), &csv).unwrap();
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(folder.join("_manifest.json")).unwrap()).unwrap();
        let rows = manifest["details"]["rows"].clone();
        let path = format!("gold/{table}/subject=love/ds={ds}/part-00000.csv");
        let object = json!({"path": path, "bytes": csv.len(), "sha256": sha256_hex(&csv), "rows": rows});
        manifest["objects"].as_array_mut().unwrap().insert(0, object);
        manifest["details"].as_object_mut().unwrap().remove("layout");
        std::fs::write(folder.join("_manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }
    std::fs::remove_dir_all(lake.join("exports")).unwrap();
}

fn gold_state(lake: &Path, warehouse: &str, ds: &str) -> Value {
    let args = ["status", "--from", ds, "--to", ds, "--warehouse", warehouse, "--output", "json"];
    let grid: Value = serde_json::from_str(&stdout_of(&mut bookpipe_on(lake, &args))).unwrap();
    grid["partitions"][0]["gold"].clone()
}

fn aggregate(lake: &Path, warehouse: &str, ds: &str) -> (i32, String) {
    let args = ["aggregate", "--ds", ds, "--subject", "love", "--warehouse", warehouse];
    let out = bookpipe_on(lake, &args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_table_folder_holds_parquet_and_underscore_metadata_only() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, warehouse) = (dir.path().join("lake"), format!("duckdb:{}/w.duckdb", dir.path().display()));
    run_day(World::generated("love", 30, 10), &lake, &warehouse, &today());
    let zones = SILVER.map(|t| format!("silver/{t}")).into_iter().chain(GOLD.map(|t| format!("gold/{t}")));
    for zone in zones {
        let folder = lake.join(&zone);
        for name in files(&folder).keys() {
            let file = name.rsplit('/').next().unwrap();
            assert!(file.starts_with('_') || file.ends_with(".parquet"), "{zone}/{name}");
        }
    }
    for table in GOLD {
        let csv = String::from_utf8(std::fs::read(export(&lake, table, &today()).join("part-00000.csv")).unwrap());
        let header = csv.unwrap().lines().next().unwrap().to_string();
        assert!(header.starts_with(if table == "books_per_year" { "year," } else { "author_key," }), "{header}");
    }
}

#[test]
fn aggregate_moves_the_first_layouts_csv_out_of_gold_and_a_failure_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, warehouse) = (dir.path().join("lake"), format!("duckdb:{}/w.duckdb", dir.path().display()));
    let ds = today();
    let summary = run_day(World::generated("love", 30, 10), &lake, &warehouse, &ds);
    let complete = json!({"state": "complete", "rows": summary["authors"]});
    assert_eq!(gold_state(&lake, &warehouse, &ds), complete);
    let written = files(&lake.join("exports"));

    make_first_layout(&lake, &ds);
    let first_layout = files(&lake.join("gold"));
    // Not complete to status: Athena and Spark cannot read those folders; aggregate rewrites them.
    assert_eq!(gold_state(&lake, &warehouse, &ds), json!({"state": "incomplete"}));

    // A refusal (the slice was never loaded into this warehouse) touches nothing.
    let empty = format!("duckdb:{}/empty.duckdb", dir.path().display());
    let (code, stderr) = aggregate(&lake, &empty, &ds);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(files(&lake.join("gold")), first_layout);
    assert!(!lake.join("exports").exists());

    // A failure writing the CSV export (a file stands where its folder must be) fails before the
    // gold partition is begun: gold stays the complete first-layout partition, byte for byte.
    std::fs::create_dir_all(lake.join("exports/gold_csv")).unwrap();
    std::fs::write(lake.join("exports/gold_csv/author_books_per_year"), b"in the way").unwrap();
    let (code, stderr) = aggregate(&lake, &warehouse, &ds);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(files(&lake.join("gold")), first_layout);

    // The rerun moves every CSV: the gold folders hold Parquet and the manifest, the exports the
    // same CSV bytes as the first layout kept, each committed.
    std::fs::remove_file(lake.join("exports/gold_csv/author_books_per_year")).unwrap();
    let (code, stderr) = aggregate(&lake, &warehouse, &ds);
    assert_eq!(code, 0, "{stderr}");
    for table in GOLD {
        assert_eq!(names(&gold(&lake, table, &ds)), ["_manifest.json", "part-00000.parquet"], "{table}");
        assert_eq!(names(&export(&lake, table, &ds)), ["_manifest.json", "part-00000.csv"], "{table}");
        let kept = &first_layout[&format!("{table}/subject=love/ds={ds}/part-00000.csv")];
        assert_eq!(&std::fs::read(export(&lake, table, &ds).join("part-00000.csv")).unwrap(), kept, "{table}");
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(gold(&lake, table, &ds).join("_manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["details"]["layout"], 2, "{table}");
        let paths: Vec<&str> =
            manifest["objects"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
        assert_eq!(paths, [format!("gold/{table}/subject=love/ds={ds}/part-00000.parquet")], "{table}");
    }
    assert_eq!(files(&lake.join("exports")).keys().collect::<Vec<_>>(), written.keys().collect::<Vec<_>>());
    assert_eq!(gold_state(&lake, &warehouse, &ds), complete);

    // A CSV export that went missing makes the day's gold incomplete again.
    std::fs::remove_file(export(&lake, "books_per_year", &ds).join("_manifest.json")).unwrap();
    assert_eq!(gold_state(&lake, &warehouse, &ds), json!({"state": "incomplete"}));
}
