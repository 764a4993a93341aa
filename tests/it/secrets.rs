//! No warehouse password reaches any output: `load`, `aggregate` and `run`, with debug logs, against
//! a real PostgreSQL server that asks for a password (scram-sha-256) and refuses the one given, and
//! against a server that is down, for passwords drawn from every printable ASCII character, written
//! into the URL as they are and percent-encoded. (The S3 keys have their own test in storage.rs.)

use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::openlibrary::World;
use crate::support::postgres::PgServer;
use crate::support::today;

/// The binary with debug logs: every line it could write is searched.
fn bookpipe(lake: &std::path::Path, args: &[&str]) -> Command {
    let mut command = crate::support::bookpipe_on(lake, args);
    command.env("BOOKPIPE_LOG", "debug");
    command
}

/// Every byte percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
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

    let mut runner = TestRunner::new(Config { cases: 12, ..Config::default() });
    let strategy = ("[ -~]{4,14}", any::<bool>());
    runner
        .run(&strategy, |(middle, encode)| {
            // Markers at both ends: a leak of any head or tail of the password shows one.
            let password = format!("PwA{middle}PwZ");
            let written = if encode { percent_encoded(&password) } else { password.clone() };
            for host in [&refusing, &down] {
                let url = format!("postgres://etl:{written}@{host}");
                for task in ["load", "aggregate", "run"] {
                    let mut args = vec![task, "--ds", &ds, "--subject", "love", "--warehouse", &url];
                    if task == "run" {
                        args.extend(["--api-url", &api, "--rate", "500"]);
                    }
                    let output = bookpipe(&lake, &args).output().unwrap();
                    let text = format!(
                        "{}{}",
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    prop_assert_eq!(output.status.code(), Some(1), "{} against {}: {}", task, host, text);
                    for leak in ["PwA", "PwZ", &percent_encoded("PwA"), &written] {
                        prop_assert!(!text.contains(leak), "{} against {} showed {:?}: {}", task, host, leak, text);
                    }
                    prop_assert!(text.contains("etl:***@127.0.0.1"), "{} against {}: {}", task, host, text);
                }
            }
            Ok(())
        })
        .unwrap();
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
