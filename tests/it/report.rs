//! `bookpipe report`: the page's numbers equal the gold tables, the edge cases render and say so,
//! and a real browser (Chromium, headless) draws it with no console error and no network request.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::openlibrary::World;
use crate::support::{bookpipe_on, run_day, today, yesterday};

/// The report's JSON island: what the charts draw and the tables show.
fn island(page: &str) -> Value {
    let json = page.split("<script type=\"application/json\" id=\"report-data\">").nth(1).unwrap();
    serde_json::from_str(json.split("</script>").next().unwrap()).unwrap()
}

/// The text of the element with `id`.
fn by_id<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("no #{id}")) + id.len() + 6;
    &page[start..start + page[start..].find('<').unwrap()]
}

fn duckdb_rows(warehouse: &Path, sql: &str) -> Vec<Vec<Value>> {
    let conn = duckdb::Connection::open_with_flags(
        warehouse,
        duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly).unwrap(),
    )
    .unwrap();
    let mut statement = conn.prepare(sql).unwrap();
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |row| {
            Ok((0..columns)
                .map(|i| match row.get_ref(i).unwrap() {
                    duckdb::types::ValueRef::Null => Value::Null,
                    duckdb::types::ValueRef::BigInt(v) => Value::from(v),
                    duckdb::types::ValueRef::Int(v) => Value::from(v),
                    duckdb::types::ValueRef::Double(v) => Value::from(v),
                    duckdb::types::ValueRef::Text(v) => Value::from(String::from_utf8_lossy(v).into_owned()),
                    other => panic!("unexpected {other:?}"),
                })
                .collect())
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn the_page_states_what_the_gold_tables_hold_and_what_changed_since_the_day_before() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, db) = (dir.path().join("lake"), dir.path().join("w.duckdb"));
    let warehouse = format!("duckdb:{}", db.display());
    run_day(World::generated("love", 19_800, 4_000), &lake, &warehouse, &yesterday());
    let summary = run_day(World::generated("love", 20_000, 4_000), &lake, &warehouse, &today());

    let path = lake.join(format!("gold/report/subject=love/ds={}/index.html", today()));
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.len() <= 500 * 1024, "a 20,000-work page weighs {} bytes", page.len());
    let r = island(&page);
    let slice = format!("subject = 'love' AND ds = DATE '{}'", today());

    // The headline, in the cards and the data alike.
    assert_eq!(r["headline"]["works"], 20_000);
    assert_eq!(by_id(&page, "h-works"), "20000");
    assert_eq!(r["headline"]["works"], summary["books"]);
    assert_eq!(
        r["headline"]["works"].as_i64().unwrap() - r["headline"]["dated_works"].as_i64().unwrap(),
        summary["books_without_year"].as_i64().unwrap()
    );
    let authors = duckdb_rows(&db, &format!("SELECT count(*) FROM authors WHERE {slice}"));
    assert_eq!(r["headline"]["authors"], authors[0][0]);
    assert_eq!(by_id(&page, "h-authors"), authors[0][0].to_string());

    // Books per year: every row of the gold table, in order.
    let per_year =
        duckdb_rows(&db, &format!("SELECT year, books, authors FROM books_per_year WHERE {slice} ORDER BY year"));
    let shown: Vec<Vec<Value>> = r["per_year"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| vec![y["year"].clone(), y["books"].clone(), y["authors"].clone()])
        .collect();
    assert_eq!(shown, per_year);
    let table = page.split("id=\"t-per-year\"").nth(1).unwrap();
    let first = &per_year[0];
    assert!(table.contains(&format!("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", first[0], first[1], first[2])));

    // The top authors and their two averages, as the gold table has them.
    let top = duckdb_rows(
        &db,
        &format!(
            "SELECT author_key, total_books, avg_books_per_active_year, avg_books_per_career_year \
             FROM author_yearly_average WHERE {slice} ORDER BY total_books DESC, author_key LIMIT 15"
        ),
    );
    let shown: Vec<Vec<Value>> = r["top_authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            vec![a["key"].clone(), a["total_books"].clone(), a["per_active_year"].clone(), a["per_career_year"].clone()]
        })
        .collect();
    assert_eq!(shown, top);
    // Every dated author is in one bucket of each reading.
    let dated =
        duckdb_rows(&db, &format!("SELECT count(avg_books_per_active_year) FROM author_yearly_average WHERE {slice}"));
    let in_buckets: u64 =
        r["distribution"].as_array().unwrap().iter().map(|b| b["per_active_year"].as_u64().unwrap()).sum();
    assert_eq!(Value::from(in_buckets), dated[0][0]);

    // Since yesterday: the 200 new works, and who moved.
    assert_eq!(r["changes"]["previous_ds"], yesterday());
    assert_eq!(
        (r["changes"]["works_added"].clone(), r["changes"]["works_removed"].clone()),
        (Value::from(200), Value::from(0))
    );
    assert_eq!(by_id(&page, "c-added"), "200");
    let movers = r["changes"]["movers"].as_array().unwrap();
    assert!(!movers.is_empty() && movers.iter().all(|m| m["after"].as_i64().unwrap() > m["before"].as_i64().unwrap()));

    // The index lists the subject's latest report.
    // (The template escapes `/` in attributes as `&#x2f;`, which browsers read back as `/`.)
    let index = std::fs::read_to_string(lake.join("gold/report/index.html")).unwrap().replace("&#x2f;", "/");
    assert!(index.contains(&format!("<a href=\"subject=love/ds={}/index.html\">love</a>", today())), "{index}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(path.with_file_name("_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["details"]["previous_ds"], yesterday());
    assert_eq!(
        manifest["inputs"].as_array().unwrap().len(),
        5,
        "three gold partitions, the quality gate's document and the silver rejects"
    );

    // The data-quality section lists what load's quality gate checked, from its checks.json.
    let gate = &r["quality"]["gate"];
    let check = |name: &str| gate["checks"].as_array().unwrap().iter().find(|c| c[0] == name).unwrap().clone();
    assert_eq!(
        check("volume.works.last_day"),
        serde_json::json!([
            "volume.works.last_day",
            "pass",
            format!("works: 20000 against 19800 on the last loaded day, {} (+1.0 %)", yesterday())
        ])
    );
    assert_eq!(check("keys.unique")[1], "pass");
    assert_eq!(by_id(&page, "q-verdict"), gate["verdict"].as_str().unwrap());
    assert!(page.contains("id=\"t-checks\""));
    println!("the report's quality gate: {gate}");

    // What the page shows, for the record (`cargo test report -- --nocapture`).
    println!(
        "report of a 20,000-work subject, day 2: {} bytes; headline {}; changes {} works added, {} removed, {} new \
         authors, top mover {}; top author {}; distribution {}",
        page.len(),
        r["headline"],
        r["changes"]["works_added"],
        r["changes"]["works_removed"],
        r["changes"]["new_authors"],
        movers[0],
        r["top_authors"][0],
        r["distribution"]
    );
    browser_check(&path);
}

