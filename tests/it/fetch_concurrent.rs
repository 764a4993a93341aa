//! `fetch`'s pages after the first, asked for concurrently (`--concurrency`) and judged in page
//! order: the same requests and the same raw partition as one by one, a subject that shrinks under
//! the pager ending at its short page, and a page that fails failing the fetch resumably.

use std::time::Duration;

use bookpipe::cli::flags;
use bookpipe::exit::Outcome;
use bookpipe::fetch::FetchDetails;
use bookpipe::lake::{Lake, commit, layout};
use bookpipe::settings::{Ds, LakeUrl, Partition, Subject};
use chrono::Utc;
use object_store::path::Path;

use crate::support::openlibrary::{Faults, World};
use crate::support::server::{Fault, Reply, Request};
use crate::support::{fetch_love, fetch_settings, files, today};

fn partition(ds: &str) -> Path {
    layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, "love").unwrap(),
        Ds::parse(flags::DS, ds).unwrap(),
    ))
}

async fn committed(lake: &Lake, ds: &str) -> Option<FetchDetails> {
    commit::read::<FetchDetails>(lake, &partition(ds)).await.unwrap().map(|c| c.manifest.details)
}

/// The names of the objects in the partition folder.
async fn names(lake: &Lake, ds: &str) -> Vec<String> {
    let listed = lake.list(&partition(ds)).await.unwrap();
    listed.iter().map(|o| o.location.filename().unwrap().to_string()).collect()
}

/// The subject page requests `targets` holds, sorted (concurrent requests may arrive in any order).
fn page_targets(targets: &[String]) -> Vec<String> {
    let mut pages: Vec<String> = targets.iter().filter(|t| t.starts_with("/subjects/")).cloned().collect();
    pages.sort();
    pages
}

fn expected_pages(limit: u64, offsets: impl IntoIterator<Item = u64>) -> Vec<String> {
    let mut pages: Vec<String> =
        offsets.into_iter().map(|o| format!("/subjects/love.json?limit={limit}&offset={o}&sort=key")).collect();
    pages.sort();
    pages
}

fn offset_of(request: &Request) -> Option<u64> {
    request.path.starts_with("/subjects/").then(|| request.query.get("offset")?.parse().ok()).flatten()
}

#[tokio::test]
async fn later_pages_are_asked_for_concurrently_each_exactly_once() {
    // 10 pages of 500 and one author batch; every answer takes a while, as a distant server's does.
    for (concurrency, at_most) in [("3", 3), ("1", 1)] {
        let faults = Faults { latency: Duration::from_millis(100), ..Faults::default() };
        let server = World::generated("love", 5000, 50).serve_faulty(faults);
        let lake = Lake::open(&LakeUrl::Memory).unwrap();
        let flags = ["--limit", "500", "--concurrency", concurrency];
        assert_eq!(fetch_love(&lake, &server.url(), &today(), &flags).await.unwrap(), Outcome::Done);
        // Exactly the requests of one by one: each page once, then the batch.
        let targets = server.targets();
        assert_eq!(page_targets(&targets), expected_pages(500, (0..10).map(|p| p * 500)), "{concurrency}");
        assert_eq!(targets.len(), 11, "{targets:?}");
        assert!(targets[..10].iter().all(|t| t.starts_with("/subjects/")) && targets[10].starts_with("/api/get_many"));
        let d = committed(&lake, &today()).await.unwrap();
        assert_eq!((d.pages, d.works, d.distinct_works, d.missing_works, d.requests), (10, 5000, 5000, 0, 11));
        // Page 0 goes alone; the others go up to --concurrency at once (the batch goes alone).
        let most = server.most_in_flight();
        if at_most == 1 {
            assert_eq!(most, 1, "one by one");
        } else {
            assert!((2..=at_most).contains(&most), "{most} requests in flight at once with --concurrency {at_most}");
        }
    }
}

#[tokio::test]
async fn the_raw_partition_is_the_same_whatever_the_concurrency() {
    // Earlier pages answer later, so concurrent answers come back out of order.
    let world = World::generated("love", 3000, 60);
    let slow_first = |world: &World, request: &Request| {
        let reply = world.answer(request);
        match offset_of(request) {
            Some(offset) => reply.fault(Fault::Delay(Duration::from_millis(10 * (12 - offset / 250)))),
            None => reply,
        }
    };
    let server = world.clone().serve_with(slow_first);
    let now = Utc::now();
    let mut partitions = Vec::new();
    for concurrency in ["1", "8"] {
        server.clear_log();
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeUrl::Local(dir.path().to_path_buf())).unwrap();
        let flags = ["--limit", "250", "--concurrency", concurrency];
        let mut settings = fetch_settings(&server.url(), &today(), "love", &flags, now);
        // Both runs share the start and the drawn tag, so every object name is the same.
        settings.run_tag = "0a1b2c3d".into();
        bookpipe::fetch::fetch(&lake, &bookpipe::lineage::Lineage::off(), &settings).await.unwrap();
        assert_eq!(page_targets(&server.targets()), expected_pages(250, (0..12).map(|p| p * 250)));
        partitions.push(files(dir.path()));
    }
    // Every object, the manifest included, byte for byte: 12 pages, one batch, the manifest.
    assert_eq!(partitions[0].len(), 14, "{:?}", partitions[0].keys());
    assert_eq!(partitions[0].keys().collect::<Vec<_>>(), partitions[1].keys().collect::<Vec<_>>());
    for (path, one_by_one) in &partitions[0] {
        let concurrent = &partitions[1][path];
        // Where they part, if they do.
        let at = one_by_one.iter().zip(concurrent).position(|(a, b)| a != b).unwrap_or(one_by_one.len());
        let show = |bytes: &[u8]| {
            String::from_utf8_lossy(&bytes[at.saturating_sub(300)..]).chars().take(600).collect::<String>()
        };
        assert!(one_by_one == concurrent, "{path}:\n{}\nagainst\n{}", show(one_by_one), show(concurrent));
    }
    for (index, offset) in (0..12).map(|p| (p, p as u64 * 250)) {
        let path = format!("{}/{}", partition(&today()), layout::page_name(index));
        assert_eq!(partitions[1][&path], world.page(250, offset), "page {index}");
    }
}

