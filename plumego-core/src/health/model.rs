//! The health model: states, component reports and readiness, with the Go
//! toolkit's JSON field names.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::body::BoxError;

/// The health of a component or of the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Everything works.
    Healthy,
    /// A non-critical component fails; the service still serves.
    Degraded,
    /// A critical component fails.
    Unhealthy,
}

impl HealthState {
    /// Healthy and degraded services can take traffic.
    pub fn is_ready(self) -> bool {
        matches!(self, Self::Healthy | Self::Degraded)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A health snapshot: `{"status","message"?,"details"?,"timestamp","duration"?}`,
/// with `duration` in integer nanoseconds as in the Go toolkit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthStatus {
    /// The state.
    pub status: HealthState,
    /// Why, when not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra facts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, Value>,
    /// When the check ran (RFC 3339 with nanoseconds).
    pub timestamp: String,
    /// How long the check took, in nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

/// A component's health: the status fields flattened, plus `enabled`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentHealth {
    /// The component's status.
    #[serde(flatten)]
    pub health: HealthStatus,
    /// Whether the component is enabled.
    pub enabled: bool,
}

/// Readiness: `{"ready","reason"?,"timestamp","components"?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadinessStatus {
    /// Whether the service can take traffic.
    pub ready: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was decided.
    pub timestamp: String,
    /// Each component's readiness.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, bool>,
}

/// A future returned by [`HealthChecker::check`].
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// Checks one dependency (a store, a broker, an upstream).
///
/// ```
/// use plumego_core::health::{CheckFuture, HealthChecker};
///
/// struct Disk;
/// impl HealthChecker for Disk {
///     fn name(&self) -> &str { "disk" }
///     fn check(&self) -> CheckFuture<'_> { Box::pin(async { Ok(()) }) }
/// }
/// ```
pub trait HealthChecker: Send + Sync {
    /// The component name used in reports.
    fn name(&self) -> &str;
    /// `Ok` when healthy.
    fn check(&self) -> CheckFuture<'_>;
    /// A failing critical component makes the service unhealthy (not ready);
    /// a failing non-critical one only degrades it. Critical by default.
    fn critical(&self) -> bool {
        true
    }
}

/// The outcome of running every checker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// The overall state.
    #[serde(flatten)]
    pub overall: HealthStatus,
    /// Each component by name.
    pub components: BTreeMap<String, ComponentHealth>,
}

impl HealthReport {
    /// Runs every checker concurrently, each bounded by `timeout`.
    pub async fn run(checkers: &[std::sync::Arc<dyn HealthChecker>], timeout: Duration) -> Self {
        let started = std::time::Instant::now();
        let checks = checkers.iter().map(|checker| async move {
            let t0 = std::time::Instant::now();
            let result = match tokio::time::timeout(timeout, checker.check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("check timed out after {timeout:?}").into()),
            };
            (checker, result, t0.elapsed())
        });
        let results = futures_util::future::join_all(checks).await;
        let mut overall = HealthState::Healthy;
        let mut components = BTreeMap::new();
        for (checker, result, took) in results {
            let (status, message) = match result {
                Ok(()) => (HealthState::Healthy, None),
                Err(err) if checker.critical() => (HealthState::Unhealthy, Some(err.to_string())),
                Err(err) => (HealthState::Degraded, Some(err.to_string())),
            };
            overall = match (overall, status) {
                (HealthState::Unhealthy, _) | (_, HealthState::Unhealthy) => HealthState::Unhealthy,
                (HealthState::Degraded, _) | (_, HealthState::Degraded) => HealthState::Degraded,
                _ => HealthState::Healthy,
            };
            components.insert(
                checker.name().to_owned(),
                ComponentHealth {
                    health: HealthStatus {
                        status,
                        message,
                        details: BTreeMap::new(),
                        timestamp: rfc3339_nanos(SystemTime::now()),
                        duration: Some(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX)),
                    },
                    enabled: true,
                },
            );
        }
        Self {
            overall: HealthStatus {
                status: overall,
                message: None,
                details: BTreeMap::new(),
                timestamp: rfc3339_nanos(SystemTime::now()),
                duration: Some(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)),
            },
            components,
        }
    }
}

/// Formats a time like Go's `time.RFC3339Nano` in UTC (trailing zeros trimmed).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Formats a time like Go's `time.RFC3339` in UTC (whole seconds).
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_contract() {
        let status = HealthStatus {
            status: HealthState::Degraded,
            message: None,
            details: BTreeMap::new(),
            timestamp: "2026-01-02T03:04:05.5Z".into(),
            duration: Some(1500),
        };
        let component = ComponentHealth {
            health: status,
            enabled: true,
        };
        assert_eq!(
            serde_json::to_string(&component).unwrap(),
            r#"{"status":"degraded","timestamp":"2026-01-02T03:04:05.5Z","duration":1500,"enabled":true}"#
        );
        let ready = ReadinessStatus {
            ready: false,
            reason: Some("db".into()),
            timestamp: "t".into(),
            components: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_string(&ready).unwrap(),
            r#"{"ready":false,"reason":"db","timestamp":"t"}"#
        );
        assert!(HealthState::Degraded.is_ready());
        assert!(!HealthState::Unhealthy.is_ready());
    }

    #[test]
    fn timestamps_look_like_go() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339_nanos(t), "2023-11-14T22:13:20.12Z");
        assert_eq!(rfc3339_seconds(t), "2023-11-14T22:13:20Z");
        assert_eq!(
            rfc3339_nanos(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
            "1970-01-01T00:00:01Z"
        );
    }
}
