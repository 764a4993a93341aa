//! Unit tests of [`super`]: the real fixtures and the oddities built from them.

use super::*;

#[path = "../../tests/it/support/synth.rs"]
mod synth;

const SCIENCE_FICTION: &[u8] = include_bytes!("../../tests/fixtures/subjects_science_fiction.json");
const ROWLING: &[u8] = include_bytes!("../../tests/fixtures/author_OL23919A__2021-10.json");
const PAULSEN: &[u8] = include_bytes!("../../tests/fixtures/author_OL4452558A__2021-09.json");
const RAUTROY: &[u8] = include_bytes!("../../tests/fixtures/author_OL1A__2013.json");
const DUMP_WORK: &[u8] = include_bytes!("../../tests/fixtures/ol_dump_work_record_OL17950943W.json");

#[test]
fn the_science_fiction_page_gives_its_twelve_books() {
    let rows = parse_page(SCIENCE_FICTION, "raw/p0").unwrap();
    assert!(rows.rejects.is_empty());
    let books: Vec<(&str, &str, Option<i16>)> =
        rows.books.iter().map(|b| (b.work_key.as_str(), b.title.as_str(), b.first_publish_year)).collect();
    assert_eq!(
        books,
        [
            ("OL138052W", "Alice's Adventures in Wonderland", Some(1865)),
            ("OL450063W", "Frankenstein or The Modern Prometheus", Some(1818)),
            ("OL18417W", "The Wonderful Wizard of Oz", Some(1899)),
            ("OL52267W", "The Time Machine", Some(1895)),
            ("OL262460W", "The Lost World", Some(1900)),
            ("OL85892W", "Dracula", Some(1897)),
            ("OL64365W", "Brave New World", Some(1800)),
            ("OL74502W", "The Iron Heel", Some(1907)),
            ("OL118388W", "Flatland", Some(1884)),
            ("OL1168083W", "Nineteen Eighty-Four", Some(1949)),
            ("OL52114W", "The War of the Worlds", Some(1898)),
            ("OL52266W", "The Invisible Man", Some(1897)),
        ]
    );
    let alice = &rows.books[0];
    assert_eq!(
        (alice.edition_count, alice.cover_id, alice.has_fulltext, alice.public_scan),
        (Some(3546), Some(10527843), Some(true), Some(true))
    );
    assert_eq!(rows.books[6].public_scan, Some(false));
    assert!(rows.issues.is_empty(), "{:?}", rows.issues);
}

#[test]
fn brave_new_world_keeps_all_nine_authors_in_order() {
    let rows = parse_page(SCIENCE_FICTION, "raw/p0").unwrap();
    let links: Vec<(&str, i32, Option<&str>)> = rows
        .links
        .iter()
        .filter(|l| l.work_key == "OL64365W")
        .map(|l| (l.author_key.as_str(), l.position, l.listed_name.as_deref()))
        .collect();
    assert_eq!(
        links,
        [
            ("OL19767A", 0, Some("Aldous Huxley")),
            ("OL3127898A", 1, Some("Adlous Huxley")),
            ("OL7366049A", 2, Some("Aldous Huxley")),
            ("OL7232070A", 3, Some("Huxley, Aldous")),
            ("OL3647036A", 4, Some("Aldous Leonard Huxley")),
            ("OL14449831A", 5, Some("Editorial Editorial Pacific")),
            ("OL13750402A", 6, Some("Huxley Aldous")),
            ("OL8261782A", 7, Some("Yordi Abreu")),
            ("OL15092181A", 8, Some("[英]阿道司·赫胥黎")),
        ]
    );
    // "Aldous Huxley" stands under two keys: Open Library's data, kept as two authors.
    let huxleys = rows.links.iter().filter(|l| l.listed_name.as_deref() == Some("Aldous Huxley")).count();
    assert_eq!(huxleys, 2);
    assert_eq!(rows.links.len(), 20);
}

