//! The command line: global backend options, and one subcommand per way of running.
//!
//! Every option can also come from an `IMAGEVAULT_*` environment variable, so a container
//! or a service unit configures the server without flags.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use imagevault::axum::RouterConfig;
use imagevault::backends::BackendOptions;
use imagevault::core::{
    DEFAULT_DECODE_MEMORY_BYTES, DEFAULT_MAX_UPLOADS_PER_USER, DEFAULT_SESSION_IDLE_TIMEOUT,
    DEFAULT_SESSION_LIFETIME, ThumbnailHeight,
};
use imagevault::core::{QuotaLimits, QuotaOverride, QuotaResource, ThumbnailFormats};
use imagevault::server::ServeOptions;
use imagevault::{ImageLimits, Password, SweepOptions, ThrottleConfig, VaultConfig, WorkerOptions};

/// [`WorkerOptions::DEFAULT_CONCURRENCY`] as the type of `--worker-concurrency`.
const DEFAULT_WORKER_CONCURRENCY: u16 = narrow(WorkerOptions::DEFAULT_CONCURRENCY);
/// [`RouterConfig::DEFAULT_MAX_CONCURRENT_UPLOADS`] as the type of
/// `--max-concurrent-uploads`.
const DEFAULT_MAX_CONCURRENT_UPLOADS: u16 = narrow(RouterConfig::DEFAULT_MAX_CONCURRENT_UPLOADS);

/// A library default as a `u16` option's default; one that does not fit stops the build.
const fn narrow(default: usize) -> u16 {
    assert!(
        default <= u16::MAX as usize,
        "the default does not fit the option"
    );
    default as u16
}

