//! Signing keys kept in any [`Kv`] store, in the Go toolkit's layout, so
//! every instance signs with the same active key and verifies every key.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use plumego_core::store::{Kv, StoreError};
use serde::{Deserialize, Serialize};

use super::key::Material;
use super::{Algorithm, JwtError, JwtKey, KeySet, KeySource, RefreshFuture, random_id};
use crate::security::clock::{Clock, SystemClock};

/// Where each key lives: `jwt:keys:<kid>` holds its JSON.
pub const KEY_PREFIX: &str = "jwt:keys:";
/// Holds the id of the key new tokens are signed with.
pub const ACTIVE_KEY: &str = "jwt:active";

/// Keys listed per round trip while loading.
const PAGE: usize = 256;

/// A key without its secret (the Go `SigningKeyMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyMetadata {
    /// The key id.
    pub kid: String,
    /// The algorithm.
    pub alg: Algorithm,
    /// When the key was made.
    pub created_at: SystemTime,
}

impl From<&JwtKey> for KeyMetadata {
    fn from(key: &JwtKey) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg,
            created_at: key.created_at,
        }
    }
}

/// The stored JSON (Go's `JWTSigningKey`): byte fields are standard
/// base64, `created_at` is RFC 3339 with nanoseconds.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    id: String,
    alg: String,
    secret: Option<String>,
    public: Option<String>,
    created_at: String,
}

/// Signing keys in a [`Kv`] store shared by every instance, in the Go
/// toolkit's layout: [`KEY_PREFIX`]`<kid>` holds each key as JSON
/// (`{"id","alg","secret","public","created_at"}`, byte fields in standard
/// base64: an HS256 secret is its 32 bytes, an Ed25519 secret is the
/// 64-byte seed-and-public-key with the 32-byte public key beside it), and
/// [`ACTIVE_KEY`] holds the active kid. Go and Rust services sharing a store
/// therefore share keys. ES256 keys are stored too (PKCS#8 secret, SEC1
/// public point), a Rust extension; RSA keys are not (keep them in PEM).
///
/// [`open`](Self::open) at startup loads every key and, when there is no
/// active key, makes one; creating and rotating write the key first and
/// then swap the active id with compare-and-swap, so instances starting or
/// rotating together agree on one active key and lose none. As a
/// [`KeySource`] (with a [`KeyRefresher`](super::KeyRefresher)), each
/// refresh reloads what other instances wrote and, with
/// [`rotate_after`](Self::rotate_after), rotates a key that has grown too
/// old (the Go manager's lazy rotation, done once across all instances).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use plumego_core::store::memory::MemoryStore;
/// use plumego_layers::security::jwt::{Identity, Grants, JwtConfig, JwtManager, KeySet, KvKeyStore};
///
/// let kv = Arc::new(MemoryStore::new(Default::default()).unwrap());
/// let store = KvKeyStore::new(kv.clone());
///
/// // Instance one makes the first key; instance two loads it.
/// let (one, two) = (Arc::new(KeySet::new()), Arc::new(KeySet::new()));
/// let first = store.open(&one).await.unwrap();
/// assert_eq!(store.open(&two).await.unwrap(), first);
///
/// let signer = JwtManager::new(one.clone(), JwtConfig::default()).unwrap();
/// let verifier = JwtManager::new(two.clone(), JwtConfig::default()).unwrap();
/// let token = signer.issue_pair(&Identity::new("u1"), &Grants::default()).unwrap().access_token;
/// assert!(verifier.verify(&token, None).is_ok());
/// # }
/// ```
#[derive(Clone)]
pub struct KvKeyStore {
    kv: Arc<dyn Kv>,
    algorithm: Algorithm,
    rotate_after: Option<Duration>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for KvKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvKeyStore")
            .field("algorithm", &self.algorithm)
            .field("rotate_after", &self.rotate_after)
            .finish_non_exhaustive()
    }
}

fn store_err(e: StoreError) -> JwtError {
    JwtError::KeyStore(e.to_string())
}

/// The key the active id names, if the listing has it.
fn active_key<'a>(keys: &'a [JwtKey], active: Option<&str>) -> Option<&'a JwtKey> {
    let kid = active?;
    keys.iter().find(|k| k.kid == kid)
}

impl KvKeyStore {
    /// Keys in `kv`; new keys are HS256 (the Go default), no lazy rotation.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self {
            kv,
            algorithm: Algorithm::HS256,
            rotate_after: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The algorithm of keys this store generates: an HMAC one, EdDSA or
    /// ES256 (RS256 keys cannot be generated).
    pub fn algorithm(mut self, alg: Algorithm) -> Result<Self, JwtError> {
        if alg == Algorithm::RS256 {
            return Err(JwtError::InvalidConfig(
                "RS256 keys cannot be generated or stored",
            ));
        }
        self.algorithm = alg;
        Ok(self)
    }

