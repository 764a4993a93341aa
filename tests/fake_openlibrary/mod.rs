//! A fake Open Library for tests that behaves like the 2026 server (read from its code:
//! internetarchive/openlibrary `openlibrary/fastapi/subjects.py`, `plugins/worksearch/`,
//! `docker/web_nginx.conf`; internetarchive/infogami `infogami/plugins/api/code.py`), failures
//! included: subject pages generated from the real fixtures' shapes and paged as the real API pages
//! them, `sort=key` stable and the default sort (`edition_count desc`) not (ties come back in a new
//! order on every request), a `limit` over 1000 refused with a `422` and pydantic's body, request
//! lines over gunicorn's 4094 bytes refused with a `400`, author records at `/authors/<KEY>.json`
//! and in batches at `/api/get_many`, merged authors as `200` redirect records. Tests inject the
//! rest (a Solr failure's `200` with no works, `429`s without `Retry-After`) through
//! [`World::serve_with`] or [`RateLimit`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::synth;
use serde_json::{Value, json};

use super::server::{Handler, Reply, Request, TestServer};

pub const SCIENCE_FICTION: &str = include_str!("../../fixtures/subjects_science_fiction.json");

/// gunicorn's default `limit_request_line`.
pub const MAX_REQUEST_LINE: usize = 4094;

/// Whether `/api/get_many` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMany {
    Available,
    /// Removed: a `404` with the body infogami gives an unknown `/api/` path.
    Gone,
    /// Answers `{"status": "fail", …}`, as infogami does when infobase refuses.
    Failing,
}

/// The works and authors the fake API knows.
#[derive(Debug, Clone)]
pub struct World {
    pub subject: String,
    /// In key order (as `sort=key` gives them): the generated keys are all of the same length.
    pub works: Vec<Value>,
    /// What pages report as `work_count` (the real API's can exceed what it will page through).
    pub work_count: u64,
    /// Author keys that exist; any other answers 404 (and is absent from get_many's result).
    pub authors: BTreeSet<String>,
    /// Merged authors: key → the key its redirect record points at.
    pub redirects: BTreeMap<String, String>,
    pub get_many: GetMany,
}

impl World {
    /// `works` works shaped like the fixture's (see `support::synth`), by `authors` distinct authors.
    pub fn generated(subject: &str, works: usize, authors: usize) -> Self {
        let works: Vec<Value> = (0..works).map(|i| synth::work(i, authors)).collect();
        let authors = works
            .iter()
            .flat_map(|w| w["authors"].as_array().unwrap().iter())
            .map(|a| a["key"].as_str().unwrap().trim_start_matches("/authors/").to_string())
            .collect();
        let work_count = works.len() as u64;
        Self {
            subject: subject.to_string(),
            works,
            work_count,
            authors,
            redirects: BTreeMap::new(),
            get_many: GetMany::Available,
        }
    }

    /// The page the real API gives for `limit` and `offset` with `sort=key`.
    pub fn page(&self, limit: u64, offset: u64) -> Vec<u8> {
        let start = (offset as usize).min(self.works.len());
        let end = (start + limit as usize).min(self.works.len());
        synth::page(&self.subject, &self.works[start..end], self.work_count)
    }

    /// The page for the default sort, `edition_count desc`: works with the same count come back in
    /// a new order on every request, as Solr may give them (the n-th request of the process
    /// shuffles with seed n: a new order each time, the same orders every run).
    pub fn page_by_editions(&self, limit: u64, offset: u64) -> Vec<u8> {
        static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut works = self.works.clone();
        fastrand::Rng::with_seed(REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).shuffle(&mut works);
        works.sort_by_key(|w| std::cmp::Reverse(w["edition_count"].as_i64().unwrap_or(0)));
        let start = (offset as usize).min(works.len());
        let end = (start + limit as usize).min(works.len());
        synth::page(&self.subject, &works[start..end], self.work_count)
    }

    /// An author record shaped like the real OL23919A record.
    pub fn author(key: &str) -> Vec<u8> {
        synth::author(key)
    }

