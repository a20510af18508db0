//! Password hashing: Go PBKDF2 vectors computed independently with Python,
//! malformed hashes, Argon2id, rehash decisions, limits, async helpers and
//! strength rules.
#![cfg(feature = "security")]

use plumego_layers::security::password::{
    HashParams, MAX_PASSWORD_BYTES, PBKDF2_MIN_COST, PasswordError, PasswordStrength,
    hash_password_with, hash_password_with_async, hash_pbkdf2, needs_rehash, needs_rehash_with,
    verify_password, verify_password_async,
};

/// Go-format PBKDF2-HMAC-SHA512 hashes (`cost$b64salt$b64hash`), made by:
///
/// ```text
/// python3 - <<'EOF'
/// import hashlib, base64
/// cases = [
///     ("password", bytes(range(16)), 100000, 64),
///     ("correct horse battery staple", b"plumego-salt-16b", 210000, 64),
///     ("pässwörd-ünïcode", bytes([0xff]*16), 100000, 32),
///     ("", b"\x00"*16, 100000, 64),
/// ]
/// for pw, salt, cost, dklen in cases:
///     dk = hashlib.pbkdf2_hmac("sha512", pw.encode(), salt, cost, dklen)
///     print(repr(pw), f"{cost}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}")
/// EOF
/// ```
const VECTORS: [(&str, &str); 4] = [
    (
        "password",
        "100000$AAECAwQFBgcICQoLDA0ODw==$+94U0zjMb4IQV/P0p4rCC8cBsR43qTs3kMNRDgGUc/OPTg3urMJHGdNE02yaxk3bvpl6gNWHX6nMkWFQcgrWzg==",
    ),
    (
        "correct horse battery staple",
        "210000$cGx1bWVnby1zYWx0LTE2Yg==$K72GYNeVaJb6XTp6jBSbcu/e96apWksFd4KerMIN9V/vcQJ+0KNeY76BdbseoUUlV++VUyA6emkrEElmg2BIHQ==",
    ),
    // A legacy 32-byte hash.
    (
        "pässwörd-ünïcode",
        "100000$/////////////////////w==$WVKs3nVMcc74oBYAyyIDZlpjxDd2ZUdPB9Ef11RNA0I=",
    ),
    (
        "",
        "100000$AAAAAAAAAAAAAAAAAAAAAA==$pqrGm3GGp02IL8bNh7lNhv0J1++s/2dRn9PrMUi6MDky33NJ0vqUfmiTnQqmK6rBFmarUwlshMCfxXmEPVdqrA==",
    ),
];

