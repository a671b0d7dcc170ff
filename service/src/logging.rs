//! Tracing set up once per binary: `RUST_LOG` filters, `--log-format` picks text or JSON
//! lines, and every line goes to stderr (stdout belongs to the program's own output).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The logging flags every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format; filter with RUST_LOG (e.g. RUST_LOG=debug,openraft=info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BAZAAR_LOG_FORMAT")]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs the global subscriber; `default_filter` applies when RUST_LOG is unset.
    pub fn init(&self, default_filter: &str) {
        init(self.log_format, default_filter, &[]);
    }

    /// The same, with the warnings and errors of each call site under any of `limited`
    /// (target prefixes) let through at most [`REPEATS_PER_SECOND`] times a second.
    pub fn init_limited(&self, default_filter: &str, limited: &'static [&'static str]) {
        init(self.log_format, default_filter, limited);
    }
}

/// How many warnings or errors one call site of a limited target may log in a second. A
/// dependency that logs every retry (openraft logs four lines per failed replication
/// attempt, ten attempts a second to a peer that is down) would otherwise fill the disk the
/// log is on; the first lines of a burst, which say what is wrong, still get through.
pub const REPEATS_PER_SECOND: u32 = 2;

/// Per call site: the second counted in (since the process's first event) and the events
/// let through in it.
#[derive(Default)]
struct RepeatLimit {
    seen: Mutex<HashMap<usize, (u64, u32)>>,
    start: OnceLock<Instant>,
}

impl RepeatLimit {
    fn allows(&self, meta: &Metadata<'_>, limited: &[&str]) -> bool {
        if !meta.is_event()
            || *meta.level() > Level::WARN
            || !limited.iter().any(|t| meta.target().starts_with(t))
        {
            return true;
        }
        let second = self.start.get_or_init(Instant::now).elapsed().as_secs();
        // The call site's metadata is a static: its address identifies it.
        let site = std::ptr::from_ref(meta) as usize;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = seen.entry(site).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= REPEATS_PER_SECOND
    }
}

/// Installs the global subscriber. Call once, from `main`. `limited`: target prefixes
/// whose warnings and errors are rate-limited per call site.
pub fn init(format: LogFormat, default_filter: &str, limited: &'static [&'static str]) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let limit = RepeatLimit::default();
    // Dynamic: asked for every event (a static filter's answer is cached per call site).
    let repeats =
        dynamic_filter_fn(move |meta, _| limited.is_empty() || limit.allows(meta, limited));
    // Colours only on a terminal: logs usually go to files, where escapes are noise.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(fmt.with_filter(repeats))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(fmt.json().flatten_event(true).with_filter(repeats))
            .try_init(),
    };
    if let Err(e) = installed {
        eprintln!("logging was already set up: {e}");
    }
}
