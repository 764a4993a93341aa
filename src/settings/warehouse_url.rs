//! The warehouse's location: `duckdb:PATH` or a PostgreSQL URL, with the password kept out of
//! every message and taken from the URL, a file or `PGPASSWORD`.
//!
//! What messages and logs show is rebuilt from the parsed connection settings (user, hosts, ports,
//! database, a few options), with `***` where a password is: never the raw URL cut by hand, which
//! is how a password with a `/` or `?` in it used to leak. A URL that does not parse is not shown.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{WarehouseArgs, flags};
use crate::exit::BadInput;

/// Where the warehouse lives.
#[derive(Debug, Clone)]
pub enum WarehouseUrl {
    /// `duckdb:PATH`: an embedded DuckDB file (created when absent). One process at a time opens
    /// it; another waits up to `lock_timeout` for it.
    DuckDb { path: PathBuf, lock_timeout: Duration },
    /// `postgres://…` or `postgresql://…`.
    Postgres(Box<PgTarget>),
    /// `redshift://user@host:5439/db?iam_role=arn:aws:iam::<account>:role/<name>`: Amazon Redshift,
    /// through the PostgreSQL protocol, loading with `COPY … FROM 's3://…' IAM_ROLE …`.
    Redshift(Box<RedshiftTarget>),
}

/// A Redshift cluster or workgroup: the connection, and the role Redshift assumes to read the lake.
#[derive(Debug, Clone)]
pub struct RedshiftTarget {
    pub pg: PgTarget,
    pub iam_role: String,
}

/// How long a command waits for another's lock on the warehouse unless `--warehouse-lock-timeout`
/// says otherwise: PostgreSQL's `lock_timeout`, and DuckDB's file lock.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// Redshift's port when the URL names none.
const REDSHIFT_PORT: u16 = 5439;

/// A PostgreSQL server to connect to. The password lives only in `config`; `redacted` is what
/// messages and logs show.
#[derive(Clone)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub tls: PgTls,
    pub redacted: String,
    /// The session's `lock_timeout`: how long a statement waits for a lock (another load's).
    pub lock_timeout: Duration,
}

/// libpq's `sslmode`s (what each checks: `crate::warehouse::tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    pub const ALL: [TlsMode; 5] =
        [TlsMode::Disable, TlsMode::Prefer, TlsMode::Require, TlsMode::VerifyCa, TlsMode::VerifyFull];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

/// How to secure the connection: `sslmode` and `sslrootcert`, from the URL or `PGSSLMODE` and
/// `PGSSLROOTCERT`; `prefer` by default, as libpq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    pub mode: TlsMode,
    pub root_cert: Option<PathBuf>,
}

/// The libpq environment variables bookpipe reads (passed in, so parsing stays testable).
#[derive(Debug, Clone, Default)]
pub struct PgEnv {
    pub password: Option<String>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

impl PgEnv {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self { password: var("PGPASSWORD"), sslmode: var("PGSSLMODE"), sslrootcert: var("PGSSLROOTCERT") }
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget").field("url", &self.redacted).finish_non_exhaustive()
    }
}

impl fmt::Display for WarehouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarehouseUrl::DuckDb { path, .. } => write!(f, "duckdb:{}", path.display()),
            WarehouseUrl::Postgres(target) => f.write_str(&target.redacted),
            WarehouseUrl::Redshift(target) => f.write_str(&target.pg.redacted),
        }
    }
}

