//! `/account/`: the signed-in user's plan and usage, a password change, "sign out
//! everywhere", and the user's API tokens.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use imagevault_core::{Account, QuotaStatus, TokenId, TokenInfo, VaultError};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;
use crate::auth::client_address;
use crate::error::ApiError;
use crate::session_cookie::{clear_session, set_session};

use super::format;
use super::html::{
    PageError, PageResult, Viewer, field_errors, messages, page, see_other, see_other_with,
};
use super::login::CsrfForm;
use super::session::SignedIn;

/// Django's words when the two new passwords differ.
const PASSWORDS_DIFFER: &str = "The two password fields didn’t match.";

/// What a form just did, named in the redirect's query (`?done=`) so that the page can say
/// so after the 303; only these known names are shown, never text from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Password,
    TokenRevoked,
}

impl Done {
    const PASSWORD: &'static str = "password";
    const TOKEN_REVOKED: &'static str = "token-revoked";

    fn parse(text: &str) -> Option<Self> {
        match text {
            Self::PASSWORD => Some(Self::Password),
            Self::TOKEN_REVOKED => Some(Self::TokenRevoked),
            _ => None,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Password => {
                "Your password has been changed. Your other sessions and your API tokens have \
                 ended; this browser stays signed in."
            }
            Self::TokenRevoked => {
                "The token has been revoked; programs using it can no longer sign in."
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccountQuery {
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password2: String,
}

/// Why a password change was refused, field by field.
#[derive(Debug, Default)]
struct PasswordErrors {
    form: Vec<String>,
    old_password: Vec<String>,
    new_password: Vec<String>,
    new_password2: Vec<String>,
}

impl PasswordErrors {
    fn is_empty(&self) -> bool {
        self.form.is_empty()
            && self.old_password.is_empty()
            && self.new_password.is_empty()
            && self.new_password2.is_empty()
    }
}

fn password_input(id: &str, label: &str, autocomplete: &str, errors: &[String]) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) type="password" name=(id) autocomplete=(autocomplete) required
                aria-describedby=[(!errors.is_empty()).then(|| format!("{id}-error"))]
                aria-invalid=[(!errors.is_empty()).then_some("true")];
            (field_errors(id, errors))
        }
    }
}

fn plan_facts(account: &Account) -> Markup {
    html! {
        @match &account.plan {
            None => p.notice #no-plan { "You have no plan yet; ask an administrator to assign one." },
            Some(plan) => {
                dl.facts #plan {
                    dt { "Plan" } dd.plan-name { (plan.name.as_str()) }
                    dt { "Thumbnail heights" }
                    dd.plan-heights {
                        @if plan.thumbnail_heights.as_slice().is_empty() {
                            "None"
                        } @else {
                            @for (index, height) in plan.thumbnail_heights.as_slice().iter().enumerate() {
                                @if index > 0 { ", " }
                                (height.get()) " px"
                            }
                        }
                    }
                    dt { "Link to the original" } dd.plan-original { (format::yes_no(plan.original_link)) }
                    dt { "Expiring links" } dd.plan-expiring { (format::yes_no(plan.expiring_links)) }
                }
            }
        }
    }
}

