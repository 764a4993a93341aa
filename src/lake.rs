//! The lake: every byte bookpipe stores goes through here, and here only through `object_store`, so
//! a local folder, memory (tests) and S3 (or an S3-compatible server) behave the same.
//!
//! This module also owns the layout (design doc: lake layout). Partitions are Hive-style
//! (`subject=<slug>/ds=<date>`) so Athena, Spark and DuckDB prune them as they are.
//!
//! Every `put` is atomic per object (a local temp file renamed into place, a single S3 PUT), which
//! the commit protocol in [`crate::manifest`] relies on.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

use crate::settings::{Ds, LakeUrl, Subject};

/// A storage operation that failed, with the object it was about.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("cannot create the lake folder {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("cannot open the lake at {url}: {source}")]
    Open { url: String, source: object_store::Error },
    #[error("lake {op} of {path} failed: {source}")]
    Io { op: &'static str, path: String, source: object_store::Error },
}

/// The lake: a store and the URL it was opened from (for messages).
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    url: String,
    /// Local and in-memory stores work without a tokio runtime; S3's HTTP client does not.
    blocking_reads: bool,
}

impl Lake {
    pub fn open(url: &LakeUrl) -> Result<Self, LakeError> {
        let store: Arc<dyn ObjectStore> = match url {
            LakeUrl::Memory => Arc::new(InMemory::new()),
            LakeUrl::Local(path) => {
                std::fs::create_dir_all(path)
                    .map_err(|source| LakeError::Create { path: path.display().to_string(), source })?;
                let fs = LocalFileSystem::new_with_prefix(path)
                    .map_err(|source| LakeError::Open { url: url.to_string(), source })?;
                Arc::new(fs)
            }
            LakeUrl::S3 { bucket, prefix } => {
                // The standard AWS environment: keys, session token, region, web identity (EKS),
                // the ECS task role, instance metadata; AWS_ENDPOINT_URL for S3-compatible servers.
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").or_else(|_| std::env::var("AWS_ENDPOINT_URL"));
                if let Ok(endpoint) = endpoint {
                    // Plain http only when the endpoint itself says so.
                    builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
                }
                return Self::from_s3(builder, prefix, url);
            }
        };
        Ok(Self { store, url: url.to_string(), blocking_reads: true })
    }

    /// An S3 lake from a configured builder (tests pass explicit endpoint and keys this way).
    pub fn from_s3(builder: AmazonS3Builder, prefix: &str, url: &LakeUrl) -> Result<Self, LakeError> {
        let s3 = builder.build().map_err(|source| LakeError::Open { url: url.to_string(), source })?;
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) };
        Ok(Self { store, url: url.to_string(), blocking_reads: false })
    }

    /// The lake's location as given, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes one object atomically: readers see the old object or the new one, never a part.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), LakeError> {
        self.store.put(path, PutPayload::from_bytes(bytes)).await.map(drop).map_err(io("put", path))
    }

    pub async fn get(&self, path: &Path) -> Result<Bytes, LakeError> {
        let result = self.store.get(path).await.map_err(io("get", path))?;
        result.bytes().await.map_err(io("get", path))
    }

    /// Whether [`Lake::get_blocking`] can be used: on local and in-memory lakes, not on S3.
    pub fn can_read_blocking(&self) -> bool {
        self.blocking_reads
    }

    /// [`Lake::get`] on a plain thread, never one of the tokio runtime's. Why: inside a runtime
    /// object_store's local backend hands each read's file I/O to tokio's blocking pool and back,
    /// two thread switches per object, which were most of the cost of reading 200,000 small author
    /// records (docs/benchmarks.md); outside one it does the I/O right on the calling thread.
    pub fn get_blocking(&self, path: &Path) -> Result<Bytes, LakeError> {
        debug_assert!(self.blocking_reads, "only local and in-memory lakes read without the runtime");
        debug_assert!(tokio::runtime::Handle::try_current().is_err(), "called on a runtime thread");
        futures::executor::block_on(self.get(path))
    }

    /// Like [`Lake::get`], but an absent object is `None` rather than an error.
    pub async fn get_opt(&self, path: &Path) -> Result<Option<Bytes>, LakeError> {
        match self.store.get(path).await {
            Ok(result) => result.bytes().await.map(Some).map_err(io("get", path)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(io("get", path)(source)),
        }
    }

    /// Every object below `prefix`, sorted by path so callers behave the same on every backend.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, LakeError> {
        let mut objects: Vec<ObjectMeta> =
            self.store.list(Some(prefix)).try_collect().await.map_err(io("list", prefix))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// The folders directly below `prefix` (one listing request per 1,000 on S3, whatever lies
    /// below them), sorted.
    pub async fn list_folders(&self, prefix: &Path) -> Result<Vec<Path>, LakeError> {
        let listing = self.store.list_with_delimiter(Some(prefix)).await.map_err(io("list", prefix))?;
        let mut folders = listing.common_prefixes;
        folders.sort();
        Ok(folders)
    }

    /// Deletes one object; an absent object is not an error (deletes are retried after crashes).
    pub async fn delete(&self, path: &Path) -> Result<(), LakeError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(io("delete", path)(source)),
        }
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(object_store::Error) -> LakeError {
    let path = path.to_string();
    move |source| LakeError::Io { op, path, source }
}

