//! The one error type of every store contract and engine.

use std::borrow::Cow;
use std::fmt;

use crate::body::BoxError;

/// What went wrong in a store call. The variants are the Go toolkit's
/// sentinels (`ErrNotFound`, `ErrKeyExpired`, `ErrNotInteger`,
/// `ErrRequestMismatch`...), so callers branch with `matches!` rather than by
/// comparing strings; engine failures (I/O, network, SQL) are
/// [`Backend`](StoreError::Backend) and keep their cause in `source()`.
///
/// ```
/// use plumego_core::store::StoreError;
/// let err = StoreError::KeyTooLong { len: 300, max: 256 };
/// assert_eq!(err.to_string(), "store: key is 300 bytes, longer than 256");
/// assert!(!err.is_backend());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The key is empty, blank or holds a control character.
    InvalidKey(&'static str),
    /// The key is longer than the store allows.
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No live entry has this key.
    NotFound,
    /// The entry (or the candidate record) is past its expiry. The KV contract
    /// reports this apart from [`NotFound`](StoreError::NotFound).
    Expired,
    /// The value is not a decimal integer, or the arithmetic overflowed.
    NotInteger,
    /// One value is larger than the store can hold.
    ValueTooLarge {
        /// The value's size in bytes (with its key and overhead, where the
        /// engine counts those).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// An argument or configuration value is out of range.
    InvalidArgument(Cow<'static, str>),
    /// An idempotency record breaks an invariant (blank hash, expiry before
    /// creation...).
    InvalidRecord(&'static str),
    /// An idempotency record belongs to a different request payload.
    RequestMismatch,
    /// An idempotency record is completed already.
    AlreadyCompleted,
    /// Data read back from the engine is not what this crate wrote.
    Corrupt(Cow<'static, str>),
    /// The store was closed.
    Closed,
    /// The engine failed (I/O, network, SQL); the cause is the source.
    Backend(BoxError),
}

impl StoreError {
    /// Wraps an engine failure.
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }

    /// Whether the engine failed, as opposed to the call being refused: an
    /// engine failure may succeed when retried, a refusal will not.
    pub fn is_backend(&self) -> bool {
        matches!(self, Self::Backend(_))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey(why) => write!(f, "store: invalid key: {why}"),
            Self::KeyTooLong { len, max } => {
                write!(f, "store: key is {len} bytes, longer than {max}")
            }
            Self::NotFound => f.write_str("store: not found"),
            Self::Expired => f.write_str("store: expired"),
            Self::NotInteger => f.write_str("store: value is not an integer or would overflow"),
            Self::ValueTooLarge { size, max } => {
                write!(f, "store: value of {size} bytes exceeds the limit of {max}")
            }
            Self::InvalidArgument(why) => write!(f, "store: invalid argument: {why}"),
            Self::InvalidRecord(why) => write!(f, "idempotency: invalid record: {why}"),
            Self::RequestMismatch => f.write_str("idempotency: request hash mismatch"),
            Self::AlreadyCompleted => f.write_str("idempotency: already completed"),
            Self::Corrupt(why) => write!(f, "store: corrupt data: {why}"),
            Self::Closed => f.write_str("store: closed"),
            Self::Backend(err) => write!(f, "store: backend: {err}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend(err) => Some(&**err),
            _ => None,
        }
    }
}
