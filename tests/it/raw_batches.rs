//! The two ways `fetch` stores author records — `/api/get_many` answers holding many records, or
//! one `/authors/<KEY>.json` object each when get_many is unavailable — give the same silver, byte
//! for byte: transform reads a batch's entries as it reads a single record.

use std::collections::BTreeMap;

use bookpipe::cli::flags;
use bookpipe::fetch::FetchDetails;
use bookpipe::lake::Lake;
use bookpipe::lake::commit;
use bookpipe::lake::layout::{self, silver_object};
use bookpipe::lineage::Lineage;
use bookpipe::settings::{Ds, LakeUrl, Partition, Subject, TransformSettings};
use bookpipe::tables::Table;
use bookpipe::{fetch, transform};
use chrono::Utc;

use crate::support::openlibrary::{GetMany, World};
use crate::support::{fetch_settings, today};

/// A subject whose authors include merged ones (a chain and a loop), one without any record, and
/// records with non-ASCII text (OL23919A's alternate names), fetched with get_many `mode`, then
/// transformed: the fetch manifest's details and the four silver objects.
async fn fetched_and_transformed(mode: GetMany) -> (FetchDetails, Vec<bytes::Bytes>) {
    let mut world = World::generated("love", 2500, 400);
    world.redirects = [("OL2A", "OL5A"), ("OL3A", "OL7A"), ("OL7A", "OL8A"), ("OL9A", "OL10A"), ("OL10A", "OL9A")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect::<BTreeMap<_, _>>();
    world.authors.remove("OL11A");
    world.get_many = mode;
    let server = world.serve();
    let lake = Lake::open(&LakeUrl::Memory).unwrap();
    // The same fetch time for both: it is in the object names, which silver does not carry.
    let now = Utc::now();
    fetch::fetch(&lake, &Lineage::off(), &fetch_settings(&server.url(), &today(), "love", &[], now)).await.unwrap();
    let partition =
        Partition::new(Subject::parse(flags::SUBJECT, "love").unwrap(), Ds::parse(flags::DS, &today()).unwrap());
    let details = commit::read::<FetchDetails>(&lake, &layout::raw_subject_partition(&partition))
        .await
        .unwrap()
        .unwrap()
        .manifest
        .details;
    let settings = TransformSettings { partition: partition.clone(), max_reject_ratio: 0.01, force: false };
    transform::transform(&lake, &Lineage::off(), &settings).await.unwrap();
    let mut silver = vec![];
    for table in Table::ALL {
        silver.push(lake.get(&silver_object(table, &partition)).await.unwrap());
    }
    (details, silver)
}

#[tokio::test]
async fn batched_and_single_author_records_give_byte_identical_silver() {
    let (batched, from_batches) = fetched_and_transformed(GetMany::Available).await;
    let (single, from_singles) = fetched_and_transformed(GetMany::Gone).await;
    // The two raw partitions really are stored the two ways.
    assert!(batched.author_requests.batches >= 4, "{:?}", batched.author_requests);
    assert_eq!(batched.author_requests.single, 1, "only the author with no record is asked alone");
    assert!(batched.author_records.iter().all(|r| r.batch));
    assert_eq!(single.author_requests.batches, 0);
    assert!(single.author_records.iter().all(|r| !r.batch));
    assert_eq!(batched.authors.redirects, 5);
    assert_eq!(batched.author_records.len(), single.author_records.len());
    assert_eq!(batched.missing_authors, ["OL11A"]);
    for (table, (a, b)) in Table::ALL.iter().zip(from_batches.iter().zip(&from_singles)) {
        assert!(a == b, "{}: {} bytes from batches, {} from single records", table.name(), a.len(), b.len());
    }
}
