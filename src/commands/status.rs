//! Prints the partition grid of a range of days (`bookpipe status`): a table, or one JSON document
//! with `--output json`. Always exits 0: it reports, it does not judge.

use crate::cli::OutputFormat;
use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::StatusSettings;

pub async fn run(lake: &Lake, settings: &StatusSettings) -> anyhow::Result<Outcome> {
    let grid = crate::status::status(lake, settings).await?;
    match settings.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&grid)?),
        OutputFormat::Auto => print!("{}", crate::status::render(&grid)),
    }
    Ok(Outcome::Done)
}
