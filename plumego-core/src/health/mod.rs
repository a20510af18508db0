//! Health: the model, the [`HealthChecker`] trait, and liveness and readiness
//! services that answer JSON.

mod model;
mod service;

pub use model::{
    CheckFuture, ComponentHealth, HealthChecker, HealthReport, HealthState, HealthStatus,
    ReadinessStatus, rfc3339_nanos, rfc3339_seconds,
};
pub use service::{LivenessService, ReadinessService};
