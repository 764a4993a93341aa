//! The partition every task works on: a subject and a logical date, each checked at the edge.
//!
//! A [`Partition`] travels as one value from the command line to the lake layout and the
//! warehouse slice, so no signature takes the pair apart and no copy of it is patched.

use std::fmt;

use chrono::NaiveDate;

use crate::cli::{Flag, PartitionArgs, flags};
use crate::exit::BadInput;

/// One `(subject, ds)`: a folder in every zone of the lake and a slice of every warehouse table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    pub subject: Subject,
    pub ds: Ds,
}

impl Partition {
    pub fn new(subject: Subject, ds: Ds) -> Self {
        Self { subject, ds }
    }

    /// The partition a task's `--ds` and `--subject` name.
    pub fn resolve(args: &PartitionArgs) -> Result<Self, BadInput> {
        Ok(Self { ds: Ds::parse(flags::DS, &args.ds)?, subject: Subject::parse(flags::SUBJECT, &args.subject)? })
    }
}

/// A logical date: a real calendar day written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ds(NaiveDate);

impl Ds {
    pub fn parse(flag: Flag, raw: &str) -> Result<Self, BadInput> {
        let well_formed = raw.len() == 10
            && raw.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        if !well_formed {
            return Err(BadInput::new(flag, format!("{raw:?} is not a date written YYYY-MM-DD")));
        }
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Ds)
            .map_err(|_| BadInput::new(flag, format!("{raw:?} is not a real calendar date")))
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl From<NaiveDate> for Ds {
    fn from(date: NaiveDate) -> Self {
        Ds(date)
    }
}

impl fmt::Display for Ds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// An Open Library subject key: `science_fiction`, `place:london`, `person:sherlock_holmes`,
/// `time:19th_century`. Lower-cased; it becomes both a URL path segment and a lake partition value,
/// the folder name `subject=<key>` that object_store, S3, Hive-style readers (Spark, pyarrow and
/// DuckDB percent-decode it) and Athena's partition projection (it puts the value into the table's
/// `storage.location.template` as it is) must all read back as the same string. So anything that
/// could escape either (`/`, `..`, whitespace, control characters), that no Open Library key holds,
/// or that the lake would store escaped is refused (docs/engines.md has the whole reasoning).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject(String);

const SUBJECT_PREFIXES: [&str; 3] = ["place", "person", "time"];

/// Characters no Open Library subject key holds: Open Library drops them from subject names
/// (`_SUBJECT_CHARS_TO_DROP` in openlibrary/utils/__init__.py; `:` only ever follows a prefix). Each
/// would be a hazard in the lake too: `/`, `=`, `%` and `\` change what a Hive folder name means,
/// `$` breaks the projection's template substitution (a Java replacement string in Trino's
/// implementation), `+` reads as a space in form-encoded keys (S3 event notifications), and the rest
/// object_store writes percent-encoded.
const NEVER_IN_A_KEY: &str = ";/?@&=+$,<>#%\"{}|\\^[]`";

/// Characters Open Library keeps that the lake cannot hold as they are: object_store percent-encodes
/// them in object keys (`subject=a%7Eb`), which pyarrow and DuckDB decode back while Athena's
/// projection looks for the folder `subject=a~b`: the partition would vanish from Athena alone. Every
/// non-ASCII character is escaped the same way, byte by byte (`ó` as `%C3%B3`), and Hive's and
/// Spark's unescaping turns each `%XX` into one character (`Ã³`): a third reading.
fn escaped_in_the_lake(c: char) -> bool {
    matches!(c, '~' | '*') || !c.is_ascii()
}

impl Subject {
    pub fn parse(flag: Flag, raw: &str) -> Result<Self, BadInput> {
        let slug = raw.to_lowercase();
        let refuse = |why: &str| Err(BadInput::new(flag, format!("subject {raw:?} {why}")));
        if slug.is_empty() {
            return refuse("is empty; give a subject key such as science_fiction");
        }
        if slug.len() > 200 {
            return refuse("is longer than 200 bytes");
        }
        if let Some(c) = slug.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return refuse(&format!("contains {c:?}; Open Library writes spaces as '_'"));
        }
        if let Some(c) = slug.chars().find(|c| NEVER_IN_A_KEY.contains(*c)) {
            return refuse(&format!(
                "contains {c:?}, which cannot be part of a subject key (Open Library drops {NEVER_IN_A_KEY} from subject names)"
            ));
        }
        if let Some(c) = slug.chars().find(|c| escaped_in_the_lake(*c)) {
            let escaped: String = c.to_string().bytes().map(|b| format!("%{b:02X}")).collect();
            return refuse(&format!(
                "contains {c:?}, which the lake would store escaped, as {escaped}: engines would read the \
                 subject back differently (Athena's partition projection looks for it unescaped); \
                 subject keys are taken in ASCII, without '~' and '*'"
            ));
        }
        if slug.contains("..") || slug.starts_with('.') {
            return refuse("contains a path step ('..' or a leading '.')");
        }
        if let Some((prefix, rest)) = slug.split_once(':') {
            if !SUBJECT_PREFIXES.contains(&prefix) {
                return refuse("has an unknown prefix; Open Library knows place:, person: and time:");
            }
            if rest.is_empty() || rest.contains(':') {
                return refuse("needs one name after its prefix, e.g. place:london");
            }
        }
        Ok(Subject(slug))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Flag = flags::DS;

    #[test]
    fn ds_accepts_real_dates_only() {
        assert_eq!(Ds::parse(F, "2024-02-29").unwrap().to_string(), "2024-02-29");
        for bad in ["2024-02-30", "2023-02-29", "2024-2-3", "20240501", "2024-05-01T00:00", "", "yesterday"] {
            let err = Ds::parse(F, bad).unwrap_err();
            assert_eq!(err.flag, F, "{bad}");
        }
        assert!(Ds::parse(F, "2024-02-30").unwrap_err().message.contains("not a real calendar date"));
    }

    #[test]
    fn subjects_are_lowercased_and_prefixes_checked() {
        assert_eq!(Subject::parse(F, "Science_Fiction").unwrap().as_str(), "science_fiction");
        assert_eq!(Subject::parse(F, "place:london").unwrap().as_str(), "place:london");
        assert_eq!(Subject::parse(F, "person:sherlock_holmes").unwrap().as_str(), "person:sherlock_holmes");
        assert_eq!(Subject::parse(F, "time:19th_century").unwrap().as_str(), "time:19th_century");
        for good in ["person:sherlock_holmes_(fictitious_character)", "o'brien", "science-fiction_2", "c.s._lewis!"] {
            assert_eq!(Subject::parse(F, good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "science fiction",
            "tab\there",
            "nul\0",
            "..",
            "x?y=1",
            "planet:mars",
            "place:",
            ".hidden",
            "a$b",
            "a+b",
            "a,b",
            "x[1]",
            "a~b",
            "a*b",
            "ficción",
            "中文",
        ] {
            assert!(Subject::parse(F, bad).is_err(), "{bad:?} should be refused");
        }
        let err = Subject::parse(F, "a~b").unwrap_err();
        assert!(
            err.message.contains("'~'") && err.message.contains("as %7E:") && err.message.contains("Athena"),
            "{}",
            err.message
        );
        let err = Subject::parse(F, "Ficción").unwrap_err();
        assert!(err.message.contains("'ó'") && err.message.contains("as %C3%B3:"), "{}", err.message);
        let err = Subject::parse(F, "a$b").unwrap_err();
        assert!(err.message.contains("'$'") && err.message.contains("Open Library drops"), "{}", err.message);
    }
}
