//! `fetch`: one subject's works and their authors, from Open Library into the raw zone.
//!
//! Page bodies are stored exactly as received (`page-00000.json`, ...) under
//! `raw/openlibrary/subjects/subject=S/ds=D/`; author records go to a cache shared by every subject
//! and ds, `raw/openlibrary/authors/<KEY>/<fetched-at>.json`, each object immutable once written,
//! and the partition's manifest names the exact record of every author it uses. So day two of a
//! subject costs only the authors not fetched within `--author-max-age`, and `transform` of the
//! partition still reads exactly the same bytes every time.
//!
//! Idempotence: a partition with a manifest is complete and not fetched again (exit code 3) unless
//! `--force`; a partition without one resumes, keeping the pages and author records already stored.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::exit::{BadInput, Outcome};
use crate::lake::{self, Lake, LakeError};
use crate::manifest::{self, Manifest, Object};
use crate::openlibrary::{OpenLibrary, SourceError, parse_author_key};
use crate::settings::FetchSettings;

/// The task's own record in the partition manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchDetails {
    /// When the API was asked: the data is Open Library's answer at this moment, filed under ds.
    pub fetched_at: DateTime<Utc>,
    pub api_url: String,
    pub limit: u32,
    pub max_works: Option<u64>,
    /// What Open Library said the subject holds.
    pub work_count: u64,
    /// Works received, over all pages (a work on two pages counts twice here).
    pub works: u64,
    pub pages: u32,
    /// Pages kept from an interrupted earlier run rather than requested again.
    pub pages_resumed: u32,
    pub authors: AuthorCounts,
    /// The record used for every distinct author, sorted by key.
    pub author_records: Vec<AuthorRecord>,
    /// Authors Open Library answered 404 for.
    pub missing_authors: Vec<String>,
    /// HTTP requests this run sent, retries included.
    pub requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorCounts {
    pub distinct: u64,
    pub fetched: u64,
    pub reused: u64,
    pub missing: u64,
}

/// Which cached object holds an author's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorRecord {
    pub key: String,
    pub path: String,
    pub bytes: u64,
    pub fetched_at: DateTime<Utc>,
    /// Whether the record came from the cache rather than this run.
    pub reused: bool,
}

/// Settings a partial partition was started with; pages fetched with another `limit` cannot be
/// resumed, because page n is the slice at offset n × limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FetchState {
    limit: u32,
    max_works: Option<u64>,
}

const STATE: &str = "_fetch_state.json";

/// How an author record's object name stamps its fetch time: `20261121T063000.123Z.json`.
pub const AUTHOR_STAMP: &str = "%Y%m%dT%H%M%S%.3fZ";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{url} is not a subject page: {reason}")]
    BadPage { url: String, reason: String },
    #[error("{url} returned the same works as page {previous}; the server is not paging, refusing to loop")]
    RepeatedPage { url: String, previous: u32 },
}

/// Runs `fetch` for one `(subject, ds)`.
pub async fn run(lake: &Lake, settings: &FetchSettings) -> anyhow::Result<Outcome> {
    crate::exit::task("fetch", &settings.subject, settings.ds, fetch(lake, settings)).await
}