/// The imagevault server: the REST API, the thumbnail worker and administration.
///
/// With no command it serves the API with an in-process worker (`serve`).
#[derive(Debug, Parser)]
#[command(name = "imagevault-server", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Where the data lives and how uploads are bounded; shared by every command.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Database URL: `sqlite://<path>`, `postgres://...` or `memory://`
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_DATABASE",
        default_value = "sqlite://./imagevault-data/imagevault.db",
        hide_env_values = true
    )]
    pub(crate) database: String,

    /// Storage URL for originals and thumbnails: `file://<directory>`, `s3://bucket/prefix`
    /// (endpoint, region and credentials from the usual `AWS_*` variables) or `memory://`
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_STORAGE",
        default_value = "file://./imagevault-data/media",
        hide_env_values = true
    )]
    pub(crate) storage: String,

    /// Job queue URL: `memory://` (in-process; needs the worker in the same process) or
    /// `redis://host:port/db`, shared by API and worker processes; `rediss://host:port/db`
    /// for Redis over TLS
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_QUEUE",
        default_value = "memory://",
        hide_env_values = true
    )]
    pub(crate) queue: String,

    /// Key prefix of a Redis queue, so that installations can share one Redis server
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_QUEUE_PREFIX",
        default_value = BackendOptions::DEFAULT_QUEUE_PREFIX
    )]
    pub(crate) queue_prefix: String,

    /// PEM file of the CA certificates a `rediss://` queue's certificate must chain to,
    /// instead of the system's CA store (for a private CA)
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_QUEUE_CA_FILE",
        value_name = "FILE"
    )]
    pub(crate) queue_ca_file: Option<std::path::PathBuf>,

    /// Seconds a worker holds a thumbnail job before another worker may take it over (a
    /// worker that died mid-job loses nothing: its job comes back after this lease)
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_JOB_LEASE_SECS",
        default_value_t = VaultConfig::DEFAULT_JOB_LEASE.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) job_lease_secs: u64,
    /// Seconds between the reconciler's full passes, which read every image to find
    /// thumbnails missing for a changed plan whose backfill job was lost; its other passes
    /// only look up lapsed leases in an index. A full pass also runs at start
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_FULL_RECONCILE_EVERY_SECS",
        default_value_t = VaultConfig::DEFAULT_FULL_RECONCILE_EVERY.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) full_reconcile_every_secs: u64,

    /// Database connections per process
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_MAX_CONNECTIONS",
        default_value_t = BackendOptions::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) max_connections: u32,

    /// Seconds a request waits for a PostgreSQL connection before it answers 503: while the
    /// database cannot be reached, every request that needs it waits this long
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_DATABASE_TIMEOUT_SECS",
        default_value_t = BackendOptions::DEFAULT_ACQUIRE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) database_timeout_secs: u64,

    /// Largest accepted upload, in bytes
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_MAX_UPLOAD_BYTES",
        default_value_t = ImageLimits::DEFAULT_MAX_BYTES,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) max_upload_bytes: u64,

    /// Largest accepted image area (width × height) in pixels
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_MAX_PIXELS",
        default_value_t = ImageLimits::DEFAULT_MAX_PIXELS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) max_pixels: u64,

    /// Bytes that thumbnail renders running at once may take together, each weighed by what
    /// its decode needs (a progressive JPEG's coefficients, a 16-bit PNG's rows); a render
    /// waits for its share, and one larger than the whole budget runs alone
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_DECODE_MEMORY_BYTES",
        default_value_t = DEFAULT_DECODE_MEMORY_BYTES,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) decode_memory_bytes: u64,

    /// Seconds an API token works after it is issued; without it (the default) a token
    /// works until it is revoked (`DELETE /api/auth/token/`, a password change, or
    /// `admin revoke-tokens`)
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_TOKEN_TTL_SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) token_ttl_secs: Option<u64>,

    /// Seconds a web console session may go unused before it ends and the browser must
    /// sign in again
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_SESSION_IDLE_TIMEOUT_SECS",
        default_value_t = DEFAULT_SESSION_IDLE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) session_idle_timeout_secs: u64,

    /// Seconds a web console session lasts at most after signing in, however much it is
    /// used
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_SESSION_LIFETIME_SECS",
        default_value_t = DEFAULT_SESSION_LIFETIME.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) session_lifetime_secs: u64,

    // The help states the library's delays, which this option does not change.
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_LOGIN_FAILURES_BEFORE_DELAY",
        help = format!(
            "Failed logins in a row allowed before the next one must wait ({} s, doubling up \
             to {} s): per username from one client address for passwords, per client address \
             for tokens. Raise it only for trusted load, such as API fuzzing",
            ThrottleConfig::default().base_delay.as_secs(),
            ThrottleConfig::default().max_delay.as_secs(),
        ),
        default_value_t = ThrottleConfig::DEFAULT_FAILURES_BEFORE_DELAY,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) login_failures_before_delay: u32,

    /// Failed password logins for one username from all client addresses together before
    /// the next must wait, so that guessing spread over many addresses is slowed too
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_LOGIN_FAILURES_PER_USERNAME",
        default_value_t = ThrottleConfig::DEFAULT_USERNAME_FAILURES_BEFORE_DELAY,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) login_failures_per_username: u32,

    /// Failed password logins from one client address (IPv6: its /64), whatever the
    /// usernames, before the next must wait
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = ThrottleConfig::DEFAULT_CLIENT_FAILURES_BEFORE_DELAY,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) login_failures_per_address: u32,

    /// Password checks (argon2) run at once, apart from thumbnail rendering (default: half
    /// the CPUs, at least 1)
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_PASSWORD_HASH_CONCURRENCY",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) password_hash_concurrency: Option<u64>,

    /// Password checks that may wait for a running one; logins beyond that get 503 with
    /// Retry-After
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_PASSWORD_HASH_QUEUE",
        default_value_t = VaultConfig::DEFAULT_PASSWORD_HASH_QUEUE
    )]
    pub(crate) password_hash_queue: usize,

    /// Seconds a successful password check is remembered (under a keyed hash), so that
    /// Basic clients do not pay for one per request; 0 turns it off. A password change made
    /// by another process is seen as soon as the database's change feed reports it
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_VERIFIED_LOGIN_SECS",
        default_value_t = VaultConfig::DEFAULT_VERIFIED_LOGIN_TTL.as_secs()
    )]
    pub(crate) verified_login_secs: u64,

    /// Log filter, such as `info` or `imagevault=debug,info` (default: `RUST_LOG` if set,
    /// else `info`, or `warn` for migrate and admin)
    #[arg(long, global = true, env = "IMAGEVAULT_LOG")]
    pub(crate) log: Option<String>,

    /// Log line format: `text` for people, `json` for one JSON object per line (event
    /// fields at the top level, the request's fields under `span`)
    #[arg(
        long,
        global = true,
        env = "IMAGEVAULT_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub(crate) log_format: LogFormat,
}

