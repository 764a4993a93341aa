//! The lake: every byte bookpipe stores goes through here, and here only through `object_store`, so
//! a local folder, memory (tests) and S3 (or an S3-compatible server) behave the same.
//!
//! The wing has four rooms: [`Lake`] (this file) opens the store and does single-object I/O;
//! [`layout`] names every folder and object; [`commit`] is the commit protocol (a partition is
//! complete when its manifest exists); [`parquet`] streams Parquet objects in and out.
//!
//! Every `put` is atomic per object (a local temp file renamed into place, a single S3 PUT), which
//! the commit protocol relies on.

pub mod commit;
pub mod layout;
pub mod parquet;

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

use crate::settings::LakeUrl;

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
    /// The bucket and prefix of an S3 lake: where a warehouse that loads from S3 (Redshift's COPY)
    /// finds the objects.
    s3: Option<(String, String)>,
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
        Ok(Self { store, url: url.to_string(), blocking_reads: true, s3: None })
    }

    /// An S3 lake from a configured builder (tests pass explicit endpoint and keys this way).
    pub fn from_s3(builder: AmazonS3Builder, prefix: &str, url: &LakeUrl) -> Result<Self, LakeError> {
        let s3 = builder.build().map_err(|source| LakeError::Open { url: url.to_string(), source })?;
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) };
        let location = match url {
            LakeUrl::S3 { bucket, prefix } => Some((bucket.clone(), prefix.clone())),
            _ => None,
        };
        Ok(Self { store, url: url.to_string(), blocking_reads: false, s3: location })
    }

    /// Whether the lake is on S3 (where a warehouse can load its objects itself).
    pub fn is_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// `s3://<bucket>/<prefix>/<path>`, the S3 URI of a lake object, on an S3 lake.
    pub fn s3_uri(&self, path: &Path) -> Option<String> {
        let (bucket, prefix) = self.s3.as_ref()?;
        Some(match prefix.is_empty() {
            true => format!("s3://{bucket}/{path}"),
            false => format!("s3://{bucket}/{prefix}/{path}"),
        })
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
