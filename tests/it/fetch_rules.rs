//! `fetch` against Open Library as its 2026 server behaves (docs/failure-modes.md), one rule a
//! test: a search failure answered `200` with no works, the unstable default sort, a shortfall of
//! works, a `422`, `429`s without `Retry-After`, author batches and their fallback, merged authors.

use std::collections::BTreeMap;
use std::time::Duration;

use bookpipe::cli::OutputFormat;
use bookpipe::cli::flags;
use bookpipe::exit::{Code, Outcome, code_for};
use bookpipe::fetch;
use bookpipe::fetch::FetchDetails;
use bookpipe::lake::commit;
use bookpipe::lake::{Lake, layout};
use bookpipe::settings::Partition;
use bookpipe::settings::{
    AggregateSettings, Ds, ExportSettings, LakeUrl, LoadSettings, Subject, TransformSettings, WarehouseUrl,
};
use chrono::Utc;

use crate::support::openlibrary::{Faults, GetMany, RateLimit, World, decoded_query};
use crate::support::server::Reply;
use crate::support::{fetch_settings, today};

fn memory_lake() -> Lake {
    Lake::open(&LakeUrl::Memory).unwrap()
}

async fn committed(lake: &Lake, subject: &str, ds: &str) -> Option<FetchDetails> {
    let partition = layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, subject).unwrap(),
        Ds::parse(flags::DS, ds).unwrap(),
    ));
    commit::read::<FetchDetails>(lake, &partition).await.unwrap().map(|c| c.manifest.details)
}

#[tokio::test]
async fn a_search_failure_answered_200_is_retried_not_taken_as_the_end() {
    // Twice, the page at offset 2000 of 3500 comes back as Open Library answers a Solr timeout.
    let server = World::generated("love", 3500, 50).serve_with(|world, request| {
        let at_2000 = request.query.get("offset").map(String::as_str) == Some("2000");
        if at_2000 && request.attempt <= 2 { Reply::json(world.solr_failed()) } else { world.answer(request) }
    });
    let lake = memory_lake();
    crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap();
    let d = committed(&lake, "love", &today()).await.unwrap();
    assert_eq!((d.work_count, d.distinct_works, d.missing_works, d.pages), (3500, 3500, 0, 4));
    let pages = server.targets().iter().filter(|t| t.starts_with("/subjects/")).count();
    assert_eq!(pages, 4 + 2);
}

#[tokio::test]
async fn a_search_failure_that_lasts_fails_the_task_naming_the_url_with_nothing_committed() {
    let server = World::generated("love", 3500, 50).serve_with(|world, request| {
        let at_2000 = request.query.get("offset").map(String::as_str) == Some("2000");
        if at_2000 { Reply::json(world.solr_failed()) } else { world.answer(request) }
    });
    let lake = memory_lake();
    let settings = fetch_settings(&server.url(), &today(), "love", &["--retries", "2"], Utc::now());
    let err = fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("offset=2000") && message.contains("after 3 attempt(s)"), "{message}");
    assert!(message.contains("work_count") && message.contains("null"), "{message}");
    assert_eq!(code_for(&Err(err)), Code::Failure);
    assert!(committed(&lake, "love", &today()).await.is_none());
    assert_eq!(server.targets().iter().filter(|t| t.contains("offset=2000")).count(), 3);
    // No author was asked for: the pages were not complete.
    assert!(server.targets().iter().all(|t| t.starts_with("/subjects/")));
}

#[tokio::test]
async fn pages_are_sorted_by_key_because_the_default_sort_shifts_under_the_pager() {
    let world = World::generated("love", 6000, 500);
    // The fake's default sort is Open Library's: ties in edition_count come back in a new order.
    assert_ne!(world.page_by_editions(1000, 0), world.page_by_editions(1000, 0));
    let server = world.serve();
    let lake = memory_lake();
    crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap();
    let d = committed(&lake, "love", &today()).await.unwrap();
    assert_eq!((d.work_count, d.works, d.distinct_works, d.missing_works), (6000, 6000, 6000, 0));
    let pages: Vec<String> = server.targets().into_iter().filter(|t| t.starts_with("/subjects/")).collect();
    assert_eq!(pages.len(), 6);
    assert!(pages.iter().all(|t| t.ends_with("&sort=key")), "{pages:?}");
}

