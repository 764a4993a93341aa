//! `run`: the whole chain — fetch → transform → load → aggregate → report — for each subject of one ds, in
//! one process (the laptop path, and the README's "run the main job"). Each step keeps its own
//! idempotence: a partition already complete is skipped, not redone.

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::RunSettings;

pub async fn run(lake: &Lake, s: &RunSettings) -> anyhow::Result<Outcome> {
    for subject in &s.subjects {
        super::fetch::run(lake, &subject.fetch).await?;
        super::transform::run(lake, &subject.transform).await?;
        super::load::run(lake, &subject.load).await?;
        super::aggregate::run(lake, &subject.aggregate).await?;
        super::report::run(lake, &subject.report).await?;
    }
    Ok(Outcome::Done)
}
