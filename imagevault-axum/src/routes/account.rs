//! `/api/auth/token/` and `/api/me/`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use imagevault_core::VaultError;

use crate::auth::{Caller, authenticate_password, client_address};
use crate::error::ApiError;
use crate::payload::Fields;
use crate::routes::{anonymous_405, authenticated_405, payload};
use crate::schema::{DetailBody, FieldErrorsBody, MeBody, PlanBody, TokenBody, TokenRequest};
use crate::{AppState, api_route};

pub(crate) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = api_route(
        router,
        "/api/auth/token/",
        post(create_token)
            .delete(revoke_token)
            .fallback(anonymous_405!("POST, DELETE")),
    );
    api_route(
        router,
        "/api/me/",
        get(me).fallback(authenticated_405!("GET, HEAD")),
    )
}

/// Log in with a username and password; answers a new token (one per device).
#[utoipa::path(post, path = "/api/auth/token/", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A new token, with `expires_at` when the server gives tokens a lifetime", body = TokenBody),
        (status = 400, description = "Missing fields, or `non_field_errors` for wrong credentials", body = FieldErrorsBody),
        (status = 429, description = "Too many failed logins for this username (from this address, or from all) or from this address: no password is checked until `Retry-After` seconds have passed", body = DetailBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        (status = 503, description = "Too many password checks are running or waiting: try again after `Retry-After` seconds; the attempt was not counted", body = DetailBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<TokenBody>, ApiError> {
    let client = client_address(request.extensions());
    let mut fields = Fields::full(payload(request, &state).await?);
    let username = fields.string("username", true);
    let password = fields.string("password", true);
    if username.as_deref() == Some("") {
        fields.error("username", "This field may not be blank.");
    }
    if password.as_deref() == Some("") {
        fields.error("password", "This field may not be blank.");
    }
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::from(VaultError::Internal(
            "checked fields went missing".into(),
        )));
    };
    let vault = &state.vault;
    let account = match authenticate_password(vault, client.as_deref(), &username, &password).await
    {
        Ok(account) => account,
        Err(VaultError::InvalidCredentials) => {
            return Err(ApiError::field(
                "non_field_errors",
                "Unable to log in with provided credentials.",
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let token = vault.issue_token(&account).await?;
    tracing::info!(user = %account.user.id, "token issued");
    Ok(Json(TokenBody {
        token: token.expose().to_owned(),
        expires_at: token.expires_at.map(crate::schema::timestamp),
    }))
}

/// Revoke the token this request is authenticated with.
#[utoipa::path(delete, path = "/api/auth/token/", tag = "auth",
    security(("token" = [])),
    responses(
        (status = 204, description = "The token no longer works"),
        (status = 400, description = "The request was not authenticated with a token", body = DetailBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
    ))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let Some(token) = caller.token else {
        return Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            "This request was not authenticated with a token; send the token to revoke as Authorization: Bearer <token>.",
        ));
    };
    state.vault.revoke_token(&token).await?;
    tracing::info!(user = %caller.account.user.id, "token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's own account and current plan.
#[utoipa::path(get, path = "/api/me/", tag = "auth",
    security(("basic" = []), ("token" = [])),
    responses(
        (status = 200, description = "The caller", body = MeBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 429, description = "Too many failed logins for this username (Basic) or from this address (bad tokens)", body = DetailBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
    ))]
pub(crate) async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MeBody>, ApiError> {
    let Caller { account, .. } = caller;
    let quota = state.vault.quota(&account).await?;
    Ok(Json(MeBody {
        id: account.user.id.as_uuid(),
        username: account.user.username.as_str().to_owned(),
        is_admin: account.user.is_admin,
        plan: account.plan.map(PlanBody::from),
        quota: quota.into(),
    }))
}
