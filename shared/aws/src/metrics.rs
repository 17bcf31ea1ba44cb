//! Metrics in CloudWatch's embedded metric format (EMF): one JSON line on stdout per data point,
//! with an `_aws` key that tells CloudWatch Logs to extract it, so the functions publish metrics
//! through their logs (no PutMetricData call on a request's path). The dashboard and alarms in
//! `template.yaml` read them from the `Airlock` namespace; [`Metric::ALL`] lists every one, and
//! `infra/verify` checks the template against that list.
//!
//! Hand-written rather than a metrics crate: a few lines of JSON per event, written as they
//! happen (nothing to aggregate or flush at the end of an invocation), in every function.

use airlock_core::audit::{AuditAction, AuditEvent};
use airlock_core::ports::AuditSink;
use airlock_core::request::{AccessRequest, Status};
use airlock_slack::SlackApiError;
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The CloudWatch namespace of every Airlock metric.
pub const NAMESPACE: &str = "Airlock";

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// Every metric Airlock publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A request submitted or decided, by `Outcome` (submitted, approved, auto_approved, denied,
    /// auto_denied, cancelled, timed_out, failed).
    Requests,
    /// Seconds from submission to an approver's decision (approved or denied by a person).
    DecisionTime,
    /// Seconds from approval (the last approval, or the submission for a rule's) to a target granted.
    TimeToAccess,
    /// Active requests, counted by each sweep.
    ActiveGrants,
    /// A target that could not be granted.
    EscalationFailures,
    /// A removal that failed from its fourth attempt on (the `removal_failed` audit event).
    RemovalFailures,
    /// A failed Slack Web API call attempt, in total and by `Method`.
    SlackApiErrors,
    /// A Slack Web API call answered "rate limited", in total and by `Method`.
    SlackRateLimited,
    /// Grants the sweeper removed (past their expiry or revoked, and not removed by the workflow).
    OverdueRemovals,
    /// Access Airlock made that no grant backs any more, removed by the drift check.
    DriftRemoved,
    /// Access made outside Airlock, reported by the drift check.
    DriftReported,
}

/// The outcomes [`Metric::Requests`] is published by.
pub const OUTCOMES: [&str; 8] =
    ["submitted", "approved", "auto_approved", "denied", "auto_denied", "cancelled", "timed_out", "failed"];

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::Requests,
        Metric::DecisionTime,
        Metric::TimeToAccess,
        Metric::ActiveGrants,
        Metric::EscalationFailures,
        Metric::RemovalFailures,
        Metric::SlackApiErrors,
        Metric::SlackRateLimited,
        Metric::OverdueRemovals,
        Metric::DriftRemoved,
        Metric::DriftReported,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Requests => "Requests",
            Metric::DecisionTime => "DecisionTime",
            Metric::TimeToAccess => "TimeToAccess",
            Metric::ActiveGrants => "ActiveGrants",
            Metric::EscalationFailures => "EscalationFailures",
            Metric::RemovalFailures => "RemovalFailures",
            Metric::SlackApiErrors => "SlackApiErrors",
            Metric::SlackRateLimited => "SlackRateLimited",
            Metric::OverdueRemovals => "OverdueRemovals",
            Metric::DriftRemoved => "DriftRemoved",
            Metric::DriftReported => "DriftReported",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::DecisionTime | Metric::TimeToAccess => Unit::Seconds,
            _ => Unit::Count,
        }
    }

    /// The dimension sets each data point is published under (`[]`: the metric without dimensions).
    pub fn dimension_sets(self) -> &'static [&'static [&'static str]] {
        match self {
            Metric::Requests => &[&["Outcome"]],
            Metric::SlackApiErrors | Metric::SlackRateLimited => &[&[], &["Method"]],
            _ => &[&[]],
        }
    }
}

/// One EMF document: `value` of `metric` at `timestamp_ms`, with `dimensions` (name, value) for
/// the keys its dimension sets name.
pub fn document(metric: Metric, value: f64, dimensions: &[(&str, &str)], timestamp_ms: i64) -> Value {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": metric.dimension_sets(),
                "Metrics": [{"Name": metric.name(), "Unit": metric.unit().as_str()}],
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).into(), Value::from(*value));
    }
    root.insert(metric.name().into(), json!(value));
    Value::Object(root)
}

/// Where data points go: stdout (CloudWatch Logs in Lambda), or memory for tests.
#[derive(Clone)]
pub struct Metrics {
    recorded: Option<Arc<Mutex<Vec<Value>>>>,
}