#[tokio::test]
async fn a_subject_that_shrinks_under_the_pager_ends_at_its_short_page() {
    // Page 0 announces 5000 works; then the subject holds only 2250, so the page at offset 2000 is
    // short. It answers last: the pages beyond it, asked for concurrently, come back first.
    // Either they announce the smaller count (empty pages, stored), or still the old one (empty
    // pages before the count: a search failure, retried, here not at all: --retries 0).
    for announced_after in [2250, 5000] {
        let before = World::generated("love", 5000, 50);
        let mut after = World::generated("love", 2250, 50);
        after.work_count = announced_after;
        let server = after.clone().serve_with(move |after, request| match offset_of(request) {
            Some(0) => before.answer(request),
            Some(2000) => after.answer(request).fault(Fault::Delay(Duration::from_millis(300))),
            _ => after.answer(request),
        });
        let lake = Lake::open(&LakeUrl::Memory).unwrap();
        let flags = ["--limit", "500", "--concurrency", "8", "--max-missing-ratio", "0.6", "--retries", "0"];
        assert_eq!(fetch_love(&lake, &server.url(), &today(), &flags).await.unwrap(), Outcome::Done);

        let beyond = server.requests().iter().filter(|r| offset_of(r).is_some_and(|o| o > 2000)).count();
        assert!(beyond >= 1, "no page beyond the short one was asked for");
        let d = committed(&lake, &today()).await.unwrap();
        assert_eq!((d.work_count, d.pages, d.works, d.distinct_works, d.missing_works), (5000, 5, 2250, 2250, 2750));
        assert_eq!(d.requests, server.requests().len() as u64);
        // Nothing beyond the short page is left, in the folder or in the manifest.
        let mut expected: Vec<String> = (0..5).map(layout::page_name).collect();
        expected.insert(0, "_manifest.json".into());
        assert_eq!(names(&lake, &today()).await, expected, "announcing {announced_after}");
        let manifest = commit::read::<FetchDetails>(&lake, &partition(&today())).await.unwrap().unwrap().manifest;
        let pages: Vec<&str> =
            manifest.objects.iter().map(|o| o.path.as_str()).filter(|p| p.contains("/page-")).collect();
        assert_eq!(pages.len(), 5, "{pages:?}");
        let short = lake.get(&partition(&today()).join(layout::page_name(4))).await.unwrap();
        assert_eq!(short.as_ref(), after.page(500, 2000).as_slice());
    }
}

#[tokio::test]
async fn a_page_that_keeps_failing_fails_the_fetch_and_a_rerun_resumes_the_rest() {
    let world = World::generated("love", 5000, 50);
    let server = world.clone().serve_with(|world, request| {
        if offset_of(request) == Some(3000) { Reply::status(503, "down") } else { world.answer(request) }
    });
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    let flags = ["--limit", "500", "--concurrency", "8", "--retries", "1"];
    let err = format!("{:#}", fetch_love(&lake, &server.url(), &today(), &flags).await.unwrap_err());
    // The error of one by one: the page's URL, its status, its attempts.
    let url = format!("{}/subjects/love.json?limit=500&offset=3000&sort=key", server.url());
    assert!(err.contains(&format!("GET {url} answered 503")) && err.contains("after 2 attempt(s)"), "{err}");
    assert!(committed(&lake, &today()).await.is_none());
    // What a rerun needs: the settings, and every page before the failed one.
    let left = names(&lake, &today()).await;
    assert!(left.contains(&"_fetch_state.json".to_string()), "{left:?}");
    assert!((0..6).all(|p| left.contains(&layout::page_name(p))), "{left:?}");
    assert!(!left.contains(&layout::page_name(6)) && !left.contains(&"_manifest.json".to_string()), "{left:?}");

    let server = world.clone().serve();
    assert_eq!(fetch_love(&lake, &server.url(), &today(), &flags).await.unwrap(), Outcome::Done);
    // Only the pages the lake lacked are asked for again.
    let stored: Vec<u64> = (0..10).filter(|p| left.contains(&layout::page_name(*p as u32))).collect();
    let lacking = (0..10).filter(|p| !stored.contains(p)).map(|p| p * 500);
    assert_eq!(page_targets(&server.targets()), expected_pages(500, lacking));
    let d = committed(&lake, &today()).await.unwrap();
    assert_eq!((d.pages, d.pages_resumed, d.distinct_works), (10, stored.len() as u32, 5000));
    for page in 0..10u32 {
        let body = lake.get(&partition(&today()).join(layout::page_name(page))).await.unwrap();
        assert_eq!(body.as_ref(), world.page(500, u64::from(page) * 500).as_slice(), "page {page}");
    }
}
