//! The HTTP source: the only code that talks to Open Library.
//!
//! It behaves as Open Library asks: a User-Agent naming bookpipe and a contact, one shared rate
//! limit ([`RateLimiter`]), timeouts, retries with exponential backoff and jitter on 5xx, timeouts,
//! connection errors, unreadable bodies and `200` answers that a caller's check says are a server
//! failure in disguise (Open Library answers a Solr failure with `200` and no works). A `429`
//! (Open Library's nginx sends no `Retry-After`) backs the whole process off, at least 2 s and
//! doubling while the refusals go on. No other 4xx is retried. A body is returned only when it is
//! valid JSON, exactly as received.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::ratelimit::RateLimiter;
use crate::settings::{HttpSettings, Subject};

/// The longest single wait: a `Retry-After` beyond this is cut to it.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// The least a `429` holds the process back, whatever `Retry-After` says (Open Library sends none,
/// and a `Retry-After: 0` must not become a tight loop); it doubles while refusals go on.
pub const REFUSAL_FLOOR: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("GET {url} answered {status} after {attempts} attempt(s): {body}")]
    Status { url: Url, status: StatusCode, attempts: u32, body: String },
    #[error("GET {url} failed after {attempts} attempt(s): {source}")]
    Transport { url: Url, attempts: u32, source: reqwest::Error },
    #[error("GET {url} returned a body that is not JSON after {attempts} attempt(s): {source}")]
    NotJson { url: Url, attempts: u32, source: serde_json::Error },
    /// A `200` whose body says the server failed (e.g. a subject page without its works).
    #[error("GET {url} still answered a server failure after {attempts} attempt(s): {reason}")]
    Unusable { url: Url, attempts: u32, reason: String },
    /// A `200` whose body is not what the endpoint answers; asking again will not change it.
    #[error("GET {url} answered something that is not {reason}")]
    Unexpected { url: Url, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
}