impl Metrics {
    /// Writes each data point as one line on stdout.
    pub fn stdout() -> Self {
        Self { recorded: None }
    }

    /// Keeps the data points in memory; [`Self::recorded`] returns them.
    pub fn in_memory() -> Self {
        Self { recorded: Some(Arc::default()) }
    }

    /// The documents recorded so far (in memory; empty for stdout).
    pub fn recorded(&self) -> Vec<Value> {
        self.recorded.as_ref().map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    /// Publishes one data point. A dimension the metric's sets do not name is a bug and is dropped.
    pub fn record(&self, metric: Metric, value: f64, dimensions: &[(&str, &str)]) {
        let keys: Vec<&str> = metric.dimension_sets().iter().flat_map(|set| set.iter().copied()).collect();
        let dimensions: Vec<(&str, &str)> = dimensions.iter().filter(|(k, _)| keys.contains(k)).copied().collect();
        if keys.iter().any(|k| !dimensions.iter().any(|(name, _)| name == k)) {
            tracing::warn!(metric = metric.name(), "metric without one of its dimensions; not published");
            return;
        }
        let doc = document(metric, value, &dimensions, chrono::Utc::now().timestamp_millis());
        match &self.recorded {
            Some(recorded) => recorded.lock().unwrap_or_else(|e| e.into_inner()).push(doc),
            None => {
                let line = format!("{doc}\n");
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
        }
    }
}

/// An audit sink that publishes the metrics each audit event implies, then hands the event on.
pub struct MeteredAuditSink {
    inner: Arc<dyn AuditSink>,
    metrics: Metrics,
}

impl MeteredAuditSink {
    pub fn new(inner: Arc<dyn AuditSink>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    fn count(&self, event: &AuditEvent) {
        use AuditAction::*;
        let outcome = match event.action {
            Submitted | Approved | AutoApproved | Denied | AutoDenied | Cancelled | TimedOut => {
                Some(event.action.as_str())
            }
            EscalationFailed if event.to == Status::Failed && event.from != Some(Status::Failed) => Some("failed"),
            _ => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.record(Metric::Requests, 1.0, &[("Outcome", outcome)]);
        }
        match event.action {
            EscalationFailed => self.metrics.record(Metric::EscalationFailures, 1.0, &[]),
            RemovalFailed => self.metrics.record(Metric::RemovalFailures, 1.0, &[]),
            _ => {}
        }
    }

    fn time(&self, event: &AuditEvent, request: &AccessRequest) {
        let (metric, since) = match event.action {
            AuditAction::Approved | AuditAction::Denied => (Metric::DecisionTime, request.created_at()),
            AuditAction::AccessGranted => {
                let approved = request.approvals().iter().map(|a| a.at).max();
                (Metric::TimeToAccess, approved.unwrap_or(request.created_at()))
            }
            _ => return,
        };
        let seconds = (event.at - since).num_milliseconds().max(0) as f64 / 1000.0;
        self.metrics.record(metric, seconds, &[]);
    }
}

#[async_trait]
impl AuditSink for MeteredAuditSink {
    async fn emit(&self, event: &AuditEvent) {
        self.count(event);
        self.inner.emit(event).await;
    }

    async fn emit_change(&self, event: &AuditEvent, request: &AccessRequest) {
        self.count(event);
        self.time(event, request);
        self.inner.emit_change(event, request).await;
    }
}

/// What a Slack client tells of its failed calls ([`airlock_slack::SlackApi::on_failure`]):
/// [`Metric::SlackApiErrors`], and [`Metric::SlackRateLimited`] for rate limits.
pub fn slack_failures(metrics: Metrics) -> airlock_slack::api::FailureHook {
    Arc::new(move |error: &SlackApiError| {
        let method = error.method().unwrap_or("setup");
        metrics.record(Metric::SlackApiErrors, 1.0, &[("Method", method)]);
        let rate_limited = matches!(error, SlackApiError::RateLimited { .. })
            || matches!(error.code(), Some("ratelimited" | "rate_limited"));
        if rate_limited {
            metrics.record(Metric::SlackRateLimited, 1.0, &[("Method", method)]);
        }
    })
}

/// What one sweep found and did; the parts that failed are None and publish nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepFindings {
    pub overdue_removals: Option<usize>,
    pub active_grants: Option<usize>,
    pub drift_removed: Option<usize>,
    pub drift_reported: Option<usize>,
}

impl SweepFindings {
    pub fn record(&self, metrics: &Metrics) {
        for (metric, value) in [
            (Metric::OverdueRemovals, self.overdue_removals),
            (Metric::ActiveGrants, self.active_grants),
            (Metric::DriftRemoved, self.drift_removed),
            (Metric::DriftReported, self.drift_reported),
        ] {
            if let Some(value) = value {
                metrics.record(metric, value as f64, &[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::audit::Actor;
    use airlock_core::ports::LogAuditSink;
    use airlock_core::request::AccessRequest;
    use chrono::{Duration, TimeZone, Utc};
    use std::collections::BTreeSet;

    fn names(metrics: &Metrics) -> Vec<String> {
        metrics.recorded().iter().map(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].to_string()).collect()
    }

    #[test]
    fn a_document_is_emf_with_the_namespace_dimensions_and_unit() {
        let doc = document(Metric::SlackApiErrors, 1.0, &[("Method", "chat.postMessage")], 1_700_000_000_000);
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Airlock",
                        "Dimensions": [[], ["Method"]],
                        "Metrics": [{"Name": "SlackApiErrors", "Unit": "Count"}],
                    }],
                },
                "Method": "chat.postMessage",
                "SlackApiErrors": 1.0,
            })
        );
        let timing = document(Metric::DecisionTime, 42.5, &[], 0);
        assert_eq!(timing["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Seconds");
        assert_eq!(timing["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
        assert_eq!(timing["DecisionTime"], 42.5);
    }

    #[test]
    fn every_dimension_a_document_names_is_on_its_root_and_every_name_is_unique() {
        let names: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        let metrics = Metrics::in_memory();
        for metric in Metric::ALL {
            let keys: Vec<&str> = metric.dimension_sets().iter().flat_map(|s| s.iter().copied()).collect();
            let values: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "x")).collect();
            metrics.record(metric, 1.0, &values);
        }
        let recorded = metrics.recorded();
        assert_eq!(recorded.len(), Metric::ALL.len());
        for doc in &recorded {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            for set in directive["Dimensions"].as_array().unwrap() {
                for key in set.as_array().unwrap() {
                    assert!(doc[key.as_str().unwrap()].is_string(), "{doc}");
                }
            }
            let name = directive["Metrics"][0]["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{doc}");
            assert!(doc["_aws"]["Timestamp"].is_i64());
        }
    }

    #[test]
    fn a_data_point_without_its_dimension_is_not_published() {
        let metrics = Metrics::in_memory();
        metrics.record(Metric::Requests, 1.0, &[]);
        metrics.record(Metric::ActiveGrants, 3.0, &[("Outcome", "approved")]);
        assert_eq!(names(&metrics), ["\"ActiveGrants\""], "the stray dimension dropped, the incomplete point skipped");
        assert!(metrics.recorded()[0].get("Outcome").is_none());
    }

    fn request_at(created: chrono::DateTime<Utc>) -> AccessRequest {
        airlock_testkit::fixtures::sample_builder("carol@example.com", "record:prod-admin").created_at(created).build()
    }

    fn event(
        request: &AccessRequest,
        action: AuditAction,
        from: Status,
        to: Status,
        at: chrono::DateTime<Utc>,
    ) -> AuditEvent {
        let mut event = AuditEvent::of(request, Actor::system("test"), action, Some(from), None);
        event.to = to;
        event.at = at;
        event
    }

    #[tokio::test]
    async fn audit_events_publish_outcomes_failures_and_times() {
        let metrics = Metrics::in_memory();
        let sink = MeteredAuditSink::new(Arc::new(LogAuditSink), metrics.clone());
        let created = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let request = request_at(created);
        let decided = created + Duration::seconds(90);
        sink.emit_change(&event(&request, AuditAction::Approved, Status::Pending, Status::Approved, decided), &request)
            .await;
        sink.emit(&event(&request, AuditAction::EscalationFailed, Status::Approved, Status::Approved, decided)).await;
        sink.emit(&event(&request, AuditAction::EscalationFailed, Status::Approved, Status::Failed, decided)).await;
        sink.emit(&event(&request, AuditAction::RemovalFailed, Status::Failed, Status::Failed, decided)).await;
        sink.emit(&event(&request, AuditAction::ApprovalRecorded, Status::Pending, Status::Pending, decided)).await;
        let granted = created + Duration::seconds(100);
        sink.emit_change(
            &event(&request, AuditAction::AccessGranted, Status::Approved, Status::Active, granted),
            &request,
        )
        .await;

        let recorded = metrics.recorded();
        let points: Vec<(String, Value, Option<String>)> = recorded
            .iter()
            .map(|d| {
                let name = d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].as_str().unwrap().to_string();
                (name.clone(), d[&name].clone(), d.get("Outcome").and_then(Value::as_str).map(str::to_string))
            })
            .collect();
        let expected = [
            ("Requests", json!(1.0), Some("approved")),
            ("DecisionTime", json!(90.0), None),
            ("EscalationFailures", json!(1.0), None),
            ("Requests", json!(1.0), Some("failed")),
            ("EscalationFailures", json!(1.0), None),
            ("RemovalFailures", json!(1.0), None),
            ("TimeToAccess", json!(100.0), None),
        ];
        let expected: Vec<(String, Value, Option<String>)> =
            expected.into_iter().map(|(n, v, o)| (n.to_string(), v, o.map(str::to_string))).collect();
        assert_eq!(
            points, expected,
            "one failed outcome for the request, a failure per target; no time without the request"
        );
    }

