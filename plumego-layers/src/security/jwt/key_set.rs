//! The keys tokens verify with and the one they are signed with.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::DecodingKey;

use super::key::Material;
use super::{Algorithm, JwtError, JwtKey, random_id};

/// The most keys a JWKS document may list (providers publish a handful).
pub const MAX_JWKS_KEYS: usize = 64;

#[derive(Default, Clone)]
struct KeySetState {
    active: Option<Arc<JwtKey>>,
    keys: HashMap<String, Arc<JwtKey>>,
    /// The kids the last [`KeySet::sync_jwks`] put in, so the next sync can
    /// drop the ones the provider stopped publishing without touching keys
    /// that came from elsewhere.
    from_jwks: HashSet<String>,
}

impl KeySetState {
    /// Whether `kid` names a key that did not come from a JWKS document.
    fn is_local(&self, kid: &str) -> bool {
        self.keys.contains_key(kid) && !self.from_jwks.contains(kid)
    }
}

/// The keys tokens are verified with, and the active one new tokens are
/// signed with. Rotating keeps the old keys, so tokens they signed keep
/// verifying until [`remove`](Self::remove)d. Readers take a snapshot under
/// a short read lock; writers copy and swap, so verification never waits on
/// a signature.
#[derive(Default)]
pub struct KeySet {
    state: RwLock<Arc<KeySetState>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.snapshot();
        f.debug_struct("KeySet")
            .field("active", &state.active.as_ref().map(|k| k.kid.clone()))
            .field("keys", &state.keys.len())
            .finish()
    }
}

impl KeySet {
    /// An empty set (verifies nothing, signs nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// A set with one active key.
    pub fn with_active(key: JwtKey) -> Self {
        let set = Self::new();
        set.rotate(key);
        set
    }

