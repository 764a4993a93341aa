//! Why a transform failed (besides storage errors and missing input).

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{path}: checksum {actual} differs from the raw manifest's {expected}; the raw zone changed after fetch")]
    Checksum { path: String, expected: String, actual: String },
    #[error("{path}: not a stored /api/get_many answer: {reason}")]
    BadBatch { path: String, reason: String },
    #[error(
        "{rejects} of {records} records rejected ({ratio:.4}), above --max-reject-ratio {max}; nothing was written. \
         The rejects' reasons are in the logs above"
    )]
    TooManyRejects { rejects: u64, records: u64, ratio: f64, max: f64 },
}
