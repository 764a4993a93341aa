//! What a report page says, computed purely from the slice's gold tables and counts: the headline,
//! books per year, the top authors and their two yearly averages, the distribution of those
//! averages, what changed since the previous day, and the data's quality.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::gold::{AuthorAverage, Year, author_averages, years};

/// Authors in the top-authors chart and table.
pub const TOP_AUTHORS: usize = 15;
/// Authors in the biggest-movers table.
pub const MOVERS: usize = 10;
/// Upper bounds of the averages' buckets (the last bucket is "more").
const BUCKETS: [f64; 5] = [1.0, 1.5, 2.0, 3.0, 5.0];

/// The whole page's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub subject: String,
    pub ds: String,
    pub headline: Headline,
    pub per_year: Vec<Year>,
    /// The authors with the most books; an author without a name is named by their key.
    pub top_authors: Vec<AuthorAverage>,
    pub distribution: Vec<Bucket>,
    /// `None` on the subject's first loaded day.
    pub changes: Option<Changes>,
    pub quality: Quality,
}

/// The slice's counts (`sql/report/headline.sql`) and the silver rejects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Headline {
    pub works: i64,
    pub dated_works: i64,
    /// Dated works over works, in percent, one decimal (`None` without works).
    pub dated_percent: Option<f64>,
    pub first_year: Option<i32>,
    pub last_year: Option<i32>,
    /// Last year − first year + 1.
    pub years_spanned: Option<i32>,
    pub authors: i64,
    pub authors_without_record: i64,
    pub merged_authors: i64,
    pub rejects: u64,
}

/// How many authors' averages fall in one range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub label: String,
    pub per_active_year: u64,
    pub per_career_year: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    pub previous_ds: String,
    pub works_added: i64,
    pub works_removed: i64,
    pub new_authors: i64,
    /// `None` when the previous day has no answers (it was loaded but never aggregated).
    pub movers: Option<Vec<Mover>>,
}

/// An author whose book count changed since the previous day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    pub key: String,
    pub name: String,
    pub before: i64,
    pub after: i64,
    pub change: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    pub undated_works: i64,
    pub authors_without_record: i64,
    pub merged_authors: i64,
    /// Rejected records by kind of reason, most first.
    pub rejects_by_reason: Vec<(String, u64)>,
    /// What load's quality gate found (none for a day loaded before the gate existed).
    pub gate: Option<Gate>,
}

/// The quality gate's result of the day, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// `passed`, `warned`, `accepted` (a drop accepted with --accept-drop).
    pub verdict: String,
    pub passed: u64,
    pub warned: u64,
    pub accepted: u64,
    /// Every check: name, `pass`/`warn`/`accepted`, what it found.
    pub checks: Vec<(String, String, String)>,
}

impl Gate {
    pub fn of(document: &crate::quality::record::Document) -> Self {
        use crate::quality::Status;
        Self {
            verdict: document.verdict.as_str().to_string(),
            passed: document.count(Status::Pass),
            warned: document.count(Status::Warn),
            accepted: document.count(Status::Accepted),
            checks: document
                .checks
                .iter()
                .map(|c| (c.name.clone(), c.status.as_str().into(), c.message.clone()))
                .collect(),
        }
    }
}

/// The authors with the most books (ties by key), at most `n`; one without a name is named by key.
pub fn top_authors(averages: &[AuthorAverage], n: usize) -> Vec<AuthorAverage> {
    let mut ranked: Vec<&AuthorAverage> = averages.iter().collect();
    ranked.sort_by(|a, b| b.total_books.cmp(&a.total_books).then_with(|| a.key.cmp(&b.key)));
    let named =
        |a: &AuthorAverage| AuthorAverage { name: Some(a.name.clone().unwrap_or_else(|| a.key.clone())), ..a.clone() };
    ranked.into_iter().take(n).map(named).collect()
}

/// How the authors' two yearly averages are distributed (authors without a dated book have none).
pub fn distribution(averages: &[AuthorAverage]) -> Vec<Bucket> {
    let bucket = |value: f64| BUCKETS.iter().position(|&bound| value <= bound + 1e-9).unwrap_or(BUCKETS.len());
    let mut active = [0u64; BUCKETS.len() + 1];
    let mut career = [0u64; BUCKETS.len() + 1];
    for a in averages {
        if let Some(v) = a.per_active_year {
            active[bucket(v)] += 1;
        }
        if let Some(v) = a.per_career_year {
            career[bucket(v)] += 1;
        }
    }
    let mut labels = vec!["up to 1".to_string()];
    labels.extend(BUCKETS.windows(2).map(|w| format!("{} – {}", w[0], w[1])));
    labels.push(format!("over {}", BUCKETS[BUCKETS.len() - 1]));
    labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| Bucket { label, per_active_year: active[i], per_career_year: career[i] })
        .collect()
}