fn optional_time(at: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> Markup {
    html! {
        @match at {
            Some(at) => (format::time(at)),
            None => (none),
        }
    }
}

fn tokens_table(viewer: &Viewer<'_>, tokens: &[TokenInfo]) -> Markup {
    html! {
        @if tokens.is_empty() {
            p #tokens-empty { "You have no API tokens. Programs get one by signing in at /api/auth/token/." }
        } @else {
            table #tokens {
                caption.visually-hidden { "Your API tokens" }
                thead {
                    tr {
                        th scope="col" { "Created" }
                        th scope="col" { "Last used" }
                        th scope="col" { "Expires" }
                        th scope="col" { "Revoke" }
                    }
                }
                tbody {
                    @for token in tokens {
                        tr data-token-id=(token.id.as_str()) {
                            td { (optional_time(Some(token.created_at), "")) }
                            td { (optional_time(token.last_used_at, "Never")) }
                            td { (optional_time(token.expires_at, "Never")) }
                            td {
                                form.inline-form.revoke-token method="post"
                                    action=(viewer.href(&format!("/account/tokens/{}/revoke/", token.id.as_str())))
                                    data-confirm="Revoke this token? Programs using it can no longer sign in." {
                                    (viewer.csrf_field())
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn account_page(
    viewer: &Viewer<'_>,
    account: &Account,
    quota: QuotaStatus,
    tokens: &[TokenInfo],
    done: Option<Done>,
    errors: &PasswordErrors,
) -> Markup {
    let body = html! {
        h1 { "Your account" }
        @if let Some(done) = done {
            p.message-ok role="status" { (done.message()) }
        }
        section aria-labelledby="plan-heading" {
            h2 #plan-heading { "Plan" }
            (plan_facts(account))
        }
        section aria-labelledby="usage-heading" {
            h2 #usage-heading { "Usage" }
            dl.facts #usage {
                dt { "Images" } dd.usage-images {
                    (quota.usage.images)
                    @if let Some(limit) = quota.limits.max_images { " of " (limit) " allowed" }
                }
                dt { "Storage used" } dd.usage-bytes {
                    (format::size(quota.usage.bytes)) " (" (quota.usage.bytes) " bytes, originals)"
                    @if let Some(limit) = quota.limits.max_bytes {
                        " of " (format::size(limit)) " (" (limit) " bytes) allowed"
                    }
                }
            }
            @if quota.is_full() {
                p.notice #quota-full role="status" {
                    "You have reached your quota: delete images to upload new ones."
                }
            }
        }
        section aria-labelledby="password-heading" {
            h2 #password-heading { "Change password" }
            @if !errors.form.is_empty() {
                div.errors role="alert" #change-password-error {
                    @for error in &errors.form { p { (error) } }
                }
            }
            form #change-password method="post" action=(viewer.href("/account/password/")) {
                (viewer.csrf_field())
                // The username lets password managers file the new password under it.
                input type="text" name="username" value=(account.user.username.as_str())
                    autocomplete="username" hidden;
                (password_input("old_password", "Current password", "current-password", &errors.old_password))
                (password_input("new_password", "New password", "new-password", &errors.new_password))
                (password_input("new_password2", "New password again", "new-password", &errors.new_password2))
                p.help { "Changing it signs you out everywhere else and ends your API tokens." }
                button type="submit" { "Change password" }
            }
        }
        section aria-labelledby="sessions-heading" {
            h2 #sessions-heading { "Sessions" }
            p { "Signed in on another computer you no longer use? End every session, this one included." }
            form #sign-out-everywhere method="post" action=(viewer.href("/account/sessions/end/"))
                data-confirm="Sign out on every browser, this one included?" {
                (viewer.csrf_field())
                button.danger type="submit" { "Sign out everywhere" }
            }
        }
        section aria-labelledby="tokens-heading" {
            h2 #tokens-heading { "API tokens" }
            (tokens_table(viewer, tokens))
        }
    };
    page(viewer, "Your account", body)
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    done: Option<Done>,
    errors: &PasswordErrors,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let account = &signed_in.account;
    let quota = state
        .vault
        .quota(account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let tokens = state
        .vault
        .list_own_tokens(account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let viewer = Viewer {
        prefix,
        signed_in: Some(signed_in),
    };
    Ok((
        status,
        account_page(&viewer, account, quota, &tokens, done, errors),
    )
        .into_response())
}

/// `GET /account/`: the account page.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<AccountQuery>,
) -> PageResult {
    let done = query.done.as_deref().and_then(Done::parse);
    render(
        &state,
        &signed_in,
        StatusCode::OK,
        done,
        &PasswordErrors::default(),
    )
    .await
}

/// `POST /account/password/`: changes the password after checking the current one. Every
/// session and token of the user ends; this browser gets a new session.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    parts: Parts,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    let account = &signed_in.account;
    let mut errors = PasswordErrors::default();
    let mut status = StatusCode::BAD_REQUEST;
    let mut extra_headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if form.new_password != form.new_password2 {
        errors.new_password2.push(PASSWORDS_DIFFER.to_owned());
    } else {
        let client = client_address(&parts.extensions);
        let changed = state
            .vault
            .change_own_password(
                account,
                &form.old_password,
                &form.new_password,
                client.as_deref(),
            )
            .await;
        match changed {
            Ok(()) => {}
            Err(VaultError::Validation(error)) => match error.field {
                "old_password" => errors.old_password.push(error.message),
                "new_password" => errors.new_password.push(error.message),
                _ => errors.form.push(error.message),
            },
            Err(error @ (VaultError::Throttled { .. } | VaultError::Busy { .. })) => {
                // Too many tries, or the password checks are saturated: the API's words
                // and Retry-After, on the form.
                let error = ApiError::from(error);
                status = error.status();
                errors.form = messages(error.body());
                extra_headers = error.headers().to_vec();
            }
            Err(error) => return Err(PageError::vault(error, prefix)),
        }
    }
    if !errors.is_empty() {
        let mut response = render(&state, &signed_in, status, None, &errors).await?;
        for (name, value) in extra_headers {
            response.headers_mut().insert(name, value);
        }
        return Ok(response);
    }
    // The change ended every session, this browser's too: it gets a new one, as Django's
    // update_session_auth_hash keeps the user signed in.
    let started = state
        .vault
        .start_session(account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let cookie = set_session(
        &state.config,
        &started.secret,
        state.vault.config().session_lifetime,
    );
    Ok(see_other_with(
        &format!("{prefix}/account/?done={}", Done::PASSWORD),
        cookie,
    ))
}

/// `POST /account/sessions/end/`: ends every session of the user, this one included.
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    state
        .vault
        .end_own_sessions(&signed_in.account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other_with(
        &format!("{prefix}/login/"),
        clear_session(&state.config),
    ))
}

/// `POST /account/tokens/<id>/revoke/`: revokes one of the user's API tokens.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = TokenId::parse(&id).ok_or_else(|| PageError::not_found(prefix))?;
    state
        .vault
        .revoke_own_token(&signed_in.account, &id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other(&format!(
        "{prefix}/account/?done={}#tokens-heading",
        Done::TOKEN_REVOKED
    )))
}
