//! Why a fetch failed.

use crate::exit::BadInput;
use crate::lake::LakeError;
use crate::lake::commit::ManifestError;
use crate::openlibrary::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{url} returned the same works as page {previous}; the server is not paging, refusing to loop")]
    RepeatedPage { url: String, previous: u32 },
    #[error(
        "{url}: {missing} of the {expected} works Open Library announced were not received ({distinct} distinct \
         over {pages} pages; ratio {ratio:.4}, above --max-missing-ratio {max}); nothing was committed"
    )]
    Incomplete { url: String, expected: u64, distinct: u64, missing: u64, pages: u32, ratio: f64, max: f64 },
    /// Open Library refused a parameter (`422`): retrying will not help.
    #[error("{0}")]
    Refused(#[source] BadInput),
}