/// The format of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One line of text per event, colored on a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the REST API, with a worker, reconciler and sweeper unless --no-worker (the
    /// default command)
    Serve(ServeArgs),
    /// Process thumbnail jobs, reconcile and sweep, without the API, until SIGINT or SIGTERM
    Worker(WorkerArgs),
    /// Apply the database migrations and exit
    Migrate,
    /// Delete stored originals and thumbnails that no database row refers to (left by a
    /// crash mid-upload or mid-delete) once older than the grace period, and print a report
    Sweep(SweepArgs),
    /// Manage users and plans directly in the database
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Exit 0 when the server listening on --bind answers `GET /healthz` with 200 in time,
    /// else 1: a container HEALTHCHECK that needs no curl
    Healthcheck(HealthcheckArgs),
    /// Print the shell completion script to standard output, e.g. `imagevault-server
    /// completions bash > /usr/share/bash-completion/completions/imagevault-server`
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
}

/// The address `serve` listens on, and `healthcheck` asks, by default.
const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// Options of `healthcheck`.
#[derive(Debug, Args)]
pub(crate) struct HealthcheckArgs {
    /// The address the server listens on; a wildcard such as 0.0.0.0:8000 is asked on loopback
    #[arg(long, env = "IMAGEVAULT_BIND", default_value = DEFAULT_BIND)]
    pub(crate) bind: String,

    /// How long the answer may take, in seconds
    #[arg(
        long,
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=300)
    )]
    pub(crate) timeout_secs: u64,
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, env = "IMAGEVAULT_BIND", default_value = DEFAULT_BIND)]
    pub(crate) bind: String,

    /// Base URL of absolute links in responses (default: `http://<bound address>`)
    #[arg(long, env = "IMAGEVAULT_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,

    /// Serve the API only; thumbnails are made by `worker` processes (needs a shared queue)
    #[arg(long, env = "IMAGEVAULT_NO_WORKER")]
    pub(crate) no_worker: bool,

    /// Thumbnail jobs processed at once by the in-process worker
    #[arg(
        long,
        env = "IMAGEVAULT_WORKER_CONCURRENCY",
        default_value_t = DEFAULT_WORKER_CONCURRENCY,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub(crate) worker_concurrency: u16,

    /// Time limit for one request, uploads included, in seconds
    #[arg(
        long,
        env = "IMAGEVAULT_REQUEST_TIMEOUT_SECS",
        default_value_t = RouterConfig::DEFAULT_REQUEST_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) request_timeout_secs: u64,

    /// Uploads received at once; each holds up to --max-upload-bytes in memory until it is
    /// stored, and later ones wait
    #[arg(
        long,
        env = "IMAGEVAULT_MAX_CONCURRENT_UPLOADS",
        default_value_t = DEFAULT_MAX_CONCURRENT_UPLOADS,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub(crate) max_concurrent_uploads: u16,

    /// How long in-flight requests may run after a shutdown signal, in seconds
    #[arg(
        long,
        env = "IMAGEVAULT_SHUTDOWN_GRACE_SECS",
        default_value_t = ServeOptions::DEFAULT_SHUTDOWN_GRACE.as_secs()
    )]
    pub(crate) shutdown_grace_secs: u64,

    /// Username of the administrator created on first start (when there are no users)
    #[arg(long, env = "IMAGEVAULT_ADMIN_USERNAME", default_value = "admin")]
    pub(crate) admin_username: String,

    /// Password of that administrator (default: generated and printed once to stderr)
    #[arg(long, env = "IMAGEVAULT_ADMIN_PASSWORD", hide_env_values = true)]
    pub(crate) admin_password: Option<String>,

    /// Proxies whose `Forwarded` or `X-Forwarded-For` headers are believed for the client
    /// address in logs and login throttles: comma-separated networks in CIDR form
    /// (`10.0.0.0/8,fd00::/8`) or single addresses (default: none; the peer is the client)
    #[arg(
        long,
        env = "IMAGEVAULT_TRUSTED_PROXIES",
        value_name = "CIDR,...",
        value_delimiter = ',',
        value_parser = imagevault::axum::parse_trusted_proxy
    )]
    pub(crate) trusted_proxies: Vec<imagevault::axum::IpNet>,

    #[command(flatten)]
    pub(crate) reconciler: ReconcilerArgs,

    #[command(flatten)]
    pub(crate) sweeper: SweeperArgs,

    #[command(flatten)]
    pub(crate) connections: ConnectionArgs,

    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

