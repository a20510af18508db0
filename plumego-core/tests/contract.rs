//! Golden bytes of the error and success envelopes, and the request-id pickup.

use http::StatusCode;
use http_body_util::BodyExt;
use plumego_core::context::RequestId;
use plumego_core::envelope::{InvalidResponseStatus, attach_request_id};
use plumego_core::error::{ApiError, Category, ErrorType};
use plumego_core::{Body, Envelope, IntoResponse, handler_fn};
use serde_json::json;
use tower::ServiceExt;

/// The contract table, typed out independently of the implementation.
const TABLE: &[(&str, &str, &str, u16)] = &[
    (
        "validation_failure",
        "validation_error",
        "VALIDATION_ERROR",
        400,
    ),
    ("bad_request", "client_error", "BAD_REQUEST", 400),
    ("invalid_request", "client_error", "INVALID_REQUEST", 422),
    (
        "required_field_missing",
        "validation_error",
        "REQUIRED_FIELD_MISSING",
        400,
    ),
    ("invalid_format", "validation_error", "INVALID_FORMAT", 400),
    (
        "value_out_of_range",
        "validation_error",
        "VALUE_OUT_OF_RANGE",
        400,
    ),
    (
        "duplicate_value",
        "validation_error",
        "DUPLICATE_VALUE",
        400,
    ),
    ("unauthorized_request", "auth_error", "UNAUTHORIZED", 401),
    ("forbidden_request", "auth_error", "FORBIDDEN", 403),
    ("invalid_token", "auth_error", "INVALID_TOKEN", 401),
    ("expired_token", "auth_error", "EXPIRED_TOKEN", 401),
    (
        "resource_not_found",
        "client_error",
        "RESOURCE_NOT_FOUND",
        404,
    ),
    (
        "resource_conflict",
        "client_error",
        "RESOURCE_CONFLICT",
        409,
    ),
    (
        "resource_already_exists",
        "client_error",
        "RESOURCE_ALREADY_EXISTS",
        409,
    ),
    ("resource_gone", "client_error", "RESOURCE_GONE", 410),
    ("not_acceptable", "client_error", "NOT_ACCEPTABLE", 406),
    (
        "payload_too_large",
        "client_error",
        "REQUEST_BODY_TOO_LARGE",
        413,
    ),
    ("internal_error", "server_error", "INTERNAL_ERROR", 500),
    (
        "service_unavailable",
        "server_error",
        "SERVICE_UNAVAILABLE",
        503,
    ),
    ("timeout_failure", "timeout_error", "TIMEOUT", 408),
    ("rate_limited", "rate_limit_error", "RATE_LIMITED", 429),
    ("maintenance_mode", "server_error", "MAINTENANCE_MODE", 503),
    (
        "method_not_allowed",
        "client_error",
        "METHOD_NOT_ALLOWED",
        405,
    ),
    ("not_implemented", "server_error", "NOT_IMPLEMENTED", 501),
    ("bad_gateway", "server_error", "BAD_GATEWAY", 502),
    ("gateway_timeout", "timeout_error", "GATEWAY_TIMEOUT", 504),
];

/// Go's `http.StatusText` for the statuses above.
fn go_status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Request Entity Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => unreachable!(),
    }
}

async fn body_of(res: plumego_core::Response) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn golden_error_envelope_for_every_type() {
    assert_eq!(TABLE.len(), ErrorType::ALL.len());
    for &(name, category, code, status) in TABLE {
        let t = ErrorType::parse(name).unwrap_or_else(|| panic!("{name} is a known type"));

        // Minimal: default message, no details, no request id.
        let res = ApiError::from(t).into_response();
        assert_eq!(res.status().as_u16(), status, "{name}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let want = format!(
            "{{\"error\":{{\"code\":\"{code}\",\"message\":\"{}\",\"category\":\"{category}\",\"type\":\"{name}\"}}}}\n",
            go_status_text(status)
        );
        assert_eq!(body_of(res).await, want, "{name}");

        // Full: message, details, request id.
        let res = ApiError::builder()
            .error_type(t)
            .message("m <&>")
            .detail("b", 2)
            .detail("a", "x")
            .request_id("req-1")
            .build()
            .into_response();
        let want = format!(
            "{{\"error\":{{\"code\":\"{code}\",\"message\":\"m \\u003c\\u0026\\u003e\",\"category\":\"{category}\",\"type\":\"{name}\",\"details\":{{\"a\":\"x\",\"b\":2}}}},\"request_id\":\"req-1\"}}\n"
        );
        assert_eq!(body_of(res).await, want, "{name}");
    }
}

#[tokio::test]
async fn builder_ordering_and_normalisation() {
    // `error_type` resets an earlier code; `code` afterwards overrides it.
    let e = ApiError::builder()
        .code("EARLY")
        .error_type(ErrorType::BadRequest)
        .build();
    assert_eq!(e.code(), "BAD_REQUEST");
    let e = ApiError::builder()
        .error_type(ErrorType::BadRequest)
        .code("item.create.invalid")
        .build();
    assert_eq!(
        (e.code(), e.status().as_u16()),
        ("item.create.invalid", 400)
    );

    // Untyped defaults to 500; an out-of-range status is repaired.
    let e = ApiError::builder().build();
    assert_eq!(
        (e.status().as_u16(), e.code(), e.message()),
        (500, "INTERNAL_ERROR", "Internal Server Error")
    );
    let e = ApiError::builder().status(StatusCode::OK).code("X").build();
    assert_eq!(
        (e.status().as_u16(), e.code(), e.category()),
        (500, "INTERNAL_ERROR", Category::Server)
    );
    let e = ApiError::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .build();
    assert_eq!(
        (e.code(), e.category()),
        ("RATE_LIMITED", Category::RateLimit)
    );
    assert_eq!(
        body_of(e.into_response()).await,
        "{\"error\":{\"code\":\"RATE_LIMITED\",\"message\":\"Too Many Requests\",\"category\":\"rate_limit_error\"}}\n"
    );

    // An unknown type name leaves the error untyped; empty detail keys are dropped.
    let e = ApiError::builder()
        .error_type_name("made_up")
        .detail("", 1)
        .build();
    assert_eq!(e.error_type(), None);
    assert!(e.details().is_empty());

    // Invalid request ids are dropped.
    assert!(
        ApiError::builder()
            .request_id("a\nb")
            .build()
            .request_id()
            .is_none()
    );
    assert!(
        ApiError::builder()
            .request_id(&"x".repeat(129))
            .build()
            .request_id()
            .is_none()
    );
}