/// Tiny Argon2 parameters so debug-build tests stay fast.
const FAST: HashParams = HashParams {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

#[test]
fn go_pbkdf2_vectors_verify() {
    // PBKDF2 is slow in debug builds (about 40 µs an iteration), so each
    // derivation here counts: four matches and two mismatches.
    for (password, hash) in VECTORS {
        assert_eq!(verify_password(hash, password), Ok(()), "{password:?}");
        assert!(needs_rehash(hash), "PBKDF2 hashes move to Argon2id");
    }
    // A wrong password against a legacy hash, and against the empty one.
    assert_eq!(
        verify_password(VECTORS[2].1, "pässwörd-ünïcodE"),
        Err(PasswordError::Mismatch)
    );
    assert_eq!(
        verify_password(VECTORS[3].1, " "),
        Err(PasswordError::Mismatch)
    );
}

#[test]
fn malformed_pbkdf2_hashes() {
    let good = VECTORS[0].1;
    let parts: Vec<&str> = good.split('$').collect();
    let salt15 = "AAECAwQFBgcICQoLDA0O"; // 15 bytes
    let hash48 = &parts[2][..64]; // 48 bytes
    let cases: Vec<(String, PasswordError)> = vec![
        (
            "".into(),
            PasswordError::InvalidHash("expected cost$salt$hash"),
        ),
        (
            format!("{}${}", parts[0], parts[1]),
            PasswordError::InvalidHash("expected cost$salt$hash"),
        ),
        (
            format!("{good}$x"),
            PasswordError::InvalidHash("expected cost$salt$hash"),
        ),
        (
            format!("99999${}${}", parts[1], parts[2]),
            PasswordError::InvalidCost,
        ),
        (
            format!("2000001${}${}", parts[1], parts[2]),
            PasswordError::InvalidCost,
        ),
        (
            format!("99999999999${}${}", parts[1], parts[2]),
            PasswordError::InvalidCost,
        ),
        (
            format!("+100000${}${}", parts[1], parts[2]),
            PasswordError::InvalidHash("cost is not a decimal number"),
        ),
        (
            format!("1e5${}${}", parts[1], parts[2]),
            PasswordError::InvalidHash("cost is not a decimal number"),
        ),
        (
            format!("${}${}", parts[1], parts[2]),
            PasswordError::InvalidHash("cost is not a decimal number"),
        ),
        (
            format!("100000${salt15}${}", parts[2]),
            PasswordError::InvalidHash("salt must be 16 bytes"),
        ),
        (
            format!("100000$!!!${}", parts[2]),
            PasswordError::InvalidHash("salt is not base64"),
        ),
        (
            format!("100000${}${hash48}", parts[1]),
            PasswordError::InvalidHash("hash must be 32 or 64 bytes"),
        ),
        (
            format!("100000${}$", parts[1]),
            PasswordError::InvalidHash("hash must be 32 or 64 bytes"),
        ),
        (
            format!("100000${}$%%%", parts[1]),
            PasswordError::InvalidHash("hash is not base64"),
        ),
        (
            "$argon2id$garbage".into(),
            PasswordError::InvalidHash("not a PHC string"),
        ),
    ];
    for (hash, want) in cases {
        assert_eq!(verify_password(&hash, "password"), Err(want), "{hash:?}");
    }
}

#[test]
fn length_limit_on_hash_and_verify() {
    let at_limit = "a".repeat(MAX_PASSWORD_BYTES);
    let over = "a".repeat(MAX_PASSWORD_BYTES + 1);
    // Counted in bytes: 2049 two-byte characters are over.
    let multibyte = "é".repeat(MAX_PASSWORD_BYTES / 2 + 1);
    assert!(hash_password_with(&at_limit, &FAST).is_ok());
    assert_eq!(
        hash_password_with(&over, &FAST),
        Err(PasswordError::TooLong)
    );
    assert_eq!(
        hash_password_with(&multibyte, &FAST),
        Err(PasswordError::TooLong)
    );
    assert_eq!(
        verify_password(VECTORS[0].1, &over),
        Err(PasswordError::TooLong)
    );
    assert_eq!(
        hash_pbkdf2(&over, PBKDF2_MIN_COST),
        Err(PasswordError::TooLong)
    );
}

#[test]
fn pbkdf2_hashes_rust_writes_verify() {
    let hash = hash_pbkdf2("s3cret", PBKDF2_MIN_COST).unwrap();
    let parts: Vec<&str> = hash.split('$').collect();
    assert_eq!(parts[0], "100000");
    assert_eq!(parts[1].len(), 24, "16-byte salt");
    assert_eq!(parts[2].len(), 88, "64-byte key");
    assert_eq!(verify_password(&hash, "s3cret"), Ok(()));
    assert_eq!(
        verify_password(&hash, "s3creT"),
        Err(PasswordError::Mismatch)
    );
    assert_eq!(hash_pbkdf2("x", 99_999), Err(PasswordError::InvalidCost));
}

#[test]
fn argon2id_round_trip_and_rehash() {
    let hash = hash_password_with("hunter2", &FAST).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
    assert_eq!(verify_password(&hash, "hunter2"), Ok(()));
    assert_eq!(
        verify_password(&hash, "hunter3"),
        Err(PasswordError::Mismatch)
    );
    assert_ne!(hash_password_with("hunter2", &FAST).unwrap(), hash);
    assert!(!needs_rehash_with(&hash, &FAST));
    assert!(needs_rehash_with(&hash, &HashParams { t_cost: 2, ..FAST }));
    assert!(needs_rehash(&hash), "weaker than the defaults");
    assert!(needs_rehash("garbage"));
    // Argon2i and argon2d hashes verify but are replaced.
    let argon2i = hash.replacen("$argon2id$", "$argon2i$", 1);
    assert!(needs_rehash_with(&argon2i, &FAST));
    assert_eq!(
        verify_password(&argon2i, "hunter2"),
        Err(PasswordError::Mismatch),
        "a different algorithm"
    );
    assert!(
        hash_password_with(
            "x",
            &HashParams {
                m_cost_kib: 1,
                ..FAST
            }
        )
        .is_err()
    );
}

#[tokio::test]
async fn async_helpers_run_on_the_blocking_pool() {
    let hash = hash_password_with_async("async pw".into(), FAST)
        .await
        .unwrap();
    assert_eq!(
        verify_password_async(hash.clone(), "async pw".into()).await,
        Ok(())
    );
    assert_eq!(
        verify_password_async(hash, "nope".into()).await,
        Err(PasswordError::Mismatch)
    );
}

#[test]
fn strength_matrix() {
    let rules = PasswordStrength::default();
    for good in ["Passw0rd", "Zz9zzzzz", "ÄÖÜ123abc", "Pass word 1"] {
        assert!(rules.validate(good), "{good:?}");
    }
    for bad in [
        "Pass0rd",
        "password1",
        "PASSWORD1",
        "Password",
        "",
        "Пароль",
    ] {
        assert!(!rules.validate(bad), "{bad:?}");
    }
    // Code points, not bytes: 8 two-byte characters meet the minimum.
    let mixed = PasswordStrength {
        require_uppercase: false,
        require_digit: false,
        ..rules
    };
    assert!(mixed.validate("éééééééé"));
    assert!(!mixed.validate("ééééééé"));
    let max = PasswordStrength {
        max_length: 10,
        ..rules
    };
    assert!(max.validate("Passw0rd10"));
    assert!(!max.validate("Passw0rd101"));
    let unbounded = PasswordStrength {
        max_length: 0,
        ..rules
    };
    assert!(unbounded.validate(&format!("Aa1{}", "x".repeat(5000))));
    let incoherent = PasswordStrength {
        min_length: 20,
        max_length: 10,
        ..rules
    };
    assert!(!incoherent.validate("Passw0rd"));
    let special = PasswordStrength {
        require_special: true,
        ..rules
    };
    assert!(!special.validate("Passw0rd"));
    assert!(special.validate("Passw0rd!"));
    assert!(special.validate("Passw0rd€"));
    assert!(!special.validate("Passw0rd "), "whitespace is not special");
    // Unicode digits count.
    assert!(rules.validate("Password٣"));
}
