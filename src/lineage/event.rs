//! OpenLineage run events as JSON, per the spec (openlineage.io/spec/2-0-2/OpenLineage.json): a
//! `RunEvent` with its run, job, input and output datasets, and the facets bookpipe knows —
//! `parent` (the Airflow task, and the root DAG run), `nominalTime` (the ds), `errorMessage`
//! on FAIL, `jobType`, `schema` on table datasets and `outputStatistics` (rows, bytes, files) on
//! what a COMPLETE run wrote. Pure: the clock and the run ID come in as arguments.
//!
//! tests/fixtures/openlineage/ pins the spec's schemas these URLs name; the DAG tests validate
//! every event captured from `run` and from Airflow against them.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::datasets::{Dataset, TaskIo};
use crate::settings::RunRef;

/// The version of the spec the events follow.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// Who wrote the events (the spec asks for a URI naming the producer and its version).
pub const PRODUCER: &str = concat!("https://github.com/bookpipe/bookpipe/tree/v", env!("CARGO_PKG_VERSION"));

const PARENT: &str = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const NOMINAL_TIME: &str =
    "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
const ERROR_MESSAGE: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const JOB_TYPE: &str = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const SCHEMA: &str = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const OUTPUT_STATISTICS: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Start,
    Complete,
    Fail,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
        }
    }
}

/// One run of a job: what every event of the run repeats.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub job: RunRefJob,
    /// `TASK` for a task, `JOB` for `run`'s chain.
    pub job_type: &'static str,
    pub parent: Option<RunRef>,
    pub root: Option<RunRef>,
    pub ds: Option<NaiveDate>,
}

/// A job's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRefJob {
    pub namespace: String,
    pub name: String,
}

/// What a COMPLETE run wrote to one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statistics {
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub files: Option<u64>,
}

/// The event of `kind` at `time`; `statistics` pairs with `io.outputs` (COMPLETE only), `error`
/// is the FAIL's message.
pub fn event(
    kind: EventType,
    time: DateTime<Utc>,
    run: &RunInfo,
    io: &TaskIo,
    statistics: &[Option<Statistics>],
    error: Option<&str>,
) -> Value {
    let mut run_facets = Map::new();
    if let Some(parent) = &run.parent {
        let mut facet = facet(PARENT);
        facet.insert("run".into(), json!({ "runId": parent.run_id }));
        facet.insert("job".into(), json!({ "namespace": parent.namespace, "name": parent.name }));
        if let Some(root) = &run.root {
            facet.insert(
                "root".into(),
                json!({ "run": { "runId": root.run_id }, "job": { "namespace": root.namespace, "name": root.name } }),
            );
        }
        run_facets.insert("parent".into(), Value::Object(facet));
    }
    if let Some(ds) = run.ds {
        let mut facet = facet(NOMINAL_TIME);
        facet.insert("nominalStartTime".into(), json!(format!("{ds}T00:00:00Z")));
        run_facets.insert("nominalTime".into(), Value::Object(facet));
    }
    if let (EventType::Fail, Some(message)) = (kind, error) {
        let mut facet = facet(ERROR_MESSAGE);
        facet.insert("message".into(), json!(message));
        facet.insert("programmingLanguage".into(), json!("RUST"));
        run_facets.insert("errorMessage".into(), Value::Object(facet));
    }
    let mut job_type = facet(JOB_TYPE);
    job_type.insert("processingType".into(), json!("BATCH"));
    job_type.insert("integration".into(), json!("BOOKPIPE"));
    job_type.insert("jobType".into(), json!(run.job_type));
    let outputs: Vec<Value> = io
        .outputs
        .iter()
        .enumerate()
        .map(|(i, dataset)| {
            let mut value = dataset_json(dataset);
            let written = statistics.get(i).copied().flatten().filter(|_| kind == EventType::Complete);
            if let Some(written) = written {
                let mut facet = facet(OUTPUT_STATISTICS);
                for (key, number) in [("rowCount", written.rows), ("size", written.bytes), ("fileCount", written.files)]
                {
                    if let Some(number) = number {
                        facet.insert(key.into(), json!(number));
                    }
                }
                value["outputFacets"] = json!({ "outputStatistics": facet });
            }
            value
        })
        .collect();
    json!({
        "eventType": kind.as_str(),
        "eventTime": time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": { "runId": run.run_id, "facets": run_facets },
        "job": {
            "namespace": run.job.namespace,
            "name": run.job.name,
            "facets": { "jobType": job_type },
        },
        "inputs": io.inputs.iter().map(dataset_json).collect::<Vec<_>>(),
        "outputs": outputs,
    })
}

/// A facet's two required fields.
fn facet(schema_url: &str) -> Map<String, Value> {
    let mut facet = Map::new();
    facet.insert("_producer".into(), json!(PRODUCER));
    facet.insert("_schemaURL".into(), json!(schema_url));
    facet
}

