//! Issuing and verifying tokens in the documented order.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Claims, Grants, Identity, JwtConfig, JwtError, KeySet, TokenFormat, TokenPair, TokenType,
    random_id,
};
use crate::security::clock::{Clock, SystemClock};

// ---- wire forms ----

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

#[derive(Serialize)]
struct GoIdentityOut<'a> {
    sub: &'a str,
    ver: i64,
}

#[derive(Serialize)]
struct GoGrantsOut<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    permissions: &'a [String],
}

#[derive(Serialize)]
struct GoClaimsOut<'a> {
    jti: &'a str,
    token_type: &'a str,
    identity: GoIdentityOut<'a>,
    authorization: GoGrantsOut<'a>,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    kid: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoIdentityIn {
    sub: String,
    ver: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoGrantsIn {
    roles: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoClaimsIn {
    jti: String,
    token_type: String,
    identity: GoIdentityIn,
    authorization: GoGrantsIn,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    kid: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AudOut<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
struct StdClaimsOut<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    iss: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<AudOut<'a>>,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    token_type: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    permissions: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    kid: &'a str,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StdClaimsIn {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    token_type: Option<String>,
    roles: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
    scope: Option<String>,
    scp: Option<Vec<String>>,
    kid: Option<String>,
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
}

/// Go's `json.Marshal` bytes (HTML characters escaped).
fn go_json<T: Serialize>(value: &T) -> Result<Vec<u8>, JwtError> {
    plumego_core::error::to_go_json(value)
        .map_err(|_| JwtError::Malformed("claims do not serialise"))
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Issues and verifies tokens with a [`KeySet`].
pub struct JwtManager {
    keys: Arc<KeySet>,
    config: JwtConfig,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for JwtManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtManager")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish()
    }
}

impl JwtManager {
    /// A manager over `keys`; the configuration is validated.
    pub fn new(keys: Arc<KeySet>, config: JwtConfig) -> Result<Self, JwtError> {
        config.validate()?;
        Ok(Self {
            keys,
            config,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses this clock (tests inject a [`ManualClock`](crate::security::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The key set.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// The configuration.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Issues one token of `token_type`, valid from now for its lifetime.
    pub fn issue(
        &self,
        token_type: TokenType,
        identity: &Identity,
        grants: &Grants,
    ) -> Result<String, JwtError> {
        if identity.subject.trim().is_empty() {
            return Err(JwtError::MissingSubject);
        }
        let now = self.clock.now();
        if let Some(max_age) = self.config.rotation_interval {
            self.keys.rotate_if_older(now, max_age)?;
        }
        let ttl = match token_type {
            TokenType::Access => self.config.access_ttl,
            TokenType::Refresh => self.config.refresh_ttl,
        };
        let now_s = unix_secs(now);
        let claims = Claims {
            token_id: random_id()?,
            token_type: token_type.as_str().to_owned(),
            subject: identity.subject.clone(),
            version: identity.version,
            roles: grants.roles.clone(),
            permissions: grants.permissions.clone(),
            issuer: self.config.issuer.clone(),
            audience: if self.config.audience.is_empty() {
                Vec::new()
            } else {
                vec![self.config.audience.clone()]
            },
            issued_at: now_s,
            not_before: now_s,
            expires_at: now_s.saturating_add(secs_i64(ttl)),
            key_id: String::new(),
            extra: serde_json::Map::new(),
        };
        self.sign(&claims)
    }

    /// Issues an access and a refresh token (the Go `GenerateTokenPair`).
    pub fn issue_pair(&self, identity: &Identity, grants: &Grants) -> Result<TokenPair, JwtError> {
        Ok(TokenPair {
            access_token: self.issue(TokenType::Access, identity, grants)?,
            refresh_token: self.issue(TokenType::Refresh, identity, grants)?,
            expires_in: secs_i64(self.config.access_ttl),
            token_type: "Bearer",
        })
    }

    /// Signs `claims` as given with the active key (whose id replaces
    /// `key_id`), in the configured format.
    pub fn sign(&self, claims: &Claims) -> Result<String, JwtError> {
        let key = self.keys.active().ok_or(JwtError::NoSigningKey)?;
        let encoding = key.encoding_key()?;
        let header = go_json(&HeaderOut {
            alg: key.alg.as_str(),
            kid: &key.kid,
            typ: "JWT",
        })?;
        let payload = match self.config.format {
            TokenFormat::Go => go_json(&GoClaimsOut {
                jti: &claims.token_id,
                token_type: &claims.token_type,
                identity: GoIdentityOut {
                    sub: &claims.subject,
                    ver: claims.version,
                },
                authorization: GoGrantsOut {
                    roles: &claims.roles,
                    permissions: &claims.permissions,
                },
                iss: &claims.issuer,
                aud: claims.audience.first().map_or("", String::as_str),
                iat: claims.issued_at,
                nbf: claims.not_before,
                exp: claims.expires_at,
                kid: &key.kid,
            })?,
            TokenFormat::Standard => {
                let aud = match claims.audience.as_slice() {
                    [] => None,
                    [one] => Some(AudOut::One(one)),
                    many => Some(AudOut::Many(many)),
                };
                serde_json::to_vec(&StdClaimsOut {
                    iss: &claims.issuer,
                    sub: &claims.subject,
                    aud,
                    exp: claims.expires_at,
                    nbf: claims.not_before,
                    iat: claims.issued_at,
                    jti: &claims.token_id,
                    token_type: &claims.token_type,
                    roles: &claims.roles,
                    permissions: &claims.permissions,
                    kid: &key.kid,
                    extra: &claims.extra,
                })
                .map_err(|_| JwtError::Malformed("claims do not serialise"))?
            }
        };
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = jsonwebtoken::crypto::sign(token.as_bytes(), encoding, key.alg.jwt())
            .map_err(|e| JwtError::InvalidKey(e.to_string()))?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// Verifies a token in the documented order; `expected` checks the
    /// token type.
    pub fn verify(&self, token: &str, expected: Option<TokenType>) -> Result<Claims, JwtError> {
        let (claims, header_kid) = self.verify_signature(token)?;
        self.check_claims(claims, &header_kid, expected)
    }

    /// Steps 1 to 5: shape, header, key, signature, payload.
    fn verify_signature(&self, token: &str) -> Result<(Claims, String), JwtError> {
        let parts = split_token(
            token,
            self.config.max_token_len,
            self.config.max_segment_len,
        )?;
        let header = parse_header(parts[0])?;
        let key = self.keys.get(&header.kid).ok_or(JwtError::UnknownKey)?;
        if header.alg != key.alg.as_str() {
            return Err(JwtError::AlgorithmMismatch);
        }
        let signed = &token[..parts[0].len() + 1 + parts[1].len()];
        let valid =
            jsonwebtoken::crypto::verify(parts[2], signed.as_bytes(), &key.decoding, key.alg.jwt())
                .unwrap_or(false);
        if !valid {
            return Err(JwtError::InvalidSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(parts[1])
            .map_err(|_| JwtError::Malformed("payload is not base64url"))?;
        // serde would also read a struct from a JSON array; Go only from an object.
        if payload.trim_ascii_start().first() != Some(&b'{') {
            return Err(JwtError::Malformed("payload is not the expected JSON"));
        }
        let claims = match self.config.format {
            TokenFormat::Go => {
                let c: GoClaimsIn = serde_json::from_slice(&payload)
                    .map_err(|_| JwtError::Malformed("payload is not the expected JSON"))?;
                Claims {
                    token_id: c.jti,
                    token_type: c.token_type,
                    subject: c.identity.sub,
                    version: c.identity.ver,
                    roles: c.authorization.roles.unwrap_or_default(),
                    permissions: c.authorization.permissions.unwrap_or_default(),
                    issuer: c.iss,
                    audience: vec![c.aud],
                    issued_at: c.iat,
                    not_before: c.nbf,
                    expires_at: c.exp,
                    key_id: c.kid,
                    extra: serde_json::Map::new(),
                }
            }
            TokenFormat::Standard => {
                let c: StdClaimsIn = serde_json::from_slice(&payload)
                    .map_err(|_| JwtError::Malformed("payload is not the expected JSON"))?;
                let mut permissions = c.permissions.unwrap_or_default();
                if let Some(scope) = c.scope {
                    permissions.extend(
                        scope
                            .split(' ')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    );
                }
                permissions.extend(c.scp.unwrap_or_default());
                Claims {
                    token_id: c.jti.unwrap_or_default(),
                    token_type: c.token_type.unwrap_or_default(),
                    subject: c.sub.unwrap_or_default(),
                    version: 0,
                    roles: c.roles.unwrap_or_default(),
                    permissions,
                    issuer: c.iss.unwrap_or_default(),
                    audience: match c.aud {
                        None => Vec::new(),
                        Some(OneOrMany::One(a)) => vec![a],
                        Some(OneOrMany::Many(a)) => a,
                    },
                    issued_at: c.iat.unwrap_or(0),
                    not_before: c.nbf.unwrap_or(0),
                    expires_at: c.exp.unwrap_or(0),
                    // Optional in this format: absent means the header's.
                    key_id: c.kid.unwrap_or_else(|| header.kid.clone()),
                    extra: c.extra,
                }
            }
        };
        Ok((claims, header.kid))
    }

    /// Steps 5 (kid) to 9.
    fn check_claims(
        &self,
        claims: Claims,
        header_kid: &str,
        expected: Option<TokenType>,
    ) -> Result<Claims, JwtError> {
        if claims.key_id != header_kid {
            return Err(JwtError::KeyIdMismatch);
        }
        if !self.config.issuer.is_empty() && claims.issuer != self.config.issuer {
            return Err(JwtError::InvalidIssuer);
        }
        if !self.config.audience.is_empty() {
            let ok = match self.config.format {
                TokenFormat::Go => claims.audience.first() == Some(&self.config.audience),
                TokenFormat::Standard => claims.audience.contains(&self.config.audience),
            };
            if !ok {
                return Err(JwtError::InvalidAudience);
            }
        }
        let (iat, nbf) = match self.config.format {
            TokenFormat::Go => (claims.issued_at, claims.not_before),
            // Optional in this format: absent checks as "any time".
            TokenFormat::Standard => (
                if claims.issued_at == 0 {
                    1
                } else {
                    claims.issued_at
                },
                if claims.not_before == 0 {
                    1
                } else {
                    claims.not_before
                },
            ),
        };
        if iat <= 0 || nbf <= 0 || claims.expires_at <= 0 {
            return Err(JwtError::InvalidTimes);
        }
        let now = unix_secs(self.clock.now());
        let skew = secs_i64(self.config.clock_skew);
        if now < iat.saturating_sub(skew) {
            return Err(JwtError::InvalidTimes);
        }
        if now > claims.expires_at.saturating_add(skew) {
            return Err(JwtError::Expired);
        }
        if now < nbf.saturating_sub(skew) {
            return Err(JwtError::NotYetValid);
        }
        if let Some(t) = expected {
            if claims.token_type != t.as_str() {
                return Err(JwtError::WrongTokenType);
            }
        }
        if claims.subject.is_empty() {
            return Err(JwtError::MissingSubject);
        }
        Ok(claims)
    }
}

/// The three parts of a compact token, within the size limits.
fn split_token(token: &str, max_len: usize, max_segment: usize) -> Result<[&str; 3], JwtError> {
    if token.is_empty() || token.len() > max_len {
        return Err(JwtError::Malformed("token is empty or too long"));
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(JwtError::Malformed("a token has three parts"));
    };
    let parts = [h, p, s];
    if parts.iter().any(|p| p.is_empty() || p.len() > max_segment) {
        return Err(JwtError::Malformed("a part is empty or too long"));
    }
    Ok(parts)
}

/// The fields of a JOSE header that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtHeader {
    /// `alg`.
    pub alg: String,
    /// `kid`.
    pub kid: String,
    /// `typ`.
    pub typ: String,
}

/// Decodes and checks a header part (step 2): base64url JSON object, not
/// `alg: none`, non-empty string `kid` and `alg`, `typ` exactly `JWT`, no
/// `crit`. Public for fuzzing.
pub fn parse_header(part: &str) -> Result<JwtHeader, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
    let text = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (alg, kid, typ) = (text("alg"), text("kid"), text("typ"));
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if alg.is_empty() || kid.is_empty() {
        return Err(JwtError::Malformed("header needs alg and kid"));
    }
    if typ != "JWT" {
        return Err(JwtError::Malformed("header typ must be JWT"));
    }
    if map.contains_key("crit") {
        return Err(JwtError::Malformed(
            "critical header extensions are not supported",
        ));
    }
    Ok(JwtHeader { alg, kid, typ })
}
