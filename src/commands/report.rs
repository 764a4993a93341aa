//! Writes a subject's report page for one ds into the lake (`bookpipe report`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::ReportSettings;

pub async fn run(lake: &Lake, settings: &ReportSettings) -> anyhow::Result<Outcome> {
    super::task("report", &settings.partition, crate::report::report(lake, settings)).await
}