    /// Rotates the active key when it is older than `max_age`, at the next
    /// [`load`](KeySource::load) (the Go default is 24 hours).
    pub fn rotate_after(mut self, max_age: Duration) -> Result<Self, JwtError> {
        if max_age.is_zero() {
            return Err(JwtError::InvalidConfig(
                "rotation interval must be positive",
            ));
        }
        self.rotate_after = Some(max_age);
        Ok(self)
    }

    /// Uses this clock for key ages (tests inject a
    /// [`ManualClock`](crate::security::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Loads every stored key into `set` and makes sure there is an active
    /// one, creating and persisting it when the store has none (or its
    /// active id names a missing key); the active key's metadata. A
    /// malformed stored key is an error.
    pub async fn open(&self, set: &KeySet) -> Result<KeyMetadata, JwtError> {
        for _ in 0..3 {
            let (keys, active) = self.read_all(Strict::Yes).await?;
            if let Some(key) = active_key(&keys, active.as_deref()) {
                let meta = KeyMetadata::from(key);
                set.merge(keys, active.as_deref());
                return Ok(meta);
            }
            let key = self.generate()?;
            if self.activate(&key, active.as_deref()).await? {
                let meta = KeyMetadata::from(&key);
                set.merge(keys, None);
                set.rotate(key);
                return Ok(meta);
            }
            // Another instance activated its key first: adopt it.
        }
        Err(JwtError::KeyStore(
            "the active key kept changing while opening".into(),
        ))
    }

    /// Makes a new key, persists it and makes it active for every instance
    /// and in `set`; old keys keep verifying. If another instance rotates
    /// at the same moment, one of the two keys wins everywhere and `set`
    /// takes the winner: the metadata returned is the active key's.
    pub async fn rotate(&self, set: &KeySet) -> Result<KeyMetadata, JwtError> {
        let current = self.active_id().await?;
        let key = self.generate()?;
        if self.activate(&key, current.as_deref()).await? {
            let meta = KeyMetadata::from(&key);
            set.rotate(key);
            return Ok(meta);
        }
        let (keys, active) = self.read_all(Strict::No).await?;
        let winner = active_key(&keys, active.as_deref())
            .map(KeyMetadata::from)
            .ok_or_else(|| JwtError::KeyStore("the active key changed while rotating".into()))?;
        set.merge(keys, active.as_deref());
        Ok(winner)
    }

    /// Writes `key` under [`KEY_PREFIX`]`<kid>` (without activating it).
    pub async fn save(&self, key: &JwtKey) -> Result<(), JwtError> {
        let json = serde_json::to_vec(&encode(key)?)
            .map_err(|e| JwtError::KeyStore(format!("encoding key: {e}")))?;
        self.kv
            .set(&format!("{KEY_PREFIX}{}", key.kid), json.into(), None)
            .await
            .map_err(store_err)
    }

    fn generate(&self) -> Result<JwtKey, JwtError> {
        Ok(JwtKey::generate(&random_id()?, self.algorithm)?.created_at(self.clock.now()))
    }

    /// Saves `key`, then makes it active if the active id is still
    /// `expected` (compare-and-swap); `false`, with the unused key deleted
    /// again, when another instance got there first. The key is written
    /// before it is activated, so an active id always names a stored key.
    async fn activate(&self, key: &JwtKey, expected: Option<&str>) -> Result<bool, JwtError> {
        self.save(key).await?;
        let swapped = self
            .kv
            .compare_and_swap(
                ACTIVE_KEY,
                expected.map(str::as_bytes),
                Bytes::from(key.kid.clone()),
                None,
            )
            .await
            .map_err(store_err)?;
        if !swapped {
            // Best effort: a leftover only costs a read per reload.
            let _ = self.kv.delete(&format!("{KEY_PREFIX}{}", key.kid)).await;
        }
        Ok(swapped)
    }

