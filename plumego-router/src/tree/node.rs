//! The path trie: insertion with conflict checks, and backtracking lookup.
//!
//! # Shape
//!
//! A compressed (radix) trie over the *bytes* of the static parts of the
//! patterns, with parameters hung off it as special children:
//!
//! ```text
//! routes: /users  /users/:id  /users/:id/posts  /user/keys  /files/*path
//!
//! "/" ─┬─ "user" ─┬─ "s" (v) ── "/" ── :id (v) ─/─ "posts" (v)
//!      │          └─ "/keys" (v)
//!      └─ "files/" ── *path (v)
//! ```
//!
//! (`─/─`: the slash after a parameter is implied, not stored as a node.)
//!
//! * Static edges are compressed: one node holds the longest run of bytes
//!   shared by the routes below it, so a lookup compares whole runs
//!   (`"files/"`) with one slice comparison instead of walking byte by byte
//!   or splitting the path into segments first.
//! * Static children of a node start with distinct bytes, so the first byte
//!   of the remaining path picks at most one candidate. They are found by a
//!   linear scan of a small `indices` byte array (one per node, like
//!   httprouter/matchit), which beats hashing or binary search for the
//!   fan-outs seen in practice. Children are ordered by how many routes
//!   they lead to, so busy ones come first.
//! * Short prefixes live inside the node, so a step touches the child's own
//!   memory only.
//! * A param or catch-all child only ever hangs off a node whose full path
//!   ends in `/` (parameters are whole segments), so lookup never has to
//!   check segment boundaries before trying one.
//! * Each node has at most one param child and one catch-all child. Their
//!   names are fixed at the first insertion; a later pattern naming the same
//!   position differently is a conflict (as in the Go router), which keeps
//!   the declaration-order capture list identical for every route below it.
//!
//! # Lookup
//!
//! Per position the order is static, then param, then catch-all. If the
//! preferred branch dead-ends, or its leaf is refused by the caller's
//! `accept` predicate, the next one is tried (backtracking) and the captures
//! pushed by the abandoned branch are dropped. The walk is a loop; it only
//! recurses at nodes that actually have an alternative to come back to, so
//! the common all-static or single-choice paths are plain iteration. Nothing
//! is allocated: captures go into the caller's [`Params`] buffer.

use std::fmt;

use super::params::Params;
use super::pattern::{Pattern, Segment};

/// A path trie mapping [`Pattern`]s to values of type `T`.
///
/// It knows nothing about HTTP: a router typically stores a per-route method
/// table as `T` and passes an `accept` predicate to [`Tree::find`] that checks
/// for the request's method.
#[derive(Debug, Clone)]
pub struct Tree<T> {
    /// The node for the path `/`. Its prefix is always `"/"`: every pattern
    /// and every matchable path starts with it, so it never needs splitting.
    root: Node<T>,
}

#[derive(Debug, Clone)]
struct Node<T> {
    /// Static bytes this node consumes. For the root and for a param's
    /// continuation node this is an implicit `/` that lookup consumes before
    /// entering the node.
    prefix: Prefix,
    /// `indices[i]` is the first byte of `children[i].prefix`. Children are
    /// kept sorted by descending `priority`, so the scan meets the busiest
    /// subtrees first.
    indices: Vec<u8>,
    children: Vec<Node<T>>,
    /// Boxed: most nodes have neither, and this keeps `Node` small so the
    /// `children` array stays dense.
    param: Option<Box<ParamChild<T>>>,
    catch_all: Option<Box<CatchAllChild<T>>>,
    /// The slot for the pattern ending exactly here.
    value: Option<T>,
    /// Number of patterns inserted through this node (its own included).
    priority: u32,
}

#[derive(Debug, Clone)]
struct ParamChild<T> {
    name: Box<str>,
    /// The slot for a pattern ending with this parameter.
    value: Option<T>,
    /// What follows the `/` after the captured segment. A parameter is
    /// always followed by `/` or the end of the path, so that slash is
    /// implied (like the root's) rather than stored as a one-byte node that
    /// every lookup would have to step through.
    node: Node<T>,
}

#[derive(Debug, Clone)]
struct CatchAllChild<T> {
    name: Box<str>,
    /// A catch-all is always terminal, so it is just a leaf slot.
    value: Option<T>,
}