#[test]
fn the_real_author_records() {
    let mut issues = Issues::new();
    let rowling = parse_author(ROWLING, "a", &mut issues).unwrap().unwrap();
    assert_eq!(rowling.author_key, "OL23919A");
    assert_eq!(rowling.name.as_deref(), Some("J. K. Rowling"));
    assert_eq!(rowling.birth_date.as_deref(), Some("31 July 1965"));
    assert_eq!((rowling.birth_year, rowling.death_date.as_deref(), rowling.death_year), (Some(1965), None, None));
    let bio = rowling.bio.as_deref().unwrap();
    assert!(bio.starts_with("Joanne \"Jo\" Murray, OBE (née Rowling), better known under the pen name J. K. Rowling"));
    assert_eq!(rowling.wikidata.as_deref(), Some("Q34660"));
    assert_eq!(rowling.viaf.as_deref(), Some("116796842"));
    assert_eq!(rowling.isni.as_deref(), Some("000000012148628X"));
    assert!(rowling.from_record);

    let paulsen = parse_author(PAULSEN, "a", &mut issues).unwrap().unwrap();
    assert_eq!(
        (paulsen.author_key.as_str(), paulsen.name.as_deref(), paulsen.birth_date.as_deref(), paulsen.birth_year),
        ("OL4452558A", Some("Gary Paulsen"), Some("1939"), Some(1939))
    );
    assert_eq!((paulsen.bio, paulsen.wikidata.as_deref()), (None, Some("Q718463")));

    // The 2013 schema: a numeric legacy id, no remote ids.
    let rautroy = parse_author(RAUTROY, "a", &mut issues).unwrap().unwrap();
    assert_eq!(
        (rautroy.name.as_deref(), rautroy.birth_year, rautroy.death_year, rautroy.death_date.as_deref()),
        (Some("Sachi Rautroy"), Some(1916), Some(2004), Some("2004"))
    );
    assert_eq!(rautroy.wikidata, None);
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn a_string_bio_and_a_redirect() {
    let mut issues = Issues::new();
    let body = br#"{"key": "/authors/OL5A", "name": "X", "bio": "plain text", "birth_date": "c. 1850"}"#;
    let author = parse_author(body, "a", &mut issues).unwrap().unwrap();
    assert_eq!((author.bio.as_deref(), author.birth_year), (Some("plain text"), Some(1850)));
    let redirect = br#"{"key": "/authors/OL6A", "type": {"key": "/type/redirect"}, "location": "/authors/OL5A"}"#;
    assert_eq!(parse_author(redirect, "a", &mut issues).unwrap(), None);
    assert_eq!(issues.get("author_redirect"), Some(&1));
}

#[test]
fn broken_author_records_are_rejected_with_a_reason() {
    let mut issues = Issues::new();
    let no_key = parse_author(br#"{"name": "X"}"#, "raw/a/x.json", &mut issues).unwrap_err();
    assert_eq!((no_key.reason.as_str(), no_key.source.as_str(), no_key.position), ("no key", "raw/a/x.json", None));
    let bad_key = parse_author(br#"{"key": "/works/OL1W"}"#, "s", &mut issues).unwrap_err();
    assert!(bad_key.reason.contains("is not an author key"), "{}", bad_key.reason);
    assert!(parse_author(b"[1]", "s", &mut issues).unwrap_err().reason.contains("JSON object"));
    assert!(parse_author(b"<html>", "s", &mut issues).unwrap_err().reason.starts_with("not JSON"));
}

#[test]
fn the_dump_shape_of_author_references_is_read() {
    let work: Value = serde_json::from_slice(DUMP_WORK).unwrap();
    let page = serde_json::to_vec(&serde_json::json!({"works": [work]})).unwrap();
    let rows = parse_page(&page, "p").unwrap();
    assert_eq!(rows.books.len(), 1);
    assert_eq!(rows.links.len(), 1);
    assert!(rows.links[0].author_key.starts_with("OL") && rows.links[0].author_key.ends_with('A'));
    assert_eq!(rows.links[0].listed_name, None);
}

#[test]
fn broken_works_are_rejected_and_the_good_ones_kept() {
    let page = br#"{"work_count": 7, "works": [
        {"key": "/works/OL1W", "title": "Good", "first_publish_year": 1999, "authors": [{"key": "/authors/OL1A", "name": "A"}]},
        {"title": "No key"},
        {"key": "/books/OL2M", "title": "Bad key"},
        {"key": "/works/OL3W"},
        {"key": 42, "title": "Numeric key"},
        "not an object",
        {"key": "/works/OL4W", "title": "Odd types", "first_publish_year": "1999", "edition_count": "many",
         "has_fulltext": "yes", "authors": [{"name": "no key"}, {"key": "/authors/OL2A"}, {"key": "/authors/OL2A"}]}
    ]}"#;
    let rows = parse_page(page, "raw/p").unwrap();
    let kept: Vec<&str> = rows.books.iter().map(|b| b.work_key.as_str()).collect();
    assert_eq!(kept, ["OL1W", "OL4W"]);
    let rejects: Vec<(Option<i32>, Option<&str>, &str)> =
        rows.rejects.iter().map(|r| (r.position, r.key.as_deref(), r.reason.as_str())).collect();
    assert_eq!(
        rejects,
        [
            (Some(1), None, "no key"),
            (Some(2), Some("/books/OL2M"), "key \"/books/OL2M\" is not a work key (/works/OL…W)"),
            (Some(3), Some("OL3W"), "no title"),
            (Some(4), None, "key must be a string, found a number"),
            (Some(5), None, "a work must be a JSON object, found a string"),
        ]
    );
    assert_eq!(rows.rejects[1].record, r#"{"key":"/books/OL2M","title":"Bad key"}"#);
    let odd = &rows.books[1];
    assert_eq!((odd.first_publish_year, odd.edition_count, odd.has_fulltext), (None, None, None));
    let links: Vec<(&str, &str, i32)> =
        rows.links.iter().map(|l| (l.work_key.as_str(), l.author_key.as_str(), l.position)).collect();
    assert_eq!(links, [("OL1W", "OL1A", 0), ("OL4W", "OL2A", 0)]);
    let issues: Vec<(&str, u64)> = rows.issues.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        issues,
        [
            ("bad_author_reference", 1),
            ("bad_edition_count", 1),
            ("bad_first_publish_year", 1),
            ("bad_has_fulltext", 1),
            ("repeated_author_reference", 1)
        ]
    );
}

#[test]
fn a_body_that_is_not_a_page_is_an_error() {
    assert!(parse_page(b"{}", "p").unwrap_err().reason.contains("works"));
    assert!(parse_page(b"nope", "p").unwrap_err().reason.starts_with("not JSON"));
}

#[test]
fn years_are_read_only_where_they_honestly_are() {
    let cases = [
        ("31 July 1965", Some(1965)),
        ("1939", Some(1939)),
        ("1966 or 7", Some(1966)),
        ("c. 1850", Some(1850)),
        ("ca. 1850", Some(1850)),
        ("(1942", Some(1942)),
        ("1850?", Some(1850)),
        ("1965-07-31", Some(1965)),
        ("July 31, 1965", Some(1965)),
        ("800", Some(800)),
        ("19th century", None),
        ("fl. 1850", None),
        ("500 BC", None),
        ("", None),
        ("unknown", None),
        ("12", None),
        ("123456", None),
        ("3000", None),
    ];
    for (text, year) in cases {
        assert_eq!(parse_year(text), year, "{text:?}");
    }
}

#[test]
fn keys() {
    assert_eq!(parse_key("/works/OL82563W", "/works/", 'W'), Some("OL82563W"));
    assert_eq!(parse_key("OL82563W", "/works/", 'W'), Some("OL82563W"));
    assert_eq!(parse_key("/works/OL82563A", "/works/", 'W'), None);
    assert_eq!(parse_key("/works/OLW", "/works/", 'W'), None);
    assert_eq!(parse_key("/authors/OL1A", "/works/", 'W'), None);
}

#[test]
fn real_pages_and_records_take_the_fast_path() {
    let rows = fast::page(SCIENCE_FICTION).expect("the real page is read by the fast path");
    assert_eq!(rows, parse_page_in_general(SCIENCE_FICTION, "p").unwrap());
    let synthetic = synth::subject_page("love", 3000, 500, 1000, 0);
    assert_eq!(fast::page(&synthetic).unwrap(), parse_page_in_general(&synthetic, "p").unwrap());
    for (record, fast_path) in [(ROWLING, true), (PAULSEN, true), (RAUTROY, true)] {
        let (mut fast_issues, mut issues) = (Issues::new(), Issues::new());
        let author = fast::author(record, &mut fast_issues);
        assert_eq!(author.is_some(), fast_path);
        if let Some(author) = author {
            assert_eq!(author, parse_author_in_general(record, "a", &mut issues).unwrap());
            assert_eq!(fast_issues, issues);
        }
    }
}

/// Fuzzing: no input makes the parsers panic. A short run is part of every `cargo test`; a long one
/// is `PROPTEST_CASES=200000 cargo test --lib records::tests::fuzz`. The draws are seeded
/// (`PROPTEST_RNG_SEED`, which scripts/test sets and prints, else [`fuzz::SEED`]) so every run
/// tries the same inputs; another seed is another `PROPTEST_RNG_SEED`.
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    /// The seed when `PROPTEST_RNG_SEED` is not set.
    pub const SEED: u64 = 20_261_203;

    /// proptest's configuration (its `PROPTEST_*` variables read), with a fixed seed.
    fn seeded() -> ProptestConfig {
        let config = ProptestConfig::default();
        match config.rng_seed {
            RngSeed::Fixed(_) => config,
            RngSeed::Random => ProptestConfig { rng_seed: RngSeed::Fixed(SEED), ..config },
        }
    }

    /// JSON shaped like Open Library's, with the field names the parsers look at, in any type.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "(/works/|/authors/)?(OL)?[0-9]{0,6}[AWM]?".prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        let keys = prop_oneof![
            Just("key"),
            Just("title"),
            Just("works"),
            Just("authors"),
            Just("author"),
            Just("name"),
            Just("first_publish_year"),
            Just("edition_count"),
            Just("cover_id"),
            Just("has_fulltext"),
            Just("bio"),
            Just("value"),
            Just("type"),
            Just("birth_date"),
            Just("remote_ids"),
            Just("wikidata"),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    /// A work close to a real one, each field valid or odd in one of the ways the general path has a
    /// rule for.
    fn near_work() -> impl Strategy<Value = Value> {
        let field = |valid: Value| {
            prop_oneof![
                4 => Just(Some(valid)),
                1 => Just(None),
                1 => Just(Some(Value::Null)),
                1 => Just(Some(Value::from("x"))),
                1 => Just(Some(Value::from(1.5))),
                1 => Just(Some(serde_json::json!([1]))),
            ]
        };
        let reference = prop_oneof![
            4 => (0..4u32).prop_map(|n| serde_json::json!({"key": format!("/authors/OL{n}A"), "name": format!("A{n}")})),
            1 => Just(serde_json::json!({"author": {"key": "/authors/OL9A"}})),
            1 => Just(serde_json::json!({"key": "/works/OL1W"})),
            1 => Just(serde_json::json!({"key": "/authors/OL8A", "name": 3})),
            1 => Just(serde_json::json!(["/authors/OL7A", "x"])),
            1 => Just(Value::from("junk")),
        ];
        let authors = prop_oneof![
            6 => prop::collection::vec(reference, 0..4).prop_map(|refs| Some(Value::Array(refs))),
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            1 => Just(Some(Value::from("x"))),
        ];
        let key = prop_oneof![
            6 => (0..20u32).prop_map(|n| Value::from(format!("/works/OL{n}W"))),
            1 => Just(Value::from("/authors/OL1A")),
            1 => Just(Value::from(12)),
        ];
        (
            key,
            field(Value::from("A title")),
            field(Value::from(1950)),
            field(Value::from(3)),
            field(Value::from(true)),
            authors,
            0..20usize,
        )
            .prop_map(|(key, title, year, editions, fulltext, authors, shape)| {
                let mut work = serde_json::Map::new();
                work.insert("key".into(), key);
                for (name, value) in [
                    ("title", title),
                    ("first_publish_year", year),
                    ("edition_count", editions),
                    ("has_fulltext", fulltext),
                    ("authors", authors),
                ] {
                    if let Some(value) = value {
                        work.insert(name.into(), value);
                    }
                }
                work.insert("subject".into(), serde_json::json!(["Fiction", "Love"]));
                // Now and then not an object at all.
                match shape {
                    0 => Value::Array(work.into_iter().map(|(_, v)| v).collect()),
                    _ => Value::Object(work),
                }
            })
    }

    /// An author record close to a real one.
    fn near_author() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            4 => Just(Some(Value::from("31 July 1965"))),
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            1 => Just(Some(Value::from(""))),
            1 => Just(Some(Value::from(7))),
        ];
        let bio = prop_oneof![
            Just(None),
            Just(Some(Value::from("A bio."))),
            Just(Some(serde_json::json!({"type": "/type/text", "value": "Typed bio."}))),
            Just(Some(serde_json::json!({"type": "/type/text"}))),
            Just(Some(serde_json::json!(["A bio."]))),
        ];
        let extra = prop_oneof![
            Just(serde_json::json!({})),
            Just(serde_json::json!({"type": {"key": "/type/redirect"}, "location": "/authors/OL2A"})),
            Just(serde_json::json!({"type": "/type/author"})),
            Just(serde_json::json!({"remote_ids": {"wikidata": "Q1", "viaf": "2"}})),
            Just(serde_json::json!({"remote_ids": {"isni": 3}})),
            Just(serde_json::json!({"remote_ids": ["Q1"]})),
            Just(serde_json::json!({"key": "/works/OL1W"})),
        ];
        (text.clone(), text, bio, extra).prop_map(|(name, birth, bio, extra)| {
            let mut record = serde_json::json!({"key": "/authors/OL1A", "alternate_names": ["x", "y"]});
            for (field, value) in [("name", name), ("birth_date", birth), ("bio", bio)] {
                if let Some(value) = value {
                    record[field] = value;
                }
            }
            for (field, value) in extra.as_object().unwrap() {
                record[field] = value.clone();
            }
            record
        })
    }

    proptest! {
        #![proptest_config(seeded())]

        /// Whenever the fast path answers, it answers exactly what the general path does.
        #[test]
        fn the_fast_page_path_agrees_with_the_general_one(works in prop::collection::vec(near_work(), 0..6)) {
            let body = serde_json::to_vec(&serde_json::json!({"works": works, "work_count": 6})).unwrap();
            if let Some(rows) = fast::page(&body) {
                prop_assert_eq!(rows, parse_page_in_general(&body, "p").unwrap());
            }
        }

        #[test]
        fn the_fast_author_path_agrees_with_the_general_one(record in near_author()) {
            let body = serde_json::to_vec(&record).unwrap();
            let mut fast_issues = Issues::new();
            if let Some(author) = fast::author(&body, &mut fast_issues) {
                let mut issues = Issues::new();
                prop_assert_eq!(author, parse_author_in_general(&body, "a", &mut issues).unwrap());
                prop_assert_eq!(fast_issues, issues);
            }
        }
    }

    proptest! {
        #![proptest_config(seeded())]

        #[test]
        fn pages_never_panic(value in json()) {
            let body = serde_json::to_vec(&serde_json::json!({"works": [value.clone()], "work_count": 1})).unwrap();
            if let Ok(rows) = parse_page(&body, "p") {
                prop_assert_eq!(rows.books.len() + rows.rejects.len(), 1);
                for book in &rows.books {
                    prop_assert!(book.work_key.starts_with("OL") && book.work_key.ends_with('W'));
                }
            }
            let _ = parse_page(&serde_json::to_vec(&value).unwrap(), "p");
        }

        #[test]
        fn authors_never_panic(value in json()) {
            let mut issues = Issues::new();
            if let Ok(Some(author)) = parse_author(&serde_json::to_vec(&value).unwrap(), "a", &mut issues) {
                prop_assert!(author.author_key.starts_with("OL") && author.author_key.ends_with('A'));
            }
        }

        #[test]
        fn raw_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_page(&bytes, "p");
            let _ = parse_author(&bytes, "a", &mut Issues::new());
        }

        #[test]
        fn years_are_in_range_or_absent(text in ".{0,40}") {
            if let Some(year) = parse_year(&text) {
                prop_assert!((1..=2100).contains(&year));
            }
        }
    }
}

