#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod body_timeout;
mod client_address;
mod config;
#[cfg(feature = "console")]
mod console;
mod error;
mod layers;
mod metrics;
mod openapi;
mod pagination;
mod payload;
mod routes;
mod schema;
mod session_cookie;

use std::sync::Arc;

use axum::Router;
use axum::routing::MethodRouter;
use imagevault_core::Vault;

pub use self::metrics::probe_router;
pub use auth::Caller;
pub use client_address::parse_trusted_proxy;
pub use config::{ConfigError, RouterConfig};
pub use error::{ApiError, ErrorBody, FieldErrors};
/// An IP network in CIDR form, as [`RouterConfig::trusted_proxies`] takes (the `ipnet`
/// crate's).
pub use ipnet::IpNet;
pub use openapi::openapi;

/// What every handler sees: the service and the router's configuration.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) vault: Vault,
    pub(crate) config: Arc<RouterConfig>,
    /// One permit per upload body being received and stored; a permit travels with the
    /// upload's [`UploadSlot`](imagevault_core::UploadSlot) to the end of its store task.
    pub(crate) uploads: Arc<tokio::sync::Semaphore>,
    /// The last `/readyz` answer, shared by its callers.
    pub(crate) readiness: Arc<routes::service::ReadinessCache>,
}

impl AppState {
    /// The state of a router serving `vault` with `config`.
    fn new(vault: Vault, config: RouterConfig) -> Self {
        Self {
            vault,
            uploads: Arc::new(tokio::sync::Semaphore::new(config.concurrent_uploads())),
            readiness: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// An absolute URL for `path` (which starts with `/`) under the public base URL.
    pub(crate) fn absolute(&self, path: impl std::fmt::Display) -> String {
        format!("{}{path}", self.config.public_url())
    }

    /// An absolute URL for the path made of `pieces` (the first starts with `/`), written
    /// into one allocation of the right size. List pages build dozens of URLs, and the
    /// formatting machinery of [`AppState::absolute`] cost an eighth of a page's CPU time.
    pub(crate) fn absolute_from(&self, pieces: &[&str]) -> String {
        let base = self.config.public_url();
        let length = base.len() + pieces.iter().map(|piece| piece.len()).sum::<usize>();
        let mut url = String::with_capacity(length);
        url.push_str(base);
        for piece in pieces {
            url.push_str(piece);
        }
        url
    }
}

/// The whole REST API of imagevault as an axum [`Router`]: authentication, images,
/// expiring links, media, the admin API, health checks, the OpenAPI document at
/// `/api/schema/` and its interactive page at `/api/docs/`.
///
/// The router is complete: it has its own fallback (a JSON 404), request ids, tracing,
/// a request timeout and compression of JSON responses. Merge it into a larger app or serve
/// it as it is. Thumbnails are made by a worker, which this router does not start: run
/// [`Vault::run_worker`] next to it (see the crate documentation).
pub fn router(vault: Vault, config: RouterConfig) -> Router {
    let state = AppState::new(vault, config);
    let api = Router::new();
    #[cfg(feature = "console")]
    let api = api.merge(console::routes(&state));
    let api = api
        .merge(routes::service::routes())
        .merge(routes::account::routes())
        .merge(routes::images::routes(&state))
        .merge(routes::links::routes())
        .merge(routes::admin::routes())
        .merge(routes::media::routes())
        .fallback(routes::not_found)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.config.body_stall_limit(),
            body_timeout::end_stalled_bodies,
        ));
    metrics::track_requests(layers::apply(
        api.merge(openapi::docs_router(&state.config)),
        &state.config,
    ))
}

/// Registers `path` (which ends with `/`) and the same path without the slash, so both
/// spellings reach the handler without a redirect, as the API promises.
pub(crate) fn api_route(
    router: Router<AppState>,
    path: &str,
    methods: MethodRouter<AppState>,
) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    router.route(path, methods.clone()).route(bare, methods)
}
