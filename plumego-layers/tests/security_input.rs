//! Input checks (URLs, public URLs, e-mail, headers, phone) and the CSRF layer.
#![cfg(feature = "security")]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Empty};
use plumego_layers::security::csrf::{CsrfConfig, CsrfExempt, CsrfLayer};
use plumego_layers::security::input::{
    collapse_whitespace, contains_dangerous_chars, is_header_name, is_header_value, is_token,
    parse_ipv4_any, strip_control_chars, validate_email, validate_phone, validate_public_url,
    validate_url,
};
use tower::{ServiceBuilder, ServiceExt as _};

#[test]
fn url_matrix() {
    for ok in [
        "http://example.com",
        "https://example.com/",
        "HTTPS://Example.COM:443/a/b?c=d#e",
        "https://example.com:65535",
        "http://127.0.0.1:8080/x",
        "http://[::1]:80/",
        "/relative/path?x=1",
        "/",
    ] {
        assert!(validate_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<b>",
        "DATA:text/html,x",
        "file:///etc/passwd",
        "vbscript:msgbox",
        "ftp://example.com",
        "//evil.example/x",
        "/path\\with\\backslash",
        "/path with space",
        "/a\u{0}b",
        "https://user:pw@example.com/",
        "https://@example.com/",
        "https://example.com:65536/",
        "https://example.com:99999/",
        "https://example.com:/",
        "https://example.com:+80/",
        "https://example.com:0x50/",
        "https:///path",
        "https://",
        "https://exa mple.com",
        "https://exa\tmple.com",
        "https://[::1/",
        "https://[::1]x/",
        "https://[zz::1]/",
        "https://exämple.com/",
        "https://example.com\\@evil.com/",
        "example.com",
        "mailto:a@b.c",
    ] {
        assert!(validate_url(bad).is_err(), "{bad:?}");
    }
    assert!(validate_url(&format!("https://example.com/{}", "a".repeat(2048))).is_err());
}

#[test]
fn public_url_rejects_internal_targets() {
    for ok in [
        "https://example.com/hook",
        "http://93.184.216.34/",
        "https://[2606:4700:4700::1111]/",
        "https://sub.domain.example.org:8443/x",
        "http://8.8.8.8",
    ] {
        assert!(validate_public_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        // Names.
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://foo.internal/",
        "/relative",
        // IPv4.
        "http://127.0.0.1/",
        "http://127.1.2.3/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://172.31.255.255/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://240.0.0.1/",
        "http://198.18.0.1/",
        "http://192.0.0.8/",
        // Numeric IPv4 spellings resolvers accept.
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://10.1/",
        "http://3232235777/",
        "http://0/",
        "http://1.2.3.4.5/",
        "http://256.1.1.1/",
        "http://08.1.1.1/",
        // IPv6.
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[fc00::1]/",
        "http://[fd00:ec2::254]/",
        "http://[ff02::1]/",
        "http://[fec0::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[::10.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::]/",
        "http://[2002:c0a8:101::1]/",
        "http://[2001:db8::1]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    ] {
        assert!(validate_public_url(bad).is_err(), "{bad:?}");
    }
    // Public addresses embedded in IPv6 forms are fine.
    assert!(validate_public_url("http://[::ffff:8.8.8.8]/").is_ok());
    assert!(validate_public_url("http://[64:ff9b::808:808]/").is_ok());
    assert!(validate_public_url("http://[2002:808:808::1]/").is_ok());
}

#[test]
fn ipv4_spellings() {
    let p = |s: &str| parse_ipv4_any(s).map(|ip| ip.to_string());
    assert_eq!(p("2130706433").as_deref(), Some("127.0.0.1"));
    assert_eq!(p("0x7f.1").as_deref(), Some("127.0.0.1"));
    assert_eq!(p("0177.0.0.01").as_deref(), Some("127.0.0.1"));
    assert_eq!(p("127.1").as_deref(), Some("127.0.0.1"));
    assert_eq!(p("10.1.257").as_deref(), Some("10.1.1.1"));
    assert_eq!(p("1.2.3.4").as_deref(), Some("1.2.3.4"));
    assert_eq!(p("0x").as_deref(), Some("0.0.0.0"));
    for bad in [
        "256.0.0.1",
        "1.2.3.256",
        "1.2.65536",
        "4294967296",
        "09",
        "1.2.3.4.5",
        "",
        "a.b",
        "1..2",
    ] {
        assert_eq!(p(bad), None, "{bad:?}");
    }
}

#[test]
fn email_matrix() {
    for ok in [
        "a@b.co",
        "first.last+tag@example.com",
        "x_y-z@sub.example.org",
        "o'neil@example.ie",
    ] {
        assert!(validate_email(ok).is_ok(), "{ok}");
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    let long_label = format!("a@{}.com", "b".repeat(64));
    let too_long = format!("{}@{}.com", "a".repeat(60), "b.".repeat(100));
    for bad in [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.com",
        "a@b@c.com",
        ".a@b.com",
        "a.@b.com",
        "a..b@c.com",
        "a@-b.com",
        "a@b-.com",
        "a@b..com",
        "a@b_c.com",
        "a b@c.com",
        "\"a\"@b.com",
        "Jane <a@b.com>",
        "a\0@b.com",
        "a@b.com\n",
        &long_local,
        &long_label,
        &too_long,
        "ä@b.com",
    ] {
        assert!(validate_email(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn headers_phone_and_helpers() {
    assert!(is_token("X-Custom_Header.1!"));
    assert!(!is_token(""));
    assert!(!is_header_name("X Header"));
    assert!(!is_header_name("X-Header:"));
    assert!(!is_header_name("Ünïcode"));
    assert!(is_header_value("value with\ttab"));
    assert!(is_header_value(""));
    assert!(!is_header_value("a\r\nSet-Cookie: x=1"));
    assert!(!is_header_value("a\nb"));
    assert!(!is_header_value("a\0b"));
    assert!(!is_header_value("a\u{7f}"));
    assert!(!is_header_value("a\u{85}b"));

    for ok in [
        "+1 (555) 123-4567",
        "5551234",
        "+44.20.7946.0958",
        "123456789012345",
    ] {
        assert!(validate_phone(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "123456",
        "1234567890123456",
        "1+5551234",
        "555-1234 ext 5",
        "++15551234",
        "５５５１２３４",
    ] {
        assert!(validate_phone(bad).is_err(), "{bad}");
    }

    assert_eq!(strip_control_chars("a\u{0}b\r\nc\td\u{7f}"), "ab\nc\td");
    assert!(contains_dangerous_chars("<script>"));
    assert!(contains_dangerous_chars("a\rb"));
    assert!(contains_dangerous_chars("{{x}}"));
    assert!(!contains_dangerous_chars("plain text, ok."));
    assert_eq!(collapse_whitespace("  a \t b\n\nc  "), "a b c");
}

async fn csrf_status(config: CsrfConfig, method: &str, headers: &[(&str, &str)]) -> u16 {
    let svc = ServiceBuilder::new()
        .layer(CsrfLayer::new(config))
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    let mut req = Request::builder().method(method).uri("/transfer");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = svc.oneshot(req.body(()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    if status == 403 {
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(
            br#"{"error":{"code":"CSRF_REJECTED","message":"cross-origin request rejected""#
        ));
    }
    status
}

#[tokio::test]
async fn csrf_matrix() {
    let cfg = || CsrfConfig::default().trusted_origin("https://app.example.com/");
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16);
    let cases: &[Case<'_>] = &[
        // Safe methods always pass.
        (
            "GET",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            200,
        ),
        ("HEAD", &[("sec-fetch-site", "cross-site")], 200),
        ("OPTIONS", &[("sec-fetch-site", "cross-site")], 200),
        // Sec-Fetch-Site decides first.
        ("POST", &[("sec-fetch-site", "same-origin")], 200),
        ("POST", &[("sec-fetch-site", "none")], 200),
        ("POST", &[("sec-fetch-site", "SAME-ORIGIN")], 200),
        ("POST", &[("sec-fetch-site", "cross-site")], 403),
        (
            "POST",
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://sub.example.com"),
            ],
            403,
        ),
        (
            "POST",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://APP.example.com"),
            ],
            200,
        ),
        (
            "DELETE",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            403,
        ),
        (
            "PUT",
            &[("sec-fetch-site", "garbage"), ("host", "bank.example")],
            403,
        ),
        // Without Sec-Fetch-Site: Origin against the trusted list, then Host.
        ("POST", &[], 200),
        ("POST", &[("host", "bank.example")], 200),
        (
            "POST",
            &[("origin", "https://bank.example"), ("host", "bank.example")],
            200,
        ),
        (
            "POST",
            &[
                ("origin", "https://bank.example:8443"),
                ("host", "bank.example:8443"),
            ],
            200,
        ),
        (
            "POST",
            &[("origin", "https://evil.example"), ("host", "bank.example")],
            403,
        ),
        ("POST", &[("origin", "null"), ("host", "bank.example")], 403),
        (
            "POST",
            &[
                ("origin", "https://bank.example.evil"),
                ("host", "bank.example"),
            ],
            403,
        ),
        (
            "PATCH",
            &[
                ("origin", "https://app.example.com"),
                ("host", "bank.example"),
            ],
            200,
        ),
        ("POST", &[("origin", "https://evil.example")], 403),
    ];
    for (method, headers, want) in cases {
        assert_eq!(
            csrf_status(cfg(), method, headers).await,
            *want,
            "{method} {headers:?}"
        );
    }
    // Duplicate headers are not trusted.
    let svc_status = csrf_status(
        cfg(),
        "POST",
        &[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(svc_status, 403);
    // No trusted origins: only same-origin by Host.
    assert_eq!(
        csrf_status(
            CsrfConfig::default(),
            "POST",
            &[("sec-fetch-site", "cross-site"), ("origin", "https://x")]
        )
        .await,
        403
    );
}

#[tokio::test]
async fn csrf_exempt_routes() {
    use plumego_core::{Body, handler_fn};
    use plumego_router::RouterBuilder;

    let ok = handler_fn(|_req: Request<Body>| async { "ok" });
    let mut routes = RouterBuilder::new();
    routes
        .group("/", |g| {
            g.layer(CsrfLayer::new(CsrfConfig::default()));
            g.post("/webhook", ok)?.meta(CsrfExempt);
            g.post("/form", ok)?;
            Ok(())
        })
        .unwrap();
    let router = routes.build();
    let post = |path: &'static str| {
        Request::post(path)
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        router
            .clone()
            .oneshot(post("/webhook"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(router.oneshot(post("/form")).await.unwrap().status(), 403);
}
