//! [`ApiError`]: every failure as a Django REST Framework shaped JSON response.
//!
//! This is the one place where errors become status codes. Field errors are
//! `{"field": ["message", ...]}` with 400; everything else is `{"detail": "message"}`.
//! Server-side failures are logged here with their cause chain and answered with a generic
//! body, so no internal detail reaches a client.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use imagevault_core::{ImageError, ValidationError, VaultError};
use serde::Serialize;

/// The `Retry-After` of an upload refused because its user has the most uploads in
/// progress: an upload is typically stored within a second or two of its last byte.
const UPLOAD_RETRY_AFTER_SECS: u64 = 2;

/// The body of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ErrorBody {
    /// `{"detail": "..."}`.
    Detail {
        /// What went wrong, as a sentence.
        detail: String,
    },
    /// `{"field": ["message", ...], ...}`, in field name order.
    Fields(BTreeMap<String, Vec<String>>),
}

/// An HTTP error response: a status, a DRF-shaped JSON body and any extra headers.
///
/// Handlers return `Result<_, ApiError>`; a [`VaultError`] converts with `?`.
///
/// ```
/// use axum::http::StatusCode;
/// use imagevault_axum::ApiError;
///
/// let error = ApiError::not_found();
/// assert_eq!(error.status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Field errors collected while reading a request, reported together as DRF does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Records `message` against `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// Records a [`ValidationError`].
    pub fn add_validation(&mut self, error: ValidationError) {
        self.add(error.field, error.message);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else the 400 response.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::fields(self))
        }
    }
}