/// The file every complete partition ends with (design doc: commit protocol).
pub const MANIFEST: &str = "_manifest.json";

/// `raw/openlibrary/subjects/subject=<slug>/ds=<date>`: the subject pages of one fetch.
pub fn raw_subject_partition(subject: &Subject, ds: Ds) -> Path {
    hive(&["raw", "openlibrary", "subjects"], subject, ds)
}

/// `raw/openlibrary/subjects/subject=<slug>`: every ds of a subject's pages, one folder each.
pub fn raw_subject_prefix(subject: &Subject) -> Path {
    Path::from_iter(["raw", "openlibrary", "subjects", &format!("subject={subject}")])
}

/// `raw/openlibrary/authors/subject=<slug>/ds=<date>`: the author objects one fetch wrote, each
/// immutable once written (never overwritten, never deleted), so the manifest of this partition
/// and of every later one that reuses a record can point at it. Earlier versions wrote single
/// records to `raw/openlibrary/authors/<KEY>/<stamp>.json`; manifests that name them stay readable.
pub fn raw_author_partition(subject: &Subject, ds: Ds) -> Path {
    hive(&["raw", "openlibrary", "authors"], subject, ds)
}

/// The object of the `n`-th `/api/get_many` answer of the fetch that started at `stamp`.
pub fn author_batch_name(stamp: &str, n: u32) -> String {
    format!("batch-{stamp}-{n:05}.json")
}

/// The object of one `/authors/<key>.json` answer of the fetch that started at `stamp`.
pub fn author_record_name(key: &str, stamp: &str) -> String {
    format!("{key}-{stamp}.json")
}

/// What an author object's name says: a batch (`None`) or one author's record, and the stamp.
pub fn parse_author_object_name(name: &str) -> Option<(Option<&str>, &str)> {
    let stem = name.strip_suffix(".json")?;
    if let Some(rest) = stem.strip_prefix("batch-") {
        let (stamp, n) = rest.rsplit_once('-')?;
        return n.bytes().all(|b| b.is_ascii_digit()).then_some((None, stamp));
    }
    let (key, stamp) = stem.split_once('-')?;
    Some((Some(key), stamp))
}

/// `<prefix>/subject=<slug>/ds=<date>`.
pub fn hive(prefix: &[&str], subject: &Subject, ds: Ds) -> Path {
    let subject = format!("subject={subject}");
    let ds = format!("ds={ds}");
    Path::from_iter(prefix.iter().copied().chain([subject.as_str(), ds.as_str()]))
}

/// The name of the n-th page object of a raw subject partition.
pub fn page_name(index: u32) -> String {
    format!("page-{index:05}.json")
}

/// The page index of a page object's file name, if it is one.
pub fn parse_page_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("page-")?.strip_suffix(".json")?;
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_hive_style() {
        let subject = Subject::parse("--subject", "place:london").unwrap();
        let ds = Ds::parse("--ds", "2024-05-01").unwrap();
        assert_eq!(
            raw_subject_partition(&subject, ds).as_ref(),
            "raw/openlibrary/subjects/subject=place:london/ds=2024-05-01"
        );
        assert_eq!(page_name(7), "page-00007.json");
        assert_eq!(parse_page_name("page-00007.json"), Some(7));
        assert_eq!(parse_page_name("page-7.json"), None);
        assert_eq!(parse_page_name("_manifest.json"), None);
        assert_eq!(
            raw_author_partition(&subject, ds).as_ref(),
            "raw/openlibrary/authors/subject=place:london/ds=2024-05-01"
        );
        let stamp = "20240501T060000.000Z";
        assert_eq!(parse_author_object_name(&author_batch_name(stamp, 3)), Some((None, stamp)));
        assert_eq!(parse_author_object_name(&author_record_name("OL1A", stamp)), Some((Some("OL1A"), stamp)));
        assert_eq!(parse_author_object_name("_manifest.json"), None);
    }
}
