//! JWT: the Go token format byte for byte, every verification check's
//! negative cases, algorithms, rotation, and the authenticator in a layer.
#![cfg(feature = "security")]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http_body_util::BodyExt as _;
use plumego_core::context::RequestExt as _;
use plumego_layers::security::jwt::{
    Algorithm, Claims, Grants, Identity, JwtAuthenticator, JwtConfig, JwtError, JwtKey, JwtManager,
    KeySet, TokenFormat, TokenType, parse_header,
};
use plumego_layers::security::{AuthConfig, AuthenticateLayer, ManualClock};
use tower::{ServiceBuilder, ServiceExt as _};

const NOW: u64 = 1_700_000_000;
const SECRET: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

// Test keys made once with:
//   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem; openssl pkey -in rsa.pem -pubout
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem; openssl pkey -in ec.pem -pubout
//   openssl genpkey -algorithm ed25519 -out ed.pem; openssl pkey -in ed.pem -pubout
const RSA_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDxUKJQ0uibYNlf\n\
weagylVoYtfEOFtRst99zJrcHo6aqczHbA5tAf/34BuD95G/6FCGs/9WH/NnN+W4\n\
jOZA4ilY4nQ70Tc+V/8iStZIWvB+HzSlZqQAsZwbj4QAfqtTRSp/hkrt9Beh0tjQ\n\
fHB2eFhd5pZzo6U7kzOtmUtUkuLciA9s6PRXKQnThMIQc2LuNMDVMbmSZZX5E9vJ\n\
E8yGvSgXDoX4Nkyhiv4s8rRPwGXiuzUas2R1wPBWnfS7me/FHRjunJBKwtiBN1pd\n\
zPQ5LwO5x9+StM3xxMVCzcAOMqNeVNKzbBDzY6Drgmi9+YotVfns8zU+fs889Q+D\n\
6em4qAKzAgMBAAECggEAFmV/8xVoDkeyVQ9XetPckmgeE3GRlCcQVAoh000ouhUJ\n\
Uvbl7dsSKSzNEPXwuolys9XP3GvxuMI42WSGWD5FTSETXZvgzzH2lXWxppx+Fo6J\n\
4dIBZakWTn6G507aUsuoEpbhrG0LpnK9ubfa7jvkI67rhscI5lsWoEWKdsp9MK9n\n\
7I73yu/tR8M1gAhFUANoIMXRvieOmc70XHc/EBH4h0eR0K77s75eelUuckboffja\n\
5CJ4mXkesrujd2ZkxjMqIMht3w05Qb3+TFLh+/9hPXE0TGLs6hwuZjk6VKb3JHC3\n\
iHf2BPwUr/uX0DTFiMPeQSiFtkdO/tI84fWCN+0LDQKBgQD+xEsFblBGh+l2fTI2\n\
uSrJgi4zVVcQHUK1nF1pAQrVIQNGZBYB9ivR28cm7p1bYs9N2GJj72IwdfbMU2MC\n\
J2Qy1zdR72RJM2I2mFxlHEQ709UBcYxUWRBQiWBaQfdNbM0D1IRZ33/IkCRvQo1l\n\
/jxBLSmoY4Os/v+yBTUqn1sbxwKBgQDye6vppw3TnhQTm+8xHpjJIAwm2OVUPhxv\n\
9UyUFBQnQ2XBKCMNoeDAqyskA5TbSDQXB4EZRmMelObJVCpg7uQ27GvYS184X2+U\n\
bWe1JPuQXuQK6ERNsoA0D2hdqKetw5ONP28iNwIZYU+MBRFIzIjapmAleYaEfat4\n\
oiYPkuGptQKBgQCqvMCOXjS8X/+NYjARzpynOXBfBLV5XjLD5YwQgBtTZHF+bjr1\n\
i5YoaYMZS1b31MubnwWpdde3JIeGveefnOigze0MI0RxbldGwWtCc+QiuD+LXR6v\n\
tJSjdL23H3huUhk/lOAyHv/TWQ6h5dc/YFffUjYV3MN1X9va4XSVIQD9JwKBgClB\n\
HTh9cX7FcEj9yK4ktH3Tc/3P/QReJNxvcX3oBJ3Be7hnKb+SAPkGpipUaaj9Gc+p\n\
OS+hqA916eXq6eLgAffONXLxL9wZcJRiILjS9/HSEx4/8g7+BY3V6T22CgEoOxxW\n\
5IN/tF25Dp2V5yDpm4cHs2fsyxQThW7at3sC1F3ZAoGBAJybK+zOuVMXBLTRyCyf\n\
clfWmRzjWsnU1lVMI1xfoFbF2rf2U+0chn7L3LGrwBqdweVNRoF1GgF3jCgK25ey\n\
D9LCdbmZVOTOfS4BueJ1pu8oC7G3IwZO6ZA8fV+H8N6mXqWfAgKFpeyZgHLnpNtJ\n\
shcVgGs/IYxOUOwgIf5VPJWr\n\
-----END PRIVATE KEY-----\n\
";
const RSA_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA8VCiUNLom2DZX8HmoMpV\n\
aGLXxDhbUbLffcya3B6OmqnMx2wObQH/9+Abg/eRv+hQhrP/Vh/zZzfluIzmQOIp\n\
WOJ0O9E3Plf/IkrWSFrwfh80pWakALGcG4+EAH6rU0Uqf4ZK7fQXodLY0HxwdnhY\n\
XeaWc6OlO5MzrZlLVJLi3IgPbOj0VykJ04TCEHNi7jTA1TG5kmWV+RPbyRPMhr0o\n\
Fw6F+DZMoYr+LPK0T8Bl4rs1GrNkdcDwVp30u5nvxR0Y7pyQSsLYgTdaXcz0OS8D\n\
ucffkrTN8cTFQs3ADjKjXlTSs2wQ82Og64JovfmKLVX57PM1Pn7PPPUPg+npuKgC\n\
swIDAQAB\n\
-----END PUBLIC KEY-----\n\
";
const EC_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1nf9xrrHgzA44E4+\n\
wysE3YGvb9RJeMVSGhlLP0Ls/uChRANCAATUwK1lLkBt8nMSd58csWMgRRjiS8X/\n\
DpwMnTNYNnfSM0kaVBHg9WbbyQn4+owAV/FGJwZOkWXK8RY6ibNBrDwK\n\
-----END PRIVATE KEY-----\n\
";
const EC_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1MCtZS5AbfJzEnefHLFjIEUY4kvF\n\
/w6cDJ0zWDZ30jNJGlQR4PVm28kJ+PqMAFfxRicGTpFlyvEWOomzQaw8Cg==\n\
-----END PUBLIC KEY-----\n\
";
const ED_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEIAr7pbuOoacgU4oTc4ZSoUHJf9JIcnGi4+vS9EPuR2TH\n\
-----END PRIVATE KEY-----\n\
";
const ED_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VwAyEAziUcmUQtrkOhvZrud8lXFbReEGJFsBIXL5Is1Ov5Tls=\n\
-----END PUBLIC KEY-----\n\
";

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW))
}