impl SourceError {
    /// The HTTP status of a definitive answer, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            SourceError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A polite Open Library client. One per process: the rate limit lives here.
#[derive(Debug)]
pub struct OpenLibrary {
    http: reqwest::Client,
    base: Url,
    limiter: RateLimiter,
    retries: u32,
    retry_base: Duration,
    requests: AtomicU64,
    refusals: Mutex<Refusals>,
}

/// The process's run of `429`s: how many hold-offs in a row, and until when the current one lasts
/// (refusals of requests that were already in flight belong to the same hold-off).
#[derive(Debug, Default)]
struct Refusals {
    level: u32,
    until: Option<tokio::time::Instant>,
}

/// What a caller's check makes of a `200` JSON body.
#[derive(Debug)]
pub enum Check {
    /// A server failure dressed as a success: retried like a 5xx.
    Retry(String),
    /// Not what this endpoint answers: not retried.
    Unexpected(&'static str, String),
}

/// What one attempt came to, when it did not succeed.
enum Attempt {
    /// Worth another try, after at least this long (on top of the rate limit).
    Retry {
        wait: Duration,
        error: SourceError,
    },
    Fatal(SourceError),
}

impl OpenLibrary {
    pub fn new(settings: &HttpSettings) -> Result<Self, SourceError> {
        let http = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(SourceError::Client)?;
        Ok(Self {
            http,
            base: settings.api_url.clone(),
            limiter: RateLimiter::per_second(settings.rate),
            retries: settings.retries,
            retry_base: settings.retry_base,
            requests: AtomicU64::new(0),
            refusals: Mutex::new(Refusals::default()),
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `/subjects/<slug>.json?limit=L&offset=O&sort=key`. Sorted by key because the default sort
    /// (`edition_count desc`) has ties that Solr may order differently on every request, so pages
    /// would shift under the pager; the key is unique.
    pub fn subject_page_url(&self, subject: &Subject, limit: u32, offset: u64) -> Url {
        let mut url = self.endpoint(&["subjects", &format!("{subject}.json")]);
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string())
            .append_pair("sort", "key");
        url
    }

    /// `/api/get_many?keys=["/authors/OL1A",…]`: many records in one request (a JSON list, URL
    /// encoded, as Open Library's own client sends it).
    pub fn get_many_url(&self, keys: &[&str]) -> Url {
        let mut url = self.endpoint(&["api", "get_many"]);
        let list: Vec<String> = keys.iter().map(|key| format!("/authors/{key}")).collect();
        let list = serde_json::to_string(&list).expect("strings serialise");
        url.query_pairs_mut().append_pair("keys", &list);
        url
    }

    /// The length of the request line `GET <path?query> HTTP/1.1` for `url`: servers cap it
    /// (gunicorn, behind Open Library's nginx, at 4094 bytes by default).
    pub fn request_line_len(url: &Url) -> usize {
        let query = url.query().map_or(0, |q| q.len() + 1);
        "GET ".len() + url.path().len() + query + " HTTP/1.1".len()
    }

    /// `/authors/<OL..A>.json`
    pub fn author_url(&self, key: &str) -> Url {
        self.endpoint(&["authors", &format!("{key}.json")])
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("http(s) URLs have path segments");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// GETs a JSON body, retrying what is worth retrying; the bytes are exactly as received.
    pub async fn get_json(&self, url: &Url) -> Result<Bytes, SourceError> {
        self.get_checked(url, |_| Ok(())).await.map(|(body, ())| body)
    }

    /// [`OpenLibrary::get_json`], with `check` judging each `200` body: what it makes of the body is
    /// returned with it; a [`Check::Retry`] is retried like a 5xx.
    pub async fn get_checked<T>(
        &self,
        url: &Url,
        check: impl Fn(&[u8]) -> Result<T, Check>,
    ) -> Result<(Bytes, T), SourceError> {
        let attempts = self.retries + 1;
        let mut attempt = 1;
        loop {
            self.limiter.acquire().await;
            let error = match self.attempt(url, attempt, &check).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Fatal(error)) => return Err(error),
                Err(Attempt::Retry { wait, error }) => {
                    if attempt >= attempts {
                        return Err(error);
                    }
                    let wait = wait.max(self.backoff(attempt));
                    tracing::warn!(%url, attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying");
                    wait
                }
            };
            tokio::time::sleep(error).await;
            attempt += 1;
        }
    }

    async fn attempt<T>(
        &self,
        url: &Url,
        attempt: u32,
        check: &impl Fn(&[u8]) -> Result<T, Check>,
    ) -> Result<(Bytes, T), Attempt> {
        let transport = |source: reqwest::Error| {
            let error = SourceError::Transport { url: url.clone(), attempts: attempt, source };
            Attempt::Retry { wait: Duration::ZERO, error }
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.http.get(url.clone()).send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            let body = response.bytes().await.map_err(transport)?;
            if let Err(source) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                let error = SourceError::NotJson { url: url.clone(), attempts: attempt, source };
                return Err(Attempt::Retry { wait: Duration::ZERO, error });
            }
            self.refusals.lock().expect("never held across a panic").level = 0;
            return match check(&body) {
                Ok(value) => Ok((body, value)),
                Err(Check::Retry(reason)) => Err(Attempt::Retry {
                    wait: Duration::ZERO,
                    error: SourceError::Unusable { url: url.clone(), attempts: attempt, reason },
                }),
                Err(Check::Unexpected(expected, reason)) => {
                    let reason = format!("{expected}: {reason}");
                    Err(Attempt::Fatal(SourceError::Unexpected { url: url.clone(), reason }))
                }
            };
        }
        let retry_after = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let error =
            SourceError::Status { url: url.clone(), status, attempts: attempt, body: body.chars().take(300).collect() };
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Everyone waits, not just this request: the limit is the process's.
            self.refused(retry_after);
            Err(Attempt::Retry { wait: Duration::ZERO, error })
        } else if status.is_server_error() {
            Err(Attempt::Retry { wait: Duration::ZERO, error })
        } else {
            Err(Attempt::Fatal(error))
        }
    }

    /// Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries of
    /// many requests spread out but never come back sooner than half the backoff.
    fn backoff(&self, attempt: u32) -> Duration {
        jittered(self.retry_base, attempt)
    }

