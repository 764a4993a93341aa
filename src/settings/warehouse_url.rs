//! The warehouse's location: `duckdb:PATH` or a PostgreSQL URL, with the password kept out of
//! every message (URLs are shown redacted) and taken from the URL, a file or `PGPASSWORD`.

use std::fmt;
use std::path::PathBuf;

use crate::cli::WarehouseArgs;
use crate::exit::BadInput;

/// Where the warehouse lives.
#[derive(Debug, Clone)]
pub enum WarehouseUrl {
    /// `duckdb:PATH`: an embedded DuckDB file (created when absent).
    DuckDb(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(Box<PgTarget>),
}

/// A PostgreSQL server to connect to. The password lives only in `config`; `redacted` is what
/// messages and logs show.
#[derive(Clone)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub redacted: String,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget").field("url", &self.redacted).finish_non_exhaustive()
    }
}

impl fmt::Display for WarehouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarehouseUrl::DuckDb(path) => write!(f, "duckdb:{}", path.display()),
            WarehouseUrl::Postgres(target) => f.write_str(&target.redacted),
        }
    }
}

const WAREHOUSE_FLAG: &str = "--warehouse (BOOKPIPE_WAREHOUSE)";

impl WarehouseUrl {
    /// Parses `duckdb:PATH` or a PostgreSQL URL. The password comes from the URL, else
    /// `password_file`, else `PGPASSWORD` (`pgpassword`, passed in so this stays testable).
    pub fn parse(
        raw: &str,
        password_file: Option<&std::path::Path>,
        pgpassword: Option<String>,
    ) -> Result<Self, BadInput> {
        if let Some(path) = raw.strip_prefix("duckdb:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(BadInput::new(WAREHOUSE_FLAG, "duckdb: needs a file path, e.g. duckdb:./warehouse.duckdb"));
            }
            return Ok(WarehouseUrl::DuckDb(PathBuf::from(path)));
        }
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            let shown = redact_url(raw);
            return Err(BadInput::new(WAREHOUSE_FLAG, format!("{shown:?} is neither duckdb:PATH nor postgres://…")));
        }
        let mut config: tokio_postgres::Config = raw.parse().map_err(|err| {
            BadInput::new(WAREHOUSE_FLAG, format!("{:?} is not a PostgreSQL URL: {err}", redact_url(raw)))
        })?;
        if config.get_password().is_none() {
            let from_file = match password_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|err| {
                            BadInput::new(
                                "--warehouse-password-file (BOOKPIPE_WAREHOUSE_PASSWORD_FILE)",
                                format!("cannot read {}: {err}", path.display()),
                            )
                        })?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                ),
                None => None,
            };
            if let Some(password) = from_file.or(pgpassword) {
                config.password(password);
            }
        }
        Ok(WarehouseUrl::Postgres(Box::new(PgTarget { config, redacted: redact_url(raw) })))
    }
}

/// A URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return raw.to_string() };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let tail = redact_query_password(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => format!("{scheme}://{userinfo}@{host}{tail}"),
        },
        None => format!("{scheme}://{authority}{tail}"),
    }
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_string() };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

impl WarehouseUrl {
    pub fn resolve(args: &WarehouseArgs) -> Result<Self, BadInput> {
        Self::parse(&args.warehouse, args.warehouse_password_file.as_deref(), std::env::var("PGPASSWORD").ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_urls_and_their_secrets() {
        assert!(
            matches!(WarehouseUrl::parse("duckdb:./w.duckdb", None, None).unwrap(), WarehouseUrl::DuckDb(p) if p == std::path::Path::new("./w.duckdb"))
        );
        let pg =
            WarehouseUrl::parse("postgres://bob:s3cret@db.example:5433/books?sslmode=disable", None, None).unwrap();
        assert_eq!(pg.to_string(), "postgres://bob:***@db.example:5433/books?sslmode=disable");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let WarehouseUrl::Postgres(target) = &pg else { panic!() };
        assert_eq!(target.config.get_password(), Some(&b"s3cret"[..]));
        let from_env = WarehouseUrl::parse("postgres://bob@db/books", None, Some("envpass".into())).unwrap();
        let WarehouseUrl::Postgres(target) = &from_env else { panic!() };
        assert_eq!(target.config.get_password(), Some(&b"envpass"[..]));
        let err = WarehouseUrl::parse("mysql://root:hunter2@x/y", None, None).unwrap_err();
        assert!(!err.message.contains("hunter2") && err.message.contains("***"), "{}", err.message);
        assert_eq!(redact_url("postgres://h/db?user=a&password=p"), "postgres://h/db?user=a&password=***");
    }
}
