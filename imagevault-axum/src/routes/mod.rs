//! The handlers, one module per part of the API.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod images;
pub(crate) mod links;
pub(crate) mod media;
pub(crate) mod service;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::payload::Payload;

/// The fallback of the whole router: unknown routes are a JSON 404 for everyone.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// The `405` of a path that exists: `allow` lists its methods.
pub(crate) fn method_not_allowed(method: &axum::http::Method, allow: &'static str) -> Response {
    let mut response = ApiError::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed; allowed: {allow}."),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A method fallback for authenticated paths: authentication is checked before the
/// method, so an anonymous caller learns nothing beyond the 401.
macro_rules! authenticated_405 {
    ($allow:literal) => {
        |_caller: $crate::auth::Caller, method: axum::http::Method| async move {
            $crate::routes::method_not_allowed(&method, $allow)
        }
    };
}
pub(crate) use authenticated_405;

/// A method fallback for anonymous paths.
macro_rules! anonymous_405 {
    ($allow:literal) => {
        |method: axum::http::Method| async move {
            $crate::routes::method_not_allowed(&method, $allow)
        }
    };
}
pub(crate) use anonymous_405;

/// Parses a path id; a malformed one is simply not found, like an unknown or foreign one.
pub(crate) fn path_id<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, ApiError> {
    parse(text).ok_or_else(ApiError::not_found)
}

/// Reads the request body once authentication and permissions have passed, so that a
/// caller without access gets 401 or 403 whatever the body holds, as in DRF.
pub(crate) async fn payload(request: Request, state: &AppState) -> Result<Payload, ApiError> {
    Payload::from_request(request, state).await
}

/// `(StatusCode::CREATED, Location, body)`.
pub(crate) fn created(location: &str, body: impl serde::Serialize) -> Result<Response, ApiError> {
    let location = HeaderValue::from_str(location).map_err(|_| {
        ApiError::from(imagevault_core::VaultError::Internal(
            "location header".into(),
        ))
    })?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response())
}
