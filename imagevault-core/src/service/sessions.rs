//! Browser sessions: started by a password login, ended by logout, a password change, the
//! user's or an administrator's "sign out everywhere", idleness or age.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::info;

use crate::error::VaultError;
use crate::repo::SessionOwner;
use crate::session::{SESSION_TOUCH_INTERVAL, SessionRecord, SessionSecret};
use crate::user::{Password, UserId};

use super::Vault;
use super::account::Account;

/// A session just started by [`Vault::start_session`]: the secret for the cookie, shown
/// once, and when the session ends at the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedSession {
    /// The secret the session cookie carries.
    pub secret: SessionSecret,
    /// The end of the session's absolute lifetime.
    pub expires_at: DateTime<Utc>,
}

fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl Vault {
    /// Starts a browser session for an account that has just logged in (see
    /// [`Vault::authenticate_password_from`]). Only the secret's hash is stored.
    pub async fn start_session(&self, account: &Account) -> Result<StartedSession, VaultError> {
        let secret = SessionSecret::generate().map_err(|error| {
            VaultError::Internal(format!("no randomness for a session: {error}"))
        })?;
        let now = self.now();
        let expires_at = now
            .checked_add_signed(delta(self.inner.config.session_lifetime))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.inner
            .repo
            .insert_session(&SessionRecord {
                hash: secret.hash(),
                user_id: account.user.id,
                created_at: now,
                last_seen_at: now,
                expires_at,
            })
            .await?;
        info!(user = %account.user.id, "session started");
        Ok(StartedSession { secret, expires_at })
    }

    /// The account of a session cookie's secret.
    ///
    /// [`VaultError::InvalidCredentials`] if there is no such session, or if it has been
    /// idle longer than [`VaultConfig::session_idle_timeout`](super::VaultConfig::session_idle_timeout)
    /// or is past its [lifetime](super::VaultConfig::session_lifetime); such a session is
    /// deleted. A session in use has its last-seen time written at most once per
    /// [`SESSION_TOUCH_INTERVAL`].
    pub async fn authenticate_session(
        &self,
        secret: &SessionSecret,
    ) -> Result<Account, VaultError> {
        let hash = secret.hash();
        let repo = &self.inner.repo;
        let Some(SessionOwner {
            session,
            user,
            plan,
        }) = repo.find_session(&hash).await?
        else {
            return Err(VaultError::InvalidCredentials);
        };
        let now = self.now();
        let idle = now - session.last_seen_at;
        if idle > delta(self.inner.config.session_idle_timeout)
            || session.expires_at <= now
            || user.is_being_deleted()
        {
            repo.delete_session(&hash).await?;
            return Err(VaultError::InvalidCredentials);
        }
        if idle >= delta(SESSION_TOUCH_INTERVAL) {
            repo.touch_session(&hash, now).await?;
        }
        Ok(Account { user, plan })
    }

    /// Ends one session (logout). Ending an unknown session is not an error.
    pub async fn end_session(&self, secret: &SessionSecret) -> Result<(), VaultError> {
        self.inner.repo.delete_session(&secret.hash()).await?;
        Ok(())
    }

    /// Ends every session of the account's own user ("sign out everywhere"), this one
    /// included. Returns how many were ended.
    pub async fn end_own_sessions(&self, account: &Account) -> Result<u64, VaultError> {
        let ended = self
            .inner
            .repo
            .delete_user_sessions(account.user.id)
            .await?;
        info!(user = %account.user.id, ended, "sessions ended by their user");
        Ok(ended)
    }

    /// Ends every session and revokes every API token of a user (an administrator's
    /// "sign out everywhere"). [`VaultError::NotFound`] for an unknown user. Returns how
    /// many sessions and tokens were ended.
    pub async fn sign_out_user_everywhere(
        &self,
        admin: &Account,
        id: UserId,
    ) -> Result<u64, VaultError> {
        admin.require_admin()?;
        let tokens = self.bootstrap_revoke_user_tokens(id).await?;
        let sessions = self.inner.repo.delete_user_sessions(id).await?;
        info!(user = %id, sessions, tokens, "user signed out everywhere");
        Ok(sessions + tokens)
    }

    /// Changes the account's own password after checking the current one, as Django's
    /// password change form does. The check counts as a login from `client` (see
    /// [`Vault::authenticate_password_from`]), throttled alike. A new password ends every
    /// session and revokes every token of the user: whoever knew the old one may hold
    /// them. The caller starts a new session for the browser that made the change.
    ///
    /// A wrong current password is a validation error on `old_password`; a new password
    /// that breaks the rules of [`Password::new`], one on `new_password`.
    pub async fn change_own_password(
        &self,
        account: &Account,
        current_password: &str,
        new_password: &str,
        client: Option<&str>,
    ) -> Result<(), VaultError> {
        let new_password = Password::new(new_password).map_err(|mut error| {
            error.field = "new_password";
            VaultError::Validation(error)
        })?;
        let username = account.user.username.as_str();
        let checked = match client {
            Some(client) => {
                self.authenticate_password_from(username, current_password, client)
                    .await
            }
            None => self.authenticate_password(username, current_password).await,
        };
        match checked {
            Ok(checked) if checked.user.id == account.user.id => {}
            Ok(_) | Err(VaultError::InvalidCredentials) => {
                return Err(VaultError::invalid(
                    "old_password",
                    "Your old password was entered incorrectly. Please enter it again.",
                ));
            }
            Err(other) => return Err(other),
        }
        self.bootstrap_update_user(
            account.user.id,
            super::UserChanges {
                password: Some(new_password),
                ..super::UserChanges::default()
            },
        )
        .await?;
        Ok(())
    }

    /// Deletes sessions that have been idle too long or are past their lifetime; the
    /// reconciler calls it on every pass. Returns how many were deleted.
    pub async fn purge_ended_sessions(&self) -> Result<u64, VaultError> {
        let now = self.now();
        let idle_before = now
            .checked_sub_signed(delta(self.inner.config.session_idle_timeout))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok(self
            .inner
            .repo
            .delete_ended_sessions(idle_before, now)
            .await?)
    }
}
