//! The commit protocol (design doc): a partition is complete when its `_manifest.json` exists.
//!
//! The manifest is removed first when a partition is (re)written and written last, after every data
//! object is in place, so a crash leaves either the old complete partition or no manifest. The
//! types hold writers to that order: the only way to write a manifest is [`Uncommitted::commit`],
//! and the only way to an [`Uncommitted`] partition is [`begin`], which removes the manifest.
//! Readers ignore a partition without one. A manifest records what ran, what it read (the input
//! manifests' sha256), and every object written with its size, rows and sha256; `details` is the
//! task's own record. It is the only place a wall-clock time is kept (`created_at`).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::layout::MANIFEST;
use super::{Lake, LakeError};
use crate::settings::Partition;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest<D> {
    pub task: String,
    pub subject: String,
    pub ds: String,
    pub bookpipe_version: String,
    /// When the task ran (the manifest is the only place a wall-clock time is kept).
    pub created_at: DateTime<Utc>,
    /// The manifests this partition was computed from.
    pub inputs: Vec<Input>,
    /// Every object of the partition, sorted by path.
    pub objects: Vec<Object>,
    pub details: D,
}

impl<D> Manifest<D> {
    /// The manifest of `partition` written by `task` at `created_at`; objects are kept sorted by
    /// path so the same partition always lists them in the same order.
    pub fn new(
        task: impl Into<String>,
        partition: &Partition,
        created_at: DateTime<Utc>,
        inputs: Vec<Input>,
        mut objects: Vec<Object>,
        details: D,
    ) -> Self {
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        Self {
            task: task.into(),
            subject: partition.subject.to_string(),
            ds: partition.ds.to_string(),
            bookpipe_version: crate::VERSION.into(),
            created_at,
            inputs,
            objects,
            details,
        }
    }
}

/// An input partition, pinned by its manifest's checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub manifest: String,
    pub sha256: String,
}

/// One object written by the task; `path` is relative to the lake root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl Object {
    /// Describes `bytes` as they are (or are about to be) stored at `path`.
    pub fn describe(path: &Path, bytes: &[u8], rows: Option<u64>) -> Self {
        Self { path: path.to_string(), bytes: bytes.len() as u64, sha256: sha256_hex(bytes), rows }
    }
}

/// A manifest as read back, with the checksum of its bytes (what downstream tasks record).
#[derive(Debug, Clone)]
pub struct Committed<D> {
    pub manifest: Manifest<D>,
    pub sha256: String,
    pub path: Path,
}

impl<D> Committed<D> {
    /// This manifest as the input of a downstream partition.
    pub fn input(&self) -> Input {
        Input { manifest: self.path.to_string(), sha256: self.sha256.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("manifest {path} is not valid: {source}")]
    Invalid { path: String, source: serde_json::Error },
}

pub fn manifest_path(partition: &Path) -> Path {
    partition.clone().join(MANIFEST)
}

/// Reads a partition's manifest; `None` means the partition is not complete.
pub async fn read<D: DeserializeOwned>(lake: &Lake, partition: &Path) -> Result<Option<Committed<D>>, ManifestError> {
    let read = read_as::<Manifest<D>>(lake, partition).await?;
    Ok(read.map(|(manifest, sha256, path)| Committed { manifest, sha256, path }))
}

/// Reads a partition's manifest as any `T` (a view of [`Manifest`] that keeps only what its reader
/// needs), with its sha256 and path; `None` when the partition has no manifest.
pub async fn read_as<T: DeserializeOwned>(
    lake: &Lake,
    partition: &Path,
) -> Result<Option<(T, String, Path)>, ManifestError> {
    let path = manifest_path(partition);
    let Some(bytes) = lake.get_opt(&path).await? else {
        return Ok(None);
    };
    let view =
        serde_json::from_slice(&bytes).map_err(|source| ManifestError::Invalid { path: path.to_string(), source })?;
    Ok(Some((view, sha256_hex(&bytes), path)))
}

/// A partition being written: its manifest is gone, so readers see no partition until
/// [`Uncommitted::commit`]. Dropping it without committing leaves the partition incomplete, which a
/// rerun redoes.
#[must_use = "a partition is complete only once committed"]
#[derive(Debug)]
pub struct Uncommitted {
    folder: Path,
}

/// Starts (re)writing the partition in `folder`: removes its manifest first, so from here a crash
/// leaves no manifest, never an old manifest beside new data. An absent manifest is no error.
pub async fn begin(lake: &Lake, folder: &Path) -> Result<Uncommitted, LakeError> {
    lake.delete(&manifest_path(folder)).await?;
    Ok(Uncommitted { folder: folder.clone() })
}

impl Uncommitted {
    /// The partition's folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Commits the partition by writing its manifest; call only once every object it lists is in
    /// place. Returns the manifest's sha256.
    pub async fn commit<D: Serialize>(self, lake: &Lake, manifest: &Manifest<D>) -> Result<String, LakeError> {
        let bytes = serde_json::to_vec_pretty(manifest).expect("a manifest always serialises");
        let sha = sha256_hex(&bytes);
        lake.put(&manifest_path(&self.folder), Bytes::from(bytes)).await?;
        Ok(sha)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest, as manifests record checksums.
pub fn hex(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_a_known_digest() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
