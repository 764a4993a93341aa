//! `fetch` under injected API faults (5xx, 429 with and without Retry-After, responses slower than
//! the client's timeout, connection resets, truncated bodies, bodies that are not JSON): it either
//! completes with exactly the right raw partition, or fails with a clear error and no manifest, and
//! a rerun completes it. Faults are drawn from a seeded generator, so every trial is reproducible.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bookpipe::cli::flags;
use bookpipe::fetch::FetchDetails;
use bookpipe::lake::commit;
use bookpipe::lake::{Lake, layout};
use bookpipe::settings::Partition;
use bookpipe::settings::{Ds, LakeUrl, Subject};
use object_store::path::Path;

use crate::support::openlibrary::World;
use crate::support::server::{Fault, Reply, Request};
use crate::support::today;

/// A fault (or none) for this request, decided by the seed, the target and the attempt.
fn inject(world: &World, request: &Request, seed: u64, rate: f64, injected: &AtomicU64) -> Reply {
    let mut key = seed ^ 0xcbf2_9ce4_8422_2325;
    for byte in request.target.bytes().chain(request.attempt.to_le_bytes()) {
        key = (key ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    let mut rng = fastrand::Rng::with_seed(key);
    if rng.f64() >= rate {
        return world.answer(request);
    }
    injected.fetch_add(1, Ordering::Relaxed);
    match rng.usize(0..7) {
        0 => Reply::status(503, "unavailable"),
        1 => Reply::status(429, r#"{"error": "slow down"}"#).header("Retry-After", "0"),
        2 => Reply::status(429, r#"{"error": "slow down"}"#),
        3 => world.answer(request).fault(Fault::Delay(Duration::from_millis(1300))),
        4 => world.answer(request).fault(Fault::Reset),
        5 => world.answer(request).fault(Fault::Truncate),
        _ => Reply::json("<html>proxy error</html>"),
    }
}

/// The raw partition is exactly what the world serves: every page byte for byte, every author.
async fn assert_exact(lake: &Lake, world: &World, ds: &str) {
    let partition = layout::raw_subject_partition(&Partition::new(
        Subject::parse(flags::SUBJECT, "love").unwrap(),
        Ds::parse(flags::DS, ds).unwrap(),
    ));
    let committed = commit::read::<FetchDetails>(lake, &partition).await.unwrap().expect("committed");
    let d = &committed.manifest.details;
    assert_eq!((d.pages, d.works, d.authors.distinct, d.authors.missing), (3, 2500, world.authors.len() as u64, 0));
    for (index, offset) in [0u64, 1000, 2000].into_iter().enumerate() {
        let stored = lake.get(&partition.clone().join(layout::page_name(index as u32))).await.unwrap();
        assert_eq!(stored.as_ref(), world.page(1000, offset).as_slice(), "page {index}");
    }
    for record in &d.author_records {
        let body = lake.get(&Path::from(record.path.as_str())).await.unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&World::author(&record.key)).unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let stored = if record.batch { &stored["result"][format!("/authors/{}", record.key)] } else { &stored };
        assert_eq!(stored, &expected, "{}", record.key);
    }
}

#[tokio::test]
async fn faults_end_in_an_exact_partition_or_a_clean_failure_that_a_rerun_completes() {
    let (mut completed, mut failed_then_completed, mut faults) = (0, 0, 0);
    for seed in 1..=4u64 {
        let world = World::generated("love", 2500, 30);
        let injected = Arc::new(AtomicU64::new(0));
        let counter = injected.clone();
        let server = world.clone().serve_with(move |world, request| inject(world, request, seed, 0.25, &counter));
        let lake = Lake::open(&LakeUrl::Memory).unwrap();
        let ds = today();
        // Half the trials retry too little to get through (they must fail cleanly), half enough.
        let retries = if seed <= 2 { "1" } else { "12" };
        // One author a batch: enough requests for the faults to land on.
        let first = [
            "--timeout",
            "1",
            "--retries",
            retries,
            "--retry-base-ms",
            "5",
            "--concurrency",
            "8",
            "--author-batch",
            "1",
        ];
        match crate::support::fetch_love(&lake, &server.url(), &ds, &first).await {
            Ok(_) => completed += 1,
            Err(err) => {
                let message = format!("{err:#}");
                assert!(message.contains("http://127.0.0.1") && message.contains("attempt"), "{message}");
                let partition = layout::raw_subject_partition(&Partition::new(
                    Subject::parse(flags::SUBJECT, "love").unwrap(),
                    Ds::parse(flags::DS, &ds).unwrap(),
                ));
                assert!(commit::read::<FetchDetails>(&lake, &partition).await.unwrap().is_none(), "no manifest");
                let patient = ["--timeout", "1", "--retries", "12", "--retry-base-ms", "5", "--author-batch", "1"];
                crate::support::fetch_love(&lake, &server.url(), &ds, &patient)
                    .await
                    .unwrap_or_else(|err| panic!("seed {seed}: the rerun failed: {err:#}"));
                failed_then_completed += 1;
            }
        }
        assert_exact(&lake, &world, &ds).await;
        faults += injected.load(Ordering::Relaxed);
    }
    assert!(faults >= 20, "only {faults} faults injected");
    assert_eq!(completed + failed_then_completed, 4);
    assert!(completed >= 1 && failed_then_completed >= 1, "{completed} completed, {failed_then_completed} recovered");
    eprintln!(
        "fault trials: 4, faults injected: {faults}, completed first time: {completed}, after a rerun: {failed_then_completed}"
    );
}
