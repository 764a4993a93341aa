//! A fake Open Library for tests: subject pages and author records generated from the real
//! fixtures' shapes, served by [`TestServer`] exactly as the real API pages them
//! (`/subjects/<s>.json?limit=L&offset=O`, `/authors/<KEY>.json`).

use std::collections::BTreeSet;
use std::sync::Arc;

use bookpipe::synth;
use serde_json::Value;

use super::server::{Handler, Reply, Request, TestServer};

pub const SCIENCE_FICTION: &str = include_str!("../../fixtures/subjects_science_fiction.json");

/// The works and authors the fake API knows.
#[derive(Debug, Clone)]
pub struct World {
    pub subject: String,
    pub works: Vec<Value>,
    /// What pages report as `work_count` (the real API's can exceed what it will page through).
    pub work_count: u64,
    /// Author keys that exist; any other answers 404.
    pub authors: BTreeSet<String>,
}

impl World {
    /// `works` works shaped like the fixture's (see `bookpipe::synth`), by `authors` distinct authors.
    pub fn generated(subject: &str, works: usize, authors: usize) -> Self {
        let works: Vec<Value> = (0..works).map(|i| synth::work(i, authors)).collect();
        let authors = works
            .iter()
            .flat_map(|w| w["authors"].as_array().unwrap().iter())
            .map(|a| a["key"].as_str().unwrap().trim_start_matches("/authors/").to_string())
            .collect();
        let work_count = works.len() as u64;
        Self { subject: subject.to_string(), works, work_count, authors }
    }

    /// The page the real API would give for `limit` and `offset`.
    pub fn page(&self, limit: u64, offset: u64) -> Vec<u8> {
        let start = (offset as usize).min(self.works.len());
        let end = (start + limit as usize).min(self.works.len());
        synth::page(&self.subject, &self.works[start..end], self.work_count)
    }

    /// An author record shaped like the real OL23919A record.
    pub fn author(key: &str) -> Vec<u8> {
        synth::author(key)
    }

    /// Answers like Open Library for this world.
    pub fn answer(&self, request: &Request) -> Reply {
        let q = |name: &str, default: u64| request.query.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        if request.path == format!("/subjects/{}.json", self.subject) {
            let limit = q("limit", 12);
            if limit > 1000 {
                return Reply::status(400, r#"{"error": "Specified limit exceeds maximum of 1000."}"#);
            }
            return Reply::json(self.page(limit, q("offset", 0)));
        }
        if let Some(key) = request.path.strip_prefix("/authors/").and_then(|p| p.strip_suffix(".json"))
            && self.authors.contains(key)
        {
            return Reply::json(Self::author(key));
        }
        Reply::status(404, r#"{"error": "notfound"}"#)
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