/// Why [`Tree::insert`] refused a pattern. The tree is unchanged when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertError {
    /// A parameter (or catch-all) at the same trie position as an existing one
    /// has a different name, e.g. `/users/:id` then `/users/:uid/posts`.
    ParamNameConflict {
        /// The name already registered at that position.
        existing: Box<str>,
        /// The name in the rejected pattern.
        new: Box<str>,
    },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ParamNameConflict { existing, new } => write!(
                f,
                "route conflict: parameter name mismatch. existing: {existing}, new: {new}"
            ),
        }
    }
}

impl std::error::Error for InsertError {}

/// A pattern flattened into what the trie stores: static byte runs (each
/// including the slashes around it) alternating with parameters.
enum Piece<'p> {
    Static(Vec<u8>),
    Param(&'p str),
    CatchAll(&'p str),
}

fn pieces(pattern: &Pattern) -> Vec<Piece<'_>> {
    // `/users/:id/posts` -> Static("/users/"), Param("id"), Static("/posts").
    // A static run before a parameter always ends with '/', which is what
    // guarantees params hang off segment boundaries.
    let mut out = Vec::new();
    let mut run = vec![b'/'];
    for (i, segment) in pattern.segments().iter().enumerate() {
        if i > 0 {
            run.push(b'/');
        }
        match segment {
            Segment::Static(s) => run.extend_from_slice(s.as_bytes()),
            Segment::Param(name) => {
                out.push(Piece::Static(std::mem::take(&mut run)));
                out.push(Piece::Param(name));
            }
            Segment::CatchAll(name) => {
                out.push(Piece::Static(std::mem::take(&mut run)));
                out.push(Piece::CatchAll(name));
            }
        }
    }
    if !run.is_empty() {
        out.push(Piece::Static(run));
    }
    out
}

impl<T> Default for Tree<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Tree<T> {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            root: Node::new(b"/"),
        }
    }

    /// Return the leaf slot for `pattern`, creating trie nodes as needed.
    ///
    /// The slot is `None` for a new pattern and `Some` if the same pattern
    /// (in either syntax) was inserted and filled before, which lets the
    /// caller detect duplicates or merge into the existing value.
    ///
    /// Conflicts are checked before anything is modified, so on `Err` the
    /// tree is exactly as it was. Nodes created for a pattern whose slot the
    /// caller then leaves `None` are harmless: they never match.
    pub fn insert(&mut self, pattern: &Pattern) -> Result<&mut Option<T>, InsertError> {
        let pieces = pieces(pattern);
        self.check(&pieces)?;

        let last = pieces.len() - 1;
        let mut node = &mut self.root;
        for (i, piece) in pieces.iter().enumerate() {
            match piece {
                Piece::Static(run) => {
                    // Every run starts with the '/' implied by the root or
                    // by the preceding param's continuation node.
                    node = node.insert_static(&run[1..]);
                }
                Piece::Param(name) => {
                    let child = node.param.get_or_insert_with(|| {
                        Box::new(ParamChild {
                            name: (*name).into(),
                            value: None,
                            node: Node::new(b"/"),
                        })
                    });
                    if i == last {
                        return Ok(&mut child.value);
                    }
                    node = &mut child.node;
                }
                Piece::CatchAll(name) => {
                    // Always the last piece (enforced by `parse`).
                    let child = node.catch_all.get_or_insert_with(|| {
                        Box::new(CatchAllChild {
                            name: (*name).into(),
                            value: None,
                        })
                    });
                    return Ok(&mut child.value);
                }
            }
        }
        Ok(&mut node.value)
    }

    /// Read-only dry run of `insert`: walk as far as the existing trie goes
    /// and compare parameter names where the pattern meets existing params.
    /// Once the pattern leaves the existing trie everything below is new, so
    /// nothing more can conflict.
    fn check(&self, pieces: &[Piece<'_>]) -> Result<(), InsertError> {
        let mut node = &self.root;
        for piece in pieces {
            match piece {
                Piece::Static(run) => match node.walk_static(&run[1..]) {
                    Some(next) => node = next,
                    None => return Ok(()),
                },
                Piece::Param(name) => match &node.param {
                    Some(p) if *p.name != **name => return Err(conflict(&p.name, name)),
                    Some(p) => node = &p.node,
                    None => return Ok(()),
                },
                Piece::CatchAll(name) => match &node.catch_all {
                    Some(c) if *c.name != **name => return Err(conflict(&c.name, name)),
                    _ => return Ok(()),
                },
            }
        }
        Ok(())
    }

    /// Find the value for `path`, filling `params` with the captured ranges.
    ///
    /// `path` should be a normalised request path (starts with `/`, no
    /// trailing slash, no empty internal segment); anything else simply fails
    /// to match or matches literally, it never panics. Matching is byte-wise
    /// and case-sensitive.
    ///
    /// A leaf matches only if its slot is `Some(v)` and `accept(v)` returns
    /// true; otherwise the search backtracks to lower-priority branches
    /// (static > param > catch-all at each position). `accept` may be called
    /// several times, once per candidate leaf, in priority order.
    ///
    /// `params` is cleared first. On success it holds one `(start, end)`
    /// byte range into `path` per parameter of the matched pattern, in
    /// declaration order (a catch-all's range excludes its leading `/`); on
    /// failure it is empty. No allocation happens for up to 8 parameters.
    pub fn find<'t, F>(&'t self, path: &str, params: &mut Params, mut accept: F) -> Option<&'t T>
    where
        F: FnMut(&T) -> bool,
    {
        params.clear();
        let path = path.as_bytes();
        if path.first() != Some(&b'/') {
            return None;
        }
        let found = self.root.lookup(path, 1, params, &mut accept);
        if found.is_none() {
            params.clear();
        }
        found
    }
}

