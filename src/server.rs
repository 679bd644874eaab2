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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use imagevault_axum::RouterConfig;
use imagevault_core::{SweepOptions, Vault, WorkerOptions};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tower::ServiceExt as _;

#[cfg(target_os = "linux")]
mod file_send;

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
    /// The longest a connection may take to send a request's header, counted from when the
    /// server starts waiting for it (the connection opened, or the previous response was
    /// sent). A client that trickles its header in byte by byte is disconnected then.
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in progress and no byte
    /// received before it is closed. Above `header_read_timeout` it has no effect: the
    /// header timer also runs while a connection waits for its next request.
    pub keep_alive_timeout: Duration,
    /// The most connections served at once. Further ones wait in the listener's accept
    /// backlog (the kernel completes their handshake; nothing is read from them) until a
    /// served connection closes. With the two timeouts, this bounds what slow or idle
    /// clients can hold: file descriptors, buffers and tasks.
    pub max_open_connections: usize,
}

impl ServeOptions {
    /// The default of [`ServeOptions::reconcile_every`]: a minute.
    pub const DEFAULT_RECONCILE_EVERY: Duration = Duration::from_secs(60);
    /// The default of [`ServeOptions::sweep_every`]: an hour.
    pub const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(3600);
    /// The default of [`ServeOptions::shutdown_grace`]: 30 s.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    /// The default of [`ServeOptions::header_read_timeout`].
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default of [`ServeOptions::keep_alive_timeout`].
    pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default of [`ServeOptions::max_open_connections`]: well under the usual limit
    /// of 1024 open files, leaving room for database connections and media files.
    pub const DEFAULT_MAX_OPEN_CONNECTIONS: usize = 512;
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            router: RouterConfig::default(),
            worker: Some(WorkerOptions::default()),
            reconcile_every: Some(Self::DEFAULT_RECONCILE_EVERY),
            sweep_every: Some(Self::DEFAULT_SWEEP_EVERY),
            sweep: SweepOptions::default(),
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: Self::DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_open_connections: Self::DEFAULT_MAX_OPEN_CONNECTIONS,
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
    let limits = ConnectionLimits {
        header_read_timeout: options.header_read_timeout,
        keep_alive_timeout: options.keep_alive_timeout,
        max_open_connections: options.max_open_connections.max(1),
    };
    let server = accept_loop(listener, app, limits, stopped());
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

/// The connection-level bounds of [`ServeOptions`].
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    max_open_connections: usize,
}

/// Accepts connections while fewer than `max_open_connections` are open and serves each
/// on a task of its own, until `stopped`; then asks every connection to finish its
/// request in progress and close, and waits for them all.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stopped: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_open_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Each connection task holds a sender; `recv` answers `None` once all have ended.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(stopped);
    loop {
        // The slot is taken before `accept`: over the cap, connections wait in the kernel.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut stopped => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little instead of spinning, as axum::serve does.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        // Without TCP_NODELAY a response written in two parts (headers, then a file body)
        // waits for the client's delayed ACK on every media request.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = Arc::clone(&activity);
            let app = app.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                // With the peer's address, so failed logins are throttled per client.
                request.extensions_mut().insert(ConnectInfo(peer));
                let request_running = activity.request_started();
                let response = app.clone().oneshot(request.map(Body::new));
                async move {
                    let response = response.await;
                    drop(request_running);
                    response
                }
            })
        };
        let io = TokioIo::new(WatchedStream {
            stream,
            activity: Arc::clone(&activity),
        });
        let connection = http.serve_connection(io, service);
        let keep_alive_timeout = limits.keep_alive_timeout;
        let mut stop = stop_rx.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = open;
            tokio::pin!(connection);
            let mut closing = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(error) = served {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = activity.idle_for(keep_alive_timeout), if !closing => {
                        tracing::debug!(%peer, "closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = stop.wait_for(|stop| *stop), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_tx);
    let _ = open_rx.recv().await;
    Ok(())
}

/// What a connection is doing, for its keep-alive timer: requests in progress, and when
/// it last received a byte or finished a request.
#[derive(Debug)]
struct Activity {
    started: Instant,
    running: AtomicUsize,
    /// Milliseconds from `started` to the last byte received or request finished.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            running: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(elapsed, Ordering::Relaxed);
    }

    fn request_started(self: &Arc<Self>) -> RequestRunning {
        self.running.fetch_add(1, Ordering::Relaxed);
        RequestRunning(Arc::clone(self))
    }

    /// Completes once the connection has had no request in progress and received nothing
    /// for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.last_ms.load(Ordering::Relaxed);
            tokio::time::sleep_until(self.started + Duration::from_millis(last) + limit).await;
            if self.running.load(Ordering::Relaxed) > 0 {
                // A request in progress is bounded by the request timeout, not this one;
                // its end counts as activity, so look again a period later.
                tokio::time::sleep(limit).await;
            } else if self.last_ms.load(Ordering::Relaxed) == last {
                return;
            }
        }
    }
}

/// A request in progress on a connection; its end counts as activity.
struct RequestRunning(Arc<Activity>);

impl Drop for RequestRunning {
    fn drop(&mut self) {
        self.0.touch();
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that notes in its [`Activity`] every read that received bytes.
struct WatchedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        #[cfg(target_os = "linux")]
        return file_send::poll_write(&mut self.stream, cx, buf);
        #[cfg(not(target_os = "linux"))]
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        #[cfg(target_os = "linux")]
        return file_send::poll_write_vectored(&mut self.stream, cx, bufs);
        #[cfg(not(target_os = "linux"))]
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
