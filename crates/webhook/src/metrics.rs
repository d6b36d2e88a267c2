//! Prometheus metrics of the webhook, served on `/metrics` in the text format.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::Endpoint;

/// Labels of one admission decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DecisionLabels {
    /// `validate` or `mutate`.
    pub(crate) endpoint: String,
    /// `allowed`, `rejected`, `audit_rejected`, `skipped` or `invalid`.
    pub(crate) result: String,
    /// The deciding policy, empty when none decided.
    pub(crate) policy: String,
    /// The deciding rule, empty when none decided.
    pub(crate) rule: String,
    /// Kind of the admitted object.
    pub(crate) kind: String,
    /// Namespace of the admitted object.
    pub(crate) namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn scan_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Every metric of the webhook, in one registry: `portcullis_webhook_*`, and
/// `portcullis_db_age_seconds`, which is the service's rather than the webhook's.
pub(crate) struct Metrics {
    registry: Registry,
    db_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    decisions: Family<DecisionLabels, Counter>,
    /// The request latency of `/validate` and `/mutate`, resolved once: looking the
    /// histogram up by label on every review showed on the hot path.
    latency: [Histogram; Endpoint::ALL.len()],
    cache_hits: Counter,
    cache_misses: Counter,
    inline_scans: Counter,
    scans_finished: Family<OutcomeLabels, Counter>,
    scan_duration: Histogram,
    scan_timeouts: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut root = Registry::with_prefix("portcullis");
        let db_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        root.register(
            "db_age_seconds",
            "Age of the vulnerability database in use (since it was built)",
            db_age.clone(),
        );
        let registry = root.sub_registry_with_prefix("webhook");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Admission decisions by result, deciding policy and rule, kind and namespace",
            decisions.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer an admission request",
            latency.clone(),
        );
        let latency = Endpoint::ALL.map(|endpoint| {
            latency
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.as_str().into(),
                })
                .clone()
        });
        let cache_hits = Counter::default();
        registry.register(
            "scan_cache_hits",
            "Images whose report was cached",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "scan_cache_misses",
            "Images with no cached report",
            cache_misses.clone(),
        );
        let inline_scans = Counter::default();
        registry.register(
            "inline_scans",
            "Scans started by an admission request",
            inline_scans.clone(),
        );
        let scans_finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "scans_finished",
            "Scans finished, by outcome (ok, error)",
            scans_finished.clone(),
        );
        let scan_duration = scan_histogram();
        registry.register(
            "scan_duration_seconds",
            "Duration of scans started by admission requests",
            scan_duration.clone(),
        );
        let scan_timeouts = Counter::default();
        registry.register(
            "scan_timeouts",
            "Images whose scan outlasted the scan budget",
            scan_timeouts.clone(),
        );
        Metrics {
            registry: root,
            db_age,
            decisions,
            latency,
            cache_hits,
            cache_misses,
            inline_scans,
            scans_finished,
            scan_duration,
            scan_timeouts,
        }
    }

    pub(crate) fn decision(&self, labels: DecisionLabels) {
        self.decisions.get_or_create(&labels).inc();
    }

    /// Records how long a review through `endpoint` took.
    pub(crate) fn latency(&self, endpoint: Endpoint, d: Duration) {
        self.latency[endpoint.index()].observe(d.as_secs_f64());
    }

    pub(crate) fn cache(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    pub(crate) fn inline_scan_started(&self) {
        self.inline_scans.inc();
    }

    pub(crate) fn scan_finished(&self, d: Duration, ok: bool) {
        self.scan_duration.observe(d.as_secs_f64());
        let outcome = if ok { "ok" } else { "error" };
        self.scans_finished
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Sets the age of the DB in use (left as it was when unknown).
    pub(crate) fn db_age(&self, age: Duration) {
        self.db_age.set(age.as_secs_f64());
    }

    pub(crate) fn scan_timeout(&self) {
        self.scan_timeouts.inc();
    }

    /// The registry in the Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