fn dataset_json(dataset: &Dataset) -> Value {
    let mut facets = Map::new();
    if !dataset.fields.is_empty() {
        let mut schema = facet(SCHEMA);
        let fields: Vec<Value> = dataset
            .fields
            .iter()
            .enumerate()
            .map(|(i, (name, kind))| json!({ "name": name, "type": kind, "ordinal_position": i + 1 }))
            .collect();
        schema.insert("fields".into(), Value::Array(fields));
        facets.insert("schema".into(), Value::Object(schema));
    }
    json!({ "namespace": dataset.namespace, "name": dataset.name, "facets": facets })
}

/// A new run ID: a UUIDv7 (the spec's recommendation: time-ordered), from the time and `random`.
pub fn run_id(time: DateTime<Utc>, random: u128) -> String {
    let millis = time.timestamp_millis().max(0) as u128 & ((1 << 48) - 1);
    let rand_a = (random >> 64) & 0xfff;
    let rand_b = random & ((1 << 62) - 1);
    let value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b;
    let hex = format!("{value:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::datasets::Count;

    fn info(parent: bool) -> RunInfo {
        let parent_ref = RunRef {
            namespace: "default".into(),
            name: "bookpipe_openlibrary.subject.load".into(),
            run_id: "01937a4e-7b3c-7d2e-8f00-0123456789ab".into(),
        };
        RunInfo {
            run_id: "01937a4e-0000-7000-8000-000000000001".into(),
            job: RunRefJob { namespace: "default".into(), name: "bookpipe_openlibrary.load".into() },
            job_type: "TASK",
            parent: parent.then(|| parent_ref.clone()),
            root: parent.then(|| RunRef { name: "bookpipe_openlibrary".into(), ..parent_ref }),
            ds: Some(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()),
        }
    }

    fn io() -> TaskIo {
        let table = Dataset {
            namespace: "file".into(),
            name: "/lake/silver/books".into(),
            fields: vec![("work_key".into(), "VARCHAR".into())],
            stats: Some(Count {
                manifest: "silver/books/subject=a/ds=2026-12-03".into(),
                under: "silver/books".into(),
                rows_only: false,
            }),
        };
        TaskIo { inputs: vec![], outputs: vec![table] }
    }

    fn time() -> DateTime<Utc> {
        "2026-12-03T06:00:01.5Z".parse().unwrap()
    }

    #[test]
    fn a_complete_event_carries_parent_schema_and_statistics() {
        let stats = [Some(Statistics { rows: Some(120), bytes: Some(4096), files: Some(1) })];
        let e = event(EventType::Complete, time(), &info(true), &io(), &stats, None);
        assert_eq!(e["eventType"], "COMPLETE");
        assert_eq!(e["eventTime"], "2026-12-03T06:00:01.500Z");
        assert_eq!(e["schemaURL"], SCHEMA_URL);
        assert_eq!(e["job"]["name"], "bookpipe_openlibrary.load");
        assert_eq!(e["job"]["facets"]["jobType"]["jobType"], "TASK");
        let parent = &e["run"]["facets"]["parent"];
        assert_eq!(parent["run"]["runId"], "01937a4e-7b3c-7d2e-8f00-0123456789ab");
        assert_eq!(parent["job"]["name"], "bookpipe_openlibrary.subject.load");
        assert_eq!(parent["root"]["job"]["name"], "bookpipe_openlibrary");
        assert_eq!(e["run"]["facets"]["nominalTime"]["nominalStartTime"], "2026-12-03T00:00:00Z");
        let out = &e["outputs"][0];
        assert_eq!(out["namespace"], "file");
        assert_eq!(
            out["facets"]["schema"]["fields"][0],
            json!({"name": "work_key", "type": "VARCHAR", "ordinal_position": 1})
        );
        let written = &out["outputFacets"]["outputStatistics"];
        assert_eq!(
            (written["rowCount"].as_u64(), written["size"].as_u64(), written["fileCount"].as_u64()),
            (Some(120), Some(4096), Some(1))
        );
        assert_eq!(written["_producer"], PRODUCER);
    }

    #[test]
    fn start_and_fail_carry_no_statistics_and_fail_says_why() {
        let stats = [Some(Statistics { rows: Some(1), ..Default::default() })];
        let start = event(EventType::Start, time(), &info(false), &io(), &stats, None);
        assert!(start["outputs"][0].get("outputFacets").is_none());
        assert!(start["run"]["facets"].get("parent").is_none());
        let fail = event(EventType::Fail, time(), &info(false), &io(), &[], Some("refused by the quality gate"));
        assert_eq!(fail["eventType"], "FAIL");
        assert_eq!(fail["run"]["facets"]["errorMessage"]["message"], "refused by the quality gate");
        assert_eq!(fail["run"]["facets"]["errorMessage"]["programmingLanguage"], "RUST");
    }

    #[test]
    fn run_ids_are_uuid_v7() {
        let id = run_id(time(), 0xffff_ffff_ffff_ffff_ffff_ffff_ffff_ffff);
        assert!(crate::settings::is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "7", "version 7: {id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "RFC 4122 variant: {id}");
        let millis = format!("{:012x}", time().timestamp_millis());
        assert_eq!(format!("{}{}", &id[..8], &id[9..13]), millis, "the time in the first 48 bits");
        let earlier = run_id(time() - chrono::Duration::seconds(1), 0);
        assert!(earlier < id, "time-ordered");
    }
}
