//! `transform`: a complete raw partition into the silver tables `books`, `authors`, `book_authors`
//! and `rejects`, as sorted, deterministic Parquet (design doc: data model, commit protocol).
//!
//! The silver bytes depend on the raw partition alone: transform reads exactly the objects the raw
//! manifest lists (and checks their checksums), never the API, and reads the clock only to stamp
//! the manifests' `created_at`. The row logic is [`crate::records`] (pure, unit-tested). Author records come first (their redirects say which
//! person a merged author's key is), then the pages, read and parsed a few at a time ([`raw`]), in
//! order; rows stream into [`SortedParquet`] writers, which spill sorted runs to disk past a memory
//! limit. What grows with the input: the work keys seen (for de-duplication), the author keys with
//! a record, the redirects, the author names listed and the listing of the raw partition.
//!
//! Nothing becomes visible until every table is written: the four manifests are removed first and
//! written last, and a partition over `--max-reject-ratio` fails before any data file is written.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use object_store::path::Path;

use crate::exit::{MissingInput, Outcome};
use crate::lake::commit::{self, Input, Manifest};
use crate::lake::{Lake, layout};
use crate::lineage::Lineage;
use crate::records::{self, Issues};
use crate::settings::TransformSettings;
use crate::silver::{SILVER_LAYOUT, TransformDetails};
use crate::sorted::SortedParquet;
use crate::tables::{self, Table};
use raw::AuthorRecord;

mod error;
mod raw;

pub use error::TransformError;

/// Buffered bytes per table before a sorted run is spilled to disk.
const SPILL_BYTES: usize = 32 * 1024 * 1024;
/// Authors are parsed into batches of this many rows.
const AUTHOR_BATCH: usize = raw::AUTHOR_CHUNK;

/// `bookpipe transform`: the silver partition of `s.partition` built, announced as the task
/// `transform`.
pub async fn transform(lake: &Lake, lineage: &Lineage, s: &TransformSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(None).transform(&s.partition);
    crate::task::announced(lake, lineage, "transform", &s.partition, io, build_silver(lake, s)).await
}