async fn fetch(lake: &Lake, s: &FetchSettings) -> anyhow::Result<Outcome> {
    let partition = lake::raw_subject_partition(&s.subject, s.ds);
    if manifest::read::<FetchDetails>(lake, &partition).await?.is_some() {
        if !s.force {
            tracing::info!(partition = %partition, "raw partition is complete; nothing to do (use --force to refetch)");
            return Ok(Outcome::NothingToDo);
        }
        // Un-commit first: from here a crash leaves no manifest, never old manifest + new pages.
        manifest::remove(lake, &partition).await?;
        tracing::info!(partition = %partition, "--force: refetching a complete partition");
    }
    let stored = stored_pages(lake, &partition, s).await?;
    check_ds(s, stored.is_empty())?;

    let state = FetchState { limit: s.limit, max_works: s.max_works };
    lake.put(&partition.clone().join(STATE), Bytes::from(serde_json::to_vec(&state)?)).await?;

    let client = OpenLibrary::new(&s.http)?;
    let pages = fetch_pages(lake, &client, s, &partition, &stored).await?;
    for stale in stored.keys().filter(|&&index| index >= pages.count) {
        lake.delete(&partition.clone().join(lake::page_name(*stale))).await?;
    }
    let authors = fetch_authors(lake, &client, s, &pages.author_keys).await?;

    let mut objects = pages.objects;
    objects.extend(authors.written);
    objects.sort_by(|a, b| a.path.cmp(&b.path));
    let details = FetchDetails {
        fetched_at: s.now,
        api_url: s.http.api_url.to_string(),
        limit: s.limit,
        max_works: s.max_works,
        work_count: pages.work_count,
        works: pages.works,
        pages: pages.count,
        pages_resumed: pages.resumed,
        authors: authors.counts,
        author_records: authors.records,
        missing_authors: authors.missing,
        requests: client.requests(),
    };
    let manifest = Manifest {
        task: "fetch".into(),
        subject: s.subject.to_string(),
        ds: s.ds.to_string(),
        bookpipe_version: crate::VERSION.into(),
        created_at: s.now,
        inputs: vec![],
        objects,
        details,
    };
    manifest::write(lake, &partition, &manifest).await?;
    lake.delete(&partition.clone().join(STATE)).await?;
    let d = &manifest.details;
    tracing::info!(
        work_count = d.work_count,
        works = d.works,
        pages = d.pages,
        pages_resumed = d.pages_resumed,
        authors_fetched = d.authors.fetched,
        authors_reused = d.authors.reused,
        authors_missing = d.authors.missing,
        requests = d.requests,
        "raw partition committed"
    );
    Ok(Outcome::Done)
}

/// The API answers only "today": landing it under an old date would pass today's data off as that
/// day's, so a ds before yesterday (UTC) needs `--allow-past-ds` unless a partial partition is
/// being resumed. A ds after tomorrow is a mistake.
fn check_ds(s: &FetchSettings, nothing_stored: bool) -> Result<(), BadInput> {
    let today = s.now.date_naive();
    let ds = s.ds.date();
    if ds > today + chrono::Days::new(1) {
        return Err(BadInput::new("--ds (BOOKPIPE_DS)", format!("{ds} is in the future (today is {today} UTC)")));
    }
    if nothing_stored && ds < today - chrono::Days::new(1) && !s.allow_past_ds {
        return Err(BadInput::new(
            "--ds (BOOKPIPE_DS)",
            format!(
                "{ds} is before yesterday and has no raw partition. Open Library only answers with today's \
                 data, so fetching now would file today's answer under {ds}. To backfill, re-run transform, \
                 load and aggregate from the raw zone; to file today's answer under {ds} anyway, add --allow-past-ds"
            ),
        ));
    }
    Ok(())
}

/// Pages an interrupted run left that this run can keep, by index. Pages started with another
/// `limit` (or `--force`) are not kept.
async fn stored_pages(lake: &Lake, partition: &Path, s: &FetchSettings) -> Result<HashMap<u32, Path>, FetchError> {
    let mut pages = HashMap::new();
    let mut state = None;
    for object in lake.list(partition).await? {
        let name = object.location.filename().unwrap_or_default();
        if name == STATE {
            state = lake.get_opt(&object.location).await?;
        } else if let Some(index) = lake::parse_page_name(name) {
            pages.insert(index, object.location);
        }
    }
    let state: Option<FetchState> = state.and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let same_settings = state.is_none_or(|state| state == FetchState { limit: s.limit, max_works: s.max_works });
    if !pages.is_empty() && (s.force || !same_settings) {
        tracing::info!(pages = pages.len(), "not resuming: the stored pages were fetched with other settings");
        for path in pages.values() {
            lake.delete(path).await?;
        }
        pages.clear();
    }
    Ok(pages)
}

/// What the pages of a subject came to.
struct Pages {
    count: u32,
    resumed: u32,
    work_count: u64,
    works: u64,
    author_keys: BTreeSet<String>,
    objects: Vec<Object>,
}

