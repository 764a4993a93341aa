//! The command layer: resolves the typed command line into checked settings, opens the lake, runs
//! one command, and prints what it has to say on stdout. One file per command; each wraps its task
//! in [`task`], which puts `task`, `subject` and `ds` on every log line and names the partition in
//! any error. `anyhow` lives here and in the tasks' results; the layers below return typed errors.

use anyhow::Context;
use tracing::Instrument;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;
use crate::lake::Lake;
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
    match cli.command {
        Command::Fetch(args) => fetch::run(&lake, &FetchSettings::resolve(&args, now)?).await,
        Command::Transform(args) => transform::run(&lake, &TransformSettings::resolve(&args)?).await,
        Command::Export(args) => export::run(&lake, &ExportSettings::resolve(&args)?).await,
        Command::Load(args) => load::run(&lake, &LoadSettings::resolve(&args)?).await,
        Command::Aggregate(args) => aggregate::run(&lake, &AggregateSettings::resolve(&args)?).await,
        Command::Run(args) => run::run(&lake, &RunSettings::resolve(&args, now)?).await,
        Command::Report(args) => report::run(&lake, &ReportSettings::resolve(&args)?).await,
        Command::Status(args) => status::run(&lake, &StatusSettings::resolve(&args)?).await,
    }
}

/// Runs one task on one partition: inside a span that puts `task`, `subject` and `ds` on every log
/// line, and with the partition named in any error it returns.
async fn task<T>(
    name: &'static str,
    partition: &Partition,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let (subject, ds) = (&partition.subject, partition.ds);
    let span = tracing::info_span!("task", task = name, subject = %subject, ds = %ds);
    work.instrument(span).await.with_context(|| format!("{name} of subject {subject} for ds {ds} failed"))
}
