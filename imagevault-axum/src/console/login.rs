//! `/login/`, `/logout/` and the original's `/api-auth/login/`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use imagevault_core::VaultError;
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{authenticate_password, client_address, refuse_cross_site};
use crate::error::ApiError;
use crate::session_cookie::{clear_session, presented_secret, set_session};

use super::html::{PageError, PageResult, Viewer, messages, page, see_other, see_other_with};

/// Django's words for a failed login: they do not tell which of the two was wrong.
const INVALID_LOGIN: &str =
    "Please enter a correct username and password. Note that both fields may be case-sensitive.";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `next` if it is a path on this site, else `/`: never a redirect to another host
/// (`//host`, `/\host`, a scheme) or with a control character.
pub(crate) fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

fn login_page(viewer: &Viewer<'_>, username: &str, next: &str, errors: &[String]) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        @if !errors.is_empty() {
            div.errors role="alert" id="login-error" {
                @for error in errors { p { (error) } }
            }
        }
        form #login method="post" action=(viewer.href("/login/")) {
            input type="hidden" name="next" value=(next);
            p {
                label for="id_username" { "Username" }
                input #id_username type="text" name="username" value=(username)
                    autocomplete="username" autocapitalize="none" required autofocus[username.is_empty()]
                    aria-describedby=[(!errors.is_empty()).then_some("login-error")];
            }
            p {
                label for="id_password" { "Password" }
                input #id_password type="password" name="password" autocomplete="current-password"
                    required autofocus[!username.is_empty()]
                    aria-describedby=[(!errors.is_empty()).then_some("login-error")];
            }
            p { button type="submit" { "Sign in" } }
        }
    };
    page(viewer, "Sign in", body)
}

/// `GET /login/`: the form.
pub(crate) async fn form(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
) -> Response {
    let viewer = Viewer {
        prefix: state.config.path_prefix(),
        signed_in: None,
    };
    let next = local_path(query.next.as_deref().unwrap_or("/"));
    login_page(&viewer, "", next, &[]).into_response()
}

/// `POST /login/`: a session and a redirect to `next`, or the form again with the error.
pub(crate) async fn submit(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    // A login form posted from another site would sign the victim in as the attacker.
    refuse_cross_site(&parts, &state.config).map_err(|error| PageError::new(error, prefix))?;
    let viewer = Viewer {
        prefix,
        signed_in: None,
    };
    let next = local_path(&form.next);
    let again = |status: StatusCode, errors: Vec<String>| {
        (status, login_page(&viewer, &form.username, next, &errors)).into_response()
    };
    if form.username.is_empty() || form.password.is_empty() {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            vec!["Enter both your username and your password.".to_owned()],
        ));
    }
    let client = client_address(&parts.extensions);
    let account = match authenticate_password(
        &state.vault,
        client.as_deref(),
        &form.username,
        &form.password,
    )
    .await
    {
        Ok(account) => account,
        Err(VaultError::InvalidCredentials) => {
            return Ok(again(
                StatusCode::BAD_REQUEST,
                vec![INVALID_LOGIN.to_owned()],
            ));
        }
        Err(error) => {
            // Throttled or busy: the API's words and Retry-After, on the form.
            let error = ApiError::from(error);
            let mut response = again(error.status(), messages(error.body()));
            for (name, value) in error.headers() {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            return Ok(response);
        }
    };
    // Whatever session the browser had ends: one browser, one session.
    if let Some(old) = presented_secret(&parts.headers, &state.config) {
        state
            .vault
            .end_session(&old)
            .await
            .map_err(|error| PageError::vault(error, prefix))?;
    }
    let started = state
        .vault
        .start_session(&account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let cookie = set_session(
        &state.config,
        &started.secret,
        state.vault.config().session_lifetime,
    );
    Ok(see_other_with(&format!("{prefix}{next}"), cookie))
}

/// `GET /api-auth/login/`: where DRF's browsable API signed in; the form is now at
/// `/login/`.
pub(crate) async fn legacy_login(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
) -> Response {
    let prefix = state.config.path_prefix();
    let next = local_path(query.next.as_deref().unwrap_or("/"));
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    see_other(&format!("{prefix}/login/?next={next}"))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    pub(crate) csrf: Option<String>,
}

/// `POST /logout/`: ends the session and forgets the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    if let Some(secret) = presented_secret(&parts.headers, &state.config) {
        // Signing someone out is an unsafe action like any other: only from our pages.
        crate::auth::check_csrf(&parts, &secret, form.csrf.as_deref(), &state.config)
            .map_err(|error| PageError::new(error, prefix))?;
        state
            .vault
            .end_session(&secret)
            .await
            .map_err(|error| PageError::vault(error, prefix))?;
    }
    Ok(see_other_with(
        &format!("{prefix}/login/"),
        clear_session(&state.config),
    ))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_is_followed_only_to_local_paths() {
        assert_eq!(local_path("/images/1/?a=b"), "/images/1/?a=b");
        assert_eq!(local_path("/"), "/");
        for foreign in [
            "//evil.example/",
            "/\\evil.example/",
            "https://evil.example/",
            "javascript:alert(1)",
            "",
            "images/",
            "/a\\b",
            "/a\nb",
        ] {
            assert_eq!(local_path(foreign), "/", "{foreign:?}");
        }
    }
}
