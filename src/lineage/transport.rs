//! Sends events where the settings say: `POST` to an OpenLineage receiver (the HTTP transport of
//! the OpenLineage clients: JSON body, optional bearer token), or a JSON line appended to a file or
//! stdout.
//!
//! A receiver is a neighbour that may be down, slow or refusing; the task it describes must not
//! care. Every send is bounded by the timeout, and the first failure (refused, timed out, a non-2xx
//! answer, an unwritable file) is logged once and switches the transport off for the rest of the
//! process: a receiver that hangs costs one timeout per process, not one per event.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use crate::settings::{ApiKey, LineageSink};

#[derive(Debug)]
pub struct Transport {
    sink: Sink,
    timeout: Duration,
    /// Set by the first failure: nothing more is sent.
    off: AtomicBool,
}

#[derive(Debug)]
enum Sink {
    Http { client: reqwest::Client, endpoint: Url, api_key: Option<ApiKey> },
    File(PathBuf),
    Stdout,
}

impl Transport {
    pub fn new(sink: &LineageSink, timeout: Duration) -> Self {
        let sink = match sink {
            LineageSink::Http { endpoint, api_key } => {
                // The timeout bounds the whole exchange: connecting, sending, the answer.
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .user_agent(format!("bookpipe/{}", crate::VERSION))
                    .build()
                    .unwrap_or_default();
                Sink::Http { client, endpoint: endpoint.clone(), api_key: api_key.clone() }
            }
            LineageSink::File(path) => Sink::File(path.clone()),
            LineageSink::Stdout => Sink::Stdout,
        };
        Self { sink, timeout, off: AtomicBool::new(false) }
    }

    /// Sends one event; a failure is logged and turns the transport off, never returned.
    pub async fn send(&self, event: &Value) {
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        let kind = event["eventType"].as_str().unwrap_or("?");
        let job = event["job"]["name"].as_str().unwrap_or("?");
        match self.try_send(event).await {
            Ok(()) => tracing::debug!(event = kind, job, "lineage event sent"),
            Err(why) => {
                self.off.store(true, Ordering::Relaxed);
                tracing::warn!(
                    event = kind,
                    job,
                    receiver = %self.describe(),
                    "lineage event not sent ({why}); this process sends no more (the task goes on)"
                );
            }
        }
    }

    async fn try_send(&self, event: &Value) -> Result<(), String> {
        let mut line = serde_json::to_vec(event).expect("an event always serialises");
        match &self.sink {
            Sink::Http { client, endpoint, api_key } => {
                let mut request =
                    client.post(endpoint.clone()).header(reqwest::header::CONTENT_TYPE, "application/json").body(line);
                if let Some(ApiKey(key)) = api_key {
                    request = request.bearer_auth(key);
                }
                let answer = request.send().await.map_err(|e| {
                    if e.is_timeout() {
                        format!("no answer within {} s", self.timeout.as_secs())
                    } else {
                        error_chain(&e)
                    }
                })?;
                let status = answer.status();
                if !status.is_success() {
                    return Err(format!("the receiver answered {status}"));
                }
                Ok(())
            }
            Sink::File(path) => {
                line.push(b'\n');
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                // One write of the whole line: concurrent processes appending to one file interleave
                // whole lines, not parts of them.
                file.write_all(&line).map_err(|e| format!("cannot write {}: {e}", path.display()))
            }
            Sink::Stdout => {
                line.push(b'\n');
                std::io::stdout().lock().write_all(&line).map_err(|e| format!("cannot write stdout: {e}"))
            }
        }
    }

    /// Where events go, for log lines (an endpoint URL holds no credentials: settings refuse them).
    fn describe(&self) -> String {
        match &self.sink {
            Sink::Http { endpoint, .. } => endpoint.to_string(),
            Sink::File(path) => path.display().to_string(),
            Sink::Stdout => "stdout".to_string(),
        }
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