    /// The active kid, if any.
    async fn active_id(&self) -> Result<Option<String>, JwtError> {
        match self.kv.get(ACTIVE_KEY).await {
            Ok(kid) => String::from_utf8(kid.to_vec())
                .map(Some)
                .map_err(|_| JwtError::KeyStore("the active key id is not UTF-8".into())),
            Err(StoreError::NotFound | StoreError::Expired) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Every stored key and the active id. The id is read first: keys are
    /// written before they are activated, so every key an id read here can
    /// name is in the listing that follows. With [`Strict::No`] a
    /// malformed key is skipped with a warning instead of failing the load.
    async fn read_all(&self, strict: Strict) -> Result<(Vec<JwtKey>, Option<String>), JwtError> {
        let active = self.active_id().await?;
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .kv
                .keys(KEY_PREFIX, after.as_deref(), PAGE)
                .await
                .map_err(store_err)?;
            for name in &page {
                match self.kv.get(name).await {
                    Ok(json) => match decode(name, &json) {
                        Ok(key) => keys.push(key),
                        Err(e) if strict == Strict::No => {
                            tracing::warn!(error = %e, "skipping a malformed jwt key");
                        }
                        Err(e) => return Err(e),
                    },
                    // Gone between listing and reading.
                    Err(StoreError::NotFound | StoreError::Expired) => {}
                    Err(e) => return Err(store_err(e)),
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.clone()),
                _ => break,
            }
        }
        Ok((keys, active))
    }

    /// Reloads, first rotating once across instances if the active key is
    /// older than the rotation interval; `set` changes only if everything
    /// succeeded.
    async fn reload(&self, set: &KeySet) -> Result<usize, JwtError> {
        let (mut keys, mut active) = self.read_all(Strict::No).await?;
        let stale = self.rotate_after.is_some_and(|max_age| {
            active_key(&keys, active.as_deref())
                .is_some_and(|k| k.is_older_than(max_age, self.clock.now()))
        });
        if stale {
            let key = self.generate()?;
            if self.activate(&key, active.as_deref()).await? {
                active = Some(key.kid.clone());
                keys.push(key);
            } else {
                // Another instance rotated first; take its key.
                (keys, active) = self.read_all(Strict::No).await?;
            }
        }
        let count = keys.len();
        set.merge(keys, active.as_deref());
        Ok(count)
    }
}

/// Whether a malformed stored key fails a load ([`KvKeyStore::open`]) or
/// is skipped (reloads, which must not stop because of one bad entry).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strict {
    Yes,
    No,
}

impl KeySource for KvKeyStore {
    fn load<'a>(&'a self, set: &'a KeySet) -> RefreshFuture<'a> {
        Box::pin(self.reload(set))
    }
}

fn encode(key: &JwtKey) -> Result<StoredKey, JwtError> {
    let (secret, public) = match &key.material {
        Material::Hmac(secret) => (STANDARD.encode(secret), None),
        Material::Ed25519 {
            seed: Some(seed),
            public,
        } => {
            let mut private = Vec::with_capacity(64);
            private.extend_from_slice(seed);
            private.extend_from_slice(public);
            (STANDARD.encode(private), Some(STANDARD.encode(public)))
        }
        Material::Es256 { pkcs8, public } => {
            (STANDARD.encode(pkcs8), Some(STANDARD.encode(public)))
        }
        Material::Ed25519 { seed: None, .. } | Material::Opaque => {
            return Err(JwtError::KeyStore(format!(
                "key {} has no exportable private part",
                key.kid
            )));
        }
    };
    Ok(StoredKey {
        id: key.kid.clone(),
        alg: key.alg.as_str().to_owned(),
        secret: Some(secret),
        public,
        created_at: plumego_core::health::rfc3339_nanos(key.created_at),
    })
}