    /// Every metric in [`Metric::ALL`] (so every one the dashboard may name) has a code path that
    /// publishes it: the audit sink, the Slack client's hook or the sweep.
    #[tokio::test]
    async fn every_metric_is_published_by_some_code_path() {
        let metrics = Metrics::in_memory();
        let sink = MeteredAuditSink::new(Arc::new(LogAuditSink), metrics.clone());
        let request = request_at(Utc::now());
        for action in AuditAction::ALL {
            for to in [Status::Approved, Status::Failed] {
                sink.emit_change(&event(&request, action, Status::Approved, to, Utc::now()), &request).await;
            }
        }
        let hook = slack_failures(metrics.clone());
        hook(&SlackApiError::RateLimited { method: "chat.postMessage", retry_after: None });
        SweepFindings {
            overdue_removals: Some(1),
            active_grants: Some(1),
            drift_removed: Some(1),
            drift_reported: Some(1),
        }
        .record(&metrics);
        let published: BTreeSet<String> =
            names(&metrics).into_iter().map(|n| n.trim_matches('"').to_string()).collect();
        let all: BTreeSet<String> = Metric::ALL.iter().map(|m| m.name().to_string()).collect();
        assert_eq!(published, all);
        let recorded = metrics.recorded();
        let outcomes: BTreeSet<&str> =
            recorded.iter().filter_map(|d| d.get("Outcome").and_then(Value::as_str)).collect();
        assert_eq!(outcomes, OUTCOMES.into_iter().collect(), "every outcome has its audit action");
    }

