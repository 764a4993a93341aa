//! Loads a silver partition into the warehouse (`bookpipe load`).

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::settings::LoadSettings;

pub async fn run(lake: &Lake, settings: &LoadSettings) -> anyhow::Result<Outcome> {
    super::task("load", &settings.partition, crate::load::load(lake, settings)).await
}
