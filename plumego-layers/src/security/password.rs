//! Password hashing: Argon2id (PHC strings) for new hashes, verification of
//! the Go toolkit's PBKDF2-HMAC-SHA512 hashes, and strength rules.
//!
//! New hashes are Argon2id (RustCrypto `argon2`, OWASP's parameters by
//! default: 19 MiB, 2 passes, 1 lane) because PBKDF2 is cheap to attack with
//! GPUs. Hashes written by the Go toolkit, `<iterations>$<salt>$<hash>` with
//! standard base64, still verify (16-byte salt, 32- or 64-byte hash,
//! 100,000 to 2,000,000 iterations), and [`needs_rehash`] says when to
//! replace one after a successful login. Passwords longer than 4096 bytes
//! are refused before any hashing, so a huge password cannot burn CPU.
//!
//! Hashing takes tens of milliseconds of CPU by design: in async code, use
//! [`hash_password_async`] and [`verify_password_async`], which run it under
//! `tokio::task::spawn_blocking` instead of stalling a runtime worker.
//!
//! ```
//! use plumego_layers::security::password::{hash_password_with, verify_password, needs_rehash_with, HashParams};
//!
//! let params = HashParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 }; // tiny, for the example
//! let hash = hash_password_with("correct horse", &params).unwrap();
//! assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
//! assert!(verify_password(&hash, "correct horse").is_ok());
//! assert!(verify_password(&hash, "wrong").is_err());
//! assert!(!needs_rehash_with(&hash, &params));
//! assert!(needs_rehash_with(&hash, &HashParams::default()));
//! ```

use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SecureRandom as _;
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// The longest password accepted, in bytes (the Go toolkit's limit).
pub const MAX_PASSWORD_BYTES: usize = 4096;
/// The Go toolkit's default PBKDF2 iteration count.
pub const PBKDF2_DEFAULT_COST: u32 = 210_000;
/// The fewest PBKDF2 iterations accepted.
pub const PBKDF2_MIN_COST: u32 = 100_000;
/// The most PBKDF2 iterations accepted.
pub const PBKDF2_MAX_COST: u32 = 2_000_000;

const PBKDF2_SALT_LEN: usize = 16;
const PBKDF2_KEY_LEN: usize = 64;
const PBKDF2_LEGACY_KEY_LEN: usize = 32;

/// Why hashing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    TooLong,
    /// The password does not match.
    Mismatch,
    /// The stored hash is not in a known format.
    InvalidHash(&'static str),
    /// A PBKDF2 cost outside [`PBKDF2_MIN_COST`]..=[`PBKDF2_MAX_COST`].
    InvalidCost,
    /// Hashing failed (bad parameters, random source, a cancelled task).
    Hashing(String),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong => write!(f, "password: longer than {MAX_PASSWORD_BYTES} bytes"),
            Self::Mismatch => f.write_str("password: mismatch"),
            Self::InvalidHash(why) => write!(f, "password: invalid hash: {why}"),
            Self::InvalidCost => write!(
                f,
                "password: cost must be between {PBKDF2_MIN_COST} and {PBKDF2_MAX_COST}"
            ),
            Self::Hashing(why) => write!(f, "password: hashing failed: {why}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// Argon2id parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB. Default 19,456 (19 MiB).
    pub m_cost_kib: u32,
    /// Passes. Default 2.
    pub t_cost: u32,
    /// Lanes. Default 1.
    pub p_cost: u32,
}

impl Default for HashParams {
    /// OWASP's recommended Argon2id parameters (also the `argon2` crate's).
    fn default() -> Self {
        Self {
            m_cost_kib: argon2::Params::DEFAULT_M_COST,
            t_cost: argon2::Params::DEFAULT_T_COST,
            p_cost: argon2::Params::DEFAULT_P_COST,
        }
    }
}

impl HashParams {
    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, None)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

fn check_len(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// An Argon2id PHC hash of `password` with the default parameters.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    hash_password_with(password, &HashParams::default())
}

/// An Argon2id PHC hash of `password` with these parameters and a random
/// 16-byte salt.
pub fn hash_password_with(password: &str, params: &HashParams) -> Result<String, PasswordError> {
    check_len(password)?;
    let argon2 = params.argon2()?;
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Hashing("random source failed".into()))?;
    argon2
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// A hash in the Go toolkit's PBKDF2 format (`cost$salt$hash`, 64-byte key),
/// for deployments where Go services must still read what Rust writes.
pub fn hash_pbkdf2(password: &str, cost: u32) -> Result<String, PasswordError> {
    check_len(password)?;
    if !(PBKDF2_MIN_COST..=PBKDF2_MAX_COST).contains(&cost) {
        return Err(PasswordError::InvalidCost);
    }
    let mut salt = [0u8; PBKDF2_SALT_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Hashing("random source failed".into()))?;
    let mut key = [0u8; PBKDF2_KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, cost, &mut key);
    Ok(format!(
        "{cost}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(key)
    ))
}

/// Checks `password` against an Argon2 PHC hash or a Go PBKDF2 hash, in
/// constant time. `Err(Mismatch)` for a wrong password; other errors mean
/// the stored hash (or the password's length) is unusable.
pub fn verify_password(hash: &str, password: &str) -> Result<(), PasswordError> {
    check_len(password)?;
    if hash.starts_with("$argon2") {
        let parsed =
            PasswordHash::new(hash).map_err(|_| PasswordError::InvalidHash("not a PHC string"))?;
        return match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(()),
            Err(argon2::password_hash::Error::PasswordInvalid) => Err(PasswordError::Mismatch),
            Err(_) => Err(PasswordError::InvalidHash("unusable argon2 parameters")),
        };
    }
    verify_pbkdf2(hash, password)
}

