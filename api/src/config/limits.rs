//! `[limits]`: load shedding and the per-client rate. Each process admits a bounded number
//! of requests in flight per class (writes, linearizable reads, cached reads, admin) and
//! answers one more at once with 503 `overloaded` and `Retry-After`, rather than letting it
//! queue into its deadline; a frontend may also hold each client to a rate (429
//! `rate_limited`). Health, readiness and metrics routes are never limited.

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};

/// The most any class's bound may be: past it a bound limits nothing a process could
/// really hold (each request in flight is a socket and a task).
pub const MAX_IN_FLIGHT: usize = 1_000_000;
/// The most `limits.retry_after_secs` may be: a client told to wait longer has given up.
pub const MAX_RETRY_AFTER_SECS: u32 = 3600;
/// The range of a nonzero `queue_delay_ms`.
pub const MIN_QUEUE_DELAY_MS: u64 = 2;
pub const MAX_QUEUE_DELAY_MS: u64 = 10_000;
/// The most `limits.rate.per_second` and `limits.rate.burst` may be.
pub const MAX_RATE: u32 = 1_000_000;

/// The bound on requests in flight of each class, in one process. 0: that class is never
/// shed. A request holds its slot until its answer's head is ready. In the cluster file a
/// section names only the fields it changes; the others keep that process's defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InFlightLimits {
    /// Orders (`POST /orders`, and on a node a frontend's `POST /orders/batch`).
    pub writes: usize,
    /// Reads a node answers at a read index: on a frontend, every read it sends to a node
    /// (order lookups, the product list, reads with `?consistency=`).
    pub linearizable_reads: usize,
    /// Reads answered without consensus: a frontend's cacheable lookups and searches (hits,
    /// and the misses that fill the cache) and its storefront page; a node's
    /// `?consistency=stale` reads.
    pub cached_reads: usize,
    /// `/admin/*` and, on a frontend, the cluster panel's `/cluster` and `/cluster/nodes`.
    pub admin: usize,
    /// Shed by queueing delay too: when the process's runtime is this many milliseconds
    /// behind for several probes in a row (its tasks, and so the requests it has not read
    /// yet, wait that long for a core), writes and reads are answered 503 `overloaded` at
    /// once until it catches up. A bound on requests in flight cannot see that queue: a
    /// request waits in it before it is read, let alone counted. 0: off.
    pub queue_delay_ms: u64,
}

impl InFlightLimits {
    /// The frontend's bounds, measured (BENCHMARKS.md, "Load shedding at 2,000
    /// connections"). Little's law: a class's bound divided by its throughput is how long
    /// an admitted request waits behind the others. The cluster reaches its throughput by
    /// 64 sessions on this project's 2-core machine, so 64 in flight per class keeps an
    /// admitted request's wait near its 64-session latency: at 2,000 sessions the
    /// admitted lookups' p99 was 1.99× the 64-session one with these bounds, and 6× with
    /// the earlier 128/128/512 (lookups miss the cache while orders change stock, so
    /// cached reads wait on the nodes too). Shedding for a delay over 5 ms catches the
    /// wait before a request is read, which no bound sees. Admin is the operator's: a few
    /// at a time.
    pub fn frontend_defaults() -> Self {
        Self {
            writes: 64,
            linearizable_reads: 64,
            cached_reads: 64,
            admin: 32,
            queue_delay_ms: 5,
        }
    }

    /// The node's bounds, not yet measured on a node (the frontend's were reasoned the same
    /// way): a leader takes 13k–20k orders/s from 64 connections (BENCHMARKS.md), so 256
    /// in flight wait ~13–20 ms behind each other, inside `raft.write_deadline_ms` (2 s).
    /// A frontend sends its orders and lookups in batches, at most four of each in
    /// flight, so each frontend holds a handful of these slots however many shoppers it
    /// serves. Stale reads are local and cheap.
    pub fn node_defaults() -> Self {
        Self {
            writes: 256,
            linearizable_reads: 256,
            cached_reads: 1024,
            admin: 16,
            queue_delay_ms: 0,
        }
    }

