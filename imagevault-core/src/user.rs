//! Users, their credentials (argon2id password hashes) and their API tokens' records.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};

use crate::auth::TokenHash;
use crate::id::PlanId;
use crate::page::positioned;
use crate::quota::QuotaOverrides;
use crate::validation::ValidationError;

pub use crate::id::UserId;

/// A username: 1 to 150 characters of letters, digits and `@ . + - _` (Django's rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// The longest username allowed, in characters.
    pub const MAX_CHARS: usize = 150;

    /// Checks the length and the allowed characters.
    ///
    /// ```
    /// use imagevault_core::Username;
    /// assert!(Username::parse("alice.smith+work@example").is_ok());
    /// assert!(Username::parse("alice smith").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        if name.is_empty() {
            return Err(ValidationError::new(
                "username",
                "This field may not be blank.",
            ));
        }
        let chars = name.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "username",
                format!(
                    "Ensure this field has no more than {} characters; it has {chars}.",
                    Self::MAX_CHARS
                ),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'))
        {
            return Err(ValidationError::new(
                "username",
                "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext password on its way to being hashed or verified. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The shortest password accepted for a new account, in characters.
    pub const MIN_CHARS: usize = 8;
    /// The longest password accepted, in bytes; bounds the hashing cost of hostile input.
    pub const MAX_BYTES: usize = 1024;

    /// A password for a new account: checks the length rules.
    pub fn new(password: impl Into<String>) -> Result<Self, ValidationError> {
        let password = password.into();
        if password.chars().count() < Self::MIN_CHARS {
            return Err(ValidationError::new(
                "password",
                format!(
                    "This password is too short. It must contain at least {} characters.",
                    Self::MIN_CHARS
                ),
            ));
        }
        if password.len() > Self::MAX_BYTES {
            return Err(ValidationError::new(
                "password",
                format!(
                    "This password is too long. It may have at most {} bytes.",
                    Self::MAX_BYTES
                ),
            ));
        }
        Ok(Self(password))
    }

    /// A password presented at login: not checked against the rules for new passwords,
    /// which may have changed since the account was made.
    pub fn presented(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The plaintext.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A password hash in PHC string format (argon2id).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored PHC string, as read back from a repository.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// A stored value that no password matches (it is not a PHC string, so verification
    /// fails before any hashing), as Django's unusable passwords: an account being deleted
    /// gets it so that nobody can log in to it any more.
    ///
    /// ```
    /// use imagevault_core::PasswordHash;
    /// assert!(PasswordHash::unusable().is_unusable());
    /// ```
    pub fn unusable() -> Self {
        Self(Self::UNUSABLE.to_owned())
    }

    /// Whether this is [`unusable`](Self::unusable).
    pub fn is_unusable(&self) -> bool {
        self.0 == Self::UNUSABLE
    }

    const UNUSABLE: &'static str = "!";

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Hashes a password with argon2id and a random salt. Slow on purpose: run it off the executor.
pub(crate) fn hash_password(password: &Password) -> Result<PasswordHash, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| PasswordHash::from_phc(hash.to_string()))
        .map_err(|error| format!("password hashing failed: {error}"))
}

/// Verifies `password` against a stored hash; argon2 compares the digests in constant time.
pub(crate) fn verify_password(password: &Password, hash: &PasswordHash) -> bool {
    match argon2::PasswordHash::new(hash.as_str()) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash with the real cost, verified against when the username is unknown, so that
/// response time does not reveal whether an account exists.
pub(crate) fn decoy_hash() -> &'static PasswordHash {
    static DECOY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&Password::presented("imagevault-decoy-password"))
            .unwrap_or_else(|_| PasswordHash::from_phc(""))
    })
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identity.
    pub id: UserId,
    /// Unique login name.
    pub username: Username,
    /// argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// Whether the user may use the admin operations.
    pub is_admin: bool,
    /// The user's plan; image and link operations need one.
    pub plan_id: Option<PlanId>,
    /// The administrator's overrides of the plan's quota; the default overrides nothing.
    pub quota: QuotaOverrides,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Whether the account is being deleted: locked by
    /// [`UserRepo::begin_user_deletion`](crate::UserRepo::begin_user_deletion), whose
    /// unusable password no service path ever stores otherwise. Such a user is gone for
    /// every caller, only its images are still being deleted.
    pub fn is_being_deleted(&self) -> bool {
        self.password_hash.is_unusable()
    }
}

positioned!(User);

/// A stored API token: only the hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The user the token logs in as.
    pub user_id: UserId,
    /// When the token was issued.
    pub created_at: DateTime<Utc>,
    /// When the token stops working, if it expires (see
    /// [`VaultConfig::token_ttl`](crate::VaultConfig::token_ttl)).
    pub expires_at: Option<DateTime<Utc>>,
    /// When a request last used the token, to within
    /// [`SESSION_TOUCH_INTERVAL`](crate::SESSION_TOUCH_INTERVAL); `None` if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let password = Password::new("s3cret-passw0rd").unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &Password::presented("wrong-password"),
            &hash
        ));
        assert!(!verify_password(
            &password,
            &PasswordHash::from_phc("not a phc string")
        ));
    }

    #[test]
    fn usernames_follow_django_rules() {
        assert!(Username::parse("bob_1-2.3+4@x").is_ok());
        assert!(Username::parse("Zoë").is_ok());
        assert_eq!(Username::parse("").unwrap_err().field, "username");
        assert!(Username::parse("a/b").is_err());
        assert!(Username::parse(&"a".repeat(150)).is_ok());
        assert!(Username::parse(&"a".repeat(151)).is_err());
    }

    #[test]
    fn passwords_have_bounds_and_never_print() {
        assert!(
            Password::new("short")
                .unwrap_err()
                .message
                .contains("at least 8")
        );
        assert!(Password::new("x".repeat(1025)).is_err());
        let password = Password::new("correct horse").unwrap();
        assert_eq!(format!("{password:?}"), "Password(..)");
    }
}