impl WarehouseUrl {
    /// Parses `duckdb:PATH` or a PostgreSQL URL. The password comes from the URL, else
    /// `password_file`, else `PGPASSWORD`; `sslmode`/`sslrootcert` from the URL, else the env.
    pub fn parse(raw: &str, password_file: Option<&std::path::Path>, env: &PgEnv) -> Result<Self, BadInput> {
        if let Some(path) = raw.strip_prefix("duckdb:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(BadInput::new(
                    flags::WAREHOUSE,
                    "duckdb: needs a file path, e.g. duckdb:./warehouse.duckdb",
                ));
            }
            return Ok(WarehouseUrl::DuckDb { path: PathBuf::from(path), lock_timeout: DEFAULT_LOCK_TIMEOUT });
        }
        if let Some(rest) = raw.strip_prefix("redshift://") {
            return Self::parse_redshift(rest, password_file, env);
        }
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            let scheme = raw.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(BadInput::new(
                flags::WAREHOUSE,
                format!(
                    "a {scheme:?} URL is none of duckdb:PATH, postgres://… or redshift://… (the URL is not shown: it may hold a password)"
                ),
            ));
        }
        // tokio-postgres knows only disable/prefer/require: bookpipe reads the TLS options itself.
        let (url, sslmode, sslrootcert) = take_tls_options(&encode_userinfo(raw));
        let unreadable = || {
            BadInput::new(
                flags::WAREHOUSE,
                "a PostgreSQL URL whose user or host is not one: percent-encode an @ in the query \
                 (%40), or in a password that also holds a ? (the URL is not shown: it may hold a password)",
            )
        };
        let tls = tls_options(sslmode.or(env.sslmode.clone()), sslrootcert.or(env.sslrootcert.clone()))?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|err: tokio_postgres::Error| {
            // The parser's messages name the option, never its value.
            let cause = std::error::Error::source(&err).map(|cause| format!(": {cause}")).unwrap_or_default();
            BadInput::new(
                flags::WAREHOUSE,
                format!("not a PostgreSQL URL ({err}{cause}; the URL is not shown: it may hold a password)"),
            )
        })?;
        if !looks_parsed_right(&config) {
            return Err(unreadable());
        }
        if config.get_password().is_none() {
            let from_file = match password_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|err| {
                            BadInput::new(
                                flags::WAREHOUSE_PASSWORD_FILE,
                                format!("cannot read {}: {err}", path.display()),
                            )
                        })?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                ),
                None => None,
            };
            if let Some(password) = from_file.or(env.password.clone()) {
                config.password(password);
            }
        }
        config.ssl_mode(match tls.mode {
            TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
            TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        // A server that does not answer fails the task rather than hanging it; the server's views
        // (pg_stat_activity) name the client.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("bookpipe");
        }
        let redacted = redacted(&config, &tls);
        Ok(WarehouseUrl::Postgres(Box::new(PgTarget { config, tls, redacted, lock_timeout: DEFAULT_LOCK_TIMEOUT })))
    }
}

impl WarehouseUrl {
    /// `redshift://` + `rest`: a PostgreSQL URL to Redshift's port, and the `iam_role` for COPY.
    fn parse_redshift(rest: &str, password_file: Option<&std::path::Path>, env: &PgEnv) -> Result<Self, BadInput> {
        // The user and password percent-encoded first: a `/`, `?` or `:` in a password must not be
        // read as the end of the host, the query or a port below.
        let (url, iam_role) = take_option(&encode_userinfo(&format!("postgres://{rest}")), "iam_role");
        let iam_role = iam_role.ok_or_else(|| {
            BadInput::new(
                flags::WAREHOUSE,
                "a redshift:// URL needs ?iam_role=arn:aws:iam::<account>:role/<name>, the role Redshift assumes \
                 to COPY from the lake",
            )
        })?;
        if !is_role_arn(&iam_role) {
            return Err(BadInput::new(
                flags::WAREHOUSE,
                format!("iam_role {iam_role:?} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)"),
            ));
        }
        // Redshift's port where the URL names none: put into the host part (after the last @ before
        // the path), where the PostgreSQL parser would otherwise assume 5432.
        let rest = &url["postgres://".len()..];
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host_start = rest[..end].rfind('@').map_or(0, |at| at + 1);
        let has_port = rest[host_start..end].rsplit_once(':').is_some_and(|(_, port)| !port.is_empty());
        let url = match has_port {
            true => url.clone(),
            false => format!("postgres://{}:{REDSHIFT_PORT}{}", &rest[..end], &rest[end..]),
        };
        let WarehouseUrl::Postgres(pg) = Self::parse(&url, password_file, env)? else {
            unreachable!("a postgres:// URL parses to a PostgreSQL target")
        };
        let mut pg = *pg;
        let shown = redacted(&pg.config, &pg.tls);
        let separator = if shown.contains('?') { '&' } else { '?' };
        pg.redacted = format!("redshift{}{separator}iam_role={iam_role}", shown.trim_start_matches("postgres"));
        Ok(WarehouseUrl::Redshift(Box::new(RedshiftTarget { pg, iam_role })))
    }
}