/// Builds the silver partition of `s.partition` from its raw partition.
async fn build_silver(lake: &Lake, s: &TransformSettings) -> anyhow::Result<Outcome> {
    let p = &s.partition;
    let raw_partition = layout::raw_subject_partition(p);
    let Some(raw) = raw::RawPartition::read(lake, &raw_partition).await? else {
        return Err(MissingInput {
            what: "the raw partition".into(),
            path: format!("{}/{raw_partition}", lake.url()),
            hint: format!("run `bookpipe fetch --ds {} --subject {}` first", p.ds, p.subject),
        }
        .into());
    };
    let input = raw.input.clone();
    let folders: Vec<Path> = Table::ALL.iter().map(|&t| layout::silver_partition(t, p)).collect();
    if !s.force && is_current(lake, &folders, &input).await? {
        tracing::info!("silver partition is complete and built from the current raw partition; nothing to do");
        return Ok(Outcome::NothingToDo);
    }
    let mut uncommitted = Vec::with_capacity(folders.len());
    for folder in &folders {
        uncommitted.push(commit::begin(lake, folder).await?);
    }

    let started = std::time::Instant::now();
    let mut out = Tables::new();
    let mut state = State::default();
    // Author records first: the pages' links need the redirects (merged authors) they hold.
    let mut chunks = raw.authors(lake);
    let mut authors = Vec::with_capacity(AUTHOR_BATCH);
    while let Some((chunk, issues)) = chunks.try_next().await? {
        state.add_issues(issues);
        for (key, parsed) in chunk {
            state.author_records += 1;
            match parsed {
                AuthorRecord::Author(mut author) => {
                    if author.author_key != key {
                        // Answered under another key (an old-style key): the works link to the asked key.
                        records::count(&mut state.issues, "author_key_differs");
                        author.author_key = key;
                    }
                    state.recorded.insert(author.author_key.clone());
                    authors.push(author);
                }
                AuthorRecord::Redirect(Some(target)) => drop(state.redirects.insert(key, target)),
                // A redirect to nowhere usable: the key stays, with the name the pages list.
                AuthorRecord::Redirect(None) => records::count(&mut state.issues, "author_redirect_without_target"),
                AuthorRecord::Rejected(reject) => {
                    tracing::warn!(source = %reject.source, reason = %reject.reason, "author record rejected");
                    out.rejects.push(tables::rejects(&[reject]))?;
                }
            }
            if authors.len() == AUTHOR_BATCH {
                out.authors.push(tables::authors(&std::mem::take(&mut authors)))?;
            }
        }
    }
    drop(chunks);
    tracing::debug!(records = state.author_records, seconds = started.elapsed().as_secs_f64(), "authors parsed");
    let mut pages = raw.pages(lake);
    // Time spent here on the rows (de-duplication, sort buffers, spills) rather than waiting for
    // parsed pages: which side bounds the phase.
    let mut sorting = std::time::Duration::ZERO;
    while let Some(rows) = pages.try_next().await? {
        state.pages += 1;
        let at = std::time::Instant::now();
        out.add_page(rows, &mut state)?;
        sorting += at.elapsed();
    }
    drop(pages);
    // The page bodies and parsed rows are gone; what stays is the sort buffers and the key sets.
    crate::allocator::release_free_pages();
    tracing::debug!(
        pages = state.pages,
        seconds = started.elapsed().as_secs_f64(),
        sorting = sorting.as_secs_f64(),
        "pages parsed"
    );
    // Authors the works list but Open Library has no usable record of (404, rejected, a redirect
    // to nowhere): the listed name stands.
    let mut unrecorded: Vec<(String, Option<String>)> =
        state.listed_names.drain().filter(|(key, _)| !state.recorded.contains(key)).collect();
    unrecorded.sort();
    authors.extend(unrecorded.into_iter().map(|(key, name)| records::author_without_record(&key, name)));
    out.authors.push(tables::authors(&authors))?;

    let rejects = out.rejects.rows();
    let records = state.works_seen + state.author_records;
    let ratio = if records == 0 { 0.0 } else { rejects as f64 / records as f64 };
    if ratio > s.max_reject_ratio {
        return Err(TransformError::TooManyRejects { rejects, records, ratio, max: s.max_reject_ratio }.into());
    }
    let details = TransformDetails {
        layout: SILVER_LAYOUT,
        pages: state.pages,
        works_seen: state.works_seen,
        duplicate_works: state.duplicate_works,
        author_records: state.author_records,
        books: out.books.rows(),
        authors: out.authors.rows(),
        book_authors: out.book_authors.rows(),
        rejects,
        reject_ratio: ratio,
        max_reject_ratio: s.max_reject_ratio,
        issues: state.issues.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    // The four tables are merged, encoded and written at once, a task each: the two large ones
    // (books, book_authors) then use both cores instead of one after the other. Every write is
    // awaited before an error is returned, so none lands after it.
    let writes = out.into_writers().map(|(table, sorter)| {
        let (lake, path) = (lake.clone(), layout::silver_object(table, p));
        tokio::spawn(async move { sorter.write(&lake, &path).await })
    });
    let mut objects = Vec::with_capacity(4);
    for written in futures::future::join_all(writes).await {
        objects.push(written?);
    }
    let objects = objects.into_iter().collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "tables written");
    // The one read of the clock: the manifests' created_at. The data never depends on it.
    let created_at = chrono::Utc::now();
    for ((table, object), partition) in Table::ALL.iter().zip(objects).zip(uncommitted) {
        let task = format!("transform:{}", table.name());
        let manifest = Manifest::new(task, p, created_at, vec![input.clone()], vec![object], details.clone());
        partition.commit(lake, &manifest).await?;
    }
    tracing::info!(
        pages = details.pages,
        books = details.books,
        authors = details.authors,
        book_authors = details.book_authors,
        rejects = details.rejects,
        duplicate_works = details.duplicate_works,
        issues = ?details.issues,
        "silver partition committed"
    );
    Ok(Outcome::Done)
}

