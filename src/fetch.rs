//! `fetch`: one subject's works and their authors, from Open Library into the raw zone.
//!
//! Page bodies are stored exactly as received (`page-00000.json`, ...) under
//! `raw/openlibrary/subjects/subject=S/ds=D/` ([`pages`]); author records are asked for in batches
//! (`/api/get_many`) and stored as received under `raw/openlibrary/authors/subject=S/ds=D/`, each
//! object immutable once written ([`authors`]). The partition's manifest names the exact object of
//! every author it uses, so day two of a subject reuses the records of day one that are still
//! fresh, and `transform` of the partition still reads exactly the same bytes every time.
//!
//! Complete or fail: Open Library answers a search failure with `200` and no works, so an empty
//! page before the end is retried, never taken as the end, and after the last page the distinct
//! works received must match the subject's `work_count` within `--max-missing-ratio`.
//!
//! Idempotence: a partition with a manifest is complete and not fetched again (exit code 3) unless
//! `--force`; a partition without one resumes, keeping the pages and author records already stored.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::exit::{BadInput, Outcome};
use crate::lake::{self, Lake, LakeError};
use crate::manifest::{self, Manifest};
use crate::openlibrary::{OpenLibrary, SourceError};
use crate::settings::FetchSettings;

mod authors;
mod pages;

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
    /// Distinct works received.
    #[serde(default)]
    pub distinct_works: u64,
    /// How many of `work_count` (or `--max-works`) were not received; at most `max_missing_ratio`
    /// of it, or the fetch failed.
    #[serde(default)]
    pub missing_works: u64,
    #[serde(default)]
    pub max_missing_ratio: f64,
    pub pages: u32,
    /// Pages kept from an interrupted earlier run rather than requested again.
    pub pages_resumed: u32,
    pub authors: AuthorCounts,
    /// The record used for every distinct author, and for every author a redirect leads to, sorted
    /// by key.
    pub author_records: Vec<AuthorRecord>,
    /// Authors Open Library has no record of (absent from a batch and 404 alone).
    pub missing_authors: Vec<String>,
    /// How the author records were asked for.
    #[serde(default)]
    pub author_requests: AuthorRequests,
    /// HTTP requests this run sent, retries included.
    pub requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorCounts {
    /// Distinct author keys on the pages.
    pub distinct: u64,
    /// Records fetched by this run (redirect targets included).
    pub fetched: u64,
    /// Records reused from an earlier fetch.
    pub reused: u64,
    pub missing: u64,
    /// Records that are redirects (merged authors), followed to their target.
    #[serde(default)]
    pub redirects: u64,
}

/// The author requests of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorRequests {
    /// `/api/get_many` answers stored.
    pub batches: u64,
    /// `/authors/<KEY>.json` requests (keys a batch left out, or all of them without get_many).
    pub single: u64,
    /// Why `/api/get_many` was given up for this run, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_many_unavailable: Option<String>,
}

/// Which stored object holds an author's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorRecord {
    pub key: String,
    pub path: String,
    /// The size of the object at `path`.
    pub bytes: u64,
    /// The sha256 of the object at `path` (absent in manifests written before batches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub fetched_at: DateTime<Utc>,
    /// Whether the record came from an earlier fetch rather than this run.
    pub reused: bool,
    /// The object is a `/api/get_many` answer; the record is its `result["/authors/<key>"]`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    /// The record is a redirect (a merged author) to this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// How an author object's name stamps its fetch time: `20261121T063000.123Z`.
pub const AUTHOR_STAMP: &str = "%Y%m%dT%H%M%S%.3fZ";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("{url} returned the same works as page {previous}; the server is not paging, refusing to loop")]
    RepeatedPage { url: String, previous: u32 },
    #[error(
        "{url}: {missing} of the {expected} works Open Library announced were not received ({distinct} distinct \
         over {pages} pages; ratio {ratio:.4}, above --max-missing-ratio {max}); nothing was committed"
    )]
    Incomplete { url: String, expected: u64, distinct: u64, missing: u64, pages: u32, ratio: f64, max: f64 },
    /// Open Library refused a parameter (`422`): retrying will not help.
    #[error("{0}")]
    Refused(#[source] BadInput),
}

