//! The matched route, as the router hands it to handlers and inner layers.
//!
//! The state is built inline for each request rather than taken from a pool:
//! the static part (pattern, name, parameter names, metadata) is shared behind
//! one `Arc`, and the decoded parameter values live in one byte buffer stored
//! inline (up to [`INLINE_PARAM_BYTES`] bytes, with the end offsets of up to
//! eight parameters), so a typical match allocates nothing beyond the one box
//! `http::Extensions` makes for any value. Longer values or more parameters
//! spill to the heap; there is no cap and nothing is truncated. A pool would
//! need synchronisation on every request and could not beat zero allocations.

use std::sync::Arc;

use http::Extensions;
use smallvec::SmallVec;

/// What the router knows about a route before any request arrives.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// Shared so labels (metrics, spans, logs) can hold it without a copy.
    pattern: Arc<str>,
    name: Option<Box<str>>,
    param_names: Box<[Box<str>]>,
    metadata: Extensions,
}

impl RouteInfo {
    /// Describes a route: its pattern in canonical form, optional name, and the
    /// names of its parameters in declaration order.
    pub fn new(
        pattern: impl Into<Arc<str>>,
        name: Option<Box<str>>,
        param_names: impl IntoIterator<Item = impl Into<Box<str>>>,
        metadata: Extensions,
    ) -> Self {
        Self {
            pattern: pattern.into(),
            name,
            param_names: param_names.into_iter().map(Into::into).collect(),
            metadata,
        }
    }

    /// The registered pattern, group prefix included (e.g. `/api/users/:id`).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The pattern as a shared string: cloning it to label a metric or a
    /// span costs a reference count, not an allocation.
    pub fn shared_pattern(&self) -> &Arc<str> {
        &self.pattern
    }

    /// The route name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The parameter names in declaration order.
    pub fn param_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.param_names.iter().map(|n| &**n)
    }

    /// Typed metadata attached to the route at registration (a timeout, an auth
    /// scope...), readable by any layer from the request.
    pub fn metadata<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.metadata.get::<T>()
    }

    /// All metadata.
    pub fn metadata_map(&self) -> &Extensions {
        &self.metadata
    }
}

/// The matched route and its decoded parameter values.
///
/// ```
/// use std::sync::Arc;
/// use plumego_core::context::{RouteInfo, RouteState};
///
/// let info = Arc::new(RouteInfo::new("/users/:id", None, ["id"], Default::default()));
/// let mut state = RouteState::new(info);
/// state.push_param("42");
/// assert_eq!(state.param("id"), Some("42"));
/// assert_eq!(state.pattern(), "/users/:id");
/// ```
#[derive(Debug, Clone)]
pub struct RouteState {
    route: Arc<RouteInfo>,
    /// Concatenated UTF-8 values; only ever extended with whole `&str`s.
    values: SmallVec<[u8; INLINE_PARAM_BYTES]>,
    ends: SmallVec<[u32; 8]>,
}

/// Parameter bytes a [`RouteState`] holds without allocating.
pub const INLINE_PARAM_BYTES: usize = 64;

impl RouteState {
    /// A state for this route with no parameter values yet.
    pub fn new(route: Arc<RouteInfo>) -> Self {
        Self {
            route,
            values: SmallVec::new(),
            ends: SmallVec::new(),
        }
    }

    /// Reserves room for `bytes` of parameter values.
    pub fn reserve(&mut self, bytes: usize) {
        self.values.reserve(bytes);
    }

    /// Appends the next parameter value (in declaration order).
    pub fn push_param(&mut self, value: &str) {
        self.values.extend_from_slice(value.as_bytes());
        self.ends
            .push(u32::try_from(self.values.len()).unwrap_or(u32::MAX));
    }