impl ServeArgs {
    /// What plain `imagevault-server` runs: the defaults of `serve`, overridable by the
    /// environment as for `serve` itself.
    pub(crate) fn from_environment() -> Self {
        #[derive(Debug, Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        // With no arguments only a bad environment variable can fail here; clap then exits
        // with the same message `serve` would give.
        Only::parse_from(["imagevault-server"]).serve
    }

    /// The request timeout as a duration.
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Options of `worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Jobs processed at once
    #[arg(
        long,
        env = "IMAGEVAULT_WORKER_CONCURRENCY",
        default_value_t = DEFAULT_WORKER_CONCURRENCY,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub(crate) concurrency: u16,

    #[command(flatten)]
    pub(crate) reconciler: ReconcilerArgs,

    #[command(flatten)]
    pub(crate) sweeper: SweeperArgs,

    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

/// The metrics listener of `serve` and `worker`.
#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// Address of a listener of its own for Prometheus metrics (`GET /metrics`), `/healthz`
    /// and `/readyz`, such as 127.0.0.1:9100; port 0 picks a free port. Off by default
    #[arg(long, env = "IMAGEVAULT_METRICS_BIND", value_name = "ADDR")]
    pub(crate) metrics_bind: Option<String>,
}

/// The periodic reconciler of `serve` (with its worker) and `worker`.
#[derive(Debug, Args)]
pub(crate) struct ReconcilerArgs {
    /// Seconds between reconciler passes, which re-queue thumbnail work the queue lost or
    /// never got (it was down at upload time), once that work's job lease has lapsed (see
    /// --full-reconcile-every-secs for the passes that read every image)
    #[arg(
        long,
        env = "IMAGEVAULT_RECONCILE_EVERY_SECS",
        default_value_t = ServeOptions::DEFAULT_RECONCILE_EVERY.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) reconcile_every_secs: u64,
}

impl ReconcilerArgs {
    /// The interval as a duration.
    pub(crate) fn every(&self) -> Duration {
        Duration::from_secs(self.reconcile_every_secs)
    }
}

/// The periodic sweeper of `serve` (with its worker) and `worker`.
#[derive(Debug, Args)]
pub(crate) struct SweeperArgs {
    /// Seconds between sweeper passes, which delete stored objects no database row refers
    /// to; 0 turns the sweeper off
    #[arg(
        long,
        env = "IMAGEVAULT_SWEEP_EVERY_SECS",
        default_value_t = ServeOptions::DEFAULT_SWEEP_EVERY.as_secs()
    )]
    pub(crate) sweep_every_secs: u64,

    /// Seconds an unreferenced object is kept before the sweeper deletes it; longer than
    /// any upload or thumbnail job takes
    #[arg(
        long,
        env = "IMAGEVAULT_SWEEP_GRACE_SECS",
        default_value_t = SweepOptions::DEFAULT_GRACE.as_secs()
    )]
    pub(crate) sweep_grace_secs: u64,
}

impl SweeperArgs {
    /// How often and how to sweep, or `None` when the sweeper is off.
    pub(crate) fn schedule(&self) -> Option<(Duration, SweepOptions)> {
        (self.sweep_every_secs > 0).then(|| {
            (
                Duration::from_secs(self.sweep_every_secs),
                SweepOptions::with_grace(Duration::from_secs(self.sweep_grace_secs)),
            )
        })
    }
}

/// Options of `sweep`.
#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    /// Seconds an unreferenced object is kept; objects younger than this may belong to an
    /// upload in progress, so lower it only while nothing else runs
    #[arg(
        long,
        env = "IMAGEVAULT_SWEEP_GRACE_SECS",
        default_value_t = SweepOptions::DEFAULT_GRACE.as_secs()
    )]
    pub(crate) grace_secs: u64,

    /// Report what would be deleted (and log each object) without deleting anything
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create a user
    CreateUser {
        /// Login name: letters, digits and @ . + - _
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Plan name or id; none by default (a user without a plan cannot upload)
        #[arg(long)]
        plan: Option<String>,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password; this revokes all of the user's API tokens
    SetPassword {
        /// The user
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Revoke all of a user's API tokens, so that every device must log in again
    RevokeTokens {
        /// The user
        username: String,
    },
    /// Assign a plan to a user, or `none` to remove it
    SetPlan {
        /// The user
        username: String,
        /// Plan name or id, or `none`
        plan: String,
    },
    /// Grant or revoke administration
    SetAdmin {
        /// The user
        username: String,
        /// `true` or `false`
        #[arg(action = clap::ArgAction::Set)]
        is_admin: bool,
    },
    /// Create a plan
    CreatePlan {
        /// Unique plan name
        name: String,
        #[arg(
            long,
            required = true,
            value_delimiter = ',',
            num_args = 1..,
            help = format!(
                "Thumbnail heights in pixels, comma separated (each {} to {}, no duplicates)",
                ThumbnailHeight::MIN,
                ThumbnailHeight::MAX,
            )
        )]
        heights: Vec<u32>,
        #[arg(long, value_parser = thumbnail_formats, default_value = "original", help = format!(
            "The formats each thumbnail is made in, comma separated: {} (must include \
             original; webp adds a WebP file of each thumbnail)",
            ThumbnailFormats::allowed_values()
        ))]
        thumbnail_formats: ThumbnailFormats,
        /// Link the original upload in responses
        #[arg(long)]
        original_link: bool,
        /// Allow expiring links
        #[arg(long)]
        expiring_links: bool,
        #[arg(long, value_parser = images_limit, help = format!(
            "The most images each user may keep (0 to {}); no limit by default",
            QuotaLimits::MAX_IMAGES
        ))]
        max_images: Option<u64>,
        #[arg(long, value_parser = bytes_limit, help = format!(
            "The most bytes of originals each user may keep (0 to {}); no limit by default",
            QuotaLimits::MAX_BYTES
        ))]
        max_bytes: Option<u64>,
        /// Remove private metadata (EXIF but the orientation, XMP, IPTC, comments, text
        /// chunks) from uploads before their originals are stored
        #[arg(long)]
        strip_metadata: bool,
    },
    /// List every plan
    ListPlans,
    /// List every user, with their usage against their limits
    ListUsers,
    // ---- Quotas ----
    /// Override a user's plan limits: a number, `unlimited` (whatever the plan says) or
    /// `plan` (take the plan's limit again); a limit may be set below the usage, which
    /// then blocks uploads until enough is deleted
    #[command(group(clap::ArgGroup::new("limits").required(true).multiple(true)))]
    SetQuota {
        /// The user
        username: String,
        /// N, `unlimited` or `plan`: the most images the user may keep
        #[arg(long, group = "limits", value_parser = images_override)]
        max_images: Option<QuotaOverride>,
        /// N, `unlimited` or `plan`: the most bytes of originals the user may keep
        #[arg(long, group = "limits", value_parser = bytes_override)]
        max_bytes: Option<QuotaOverride>,
    },

    // ---- Bulk tools: thumbnails and imports ----
    /// Thumbnails of every user: how far they are, retrying failures, making them again
    #[command(subcommand)]
    Thumbnails(ThumbnailsCommand),
    /// Import PNG and JPEG files, and directory trees of them, as one user, through the
    /// same checks and limits as an upload. Other files are skipped with a reason, bad ones
    /// reported, and files the user already has (same content) skipped, so an interrupted
    /// import can simply be run again. Exits 1 if any file failed
    Import(ImportArgs),
}

/// `admin thumbnails` subcommands.
///
/// With the in-process queue (`memory://`) the commands that make thumbnails make them
/// before they exit, showing progress; with a shared queue they queue the work for the
/// worker processes and exit.
#[derive(Debug, Subcommand)]
pub(crate) enum ThumbnailsCommand {
    /// Count thumbnails pending, ready and failed by plan, and the failures by reason with
    /// a few of their images
    Status,
    /// Make every failed thumbnail again
    RetryFailed,
    /// Make again every thumbnail of the users of a plan, or of one user (after a change
    /// to how thumbnails are made); ready ones stay served until replaced
    #[command(group = clap::ArgGroup::new("whose").required(true).multiple(false))]
    Regenerate {
        /// The plan (name or id) whose users' thumbnails to make again
        #[arg(long, group = "whose")]
        plan: Option<String>,
        /// The user whose thumbnails to make again
        #[arg(long, group = "whose")]
        user: Option<String>,
    },
}

/// Files `admin import` reads and stores at once, by default.
const DEFAULT_IMPORT_CONCURRENCY: u16 = 4;

/// Options of `admin import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The user who will own the images (their plan's limits and quotas apply)
    #[arg(long, value_name = "USERNAME")]
    pub(crate) user: String,