/// Runs `fetch` for one `(subject, ds)`.
pub async fn run(lake: &Lake, settings: &FetchSettings) -> anyhow::Result<Outcome> {
    crate::exit::task("fetch", &settings.subject, settings.ds, fetch(lake, settings)).await
}

async fn fetch(lake: &Lake, s: &FetchSettings) -> anyhow::Result<Outcome> {
    let partition = lake::raw_subject_partition(&s.subject, s.ds);
    let committed = manifest::read::<FetchDetails>(lake, &partition).await?.is_some();
    if committed && !s.force {
        tracing::info!(partition = %partition, "raw partition is complete; nothing to do (use --force to refetch)");
        return Ok(Outcome::NothingToDo);
    }
    // Everything that can refuse is checked before anything is removed: a refused call leaves the
    // lake as it was (a past day's raw partition can never be fetched again).
    let stored = pages::stored(lake, &partition).await?;
    check_ds(s, !committed && stored.resumable(s))?;
    let client = OpenLibrary::new(&s.http)?;
    if committed {
        // Un-commit first: from here a crash leaves no manifest, never old manifest + new pages.
        manifest::remove(lake, &partition).await?;
        tracing::info!(partition = %partition, "--force: refetching a complete partition");
    }
    let stored = pages::keep_resumable(lake, stored, s).await?;
    pages::save_state(lake, &partition, s).await?;

    let pages = pages::fetch(lake, &client, s, &partition, &stored).await?;
    let authors = authors::fetch(lake, &client, s, &pages.author_keys).await?;

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
        distinct_works: pages.distinct,
        missing_works: pages.missing,
        max_missing_ratio: s.max_missing_ratio,
        pages: pages.count,
        pages_resumed: pages.resumed,
        authors: authors.counts,
        author_records: authors.records,
        missing_authors: authors.missing,
        author_requests: authors.requests,
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
    // The resume state goes before the commit, not after: a kill between the two then leaves
    // pages without a state (resumed as this version's settings) rather than a committed
    // partition with a stale state file that no rerun would ever remove.
    pages::clear_state(lake, &partition).await?;
    manifest::write(lake, &partition, &manifest).await?;
    let d = &manifest.details;
    tracing::info!(
        work_count = d.work_count,
        works = d.distinct_works,
        missing_works = d.missing_works,
        pages = d.pages,
        pages_resumed = d.pages_resumed,
        authors_fetched = d.authors.fetched,
        authors_reused = d.authors.reused,
        authors_missing = d.authors.missing,
        author_redirects = d.authors.redirects,
        author_batches = d.author_requests.batches,
        author_single_requests = d.author_requests.single,
        requests = d.requests,
        "raw partition committed"
    );
    Ok(Outcome::Done)
}

/// The API answers only "today": landing it under an old date would pass today's data off as that
/// day's (and a forced refetch would replace that day's irreplaceable data), so a ds before
/// yesterday (UTC) needs `--allow-past-ds` unless an interrupted partial partition is being resumed.
/// A ds after tomorrow is a mistake.
fn check_ds(s: &FetchSettings, resuming: bool) -> Result<(), BadInput> {
    let today = s.now.date_naive();
    let ds = s.ds.date();
    if ds > today + chrono::Days::new(1) {
        return Err(BadInput::new("--ds (BOOKPIPE_DS)", format!("{ds} is in the future (today is {today} UTC)")));
    }
    if !resuming && ds < today - chrono::Days::new(1) && !s.allow_past_ds {
        let stored = if s.force { "--force would replace its raw partition" } else { "it has no raw partition" };
        return Err(BadInput::new(
            "--ds (BOOKPIPE_DS)",
            format!(
                "{ds} is before yesterday and {stored}. Open Library only answers with today's \
                 data, so fetching now would file today's answer under {ds}. To backfill, re-run transform, \
                 load and aggregate from the raw zone; to file today's answer under {ds} anyway, add --allow-past-ds"
            ),
        ));
    }
    Ok(())
}

/// Puts `body` at `path` and describes it for the manifest.
async fn store(
    lake: &Lake,
    path: &object_store::path::Path,
    body: Bytes,
    rows: Option<u64>,
) -> Result<manifest::Object, LakeError> {
    let object = manifest::Object::describe(path, &body, rows);
    lake.put(path, body).await?;
    Ok(object)
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
