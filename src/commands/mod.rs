//! The command layer: resolves the typed command line into checked settings, opens the lake, runs
//! one command, and prints what it has to say on stdout. One file per command; each wraps its task
//! in [`task`], which puts `task`, `subject` and `ds` on every log line, names the partition in
//! any error, and sends the task's OpenLineage events (START, then COMPLETE or FAIL) with the
//! datasets the command names. `anyhow` lives here and in the tasks' results; the layers below
//! return typed errors.

use anyhow::Context;
use tracing::Instrument;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::lineage::datasets::TaskIo;
use crate::settings::{
    AggregateSettings, ExportSettings, FetchSettings, GlobalSettings, LoadSettings, Partition, ReportSettings,
    RunSettings, StatusSettings, TransformSettings,
};

pub mod aggregate;
pub mod export;
pub mod fetch;
pub mod load;
pub mod report;
pub mod run;
pub mod status;
pub mod transform;

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
        Command::Fetch(args) => fetch::run(lake, lineage, &FetchSettings::resolve(&args, now)?).await,
        Command::Transform(args) => transform::run(lake, lineage, &TransformSettings::resolve(&args)?).await,
        Command::Export(args) => export::run(lake, lineage, &ExportSettings::resolve(&args)?).await,
        Command::Load(args) => load::run(lake, lineage, &LoadSettings::resolve(&args)?).await,
        Command::Aggregate(args) => aggregate::run(lake, lineage, &AggregateSettings::resolve(&args)?).await,
        Command::Run(args) => run::run(lake, lineage, &RunSettings::resolve(&args, now)?).await,
        Command::Report(args) => report::run(lake, lineage, &ReportSettings::resolve(&args)?).await,
        Command::Status(args) => status::run(lake, &StatusSettings::resolve(&args)?).await,
    }
}

/// What a task's result says about its outputs: whether this run wrote them (a partition that was
/// already complete was not), for the statistics of the COMPLETE event.
trait Wrote {
    fn wrote(&self) -> bool;
}

impl Wrote for Outcome {
    fn wrote(&self) -> bool {
        *self == Outcome::Done
    }
}

impl Wrote for crate::aggregate::Summary {
    fn wrote(&self) -> bool {
        true
    }
}

/// Runs one task on one partition: inside a span that puts `task`, `subject` and `ds` on every log
/// line, with the partition named in any error it returns, announced to `lineage` with the
/// datasets `io` names.
async fn task<T: Wrote>(
    lake: &Lake,
    lineage: &Lineage,
    name: &'static str,
    partition: &Partition,
    io: TaskIo,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let (subject, ds) = (&partition.subject, partition.ds);
    let span = tracing::info_span!("task", task = name, subject = %subject, ds = %ds);
    let announced = async {
        let run = lineage.start(name, Some(ds), io, "TASK").await;
        let result = work.await;
        match &result {
            Ok(done) => run.complete(lake, done.wrote()).await,
            Err(err) => run.fail(&format!("{err:#}")).await,
        }
        result
    };
    announced.instrument(span).await.with_context(|| format!("{name} of subject {subject} for ds {ds} failed"))
}
