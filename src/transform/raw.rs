//! Reading a raw partition for `transform`: what its manifest lists, each object checked against
//! the manifest's checksum, read and parsed concurrently, handed over in the manifest's order.
//!
//! An author's record is an object of its own (`/authors/<KEY>.json` as received) or one entry of
//! a stored `/api/get_many` answer (`result["/authors/<KEY>"]`); a batch object is read and checked
//! once for all the authors it holds.
//!
//! Memory: at a million works the raw manifest lists 200,000 author records. Holding the whole
//! [`crate::lake::commit::Manifest`] for the run costs ~70 MB, so only a compact listing is kept (paths,
//! keys and binary digests, ~140 bytes an author). Pages and author records are read a few at a
//! time, so what is in flight is bounded, whatever the size of the subject.

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::error::TransformError;
use crate::lake::commit::{self, Input};
use crate::lake::{Lake, layout};
use crate::records::{self, Issues};

/// Pages read and parsed ahead of the one being sorted into the writers: they come back in order,
/// so a window of 3 left a core idle behind each slow page (1M works: pages phase 5.8 s with 3,
/// 5.35 s with 6, no better with 10; ~20 MB more at the peak).
const PAGES_IN_FLIGHT: usize = 6;
/// Author record reads in flight (each is a small object: latency, not bandwidth, bounds them).
const AUTHORS_IN_FLIGHT: usize = 64;
/// Author records are parsed this many at a time, off the async threads.
pub const AUTHOR_CHUNK: usize = 2048;

/// The part of the raw manifest transform reads.
#[derive(Deserialize)]
struct Listing {
    objects: Vec<ListedObject>,
    details: ListedDetails,
}

#[derive(Deserialize)]
struct ListedObject {
    path: String,
    sha256: String,
}

#[derive(Deserialize)]
struct ListedDetails {
    author_records: Vec<ListedAuthor>,
}

#[derive(Deserialize)]
struct ListedAuthor {
    key: String,
    path: String,
    /// Carried by manifests since batches: the digest of a record reused from an earlier fetch.
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    batch: bool,
}

/// An object to read, with the digest the raw manifest has for it (a cached author record reused
/// from an earlier partition has none: its checksum is in that partition's manifest).
#[derive(Clone)]
struct Planned {
    path: Box<str>,
    sha256: Option<Expected>,
}

/// A digest from the manifest: as bytes, or as written when it is not 64 hex digits (no body can
/// match it, and the error shows it as it is).
#[derive(Clone)]
enum Expected {
    Digest([u8; 32]),
    Unreadable(Box<str>),
}

/// An object holding author records: one author's record, or a batch holding several.
#[derive(Clone)]
struct AuthorObject {
    planned: Planned,
    keys: Vec<Box<str>>,
    batch: bool,
}

/// A complete raw partition, as transform reads it.
pub struct RawPartition {
    /// The raw manifest, as the silver manifests name their input.
    pub input: Input,
    pages: Vec<Planned>,
    authors: Vec<AuthorObject>,
}

/// What an author's record came to.
#[derive(Debug)]
pub enum AuthorRecord {
    Author(records::Author),
    /// A merged author: the key its record redirects to (`None`: not to an author key).
    Redirect(Option<String>),
    Rejected(records::Reject),
}

/// An author record's asked key with what its record came to.
pub type ParsedAuthor = (String, AuthorRecord);

impl RawPartition {
    /// The raw partition at `partition`, or `None` if it has no manifest (not fetched, or not yet
    /// complete).
    pub async fn read(lake: &Lake, partition: &Path) -> Result<Option<Self>, commit::ManifestError> {
        let Some((listing, sha256, path)) = commit::read_as::<Listing>(lake, partition).await? else {
            return Ok(None);
        };
        let digests: HashMap<&str, &str> =
            listing.objects.iter().map(|o| (o.path.as_str(), o.sha256.as_str())).collect();
        let expected = |hex: &str| digest(hex).map_or_else(|| Expected::Unreadable(hex.into()), Expected::Digest);
        let planned = |path: &str, own: Option<&str>| Planned {
            path: path.into(),
            sha256: own.or_else(|| digests.get(path).copied()).map(expected),
        };
        let pages = listing.objects.iter().filter(|o| is_page(&o.path)).map(|o| planned(&o.path, None)).collect();
        // One entry per object: the authors of a batch together, in the order first listed.
        let mut authors: Vec<AuthorObject> = Vec::new();
        let mut batches: HashMap<&str, usize> = HashMap::new();
        for record in &listing.details.author_records {
            let key: Box<str> = record.key.as_str().into();
            if record.batch
                && let Some(&at) = batches.get(record.path.as_str())
            {
                authors[at].keys.push(key);
                continue;
            }
            if record.batch {
                batches.insert(record.path.as_str(), authors.len());
            }
            let planned = planned(&record.path, record.sha256.as_deref());
            authors.push(AuthorObject { planned, keys: vec![key], batch: record.batch });
        }
        Ok(Some(Self { input: Input { manifest: path.to_string(), sha256 }, pages, authors }))
    }