    /// Appends the next parameter value from its pieces (used while decoding).
    pub fn push_param_pieces<'a>(&mut self, pieces: impl IntoIterator<Item = &'a str>) {
        for piece in pieces {
            self.values.extend_from_slice(piece.as_bytes());
        }
        self.ends
            .push(u32::try_from(self.values.len()).unwrap_or(u32::MAX));
    }

    /// The route.
    pub fn route(&self) -> &Arc<RouteInfo> {
        &self.route
    }

    /// The matched pattern.
    pub fn pattern(&self) -> &str {
        self.route.pattern()
    }

    /// The route name.
    pub fn name(&self) -> Option<&str> {
        self.route.name()
    }

    /// The value of the parameter `name`, percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        let index = self.route.param_names.iter().position(|n| &**n == name)?;
        self.value_at(index)
    }

    fn value_at(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = match index {
            0 => 0,
            i => *self.ends.get(i - 1)? as usize,
        };
        // Offsets always fall on the boundaries of whole `&str`s.
        std::str::from_utf8(self.values.get(start..end)?).ok()
    }

    /// `(name, value)` pairs in declaration order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.route
            .param_names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((&**n, self.value_at(i)?)))
    }

    /// Typed route metadata (see [`RouteInfo::metadata`]).
    pub fn metadata<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.route.metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_params_are_all_kept() {
        let names: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
        let info = Arc::new(RouteInfo::new("/x", None, names.clone(), Extensions::new()));
        let mut state = RouteState::new(info);
        for i in 0..12 {
            state.push_param(&format!("v{i}"));
        }
        let got: Vec<_> = state.params().collect();
        assert_eq!(got.len(), 12);
        assert_eq!(got[11], ("p11", "v11"));
        assert_eq!(state.param("p0"), Some("v0"));
        assert_eq!(state.param("nope"), None);
    }

    #[test]
    fn metadata_is_typed() {
        #[derive(Clone, PartialEq, Debug)]
        struct Scope(&'static str);
        let mut meta = Extensions::new();
        meta.insert(Scope("items:write"));
        let info = Arc::new(RouteInfo::new(
            "/",
            Some("root".into()),
            Vec::<String>::new(),
            meta,
        ));
        let state = RouteState::new(info);
        assert_eq!(state.metadata::<Scope>(), Some(&Scope("items:write")));
        assert_eq!(state.metadata::<u8>(), None);
        assert_eq!(state.name(), Some("root"));
    }
}

/// Where the router reports the matched route to layers *outside* it.
///
/// Layers that wrap the router (access log, metrics, tracing) never see the
/// request the router annotates, only the response. Such a layer puts a slot in
/// the request with [`RouteSlot::ensure`]; the router fills it on a match, and
/// the layer reads it when the response comes back. Requests without a slot
/// cost the router nothing.
///
/// ```
/// use plumego_core::context::RouteSlot;
///
/// let mut req = http::Request::new(());
/// let slot = RouteSlot::ensure(req.extensions_mut());
/// assert!(slot.get().is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RouteSlot(Arc<std::sync::OnceLock<Arc<RouteInfo>>>);

impl RouteSlot {
    /// The slot in `extensions`, inserting a new one if there is none.
    pub fn ensure(extensions: &mut Extensions) -> RouteSlot {
        extensions.get_or_insert_with(RouteSlot::default).clone()
    }

    /// The slot in `extensions` (inserted if there is none), already holding
    /// the matched route when the router has run: for layers that may sit
    /// inside the router (as route or group layers) as well as around it.
    pub fn ensure_routed(extensions: &mut Extensions) -> RouteSlot {
        let slot = Self::ensure(extensions);
        if let Some(state) = extensions.get::<RouteState>() {
            slot.set(state.route().clone());
        }
        slot
    }

    /// Records the matched route; the first record wins (an outer router's
    /// match is not overwritten by a nested one).
    pub fn set(&self, route: Arc<RouteInfo>) {
        let _ = self.0.set(route);
    }

    /// The matched route, once the router has run.
    pub fn get(&self) -> Option<&Arc<RouteInfo>> {
        self.0.get()
    }

    /// The matched pattern, once the router has run.
    pub fn pattern(&self) -> Option<&str> {
        self.get().map(|r| r.pattern())
    }
}
