//! Synthetic Open Library data, shaped like the real responses in `tests/fixtures/`: for tests,
//! the benchmarks and the fake API of the end-to-end runs. Deterministic: the same arguments give
//! the same bytes.
//!
//! Works are the real science_fiction works (long subject lists, lending and availability fields,
//! two without `availability`) with new keys and titles; one in ten has no `first_publish_year`,
//! one in fifty is a many-author work (up to 9, like Brave New World), the rest have 1 to 3.
//! Author records are the three real ones, in turn.
//!
//! Test data, not product: it lives with the tests, and `examples/generate_raw.rs` includes this
//! file by path, so the library ships none of it.

// Each includer (the integration tests, the generator) uses part of it.
#![allow(dead_code)]

use std::sync::LazyLock;

use serde_json::{Value, json};

const SCIENCE_FICTION: &str = include_str!("../../fixtures/subjects_science_fiction.json");
/// The real author records, in turn: a bio object, remote ids and 35 alternate names (OL23919A);
/// a plain record with remote ids and links (OL4452558A); an old minimal one with year-only dates
/// (OL1A).
const AUTHORS: [&str; 3] = [
    include_str!("../../fixtures/author_OL23919A__2021-10.json"),
    include_str!("../../fixtures/author_OL4452558A__2021-09.json"),
    include_str!("../../fixtures/author_OL1A__2013.json"),
];

static TEMPLATES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let page: Value = serde_json::from_str(SCIENCE_FICTION).expect("the fixture is JSON");
    page["works"].as_array().expect("the fixture has works").clone()
});

static AUTHOR_TEMPLATES: LazyLock<Vec<Value>> =
    LazyLock::new(|| AUTHORS.iter().map(|record| serde_json::from_str(record).expect("the fixture is JSON")).collect());

/// The key of the i-th synthetic author (`OL{i+1}A`).
pub fn author_key(i: usize) -> String {
    format!("OL{}A", i + 1)
}

/// The i-th work of a subject whose works are written by `authors` distinct authors.
pub fn work(i: usize, authors: usize) -> Value {
    let templates = &*TEMPLATES;
    let mut work = templates[i % templates.len()].clone();
    work["key"] = json!(format!("/works/OL{}W", 100_000 + i));
    work["title"] = json!(format!("{} #{i}", work["title"].as_str().unwrap_or("Untitled")));
    let count = if i % 50 == 49 { 9 } else { 1 + i % 3 };
    let mut refs = Vec::with_capacity(count);
    for j in 0..count {
        // A spread that reuses authors across works, as real subjects do.
        let key = author_key((i * 7 + j * 13) % authors.max(1));
        if refs.iter().any(|r: &Value| r["key"] == json!(format!("/authors/{key}"))) {
            continue;
        }
        refs.push(json!({"key": format!("/authors/{key}"), "name": format!("Author {key}")}));
    }
    work["authors"] = Value::Array(refs);
    if let Some(year) = work.get("first_publish_year").and_then(Value::as_i64) {
        work["first_publish_year"] = json!(year + (i % 120) as i64);
    }
    if i % 10 == 9 {
        work.as_object_mut().expect("works are objects").remove("first_publish_year");
    }
    work
}

/// A subject page body as Open Library sends it.
pub fn page(subject: &str, works: &[Value], work_count: u64) -> Vec<u8> {
    let page = json!({
        "key": format!("/subjects/{subject}"),
        "name": subject.replace('_', " "),
        "subject_type": "subject",
        "work_count": work_count,
        "works": works,
    });
    serde_json::to_vec(&page).expect("JSON values serialise")
}

/// The subject page for `limit` and `offset` of a subject of `works` works by `authors` authors.
pub fn subject_page(subject: &str, works: usize, authors: usize, limit: usize, offset: usize) -> Vec<u8> {
    let end = works.min(offset.saturating_add(limit));
    let slice: Vec<Value> = (offset.min(end)..end).map(|i| work(i, authors)).collect();
    page(subject, &slice, works as u64)
}

/// An author record shaped like one of the real records (in turn by key number), renamed, with a
/// birth date written the way that record writes dates.
pub fn author(key: &str) -> Vec<u8> {
    let n: u64 = key.trim_start_matches("OL").trim_end_matches('A').parse().unwrap_or(0);
    let templates = &*AUTHOR_TEMPLATES;
    let mut record = templates[n as usize % templates.len()].clone();
    record["key"] = json!(format!("/authors/{key}"));
    record["name"] = json!(format!("Author {key}"));
    let year = 1900 + n % 100;
    record["birth_date"] = match n % 3 {
        2 => json!(year.to_string()),
        _ => json!(format!("{} July {year}", 1 + n % 28)),
    };
    serde_json::to_vec(&record).expect("JSON values serialise")
}

/// The record Open Library answers for a merged author: a `200` redirect to the person's key.
pub fn redirect(key: &str, target: &str) -> Value {
    json!({
        "key": format!("/authors/{key}"),
        "type": {"key": "/type/redirect"},
        "location": format!("/authors/{target}"),
        "revision": 2,
        "latest_revision": 2,
        "created": {"type": "/type/datetime", "value": "2008-04-01T03:28:50.625462"},
        "last_modified": {"type": "/type/datetime", "value": "2021-10-12T15:41:09.108395"}
    })
}

/// A `/api/get_many` answer holding `records` (`(author key, record)`), as the server sends it.
pub fn get_many(records: &[(String, Value)]) -> Vec<u8> {
    let result: serde_json::Map<String, Value> =
        records.iter().map(|(key, record)| (format!("/authors/{key}"), record.clone())).collect();
    serde_json::to_vec(&json!({"status": "ok", "result": result})).expect("JSON values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_deterministic_and_parse() {
        let a = subject_page("love", 2500, 300, 1000, 2000);
        assert_eq!(a, subject_page("love", 2500, 300, 1000, 2000));
        let rows = bookpipe::records::parse_page(&a, "p").unwrap();
        assert_eq!(rows.books.len(), 500);
        assert!(rows.rejects.is_empty());
        assert_eq!(rows.books.iter().filter(|b| b.first_publish_year.is_none()).count(), 50);
        assert!(rows.links.iter().any(|l| l.position == 8), "a many-author work");
        use bookpipe::records::Issues;
        let parsed =
            |key: &str| bookpipe::records::parse_author(&author(key), "a", &mut Issues::new()).unwrap().unwrap();
        let rowling = parsed("OL42A");
        assert_eq!((rowling.name.as_deref(), rowling.birth_year), (Some("Author OL42A"), Some(1942)));
        assert!(rowling.bio.is_some(), "OL42A has OL23919A's shape, with a bio");
        let paulsen = parsed("OL43A");
        assert_eq!((paulsen.wikidata.as_deref(), paulsen.birth_year), (Some("Q718463"), Some(1943)));
        let rautroy = parsed("OL44A");
        assert_eq!((rautroy.birth_date.as_deref(), rautroy.death_date.as_deref()), (Some("1944"), Some("2004")));
    }
}
