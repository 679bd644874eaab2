//! HTTP metrics: every request counted and timed by method, route template and status
//! class (names in [`imagevault_core::metrics`]), and the probe routes of an operations
//! listener.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Method, Request};
use axum::middleware::Next;
use axum::response::Response;
use imagevault_core::Vault;
use imagevault_core::metrics::{
    HTTP_REQUEST_SECONDS, HTTP_REQUESTS, LABEL_METHOD, LABEL_ROUTE, LABEL_STATUS, ROUTE_UNMATCHED,
};
use metrics::Label;

use crate::{AppState, RouterConfig};

/// Wraps every route of `router` in [`record_request`]. Added as a route layer of the
/// whole router, it sees the [`MatchedPath`] of each request and the final status,
/// including the timeout's and the JSON error layer's.
pub(crate) fn track_requests(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(record_request))
}

/// Counts and times one request. The route is the template the router matched (such as
/// `/api/images/{id}/`), never the path, so that ids and media keys stay out of the labels
/// and their number stays bounded.
async fn record_request(request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || ROUTE_UNMATCHED.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let response = next.run(request).await;
    // Static labels are borrowed, not copied, each time a metric takes them.
    let labels = vec![
        Label::from_static_parts(LABEL_METHOD, method),
        Label::new(LABEL_ROUTE, route),
        Label::from_static_parts(LABEL_STATUS, status_class(response.status().as_u16())),
    ];
    metrics::histogram!(HTTP_REQUEST_SECONDS, labels.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, labels).increment(1);
    response
}

/// The methods the API answers, by name; any other is `other`, so that a client cannot
/// make up label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `1xx` to `5xx`.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The API's `/healthz` and `/readyz` alone, for a listener of their own (such as a
/// metrics port, or a worker process's, which serves no API): the same answers as the
/// API's, readiness checking the vault's database, storage and queue.
///
/// ```
/// use std::sync::Arc;
/// use imagevault_core::{MemoryJobQueue, MemoryRepo, ObjectStorage, Vault};
///
/// let vault = Vault::builder()
///     .repo(Arc::new(MemoryRepo::new()))
///     .storage(Arc::new(ObjectStorage::memory()))
///     .queue(Arc::new(MemoryJobQueue::new(10_000)))
///     .build()?;
/// let probes: axum::Router = imagevault_axum::probe_router(vault);
/// # let _ = probes;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probe_router(vault: Vault) -> Router {
    crate::routes::service::routes().with_state(AppState::new(vault, RouterConfig::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_into_their_class() {
        assert_eq!(status_class(101), "1xx");
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "other");
    }
}