#[tokio::test]
async fn a_shortfall_beyond_the_tolerance_fails_and_within_it_is_recorded() {
    // Open Library announces 2600 works and pages through 2500 of them.
    let mut world = World::generated("love", 2500, 40);
    world.work_count = 2600;
    let server = world.serve();
    let lake = memory_lake();
    let err = crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("100 of the 2600 works") && message.contains("--max-missing-ratio 0.001"), "{message}");
    assert!(message.contains(&format!("{}/subjects/love.json", server.url())), "{message}");
    assert_eq!(code_for(&Err(err)), Code::Failure);
    assert!(committed(&lake, "love", &today()).await.is_none());
    // Nothing of the run is left to resume: a rerun pages afresh.
    let partition = layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, "love").unwrap(),
        Ds::parse(flags::DS, &today()).unwrap(),
    ));
    let left: Vec<String> = lake.list(&partition).await.unwrap().iter().map(|o| o.location.to_string()).collect();
    assert!(left.iter().all(|p| !p.contains("page-")), "{left:?}");

    let tolerant = fetch_settings(&server.url(), &today(), "love", &["--max-missing-ratio", "0.05"], Utc::now());
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &tolerant).await.unwrap(), Outcome::Done);
    let d = committed(&lake, "love", &today()).await.unwrap();
    assert_eq!((d.work_count, d.distinct_works, d.missing_works, d.max_missing_ratio), (2600, 2500, 100, 0.05));
}

#[tokio::test]
async fn a_422_is_bad_input_naming_the_flag_and_is_not_retried() {
    // A server whose maximum dropped below ours answers as FastAPI does.
    let server = World::generated("love", 100, 5).serve_with(|world, request| {
        if request.path.starts_with("/subjects/") {
            let detail = r#"{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 500","input":"1000","ctx":{"le":500}}]}"#;
            return Reply::status(422, detail);
        }
        world.answer(request)
    });
    let lake = memory_lake();
    let err = crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("--limit (BOOKPIPE_LIMIT)") && message.contains("422"), "{message}");
    assert_eq!(code_for(&Err(err)), Code::BadInput);
    assert_eq!(server.requests().len(), 1);
    assert!(committed(&lake, "love", &today()).await.is_none());
}

#[tokio::test]
async fn a_429_without_retry_after_or_with_zero_holds_everything_off_at_least_two_seconds() {
    let refusal =
        r#"{"status": 429, "message": "Too Many Requests. Consider using https://openlibrary.org/developers/dumps."}"#;
    let server = World::generated("love", 30, 5).serve_with(move |world, request| match request.attempt {
        1 if request.path.starts_with("/subjects/") => Reply::status(429, refusal),
        1 if request.path == "/api/get_many" => Reply::status(429, refusal).header("Retry-After", "0"),
        _ => world.answer(request),
    });
    let lake = memory_lake();
    crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap();
    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/subjects/love.json", "/subjects/love.json", "/api/get_many", "/api/get_many"]);
    for pair in [(0, 1), (2, 3)] {
        let waited = requests[pair.1].at - requests[pair.0].at;
        assert!(waited >= Duration::from_millis(1990), "requests {pair:?}: waited only {waited:?}");
    }
    assert_eq!(committed(&lake, "love", &today()).await.unwrap().requests, 4);
}

#[tokio::test]
async fn nginx_refusals_at_a_burst_are_ridden_out_with_exact_data() {
    // The client asks faster than the server allows (20/s against 4/s, burst 2).
    let faults = Faults { rate_limit: Some(RateLimit::new(4.0, 2)), ..Faults::default() };
    let server = World::generated("love", 300, 60).serve_faulty(faults);
    let lake = memory_lake();
    let flags = ["--rate", "20", "--author-batch", "10", "--limit", "100"];
    crate::support::fetch_love(&lake, &server.url(), &today(), &flags).await.unwrap();
    let d = committed(&lake, "love", &today()).await.unwrap();
    assert_eq!((d.distinct_works, d.authors.distinct, d.authors.fetched, d.authors.missing), (300, 60, 60, 0));
    let refused = d.requests - 3 - 6;
    assert!(refused >= 1, "the limit never refused: {} requests", d.requests);
}

