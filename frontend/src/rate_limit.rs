//! The optional per-client rate limit (`[limits.rate]`, off by default): tower_governor's
//! layer over governor's GCRA, keyed by a request header (`limits.rate.client_header`) or
//! else the peer's IP address. A request over its client's rate is answered at once with
//! 429 `rate_limited`, `Retry-After` and the envelope, and counted
//! (`bazaar_frontend_rate_limited_total`). Only the routes the frontend sheds are limited:
//! health, readiness, version and metrics never are.
//!
//! The limiter keeps a state per client it has seen; [`RateLimit::forget_idle_clients`]
//! drops, every few seconds, those whose state is as good as new (a client idle for a
//! whole burst's refill), so the memory it holds follows the clients active lately, not
//! every one ever seen (`bazaar_frontend_rate_limit_clients`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, Request};
use axum::response::Response;
use bazaar_api::config::RateLimitSettings;
use bazaar_api::ApiError;
use bazaar_service::metrics::prometheus_client::collector::Collector;
use bazaar_service::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use bazaar_service::metrics::prometheus_client::metrics::counter::Counter;
use bazaar_service::metrics::prometheus_client::metrics::gauge::ConstGauge;
use bazaar_service::metrics::prometheus_client::registry::Registry;
use bazaar_service::respond;
use bazaar_service::CancellationToken;
use governor::middleware::NoOpMiddleware;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder, SharedRateLimiter};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use crate::error::FrontendError;

/// The most of a header value kept as a client's key: longer values share a key with
/// others of the same beginning rather than grow the limiter's state.
const MAX_KEY_BYTES: usize = 128;
/// How often the states of idle clients are dropped.
const FORGET_EVERY: Duration = Duration::from_secs(10);

/// Who a request is from, as far as the rate goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// The configured header's value (its first [`MAX_KEY_BYTES`] bytes).
    Header(Box<[u8]>),
    /// The peer's IP address (every port of one host is one client).
    Ip(IpAddr),
    /// Neither: a request served without its peer's address (never, behind `serve`).
    Unknown,
}

/// Reads a request's [`ClientKey`]: the header when configured and present, else the peer.
#[derive(Debug, Clone)]
pub struct ClientKeyExtractor {
    header: Option<HeaderName>,
}

impl ClientKeyExtractor {
    fn key_of<T>(&self, req: &Request<T>) -> ClientKey {
        if let Some(value) = self.header.as_ref().and_then(|h| req.headers().get(h)) {
            let bytes = value.as_bytes();
            return ClientKey::Header(bytes[..bytes.len().min(MAX_KEY_BYTES)].into());
        }
        match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => ClientKey::Ip(peer.ip()),
            None => ClientKey::Unknown,
        }
    }
}

impl KeyExtractor for ClientKeyExtractor {
    type Key = ClientKey;

    fn extract<T>(&self, req: &Request<T>) -> Result<ClientKey, GovernorError> {
        Ok(self.key_of(req))
    }
}

type Limiter = SharedRateLimiter<ClientKey, NoOpMiddleware>;

/// The limiter and what it reports to.
pub struct RateLimit {
    config: Arc<GovernorConfig<ClientKeyExtractor, NoOpMiddleware>>,
    limited: Counter,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `None` when `settings` turn the rate limit off; `limited` counts the 429s.
    pub fn new(
        settings: &RateLimitSettings,
        limited: Counter,
    ) -> Result<Option<Self>, FrontendError> {
        let Some(per_second) = NonZeroU32::new(settings.per_second) else {
            return Ok(None);
        };
        let burst = NonZeroU32::new(settings.burst).ok_or(FrontendError::Config {
            field: "limits.rate.burst",
            reason: "must be above 0".into(),
        })?;
        let header = match settings.client_header.as_str() {
            "" => None,
            name => Some(HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                FrontendError::Config {
                    field: "limits.rate.client_header",
                    reason: format!("{name:?} is not a header name: {e}"),
                }
            })?),
        };
        // One request's worth of the quota comes back every 1/per_second s.
        let period = Duration::from_nanos(1_000_000_000 / u64::from(per_second.get()))
            .max(Duration::from_nanos(1));
        let config = GovernorConfigBuilder::default()
            .key_extractor(ClientKeyExtractor { header })
            .period(period)
            .burst_size(burst.get())
            .finish()
            .ok_or(FrontendError::Config {
                field: "limits.rate.per_second",
                reason: "the rate and burst make no quota".into(),
            })?;
        Ok(Some(Self {
            config: Arc::new(config),
            limited,
        }))
    }

    fn limiter(&self) -> &Limiter {
        self.config.limiter()
    }

    /// The layer for the routes to limit; every copy shares one limiter.
    pub fn layer(&self) -> GovernorLayer<ClientKeyExtractor, NoOpMiddleware, Body> {
        let limited = self.limited.clone();
        GovernorLayer::new(self.config.clone()).error_handler(move |e| over_the_rate(&limited, e))
    }

    /// Registers the gauge of the clients whose state is kept.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(ClientsGauge(self.limiter().clone())));
    }

    /// Until `shutdown`, drops every [`FORGET_EVERY`] the state of clients that are as if
    /// never seen (their whole burst refilled).
    pub async fn forget_idle_clients(&self, shutdown: CancellationToken) {
        let limiter = self.limiter().clone();
        let mut tick = tokio::time::interval(FORGET_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        }
    }
}

