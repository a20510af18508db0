//! Route pattern parsing and validation.
//!
//! A pattern is parsed once, at registration time, into a [`Pattern`]: a
//! normalised string in canonical Plumego syntax plus its list of
//! [`Segment`]s. All the rules of the Go router live here, so the trie never
//! has to re-validate anything:
//!
//! * `""` means `/`; anything else must start with `/`;
//! * repeated leading slashes collapse, trailing slashes are stripped;
//! * an internal empty segment (`/a//b`) is an error;
//! * `:name` / `{name}` capture one segment, `*name` / `{*name}` capture the
//!   (non-empty) remainder and must be the last segment;
//! * names match `[A-Za-z_][A-Za-z0-9_]*` and are unique within a pattern;
//! * braces anywhere except around a whole segment are rejected rather than
//!   silently treated as literal text, while a `:` that does not start a
//!   segment (`/file.:ext`) *is* literal text, as in Go.

use std::fmt;
use std::str::FromStr;

/// One `/`-separated piece of a parsed [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Literal text that must match the request segment byte for byte.
    Static(Box<str>),
    /// `:name` or `{name}`: captures exactly one non-empty segment.
    Param(Box<str>),
    /// `*name` or `{*name}`: captures the non-empty remainder of the path,
    /// slashes included. Always the last segment.
    CatchAll(Box<str>),
}

impl Segment {
    /// The parameter name for [`Segment::Param`] / [`Segment::CatchAll`],
    /// `None` for a literal.
    pub fn param_name(&self) -> Option<&str> {
        match self {
            Segment::Static(_) => None,
            Segment::Param(name) | Segment::CatchAll(name) => Some(name),
        }
    }
}

/// A validated, normalised route pattern.
///
/// Build one with [`parse`] (or `str::parse`). Two spellings that mean the same
/// route (`/users/{id}/` and `/users/:id`) produce equal `Pattern`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// Canonical form, e.g. `/users/:id/*rest`.
    canonical: Box<str>,
    /// Empty for the root pattern `/`.
    segments: Box<[Segment]>,
}

impl Pattern {
    /// The normalised pattern in canonical Plumego syntax (`/users/:id/*rest`).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The segments in path order; empty for the root pattern `/`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Parameter (and catch-all) names in declaration order, which is also
    /// the order in which [`Tree::find`](super::Tree::find) reports values.
    pub fn param_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        // Counting first keeps the iterator exact-sized without allocating.
        let count = self.param_count();
        ParamNames {
            segments: self.segments.iter(),
            remaining: count,
        }
    }

    /// Number of parameters (catch-all included).
    pub fn param_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| !matches!(s, Segment::Static(_)))
            .count()
    }

    /// Whether the pattern ends in a catch-all segment.
    pub fn has_catch_all(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::CatchAll(_)))
    }
}

struct ParamNames<'a> {
    segments: std::slice::Iter<'a, Segment>,
    remaining: usize,
}

impl<'a> Iterator for ParamNames<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let name = self.segments.find_map(Segment::param_name)?;
        self.remaining -= 1;
        Some(name)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for ParamNames<'_> {}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl AsRef<str> for Pattern {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Why a route pattern was rejected. Each variant carries the raw input so
