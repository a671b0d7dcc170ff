//! Load shedding at admission, for node and frontend alike: every request is put in a
//! [`Class`] (writes, linearizable reads, cached reads, admin; or none, which is never
//! shed: health, readiness, metrics), each class admits a bounded number of requests in
//! flight, and one more is answered at once with 503 `overloaded` and `Retry-After`
//! instead of waiting for a slot: a request that would queue behind the bound would only
//! wait out its deadline. With `queue_delay_ms` it also sheds writes and reads while the
//! process is behind (`queue_delay.rs`): the wait before a request is read, which no bound
//! on requests in flight can see.
//!
//! A class's slots are one atomic counter (a compare-and-swap to enter, one subtraction to
//! leave; no lock, no waiter list, since nothing ever waits). The checks run inside the
//! standard HTTP layer ([`crate::http::standard_layers_admitting`]), which holds a
//! request's slot until its answer's head is ready (a streamed body, a backup or the change
//! feed, is not held: classify those as none). Series, read at scrape time:
//! `<prefix>_shed_total{class}`, `<prefix>_requests_in_flight{class}` and
//! `<prefix>_requests_in_flight_limit{class}` (0: no bound).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use bazaar_api::config::InFlightLimits;
use bazaar_api::ApiError;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::queue_delay::QueueDelay;

/// What kind of work a request is, for its bound on requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Orders and other writes through the log.
    Write,
    /// Reads a node answers at a read index (on a frontend: every read it sends to a node).
    LinearizableRead,
    /// Reads answered without consensus: a frontend's cache, a node's stale reads.
    CachedRead,
    /// Operators' routes.
    Admin,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::Write,
        Class::LinearizableRead,
        Class::CachedRead,
        Class::Admin,
    ];

    /// The `class` label of the series.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Write => "write",
            Class::LinearizableRead => "linearizable_read",
            Class::CachedRead => "cached_read",
            Class::Admin => "admin",
        }
    }

    /// The class in the shed answer's message (and its `[limits]` field).
    fn what(self) -> &'static str {
        match self {
            Class::Write => "writes",
            Class::LinearizableRead => "linearizable reads",
            Class::CachedRead => "cached reads",
            Class::Admin => "admin requests",
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Write => 0,
            Class::LinearizableRead => 1,
            Class::CachedRead => 2,
            Class::Admin => 3,
        }
    }

    fn bound_in(self, limits: &InFlightLimits) -> usize {
        match self {
            Class::Write => limits.writes,
            Class::LinearizableRead => limits.linearizable_reads,
            Class::CachedRead => limits.cached_reads,
            Class::Admin => limits.admin,
        }
    }
}

/// A router's rule for which class a request is in; `None`: never shed. Called for every
/// request inside the router, so axum's `MatchedPath` is in its extensions. A plain `fn`
/// (a closure that captures nothing coerces to one): no allocation, no dynamic dispatch
/// through a box.
pub type Classify = fn(&Request<Body>) -> Option<Class>;

/// One class's slots and count of shed requests.
#[derive(Debug)]
struct ClassGate {
    /// 0: no bound (the requests are still counted in flight).
    bound: usize,
    in_flight: AtomicUsize,
    shed: AtomicU64,
}

impl ClassGate {
    fn try_enter(&self) -> bool {
        if self.bound == 0 {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        // Only ever raised while under the bound, so a refused request never shows as in
        // flight, and a request that races one leaving is never refused spuriously.
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.bound).then_some(n + 1)
            })
            .is_ok()
    }
}

#[derive(Debug)]
struct Gates {
    classes: [ClassGate; 4],
    retry_after_secs: u32,
    /// With `queue_delay_ms`: the probe's findings, checked before the bounds.
    delay: Option<QueueDelay>,
}

/// One process's admission bounds; cheap to clone (one shared set of counters).
#[derive(Debug, Clone)]
pub struct Admission {
    gates: Arc<Gates>,
}