    /// Files and directories to import; directories are read recursively
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<std::path::PathBuf>,

    /// Files read and stored at once
    #[arg(
        long,
        default_value_t = DEFAULT_IMPORT_CONCURRENCY,
        value_parser = clap::value_parser!(u16).range(1..=64)
    )]
    pub(crate) concurrency: u16,
}

/// `--thumbnail-formats` of a plan, with the core's rules and words.
fn thumbnail_formats(text: &str) -> Result<ThumbnailFormats, String> {
    ThumbnailFormats::parse(text).map_err(|error| error.message)
}

/// `--max-images` of a plan, with the core's bounds and words.
fn images_limit(text: &str) -> Result<u64, String> {
    plan_limit(QuotaResource::Images, text)
}

/// `--max-bytes` of a plan.
fn bytes_limit(text: &str) -> Result<u64, String> {
    plan_limit(QuotaResource::Bytes, text)
}

fn plan_limit(resource: QuotaResource, text: &str) -> Result<u64, String> {
    match QuotaLimits::parse(resource, "limit", text) {
        Ok(Some(limit)) => Ok(limit),
        Ok(None) => Err("empty; leave the option out for no limit".to_owned()),
        Err(error) => Err(error.message),
    }
}

/// `--max-images` of `set-quota`.
fn images_override(text: &str) -> Result<QuotaOverride, String> {
    QuotaOverride::parse(QuotaResource::Images, "max_images", text).map_err(|error| error.message)
}

