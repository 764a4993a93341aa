//! The warehouse's location: `duckdb:PATH` or a PostgreSQL URL, with the password kept out of
//! every message and taken from the URL, a file or `PGPASSWORD`.
//!
//! What messages and logs show is rebuilt from the parsed connection settings (user, hosts, ports,
//! database, a few options), with `***` where a password is: never the raw URL cut by hand, which
//! is how a password with a `/` or `?` in it used to leak. A URL that does not parse is not shown.

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
            let scheme = raw.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(BadInput::new(
                WAREHOUSE_FLAG,
                format!(
                    "a {scheme:?} URL is neither duckdb:PATH nor postgres://… (the URL is not shown: it may hold a password)"
                ),
            ));
        }
        let mut config: tokio_postgres::Config =
            encode_userinfo(raw).parse().map_err(|err: tokio_postgres::Error| {
                // The parser's messages name the option, never its value.
                let cause = std::error::Error::source(&err).map(|cause| format!(": {cause}")).unwrap_or_default();
                BadInput::new(
                    WAREHOUSE_FLAG,
                    format!("not a PostgreSQL URL ({err}{cause}; the URL is not shown: it may hold a password)"),
                )
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
        let redacted = redacted(&config);
        Ok(WarehouseUrl::Postgres(Box::new(PgTarget { config, redacted })))
    }
}

/// The URL with its user information percent-encoded, so that the parser reads a password with
/// `@`, `/`, `?`, `#` or `:` in it whole: the user information runs to the last `@` (as libpq
/// reads it). `%XX` sequences already there are kept, so a percent-encoded password still decodes.
fn encode_userinfo(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return raw.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return raw.to_string() };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let mut out = format!("{scheme}://{}", encode(user));
    if let Some(password) = password {
        out.push(':');
        out.push_str(&encode(password));
    }
    out.push('@');
    out.push_str(host);
    out
}

/// Percent-encodes all but unreserved characters, keeping valid `%XX` sequences as they are.
fn encode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape = b == b'%' && bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || escape {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What messages show of a PostgreSQL target, from its parsed settings:
/// `postgres://user:***@host:port/db?sslmode=…`.
pub fn redacted(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::{Host, SslMode};
    let mut out = String::from("postgres://");
    if let Some(user) = config.get_user() {
        out.push_str(&encode(user));
    }
    if config.get_password().is_some() {
        out.push_str(":***");
    }
    if config.get_user().is_some() || config.get_password().is_some() {
        out.push('@');
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => encode_host(name),
                Host::Unix(path) => encode(&path.display().to_string()),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    out.push_str(&hosts.join(","));
    if let Some(db) = config.get_dbname() {
        out.push('/');
        out.push_str(&encode(db));
    }
    let mut params = vec![];
    match config.get_ssl_mode() {
        SslMode::Disable => params.push("sslmode=disable".to_string()),
        SslMode::Require => params.push("sslmode=require".to_string()),
        _ => {}
    }
    if let Some(name) = config.get_application_name() {
        params.push(format!("application_name={}", encode(name)));
    }
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// A host name as written, but for characters a host name never has.
fn encode_host(name: &str) -> String {
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)) { name.to_string() } else { encode(name) }
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
        assert!(!err.message.contains("hunter2") && err.message.contains("\"mysql\""), "{}", err.message);
        let query = WarehouseUrl::parse("postgres://h/db?user=a&password=p4ss", None, None).unwrap();
        assert_eq!(query.to_string(), "postgres://a:***@h:5432/db");
    }

    #[test]
    fn passwords_with_any_character_are_read_whole_and_never_shown() {
        for password in ["ab/cdSECRET", "ab?cdSECRET", "a@b:c#d%zz/SECRET", "p%2Fq%40SECRET", "%%SECRET%4"] {
            let raw = format!("postgres://etl:{password}@db.example:5433/books?sslmode=disable");
            let pg = WarehouseUrl::parse(&raw, None, None).unwrap();
            assert_eq!(pg.to_string(), "postgres://etl:***@db.example:5433/books?sslmode=disable", "{password}");
            let WarehouseUrl::Postgres(target) = &pg else { panic!() };
            // A %XX sequence decodes; anything else is the character itself.
            let expected = if password == "p%2Fq%40SECRET" { "p/q@SECRET" } else { password };
            assert_eq!(target.config.get_password(), Some(expected.as_bytes()), "{password}");
            assert!(!format!("{pg:?}").contains("SECRET"));
        }
        let err = WarehouseUrl::parse("postgres://etl:SECRET@db:notaport/x", None, None).unwrap_err();
        assert!(!err.message.contains("SECRET") && err.message.contains("port"), "{}", err.message);
    }
}