fn conflict(existing: &str, new: &str) -> InsertError {
    InsertError::ParamNameConflict {
        existing: existing.into(),
        new: new.into(),
    }
}

impl<T> Node<T> {
    fn new(prefix: &[u8]) -> Self {
        Self {
            prefix: prefix.into(),
            indices: Vec::new(),
            children: Vec::new(),
            param: None,
            catch_all: None,
            value: None,
            priority: 0,
        }
    }

    /// The static child whose prefix starts with `first`, if any.
    #[inline]
    fn child_index(&self, first: u8) -> Option<usize> {
        // A plain loop on purpose: the CPU predicts which branch exits it
        // and starts loading that child early. A branch-free SWAR search
        // was measured ~50% slower overall, because the child's address then
        // depends on the computed index and every step waits for the load.
        self.indices.iter().position(|&b| b == first)
    }

    /// Append a static child (and its index byte); returns its position.
    fn push_child(&mut self, child: Node<T>) -> usize {
        self.indices.push(child.prefix[0]);
        self.children.push(child);
        self.children.len() - 1
    }

    /// Follow `run` through existing static nodes only. `None` if the run
    /// leaves the trie (a node would have to be created or split).
    fn walk_static(&self, mut run: &[u8]) -> Option<&Self> {
        let mut node = self;
        while let Some(&first) = run.first() {
            let child = &node.children[node.child_index(first)?];
            run = run.strip_prefix(&*child.prefix)?;
            node = child;
        }
        Some(node)
    }

    /// Return the node whose full path is this node's plus `run`, creating
    /// or splitting nodes so that one ends exactly there.
    fn insert_static(&mut self, mut run: &[u8]) -> &mut Self {
        let mut node = self;
        loop {
            let Some(&first) = run.first() else {
                return node;
            };
            let (i, common) = match node.child_index(first) {
                Some(i) => {
                    let common = common_prefix(&node.children[i].prefix, run);
                    if common < node.children[i].prefix.len() {
                        node.children[i].split(common);
                    }
                    (i, common)
                }
                None => (node.push_child(Node::new(run)), run.len()),
            };
            let i = node.bump_priority(i);
            node = &mut node.children[i];
            run = &run[common..];
        }
    }

    /// Count one more pattern through static child `i` and move it forward
    /// past less busy siblings. Returns its new index.
    fn bump_priority(&mut self, i: usize) -> usize {
        self.children[i].priority += 1;
        let priority = self.children[i].priority;
        let mut at = i;
        while at > 0 && self.children[at - 1].priority < priority {
            at -= 1;
        }
        if at != i {
            self.children[at..=i].rotate_right(1);
            self.indices[at..=i].rotate_right(1);
        }
        at
    }

    /// Cut this node's prefix at `at` (0 < at < len): the node keeps the head
    /// and gets a single static child holding the tail and everything that
    /// used to hang off this node.
    fn split(&mut self, at: usize) {
        let tail = Node {
            prefix: self.prefix[at..].into(),
            indices: std::mem::take(&mut self.indices),
            children: std::mem::take(&mut self.children),
            param: self.param.take(),
            catch_all: self.catch_all.take(),
            value: self.value.take(),
            priority: self.priority,
        };
        self.prefix = self.prefix[..at].into();
        self.push_child(tail);
    }

