//! Crash tests: `kill -9` the bookpipe process at seeded random moments during each task, rerun it,
//! and check that nothing was lost or doubled: partitions without a manifest are never read, silver
//! and gold files are byte-identical to an uninterrupted run, warehouse row counts are exact.
//! Every trial's kill lands mid-run (the process was alive when killed: a run that finished first
//! is redone with half the delay, so no trial passes without a kill), and after every recovery the
//! partition's manifest exists and lists exactly the files in its folder. `BOOKPIPE_CRASH_TRIALS` sets the trials per task (default 20, at least 1).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::openlibrary::World;
use crate::support::postgres::PgServer;
use crate::support::server::TestServer;
use crate::support::today;

const SUBJECT: &str = "love";

fn trials() -> usize {
    let trials = match std::env::var("BOOKPIPE_CRASH_TRIALS") {
        Ok(n) => n.parse().unwrap_or_else(|_| panic!("BOOKPIPE_CRASH_TRIALS={n:?} is not a number")),
        Err(_) => 20,
    };
    // Zero trials would turn every crash test into a pass.
    assert!(trials >= 1, "BOOKPIPE_CRASH_TRIALS must be at least 1");
    trials
}

/// Kills that landed mid-run, per task: one per trial.
fn assert_mid_run(task: &str, killed: usize, attempts: usize) {
    let trials = trials();
    eprintln!("crash trials ({task}): {trials}, {killed} processes killed mid-run ({attempts} started)");
    assert_eq!(killed, trials, "{task}: every trial's kill lands mid-run");
}

/// Starts `command()` and kills it after `delay`; if it finished first, `reset()`s and tries again
/// with half the delay (a machine faster than the reference run), up to 12 times. Returns whether
/// a kill landed and how many processes were started.
fn kill_mid_run(command: impl Fn() -> Command, mut delay: Duration, mut reset: impl FnMut()) -> (bool, usize) {
    for attempt in 1..=12 {
        if kill_after(command(), delay) {
            return (true, attempt);
        }
        reset();
        delay /= 2;
    }
    (false, 12)
}

/// The partition in `dir` (of the lake `lake`) is committed: its manifest exists and lists exactly
/// the files in the folder, no more, no fewer (object_store's staged uploads, `name#N`, are not
/// objects: its listings skip them, as they skip a put in flight).
fn assert_committed(lake: &Path, dir: &Path) {
    let manifest = dir.join("_manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|err| panic!("{}: {err}", manifest.display()));
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let folder = dir.strip_prefix(lake).unwrap().to_string_lossy().into_owned();
    let mut listed: Vec<String> = manifest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|object| object["path"].as_str()?.strip_prefix(&format!("{folder}/")).map(str::to_string))
        .collect();
    listed.sort();
    let mut present: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "_manifest.json" && !is_staged_upload(name))
        .collect();
    present.sort();
    assert!(!listed.is_empty(), "{}: the manifest lists no file", dir.display());
    assert_eq!(listed, present, "{}: the manifest and the folder disagree", dir.display());
}

