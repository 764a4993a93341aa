//! `fetch` against the fake Open Library: paging, retries, resume, the author cache, idempotence.

use std::time::Duration;

use bookpipe::cli::flags;
use bookpipe::exit::Outcome;
use bookpipe::fetch;
use bookpipe::fetch::FetchDetails;
use bookpipe::lake::commit;
use bookpipe::lake::{Lake, layout};
use bookpipe::settings::Partition;
use bookpipe::settings::{Ds, LakeUrl, Subject};
use bytes::Bytes;
use chrono::Utc;
use object_store::path::Path;

use crate::support::openlibrary::World;
use crate::support::server::Reply;
use crate::support::{fetch_settings, today, yesterday};

fn memory_lake() -> Lake {
    Lake::open(&LakeUrl::Memory).unwrap()
}

fn partition(subject: &str, ds: &str) -> Path {
    layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, subject).unwrap(),
        Ds::parse(flags::DS, ds).unwrap(),
    ))
}

async fn committed(lake: &Lake, subject: &str, ds: &str) -> Option<commit::Manifest<FetchDetails>> {
    commit::read::<FetchDetails>(lake, &partition(subject, ds)).await.unwrap().map(|c| c.manifest)
}

fn page_target(subject: &str, limit: u64, offset: u64) -> String {
    format!("/subjects/{subject}.json?limit={limit}&offset={offset}&sort=key")
}

#[tokio::test]
async fn a_2500_work_subject_is_three_pages_stored_byte_for_byte() {
    let world = World::generated("love", 2500, 40);
    let expected_pages = [world.page(1000, 0), world.page(1000, 1000), world.page(1000, 2000)];
    let server = world.serve();
    let lake = memory_lake();
    let ds = today();
    let settings = fetch_settings(&server.url(), &ds, "love", &[], Utc::now());

    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(), Outcome::Done);

    let part = partition("love", &ds);
    for (index, expected) in expected_pages.iter().enumerate() {
        let stored = lake.get(&part.clone().join(layout::page_name(index as u32))).await.unwrap();
        assert_eq!(stored.as_ref(), expected.as_slice(), "page {index}");
    }
    let targets = server.targets();
    // Pages 1 and 2 are asked for concurrently: they may arrive in either order.
    let mut page_targets: Vec<&String> = targets.iter().filter(|t| t.starts_with("/subjects/")).collect();
    page_targets.sort();
    assert_eq!(
        page_targets,
        [&page_target("love", 1000, 0), &page_target("love", 1000, 1000), &page_target("love", 1000, 2000)]
    );
    // Every distinct author once, nothing else: 3 pages + one batch of 40 authors.
    assert_eq!(targets.len(), 4);
    assert_eq!(targets.iter().filter(|t| t.starts_with("/api/get_many?keys=")).count(), 1);
    assert_eq!(targets.iter().filter(|t| t.starts_with("/authors/")).count(), 0);
    let agent = server.requests()[0].user_agent.clone().unwrap();
    assert_eq!(agent, format!("bookpipe/{} (tests@example.com)", bookpipe::VERSION));

    let m = committed(&lake, "love", &ds).await.expect("manifest written");
    assert_eq!((m.task.as_str(), m.subject.as_str(), m.ds.as_str()), ("fetch", "love", ds.as_str()));
    let d = &m.details;
    assert_eq!((d.work_count, d.works, d.pages, d.pages_resumed), (2500, 2500, 3, 0));
    assert_eq!((d.distinct_works, d.missing_works), (2500, 0));
    assert_eq!((d.authors.distinct, d.authors.fetched, d.authors.reused, d.authors.missing), (40, 40, 0, 0));
    assert_eq!((d.author_requests.batches, d.author_requests.single), (1, 0));
    assert_eq!(d.requests, 4);
    assert_eq!(d.author_records.len(), 40);
    // 3 pages + 1 batch of author records, each with its real size and checksum.
    assert_eq!(m.objects.len(), 4);
    let page0 = m.objects.iter().find(|o| o.path.ends_with("page-00000.json")).unwrap();
    assert_eq!(page0.bytes, expected_pages[0].len() as u64);
    assert_eq!(page0.sha256, commit::sha256_hex(&expected_pages[0]));
    assert_eq!(page0.rows, Some(1000));
    for record in &d.author_records {
        let body = lake.get(&Path::from(record.path.as_str())).await.unwrap();
        assert_eq!(body.len() as u64, record.bytes);
        assert_eq!(record.sha256.as_deref(), Some(commit::sha256_hex(&body).as_str()));
        assert!(record.batch && record.redirect.is_none());
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&World::author(&record.key)).unwrap();
        assert_eq!(answer["result"][format!("/authors/{}", record.key)], expected);
    }
    // The resume marker is gone once committed.
    let names: Vec<String> = lake.list(&part).await.unwrap().iter().map(|o| o.location.to_string()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[tokio::test]
async fn max_works_caps_the_subject_and_the_last_page_asks_only_for_the_rest() {
    let server = World::generated("love", 2500, 10).serve();
    let lake = memory_lake();
    let settings = fetch_settings(&server.url(), &today(), "love", &["--max-works", "1500"], Utc::now());
    fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
    let pages: Vec<String> = server.targets().into_iter().filter(|t| t.starts_with("/subjects/")).collect();
    assert_eq!(pages, [page_target("love", 1000, 0), page_target("love", 500, 1000)]);
    let d = committed(&lake, "love", &today()).await.unwrap().details;
    assert_eq!((d.work_count, d.works, d.pages), (2500, 1500, 2));
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_then_the_request_succeeds() {
    let server = World::generated("love", 30, 5).serve_with(|world, request| {
        if request.path.starts_with("/subjects/") && request.attempt == 1 {
            Reply::status(429, r#"{"error": "too many requests"}"#).header("Retry-After", "3")
        } else {
            world.answer(request)
        }
    });
    let lake = memory_lake();
    let settings = fetch_settings(&server.url(), &today(), "love", &[], Utc::now());
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(), Outcome::Done);
    let requests = server.requests();
    assert_eq!(requests[0].target, requests[1].target);
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_millis(2950), "waited only {waited:?}");
    let d = committed(&lake, "love", &today()).await.unwrap().details;
    assert_eq!(d.works, 30);
    assert_eq!(d.requests, 2 + 1);
}

#[tokio::test]
async fn two_500s_then_success() {
    let server = World::generated("love", 30, 5).serve_with(|world, request| {
        if request.path.starts_with("/subjects/") && request.attempt <= 2 {
            Reply::status(500, "oops")
        } else {
            world.answer(request)
        }
    });
    let lake = memory_lake();
    let settings = fetch_settings(&server.url(), &today(), "love", &[], Utc::now());
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(), Outcome::Done);
    let pages = server.targets().into_iter().filter(|t| t.starts_with("/subjects/")).count();
    assert_eq!(pages, 3);
    assert_eq!(committed(&lake, "love", &today()).await.unwrap().details.works, 30);
}