/// `arn:<partition>:iam::<account>:role/<path and name>`, nothing that could leave a SQL literal.
fn is_role_arn(text: &str) -> bool {
    let mut parts = text.splitn(6, ':');
    let (arn, partition, service, region, account, resource) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
    let partitions = ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"];
    arn == Some("arn")
        && partition.is_some_and(|p| partitions.contains(&p))
        && service == Some("iam")
        && region == Some("")
        && account.is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        && resource.is_some_and(|r| {
            r.strip_prefix("role/").is_some_and(|name| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_/-".contains(&b))
            })
        })
}

/// The URL without the query option `name`, and its value (percent-decoded).
fn take_option(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None) };
    let (mut value, mut kept) = (None, vec![]);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((key, v)) if key == name => value = Some(decode(v)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (url, value)
}

/// The URL without its `sslmode` and `sslrootcert` options, and their values (percent-decoded).
fn take_tls_options(url: &str) -> (String, Option<String>, Option<String>) {
    let (url, sslmode) = take_option(url, "sslmode");
    let (url, sslrootcert) = take_option(&url, "sslrootcert");
    (url, sslmode, sslrootcert)
}

fn tls_options(sslmode: Option<String>, sslrootcert: Option<String>) -> Result<PgTls, BadInput> {
    let mode = match sslmode.as_deref() {
        None => TlsMode::Prefer,
        Some(text) => TlsMode::ALL.into_iter().find(|mode| mode.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = TlsMode::ALL.iter().map(|m| m.as_str()).collect();
            BadInput::new(
                flags::WAREHOUSE,
                format!("sslmode {text:?} (or PGSSLMODE) is not one of {}", known.join(", ")),
            )
        })?,
    };
    let root_cert = sslrootcert.map(PathBuf::from);
    if let Some(path) = &root_cert
        && !path.is_file()
    {
        let shown = path.display();
        return Err(BadInput::new(flags::WAREHOUSE, format!("sslrootcert (or PGSSLROOTCERT) {shown} is not a file")));
    }
    Ok(PgTls { mode, root_cert })
}

/// `%XX` sequences decoded; anything else as it is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with its user information percent-encoded, so that the parser reads a password with
/// `@`, `/`, `?`, `#` or `:` in it whole. The user information ends at the last `@` before the
/// first `?` (so an `@` in the query stays in the query); if there is none there, at the last `@`
/// (a password with a `?` in it). `%XX` sequences already there are kept, so an encoded password
/// still decodes. What this cannot tell apart, [`looks_parsed_right`] refuses.
fn encode_userinfo(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return raw.to_string() };
    let before_query = rest.split_once('?').map_or(rest, |(head, _)| head);
    let at = before_query.rfind('@').or_else(|| rest.rfind('@'));
    let Some(at) = at else { return raw.to_string() };
    let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
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

