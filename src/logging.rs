//! Logging with `tracing`: JSON lines when stderr is not a terminal (Airflow, Kubernetes, ECS all
//! collect stderr), human lines when it is. Task spans carry `subject` and `ds`, so every line of a
//! task says which partition it is about.
//!
//! Progress bars draw on the same terminal; log lines are written through [`progress`]'s `suspend`
//! so a bar never tears a line in half. The level comes from `BOOKPIPE_LOG` (default `info`).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressDrawTarget};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::{LogFormat, flags};

/// The one set of progress bars of the process; hidden when stderr is not a terminal.
pub fn progress() -> &'static MultiProgress {
    static PROGRESS: OnceLock<MultiProgress> = OnceLock::new();
    PROGRESS.get_or_init(|| {
        if std::io::stderr().is_terminal() {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        }
    })
}

/// Installs the global subscriber. Safe to call once per process; later calls are ignored.
pub fn init(format: LogFormat) {
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let filter = EnvFilter::try_from_env(flags::LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(SuspendingStderr);
    let _ = if json {
        builder.json().with_current_span(true).with_span_list(false).flatten_event(true).try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

/// Makes writers that hold one log line and print it with the progress bars suspended.
struct SuspendingStderr;

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        LineBuffer(Vec::with_capacity(256))
    }
}

struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            // A log line that cannot be written has nowhere else to go.
            progress().suspend(|| {
                let _ = std::io::stderr().lock().write_all(&self.0);
            });
        }
    }
}
