//! What operators see: counters, gauges and a latency histogram in the Prometheus text
//! format (OpenMetrics), served on `GET /metrics` of `--metrics-listen` only, a port of its own.
//!
//! Always collected (a few atomics per request); only served when asked for.

use crate::egress::{EgressObserver, Outgoing};
use crate::serve::callers::Refusal;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallerLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    class: &'static str,
}

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// Requests holding an instance slot (running the component).
    pub in_flight: Gauge,
    /// Requests waiting for a slot.
    pub queued: Gauge,
    shed: Counter,
    callers: Family<CallerLabels, Counter>,
    pub traps: Counter,
    pub upstream: Upstream,
}

/// The component's outgoing calls, counted by the egress hooks of every store.
#[derive(Clone, Default)]
pub struct Upstream {
    answers: Family<UpstreamLabels, Counter>,
    retries: Counter,
}

impl EgressObserver for Upstream {
    fn call_ended(&self, outcome: Outgoing) {
        let class = match outcome {
            Outgoing::Answered(100..=199) => "1xx",
            Outgoing::Answered(200..=299) => "2xx",
            Outgoing::Answered(300..=399) => "3xx",
            Outgoing::Answered(400..=499) => "4xx",
            Outgoing::Answered(_) => "5xx",
            Outgoing::Failed => "error",
            Outgoing::Denied => "denied",
        };
        self.answers.get_or_create(&UpstreamLabels { class }).inc();
    }

    fn call_retried(&self) {
        self.retries.inc();
    }
}

/// Seconds: 5 ms .. ~82 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sdp_agent");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> _);
        let in_flight = Gauge::default();
        let queued = Gauge::default();
        let shed = Counter::default();
        let callers = Family::<CallerLabels, Counter>::default();
        let traps = Counter::default();
        let upstream = Upstream::default();
        registry.register(
            "http_requests",
            "Requests answered, by route and HTTP status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests running the component now",
            in_flight.clone(),
        );
        registry.register(
            "requests_queued",
            "Requests waiting for a free instance now",
            queued.clone(),
        );
        registry.register(
            "requests_shed",
            "Requests refused with 503 because every slot and the queue were full",
            shed.clone(),
        );
        registry.register(
            "callers",
            "Caller checks by outcome: admitted, unauthenticated (401), denied (403), limited (429), unavailable (503)",
            callers.clone(),
        );
        registry.register(
            "component_traps",
            "Requests whose component instance trapped or ran into a limit",
            traps.clone(),
        );
        registry.register(
            "upstream_requests",
            "Outgoing calls of the component by status class (error: no answer; denied: refused by the egress policy)",
            upstream.answers.clone(),
        );
        registry.register(
            "upstream_retries",
            "Outgoing calls the component repeated after a failed or throttled attempt",
            upstream.retries.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            queued,
            shed,
            callers,
            traps,
            upstream,
        }
    }

    /// One answered request.
    pub fn answered(&self, route: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    pub fn shed(&self) {
        self.shed.inc();
    }

    /// The outcome of one caller check.
    pub fn caller(&self, refusal: Option<&Refusal>) {
        let outcome = match refusal {
            None => "admitted",
            Some(Refusal::Unauthenticated { .. }) => "unauthenticated",
            Some(Refusal::Denied(_)) => "denied",
            Some(Refusal::Limited { .. }) => "limited",
            Some(Refusal::Unavailable { .. }) => "unavailable",
        };
        self.callers.get_or_create(&CallerLabels { outcome }).inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The route label of a path: the component's routes (those a Databricks App serves under
/// `/api/` with labels of their own), or `other` (so that scanning for random paths cannot
/// grow the label set).
pub fn route(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["ping"] => "/ping",
        ["health"] => "/health",
        ["version"] => "/version",
        ["invocations"] => "/invocations",
        ["api", "ping"] => "/api/ping",
        ["api", "health"] => "/api/health",
        ["api", "version"] => "/api/version",
        ["api", "invocations"] => "/api/invocations",
        ["serving-endpoints", _, "invocations"] => "/serving-endpoints/{name}/invocations",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_a_closed_set() {
        assert_eq!(route("/ping/"), "/ping");
        assert_eq!(route("/invocations"), "/invocations");
        assert_eq!(route("/api/invocations"), "/api/invocations");
        assert_eq!(route("/api/ping"), "/api/ping");
        assert_eq!(route("/api/other"), "other");
        assert_eq!(
            route("/serving-endpoints/x/invocations"),
            "/serving-endpoints/{name}/invocations"
        );
        assert_eq!(route("/wp-admin/../etc/passwd"), "other");
    }

    #[test]
    fn the_exposition_names_every_metric() {
        let metrics = Metrics::new();
        metrics.answered("/ping", 200, Duration::from_millis(3));
        metrics.answered("/ping", 200, Duration::from_millis(30));
        metrics.caller(None);
        metrics.upstream.call_ended(Outgoing::Answered(503));
        metrics.upstream.call_retried();
        let text = metrics.render();
        for line in [
            r#"sdp_agent_http_requests_total{route="/ping",status="200"} 2"#,
            r#"sdp_agent_http_request_duration_seconds_count{route="/ping"} 2"#,
            r#"sdp_agent_callers_total{outcome="admitted"} 1"#,
            r#"sdp_agent_upstream_requests_total{class="5xx"} 1"#,
            "sdp_agent_upstream_retries_total 1",
            "sdp_agent_requests_in_flight 0",
            "sdp_agent_requests_queued 0",
            "sdp_agent_requests_shed_total 0",
            "sdp_agent_component_traps_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