async fn fetch_pages(
    lake: &Lake,
    client: &OpenLibrary,
    s: &FetchSettings,
    partition: &Path,
    stored: &HashMap<u32, Path>,
) -> Result<Pages, FetchError> {
    let bar = bar("pages", None);
    let mut pages =
        Pages { count: 0, resumed: 0, work_count: 0, works: 0, author_keys: BTreeSet::new(), objects: vec![] };
    // Pages are always `limit` long, except that `--max-works` asks for no more than it keeps.
    let cap = s.max_works.unwrap_or(u64::MAX);
    let mut target = cap;
    let mut previous: Option<Vec<String>> = None;
    loop {
        let index = pages.count;
        let offset = u64::from(index) * u64::from(s.limit);
        let want = u64::from(s.limit).min(cap - offset) as u32;
        let url = client.subject_page_url(&s.subject, want, offset);
        let path = partition.clone().join(lake::page_name(index));
        let (body, summary) = match stored_page(lake, stored.get(&index)).await? {
            Some(page) => {
                pages.resumed += 1;
                page
            }
            None => {
                let body = client.get_json(&url).await?;
                let summary =
                    PageSummary::parse(&body).map_err(|reason| FetchError::BadPage { url: url.to_string(), reason })?;
                lake.put(&path, body.clone()).await?;
                (body, summary)
            }
        };
        if index == 0 {
            pages.work_count = summary.work_count.unwrap_or(0);
            target = target.min(pages.work_count);
            bar.set_length(target.div_ceil(u64::from(s.limit)).max(1));
        }
        if !summary.work_keys.is_empty() && previous.as_ref() == Some(&summary.work_keys) {
            return Err(FetchError::RepeatedPage { url: url.to_string(), previous: index - 1 });
        }
        let received = summary.work_keys.len() as u64;
        pages.works += received;
        pages.author_keys.extend(summary.author_keys);
        pages.objects.push(Object::describe(&path, &body, Some(received)));
        pages.count += 1;
        bar.inc(1);
        tracing::debug!(page = index, offset, works = received, "page stored");
        previous = Some(summary.work_keys);
        // Done at the end of the subject (or the cap), or on a short page: asking further would
        // only return empty pages, or loop on a server that ignores offset.
        if received < u64::from(want) || offset + received >= target {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(pages)
}

/// A page an earlier run stored, if it is still a readable subject page.
async fn stored_page(lake: &Lake, path: Option<&Path>) -> Result<Option<(Bytes, PageSummary)>, FetchError> {
    let Some(path) = path else { return Ok(None) };
    let Some(body) = lake.get_opt(path).await? else { return Ok(None) };
    Ok(PageSummary::parse(&body).ok().map(|summary| (body, summary)))
}

/// The little `fetch` needs from a subject page: how many works exist, which came, and who wrote
/// them. Tolerant: `transform` judges the records; here only the page's shape must hold.
#[derive(Debug, PartialEq)]
struct PageSummary {
    work_count: Option<u64>,
    work_keys: Vec<String>,
    author_keys: Vec<String>,
}

impl PageSummary {
    fn parse(body: &[u8]) -> Result<Self, String> {
        let page: serde_json::Value = serde_json::from_slice(body).map_err(|err| format!("not JSON: {err}"))?;
        let works = page
            .get("works")
            .and_then(|works| works.as_array())
            .ok_or_else(|| format!("no \"works\" list in {}", snippet(&page)))?;
        let mut summary = Self {
            work_count: page.get("work_count").and_then(|count| count.as_u64()),
            work_keys: Vec::with_capacity(works.len()),
            author_keys: Vec::new(),
        };
        for work in works {
            summary.work_keys.push(work.get("key").and_then(|key| key.as_str()).unwrap_or_default().to_string());
            for author in work.get("authors").and_then(|a| a.as_array()).into_iter().flatten() {
                // `{key, name}` on subject pages; `{author: {key}}` in older records.
                let key = author.get("key").or_else(|| author.get("author").and_then(|a| a.get("key")));
                if let Some(key) = key.and_then(|key| key.as_str()).and_then(parse_author_key) {
                    summary.author_keys.push(key.to_string());
                }
            }
        }
        Ok(summary)
    }
}

fn snippet(value: &serde_json::Value) -> String {
    value.to_string().chars().take(200).collect()
}

/// What the author phase came to.
struct Authors {
    counts: AuthorCounts,
    records: Vec<AuthorRecord>,
    missing: Vec<String>,
    written: Vec<Object>,
}

async fn fetch_authors(
    lake: &Lake,
    client: &OpenLibrary,
    s: &FetchSettings,
    keys: &BTreeSet<String>,
) -> Result<Authors, FetchError> {
    let cache = author_cache(lake).await?;
    let fresh_since = s.now - s.author_max_age;
    let mut records = Vec::with_capacity(keys.len());
    let mut to_fetch = Vec::new();
    for key in keys {
        match cache.get(key) {
            Some(cached) if cached.fetched_at >= fresh_since => records.push(cached.clone()),
            _ => to_fetch.push(key.as_str()),
        }
    }
    let reused = records.len() as u64;
    let bar = bar("authors", Some(to_fetch.len() as u64));
    let stamp = s.now.format(AUTHOR_STAMP).to_string();
    let fetched: Vec<Result<(AuthorRecord, Object), String>> = futures::stream::iter(to_fetch)
        .map(|key| {
            let (bar, stamp) = (&bar, &stamp);
            async move {
                let url = client.author_url(key);
                let body = match client.get_json(&url).await {
                    Ok(body) => body,
                    Err(err) if err.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
                        tracing::warn!(author = key, "author not found (404); its works keep the key");
                        bar.inc(1);
                        return Ok(Err(key.to_string()));
                    }
                    Err(err) => return Err(FetchError::from(err)),
                };
                let path = lake::raw_authors_prefix().join(key).join(format!("{stamp}.json"));
                let object = Object::describe(&path, &body, None);
                lake.put(&path, body).await?;
                bar.inc(1);
                let record = AuthorRecord {
                    key: key.to_string(),
                    path: path.to_string(),
                    bytes: object.bytes,
                    fetched_at: s.now,
                    reused: false,
                };
                Ok(Ok((record, object)))
            }
        })
        .buffer_unordered(s.concurrency)
        .try_collect()
        .await?;
    bar.finish_and_clear();

    let mut written = Vec::new();
    let mut missing = Vec::new();
    for outcome in fetched {
        match outcome {
            Ok((record, object)) => {
                records.push(record);
                written.push(object);
            }
            Err(key) => missing.push(key),
        }
    }
    records.sort_by(|a, b| a.key.cmp(&b.key));
    missing.sort();
    let counts = AuthorCounts {
        distinct: keys.len() as u64,
        fetched: written.len() as u64,
        reused,
        missing: missing.len() as u64,
    };
    Ok(Authors { counts, records, missing, written })
}

/// The newest cached record of every author, from one listing of the cache.
async fn author_cache(lake: &Lake) -> Result<HashMap<String, AuthorRecord>, LakeError> {
    let mut newest: HashMap<String, AuthorRecord> = HashMap::new();
    for object in lake.list(&lake::raw_authors_prefix()).await? {
        let mut parts = object.location.parts().skip(3);
        let (Some(key), Some(file), None) = (parts.next(), parts.next(), parts.next()) else { continue };
        let Some(fetched_at) = file
            .as_ref()
            .strip_suffix(".json")
            .and_then(|stamp| NaiveDateTime::parse_from_str(stamp, AUTHOR_STAMP).ok())
        else {
            continue;
        };
        let record = AuthorRecord {
            key: key.as_ref().to_string(),
            path: object.location.to_string(),
            bytes: object.size,
            fetched_at: fetched_at.and_utc(),
            reused: true,
        };
        match newest.get(&record.key) {
            Some(existing) if existing.fetched_at >= record.fetched_at => {}
            _ => {
                newest.insert(record.key.clone(), record);
            }
        }
    }
    Ok(newest)
}

/// A progress bar on the shared terminal (hidden when stderr is not one).
fn bar(name: &'static str, length: Option<u64>) -> ProgressBar {
    let bar = crate::logging::progress().add(ProgressBar::new(length.unwrap_or(0)));
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(name);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_subject_page_is_summarised() {
        let body = include_bytes!("../tests/fixtures/subjects_science_fiction.json");
        let summary = PageSummary::parse(body).unwrap();
        assert_eq!(summary.work_count, Some(19353));
        assert_eq!(summary.work_keys.len(), 12);
        assert_eq!(summary.work_keys[0], "/works/OL138052W");
        // 20 author references over the page (Brave New World alone has 9), 18 distinct keys.
        assert_eq!(summary.author_keys.len(), 20);
        assert!(summary.author_keys.contains(&"OL19767A".to_string()));
    }

    #[test]
    fn pages_without_works_are_refused() {
        let err = PageSummary::parse(br#"{"error": "Specified limit exceeds maximum of 1000."}"#).unwrap_err();
        assert!(err.contains("no \"works\" list"), "{err}");
        assert!(PageSummary::parse(b"<html>").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn older_author_shapes_are_read() {
        let body = br#"{"work_count": 1, "works": [{"key": "/works/OL1W", "authors": [
            {"author": {"key": "/authors/OL5A"}, "type": {"key": "/type/author_role"}},
            {"key": "/authors/OL6A", "name": "x"}, {"key": "/works/OL7W"}, "junk"]}]}"#;
        let summary = PageSummary::parse(body).unwrap();
        assert_eq!(summary.author_keys, vec!["OL5A".to_string(), "OL6A".to_string()]);
    }
}