    /// A `429`: the whole process holds off for [`REFUSAL_FLOOR`], doubled for each hold-off in a
    /// row (jittered), or for `Retry-After` if that is longer. Refusals that arrive while a
    /// hold-off lasts were sent before it began, and do not double it again.
    fn refused(&self, retry_after: Option<Duration>) {
        let mut refusals = self.refusals.lock().expect("never held across a panic");
        let now = tokio::time::Instant::now();
        if refusals.until.is_some_and(|until| now < until) {
            return;
        }
        refusals.level = (refusals.level + 1).min(16);
        // Equal jitter above the floor: never sooner than the floor's doubling.
        let floor = REFUSAL_FLOOR.saturating_mul(1 << (refusals.level - 1)).min(MAX_WAIT);
        let wait = (floor + (floor / 2).mul_f64(fastrand::f64())).min(MAX_WAIT).max(retry_after.unwrap_or_default());
        refusals.until = Some(now + wait);
        tracing::warn!(
            wait_ms = wait.as_millis() as u64,
            level = refusals.level,
            "429 Too Many Requests: every request holds off"
        );
        self.limiter.hold_off(wait);
    }
}

/// `base` doubled for each attempt after the first, capped at [`MAX_WAIT`], with equal jitter.
fn jittered(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_WAIT);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

/// `OL23919A` from the forms Open Library uses for an author reference (`/authors/OL23919A`, or
/// the bare key); `None` for anything that is not an author key.
pub fn parse_author_key(raw: &str) -> Option<&str> {
    crate::records::parse_key(raw, "/authors/", 'A')
}

/// `Retry-After` as seconds or an HTTP date, capped at [`MAX_WAIT`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn client(base: &str) -> OpenLibrary {
        OpenLibrary::new(&HttpSettings {
            api_url: Url::parse(base).unwrap(),
            user_agent: "bookpipe/test".into(),
            rate: 1.0,
            timeout: Duration::from_secs(1),
            retries: 3,
            retry_base: Duration::from_millis(100),
        })
        .unwrap()
    }

    #[test]
    fn urls_are_built_under_the_base() {
        let ol = client("https://mirror.example/ol/");
        let subject = Subject::parse(crate::cli::flags::SUBJECT, "place:london").unwrap();
        assert_eq!(
            ol.subject_page_url(&subject, 1000, 2000).as_str(),
            "https://mirror.example/ol/subjects/place:london.json?limit=1000&offset=2000&sort=key"
        );
        let many = ol.get_many_url(&["OL1A", "OL23919A"]);
        assert_eq!(
            many.as_str(),
            "https://mirror.example/ol/api/get_many?keys=%5B%22%2Fauthors%2FOL1A%22%2C%22%2Fauthors%2FOL23919A%22%5D"
        );
        let keys: Vec<String> = serde_json::from_str(&many.query_pairs().next().unwrap().1).unwrap();
        assert_eq!(keys, ["/authors/OL1A", "/authors/OL23919A"]);
        assert_eq!(OpenLibrary::request_line_len(&many), many.as_str().len() - "https://mirror.example".len() + 13);
        assert_eq!(ol.author_url("OL23919A").as_str(), "https://mirror.example/ol/authors/OL23919A.json");
    }

    #[test]
    fn backoff_grows_and_is_jittered_within_bounds() {
        let ol = client("http://127.0.0.1/");
        for attempt in 1..=4 {
            let full = Duration::from_millis(100 << (attempt - 1));
            for _ in 0..50 {
                let wait = ol.backoff(attempt);
                assert!(wait >= full / 2 && wait <= full, "attempt {attempt}: {wait:?}");
            }
        }
        let capped = ol.backoff(40);
        assert!(capped >= MAX_WAIT / 2 && capped <= MAX_WAIT, "{capped:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_hold_off_at_least_the_floor_and_double_while_they_go_on() {
        let ol = client("http://127.0.0.1/");
        let held = |ol: &OpenLibrary| ol.refusals.lock().unwrap().until.unwrap() - tokio::time::Instant::now();
        // `Retry-After: 0` is no reason to come straight back.
        ol.refused(Some(Duration::ZERO));
        let first = held(&ol);
        assert!(first >= REFUSAL_FLOOR && first <= REFUSAL_FLOOR * 3 / 2, "{first:?}");
        // A refusal of a request sent before the hold-off began is the same hold-off.
        ol.refused(None);
        assert_eq!(held(&ol), first);
        tokio::time::advance(first).await;
        ol.refused(None);
        let second = held(&ol);
        assert!(second >= REFUSAL_FLOOR * 2 && second <= REFUSAL_FLOOR * 3, "{second:?}");
        tokio::time::advance(second).await;
        // A longer Retry-After wins over the floor.
        ol.refused(Some(Duration::from_secs(60)));
        assert_eq!(held(&ol), Duration::from_secs(60));
    }

    #[test]
    fn author_keys() {
        assert_eq!(parse_author_key("/authors/OL23919A"), Some("OL23919A"));
        assert_eq!(parse_author_key("OL1A"), Some("OL1A"));
        for bad in ["/authors/OL23919W", "/authors/OLA", "/works/OL1A", "OL1A/", "", "/authors/ol1a"] {
            assert_eq!(parse_author_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999"));
        assert_eq!(retry_after(&headers), Some(MAX_WAIT));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
