//! Shared test helpers: the fake Open Library server and settings builders.

// The fake Open Library lives beside the tests, where the example binary the DAG tests and the
// benchmark start compiles it too; `super::synth` inside it is this folder's synth.
#[path = "../../fake_openlibrary/mod.rs"]
pub mod openlibrary;
pub mod postgres;
pub mod receiver;
pub mod s3;
pub mod synth;

pub use openlibrary::server;

use std::collections::HashMap;

use bookpipe::lake::Lake;
use bookpipe::settings::LakeUrl;
use serde_json::Value;

use openlibrary::SCIENCE_FICTION;
use server::{Reply, TestServer};

use bookpipe::cli::{Cli, Command};
use bookpipe::settings::FetchSettings;
use chrono::{DateTime, Utc};
use clap::Parser;

/// Fetch settings as the CLI would resolve them from `args`, pointed at `api_url`, with fast
/// retries and a high rate so tests spend no time being polite to themselves.
pub fn fetch_settings(api_url: &str, ds: &str, subject: &str, extra: &[&str], now: DateTime<Utc>) -> FetchSettings {
    let mut argv = vec!["bookpipe", "fetch", "--ds", ds, "--subject", subject, "--api-url", api_url];
    let defaults =
        [("--rate", "500"), ("--retry-base-ms", "20"), ("--timeout", "5"), ("--contact", "tests@example.com")];
    for (flag, value) in defaults.into_iter().filter(|(flag, _)| !extra.contains(flag)) {
        argv.extend([flag, value]);
    }
    argv.extend(extra);
    let cli = Cli::try_parse_from(argv).unwrap();
    let Command::Fetch(args) = cli.command else { unreachable!("a fetch command line") };
    FetchSettings::resolve(&args, now).unwrap()
}

/// `fetch` of the subject `love` for `ds` from the fake at `api_url`, with the test defaults of
/// [`fetch_settings`] and `extra` flags, without lineage: what most fetch tests start with.
pub async fn fetch_love(
    lake: &Lake,
    api_url: &str,
    ds: &str,
    extra: &[&str],
) -> anyhow::Result<bookpipe::exit::Outcome> {
    let settings = fetch_settings(api_url, ds, "love", extra, Utc::now());
    bookpipe::fetch::fetch(lake, &bookpipe::lineage::Lineage::off(), &settings).await
}

/// The bookpipe binary on the lake folder `lake`, with `args`, in an environment without any
/// `BOOKPIPE_*`, `OPENLINEAGE_*` or libpq `PG*` variable of the test process.
pub fn bookpipe_on(lake: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bookpipe"));
    for (name, _) in
        std::env::vars().filter(|(name, _)| ["BOOKPIPE_", "OPENLINEAGE_", "PG"].iter().any(|p| name.starts_with(p)))
    {
        command.env_remove(name);
    }
    command.arg("--lake").arg(lake).args(args);
    command
}

/// What a successful command printed (it fails the test, with its stderr, otherwise).
pub fn stdout_of(command: &mut std::process::Command) -> String {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `bookpipe run` of the subject `love` served by `world` for `ds` into `lake` and the DuckDB file `warehouse`: the summary JSON.
pub fn run_day(world: openlibrary::World, lake: &std::path::Path, warehouse: &str, ds: &str) -> Value {
    let server = world.serve();
    let url = server.url();
    let args = [
        "run",
        "--subject",
        "love",
        "--ds",
        ds,
        "--api-url",
        &url,
        "--rate",
        "500",
        "--contact",
        "t@example.com",
        "--warehouse",
        warehouse,
        "--output",
        "json",
    ];
    serde_json::from_str(&stdout_of(&mut bookpipe_on(lake, &args))).unwrap()
}

/// Today's date (UTC) as a ds string.
pub fn today() -> String {
    real_date().to_string()
}

/// The date `days` days before today (UTC) as a ds string.
pub fn days_ago(days: u64) -> String {
    (real_date() - chrono::Days::new(days)).to_string()
}

/// How close to the real UTC midnight the tests may start: the whole suite takes a minute or two.
const MIDNIGHT_MARGIN: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The real UTC date, read after the real midnight when it was less than [`MIDNIGHT_MARGIN`] away
/// the first time any test asked: the tests take their days from it and run the binary, which
/// reads the same clock (a fetch takes a ds from yesterday to tomorrow only), so the date must not
/// change in the middle of them. The first caller sleeps; the others wait for it.
fn real_date() -> chrono::NaiveDate {
    static WAITED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    WAITED.get_or_init(|| {
        let now = Utc::now();
        let midnight = (now.date_naive() + chrono::Days::new(1)).and_hms_opt(0, 0, 0).unwrap().and_utc();
        let left = (midnight - now).to_std().unwrap_or_default();
        if left < MIDNIGHT_MARGIN {
            let pause = left + std::time::Duration::from_secs(30);
            eprintln!(
                "waiting {}s for the real UTC midnight: the tests' days come from the real date",
                pause.as_secs()
            );
            std::thread::sleep(pause);
        }
    });
    Utc::now().date_naive()
}

/// Every file below `root`, by path relative to it, with its bytes.
pub fn files(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                found.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Every file below `dir`, by relative path, with its sha256: what a test compares to show that a
/// command left a folder exactly as it was.
pub fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    files(dir).into_iter().map(|(path, bytes)| (path, bookpipe::lake::commit::sha256_hex(&bytes))).collect()
}

/// Yesterday's date (UTC) as a ds string.
pub fn yesterday() -> String {
    days_ago(1)
}

/// Serves `page` for every subject page request, and author records as `authors` says (absent: 404),
/// one by one and through `/api/get_many` as Open Library does.
pub fn serve_page(page: Vec<u8>, authors: HashMap<String, String>) -> TestServer {
    let records = authors.into_iter().map(|(key, body)| (key, body.into_bytes())).collect();
    serve_page_of(openlibrary::World::new("", Vec::new(), records), page)
}

/// Serves `world`'s authors, and `page` as it is for every subject page request.
fn serve_page_of(world: openlibrary::World, page: Vec<u8>) -> TestServer {
    world.serve_with(move |world, request| {
        if request.path.starts_with("/subjects/") { Reply::json(page.clone()) } else { world.answer(request) }
    })
}

/// The science_fiction fixture fetched into a lake: every author has a record named as the page
/// lists them, except OL15092181A, which Open Library answers 404 for.
pub async fn science_fiction_lake(ds: &str) -> Lake {
    let mut world = openlibrary::World::science_fiction();
    world.authors.remove("OL15092181A");
    let server = serve_page_of(world, SCIENCE_FICTION.as_bytes().to_vec());
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    let fetch =
        fetch_settings(&server.url(), ds, "science_fiction", &["--limit", "12", "--max-works", "12"], Utc::now());
    bookpipe::fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &fetch).await.unwrap();
    lake
}