    #[test]
    fn slack_failures_count_errors_and_rate_limits_by_method() {
        let metrics = Metrics::in_memory();
        let hook = slack_failures(metrics.clone());
        hook(&SlackApiError::RateLimited { method: "chat.postMessage", retry_after: None });
        hook(&SlackApiError::Api { method: "views.open", code: "ratelimited".into() });
        hook(&SlackApiError::Http { method: "chat.update", status: 503 });
        let points: Vec<(String, String)> = metrics
            .recorded()
            .iter()
            .map(|d| {
                let name = d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].as_str().unwrap().to_string();
                (name, d["Method"].as_str().unwrap().to_string())
            })
            .collect();
        let expected = [
            ("SlackApiErrors", "chat.postMessage"),
            ("SlackRateLimited", "chat.postMessage"),
            ("SlackApiErrors", "views.open"),
            ("SlackRateLimited", "views.open"),
            ("SlackApiErrors", "chat.update"),
        ];
        assert_eq!(points, expected.map(|(n, m)| (n.to_string(), m.to_string())));
    }

    #[test]
    fn a_sweep_publishes_what_it_found_and_nothing_for_a_part_that_failed() {
        let metrics = Metrics::in_memory();
        let findings = SweepFindings {
            overdue_removals: Some(2),
            active_grants: Some(7),
            drift_removed: None,
            drift_reported: Some(0),
        };
        findings.record(&metrics);
        assert_eq!(names(&metrics), ["\"OverdueRemovals\"", "\"ActiveGrants\"", "\"DriftReported\""]);
        assert_eq!(metrics.recorded()[1]["ActiveGrants"], 7.0);
    }
}
