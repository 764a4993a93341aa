//! TLS to a real PostgreSQL server (`ssl=on`, certificates from a CA the test makes with openssl,
//! TCP connections accepted only over TLS, scram-sha-256 passwords), by libpq's `sslmode` rules:
//! what each mode accepts and refuses, from the URL and from `PGSSLMODE`/`PGSSLROOTCERT`.

use std::path::{Path, PathBuf};
use std::process::Command;

use bookpipe::cli::flags;
use bookpipe::settings::{LoadSettings, Partition, PgEnv, Subject, TransformSettings, WarehouseUrl};
use bookpipe::warehouse::Warehouse;

use crate::support::postgres::PgServer;
use crate::support::{science_fiction_lake, today};

const PASSWORD: &str = "tls-test-password-3";

fn openssl(dir: &Path, args: &[&str]) {
    let output =
        Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (apt-get install openssl)");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Two CAs, and a server certificate for `localhost` (only) signed by the first.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    for ca in ["ca1", "ca2"] {
        let subject = format!("/CN=bookpipe test {ca}");
        let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt, "-days", "2", "-subj",
                &subject,
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca1.crt",
            "-CAkey",
            "ca1.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    (dir.join("ca1.crt"), dir.join("ca2.crt"), dir.join("server.crt"), dir.join("server.key"))
}

async fn connect(url: &str, env: &PgEnv) -> Result<(), String> {
    let url = WarehouseUrl::parse(url, None, env).map_err(|err| err.to_string())?;
    // As the command line shows it: the whole cause chain.
    let chain = |err: bookpipe::warehouse::WarehouseError| format!("{:#}", anyhow::Error::from(err));
    let mut warehouse = Warehouse::connect(&url).await.map_err(chain)?;
    warehouse.migrate().await.map(drop).map_err(chain)
}

#[tokio::test]
async fn sslmodes_against_a_server_that_takes_only_tls_and_one_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, ca2, cert, key) = certificates(dir.path());
    let tls = PgServer::with_tls(PASSWORD, &cert, &key);
    let plain = PgServer::with_password(PASSWORD);
    let at = |server: &PgServer, host: &str, options: &str| {
        // hostaddr: connect to 127.0.0.1 whatever the name checked against the certificate.
        format!("postgres://bookpipe:{PASSWORD}@{host}:{}/postgres?hostaddr=127.0.0.1{options}", server.port)
    };
    let (ca1, ca2) = (ca1.display().to_string(), ca2.display().to_string());
    let none = PgEnv::default();
    let cases: Vec<(String, PgEnv, Result<(), &str>)> = vec![
        (at(&tls, "localhost", &format!("&sslmode=verify-full&sslrootcert={ca1}")), none.clone(), Ok(())),
        (at(&tls, "localhost", &format!("&sslmode=verify-full&sslrootcert={ca2}")), none.clone(), Err("UnknownIssuer")),
        (
            at(&tls, "127.0.0.1", &format!("&sslmode=verify-full&sslrootcert={ca1}")),
            none.clone(),
            Err("not valid for name"),
        ),
        (at(&tls, "127.0.0.1", &format!("&sslmode=verify-ca&sslrootcert={ca1}")), none.clone(), Ok(())),
        (at(&tls, "127.0.0.1", "&sslmode=require"), none.clone(), Ok(())),
        (at(&tls, "127.0.0.1", ""), none.clone(), Ok(())),
        (at(&tls, "127.0.0.1", "&sslmode=disable"), none.clone(), Err("no encryption")),
        (
            at(&tls, "localhost", ""),
            PgEnv { sslmode: Some("verify-full".into()), sslrootcert: Some(ca1.clone()), ..PgEnv::default() },
            Ok(()),
        ),
        (
            at(&tls, "localhost", ""),
            PgEnv { sslmode: Some("verify-full".into()), sslrootcert: Some(ca2.clone()), ..PgEnv::default() },
            Err("UnknownIssuer"),
        ),
        (at(&plain, "127.0.0.1", "&sslmode=require"), none.clone(), Err("TLS")),
        (at(&plain, "localhost", &format!("&sslmode=verify-full&sslrootcert={ca1}")), none.clone(), Err("TLS")),
        (at(&plain, "127.0.0.1", ""), none.clone(), Ok(())),
        (at(&plain, "127.0.0.1", "&sslmode=disable"), none.clone(), Ok(())),
    ];
    for (url, env, expected) in &cases {
        let shown = url.replace(PASSWORD, "***");
        match (connect(url, env).await, expected) {
            (Ok(()), Ok(())) => {}
            (Err(err), Err(says)) => {
                assert!(err.contains(says), "{shown} {env:?}: {err}");
                assert!(!err.contains(PASSWORD), "{err}");
            }
            (got, want) => panic!("{shown} {env:?}: got {got:?}, wanted {want:?}"),
        }
    }

    // A whole load over verify-full, the password from the file.
    let ds = today();
    let lake = science_fiction_lake(&ds).await;
    let subject = Subject::parse(flags::SUBJECT, "science_fiction").unwrap();
    let d = bookpipe::settings::Ds::parse(flags::DS, &ds).unwrap();
    let transform =
        TransformSettings { partition: Partition::new(subject.clone(), d), max_reject_ratio: 0.01, force: false };
    bookpipe::transform::transform(&lake, &bookpipe::lineage::Lineage::off(), &transform).await.unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let url = format!(
        "postgres://bookpipe@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca1}",
        tls.port
    );
    let warehouse = WarehouseUrl::parse(&url, Some(&file), &none).unwrap();
    let load =
        LoadSettings { partition: Partition::new(subject, d), warehouse: warehouse.clone(), gate: Default::default() };
    assert_eq!(
        bookpipe::load::load(&lake, &bookpipe::lineage::Lineage::off(), &load).await.unwrap(),
        bookpipe::exit::Outcome::Done
    );
    let mut wh = Warehouse::connect(&warehouse).await.unwrap();
    assert_eq!(wh.count("books", None).await.unwrap(), 12);
}