/// The answer to a request over its client's rate (governor's own error, the envelope
/// instead of its plain text).
fn over_the_rate(limited: &Counter, e: GovernorError) -> Response {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            limited.inc();
            // governor rounds the wait down to whole seconds; under one is "1".
            let secs = u32::try_from(wait_time).unwrap_or(u32::MAX).max(1);
            respond::error(&ApiError::rate_limited(secs))
        }
        // The extractor never fails; a custom error would be governor's own bug.
        other => respond::error(&ApiError::internal(format!("rate limit: {other}"))),
    }
}

/// `bazaar_frontend_rate_limit_clients`, read at scrape time.
struct ClientsGauge(Limiter);

impl fmt::Debug for ClientsGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientsGauge").finish_non_exhaustive()
    }
}

impl Collector for ClientsGauge {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let metric = ConstGauge::new(self.0.len() as i64);
        metric.encode(encoder.encode_descriptor(
            "rate_limit_clients",
            "Clients whose request rate the frontend keeps a state for (dropped once idle).",
            None,
            metric.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn extractor(header: Option<&str>) -> ClientKeyExtractor {
        ClientKeyExtractor {
            header: header.map(|h| HeaderName::from_bytes(h.as_bytes()).unwrap()),
        }
    }

    fn request(header: Option<(&str, &str)>, peer: Option<&str>) -> Request<()> {
        let mut req = Request::get("/products/Tux");
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let mut req = req.body(()).unwrap();
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        req
    }

    #[test]
    fn a_client_is_its_header_else_its_peers_address() {
        let by_header = extractor(Some("X-Client-Id"));
        let a = by_header.key_of(&request(Some(("x-client-id", "a")), Some("10.0.0.1:5")));
        assert_eq!(a, ClientKey::Header(b"a"[..].into()));
        // Without the header, the peer; every port of one host is the same client.
        let p1 = by_header.key_of(&request(None, Some("10.0.0.1:5")));
        let p2 = by_header.key_of(&request(None, Some("10.0.0.1:6")));
        assert_eq!(p1, ClientKey::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(p1, p2);
        // Unconfigured, the header is ignored.
        let by_peer = extractor(None);
        assert_eq!(
            by_peer.key_of(&request(Some(("x-client-id", "a")), Some("10.0.0.2:5"))),
            ClientKey::Ip("10.0.0.2".parse().unwrap())
        );
        assert_eq!(by_peer.key_of(&request(None, None)), ClientKey::Unknown);
        // A long value is kept to its beginning.
        let long = "x".repeat(4 * MAX_KEY_BYTES);
        match by_header.key_of(&request(Some(("x-client-id", &long)), None)) {
            ClientKey::Header(bytes) => assert_eq!(bytes.len(), MAX_KEY_BYTES),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn off_by_default_and_over_the_rate_is_a_429_envelope_with_retry_after() {
        let off = RateLimit::new(&RateLimitSettings::default(), Counter::default()).unwrap();
        assert!(off.is_none());
        let limited = Counter::default();
        let response = over_the_rate(
            &limited,
            GovernorError::TooManyRequests {
                wait_time: 0,
                headers: None,
            },
        );
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(limited.get(), 1);
    }
}
