//! The long-running commands, `serve` and `worker`, and `migrate`; with what they share:
//! opening the backends and creating the first administrator.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use imagevault::axum::RouterConfig;
use imagevault::backend::page::KeysetQuery;
use imagevault::backends::{self, BackendOptions, Backends, redact_url};
use imagevault::server::{ServeOptions, serve};
use imagevault::{
    ImageLimits, NewUser, Password, PlanId, Username, Vault, VaultConfig, VaultError, WorkerOptions,
};
use tokio::net::TcpListener;

use crate::cli::{Global, ServeArgs, WorkerArgs};
use crate::metrics::MetricsListener;
use crate::shutdown;

/// Opens the three backends (applying migrations) and builds the vault with the upload
/// limits of `global`.
pub(crate) async fn open_vault(global: &Global) -> anyhow::Result<Vault> {
    open_vault_with(global, |_| {}).await
}

/// [`open_vault`] with `tune` applied to the configuration last.
pub(crate) async fn open_vault_with(
    global: &Global,
    tune: impl FnOnce(&mut VaultConfig),
) -> anyhow::Result<Vault> {
    let backends = Backends::open(
        &global.database,
        &global.storage,
        &global.queue,
        &backend_options(global),
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the backends (database {}, storage {}, queue {})",
            redact_url(&global.database),
            redact_url(&global.storage),
            redact_url(&global.queue)
        )
    })?;
    let vault = backends
        .vault_builder()
        .config({
            let mut config = VaultConfig::default();
            config.limits = ImageLimits {
                max_bytes: global.max_upload_bytes,
                max_pixels: global.max_pixels,
            };
            config.job_lease = Duration::from_secs(global.job_lease_secs);
            config.full_reconcile_every = Duration::from_secs(global.full_reconcile_every_secs);
            config.login_throttle.failures_before_delay = global.login_failures_before_delay;
            config.login_throttle.username_failures_before_delay =
                global.login_failures_per_username;
            config.login_throttle.client_failures_before_delay = global.login_failures_per_address;
            if let Some(concurrency) = global.password_hash_concurrency {
                config.password_hash_concurrency = usize::try_from(concurrency)?;
            }
            config.password_hash_queue = global.password_hash_queue;
            config.verified_login_ttl = Duration::from_secs(global.verified_login_secs);
            config.token_ttl = global.token_ttl_secs.map(Duration::from_secs);
            config.session_idle_timeout = Duration::from_secs(global.session_idle_timeout_secs);
            config.session_lifetime = Duration::from_secs(global.session_lifetime_secs);
            config.decode_memory_bytes = global.decode_memory_bytes;
            tune(&mut config);
            config
        })
        .build()?;
    Ok(vault)
}

fn backend_options(global: &Global) -> BackendOptions {
    BackendOptions {
        migrate: true,
        max_connections: global.max_connections,
        acquire_timeout: Duration::from_secs(global.database_timeout_secs),
        queue_prefix: global.queue_prefix.clone(),
        queue_ca_file: global.queue_ca_file.clone(),
        ..BackendOptions::default()
    }
}

/// `migrate`: opening the database applies the embedded migrations.
pub(crate) async fn migrate(global: &Global) -> anyhow::Result<()> {
    backends::open_repo(&global.database, &backend_options(global))
        .await
        .with_context(|| {
            format!(
                "cannot migrate the database {}",
                redact_url(&global.database)
            )
        })?;
    println!(
        "the database {} is migrated and ready",
        redact_url(&global.database)
    );
    Ok(())
}

/// Whether `url` names the in-process queue, which only a worker in the same process sees.
pub(crate) fn is_in_process_queue(url: &str) -> bool {
    url.starts_with("memory:")
}

