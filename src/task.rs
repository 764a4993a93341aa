//! What every task's run shares, so that each task's module is the one home of its command: a span
//! that puts `task`, `subject` and `ds` on every log line, the partition named in any error it
//! returns, and its OpenLineage events (START, then COMPLETE or FAIL) with the datasets it names.
//! Below the tasks and importing none of them (no task imports another).

use anyhow::Context;
use tracing::Instrument;

use crate::exit::Outcome;
use crate::lake::Lake;
use crate::lineage::Lineage;
use crate::lineage::datasets::TaskIo;
use crate::settings::Partition;

/// What a task's result says about its outputs: whether this run wrote them (a partition that was
/// already complete was not), for the statistics of the COMPLETE event.
pub trait Wrote {
    fn wrote(&self) -> bool;
}

impl Wrote for Outcome {
    fn wrote(&self) -> bool {
        *self == Outcome::Done
    }
}

/// Runs `work`, task `name` on one partition: inside a span that puts `task`, `subject` and `ds` on
/// every log line, with the partition named in any error it returns, announced to `lineage` with
/// the datasets `io` names.
pub async fn announced<T: Wrote>(
    lake: &Lake,
    lineage: &Lineage,
    name: &'static str,
    partition: &Partition,
    io: TaskIo,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let (subject, ds) = (&partition.subject, partition.ds);
    let span = tracing::info_span!("task", task = name, subject = %subject, ds = %ds);
    let announced = async {
        let run = lineage.start(name, Some(ds), io, "TASK").await;
        let result = work.await;
        match &result {
            Ok(done) => run.complete(lake, done.wrote()).await,
            Err(err) => run.fail(&format!("{err:#}")).await,
        }
        result
    };
    announced.instrument(span).await.with_context(|| format!("{name} of subject {subject} for ds {ds} failed"))
}