/// `--max-bytes` of `set-quota`.
fn bytes_override(text: &str) -> Result<QuotaOverride, String> {
    QuotaOverride::parse(QuotaResource::Bytes, "max_bytes", text).map_err(|error| error.message)
}

/// Where a new password comes from.
#[derive(Debug, Args)]
pub(crate) struct PasswordArgs {
    #[arg(
        long,
        env = "IMAGEVAULT_PASSWORD",
        hide_env_values = true,
        help = format!(
            "The password (at least {} characters); prefer --password-stdin or \
             IMAGEVAULT_PASSWORD, which stay out of the process list and shell history",
            Password::MIN_CHARS,
        )
    )]
    pub(crate) password: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

// ---- Slow clients and connections (serve) ----

/// How `serve` bounds what slow, idle or greedy clients can hold.
#[derive(Debug, Args)]
pub(crate) struct ConnectionArgs {
    /// Seconds a connection may take to send a request's header, counted from when the
    /// server starts waiting for it (connection opened or previous response sent)
    #[arg(
        long,
        env = "IMAGEVAULT_HEADER_READ_TIMEOUT_SECS",
        default_value_t = ServeOptions::DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) header_read_timeout_secs: u64,

    /// Seconds a connection may stay open with no request in progress and nothing
    /// received; no effect above --header-read-timeout-secs
    #[arg(
        long,
        env = "IMAGEVAULT_KEEP_ALIVE_TIMEOUT_SECS",
        default_value_t = ServeOptions::DEFAULT_KEEP_ALIVE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) keep_alive_timeout_secs: u64,

    /// HTTP connections served at once; further ones wait in the listen backlog until one
    /// closes (not to be confused with --max-connections, the database's)
    #[arg(
        long,
        env = "IMAGEVAULT_MAX_OPEN_CONNECTIONS",
        default_value_t = ServeOptions::DEFAULT_MAX_OPEN_CONNECTIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub(crate) max_open_connections: usize,

    /// Seconds a request body may pause between two bytes before the request is answered
    /// 408; keep it under --request-timeout-secs
    #[arg(
        long,
        env = "IMAGEVAULT_BODY_READ_TIMEOUT_SECS",
        default_value_t = RouterConfig::DEFAULT_BODY_READ_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) body_read_timeout_secs: u64,

    /// Uploads one user may have in progress at once; more are answered 429
    #[arg(
        long,
        env = "IMAGEVAULT_MAX_UPLOADS_PER_USER",
        default_value_t = DEFAULT_MAX_UPLOADS_PER_USER,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub(crate) max_uploads_per_user: usize,
}