/// `serve`: the API, and unless `--no-worker` the worker, the reconciler and the sweeper,
/// until a signal.
pub(crate) async fn serve_command(global: &Global, args: ServeArgs) -> anyhow::Result<()> {
    if args.no_worker && is_in_process_queue(&global.queue) {
        bail!(
            "--no-worker needs a queue that worker processes share, but the queue is {:?}: \
             nobody would make the thumbnails of the in-process queue; drop --no-worker, or \
             give --queue (IMAGEVAULT_QUEUE) a shared queue",
            redact_url(&global.queue)
        );
    }
    let shutdown = shutdown::signal()?;
    let metrics = MetricsListener::bind(&args.metrics).await?;
    let vault = open_vault_with(global, |config| {
        config.max_uploads_per_user = args.connections.max_uploads_per_user;
    })
    .await?;
    if let Some(metrics) = metrics {
        metrics.spawn(&vault);
    }
    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {:?} (--bind)", args.bind))?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let public_url = match &args.public_url {
        Some(url) => url.clone(),
        None => default_public_url(address),
    };
    let router = RouterConfig::new(&public_url)
        .context("invalid --public-url (IMAGEVAULT_PUBLIC_URL)")?
        .request_timeout(args.request_timeout())
        .max_concurrent_uploads(usize::from(args.max_concurrent_uploads))
        .body_read_timeout(args.connections.body_read_timeout())
        .trusted_proxies(args.trusted_proxies.iter().copied());

    create_first_admin(&vault, global, &args).await?;

    let sweeper = args.sweeper.schedule().filter(|_| !args.no_worker);
    let mut options = ServeOptions {
        router,
        worker: (!args.no_worker).then(|| worker_options(args.worker_concurrency)),
        // With --no-worker the `worker` processes run the reconciler and the sweeper.
        reconcile_every: (!args.no_worker).then(|| args.reconciler.every()),
        sweep_every: sweeper.as_ref().map(|(every, _)| *every),
        sweep: sweeper.map(|(_, sweep)| sweep).unwrap_or_default(),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        ..ServeOptions::default()
    };
    args.connections.apply(&mut options);
    tracing::info!(
        %address,
        public_url,
        worker = !args.no_worker,
        database = redact_url(&global.database),
        storage = redact_url(&global.storage),
        queue = redact_url(&global.queue),
        "serving"
    );
    // Scripts and tests read this line to find the port when it was 0.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "imagevault listening on http://{address}")
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    drop(stdout);

    // Registered before the first upload, so that every row it leases names it; released
    // once the worker has stopped (see `hold_work`).
    let holding = hold_work(&vault).await?;
    let served = serve(listener, vault, options, shutdown).await;
    holding.release().await;
    served.context("the server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// This process's hold on thumbnail work: registered as a work holder, heartbeating until
/// [`release`](Self::release)d, so that another process (or this one, restarted after a
/// crash) takes up its pending work at once once it is gone, and never while it runs.
struct WorkHold {
    stop: tokio::sync::oneshot::Sender<()>,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// Registers `vault` as a work holder and starts its heartbeat.
async fn hold_work(vault: &Vault) -> anyhow::Result<WorkHold> {
    let holder = vault
        .register_work_holder()
        .await
        .context("cannot register this process as a work holder")?;
    tracing::debug!(%holder, "registered as a work holder");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let vault = vault.clone();
    let heartbeat = tokio::spawn(async move {
        vault
            .run_work_holder(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(WorkHold { stop, heartbeat })
}

impl WorkHold {
    /// Stops the heartbeat and unregisters, once the work this process does has stopped:
    /// what it still held is then free at once.
    async fn release(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.heartbeat.await {
            tracing::warn!(%error, "the work holder's heartbeat failed");
        }
    }
}

/// `http://<address>`, with a loopback address in place of an unspecified one
/// (`0.0.0.0`, `::`), which no client can use.
fn default_public_url(address: SocketAddr) -> String {
    let reachable = reachable_address(address);
    if reachable != address {
        tracing::warn!(
            %address,
            "listening on all interfaces: absolute urls in responses use {}; set --public-url to the address clients use",
            reachable.ip()
        );
    }
    format!("http://{reachable}")
}

/// `address`, or for an unspecified one (`0.0.0.0`, `::`), which no client can connect
/// to, the loopback address of its family on the same port.
pub(crate) fn reachable_address(mut address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        address.set_ip(loopback);
    }
    address
}

fn worker_options(concurrency: u16) -> WorkerOptions {
    let mut options = WorkerOptions::default();
    options.concurrency = usize::from(concurrency);
    options
}

/// `worker`: jobs, reconciliation and sweeping, without the API, until a signal.
pub(crate) async fn worker_command(global: &Global, args: WorkerArgs) -> anyhow::Result<()> {
    if is_in_process_queue(&global.queue) {
        bail!(
            "the worker command needs a queue shared between processes, but the queue is {:?}: \
             an in-process queue cannot be shared, so this worker would never see a job; \
             run `serve` (which has a worker of its own) or give --queue (IMAGEVAULT_QUEUE) \
             a shared queue",
            redact_url(&global.queue)
        );
    }
    let shutdown = shutdown::signal()?;
    let metrics = MetricsListener::bind(&args.metrics).await?;
    let vault = open_vault(global).await?;
    if let Some(metrics) = metrics {
        metrics.spawn(&vault);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(
        concurrency = args.concurrency,
        queue = redact_url(&global.queue),
        "worker started"
    );
    let sweeper = async {
        if let Some((every, options)) = args.sweeper.schedule() {
            vault.run_sweeper(every, options, stopped()).await;
        }
    };
    let holding = hold_work(&vault).await?;
    tokio::join!(
        vault.run_worker(worker_options(args.concurrency), stopped()),
        vault.run_reconciler(args.reconciler.every(), stopped()),
        sweeper,
    );
    holding.release().await;
    tracing::info!("worker stopped");
    Ok(())
}

/// On the first start (no users at all), creates the administrator so that the API can be
/// used at once: with the configured password, or a generated one printed once.
async fn create_first_admin(
    vault: &Vault,
    global: &Global,
    args: &ServeArgs,
) -> anyhow::Result<()> {
    let any_user = vault
        .repo()
        .list_users(&KeysetQuery::first(1))
        .await
        .map_err(VaultError::from)
        .context("cannot check for existing users")?;
    if !any_user.is_empty() {
        return Ok(());
    }
    let username = Username::parse(&args.admin_username)
        .context("invalid IMAGEVAULT_ADMIN_USERNAME (--admin-username)")?;
    let (password, generated) = match &args.admin_password {
        Some(password) => (
            Password::new(password.as_str())
                .context("invalid IMAGEVAULT_ADMIN_PASSWORD (--admin-password)")?,
            false,
        ),
        None => (Password::new(generate_password()?)?, true),
    };
    // The built-in Enterprise plan grants everything; it may have been deleted since.
    let plan = vault
        .repo()
        .get_plan(PlanId::ENTERPRISE)
        .await
        .map_err(VaultError::from)?
        .map(|plan| plan.id);
    let shown = password.expose().to_owned();
    match vault
        .bootstrap_user(NewUser {
            username: username.clone(),
            password,
            plan,
            is_admin: true,
        })
        .await
    {
        Ok(_) => {}
        // Another process starting at the same moment created it first.
        Err(VaultError::Validation(error)) if error.field == "username" => return Ok(()),
        Err(error) => return Err(error).context("cannot create the first administrator"),
    }
    if generated {
        // Not in the log, which is collected and kept by other people and programs: in a
        // file only the server's user can read, and stderr says where.
        let file = data_directory(global).join(ADMIN_PASSWORD_FILE);
        write_private(&file, &format!("{shown}\n")).with_context(|| {
            format!(
                "cannot write the generated administrator password to {}",
                file.display()
            )
        })?;
        eprintln!(
            "\n\
             ==================================================================\n\
             First start: created the administrator \"{username}\" with a generated\n\
             password, written to {} (readable by this user only).\n\
             Keep it somewhere safe, then delete the file.\n\
             \n\
             Change it with `imagevault-server admin set-password {username}`,\n\
             or set IMAGEVAULT_ADMIN_PASSWORD before the first start.\n\
             ==================================================================\n",
            file.display()
        );
    } else {
        tracing::info!(%username, "first start: created the administrator with IMAGEVAULT_ADMIN_PASSWORD");
    }
    Ok(())
}

/// The file, in the data directory, that receives a generated administrator password.
pub(crate) const ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// Where the server keeps its local data: the directory of a SQLite database, else the
/// directory of `file://` storage, else the working directory.
fn data_directory(global: &Global) -> PathBuf {
    if let Some(file) = backends::sqlite_file(&global.database) {
        return file
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    }
    global
        .storage
        .strip_prefix("file://")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Writes `contents` to a new or truncated file with mode 0600 (and makes an existing
/// file 0600 too, before writing).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// 20 URL-safe characters from 15 random bytes: about 120 bits. Never starting with `-`,
/// so the password can follow `--password` on a command line as it is.
fn generate_password() -> anyhow::Result<String> {
    loop {
        let mut bytes = [0u8; 15];
        getrandom::fill(&mut bytes)
            .map_err(|error| anyhow::anyhow!("no randomness for a password: {error}"))?;
        let password = URL_SAFE_NO_PAD.encode(bytes);
        if !password.starts_with('-') {
            return Ok(password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_url_safe() {
        let password = generate_password().unwrap();
        assert_eq!(password.len(), 20);
        assert!(
            password
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(password, generate_password().unwrap());
    }

    #[test]
    fn unspecified_addresses_become_loopback_in_urls() {
        assert_eq!(
            default_public_url("0.0.0.0:8000".parse().unwrap()),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            default_public_url("[::]:8000".parse().unwrap()),
            "http://[::1]:8000"
        );
        assert_eq!(
            default_public_url("127.0.0.1:41234".parse().unwrap()),
            "http://127.0.0.1:41234"
        );
    }
}
