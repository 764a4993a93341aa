//! The commit protocol (design doc): a partition is complete when its `_manifest.json` exists.
//!
//! The manifest is written last, after every data object is in place, and removed first when a
//! partition is redone, so a crash leaves either the old complete partition or no manifest. Readers
//! ignore a partition without one. It records what ran, what it read (the input manifests' sha256),
//! and every object written with its size, rows and sha256; `details` is the task's own record.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::lake::{Lake, LakeError, MANIFEST};

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

/// Commits a partition: call only after every object it lists is in place.
pub async fn write<D: Serialize>(lake: &Lake, partition: &Path, manifest: &Manifest<D>) -> Result<String, LakeError> {
    let bytes = serde_json::to_vec_pretty(manifest).expect("a manifest always serialises");
    let sha = sha256_hex(&bytes);
    lake.put(&manifest_path(partition), Bytes::from(bytes)).await?;
    Ok(sha)
}

/// Un-commits a partition before it is redone.
pub async fn remove(lake: &Lake, partition: &Path) -> Result<(), LakeError> {
    lake.delete(&manifest_path(partition)).await
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