/// the message can quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// The path is neither empty nor starts with `/`.
    MissingLeadingSlash {
        /// The raw input.
        path: String,
    },
    /// An internal empty segment, as in `/a//b`.
    EmptySegment {
        /// The raw input.
        pattern: String,
    },
    /// A bare `:`, `*`, `{}` or `{*}`.
    EmptyParamName {
        /// The raw input.
        pattern: String,
    },
    /// A parameter name outside `[A-Za-z_][A-Za-z0-9_]*`.
    InvalidParamName {
        /// The raw input.
        pattern: String,
        /// The offending name.
        name: String,
    },
    /// A catch-all that is not the last segment.
    NonTerminalWildcard {
        /// The raw input.
        pattern: String,
    },
    /// The same parameter name used twice in one pattern.
    DuplicateParamName {
        /// The raw input.
        pattern: String,
        /// The repeated name.
        name: String,
    },
    /// A brace that does not wrap a whole segment, e.g. `/file.{ext}`.
    MidSegmentParam {
        /// The raw input.
        pattern: String,
        /// The offending segment.
        segment: String,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingLeadingSlash { path } => {
                write!(f, "route path {path:?} must start with /")
            }
            Self::EmptySegment { pattern } => {
                write!(f, "route pattern {pattern:?} has empty path segment")
            }
            Self::EmptyParamName { pattern } => {
                write!(f, "route pattern {pattern:?} has empty parameter name")
            }
            Self::InvalidParamName { pattern, name } => {
                write!(
                    f,
                    "route pattern {pattern:?} has invalid parameter name {name:?}"
                )
            }
            Self::NonTerminalWildcard { pattern } => {
                write!(
                    f,
                    "route pattern {pattern:?} has non-terminal wildcard segment"
                )
            }
            Self::DuplicateParamName { pattern, name } => {
                write!(
                    f,
                    "route pattern {pattern:?} has duplicate parameter name {name:?}"
                )
            }
            Self::MidSegmentParam { pattern, segment } => write!(
                f,
                "route pattern {pattern:?} has unsupported mid-segment parameter {segment:?}"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// Parse and validate a route pattern.
///
/// Never panics, whatever the input. See the [module docs](crate::tree) for the rules.
///
/// ```
/// use plumego_router::tree::{parse, Segment};
///
/// let p = parse("//users/{id}/files/*rest/").unwrap();
/// assert_eq!(p.as_str(), "/users/:id/files/*rest");
/// assert_eq!(p.param_names().collect::<Vec<_>>(), ["id", "rest"]);
/// assert_eq!(p.segments()[1], Segment::Param("id".into()));
/// ```
pub fn parse(raw: &str) -> Result<Pattern, PatternError> {
    if !raw.is_empty() && !raw.starts_with('/') {
        return Err(PatternError::MissingLeadingSlash { path: raw.into() });
    }
    // `raw` is "" or starts with '/'. Trimming '/' on both ends leaves the
    // body between the (collapsed) leading slash and the (stripped) trailing
    // ones; "" and any run of slashes become the root.
    let body = raw.trim_matches('/');
    if body.is_empty() {
        return Ok(Pattern {
            canonical: "/".into(),
            segments: Box::default(),
        });
    }

    let mut segments: Vec<Segment> = Vec::new();
    let mut canonical = String::with_capacity(body.len() + 1);
    let mut parts = body.split('/').peekable();
    while let Some(part) = parts.next() {
        let segment = parse_segment(raw, part)?;
        if let Segment::CatchAll(_) = segment
            && parts.peek().is_some()
        {
            return Err(PatternError::NonTerminalWildcard {
                pattern: raw.into(),
            });
        }
        if let Some(name) = segment.param_name()
            && segments.iter().any(|s| s.param_name() == Some(name))
        {
            return Err(PatternError::DuplicateParamName {
                pattern: raw.into(),
                name: name.into(),
            });
        }
        canonical.push('/');
        match &segment {
            Segment::Static(s) => canonical.push_str(s),
            Segment::Param(n) => {
                canonical.push(':');
                canonical.push_str(n);
            }
            Segment::CatchAll(n) => {
                canonical.push('*');
                canonical.push_str(n);
            }
        }
        segments.push(segment);
    }
    Ok(Pattern {
        canonical: canonical.into(),
        segments: segments.into(),
    })
}

/// Classify one segment of the trimmed body.
fn parse_segment(raw: &str, part: &str) -> Result<Segment, PatternError> {
    let bytes = part.as_bytes();
    match bytes.first() {
        // Empty parts only occur between two slashes: leading/trailing ones
        // were trimmed by the caller.
        None => Err(PatternError::EmptySegment {
            pattern: raw.into(),
        }),
        Some(b':') => Ok(Segment::Param(param_name(raw, &part[1..])?)),
        Some(b'*') => Ok(Segment::CatchAll(param_name(raw, &part[1..])?)),
        Some(b'{') if bytes.len() >= 2 && bytes[bytes.len() - 1] == b'}' => {
            let inner = &part[1..part.len() - 1];
            if inner.contains(['{', '}']) {
                return Err(mid_segment(raw, part));
            }
            match inner.strip_prefix('*') {
                Some(name) => Ok(Segment::CatchAll(param_name(raw, name)?)),
                None => Ok(Segment::Param(param_name(raw, inner)?)),
            }
        }
        // A brace that does not wrap the whole segment is most likely an
        // attempt at matchit-style `file.{ext}`; refuse it loudly.
        _ if part.contains(['{', '}']) => Err(mid_segment(raw, part)),
        _ => Ok(Segment::Static(part.into())),
    }
}

fn mid_segment(raw: &str, part: &str) -> PatternError {
    PatternError::MidSegmentParam {
        pattern: raw.into(),
        segment: part.into(),
    }
}

/// Validate a parameter name (`[A-Za-z_][A-Za-z0-9_]*`).
fn param_name(raw: &str, name: &str) -> Result<Box<str>, PatternError> {
    let mut bytes = name.bytes();
    let valid = match bytes.next() {
        None => {
            return Err(PatternError::EmptyParamName {
                pattern: raw.into(),
            });
        }
        Some(first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
    };
    if valid {
        Ok(name.into())
    } else {
        Err(PatternError::InvalidParamName {
            pattern: raw.into(),
            name: name.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match parse(raw) {
            Ok(p) => p.as_str().to_owned(),
            Err(e) => panic!("{raw:?} should parse, got {e}"),
        }
    }

    fn err(raw: &str) -> String {
        match parse(raw) {
            Ok(p) => panic!("{raw:?} should fail, parsed as {p}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn normalisation_table() {
        let table = [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("///", "/"),
            ("/api", "/api"),
            ("/api/", "/api"),
            ("///api/", "/api"),
            ("/api///", "/api"),
            ("//a/b//", "/a/b"),
            ("/users/:id", "/users/:id"),
            ("/users/{id}", "/users/:id"),
            ("/users/{id}/", "/users/:id"),
            ("/files/*path", "/files/*path"),
            ("/files/{*path}", "/files/*path"),
            ("/files/{*path}/", "/files/*path"),
            ("/file.:ext", "/file.:ext"),
            ("/a*b", "/a*b"),
            ("/été/ß", "/été/ß"),
            ("/_/:_a1/*Z_9", "/_/:_a1/*Z_9"),
        ];
        for (raw, want) in table {
            assert_eq!(ok(raw), want, "input {raw:?}");
        }
    }

    #[test]
    fn error_messages() {
        let table = [
            ("users", r#"route path "users" must start with /"#),
            (":id", r#"route path ":id" must start with /"#),
            ("/a//b", r#"route pattern "/a//b" has empty path segment"#),
            (
                "//a//b/",
                r#"route pattern "//a//b/" has empty path segment"#,
            ),
            ("/a/:", r#"route pattern "/a/:" has empty parameter name"#),
            ("/a/*", r#"route pattern "/a/*" has empty parameter name"#),
            ("/a/{}", r#"route pattern "/a/{}" has empty parameter name"#),
            (
                "/a/{*}",
                r#"route pattern "/a/{*}" has empty parameter name"#,
            ),
            (
                "/a/:1d",
                r#"route pattern "/a/:1d" has invalid parameter name "1d""#,
            ),
            (
                "/a/:i-d",
                r#"route pattern "/a/:i-d" has invalid parameter name "i-d""#,
            ),
            (
                "/a/{ id }",
                r#"route pattern "/a/{ id }" has invalid parameter name " id ""#,
            ),
            (
                "/a/{:id}",
                r#"route pattern "/a/{:id}" has invalid parameter name ":id""#,
            ),
            (
                "/a/:é",
                r#"route pattern "/a/:é" has invalid parameter name "é""#,
            ),
            (
                "/a/*rest/b",
                r#"route pattern "/a/*rest/b" has non-terminal wildcard segment"#,
            ),
            (
                "/a/{*rest}/b",
                r#"route pattern "/a/{*rest}/b" has non-terminal wildcard segment"#,
            ),
            (
                "/a/:id/b/{id}",
                r#"route pattern "/a/:id/b/{id}" has duplicate parameter name "id""#,
            ),
            (
                "/a/:id/*id",
                r#"route pattern "/a/:id/*id" has duplicate parameter name "id""#,
            ),
        ];
        for (raw, want) in table {
            assert_eq!(err(raw), want, "input {raw:?}");
        }
    }

    #[test]
    fn mid_segment_braces_are_rejected() {
        for raw in [
            "/file.{ext}",
            "/a{b",
            "/a}b",
            "/{a}b",
            "/a{b}",
            "/{{a}}",
            "/}",
            "/{",
        ] {
            let e = parse(raw).unwrap_err();
            assert!(
                matches!(e, PatternError::MidSegmentParam { .. }),
                "{raw:?} gave {e:?}"
            );
            assert!(
                e.to_string().starts_with(&format!(
                    "route pattern {raw:?} has unsupported mid-segment parameter"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn both_syntaxes_are_equivalent() {
        assert_eq!(parse("/u/{id}/f/{*p}"), parse("/u/:id/f/*p"));
        let p = parse("/u/{id}/f/{*p}").unwrap();
        assert_eq!(
            p.segments(),
            [
                Segment::Static("u".into()),
                Segment::Param("id".into()),
                Segment::Static("f".into()),
                Segment::CatchAll("p".into()),
            ]
        );
        assert_eq!(p.param_names().len(), 2);
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["id", "p"]);
        assert!(p.has_catch_all());
    }

    #[test]
    fn whole_segment_brace_is_param_and_colon_mid_segment_is_literal() {
        assert_eq!(
            parse("/{x}").unwrap().segments(),
            [Segment::Param("x".into())]
        );
        assert_eq!(
            parse("/file.:ext").unwrap().segments(),
            [Segment::Static("file.:ext".into())]
        );
        assert_eq!(parse("/file.:ext").unwrap().param_count(), 0);
    }

    #[test]
    fn root_has_no_segments() {
        let p = parse("").unwrap();
        assert_eq!(p.as_str(), "/");
        assert!(p.segments().is_empty());
        assert_eq!(p.param_names().count(), 0);
        assert!(!p.has_catch_all());
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let huge = "/a".repeat(100_000);
        assert_eq!(parse(&huge).unwrap().segments().len(), 100_000);
        let many_params: String = (0..2000).map(|i| format!("/:p{i}")).collect();
        assert_eq!(parse(&many_params).unwrap().param_count(), 2000);
        for raw in [
            "/\u{0}",
            "/:\u{0}",
            "/{\u{1F600}}",
            "/\u{1F600}/:x",
            "\u{1F600}",
            "/:",
            "/{",
            "/{*",
            "/*{}",
            "/:{x}",
            "/{*x}}",
            "/{{*x}",
        ] {
            let _ = parse(raw);
        }
    }
}
