//! The gate's documents in the lake, `quality/subject=S/ds=D/checks.json`, committed through the
//! commit envelope like every partition (its `_manifest.json` removed first, written last), and
//! the subject's history read back from them.
//!
//! The manifest's `details` carry the verdict, whether the day was loaded and its metrics, so the
//! history costs one listing and one small read per day it needs; `checks.json` is the whole
//! result, for people, `status` and the report.

use chrono::Utc;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::{Backfill, Baseline, Check, Evaluation, LoadedDay, Metrics, QUALITY_LAYOUT, Status, Thresholds, Verdict};
use crate::lake::commit::{self, Input, Manifest, Object};
use crate::lake::{Lake, layout};
use crate::settings::{Ds, Partition};

/// What the manifest of a quality partition records (`details`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityDetails {
    pub layout: u32,
    pub verdict: Verdict,
    /// The warehouse slice was replaced with this partition (false when refused).
    pub loaded: bool,
    pub warnings: u64,
    pub failures: u64,
    pub metrics: Metrics,
}

/// `checks.json`: every check of a day, with what it compared and the flags it ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub subject: String,
    pub ds: String,
    pub layout: u32,
    pub verdict: Verdict,
    pub loaded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Backfill>,
    pub accept_drop: bool,
    pub thresholds: ThresholdsRecord,
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    pub checks: Vec<Check>,
}

/// The thresholds as recorded (the constants too, so a document explains itself).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdsRecord {
    pub max_drop: f64,
    pub warn_change: f64,
    pub days: usize,
    pub share_warn_points: f64,
}

impl Document {
    pub fn new(
        partition: &Partition,
        evaluation: Evaluation,
        metrics: Metrics,
        thresholds: Thresholds,
        backfill: Option<Backfill>,
        accept_drop: bool,
    ) -> Self {
        Self {
            subject: partition.subject.to_string(),
            ds: partition.ds.to_string(),
            layout: QUALITY_LAYOUT,
            loaded: evaluation.verdict != Verdict::Refused,
            verdict: evaluation.verdict,
            backfill,
            accept_drop,
            thresholds: ThresholdsRecord {
                max_drop: thresholds.max_drop,
                warn_change: thresholds.warn_change,
                days: thresholds.days,
                share_warn_points: super::SHARE_WARN_POINTS,
            },
            metrics,
            baseline: evaluation.baseline,
            checks: evaluation.checks,
        }
    }

    /// Checks with this status.
    pub fn count(&self, status: Status) -> u64 {
        self.checks.iter().filter(|c| c.status == status).count() as u64
    }
}

/// The subject's loaded days around a ds, as the gate needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Up to `days` loaded days before the ds, oldest first.
    pub before: Vec<LoadedDay>,
    /// The newest loaded day after the ds.
    pub newer: Option<Ds>,
    /// The ds itself was loaded before (a re-run).
    pub loaded_before: bool,
}

/// Reads the history of `partition`'s subject: one listing, then manifests from the newest day
/// down until `days` loaded days before the ds are found.
pub async fn history(lake: &Lake, partition: &Partition, days: usize) -> anyhow::Result<History> {
    let folders = lake.list_folders(&layout::quality_subject_prefix(&partition.subject)).await?;
    let mut dss: Vec<Ds> = folders.iter().filter_map(layout::parse_ds_folder).collect();
    dss.sort();
    let mut history = History::default();
    for &ds in dss.iter().rev() {
        if ds < partition.ds && history.before.len() >= days {
            break;
        }
        if ds > partition.ds && history.newer.is_some() {
            continue;
        }
        let day = Partition::new(partition.subject.clone(), ds);
        let Some(details) = read_details(lake, &day).await? else { continue };
        if !details.loaded || details.layout != QUALITY_LAYOUT {
            continue;
        }
        match ds.cmp(&partition.ds) {
            std::cmp::Ordering::Greater => history.newer = Some(ds),
            std::cmp::Ordering::Equal => history.loaded_before = true,
            std::cmp::Ordering::Less => history.before.push(LoadedDay { ds, metrics: details.metrics }),
        }
    }
    history.before.reverse();
    Ok(history)
}

/// The committed details of a day's quality partition, if there is one.
pub async fn read_details(lake: &Lake, partition: &Partition) -> anyhow::Result<Option<QualityDetails>> {
    #[derive(Deserialize)]
    struct View {
        details: QualityDetails,
    }
    let folder = layout::quality_partition(partition);
    Ok(commit::read_as::<View>(lake, &folder).await?.map(|(view, _, _)| view.details))
}

/// The committed `checks.json` of a day, if there is one.
pub async fn read_document(lake: &Lake, partition: &Partition) -> anyhow::Result<Option<Document>> {
    let folder = layout::quality_partition(partition);
    if commit::read_as::<serde::de::IgnoredAny>(lake, &folder).await?.is_none() {
        return Ok(None);
    }
    let path = layout::quality_checks(partition);
    let bytes = lake.get(&path).await?;
    Ok(Some(serde_json::from_slice(&bytes).map_err(|err| anyhow::anyhow!("{path} is not a quality document: {err}"))?))
}

/// Commits `document` as the quality partition of `partition`, computed from the silver manifests
/// `inputs`. Returns the path of `checks.json`.
pub async fn commit(
    lake: &Lake,
    partition: &Partition,
    inputs: Vec<Input>,
    document: &Document,
) -> anyhow::Result<Path> {
    let folder = layout::quality_partition(partition);
    let uncommitted = commit::begin(lake, &folder).await?;
    let path = layout::quality_checks(partition);
    let bytes = serde_json::to_vec_pretty(document).expect("a quality document always serialises");
    let object = Object::describe(&path, &bytes, Some(document.checks.len() as u64));
    lake.put(&path, bytes.into()).await?;
    let details = QualityDetails {
        layout: QUALITY_LAYOUT,
        verdict: document.verdict,
        loaded: document.loaded,
        warnings: document.count(Status::Warn),
        failures: document.count(Status::Fail),
        metrics: document.metrics.clone(),
    };
    let manifest = Manifest::new("check", partition, Utc::now(), inputs, vec![object], details);
    uncommitted.commit(lake, &manifest).await?;
    Ok(path)
}