    /// `section` is the field's path, e.g. `limits.frontend`.
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        for (field, bound) in [
            ("writes", self.writes),
            ("linearizable_reads", self.linearizable_reads),
            ("cached_reads", self.cached_reads),
            ("admin", self.admin),
        ] {
            if bound > MAX_IN_FLIGHT {
                return Err(invalid(
                    format!("{section}.{field}"),
                    format!("must be at most {MAX_IN_FLIGHT} (0: never shed)"),
                ));
            }
        }
        if self.queue_delay_ms != 0
            && !(MIN_QUEUE_DELAY_MS..=MAX_QUEUE_DELAY_MS).contains(&self.queue_delay_ms)
        {
            return Err(invalid(
                format!("{section}.queue_delay_ms"),
                format!(
                    "must be 0 (off) or between {MIN_QUEUE_DELAY_MS} and {MAX_QUEUE_DELAY_MS}: \
                     the runtime's timer ticks in milliseconds, so a smaller delay is noise"
                ),
            ));
        }
        Ok(())
    }
}

/// The fields of an `[limits.frontend]` or `[limits.node]` section, each optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialLimits {
    writes: Option<usize>,
    linearizable_reads: Option<usize>,
    cached_reads: Option<usize>,
    admin: Option<usize>,
    queue_delay_ms: Option<u64>,
}

impl PartialLimits {
    fn over(self, defaults: InFlightLimits) -> InFlightLimits {
        InFlightLimits {
            writes: self.writes.unwrap_or(defaults.writes),
            linearizable_reads: self
                .linearizable_reads
                .unwrap_or(defaults.linearizable_reads),
            cached_reads: self.cached_reads.unwrap_or(defaults.cached_reads),
            admin: self.admin.unwrap_or(defaults.admin),
            queue_delay_ms: self.queue_delay_ms.unwrap_or(defaults.queue_delay_ms),
        }
    }
}

fn frontend_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<InFlightLimits, D::Error> {
    Ok(PartialLimits::deserialize(d)?.over(InFlightLimits::frontend_defaults()))
}

fn node_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<InFlightLimits, D::Error> {
    Ok(PartialLimits::deserialize(d)?.over(InFlightLimits::node_defaults()))
}

/// The frontend's optional per-client rate (GCRA, governor's): `per_second` requests a
/// second on average, in bursts of up to `burst`; one over answers 429 `rate_limited`
/// with `Retry-After`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests a second each client may make on average. 0, the default: no rate limit.
    pub per_second: u32,
    /// Requests a client may make at once before the rate applies.
    pub burst: u32,
    /// Who a client is: the value of this request header (e.g. `X-Client-Id`, set by a
    /// proxy or API gateway in front that the frontend trusts: a client choosing its own
    /// value can take a fresh one per request), falling back to the peer address when a
    /// request has none. Empty, the default: the peer's IP address.
    pub client_header: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 0,
            burst: 50,
            client_header: String::new(),
        }
    }
}

impl RateLimitSettings {
    pub fn enabled(&self) -> bool {
        self.per_second > 0
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.per_second > MAX_RATE {
            return Err(invalid(
                "limits.rate.per_second",
                format!("must be at most {MAX_RATE} (0: no rate limit)"),
            ));
        }
        if self.enabled() && (self.burst == 0 || self.burst > MAX_RATE) {
            return Err(invalid(
                "limits.rate.burst",
                format!("must be between 1 and {MAX_RATE}"),
            ));
        }
        let h = &self.client_header;
        if !h.is_empty() && !h.bytes().all(is_token_byte) {
            return Err(invalid(
                "limits.rate.client_header",
                format!("{h:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"),
            ));
        }
        Ok(())
    }
}

