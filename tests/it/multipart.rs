//! The S3 multipart path, which every large silver file takes on real S3: object_store's buffered
//! writer turns a file larger than its 10 MiB part size into a multipart upload. Against a real S3
//! API server (moto): the upload is seen by the server as one (`ListMultipartUploads` while it runs,
//! an `<md5>-<parts>` ETag once completed), and a `kill -9` in the middle of it leaves the old
//! committed partition's file as it was and no manifest (or, on a first write, nothing at all);
//! the rerun commits a partition whose manifest lists exactly the objects in its folder.
//!
//! The process killed is this test binary run again as a child ([`child_writes_a_partition`], an
//! ignored test the parent starts by name) writing a partition through the commit envelope and
//! `ParquetOut`, as transform does; it stops half-way when told to, once the server has the
//! upload, so the kill lands mid-upload by construction, not by timing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use arrow::array::RecordBatch;
use bookpipe::cli::flags;
use bookpipe::lake::commit::{self, Manifest};
use bookpipe::lake::parquet::{ParquetOut, read_batches};
use bookpipe::lake::{Lake, layout};
use bookpipe::records::Book;
use bookpipe::settings::{Ds, Partition, Subject};
use bookpipe::tables::{self, Table};
use chrono::Utc;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::support::s3::{self, Moto, lake_at};

/// `<endpoint>|<subject>|<seed>|<commit or pause>`: what the child writes, and whether it stops.
const CHILD: &str = "BOOKPIPE_TEST_MULTIPART_CHILD";
const BUCKET: &str = "multipart";
const PREFIX: &str = "lake";
/// What the child prints once the server holds its upload.
const UPLOADING: &str = "multipart upload in progress";

/// More rows than one Parquet row group (131,072), titled with 160 random letters each: the first
/// row group alone is about 16 MB of Parquet, past the 10 MiB part size, so the file is sent in parts.
fn rows(seed: u64) -> RecordBatch {
    let mut rng = fastrand::Rng::with_seed(seed);
    let rows: Vec<Book> = (0..140_000usize)
        .map(|i| Book {
            work_key: format!("OL{i}W"),
            title: (0..160).map(|_| rng.alphanumeric()).collect(),
            first_publish_year: Some(1900 + (i % 120) as i16),
            edition_count: Some((i % 40) as i32),
            cover_id: None,
            has_fulltext: Some(i % 2 == 0),
            public_scan: None,
        })
        .collect();
    tables::books(&rows)
}

fn partition(subject: &str) -> Partition {
    Partition::new(Subject::parse(flags::SUBJECT, subject).unwrap(), Ds::parse(flags::DS, "2024-05-01").unwrap())
}

/// The in-progress multipart uploads the server lists for the bucket (their keys).
fn uploads(moto: &impl Fn(&str, &str) -> String) -> Vec<String> {
    let listing = moto("GET", &format!("/{BUCKET}?uploads"));
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>"))
        .map(|(key, _)| key.to_string())
        .collect()
}

/// The child: writes the books partition of `subject` from `seed`'s rows, through the commit
/// envelope (manifest removed first, written last); with `pause`, stops for ever once the server
/// lists its multipart upload.
#[tokio::test]
#[ignore = "a child process of a_kill_during_a_multipart_upload_leaves_the_old_partition_or_none"]
async fn child_writes_a_partition() {
    let spec = std::env::var(CHILD).expect("started by the multipart test");
    let [endpoint, subject, seed, mode] = spec.split('|').collect::<Vec<_>>()[..] else { panic!("{spec}") };
    let lake = lake_at(endpoint, BUCKET, PREFIX);
    let p = partition(subject);
    let folder = layout::silver_partition(Table::Books, &p);
    let uncommitted = commit::begin(&lake, &folder).await.unwrap();
    let path = layout::silver_object(Table::Books, &p);
    let batch = rows(seed.parse().unwrap());
    let mut out = ParquetOut::create(&lake, &path, Table::Books.schema());
    out.write(&batch).await.unwrap();
    if mode == "pause" {
        let port = endpoint.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        let moto = |method: &str, target: &str| s3::request(port, method, target).unwrap();
        while !uploads(&moto).iter().any(|key| key.ends_with(path.as_ref())) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        println!("{UPLOADING}");
        std::future::pending::<()>().await;
    }
    let object = out.finish(batch.num_rows() as u64).await.unwrap();
    let manifest = Manifest::new("multipart-test", &p, Utc::now(), vec![], vec![object], serde_json::json!({}));
    uncommitted.commit(&lake, &manifest).await.unwrap();
}