impl Admission {
    /// `bounds` from the cluster file (`limits.frontend` or `limits.node`), and the
    /// `Retry-After` of a shed answer (`limits.retry_after_secs`). With a
    /// `queue_delay_ms`, spawn [`Admission::probe_queue_delay`] for it to take effect.
    pub fn new(bounds: &InFlightLimits, retry_after_secs: u32) -> Self {
        let gate = |class: Class| ClassGate {
            bound: class.bound_in(bounds),
            in_flight: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
        };
        Self {
            gates: Arc::new(Gates {
                classes: Class::ALL.map(gate),
                retry_after_secs: retry_after_secs.max(1),
                delay: (bounds.queue_delay_ms > 0)
                    .then(|| QueueDelay::new(Duration::from_millis(bounds.queue_delay_ms))),
            }),
        }
    }

    /// Registers the shed counter and the in-flight gauges (read at scrape time) in the
    /// process's registry, under its prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(AdmissionCollector(self.gates.clone())));
    }

    /// Measures the runtime it runs on until `stop`, shedding writes and reads while it is
    /// behind (see `queue_delay.rs`); returns at once when `queue_delay_ms` is 0.
    pub async fn probe_queue_delay(self, stop: CancellationToken) {
        if let Some(delay) = self.gates.delay.clone() {
            delay.run(stop).await;
        }
    }

    /// Whether the runtime is behind now (never, without a `queue_delay_ms`).
    pub fn is_behind(&self) -> bool {
        self.gates
            .delay
            .as_ref()
            .is_some_and(QueueDelay::is_overloaded)
    }

    fn gate(&self, class: Class) -> &ClassGate {
        &self.gates.classes[class.index()]
    }

    /// A slot of `class`, held until the permit is dropped; or, when the class is at its
    /// bound, the 503 `overloaded` error (counted as shed).
    pub fn try_admit(&self, class: Class) -> Result<Permit, ApiError> {
        let gate = self.gate(class);
        // The operator's requests are not shed for delay: they are few, and may be what
        // ends the overload (a leader moved, a limit changed).
        if class != Class::Admin {
            if let Some(delay) = self.gates.delay.as_ref().filter(|d| d.is_overloaded()) {
                gate.shed.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::behind(
                    delay.target().as_millis() as u64,
                    self.gates.retry_after_secs,
                ));
            }
        }
        if gate.try_enter() {
            return Ok(Permit {
                gates: self.gates.clone(),
                class,
            });
        }
        gate.shed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            class = class.as_str(),
            bound = gate.bound,
            "shedding a request"
        );
        Err(ApiError::overloaded(
            class.what(),
            self.gates.retry_after_secs,
        ))
    }

    /// Requests of `class` in flight now.
    pub fn in_flight(&self, class: Class) -> usize {
        self.gate(class).in_flight.load(Ordering::Acquire)
    }

    /// Requests of `class` shed since start.
    pub fn shed_count(&self, class: Class) -> u64 {
        self.gate(class).shed.load(Ordering::Relaxed)
    }

    /// What the standard layer checks each request against: these bounds, and a router's
    /// rule for which class a request is in.
    pub fn with_classes(&self, classify: Classify) -> AdmissionGate {
        AdmissionGate {
            admission: self.clone(),
            classify,
        }
    }
}

