//! The subject pages of a fetch: `GET /subjects/<s>.json?limit=L&offset=O&sort=key`, each body
//! stored as received, complete or failed.
//!
//! Open Library's rules, as its server behaves (docs/failure-modes.md): the default sort has ties
//! that shift between requests, so pages are sorted by key; a Solr failure or timeout is a `200`
//! with `"work_count": null, "works": []`, so such a page is retried like a 5xx and never taken as
//! the end; after the last page the distinct works must match `work_count` within
//! `--max-missing-ratio`; a `limit` the server refuses is a `422` (bad input, not a retry).
//!
//! Page 0 announces the subject's `work_count`, so every later page's offset is known: those are
//! asked for concurrently (`--concurrency`, within the one rate limit) and judged in page order,
//! exactly as one by one; see [`fetch`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::pin::pin;

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::{self, Either, FutureExt};
use futures::stream::{self, StreamExt};
use object_store::path::Path;
use reqwest::Url;
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

/// Fetches the subject's pages into `partition`, keeping the `stored` ones that check out.
///
/// Page 0 comes first, alone: its `work_count` says how many pages the subject has, so the others
/// (each at a known offset) are asked for concurrently, at most `--concurrency` at once, all within
/// the client's rate limit and retries. Their answers are judged strictly in page order, exactly as
/// a one-by-one pager judges them (a page repeating the previous one, a short page ending the
/// subject, the `--max-works` cap), so the number of requests is the same as one by one unless the
/// subject shrank under the pager: then the pages asked for beyond the short page that ended it are
/// abandoned, and any of them already stored are deleted (they are not the subject's).
pub(super) async fn fetch(
    lake: &Lake,
    client: &OpenLibrary,
    s: &FetchSettings,
    partition: &Path,
    stored: &HashMap<u32, Path>,
) -> Result<Pages, FetchError> {
    let pager = Pager { lake, client, s, partition, stored };
    let bar = output::bar("pages", None);
    let first = pager.obtain(0, None, future::pending()).await?.expect("only an ended pager abandons a page");
    let work_count = first.summary.work_count.expect("check_page refuses a page without work_count");
    let mut tally = Tally::new(s, work_count);
    let last = u32::try_from(tally.target.div_ceil(u64::from(s.limit)).max(1)).unwrap_or(u32::MAX);
    bar.set_length(u64::from(last));
    let mut ended = tally.take(first)?;
    bar.inc(1);
    // Pages past the end of the subject that this run stored, to be deleted.
    let mut beyond = Vec::new();
    if !ended {
        // Resolves once the end (or a failure) is known: requests still under way are abandoned.
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = stopped.map(drop).shared();
        let mut stop = Some(stop);
        let mut failure = None;
        let pager = &pager;
        let mut rest = stream::iter(1..last)
            .map(|index| {
                let stopped = stopped.clone();
                async move { (index, pager.obtain(index, Some(work_count), stopped).await) }
            })
            .buffered(s.concurrency);
        // Every page is awaited, even past the end or a failure: a store under way then lands
        // before the deletions below (or before the error is returned), never after.
        while let Some((index, page)) = rest.next().await {
            if failure.is_some() {
                continue;
            }
            if ended {
                // Not the subject's: a stored page beyond the end is stale (deleted below), and
                // one this run stored, or may have (a failed store), goes too.
                if !matches!(page, Ok(None) | Ok(Some(Page { resumed: true, .. }))) {
                    beyond.push(pager.path(index));
                }
                continue;
            }
            match page.and_then(|page| tally.take(page.expect("only an ended pager abandons a page"))) {
                Ok(end) => ended = end,
                Err(err) => failure = Some(err),
            }
            bar.inc(1);
            if (ended || failure.is_some())
                && let Some(stop) = stop.take()
            {
                // The receivers are the pages' futures, alive until the loop ends.
                let _ = stop.send(());
            }
        }
        if let Some(err) = failure {
            // As one by one: what was stored stays for a rerun to resume (the state file is there).
            return Err(err);
        }
    }
    bar.finish_and_clear();
    let mut pages = tally.pages;
    let stale = stored.keys().filter(|&&index| index >= pages.count).map(|&index| pager.path(index));
    delete_all(lake, beyond.iter().chain(&stale.collect::<Vec<_>>())).await?;

    let target = tally.target;
    pages.distinct = tally.distinct.len() as u64 + tally.keyless;
    pages.missing = target.saturating_sub(pages.distinct);
    let ratio = if target == 0 { 0.0 } else { pages.missing as f64 / target as f64 };
    if ratio > s.max_missing_ratio {
        // A rerun must page afresh, not resume the same short pages: this run's pages go.
        delete_all(lake, &tally.written).await?;
        delete_all(lake, stored.values()).await?;
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

/// How this run gets page n: from the lake if an interrupted run stored it, else from the API.
struct Pager<'a> {
    lake: &'a Lake,
    client: &'a OpenLibrary,
    s: &'a FetchSettings,
    partition: &'a Path,
    stored: &'a HashMap<u32, Path>,
}

/// One page as this run has it.
struct Page {
    index: u32,
    offset: u64,
    /// How many works were asked for: `limit`, less on the last page under `--max-works`.
    want: u32,
    url: Url,
    path: Path,
    body: Bytes,
    summary: PageSummary,
    /// Kept from an interrupted run, not asked for.
    resumed: bool,
}

impl Pager<'_> {
    fn path(&self, index: u32) -> Path {
        self.partition.clone().join(layout::page_name(index))
    }

    /// Page `index`: the stored one if it checks out, else asked for (judged against the
    /// `work_count` page 0 `announced`) and stored. `None` if `stop` resolved before the answer
    /// came: the request is abandoned and nothing is stored.
    async fn obtain(
        &self,
        index: u32,
        announced: Option<u64>,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<Page>, FetchError> {
        let offset = u64::from(index) * u64::from(self.s.limit);
        // Pages are always `limit` long, except that `--max-works` asks for no more than it keeps.
        let want = u64::from(self.s.limit).min(self.s.max_works.unwrap_or(u64::MAX) - offset) as u32;
        let url = self.client.subject_page_url(&self.s.partition.subject, want, offset);
        let path = self.path(index);
        let check = |body: &[u8]| check_page(body, offset, announced);
        let page = |body, summary, resumed| {
            Some(Page { index, offset, want, url: url.clone(), path: path.clone(), body, summary, resumed })
        };
        if let Some(stored) = self.stored.get(&index)
            && let Some(body) = self.lake.get_opt(stored).await?
            && let Ok(summary) = check(&body)
        {
            return Ok(page(body, summary, true));
        }
        // `stop` first: once it has resolved, a page not yet asked for is not asked for at all.
        let answer = match future::select(pin!(stop), pin!(self.client.get_checked(&url, check))).await {
            Either::Left(_) => return Ok(None),
            Either::Right((answer, _)) => answer,
        };
        let (body, summary) = answer.map_err(|err| refused(err, self.s))?;
        self.lake.put(&path, body.clone()).await?;
        Ok(page(body, summary, false))
    }
}

/// The pages judged so far, in order, and what they came to.
struct Tally {
    pages: Pages,
    /// What the run pages up to: `work_count`, or `--max-works` if lower.
    target: u64,
    /// Distinct works by key; a record without a key counts on its own (transform rejects it).
    distinct: HashSet<String>,
    keyless: u64,
    previous: Option<Vec<String>>,
    /// The pages this run stored (not resumed), up to the end.
    written: Vec<Path>,
}

impl Tally {
    fn new(s: &FetchSettings, work_count: u64) -> Self {
        let pages = Pages {
            count: 0,
            resumed: 0,
            work_count,
            works: 0,
            distinct: 0,
            missing: 0,
            author_keys: BTreeSet::new(),
            objects: vec![],
        };
        let target = s.max_works.unwrap_or(u64::MAX).min(work_count);
        Self { pages, target, distinct: HashSet::new(), keyless: 0, previous: None, written: vec![] }
    }

    /// Counts the next page (pages come in order); whether the subject ends with it.
    fn take(&mut self, page: Page) -> Result<bool, FetchError> {
        let Page { index, offset, want, url, path, body, summary, resumed } = page;
        debug_assert_eq!(index, self.pages.count, "pages are taken in order");
        if !summary.work_keys.is_empty() && self.previous.as_ref() == Some(&summary.work_keys) {
            return Err(FetchError::RepeatedPage { url: url.to_string(), previous: index - 1 });
        }
        if resumed {
            self.pages.resumed += 1;
        } else {
            self.written.push(path.clone());
        }
        let received = summary.work_keys.len() as u64;
        self.pages.works += received;
        for key in &summary.work_keys {
            if key.is_empty() {
                self.keyless += 1;
            } else {
                self.distinct.insert(key.clone());
            }
        }
        self.pages.author_keys.extend(summary.author_keys);
        self.pages.objects.push(Object::describe(&path, &body, Some(received)));
        self.pages.count += 1;
        tracing::debug!(page = index, offset, works = received, "page stored");
        self.previous = Some(summary.work_keys);
        // Done at the end of the subject (or the cap), or on a short page: the server has said
        // (with a work_count) that the subject ends there; an empty page before the end was
        // retried by check_page and never reaches here.
        Ok(received < u64::from(want) || offset + received >= self.target)
    }
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
