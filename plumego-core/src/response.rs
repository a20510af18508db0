//! Turning handler results into responses.

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::body::{Body, BoxError};
use crate::error::{ApiError, ErrorType, to_go_json_line};

/// The response type of every Plumego service.
pub type Response<B = Body> = http::Response<B>;

/// Something a handler can return.
///
/// ```
/// use http::StatusCode;
/// use plumego_core::IntoResponse;
///
/// let res = (StatusCode::CREATED, "made").into_response();
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
/// ```
pub trait IntoResponse {
    /// Converts `self` into a response.
    fn into_response(self) -> Response;
}

fn with_content_type(body: Body, content_type: &'static str) -> Response {
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

const TEXT: &str = "text/plain; charset=utf-8";
const OCTETS: &str = "application/octet-stream";

impl<B> IntoResponse for http::Response<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn into_response(self) -> Response {
        self.map(Body::new)
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        *res.status_mut() = self.0;
        res
    }
}

impl<T: IntoResponse> IntoResponse for (HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        res.headers_mut().extend(self.0);
        res
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut res = (self.1, self.2).into_response();
        *res.status_mut() = self.0;
        res
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// A JSON response (`application/json`), encoded byte-compatibly with Go's
/// `json.Encoder` (HTML characters escaped, trailing newline).
///
/// A value that fails to serialise becomes the 500 error envelope.
///
/// ```
/// use plumego_core::{IntoResponse, Json};
///
/// let res = Json(serde_json::json!({"a": "<b>"})).into_response();
/// assert_eq!(res.headers()["content-type"], "application/json");
/// assert_eq!(res.body().as_bytes().unwrap(), b"{\"a\":\"\\u003cb\\u003e\"}\n");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match to_go_json_line(&self.0) {
            Ok(bytes) => with_content_type(Body::from(bytes), "application/json"),
            Err(err) => encoding_failed(err),
        }
    }
}

/// The 500 envelope for a body that could not be serialised.
pub(crate) fn encoding_failed(err: serde_json::Error) -> Response {
    ApiError::builder()
        .error_type(ErrorType::Internal)
        .message("response encoding failed")
        .source(err)
        .build()
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn parts(res: Response) -> (StatusCode, HeaderMap, Bytes) {
        let (p, b) = res.into_parts();
        (p.status, p.headers, b.collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn every_implementation() {
        let (s, h, b) = parts("hi".into_response()).await;
        assert_eq!((s, &b[..]), (StatusCode::OK, &b"hi"[..]));
        assert_eq!(h[header::CONTENT_TYPE], TEXT);

        let (_, h, b) = parts(String::from("s").into_response()).await;
        assert_eq!(
            (&h[header::CONTENT_TYPE], &b[..]),
            (&HeaderValue::from_static(TEXT), &b"s"[..])
        );

        let (_, h, b) = parts(Cow::Borrowed("c").into_response()).await;
        assert_eq!(
            (&h[header::CONTENT_TYPE], &b[..]),
            (&HeaderValue::from_static(TEXT), &b"c"[..])
        );

        let (_, h, b) = parts(Bytes::from_static(b"by").into_response()).await;
        assert_eq!(
            (&h[header::CONTENT_TYPE], &b[..]),
            (&HeaderValue::from_static(OCTETS), &b"by"[..])
        );

        let (_, h, b) = parts(vec![1u8, 2].into_response()).await;
        assert_eq!(
            (&h[header::CONTENT_TYPE], &b[..]),
            (&HeaderValue::from_static(OCTETS), &[1u8, 2][..])
        );

        let (_, h, b) = parts((&b"sl"[..]).into_response()).await;
        assert_eq!(
            (&h[header::CONTENT_TYPE], &b[..]),
            (&HeaderValue::from_static(OCTETS), &b"sl"[..])
        );

        let (s, h, b) = parts(().into_response()).await;
        assert_eq!((s, h.len(), b.len()), (StatusCode::OK, 0, 0));

        let (s, _, b) = parts(StatusCode::NO_CONTENT.into_response()).await;
        assert_eq!((s, b.len()), (StatusCode::NO_CONTENT, 0));

        let (s, _, b) = parts((StatusCode::ACCEPTED, "x").into_response()).await;
        assert_eq!((s, &b[..]), (StatusCode::ACCEPTED, &b"x"[..]));

        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let (_, h, _) = parts((headers.clone(), "x").into_response()).await;
        assert_eq!(h["x-a"], "1");
        assert_eq!(h[header::CONTENT_TYPE], "text/html", "explicit headers win");

        let (s, h, _) = parts((StatusCode::IM_A_TEAPOT, headers, "x").into_response()).await;
        assert_eq!(
            (s, &h["x-a"]),
            (StatusCode::IM_A_TEAPOT, &HeaderValue::from_static("1"))
        );

        let raw = http::Response::builder()
            .status(201)
            .body(http_body_util::Full::new(Bytes::from_static(b"raw")))
            .unwrap();
        let (s, _, b) = parts(raw.into_response()).await;
        assert_eq!((s, &b[..]), (StatusCode::CREATED, &b"raw"[..]));

        let (s, _, b) = parts(Body::from("body").into_response()).await;
        assert_eq!((s, &b[..]), (StatusCode::OK, &b"body"[..]));

        let ok: Result<&'static str, StatusCode> = Ok("fine");
        let (s, _, b) = parts(ok.into_response()).await;
        assert_eq!((s, &b[..]), (StatusCode::OK, &b"fine"[..]));
        let err: Result<&'static str, StatusCode> = Err(StatusCode::CONFLICT);
        assert_eq!(parts(err.into_response()).await.0, StatusCode::CONFLICT);

        let (s, h, b) = parts(Json(serde_json::json!({"k": [1, "&"]})).into_response()).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(&b[..], b"{\"k\":[1,\"\\u0026\"]}\n");
    }

    #[tokio::test]
    async fn json_encoding_failure_is_the_500_envelope() {
        struct Broken;
        impl Serialize for Broken {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("nope"))
            }
        }
        let (s, h, b) = parts(Json(Broken).into_response()).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            &b[..],
            &b"{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"response encoding failed\",\"category\":\"server_error\",\"type\":\"internal_error\"}}\n"[..]
        );
    }
}