impl ConnectionArgs {
    /// Sets the connection bounds of `options`.
    pub(crate) fn apply(&self, options: &mut ServeOptions) {
        options.header_read_timeout = Duration::from_secs(self.header_read_timeout_secs);
        options.keep_alive_timeout = Duration::from_secs(self.keep_alive_timeout_secs);
        options.max_open_connections = self.max_open_connections;
    }

    /// The longest pause in a request body.
    pub(crate) fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn login_throttling_starts_after_five_failures_unless_raised() {
        let cli = Cli::try_parse_from(["imagevault-server", "serve"]).unwrap();
        assert_eq!(cli.global.login_failures_before_delay, 5);
        let cli = Cli::try_parse_from([
            "imagevault-server",
            "serve",
            "--login-failures-before-delay",
            "1000",
        ])
        .unwrap();
        assert_eq!(cli.global.login_failures_before_delay, 1000);
        assert_eq!(
            cli.global.login_failures_per_username,
            ThrottleConfig::default().username_failures_before_delay
        );
        assert_eq!(
            cli.global.login_failures_per_address,
            ThrottleConfig::default().client_failures_before_delay
        );
        assert!(
            Cli::try_parse_from(["imagevault-server", "--login-failures-before-delay", "0"])
                .is_err(),
            "at least one failure is always allowed"
        );
    }

