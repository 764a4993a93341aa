//! Writes a silver partition as files a person can open (`bookpipe export`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::ExportSettings;

pub async fn run(lake: &Lake, settings: &ExportSettings) -> anyhow::Result<Outcome> {
    super::task("export", &settings.partition, crate::export::export(lake, settings)).await
}
