//! Open Library's JSON, as it really comes, into the rows of the silver tables. Pure: bytes in,
//! rows out, no I/O, so every oddity seen in the fixtures is a unit test here.
//!
//! This is where the columns are born:
//! - a subject page's `works[]` → [`Book`] rows and [`BookAuthor`] links (in Open Library's order);
//! - an author record → an [`Author`] row, dates kept as written and years parsed where a year can
//!   honestly be read ([`parse_year`]).
//!
//! A record that cannot be a row (no key, a key of the wrong kind, no title, not an object) becomes
//! a [`Reject`] with a reason; a record with a soft problem (no year, a field of the wrong type)
//! keeps its row, the field is null, and the problem is counted in [`Issues`].

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

mod fast;

/// One `books` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    pub work_key: String,
    pub title: String,
    pub first_publish_year: Option<i16>,
    pub edition_count: Option<i32>,
    pub cover_id: Option<i64>,
    pub has_fulltext: Option<bool>,
    pub public_scan: Option<bool>,
}

/// One `book_authors` row: the many-to-many link, `position` in Open Library's order (from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookAuthor {
    pub work_key: String,
    /// The person: the key the work lists, or where its redirects lead ([`canonical_author`]).
    pub author_key: String,
    pub position: i32,
    /// The key the work lists, when it redirects to another (`None`: the same as `author_key`).
    pub listed_author_key: Option<String>,
    /// The name the subject page gives for this author (used when no author record exists).
    pub listed_name: Option<String>,
}

/// One `authors` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub author_key: String,
    pub name: Option<String>,
    pub birth_date: Option<String>,
    pub death_date: Option<String>,
    pub birth_year: Option<i16>,
    pub death_year: Option<i16>,
    pub bio: Option<String>,
    pub wikidata: Option<String>,
    pub viaf: Option<String>,
    pub isni: Option<String>,
    /// False when Open Library had no record (404 or a redirect): the name is the subject page's.
    pub from_record: bool,
}

/// One `rejects` row: a record that could not become a row, where it came from, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The lake path of the object the record came from.
    pub source: String,
    /// The record's index in its page's `works` list; null for an author record.
    pub position: Option<i32>,
    pub key: Option<String>,
    pub reason: String,
    /// The record as JSON text.
    pub record: String,
}

/// Soft problems, counted by kind (the manifest reports them).
pub type Issues = BTreeMap<&'static str, u64>;

/// What one subject page came to.
#[derive(Debug, Default, PartialEq)]
pub struct PageRows {
    pub books: Vec<Book>,
    pub links: Vec<BookAuthor>,
    pub rejects: Vec<Reject>,
    pub issues: Issues,
}

/// A page that is not a subject page at all (fetch checked this, so it means the raw zone changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_path} is not a subject page: {reason}")]
pub struct NotAPage {
    pub source_path: String,
    pub reason: String,
}

/// Turns one subject page into rows. `source` is the page's lake path, recorded on rejects.
pub fn parse_page(body: &[u8], source: &str) -> Result<PageRows, NotAPage> {
    match fast::page(body) {
        Some(rows) => Ok(rows),
        None => parse_page_in_general(body, source),
    }
}

/// [`parse_page`] for any input: through `serde_json::Value`, where every oddity has its rule.
fn parse_page_in_general(body: &[u8], source: &str) -> Result<PageRows, NotAPage> {
    let not_a_page = |reason: String| NotAPage { source_path: source.to_string(), reason };
    let page: Value = serde_json::from_slice(body).map_err(|err| not_a_page(format!("not JSON: {err}")))?;
    let works = match page.get("works") {
        Some(Value::Array(works)) => works,
        _ => return Err(not_a_page("no \"works\" list".into())),
    };
    let mut rows = PageRows::default();
    for (position, work) in works.iter().enumerate() {
        let position = position as i32;
        match parse_work(work, &mut rows.issues) {
            Ok((book, links)) => {
                rows.books.push(book);
                rows.links.extend(links);
            }
            Err((key, reason)) => rows.rejects.push(Reject {
                source: source.to_string(),
                position: Some(position),
                key,
                reason,
                record: work.to_string(),
            }),
        }
    }
    Ok(rows)
}

type Rejected = (Option<String>, String);

fn parse_work(work: &Value, issues: &mut Issues) -> Result<(Book, Vec<BookAuthor>), Rejected> {
    let Value::Object(work) = work else {
        return Err((None, format!("a work must be a JSON object, found {}", kind(work))));
    };
    let work_key = match work.get("key") {
        None | Some(Value::Null) => return Err((None, "no key".into())),
        Some(Value::String(raw)) => {
            let raw = raw.as_str();
            match parse_key(raw, "/works/", 'W') {
                Some(key) => key.to_string(),
                None => return Err((Some(raw.to_string()), format!("key {raw:?} is not a work key (/works/OL…W)"))),
            }
        }
        Some(other) => return Err((None, format!("key must be a string, found {}", kind(other)))),
    };
    let title = match work.get("title") {
        Some(Value::String(title)) if !title.trim().is_empty() => title.clone(),
        None | Some(Value::Null) => return Err((Some(work_key), "no title".into())),
        Some(Value::String(_)) => return Err((Some(work_key), "empty title".into())),
        Some(other) => return Err((Some(work_key), format!("title must be a string, found {}", kind(other)))),
    };
    let first_publish_year = match work.get("first_publish_year") {
        None | Some(Value::Null) => {
            count(issues, "missing_first_publish_year");
            None
        }
        Some(value) => first_publish_year(value.as_i64(), issues),
    };
    let book = Book {
        first_publish_year,
        edition_count: integer(work, "edition_count", issues).and_then(|n| i32::try_from(n).ok()),
        cover_id: integer(work, "cover_id", issues),
        has_fulltext: boolean(work, "has_fulltext", issues),
        public_scan: boolean(work, "public_scan", issues),
        title,
        work_key,
    };
    let links = parse_author_refs(work, &book.work_key, issues);
    Ok((book, links))
}

