//! Writes a synthetic raw partition straight into a lake, as `fetch` would have landed it: pages of
//! 1000 works, one record object per author (as fetch stores `/authors/<KEY>.json` answers), and
//! the manifest. For benchmarks and for measuring
//! `transform` at sizes the fake API would take too long to serve. Deterministic: the same
//! arguments write the same objects, byte for byte (the data: tests/it/support/synth.rs).
//!
//!     cargo run --release --example generate_raw -- LAKE_DIR SUBJECT DS WORKS AUTHORS
//!     cargo run --release --example generate_raw -- /tmp/lake love 2024-05-01 100000 20000

use std::collections::BTreeSet;

use bookpipe::cli::flags;
use bookpipe::fetch::{AuthorCounts, AuthorRecord, AuthorRequests, FetchDetails};
use bookpipe::lake::commit::{self, Manifest, Object};
use bookpipe::lake::{Lake, layout};
use bookpipe::settings::{Ds, LakeUrl, Partition, Subject};
use bytes::Bytes;

#[path = "../tests/it/support/synth.rs"]
mod synth;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lake_dir, subject, ds, works, authors] = args.as_slice() else {
        anyhow::bail!("usage: generate_raw LAKE_DIR SUBJECT DS WORKS AUTHORS");
    };
    let lake = Lake::open(&LakeUrl::parse(flags::LAKE, lake_dir)?)?;
    let (subject, ds) = (Subject::parse(flags::SUBJECT, subject)?, Ds::parse(flags::DS, ds)?);
    let target = Partition::new(subject.clone(), ds);
    let (works, authors): (usize, usize) = (works.parse()?, authors.parse()?);
    // Fetched "at 06:00 UTC on ds", not now: the same arguments write the same bytes and names.
    let now = ds.date().and_hms_opt(6, 0, 0).expect("06:00 is a time").and_utc();
    let partition = layout::raw_subject_partition(&target);
    let uncommitted = commit::begin(&lake, &partition).await?;
    let limit = 1000;

    let mut objects = Vec::new();
    let mut keys = BTreeSet::new();
    for (index, offset) in (0..works).step_by(limit).enumerate() {
        let body = synth::subject_page(subject.as_str(), works, authors, limit, offset);
        for work in offset..works.min(offset + limit) {
            let value = synth::work(work, authors);
            for author in value["authors"].as_array().into_iter().flatten() {
                keys.insert(author["key"].as_str().unwrap_or_default().trim_start_matches("/authors/").to_string());
            }
        }
        let path = partition.clone().join(layout::page_name(index as u32));
        objects.push(Object::describe(&path, &body, Some(works.min(offset + limit).saturating_sub(offset) as u64)));
        lake.put(&path, Bytes::from(body)).await?;
    }
    let pages = objects.len() as u32;
    let stamp = now.format(bookpipe::fetch::AUTHOR_STAMP).to_string();
    let mut records = Vec::with_capacity(keys.len());
    for key in &keys {
        let body = synth::author(key);
        let path = layout::raw_author_partition(&target).join(layout::author_record_name(key, &stamp));
        let object = Object::describe(&path, &body, None);
        records.push(AuthorRecord {
            key: key.clone(),
            path: path.to_string(),
            bytes: body.len() as u64,
            sha256: Some(object.sha256.clone()),
            fetched_at: now,
            reused: false,
            batch: false,
            redirect: None,
        });
        objects.push(object);
        lake.put(&path, Bytes::from(body)).await?;
    }
    let distinct = keys.len() as u64;
    let details = FetchDetails {
        fetched_at: now,
        api_url: "synthetic://generate_raw".into(),
        limit: limit as u32,
        max_works: None,
        work_count: works as u64,
        works: works as u64,
        distinct_works: works as u64,
        missing_works: 0,
        max_missing_ratio: 0.0,
        pages,
        pages_resumed: 0,
        authors: AuthorCounts { distinct, fetched: distinct, reused: 0, missing: 0, redirects: 0 },
        author_records: records,
        missing_authors: vec![],
        author_requests: AuthorRequests { batches: 0, single: distinct, get_many_unavailable: None },
        requests: 0,
    };
    let manifest = Manifest::new("fetch", &target, now, vec![], objects, details);
    uncommitted.commit(&lake, &manifest).await?;
    println!("wrote {works} works in {pages} pages and {distinct} authors to {lake_dir}/{partition}");
    Ok(())
}
