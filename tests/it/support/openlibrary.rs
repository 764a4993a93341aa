//! A fake Open Library for tests: subject pages and author records generated from the real
//! fixtures' shapes, served by [`TestServer`] exactly as the real API pages them
//! (`/subjects/<s>.json?limit=L&offset=O`, `/authors/<KEY>.json`).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::server::{Handler, Reply, Request, TestServer};

pub const SCIENCE_FICTION: &str = include_str!("../../fixtures/subjects_science_fiction.json");
pub const AUTHOR_OL23919A: &str = include_str!("../../fixtures/author_OL23919A__2021-10.json");

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
    /// `works` works shaped like the fixture's, written by `authors` distinct authors (1 to 3 per
    /// work), every tenth without a first_publish_year.
    pub fn generated(subject: &str, works: usize, authors: usize) -> Self {
        let fixture: Value = serde_json::from_str(SCIENCE_FICTION).unwrap();
        let templates = fixture["works"].as_array().unwrap();
        let mut all_authors = BTreeSet::new();
        let works: Vec<Value> = (0..works)
            .map(|i| {
                let mut work = templates[i % templates.len()].clone();
                work["key"] = json!(format!("/works/OL{}W", 100_000 + i));
                work["title"] = json!(format!("{} #{i}", work["title"].as_str().unwrap()));
                let refs: Vec<Value> = (0..1 + i % 3)
                    .map(|j| {
                        let key = format!("OL{}A", 1 + (i * 7 + j * 13) % authors);
                        all_authors.insert(key.clone());
                        json!({"key": format!("/authors/{key}"), "name": format!("Author {key}")})
                    })
                    .collect();
                work["authors"] = Value::Array(refs);
                if i % 10 == 9 {
                    work.as_object_mut().unwrap().remove("first_publish_year");
                }
                work
            })
            .collect();
        let work_count = works.len() as u64;
        Self { subject: subject.to_string(), works, work_count, authors: all_authors }
    }

    /// The page the real API would give for `limit` and `offset`.
    pub fn page(&self, limit: u64, offset: u64) -> Vec<u8> {
        let start = (offset as usize).min(self.works.len());
        let end = (start + limit as usize).min(self.works.len());
        let page = json!({
            "key": format!("/subjects/{}", self.subject),
            "name": self.subject.replace('_', " "),
            "subject_type": "subject",
            "work_count": self.work_count,
            "works": &self.works[start..end],
        });
        serde_json::to_vec(&page).unwrap()
    }

    /// An author record shaped like the real OL23919A record.
    pub fn author(key: &str) -> Vec<u8> {
        let mut record: Value = serde_json::from_str(AUTHOR_OL23919A).unwrap();
        record["key"] = json!(format!("/authors/{key}"));
        record["name"] = json!(format!("Author {key}"));
        serde_json::to_vec(&record).unwrap()
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