/// RFC 9110's `tchar`: the bytes of a header name.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Seconds a shed (503 `overloaded`) answer's `Retry-After` asks the client to wait.
    pub retry_after_secs: u32,
    /// Each frontend's bounds.
    #[serde(deserialize_with = "frontend_limits")]
    pub frontend: InFlightLimits,
    /// Each node's bounds.
    #[serde(deserialize_with = "node_limits")]
    pub node: InFlightLimits,
    /// The frontend's per-client rate.
    pub rate: RateLimitSettings,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            retry_after_secs: 1,
            frontend: InFlightLimits::frontend_defaults(),
            node: InFlightLimits::node_defaults(),
            rate: RateLimitSettings::default(),
        }
    }
}

impl LimitSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_after_secs == 0 || self.retry_after_secs > MAX_RETRY_AFTER_SECS {
            return Err(invalid(
                "limits.retry_after_secs",
                format!("must be between 1 and {MAX_RETRY_AFTER_SECS}"),
            ));
        }
        self.frontend.validate("limits.frontend")?;
        self.node.validate("limits.node")?;
        self.rate.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(l: &LimitSettings) -> String {
        l.validate().expect_err("invalid").to_string()
    }

    #[test]
    fn defaults_are_valid_and_rate_limiting_is_off() {
        let l = LimitSettings::default();
        l.validate().unwrap();
        assert!(!l.rate.enabled());
        assert_eq!(l.frontend, InFlightLimits::frontend_defaults());
        assert_eq!(l.node, InFlightLimits::node_defaults());
    }

    #[test]
    fn a_partial_section_keeps_its_own_defaults_under_the_fields_it_leaves_out() {
        let l: LimitSettings =
            toml::from_str("[frontend]\nwrites = 7\n[node]\nadmin = 3\n").unwrap();
        assert_eq!(l.frontend.writes, 7);
        assert_eq!(
            l.frontend.cached_reads,
            InFlightLimits::frontend_defaults().cached_reads
        );
        assert_eq!(l.node.admin, 3);
        assert_eq!(l.node.writes, InFlightLimits::node_defaults().writes);
        assert_eq!(
            l.frontend.queue_delay_ms,
            InFlightLimits::frontend_defaults().queue_delay_ms
        );
        assert!(toml::from_str::<LimitSettings>("[node]\nwrite = 1\n").is_err());
        assert!(toml::from_str::<LimitSettings>("[frontend]\nwrite = 1\n").is_err());
        // What is written is read back the same.
        let text = toml::to_string(&l).unwrap();
        assert_eq!(toml::from_str::<LimitSettings>(&text).unwrap(), l);
    }

    #[test]
    fn errors_name_the_field() {
        let l = LimitSettings {
            retry_after_secs: 0,
            ..LimitSettings::default()
        };
        assert!(err_of(&l).contains("limits.retry_after_secs"));

        let mut l = LimitSettings::default();
        l.frontend.cached_reads = MAX_IN_FLIGHT + 1;
        assert!(err_of(&l).contains("limits.frontend.cached_reads"));
        l.frontend.cached_reads = 0;
        l.validate().expect("0: never shed");

        let mut l = LimitSettings::default();
        l.node.writes = MAX_IN_FLIGHT + 1;
        assert!(err_of(&l).contains("limits.node.writes"));

        let mut l = LimitSettings::default();
        l.rate.per_second = 10;
        l.rate.burst = 0;
        assert!(err_of(&l).contains("limits.rate.burst"));
        l.rate.burst = 5;
        l.validate().unwrap();
        l.rate.client_header = "X Client".into();
        assert!(err_of(&l).contains("limits.rate.client_header"));
        l.rate.client_header = "X-Client-Id".into();
        l.validate().unwrap();

        let mut l = LimitSettings::default();
        l.rate.per_second = MAX_RATE + 1;
        assert!(err_of(&l).contains("limits.rate.per_second"));

        let mut l = LimitSettings::default();
        l.frontend.queue_delay_ms = 1;
        assert!(err_of(&l).contains("limits.frontend.queue_delay_ms"));
        l.frontend.queue_delay_ms = MAX_QUEUE_DELAY_MS + 1;
        assert!(err_of(&l).contains("limits.frontend.queue_delay_ms"));
        l.frontend.queue_delay_ms = 0;
        l.node.queue_delay_ms = 20;
        l.validate().expect("0 is off, 20 ms is in range");
    }
}