#[test]
fn redirects_lead_to_the_person_and_loops_are_told() {
    let redirects: HashMap<String, String> = [("OL1A", "OL2A"), ("OL2A", "OL3A"), ("OL7A", "OL8A"), ("OL8A", "OL7A")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(canonical_author("OL1A", &redirects), Ok("OL3A"));
    assert_eq!(canonical_author("OL3A", &redirects), Ok("OL3A"));
    assert_eq!(canonical_author("OL9A", &redirects), Ok("OL9A"));
    assert_eq!(canonical_author("OL7A", &redirects), Err(vec!["OL7A", "OL8A", "OL7A"]));
}

#[test]
fn a_redirect_record_names_its_target() {
    let merged = br#"{"type": {"key": "/type/redirect"}, "location": "/authors/OL2A", "key": "/authors/OL1A",
        "revision": 3, "last_modified": {"type": "/type/datetime", "value": "2021-01-01T00:00:00"}}"#;
    assert_eq!(redirect_target(merged).as_deref(), Some("OL2A"));
    assert_eq!(redirect_target(ROWLING), None);
    assert_eq!(redirect_target(br#"{"type": {"key": "/type/redirect"}, "location": "/works/OL2W"}"#), None);
    assert_eq!(redirect_target(b"not json"), None);
    // The same rule for an entry of a get_many answer, already parsed.
    let entry: Value = serde_json::from_slice(merged).unwrap();
    assert_eq!(redirect_of(&entry).as_deref(), Some("OL2A"));
    assert_eq!(redirect_of(&serde_json::json!({"type": {"key": "/type/author"}})), None);
}
