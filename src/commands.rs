//! The command layer: resolves the typed command line into checked settings, opens the lake and
//! the lineage client, and hands the command to its one home — the task's own module (`fetch`,
//! `transform`, `export`, `load`, `aggregate`, `report`; each announces itself through
//! [`crate::task`]) or [`crate::status`] — and chains the tasks for `run` ([`run_chain`]). `anyhow`
//! lives here and in the tasks' results; the layers below return typed errors.

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::lineage::datasets::TaskIo;
use crate::settings::{
    AggregateSettings, ExportSettings, FetchSettings, GlobalSettings, LoadSettings, ReportSettings, RunSettings,
    StatusSettings, TransformSettings,
};

/// Resolves the settings of the chosen command and runs it.
pub async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    let global = GlobalSettings::resolve(&cli.global)?;
    let lake = Lake::open(&global.lake).with_context(|| format!("opening the lake at {}", global.lake))?;
    // The clock is read here, at the edge, once: fetch stamps its data with it and `run` takes
    // today's date from it.
    let now = chrono::Utc::now();
    let lineage = Lineage::new(&global.lineage, &global.lake);
    let (lake, lineage) = (&lake, &lineage);
    match cli.command {
        Command::Fetch(args) => crate::fetch::fetch(lake, lineage, &FetchSettings::resolve(&args, now)?).await,
        Command::Transform(args) => {
            crate::transform::transform(lake, lineage, &TransformSettings::resolve(&args)?).await
        }
        Command::Export(args) => crate::export::export(lake, lineage, &ExportSettings::resolve(&args)?).await,
        Command::Load(args) => crate::load::load(lake, lineage, &LoadSettings::resolve(&args)?).await,
        Command::Aggregate(args) => {
            crate::aggregate::aggregate(lake, lineage, &AggregateSettings::resolve(&args)?).await
        }
        Command::Run(args) => run_chain(lake, lineage, &RunSettings::resolve(&args, now)?).await,
        Command::Report(args) => crate::report::report(lake, lineage, &ReportSettings::resolve(&args)?).await,
        Command::Status(args) => crate::status::print(lake, &StatusSettings::resolve(&args)?).await,
    }
}

/// `bookpipe run`: the whole chain — fetch → transform → load → aggregate → report, the five
/// tasks — for each subject of one ds, in one process (the laptop path, and the README's "run the
/// main job"). Each step keeps its own idempotence: a partition already complete is skipped, not
/// redone. For lineage, `run` is a job of its own (`bookpipe_openlibrary.run`, no datasets) whose
/// run is the parent of every task it chains.
pub async fn run_chain(lake: &Lake, lineage: &Lineage, s: &RunSettings) -> anyhow::Result<Outcome> {
    let ds = s.subjects.first().map(|subject| subject.fetch.partition.ds);
    let chain = lineage.start("run", ds, TaskIo::default(), "JOB").await;
    let tasks = lineage.children_of(&chain);
    let result = async {
        for subject in &s.subjects {
            crate::fetch::fetch(lake, &tasks, &subject.fetch).await?;
            crate::transform::transform(lake, &tasks, &subject.transform).await?;
            crate::load::load(lake, &tasks, &subject.load).await?;
            crate::aggregate::aggregate(lake, &tasks, &subject.aggregate).await?;
            crate::report::report(lake, &tasks, &subject.report).await?;
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