/// All four tables committed from exactly this raw manifest, in this version's layout.
async fn is_current(lake: &Lake, folders: &[Path], input: &Input) -> anyhow::Result<bool> {
    for folder in folders {
        match commit::read::<TransformDetails>(lake, folder).await? {
            Some(committed)
                if committed.manifest.inputs == [input.clone()]
                    && committed.manifest.details.layout == SILVER_LAYOUT => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// What grows as pages are read: the keys seen and the counts.
#[derive(Default)]
struct State {
    pages: u64,
    works_seen: u64,
    duplicate_works: u64,
    author_records: u64,
    seen_works: WorkKeys,
    /// Every author (the person, after redirects) a kept work links to, with the first name a page
    /// listed for them.
    listed_names: HashMap<String, Option<String>>,
    /// Authors with a row from their own record.
    recorded: HashSet<String>,
    /// Merged authors: the key a redirect record leads to, by the key it was asked under.
    redirects: HashMap<String, String>,
    issues: Issues,
}

impl State {
    /// Adds the soft problems counted in a page or a chunk of author records.
    fn add_issues(&mut self, issues: Issues) {
        for (issue, n) in issues {
            *self.issues.entry(issue).or_default() += n;
        }
    }
}

/// The work keys seen so far, held as their numbers (`OL123W` → 123): 8 bytes a key rather than a
/// string, so a million works cost about 16 MB here. Keys a number would not hold exactly (more
/// than 19 digits, or a leading zero) are kept as strings.
#[derive(Default)]
struct WorkKeys {
    numbers: HashSet<u64>,
    others: HashSet<String>,
}

impl WorkKeys {
    /// Adds a key (`OL<digits>W`, as records::parse_key made it); false if it was already there.
    fn insert(&mut self, key: &str) -> bool {
        let digits = key.get(2..key.len().saturating_sub(1)).unwrap_or_default();
        match digits.parse::<u64>() {
            Ok(number) if !digits.starts_with('0') || digits == "0" => self.numbers.insert(number),
            _ => self.others.insert(key.to_string()),
        }
    }
}

/// The four sorted writers of a partition.
struct Tables {
    books: SortedParquet,
    authors: SortedParquet,
    book_authors: SortedParquet,
    rejects: SortedParquet,
}

impl Tables {
    fn new() -> Self {
        Self {
            books: SortedParquet::new(Table::Books, SPILL_BYTES),
            authors: SortedParquet::new(Table::Authors, SPILL_BYTES),
            book_authors: SortedParquet::new(Table::BookAuthors, SPILL_BYTES),
            rejects: SortedParquet::new(Table::Rejects, SPILL_BYTES),
        }
    }

    /// Adds one page's rows; a work already seen (on this page or an earlier one) is dropped with
    /// its links.
    fn add_page(&mut self, rows: records::PageRows, state: &mut State) -> Result<(), crate::sorted::SortError> {
        state.works_seen += (rows.books.len() + rows.rejects.len()) as u64;
        state.add_issues(rows.issues);
        let mut books = Vec::with_capacity(rows.books.len());
        let mut links = Vec::with_capacity(rows.links.len());
        // A work's links follow each other in page order, starting at position 0.
        let mut page_links = rows.links.into_iter().peekable();
        for book in rows.books {
            let mut own = Vec::new();
            while let Some(link) =
                page_links.next_if(|l| l.work_key == book.work_key && (own.is_empty() || l.position != 0))
            {
                own.push(link);
            }
            if state.seen_works.insert(&book.work_key) {
                books.push(book);
                links.append(&mut own);
            } else {
                state.duplicate_works += 1;
            }
        }
        let mut remapped = false;
        for link in &mut links {
            // A merged author's link goes to the person it was merged into; the listed key stays.
            if state.redirects.contains_key(&link.author_key) {
                let person = records::canonical_author(&link.author_key, &state.redirects)
                    .map(str::to_string)
                    .map_err(|chain| chain.len());
                match person {
                    Ok(person) => {
                        link.listed_author_key = Some(std::mem::replace(&mut link.author_key, person));
                        remapped = true;
                    }
                    Err(_) => records::count(&mut state.issues, "author_redirect_loop"),
                }
            }
            // Looked up before inserting: most links are to an author already seen, and `entry`
            // would need an owned copy of the key every time.
            match state.listed_names.get_mut(&link.author_key) {
                Some(name) if name.is_none() => *name = link.listed_name.take(),
                Some(_) => {}
                None => {
                    state.listed_names.insert(link.author_key.clone(), link.listed_name.take());
                }
            }
        }
        if remapped {
            links = one_link_per_person(links, &mut state.issues);
        }
        for reject in &rows.rejects {
            tracing::warn!(source = %reject.source, position = ?reject.position, reason = %reject.reason, "work rejected");
        }
        self.books.push(tables::books(&books))?;
        self.book_authors.push(tables::book_authors(&links))?;
        self.rejects.push(tables::rejects(&rows.rejects))?;
        Ok(())
    }

    /// The writers in [`Table::ALL`] order.
    fn into_writers(self) -> [(Table, SortedParquet); 4] {
        [
            (Table::Books, self.books),
            (Table::Authors, self.authors),
            (Table::BookAuthors, self.book_authors),
            (Table::Rejects, self.rejects),
        ]
    }
}

/// A work that lists a merged author under both keys links to the person once, at the first
/// position, as a work listing an author twice does (records::link_author); positions close up.
fn one_link_per_person(links: Vec<records::BookAuthor>, issues: &mut Issues) -> Vec<records::BookAuthor> {
    let mut kept: Vec<records::BookAuthor> = Vec::with_capacity(links.len());
    let mut work_start = 0;
    for mut link in links {
        if kept.last().is_none_or(|last| last.work_key != link.work_key) {
            work_start = kept.len();
        }
        if kept[work_start..].iter().any(|k| k.author_key == link.author_key) {
            records::count(issues, "repeated_author_reference");
            continue;
        }
        link.position = (kept.len() - work_start) as i32;
        kept.push(link);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::WorkKeys;

    #[test]
    fn a_work_listing_a_merged_author_under_both_keys_links_the_person_once() {
        let link = |work: &str, author: &str, listed: Option<&str>, position| crate::records::BookAuthor {
            work_key: work.into(),
            author_key: author.into(),
            position,
            listed_author_key: listed.map(str::to_string),
            listed_name: None,
        };
        let links = vec![
            link("OL1W", "OL2A", Some("OL1A"), 0),
            link("OL1W", "OL2A", None, 1),
            link("OL1W", "OL3A", None, 2),
            link("OL2W", "OL2A", None, 0),
        ];
        let mut issues = crate::records::Issues::new();
        let kept = super::one_link_per_person(links, &mut issues);
        let rows: Vec<(&str, &str, i32)> =
            kept.iter().map(|l| (l.work_key.as_str(), l.author_key.as_str(), l.position)).collect();
        assert_eq!(rows, [("OL1W", "OL2A", 0), ("OL1W", "OL3A", 1), ("OL2W", "OL2A", 0)]);
        assert_eq!(kept[0].listed_author_key.as_deref(), Some("OL1A"));
        assert_eq!(issues.get("repeated_author_reference"), Some(&1));
    }

    #[test]
    fn work_keys_are_told_apart() {
        let mut keys = WorkKeys::default();
        assert!(keys.insert("OL123W"));
        assert!(!keys.insert("OL123W"));
        // Same number, different keys.
        assert!(keys.insert("OL0123W"));
        assert!(!keys.insert("OL0123W"));
        assert!(keys.insert("OL0W"));
        let long = format!("OL{}W", "9".repeat(25));
        assert!(keys.insert(&long));
        assert!(!keys.insert(&long));
        assert_eq!((keys.numbers.len(), keys.others.len()), (2, 2));
    }
}
