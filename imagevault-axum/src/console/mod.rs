//! The web console (feature `console`): HTML pages on the same router and the same
//! [`Vault`](imagevault_core::Vault) as the JSON API, as the Django original offered its
//! login page, the browsable API and the admin.
//!
//! Every page works without JavaScript: forms post, and answer a redirect (303) on success
//! or the form again, with the field's error next to the field, on bad input. The script
//! adds drag and drop, per-file upload progress and live thumbnail status. Pages hold no
//! business rule: they call the vault and show its errors, as the API does.

mod account;
mod admin;
mod assets;
mod format;
mod gallery;
mod html;
mod image;
mod links;
mod login;
mod session;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::AppState;

/// The console's routes.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    // An upload form may carry several files, each up to the vault's byte limit.
    let per_file =
        state.vault.config().limits.max_bytes + crate::routes::images::MULTIPART_OVERHEAD;
    let form_limit = per_file.saturating_mul(gallery::MAX_FILES_PER_FORM as u64);
    let form_limit = usize::try_from(form_limit).unwrap_or(usize::MAX);
    Router::new()
        .route("/login/", get(login::form).post(login::submit))
        .route("/api-auth/login/", get(login::legacy_login))
        .route("/logout/", post(login::logout))
        .route("/", get(gallery::gallery))
        .route(
            "/upload/",
            post(gallery::upload).layer(DefaultBodyLimit::max(form_limit)),
        )
        .route(
            "/static/{file}",
            get(assets::serve).fallback(assets::other_method),
        )
        // User pages: the image page, its expiring links, the account.
        .route("/images/{id}/", get(image::show))
        .route(
            "/images/{id}/delete/",
            get(image::confirm_delete).post(image::delete),
        )
        .route("/images/{id}/links/", post(links::create))
        .route("/links/{id}/", post(links::update))
        .route("/links/{id}/delete/", post(links::delete))
        .route("/account/", get(account::show))
        .route("/account/password/", post(account::change_password))
        .route("/account/sessions/end/", post(account::end_sessions))
        .route("/account/tokens/{id}/revoke/", post(account::revoke_token))
        // The administrators' console (dashboard, users, plans, images).
        .merge(admin::routes())
}
