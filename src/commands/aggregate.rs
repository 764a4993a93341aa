//! Computes the answers of a loaded slice and prints their summary (`bookpipe aggregate`): one JSON
//! document with `--output json`, a table when stdout is a terminal, nothing otherwise.

use std::io::IsTerminal;

use crate::aggregate::{Summary, render};
use crate::cli::OutputFormat;
use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::settings::AggregateSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, settings: &AggregateSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(Some(&settings.warehouse)).aggregate(&settings.partition);
    let work = crate::aggregate::aggregate(lake, settings);
    let summary = super::task(lake, lineage, "aggregate", &settings.partition, io, work).await?;
    print(&summary, settings.output)?;
    Ok(Outcome::Done)
}

fn print(summary: &Summary, output: OutputFormat) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string(summary)?),
        OutputFormat::Auto if std::io::stdout().is_terminal() => print!("{}", render(summary)),
        OutputFormat::Auto => {}
    }
    Ok(())
}