/// A request's slot in its class; the slot is free again when this is dropped.
#[derive(Debug)]
pub struct Permit {
    gates: Arc<Gates>,
    class: Class,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gates.classes[self.class.index()]
            .in_flight
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bounds and a classification, as [`crate::http::standard_layers_admitting`] takes them.
#[derive(Clone)]
pub struct AdmissionGate {
    admission: Admission,
    classify: Classify,
}

impl fmt::Debug for AdmissionGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionGate")
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

impl AdmissionGate {
    /// `Ok(None)` for a request in no class, `Ok(Some(permit))` for one admitted, and the
    /// 503 `overloaded` error (its answer: [`crate::respond::error`]) for one over its
    /// bound.
    pub fn admit(&self, req: &Request<Body>) -> Result<Option<Permit>, ApiError> {
        match (self.classify)(req) {
            None => Ok(None),
            Some(class) => self.admission.try_admit(class).map(Some),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

/// Encodes the counters at scrape time.
#[derive(Debug)]
struct AdmissionCollector(Arc<Gates>);

impl Collector for AdmissionCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let classes = || {
            Class::ALL
                .into_iter()
                .map(|c| (ClassLabel { class: c.as_str() }, &self.0.classes[c.index()]))
        };
        let mut shed = encoder.encode_descriptor(
            "shed",
            "Requests answered 503 overloaded at once: their class was at its bound of requests in flight, or the process was behind by more than limits.*.queue_delay_ms ([limits]).",
            None,
            MetricType::Counter,
        )?;
        for (label, gate) in classes() {
            shed.encode_family(&label)?
                .encode_counter::<ClassLabel, u64, u64>(&gate.shed.load(Ordering::Relaxed), None)?;
        }
        let mut in_flight = encoder.encode_descriptor(
            "requests_in_flight",
            "Admitted requests not yet answered, by class.",
            None,
            MetricType::Gauge,
        )?;
        for (label, gate) in classes() {
            let n = gate.in_flight.load(Ordering::Acquire) as i64;
            in_flight.encode_family(&label)?.encode_gauge(&n)?;
        }
        let mut limit = encoder.encode_descriptor(
            "requests_in_flight_limit",
            "The bound on requests in flight of each class (0: none).",
            None,
            MetricType::Gauge,
        )?;
        for (label, gate) in classes() {
            limit
                .encode_family(&label)?
                .encode_gauge(&(gate.bound as i64))?;
        }
        if let Some(delay) = &self.0.delay {
            let seconds = delay.last_delay().as_secs_f64();
            encoder
                .encode_descriptor(
                    "queue_delay_seconds",
                    "How late the runtime's last probe woke (every 5 ms): the wait of a request that arrives now before it is read.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&seconds)?;
            let behind = i64::from(delay.is_overloaded());
            encoder
                .encode_descriptor(
                    "behind",
                    "1 while the process is behind by more than its queue_delay_ms and sheds writes and reads.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&behind)?;
            encoder
                .encode_descriptor(
                    "behind_episodes",
                    "Times the process fell behind by more than its queue_delay_ms.",
                    None,
                    MetricType::Counter,
                )?
                .encode_counter::<ClassLabel, u64, u64>(&delay.episodes(), None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricsBuilder;

    fn bounds(writes: usize, reads: usize) -> InFlightLimits {
        InFlightLimits {
            writes,
            linearizable_reads: reads,
            cached_reads: 0,
            admin: 1,
            queue_delay_ms: 0,
        }
    }

    #[test]
    fn a_class_at_its_bound_sheds_the_next_until_a_slot_is_freed() {
        let a = Admission::new(&bounds(2, 1), 3);
        let first = a.try_admit(Class::Write).expect("first");
        let _second = a.try_admit(Class::Write).expect("second");
        let shed = a
            .try_admit(Class::Write)
            .expect_err("third is over the bound");
        assert_eq!(shed.status(), 503);
        assert_eq!(shed.reason, bazaar_api::Reason::Overloaded);
        assert_eq!(shed.retry_after_secs, Some(3));
        assert!(shed.message.contains("writes"), "{}", shed.message);
        assert_eq!(
            (a.in_flight(Class::Write), a.shed_count(Class::Write)),
            (2, 1)
        );
        // Another class is unaffected.
        let _read = a.try_admit(Class::LinearizableRead).expect("a read");
        assert_eq!(a.shed_count(Class::LinearizableRead), 0);
        drop(first);
        assert_eq!(a.in_flight(Class::Write), 1);
        let _third = a
            .try_admit(Class::Write)
            .expect("a freed slot is taken again");
        assert_eq!(a.shed_count(Class::Write), 1);
    }

    /// While the runtime is behind, writes and reads are shed whatever their bound, and
    /// admin requests are not; once it has caught up, the bounds alone decide again.
    #[test]
    fn behind_sheds_writes_and_reads_but_not_the_operator() {
        let mut limits = bounds(100, 100);
        limits.queue_delay_ms = 5;
        let a = Admission::new(&limits, 2);
        assert!(!a.is_behind());
        let delay = a.gates.delay.clone().expect("a probe with queue_delay_ms");
        delay.record(Duration::from_millis(30), true);
        assert!(a.is_behind());
        for class in [Class::Write, Class::LinearizableRead, Class::CachedRead] {
            let shed = a.try_admit(class).expect_err("behind");
            assert_eq!(shed.status(), 503);
            assert_eq!(shed.reason, bazaar_api::Reason::Overloaded);
            assert_eq!(shed.retry_after_secs, Some(2));
            assert!(shed.message.contains("behind"), "{}", shed.message);
            assert_eq!((a.shed_count(class), a.in_flight(class)), (1, 0));
        }
        let _admin = a.try_admit(Class::Admin).expect("the operator is let in");
        delay.record(Duration::from_millis(1), false);
        let _write = a.try_admit(Class::Write).expect("caught up");
        let mut builder = MetricsBuilder::new("t");
        a.register(builder.registry());
        let text = builder.build().render();
        for line in [
            "t_queue_delay_seconds 0.001",
            "t_behind 0",
            "t_behind_episodes_total 1",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
        // Without a queue_delay_ms there is no probe and no such series.
        let off = Admission::new(&bounds(1, 1), 1);
        assert!(!off.is_behind());
        let mut builder = MetricsBuilder::new("t");
        off.register(builder.registry());
        assert!(!builder.build().render().contains("t_behind"));
    }

    #[test]
    fn a_bound_of_zero_sheds_nothing_but_counts_what_is_in_flight() {
        let a = Admission::new(&bounds(2, 1), 1);
        let held: Vec<_> = (0..100)
            .map(|_| a.try_admit(Class::CachedRead).expect("never shed"))
            .collect();
        assert_eq!(a.in_flight(Class::CachedRead), 100);
        drop(held);
        assert_eq!(a.in_flight(Class::CachedRead), 0);
    }

    #[test]
    fn the_series_show_each_class() {
        let a = Admission::new(&bounds(1, 1), 1);
        let mut builder = MetricsBuilder::new("t");
        a.register(builder.registry());
        let metrics = builder.build();
        let _held = a.try_admit(Class::Admin).expect("first");
        assert!(a.try_admit(Class::Admin).is_err());
        let text = metrics.render();
        for line in [
            "t_shed_total{class=\"admin\"} 1",
            "t_shed_total{class=\"write\"} 0",
            "t_requests_in_flight{class=\"admin\"} 1",
            "t_requests_in_flight_limit{class=\"admin\"} 1",
            "t_requests_in_flight_limit{class=\"cached_read\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }

    /// Many threads racing for a bound of 4 never hold more than 4 at once, and every
    /// attempt is either admitted or counted as shed.
    #[test]
    fn racing_requests_never_pass_the_bound() {
        let a = Admission::new(&bounds(4, 1), 1);
        let most = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..5_000 {
                        if let Ok(permit) = a.try_admit(Class::Write) {
                            admitted.fetch_add(1, Ordering::Relaxed);
                            most.fetch_max(a.in_flight(Class::Write), Ordering::Relaxed);
                            drop(permit);
                        }
                    }
                });
            }
        });
        assert!(most.load(Ordering::Relaxed) <= 4, "{most:?}");
        let total = admitted.load(Ordering::Relaxed) as u64 + a.shed_count(Class::Write);
        assert_eq!(total, 8 * 5_000);
        assert_eq!(a.in_flight(Class::Write), 0);
    }

    /// A router under the standard layer with these bounds: `/hold` (a write) and `/read`
    /// (a linearizable read) wait until the test lets them go; `/health` is in no class.
    fn held_router(admission: &Admission, release: Arc<tokio::sync::Semaphore>) -> axum::Router {
        use axum::extract::MatchedPath;
        use axum::routing::get;
        let hold = move || {
            let release = release.clone();
            async move {
                let _ = release.acquire().await.map(|p| p.forget());
                "done"
            }
        };
        let router = axum::Router::new()
            .route("/hold", get(hold.clone()))
            .route("/read", get(hold))
            .route("/health", get(|| async { "ok" }));
        fn classify(req: &Request<Body>) -> Option<Class> {
            match req.extensions().get::<MatchedPath>()?.as_str() {
                "/hold" => Some(Class::Write),
                "/read" => Some(Class::LinearizableRead),
                _ => None,
            }
        }
        crate::http::standard_layers_admitting(
            router,
            MetricsBuilder::new("t").build().http(),
            crate::http::Limits {
                body_bytes: 1024,
                timeout: std::time::Duration::from_secs(30),
            },
            admission.with_classes(classify),
        )
    }

    async fn wait_for(what: &str, check: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !check() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn through_the_standard_layer_the_next_request_over_the_bound_is_answered_at_once() {
        use tower::ServiceExt;
        let admission = Admission::new(&bounds(2, 1), 7);
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let app = held_router(&admission, release.clone());
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(app.clone().oneshot(get("/hold"))))
            .collect();
        wait_for("two writes in flight", || {
            admission.in_flight(Class::Write) == 2
        })
        .await;

        // The third write: 503 overloaded with Retry-After and the envelope, at once (the
        // held ones never answer until released, so nothing else could answer it).
        let shed = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app.clone().oneshot(get("/hold")),
        )
        .await
        .expect("answered without waiting for a slot")
        .unwrap();
        assert_eq!(shed.status(), 503);
        assert_eq!(shed.headers()["retry-after"], "7");
        assert!(shed.headers().contains_key(bazaar_api::REQUEST_ID_HEADER));
        let body = axum::body::to_bytes(shed.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("an envelope");
        assert_eq!(v["error"]["reason"], "overloaded", "{v}");
        assert_eq!(v["error"]["retry_after_secs"], 7, "{v}");
        assert_eq!(admission.shed_count(Class::Write), 1);

        // Health is in no class: answered however full the others are.
        let health = app.clone().oneshot(get("/health")).await.unwrap();
        assert_eq!(health.status(), 200);
        // Another class has its own slots.
        let read = tokio::spawn(app.clone().oneshot(get("/read")));
        wait_for("the read in flight", || {
            admission.in_flight(Class::LinearizableRead) == 1
        })
        .await;
        assert_eq!(admission.shed_count(Class::LinearizableRead), 0);

        // A finished request frees its slot: let one write go, and a new one is admitted.
        release.add_permits(1);
        let finished = futures_first(held).await;
        assert_eq!(finished.status(), 200);
        wait_for("a write slot free", || {
            admission.in_flight(Class::Write) == 1
        })
        .await;
        let again = tokio::spawn(app.clone().oneshot(get("/hold")));
        wait_for("the new write admitted", || {
            admission.in_flight(Class::Write) == 2
        })
        .await;
        assert_eq!(admission.shed_count(Class::Write), 1, "not shed");
        release.add_permits(3);
        assert_eq!(again.await.unwrap().unwrap().status(), 200);
        assert_eq!(read.await.unwrap().unwrap().status(), 200);
        wait_for("every slot free", || {
            admission.in_flight(Class::Write) == 0
                && admission.in_flight(Class::LinearizableRead) == 0
        })
        .await;
    }

    /// The first of the held requests to finish, the others left running.
    async fn futures_first(
        held: Vec<
            tokio::task::JoinHandle<Result<axum::response::Response, std::convert::Infallible>>,
        >,
    ) -> axum::response::Response {
        let mut held = held;
        wait_for("a held request to finish", || {
            held.iter().any(|h| h.is_finished())
        })
        .await;
        let i = held
            .iter()
            .position(|h| h.is_finished())
            .expect("one finished");
        held.swap_remove(i).await.unwrap().unwrap()
    }

    /// A request dropped before its answer (its client went away) gives its slot back.
    #[tokio::test]
    async fn a_request_dropped_unanswered_frees_its_slot() {
        use tower::ServiceExt;
        let admission = Admission::new(&bounds(1, 1), 1);
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let app = held_router(&admission, release);
        let held = tokio::spawn(app.clone().oneshot(get("/hold")));
        wait_for("the write in flight", || {
            admission.in_flight(Class::Write) == 1
        })
        .await;
        held.abort();
        wait_for("its slot free", || admission.in_flight(Class::Write) == 0).await;
    }
}
