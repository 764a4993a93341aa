//! Shared test helpers: the fake Open Library server and settings builders.

pub mod openlibrary;
pub mod server;

use bookpipe::cli::{Cli, Command};
use bookpipe::settings::FetchSettings;
use chrono::{DateTime, Utc};
use clap::Parser;

/// Fetch settings as the CLI would resolve them from `args`, pointed at `api_url`, with fast
/// retries and a high rate so tests spend no time being polite to themselves.
pub fn fetch_settings(api_url: &str, ds: &str, subject: &str, extra: &[&str], now: DateTime<Utc>) -> FetchSettings {
    let mut argv = vec!["bookpipe", "fetch", "--ds", ds, "--subject", subject, "--api-url", api_url];
    argv.extend(["--rate", "500", "--retry-base-ms", "20", "--timeout", "5", "--contact", "tests@example.com"]);
    argv.extend(extra);
    let cli = Cli::try_parse_from(argv).unwrap();
    let Command::Fetch(args) = cli.command else { unreachable!("a fetch command line") };
    FetchSettings::resolve(&args, now).unwrap()
}

/// Today's date (UTC) as a ds string.
pub fn today() -> String {
    Utc::now().date_naive().to_string()
}

/// Yesterday's date (UTC) as a ds string.
pub fn yesterday() -> String {
    (Utc::now().date_naive() - chrono::Days::new(1)).to_string()
}