    /// The pages' rows, in the manifest's order. Pages are read and parsed a few at a time on the
    /// blocking pool, so parsing uses every core while the caller sorts the rows of the one before.
    /// Each page is a task of its own: a future inside `buffered` moves only while the stream is
    /// polled, so a read that finished while the caller was busy with rows would wait for it to
    /// start its parse (at 1M works that idled a core for a third of the pages phase).
    pub fn pages<'a>(&'a self, lake: &'a Lake) -> BoxStream<'a, anyhow::Result<records::PageRows>> {
        let reads = self.pages.iter().map(move |page| {
            let (lake, path, expected) = (lake.clone(), page.path.clone(), page.sha256.clone());
            tokio::spawn(async move {
                let body = lake.get(&Path::from(&*path)).await?;
                tokio::task::spawn_blocking(move || {
                    verify(&path, &body, expected.as_ref())?;
                    Ok(records::parse_page(&body, &path)?)
                })
                .await?
            })
        });
        futures::stream::iter(reads).buffered(PAGES_IN_FLIGHT).map(|joined| joined?).boxed()
    }

    /// The author records parsed, in chunks of about [`AUTHOR_CHUNK`] records in the manifest's
    /// order, each with the soft problems counted in it. Many small reads are in flight; the parsing
    /// runs on the blocking pool (or, on a local lake, read and parsed together on threads of their
    /// own).
    pub fn authors<'a>(&'a self, lake: &'a Lake) -> BoxStream<'a, anyhow::Result<(Vec<ParsedAuthor>, Issues)>> {
        let chunks = chunks(&self.authors);
        if lake.can_read_blocking() {
            // A local lake: each chunk is read and parsed on a thread of its own, outside the
            // runtime, so object_store does the file I/O inline (see Lake::get_blocking).
            let chunks = chunks.into_iter().map(move |chunk| {
                let lake = lake.clone();
                on_own_thread(move || {
                    let raw = chunk.into_iter().map(|object| {
                        let body = lake.get_blocking(&Path::from(&*object.planned.path))?;
                        Ok(RawAuthors { object, body })
                    });
                    parse_authors(raw.collect::<anyhow::Result<Vec<_>>>()?)
                })
            });
            return futures::stream::iter(chunks).buffered(2).boxed();
        }
        let chunks = chunks.into_iter().map(move |chunk| async move {
            let reads = chunk.into_iter().map(|object| async move {
                let body = lake.get(&Path::from(&*object.planned.path)).await?;
                Ok::<_, anyhow::Error>(RawAuthors { object, body })
            });
            let raw: Vec<RawAuthors> = futures::stream::iter(reads).buffered(AUTHORS_IN_FLIGHT).try_collect().await?;
            tokio::task::spawn_blocking(move || parse_authors(raw)).await?
        });
        futures::stream::iter(chunks).buffered(2).boxed()
    }
}

