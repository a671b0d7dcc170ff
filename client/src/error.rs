//! The client's error type: what went wrong talking to a Bazaar node or frontend, and
//! whether the request may still have taken effect.

use std::time::Duration;

use bazaar_api::{ApiError, Reason};

/// The longest a client of ours waits on one `Retry-After`: a server asking for more is
/// waited on this long (its own figure is still what a message shows), so a garbled or
/// hostile header cannot park a command or a load worker for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The seconds of a `Retry-After` header. Only the delta-seconds form is read (what
/// Bazaar's processes send); an HTTP date, a sign, a fraction, a number past `u32` or
/// anything else is garbled and gives `None`, as an absent header does.
pub fn parse_retry_after(value: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error envelope.
    #[error("{0}")]
    Api(ApiError),
    /// The server turned the request away before running it: 503 `overloaded` (over its
    /// bound of requests in flight) or 429 `rate_limited` (over this client's rate).
    /// Nothing was applied, so any request, a write without a key too, may be sent again;
    /// `error.retry_after_secs` is when the server asked to be tried again (its
    /// `Retry-After` header, else its envelope's `retry_after_secs`). `attempts`: how many
    /// times it was sent and shed, all of them.
    #[error("{}", shed_message(error, *attempts))]
    Shed { error: ApiError, attempts: u32 },
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
    /// An archive file that could not be saved or read, or that is damaged.
    #[error("archive: {0}")]
    Archive(String),
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

    /// An error answer as the client reports it: a shed one (`overloaded`,
    /// `rate_limited`) as [`ClientError::Shed`], sent once so far; any other as it is.
    pub fn from_answer(error: ApiError) -> Self {
        if is_shed_reason(error.reason) {
            ClientError::Shed { error, attempts: 1 }
        } else {
            ClientError::Api(error)
        }
    }

    /// The API error's reason, if the server answered with one.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            ClientError::Api(e) | ClientError::Shed { error: e, .. } => Some(e.reason),
            _ => None,
        }
    }

    /// The server turned the request away unrun (503 `overloaded`, 429 `rate_limited`).
    pub fn is_shed(&self) -> bool {
        matches!(self, ClientError::Shed { .. })
    }

    /// How long the server asked to be left alone before this request is sent again
    /// (`Retry-After`), at most [`MAX_RETRY_AFTER`]; `None` when it did not say, or its
    /// header was garbled, or there was no answer.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api(e) | ClientError::Shed { error: e, .. } => e
                .retry_after_secs
                .map(|s| Duration::from_secs(u64::from(s)).min(MAX_RETRY_AFTER)),
            _ => None,
        }
    }

    /// A shed error, counting `attempts` sends in all; any other error as it is.
    pub fn with_attempts(self, attempts: u32) -> Self {
        match self {
            ClientError::Shed { error, .. } => ClientError::Shed { error, attempts },
            other => other,
        }
    }

    /// A write that failed this way may or may not have been applied: no answer, an
    /// unavailable answer (the proposal may still commit), or a malformed answer. A shed
    /// answer is definite: the process refused it at its door, before any handler ran.
    pub fn is_indeterminate(&self) -> bool {
        match self {
            ClientError::Transport { not_sent, .. } => !not_sent,
            ClientError::Api(e) => e.reason.is_unavailable() || e.reason == Reason::Internal,
            ClientError::Shed { .. } => false,
            ClientError::Decode { .. } => true,
            ClientError::BadUrl { .. }
            | ClientError::Usage(_)
            | ClientError::Backup(_)
            | ClientError::Archive(_) => false,
        }
    }

    /// Worth retrying (with the same idempotency key for orders).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } | ClientError::Shed { .. } => true,
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
            ClientError::Api(e) | ClientError::Shed { error: e, .. } => e.reason.as_str(),
            ClientError::Decode { .. } => "bad_answer",
            ClientError::BadUrl { .. } => "bad_url",
            ClientError::Usage(_) => "usage",
            ClientError::Backup(_) => "backup",
            ClientError::Archive(_) => "archive",
        }
    }
}

