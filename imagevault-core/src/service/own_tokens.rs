//! A user's own API tokens, as the account page lists them and revokes them.

use chrono::{DateTime, Utc};
use tracing::info;

use crate::auth::TokenId;
use crate::error::VaultError;

use super::Vault;
use super::account::Account;

/// One of a user's API tokens as the account page shows it: never the secret, which is
/// not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// What the page posts back to revoke the token (see [`Vault::revoke_own_token`]).
    pub id: TokenId,
    /// When the token was issued.
    pub created_at: DateTime<Utc>,
    /// When a request last used it, to within
    /// [`SESSION_TOUCH_INTERVAL`](crate::SESSION_TOUCH_INTERVAL); `None` if never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if it expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Vault {
    /// The account's own API tokens, newest first, expired ones included.
    pub async fn list_own_tokens(&self, account: &Account) -> Result<Vec<TokenInfo>, VaultError> {
        let tokens = self.inner.repo.list_user_tokens(account.user.id).await?;
        Ok(tokens
            .into_iter()
            .map(|token| TokenInfo {
                id: TokenId::of(&token.hash),
                created_at: token.created_at,
                last_used_at: token.last_used_at,
                expires_at: token.expires_at,
            })
            .collect())
    }

    /// Revokes one of the account's own tokens by the id [`Vault::list_own_tokens`] gave.
    /// [`VaultError::NotFound`] for an id of no token of the account's, another user's
    /// included.
    pub async fn revoke_own_token(
        &self,
        account: &Account,
        id: &TokenId,
    ) -> Result<(), VaultError> {
        let tokens = self.inner.repo.list_user_tokens(account.user.id).await?;
        let token = tokens
            .iter()
            .find(|token| id.names(&token.hash))
            .ok_or(VaultError::NotFound)?;
        if !self.inner.repo.delete_token(&token.hash).await? {
            // Revoked meanwhile by another request.
            return Err(VaultError::NotFound);
        }
        self.accounts_changed();
        info!(user = %account.user.id, token = %id, "token revoked by its user");
        Ok(())
    }
}