/// object_store's local staging name for a put in flight: `<name>#<digits>`.
fn is_staged_upload(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn bookpipe(lake: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bookpipe"));
    command.arg("--lake").arg(lake).args(args).env("BOOKPIPE_LOG", "warn");
    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    command
}

/// Runs to the end; returns the exit code and how long it took (stderr is shown on failure).
fn finish(mut command: Command) -> (i32, Duration) {
    let started = Instant::now();
    let output = command.stderr(std::process::Stdio::piped()).output().unwrap();
    let code = output.status.code().unwrap_or(-1);
    if code != 0 && code != 3 {
        eprintln!("exit {code}: {}", String::from_utf8_lossy(&output.stderr));
    }
    (code, started.elapsed())
}

/// Starts the command and SIGKILLs it after `delay` (unless it finished first): true if killed.
fn kill_after(mut command: Command, delay: Duration) -> bool {
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

fn partition(lake: &Path, zone: &str, ds: &str) -> PathBuf {
    lake.join(format!("{zone}/subject={SUBJECT}/ds={ds}"))
}

fn fetch_args<'a>(ds: &'a str, api: &'a str) -> Vec<&'a str> {
    vec!["fetch", "--ds", ds, "--subject", SUBJECT, "--rate", "1000", "--retry-base-ms", "10", "--api-url", api]
}

/// Every file of a folder, by relative path (manifests excluded: they hold the run's time).
fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && name != "_manifest.json" && !name.contains('#') {
            files.push((name, std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

struct Setup {
    server: TestServer,
    reference: tempfile::TempDir,
    ds: String,
    seed: fastrand::Rng,
}

/// A fake API and an uninterrupted reference run of all four tasks.
fn setup() -> (Setup, [Duration; 4]) {
    let server = World::generated(SUBJECT, 2000, 200).serve();
    let reference = tempfile::tempdir().unwrap();
    let ds = today();
    let lake = reference.path().join("lake");
    let warehouse = format!("duckdb:{}/w.duckdb", reference.path().display());
    let api = server.url();
    let mut durations = [Duration::ZERO; 4];
    let steps: [Vec<&str>; 4] = [
        fetch_args(&ds, &api),
        vec!["transform", "--ds", &ds, "--subject", SUBJECT],
        vec!["load", "--ds", &ds, "--subject", SUBJECT, "--warehouse", &warehouse],
        vec!["aggregate", "--ds", &ds, "--subject", SUBJECT, "--warehouse", &warehouse],
    ];
    for (i, args) in steps.iter().enumerate() {
        let (code, took) = finish(bookpipe(&lake, args));
        assert_eq!(code, 0, "reference {}", args[0]);
        durations[i] = took;
    }
    (Setup { server, reference, ds, seed: fastrand::Rng::with_seed(7) }, durations)
}

/// A moment inside an uninterrupted run's span (5 % to 95 % of it), drawn from the seeded generator.
fn random_delay(rng: &mut fastrand::Rng, typical: Duration) -> Duration {
    typical.mul_f64(0.05 + rng.f64() * 0.9)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn duckdb_counts(file: &Path, ds: &str) -> (i64, i64, i64, i64) {
    let db = duckdb::Connection::open(file).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, duckdb::params![SUBJECT, ds], |r| r.get(0)).unwrap() };
    (
        count("SELECT count(*) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE)"),
        count("SELECT count(DISTINCT work_key) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE)"),
        count("SELECT count(*) FROM book_authors WHERE subject = $1 AND ds = CAST($2 AS DATE)"),
        count("SELECT count(*) FROM loads WHERE subject = $1 AND ds = CAST($2 AS DATE)"),
    )
}

#[test]
fn kill_9_during_fetch_and_transform_loses_and_doubles_nothing() {
    let (mut s, durations) = setup();
    let reference_lake = s.reference.path().join("lake");
    let reference_raw = data_files(&partition(&reference_lake, "raw/openlibrary/subjects", &s.ds));
    let reference_silver: Vec<_> = ["books", "authors", "book_authors", "rejects"]
        .iter()
        .map(|t| data_files(&partition(&reference_lake, &format!("silver/{t}"), &s.ds)))
        .collect();
    let api = s.server.url();
    let (mut fetch_kills, mut transform_kills, mut fetches, mut transforms) = (0, 0, 0, 0);

    for _ in 0..trials() {
        // fetch, killed mid-way, then resumed.
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let delay = random_delay(&mut s.seed, durations[0]);
        // A fetch that completed would make the next one a no-op: start again from an empty lake.
        let (killed, started) = kill_mid_run(
            || bookpipe(&lake, &fetch_args(&s.ds, &api)),
            delay,
            || std::fs::remove_dir_all(&lake).unwrap(),
        );
        (fetch_kills, fetches) = (fetch_kills + killed as usize, fetches + started);
        if !partition(&lake, "raw/openlibrary/subjects", &s.ds).join("_manifest.json").exists() {
            // A partition without a manifest is never read.
            let (code, _) = finish(bookpipe(&lake, &["transform", "--ds", &s.ds, "--subject", SUBJECT]));
            assert_eq!(code, 4, "transform read an uncommitted raw partition");
        }
        let (code, _) = finish(bookpipe(&lake, &fetch_args(&s.ds, &api)));
        assert!(code == 0 || code == 3, "fetch rerun exited {code}");
        assert_eq!(data_files(&partition(&lake, "raw/openlibrary/subjects", &s.ds)), reference_raw);
        assert_committed(&lake, &partition(&lake, "raw/openlibrary/subjects", &s.ds));

        // transform, killed mid-way (forced, over a complete partition), then rerun.
        let (code, _) = finish(bookpipe(&lake, &["transform", "--ds", &s.ds, "--subject", SUBJECT]));
        assert_eq!(code, 0);
        let forced = ["transform", "--ds", &s.ds, "--subject", SUBJECT, "--force"];
        let (killed, started) =
            kill_mid_run(|| bookpipe(&lake, &forced), random_delay(&mut s.seed, durations[1]), || {});
        (transform_kills, transforms) = (transform_kills + killed as usize, transforms + started);
        let (code, _) = finish(bookpipe(&lake, &["transform", "--ds", &s.ds, "--subject", SUBJECT]));
        assert!(code == 0 || code == 3, "transform rerun exited {code}");
        for (table, reference) in ["books", "authors", "book_authors", "rejects"].iter().zip(&reference_silver) {
            let files = data_files(&partition(&lake, &format!("silver/{table}"), &s.ds));
            assert_eq!(&files, reference, "silver {table} differs from the uninterrupted run");
            assert_committed(&lake, &partition(&lake, &format!("silver/{table}"), &s.ds));
        }
    }
    assert_mid_run("fetch", fetch_kills, fetches);
    assert_mid_run("transform", transform_kills, transforms);
}

/// `load` and `aggregate` killed mid-way on `warehouse`, then rerun: exact counts, identical gold.
fn kill_9_during_load_and_aggregate(
    warehouse_for: impl Fn(usize, &Path) -> String,
    counts: impl Fn(&str) -> (i64, i64, i64, i64),
) {
    let (mut s, durations) = setup();
    let reference_lake = s.reference.path().join("lake");
    let reference_gold: Vec<_> = ["author_books_per_year", "author_yearly_average", "books_per_year"]
        .iter()
        .map(|t| data_files(&partition(&reference_lake, &format!("gold/{t}"), &s.ds)))
        .collect();
    let (mut load_kills, mut aggregate_kills, mut loads, mut aggregates) = (0, 0, 0, 0);
    let (books, links) = (2000, {
        let (_, _, links, _) = duckdb_counts(&s.reference.path().join("w.duckdb"), &s.ds);
        links
    });
    for trial in 0..trials() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        copy_dir(&reference_lake.join("raw"), &lake.join("raw"));
        copy_dir(&reference_lake.join("silver"), &lake.join("silver"));
        let warehouse = warehouse_for(trial, dir.path());
        let load = ["load", "--ds", &s.ds, "--subject", SUBJECT, "--warehouse", &warehouse];
        if trial % 2 == 1 {
            // Half the trials kill a reload over an existing slice, half the first load.
            assert_eq!(finish(bookpipe(&lake, &load)).0, 0);
        }
        // A load that completed is a reload next time: still a kill over a slice.
        let (killed, started) = kill_mid_run(|| bookpipe(&lake, &load), random_delay(&mut s.seed, durations[2]), || {});
        (load_kills, loads) = (load_kills + killed as usize, loads + started);
        assert_eq!(finish(bookpipe(&lake, &load)).0, 0, "load rerun");
        assert_eq!(counts(&warehouse), (books, books, links, 1), "exact rows after a killed load");

        let aggregate = ["aggregate", "--ds", &s.ds, "--subject", SUBJECT, "--warehouse", &warehouse];
        let delay = random_delay(&mut s.seed, durations[3]);
        let (killed, started) = kill_mid_run(|| bookpipe(&lake, &aggregate), delay, || {});
        (aggregate_kills, aggregates) = (aggregate_kills + killed as usize, aggregates + started);
        assert_eq!(finish(bookpipe(&lake, &aggregate)).0, 0, "aggregate rerun");
        for (table, reference) in
            ["author_books_per_year", "author_yearly_average", "books_per_year"].iter().zip(&reference_gold)
        {
            assert_eq!(&data_files(&partition(&lake, &format!("gold/{table}"), &s.ds)), reference, "gold {table}");
            assert_committed(&lake, &partition(&lake, &format!("gold/{table}"), &s.ds));
        }
    }
    assert_mid_run("load", load_kills, loads);
    assert_mid_run("aggregate", aggregate_kills, aggregates);
}

/// Books, distinct works, links and load records of the slice in a PostgreSQL warehouse.
async fn postgres_counts(warehouse: &str, ds: &str) -> (i64, i64, i64, i64) {
    let (client, connection) = tokio_postgres::connect(warehouse, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let date = chrono::NaiveDate::parse_from_str(ds, "%Y-%m-%d").unwrap();
    let mut out = [0i64; 4];
    let queries = [
        "SELECT count(*) FROM books WHERE subject = $1 AND ds = $2",
        "SELECT count(DISTINCT work_key) FROM books WHERE subject = $1 AND ds = $2",
        "SELECT count(*) FROM book_authors WHERE subject = $1 AND ds = $2",
        "SELECT count(*) FROM loads WHERE subject = $1 AND ds = $2",
    ];
    for (i, sql) in queries.into_iter().enumerate() {
        out[i] = client.query_one(sql, &[&SUBJECT, &date]).await.unwrap().get(0);
    }
    (out[0], out[1], out[2], out[3])
}

#[test]
fn kill_9_during_load_and_aggregate_on_duckdb() {
    let ds = today();
    kill_9_during_load_and_aggregate(
        |_, dir| format!("duckdb:{}/w.duckdb", dir.display()),
        |warehouse| duckdb_counts(Path::new(warehouse.trim_start_matches("duckdb:")), &ds),
    );
}

#[test]
fn kill_9_during_load_and_aggregate_on_postgres() {
    let pg = PgServer::start();
    let ds = today();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    kill_9_during_load_and_aggregate(
        |trial, _| pg.database(&format!("crash{trial}")),
        |warehouse| runtime.block_on(postgres_counts(warehouse, &ds)),
    );
}

/// Two processes load the same slice at the same moment: both succeed, one correct slice, no
/// duplicate rows. On DuckDB the second waits for the first to close the file (one process at a
/// time opens it); on PostgreSQL for the first's slice lock; then it replaces the slice.
fn concurrent_loads(warehouse: &str, counts: impl Fn(&str) -> (i64, i64, i64, i64)) {
    let (s, _) = setup();
    let reference_lake = s.reference.path().join("lake");
    let links = duckdb_counts(&s.reference.path().join("w.duckdb"), &s.ds).2;
    for round in 0..3 {
        let load = ["load", "--ds", &s.ds, "--subject", SUBJECT, "--warehouse", warehouse];
        let mut first = bookpipe(&reference_lake, &load).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut second = bookpipe(&reference_lake, &load).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut outcomes = vec![];
        for child in [&mut first, &mut second] {
            let status = child.wait().unwrap().code().unwrap();
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            assert_eq!(status, 0, "round {round}: {stderr}");
            outcomes.push(status);
        }
        assert_eq!(outcomes, [0, 0], "round {round}: both loads succeed");
        assert_eq!(counts(warehouse), (2000, 2000, links, 1), "round {round}: exactly one slice");
    }
}

#[test]
fn two_loads_of_one_slice_at_once_on_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = format!("duckdb:{}/w.duckdb", dir.path().display());
    let ds = today();
    concurrent_loads(&warehouse, |w| duckdb_counts(Path::new(w.trim_start_matches("duckdb:")), &ds));
}

#[test]
fn two_loads_of_one_slice_at_once_on_postgres() {
    let pg = PgServer::start();
    let warehouse = pg.database("concurrent");
    let ds = today();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    concurrent_loads(&warehouse, |w| runtime.block_on(postgres_counts(w, &ds)));
}

/// Runs the same command twice at the same moment; returns both exit codes (and fails on an
/// unexpected one).
fn twice_at_once(make: impl Fn() -> Command, allowed: &[i32]) -> [i32; 2] {
    let mut children: Vec<_> = (0..2).map(|_| make().stderr(std::process::Stdio::piped()).spawn().unwrap()).collect();
    let mut codes = [0; 2];
    for (i, child) in children.iter_mut().enumerate() {
        codes[i] = child.wait().unwrap().code().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(allowed.contains(&codes[i]), "exit {}: {stderr}", codes[i]);
    }
    codes
}

#[test]
fn two_fetches_transforms_and_aggregates_of_one_partition_at_once() {
    let (s, _) = setup();
    let reference_lake = s.reference.path().join("lake");
    let api = s.server.url();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // fetch: both complete (or one finds the other's manifest); the partition is the reference's.
    twice_at_once(|| bookpipe(&lake, &fetch_args(&s.ds, &api)), &[0, 3]);
    assert_eq!(
        data_files(&partition(&lake, "raw/openlibrary/subjects", &s.ds)),
        data_files(&partition(&reference_lake, "raw/openlibrary/subjects", &s.ds))
    );
    // transform: the same bytes whoever wins.
    twice_at_once(|| bookpipe(&lake, &["transform", "--ds", &s.ds, "--subject", SUBJECT, "--force"]), &[0]);
    for table in ["books", "authors", "book_authors", "rejects"] {
        let zone = format!("silver/{table}");
        assert_eq!(data_files(&partition(&lake, &zone, &s.ds)), data_files(&partition(&reference_lake, &zone, &s.ds)));
        assert!(partition(&lake, &zone, &s.ds).join("_manifest.json").exists());
    }
    // aggregate on both engines.
    let pg = PgServer::start();
    for warehouse in [format!("duckdb:{}/w.duckdb", dir.path().display()), pg.database("aggregates")] {
        let load = ["load", "--ds", &s.ds, "--subject", SUBJECT, "--warehouse", &warehouse];
        assert_eq!(finish(bookpipe(&lake, &load)).0, 0);
        let aggregate = ["aggregate", "--ds", &s.ds, "--subject", SUBJECT, "--warehouse", &warehouse];
        // Both succeed: on DuckDB the second waits for the file, on PostgreSQL for the slice lock.
        assert_eq!(twice_at_once(|| bookpipe(&lake, &aggregate), &[0]), [0, 0]);
        for table in ["author_books_per_year", "author_yearly_average", "books_per_year"] {
            let zone = format!("gold/{table}");
            assert_eq!(
                data_files(&partition(&lake, &zone, &s.ds)),
                data_files(&partition(&reference_lake, &zone, &s.ds))
            );
        }
    }
}
