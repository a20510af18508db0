//! Reverse routing: building a URL from a route name and parameter values.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::builder::RouterBuilder;
use crate::error::UrlError;
use crate::service::Router;
use crate::tree::{Pattern, Segment};

/// What Go's `url.PathEscape` escapes: everything except unreserved characters
/// and `$ & + = : @`.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b',')
    .add(b'/')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'!');

/// Builds the URL of `pattern` from parameter values.
pub(crate) fn build_url(pattern: &Pattern, params: &[(&str, &str)]) -> Result<String, UrlError> {
    for (i, (key, value)) in params.iter().enumerate() {
        if params[..i].iter().any(|(k, _)| k == key) {
            return Err(UrlError::DuplicateParam((*key).to_owned()));
        }
        if !pattern.param_names().any(|n| n == *key) {
            return Err(UrlError::UnknownParam((*key).to_owned()));
        }
        if value.is_empty() {
            return Err(UrlError::EmptyParam((*key).to_owned()));
        }
    }
    let lookup = |name: &str| {
        params
            .iter()
            .find_map(|(k, v)| (*k == name).then_some(*v))
            .ok_or_else(|| UrlError::MissingParam(name.to_owned()))
    };
    let mut url = String::with_capacity(pattern.as_str().len() + 16);
    for segment in pattern.segments() {
        url.push('/');
        match segment {
            Segment::Static(text) => url.push_str(text),
            Segment::Param(name) => {
                url.extend(utf8_percent_encode(lookup(name)?, PATH_SEGMENT));
            }
            Segment::CatchAll(name) => {
                for (i, piece) in lookup(name)?.split('/').enumerate() {
                    if i > 0 {
                        url.push('/');
                    }
                    url.extend(utf8_percent_encode(piece, PATH_SEGMENT));
                }
            }
        }
    }
    if url.is_empty() {
        url.push('/');
    }
    Ok(url)
}

impl<B> Router<B> {
    /// The URL of the named route with these parameter values.
    ///
    /// Parameter values are percent-escaped per segment; a catch-all value is
    /// escaped piece by piece, keeping its `/`. Every parameter must be given
    /// once, non-empty, and no other may be.
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        let index = *self
            .inner
            .names
            .get(name)
            .ok_or_else(|| UrlError::NotFound(name.to_owned()))?;
        build_url(&self.inner.endpoints[index].pattern, params)
    }

    /// Whether a route has this name.
    pub fn has_route(&self, name: &str) -> bool {
        self.inner.names.contains_key(name)
    }
}

impl<B> RouterBuilder<B> {
    /// [`Router::url_for`] before the router is built.
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        let index = *self
            .names
            .get(name)
            .ok_or_else(|| UrlError::NotFound(name.to_owned()))?;
        build_url(&self.endpoints[index].pattern, params)
    }
}
