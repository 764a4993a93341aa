//! OpenLineage events from every task: START when it begins, then COMPLETE (with what it wrote) or
//! FAIL (with why), each naming the task's input and output datasets, so a catalog (Marquez,
//! DataHub, Astronomer) shows what each run read and wrote, linked to the Airflow task that ran the
//! container (`OPENLINEAGE_PARENT_ID`).
//!
//! An edge, like the HTTP source and the warehouse: [`datasets`] names what each task touches
//! (pure), [`event`] builds the JSON (pure), [`transport`] sends it, and this file counts what a
//! run wrote from the manifests it committed. Jobs are `bookpipe_openlibrary.<task>` in the
//! configured namespace; `run` is a job of its own, `bookpipe_openlibrary.run`, the parent of the
//! tasks it chains. Off unless configured (`crate::settings::LineageSettings`), and never a reason
//! for a task to fail or wait beyond the timeout.

pub mod datasets;
pub mod event;
pub mod transport;

use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;

use crate::lake::Lake;
use crate::lake::commit::{Object, read_as};
use crate::settings::{Ds, LakeUrl, LineageSettings, RunRef, WarehouseUrl};
use datasets::{Count, Namer, TaskIo};
use event::{EventType, RunInfo, RunRefJob, Statistics};
use transport::Transport;

/// The prefix of every job name: the DAG's id, so a task's job reads like Airflow's.
pub const JOB_PREFIX: &str = "bookpipe_openlibrary";

/// Where a process's events go, and the run they descend from.
#[derive(Debug, Clone)]
pub struct Lineage {
    transport: Option<Arc<Transport>>,
    namespace: String,
    lake: LakeUrl,
    parent: Option<RunRef>,
    root: Option<RunRef>,
}

impl Lineage {
    pub fn new(settings: &LineageSettings, lake: &LakeUrl) -> Self {
        let lake = match lake {
            LakeUrl::Local(path) => LakeUrl::Local(datasets::absolute(path)),
            other => other.clone(),
        };
        Self {
            transport: settings.sink.as_ref().map(|sink| Arc::new(Transport::new(sink, settings.timeout))),
            namespace: settings.namespace.clone(),
            lake,
            parent: settings.parent.clone(),
            root: settings.root.clone(),
        }
    }

    /// No events: for library callers (the tests) that run a command without a receiver.
    pub fn off() -> Self {
        Self { transport: None, namespace: String::new(), lake: LakeUrl::Memory, parent: None, root: None }
    }

    /// Names datasets in this lake and `warehouse`.
    pub fn namer(&self, warehouse: Option<&WarehouseUrl>) -> Namer {
        let warehouse = warehouse.map(|w| match w {
            WarehouseUrl::DuckDb { path, lock_timeout } => {
                WarehouseUrl::DuckDb { path: datasets::absolute(path), lock_timeout: *lock_timeout }
            }
            other => other.clone(),
        });
        Namer::new(&self.lake, warehouse.as_ref())
    }

    /// Starts the run of job `bookpipe_openlibrary.<task>` and sends its START.
    pub async fn start(&self, task: &str, ds: Option<Ds>, io: TaskIo, job_type: &'static str) -> JobRun {
        let now = Utc::now();
        let info = RunInfo {
            run_id: event::run_id(now, fastrand::u128(..)),
            job: RunRefJob { namespace: self.namespace.clone(), name: format!("{JOB_PREFIX}.{task}") },
            job_type,
            parent: self.parent.clone(),
            // The root of the chain: the parent's root, else the parent itself (a run started by
            // hand, or by a scheduler that names no root, is the root of its tasks).
            root: self.root.clone().or_else(|| self.parent.clone()),
            ds: ds.map(Ds::date),
        };
        let run = JobRun { transport: self.transport.clone(), info, io };
        run.send(EventType::Start, &[], None).await;
        run
    }

    /// The lineage of the tasks a `run` chains: their parent is that run.
    pub fn children_of(&self, run: &JobRun) -> Self {
        let this = RunRef {
            namespace: run.info.job.namespace.clone(),
            name: run.info.job.name.clone(),
            run_id: run.info.run_id.clone(),
        };
        Self { parent: Some(this.clone()), root: run.info.root.clone().or(Some(this)), ..self.clone() }
    }
}

/// A job run that has started.
#[derive(Debug)]
pub struct JobRun {
    transport: Option<Arc<Transport>>,
    info: RunInfo,
    io: TaskIo,
}

impl JobRun {
    /// Sends COMPLETE; with the statistics of every output when the run `wrote` them (a partition
    /// that was already complete was not written by this run).
    pub async fn complete(self, lake: &Lake, wrote: bool) {
        if self.transport.is_none() {
            return;
        }
        let mut statistics = Vec::with_capacity(self.io.outputs.len());
        for output in &self.io.outputs {
            statistics.push(match (&output.stats, wrote) {
                (Some(count), true) => written(lake, count).await,
                _ => None,
            });
        }
        self.send(EventType::Complete, &statistics, None).await;
    }

    /// Sends FAIL with the error's message.
    pub async fn fail(self, error: &str) {
        self.send(EventType::Fail, &[], Some(error)).await;
    }

    async fn send(&self, kind: EventType, statistics: &[Option<Statistics>], error: Option<&str>) {
        if let Some(transport) = &self.transport {
            let event = event::event(kind, Utc::now(), &self.info, &self.io, statistics, error);
            transport.send(&event).await;
        }
    }
}

/// Only the part of a manifest the statistics need.
#[derive(Deserialize)]
struct Objects {
    objects: Vec<Object>,
}

/// What the committed partition `count` names holds under its folder: rows (when its objects
/// count them), bytes and files. A manifest that cannot be read gives no statistics, not an error:
/// the task already succeeded.
async fn written(lake: &Lake, count: &Count) -> Option<Statistics> {
    let (manifest, _, _) = match read_as::<Objects>(lake, &count.manifest).await {
        Ok(Some(read)) => read,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!(error = %err, "lineage: cannot read the manifest to count what was written");
            return None;
        }
    };
    let under = format!("{}/", count.under);
    let objects: Vec<&Object> = manifest.objects.iter().filter(|o| o.path.starts_with(&under)).collect();
    let rows = objects.iter().any(|o| o.rows.is_some()).then(|| objects.iter().filter_map(|o| o.rows).sum());
    if count.rows_only {
        return rows.map(|rows| Statistics { rows: Some(rows), ..Statistics::default() });
    }
    Some(Statistics { rows, bytes: Some(objects.iter().map(|o| o.bytes).sum()), files: Some(objects.len() as u64) })
}
