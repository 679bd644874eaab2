//! `--metrics-bind`: Prometheus metrics, `/healthz` and `/readyz` on a listener of their
//! own, for `serve` and `worker` (the library's `imagevault::metrics`).

use std::io::Write as _;

use anyhow::Context as _;
use imagevault::Vault;
use imagevault::metrics::{MetricsExporter, serve_metrics};
use tokio::net::TcpListener;

use crate::cli::MetricsArgs;
use crate::run::reachable_address;

/// The metrics listener, bound and with the recorder installed, not yet serving.
#[derive(Debug)]
pub(crate) struct MetricsListener {
    listener: TcpListener,
    exporter: MetricsExporter,
}

impl MetricsListener {
    /// With `--metrics-bind`: installs the recorder (before the vault records anything),
    /// binds the address and prints it on stdout as `imagevault metrics on http://...`,
    /// which scripts and tests read to find the port when it was 0. Without: `None`, and
    /// nothing is recorded.
    pub(crate) async fn bind(args: &MetricsArgs) -> anyhow::Result<Option<Self>> {
        let Some(bind) = &args.metrics_bind else {
            return Ok(None);
        };
        let listener = TcpListener::bind(bind).await.with_context(|| {
            format!(
                "cannot listen on {bind:?} (--metrics-bind, IMAGEVAULT_METRICS_BIND); give an \
                 address and port such as 127.0.0.1:9100"
            )
        })?;
        let address = listener
            .local_addr()
            .context("cannot read the bound metrics address")?;
        let exporter = MetricsExporter::install()?;
        tracing::info!(%address, "serving metrics");
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "imagevault metrics on http://{}",
            reachable_address(address)
        )
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
        Ok(Some(Self { listener, exporter }))
    }

    /// Serves the metrics of `vault` in a task of its own for the rest of the process: it
    /// goes on answering while the API and the worker finish their work on shutdown, so
    /// that the drain can be watched.
    pub(crate) fn spawn(self, vault: &Vault) {
        let vault = vault.clone();
        tokio::spawn(async move {
            let served =
                serve_metrics(self.listener, vault, self.exporter, std::future::pending()).await;
            if let Err(error) = served {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
    }
}
