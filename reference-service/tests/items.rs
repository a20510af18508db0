//! Item CRUD, the write-key guard and bad input.

mod common;

use common::{config, send, service};
use http::{Method, StatusCode};

#[tokio::test]
async fn crud_smoke() {
    let svc = service(&config());
    let created = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"  lamp ","description":"red"}"#),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let item = created.json()["data"].clone();
    assert_eq!(item["name"], "lamp", "inputs are trimmed");
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);

    let got = send(&svc, Method::GET, &format!("/api/v1/items/{id}"), None, &[]).await;
    assert_eq!(got.json()["data"], item);

    let put = send(
        &svc,
        Method::PUT,
        &format!("/api/v1/items/{id}"),
        Some(r#"{"name":"desk"}"#),
        &[],
    )
    .await;
    assert_eq!(put.json()["data"]["name"], "desk");
    assert_eq!(
        put.json()["data"]["description"],
        "",
        "PUT replaces every field"
    );

    let patch = send(
        &svc,
        Method::PATCH,
        &format!("/api/v1/items/{id}"),
        Some(r#"{"description":"oak"}"#),
        &[],
    )
    .await;
    assert_eq!(patch.json()["data"]["name"], "desk");
    assert_eq!(patch.json()["data"]["description"], "oak");

    let empty_patch = send(
        &svc,
        Method::PATCH,
        &format!("/api/v1/items/{id}"),
        Some(r#"{"name":"  "}"#),
        &[],
    )
    .await;
    assert_eq!(empty_patch.json()["error"]["code"], "item.patch.no_fields");

    for i in 0..3 {
        send(
            &svc,
            Method::POST,
            "/api/v1/items",
            Some(&format!(r#"{{"name":"n{i}"}}"#)),
            &[],
        )
        .await;
    }
    let page = send(
        &svc,
        Method::GET,
        "/api/v1/items?limit=2&offset=1",
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["name"], "n0", "creation order");
    assert_eq!(
        page["meta"],
        serde_json::json!({"total": 4, "limit": 2, "offset": 1})
    );

    let deleted = send(
        &svc,
        Method::DELETE,
        &format!("/api/v1/items/{id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        (deleted.status, deleted.body.as_str()),
        (StatusCode::NO_CONTENT, "")
    );
    let gone = send(&svc, Method::GET, &format!("/api/v1/items/{id}"), None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["error"]["code"], "item.not_found");
    let again = send(
        &svc,
        Method::DELETE,
        &format!("/api/v1/items/{id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_write_key_guards_writes_only() {
    let mut cfg = config();
    cfg.write_key = "s3cret".into();
    let svc = service(&cfg);
    let denied = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"x"}"#),
        &[("x-request-id", "w1")],
    )
    .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        denied.body,
        "{\"error\":{\"code\":\"auth.key.invalid\",\"message\":\"missing or invalid X-Write-Key\",\"category\":\"auth_error\",\"type\":\"unauthorized_request\"},\"request_id\":\"w1\"}\n"
    );
    let wrong = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"x"}"#),
        &[("x-write-key", "s3creT")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"x"}"#),
        &[("x-write-key", "s3cret")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let read = send(&svc, Method::GET, "/api/v1/items", None, &[]).await;
    assert_eq!(read.status, StatusCode::OK, "reads need no key");
    let del = send(
        &svc,
        Method::DELETE,
        "/api/v1/items/0000000000000000",
        None,
        &[],
    )
    .await;
    assert_eq!(del.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_input_gets_documented_envelopes() {
    let svc = service(&config());
    // (body, expected status, expected code)
    let cases = [
        (
            "{not json",
            StatusCode::BAD_REQUEST,
            "item.create.invalid_json",
        ),
        (
            r#"{"name":"a","colour":"red"}"#,
            StatusCode::BAD_REQUEST,
            "item.create.unknown_field",
        ),
        (
            r#"{"name":5}"#,
            StatusCode::BAD_REQUEST,
            "item.create.invalid_json",
        ),
        ("   ", StatusCode::BAD_REQUEST, "item.create.body_required"),
        (
            r#"{"description":"d"}"#,
            StatusCode::BAD_REQUEST,
            "item.fields.required",
        ),
    ];
    for (body, status, code) in cases {
        let reply = send(&svc, Method::POST, "/api/v1/items", Some(body), &[]).await;
        assert_eq!(reply.status, status, "{body:?}");
        assert_eq!(reply.headers["content-type"], "application/json");
        assert_eq!(reply.json()["error"]["code"], code, "{body:?}");
    }
    let unknown = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"a","colour":"red"}"#),
        &[],
    )
    .await;
    assert_eq!(unknown.json()["error"]["details"]["field"], "colour");
    let required = send(&svc, Method::POST, "/api/v1/items", Some(r#"{}"#), &[]).await;
    assert_eq!(
        required.json()["error"]["details"]["fields"],
        serde_json::json!(["name"])
    );

    // Wrong content type.
    let req_ct = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        None,
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(req_ct.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        req_ct.json()["error"]["code"],
        "item.create.unsupported_media_type"
    );

    // Absurd query values.
    for q in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "offset=-5",
        "limit=99999999999999999999999",
    ] {
        let reply = send(&svc, Method::GET, &format!("/api/v1/items?{q}"), None, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(
            reply.json()["error"]["code"],
            "item.list.invalid_param",
            "{q}"
        );
    }
    // Invalid UTF-8 in a path parameter.
    let reply = send(&svc, Method::GET, "/api/v1/items/%FF%FE", None, &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // Unknown routes and methods.
    assert_eq!(
        send(&svc, Method::GET, "/nope", None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let wrong = send(&svc, Method::DELETE, "/api/v1/items", None, &[]).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers["allow"], "GET, HEAD, POST");
}
