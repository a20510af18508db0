//! Ready-made liveness and readiness endpoints.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::Request;
use serde_json::json;
use tower::Service;

use super::model::{HealthChecker, HealthReport, HealthState, rfc3339_seconds};
use crate::context::RequestId;
use crate::envelope::{Envelope, attach_request_id};
use crate::error::{ApiError, ErrorType};
use crate::response::{IntoResponse, Response};

/// Answers liveness: 200 `{"data":{"status":"ok","service":…,"timestamp":…}}`.
///
/// ```
/// use plumego_core::health::LivenessService;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let res = LivenessService::new("api").oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct LivenessService {
    service: Arc<str>,
}

impl LivenessService {
    /// Liveness for the named service.
    pub fn new(service: impl Into<Arc<str>>) -> Self {
        Self {
            service: service.into(),
        }
    }
}

impl<B> Service<Request<B>> for LivenessService {
    type Response = Response;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut res = Envelope::new(json!({
            "status": "ok",
            "service": &*self.service,
            "timestamp": rfc3339_seconds(SystemTime::now()),
        }))
        .into_response();
        if let Some(id) = req.extensions().get::<RequestId>() {
            attach_request_id(&mut res, id);
        }
        std::future::ready(Ok(res))
    }
}

/// Answers readiness by running every checker:
/// 200 `{"data":{"ready":true,"timestamp":…,"components":{…}}}`, or 503 with the
/// error envelope (code `health.component.unhealthy`, each failure in `details`).
/// Non-critical failures degrade the service but keep it ready.
#[derive(Clone)]
pub struct ReadinessService {
    checkers: Arc<[Arc<dyn HealthChecker>]>,
    timeout: Duration,
}

impl std::fmt::Debug for ReadinessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checkers.iter().map(|c| c.name().to_owned()).collect();
        f.debug_struct("ReadinessService")
            .field("checkers", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ReadinessService {
    /// Readiness over these checkers, each bounded by 5 seconds.
    pub fn new(checkers: impl IntoIterator<Item = Arc<dyn HealthChecker>>) -> Self {
        Self {
            checkers: checkers.into_iter().collect(),
            timeout: Duration::from_secs(5),
        }
    }

    /// Changes the per-check timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<B> Service<Request<B>> for ReadinessService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let checkers = self.checkers.clone();
        let timeout = self.timeout;
        let request_id = req.extensions().get::<RequestId>().cloned();
        Box::pin(async move {
            let report = HealthReport::run(&checkers, timeout).await;
            let mut res = if report.overall.status == HealthState::Unhealthy {
                let failures = report
                    .components
                    .iter()
                    .filter_map(|(name, c)| Some((name.clone(), c.health.message.clone()?)));
                ApiError::builder()
                    .error_type(ErrorType::ServiceUnavailable)
                    .code("health.component.unhealthy")
                    .message("one or more components are not ready")
                    .details(failures)
                    .build()
                    .into_response()
            } else {
                let components: serde_json::Map<_, _> = report
                    .components
                    .iter()
                    .map(|(name, c)| {
                        (
                            name.clone(),
                            (c.health.status == HealthState::Healthy).into(),
                        )
                    })
                    .collect();
                let mut data =
                    json!({"ready": true, "timestamp": rfc3339_seconds(SystemTime::now())});
                if !components.is_empty() {
                    data["components"] = components.into();
                }
                Envelope::new(data).into_response()
            };
            if let Some(id) = &request_id {
                attach_request_id(&mut res, id);
            }
            Ok(res)
        })
    }
}
