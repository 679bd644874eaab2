//! The page shell every console page shares, and errors as pages.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use imagevault_core::VaultError;
use maud::{DOCTYPE, Markup, html};

use crate::error::{ApiError, ErrorBody};
use crate::session_cookie::CSRF_FIELD;

use super::assets;
use super::session::SignedIn;

/// What the shell needs to know about the page's viewer and the router.
#[derive(Debug, Clone)]
pub(crate) struct Viewer<'a> {
    /// The public URL's path prefix, which every link starts with.
    pub(crate) prefix: &'a str,
    /// The signed-in user, if any.
    pub(crate) signed_in: Option<&'a SignedIn>,
}

impl Viewer<'_> {
    /// A link to `path` (which starts with `/`) under the public URL's prefix.
    pub(crate) fn href(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The hidden CSRF field of a form posted with the session.
    pub(crate) fn csrf_field(&self) -> Markup {
        html! {
            @if let Some(signed_in) = self.signed_in {
                input type="hidden" name=(CSRF_FIELD) value=(signed_in.csrf_token());
            }
        }
    }
}

/// A whole page: the header with the navigation and the sign-out button, `body` in
/// `<main>`, and the embedded stylesheet and script.
pub(crate) fn page(viewer: &Viewer<'_>, title: &str, body: Markup) -> Markup {
    let version = assets::VERSION;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(signed_in) = viewer.signed_in {
                    meta name="csrf-token" content=(signed_in.csrf_token());
                }
                meta name="imagevault-prefix" content=(viewer.prefix);
                title { (title) " · imagevault" }
                link rel="stylesheet" href=(viewer.href(&format!("/static/console.css?v={version:x}")));
                script src=(viewer.href(&format!("/static/console.js?v={version:x}"))) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(viewer.href("/")) { "imagevault" }
                    @if let Some(signed_in) = viewer.signed_in {
                        nav aria-label="Main" {
                            ul {
                                li { a href=(viewer.href("/")) { "Gallery" } }
                                li { a href=(viewer.href("/account/")) { "Account" } }
                                @if signed_in.account.user.is_admin {
                                    li { a href=(viewer.href("/admin/")) { "Admin" } }
                                }
                            }
                        }
                        form #logout method="post" action=(viewer.href("/logout/")) {
                            (viewer.csrf_field())
                            span.who { "Signed in as " strong { (signed_in.account.user.username.as_str()) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    (body)
                }
            }
        }
    }
}

/// A console handler's answer.
pub(crate) type PageResult = Result<Response, PageError>;

/// A failure shown as a page: the status and message the JSON API would give, in HTML.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in: a redirect to the login page, back to `next` afterwards.
    SignIn { next: String, prefix: String },
    /// Anything else, as the API words it.
    Api { error: ApiError, prefix: String },
}

impl PageError {
    /// `error` as a page under the public URL's path `prefix`.
    pub(crate) fn new(error: impl Into<ApiError>, prefix: &str) -> Self {
        Self::Api {
            error: error.into(),
            prefix: prefix.to_owned(),
        }
    }

    /// The page of a vault error.
    pub(crate) fn vault(error: VaultError, prefix: &str) -> Self {
        Self::new(ApiError::from(error), prefix)
    }

    /// A 404 page.
    pub(crate) fn not_found(prefix: &str) -> Self {
        Self::new(ApiError::not_found(), prefix)
    }
}

/// The sentences of an API error's body, without the field names: a page shows each next
/// to its field, or in a context that names the file or form it is about.
pub(crate) fn messages(body: &ErrorBody) -> Vec<String> {
    match body {
        ErrorBody::Detail { detail } => vec![detail.clone()],
        ErrorBody::Fields(fields) => fields.values().flatten().cloned().collect(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next, prefix } => {
                let target = format!(
                    "{prefix}/login/?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                see_other(&target)
            }
            Self::Api { error, prefix } => {
                let status = error.status();
                let title = match status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Forbidden",
                    StatusCode::TOO_MANY_REQUESTS => "Too many requests",
                    status if status.is_server_error() => "Unavailable",
                    _ => "Not accepted",
                };
                let viewer = Viewer {
                    prefix: &prefix,
                    signed_in: None,
                };
                let retry_after = error
                    .headers()
                    .iter()
                    .find(|(name, _)| name == header::RETRY_AFTER)
                    .map(|(_, value)| value.clone());
                let body = html! {
                    h1 { (title) }
                    @for message in messages(error.body()) {
                        p role="alert" { (message) }
                    }
                    p { a href=(viewer.href("/")) { "Back to the gallery" } }
                };
                let mut response = (status, page(&viewer, title, body)).into_response();
                if let Some(value) = retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
        }
    }
}

/// A 303 redirect to `location`: after a form's POST, the browser GETs it.
pub(crate) fn see_other(location: &str) -> Response {
    let value = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()
}

/// A 303 redirect that also sets or clears a cookie.
pub(crate) fn see_other_with(location: &str, cookie: (HeaderName, HeaderValue)) -> Response {
    let mut response = see_other(location);
    response.headers_mut().append(cookie.0, cookie.1);
    response
}

/// A form field's error messages, next to the field, tied to it by `aria-describedby`
/// (`<field>-error`).
pub(crate) fn field_errors(field: &str, errors: &[String]) -> Markup {
    html! {
        @if !errors.is_empty() {
            ul.errorlist id=(format!("{field}-error")) role="alert" {
                @for error in errors { li { (error) } }
            }
        }
    }
}