/// The authors whose book count changed most since the previous day (gone: after 0; new: before 0).
pub fn movers(current: &[AuthorAverage], previous: &[AuthorAverage], n: usize) -> Vec<Mover> {
    let mut both: BTreeMap<&str, (Option<&AuthorAverage>, Option<&AuthorAverage>)> = BTreeMap::new();
    for a in current {
        both.entry(&a.key).or_default().0 = Some(a);
    }
    for a in previous {
        both.entry(&a.key).or_default().1 = Some(a);
    }
    let mut moved: Vec<Mover> = both
        .into_iter()
        .filter_map(|(key, (now, then))| {
            let (after, before) = (now.map_or(0, |a| a.total_books), then.map_or(0, |a| a.total_books));
            let name = now.or(then).and_then(|a| a.name.clone()).unwrap_or_else(|| key.to_string());
            (after != before).then(|| Mover { key: key.to_string(), name, before, after, change: after - before })
        })
        .collect();
    moved.sort_by(|a, b| b.change.abs().cmp(&a.change.abs()).then_with(|| a.key.cmp(&b.key)));
    moved.truncate(n);
    moved
}

/// Rejected records counted by kind of reason: the quoted values and parser details of a reason
/// (`key "x" is not a work key`, `not JSON: expected value at line 1`) are left out of its kind.
pub fn rejects_by_reason<'a>(reasons: impl IntoIterator<Item = &'a str>) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for reason in reasons {
        let kind = match reason.split_once(':') {
            Some((head, _)) if head == "not JSON" => head.to_string(),
            _ => {
                let mut kind = String::with_capacity(reason.len());
                let mut quoted = false;
                for c in reason.chars() {
                    match (c, quoted) {
                        ('"', false) => {
                            quoted = true;
                            kind.push('…');
                        }
                        ('"', true) => quoted = false,
                        (_, true) => {}
                        (c, false) => kind.push(c),
                    }
                }
                kind
            }
        };
        *counts.entry(kind).or_default() += 1;
    }
    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}

impl Headline {
    /// The derived fields: the dated share and the span of years.
    pub fn derive(mut self) -> Self {
        self.dated_percent =
            (self.works > 0).then(|| (self.dated_works as f64 * 1000.0 / self.works as f64).round() / 10.0);
        self.years_spanned = match (self.first_year, self.last_year) {
            (Some(first), Some(last)) => Some(last - first + 1),
            _ => None,
        };
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(key: &str, total: i64, active: Option<f64>, career: Option<f64>) -> AuthorAverage {
        AuthorAverage {
            key: key.into(),
            name: Some(format!("Name {key}")),
            total_books: total,
            dated_books: total,
            first_year: Some(1990),
            last_year: Some(2000),
            per_active_year: active,
            per_career_year: career,
        }
    }

    #[test]
    fn top_authors_rank_by_books_then_key() {
        let authors =
            [author("OL2A", 3, Some(1.0), Some(0.5)), author("OL1A", 3, None, None), author("OL3A", 9, None, None)];
        let top: Vec<(String, i64)> = top_authors(&authors, 2).into_iter().map(|a| (a.key, a.total_books)).collect();
        assert_eq!(top, [("OL3A".to_string(), 9), ("OL1A".to_string(), 3)]);
    }

    #[test]
    fn averages_fall_in_their_buckets_and_undated_authors_in_none() {
        let authors = [
            author("a", 1, Some(1.0), Some(0.25)),
            author("b", 2, Some(1.5), Some(1.5)),
            author("c", 9, Some(6.0), Some(2.5)),
            author("d", 1, None, None),
        ];
        let buckets = distribution(&authors);
        let labels: Vec<&str> = buckets.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["up to 1", "1 – 1.5", "1.5 – 2", "2 – 3", "3 – 5", "over 5"]);
        let active: Vec<u64> = buckets.iter().map(|b| b.per_active_year).collect();
        let career: Vec<u64> = buckets.iter().map(|b| b.per_career_year).collect();
        assert_eq!(active, [1, 1, 0, 0, 0, 1]);
        assert_eq!(career, [1, 1, 0, 1, 0, 0]);
    }

    #[test]
    fn movers_include_new_and_gone_authors_biggest_change_first() {
        let now = [author("OL1A", 5, None, None), author("OL2A", 2, None, None), author("OL4A", 1, None, None)];
        let then = [author("OL1A", 2, None, None), author("OL2A", 2, None, None), author("OL3A", 4, None, None)];
        let moved: Vec<(String, i64, i64, i64)> =
            movers(&now, &then, 10).into_iter().map(|m| (m.key, m.before, m.after, m.change)).collect();
        assert_eq!(
            moved,
            [("OL3A".to_string(), 4, 0, -4), ("OL1A".to_string(), 2, 5, 3), ("OL4A".to_string(), 0, 1, 1),]
        );
    }

    #[test]
    fn rejects_are_counted_by_kind_of_reason() {
        let reasons = [
            "key \"/works/x\" is not a work key (/works/OL…W)",
            "key \"/works/y\" is not a work key (/works/OL…W)",
            "not JSON: expected value at line 1 column 1",
            "title must be a string, found a number",
        ];
        assert_eq!(
            rejects_by_reason(reasons),
            [
                ("key … is not a work key (/works/OL…W)".to_string(), 2),
                ("not JSON".to_string(), 1),
                ("title must be a string, found a number".to_string(), 1),
            ]
        );
    }

    #[test]
    fn the_headline_derives_its_share_and_span() {
        let h =
            Headline { works: 3, dated_works: 2, first_year: Some(1990), last_year: Some(1999), ..Headline::default() };
        let h = h.derive();
        assert_eq!((h.dated_percent, h.years_spanned), (Some(66.7), Some(10)));
        assert_eq!(Headline::default().derive().dated_percent, None);
    }
}