#[tokio::test]
async fn authors_come_in_batches_and_what_a_batch_omits_is_asked_for_alone() {
    let mut world = World::generated("love", 250, 250);
    let distinct = world.authors.len();
    world.authors.remove("OL2A");
    let server = world.serve();
    let lake = memory_lake();
    crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap();
    let d = committed(&lake, "love", &today()).await.unwrap();
    let batches = distinct.div_ceil(100) as u64;
    assert_eq!((d.author_requests.batches, d.author_requests.single), (batches, 1));
    assert_eq!(d.requests, 1 + batches + 1);
    assert_eq!(d.missing_authors, ["OL2A"]);
    assert_eq!(
        server.targets().iter().filter(|t| t.starts_with("/authors/")).collect::<Vec<_>>(),
        ["/authors/OL2A.json"]
    );
    for target in server.targets().iter().filter(|t| t.starts_with("/api/")) {
        let keys: Vec<String> = serde_json::from_str(&decoded_query(target, "keys").unwrap()).unwrap();
        assert!(keys.len() <= 100 && "GET  HTTP/1.1".len() + target.len() <= 4000, "{} keys", keys.len());
    }
}

#[tokio::test]
async fn without_get_many_authors_are_fetched_one_by_one_and_it_is_said_once() {
    for mode in [GetMany::Gone, GetMany::Failing] {
        let mut world = World::generated("love", 60, 30);
        world.get_many = mode;
        let server = world.serve();
        let lake = memory_lake();
        let flags = ["--author-batch", "10", "--concurrency", "1"];
        crate::support::fetch_love(&lake, &server.url(), &today(), &flags).await.unwrap();
        let d = committed(&lake, "love", &today()).await.unwrap();
        assert_eq!((d.authors.distinct, d.authors.fetched, d.authors.missing), (30, 30, 0), "{mode:?}");
        assert_eq!((d.author_requests.batches, d.author_requests.single), (0, 30), "{mode:?}");
        assert!(d.author_requests.get_many_unavailable.is_some(), "{mode:?}");
        // One get_many tried, then never again this run.
        assert_eq!(server.targets().iter().filter(|t| t.starts_with("/api/")).count(), 1, "{mode:?}");
        assert!(d.author_records.iter().all(|r| !r.batch && r.path.ends_with(".json")));
        for record in &d.author_records {
            let body = lake.get(&object_store::path::Path::from(record.path.as_str())).await.unwrap();
            assert_eq!(body.as_ref(), World::author(&record.key).as_slice());
        }
    }
}

#[tokio::test]
async fn merged_authors_are_fetched_to_the_end_of_their_chain() {
    merged_authors_are_followed_to_the_person_and_a_loop_ends().await;
}

/// A subject whose authors include merged ones, fetched: the lake and the author keys the works list.
async fn merged_authors_are_followed_to_the_person_and_a_loop_ends() -> (Lake, std::collections::BTreeSet<String>) {
    let mut world = World::generated("love", 200, 40);
    // OL2A was merged into OL5A; OL3A into OL7A, itself merged into OL8A; OL9A and OL10A loop.
    world.redirects =
        BTreeMap::from([("OL2A", "OL5A"), ("OL3A", "OL7A"), ("OL7A", "OL8A"), ("OL9A", "OL10A"), ("OL10A", "OL9A")])
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    // OL8A is on no work of the subject: only the chain leads to it.
    let listed = world.authors.clone();
    world.authors.insert("OL8A".into());
    for work in &mut world.works {
        for author in work["authors"].as_array_mut().unwrap() {
            if author["key"] == "/authors/OL8A" {
                author["key"] = serde_json::json!("/authors/OL3A");
            }
        }
    }
    let listed: std::collections::BTreeSet<String> = listed.into_iter().filter(|k| k != "OL8A").collect();
    let server = world.serve();
    let lake = memory_lake();
    crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap();
    let d = committed(&lake, "love", &today()).await.unwrap();
    let redirects: BTreeMap<&str, &str> =
        d.author_records.iter().filter_map(|r| Some((r.key.as_str(), r.redirect.as_deref()?))).collect();
    assert_eq!(redirects.len(), 5, "{redirects:?}");
    assert_eq!(d.authors.redirects, 5);
    assert!(d.author_records.iter().any(|r| r.key == "OL8A"), "the end of the chain was fetched");
    // The batch of every listed key, then one more for OL8A, which only OL7A led to.
    let asked: Vec<Vec<String>> = server
        .targets()
        .iter()
        .filter_map(|t| decoded_query(t, "keys"))
        .map(|keys| serde_json::from_str(&keys).unwrap())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(!asked[0].contains(&"/authors/OL8A".to_string()));
    assert_eq!(asked[1], ["/authors/OL8A"]);
    (lake, listed)
}