#[tokio::test]
async fn persistent_500s_give_up_naming_the_url_the_status_and_the_attempts() {
    let server = World::generated("love", 30, 5).serve_with(|_, _| Reply::status(503, "down"));
    let lake = memory_lake();
    let settings = fetch_settings(&server.url(), &today(), "love", &["--retries", "2"], Utc::now());
    let err = format!("{:#}", fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap_err());
    assert!(err.contains(&format!("{}/subjects/love.json?limit=1000&offset=0", server.url())), "{err}");
    assert!(err.contains("503") && err.contains("after 3 attempt(s)"), "{err}");
    assert_eq!(server.requests().len(), 3);
    assert!(committed(&lake, "love", &today()).await.is_none());
}

#[tokio::test]
async fn a_404_subject_is_a_clear_error_without_retries_or_manifest() {
    let server = World::generated("love", 30, 5).serve();
    let lake = memory_lake();
    let settings = fetch_settings(&server.url(), &today(), "no_such_subject", &[], Utc::now());
    let err = format!("{:#}", fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap_err());
    assert!(err.contains("no_such_subject") && err.contains("404") && err.contains("after 1 attempt(s)"), "{err}");
    assert_eq!(server.requests().len(), 1);
    assert!(committed(&lake, "no_such_subject", &today()).await.is_none());
}

#[tokio::test]
async fn a_server_returning_the_same_page_forever_does_not_loop() {
    let mut world = World::generated("love", 12, 5);
    world.work_count = 19353;
    // One by one, the second request shows it; with later pages asked for concurrently, the ones
    // already under way when page 1 is judged are abandoned: no more than --concurrency after page 0.
    for (concurrency, most) in [("1", 2), ("8", 1 + 8)] {
        let server = world.clone().serve_with(|world, request| {
            if request.path.starts_with("/subjects/") { Reply::json(world.page(12, 0)) } else { world.answer(request) }
        });
        let lake = memory_lake();
        let flags = ["--limit", "12", "--concurrency", concurrency];
        let settings = fetch_settings(&server.url(), &today(), "love", &flags, Utc::now());
        let err =
            format!("{:#}", fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap_err());
        assert!(err.contains("returned the same works as page 0") && err.contains("refusing to loop"), "{err}");
        assert!(err.contains("offset=12&"), "{err}");
        let requests = server.requests().len();
        assert!((2..=most).contains(&requests), "{requests} requests with --concurrency {concurrency}");
        assert!(committed(&lake, "love", &today()).await.is_none());
    }
}

