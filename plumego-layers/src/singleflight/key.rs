//! Which requests count as identical.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, Request, header};

/// The identity of a request: every component written out in full, each
/// length-prefixed, rather than a 64-bit hash of them (the Go toolkit used
/// FNV-64a). A hash collision would hand one caller another caller's response,
/// possibly across credentials; comparing the bytes rules that out.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key(Arc<[u8]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print it: it holds credentials.
        write!(f, "Key({} bytes)", self.0.len())
    }
}

fn push(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The key of `req`: method, host, the full URI, and the values of each of
/// `headers` (in configuration order; trimmed, repeated values in order).
pub(crate) fn of<B>(req: &Request<B>, headers: &[HeaderName]) -> Key {
    let mut out = Vec::with_capacity(128);
    push(&mut out, req.method().as_str().as_bytes());
    let uri = req.uri();
    push(&mut out, uri.scheme_str().unwrap_or_default().as_bytes());
    push(
        &mut out,
        uri.authority().map_or("", |a| a.as_str()).as_bytes(),
    );
    push(
        &mut out,
        uri.path_and_query().map_or("", |p| p.as_str()).as_bytes(),
    );
    push_values(&mut out, req.headers(), &header::HOST);
    for name in headers {
        push_values(&mut out, req.headers(), name);
    }
    Key(out.into())
}

fn push_values(out: &mut Vec<u8>, headers: &HeaderMap, name: &HeaderName) {
    let values = headers.get_all(name);
    out.extend_from_slice(&(values.iter().count() as u64).to_le_bytes());
    for value in values {
        push(out, value.as_bytes().trim_ascii());
    }
}

/// Whether the request can share a response at all: a body (which the key
/// does not cover) or a protocol upgrade (whose handshake is per connection)
/// makes it unique.
pub(crate) fn coalescible<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().trim_ascii() != b"0");
    !has_body && !headers.contains_key(header::UPGRADE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&'static str, &'static str)]) -> Request<()> {
        let mut b = Request::get(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn components_partition_the_key() {
        let names = [header::AUTHORIZATION, header::ACCEPT];
        let base = of(&req("/a?x=1", &[("authorization", "t1")]), &names);
        assert_eq!(
            base,
            of(&req("/a?x=1", &[("authorization", " t1 ")]), &names)
        );
        assert_ne!(base, of(&req("/a?x=2", &[("authorization", "t1")]), &names));
        assert_ne!(base, of(&req("/a?x=1", &[("authorization", "t2")]), &names));
        assert_ne!(
            base,
            of(
                &req("/a?x=1", &[("authorization", "t1"), ("host", "b")]),
                &names
            )
        );
        assert_ne!(
            base,
            of(&req("http://b/a?x=1", &[("authorization", "t1")]), &names)
        );
        // Length prefixes keep values from sliding between headers.
        let split_a = of(
            &req("/", &[("authorization", "ab"), ("accept", "c")]),
            &names,
        );
        let split_b = of(
            &req("/", &[("authorization", "a"), ("accept", "bc")]),
            &names,
        );
        assert_ne!(split_a, split_b);
        // A header not in the list does not matter.
        assert_eq!(
            base,
            of(
                &req("/a?x=1", &[("authorization", "t1"), ("x-other", "1")]),
                &names
            )
        );
    }

    #[test]
    fn bodies_and_upgrades_are_never_shared() {
        assert!(coalescible(&req("/", &[])));
        assert!(coalescible(&req("/", &[("content-length", "0")])));
        assert!(!coalescible(&req("/", &[("content-length", "3")])));
        assert!(!coalescible(&req("/", &[("transfer-encoding", "chunked")])));
        assert!(!coalescible(&req("/", &[("upgrade", "websocket")])));
    }
}
