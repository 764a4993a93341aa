//! Builds a silver partition from its raw partition (`bookpipe transform`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::settings::TransformSettings;

pub async fn run(lake: &Lake, lineage: &Lineage, settings: &TransformSettings) -> anyhow::Result<Outcome> {
    let io = lineage.namer(None).transform(&settings.partition);
    super::task(lake, lineage, "transform", &settings.partition, io, crate::transform::transform(lake, settings)).await
}