#[test]
fn a_subject_without_dated_works_on_its_first_day_still_renders_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, db) = (dir.path().join("lake"), dir.path().join("w.duckdb"));
    let mut world = World::generated("love", 40, 10);
    for work in &mut world.works {
        work.as_object_mut().unwrap().remove("first_publish_year");
    }
    run_day(world, &lake, &format!("duckdb:{}", db.display()), &today());
    let page =
        std::fs::read_to_string(lake.join(format!("gold/report/subject=love/ds={}/index.html", today()))).unwrap();
    assert!(page.contains("id=\"no-dated\""), "says there is nothing per year");
    assert!(page.contains("id=\"first-day\""), "says there is no previous day");
    let r = island(&page);
    assert_eq!(
        (r["headline"]["works"].clone(), r["headline"]["dated_works"].clone()),
        (Value::from(40), Value::from(0))
    );
    assert_eq!(r["headline"]["dated_percent"], 0.0);
    assert_eq!(by_id(&page, "q-undated"), "40");
    assert!(r["changes"].is_null());
}

#[test]
fn report_needs_the_aggregate_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = bookpipe_on(dir.path(), &["report", "--ds", &today(), "--subject", "love"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("run `bookpipe aggregate --ds"), "{stderr}");
}

/// Chromium (Debian's `chromium`, installed by .ci/run) opens the page from disk: it must draw its
/// three charts with no script error and send no request (every request would reach the proxy
/// below); screenshots at desktop and phone width go to the build folder.
fn browser_check(page: &Path) {
    let chromium = ["chromium", "chromium-browser"].into_iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join(name)).find(|p| p.is_file())
    });
    let chromium =
        chromium.expect("chromium is not installed: `apt-get install chromium` (scripts/preflight --install does)");
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    // What reached the proxy: the first line of each request (`CONNECT host:443 …`, `GET http://…`).
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            let mut stream = stream.unwrap();
            let mut head = [0; 512];
            let n = stream.read(&mut head).unwrap_or(0);
            let line = String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or_default().to_string();
            seen.lock().unwrap().push(line);
        }
    });
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let home = tempfile::tempdir().unwrap();
    let browse = |extra: &[String]| {
        let out = Command::new(&chromium)
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args([
                "--disable-extensions",
                "--disable-default-apps",
                "--no-default-browser-check",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", home.path().display()))
            .arg(format!("--proxy-server=http://127.0.0.1:{port}"))
            .arg("--proxy-bypass-list=<-loopback>")
            .arg("--virtual-time-budget=5000")
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (dom, log) = browse(&["--dump-dom".into()]);
    assert!(dom.contains("data-charts=\"3\""), "the three charts were drawn: {}", &dom[..dom.len().min(400)]);
    assert!(dom.contains("data-errors=\"0\""));
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    for (name, width) in [("desktop", 1280), ("phone", 390)] {
        let target = shots.join(format!("report-{name}.png"));
        browse(&[format!("--window-size={width},2400"), format!("--screenshot={}", target.display())]);
        assert!(std::fs::metadata(&target).unwrap().len() > 10_000, "{name} screenshot at {}", target.display());
    }
    // Chromium itself calls Google's services (sign-in, network time, variations) even for a blank
    // page; anything else would be the page's. (The page's Content-Security-Policy refuses every
    // request it could make, and a refusal is a console error, checked above.)
    let own = |line: &String| {
        let host = line.split_whitespace().nth(1).unwrap_or_default();
        let host = host.trim_start_matches("http://").trim_start_matches("https://");
        let host = host.split(['/', ':']).next().unwrap_or_default();
        ["google.com", "googleapis.com", "gstatic.com", "gvt1.com"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    };
    let page_requests: Vec<String> = requests.lock().unwrap().iter().filter(|l| !own(l)).cloned().collect();
    assert_eq!(page_requests, Vec::<String>::new(), "the page made network requests");
    assert!(
        dom.contains("Content-Security-Policy")
            || std::fs::read_to_string(page).unwrap().contains("default-src 'none'")
    );
}