    fn snapshot(&self) -> Arc<KeySetState> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut KeySetState)) {
        let mut guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = KeySetState::clone(&guard);
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// Adds (or replaces) a verification key without activating it.
    pub fn insert(&self, key: JwtKey) {
        let key = Arc::new(key);
        self.update(|s| {
            if s.active.as_ref().is_some_and(|a| a.kid == key.kid) {
                s.active = Some(key.clone());
            }
            // Given by the application: local from now on.
            s.from_jwks.remove(&key.kid);
            s.keys.insert(key.kid.clone(), key);
        });
    }

    /// Adds a key and makes it the signing key; the previous keys stay.
    pub fn rotate(&self, key: JwtKey) {
        let key = Arc::new(key);
        self.update(|s| {
            s.from_jwks.remove(&key.kid);
            s.keys.insert(key.kid.clone(), key.clone());
            s.active = Some(key);
        });
    }

    /// Makes a known key the signing key.
    pub fn activate(&self, kid: &str) -> bool {
        let mut found = false;
        self.update(|s| {
            if let Some(key) = s.keys.get(kid) {
                s.active = Some(key.clone());
                found = true;
            }
        });
        found
    }

    /// Removes a key; tokens it signed stop verifying. Removing the active
    /// key leaves no signing key.
    pub fn remove(&self, kid: &str) -> bool {
        let mut found = false;
        self.update(|s| {
            found = s.keys.remove(kid).is_some();
            s.from_jwks.remove(kid);
            if s.active.as_ref().is_some_and(|a| a.kid == kid) {
                s.active = None;
            }
        });
        found
    }

    /// A key by id.
    pub fn get(&self, kid: &str) -> Option<Arc<JwtKey>> {
        self.snapshot().keys.get(kid).cloned()
    }

    /// The signing key.
    pub fn active(&self) -> Option<Arc<JwtKey>> {
        self.snapshot().active.clone()
    }

    /// Adds the signature keys of a JWKS document (`{"keys":[...]}`, as an
    /// identity provider publishes at its `jwks_uri`) as verify-only keys;
    /// the number added. Keys already present stay: to follow a provider
    /// that retires keys, use [`sync_jwks`](Self::sync_jwks). Each key needs
    /// a `kid`; its algorithm is its `alg`, or follows from its type (RSA →
    /// RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA), and must agree with
    /// the type. Encryption keys, symmetric (`oct`) keys and other curves or
    /// algorithms are skipped.
    pub fn insert_jwks(&self, json: &str) -> Result<usize, JwtError> {
        let keys = parse_jwks(json)?;
        let mut added = 0;
        self.update(|s| {
            for key in keys {
                if s.is_local(&key.kid) {
                    continue;
                }
                s.from_jwks.insert(key.kid.clone());
                s.keys.insert(key.kid.clone(), Arc::new(key));
                added += 1;
            }
        });
        Ok(added)
    }

    /// Makes the JWKS-provided keys exactly those of `json`: keys a previous
    /// sync added and the document no longer lists are removed (the
    /// provider retired them), new ones are added, keys from elsewhere are
    /// untouched; the number of keys the document gave. A document with no
    /// usable key is an error and changes nothing, so a broken response
    /// cannot empty the set.
    ///
    /// ```
    /// use plumego_layers::security::jwt::KeySet;
    ///
    /// let jwk = |kid: &str| format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}"#);
    /// let set = KeySet::new();
    /// set.sync_jwks(&format!(r#"{{"keys":[{},{}]}}"#, jwk("a"), jwk("b"))).unwrap();
    /// set.sync_jwks(&format!(r#"{{"keys":[{}]}}"#, jwk("b"))).unwrap();
    /// assert_eq!(set.kids(), ["b"]);
    /// assert!(set.sync_jwks(r#"{"keys":[]}"#).is_err());
    /// assert_eq!(set.kids(), ["b"]);
    /// ```
    pub fn sync_jwks(&self, json: &str) -> Result<usize, JwtError> {
        let keys = parse_jwks(json)?;
        let mut result = Ok(0);
        self.update(|s| {
            // A kid the set already holds from elsewhere (the local signing
            // key, a key store) is never taken over by a document.
            let keys: Vec<JwtKey> = keys
                .into_iter()
                .filter(|k| {
                    let local = s.is_local(&k.kid);
                    if local {
                        tracing::warn!(kid = %k.kid, "jwks: ignoring a key whose kid is already used locally");
                    }
                    !local
                })
                .collect();
            let fresh: HashSet<String> = keys.iter().map(|k| k.kid.clone()).collect();
            if fresh.is_empty() {
                result = Err(JwtError::InvalidKey(
                    "jwks: the document has no usable signature key".into(),
                ));
                return;
            }
            for gone in s.from_jwks.difference(&fresh) {
                s.keys.remove(gone);
                if s.active.as_ref().is_some_and(|a| &a.kid == gone) {
                    s.active = None;
                }
            }
            for key in keys {
                s.keys.insert(key.kid.clone(), Arc::new(key));
            }
            result = Ok(fresh.len());
            s.from_jwks = fresh;
        });
        result
    }

    /// Adds `keys` (replacing same-id ones) and makes `active` the signing
    /// key when it is among them: a reload from a store that other
    /// instances write to.
    pub(super) fn merge(&self, keys: Vec<JwtKey>, active: Option<&str>) {
        self.update(|s| {
            for key in keys {
                s.from_jwks.remove(&key.kid);
                s.keys.insert(key.kid.clone(), Arc::new(key));
            }
            if let Some(key) = active.and_then(|kid| s.keys.get(kid)) {
                s.active = Some(key.clone());
            }
        });
    }

    /// The public keys of the set as a JWKS document (`{"keys":[...]}`),
    /// for a service that issues tokens to publish at its `jwks_uri`:
    /// Ed25519 and P-256 keys this process generated or loaded from their
    /// raw bytes or a [`KvKeyStore`](super::KvKeyStore), sorted by kid. HMAC
    /// keys are secret and never listed; keys loaded from PEM or JWKS are
    /// not listed either (their public bytes are not kept).
    ///
    /// ```
    /// use plumego_layers::security::jwt::{Algorithm, JwtKey, KeySet};
    ///
    /// let idp = KeySet::with_active(JwtKey::generate("ed-1", Algorithm::EdDSA).unwrap());
    /// idp.insert(JwtKey::generate("hs-1", Algorithm::HS256).unwrap());
    /// let verifier = KeySet::new();
    /// assert_eq!(verifier.sync_jwks(&idp.public_jwks()).unwrap(), 1);
    /// assert_eq!(verifier.kids(), ["ed-1"]);
    /// ```
    pub fn public_jwks(&self) -> String {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let state = self.snapshot();
        let mut keys: Vec<&Arc<JwtKey>> = state.keys.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        let jwks: Vec<serde_json::Value> = keys
            .into_iter()
            .filter_map(|key| match &key.material {
                Material::Ed25519 { public, .. } => Some(serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                    "kid": key.kid, "x": URL_SAFE_NO_PAD.encode(public),
                })),
                // An uncompressed SEC1 point: 0x04, then x and y.
                Material::Es256 { public, .. } if public.len() == 65 => Some(serde_json::json!({
                    "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": key.kid,
                    "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&public[33..]),
                })),
                _ => None,
            })
            .collect();
        serde_json::json!({ "keys": jwks }).to_string()
    }

    /// The ids of all keys, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.snapshot().keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Replaces the active key by a generated one of the same algorithm when
    /// it is older than `max_age` (the Go manager's lazy rotation); checked
    /// and swapped under one lock so concurrent callers rotate once.
    pub(super) fn rotate_if_older(
        &self,
        now: SystemTime,
        max_age: Duration,
    ) -> Result<(), JwtError> {
        let stale = |s: &KeySetState| {
            s.active
                .as_ref()
                .is_some_and(|a| a.alg != Algorithm::RS256 && a.is_older_than(max_age, now))
        };
        if !stale(&self.snapshot()) {
            return Ok(());
        }
        let mut guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let Some(active) = guard.active.clone().filter(|_| stale(&guard)) else {
            return Ok(());
        };
        let key = Arc::new(JwtKey::generate(&random_id()?, active.alg)?.created_at(now));
        let mut next = KeySetState::clone(&guard);
        next.keys.insert(key.kid.clone(), key.clone());
        next.active = Some(key);
        *guard = Arc::new(next);
        Ok(())
    }
}

