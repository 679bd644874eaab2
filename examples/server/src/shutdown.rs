//! The shutdown signal: SIGINT (Ctrl-C) or SIGTERM start a graceful shutdown; a second
//! one stops the process at once, for when finishing in-flight work takes too long.

use anyhow::Context as _;

/// Installs the signal handlers now, so that a signal during startup is not lost, and
/// returns a future that completes on the first SIGINT or SIGTERM.
pub(crate) fn signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut signals = Signals::install()?;
    Ok(async move {
        let name = signals.next().await;
        tracing::info!(
            signal = name,
            "shutdown requested; send it again to stop at once"
        );
        tokio::spawn(async move {
            let name = signals.next().await;
            eprintln!("imagevault: {name} again; stopping without waiting");
            std::process::exit(130);
        });
    })
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self)
    }

    /// Waits for the next Ctrl-C; without a handler, wait forever rather than stop at once.
    async fn next(&mut self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}
