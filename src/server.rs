//! Serving the REST API with its background work in one call: the router, the in-process
//! worker, the reconciler and the sweeper, with graceful shutdown. This is what the example server
//! runs; embed it the same way.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use imagevault::backends::{BackendOptions, Backends};
//! use imagevault::server::{ServeOptions, serve};
//!
//! let backends = Backends::open(
//!     "sqlite://./imagevault-data/imagevault.db",
//!     "file://./imagevault-data/media",
//!     "memory://",
//!     &BackendOptions::default(),
//! )
//! .await?;
//! let vault = backends.vault_builder().build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! serve(listener, vault, ServeOptions::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::serve::ListenerExt;
use imagevault_axum::RouterConfig;
use imagevault_core::{SweepOptions, Vault, WorkerOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What [`serve`] runs besides the router.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The router's public URL and limits.
    pub router: RouterConfig,
    /// The in-process worker, or `None` to serve the API only (workers run elsewhere).
    pub worker: Option<WorkerOptions>,
    /// How often the reconciler re-queues lost or missing thumbnail work; `None` to leave
    /// that to other processes.
    pub reconcile_every: Option<Duration>,
    /// How often the sweeper deletes stored objects that no row refers to (see
    /// [`Vault::sweep`]); `None` to leave that to other processes.
    pub sweep_every: Option<Duration>,
    /// How the sweeper sweeps, its grace period above all.
    pub sweep: SweepOptions,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            router: RouterConfig::default(),
            worker: Some(WorkerOptions::default()),
            reconcile_every: Some(Duration::from_secs(60)),
            sweep_every: Some(Duration::from_secs(3600)),
            sweep: SweepOptions::default(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, with the worker, the
/// reconciler and the sweeper of `options` running alongside.
///
/// On shutdown it stops accepting connections, lets in-flight requests finish (up to
/// `options.shutdown_grace`), and stops the worker after the jobs it holds; a job cut
/// short is redelivered when its lease lapses, so nothing is lost.
pub async fn serve(
    listener: TcpListener,
    vault: Vault,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let stopped = move || {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    };

    let mut background = Vec::new();
    if let Some(worker) = options.worker {
        let vault = vault.clone();
        let stopped = stopped();
        background.push(tokio::spawn(async move {
            vault.run_worker(worker, stopped).await;
        }));
    }
    if let Some(interval) = options.reconcile_every {
        let vault = vault.clone();
        let stopped = stopped();
        background.push(tokio::spawn(async move {
            vault.run_reconciler(interval, stopped).await;
        }));
    }
    if let Some(interval) = options.sweep_every {
        let vault = vault.clone();
        let stopped = stopped();
        let sweep = options.sweep;
        background.push(tokio::spawn(async move {
            vault.run_sweeper(interval, sweep, stopped).await;
        }));
    }

    let app = imagevault_axum::router(vault, options.router);
    let trigger = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests and jobs");
        let _ = trigger.send(true);
    });
    let grace = options.shutdown_grace;
    // Without TCP_NODELAY a response written in two parts (headers, then a file body)
    // waits for the client's delayed ACK: about 40 ms per media request on Linux.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    // With the peer's address, so failed token logins are throttled per client.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopped())
    .into_future();
    let served = {
        let stopped = stopped();
        tokio::pin!(server);
        tokio::select! {
            served = &mut server => served,
            () = async { stopped.await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; closing");
                Ok(())
            }
        }
    };
    // Also when the server stopped on its own (an accept error), so the worker ends.
    let _ = stop_tx.send(true);
    for task in background {
        if let Err(error) = task.await {
            tracing::error!(%error, "a background task panicked");
        }
    }
    served
}