fn manager_with(keys: Arc<KeySet>, config: JwtConfig) -> (JwtManager, ManualClock) {
    let clock = clock();
    let m = JwtManager::new(keys, config)
        .unwrap()
        .with_clock(clock.clone());
    (m, clock)
}

fn hs_manager() -> (JwtManager, ManualClock) {
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET).unwrap(),
    ));
    manager_with(keys, JwtConfig::default())
}

/// A token assembled by hand and signed with ring's HMAC directly, as the
/// Go toolkit does it: base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256).
fn hand_token(header: &str, payload: &str, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let sig = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.as_ref()))
}

const GO_HEADER: &str = r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#;

/// A Go-format payload with the given times, in Go's field order.
fn go_payload(iat: i64, nbf: i64, exp: i64) -> String {
    format!(
        r#"{{"jti":"tok-1","token_type":"access","identity":{{"sub":"user-1","ver":1}},"authorization":{{"roles":["admin"]}},"iss":"plumego","aud":"plumego-client","iat":{iat},"nbf":{nbf},"exp":{exp},"kid":"k1"}}"#
    )
}

fn now() -> i64 {
    NOW as i64
}

#[test]
fn go_token_format_byte_for_byte() {
    let (m, _) = hs_manager();
    // Exactly what the Go toolkit's signJWT writes: the header is a Go map
    // (keys sorted), the payload the TokenClaims struct in field order,
    // `roles`/`permissions` omitted when empty, HTML characters escaped.
    let payload = concat!(
        r#"{"jti":"AAECAwQFBgcICQoLDA0ODw","token_type":"access","#,
        r#""identity":{"sub":"\u003cuser\u0026co\u003e","ver":3},"#,
        r#""authorization":{"roles":["admin","ops"],"permissions":["read:users"]},"#,
        r#""iss":"plumego","aud":"plumego-client","iat":1700000000,"nbf":1700000000,"exp":1700000900,"kid":"k1"}"#
    );
    let expected = hand_token(GO_HEADER, payload, &SECRET);

    let claims = Claims {
        token_id: "AAECAwQFBgcICQoLDA0ODw".into(),
        token_type: "access".into(),
        subject: "<user&co>".into(),
        version: 3,
        roles: vec!["admin".into(), "ops".into()],
        permissions: vec!["read:users".into()],
        issuer: "plumego".into(),
        audience: vec!["plumego-client".into()],
        issued_at: now(),
        not_before: now(),
        expires_at: now() + 900,
        key_id: "k1".into(),
        extra: Default::default(),
    };
    assert_eq!(
        m.sign(&claims).unwrap(),
        expected,
        "Rust writes the Go bytes"
    );
    assert_eq!(
        m.verify(&expected, Some(TokenType::Access)).unwrap(),
        claims,
        "Rust reads the Go token"
    );

    // Empty grants: `"authorization":{}`, as Go's omitempty writes it.
    let bare = Claims {
        roles: vec![],
        permissions: vec![],
        subject: "u".into(),
        ..claims
    };
    let token = m.sign(&bare).unwrap();
    let payload = String::from_utf8(B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert!(
        payload.contains(r#""identity":{"sub":"u","ver":3},"authorization":{},"iss""#),
        "{payload}"
    );
}

#[test]
fn issued_tokens_have_go_shape() {
    let (m, _) = hs_manager();
    let pair = m
        .issue_pair(
            &Identity {
                subject: "user-9".into(),
                version: 2,
            },
            &Grants::default().permissions(["read:x"]),
        )
        .unwrap();
    assert_eq!(pair.expires_in, 900);
    assert_eq!(pair.token_type, "Bearer");
    let header = B64
        .decode(pair.access_token.split('.').next().unwrap())
        .unwrap();
    assert_eq!(header, GO_HEADER.as_bytes());
    let access = m
        .verify(&pair.access_token, Some(TokenType::Access))
        .unwrap();
    assert_eq!(access.expires_at - access.issued_at, 900);
    assert_eq!(access.not_before, access.issued_at);
    assert_eq!(access.version, 2);
    assert_eq!(
        B64.decode(&access.token_id).unwrap().len(),
        16,
        "jti is 16 random bytes"
    );
    let refresh = m
        .verify(&pair.refresh_token, Some(TokenType::Refresh))
        .unwrap();
    assert_eq!(refresh.expires_at - refresh.issued_at, 7 * 24 * 3600);
    assert_ne!(access.token_id, refresh.token_id);
    assert_eq!(
        m.issue(TokenType::Access, &Identity::new("  "), &Grants::default()),
        Err(JwtError::MissingSubject)
    );
}

fn flip_last_char(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn tampering_is_detected() {
    let (m, _) = hs_manager();
    let good = hand_token(GO_HEADER, &go_payload(now(), now(), now() + 60), &SECRET);
    assert!(m.verify(&good, None).is_ok());
    let parts: Vec<&str> = good.split('.').collect();

    // Header changed (still a valid header for the same key): signature fails.
    let header2 = B64.encode(r#"{"alg":"HS256","kid":"k1","typ":"JWT","x":1}"#);
    let t = format!("{header2}.{}.{}", parts[1], parts[2]);
    assert_eq!(m.verify(&t, None), Err(JwtError::InvalidSignature));

    // Payload changed: a role added.
    let payload2 = B64.encode(
        go_payload(now(), now(), now() + 60).replace(r#"["admin"]"#, r#"["admin","root"]"#),
    );
    let t = format!("{}.{payload2}.{}", parts[0], parts[2]);
    assert_eq!(m.verify(&t, None), Err(JwtError::InvalidSignature));

    // Signature changed, truncated, emptied, not base64.
    let t = format!("{}.{}.{}", parts[0], parts[1], flip_last_char(parts[2]));
    assert_eq!(m.verify(&t, None), Err(JwtError::InvalidSignature));
    let t = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..10]);
    assert_eq!(m.verify(&t, None), Err(JwtError::InvalidSignature));
    let t = format!("{}.{}.", parts[0], parts[1]);
    assert!(matches!(m.verify(&t, None), Err(JwtError::Malformed(_))));
    let t = format!("{}.{}.{}!", parts[0], parts[1], parts[2]);
    assert_eq!(m.verify(&t, None), Err(JwtError::InvalidSignature));
    // Signed with another secret.
    let t = hand_token(GO_HEADER, &go_payload(now(), now(), now() + 60), &[1u8; 32]);
    assert_eq!(m.verify(&t, None), Err(JwtError::InvalidSignature));
}

#[test]
fn header_checks() {
    let (m, _) = hs_manager();
    let payload = go_payload(now(), now(), now() + 60);
    let cases: &[(&str, JwtError)] = &[
        (
            r#"{"alg":"none","kid":"k1","typ":"JWT"}"#,
            JwtError::AlgNone,
        ),
        (
            r#"{"alg":"NONE","kid":"k1","typ":"JWT"}"#,
            JwtError::AlgNone,
        ),
        (r#"{"alg":"None","typ":"JWT"}"#, JwtError::AlgNone),
        (
            r#"{"alg":"HS512","kid":"k1","typ":"JWT"}"#,
            JwtError::AlgorithmMismatch,
        ),
        (
            r#"{"alg":"hs256","kid":"k1","typ":"JWT"}"#,
            JwtError::AlgorithmMismatch,
        ),
        (
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            JwtError::AlgorithmMismatch,
        ),
        (
            r#"{"alg":"HS256","kid":"nope","typ":"JWT"}"#,
            JwtError::UnknownKey,
        ),
        (
            r#"{"alg":"HS256","kid":"k1","typ":"jwt"}"#,
            JwtError::Malformed("header typ must be JWT"),
        ),
        (
            r#"{"alg":"HS256","kid":"k1"}"#,
            JwtError::Malformed("header typ must be JWT"),
        ),
        (
            r#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#,
            JwtError::Malformed("header typ must be JWT"),
        ),
        (
            r#"{"alg":"HS256","typ":"JWT"}"#,
            JwtError::Malformed("header needs alg and kid"),
        ),
        (
            r#"{"alg":"HS256","kid":7,"typ":"JWT"}"#,
            JwtError::Malformed("header needs alg and kid"),
        ),
        (
            r#"{"kid":"k1","typ":"JWT"}"#,
            JwtError::Malformed("header needs alg and kid"),
        ),
        (
            r#"{"alg":"HS256","kid":"k1","typ":"JWT","crit":["exp"]}"#,
            JwtError::Malformed("critical header extensions are not supported"),
        ),
        (
            r#"["HS256"]"#,
            JwtError::Malformed("header is not a JSON object"),
        ),
        (
            "not json",
            JwtError::Malformed("header is not a JSON object"),
        ),
    ];
    for (header, want) in cases {
        let t = hand_token(header, &payload, &SECRET);
        assert_eq!(
            m.verify(&t, None).as_ref().err(),
            Some(want),
            "header {header}"
        );
    }
    // Padding and non-url alphabets are not base64url.
    assert!(parse_header(&format!("{}=", B64.encode(GO_HEADER))).is_err());
    let std_b64 = base64::engine::general_purpose::STANDARD
        .encode(r#"{"alg":"HS256","kid":"k>?","typ":"JWT"}"#);
    assert!(std_b64.contains('/') || std_b64.contains('+'));
    assert!(parse_header(&std_b64).is_err());
    assert_eq!(parse_header(&B64.encode(GO_HEADER)).unwrap().kid, "k1");
}

#[test]
fn shape_and_size_limits() {
    let (m, _) = hs_manager();
    let good = hand_token(GO_HEADER, &go_payload(now(), now(), now() + 60), &SECRET);
    for bad in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        ".b.c",
        "a..c",
        &format!("{good}.x"),
    ] {
        assert!(
            matches!(m.verify(bad, None), Err(JwtError::Malformed(_))),
            "{bad:?}"
        );
    }
    let long = format!("{}.{}.{}", "a".repeat(8 * 1024 + 1), "b", "c");
    assert!(matches!(m.verify(&long, None), Err(JwtError::Malformed(_))));
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(8000),
        "b".repeat(8000),
        "c".repeat(1000)
    );
    assert!(huge.len() > 16 * 1024);
    assert!(matches!(m.verify(&huge, None), Err(JwtError::Malformed(_))));
    // Just under the limits still gets to the header check.
    let big_payload = format!("{}.{}.{}", B64.encode(GO_HEADER), "b".repeat(8 * 1024), "c");
    assert_eq!(
        m.verify(&big_payload, None),
        Err(JwtError::InvalidSignature)
    );
}

#[test]
fn claim_checks() {
    let (m, _) = hs_manager();
    let sign = |payload: String| hand_token(GO_HEADER, &payload, &SECRET);
    let base = go_payload(now(), now(), now() + 60);
    let cases: Vec<(String, JwtError)> = vec![
        (
            base.replace(r#""kid":"k1"}"#, r#""kid":"k2"}"#),
            JwtError::KeyIdMismatch,
        ),
        (
            base.replace(r#""iss":"plumego""#, r#""iss":"evil""#),
            JwtError::InvalidIssuer,
        ),
        (
            base.replace(r#""iss":"plumego","#, ""),
            JwtError::InvalidIssuer,
        ),
        (
            base.replace(r#""aud":"plumego-client""#, r#""aud":"other""#),
            JwtError::InvalidAudience,
        ),
        (
            base.replace(r#""aud":"plumego-client""#, r#""aud":["plumego-client"]"#),
            JwtError::Malformed("payload is not the expected JSON"),
        ),
        (
            base.replace(r#""sub":"user-1""#, r#""sub":"""#),
            JwtError::MissingSubject,
        ),
        (go_payload(0, now(), now() + 60), JwtError::InvalidTimes),
        (go_payload(now(), 0, now() + 60), JwtError::InvalidTimes),
        (go_payload(now(), now(), 0), JwtError::InvalidTimes),
        (go_payload(-5, now(), now() + 60), JwtError::InvalidTimes),
        (
            base.replace(r#""exp":1700000060"#, r#""exp":1.5"#),
            JwtError::Malformed("payload is not the expected JSON"),
        ),
        (
            "[]".into(),
            JwtError::Malformed("payload is not the expected JSON"),
        ),
    ];
    for (payload, want) in cases {
        assert_eq!(
            m.verify(&sign(payload.clone()), None).as_ref().err(),
            Some(&want),
            "{payload}"
        );
    }
    let t = sign(base.replace(r#""token_type":"access""#, r#""token_type":"refresh""#));
    assert_eq!(
        m.verify(&t, Some(TokenType::Access)),
        Err(JwtError::WrongTokenType)
    );
    assert!(m.verify(&t, Some(TokenType::Refresh)).is_ok());
    assert!(m.verify(&t, None).is_ok());
}

#[test]
fn time_checks_and_skew_edges() {
    let (m, clock) = hs_manager();
    let sign =
        |iat: i64, nbf: i64, exp: i64| hand_token(GO_HEADER, &go_payload(iat, nbf, exp), &SECRET);
    let n = now();
    // exp: valid up to and including exp + 5s of skew.
    assert!(m.verify(&sign(n - 100, n - 100, n - 5), None).is_ok());
    assert_eq!(
        m.verify(&sign(n - 100, n - 100, n - 6), None),
        Err(JwtError::Expired)
    );
    // nbf: valid from nbf - 5s.
    assert!(m.verify(&sign(n, n + 5, n + 60), None).is_ok());
    assert_eq!(
        m.verify(&sign(n, n + 6, n + 60), None),
        Err(JwtError::NotYetValid)
    );
    // iat in the future beyond the skew is invalid (checked before exp and nbf).
    assert!(m.verify(&sign(n + 5, n, n + 60), None).is_ok());
    assert_eq!(
        m.verify(&sign(n + 6, n, n + 60), None),
        Err(JwtError::InvalidTimes)
    );
    assert_eq!(
        m.verify(&sign(n + 6, n + 100, n - 100), None),
        Err(JwtError::InvalidTimes)
    );
    // The injected clock moves validity.
    let t = sign(n, n, n + 60);
    clock.advance(Duration::from_secs(65));
    assert!(m.verify(&t, None).is_ok());
    clock.advance(Duration::from_secs(1));
    assert_eq!(m.verify(&t, None), Err(JwtError::Expired));
    // No skew: the edges are exact.
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET).unwrap(),
    ));
    let (strict, _) = manager_with(
        keys,
        JwtConfig {
            clock_skew: Duration::ZERO,
            ..JwtConfig::default()
        },
    );
    assert!(strict.verify(&sign(n, n, n), None).is_ok());
    assert_eq!(
        strict.verify(&sign(n, n, n - 1), None),
        Err(JwtError::Expired)
    );
    assert_eq!(
        strict.verify(&sign(n, n + 1, n + 9), None),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        strict.verify(&sign(n + 1, n, n + 9), None),
        Err(JwtError::InvalidTimes)
    );
}

#[test]
fn issuer_and_audience_checks_can_be_off() {
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET).unwrap(),
    ));
    let config = JwtConfig {
        issuer: String::new(),
        audience: String::new(),
        ..JwtConfig::default()
    };
    let (m, _) = manager_with(keys, config);
    let payload = go_payload(now(), now(), now() + 60)
        .replace(r#""iss":"plumego""#, r#""iss":"x""#)
        .replace(r#""aud":"plumego-client""#, r#""aud":"y""#);
    assert!(
        m.verify(&hand_token(GO_HEADER, &payload, &SECRET), None)
            .is_ok()
    );
}

#[test]
fn hmac_keys_need_hash_sized_secrets() {
    assert!(JwtKey::hmac("k", Algorithm::HS256, &[0; 31]).is_err());
    assert!(JwtKey::hmac("k", Algorithm::HS384, &[0; 47]).is_err());
    assert!(JwtKey::hmac("k", Algorithm::HS512, &[0; 63]).is_err());
    assert!(JwtKey::hmac("k", Algorithm::HS512, &[0; 64]).is_ok());
    assert!(JwtKey::hmac("k", Algorithm::RS256, &[0; 64]).is_err());
    assert!(JwtKey::hmac("", Algorithm::HS256, &[0; 32]).is_err());
    assert!(JwtKey::hmac("a\nb", Algorithm::HS256, &[0; 32]).is_err());
}

fn round_trip(key: JwtKey) {
    let alg = key.alg();
    let keys = Arc::new(KeySet::with_active(key));
    let (m, _) = manager_with(keys, JwtConfig::default());
    let token = m
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], alg.as_str());
    assert_eq!(
        m.verify(&token, Some(TokenType::Access)).unwrap().subject,
        "u"
    );
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], parts[1], flip_last_char(parts[2]));
    assert_eq!(
        m.verify(&forged, None),
        Err(JwtError::InvalidSignature),
        "{alg}"
    );
}

#[test]
fn all_algorithms_round_trip() {
    for alg in [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::EdDSA,
        Algorithm::ES256,
    ] {
        round_trip(JwtKey::generate("gen", alg).unwrap());
    }
    round_trip(
        JwtKey::from_pem(
            "rsa",
            Algorithm::RS256,
            RSA_PEM.as_bytes(),
            RSA_PUB.as_bytes(),
        )
        .unwrap(),
    );
    round_trip(
        JwtKey::from_pem("ec", Algorithm::ES256, EC_PEM.as_bytes(), EC_PUB.as_bytes()).unwrap(),
    );
    round_trip(
        JwtKey::from_pem("ed", Algorithm::EdDSA, ED_PEM.as_bytes(), ED_PUB.as_bytes()).unwrap(),
    );
    round_trip(JwtKey::ed25519_seed("seed", &[42; 32]).unwrap());
    assert!(JwtKey::generate("r", Algorithm::RS256).is_err());
    // Mismatched pair, wrong algorithm for the PEM.
    assert!(
        JwtKey::from_pem("x", Algorithm::ES256, EC_PEM.as_bytes(), RSA_PUB.as_bytes()).is_err()
    );
    assert!(JwtKey::from_pem("x", Algorithm::HS256, EC_PEM.as_bytes(), EC_PUB.as_bytes()).is_err());
}

#[test]
fn verify_only_keys_verify_but_cannot_sign() {
    let signer =
        JwtKey::from_pem("ed", Algorithm::EdDSA, ED_PEM.as_bytes(), ED_PUB.as_bytes()).unwrap();
    let (issuer, _) = manager_with(Arc::new(KeySet::with_active(signer)), JwtConfig::default());
    let token = issuer
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();

    let verifier_keys = Arc::new(KeySet::new());
    verifier_keys.insert(JwtKey::public_pem("ed", Algorithm::EdDSA, ED_PUB.as_bytes()).unwrap());
    let (verifier, _) = manager_with(verifier_keys.clone(), JwtConfig::default());
    assert!(verifier.verify(&token, None).is_ok());
    assert_eq!(
        verifier.issue(TokenType::Access, &Identity::new("u"), &Grants::default()),
        Err(JwtError::NoSigningKey)
    );
    verifier_keys.rotate(JwtKey::public_pem("ed2", Algorithm::EdDSA, ED_PUB.as_bytes()).unwrap());
    assert_eq!(
        verifier.issue(TokenType::Access, &Identity::new("u"), &Grants::default()),
        Err(JwtError::NoSigningKey)
    );
}

#[test]
fn algorithm_confusion_is_refused() {
    // The classic attack: HS256 signed with the RSA public key as the secret,
    // under the RSA key's kid.
    let keys = Arc::new(KeySet::with_active(
        JwtKey::from_pem(
            "rsa",
            Algorithm::RS256,
            RSA_PEM.as_bytes(),
            RSA_PUB.as_bytes(),
        )
        .unwrap(),
    ));
    let (m, _) = manager_with(keys, JwtConfig::default());
    let header = r#"{"alg":"HS256","kid":"rsa","typ":"JWT"}"#;
    let payload = go_payload(now(), now(), now() + 60).replace(r#""kid":"k1""#, r#""kid":"rsa""#);
    let forged = hand_token(header, &payload, RSA_PUB.as_bytes());
    assert_eq!(m.verify(&forged, None), Err(JwtError::AlgorithmMismatch));
}

#[test]
fn rotation_keeps_old_keys_until_removed() {
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET).unwrap(),
    ));
    let (m, _) = manager_with(keys.clone(), JwtConfig::default());
    let old = m
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    keys.rotate(JwtKey::generate("k2", Algorithm::EdDSA).unwrap());
    let new = m
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    assert_eq!(m.verify(&old, None).unwrap().key_id, "k1");
    assert_eq!(m.verify(&new, None).unwrap().key_id, "k2");
    assert_eq!(keys.kids(), ["k1", "k2"]);
    assert!(keys.remove("k1"));
    assert_eq!(m.verify(&old, None), Err(JwtError::UnknownKey));
    assert!(m.verify(&new, None).is_ok());
    assert!(keys.activate("k2"));
    assert!(!keys.activate("k1"));
}

#[test]
fn lazy_rotation_after_the_interval() {
    let start = UNIX_EPOCH + Duration::from_secs(NOW);
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET)
            .unwrap()
            .created_at(start),
    ));
    let config = JwtConfig {
        rotation_interval: Some(Duration::from_secs(3600)),
        access_ttl: Duration::from_secs(7200),
        ..JwtConfig::default()
    };
    let (m, clock) = manager_with(keys.clone(), config);
    let first = m
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    assert_eq!(m.verify(&first, None).unwrap().key_id, "k1");
    clock.advance(Duration::from_secs(3600));
    let second = m
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    let kid = m.verify(&second, None).unwrap().key_id;
    assert_ne!(kid, "k1");
    assert_eq!(keys.active().unwrap().alg(), Algorithm::HS256);
    assert!(m.verify(&first, None).is_ok(), "the old key still verifies");
    let third = m
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    assert_eq!(m.verify(&third, None).unwrap().key_id, kid, "rotated once");
    assert_eq!(keys.kids().len(), 2);
}