#[tokio::test]
async fn an_interrupted_partition_resumes_with_only_the_missing_page() {
    let world = World::generated("love", 2500, 40);
    let (page0, page1, page2) = (world.page(1000, 0), world.page(1000, 1000), world.page(1000, 2000));
    let server = world.serve();
    let lake = memory_lake();
    let ds = today();
    let part = partition("love", &ds);
    lake.put(&part.clone().join("page-00000.json"), Bytes::from(page0)).await.unwrap();
    lake.put(&part.clone().join("page-00001.json"), Bytes::from(page1)).await.unwrap();

    let settings = fetch_settings(&server.url(), &ds, "love", &[], Utc::now());
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(), Outcome::Done);

    let pages: Vec<String> = server.targets().into_iter().filter(|t| t.starts_with("/subjects/")).collect();
    assert_eq!(pages, [page_target("love", 1000, 2000)]);
    let stored = lake.get(&part.clone().join("page-00002.json")).await.unwrap();
    assert_eq!(stored.as_ref(), page2.as_slice());
    let d = committed(&lake, "love", &ds).await.unwrap().details;
    assert_eq!((d.pages, d.pages_resumed, d.works), (3, 2, 2500));
}

#[tokio::test]
async fn interrupted_author_fetches_resume_from_what_was_stored() {
    // Batches of 5, one at a time; the first run dies on its third batch (a 403 is never retried);
    // the rerun asks only for the authors it has not stored.
    let batches = std::sync::atomic::AtomicUsize::new(0);
    let server = World::generated("love", 100, 20).serve_with(move |world, request| {
        if request.path == "/api/get_many" && batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
            return Reply::status(403, "forbidden once");
        }
        world.answer(request)
    });
    let lake = memory_lake();
    let ds = today();
    let flags = ["--concurrency", "1", "--author-batch", "5"];
    let settings = fetch_settings(&server.url(), &ds, "love", &flags, Utc::now());
    let err = format!("{:#}", fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap_err());
    assert!(err.contains("403"), "{err}");
    assert!(committed(&lake, "love", &ds).await.is_none());
    server.clear_log();

    let settings = fetch_settings(&server.url(), &ds, "love", &flags, Utc::now());
    fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
    let d = committed(&lake, "love", &ds).await.unwrap().details;
    assert_eq!((d.authors.distinct, d.authors.fetched, d.authors.reused), (20, 10, 10));
    // No page is asked again, and no author twice: two batches of the ten left.
    let targets = server.targets();
    assert_eq!(targets.iter().filter(|t| t.starts_with("/subjects/")).count(), 0);
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert_eq!(d.author_requests.batches, 2);
}

#[tokio::test]
async fn a_second_ds_fetches_only_authors_not_cached() {
    let lake = memory_lake();
    let first = World::generated("love", 300, 30);
    let first_authors = first.authors.clone();
    let server = first.serve();
    let settings = fetch_settings(&server.url(), &yesterday(), "love", &[], Utc::now());
    fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
    assert_eq!(get_many_keys(&server.targets()).len(), 30);

    // A day later the subject has grown: 20 more works by 10 new authors.
    let mut second = World::generated("love", 300, 30);
    let newcomers = World::generated("love", 20, 10);
    for (i, mut work) in newcomers.works.into_iter().enumerate() {
        work["key"] = serde_json::json!(format!("/works/OL{}W", 900_000 + i));
        for author in work["authors"].as_array_mut().unwrap() {
            let key = author["key"].as_str().unwrap().replace("/authors/OL", "/authors/OL99");
            author["key"] = serde_json::json!(key);
        }
        second.works.push(work);
    }
    second.work_count = second.works.len() as u64;
    second.authors = first_authors.iter().cloned().chain((1..=10).map(|k| format!("OL99{k}A"))).collect();
    let server = second.serve();
    let settings = fetch_settings(&server.url(), &today(), "love", &[], Utc::now());
    fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();

    let authors = get_many_keys(&server.targets());
    assert_eq!(authors.len(), 10, "{authors:?}");
    assert!(authors.iter().all(|k| k.starts_with("/authors/OL99")), "{authors:?}");
    assert_eq!(server.targets().iter().filter(|t| t.starts_with("/api/get_many")).count(), 1);
    let d = committed(&lake, "love", &today()).await.unwrap().details;
    assert_eq!((d.authors.distinct, d.authors.fetched, d.authors.reused), (40, 10, 30));
    assert!(d.author_records.iter().filter(|r| r.reused).all(|r| first_authors.contains(&r.key)));

    // With --author-max-age 0 nothing in the cache is fresh enough: all 40 are fetched again.
    let settings = fetch_settings(&server.url(), &today(), "love", &["--force", "--author-max-age", "0"], Utc::now());
    server.clear_log();
    fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
    assert_eq!(get_many_keys(&server.targets()).len(), 40);
}