fn decode(name: &str, json: &[u8]) -> Result<JwtKey, JwtError> {
    let bad = |why: &str| JwtError::KeyStore(format!("malformed key {name}: {why}"));
    let stored: StoredKey = serde_json::from_slice(json).map_err(|e| bad(&e.to_string()))?;
    if name.strip_prefix(KEY_PREFIX) != Some(stored.id.as_str()) {
        return Err(bad("its id does not match its name"));
    }
    let bytes = |field: Option<&str>, what: &str| -> Result<Vec<u8>, JwtError> {
        let text = field
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(&format!("no {what}")))?;
        STANDARD
            .decode(text)
            .map_err(|_| bad(&format!("{what} is not base64")))
    };
    let alg = match stored.alg.as_str() {
        "" => Algorithm::HS256,
        other => Algorithm::parse(other).ok_or_else(|| bad("unsupported algorithm"))?,
    };
    let secret = bytes(stored.secret.as_deref(), "secret")?;
    let key = match alg {
        Algorithm::HS256 if secret.len() != 32 => return Err(bad("an HS256 secret is 32 bytes")),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            JwtKey::hmac(&stored.id, alg, &secret)
        }
        Algorithm::EdDSA => {
            let public = bytes(stored.public.as_deref(), "public key")?;
            let (Some(seed), true) = (secret.get(..32), secret.len() == 64) else {
                return Err(bad("an Ed25519 private key is 64 bytes"));
            };
            let seed: [u8; 32] = seed.try_into().map_err(|_| bad("bad seed"))?;
            let key = JwtKey::ed25519_seed(&stored.id, &seed)?;
            match &key.material {
                Material::Ed25519 {
                    public: derived, ..
                } if derived[..] == public[..] && secret[32..] == public[..] => Ok(key),
                _ => return Err(bad("the Ed25519 public key does not match the private key")),
            }
        }
        Algorithm::ES256 => {
            let public = bytes(stored.public.as_deref(), "public key")?;
            JwtKey::es256_der(&stored.id, &secret, &public)
        }
        Algorithm::RS256 => return Err(bad("RS256 keys are not stored")),
    }
    .map_err(|e| bad(&e.to_string()))?;
    let created_at = time::OffsetDateTime::parse(
        &stored.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| bad("created_at is not RFC 3339"))?;
    // Checked, not `SystemTime::from`, which panics outside the platform's
    // range (Go's zero time, year 1, is outside it on some platforms).
    let nanos = created_at.unix_timestamp_nanos();
    let magnitude = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    let created_at = if nanos >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
    .ok_or_else(|| bad("created_at is out of range"))?;
    Ok(key.created_at(created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layout_round_trips_for_each_storable_algorithm() {
        for alg in [
            Algorithm::HS256,
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::EdDSA,
            Algorithm::ES256,
        ] {
            let key = JwtKey::generate("k", alg).unwrap();
            let json = serde_json::to_vec(&encode(&key).unwrap()).unwrap();
            let back = decode("jwt:keys:k", &json).unwrap();
            assert_eq!(back.alg, alg);
            assert_eq!(back.created_at, key.created_at, "{alg}");
            // The restored key verifies what the original signed.
            let sig =
                jsonwebtoken::crypto::sign(b"m", key.encoding_key().unwrap(), alg.jwt()).unwrap();
            assert!(jsonwebtoken::crypto::verify(&sig, b"m", &back.decoding, alg.jwt()).unwrap());
        }
    }

    #[test]
    fn a_go_hs256_key_decodes() {
        // As Go's encoding/json writes JWTSigningKey: []byte as padded
        // base64, a nil public key as null, time.Time as RFC3339Nano.
        let json = br#"{"id":"k1","alg":"HS256","secret":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=","public":null,"created_at":"2026-01-02T03:04:05.123456789Z"}"#;
        let key = decode("jwt:keys:k1", json).unwrap();
        assert_eq!(key.alg, Algorithm::HS256);
        let at = key
            .created_at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert_eq!(at.subsec_nanos(), 123_456_789);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_key_named() {
        let cases: [&[u8]; 8] = [
            b"not json",
            br#"{"id":"other","alg":"HS256","secret":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=","public":null,"created_at":"2026-01-02T03:04:05Z"}"#,
            br#"{"id":"k","alg":"HS256","secret":"AQID","public":null,"created_at":"2026-01-02T03:04:05Z"}"#,
            br#"{"id":"k","alg":"HS256","secret":"!!","public":null,"created_at":"2026-01-02T03:04:05Z"}"#,
            br#"{"id":"k","alg":"none","secret":"AQID","public":null,"created_at":"2026-01-02T03:04:05Z"}"#,
            br#"{"id":"k","alg":"RS256","secret":"AQID","public":null,"created_at":"2026-01-02T03:04:05Z"}"#,
            br#"{"id":"k","alg":"HS256","secret":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=","public":null,"created_at":"yesterday"}"#,
            br#"{"id":"k","alg":"EdDSA","secret":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=","public":"AQID","created_at":"2026-01-02T03:04:05Z"}"#,
        ];
        for json in cases {
            let err = decode("jwt:keys:k", json).expect_err("refused");
            assert!(err.to_string().contains("jwt:keys:k"), "{err}");
        }
    }

    #[test]
    fn a_mismatched_ed25519_public_key_is_refused() {
        let key = JwtKey::generate("k", Algorithm::EdDSA).unwrap();
        let mut stored = encode(&key).unwrap();
        stored.public = Some(STANDARD.encode([7u8; 32]));
        let json = serde_json::to_vec(&stored).unwrap();
        assert!(decode("jwt:keys:k", &json).is_err());
    }

    #[test]
    fn verify_only_keys_cannot_be_stored() {
        let key = JwtKey::ed25519_public("k", &[0u8; 32]).unwrap();
        assert!(matches!(encode(&key), Err(JwtError::KeyStore(_))));
    }
}
