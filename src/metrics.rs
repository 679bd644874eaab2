//! Prometheus metrics on a listener of their own: `GET /metrics` in Prometheus' text format,
//! with `/healthz` and `/readyz`, so that a `worker` process, which serves no API, can be
//! scraped and probed too. This is what the example server's `--metrics-bind` runs; embed
//! it the same way.
//!
//! The metrics themselves, their names and labels, are those of
//! [`imagevault_core::metrics`]. Install the exporter before recording anything: until
//! then every recording is a no-op, which is also how metrics are turned off.
//!
//! ```no_run
//! # async fn run(vault: imagevault::Vault) -> Result<(), Box<dyn std::error::Error>> {
//! use imagevault::metrics::{MetricsExporter, serve_metrics};
//!
//! let exporter = MetricsExporter::install()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
//! serve_metrics(listener, vault, exporter, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use imagevault_core::Vault;
use imagevault_core::metrics::{
    LATENCY_BUCKETS, LATENCY_HISTOGRAMS, UPLOAD_TO_READY_BUCKETS, UPLOAD_TO_READY_SECONDS,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Why the exporter could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The exporter refused its configuration, or a recorder was already installed in this
    /// process (there is one per process).
    #[error("cannot install the Prometheus metrics recorder: {0}")]
    Install(#[from] metrics_exporter_prometheus::BuildError),
}

/// The process's Prometheus recorder, which renders what was recorded; clones share it.
#[derive(Debug, Clone)]
pub struct MetricsExporter {
    handle: PrometheusHandle,
}

impl MetricsExporter {
    /// Installs the Prometheus recorder for the whole process, with the histogram buckets
    /// of [`imagevault_core::metrics`], and registers every metric's description.
    ///
    /// # Errors
    ///
    /// [`MetricsError::Install`] when a recorder is already installed.
    pub fn install() -> Result<Self, MetricsError> {
        let mut builder = PrometheusBuilder::new().set_buckets_for_metric(
            Matcher::Full(UPLOAD_TO_READY_SECONDS.to_owned()),
            UPLOAD_TO_READY_BUCKETS,
        )?;
        for name in LATENCY_HISTOGRAMS {
            builder = builder
                .set_buckets_for_metric(Matcher::Full((*name).to_owned()), LATENCY_BUCKETS)?;
        }
        let handle = builder.install_recorder()?;
        imagevault_core::metrics::describe();
        Ok(Self { handle })
    }

    /// Everything recorded so far, in Prometheus' text format.
    pub fn render(&self) -> String {
        // Without the exporter's own HTTP listener nothing else drains the histograms.
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// `GET /metrics` (the gauges sampled from `vault` first, see [`Vault::record_gauges`]),
/// `/healthz` and `/readyz` (see [`imagevault_axum::probe_router`]).
pub fn metrics_router(vault: Vault, exporter: MetricsExporter) -> Router {
    let metrics = Router::new()
        .route("/metrics", get(scrape))
        .with_state((vault.clone(), exporter));
    imagevault_axum::probe_router(vault).merge(metrics)
}

async fn scrape(State((vault, exporter)): State<(Vault, MetricsExporter)>) -> impl IntoResponse {
    vault.record_gauges().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], exporter.render())
}

/// Serves [`metrics_router`] on `listener` until `shutdown` completes.
///
/// # Errors
///
/// What the listener fails with.
pub async fn serve_metrics(
    listener: TcpListener,
    vault: Vault,
    exporter: MetricsExporter,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(vault, exporter))
        .with_graceful_shutdown(shutdown)
        .await
}
