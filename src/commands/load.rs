//! Loads a silver partition into the warehouse (`bookpipe load`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::settings::LoadSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, settings: &LoadSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(Some(&settings.warehouse)).load(&settings.partition);
    super::task(lake, lineage, "load", &settings.partition, io, crate::load::load(lake, settings)).await
}
