//! The little `fetch` needs from a subject page: how many works exist, which came, and who wrote
//! them, read straight from the page's bytes.
//!
//! Why not a `serde_json::Value`: a page of 1,000 works is about 3.5 MB, and building it as a tree
//! of maps only to read three things was most of the fetch's CPU (allocating and freeing the maps).
//! Here only `work_count`, each work's `key` and its authors' keys are kept; everything else is
//! skipped as it is parsed ([`IgnoredAny`]).
//!
//! Tolerant exactly as the `Value` reading was (`transform` judges the records; here only the
//! page's shape must hold): every value may be of any type, and one of the wrong type reads as
//! absent (a `work_count` that is not a non-negative integer, a work that is not an object or whose
//! `key` is not a string, an `authors` that is not a list, an author entry that is not an object);
//! a key given twice counts with its last value, as serde_json's map keeps it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de};

use crate::openlibrary::parse_author_key;

#[derive(Debug, PartialEq)]
pub(super) struct PageSummary {
    pub work_count: Option<u64>,
    /// Each work's key as listed (`""` for a work without one), in page order.
    pub work_keys: Vec<String>,
    /// Every author reference of the page that is an author key (`OL…A`), in page order.
    pub author_keys: Vec<String>,
}

impl PageSummary {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let page: Any<Page> = serde_json::from_slice(body).map_err(|err| format!("not JSON: {err}"))?;
        let Page { work_count, works } = page.0;
        let Some(works) = works else {
            return Err(format!("no \"works\" list in {}", snippet(body)));
        };
        let mut summary = Self {
            work_count,
            work_keys: Vec::with_capacity(works.len()),
            author_keys: Vec::with_capacity(works.len()),
        };
        for work in works {
            summary.work_keys.push(work.key.unwrap_or_default());
            summary.author_keys.extend(work.authors);
        }
        Ok(summary)
    }
}

/// The start of the body for an error message, as the `Value` reading showed it (re-serialised,
/// keys sorted): only on the way to an error, so parsing it again costs nothing that matters.
fn snippet(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => value.to_string(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(200).collect()
}

/// A reading of one JSON value that accepts any value: what it expects is read, anything else is
/// skipped and reads as `Self::default()` (the `Value` reading's `None` from `get`/`as_*`).
trait Lenient<'de>: Default {
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn str(_: &str) -> Self {
        Self::default()
    }
    fn u64(_: u64) -> Self {
        Self::default()
    }
}

/// Any JSON value, read as `T` reads it.
struct Any<T>(T);

impl<'de, T: Lenient<'de>> Deserialize<'de> for Any<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyVisitor(PhantomData)).map(Any)
    }
}

struct AnyVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient<'de>> Visitor<'de> for AnyVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::seq(seq)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        Ok(T::str(value))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        Ok(T::u64(value))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        // serde_json hands non-negative integers to visit_u64; this is a negative one.
        Ok(u64::try_from(value).map_or_else(|_| T::default(), T::u64))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A map key, as its position in a list of names (`None`: a key nobody reads). Compared where the
/// parser holds it: no allocation per key.
struct Field(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Field {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Field {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|name| *name == key))
    }
}

/// The entries of `map`, each one the `read` of its key's position in `names` (a key nobody reads is skipped).
fn fields<'de, A: MapAccess<'de>>(
    mut map: A,
    names: &'static [&'static str],
    mut read: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    while let Some(field) = map.next_key_seed(Field(names))? {
        match field {
            Some(index) => read(index, &mut map)?,
            None => drop(map.next_value::<IgnoredAny>()?),
        }
    }
    Ok(())
}

#[derive(Default)]
struct Page {
    work_count: Option<u64>,
    works: Option<Vec<Work>>,
}

impl<'de> Lenient<'de> for Page {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut page = Page::default();
        fields(map, &["work_count", "works"], |field, map| {
            match field {
                0 => page.work_count = map.next_value::<Any<Count>>()?.0.0,
                _ => page.works = map.next_value::<Any<Works>>()?.0.0,
            }
            Ok(())
        })?;
        Ok(page)
    }
}

#[derive(Default)]
struct Count(Option<u64>);

impl Lenient<'_> for Count {
    fn u64(value: u64) -> Self {
        Count(Some(value))
    }
}

#[derive(Default)]
struct Text(Option<String>);

