//! The author records of a fetch: reused while fresh, else asked for in batches, redirects followed.
//!
//! - **Batches.** `GET /api/get_many?keys=[…]` answers up to `--author-batch` records at once
//!   (`{"status": "ok", "result": {"/authors/OL1A": {…}, …}}`); its body is stored as one object and
//!   the manifest says which object holds each author. Keys a batch leaves out are asked for alone
//!   (`/authors/<KEY>.json`; a 404 there is "missing"). get_many is a legacy API: if it answers
//!   404/410, a body that is not JSON, or a `status` other than `ok`, the rest of the run asks one
//!   author at a time, and says so once.
//! - **Redirects.** A merged author's record is `{"type": {"key": "/type/redirect"}, "location":
//!   "/authors/OL…A"}`: its target is fetched too (chains followed; each key is asked for at most
//!   once a run, so a loop ends), and `transform` maps every key to the person it leads to.
//! - **Reuse without listing the world.** The records a fetch may reuse are those of the subject's
//!   latest other committed partition (one folder listing of the subject and one manifest) and
//!   those an interrupted run of this partition left (one listing of its own folder). A record is
//!   fresh for between half and all of `--author-max-age`, at a point fixed by its key, so the
//!   records of one cold fetch do not all expire on the same day.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use chrono::NaiveDateTime;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::Deserialize;
use serde_json::Value;

use super::details::{AUTHOR_STAMP, AuthorCounts, AuthorRecord, AuthorRequests};
use super::error::FetchError;
use super::output;
use crate::lake::commit::{self, Object};
use crate::lake::{Lake, layout};
use crate::openlibrary::{Check, OpenLibrary, SourceError, parse_author_key};
use crate::records;
use crate::settings::{Ds, FetchSettings};

/// The longest request line a batch may make: gunicorn, behind Open Library's nginx, refuses
/// request lines over 4094 bytes by default.
pub const MAX_REQUEST_LINE: usize = 4000;
/// Earlier partitions of the subject tried, newest first, for one with a manifest.
const PRIOR_PARTITIONS: usize = 3;

/// What the author phase came to.
pub(super) struct Authors {
    pub counts: AuthorCounts,
    pub records: Vec<AuthorRecord>,
    pub missing: Vec<String>,
    pub written: Vec<Object>,
    pub requests: AuthorRequests,
}

pub(super) async fn fetch(
    lake: &Lake,
    client: &OpenLibrary,
    s: &FetchSettings,
    keys: &BTreeSet<String>,
) -> Result<Authors, FetchError> {
    let cache = reusable(lake, s).await?;
    let fresh = |key: &str| cache.get(key).filter(|record| is_fresh(record, s)).cloned();
    let mut records: BTreeMap<String, AuthorRecord> = BTreeMap::new();
    let mut missing = BTreeSet::new();
    let mut asked = BTreeSet::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for key in keys {
        match fresh(key) {
            Some(record) => {
                records.insert(key.clone(), record);
            }
            None => {
                wanted.insert(key.clone());
            }
        }
    }
    let fetcher = Fetcher::new(lake, client, s);
    let mut written = Vec::new();
    loop {
        // Redirect targets not known yet: from the cache if fresh there, else asked for.
        let targets: Vec<String> = records
            .values()
            .filter_map(|record| record.redirect.clone())
            .filter(|target| !records.contains_key(target) && !missing.contains(target) && !asked.contains(target))
            .collect();
        for target in targets {
            match fresh(&target) {
                Some(record) => {
                    records.insert(target, record);
                }
                None => {
                    wanted.insert(target);
                }
            }
        }
        if wanted.is_empty() {
            break;
        }
        let round: Vec<String> = std::mem::take(&mut wanted).into_iter().collect();
        asked.extend(round.iter().cloned());
        let (found, absent, objects) = fetcher.fetch(&round).await?;
        records.extend(found.into_iter().map(|record| (record.key.clone(), record)));
        missing.extend(absent);
        written.extend(objects);
    }
    fetcher.bar.finish_and_clear();
    warn_about_loops(&records);

    let records: Vec<AuthorRecord> = records.into_values().collect();
    let counts = AuthorCounts {
        distinct: keys.len() as u64,
        fetched: records.iter().filter(|r| !r.reused).count() as u64,
        reused: records.iter().filter(|r| r.reused).count() as u64,
        missing: missing.len() as u64,
        redirects: records.iter().filter(|r| r.redirect.is_some()).count() as u64,
    };
    let requests = AuthorRequests {
        batches: fetcher.batches.load(Ordering::Relaxed),
        single: fetcher.single.load(Ordering::Relaxed),
        get_many_unavailable: fetcher.gone.into_inner().expect("never held across a panic"),
    };
    Ok(Authors { counts, records, missing: missing.into_iter().collect(), written, requests })
}

