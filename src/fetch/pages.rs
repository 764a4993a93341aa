//! The subject pages of a fetch: `GET /subjects/<s>.json?limit=L&offset=O&sort=key`, each body
//! stored as received, complete or failed.
//!
//! Open Library's rules, as its server behaves (docs/failure-modes.md): the default sort has ties
//! that shift between requests, so pages are sorted by key; a Solr failure or timeout is a `200`
//! with `"work_count": null, "works": []`, so such a page is retried like a 5xx and never taken as
//! the end; after the last page the distinct works must match `work_count` within
//! `--max-missing-ratio`; a `limit` the server refuses is a `422` (bad input, not a retry).

use std::collections::{BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::error::FetchError;
use super::output;
use super::summary::PageSummary;
use crate::cli::flags;
use crate::exit::BadInput;
use crate::lake::Lake;
use crate::lake::commit::Object;
use crate::lake::layout::{self, FETCH_STATE as STATE};
use crate::openlibrary::{Check, OpenLibrary, SourceError};
use crate::settings::FetchSettings;

/// Settings a partial partition was started with; pages fetched with another `limit` (or sort)
/// cannot be resumed, because page n is the slice at offset n × limit in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FetchState {
    limit: u32,
    max_works: Option<u64>,
    /// Absent in states written before pages were sorted by key: those pages are not kept.
    #[serde(default)]
    sort: Option<String>,
}

const SORT: &str = "key";

impl FetchState {
    fn of(s: &FetchSettings) -> Self {
        Self { limit: s.limit, max_works: s.max_works, sort: Some(SORT.into()) }
    }
}

/// Records the settings this run pages with, for a later resume.
pub(super) async fn save_state(lake: &Lake, partition: &Path, s: &FetchSettings) -> Result<(), FetchError> {
    let state = serde_json::to_vec(&FetchState::of(s)).expect("the state serialises");
    Ok(lake.put(&partition.clone().join(STATE), Bytes::from(state)).await?)
}

/// Removes the resume state once the partition is committed.
pub(super) async fn clear_state(lake: &Lake, partition: &Path) -> Result<(), FetchError> {
    Ok(lake.delete(&partition.clone().join(STATE)).await?)
}

/// What a partition holds before a run: its pages by index, and the settings they were fetched with.
pub(super) struct Stored {
    pub pages: HashMap<u32, Path>,
    state: Option<FetchState>,
}

/// Lists what the partition holds; reads only.
pub(super) async fn stored(lake: &Lake, partition: &Path) -> Result<Stored, FetchError> {
    let mut pages = HashMap::new();
    let mut state = None;
    for object in lake.list(partition).await? {
        let name = object.location.filename().unwrap_or_default();
        if name == STATE {
            state = lake.get_opt(&object.location).await?;
        } else if let Some(index) = layout::parse_page_name(name) {
            pages.insert(index, object.location);
        }
    }
    let state = state.and_then(|bytes| serde_json::from_slice(&bytes).ok());
    Ok(Stored { pages, state })
}

impl Stored {
    /// Whether this run resumes an interrupted one: pages stored with this run's settings (pages
    /// without a state are an interrupted run's of this version's settings: the state is put
    /// first), and no `--force`.
    pub fn resumable(&self, s: &FetchSettings) -> bool {
        !self.pages.is_empty() && !s.force && self.state.as_ref().is_none_or(|state| *state == FetchState::of(s))
    }
}

/// The stored pages this run can keep, by index; pages fetched with other settings (or under
/// `--force`) are deleted. Call only once the run is sure to go ahead.
pub(super) async fn keep_resumable(
    lake: &Lake,
    stored: Stored,
    s: &FetchSettings,
) -> Result<HashMap<u32, Path>, FetchError> {
    let resumable = stored.resumable(s);
    let Stored { mut pages, .. } = stored;
    if !pages.is_empty() && !resumable {
        tracing::info!(pages = pages.len(), "not resuming: the stored pages were fetched with other settings");
        delete_all(lake, pages.values()).await?;
        pages.clear();
    }
    Ok(pages)
}

async fn delete_all<'a>(lake: &Lake, paths: impl IntoIterator<Item = &'a Path>) -> Result<(), FetchError> {
    for path in paths {
        lake.delete(path).await?;
    }
    Ok(())
}

/// What the pages of a subject came to.
pub(super) struct Pages {
    pub count: u32,
    pub resumed: u32,
    pub work_count: u64,
    pub works: u64,
    pub distinct: u64,
    pub missing: u64,
    pub author_keys: BTreeSet<String>,
    pub objects: Vec<Object>,
}