    #[test]
    fn no_command_means_serve() {
        let cli = Cli::try_parse_from(["imagevault-server", "--queue", "memory://"]).unwrap();
        assert!(cli.command.is_none());
    }

    #[test]
    fn the_sweeper_runs_hourly_unless_turned_off() {
        let cli = Cli::try_parse_from(["imagevault-server", "worker"]).unwrap();
        let Some(Command::Worker(args)) = cli.command else {
            panic!("a worker command")
        };
        let (every, options) = args.sweeper.schedule().unwrap();
        assert_eq!(every, Duration::from_secs(3600));
        assert_eq!(options.grace, Duration::from_secs(3600));
        assert!(!options.dry_run);

        let cli = Cli::try_parse_from([
            "imagevault-server",
            "serve",
            "--sweep-every-secs",
            "0",
            "--sweep-grace-secs",
            "60",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("a serve command")
        };
        assert!(args.sweeper.schedule().is_none());
    }

    #[test]
    fn serve_and_worker_share_the_reconciler_interval_and_database_timeout() {
        let cli = Cli::try_parse_from(["imagevault-server", "serve"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("a serve command")
        };
        assert_eq!(args.reconciler.every(), Duration::from_secs(60));
        assert_eq!(cli.global.full_reconcile_every_secs, 3600);
        assert_eq!(cli.global.database_timeout_secs, 5);

        for command in ["serve", "worker"] {
            let cli = Cli::try_parse_from([
                "imagevault-server",
                command,
                "--reconcile-every-secs",
                "2",
                "--database-timeout-secs",
                "1",
                "--full-reconcile-every-secs",
                "600",
            ])
            .unwrap();
            let every = match cli.command {
                Some(Command::Serve(args)) => args.reconciler.every(),
                Some(Command::Worker(args)) => args.reconciler.every(),
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(every, Duration::from_secs(2), "{command}");
            assert_eq!(cli.global.database_timeout_secs, 1, "{command}");
            assert_eq!(cli.global.full_reconcile_every_secs, 600, "{command}");
        }
        assert!(
            Cli::try_parse_from(["imagevault-server", "serve", "--reconcile-every-secs", "0"])
                .is_err()
        );
    }

    #[test]
    fn regenerate_takes_exactly_one_of_plan_and_user() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                ["imagevault-server", "admin", "thumbnails", "regenerate"]
                    .iter()
                    .chain(args),
            )
        };
        assert!(parse(&["--plan", "Basic"]).is_ok());
        assert!(parse(&["--user", "alice"]).is_ok());
        assert!(parse(&[]).is_err(), "one of them is required");
        assert!(parse(&["--plan", "Basic", "--user", "alice"]).is_err());
    }

    #[test]
    fn import_needs_a_user_and_a_path() {
        let cli = Cli::try_parse_from([
            "imagevault-server",
            "admin",
            "import",
            "--user",
            "a",
            "x",
            "y",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Admin(AdminCommand::Import(args))) => {
                assert_eq!(args.paths.len(), 2);
                assert_eq!(args.concurrency, DEFAULT_IMPORT_CONCURRENCY);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            Cli::try_parse_from(["imagevault-server", "admin", "import", "--user", "a"]).is_err()
        );
        assert!(
            Cli::try_parse_from([
                "imagevault-server",
                "admin",
                "import",
                "--user",
                "a",
                "--concurrency",
                "0",
                "x"
            ])
            .is_err()
        );
    }

    #[test]
    fn heights_are_comma_separated() {
        let cli = Cli::try_parse_from([
            "imagevault-server",
            "admin",
            "create-plan",
            "Pro",
            "--heights",
            "200,400",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Admin(AdminCommand::CreatePlan { heights, .. })) => {
                assert_eq!(heights, [200, 400]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
