//! The signed-in browser: its account, session and CSRF token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use imagevault_core::{Account, SessionSecret, VaultError};

use crate::AppState;
use crate::auth::{check_csrf_token, refuse_cross_site};
use crate::session_cookie::presented_secret;

use super::html::PageError;

/// A request from a signed-in browser. Signed out (no session, or one that has ended), a
/// page answers a redirect to the login page and back; an unsafe request must also come
/// from this server's own pages (see [`refuse_cross_site`]) and, once its form is read,
/// pass [`SignedIn::check_csrf`].
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// The signed-in account, read for this request.
    pub(crate) account: Account,
    secret: SessionSecret,
}

impl SignedIn {
    /// The session's CSRF token, for forms and scripts.
    pub(crate) fn csrf_token(&self) -> String {
        self.secret.csrf_token()
    }

    /// Refuses a form whose CSRF token is missing or not this session's.
    pub(crate) fn check_csrf(
        &self,
        presented: Option<&str>,
        prefix: &str,
    ) -> Result<(), PageError> {
        check_csrf_token(&self.secret, presented).map_err(|error| PageError::new(error, prefix))
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let prefix = state.config.path_prefix();
        let sign_in = || PageError::SignIn {
            // Back to a page after signing in; a form's target is not a page.
            next: if parts.method.is_safe() {
                parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), ToString::to_string)
            } else {
                "/".to_owned()
            },
            prefix: prefix.to_owned(),
        };
        let Some(secret) = presented_secret(&parts.headers, &state.config) else {
            return Err(sign_in());
        };
        if !parts.method.is_safe() {
            refuse_cross_site(parts, &state.config)
                .map_err(|error| PageError::new(error, prefix))?;
        }
        match state.vault.authenticate_session(&secret).await {
            Ok(account) => {
                crate::layers::record_user(&account.user);
                Ok(Self { account, secret })
            }
            Err(VaultError::InvalidCredentials) => Err(sign_in()),
            Err(other) => Err(PageError::vault(other, prefix)),
        }
    }
}

/// A request from a signed-in administrator; anyone else signed in gets a 403 page.
#[derive(Debug, Clone)]
pub(crate) struct SignedInAdmin(pub(crate) SignedIn);

impl FromRequestParts<AppState> for SignedInAdmin {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        signed_in
            .account
            .require_admin()
            .map_err(|error| PageError::vault(error, state.config.path_prefix()))?;
        Ok(Self(signed_in))
    }
}
