//! What fetch writes besides its manifest: objects stored as received, and progress on the terminal.

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

use crate::lake::commit::Object;
use crate::lake::{Lake, LakeError};

/// Puts `body` at `path` and describes it for the manifest.
pub(super) async fn store(
    lake: &Lake,
    path: &object_store::path::Path,
    body: Bytes,
    rows: Option<u64>,
) -> Result<Object, LakeError> {
    let object = Object::describe(path, &body, rows);
    lake.put(path, body).await?;
    Ok(object)
}

/// A progress bar on the shared terminal (hidden when stderr is not one).
pub(super) fn bar(name: &'static str, length: Option<u64>) -> ProgressBar {
    let bar = crate::logging::progress().add(ProgressBar::new(length.unwrap_or(0)));
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(name);
    bar
}
