//! Time spent in the named steps of a request's path (a write's wait in the proposer queue,
//! the log's synced append, the apply, a hop to another process), exported as
//! `<prefix>_step_duration_seconds{step}` so a benchmark can split one order's latency into
//! its parts from the processes' own `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::latency::LatencyHistogram;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabel {
    step: &'static str,
}

/// The steps a process records, fixed at start-up.
#[derive(Debug, Clone)]
pub struct StepTimings {
    steps: Arc<Vec<(&'static str, Arc<LatencyHistogram>)>>,
}

/// Records the durations of one step; cheap to clone.
#[derive(Debug, Clone)]
pub struct Step(Arc<LatencyHistogram>);

impl Step {
    pub fn record(&self, took: Duration) {
        self.0.record(took);
    }

    /// Records the time since `since`.
    pub fn record_since(&self, since: Instant) {
        self.0.record(since.elapsed());
    }
}

impl StepTimings {
    /// Registers one histogram per step name with `registry`.
    pub fn register(registry: &mut Registry, names: &[&'static str]) -> Self {
        let steps = names
            .iter()
            .map(|name| (*name, Arc::new(LatencyHistogram::new())))
            .collect();
        let timings = Self {
            steps: Arc::new(steps),
        };
        registry.register_collector(Box::new(StepCollector(timings.clone())));
        timings
    }

    /// The recorder of step `name`, taken once while a process wires itself up.
    ///
    /// # Panics
    /// If `name` was not registered: a wiring mistake that the first start shows.
    pub fn step(&self, name: &str) -> Step {
        match self.steps.iter().find(|(n, _)| *n == name) {
            Some((_, h)) => Step(h.clone()),
            None => panic!("step {name:?} was not registered with StepTimings::register"),
        }
    }
}

#[derive(Debug)]
struct StepCollector(StepTimings);

impl Collector for StepCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let mut histograms = encoder.encode_descriptor(
            "step_duration",
            "Time spent in one step of a request's path, by step.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (name, histogram) in self.0.steps.iter() {
            let (sum, count, buckets) = histogram.snapshot();
            histograms
                .encode_family(&StepLabel { step: name })?
                .encode_histogram::<StepLabel>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetricsBuilder;

    #[test]
    fn each_step_is_its_own_series() {
        let mut builder = MetricsBuilder::new("t");
        let timings = StepTimings::register(builder.registry(), &["queue", "apply"]);
        let metrics = builder.build();
        let queue = timings.step("queue");
        queue.record(Duration::from_micros(300));
        queue.record(Duration::from_micros(700));
        let text = metrics.render();
        assert!(
            text.contains("t_step_duration_seconds_count{step=\"queue\"} 2"),
            "{text}"
        );
        assert!(text.contains("t_step_duration_seconds_sum{step=\"queue\"} 0.001"));
        assert!(text.contains("t_step_duration_seconds_bucket{le=\"0.0005\",step=\"queue\"} 1"));
        assert!(text.contains("t_step_duration_seconds_count{step=\"apply\"} 0"));
    }

    #[test]
    #[should_panic(expected = "was not registered")]
    fn an_unregistered_step_is_a_wiring_mistake() {
        let mut builder = MetricsBuilder::new("t");
        let timings = StepTimings::register(builder.registry(), &["queue"]);
        timings.step("nope");
    }
}
