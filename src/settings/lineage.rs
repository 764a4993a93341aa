//! Where OpenLineage events go, checked: `--lineage-url` / `--lineage-file` first, else the
//! OpenLineage clients' own variables (`OPENLINEAGE_URL`, ...), so a container set up for any
//! OpenLineage integration needs nothing more. The parent run (`OPENLINEAGE_PARENT_ID`, rendered by
//! Airflow's provider) is read here too.
//!
//! Lineage is metadata about a task, never a reason for it to fail: a URL that cannot be a receiver
//! is refused at the edge (exit 2, the flag named), but a parent ID that is not of the documented
//! shape is logged and left out rather than failing the task it describes.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::cli::{LineageArgs, flags};
use crate::exit::BadInput;

/// Where the events are sent, and how.
#[derive(Debug, Clone)]
pub struct LineageSettings {
    /// `None`: lineage is off.
    pub sink: Option<LineageSink>,
    /// The namespace of bookpipe's jobs (Airflow's provider uses `OPENLINEAGE_NAMESPACE` too).
    pub namespace: String,
    /// How long one event may take to send.
    pub timeout: Duration,
    /// The run that started this process (the Airflow task), and the root of the chain.
    pub parent: Option<RunRef>,
    pub root: Option<RunRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineageSink {
    /// `POST` each event to `endpoint` (`<url>/api/v1/lineage`).
    Http {
        endpoint: Url,
        api_key: Option<ApiKey>,
    },
    /// Append each event as a JSON line.
    File(PathBuf),
    Stdout,
}

/// A bearer token: kept out of every `Debug` and log line.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(pub String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A run of a job, as OpenLineage's parent facet names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub namespace: String,
    pub name: String,
    pub run_id: String,
}

impl RunRef {
    /// `<namespace>/<job name>/<run id>`, the shape of `OPENLINEAGE_PARENT_ID` (Airflow's
    /// `lineage_parent_id` macro): the namespace has no `/`, the run ID is a UUID, the job name is
    /// what lies between.
    pub fn parse(raw: &str) -> Option<Self> {
        let (namespace, rest) = raw.split_once('/')?;
        let (name, run_id) = rest.rsplit_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && is_uuid(run_id)).then(|| Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            run_id: run_id.to_ascii_lowercase(),
        })
    }
}