    /// The record the server holds for `key`: a redirect for a merged author.
    fn record(&self, key: &str) -> Option<Value> {
        if let Some(target) = self.redirects.get(key) {
            return Some(json!({
                "key": format!("/authors/{key}"),
                "type": {"key": "/type/redirect"},
                "location": format!("/authors/{target}"),
                "revision": 2,
                "latest_revision": 2,
                "created": {"type": "/type/datetime", "value": "2008-04-01T03:28:50.625462"},
                "last_modified": {"type": "/type/datetime", "value": "2021-10-12T15:41:09.108395"}
            }));
        }
        self.authors.contains(key).then(|| serde_json::from_slice(&Self::author(key)).unwrap())
    }

    /// Answers like Open Library for this world.
    pub fn answer(&self, request: &Request) -> Reply {
        if "GET ".len() + request.target.len() + " HTTP/1.1".len() > MAX_REQUEST_LINE {
            return Reply::status(400, "Bad Request\nRequest Line is too large");
        }
        let q = |name: &str, default: u64| request.query.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        if request.path == format!("/subjects/{}.json", self.subject) {
            let limit = q("limit", 12);
            if limit > 1000 {
                let detail = json!({"detail": [{"type": "less_than_equal", "loc": ["query", "limit"],
                    "msg": "Input should be less than or equal to 1000", "input": limit.to_string(), "ctx": {"le": 1000}}]});
                return Reply::status(422, &detail.to_string());
            }
            return match request.query.get("sort").map(String::as_str) {
                Some("key") => Reply::json(self.page(limit, q("offset", 0))),
                None | Some("editions") => Reply::json(self.page_by_editions(limit, q("offset", 0))),
                // An unknown sort is a KeyError in the server: a 500.
                Some(_) => Reply::status(500, "Internal Server Error"),
            };
        }
        if request.path == "/api/get_many" {
            return self.get_many(request);
        }
        if let Some(key) = request.path.strip_prefix("/authors/").and_then(|p| p.strip_suffix(".json"))
            && let Some(record) = self.record(key)
        {
            return Reply::json(record.to_string());
        }
        Reply::status(404, r#"{"error": "notfound"}"#)
    }

    fn get_many(&self, request: &Request) -> Reply {
        match self.get_many {
            GetMany::Available => {}
            GetMany::Gone => return Reply::status(404, r#"{"error": "notfound"}"#),
            GetMany::Failing => return Reply::json(r#"{"status": "fail", "message": "Internal error"}"#),
        }
        let keys = decoded_query(&request.target, "keys").unwrap_or_default();
        let Ok(keys) = serde_json::from_str::<Vec<String>>(&keys) else {
            // The production memcache layer json.loads the keys unguarded.
            return Reply::status(500, "Internal Server Error");
        };
        let mut result = serde_json::Map::new();
        for key in keys {
            if let Some(record) = key.strip_prefix("/authors/").and_then(|k| self.record(k)) {
                result.insert(key, record);
            }
        }
        Reply::json(json!({"status": "ok", "result": result}).to_string())
    }

    /// Serves this world as it is.
    pub fn serve(self) -> TestServer {
        let world = Arc::new(self);
        TestServer::start(Arc::new(move |request: &Request| world.answer(request)))
    }

    /// Serves this world through `wrap`, which may answer first (faults) or pass to the world.
    pub fn serve_with(self, wrap: impl Fn(&World, &Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let world = Arc::new(self);
        let handler: Handler = Arc::new(move |request: &Request| wrap(&world, request));
        TestServer::start(handler)
    }
}

/// A query parameter, percent-decoded.
pub fn decoded_query(target: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://fake{target}")).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// nginx's `limit_req zone=… rate=R burst=B` as Open Library configures it for `*.json` and
/// `/api/*`: a request beyond the burst is refused with a `429`, a JSON body and no `Retry-After`.
/// (nginx's `delay=10` also slows the middle of the burst; refusing is what a client must handle.)
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            burst: f64::from(burst),
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// The refusal for a request arriving now, if it is over the limit (the leaky bucket nginx keeps:
    /// the excess drains at the rate; a refused request does not fill it).
    pub fn check(&self) -> Option<Reply> {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        let drained = (now - state.1).as_secs_f64() / self.interval.as_secs_f64();
        let excess = (state.0 - drained).max(0.0);
        *state = (excess, now);
        // Over the burst (a thousandth of a request's slack for clock jitter): refused.
        if excess > self.burst + 0.001 {
            return Some(Reply::status(
                429,
                r#"{"status": 429, "message": "Too Many Requests. Consider using https://openlibrary.org/developers/dumps."}"#,
            ));
        }
        state.0 = excess + 1.0;
        None
    }
}