/// The reasons of answers that turned a request away before it ran.
fn is_shed_reason(reason: Reason) -> bool {
    matches!(reason, Reason::Overloaded | Reason::RateLimited)
}

/// What a shed request's error says: who refused it and why, that it did not run, and
/// when to try again.
fn shed_message(error: &ApiError, attempts: u32) -> String {
    let who = match error.reason {
        Reason::RateLimited => {
            "this client is rate-limited: it sent more requests than \
                                the server allows per client, and the request was refused"
        }
        _ => "the server is overloaded: it turned the request away",
    };
    let times = if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    };
    let when = match error.retry_after_secs {
        Some(secs) => format!("try again in {secs} s"),
        None => "try again shortly".to_owned(),
    };
    format!("{who} without running it{times}; {when} [{error}]")
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

    #[test]
    fn shed_answers_are_definite_and_retryable() {
        for shed in [ApiError::overloaded("writes", 2), ApiError::rate_limited(2)] {
            let reason = shed.reason;
            let e = ClientError::from_answer(shed);
            assert!(e.is_shed(), "{e:?}");
            // Turned away at the door: not run, so a write cannot have been applied.
            assert!(!e.is_indeterminate(), "{e:?}");
            assert!(e.is_retryable(), "{e:?}");
            assert_eq!(e.reason(), Some(reason));
            assert_eq!(e.label(), reason.as_str());
            assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        }
        // A 503 that is not a shed stays what it was: it may still commit.
        let e = ClientError::from_answer(ApiError::unavailable("no quorum"));
        assert!(!e.is_shed());
        assert!(e.is_indeterminate());
        let e = ClientError::from_answer(ApiError::new(Reason::Timeout, "slow"));
        assert!(!e.is_shed() && e.is_indeterminate());
    }

    #[test]
    fn retry_after_is_read_as_seconds_only_and_waited_at_most_a_minute() {
        assert_eq!(parse_retry_after(b"1"), Some(1));
        assert_eq!(parse_retry_after(b" 30 "), Some(30));
        assert_eq!(parse_retry_after(b"0"), Some(0));
        assert_eq!(parse_retry_after(b"3600"), Some(3600));
        for garbled in [
            &b""[..],
            b"  ",
            b"-1",
            b"+1",
            b"1.5",
            b"1s",
            b"soon",
            b"Wed, 21 Oct 2015 07:28:00 GMT",
            b"99999999999",
            b"\xff1",
        ] {
            assert_eq!(parse_retry_after(garbled), None, "{garbled:?}");
        }
        // The server's figure is kept (and shown); the wait is bounded.
        let e = ClientError::from_answer(ApiError::overloaded("writes", 3600));
        assert_eq!(e.retry_after(), Some(MAX_RETRY_AFTER));
        assert!(e.to_string().contains("try again in 3600 s"), "{e}");
        let mut no_hint = ApiError::overloaded("writes", 1);
        no_hint.retry_after_secs = None;
        let e = ClientError::from_answer(no_hint);
        assert_eq!(e.retry_after(), None);
        assert!(e.to_string().contains("try again shortly"), "{e}");
        // Only answers carry one.
        let e = ClientError::Transport {
            url: "http://x".into(),
            reason: "refused".into(),
            not_sent: true,
            timeout: false,
        };
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn a_shed_error_says_plainly_who_refused_and_when_to_try_again() {
        let e = ClientError::from_answer(ApiError::overloaded("writes", 2)).with_attempts(4);
        let text = e.to_string();
        for part in [
            "the server is overloaded",
            "without running it (4 attempts)",
            "try again in 2 s",
            "503 overloaded",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        let text = ClientError::from_answer(ApiError::rate_limited(5)).to_string();
        for part in [
            "this client is rate-limited",
            "try again in 5 s",
            "429 rate_limited",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        assert!(!text.contains("attempts"), "{text}");
        // Attempts are counted on shed errors only.
        let other = ClientError::Api(ApiError::unavailable("x")).with_attempts(3);
        assert!(matches!(other, ClientError::Api(_)));
    }
}
