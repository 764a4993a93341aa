//! One DuckDB file, several processes: DuckDB lets one process at a time open a file, so every
//! command that opens the warehouse waits for the file (saying so once) instead of failing, for up
//! to `--warehouse-lock-timeout` seconds. The other process here is the test itself, holding the
//! file open through DuckDB until the command has said it waits: no sleep decides anything.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::openlibrary::World;
use crate::support::{bookpipe_on, run_day, today};

const WAITING: &str = "the DuckDB file is open in another process; waiting for it to close the file";

/// A command started with its stderr read line by line on a thread, into a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(lake: &Path, args: &[&str]) -> Self {
        let mut child = bookpipe_on(lake, args)
            .env("BOOKPIPE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Self { child, lines, seen: vec![] }
    }

    /// Blocks until a line holding `text` arrives (the process said it); fails if it ends first.
    /// The bound only keeps a broken build from hanging the suite.
    fn wait_for(&mut self, text: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(300)) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("the command never said {text:?}: {}", self.seen.join("\n")),
            }
        }
    }

    /// The exit code and everything it wrote to stderr.
    fn finish(mut self) -> (i32, String) {
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        self.seen.extend(self.lines.iter());
        (code, self.seen.join("\n"))
    }
}

fn loads(file: &Path) -> i64 {
    let db = duckdb::Connection::open(file).unwrap();
    db.query_row("SELECT count(*) FROM loads", [], |row| row.get(0)).unwrap()
}

#[test]
fn every_command_that_opens_the_file_waits_for_another_process_then_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, file) = (dir.path().join("lake"), dir.path().join("w.duckdb"));
    let warehouse = format!("duckdb:{}", file.display());
    let ds = today();
    run_day(World::generated("love", 300, 40), &lake, &warehouse, &ds);

    let partition = ["--ds", ds.as_str(), "--subject", "love", "--warehouse", warehouse.as_str()];
    let status = ["status", "--from", ds.as_str(), "--to", ds.as_str(), "--warehouse", warehouse.as_str()];
    let commands: [Vec<&str>; 4] = [
        [&["load"][..], &partition].concat(),
        [&["aggregate"][..], &partition].concat(),
        [&["report"][..], &partition].concat(),
        status.to_vec(),
    ];
    for args in commands {
        let holder = duckdb::Connection::open(&file).unwrap();
        let mut running = Running::start(&lake, &args);
        running.wait_for(WAITING);
        drop(holder);
        let (code, stderr) = running.finish();
        assert!(code == 0 || (code == 3 && args[0] == "aggregate"), "{} exited {code}: {stderr}", args[0]);
        assert!(stderr.contains("got the DuckDB file"), "{}: {stderr}", args[0]);
        assert!(!stderr.contains("\"level\":\"ERROR\""), "{}: {stderr}", args[0]);
    }
    // The reload replaced the slice: still one load of it.
    assert_eq!(loads(&file), 1);
}

#[test]
fn the_wait_is_bounded_by_the_lock_timeout_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, file) = (dir.path().join("lake"), dir.path().join("w.duckdb"));
    let warehouse = format!("duckdb:{}", file.display());
    let ds = today();
    run_day(World::generated("love", 60, 10), &lake, &warehouse, &ds);
    let before = std::fs::read(&file).unwrap();

    let holder = duckdb::Connection::open(&file).unwrap();
    let args = ["load", "--ds", &ds, "--subject", "love", "--warehouse", &warehouse, "--warehouse-lock-timeout", "1"];
    let mut running = Running::start(&lake, &args);
    running.wait_for(WAITING);
    let (code, stderr) = running.finish();
    drop(holder);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the most --warehouse-lock-timeout allows"), "{stderr}");
    assert!(stderr.contains("Could not set lock on file"), "{stderr}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "the file changed");

    // No timeout at all is refused before anything is opened (PostgreSQL reads 0 as "for ever").
    let output = bookpipe_on(&lake, &[&args[..7], &["--warehouse-lock-timeout", "0"]].concat()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--warehouse-lock-timeout (BOOKPIPE_WAREHOUSE_LOCK_TIMEOUT)"), "{stderr}");
}
