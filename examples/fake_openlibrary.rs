//! The fake Open Library of the Rust tests (tests/fake_openlibrary/) as a process, for the DAG tests
//! and the benchmark, which start it through `tests/fake_openlibrary/openlibrary_launcher.py`. It
//! serves one world, with the faults its flags switch on, on 127.0.0.1 at a port the OS picks:
//!
//!     fake_openlibrary --science-fiction [FAULTS]                 # the real page as every subject
//!     fake_openlibrary --lake DIR --subject S --ds D [FAULTS]     # a raw partition's works and authors
//!     fake_openlibrary --generated S WORKS AUTHORS [FAULTS]       # generated, as the Rust tests do
//!
//!     FAULTS: --rate R --burst B (429s without Retry-After)  --latency SECONDS
//!             --get-many available|gone|failing  --solr-failures N  --log FILE
//!
//! Its first line on stdout is the URL; the second, what it serves as JSON (`subject`, `works`,
//! `work_count`, `authors`). With `--log`, every request is appended to FILE as a JSON line
//! (`{"target": …, "status": …}`) before it is answered, so a caller counts requests exactly. It
//! stops when its stdin closes (the launcher closes it; a launcher that dies closes it too).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

#[path = "../tests/it/support/synth.rs"]
mod synth;

#[path = "../tests/fake_openlibrary/mod.rs"]
mod openlibrary;

use openlibrary::{Faults, GetMany, RateLimit, World};

#[derive(Parser)]
#[command(about = "A fake Open Library on 127.0.0.1 (see the header of examples/fake_openlibrary.rs)")]
struct Args {
    /// The works of the real science_fiction page as every subject, their authors named as listed.
    #[arg(long, conflicts_with_all = ["lake", "generated"])]
    science_fiction: bool,
    /// A lake folder holding the raw partition of --subject and --ds to serve.
    #[arg(long, requires_all = ["subject", "ds"], conflicts_with = "generated")]
    lake: Option<PathBuf>,
    #[arg(long)]
    subject: Option<String>,
    #[arg(long)]
    ds: Option<String>,
    /// SUBJECT WORKS AUTHORS: generated works, as `World::generated` makes them.
    #[arg(long, num_args = 3, value_names = ["SUBJECT", "WORKS", "AUTHORS"])]
    generated: Option<Vec<String>>,
    /// Requests per second nginx's limit_req lets through (with --burst); beyond, a 429.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 25)]
    burst: u32,
    /// Seconds every answer waits before it leaves.
    #[arg(long, default_value_t = 0.0)]
    latency: f64,
    #[arg(long, value_enum, default_value_t = GetManyArg::Available)]
    get_many: GetManyArg,
    /// How many times each subject page URL answers Solr's failure (200, no works) first.
    #[arg(long, default_value_t = 0)]
    solr_failures: u32,
    /// Where every request is appended as a JSON line.
    #[arg(long)]
    log: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum GetManyArg {
    Available,
    Gone,
    Failing,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut world = world(&args)?;
    world.get_many = match args.get_many {
        GetManyArg::Available => GetMany::Available,
        GetManyArg::Gone => GetMany::Gone,
        GetManyArg::Failing => GetMany::Failing,
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.rate.is_some_and(|rate| !positive(rate)) || !(args.latency == 0.0 || positive(args.latency)) {
        bail!("--rate must be above 0 and --latency at least 0");
    }
    let faults = Faults {
        rate_limit: args.rate.map(|rate| RateLimit::new(rate, args.burst)),
        latency: Duration::from_secs_f64(args.latency),
        solr_failures: args.solr_failures,
    };
    let log = match &args.log {
        Some(path) => {
            Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path).context("opening --log")?))
        }
        None => None,
    };
    let described = serde_json::json!({
        "subject": world.subject, "works": world.works.len(), "work_count": world.work_count,
        "authors": world.authors.len(),
    });
    let server = world.serve_with(move |world, request| {
        let reply = faults.answer(world, request);
        if let Some(log) = &log {
            // One write a line, on a file opened to append: a reader never sees half a line of it.
            let line = serde_json::json!({"target": request.target, "status": reply.status}).to_string() + "\n";
            log.lock().unwrap().write_all(line.as_bytes()).expect("the request log is writable");
        }
        reply
    });
    println!("{}\n{described}", server.url());
    std::io::stdout().flush()?;
    // Serves until stdin closes; what comes in on it is ignored.
    std::io::stdin().read_to_end(&mut Vec::new())?;
    Ok(())
}

fn world(args: &Args) -> anyhow::Result<World> {
    if let Some(lake) = &args.lake {
        let (subject, ds) = (args.subject.as_deref().unwrap_or_default(), args.ds.as_deref().unwrap_or_default());
        return World::from_partition(lake, subject, ds)
            .with_context(|| format!("reading the raw partition subject={subject}/ds={ds} in {}", lake.display()));
    }
    if let Some([subject, works, authors]) = args.generated.as_deref() {
        return Ok(World::generated(subject, works.parse().context("WORKS")?, authors.parse().context("AUTHORS")?));
    }
    if args.science_fiction {
        return Ok(World::science_fiction());
    }
    bail!("say which world to serve: --science-fiction, --lake DIR --subject S --ds D, or --generated S WORKS AUTHORS")
}
