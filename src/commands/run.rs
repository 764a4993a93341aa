//! `run`: the whole chain — fetch → transform → load → aggregate → report — for each subject of one ds, in
//! one process (the laptop path, and the README's "run the main job"). Each step keeps its own
//! idempotence: a partition already complete is skipped, not redone. For lineage, `run` is a job of
//! its own (`bookpipe_openlibrary.run`, no datasets) whose run is the parent of every task it chains.

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::lineage::datasets::TaskIo;
use crate::settings::RunSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, s: &RunSettings) -> anyhow::Result<Outcome> {
    let ds = s.subjects.first().map(|subject| subject.fetch.partition.ds);
    let chain = lineage.start("run", ds, TaskIo::default(), "JOB").await;
    let tasks = lineage.children_of(&chain);
    let result = async {
        for subject in &s.subjects {
            super::fetch::run(lake, &tasks, &subject.fetch).await?;
            super::transform::run(lake, &tasks, &subject.transform).await?;
            super::load::run(lake, &tasks, &subject.load).await?;
            super::aggregate::run(lake, &tasks, &subject.aggregate).await?;
            super::report::run(lake, &tasks, &subject.report).await?;
        }
        anyhow::Ok(Outcome::Done)
    }
    .await;
    match &result {
        Ok(_) => chain.complete(lake, false).await,
        Err(err) => chain.fail(&format!("{err:#}")).await,
    }
    result
}
