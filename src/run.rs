//! `run`: the whole chain — fetch → transform → load → aggregate — for each subject of one ds, in
//! one process (the laptop path, and the README's "run the main job"). Each step keeps its own
//! idempotence: a partition already complete is skipped, not redone.

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::{AggregateSettings, LoadSettings, RunSettings};

pub async fn run(lake: &Lake, s: &RunSettings) -> anyhow::Result<Outcome> {
    for subject in &s.subjects {
        let mut fetch = s.fetch.clone();
        fetch.subject = subject.clone();
        let mut transform = s.transform.clone();
        transform.subject = subject.clone();
        let load = LoadSettings { ds: s.ds, subject: subject.clone(), warehouse: s.warehouse.clone() };
        let aggregate =
            AggregateSettings { ds: s.ds, subject: subject.clone(), warehouse: s.warehouse.clone(), output: s.output };
        crate::fetch::run(lake, &fetch).await?;
        crate::transform::run(lake, &transform).await?;
        crate::load::run(lake, &load).await?;
        crate::aggregate::run(lake, &aggregate).await?;
    }
    Ok(Outcome::Done)
}
