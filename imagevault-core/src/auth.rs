//! API tokens: random secrets, stored only as SHA-256 hashes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 digest of an API token: what repositories store and look tokens up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps a stored digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares two digests in constant time.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only a prefix, enough to correlate log lines, never the whole digest.
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A short public name of a stored API token, for pages that list a user's tokens and
/// post one back to revoke it: the first 16 hexadecimal digits of its [`TokenHash`]. It
/// reveals nothing of the token (a hash prefix cannot be turned back into the secret) and
/// 64 bits keep the tokens of one user apart.
///
/// ```
/// use imagevault_core::{ApiToken, TokenId};
/// let token = ApiToken::generate().unwrap();
/// let id = TokenId::of(&token.hash());
/// assert_eq!(id.as_str().len(), 16);
/// assert_eq!(TokenId::parse(id.as_str()), Some(id.clone()));
/// assert!(TokenId::parse("not-an-id").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// How many bytes of the hash the id names, as two lowercase hex digits each.
    const BYTES: usize = 8;

    /// The id of the token with this hash.
    pub fn of(hash: &TokenHash) -> Self {
        use std::fmt::Write as _;
        let mut text = String::with_capacity(2 * Self::BYTES);
        for byte in &hash.0[..Self::BYTES] {
            let _ = write!(text, "{byte:02x}");
        }
        Self(text)
    }

    /// An id as a page posted it back: 16 lowercase hex digits, `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 2 * Self::BYTES
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the id of the token with `hash`.
    pub fn names(&self, hash: &TokenHash) -> bool {
        *self == Self::of(hash)
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API token as handed to its user: `iv_` and 256 random bits in base64url.
///
/// It is shown once, when issued; only its [`TokenHash`] is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// The prefix that makes imagevault tokens recognisable to secret scanners.
    pub const PREFIX: &'static str = "iv_";

    /// A new random token.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self(format!(
            "{}{}",
            Self::PREFIX,
            URL_SAFE_NO_PAD.encode(secret)
        )))
    }

    /// Wraps a token presented by a client; any string is accepted and simply will not match.
    pub fn presented(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, to hand to the user.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest stored in place of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let first = ApiToken::generate().unwrap();
        let second = ApiToken::generate().unwrap();
        assert_ne!(first, second);
        assert!(first.expose().starts_with("iv_"));
        assert_eq!(first.expose().len(), 3 + 43);
        assert!(
            first
                .hash()
                .matches(&ApiToken::presented(first.expose()).hash())
        );
        assert!(!first.hash().matches(&second.hash()));
        assert!(!format!("{first:?}").contains(&first.expose()[3..]));
    }
}