impl Lenient<'_> for Text {
    fn str(value: &str) -> Self {
        Text(Some(value.to_string()))
    }
}

#[derive(Default)]
struct Works(Option<Vec<Work>>);

impl<'de> Lenient<'de> for Works {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut works = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(work) = seq.next_element::<Any<Work>>()? {
            works.push(work.0);
        }
        Ok(Works(Some(works)))
    }
}

/// A work: its key, and the author keys it lists.
#[derive(Default)]
struct Work {
    key: Option<String>,
    authors: Vec<String>,
}

impl<'de> Lenient<'de> for Work {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut work = Work::default();
        fields(map, &["key", "authors"], |field, map| {
            match field {
                0 => work.key = map.next_value::<Any<Text>>()?.0.0,
                _ => work.authors = map.next_value::<Any<Authors>>()?.0.0,
            }
            Ok(())
        })?;
        Ok(work)
    }
}

#[derive(Default)]
struct Authors(Vec<String>);

impl<'de> Lenient<'de> for Authors {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut keys = Vec::new();
        while let Some(author) = seq.next_element::<Any<AuthorRef>>()? {
            keys.extend(author.0.key());
        }
        Ok(Authors(keys))
    }
}

/// One entry of a work's `authors`: `{key, name}` on subject pages, `{author: {key}}` in older
/// records. `key` present (whatever its type) is the reference; only without it is `author.key`.
#[derive(Default)]
struct AuthorRef {
    key: Option<Option<String>>,
    nested: Option<String>,
}

impl AuthorRef {
    fn key(self) -> Option<String> {
        let key = self.key.unwrap_or(self.nested)?;
        parse_author_key(&key).map(str::to_string)
    }
}

impl<'de> Lenient<'de> for AuthorRef {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut author = AuthorRef::default();
        fields(map, &["key", "author"], |field, map| {
            match field {
                0 => author.key = Some(map.next_value::<Any<Text>>()?.0.0),
                _ => author.nested = map.next_value::<Any<Nested>>()?.0.0,
            }
            Ok(())
        })?;
        Ok(author)
    }
}

/// `{author: {key}}`'s inner object: its `key`, if a string.
#[derive(Default)]
struct Nested(Option<String>);

impl<'de> Lenient<'de> for Nested {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut key = None;
        fields(map, &["key"], |_, map| {
            key = map.next_value::<Any<Text>>()?.0.0;
            Ok(())
        })?;
        Ok(Nested(key))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    use super::*;

    /// The reading this module replaced, kept as the reference it must agree with.
    fn parse_as_value(body: &[u8]) -> Result<PageSummary, String> {
        let page: serde_json::Value = serde_json::from_slice(body).map_err(|err| format!("not JSON: {err}"))?;
        let works = page.get("works").and_then(|works| works.as_array()).ok_or_else(|| {
            format!("no \"works\" list in {}", page.to_string().chars().take(200).collect::<String>())
        })?;
        let mut summary = PageSummary {
            work_count: page.get("work_count").and_then(|count| count.as_u64()),
            work_keys: Vec::new(),
            author_keys: Vec::new(),
        };
        for work in works {
            summary.work_keys.push(work.get("key").and_then(|key| key.as_str()).unwrap_or_default().to_string());
            for author in work.get("authors").and_then(|a| a.as_array()).into_iter().flatten() {
                let key = author.get("key").or_else(|| author.get("author").and_then(|a| a.get("key")));
                if let Some(key) = key.and_then(|key| key.as_str()).and_then(parse_author_key) {
                    summary.author_keys.push(key.to_string());
                }
            }
        }
        Ok(summary)
    }