fn child(moto: &Moto, subject: &str, seed: u64, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "multipart::child_writes_a_partition", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{}|{subject}|{seed}|{mode}", moto.endpoint()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs the child to the end: it must succeed.
fn commit_in_child(moto: &Moto, subject: &str, seed: u64) {
    let status = child(moto, subject, seed, "commit").wait().unwrap();
    assert!(status.success(), "the child writing {subject} from seed {seed}: {status}");
}

/// Starts the child, waits until it says the server holds its upload, and kills it (`kill -9`).
fn kill_mid_upload(moto: &Moto, subject: &str, seed: u64) {
    let mut child = child(moto, subject, seed, "pause");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let said = stdout.lines().map_while(Result::ok).any(|line| line.contains(UPLOADING));
    assert!(said, "the child ended without starting its upload: {:?}", child.wait());
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The partition's manifest (if any), and every object in its folder with its bytes.
async fn state(lake: &Lake, subject: &str) -> (Option<Manifest<serde_json::Value>>, Vec<(String, Vec<u8>)>) {
    let folder = layout::silver_partition(Table::Books, &partition(subject));
    let manifest = commit::read(lake, &folder).await.unwrap().map(|c| c.manifest);
    let mut objects = vec![];
    for meta in lake.list(&folder).await.unwrap() {
        if meta.location.filename() != Some("_manifest.json") {
            objects.push((meta.location.to_string(), lake.get(&meta.location).await.unwrap().to_vec()));
        }
    }
    (manifest, objects)
}

/// The committed partition of `subject` holds `seed`'s rows, and its manifest lists exactly the
/// objects in its folder.
async fn assert_committed(lake: &Lake, subject: &str, seed: u64) {
    let (manifest, objects) = state(lake, subject).await;
    let manifest = manifest.expect("a committed partition");
    let listed: Vec<(String, String)> = manifest.objects.iter().map(|o| (o.path.clone(), o.sha256.clone())).collect();
    let present: Vec<(String, String)> =
        objects.iter().map(|(path, bytes)| (path.clone(), commit::sha256_hex(bytes))).collect();
    assert_eq!(listed, present, "the manifest lists exactly the folder's objects");
    let object = &manifest.objects[0];
    let back: Vec<_> =
        read_batches(lake, &Path::from(object.path.as_str()), object.bytes).await.unwrap().try_collect().await.unwrap();
    assert_eq!(arrow::compute::concat_batches(&Table::Books.schema(), &back).unwrap(), rows(seed));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_a_multipart_upload_leaves_the_old_partition_or_none() {
    let moto = Moto::start();
    moto.bucket(BUCKET);
    let lake = moto.lake(BUCKET, PREFIX);
    let listing = |method: &str, target: &str| moto.request(method, target).unwrap();

    // A first version, committed; the server assembled the file from parts.
    commit_in_child(&moto, "love", 1);
    assert_committed(&lake, "love", 1).await;
    let path = layout::silver_object(Table::Books, &partition("love"));
    let etag = lake.store().head(&path).await.unwrap().e_tag.unwrap();
    let parts: u32 = etag.trim_matches('"').rsplit_once('-').map(|(_, n)| n.parse().unwrap()).unwrap_or(1);
    eprintln!("{path}: {} bytes in {parts} parts (ETag {etag})", lake.get(&path).await.unwrap().len());
    assert!(parts >= 2, "a multipart upload's ETag ends in -<parts>: {etag}");
    let (_, old_objects) = state(&lake, "love").await;

    // A second version killed mid-upload: no manifest (it went first), the old file untouched.
    kill_mid_upload(&moto, "love", 2);
    assert_eq!(uploads(&listing).len(), 1, "the killed upload stays unfinished on the server");
    let (manifest, objects) = state(&lake, "love").await;
    assert!(manifest.is_none(), "an interrupted partition has no manifest");
    assert_eq!(objects, old_objects, "the old file is whole: an unfinished upload is no object");

    // The rerun commits the second version.
    commit_in_child(&moto, "love", 2);
    assert_committed(&lake, "love", 2).await;

    // A first write killed mid-upload leaves nothing at all.
    kill_mid_upload(&moto, "fantasy", 3);
    let (manifest, objects) = state(&lake, "fantasy").await;
    assert!(manifest.is_none() && objects.is_empty(), "{objects:?}");
    commit_in_child(&moto, "fantasy", 3);
    assert_committed(&lake, "fantasy", 3).await;
}