#[tokio::test]
async fn the_source_is_reachable_but_never_serialised() {
    let io = std::io::Error::other("disk on fire: /secret/path");
    let e = ApiError::builder()
        .error_type(ErrorType::Internal)
        .source(io)
        .build();
    let source = std::error::Error::source(&e).expect("source kept");
    assert!(source.to_string().contains("disk on fire"));
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    assert!(ApiError::find(&*boxed).is_some());
    let e = boxed.downcast::<ApiError>().unwrap();
    let body = body_of(e.into_response()).await;
    assert!(!body.contains("disk") && !body.contains("secret"), "{body}");
}

#[tokio::test]
async fn golden_success_envelopes() {
    let res = Envelope::new(json!({"id": 1, "name": "<x>"})).into_response();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        body_of(res).await,
        "{\"data\":{\"id\":1,\"name\":\"\\u003cx\\u003e\"}}\n"
    );

    let res = Envelope::new(vec![1, 2])
        .meta("total", 2)
        .meta("page", 1)
        .into_response();
    assert_eq!(
        body_of(res).await,
        "{\"data\":[1,2],\"meta\":{\"page\":1,\"total\":2}}\n"
    );

    assert_eq!(body_of(Envelope::empty().into_response()).await, "{}\n");
    let res = Envelope::empty().meta("only", true).into_response();
    assert_eq!(body_of(res).await, "{\"meta\":{\"only\":true}}\n");

    let res = Envelope::new("made")
        .with_status(StatusCode::CREATED)
        .unwrap()
        .into_response();
    assert_eq!(res.status(), 201);
    assert_eq!(body_of(res).await, "{\"data\":\"made\"}\n");

    let res = Envelope::new("gone")
        .with_status(StatusCode::NO_CONTENT)
        .unwrap()
        .into_response();
    assert_eq!(res.status(), 204);
    assert!(res.headers().get("content-type").is_none());
    assert_eq!(body_of(res).await, "");

    for bad in [100, 199, 300, 304, 400, 500, 599] {
        let status = StatusCode::from_u16(bad).unwrap();
        assert_eq!(
            Envelope::new(()).with_status(status).unwrap_err(),
            InvalidResponseStatus(status)
        );
    }
    for good in 200..=299 {
        assert!(
            Envelope::new(())
                .with_status(StatusCode::from_u16(good).unwrap())
                .is_ok()
        );
    }
}

#[tokio::test]
async fn request_id_is_spliced_in_last() {
    let id = RequestId::new("rid-9").unwrap();
    let mut res = Envelope::new(1).into_response();
    attach_request_id(&mut res, &id);
    assert_eq!(
        body_of(res).await,
        "{\"data\":1,\"request_id\":\"rid-9\"}\n"
    );

    let mut res = Envelope::empty().into_response();
    attach_request_id(&mut res, &id);
    assert_eq!(body_of(res).await, "{\"request_id\":\"rid-9\"}\n");

    // An id set on the builder is never replaced.
    let mut res = ApiError::builder()
        .error_type(ErrorType::BadRequest)
        .request_id("own")
        .build()
        .into_response();
    attach_request_id(&mut res, &id);
    assert!(body_of(res).await.ends_with("\"request_id\":\"own\"}\n"));

    // Plain responses are untouched.
    let mut res = "text".into_response();
    attach_request_id(&mut res, &id);
    assert_eq!(body_of(res).await, "text");
}

#[tokio::test]
async fn the_handler_adapter_picks_up_the_request_id() {
    let svc = handler_fn(|_req: http::Request<Body>| async {
        Err::<&str, _>(ApiError::new(ErrorType::ResourceNotFound, "no item"))
    });
    let mut req = http::Request::new(Body::empty());
    req.extensions_mut()
        .insert(RequestId::new("from-req").unwrap());
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        body_of(res).await,
        "{\"error\":{\"code\":\"RESOURCE_NOT_FOUND\",\"message\":\"no item\",\"category\":\"client_error\",\"type\":\"resource_not_found\"},\"request_id\":\"from-req\"}\n"
    );
    // Without an id in the request, none is written.
    let res = svc
        .oneshot(http::Request::new(Body::empty()))
        .await
        .unwrap();
    assert!(!body_of(res).await.contains("request_id"));
}

#[tokio::test]
async fn handler_fn_is_clone_and_accepts_closures_with_state() {
    let greeting = std::sync::Arc::new(String::from("hi"));
    let svc = handler_fn(move |req: http::Request<()>| {
        let greeting = greeting.clone();
        async move { format!("{greeting} {}", req.uri().path()) }
    });
    let again = svc.clone();
    let res = again
        .oneshot(http::Request::get("/x").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(body_of(res).await, "hi /x");
}