#[tokio::test]
async fn a_merged_author_is_one_person_in_silver_and_in_the_answers() {
    let (lake, listed) = merged_authors_are_followed_to_the_person_and_a_loop_ends().await;
    let (subject, ds) = (Subject::parse(flags::SUBJECT, "love").unwrap(), Ds::parse(flags::DS, &today()).unwrap());
    let transform =
        TransformSettings { partition: Partition::new(subject.clone(), ds), max_reject_ratio: 0.01, force: false };
    bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &transform).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let export = ExportSettings {
        partition: Partition::new(subject.clone(), ds),
        format: bookpipe::cli::ExportFormat::Csv,
        out: out.path().to_path_buf(),
    };
    bookpipe::export::export(&lake, &bookpipe::lineage::Lineage::off(), &export).await.unwrap();
    let csv = |table: &str| -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(out.path().join(format!("{table}.csv"))).unwrap();
        text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    };
    // book_authors: work_key, author_key, position, listed_author_key.
    let links = csv("book_authors");
    let person_of = |listed_key: &str| -> Vec<String> {
        links.iter().filter(|l| l[3] == listed_key).map(|l| l[1].clone()).collect()
    };
    assert!(!person_of("OL2A").is_empty() && person_of("OL2A").iter().all(|k| k == "OL5A"));
    assert!(!person_of("OL3A").is_empty() && person_of("OL3A").iter().all(|k| k == "OL8A"));
    // A loop leads nowhere: those keys stay as listed.
    assert!(person_of("OL9A").iter().all(|k| k == "OL9A"));
    assert!(person_of("OL7A").iter().all(|k| k == "OL8A"));
    assert!(links.iter().all(|l| l[1] == l[3] || ["OL2A", "OL3A", "OL7A"].contains(&l[3].as_str())));
    // authors: one row per person; no row for a merged key.
    let authors: BTreeMap<String, String> =
        csv("authors").into_iter().map(|r| (r[0].clone(), r.last().unwrap().clone())).collect();
    for merged in ["OL2A", "OL3A", "OL7A"] {
        assert!(!authors.contains_key(merged), "{merged} has a row");
    }
    assert_eq!(authors.get("OL5A").map(String::as_str), Some("true"));
    assert_eq!(authors.get("OL8A").map(String::as_str), Some("true"));
    assert_eq!(authors.get("OL9A").map(String::as_str), Some("false"));
    assert_eq!(authors.len(), listed.len() - 3 + 1);

    // The answers count the person once: OL5A's books are the works listing OL2A or OL5A.
    let dir = tempfile::tempdir().unwrap();
    let warehouse =
        WarehouseUrl::parse(&format!("duckdb:{}", dir.path().join("w.duckdb").display()), None, &Default::default())
            .unwrap();
    let load = LoadSettings {
        partition: Partition::new(subject.clone(), ds),
        warehouse: warehouse.clone(),
        gate: Default::default(),
    };
    bookpipe::load::load(&lake, &bookpipe::lineage::Lineage::off(), &load).await.unwrap();
    let aggregate =
        AggregateSettings { partition: Partition::new(subject.clone(), ds), warehouse, output: OutputFormat::Json };
    bookpipe::aggregate::aggregate(&lake, &bookpipe::lineage::Lineage::off(), &aggregate).await.unwrap();
    let gold = layout::gold_csv("author_yearly_average", &Partition::new(subject.clone(), ds));
    let gold = String::from_utf8(lake.get(&gold).await.unwrap().to_vec()).unwrap();
    let totals: BTreeMap<String, String> = gold
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|c| (c[0].to_string(), c[2].to_string()))
        .collect();
    assert!(!totals.contains_key("OL2A") && !totals.contains_key("OL3A"));
    let works_of = |keys: &[&str]| -> usize {
        let mut works: Vec<&String> = links.iter().filter(|l| keys.contains(&l[3].as_str())).map(|l| &l[0]).collect();
        works.sort();
        works.dedup();
        works.len()
    };
    assert_eq!(totals["OL5A"], works_of(&["OL2A", "OL5A"]).to_string());
    assert_eq!(totals["OL8A"], works_of(&["OL3A", "OL7A"]).to_string());
}
