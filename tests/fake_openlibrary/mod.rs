//! The one fake Open Library: it behaves like the 2026 server (read from its code:
//! internetarchive/openlibrary `openlibrary/fastapi/subjects.py`, `plugins/worksearch/`,
//! `docker/web_nginx.conf`; internetarchive/infogami `infogami/plugins/api/code.py`), failures
//! included. The Rust integration tests compile it as `support::openlibrary` (and serve a [`World`]
//! in process); `examples/fake_openlibrary.rs` compiles the same file into the binary the DAG tests
//! and the benchmark start (through `openlibrary_launcher.py` beside this file), so a behaviour of the real
//! server is taught here once.
//!
//! What a [`World`] answers by itself: subject pages (from generated works shaped like the real
//! fixtures', from the real science_fiction page, or from a raw partition `fetch` landed), paged as
//! the real API pages them with the `work_count` they announce; `sort=key` stable and the default
//! sort (`edition_count desc`) not (ties come back in a new order on every request); an unknown
//! sort a `500`; a `limit` over 1000 refused with a `422` and pydantic's body; request lines over
//! gunicorn's 4094 bytes refused with a `400`; author records at `/authors/<KEY>.json` and in
//! batches at `/api/get_many` (`{"status": "ok", "result": {…}}`, unknown keys left out), or
//! get_many gone (`404`) or failing (`{"status": "fail"}`) as [`GetMany`] says; merged authors as
//! `200` redirect records; anything else a `404`.
//!
//! The faults the server shows when pressed, switched on in one place, [`Faults`] (the example's
//! flags): nginx's rate limit (`429`, a JSON body and no `Retry-After`, see [`RateLimit`]), a
//! latency on every answer, and Solr failing (a `200` with `"work_count": null` and no works, see
//! [`World::solr_failed`]). Tests that script a fault request by request (a reset, a truncated
//! body, a 5xx on the n-th attempt) wrap the world with [`World::serve_with`].

// Each includer (the integration tests, the example) uses part of it.
#![allow(dead_code)]

pub mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::synth;
use serde_json::{Value, json};

use server::{Fault, Handler, Reply, Request, TestServer};

pub const SCIENCE_FICTION: &str = include_str!("../fixtures/subjects_science_fiction.json");
/// The real OL4452558A record (a plain record with remote ids and links), the shape every author of
/// [`World::science_fiction`] has.
const PAULSEN: &str = include_str!("../fixtures/author_OL4452558A__2021-09.json");

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
    /// Whether every subject page is answered with these works (under the subject asked for), as
    /// the DAG tests want of several subjects; otherwise only `subject` is, any other a `404`.
    pub every_subject: bool,
    /// In key order (as `sort=key` gives them): the generated keys are all of the same length.
    pub works: Vec<Value>,
    /// What pages report as `work_count` (the real API's can exceed what it will page through).
    pub work_count: u64,
    /// Author keys that exist; any other answers 404 (and is absent from get_many's result).
    pub authors: BTreeSet<String>,
    /// The record bodies of authors whose record is not the generated one (`synth::author`),
    /// answered byte for byte by `/authors/<KEY>.json` (as a raw partition stored them).
    pub records: BTreeMap<String, Vec<u8>>,
    /// Merged authors: key → the key its redirect record points at.
    pub redirects: BTreeMap<String, String>,
    pub get_many: GetMany,
}

impl World {
    /// A world of `works` (in key order) and the author records `records` (key → body).
    pub fn new(subject: &str, works: Vec<Value>, records: BTreeMap<String, Vec<u8>>) -> Self {
        Self {
            subject: subject.to_string(),
            every_subject: false,
            work_count: works.len() as u64,
            works,
            authors: records.keys().cloned().collect(),
            records,
            redirects: BTreeMap::new(),
            get_many: GetMany::Available,
        }
    }

    /// `works` works shaped like the fixture's (see `support::synth`), by `authors` distinct authors.
    pub fn generated(subject: &str, works: usize, authors: usize) -> Self {
        let mut world = Self::new(subject, (0..works).map(|i| synth::work(i, authors)).collect(), BTreeMap::new());
        world.authors = world
            .works
            .iter()
            .flat_map(|w| w["authors"].as_array().unwrap().iter())
            .map(|a| a["key"].as_str().unwrap().trim_start_matches("/authors/").to_string())
            .collect();
        world
    }