/// Whether a stored record may be used instead of asking again: fetched within a share of
/// `--author-max-age` between ½ and 1 that the key fixes, so refreshes spread over days.
fn is_fresh(record: &AuthorRecord, s: &FetchSettings) -> bool {
    let max_age = s.author_max_age.num_milliseconds() as f64 * spread(&record.key);
    record.fetched_at >= s.now - chrono::Duration::milliseconds(max_age as i64)
}

/// A number in [0.5, 1) fixed by the key (FNV-1a), the same on every run and machine.
fn spread(key: &str) -> f64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    0.5 + (hash % 10_000) as f64 / 20_000.0
}

/// Logs the redirect chains that end in a loop (transform keeps those keys as they are).
fn warn_about_loops(records: &BTreeMap<String, AuthorRecord>) {
    let redirects: HashMap<String, String> =
        records.values().filter_map(|r| r.redirect.clone().map(|to| (r.key.clone(), to))).collect();
    for key in redirects.keys() {
        if let Err(chain) = records::canonical_author(key, &redirects) {
            tracing::warn!(author = %key, chain = ?chain, "author redirects loop; the key is kept as it is");
        }
    }
}

/// One run's requests for author records, and what it learnt about get_many.
struct Fetcher<'a> {
    lake: &'a Lake,
    client: &'a OpenLibrary,
    s: &'a FetchSettings,
    folder: Path,
    stamp: String,
    next_batch: AtomicU32,
    batches: AtomicU64,
    single: AtomicU64,
    /// Why get_many was given up, once it was.
    gone: Mutex<Option<String>>,
    bar: indicatif::ProgressBar,
}

type Round = (Vec<AuthorRecord>, Vec<String>, Vec<Object>);

impl<'a> Fetcher<'a> {
    fn new(lake: &'a Lake, client: &'a OpenLibrary, s: &'a FetchSettings) -> Self {
        Self {
            lake,
            client,
            s,
            folder: layout::raw_author_partition(&s.partition),
            stamp: s.now.format(AUTHOR_STAMP).to_string(),
            next_batch: AtomicU32::new(0),
            batches: AtomicU64::new(0),
            single: AtomicU64::new(0),
            gone: Mutex::new(None),
            bar: output::bar("authors", Some(0)),
        }
    }

    /// Fetches `keys`: records found, keys Open Library has no record of, objects written.
    async fn fetch(&self, keys: &[String]) -> Result<Round, FetchError> {
        self.bar.inc_length(keys.len() as u64);
        let batches = batches(self.client, keys, self.s.author_batch);
        let rounds: Vec<Round> = futures::stream::iter(batches)
            .map(|batch| self.batch(batch))
            .buffer_unordered(self.s.concurrency)
            .try_collect()
            .await?;
        let mut all: Round = (vec![], vec![], vec![]);
        for (found, absent, objects) in rounds {
            all.0.extend(found);
            all.1.extend(absent);
            all.2.extend(objects);
        }
        Ok(all)
    }

    /// One get_many request for `keys` (or single requests, once get_many is gone).
    async fn batch(&self, keys: Vec<&str>) -> Result<Round, FetchError> {
        if self.gone.lock().expect("never held across a panic").is_some() {
            return self.singly(keys).await;
        }
        let url = self.client.get_many_url(&keys);
        let (body, result) = match self.client.get_checked(&url, check_get_many).await {
            Ok(answer) => answer,
            Err(err) if get_many_is_gone(&err) => {
                self.give_up_get_many(&err);
                return self.singly(keys).await;
            }
            Err(err) => return Err(err.into()),
        };
        let n = self.next_batch.fetch_add(1, Ordering::Relaxed);
        let path = self.folder.clone().join(layout::author_batch_name(&self.stamp, &self.s.run_tag, n));
        let object = output::store(self.lake, &path, body, Some(result.len() as u64)).await?;
        self.batches.fetch_add(1, Ordering::Relaxed);
        let mut found = Vec::with_capacity(keys.len());
        let mut omitted = Vec::new();
        for key in keys {
            match result.get(&format!("/authors/{key}")) {
                Some(record) => found.push(self.record(key, &path, &object, true, records::redirect_of(record))),
                None => omitted.push(key),
            }
        }
        self.bar.inc(found.len() as u64);
        let (more, absent, mut objects) = self.singly(omitted).await?;
        found.extend(more);
        objects.insert(0, object);
        Ok((found, absent, objects))
    }