/// The usable signature keys of a JWKS document (see
/// [`KeySet::insert_jwks`] for which are skipped).
fn parse_jwks(json: &str) -> Result<Vec<JwtKey>, JwtError> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
    /// The document's shape, each key left raw: `jsonwebtoken`'s `JwkSet`
    /// refuses a whole document for one key of a type it does not know
    /// (X25519, secp256k1, ES512...), which would freeze a provider's keys.
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet =
        serde_json::from_str(json).map_err(|e| JwtError::InvalidKey(format!("jwks: {e}")))?;
    if set.keys.len() > MAX_JWKS_KEYS {
        return Err(JwtError::InvalidKey(format!(
            "jwks: more than {MAX_JWKS_KEYS} keys"
        )));
    }
    let mut keys: Vec<JwtKey> = Vec::with_capacity(set.keys.len());
    for raw in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.as_deref() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let by_type = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            _ => continue,
        };
        let declared = match jwk.common.key_algorithm {
            None => by_type,
            Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => Algorithm::ES256,
            Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
            Some(_) => continue,
        };
        if declared != by_type || JwtKey::check_kid(kid).is_err() {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = JwtKey {
            kid: kid.to_owned(),
            alg: declared,
            encoding: None,
            decoding,
            created_at: SystemTime::now(),
            material: Material::Opaque,
        };
        // A kid listed twice: the later entry wins, counted once.
        keys.retain(|k| k.kid != key.kid);
        keys.push(key);
    }
    Ok(keys)
}
