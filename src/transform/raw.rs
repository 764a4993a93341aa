//! Reading a raw partition for `transform`: what its manifest lists, each object checked against
//! the manifest's checksum, read and parsed concurrently, handed over in the manifest's order.
//!
//! Memory: at a million works the raw manifest lists 200,000 author records. Holding the whole
//! [`crate::manifest::Manifest`] for the run costs ~70 MB, so only a compact listing is kept (paths,
//! keys and binary digests, ~140 bytes an author). Pages and author records are read a few at a
//! time, so what is in flight is bounded, whatever the size of the subject.

use std::collections::HashMap;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::TransformError;
use crate::lake::{self, Lake};
use crate::manifest::{self, Input};
use crate::records::{self, Issues};

/// Pages read and parsed ahead of the one being sorted into the writers.
const PAGES_IN_FLIGHT: usize = 3;
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

/// A complete raw partition, as transform reads it.
pub struct RawPartition {
    /// The raw manifest, as the silver manifests name their input.
    pub input: Input,
    pages: Vec<Planned>,
    authors: Vec<(Box<str>, Planned)>,
}

/// An author record's asked key with what its record parsed to.
pub type ParsedAuthor = (String, Result<Option<records::Author>, records::Reject>);

impl RawPartition {
    /// The raw partition at `partition`, or `None` if it has no manifest (not fetched, or not yet
    /// complete).
    pub async fn read(lake: &Lake, partition: &Path) -> Result<Option<Self>, manifest::ManifestError> {
        let Some((listing, sha256, path)) = manifest::read_as::<Listing>(lake, partition).await? else {
            return Ok(None);
        };
        let digests: HashMap<&str, &str> =
            listing.objects.iter().map(|o| (o.path.as_str(), o.sha256.as_str())).collect();
        let expected = |hex: &str| digest(hex).map_or_else(|| Expected::Unreadable(hex.into()), Expected::Digest);
        let planned = |path: &str| Planned { path: path.into(), sha256: digests.get(path).map(|hex| expected(hex)) };
        let pages = listing.objects.iter().filter(|o| is_page(&o.path)).map(|o| planned(&o.path)).collect();
        let authors = listing
            .details
            .author_records
            .iter()
            .map(|record| (record.key.as_str().into(), planned(&record.path)))
            .collect();
        Ok(Some(Self { input: Input { manifest: path.to_string(), sha256 }, pages, authors }))
    }

    /// The pages' rows, in the manifest's order. Pages are read and parsed a few at a time on the
    /// blocking pool, so parsing uses every core while the caller sorts the rows of the one before.
    pub fn pages<'a>(&'a self, lake: &'a Lake) -> BoxStream<'a, anyhow::Result<records::PageRows>> {
        let reads = self.pages.iter().map(move |page| async move {
            let body = lake.get(&Path::from(&*page.path)).await?;
            let (path, expected) = (page.path.clone(), page.sha256.clone());
            tokio::task::spawn_blocking(move || {
                verify(&path, &body, expected.as_ref())?;
                Ok(records::parse_page(&body, &path)?)
            })
            .await?
        });
        futures::stream::iter(reads).buffered(PAGES_IN_FLIGHT).boxed()
    }

    /// The author records parsed, in chunks of up to [`AUTHOR_CHUNK`] in the manifest's order, each
    /// with the soft problems counted in it. Many small reads are in flight; the parsing runs on
    /// the blocking pool (or, on a local lake, read and parsed together on threads of their own).
    pub fn authors<'a>(&'a self, lake: &'a Lake) -> BoxStream<'a, anyhow::Result<(Vec<ParsedAuthor>, Issues)>> {
        if lake.can_read_blocking() {
            // A local lake: each chunk is read and parsed on a thread of its own, outside the
            // runtime, so object_store does the file I/O inline (see Lake::get_blocking).
            let chunks = self.authors.chunks(AUTHOR_CHUNK).map(move |chunk| {
                let (lake, chunk) = (lake.clone(), chunk.to_vec());
                on_own_thread(move || {
                    let raw = chunk.into_iter().map(|(key, record)| {
                        let body = lake.get_blocking(&Path::from(&*record.path))?;
                        Ok(RawAuthor { key: key.into(), path: record.path, body, expected: record.sha256 })
                    });
                    parse_authors(raw.collect::<anyhow::Result<Vec<_>>>()?)
                })
            });
            return futures::stream::iter(chunks).buffered(2).boxed();
        }
        let reads = self.authors.iter().map(move |(key, record)| async move {
            let body = lake.get(&Path::from(&*record.path)).await?;
            let expected = record.sha256.clone();
            Ok::<_, anyhow::Error>(RawAuthor { key: key.to_string(), path: record.path.clone(), body, expected })
        });
        futures::stream::iter(reads)
            .buffered(AUTHORS_IN_FLIGHT)
            .try_chunks(AUTHOR_CHUNK)
            .map_err(|err| err.1)
            .map_ok(|chunk| async move { tokio::task::spawn_blocking(move || parse_authors(chunk)).await? })
            .try_buffered(2)
            .boxed()
    }
}

/// Runs `work` on a new thread outside the tokio runtime and waits for it without blocking one.
async fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = futures::channel::oneshot::channel();
    std::thread::Builder::new().name("bookpipe-read".into()).spawn(move || done.send(work()))?;
    result.await.map_err(|_| anyhow::anyhow!("a reader thread panicked"))?
}

/// An author record as read from the lake.
struct RawAuthor {
    key: String,
    path: Box<str>,
    body: Bytes,
    expected: Option<Expected>,
}

fn parse_authors(chunk: Vec<RawAuthor>) -> anyhow::Result<(Vec<ParsedAuthor>, Issues)> {
    let mut issues = Issues::new();
    let mut parsed = Vec::with_capacity(chunk.len());
    for raw in chunk {
        verify(&raw.path, &raw.body, raw.expected.as_ref())?;
        parsed.push((raw.key, records::parse_author(&raw.body, &raw.path, &mut issues)));
    }
    Ok((parsed, issues))
}

fn is_page(path: &str) -> bool {
    path.rsplit('/').next().and_then(lake::parse_page_name).is_some()
}

fn verify(path: &str, body: &[u8], expected: Option<&Expected>) -> Result<(), TransformError> {
    let Some(expected) = expected else { return Ok(()) };
    let actual: [u8; 32] = Sha256::digest(body).into();
    let expected = match expected {
        Expected::Digest(digest) if *digest == actual => return Ok(()),
        Expected::Digest(digest) => manifest::hex(digest),
        Expected::Unreadable(hex) => hex.to_string(),
    };
    Err(TransformError::Checksum { path: path.into(), expected, actual: manifest::hex(&actual) })
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
        let hex = manifest::hex(&sha);
        assert_eq!(digest(&hex), Some(<[u8; 32]>::from(sha)));
        assert_eq!(digest(&hex.to_uppercase()), Some(<[u8; 32]>::from(sha)));
        assert_eq!(digest(&hex[..62]), None);
        assert_eq!(digest(&format!("{}zz", &hex[..62])), None);
    }
}