    /// Match `path[pos..]` against the subtree below this node (whose own
    /// prefix is already consumed up to `pos`). On `None`, `params` may hold
    /// extra entries; the caller truncates to its own mark.
    fn lookup<'t, F>(
        &'t self,
        path: &[u8],
        mut pos: usize,
        params: &mut Params,
        accept: &mut F,
    ) -> Option<&'t T>
    where
        F: FnMut(&T) -> bool,
    {
        let mut node = self;
        loop {
            let rest = path.get(pos..)?;
            let Some(&first) = rest.first() else {
                // Path exhausted: only this node's own slot can match. Params
                // and catch-alls need at least one byte, static children
                // have non-empty prefixes.
                return node.value.as_ref().filter(|v| accept(v));
            };

            // Is there anything to come back to if the static branch fails?
            let dynamic = node.param.is_some() || node.catch_all.is_some();

            // 1. Static child.
            if let Some(i) = node.child_index(first) {
                let child = &node.children[i];
                let prefix: &[u8] = &child.prefix;
                if has_prefix(rest, prefix) {
                    let next = pos + prefix.len();
                    if !dynamic {
                        // Nothing to fall back to here: iterate, don't recurse.
                        node = child;
                        pos = next;
                        continue;
                    }
                    let mark = params.len();
                    if let Some(v) = child.lookup(path, next, params, accept) {
                        return Some(v);
                    }
                    params.truncate(mark);
                }
            }

            // 2. Param child: one non-empty segment. `pos` is at a segment
            // start because params only hang off nodes ending in '/'.
            if let Some(param) = &node.param
                && first != b'/'
            {
                let mark = params.len();
                match rest.iter().position(|&b| b == b'/') {
                    // Last segment: the param's own slot.
                    None => {
                        params.push(pos, path.len());
                        if let Some(v) = param.value.as_ref().filter(|v| accept(v)) {
                            return Some(v);
                        }
                    }
                    // More to come: continue after the implied '/'.
                    Some(len) => {
                        params.push(pos, pos + len);
                        if node.catch_all.is_none() {
                            node = &param.node;
                            pos += len + 1;
                            continue;
                        }
                        if let Some(v) = param.node.lookup(path, pos + len + 1, params, accept) {
                            return Some(v);
                        }
                    }
                }
                params.truncate(mark);
            }

            // 3. Catch-all: the rest of the path, which is non-empty here. A
            // leading '/' would mean an empty first segment (`/files//a`).
            if let Some(catch_all) = &node.catch_all
                && first != b'/'
                && let Some(v) = catch_all.value.as_ref().filter(|v| accept(v))
            {
                params.push(pos, path.len());
                return Some(v);
            }
            return None;
        }
    }
}

/// Bytes stored inside the node when short (nearly all prefixes are), so
/// comparing them touches only the child's own cache line instead of
/// chasing one more pointer per step.
#[derive(Clone)]
enum Prefix {
    Inline {
        len: u8,
        bytes: [u8; Prefix::INLINE],
    },
    Heap(Box<[u8]>),
}

impl Prefix {
    /// Fills the enum to 24 bytes, the size of the `Heap` variant.
    const INLINE: usize = 22;
}

impl From<&[u8]> for Prefix {
    fn from(s: &[u8]) -> Self {
        let mut bytes = [0; Prefix::INLINE];
        match bytes.get_mut(..s.len()) {
            Some(head) => {
                head.copy_from_slice(s);
                Prefix::Inline {
                    len: s.len() as u8,
                    bytes,
                }
            }
            None => Prefix::Heap(s.into()),
        }
    }
}

impl std::ops::Deref for Prefix {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Prefix::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Prefix::Heap(b) => b,
        }
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self), f)
    }
}

/// `s.starts_with(prefix)`, inlined. Prefixes are short (a word or two) and
/// the out-of-line `memcmp` that `starts_with` compiles to was half of the
/// lookup time; a byte loop was better but mispredicts its exit.
#[inline]
fn has_prefix(s: &[u8], prefix: &[u8]) -> bool {
    match s.get(..prefix.len()) {
        Some(head) => eq_short(head, prefix),
        None => false,
    }
}

