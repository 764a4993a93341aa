//! The part of `transform` no schedule or writer can take away, measured on one raw partition of a
//! local lake: the sha256 of every object the raw manifest lists (transform checks each against the
//! manifest) and the parse of every page into rows (`records::parse_page`, transform's own), on one
//! thread, the bodies read into memory first so no I/O is counted. The benchmark divides it by the
//! cores to get the least wall time a transform that verifies its input with this parser can take,
//! and sets that beside the transform goal (bench/goals.py). Prints one JSON object.
//!
//!     cargo run --example raw_floor -- LAKE_DIR SUBJECT DS

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use bookpipe::cli::flags;
use bookpipe::lake::{commit, layout};
use bookpipe::settings::{Ds, Partition, Subject};
use serde::Deserialize;

#[derive(Deserialize)]
struct Listing {
    objects: Vec<Listed>,
}

#[derive(Deserialize)]
struct Listed {
    path: String,
    sha256: String,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lake, subject, ds] = args.as_slice() else {
        anyhow::bail!("usage: raw_floor LAKE_DIR SUBJECT DS");
    };
    let lake = Path::new(lake);
    let partition = Partition::new(Subject::parse(flags::SUBJECT, subject)?, Ds::parse(flags::DS, ds)?);
    let manifest = lake.join(layout::raw_subject_partition(&partition).as_ref()).join(layout::MANIFEST);
    let text = std::fs::read(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let listing: Listing = serde_json::from_slice(&text).with_context(|| format!("parsing {}", manifest.display()))?;
    // Each object once, as transform reads it once.
    let mut seen = BTreeSet::new();
    let mut bodies = Vec::with_capacity(listing.objects.len());
    for object in listing.objects.iter().filter(|object| seen.insert(object.path.as_str())) {
        let body = std::fs::read(lake.join(&object.path)).with_context(|| format!("reading {}", object.path))?;
        bodies.push((object, body));
    }
    let bytes: usize = bodies.iter().map(|(_, body)| body.len()).sum();

    let started = Instant::now();
    for (object, body) in &bodies {
        let actual = commit::sha256_hex(body);
        anyhow::ensure!(actual == object.sha256, "{}: sha256 differs from the manifest's", object.path);
    }
    let sha256_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (mut pages, mut books) = (0, 0);
    let is_page = |path: &str| path.rsplit('/').next().and_then(layout::parse_page_name).is_some();
    for (object, body) in bodies.iter().filter(|(object, _)| is_page(&object.path)) {
        let rows = bookpipe::records::parse_page(body, &object.path)?;
        pages += 1;
        books += rows.books.len();
    }
    let parse_s = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "objects": bodies.len(),
        "bytes": bytes,
        "pages": pages,
        "books": books,
        "sha256_s": sha256_s,
        "page_parse_s": parse_s,
    });
    println!("{report}");
    Ok(())
}