    #[test]
    fn odd_shapes_read_as_the_value_reading_read_them() {
        let bodies: &[&str] = &[
            r#"{"work_count": -1, "works": []}"#,
            r#"{"work_count": 1.0, "works": []}"#,
            r#"{"work_count": 18446744073709551616, "works": []}"#,
            r#"{"work_count": "5", "works": [5, null, "x", [], {"key": 7}, {"key": "/works/OL1W", "authors": {}}]}"#,
            r#"{"work_count": 3, "work_count": 4, "works": [{"key": "a", "key": "b"}], "works": [{"key": "c"}]}"#,
            r#"{"works": [{"authors": [{"key": null, "author": {"key": "/authors/OL1A"}}, {"author": "OL2A"}]}]}"#,
            r#"{"works": [{"authors": [{"author": {"key": "/authors/OL3A"}, "author": 1}, {"k\u0065y": "OL4A"}]}]}"#,
            r#"{"works": [{"authors": [{"key": "/authors/OL5A", "key": 5}, {"author": {"key": "OL6A", "key": "x"}}]}]}"#,
            r#"{"works": {"key": "/works/OL1W"}}"#,
            r#"{"works": null, "work_count": 1}"#,
            r#"[{"works": []}]"#,
            r#""works""#,
            "{\"works\": [], \"extra\": {\"deep\": [[[{\"works\": 1}]]]}}",
            "{\"works\": [] } trailing",
        ];
        for body in bodies {
            assert_eq!(PageSummary::parse(body.as_bytes()), parse_as_value(body.as_bytes()), "{body}");
        }
    }

    /// proptest's configuration with a fixed seed unless `PROPTEST_RNG_SEED` names one (as in
    /// `records::tests`): the same cases every run.
    fn seeded() -> ProptestConfig {
        let config = ProptestConfig::default();
        match config.rng_seed {
            RngSeed::Fixed(_) => config,
            RngSeed::Random => ProptestConfig { rng_seed: RngSeed::Fixed(20_261_203), ..config },
        }
    }

    fn leaf() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("1.5".to_string()),
            Just("1e3".to_string()),
            key(),
        ]
    }

    /// A string that is now and then an author or work key, in one of the forms pages use.
    fn key() -> impl Strategy<Value = String> + Clone {
        "(/works/|/authors/)?(OL)?[0-9]{0,3}[AW]?".prop_map(|s| serde_json::to_string(&s).unwrap())
    }

    /// JSON text (not a `Value`: keys may repeat) with the names this module reads, in any type.
    fn text() -> impl Strategy<Value = String> + Clone {
        let keys = prop::sample::select(vec!["work_count", "works", "key", "authors", "author", "name"]);
        leaf().prop_recursive(5, 96, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| object(&pairs)),
            ]
        })
    }

    fn object(pairs: &[(&str, String)]) -> String {
        let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", pairs.join(","))
    }

    /// An entry of a work's `authors`: mostly the shapes pages hold, with odd ones between.
    fn author() -> impl Strategy<Value = String> {
        prop_oneof![
            text(),
            key().prop_map(|k| object(&[("key", k)])),
            key().prop_map(|k| object(&[("author", object(&[("key", k)]))])),
            (leaf(), key()).prop_map(|(v, k)| object(&[("key", v), ("author", object(&[("key", k)]))])),
            (key(), leaf()).prop_map(|(k, v)| object(&[("author", object(&[("key", k)])), ("author", v)])),
        ]
    }

    /// A work: mostly shaped as pages hold them, with odd ones between.
    fn work() -> impl Strategy<Value = String> {
        let authors = || prop::collection::vec(author(), 0..4).prop_map(|items| format!("[{}]", items.join(",")));
        prop_oneof![
            text(),
            (key(), authors()).prop_map(|(k, a)| object(&[("key", k), ("title", "\"t\"".into()), ("authors", a)])),
            (leaf(), authors(), text()).prop_map(|(k, a, b)| object(&[("authors", a), ("key", k), ("authors", b)])),
        ]
    }

    proptest! {
        #![proptest_config(seeded())]

        #[test]
        fn any_page_reads_as_the_value_reading_read_it(
            works in prop::collection::vec(work(), 0..5),
            count in leaf(),
            other in text(),
        ) {
            let works = format!("[{}]", works.join(","));
            for body in [
                format!("{{\"work_count\":{count},\"works\":{works}}}"),
                format!("{{\"works\":{works},\"work_count\":{other}}}"),
                format!("{{\"work_count\":{count},\"works\":{works},\"works\":{other}}}"),
                other.clone(),
            ] {
                prop_assert_eq!(PageSummary::parse(body.as_bytes()), parse_as_value(body.as_bytes()), "{}", body);
            }
        }
    }

    #[test]
    fn a_real_page_reads_as_the_value_reading_read_it() {
        let body = include_bytes!("../../tests/fixtures/subjects_science_fiction.json");
        assert_eq!(PageSummary::parse(body), parse_as_value(body));
    }
}
