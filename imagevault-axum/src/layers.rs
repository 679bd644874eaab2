//! The middleware around every route: request ids, tracing, a timeout, compression of
//! JSON, and a last pass that gives every error a JSON body.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::RouterConfig;
use crate::error::ApiError;

pub(crate) fn apply(router: Router, config: &RouterConfig) -> Router {
    let timeout = config.timeout();
    // Layers run outermost last-added: request id, tracing, compression, JSON errors,
    // timeout, then the route.
    router
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
                .make_span_with(|request: &Request<Body>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %loggable_path(request.uri().path()),
                        request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The path for logs: an expiring link's path is its secret, so only its kind is logged.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/media/exp/") {
        "/media/exp/…"
    } else {
        path
    }
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
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
