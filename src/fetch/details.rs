//! What a raw partition's manifest says about its fetch: the counts, the requests, and which stored
//! object holds each author's record (transform reads these to find the records).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The task's own record in the partition manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchDetails {
    /// When the API was asked: the data is Open Library's answer at this moment, filed under ds.
    pub fetched_at: DateTime<Utc>,
    pub api_url: String,
    pub limit: u32,
    pub max_works: Option<u64>,
    /// What Open Library said the subject holds.
    pub work_count: u64,
    /// Works received, over all pages (a work on two pages counts twice here).
    pub works: u64,
    /// Distinct works received.
    #[serde(default)]
    pub distinct_works: u64,
    /// How many of `work_count` (or `--max-works`) were not received; at most `max_missing_ratio`
    /// of it, or the fetch failed.
    #[serde(default)]
    pub missing_works: u64,
    #[serde(default)]
    pub max_missing_ratio: f64,
    pub pages: u32,
    /// Pages kept from an interrupted earlier run rather than requested again.
    pub pages_resumed: u32,
    pub authors: AuthorCounts,
    /// The record used for every distinct author, and for every author a redirect leads to, sorted
    /// by key.
    pub author_records: Vec<AuthorRecord>,
    /// Authors Open Library has no record of (absent from a batch and 404 alone).
    pub missing_authors: Vec<String>,
    /// How the author records were asked for.
    #[serde(default)]
    pub author_requests: AuthorRequests,
    /// HTTP requests this run sent, retries included.
    pub requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorCounts {
    /// Distinct author keys on the pages.
    pub distinct: u64,
    /// Records fetched by this run (redirect targets included).
    pub fetched: u64,
    /// Records reused from an earlier fetch.
    pub reused: u64,
    pub missing: u64,
    /// Records that are redirects (merged authors), followed to their target.
    #[serde(default)]
    pub redirects: u64,
}

/// The author requests of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorRequests {
    /// `/api/get_many` answers stored.
    pub batches: u64,
    /// `/authors/<KEY>.json` requests (keys a batch left out, or all of them without get_many).
    pub single: u64,
    /// Why `/api/get_many` was given up for this run, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_many_unavailable: Option<String>,
}

/// Which stored object holds an author's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorRecord {
    pub key: String,
    pub path: String,
    /// The size of the object at `path`.
    pub bytes: u64,
    /// The sha256 of the object at `path` (absent in manifests written before batches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub fetched_at: DateTime<Utc>,
    /// Whether the record came from an earlier fetch rather than this run.
    pub reused: bool,
    /// The object is a `/api/get_many` answer; the record is its `result["/authors/<key>"]`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    /// The record is a redirect (a merged author) to this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// How an author object's name stamps its fetch time: `20261121T063000.123Z`.
pub const AUTHOR_STAMP: &str = "%Y%m%dT%H%M%S%.3fZ";
