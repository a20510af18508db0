//! The idempotency-record contract (Go `store/idempotency`): the record an
//! `Idempotency-Key` request leaves behind, its statuses, the validators and
//! the store.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::{MAX_KEY_LEN, StoreError, StoreFuture, time};

/// Where a keyed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdempotencyStatus {
    /// The first request is running; retries must wait (409).
    InProgress,
    /// The response is recorded; retries replay it.
    Completed,
}

impl IdempotencyStatus {
    /// The wire name: `in_progress` or `completed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "in_progress" => Some(Self::InProgress),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// One idempotency record. Engines keep instants to the microsecond; the
/// constructor truncates so a record reads back equal to what was written.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use plumego_core::store::{IdempotencyRecord, IdempotencyStatus};
///
/// let now = SystemTime::now();
/// let rec = IdempotencyRecord::in_progress("order-1", "sha256:ab12", now, Duration::from_secs(60));
/// assert_eq!(rec.status, IdempotencyStatus::InProgress);
/// assert!(rec.validate().is_ok());
/// assert!(!rec.is_expired_at(now));
/// assert!(rec.is_expired_at(now + Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The idempotency key (as stored: the layer scopes it per caller).
    pub key: String,
    /// The fingerprint of the request that claimed the key.
    pub request_hash: String,
    /// In progress or completed.
    pub status: IdempotencyStatus,
    /// The recorded response (opaque to the store); `None` while in progress.
    pub response: Option<Bytes>,
    /// When the key was claimed.
    pub created_at: SystemTime,
    /// When the record last changed.
    pub updated_at: SystemTime,
    /// When the record stops counting (`expires_at <= now` is expired).
    pub expires_at: SystemTime,
}

impl IdempotencyRecord {
    /// An in-progress record claimed at `now` for `ttl`.
    pub fn in_progress(
        key: impl Into<String>,
        request_hash: impl Into<String>,
        now: SystemTime,
        ttl: Duration,
    ) -> Self {
        let now = time::truncate(now);
        Self {
            key: key.into(),
            request_hash: request_hash.into(),
            status: IdempotencyStatus::InProgress,
            response: None,
            created_at: now,
            updated_at: now,
            expires_at: time::truncate(now + ttl),
        }
    }

    /// Whether the record is past its expiry at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// The Go `ValidateRecord`: a valid key, a non-blank hash, and an expiry
    /// not before the creation. ([`IdempotencyStatus`] is valid by type.)
    pub fn validate(&self) -> Result<(), StoreError> {
        validate_idempotency_key(&self.key)?;
        if self.request_hash.trim().is_empty() {
            return Err(StoreError::InvalidRecord("request hash is empty"));
        }
        if self.expires_at < self.created_at {
            return Err(StoreError::InvalidRecord("expires before it was created"));
        }
        Ok(())
    }
}

/// The Go `ValidateKey`: non-blank, no control characters, and (unlike Go)
/// at most [`MAX_KEY_LEN`] bytes so every engine can index it.
pub fn validate_idempotency_key(key: &str) -> Result<(), StoreError> {
    if key.trim().is_empty() {
        return Err(StoreError::InvalidKey("key is blank"));
    }
    super::validate_key(key, MAX_KEY_LEN)
}

