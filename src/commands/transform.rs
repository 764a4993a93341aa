//! Builds a silver partition from its raw partition (`bookpipe transform`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::TransformSettings;

pub async fn run(lake: &Lake, settings: &TransformSettings) -> anyhow::Result<Outcome> {
    super::task("transform", &settings.partition, crate::transform::transform(lake, settings)).await
}
