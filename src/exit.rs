//! Process exit codes, one per kind of outcome, so an orchestrator can tell "nothing to do" from
//! "bad input" from "try again later" without parsing logs.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success: the partition was written |
//! | 1 | failure: network, storage or data error; a retry may succeed |
//! | 2 | bad input: a flag or environment variable is wrong (clap's usage errors use 2 too) |
//! | 3 | nothing to do: the partition is already complete (use `--force` to redo it); another code with `--nothing-to-do-exit-code` |
//! | 4 | missing input: the upstream partition is absent or incomplete; run the earlier task first |
//! | 5 | refused by the quality gate: `load` found the day's data implausible (works fell beyond `--max-drop`, keys repeat, a day older than the newest loaded one that is no backfill) and loaded nothing; a retry gives the same answer: look at the data, then `--accept-drop` or `--backfill` |

use std::fmt;

use crate::cli::Flag;

/// What a task reports when it returns normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The task wrote its partition.
    Done,
    /// The partition was already complete; nothing was written.
    NothingToDo,
}

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Success = 0,
    Failure = 1,
    BadInput = 2,
    NothingToDo = 3,
    MissingInput = 4,
    Refused = 5,
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// Input that was refused at the edge: names the flag (and its env var) and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    pub flag: Flag,
    pub message: String,
}

impl BadInput {
    pub fn new(flag: Flag, message: impl Into<String>) -> Self {
        Self { flag, message: message.into() }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value for {}: {}", self.flag, self.message)
    }
}

impl std::error::Error for BadInput {}

/// An upstream partition that a task needs is absent or has no manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is missing or incomplete at {path}: {hint}")]
pub struct MissingInput {
    pub what: String,
    pub path: String,
    pub hint: String,
}

/// A day `load`'s quality gate refused (`crate::quality`): nothing was loaded. Exit code 5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the quality gate refused subject {subject} for ds {ds}, so nothing was loaded and the warehouse keeps its \
     previous slice and gold: {reasons} (every check: {path})"
)]
pub struct Refused {
    pub subject: String,
    pub ds: String,
    /// Where the day's `checks.json` was committed.
    pub path: String,
    /// Every failed check, and how it can be lifted.
    pub reasons: String,
}

/// The exit code for a task's result: the error chain is searched for the typed causes.
pub fn code_for(result: &anyhow::Result<Outcome>) -> Code {
    match result {
        Ok(Outcome::Done) => Code::Success,
        Ok(Outcome::NothingToDo) => Code::NothingToDo,
        Err(err) => {
            if err.chain().any(|cause| cause.is::<Refused>()) {
                Code::Refused
            } else if err.chain().any(|cause| cause.is::<BadInput>()) {
                Code::BadInput
            } else if err.chain().any(|cause| cause.is::<MissingInput>()) {
                Code::MissingInput
            } else {
                Code::Failure
            }
        }
    }
}

/// Prints a failed result's whole cause chain on stderr (logs may be JSON; this line is for people)
/// and returns the exit code.
pub fn report(result: anyhow::Result<Outcome>) -> Code {
    let code = code_for(&result);
    if let Err(err) = &result {
        tracing::error!(exit_code = code as u8, error = format!("{err:#}"), "task failed");
        eprintln!("error: {err:#}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_follow_the_cause_not_the_context() {
        let bad: anyhow::Result<Outcome> =
            Err(BadInput::new(crate::cli::flags::DS, "not a date")).context("resolving settings");
        assert_eq!(code_for(&bad), Code::BadInput);
        let missing: anyhow::Result<Outcome> =
            Err(MissingInput { what: "raw partition".into(), path: "raw/x".into(), hint: "run fetch".into() }.into());
        assert_eq!(code_for(&missing), Code::MissingInput);
        assert_eq!(code_for(&Err(anyhow::anyhow!("boom"))), Code::Failure);
        let refused = Refused {
            subject: "love".into(),
            ds: "2024-05-02".into(),
            path: "quality/subject=love/ds=2024-05-02/checks.json".into(),
            reasons: "volume.works.last_day: …".into(),
        };
        let refused: anyhow::Result<Outcome> = Err(anyhow::Error::from(refused).context("load of subject love failed"));
        assert_eq!(code_for(&refused), Code::Refused);
        assert_eq!(Code::Refused as u8, 5);
        assert_eq!(code_for(&Ok(Outcome::NothingToDo)), Code::NothingToDo);
        assert_eq!(code_for(&Ok(Outcome::Done)), Code::Success);
    }
}
