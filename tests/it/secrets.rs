//! No warehouse password reaches any output: `load`, `aggregate` and `run`, with debug logs, against
//! a real PostgreSQL server that asks for a password (scram-sha-256) and refuses the one given, and
//! against a server that is down, for passwords drawn from every printable ASCII character, written
//! into the URL as they are and percent-encoded. (The S3 keys have their own test in storage.rs.)
//! A raw password with an `@` before a `?` cannot be told apart from a user and a query: such URLs
//! are refused (exit 2) and not shown, and are drawn apart from the ones the contract accepts.
//!
//! The draws are seeded: `PROPTEST_RNG_SEED` (scripts/test sets and prints it), else [`SEED`], and a
//! failure names the seed, so every run draws the same passwords and a failure replays.

use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use crate::support::openlibrary::World;
use crate::support::postgres::PgServer;
use crate::support::today;

/// The binary with debug logs: every line it could write is searched.
fn bookpipe(lake: &std::path::Path, args: &[&str]) -> Command {
    let mut command = crate::support::bookpipe_on(lake, args);
    command.env("BOOKPIPE_LOG", "debug");
    command
}

/// The seed when `PROPTEST_RNG_SEED` is not set: CI and a bare `cargo test` draw the same cases.
const SEED: u64 = 20_261_203;

/// A runner of `cases` cases seeded from `PROPTEST_RNG_SEED` or [`SEED`]; returns the seed too.
fn seeded_runner(cases: u32) -> (TestRunner, u64) {
    let config = Config::default();
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => SEED,
    };
    (TestRunner::new(Config { cases, rng_seed: RngSeed::Fixed(seed), ..config }), seed)
}

/// Whether `WarehouseUrl` refuses `password` written raw into a URL: an `@` before a `?` reads as
/// the end of the user information followed by a query.
fn refused_raw(password: &str) -> bool {
    match (password.find('@'), password.rfind('?')) {
        (Some(at), Some(question)) => at < question,
        _ => false,
    }
}

/// Every byte percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Runs `task` against the warehouse `url`: its exit code, and its stdout and stderr.
fn output_of(lake: &std::path::Path, task: &str, ds: &str, url: &str, api: &str) -> (Option<i32>, String) {
    let mut args = vec![task, "--ds", ds, "--subject", "love", "--warehouse", url];
    if task == "run" {
        args.extend(["--api-url", api, "--rate", "500"]);
    }
    let output = bookpipe(lake, &args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

#[test]
fn no_password_reaches_any_output_whatever_its_characters() {
    let server = World::generated("love", 40, 6).serve();
    let api = server.url();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let ds = today();
    for args in [
        vec!["fetch", "--ds", &ds, "--subject", "love", "--api-url", &api, "--rate", "500"],
        vec!["transform", "--ds", &ds, "--subject", "love"],
    ] {
        let output = bookpipe(&lake, &args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let pg = PgServer::with_password("the-right-one-7");
    let refusing = format!("127.0.0.1:{}/postgres", pg.port);
    let down = format!(
        "127.0.0.1:{}/postgres",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );

    // Passwords the contract accepts: any printable ASCII percent-encoded, or written raw unless
    // it has an `@` before a `?`.
    let accepted = ("[ -~]{4,14}", any::<bool>())
        .prop_map(|(middle, encode)| (format!("PwA{middle}PwZ"), encode))
        .prop_filter("a raw @ before a ? is refused (tested below)", |(password, encode)| {
            *encode || !refused_raw(password)
        });
    let (mut runner, seed) = seeded_runner(12);
    runner
        .run(&accepted, |(password, encode)| {
            // Markers at both ends: a leak of any head or tail of the password shows one.
            let written = if encode { percent_encoded(&password) } else { password.clone() };
            for host in [&refusing, &down] {
                let url = format!("postgres://etl:{written}@{host}");
                for task in ["load", "aggregate", "run"] {
                    let (code, text) = output_of(&lake, task, &ds, &url, &api);
                    prop_assert_eq!(code, Some(1), "{} against {}: {}", task, host, text);
                    for leak in ["PwA", "PwZ", &percent_encoded("PwA"), &written] {
                        prop_assert!(!text.contains(leak), "{} against {} showed {:?}: {}", task, host, leak, text);
                    }
                    prop_assert!(text.contains("etl:***@127.0.0.1"), "{} against {}: {}", task, host, text);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|err| panic!("{err} (PROPTEST_RNG_SEED={seed})"));

    // The refused shape, raw: exit 2 before any connection, naming the flag, showing nothing of it.
    let refused = "[ -~]{0,5}@[ -~]{0,5}\\?[ -~]{0,5}".prop_map(|middle| format!("PwA{middle}PwZ"));
    let (mut runner, seed) = seeded_runner(8);
    runner
        .run(&refused, |password| {
            prop_assert!(refused_raw(&password));
            let url = format!("postgres://etl:{password}@{refusing}");
            for task in ["load", "aggregate", "run"] {
                let (code, text) = output_of(&lake, task, &ds, &url, &api);
                prop_assert_eq!(code, Some(2), "{}: {}", task, text);
                prop_assert!(text.contains("--warehouse (BOOKPIPE_WAREHOUSE)"), "{}: {}", task, text);
                for leak in ["PwA", "PwZ", &password, &refusing] {
                    prop_assert!(!text.contains(leak), "{} showed {:?}: {}", task, leak, text);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|err| panic!("{err} (PROPTEST_RNG_SEED={seed})"));
    // The right password, from the URL, then from --warehouse-password-file, then from PGPASSWORD.
    let file = dir.path().join("password");
    std::fs::write(&file, "the-right-one-7\n").unwrap();
    let with_url = format!("postgres://bookpipe:the-right-one-7@{refusing}");
    let without = format!("postgres://bookpipe@{refusing}");
    let file_flag = ["--warehouse-password-file", file.to_str().unwrap()];
    for (url, extra, env) in
        [(&with_url, &[][..], None), (&without, &file_flag[..], None), (&without, &[][..], Some("the-right-one-7"))]
    {
        let mut args = vec!["load", "--ds", &ds, "--subject", "love", "--warehouse", url];
        args.extend(extra);
        let mut command = bookpipe(&lake, &args);
        if let Some(password) = env {
            command.env("PGPASSWORD", password);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{url} {extra:?} {env:?}: {stderr}");
        assert!(!stderr.contains("the-right-one-7"), "{stderr}");
    }
}