pub(super) async fn fetch(
    lake: &Lake,
    client: &OpenLibrary,
    s: &FetchSettings,
    partition: &Path,
    stored: &HashMap<u32, Path>,
) -> Result<Pages, FetchError> {
    let bar = output::bar("pages", None);
    let mut pages = Pages {
        count: 0,
        resumed: 0,
        work_count: 0,
        works: 0,
        distinct: 0,
        missing: 0,
        author_keys: BTreeSet::new(),
        objects: vec![],
    };
    // Pages are always `limit` long, except that `--max-works` asks for no more than it keeps.
    let cap = s.max_works.unwrap_or(u64::MAX);
    let mut target = cap;
    let mut announced = None;
    // Distinct works by key; a record without a key counts on its own (transform rejects it).
    let mut distinct = HashSet::new();
    let mut keyless = 0;
    let mut previous: Option<Vec<String>> = None;
    let mut written = Vec::new();
    loop {
        let index = pages.count;
        let offset = u64::from(index) * u64::from(s.limit);
        let want = u64::from(s.limit).min(cap - offset) as u32;
        let url = client.subject_page_url(&s.partition.subject, want, offset);
        let path = partition.clone().join(layout::page_name(index));
        let check = |body: &[u8]| check_page(body, offset, announced);
        let resumed = match stored.get(&index) {
            Some(path) => {
                lake.get_opt(path).await?.and_then(|body| check(body.as_ref()).ok().map(|summary| (body, summary)))
            }
            None => None,
        };
        let (body, summary) = match resumed {
            Some(page) => {
                pages.resumed += 1;
                page
            }
            None => {
                let (body, summary) = client.get_checked(&url, check).await.map_err(|err| refused(err, s))?;
                lake.put(&path, body.clone()).await?;
                written.push(path.clone());
                (body, summary)
            }
        };
        if index == 0 {
            let count = summary.work_count.expect("check_page refuses a page without work_count");
            pages.work_count = count;
            announced = Some(count);
            target = target.min(count);
            bar.set_length(target.div_ceil(u64::from(s.limit)).max(1));
        }
        if !summary.work_keys.is_empty() && previous.as_ref() == Some(&summary.work_keys) {
            return Err(FetchError::RepeatedPage { url: url.to_string(), previous: index - 1 });
        }
        let received = summary.work_keys.len() as u64;
        pages.works += received;
        for key in &summary.work_keys {
            if key.is_empty() {
                keyless += 1;
            } else {
                distinct.insert(key.clone());
            }
        }
        pages.author_keys.extend(summary.author_keys);
        pages.objects.push(Object::describe(&path, &body, Some(received)));
        pages.count += 1;
        bar.inc(1);
        tracing::debug!(page = index, offset, works = received, "page stored");
        previous = Some(summary.work_keys);
        // Done at the end of the subject (or the cap), or on a short page: the server has said
        // (with a work_count) that the subject ends there; an empty page before the end was
        // retried by check_page and never reaches here.
        if received < u64::from(want) || offset + received >= target {
            break;
        }
    }
    bar.finish_and_clear();
    for stale in stored.keys().filter(|&&index| index >= pages.count) {
        lake.delete(&partition.clone().join(layout::page_name(*stale))).await?;
    }

    pages.distinct = distinct.len() as u64 + keyless;
    pages.missing = target.saturating_sub(pages.distinct);
    let ratio = if target == 0 { 0.0 } else { pages.missing as f64 / target as f64 };
    if ratio > s.max_missing_ratio {
        // A rerun must page afresh, not resume the same short pages: this run's pages go.
        delete_all(lake, &written).await?;
        for path in stored.values() {
            lake.delete(path).await?;
        }
        let url = client.subject_page_url(&s.partition.subject, s.limit, 0);
        return Err(FetchError::Incomplete {
            url: url.to_string(),
            expected: target,
            distinct: pages.distinct,
            missing: pages.missing,
            pages: pages.count,
            ratio,
            max: s.max_missing_ratio,
        });
    }
    if pages.missing > 0 {
        tracing::warn!(
            missing = pages.missing,
            expected = target,
            "works announced but not received (within --max-missing-ratio)"
        );
    }
    Ok(pages)
}

/// A `422` is Open Library refusing a parameter: bad input, named by the flag behind it.
fn refused(err: SourceError, s: &FetchSettings) -> FetchError {
    if err.status() != Some(reqwest::StatusCode::UNPROCESSABLE_ENTITY) {
        return err.into();
    }
    let flag = if err.to_string().contains("limit") { flags::LIMIT } else { flags::API_URL };
    FetchError::Refused(BadInput::new(flag, format!("{} was refused by the server: {err}", s.limit)))
}

/// Judges a subject page at `offset`, given the `work_count` page 0 announced (if this is a later
/// page): a page without a `work_count`, or without works while the offset is below both the
/// announced count and its own, is Open Library's answer to a search failure, and worth another
/// try. A body without a `works` list is not a subject page at all.
fn check_page(body: &[u8], offset: u64, announced: Option<u64>) -> Result<PageSummary, Check> {
    let summary = PageSummary::parse(body).map_err(|reason| Check::Unexpected("a subject page", reason))?;
    let Some(count) = summary.work_count else {
        return Err(Check::Retry("\"work_count\" is null: the search backend failed".into()));
    };
    if summary.work_keys.is_empty() && offset < count.min(announced.unwrap_or(count)) {
        return Err(Check::Retry(format!("no works at offset {offset} of {count}: the search backend failed")));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_subject_page_is_summarised() {
        let body = include_bytes!("../../tests/fixtures/subjects_science_fiction.json");
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

    #[test]
    fn a_search_failure_answered_200_is_retried_never_taken_as_the_end() {
        let failed = br#"{"key": "/subjects/love", "work_count": null, "works": []}"#;
        assert!(matches!(check_page(failed, 0, None), Err(Check::Retry(_))));
        assert!(matches!(check_page(failed, 2000, Some(8000)), Err(Check::Retry(_))));
        let empty_early = br#"{"work_count": 8000, "works": []}"#;
        assert!(matches!(check_page(empty_early, 2000, Some(8000)), Err(Check::Retry(_))));
        // The end: an empty page at or past the count, or a subject that shrank under the pager.
        assert!(check_page(empty_early, 8000, Some(8000)).is_ok());
        let shrunk = br#"{"work_count": 7990, "works": []}"#;
        assert!(check_page(shrunk, 7995, Some(8000)).is_ok());
        // A genuinely empty subject.
        assert!(check_page(br#"{"work_count": 0, "works": []}"#, 0, None).is_ok());
        assert!(matches!(check_page(br#"{"detail": []}"#, 0, None), Err(Check::Unexpected(..))));
    }
}
