//! The fast path of [`super::parse_page`] and [`super::parse_author`]: the same rows, read through
//! typed serde structs that borrow their strings from the body and skip every field no table needs
//! (the long subject lists, availability, lending) without building it.
//!
//! Why two paths: building a `serde_json::Value` for every work, then dropping most of it, was
//! most of `transform`'s time (benchmarks: docs/benchmarks.md). The fast path is strict: a field
//! of an unexpected type, an old-style author reference, a record that would be rejected — any of
//! these makes it decline (`None`), and the caller reads the body again on the general path, which
//! is the one place the rules for odd input live. A property test checks that whenever the fast
//! path answers, its answer equals the general path's.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Author, Book, Issues, PageRows, count, first_publish_year, link_author, parse_key, parse_year};

/// A `T` read only from a JSON object. Serde's derived structs also accept a JSON array, field by
/// field in order, which the general path would reject; this keeps the two paths in step.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        deserializer.deserialize_map(ObjVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    works: Vec<Obj<Work<'a>>>,
}

#[derive(Deserialize)]
struct Work<'a> {
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    title: Option<Cow<'a, str>>,
    first_publish_year: Option<i64>,
    edition_count: Option<i64>,
    cover_id: Option<i64>,
    has_fulltext: Option<bool>,
    public_scan: Option<bool>,
    #[serde(borrow)]
    authors: Option<Vec<Obj<AuthorRef<'a>>>>,
}

#[derive(Deserialize)]
struct AuthorRef<'a> {
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

/// A subject page's rows, or `None` when the page needs the general path.
pub(super) fn page(body: &[u8]) -> Option<PageRows> {
    let Obj(page): Obj<Page> = serde_json::from_slice(body).ok()?;
    let mut rows = PageRows::default();
    rows.books.reserve(page.works.len());
    for Obj(work) in page.works {
        let work_key = parse_key(work.key.as_deref()?, "/works/", 'W')?.to_string();
        let title = work.title.filter(|title| !title.trim().is_empty())?.into_owned();
        let year = match work.first_publish_year {
            None => {
                count(&mut rows.issues, "missing_first_publish_year");
                None
            }
            Some(year) => first_publish_year(Some(year), &mut rows.issues),
        };
        match work.authors {
            None => count(&mut rows.issues, "no_authors"),
            Some(refs) => {
                let start = rows.links.len();
                for Obj(entry) in refs {
                    // `{author: {key}}` references (older records) are the general path's.
                    let author_key = parse_key(entry.key.as_deref()?, "/authors/", 'A');
                    let name = entry.name.map(Cow::into_owned);
                    link_author(&mut rows.links, start, &work_key, author_key, name, &mut rows.issues);
                }
            }
        }
        rows.books.push(Book {
            work_key,
            title,
            first_publish_year: year,
            edition_count: work.edition_count.and_then(|n| i32::try_from(n).ok()),
            cover_id: work.cover_id,
            has_fulltext: work.has_fulltext,
            public_scan: work.public_scan,
        });
    }
    Some(rows)
}

#[derive(Deserialize)]
struct AuthorRecord<'a> {
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    birth_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    death_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    bio: Option<Bio<'a>>,
    #[serde(borrow)]
    remote_ids: Option<Obj<RemoteIds<'a>>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Obj<TypeRef<'a>>>,
}

/// `bio` is a string in some records and `{type: "/type/text", value}` in others.
struct Bio<'a>(Cow<'a, str>);

#[derive(Deserialize)]
struct TypedText<'a> {
    #[serde(borrow)]
    value: Cow<'a, str>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Bio<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BioVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for BioVisitor<'a> {
            type Value = Bio<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an object with a string value")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Bio<'a>, E> {
                Ok(Bio(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Bio<'a>, E> {
                Ok(Bio(Cow::Owned(text.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Bio<'a>, A::Error> {
                TypedText::deserialize(MapAccessDeserializer::new(map)).map(|typed| Bio(typed.value))
            }
        }
        deserializer.deserialize_any(BioVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
struct RemoteIds<'a> {
    #[serde(borrow)]
    wikidata: Option<Cow<'a, str>>,
    #[serde(borrow)]
    viaf: Option<Cow<'a, str>>,
    #[serde(borrow)]
    isni: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TypeRef<'a> {
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
}

/// An author record's row (`Some(None)` for a redirect), or `None` when it needs the general path.
/// Issues are counted into `issues` only when the fast path answers.
pub(super) fn author(body: &[u8], issues: &mut Issues) -> Option<Option<Author>> {
    let Obj(record): Obj<AuthorRecord> = serde_json::from_slice(body).ok()?;
    if record.kind.as_ref().and_then(|t| t.0.key.as_deref()) == Some("/type/redirect") {
        count(issues, "author_redirect");
        return Some(None);
    }
    let author_key = parse_key(record.key.as_deref()?, "/authors/", 'A')?.to_string();
    let text = |field: Option<Cow<str>>| field.filter(|s| !s.trim().is_empty()).map(Cow::into_owned);
    let name = text(record.name);
    if name.is_none() {
        count(issues, "missing_author_name");
    }
    let (birth_date, death_date) = (text(record.birth_date), text(record.death_date));
    let remote = record.remote_ids.map_or(RemoteIds { wikidata: None, viaf: None, isni: None }, |ids| ids.0);
    Some(Some(Author {
        author_key,
        name,
        birth_year: birth_date.as_deref().and_then(parse_year),
        death_year: death_date.as_deref().and_then(parse_year),
        birth_date,
        death_date,
        bio: record.bio.map(|bio| bio.0.into_owned()),
        wikidata: remote.wikidata.map(Cow::into_owned),
        viaf: remote.viaf.map(Cow::into_owned),
        isni: remote.isni.map(Cow::into_owned),
        from_record: true,
    }))
}