    /// The works of the real science_fiction page as every subject, in key order, with the
    /// `work_count` they page through; every author listed has a record shaped like the real
    /// OL4452558A record, named as the page lists them.
    pub fn science_fiction() -> Self {
        let page: Value = serde_json::from_str(SCIENCE_FICTION).expect("the fixture is JSON");
        let mut works = page["works"].as_array().expect("the fixture has works").clone();
        works.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
        let template: Value = serde_json::from_str(PAULSEN).expect("the fixture is JSON");
        let mut records = BTreeMap::new();
        for author in works.iter().flat_map(|w| w["authors"].as_array().expect("works list authors").iter()) {
            let key = author["key"].as_str().expect("authors have keys");
            let mut record = template.clone();
            record["key"] = json!(key);
            record["name"] = author["name"].clone();
            records.entry(key.trim_start_matches("/authors/").to_string()).or_insert_with(|| record.to_string().into());
        }
        Self { every_subject: true, ..Self::new("science_fiction", works, records) }
    }

    /// The works and author records of the raw partition `fetch` landed (or `generate_raw` wrote)
    /// for `subject` and `ds` in the lake folder `lake`, answered as Open Library answered them.
    pub fn from_partition(lake: &Path, subject: &str, ds: &str) -> std::io::Result<Self> {
        let read = |path: &str| -> std::io::Result<Value> {
            serde_json::from_slice(&std::fs::read(lake.join(path))?).map_err(std::io::Error::other)
        };
        let manifest = read(&format!("raw/openlibrary/subjects/subject={subject}/ds={ds}/_manifest.json"))?;
        let listed = |field: &Value| field.as_array().cloned().unwrap_or_default();
        let (mut works, mut work_count) = (Vec::new(), None);
        for object in listed(&manifest["objects"]) {
            let path = object["path"].as_str().unwrap_or_default();
            if path.contains("/page-") {
                let page = read(path)?;
                work_count = work_count.or(page["work_count"].as_u64());
                works.extend(listed(&page["works"]));
            }
        }
        works.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
        // A record is its own object (fetch's fallback path) or an entry of a stored get_many
        // answer (`"batch": true`), read once per batch.
        let mut records = BTreeMap::new();
        let mut batches: BTreeMap<String, Value> = BTreeMap::new();
        for record in listed(&manifest["details"]["author_records"]) {
            let (key, path) = (record["key"].as_str().unwrap_or_default(), record["path"].as_str().unwrap_or_default());
            let body = if record["batch"].as_bool() == Some(true) {
                if !batches.contains_key(path) {
                    batches.insert(path.to_string(), read(path)?);
                }
                batches[path]["result"][format!("/authors/{key}")].to_string().into_bytes()
            } else {
                std::fs::read(lake.join(path))?
            };
            records.insert(key.to_string(), body);
        }
        let mut world = Self::new(subject, works, records);
        world.work_count = work_count.unwrap_or(0);
        Ok(world)
    }

    /// The page the real API gives for `limit` and `offset` with `sort=key`.
    pub fn page(&self, limit: u64, offset: u64) -> Vec<u8> {
        Self::slice(&self.subject, &self.works, limit, offset, self.work_count)
    }

    /// The page for the default sort, `edition_count desc`: works with the same count come back in
    /// a new order on every request, as Solr may give them (the n-th request of the process
    /// shuffles with seed n: a new order each time, the same orders every run).
    pub fn page_by_editions(&self, limit: u64, offset: u64) -> Vec<u8> {
        self.editions_page(&self.subject, limit, offset)
    }

    fn editions_page(&self, subject: &str, limit: u64, offset: u64) -> Vec<u8> {
        static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut works = self.works.clone();
        fastrand::Rng::with_seed(REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).shuffle(&mut works);
        works.sort_by_key(|w| std::cmp::Reverse(w["edition_count"].as_i64().unwrap_or(0)));
        Self::slice(subject, &works, limit, offset, self.work_count)
    }

    fn slice(subject: &str, works: &[Value], limit: u64, offset: u64, work_count: u64) -> Vec<u8> {
        let start = (offset as usize).min(works.len());
        let end = start.saturating_add(limit as usize).min(works.len());
        synth::page(subject, &works[start..end], work_count)
    }

    /// What a subject page is when Solr failed or timed out: still a `200`, with `"work_count":
    /// null` and no works (the server's `subject_service.py` catches the search error).
    pub fn solr_failed(&self) -> Vec<u8> {
        Self::solr_failed_for(&self.subject)
    }

    fn solr_failed_for(subject: &str) -> Vec<u8> {
        let page = json!({"key": format!("/subjects/{subject}"), "name": subject, "subject_type": "subject",
            "solr_query": format!("subject_key:\"{subject}\""), "work_count": null, "works": []});
        page.to_string().into_bytes()
    }

