//! Fetches a subject's works and authors into the raw zone (`bookpipe fetch`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::FetchSettings;

pub async fn run(lake: &Lake, settings: &FetchSettings) -> anyhow::Result<Outcome> {
    super::task("fetch", &settings.partition, crate::fetch::fetch(lake, settings)).await
}