impl ApiError {
    /// An error with a `detail` message.
    pub fn detail(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::Detail {
                detail: detail.into(),
            },
            headers: Vec::new(),
        }
    }

    /// A 400 with field errors.
    pub fn fields(errors: FieldErrors) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody::Fields(errors.0),
            headers: Vec::new(),
        }
    }

    /// A 400 with one field error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Self::fields(errors)
    }

    /// 404 `{"detail": "Not found."}`.
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }

    /// 401 with the `WWW-Authenticate` challenges this API accepts.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::detail(StatusCode::UNAUTHORIZED, detail)
            .with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"imagevault\""),
            )
            .with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"imagevault\""),
            )
    }

    /// 408 for a request whose body stopped arriving for `idle` (see
    /// [`RouterConfig::body_read_timeout`](crate::RouterConfig::body_read_timeout)).
    pub(crate) fn body_stalled(idle: std::time::Duration) -> Self {
        Self::detail(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "No bytes of the request body arrived for {} s, the most the server waits; send the body without pauses.",
                idle.as_secs_f64()
            ),
        )
        .with_header(header::CONNECTION, HeaderValue::from_static("close"))
    }

    /// 413 for a body over `limit` bytes.
    pub fn payload_too_large(limit: u64) -> Self {
        Self::detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The upload is larger than the limit of {limit} bytes ({}); send a smaller file.",
                human_bytes(limit)
            ),
        )
    }

    /// 429 as DRF's throttling answers it, with `Retry-After` in whole seconds (rounded up).
    pub fn throttled(retry_after: std::time::Duration) -> Self {
        let seconds = whole_seconds(retry_after);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        Self::detail(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Request was throttled. Expected available in {seconds} {unit}."),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// 503 for work refused because too much of its kind is running (password checks), with
    /// `Retry-After` in whole seconds (rounded up).
    pub fn busy(retry_after: std::time::Duration) -> Self {
        let seconds = whole_seconds(retry_after);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        Self::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Too many logins are being checked; try again in {seconds} {unit}."),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// Adds a response header (several values of one name are all sent).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The headers the response adds, such as `Retry-After`.
    pub(crate) fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

/// A wait in whole seconds for `Retry-After`: rounded up, at least 1.
fn whole_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

/// Turns a library message (lowercase, no final stop, as Rust errors are written) into the
/// sentence a DRF client expects.
pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

fn human_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

impl From<VaultError> for ApiError {
    fn from(error: VaultError) -> Self {
        match &error {
            VaultError::Image(ImageError::TooLarge { limit, .. }) => {
                Self::payload_too_large(*limit)
            }
            VaultError::Image(image) => Self::field("image", sentence(&image.to_string())),
            VaultError::TooLarge { limit } => Self::payload_too_large(*limit),
            VaultError::Validation(invalid) => Self::field(invalid.field, invalid.message.clone()),
            VaultError::InvalidCredentials => Self::unauthorized("Invalid username/password."),
            VaultError::Throttled { retry_after } => Self::throttled(*retry_after),
            VaultError::TooManyUploads { limit } => Self::detail(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "You have {limit} uploads in progress already, the most one user may have at once; send this one when one of them has finished."
                ),
            )
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from(UPLOAD_RETRY_AFTER_SECS),
            ),
            VaultError::Busy { retry_after } => Self::busy(*retry_after),
            // Django REST framework's PermissionDenied: the message names the limit and
            // the usage, so the client can tell the user what to delete.
            VaultError::QuotaExceeded(refusal) => {
                Self::detail(StatusCode::FORBIDDEN, refusal.to_string())
            }
            VaultError::NoPlan => Self::detail(
                StatusCode::FORBIDDEN,
                "You have no plan; ask an administrator to assign one.",
            ),
            VaultError::PlanForbids(_) => {
                Self::detail(StatusCode::FORBIDDEN, sentence(&error.to_string()))
            }
            VaultError::AdminOnly => Self::detail(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
            ),
            VaultError::NotFound => Self::not_found(),
            VaultError::LinkExpired => Self::detail(StatusCode::GONE, "This link has expired."),
            VaultError::Conflict(message) => Self::detail(StatusCode::CONFLICT, sentence(message)),
            VaultError::Repo(_) | VaultError::Storage(_) | VaultError::Queue(_) => {
                tracing::error!(error = %error_chain(&error), code = error.code(), "backend failure");
                let part = match &error {
                    VaultError::Repo(_) => "The database",
                    VaultError::Storage(_) => "Storage",
                    _ => "The job queue",
                };
                Self::detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{part} is unavailable; try again later."),
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
            }
            _ => {
                tracing::error!(error = %error_chain(&error), code = error.code(), "internal error");
                Self::detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "A server error occurred.",
                )
            }
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::field(error.field, error.message)
    }
}

/// The error and its sources, `: `-separated, for one log line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_messages_become_sentences() {
        assert_eq!(sentence("the file is empty"), "The file is empty.");
        assert_eq!(sentence("Already one."), "Already one.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn limits_read_naturally() {
        assert_eq!(human_bytes(25 * 1024 * 1024), "25 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(1000), "1000 B");
    }

    #[test]
    fn field_errors_collect_per_field() {
        let mut errors = FieldErrors::default();
        errors.add("b", "one");
        errors.add("a", "two");
        errors.add("b", "three");
        let error = errors.into_result().unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let json = serde_json::to_value(error.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"a": ["two"], "b": ["one", "three"]})
        );
    }

    #[test]
    fn throttling_is_429_with_retry_after_rounded_up() {
        use std::time::Duration;
        for (wait, seconds, detail) in [
            (
                Duration::from_millis(1),
                "1",
                "Expected available in 1 second.",
            ),
            (
                Duration::from_secs(1),
                "1",
                "Expected available in 1 second.",
            ),
            (
                Duration::from_millis(1500),
                "2",
                "Expected available in 2 seconds.",
            ),
            (
                Duration::from_secs(60),
                "60",
                "Expected available in 60 seconds.",
            ),
        ] {
            let error = ApiError::from(VaultError::Throttled { retry_after: wait });
            assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
            let response = error.into_response();
            assert_eq!(response.headers()[header::RETRY_AFTER], seconds);
            let error = ApiError::throttled(wait);
            assert_eq!(
                serde_json::to_value(error.body()).unwrap(),
                serde_json::json!({"detail": format!("Request was throttled. {detail}")})
            );
        }
    }

    #[test]
    fn backend_failures_are_503_without_internals() {
        let error = ApiError::from(VaultError::Internal("secret detail".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let json = serde_json::to_value(error.body()).unwrap();
        assert!(!json.to_string().contains("secret"));
    }
}