/// 8-4-4-4-12 hex digits, as the spec's `format: uuid` asks.
pub fn is_uuid(raw: &str) -> bool {
    let groups: Vec<&str> = raw.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The default job namespace, as Airflow's OpenLineage provider's.
const DEFAULT_NAMESPACE: &str = "default";
/// The OpenLineage HTTP transport's default path.
const DEFAULT_ENDPOINT: &str = "api/v1/lineage";
/// A receiver slower than this is not "short, bounded" any more.
const MAX_TIMEOUT_SECS: u64 = 60;

impl LineageSettings {
    /// Resolves the flags, falling back to OpenLineage's variables through `env`.
    pub fn resolve(args: &LineageArgs, env: impl Fn(&str) -> Option<String>) -> Result<Self, BadInput> {
        use flags::openlineage as ol;
        let env = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if args.lineage_timeout == 0 || args.lineage_timeout > MAX_TIMEOUT_SECS {
            return Err(BadInput::new(
                flags::LINEAGE_TIMEOUT,
                format!("{} is outside 1..={MAX_TIMEOUT_SECS} seconds", args.lineage_timeout),
            ));
        }
        let disabled =
            env(ol::DISABLED).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        let sink = match (&args.lineage_url, &args.lineage_file) {
            _ if disabled => None,
            (Some(_), Some(_)) => {
                return Err(BadInput::new(flags::LINEAGE_FILE, "give --lineage-url or --lineage-file, not both"));
            }
            (None, Some(path)) if path.as_os_str() == "-" => Some(LineageSink::Stdout),
            (None, Some(path)) => Some(LineageSink::File(path.clone())),
            (Some(url), None) => Some(http_sink(url, None, &env)?),
            (None, None) => match env(ol::URL) {
                Some(url) => Some(http_sink(&url, env(ol::ENDPOINT), &env)?),
                None => None,
            },
        };
        let namespace = args.lineage_namespace.clone().or_else(|| env(ol::NAMESPACE));
        let namespace = namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        if namespace.contains('/') || namespace.trim().is_empty() {
            return Err(BadInput::new(flags::LINEAGE_NAMESPACE, format!("{namespace:?} must be a name without `/`")));
        }
        let run_ref = |name: &str| {
            let raw = env(name)?;
            let parsed = RunRef::parse(&raw);
            if parsed.is_none() {
                tracing::warn!(variable = name, value = %raw, "not <namespace>/<job>/<run id>; the events name no parent");
            }
            parsed
        };
        Ok(Self {
            sink,
            namespace,
            timeout: Duration::from_secs(args.lineage_timeout),
            parent: run_ref(ol::PARENT_ID),
            root: run_ref(ol::ROOT_PARENT_ID),
        })
    }
}

/// The receiver at `raw` (an http(s) URL without credentials), events going to `endpoint` under it.
fn http_sink(
    raw: &str,
    endpoint: Option<String>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<LineageSink, BadInput> {
    let refuse =
        |why: &str| BadInput::new(flags::LINEAGE_URL, format!("{why} (also read from {})", flags::openlineage::URL));
    let mut url = Url::parse(raw).map_err(|e| refuse(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse("an OpenLineage receiver is an http:// or https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(&format!("no credentials in the URL; give the key in {}", flags::LINEAGE_API_KEY_ENV)));
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    let endpoint = endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let endpoint =
        url.join(endpoint.trim_start_matches('/')).map_err(|e| refuse(&format!("{endpoint:?} is not a path: {e}")))?;
    let api_key = env(flags::LINEAGE_API_KEY_ENV).or_else(|| env(flags::openlineage::API_KEY)).map(ApiKey);
    Ok(LineageSink::Http { endpoint, api_key })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn args(url: Option<&str>, file: Option<&str>) -> LineageArgs {
        LineageArgs {
            lineage_url: url.map(String::from),
            lineage_file: file.map(PathBuf::from),
            lineage_namespace: None,
            lineage_timeout: 5,
        }
    }

    fn resolve(args: &LineageArgs, vars: &[(&str, &str)]) -> Result<LineageSettings, BadInput> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LineageSettings::resolve(args, |name| vars.get(name).cloned())
    }

    #[test]
    fn off_unless_configured() {
        let s = resolve(&args(None, None), &[]).unwrap();
        assert_eq!(s.sink, None);
        assert_eq!(s.namespace, "default");
        assert_eq!(s.timeout, Duration::from_secs(5));
    }

    #[test]
    fn the_url_gets_the_standard_endpoint() {
        let s = resolve(&args(Some("http://marquez:5000"), None), &[]).unwrap();
        let Some(LineageSink::Http { endpoint, api_key }) = s.sink else { panic!() };
        assert_eq!(endpoint.as_str(), "http://marquez:5000/api/v1/lineage");
        assert_eq!(api_key, None);
        let s = resolve(&args(Some("https://ol.example.com/base"), None), &[]).unwrap();
        let Some(LineageSink::Http { endpoint, .. }) = s.sink else { panic!() };
        assert_eq!(endpoint.as_str(), "https://ol.example.com/base/api/v1/lineage");
    }

    #[test]
    fn openlineage_variables_are_the_fallback() {
        let vars = [
            ("OPENLINEAGE_URL", "http://127.0.0.1:9000"),
            ("OPENLINEAGE_ENDPOINT", "events/receive"),
            ("OPENLINEAGE_API_KEY", "s3cret"),
            ("OPENLINEAGE_NAMESPACE", "prod"),
            ("OPENLINEAGE_PARENT_ID", "prod/bookpipe_openlibrary.subject.load/01937a4e-7b3c-7d2e-8f00-0123456789ab"),
        ];
        let s = resolve(&args(None, None), &vars).unwrap();
        let Some(LineageSink::Http { endpoint, api_key }) = &s.sink else { panic!() };
        assert_eq!(endpoint.as_str(), "http://127.0.0.1:9000/events/receive");
        assert_eq!(api_key, &Some(ApiKey("s3cret".into())));
        assert!(!format!("{s:?}").contains("s3cret"), "the key never shows");
        assert_eq!(s.namespace, "prod");
        let parent = s.parent.unwrap();
        assert_eq!(parent.namespace, "prod");
        assert_eq!(parent.name, "bookpipe_openlibrary.subject.load");
        assert_eq!(parent.run_id, "01937a4e-7b3c-7d2e-8f00-0123456789ab");
        assert_eq!(s.root, None);
    }

    #[test]
    fn flags_win_and_disabled_wins_over_all() {
        let s = resolve(&args(Some("http://a:1"), None), &[("OPENLINEAGE_URL", "http://b:2")]).unwrap();
        let Some(LineageSink::Http { endpoint, .. }) = s.sink else { panic!() };
        assert_eq!(endpoint.host_str(), Some("a"));
        let s = resolve(&args(Some("http://a:1"), None), &[("OPENLINEAGE_DISABLED", "true")]).unwrap();
        assert_eq!(s.sink, None);
        let s = resolve(&args(None, Some("-")), &[]).unwrap();
        assert_eq!(s.sink, Some(LineageSink::Stdout));
    }

    #[test]
    fn bad_input_names_the_flag() {
        for (url, why) in [
            ("marquez:5000", "http:// or https://"),
            ("ftp://host/x", "http:// or https://"),
            ("http://user:pw@host", "no credentials"),
            ("not a url", "not a URL"),
        ] {
            let err = resolve(&args(Some(url), None), &[]).unwrap_err();
            assert_eq!(err.flag, flags::LINEAGE_URL, "{url}");
            assert!(err.message.contains(why), "{url}: {}", err.message);
            assert!(!err.message.contains("pw"), "{}", err.message);
        }
        let err = resolve(&args(None, None), &[("OPENLINEAGE_URL", "nope")]).unwrap_err();
        assert!(err.message.contains("OPENLINEAGE_URL"), "{}", err.message);
        let err = resolve(&args(Some("http://a"), Some("x.jsonl")), &[]).unwrap_err();
        assert_eq!(err.flag, flags::LINEAGE_FILE);
        let mut zero = args(None, None);
        zero.lineage_timeout = 0;
        assert_eq!(resolve(&zero, &[]).unwrap_err().flag, flags::LINEAGE_TIMEOUT);
    }

    #[test]
    fn a_parent_id_of_another_shape_is_left_out() {
        for raw in ["default/job", "default/job/not-a-uuid", "/job/01937a4e-7b3c-7d2e-8f00-0123456789ab"] {
            let s = resolve(&args(None, None), &[("OPENLINEAGE_PARENT_ID", raw)]).unwrap();
            assert_eq!(s.parent, None, "{raw}");
        }
        let id = "ns/dag.group.task/01937A4E-7B3C-7D2E-8F00-0123456789AB";
        assert_eq!(RunRef::parse(id).unwrap().run_id, "01937a4e-7b3c-7d2e-8f00-0123456789ab");
    }
}