/// The author objects in runs of about [`AUTHOR_CHUNK`] records (a batch object is not split).
fn chunks(objects: &[AuthorObject]) -> Vec<Vec<AuthorObject>> {
    let mut chunks = vec![];
    let mut current: Vec<AuthorObject> = vec![];
    let mut records = 0;
    for object in objects {
        records += object.keys.len();
        current.push(object.clone());
        if records >= AUTHOR_CHUNK {
            chunks.push(std::mem::take(&mut current));
            records = 0;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Runs `work` on a new thread outside the tokio runtime and waits for it without blocking one.
async fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = futures::channel::oneshot::channel();
    std::thread::Builder::new().name("bookpipe-read".into()).spawn(move || done.send(work()))?;
    result.await.map_err(|_| anyhow::anyhow!("a reader thread panicked"))?
}

/// An author object as read from the lake.
struct RawAuthors {
    object: AuthorObject,
    body: Bytes,
}

fn parse_authors(chunk: Vec<RawAuthors>) -> anyhow::Result<(Vec<ParsedAuthor>, Issues)> {
    let mut issues = Issues::new();
    let mut parsed = Vec::with_capacity(chunk.len());
    for RawAuthors { object, body } in chunk {
        let path = &object.planned.path;
        verify(path, &body, object.planned.sha256.as_ref())?;
        if !object.batch {
            for key in object.keys {
                parsed.push((key.into(), parse_author(&body, path, &mut issues)));
            }
            continue;
        }
        // A get_many answer: each author's record is its entry in `result`, parsed once: the
        // entries are borrowed from the body as raw JSON text and each is parsed straight into a
        // row (not into a `Value` first, then written out and parsed again).
        let result =
            batch_result(&body).map_err(|reason| TransformError::BadBatch { path: path.to_string(), reason })?;
        for key in object.keys {
            let source = format!("{path}#/authors/{key}");
            let record = match result.get(format!("/authors/{key}").as_str()) {
                Some(record) => parse_author(record.get().as_bytes(), &source, &mut issues),
                None => AuthorRecord::Rejected(records::Reject {
                    source,
                    position: None,
                    key: Some(key.to_string()),
                    reason: "the manifest says this batch holds the author's record, and it does not".into(),
                    record: String::new(),
                }),
            };
            parsed.push((key.into(), record));
        }
    }
    Ok((parsed, issues))
}

/// One author record: a row, a redirect or a reject.
fn parse_author(body: &[u8], source: &str, issues: &mut Issues) -> AuthorRecord {
    match records::parse_author(body, source, issues) {
        Ok(Some(author)) => AuthorRecord::Author(author),
        Ok(None) => AuthorRecord::Redirect(records::redirect_target(body)),
        Err(reject) => AuthorRecord::Rejected(reject),
    }
}

/// The entries of a stored get_many answer's `result`, by key, as the JSON text of each record
/// (borrowed from `body`). A key written with escapes is unescaped, hence `Cow`; a key given twice
/// keeps its last entry, as a `serde_json::Value` object would.
type BatchEntries<'a> = HashMap<Cow<'a, str>, &'a RawValue>;

/// The `result` of a stored get_many answer.
fn batch_result(body: &[u8]) -> Result<BatchEntries<'_>, String> {
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Entries<'a>(#[serde(borrow)] BatchEntries<'a>);
    let answer: Answer<'_> = serde_json::from_slice(body).map_err(|err| format!("not JSON: {err}"))?;
    let result = answer.result.ok_or_else(|| "no \"result\" object".to_string())?;
    serde_json::from_str::<Entries<'_>>(result.get()).map(|e| e.0).map_err(|_| "no \"result\" object".into())
}

fn is_page(path: &str) -> bool {
    path.rsplit('/').next().and_then(layout::parse_page_name).is_some()
}

fn verify(path: &str, body: &[u8], expected: Option<&Expected>) -> Result<(), TransformError> {
    let Some(expected) = expected else { return Ok(()) };
    let actual: [u8; 32] = Sha256::digest(body).into();
    let expected = match expected {
        Expected::Digest(digest) if *digest == actual => return Ok(()),
        Expected::Digest(digest) => commit::hex(digest),
        Expected::Unreadable(hex) => hex.to_string(),
    };
    Err(TransformError::Checksum { path: path.into(), expected, actual: commit::hex(&actual) })
}

/// A sha256 written as 64 hex digits, as bytes; `None` for anything else.
fn digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let nibble = |b: u8| (b as char).to_digit(16);
        digest[i] = (nibble(pair[0])? * 16 + nibble(pair[1])?) as u8;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip() {
        let sha = Sha256::digest(b"bookpipe");
        let hex = commit::hex(&sha);
        assert_eq!(digest(&hex), Some(<[u8; 32]>::from(sha)));
        assert_eq!(digest(&hex.to_uppercase()), Some(<[u8; 32]>::from(sha)));
        assert_eq!(digest(&hex[..62]), None);
        assert_eq!(digest(&format!("{}zz", &hex[..62])), None);
    }
}
