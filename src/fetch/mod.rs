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

use crate::cli::flags;
use crate::exit::{BadInput, Outcome};
use crate::lake::commit::{self, Manifest};
use crate::lake::{Lake, layout};
use crate::lineage::Lineage;
use crate::openlibrary::OpenLibrary;
use crate::settings::FetchSettings;

mod authors;
mod details;
mod error;
mod output;
mod pages;
mod summary;

pub use details::{AUTHOR_STAMP, AuthorCounts, AuthorRecord, AuthorRequests, FetchDetails};
pub use error::FetchError;

/// `bookpipe fetch`: the raw partition of `s.partition` fetched, announced as the task `fetch`.
pub async fn fetch(lake: &Lake, lineage: &Lineage, s: &FetchSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(None).fetch(&s.http.api_url, &s.partition);
    crate::task::announced(lake, lineage, "fetch", &s.partition, io, fetch_partition(lake, s)).await
}

/// Fetches the raw partition of `s.partition`.
async fn fetch_partition(lake: &Lake, s: &FetchSettings) -> anyhow::Result<Outcome> {
    let partition = layout::raw_subject_partition(&s.partition);
    let committed = commit::read::<FetchDetails>(lake, &partition).await?.is_some();
    if committed && !s.force {
        tracing::info!(partition = %partition, "raw partition is complete; nothing to do (use --force to refetch)");
        return Ok(Outcome::NothingToDo);
    }
    // Everything that can refuse is checked before anything is removed: a refused call leaves the
    // lake as it was (a past day's raw partition can never be fetched again).
    let stored = pages::stored(lake, &partition).await?;
    check_ds(s, !committed && stored.resumable(s))?;
    let client = OpenLibrary::new(&s.http)?;
    // Un-commit first: from here a crash leaves no manifest, never old manifest + new pages.
    let uncommitted = commit::begin(lake, &partition).await?;
    if committed {
        tracing::info!(partition = %partition, "--force: refetching a complete partition");
    }
    let stored = pages::keep_resumable(lake, stored, s).await?;
    pages::save_state(lake, &partition, s).await?;

    let pages = pages::fetch(lake, &client, s, &partition, &stored).await?;
    let authors = authors::fetch(lake, &client, s, &pages.author_keys).await?;

    let mut objects = pages.objects;
    objects.extend(authors.written);
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
    let manifest = Manifest::new("fetch", &s.partition, s.now, vec![], objects, details);
    // The resume state goes before the commit, not after: a kill between the two then leaves
    // pages without a state (resumed as this version's settings) rather than a committed
    // partition with a stale state file that no rerun would ever remove.
    pages::clear_state(lake, &partition).await?;
    uncommitted.commit(lake, &manifest).await?;
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
    let ds = s.partition.ds.date();
    if ds > today + chrono::Days::new(1) {
        return Err(BadInput::new(flags::DS, format!("{ds} is in the future (today is {today} UTC)")));
    }
    if !resuming && ds < today - chrono::Days::new(1) && !s.allow_past_ds {
        let stored = if s.force { "--force would replace its raw partition" } else { "it has no raw partition" };
        return Err(BadInput::new(
            flags::DS,
            format!(
                "{ds} is before yesterday and {stored}. Open Library only answers with today's \
                 data, so fetching now would file today's answer under {ds}. To backfill, re-run transform, \
                 load and aggregate from the raw zone; to file today's answer under {ds} anyway, add --allow-past-ds"
            ),
        ));
    }
    Ok(())
}
