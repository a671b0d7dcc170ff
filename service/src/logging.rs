//! Tracing set up once per binary: `RUST_LOG` filters, `--log-format` picks text or JSON
//! lines, and every line goes to stderr (stdout belongs to the program's own output).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

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
        init(self.log_format, default_filter);
    }
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colours only on a terminal: logs usually go to files, where escapes are noise.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = installed {
        eprintln!("logging was already set up: {e}");
    }
}