    /// Records that get_many is unavailable for the rest of the run; says so the first time.
    fn give_up_get_many(&self, err: &SourceError) {
        let mut gone = self.gone.lock().expect("never held across a panic");
        if gone.is_none() {
            tracing::warn!(error = %err, "/api/get_many is unavailable; asking for author records one by one for the rest of this run");
            *gone = Some(err.to_string());
        }
    }

    /// `/authors/<KEY>.json` for each key, one after the other; a 404 is a missing author.
    async fn singly(&self, keys: Vec<&str>) -> Result<Round, FetchError> {
        let mut round: Round = (vec![], vec![], vec![]);
        for key in keys {
            self.single.fetch_add(1, Ordering::Relaxed);
            self.bar.inc(1);
            let body = match self.client.get_json(&self.client.author_url(key)).await {
                Ok(body) => body,
                Err(err) if err.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
                    tracing::warn!(author = key, "author not found (404); its works keep the key");
                    round.1.push(key.to_string());
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            let redirect = records::redirect_target(&body);
            let path = self.folder.clone().join(layout::author_record_name(key, &self.stamp, &self.s.run_tag));
            let object = output::store(self.lake, &path, body, None).await?;
            round.0.push(self.record(key, &path, &object, false, redirect));
            round.2.push(object);
        }
        Ok(round)
    }

    fn record(&self, key: &str, path: &Path, object: &Object, batch: bool, redirect: Option<String>) -> AuthorRecord {
        AuthorRecord {
            key: key.to_string(),
            path: path.to_string(),
            bytes: object.bytes,
            sha256: Some(object.sha256.clone()),
            fetched_at: self.s.now,
            reused: false,
            batch,
            redirect,
        }
    }
}

/// `keys` in batches of at most `size`, each short enough for a request line.
fn batches<'k>(client: &OpenLibrary, keys: &'k [String], size: usize) -> Vec<Vec<&'k str>> {
    let mut batches: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for key in keys {
        current.push(key.as_str());
        let too_long = OpenLibrary::request_line_len(&client.get_many_url(&current)) > MAX_REQUEST_LINE;
        if current.len() > size || (too_long && current.len() > 1) {
            current.pop();
            batches.push(std::mem::replace(&mut current, vec![key.as_str()]));
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// A get_many answer: `{"status": "ok", "result": {key: record}}`; anything else means the API is
/// not (or no longer) what bookpipe expects.
fn check_get_many(body: &[u8]) -> Result<HashMap<String, Value>, Check> {
    #[derive(Deserialize)]
    struct Envelope {
        status: Option<String>,
        result: Option<HashMap<String, Value>>,
        message: Option<String>,
    }
    let unexpected = |reason: String| Check::Unexpected("a get_many answer", reason);
    let envelope: Envelope = serde_json::from_slice(body).map_err(|err| unexpected(err.to_string()))?;
    match (envelope.status.as_deref(), envelope.result) {
        (Some("ok"), Some(result)) => Ok(result),
        (status, _) => Err(unexpected(format!("status {status:?}, message {:?}", envelope.message))),
    }
}

/// Whether a get_many failure means the API is gone or changed (fall back to single reads) rather
/// than a failure that single reads would meet too.
fn get_many_is_gone(err: &SourceError) -> bool {
    use reqwest::StatusCode;
    match err {
        SourceError::Status { status, .. } => [StatusCode::NOT_FOUND, StatusCode::GONE].contains(status),
        SourceError::NotJson { .. } | SourceError::Unexpected { .. } => true,
        _ => false,
    }
}

/// The part of an earlier fetch manifest that says where its author records are.
#[derive(Deserialize)]
struct Prior {
    details: PriorDetails,
}

#[derive(Deserialize)]
struct PriorDetails {
    author_records: Vec<AuthorRecord>,
}

/// The records this fetch may reuse, newest per key: those the subject's latest other committed
/// partition used, and those an interrupted or earlier run of this partition stored.
async fn reusable(lake: &Lake, s: &FetchSettings) -> Result<HashMap<String, AuthorRecord>, FetchError> {
    let mut cache: HashMap<String, AuthorRecord> = HashMap::new();
    let mut keep = |record: AuthorRecord| match cache.get(&record.key) {
        Some(known) if known.fetched_at >= record.fetched_at => {}
        _ => drop(cache.insert(record.key.clone(), record)),
    };
    let mut days: Vec<(Ds, Path)> = lake
        .list_folders(&layout::raw_subject_prefix(&s.partition.subject))
        .await?
        .into_iter()
        .filter_map(|folder| {
            let name = folder.filename()?.strip_prefix("ds=")?.to_string();
            Some((Ds::parse(crate::cli::flags::DS, &name).ok()?, folder))
        })
        .filter(|(ds, _)| *ds != s.partition.ds)
        .collect();
    days.sort_by_key(|(ds, _)| std::cmp::Reverse(*ds));
    for (_, folder) in days.into_iter().take(PRIOR_PARTITIONS) {
        let Some((prior, _, _)) = commit::read_as::<Prior>(lake, &folder).await? else { continue };
        // Records of manifests written before batches carry no digest of their own, and were never
        // read for redirects: they are fetched again (a batch per 100), not reused.
        for mut record in prior.details.author_records.into_iter().filter(|r| r.sha256.is_some()) {
            record.reused = true;
            keep(record);
        }
        break;
    }
    for record in stored_here(lake, s).await? {
        keep(record);
    }
    Ok(cache)
}

/// The records already stored in this partition's author folder (by an interrupted run, or by the
/// complete run a `--force` redoes).
async fn stored_here(lake: &Lake, s: &FetchSettings) -> Result<Vec<AuthorRecord>, FetchError> {
    let mut records = Vec::new();
    for object in lake.list(&layout::raw_author_partition(&s.partition)).await? {
        let name = object.location.filename().unwrap_or_default();
        let Some((key, stamp)) = layout::parse_author_object_name(name) else { continue };
        let Ok(fetched_at) = NaiveDateTime::parse_from_str(stamp, AUTHOR_STAMP) else { continue };
        let body = lake.get(&object.location).await?;
        let object = Object::describe(&object.location, &body, None);
        let record = |key: &str, batch: bool, redirect: Option<String>| AuthorRecord {
            key: key.to_string(),
            path: object.path.clone(),
            bytes: object.bytes,
            sha256: Some(object.sha256.clone()),
            fetched_at: fetched_at.and_utc(),
            reused: true,
            batch,
            redirect,
        };
        match key {
            Some(key) => {
                let redirect = records::redirect_target(&body);
                records.push(record(key, false, redirect));
            }
            // A batch object: its records, by the keys it answered.
            None => {
                let Ok(result) = check_get_many(&body) else { continue };
                for (key, value) in &result {
                    if let Some(key) = parse_author_key(key) {
                        records.push(record(key, true, records::redirect_of(value)));
                    }
                }
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::HttpSettings;

    fn client() -> OpenLibrary {
        OpenLibrary::new(&HttpSettings {
            api_url: reqwest::Url::parse("https://openlibrary.org").unwrap(),
            user_agent: "bookpipe/test".into(),
            rate: 1.0,
            timeout: std::time::Duration::from_secs(1),
            retries: 0,
            retry_base: std::time::Duration::from_millis(1),
        })
        .unwrap()
    }

    #[test]
    fn batches_keep_to_the_size_and_the_request_line() {
        let ol = client();
        let keys: Vec<String> = (0..250).map(|i| format!("OL{}A", 10_000_000 + i)).collect();
        let sizes: Vec<usize> = batches(&ol, &keys, 100).iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        for batch in batches(&ol, &keys, 100) {
            assert!(OpenLibrary::request_line_len(&ol.get_many_url(&batch)) <= MAX_REQUEST_LINE);
        }
        // Keys long enough that the request line, not the count, ends a batch.
        let long: Vec<String> = (0..100).map(|i| format!("OL{}{i}A", "9".repeat(60))).collect();
        let split = batches(&ol, &long, 100);
        assert!(split.len() > 1, "{}", split.len());
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), 100);
        assert!(split.iter().all(|b| OpenLibrary::request_line_len(&ol.get_many_url(b)) <= MAX_REQUEST_LINE));
    }

    #[test]
    fn get_many_answers_are_judged() {
        let ok = br#"{"status": "ok", "result": {"/authors/OL1A": {"key": "/authors/OL1A", "name": "A"}}}"#;
        assert_eq!(check_get_many(ok).unwrap().len(), 1);
        for bad in [&br#"{"status": "fail", "message": "Bad JSON"}"#[..], br#"{"result": {}}"#, b"[]"] {
            assert!(matches!(check_get_many(bad), Err(Check::Unexpected(..))), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn freshness_spreads_between_half_and_all_of_the_max_age() {
        let spreads: Vec<f64> = (0..1000).map(|i| spread(&format!("OL{i}A"))).collect();
        assert!(spreads.iter().all(|s| (0.5..1.0).contains(s)));
        // Spread out, not bunched: every tenth of the range is used.
        for tenth in 0..10 {
            let low = 0.5 + f64::from(tenth) * 0.05;
            assert!(spreads.iter().any(|s| (low..low + 0.05).contains(s)), "nothing in [{low}, {})", low + 0.05);
        }
        assert_eq!(spread("OL23919A"), spread("OL23919A"));
    }
}