/// A work's `authors`: `[{key, name}]` on subject pages; `[{author: {key}, type}]` in older records.
/// An entry without a usable key is dropped and counted; the work keeps its other authors.
fn parse_author_refs(work: &Map<String, Value>, work_key: &str, issues: &mut Issues) -> Vec<BookAuthor> {
    let entries = match work.get("authors") {
        Some(Value::Array(entries)) => entries.as_slice(),
        None | Some(Value::Null) => {
            count(issues, "no_authors");
            return vec![];
        }
        Some(_) => {
            count(issues, "bad_authors");
            return vec![];
        }
    };
    let mut links = Vec::with_capacity(entries.len());
    for entry in entries {
        let key = entry.get("key").or_else(|| entry.get("author").and_then(|a| a.get("key")));
        let author_key = key.and_then(Value::as_str).and_then(|k| parse_key(k, "/authors/", 'A'));
        let listed_name = entry.get("name").and_then(Value::as_str).map(str::to_string);
        link_author(&mut links, 0, work_key, author_key, listed_name, issues);
    }
    links
}

/// A valid `first_publish_year`, or null and a counted issue.
fn first_publish_year(year: Option<i64>, issues: &mut Issues) -> Option<i16> {
    let year = year.and_then(|y| i16::try_from(y).ok()).filter(|y| (1..=2100).contains(y));
    if year.is_none() {
        count(issues, "bad_first_publish_year");
    }
    year
}

/// Appends the link of one author reference to the links of a work (those from `start` on). An
/// unusable key is dropped and counted; the same author listed twice is one link, at the first
/// position.
fn link_author(
    links: &mut Vec<BookAuthor>,
    start: usize,
    work_key: &str,
    author_key: Option<&str>,
    listed_name: Option<String>,
    issues: &mut Issues,
) {
    let Some(author_key) = author_key else {
        count(issues, "bad_author_reference");
        return;
    };
    if links[start..].iter().any(|l| l.author_key == author_key) {
        count(issues, "repeated_author_reference");
        return;
    }
    links.push(BookAuthor {
        work_key: work_key.to_string(),
        author_key: author_key.to_string(),
        position: (links.len() - start) as i32,
        listed_author_key: None,
        listed_name,
    });
}

/// The key of the person `key` is: its redirects (merged author → the record it was merged into)
/// followed to a key that is not one. A chain that comes back on itself is `Err`, with the chain.
pub fn canonical_author<'a>(key: &'a str, redirects: &'a HashMap<String, String>) -> Result<&'a str, Vec<&'a str>> {
    let mut chain = vec![key];
    let mut current = key;
    while let Some(next) = redirects.get(current) {
        let looped = chain.contains(&next.as_str());
        chain.push(next);
        if looped {
            return Err(chain);
        }
        current = next;
    }
    Ok(current)
}

/// Where an author record redirects to (`{"type": {"key": "/type/redirect"}, "location":
/// "/authors/OL…A"}`), if it is a redirect to an author key.
pub fn redirect_target(body: &[u8]) -> Option<String> {
    redirect_of(&serde_json::from_slice::<Value>(body).ok()?)
}

/// [`redirect_target`] of a record already parsed (an entry of a `/api/get_many` answer).
pub fn redirect_of(record: &Value) -> Option<String> {
    let kind = record.get("type").and_then(|t| t.get("key")).and_then(Value::as_str);
    if kind != Some("/type/redirect") {
        return None;
    }
    parse_key(record.get("location").and_then(Value::as_str)?, "/authors/", 'A').map(str::to_string)
}

/// Turns one author record into a row. `Ok(None)` for a redirect (a merged author): the caller
/// falls back to the name on the subject page.
pub fn parse_author(body: &[u8], source: &str, issues: &mut Issues) -> Result<Option<Author>, Reject> {
    match fast::author(body, issues) {
        Some(author) => Ok(author),
        None => parse_author_in_general(body, source, issues),
    }
}