    /// An author record shaped like the real OL23919A record.
    pub fn author(key: &str) -> Vec<u8> {
        synth::author(key)
    }

    /// The body the server holds for `key`: a redirect record for a merged author.
    fn body(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(target) = self.redirects.get(key) {
            return Some(synth::redirect(key, target).to_string().into_bytes());
        }
        if !self.authors.contains(key) {
            return None;
        }
        Some(self.records.get(key).cloned().unwrap_or_else(|| Self::author(key)))
    }

    /// Answers like Open Library for this world.
    pub fn answer(&self, request: &Request) -> Reply {
        if "GET ".len() + request.target.len() + " HTTP/1.1".len() > MAX_REQUEST_LINE {
            return Reply::status(400, "Bad Request\nRequest Line is too large");
        }
        let q = |name: &str, default: u64| request.query.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        if let Some(subject) = self.subject_asked(request) {
            let limit = q("limit", 12);
            if limit > 1000 {
                let detail = json!({"detail": [{"type": "less_than_equal", "loc": ["query", "limit"],
                    "msg": "Input should be less than or equal to 1000", "input": limit.to_string(), "ctx": {"le": 1000}}]});
                return Reply::status(422, &detail.to_string());
            }
            return match request.query.get("sort").map(String::as_str) {
                Some("key") => Reply::json(Self::slice(subject, &self.works, limit, q("offset", 0), self.work_count)),
                None | Some("editions") => Reply::json(self.editions_page(subject, limit, q("offset", 0))),
                // An unknown sort is a KeyError in the server: a 500.
                Some(_) => Reply::status(500, "Internal Server Error"),
            };
        }
        if request.path == "/api/get_many" {
            return self.get_many(request);
        }
        if let Some(key) = request.path.strip_prefix("/authors/").and_then(|p| p.strip_suffix(".json"))
            && let Some(body) = self.body(key)
        {
            return Reply::json(body);
        }
        Reply::status(404, r#"{"error": "notfound"}"#)
    }

    /// The subject a request asks this world for, if it is a page of one the world answers.
    fn subject_asked<'r>(&'r self, request: &'r Request) -> Option<&'r str> {
        let subject = request.path.strip_prefix("/subjects/")?.strip_suffix(".json")?;
        (subject == self.subject || (self.every_subject && !subject.contains('/'))).then_some(subject)
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
            if let Some(body) = key.strip_prefix("/authors/").and_then(|k| self.body(k)) {
                result.insert(key, serde_json::from_slice(&body).unwrap_or(Value::Null));
            }
        }
        Reply::json(json!({"status": "ok", "result": result}).to_string())
    }

    /// Serves this world as it is.
    pub fn serve(self) -> TestServer {
        let world = Arc::new(self);
        TestServer::start(Arc::new(move |request: &Request| world.answer(request)))
    }

    /// Serves this world with `faults` (see [`Faults::answer`]).
    pub fn serve_faulty(self, faults: Faults) -> TestServer {
        self.serve_with(move |world, request| faults.answer(world, request))
    }

    /// Serves this world through `wrap`, which may answer first (faults) or pass to the world.
    pub fn serve_with(self, wrap: impl Fn(&World, &Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let world = Arc::new(self);
        let handler: Handler = Arc::new(move |request: &Request| wrap(&world, request));
        TestServer::start(handler)
    }
}

/// The faults a real Open Library shows under load or when its search fails, in one place: the
/// example binary's flags set them, tests set them in code.
#[derive(Debug, Default)]
pub struct Faults {
    /// nginx's `limit_req`: beyond it, `429` without `Retry-After`.
    pub rate_limit: Option<RateLimit>,
    /// How long every answer (refusals included) takes, as a distant server's would.
    pub latency: Duration,
    /// How many times in a row each subject page (each distinct URL) answers Solr's failure
    /// ([`World::solr_failed`]) before its works.
    pub solr_failures: u32,
}

impl Faults {
    /// The answer to `request` with these faults: the rate limit is checked as the request arrives
    /// (a refused request costs the server nothing), Solr fails the first asks of a page, and the
    /// answer (whichever) leaves after the latency.
    pub fn answer(&self, world: &World, request: &Request) -> Reply {
        let reply = if let Some(refusal) = self.rate_limit.as_ref().and_then(RateLimit::check) {
            refusal
        } else if let Some(subject) = world.subject_asked(request)
            && request.attempt <= self.solr_failures
        {
            Reply::json(World::solr_failed_for(subject))
        } else {
            world.answer(request)
        };
        if self.latency.is_zero() { reply } else { reply.fault(Fault::Delay(self.latency)) }
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
