//! The client's error type: what went wrong talking to a Bazaar node or frontend, and
//! whether the request may still have taken effect.

use bazaar_api::{ApiError, Reason};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error envelope.
    #[error("{0}")]
    Api(ApiError),
    /// No answer: connection refused or reset, timeout, broken body.
    #[error("no answer from {url}: {reason}")]
    Transport {
        url: String,
        reason: String,
        /// True when the request never left this machine (connect failed), so it cannot
        /// have taken effect.
        not_sent: bool,
        timeout: bool,
    },
    /// An answer that is not the documented JSON.
    #[error("unexpected answer from {url} (HTTP {status}): {body}")]
    Decode {
        url: String,
        status: u16,
        body: String,
    },
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{0}")]
    Usage(String),
    /// A backup that could not be saved or read, or that is damaged.
    #[error("backup: {0}")]
    Backup(String),
}

impl ClientError {
    pub(crate) fn transport(url: &str, err: &reqwest::Error) -> Self {
        // The innermost cause ("Connection refused") is the useful part of reqwest's chain.
        let mut reason = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        if err.is_timeout() {
            reason = format!("timed out ({reason})");
        }
        ClientError::Transport {
            url: url.to_owned(),
            reason,
            not_sent: err.is_connect(),
            timeout: err.is_timeout(),
        }
    }

    /// The API error's reason, if the server answered with one.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            ClientError::Api(e) => Some(e.reason),
            _ => None,
        }
    }

    /// A write that failed this way may or may not have been applied: no answer, an
    /// unavailable answer (the proposal may still commit), or a malformed answer.
    pub fn is_indeterminate(&self) -> bool {
        match self {
            ClientError::Transport { not_sent, .. } => !not_sent,
            ClientError::Api(e) => e.reason.is_unavailable() || e.reason == Reason::Internal,
            ClientError::Decode { .. } => true,
            ClientError::BadUrl { .. } | ClientError::Usage(_) | ClientError::Backup(_) => false,
        }
    }

    /// Worth retrying (with the same idempotency key for orders).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Api(e) => e.reason.is_unavailable() || e.reason == Reason::NotLeader,
            _ => false,
        }
    }

    /// A short stable label used to count errors by kind.
    pub fn label(&self) -> &'static str {
        match self {
            ClientError::Transport { timeout: true, .. } => "timeout",
            ClientError::Transport { not_sent: true, .. } => "connect",
            ClientError::Transport { .. } => "transport",
            ClientError::Api(e) => e.reason.as_str(),
            ClientError::Decode { .. } => "bad_answer",
            ClientError::BadUrl { .. } => "bad_url",
            ClientError::Usage(_) => "usage",
            ClientError::Backup(_) => "backup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_writes_are_indeterminate_but_conflicts_are_not() {
        let e = ClientError::Api(ApiError::unavailable("no quorum"));
        assert!(e.is_indeterminate());
        assert!(e.is_retryable());
        let e = ClientError::Api(ApiError::new(Reason::InsufficientStock, "out of stock"));
        assert!(!e.is_indeterminate());
        assert_eq!(e.label(), "insufficient_stock");
    }

    #[test]
    fn unsent_requests_cannot_have_taken_effect() {
        let e = ClientError::Transport {
            url: "http://x".into(),
            reason: "refused".into(),
            not_sent: true,
            timeout: false,
        };
        assert!(!e.is_indeterminate());
        assert!(e.is_retryable());
        assert_eq!(e.label(), "connect");
    }
}