/// [`parse_author`] for any input: through `serde_json::Value`.
fn parse_author_in_general(body: &[u8], source: &str, issues: &mut Issues) -> Result<Option<Author>, Reject> {
    let reject = |key: Option<String>, reason: String, record: String| Reject {
        source: source.to_string(),
        position: None,
        key,
        reason,
        record,
    };
    let record: Value = serde_json::from_slice(body)
        .map_err(|err| reject(None, format!("not JSON: {err}"), String::from_utf8_lossy(body).into_owned()))?;
    let Value::Object(fields) = &record else {
        return Err(reject(
            None,
            format!("an author must be a JSON object, found {}", kind(&record)),
            record.to_string(),
        ));
    };
    if fields.get("type").and_then(|t| t.get("key")).and_then(Value::as_str) == Some("/type/redirect") {
        count(issues, "author_redirect");
        return Ok(None);
    }
    let raw_key = fields.get("key").and_then(Value::as_str);
    let Some(author_key) = raw_key.and_then(|k| parse_key(k, "/authors/", 'A')) else {
        let reason = match raw_key {
            Some(raw) => format!("key {raw:?} is not an author key (/authors/OL…A)"),
            None => "no key".into(),
        };
        return Err(reject(raw_key.map(str::to_string), reason, record.to_string()));
    };
    let name = text(fields, "name", issues);
    if name.is_none() {
        count(issues, "missing_author_name");
    }
    let birth_date = text(fields, "birth_date", issues);
    let death_date = text(fields, "death_date", issues);
    // `bio` is a string in some records and `{type: "/type/text", value}` in others.
    let bio = match fields.get("bio") {
        None | Some(Value::Null) => None,
        Some(Value::String(bio)) => Some(bio.clone()),
        Some(Value::Object(bio)) if bio.get("value").is_some_and(Value::is_string) => {
            bio.get("value").and_then(Value::as_str).map(str::to_string)
        }
        Some(_) => {
            count(issues, "bad_bio");
            None
        }
    };
    let remote =
        |id: &str| fields.get("remote_ids").and_then(|ids| ids.get(id)).and_then(Value::as_str).map(str::to_string);
    Ok(Some(Author {
        author_key: author_key.to_string(),
        birth_year: birth_date.as_deref().and_then(parse_year),
        death_year: death_date.as_deref().and_then(parse_year),
        name,
        birth_date,
        death_date,
        bio,
        wikidata: remote("wikidata"),
        viaf: remote("viaf"),
        isni: remote("isni"),
        from_record: true,
    }))
}

/// The row of an author Open Library has no record for: the key and the name the page listed.
pub fn author_without_record(author_key: &str, listed_name: Option<String>) -> Author {
    Author {
        author_key: author_key.to_string(),
        name: listed_name,
        birth_date: None,
        death_date: None,
        birth_year: None,
        death_year: None,
        bio: None,
        wikidata: None,
        viaf: None,
        isni: None,
        from_record: false,
    }
}

/// The year in a free-text date, where one can honestly be read: "31 July 1965" → 1965, "1939",
/// "1966 or 7" → 1966, "c. 1850" → 1850, "(1942" → 1942, "1965-07-31" → 1965. Nothing for what
/// is not a year of birth or death: "19th century", "fl. 1850" (active, not born), years BC, or
/// no 3- or 4-digit number at all.
pub fn parse_year(text: &str) -> Option<i16> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("b.c")
        || lower.contains("bc")
        || lower.contains("century")
        || lower.trim_start().starts_with("fl")
    {
        return None;
    }
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // 1–2 digits are days or months; 5+ digits are not years.
            if (3..=4).contains(&(i - start)) {
                let year: i16 = lower[start..i].parse().ok()?;
                return (1..=2100).contains(&year).then_some(year);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// `OL123W` from `/works/OL123W` (or the bare key); `None` unless it is `OL<digits><kind>`.
pub fn parse_key<'a>(raw: &'a str, prefix: &str, kind: char) -> Option<&'a str> {
    let key = raw.strip_prefix(prefix).unwrap_or(raw);
    let digits = key.strip_prefix("OL")?.strip_suffix(kind)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(key)
}

fn integer(work: &Map<String, Value>, field: &'static str, issues: &mut Issues) -> Option<i64> {
    match work.get(field) {
        None | Some(Value::Null) => None,
        Some(value) => {
            let n = value.as_i64();
            if n.is_none() {
                count(issues, field_issue(field));
            }
            n
        }
    }
}

fn boolean(work: &Map<String, Value>, field: &'static str, issues: &mut Issues) -> Option<bool> {
    match work.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            count(issues, field_issue(field));
            None
        }
    }
}

fn text(fields: &Map<String, Value>, field: &'static str, issues: &mut Issues) -> Option<String> {
    match fields.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            count(issues, field_issue(field));
            None
        }
    }
}

/// The issue name for a field of the wrong type.
fn field_issue(field: &'static str) -> &'static str {
    match field {
        "edition_count" => "bad_edition_count",
        "cover_id" => "bad_cover_id",
        "has_fulltext" => "bad_has_fulltext",
        "public_scan" => "bad_public_scan",
        "name" => "bad_author_name",
        "birth_date" => "bad_birth_date",
        "death_date" => "bad_death_date",
        _ => "bad_field",
    }
}

/// Counts one soft problem of kind `issue`.
pub fn count(issues: &mut Issues, issue: &'static str) {
    *issues.entry(issue).or_default() += 1;
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
