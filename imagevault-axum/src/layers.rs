//! The middleware around every route: request ids, tracing, a timeout, compression of
//! JSON, and a last pass that gives every error a JSON body.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use imagevault_core::User;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::field::{Empty, display};
use tracing::{Level, Span};

use crate::client_address::{self, ClientAddress};
use crate::config::RouterConfig;
use crate::error::ApiError;

pub(crate) fn apply(router: Router, config: &RouterConfig) -> Router {
    let timeout = config.timeout();
    // Layers run outermost last-added: request id, client address, tracing, compression,
    // JSON errors, timeout, then the route (whose template a route layer records, as only
    // the router knows it).
    router
        .route_layer(axum::middleware::map_request(record_route))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(axum::middleware::map_response(move |response| {
            finish_response(response, timeout.as_secs())
        }))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response)
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(axum::middleware::map_request_with_state(
            config.shared_trusted_proxies(),
            client_address::insert,
        ))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// The span of one request, which every log line of the request carries: its id, method,
/// path (capability URLs redacted) and client address, and, recorded once known, its route
/// template and the authenticated user's id.
fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let client_address = request
        .extensions()
        .get::<ClientAddress>()
        .map(|ClientAddress(address)| display(address));
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
        request_id,
        client_address,
        route = Empty,
        user_id = Empty,
    )
}

/// Records the route template (`/api/images/{id}/`, never the raw path with its ids) on
/// the request's span.
async fn record_route(request: Request<Body>) -> Request<Body> {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        Span::current().record("route", route.as_str());
    }
    request
}

/// Records the authenticated user's id on the request's span, wherever authentication
/// succeeds.
pub(crate) fn record_user(user: &User) {
    Span::current().record("user_id", display(&user.id));
}

/// The request's completion line: status and latency in milliseconds, as numbers.
fn log_response(response: &Response<Body>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency_ms(latency),
        "finished processing request"
    );
}

/// Milliseconds with microsecond precision: `1.234`.
fn latency_ms(latency: Duration) -> f64 {
    // Whole microseconds first, so the figure has no float noise (`1.2340000000000002`).
    let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
    f64::from(micros) / 1000.0
}

/// The longest client-supplied `X-Request-Id` that is kept.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's `X-Request-Id` may be kept: it goes into every log line of the
/// request and back in the response, so only short plain ids are (no log injection, no
/// oversized lines, nothing a log reader could mistake for another field).
fn usable_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Removes a client's `X-Request-Id` that may not be kept, so that the next layer puts a
/// generated one in its place.
async fn drop_unusable_request_id(mut request: Request<Body>) -> Request<Body> {
    let headers = request.headers_mut();
    let usable = {
        let mut ids = headers.get_all(REQUEST_ID).iter();
        match (ids.next(), ids.next()) {
            (Some(id), None) => usable_request_id(id.as_bytes()),
            (None, _) => true,
            (Some(_), Some(_)) => false,
        }
    };
    if !usable {
        headers.remove(REQUEST_ID);
    }
    request
}

const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The kinds of media path whose name may be logged; anything else after `/media/` is
/// logged as `…` too.
const MEDIA_KINDS: [&str; 3] = ["imageupload", "thumbnail", "exp"];

/// The path for logs. Media paths are capabilities (whoever has one gets the file), so
/// only their kind is logged, never the random segments.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/media/") {
        Some(rest) => {
            let kind = rest.split('/').next().unwrap_or_default();
            if MEDIA_KINDS.contains(&kind) {
                format!("/media/{kind}/…").into()
            } else {
                "/media/…".into()
            }
        }
        None => path.into(),
    }
}

/// The `Content-Security-Policy` of HTML pages, chosen from what the one page, the
/// Swagger UI at `/api/docs/`, loads: its scripts, style sheets and icons from this
/// server, `data:` images from its style sheet, inline `style` attributes that its
/// components set, and requests (the schema, "Try it out") to this server. Nothing may
/// frame it, and it has no forms of its own to post elsewhere. The console's pages use
/// `style` attributes too, for each image's average colour behind its thumbnails while
/// they load; without `'unsafe-inline'` they would only lose that colour.
pub(crate) const HTML_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
     script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// Whether a response is an HTML page.
fn is_html(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .get(..9)
                .is_some_and(|essence| essence.eq_ignore_ascii_case("text/html"))
        })
}

/// Gives an error that some layer answered without a body (a timeout, a framework
/// rejection) the API's JSON shape, and marks every response `nosniff`.
async fn finish_response(mut response: Response<Body>, timeout_secs: u64) -> Response<Body> {
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let detail = if status == StatusCode::SERVICE_UNAVAILABLE {
            format!("The request took longer than {timeout_secs} s and was stopped; try again.")
        } else {
            format!(
                "{}.",
                status.canonical_reason().unwrap_or("The request failed")
            )
        };
        let headers = std::mem::take(response.headers_mut());
        let mut replaced = ApiError::detail(status, detail).into_response();
        for (name, value) in &headers {
            if name != header::CONTENT_LENGTH {
                replaced.headers_mut().append(name, value.clone());
            }
        }
        response = replaced;
    }
    if is_html(&response) {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_are_logged_by_kind_only() {
        let dir = "0193a6c4-5f1e-7b2a-9c3d-4e5f6a7b8c9d";
        for (path, logged) in [
            (
                format!("/media/thumbnail/{dir}/{dir}.png"),
                "/media/thumbnail/…",
            ),
            (
                format!("/media/imageupload/{dir}/{dir}.jpg"),
                "/media/imageupload/…",
            ),
            (format!("/media/exp/{dir}/{dir}.jpg"), "/media/exp/…"),
            (format!("/media/{dir}/{dir}.jpg"), "/media/…"),
            ("/api/images/".to_owned(), "/api/images/"),
        ] {
            assert_eq!(loggable_path(&path), logged);
        }
    }

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(usable_request_id(b"0193a6c4-5f1e-7b2a"));
        assert!(usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN]));
        assert!(!usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(!usable_request_id(b""));
        assert!(!usable_request_id(b"id with spaces"));
        assert!(!usable_request_id(b"id\"quoted"));
        assert!(!usable_request_id("idé".as_bytes()));
    }
}
