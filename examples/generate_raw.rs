//! Writes a synthetic raw partition straight into a lake, as `fetch` lands one from a cold cache:
//! pages of 1000 works; the author records as `/api/get_many` answers of 100 keys each (fetch's
//! default `--author-batch`), in key order; merged authors as the redirect records Open Library
//! answers for them, their targets asked for in a second round of batches (as fetch follows
//! redirects); a share of keys left out of their batch and stored as fetch's fallback stores them
//! (one `/authors/<KEY>.json` object each); and the manifest saying which object holds each record.
//! For benchmarks and for measuring `transform` at sizes the fake API would take too long to serve.
//! Deterministic: the same arguments write the same objects, byte for byte (the data:
//! tests/it/support/synth.rs).
//!
//!     cargo run --release --example generate_raw -- LAKE_DIR SUBJECT DS WORKS AUTHORS
//!     cargo run --release --example generate_raw -- /tmp/lake love 2024-05-01 100000 20000

use std::collections::{BTreeMap, BTreeSet};

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
    let mut fetched = Authors::new(&lake, &target, now, stamp);
    // Round one: every listed key; round two: the people the merged ones redirect to.
    fetched.round(&keys.iter().cloned().collect::<Vec<_>>(), authors).await?;
    let targets: Vec<String> = fetched.records.values().filter_map(|r| r.redirect.clone()).collect();
    fetched.round(&targets, authors).await?;
    objects.extend(std::mem::take(&mut fetched.objects));
    let (batches, single) = (fetched.batches, fetched.single);
    let records: Vec<AuthorRecord> = fetched.records.into_values().collect();
    let redirects = records.iter().filter(|r| r.redirect.is_some()).count() as u64;
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
        authors: AuthorCounts { distinct, fetched: records.len() as u64, reused: 0, missing: 0, redirects },
        author_records: records,
        missing_authors: vec![],
        author_requests: AuthorRequests { batches, single, get_many_unavailable: None },
        requests: 0,
    };
    let manifest = Manifest::new("fetch", &target, now, vec![], objects, details);
    uncommitted.commit(&lake, &manifest).await?;
    println!(
        "wrote {works} works in {pages} pages and {distinct} authors ({redirects} merged) in {batches} batches \
         and {single} single records to {lake_dir}/{partition}"
    );
    Ok(())
}

/// fetch's default `--author-batch`: keys per get_many request.
const BATCH: usize = 100;
/// One author in this many (by key number) was merged into another key: its record is a redirect.
const MERGED_EVERY: u64 = 100;
/// One author in this many is left out of its get_many answer and then answered on its own, so
/// fetch stores it as its fallback does (an object of its own, `batch: false`).
const SINGLE_EVERY: u64 = 50;

/// The run tag in the generated author objects' names: fetch draws one per run; a generated lake
/// keeps a fixed one so the same arguments give the same lake.
const GENERATED_RUN: &str = "00000000";

/// The author objects of the partition, written as fetch writes them.
struct Authors<'a> {
    lake: &'a Lake,
    folder: object_store::path::Path,
    now: chrono::DateTime<chrono::Utc>,
    stamp: String,
    records: BTreeMap<String, AuthorRecord>,
    objects: Vec<Object>,
    batches: u64,
    single: u64,
}

impl<'a> Authors<'a> {
    fn new(lake: &'a Lake, target: &Partition, now: chrono::DateTime<chrono::Utc>, stamp: String) -> Self {
        let folder = layout::raw_author_partition(target);
        Self { lake, folder, now, stamp, records: BTreeMap::new(), objects: vec![], batches: 0, single: 0 }
    }

    /// One round of fetch's author phase: `keys` in get_many batches, each followed by the single
    /// records of the keys it left out.
    async fn round(&mut self, keys: &[String], listed: usize) -> anyhow::Result<()> {
        for chunk in keys.chunks(BATCH) {
            let (answered, omitted): (Vec<&String>, Vec<&String>) =
                chunk.iter().partition(|key| number(key) % SINGLE_EVERY != 7);
            let entries: Vec<(String, serde_json::Value)> =
                answered.iter().map(|key| ((*key).clone(), record(key, listed))).collect();
            let body = synth::get_many(&entries);
            let path =
                self.folder.clone().join(layout::author_batch_name(&self.stamp, GENERATED_RUN, self.batches as u32));
            let object = Object::describe(&path, &body, Some(entries.len() as u64));
            for (key, value) in &entries {
                let redirect = bookpipe::records::redirect_of(value);
                self.records.insert(key.clone(), self.record(key, &object, true, redirect));
            }
            self.lake.put(&path, Bytes::from(body)).await?;
            self.objects.push(object);
            self.batches += 1;
            for key in omitted {
                let body = serde_json::to_vec(&record(key, listed))?;
                let path = self.folder.clone().join(layout::author_record_name(key, &self.stamp, GENERATED_RUN));
                let object = Object::describe(&path, &body, None);
                let redirect = bookpipe::records::redirect_target(&body);
                self.records.insert(key.clone(), self.record(key, &object, false, redirect));
                self.lake.put(&path, Bytes::from(body)).await?;
                self.objects.push(object);
                self.single += 1;
            }
        }
        Ok(())
    }

    fn record(&self, key: &str, object: &Object, batch: bool, redirect: Option<String>) -> AuthorRecord {
        AuthorRecord {
            key: key.to_string(),
            path: object.path.clone(),
            bytes: object.bytes,
            sha256: Some(object.sha256.clone()),
            fetched_at: self.now,
            reused: false,
            batch,
            redirect,
        }
    }
}

/// The number in an author key (`OL42A` → 42).
fn number(key: &str) -> u64 {
    key.trim_start_matches("OL").trim_end_matches('A').parse().unwrap_or(0)
}

/// The record the server holds for `key`: a listed author (`OL1A`..`OL<listed>A`) one in
/// [`MERGED_EVERY`] times redirects to a key of its own beyond the listed ones (a person no work of
/// the subject lists directly); every other key is a person's record.
fn record(key: &str, listed: usize) -> serde_json::Value {
    let n = number(key);
    if n <= listed as u64 && n % MERGED_EVERY == 37 {
        return synth::redirect(key, &format!("OL{}A", listed as u64 + n));
    }
    serde_json::from_slice(&synth::author(key)).expect("synth writes JSON")
}