/// Whether the parsed user and hosts look like a user and hosts: a URL read wrongly (an `@` both
/// in a password and in the query, say) would put part of the password there, and then show it.
fn looks_parsed_right(config: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    let odd = |text: &str| text.contains(['/', '?', '=', '&', '@', '#']) || text.chars().any(char::is_whitespace);
    let user_ok = config.get_user().is_none_or(|user| !odd(user));
    let hosts_ok = config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => !odd(name) && !name.contains('%'),
        Host::Unix(_) => true,
    });
    user_ok && hosts_ok
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
pub fn redacted(config: &tokio_postgres::Config, tls: &PgTls) -> String {
    use tokio_postgres::config::Host;
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
    if tls.mode != TlsMode::Prefer {
        params.push(format!("sslmode={}", tls.mode.as_str()));
    }
    if let Some(path) = &tls.root_cert {
        params.push(format!("sslrootcert={}", path.display()));
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
        if args.warehouse_lock_timeout == 0 {
            // PostgreSQL reads a lock_timeout of 0 as "wait for ever": no value means both.
            return Err(BadInput::new(flags::WAREHOUSE_LOCK_TIMEOUT, "must be at least 1 (seconds)"));
        }
        let url = Self::parse(&args.warehouse, args.warehouse_password_file.as_deref(), &PgEnv::from_process())?;
        Ok(url.with_lock_timeout(Duration::from_secs(args.warehouse_lock_timeout)))
    }

    /// The same warehouse, waiting `timeout` for another process's lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        match &mut self {
            WarehouseUrl::DuckDb { lock_timeout, .. } => *lock_timeout = timeout,
            WarehouseUrl::Postgres(target) => target.lock_timeout = timeout,
            WarehouseUrl::Redshift(target) => target.pg.lock_timeout = timeout,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_urls_and_their_secrets() {
        let none = PgEnv::default();
        assert!(
            matches!(WarehouseUrl::parse("duckdb:./w.duckdb", None, &PgEnv::default()).unwrap(), WarehouseUrl::DuckDb { path, .. } if path == std::path::Path::new("./w.duckdb"))
        );
        let pg =
            WarehouseUrl::parse("postgres://bob:s3cret@db.example:5433/books?sslmode=disable", None, &none).unwrap();
        assert_eq!(pg.to_string(), "postgres://bob:***@db.example:5433/books?sslmode=disable");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let WarehouseUrl::Postgres(target) = &pg else { panic!() };
        assert_eq!(target.config.get_password(), Some(&b"s3cret"[..]));
        let env = PgEnv { password: Some("envpass".into()), ..PgEnv::default() };
        let from_env = WarehouseUrl::parse("postgres://bob@db/books", None, &env).unwrap();
        let WarehouseUrl::Postgres(target) = &from_env else { panic!() };
        assert_eq!(target.config.get_password(), Some(&b"envpass"[..]));
        let err = WarehouseUrl::parse("mysql://root:hunter2@x/y", None, &none).unwrap_err();
        assert!(!err.message.contains("hunter2") && err.message.contains("\"mysql\""), "{}", err.message);
        let query = WarehouseUrl::parse("postgres://h/db?user=a&password=p4ss", None, &none).unwrap();
        assert_eq!(query.to_string(), "postgres://a:***@h:5432/db");
    }

    #[test]
    fn redshift_urls_name_the_copy_role_and_default_to_port_5439() {
        let env = PgEnv { password: Some("s3cret".into()), ..PgEnv::default() };
        let role = "arn:aws:iam::123456789012:role/bookpipe-redshift-copy";
        let raw = format!(
            "redshift://loader@wg.eu-west-1.redshift-serverless.amazonaws.com/books?sslmode=verify-full&iam_role={role}"
        );
        let WarehouseUrl::Redshift(target) = WarehouseUrl::parse(&raw, None, &env).unwrap() else { panic!("redshift") };
        assert_eq!(target.iam_role, role);
        assert_eq!(target.pg.config.get_ports(), [5439]);
        assert_eq!(target.pg.config.get_password(), Some(&b"s3cret"[..]));
        // A password with `/` and `?` in it: the host is still the host, the port still 5439.
        let raw = format!("redshift://etl:ab/c?d@rs.example/books?iam_role={role}");
        let WarehouseUrl::Redshift(odd) = WarehouseUrl::parse(&raw, None, &env).unwrap() else { panic!("redshift") };
        assert_eq!((odd.pg.config.get_ports(), odd.pg.config.get_password()), (&[5439][..], Some(&b"ab/c?d"[..])));
        assert_eq!(
            WarehouseUrl::Redshift(target).to_string(),
            format!(
                "redshift://loader:***@wg.eu-west-1.redshift-serverless.amazonaws.com:5439/books?sslmode=verify-full&iam_role={role}"
            )
        );
        for (bad, why) in [
            ("redshift://u@h/db", "needs ?iam_role="),
            ("redshift://u@h/db?iam_role=bookpipe-copy", "not an IAM role ARN"),
            ("redshift://u@h/db?iam_role=arn:aws:iam::123456789012:role/x'%20OR%201", "not an IAM role ARN"),
            ("redshift://u@h/db?iam_role=arn:aws:iam::123456789012:user/copy", "not an IAM role ARN"),
            ("redshift://u@h/db?iam_role=arn:aws%5C'%3B:iam::123456789012:role/x", "not an IAM role ARN"),
        ] {
            let err = WarehouseUrl::parse(bad, None, &env).unwrap_err();
            assert_eq!(err.flag, flags::WAREHOUSE, "{bad}");
            assert!(err.message.contains(why), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn tls_options_come_from_the_url_else_the_env_and_default_to_prefer() {
        let tls = |url: &str, env: &PgEnv| match WarehouseUrl::parse(url, None, env).unwrap() {
            WarehouseUrl::Postgres(target) => (target.tls.mode, target.tls.root_cert.clone(), target.redacted.clone()),
            _ => unreachable!(),
        };
        let none = PgEnv::default();
        assert_eq!(tls("postgres://u@h/db", &none), (TlsMode::Prefer, None, "postgres://u@h:5432/db".into()));
        let (mode, _, shown) = tls("postgres://u@h/db?sslmode=verify-full&connect_timeout=3", &none);
        assert_eq!((mode, shown.as_str()), (TlsMode::VerifyFull, "postgres://u@h:5432/db?sslmode=verify-full"));
        let root = std::env::temp_dir().join("bookpipe-test-root.pem");
        std::fs::write(&root, "").unwrap();
        let env = PgEnv {
            sslmode: Some("verify-ca".into()),
            sslrootcert: Some(root.display().to_string()),
            ..PgEnv::default()
        };
        assert_eq!(tls("postgres://u@h/db", &env).0, TlsMode::VerifyCa);
        assert_eq!(tls("postgres://u@h/db", &env).1.as_deref(), Some(root.as_path()));
        // The URL wins over the environment.
        assert_eq!(tls("postgres://u@h/db?sslmode=disable", &env).0, TlsMode::Disable);
        let err = WarehouseUrl::parse("postgres://u@h/db?sslmode=verify_full", None, &none).unwrap_err();
        assert!(err.message.contains("verify-full") && err.message.contains("\"verify_full\""), "{}", err.message);
        let err = WarehouseUrl::parse("postgres://u@h/db?sslrootcert=/no/such.pem", None, &none).unwrap_err();
        assert!(err.message.contains("/no/such.pem"), "{}", err.message);
        let WarehouseUrl::Postgres(target) = WarehouseUrl::parse("postgres://u@h/db", None, &none).unwrap() else {
            unreachable!()
        };
        assert_eq!(target.config.get_application_name(), Some("bookpipe"));
        assert_eq!(target.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(10)));
    }

    #[test]
    fn passwords_with_any_character_are_read_whole_and_never_shown() {
        for password in ["ab/cdSECRET", "ab?cdSECRET", "a@b:c#d%zz/SECRET", "p%2Fq%40SECRET", "%%SECRET%4"] {
            let raw = format!("postgres://etl:{password}@db.example:5433/books?sslmode=disable");
            let pg = WarehouseUrl::parse(&raw, None, &PgEnv::default()).unwrap();
            assert_eq!(pg.to_string(), "postgres://etl:***@db.example:5433/books?sslmode=disable", "{password}");
            let WarehouseUrl::Postgres(target) = &pg else { panic!() };
            // A %XX sequence decodes; anything else is the character itself.
            let expected = if password == "p%2Fq%40SECRET" { "p/q@SECRET" } else { password };
            assert_eq!(target.config.get_password(), Some(expected.as_bytes()), "{password}");
            assert!(!format!("{pg:?}").contains("SECRET"));
        }
        let err = WarehouseUrl::parse("postgres://etl:SECRET@db:notaport/x", None, &PgEnv::default()).unwrap_err();
        assert!(!err.message.contains("SECRET") && err.message.contains("port"), "{}", err.message);
        // An @ in the query stays in the query.
        let pg =
            WarehouseUrl::parse("postgres://etl@db.example/books?password=hunter2@SECRET", None, &PgEnv::default())
                .unwrap();
        assert_eq!(pg.to_string(), "postgres://etl:***@db.example:5432/books");
        let WarehouseUrl::Postgres(target) = &pg else { panic!() };
        assert_eq!(target.config.get_password(), Some(&b"hunter2@SECRET"[..]));
        // What cannot be told apart is refused, and not shown.
        for raw in ["postgres://h/db?user=adm@srv&password=SECRET", "postgres://etl:a@b?SECRET@host/db"] {
            let err = WarehouseUrl::parse(raw, None, &PgEnv::default()).unwrap_err();
            assert!(!err.message.contains("SECRET"), "{raw}: {}", err.message);
        }
    }
}
