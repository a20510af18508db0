//! The request context: request id, matched route, trace context and principal,
//! all carried in the request's `http::Extensions` and read through [`RequestExt`].

mod ext;
mod peer;
mod principal;
mod request_id;
mod route;
mod trace;

pub use ext::RequestExt;
pub use peer::{PeerAddr, TlsConnection};
pub use principal::Principal;
pub use request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, RequestId};
pub use route::{INLINE_PARAM_BYTES, RouteInfo, RouteSlot, RouteState};
pub use trace::{SPAN_ID_HEADER, SpanId, TraceContext, TraceId};