/// Every key asked for through /api/get_many in `targets`.
fn get_many_keys(targets: &[String]) -> Vec<String> {
    targets
        .iter()
        .filter_map(|t| crate::support::openlibrary::decoded_query(t, "keys"))
        .flat_map(|keys| serde_json::from_str::<Vec<String>>(&keys).unwrap())
        .collect()
}

#[tokio::test]
async fn a_complete_partition_is_a_no_op_and_force_refetches() {
    let server = World::generated("love", 50, 5).serve();
    let lake = memory_lake();
    let ds = today();
    let settings = fetch_settings(&server.url(), &ds, "love", &[], Utc::now());
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(), Outcome::Done);
    let first = committed(&lake, "love", &ds).await.unwrap();
    server.clear_log();

    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap(), Outcome::NothingToDo);
    assert!(server.requests().is_empty());

    let later = Utc::now() + chrono::Duration::seconds(1);
    let forced = fetch_settings(&server.url(), &ds, "love", &["--force"], later);
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &forced).await.unwrap(), Outcome::Done);
    let pages = server.targets().into_iter().filter(|t| t.starts_with("/subjects/")).count();
    assert_eq!(pages, 1);
    let second = committed(&lake, "love", &ds).await.unwrap();
    assert_eq!(second.details.fetched_at, later);
    assert_ne!(first.details.fetched_at, second.details.fetched_at);
    // The authors were fetched seconds ago: the cache serves them.
    assert_eq!(second.details.authors.reused, 5);
}

#[tokio::test]
async fn a_forced_refetch_that_finds_fewer_pages_removes_the_stale_ones() {
    let lake = memory_lake();
    let ds = today();
    let server = World::generated("love", 2500, 5).serve();
    crate::support::fetch_love(&lake, &server.url(), &ds, &[]).await.unwrap();
    let server = World::generated("love", 900, 5).serve();
    crate::support::fetch_love(&lake, &server.url(), &ds, &["--force"]).await.unwrap();
    let names: Vec<String> = lake
        .list(&partition("love", &ds))
        .await
        .unwrap()
        .iter()
        .map(|o| o.location.filename().unwrap().to_string())
        .collect();
    assert_eq!(names, ["_manifest.json", "page-00000.json"]);
}

#[tokio::test]
async fn a_missing_author_is_counted_not_fatal() {
    let mut world = World::generated("love", 30, 6);
    world.authors.remove("OL2A");
    let server = world.serve();
    let lake = memory_lake();
    crate::support::fetch_love(&lake, &server.url(), &today(), &[]).await.unwrap();
    let d = committed(&lake, "love", &today()).await.unwrap().details;
    assert_eq!((d.authors.distinct, d.authors.fetched, d.authors.missing), (6, 5, 1));
    assert_eq!(d.missing_authors, ["OL2A"]);
}

#[tokio::test]
async fn an_old_ds_is_refused_unless_allowed() {
    let server = World::generated("love", 10, 2).serve();
    let lake = memory_lake();
    let old = "2024-05-01";
    let err = fetch::fetch(
        &lake,
        &bookpipe::lineage::Lineage::off(),
        &fetch_settings(&server.url(), old, "love", &[], Utc::now()),
    )
    .await
    .unwrap_err();
    assert_eq!(bookpipe::exit::code_for(&Err(err)), bookpipe::exit::Code::BadInput);
    assert!(server.requests().is_empty());
    let allowed = fetch_settings(&server.url(), old, "love", &["--allow-past-ds"], Utc::now());
    assert_eq!(fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &allowed).await.unwrap(), Outcome::Done);
}
