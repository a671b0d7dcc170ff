//! `Output`: what a one-shot command prints: text for people and the same data as JSON.

use serde::Serialize;

use super::error::CliError;

/// A line (or table) for people and the same data as JSON.
pub struct Output {
    pub human: String,
    pub json: serde_json::Value,
}

impl Output {
    /// `human`, and `data` as JSON.
    pub fn new<T: Serialize>(human: String, data: &T) -> Result<Self, CliError> {
        let json = serde_json::to_value(data)
            .map_err(|e| CliError::Usage(format!("cannot encode output: {e}")))?;
        Ok(Output { human, json })
    }
}

/// A number, or `-` when unknown: the empty cell of the operator tables.
pub fn dash(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A progress bar drawn with `template` on a terminal (`show`), or a hidden one that
/// takes the same calls, so a command's code does not branch on where it prints.
pub fn progress_bar(show: bool, template: &str) -> Result<indicatif::ProgressBar, CliError> {
    let bar = if show {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    bar.set_style(style);
    Ok(bar)
}