fn verify_pbkdf2(hash: &str, password: &str) -> Result<(), PasswordError> {
    let mut parts = hash.split('$');
    let (Some(cost), Some(salt), Some(expected), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PasswordError::InvalidHash("expected cost$salt$hash"));
    };
    if cost.is_empty() || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PasswordError::InvalidHash("cost is not a decimal number"));
    }
    let cost: u32 = cost.parse().map_err(|_| PasswordError::InvalidCost)?;
    if !(PBKDF2_MIN_COST..=PBKDF2_MAX_COST).contains(&cost) {
        return Err(PasswordError::InvalidCost);
    }
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| PasswordError::InvalidHash("salt is not base64"))?;
    if salt.len() != PBKDF2_SALT_LEN {
        return Err(PasswordError::InvalidHash("salt must be 16 bytes"));
    }
    let expected = STANDARD
        .decode(expected)
        .map_err(|_| PasswordError::InvalidHash("hash is not base64"))?;
    if expected.len() != PBKDF2_KEY_LEN && expected.len() != PBKDF2_LEGACY_KEY_LEN {
        return Err(PasswordError::InvalidHash("hash must be 32 or 64 bytes"));
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, cost, &mut derived);
    if bool::from(derived.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(PasswordError::Mismatch)
    }
}

/// Whether a stored hash should be replaced (after a successful verify) by
/// a hash with the default parameters.
pub fn needs_rehash(hash: &str) -> bool {
    needs_rehash_with(hash, &HashParams::default())
}

/// Whether a stored hash is anything but Argon2id v19 with exactly these
/// parameters and a 32-byte output (PBKDF2 and unparsable hashes: yes).
pub fn needs_rehash_with(hash: &str, params: &HashParams) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(0x13) {
        return true;
    }
    let Ok(current) = argon2::Params::try_from(&parsed) else {
        return true;
    };
    current.m_cost() != params.m_cost_kib
        || current.t_cost() != params.t_cost
        || current.p_cost() != params.p_cost
        || current
            .output_len()
            .unwrap_or(argon2::Params::DEFAULT_OUTPUT_LEN)
            != argon2::Params::DEFAULT_OUTPUT_LEN
}

fn join_error(e: tokio::task::JoinError) -> PasswordError {
    PasswordError::Hashing(format!("hashing task failed: {e}"))
}

/// [`hash_password`] on tokio's blocking pool.
pub async fn hash_password_async(password: String) -> Result<String, PasswordError> {
    hash_password_with_async(password, HashParams::default()).await
}

/// [`hash_password_with`] on tokio's blocking pool.
pub async fn hash_password_with_async(
    password: String,
    params: HashParams,
) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_password_with(&password, &params))
        .await
        .map_err(join_error)?
}

/// [`verify_password`] on tokio's blocking pool.
pub async fn verify_password_async(hash: String, password: String) -> Result<(), PasswordError> {
    tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(join_error)?
}

/// Password strength rules (the Go `PasswordStrengthConfig`). Lengths count
/// Unicode code points; the classes are Unicode upper case, lower case and
/// numeric; "special" is anything else that is neither whitespace nor a
/// control character (Go: punctuation or symbol).
///
/// ```
/// use plumego_layers::security::password::PasswordStrength;
///
/// let rules = PasswordStrength::default();
/// assert!(rules.validate("Tr0ubador"));
/// assert!(!rules.validate("short1A"));
/// assert!(!rules.validate("alllowercase1"));
/// assert!(PasswordStrength { require_special: true, ..rules }.validate("Tr0ub4dor&3"));
/// assert!(rules.validate("Äpfel123")); // Unicode upper case counts
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordStrength {
    /// Fewest code points. Default 8.
    pub min_length: usize,
    /// Most code points; 0 means unbounded. Default 1024.
    pub max_length: usize,
    /// Needs an upper-case letter. Default true.
    pub require_uppercase: bool,
    /// Needs a lower-case letter. Default true.
    pub require_lowercase: bool,
    /// Needs a digit. Default true.
    pub require_digit: bool,
    /// Needs a special character. Default false.
    pub require_special: bool,
}

impl Default for PasswordStrength {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 1024,
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_special: false,
        }
    }
}

impl PasswordStrength {
    /// Whether `password` meets every rule (and the bounds are coherent).
    pub fn validate(&self, password: &str) -> bool {
        if self.max_length != 0 && self.min_length > self.max_length {
            return false;
        }
        let len = password.chars().count();
        if len < self.min_length || (self.max_length != 0 && len > self.max_length) {
            return false;
        }
        let has = |f: fn(char) -> bool| password.chars().any(f);
        (!self.require_uppercase || has(char::is_uppercase))
            && (!self.require_lowercase || has(char::is_lowercase))
            && (!self.require_digit || has(char::is_numeric))
            && (!self.require_special
                || has(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()))
    }
}