/// The Go `ValidateCompletionAt`: may `record` be completed by the request
/// with `request_hash` at `now`? Checks, in this order: the record is valid,
/// the hash is non-blank, the hashes match ([`StoreError::RequestMismatch`]),
/// the record is unexpired ([`StoreError::Expired`]) and still in progress
/// ([`StoreError::AlreadyCompleted`]).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use plumego_core::store::{IdempotencyRecord, StoreError, validate_completion_at};
///
/// let now = SystemTime::now();
/// let rec = IdempotencyRecord::in_progress("k", "h1", now, Duration::from_secs(60));
/// assert!(validate_completion_at(&rec, "h1", now).is_ok());
/// assert!(matches!(validate_completion_at(&rec, "h2", now), Err(StoreError::RequestMismatch)));
/// assert!(matches!(validate_completion_at(&rec, "h1", now + Duration::from_secs(61)), Err(StoreError::Expired)));
/// ```
pub fn validate_completion_at(
    record: &IdempotencyRecord,
    request_hash: &str,
    now: SystemTime,
) -> Result<(), StoreError> {
    record.validate()?;
    if request_hash.trim().is_empty() {
        return Err(StoreError::InvalidRecord("request hash is empty"));
    }
    if record.request_hash != request_hash {
        return Err(StoreError::RequestMismatch);
    }
    if record.is_expired_at(now) {
        return Err(StoreError::Expired);
    }
    if record.status == IdempotencyStatus::Completed {
        return Err(StoreError::AlreadyCompleted);
    }
    Ok(())
}

/// Stores idempotency records. Every mutation is atomic, so two instances
/// sharing an engine can never both claim a key.
///
/// ```
/// # #[cfg(feature = "store-memory")] {
/// use std::time::{Duration, SystemTime};
/// use plumego_core::store::{IdempotencyRecord, IdempotencyStatus, IdempotencyStore, StoreError};
/// use plumego_core::store::memory::{MemoryConfig, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(MemoryConfig::default()).unwrap();
/// let rec = IdempotencyRecord::in_progress("pay-1", "h", SystemTime::now(), Duration::from_secs(60));
/// assert!(store.put_if_absent(&rec).await.unwrap());
/// assert!(!store.put_if_absent(&rec).await.unwrap()); // claimed already
/// assert!(matches!(store.complete("pay-1", "other", "x".into()).await, Err(StoreError::RequestMismatch)));
/// store.complete("pay-1", "h", "201 created".into()).await.unwrap();
/// let got = store.get("pay-1").await.unwrap().unwrap();
/// assert_eq!(got.status, IdempotencyStatus::Completed);
/// assert_eq!(got.response.unwrap(), "201 created");
/// # });
/// # }
/// ```
pub trait IdempotencyStore: Send + Sync {
    /// The record; `None` when missing or expired.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>>;

    /// Inserts `record` unless a live record has its key; `true` when
    /// inserted (an expired record is replaced). The record is validated
    /// first; a candidate already past its expiry is [`StoreError::Expired`].
    fn put_if_absent<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, bool>;

    /// Marks the record completed with `response` (the Go hash-aware
    /// `CompleteWithRequestHash`), keeping its expiry. Missing or expired:
    /// [`StoreError::NotFound`]; otherwise the checks of
    /// [`validate_completion_at`] apply, atomically.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        request_hash: &'a str,
        response: Bytes,
    ) -> StoreFuture<'a, ()>;

    /// Removes the record; [`StoreError::NotFound`] when there is no live one.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

/// The checks `put_if_absent` makes before touching an engine.
#[cfg_attr(
    not(any(
        feature = "store-memory",
        feature = "store-redb",
        feature = "store-redis",
        feature = "store-postgres"
    )),
    allow(dead_code)
)]
pub(crate) fn check_candidate(
    record: &IdempotencyRecord,
    now: SystemTime,
) -> Result<(), StoreError> {
    record.validate()?;
    if record.is_expired_at(now) {
        return Err(StoreError::Expired);
    }
    Ok(())
}

/// The checks `complete` makes before touching an engine.
#[cfg_attr(
    not(any(
        feature = "store-memory",
        feature = "store-redb",
        feature = "store-redis",
        feature = "store-postgres"
    )),
    allow(dead_code)
)]
pub(crate) fn check_completion_args(key: &str, request_hash: &str) -> Result<(), StoreError> {
    validate_idempotency_key(key)?;
    if request_hash.trim().is_empty() {
        return Err(StoreError::InvalidRecord("request hash is empty"));
    }
    Ok(())
}
