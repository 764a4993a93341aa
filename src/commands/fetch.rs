//! Fetches a subject's works and authors into the raw zone (`bookpipe fetch`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::settings::FetchSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, settings: &FetchSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(None).fetch(&settings.http.api_url, &settings.partition);
    super::task(lake, lineage, "fetch", &settings.partition, io, crate::fetch::fetch(lake, settings)).await
}
