//! Browser sessions: the secret a session cookie carries, what the repository keeps of it,
//! and the CSRF token bound to it.
//!
//! A session is made by a password login in a browser (see
//! [`Vault::start_session`](crate::Vault::start_session)). Its secret is 256 random bits,
//! sent to the browser once in a cookie and stored only as its SHA-256 hash, as API tokens
//! are. The CSRF token that every unsafe request made with the session must carry is
//! derived from the secret, so any process that sees the cookie can check it without
//! storing anything, while a page on another site, which cannot read the cookie, cannot
//! make it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::TokenHash;
use crate::id::UserId;

/// The default of [`VaultConfig::session_idle_timeout`](crate::VaultConfig::session_idle_timeout):
/// a session unused for 12 hours ends.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// The default of [`VaultConfig::session_lifetime`](crate::VaultConfig::session_lifetime):
/// 14 days, Django's `SESSION_COOKIE_AGE`, however much the session is used.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// How stale a session's `last_seen_at` may get before a request writes it again: one
/// write a minute per active session at most, instead of one per request.
pub const SESSION_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The secret of a browser session, as its cookie carries it.
///
/// ```
/// use imagevault_core::SessionSecret;
/// let secret = SessionSecret::generate().unwrap();
/// let token = secret.csrf_token();
/// assert!(secret.accepts_csrf(&token));
/// assert!(!SessionSecret::generate().unwrap().accepts_csrf(&token));
/// assert_eq!(format!("{secret:?}"), "SessionSecret(..)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(String);

impl SessionSecret {
    /// A new secret of 256 random bits, in URL-safe base64 (43 characters).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(secret)))
    }

    /// A secret as a request presented it (a cookie's value), not yet checked.
    pub fn presented(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret's text, for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the repository stores and looks the session up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash::from_bytes(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The CSRF token of this session: forms and scripts send it back with every unsafe
    /// request. It is a hash of the secret under a label of its own, so it reveals nothing
    /// of the secret or of the stored hash.
    pub fn csrf_token(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"imagevault csrf token\0");
        digest.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.finalize())
    }

    /// Whether `presented` is this session's CSRF token, compared in constant time.
    pub fn accepts_csrf(&self, presented: &str) -> bool {
        let expected = self.csrf_token();
        expected.len() == presented.len()
            && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}

/// A stored session: only the hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the secret.
    pub hash: TokenHash,
    /// The signed-in user.
    pub user_id: UserId,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When a request last used the session, to within [`SESSION_TOUCH_INTERVAL`].
    pub last_seen_at: DateTime<Utc>,
    /// When the session ends however much it is used: sign-in time plus
    /// [`VaultConfig::session_lifetime`](crate::VaultConfig::session_lifetime).
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_only_their_hash_is_kept() {
        let first = SessionSecret::generate().unwrap();
        let second = SessionSecret::generate().unwrap();
        assert_ne!(first, second);
        assert_eq!(first.expose().len(), 43);
        assert!(
            first
                .hash()
                .matches(&SessionSecret::presented(first.expose()).hash())
        );
        assert!(!first.hash().matches(&second.hash()));
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let secret = SessionSecret::generate().unwrap();
        let token = secret.csrf_token();
        assert!(secret.accepts_csrf(&token));
        assert!(!secret.accepts_csrf(""));
        assert!(!secret.accepts_csrf(&token[1..]));
        assert!(!secret.accepts_csrf(secret.expose()));
        assert!(!SessionSecret::generate().unwrap().accepts_csrf(&token));
        assert_ne!(token, secret.expose());
    }
}
