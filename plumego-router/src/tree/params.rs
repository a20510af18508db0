//! Captured parameter ranges.
//!
//! The trie reports captures as byte ranges into the request path rather than
//! as `&str`s or owned strings: ranges carry no lifetime, so one [`Params`]
//! buffer can be kept and reused across requests (for example in a pooled
//! per-request state), and nothing is copied or allocated during a lookup.

use smallvec::SmallVec;

/// Up to this many captures are stored inline; more spill to the heap.
/// Eight covers every realistic route (the GitHub API table peaks at 3)
/// while keeping the buffer at 128 bytes.
const INLINE: usize = 8;

/// A reusable buffer of captured parameter values, as `(start, end)` byte
/// ranges into the path given to [`Tree::find`](super::Tree::find), in
/// declaration order.
///
/// Stores up to 8 ranges without allocating and any number beyond that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    ranges: SmallVec<[(usize, usize); INLINE]>,
}

impl Params {
    /// An empty buffer with inline room for 8 captures.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Remove every capture, keeping any spilled capacity for reuse.
    #[inline]
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Number of captures.
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are no captures.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The `i`-th capture as a `(start, end)` byte range, in declaration order.
    #[inline]
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.ranges.get(i).copied()
    }

    /// The `i`-th capture sliced out of `path`, which must be the path that
    /// was matched. Returns `None` if `i` is out of range or the range does not
    /// fit `path` (never panics).
    #[inline]
    pub fn value<'p>(&self, i: usize, path: &'p str) -> Option<&'p str> {
        let (start, end) = self.get(i)?;
        path.get(start..end)
    }

    /// All captures in declaration order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (usize, usize)> + '_ {
        self.ranges.iter().copied()
    }

    #[inline]
    pub(crate) fn push(&mut self, start: usize, end: usize) {
        self.ranges.push((start, end));
    }

    /// Drop captures pushed by an abandoned branch.
    #[inline]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.ranges.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_truncate_and_spill() {
        let mut p = Params::new();
        assert!(p.is_empty());
        for i in 0..20 {
            p.push(i, i + 1);
        }
        assert_eq!(p.len(), 20);
        assert_eq!(p.get(19), Some((19, 20)));
        assert_eq!(p.get(20), None);
        p.truncate(3);
        assert_eq!(p.iter().collect::<Vec<_>>(), [(0, 1), (1, 2), (2, 3)]);
        assert_eq!(p.value(1, "abc"), Some("b"));
        assert_eq!(p.value(2, "ab"), None);
        p.clear();
        assert!(p.is_empty());
    }

    #[test]
    fn inline_capacity_is_eight() {
        let mut p = Params::new();
        for i in 0..INLINE {
            p.push(i, i);
        }
        assert!(!p.ranges.spilled());
        p.push(0, 0);
        assert!(p.ranges.spilled());
    }
}
