//! Liveness and readiness services.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use plumego_core::context::RequestId;
use plumego_core::health::{CheckFuture, HealthChecker, LivenessService, ReadinessService};
use tower::ServiceExt;

struct Check {
    name: &'static str,
    fail: Option<&'static str>,
    critical: bool,
    delay: Duration,
}

impl HealthChecker for Check {
    fn name(&self) -> &str {
        self.name
    }
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            match self.fail {
                Some(e) => Err(e.into()),
                None => Ok(()),
            }
        })
    }
    fn critical(&self) -> bool {
        self.critical
    }
}

fn check(name: &'static str, fail: Option<&'static str>, critical: bool) -> Arc<dyn HealthChecker> {
    Arc::new(Check {
        name,
        fail,
        critical,
        delay: Duration::ZERO,
    })
}

async fn call(svc: ReadinessService) -> (u16, serde_json::Value) {
    let mut req = http::Request::new(());
    req.extensions_mut().insert(RequestId::new("r1").unwrap());
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(body.ends_with(b"\n"));
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn readiness_200_when_all_components_pass() {
    let (status, body) = call(ReadinessService::new([
        check("db", None, true),
        check("cache", None, true),
    ]))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["ready"], true);
    assert_eq!(
        body["data"]["components"],
        serde_json::json!({"cache": true, "db": true})
    );
    assert!(body["data"]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["request_id"], "r1");
}

#[tokio::test]
async fn readiness_503_envelope_lists_every_failure() {
    let svc = ReadinessService::new([
        check("db", Some("connection refused"), true),
        check("cache", Some("timeout"), true),
        check("ok", None, true),
    ]);
    let (status, body) = call(svc).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        serde_json::json!({
            "error": {
                "code": "health.component.unhealthy",
                "message": "one or more components are not ready",
                "category": "server_error",
                "type": "service_unavailable",
                "details": {"cache": "timeout", "db": "connection refused"}
            },
            "request_id": "r1"
        })
    );
}

#[tokio::test]
async fn a_failing_non_critical_component_degrades_but_stays_ready() {
    let (status, body) = call(ReadinessService::new([
        check("db", None, true),
        check("mail", Some("down"), false),
    ]))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["components"],
        serde_json::json!({"db": true, "mail": false})
    );
}

#[tokio::test]
async fn a_hanging_check_times_out_as_a_failure() {
    let slow: Arc<dyn HealthChecker> = Arc::new(Check {
        name: "slow",
        fail: None,
        critical: true,
        delay: Duration::from_secs(30),
    });
    let (status, body) =
        call(ReadinessService::new([slow]).timeout(Duration::from_millis(50))).await;
    assert_eq!(status, 503);
    assert!(
        body["error"]["details"]["slow"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
}

#[tokio::test]
async fn liveness_answers_ok() {
    let res = LivenessService::new("api")
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["data"]["service"], "api");
}