#[test]
fn standard_format() {
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET).unwrap(),
    ));
    let config = JwtConfig {
        format: TokenFormat::Standard,
        ..JwtConfig::default()
    };
    let (m, _) = manager_with(keys, config);
    let token = m
        .issue(
            TokenType::Access,
            &Identity::new("u1"),
            &Grants::default().roles(["r"]).permissions(["p"]),
        )
        .unwrap();
    let payload: serde_json::Value =
        serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["sub"], "u1");
    assert_eq!(payload["aud"], "plumego-client");
    assert!(payload.get("identity").is_none());
    let claims = m.verify(&token, Some(TokenType::Access)).unwrap();
    assert_eq!(
        (claims.roles, claims.permissions),
        (vec!["r".to_string()], vec!["p".to_string()])
    );

    // Another issuer's token: aud array, scope string, no iat/nbf, extra claims.
    let payload = format!(
        r#"{{"sub":"svc","iss":"plumego","aud":["other","plumego-client"],"exp":{},"scope":"read write","tenant":"t1"}}"#,
        now() + 60
    );
    let claims = m
        .verify(&hand_token(GO_HEADER, &payload, &SECRET), None)
        .unwrap();
    assert_eq!(claims.permissions, ["read", "write"]);
    assert_eq!(claims.extra["tenant"], "t1");
    let no_aud = payload.replace(r#"["other","plumego-client"]"#, r#"["other"]"#);
    assert_eq!(
        m.verify(&hand_token(GO_HEADER, &no_aud, &SECRET), None),
        Err(JwtError::InvalidAudience)
    );
    let no_exp = payload.replace(&format!(r#""exp":{},"#, now() + 60), "");
    assert_eq!(
        m.verify(&hand_token(GO_HEADER, &no_exp, &SECRET), None),
        Err(JwtError::InvalidTimes)
    );
    assert_eq!(
        m.verify(
            &hand_token(GO_HEADER, &payload, &SECRET),
            Some(TokenType::Access)
        ),
        Err(JwtError::WrongTokenType)
    );
}

async fn call(
    layer: AuthenticateLayer,
    auth: Option<&str>,
) -> (http::StatusCode, http::HeaderMap, String) {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: http::Request<()>| async move {
            let claims = req
                .extensions()
                .get::<Claims>()
                .cloned()
                .unwrap_or_default();
            let who = req
                .principal()
                .map(|p| p.subject.clone())
                .unwrap_or_default();
            let body = format!("{who}:{}", claims.key_id);
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::from(body),
            )))
        });
    let mut req = http::Request::builder();
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = svc.oneshot(req.body(()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn authenticator_maps_errors_like_go() {
    let keys = Arc::new(KeySet::with_active(
        JwtKey::hmac("k1", Algorithm::HS256, &SECRET).unwrap(),
    ));
    let (m, _) = manager_with(keys, JwtConfig::default());
    let m = Arc::new(m);
    let layer = AuthenticateLayer::new(
        JwtAuthenticator::new(m.clone(), Some(TokenType::Access)),
        AuthConfig::default().realm("api"),
    );
    let good = hand_token(GO_HEADER, &go_payload(now(), now(), now() + 60), &SECRET);
    let (status, _, body) = call(layer.clone(), Some(&format!("Bearer {good}"))).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "user-1:k1"));

    let expired = hand_token(
        GO_HEADER,
        &go_payload(now() - 100, now() - 100, now() - 50),
        &SECRET,
    );
    let (status, headers, body) = call(layer.clone(), Some(&format!("Bearer {expired}"))).await;
    assert_eq!(status, 401);
    assert!(
        body.contains(r#""code":"UNAUTHORIZED","message":"token expired""#),
        "{body}"
    );
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="api""#);

    let (status, _, body) = call(
        layer.clone(),
        Some(&format!("Bearer {}", flip_last_char(&good))),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains(r#""message":"invalid token""#), "{body}");
    let (_, _, body) = call(layer.clone(), Some(&format!("Token {good}"))).await;
    assert!(
        body.contains(r#""message":"authentication required""#),
        "{body}"
    );
    let (_, _, body) = call(layer.clone(), None).await;
    assert!(
        body.contains(r#""message":"authentication required""#),
        "{body}"
    );
    let refresh = m
        .issue(TokenType::Refresh, &Identity::new("u"), &Grants::default())
        .unwrap();
    let (_, _, body) = call(layer, Some(&format!("Bearer {refresh}"))).await;
    assert!(body.contains(r#""message":"invalid token""#), "{body}");
}

/// The public halves of RSA_PUB and ED_PUB as a JWKS document (n and x from
/// `openssl rsa -pubin -noout -modulus` and the last 32 bytes of the Ed25519
/// SPKI, base64url), plus keys that must be skipped.
const JWKS: &str = r#"{"keys":[
  {"kty":"RSA","kid":"rsa-jwks","alg":"RS256","use":"sig","e":"AQAB",
   "n":"8VCiUNLom2DZX8HmoMpVaGLXxDhbUbLffcya3B6OmqnMx2wObQH_9-Abg_eRv-hQhrP_Vh_zZzfluIzmQOIpWOJ0O9E3Plf_IkrWSFrwfh80pWakALGcG4-EAH6rU0Uqf4ZK7fQXodLY0HxwdnhYXeaWc6OlO5MzrZlLVJLi3IgPbOj0VykJ04TCEHNi7jTA1TG5kmWV-RPbyRPMhr0oFw6F-DZMoYr-LPK0T8Bl4rs1GrNkdcDwVp30u5nvxR0Y7pyQSsLYgTdaXcz0OS8DucffkrTN8cTFQs3ADjKjXlTSs2wQ82Og64JovfmKLVX57PM1Pn7PPPUPg-npuKgCsw"},
  {"kty":"OKP","crv":"Ed25519","kid":"ed-jwks","x":"ziUcmUQtrkOhvZrud8lXFbReEGJFsBIXL5Is1Ov5Tls"},
  {"kty":"RSA","kid":"rsa-enc","use":"enc","e":"AQAB","n":"8VCiUNLom2DZX8HmoMpVaGLXxDhbUbLffcya3B6OmqnMx2wObQH_9-Abg_eRv-hQhrP_Vh_zZzfluIzmQOIpWOJ0O9E3Plf_IkrWSFrwfh80pWakALGcG4-EAH6rU0Uqf4ZK7fQXodLY0HxwdnhYXeaWc6OlO5MzrZlLVJLi3IgPbOj0VykJ04TCEHNi7jTA1TG5kmWV-RPbyRPMhr0oFw6F-DZMoYr-LPK0T8Bl4rs1GrNkdcDwVp30u5nvxR0Y7pyQSsLYgTdaXcz0OS8DucffkrTN8cTFQs3ADjKjXlTSs2wQ82Og64JovfmKLVX57PM1Pn7PPPUPg-npuKgCsw"},
  {"kty":"RSA","kid":"rsa-as-es","alg":"ES256","e":"AQAB","n":"8VCiUNLom2DZX8HmoMpVaGLXxDhbUbLffcya3B6OmqnMx2wObQH_9-Abg_eRv-hQhrP_Vh_zZzfluIzmQOIpWOJ0O9E3Plf_IkrWSFrwfh80pWakALGcG4-EAH6rU0Uqf4ZK7fQXodLY0HxwdnhYXeaWc6OlO5MzrZlLVJLi3IgPbOj0VykJ04TCEHNi7jTA1TG5kmWV-RPbyRPMhr0oFw6F-DZMoYr-LPK0T8Bl4rs1GrNkdcDwVp30u5nvxR0Y7pyQSsLYgTdaXcz0OS8DucffkrTN8cTFQs3ADjKjXlTSs2wQ82Og64JovfmKLVX57PM1Pn7PPPUPg-npuKgCsw"},
  {"kty":"oct","kid":"sym","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"},
  {"kty":"OKP","crv":"Ed25519","x":"ziUcmUQtrkOhvZrud8lXFbReEGJFsBIXL5Is1Ov5Tls"}
]}"#;

#[test]
fn jwks_keys_verify_tokens_from_an_identity_provider() {
    let verifier_keys = Arc::new(KeySet::new());
    assert_eq!(verifier_keys.insert_jwks(JWKS).unwrap(), 2);
    assert_eq!(verifier_keys.kids(), ["ed-jwks", "rsa-jwks"]);
    assert!(verifier_keys.insert_jwks("{\"keys\":").is_err());
    let config = JwtConfig {
        format: TokenFormat::Standard,
        ..JwtConfig::default()
    };
    let (verifier, _) = manager_with(verifier_keys, config.clone());
    for (kid, alg, private, public) in [
        ("rsa-jwks", Algorithm::RS256, RSA_PEM, RSA_PUB),
        ("ed-jwks", Algorithm::EdDSA, ED_PEM, ED_PUB),
    ] {
        let signer = JwtKey::from_pem(kid, alg, private.as_bytes(), public.as_bytes()).unwrap();
        let (idp, _) = manager_with(Arc::new(KeySet::with_active(signer)), config.clone());
        let token = idp
            .issue(
                TokenType::Access,
                &Identity::new("idp-user"),
                &Grants::default(),
            )
            .unwrap();
        assert_eq!(
            verifier
                .verify(&token, Some(TokenType::Access))
                .unwrap()
                .subject,
            "idp-user",
            "{kid}"
        );
    }
    // A key under a skipped kid is unknown.
    let signer = JwtKey::from_pem(
        "rsa-enc",
        Algorithm::RS256,
        RSA_PEM.as_bytes(),
        RSA_PUB.as_bytes(),
    )
    .unwrap();
    let (idp, _) = manager_with(Arc::new(KeySet::with_active(signer)), config);
    let token = idp
        .issue(TokenType::Access, &Identity::new("u"), &Grants::default())
        .unwrap();
    assert_eq!(verifier.verify(&token, None), Err(JwtError::UnknownKey));
}