/// Equality of two equal-length byte strings with a fixed, small number of
/// word loads: a word loop, then the last (possibly overlapping) word; short
/// strings compare their head and tail with overlapping 4- or 2-byte loads.
#[inline]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word::<8>(a, i) != word::<8>(b, i) {
                return false;
            }
            i += 8;
        }
        word::<8>(a, n - 8) == word::<8>(b, n - 8)
    } else if n >= 4 {
        word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4)
    } else if n >= 2 {
        word::<2>(a, 0) == word::<2>(b, 0) && word::<2>(a, n - 2) == word::<2>(b, n - 2)
    } else {
        a.first() == b.first()
    }
}

/// `N` bytes of `s` at `at` as an array (compiles to one load). Callers
/// guarantee `at + N <= s.len()`; out of range yields zeros, never a panic.
#[inline(always)]
fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    s.get(at..at + N)
        .and_then(|w| w.try_into().ok())
        .unwrap_or([0; N])
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;

    /// Build a tree whose values are the canonical patterns.
    fn tree(routes: &[&str]) -> Tree<String> {
        let mut t = Tree::new();
        for r in routes {
            let p = parse(r).unwrap();
            let slot = t.insert(&p).unwrap();
            assert!(slot.is_none(), "duplicate {r}");
            *slot = Some(p.as_str().to_owned());
        }
        t
    }

    /// Look `path` up; return the matched pattern and captured values.
    fn at<'a>(t: &Tree<String>, path: &'a str) -> Option<(String, Vec<&'a str>)> {
        let mut params = Params::new();
        let v = t.find(path, &mut params, |_| true)?;
        let vals = params.iter().map(|(s, e)| &path[s..e]).collect();
        Some((v.clone(), vals))
    }

    fn pat(t: &Tree<String>, path: &str) -> Option<String> {
        at(t, path).map(|(p, _)| p)
    }

    #[test]
    fn priority_table() {
        let t = tree(&[
            "/users/:id",
            "/users/new",
            "/files/*path",
            "/files/:name",
            "/static/*a",
            "/static/css",
            "/w/*shallow",
            "/w/deep/*deeper",
        ]);
        let table = [
            ("/users/new", "/users/new"),     // static beats param
            ("/users/42", "/users/:id"),      // param
            ("/users/newer", "/users/:id"),   // static prefix is not a segment
            ("/users/ne", "/users/:id"),      // ... nor is a shorter one
            ("/files/a", "/files/:name"),     // param beats wildcard
            ("/files/a/b", "/files/*path"),   // param can't span segments
            ("/static/css", "/static/css"),   // static beats wildcard
            ("/static/css/x", "/static/*a"),  // static dead end -> wildcard
            ("/static/js", "/static/*a"),     // wildcard
            ("/w/deep/x", "/w/deep/*deeper"), // deeper wildcard wins
            ("/w/deep", "/w/*shallow"),       // deeper one needs >= 1 char
            ("/w/other/x", "/w/*shallow"),
        ];
        for (path, want) in table {
            assert_eq!(pat(&t, path).as_deref(), Some(want), "path {path}");
        }
    }

    #[test]
    fn static_registered_after_param_still_wins() {
        let t = tree(&[
            "/users/:id",
            "/users/me",
            "/users/:id/posts",
            "/users/me/posts",
        ]);
        assert_eq!(pat(&t, "/users/me").as_deref(), Some("/users/me"));
        assert_eq!(
            pat(&t, "/users/me/posts").as_deref(),
            Some("/users/me/posts")
        );
        assert_eq!(
            at(&t, "/users/mel/posts"),
            Some(("/users/:id/posts".into(), vec!["mel"]))
        );
    }

    #[test]
    fn backtracks_from_static_dead_end_to_catch_all() {
        let t = tree(&["/files/*path", "/files/public/:id"]);
        assert_eq!(
            at(&t, "/files/public/a/b"),
            Some(("/files/*path".into(), vec!["public/a/b"]))
        );
        assert_eq!(
            at(&t, "/files/public/a"),
            Some(("/files/public/:id".into(), vec!["a"]))
        );
        assert_eq!(
            at(&t, "/files/public"),
            Some(("/files/*path".into(), vec!["public"]))
        );
    }

    #[test]
    fn backtracking_pops_abandoned_params() {
        // /a/x/y/z first descends param :p -> :q (pushing 2 ranges), dead-ends,
        // then must fall back to the catch-all with exactly one range.
        let t = tree(&["/a/:p/:q/end", "/a/*rest"]);
        assert_eq!(at(&t, "/a/x/y/z"), Some(("/a/*rest".into(), vec!["x/y/z"])));
        assert_eq!(
            at(&t, "/a/x/y/end"),
            Some(("/a/:p/:q/end".into(), vec!["x", "y"]))
        );
        // Static branch fails deep inside after capturing a param.
        let t = tree(&["/s/lit/:x/deep", "/s/:a/:b/other"]);
        assert_eq!(
            at(&t, "/s/lit/1/other"),
            Some(("/s/:a/:b/other".into(), vec!["lit", "1"]))
        );
    }

    #[test]
    fn accept_rejection_backtracks() {
        // Values are "methods"; accept only GET.
        let mut t: Tree<&str> = Tree::new();
        *t.insert(&parse("/users/new").unwrap()).unwrap() = Some("POST");
        *t.insert(&parse("/users/:id").unwrap()).unwrap() = Some("GET");
        *t.insert(&parse("/users/*rest").unwrap()).unwrap() = Some("GET");
        let mut params = Params::new();
        let path = "/users/new";
        assert_eq!(t.find(path, &mut params, |m| *m == "GET"), Some(&"GET"));
        assert_eq!(params.iter().collect::<Vec<_>>(), [(7, 10)]);
        assert_eq!(t.find(path, &mut params, |m| *m == "POST"), Some(&"POST"));
        assert!(params.is_empty());
        assert_eq!(t.find(path, &mut params, |_| false), None);
        assert!(params.is_empty());

        // Param leaf rejected -> catch-all.
        let mut calls = Vec::new();
        let mut t: Tree<u8> = Tree::new();
        *t.insert(&parse("/f/:id").unwrap()).unwrap() = Some(1);
        *t.insert(&parse("/f/*rest").unwrap()).unwrap() = Some(2);
        let v = t.find("/f/x", &mut params, |v| {
            calls.push(*v);
            *v == 2
        });
        assert_eq!(v, Some(&2));
        assert_eq!(calls, [1, 2]);
        assert_eq!(params.value(0, "/f/x"), Some("x"));
    }

    #[test]
    fn empty_slots_do_not_match() {
        let mut t: Tree<u8> = Tree::new();
        let _ = t.insert(&parse("/a/b").unwrap()).unwrap(); // left None
        *t.insert(&parse("/a/:x").unwrap()).unwrap() = Some(1);
        let mut params = Params::new();
        assert_eq!(t.find("/a/b", &mut params, |_| true), Some(&1));
    }

    #[test]
    fn param_ranges() {
        let t = tree(&["/repos/:owner/:repo/issues/:number", "/x/:a/*b"]);
        let path = "/repos/rust-lang/rust/issues/123";
        let mut params = Params::new();
        t.find(path, &mut params, |_| true).unwrap();
        assert_eq!(
            params.iter().collect::<Vec<_>>(),
            [(7, 16), (17, 21), (29, 32)]
        );
        assert_eq!(
            at(&t, "/x/1/2/3"),
            Some(("/x/:a/*b".into(), vec!["1", "2/3"]))
        );
    }

    #[test]
    fn twelve_params_in_order() {
        let names: Vec<String> = (0..12).map(|i| format!("/:p{i}")).collect();
        let pattern = format!("/r{}", names.concat());
        let t = tree(&[&pattern]);
        let vals: Vec<String> = (0..12).map(|i| format!("v{i}")).collect();
        let path = format!("/r/{}", vals.join("/"));
        let (_, got) = at(&t, &path).unwrap();
        assert_eq!(got, vals);
    }

    #[test]
    fn catch_all_needs_one_char() {
        let t = tree(&["/files/*p", "/*all"]);
        assert_eq!(pat(&t, "/files").as_deref(), Some("/*all"));
        assert_eq!(at(&t, "/files/x"), Some(("/files/*p".into(), vec!["x"])));
        assert_eq!(
            at(&t, "/files/a/b/c"),
            Some(("/files/*p".into(), vec!["a/b/c"]))
        );
        let t = tree(&["/files/*p"]);
        assert_eq!(pat(&t, "/files"), None);
        assert_eq!(pat(&t, "/files/"), None);
        assert_eq!(pat(&t, "/files//a"), None);
        let t = tree(&["/*all"]);
        assert_eq!(pat(&t, "/"), None);
        assert_eq!(at(&t, "/a/b"), Some(("/*all".into(), vec!["a/b"])));
    }

    #[test]
    fn case_sensitive_and_exact() {
        let t = tree(&["/Users", "/users/:id"]);
        assert_eq!(pat(&t, "/Users").as_deref(), Some("/Users"));
        assert_eq!(pat(&t, "/users"), None);
        assert_eq!(pat(&t, "/USERS"), None);
        assert_eq!(pat(&t, "/Users/1"), None);
        assert_eq!(pat(&t, "/Users2"), None);
        assert_eq!(pat(&t, "/User"), None);
    }

    #[test]
    fn root_and_odd_paths() {
        let t = tree(&["/", "/:id"]);
        assert_eq!(pat(&t, "/").as_deref(), Some("/"));
        assert_eq!(pat(&t, "/x").as_deref(), Some("/:id"));
        for path in ["", "x", "//", "/x/", "/x//", "\u{1F600}", "/\u{0}/"] {
            let _ = at(&t, path);
        }
        assert_eq!(pat(&t, ""), None);
        assert_eq!(pat(&t, "//"), None);
        assert_eq!(pat(&tree(&[]), "/"), None);
        assert_eq!(at(&t, "/é"), Some(("/:id".into(), vec!["é"])));
    }

    #[test]
    fn prefix_splits_keep_routes() {
        let routes = [
            "/user/keys",
            "/users",
            "/users/:id",
            "/u",
            "/user",
            "/use/:x",
            "/userz/*r",
            "/user/keys/:k",
        ];
        let t = tree(&routes);
        assert_eq!(pat(&t, "/users").as_deref(), Some("/users"));
        assert_eq!(pat(&t, "/user").as_deref(), Some("/user"));
        assert_eq!(pat(&t, "/u").as_deref(), Some("/u"));
        assert_eq!(pat(&t, "/us"), None);
        assert_eq!(pat(&t, "/use/1").as_deref(), Some("/use/:x"));
        assert_eq!(pat(&t, "/user/keys").as_deref(), Some("/user/keys"));
        assert_eq!(pat(&t, "/user/keys/9").as_deref(), Some("/user/keys/:k"));
        assert_eq!(pat(&t, "/users/9").as_deref(), Some("/users/:id"));
        assert_eq!(pat(&t, "/userz/a/b").as_deref(), Some("/userz/*r"));
    }

    #[test]
    fn conflicts_and_unchanged_tree() {
        let mut t = tree(&["/users/:id", "/files/*path", "/users/:id/posts/:post"]);
        let cases = [
            ("/users/:uid/posts", "id", "uid"),
            ("/users/{uid}", "id", "uid"),
            ("/users/:id/posts/:p/x", "post", "p"),
            ("/files/*rest", "path", "rest"),
            ("/files/{*rest}", "path", "rest"),
        ];
        for (route, existing, new) in cases {
            let e = t.insert(&parse(route).unwrap()).unwrap_err();
            assert_eq!(
                e,
                InsertError::ParamNameConflict {
                    existing: existing.into(),
                    new: new.into()
                }
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "route conflict: parameter name mismatch. existing: {existing}, new: {new}"
                )
            );
        }
        // Nothing from the failed inserts was added: /users/:uid/posts did
        // not create a "/posts" leaf, so this path still only matches via
        // nothing (no /users/:id/posts route exists).
        assert_eq!(pat(&t, "/users/1/posts"), None);
        assert_eq!(at(&t, "/users/1"), Some(("/users/:id".into(), vec!["1"])));
        assert_eq!(
            at(&t, "/users/1/posts/2"),
            Some(("/users/:id/posts/:post".into(), vec!["1", "2"]))
        );
        // Same names in the other syntax are fine; param and catch-all at
        // one position are distinct children and may differ in name.
        assert!(
            t.insert(&parse("/users/{id}/posts").unwrap())
                .unwrap()
                .is_none()
        );
        assert!(t.insert(&parse("/users/*rest").unwrap()).is_ok());
        assert!(t.insert(&parse("/files/:name").unwrap()).is_ok());
    }

    #[test]
    fn duplicate_detected_through_slot() {
        let mut t = tree(&["/users/:id", "/", "/files/*p"]);
        for dup in ["/users/{id}", "/users/:id/", "", "//", "/files/{*p}"] {
            assert!(t.insert(&parse(dup).unwrap()).unwrap().is_some(), "{dup}");
        }
        assert!(t.insert(&parse("/users").unwrap()).unwrap().is_none());
    }
}
