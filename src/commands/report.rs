//! Writes a subject's report page for one ds into the lake (`bookpipe report`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::settings::ReportSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, settings: &ReportSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(Some(&settings.warehouse)).report(&settings.partition);
    super::task(lake, lineage, "report", &settings.partition, io, crate::report::report(lake, settings)).await
}
