//! Writes a silver partition as files a person can open (`bookpipe export`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::settings::ExportSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, settings: &ExportSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(None).export(&settings.partition, &crate::lineage::datasets::absolute(&settings.out));
    super::task(lake, lineage, "export", &settings.partition, io, crate::export::export(lake, settings)).await
}
