//! [`Vault`], the service: every business rule of imagevault, over the three ports.
//!
//! Adapters (an HTTP router, a CLI, a job runner) call `Vault` methods and map its
//! [`VaultError`](crate::VaultError)s to their own vocabulary; they hold no rules of their own.

mod account;
mod account_page;
mod admin;
mod admin_images;
mod dashboard;
mod decode_memory;
#[cfg(test)]
mod hanging_queue;
mod holders;
mod images;
mod links;
mod media;
mod own_tokens;
mod pool;
mod read_cache;
mod sessions;
mod sweep;
mod throttle;
mod upload_slots;
mod worker;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

pub use account::{Account, IssuedToken};
pub use admin::{NewUser, UserChanges};
pub use admin_images::{AdminImageView, Regenerate};
pub use dashboard::Dashboard;
pub use images::{ImageView, ReadLimitedError, ThumbnailView, Upload, read_limited};
pub use links::{LinkView, parse_image_id};
pub use media::{MediaCaching, MediaKind, MediaObject};
pub use own_tokens::TokenInfo;
pub use sessions::StartedSession;
pub use sweep::{SweepOptions, SweepReport};
pub use throttle::{ThrottleConfig, client_key};
pub use upload_slots::{DEFAULT_MAX_UPLOADS_PER_USER, UploadSlot};
pub use worker::{JobOutcome, WorkerOptions};

use crate::auth::TokenHash;
use crate::changes::ChangeFeed;
use crate::clock::{Clock, SystemClock};
use crate::error::VaultError;
use crate::holder::{HolderId, ProcessIdentity};
use crate::imaging::ImageLimits;
use crate::link::LinkKey;
use crate::queue::JobQueue;
use crate::repo::Repo;
use crate::storage::{Storage, StorageKey};
use account::CredentialDigest;
use decode_memory::DecodeMemory;
use media::{CachedObject, ResolvedLink, ResolvedOriginal};
use pool::{AdmissionPool, BlockingPool};
use read_cache::ReadCache;
use throttle::LoginThrottle;
use upload_slots::UploadSlots;

/// Tunables of a [`Vault`]; the defaults suit most deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VaultConfig {
    /// Byte and pixel limits for uploads. Default [`ImageLimits::default`]:
    /// [`ImageLimits::DEFAULT_MAX_BYTES`] and [`ImageLimits::DEFAULT_MAX_PIXELS`].
    pub limits: ImageLimits,
    /// How long a job may run before it counts as abandoned and is handed out again, both in
    /// the queue and for the thumbnail rows the reconciler watches. Default
    /// [`DEFAULT_JOB_LEASE`](Self::DEFAULT_JOB_LEASE).
    pub job_lease: Duration,
    /// Deliveries of a job before it is given up and its thumbnails marked failed. Default 5.
    pub max_attempts: u32,
    /// The delay before the first retry; each later retry doubles it. Default 1 s.
    pub retry_base_delay: Duration,
    /// The longest delay between retries. Default 5 minutes.
    pub retry_max_delay: Duration,
    /// Images claimed per reconciler or backfill step. Default 500.
    pub work_batch: usize,
    /// How often [`Vault::run_reconciler`] makes a full pass, which reads every image to
    /// find thumbnails missing for a plan (a backfill job the queue lost); its other passes
    /// only look for lapsed leases, from an index. A full pass also runs when the
    /// reconciler starts. Default
    /// [`DEFAULT_FULL_RECONCILE_EVERY`](Self::DEFAULT_FULL_RECONCILE_EVERY).
    pub full_reconcile_every: Duration,
    /// Image decodes and resizes run at once, off the async executor.
    /// Default: the number of CPUs.
    pub blocking_concurrency: usize,
    /// Bytes that thumbnail renders running at once may take together, each weighed by
    /// [`ImageInfo::render_bytes`](crate::imaging::ImageInfo::render_bytes) (a
    /// progressive JPEG's coefficients and a 16-bit PNG's rows included); a render waits
    /// until its share is free, and one larger than the whole budget runs alone.
    /// Default [`DEFAULT_DECODE_MEMORY_BYTES`].
    pub decode_memory_bytes: u64,
    /// Password checks (argon2) run at once, off the async executor, on threads of their own
    /// so that a flood of logins cannot hold up thumbnails. At least 1. Default: half the
    /// CPUs, at least 1.
    pub password_hash_concurrency: usize,
    /// Password checks that may wait for a running place; a login beyond that is refused
    /// at once with [`VaultError::Busy`](crate::VaultError::Busy) (retry after 1 s) instead
    /// of queueing without limit. Default
    /// [`DEFAULT_PASSWORD_HASH_QUEUE`](Self::DEFAULT_PASSWORD_HASH_QUEUE).
    pub password_hash_queue: usize,
    /// How repeated failed logins are slowed down: per username from one client, per
    /// username and per client for passwords, per client for tokens. Default: after 5
    /// failures in a row, waits of 1 s doubling up to 60 s; forgotten after 15 minutes
    /// without a failure or on success. See [`ThrottleConfig`].
    pub login_throttle: ThrottleConfig,
    /// How long a successful password check is remembered, so that a client sending the
    /// same Basic credentials with every request pays for one argon2 check per this time,
    /// not per request; zero turns the memory off. Only a keyed hash of the credentials is
    /// kept (the key is random per vault), never the password. A change to any account made
    /// through this vault forgets every entry at once; one made by another process is seen
    /// as soon as the repository's
    /// [`account_changes`](crate::repo::UserRepo::account_changes) feed reports it, or,
    /// with a repository without a feed (an integrator's own), within this time at most.
    /// Default
    /// [`DEFAULT_VERIFIED_LOGIN_TTL`](Self::DEFAULT_VERIFIED_LOGIN_TTL).
    pub verified_login_ttl: Duration,
    /// The most remembered password checks (see
    /// [`verified_login_ttl`](Self::verified_login_ttl)); 0 turns the memory off. Default
    /// 10 000; a full memory is emptied and refills.
    pub verified_login_capacity: usize,
    /// Expiring-link resolutions kept in memory, so that a link `GET` needs no query, and
    /// as many originals' (whether the owner's plan links them), so that an original's
    /// `GET` needs none either; 0 turns both caches off. Used only with a repository whose
    /// [`link_changes`](crate::repo::LinkRepo::link_changes) feed tells of changes (the
    /// memory, SQLite and PostgreSQL backends): a link deleted or changed anywhere is then
    /// dropped as soon as the change is reported, and at once when made through this vault.
    /// Default 10 000 (a few MiB at most); a full cache is emptied and refills.
    pub link_cache_capacity: usize,
    /// Accounts of API tokens kept in memory, so that a token-authenticated request needs
    /// no query to find its user and plan; 0 turns the cache off. Used only with a
    /// repository whose [`account_changes`](crate::repo::UserRepo::account_changes) feed
    /// tells of changes (the memory, SQLite and PostgreSQL backends): a token revoked, a user
    /// changed or deleted, or a plan changed or deleted anywhere is then seen as soon as the
    /// change is reported, and at once when made through this vault.
    /// Default 10 000 (a few MiB at most); a full cache is emptied and refills.
    pub account_cache_capacity: usize,
    /// Bytes of media kept in memory, so that serving a hot thumbnail (or an original
    /// through a link) reads no storage; 0 turns the cache off. Only objects of at most
    /// [`CACHED_MEDIA_LIMIT`] bytes are kept, and only with a repository whose
    /// [`link_changes`](crate::repo::LinkRepo::link_changes) feed tells of deleted images:
    /// an object is then no longer served from memory once its image is deleted anywhere,
    /// and at once when deleted through this vault. (Stored objects never change: a key
    /// is written once.) Default 32 MiB.
    pub media_cache_bytes: usize,
    /// Uploads one user may have in progress at once, from [`Vault::reserve_upload`] until
    /// the upload is stored; more are refused with [`VaultError::TooManyUploads`]. At
    /// least 1. Default [`DEFAULT_MAX_UPLOADS_PER_USER`].
    pub max_uploads_per_user: usize,
    /// The longest time after its read that an entry of the link, account and media caches
    /// is used, even though the repository's feed reported no change: a bound, in
    /// defence in depth, on how long a change the feed failed to report (a revoked
    /// token, a deleted link) can go unseen. Zero turns the caches off. Default
    /// [`CACHE_MAX_AGE`].
    pub cache_max_age: Duration,
    /// How long an API token works after it is issued; `None` (the default): until it is
    /// revoked. An expired token is refused like an unknown one.
    pub token_ttl: Option<Duration>,
    /// How long a browser session may go unused before it ends. Default
    /// [`DEFAULT_SESSION_IDLE_TIMEOUT`](crate::DEFAULT_SESSION_IDLE_TIMEOUT).
    pub session_idle_timeout: Duration,
    /// How long a browser session lasts however much it is used. Default
    /// [`DEFAULT_SESSION_LIFETIME`](crate::DEFAULT_SESSION_LIFETIME).
    pub session_lifetime: Duration,
}

/// The default of [`VaultConfig::cache_max_age`]: 60 s.
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(60);

impl VaultConfig {
    /// The default of [`job_lease`](Self::job_lease): 5 minutes.
    pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(300);
    /// The default of [`full_reconcile_every`](Self::full_reconcile_every): an hour.
    pub const DEFAULT_FULL_RECONCILE_EVERY: Duration = Duration::from_secs(3600);
    /// The default of [`password_hash_queue`](Self::password_hash_queue): 16.
    pub const DEFAULT_PASSWORD_HASH_QUEUE: usize = 16;
    /// The default of [`verified_login_ttl`](Self::verified_login_ttl): 30 s.
    pub const DEFAULT_VERIFIED_LOGIN_TTL: Duration = Duration::from_secs(30);

    /// The default of [`password_hash_concurrency`](Self::password_hash_concurrency): half
    /// the CPUs, at least 1.
    pub fn default_password_hash_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }
}

/// The default of [`VaultConfig::decode_memory_bytes`]: 1 GiB, about the largest render
/// the default [`ImageLimits`] admit (a 50-megapixel 4-component progressive JPEG at full
/// scale takes about 1 GB), while most photos weigh a few MB at the DCT scale of their
/// thumbnails and run side by side.
pub const DEFAULT_DECODE_MEMORY_BYTES: u64 = 1 << 30;

/// The largest media object the vault keeps in memory (see
/// [`VaultConfig::media_cache_bytes`]): 1 MiB, above a 400 px thumbnail and a web-sized
/// original (a 2560×1600 JPEG photo is about 500 KB), so that the default 32 MiB holds at
/// least 32 of the largest. Served from memory, an object costs no read and no copy.
pub const CACHED_MEDIA_LIMIT: u64 = 1024 * 1024;

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            limits: ImageLimits::default(),
            job_lease: Self::DEFAULT_JOB_LEASE,
            max_attempts: 5,
            retry_base_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(300),
            work_batch: 500,
            full_reconcile_every: Self::DEFAULT_FULL_RECONCILE_EVERY,
            blocking_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            password_hash_concurrency: Self::default_password_hash_concurrency(),
            password_hash_queue: Self::DEFAULT_PASSWORD_HASH_QUEUE,
            decode_memory_bytes: DEFAULT_DECODE_MEMORY_BYTES,
            login_throttle: ThrottleConfig::default(),
            verified_login_ttl: Self::DEFAULT_VERIFIED_LOGIN_TTL,
            verified_login_capacity: 10_000,
            link_cache_capacity: 10_000,
            account_cache_capacity: 10_000,
            media_cache_bytes: 32 * 1024 * 1024,
            max_uploads_per_user: DEFAULT_MAX_UPLOADS_PER_USER,
            cache_max_age: CACHE_MAX_AGE,
            token_ttl: None,
            session_idle_timeout: crate::session::DEFAULT_SESSION_IDLE_TIMEOUT,
            session_lifetime: crate::session::DEFAULT_SESSION_LIFETIME,
        }
    }
}

/// The imagevault service. Cheap to clone: clones share the same ports.
///
/// Build one with [`Vault::builder`]:
///
/// ```
/// use std::sync::Arc;
/// use imagevault_core::{MemoryJobQueue, MemoryRepo, ObjectStorage, Vault};
/// let vault = Vault::builder()
///     .repo(Arc::new(MemoryRepo::new()))
///     .storage(Arc::new(ObjectStorage::memory()))
///     .queue(Arc::new(MemoryJobQueue::new(10_000)))
///     .build()
///     .unwrap();
/// assert_eq!(vault.config().max_attempts, 5);
/// ```
#[derive(Debug, Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    repo: Arc<dyn Repo>,
    storage: Arc<dyn Storage>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    config: VaultConfig,
    pool: BlockingPool,
    /// Password checks, apart from `pool`.
    hasher: AdmissionPool,
    /// Password checks run, for monitoring.
    password_checks: AtomicU64,
    /// Failed password logins, by client and username.
    pair_throttle: LoginThrottle,
    /// Failed password logins, by username from any client.
    username_throttle: LoginThrottle,
    /// Failed password logins, by client whatever the username.
    client_throttle: LoginThrottle,
    /// Told whenever a password login's outcome is counted, for the logins waiting on it.
    logins_settled: tokio::sync::Notify,
    /// Accounts of successful password checks, by a keyed hash of the credentials, with
    /// the time of the check.
    verified: ReadCache<CredentialDigest, (account::Account, chrono::DateTime<chrono::Utc>)>,
    /// The random key of `verified`'s hashes.
    credential_key: [u8; 32],
    /// The memory thumbnail renders reserve before they decode.
    decode_memory: DecodeMemory,
    /// Failed token logins, by client.
    token_throttle: LoginThrottle,
    /// Resolved expiring links.
    links: ReadCache<LinkKey, ResolvedLink>,
    /// Resolved originals, by storage key: whether the owner's plan links them.
    originals: ReadCache<StorageKey, ResolvedOriginal>,
    /// The accounts of API tokens with the token's expiry and last recorded use, by the
    /// token's hash.
    accounts: ReadCache<TokenHash, account::CachedToken>,
    /// Small media objects, by storage key, weighed in bytes.
    media: ReadCache<StorageKey, CachedObject>,
    /// The repository's link feed, asked for once and shared by the caches it keeps honest.
    link_feed: OnceLock<Option<ChangeFeed>>,
    /// Uploads in progress, by user.
    upload_slots: Arc<UploadSlots>,
    /// The holder this vault's thumbnail work is leased to, while registered.
    holder: RwLock<Option<HolderId>>,
    /// This process's identity, read on first use; `None` where it cannot be read.
    process: OnceLock<Option<ProcessIdentity>>,
}

impl Vault {
    /// Starts building a vault.
    pub fn builder() -> VaultBuilder {
        VaultBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &VaultConfig {
        &self.inner.config
    }

    /// The repository port.
    pub fn repo(&self) -> &Arc<dyn Repo> {
        &self.inner.repo
    }

    /// The storage port.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The job queue port.
    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.inner.queue
    }

    /// The clock the service reads time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// Drops cached link and original resolutions after a committed change that can alter
    /// them (a link, an image, a user's plan or a plan changed or deleted).
    /// (Images deleted by this vault take their media's cached bytes with them too.)
    fn links_changed(&self) {
        self.inner.links.invalidate();
        self.inner.originals.invalidate();
        self.inner.media.invalidate();
    }

    /// The repository's link feed, asked for on first use.
    fn link_feed(&self) -> Option<ChangeFeed> {
        self.inner
            .link_feed
            .get_or_init(|| self.inner.repo.link_changes())
            .clone()
    }

    /// Drops cached token accounts after a committed change that can alter them (a token
    /// revoked, a user or a plan changed or deleted).
    fn accounts_changed(&self) {
        self.inner.accounts.invalidate();
        self.inner.verified.invalidate();
    }

    /// Runs `work` in a task of its own and waits for it, so that dropping the caller
    /// cannot stop it halfway. A request's future is dropped when its client goes away
    /// (or the HTTP server times it out); for a write followed by the job that depends on
    /// it, a drop in between left the write committed and the job never queued, until
    /// the reconciler found it a lease later (minutes). Spawned, the work finishes as the
    /// Django original finishes a view whose client left.
    async fn run_to_completion<T, F>(work: F) -> Result<T, VaultError>
    where
        F: Future<Output = Result<T, VaultError>> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(work).await.map_err(|error| {
            VaultError::Internal(format!("a write that runs to completion failed: {error}"))
        })?
    }
}

/// What [`VaultBuilder::build`] needs and did not get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No repository was given.
    #[error("a repository is required: call .repo(...)")]
    MissingRepo,
    /// No storage was given.
    #[error("a storage is required: call .storage(...)")]
    MissingStorage,
    /// No job queue was given.
    #[error("a job queue is required: call .queue(...)")]
    MissingQueue,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Builds a [`Vault`] from its three ports, a clock and a configuration.
#[derive(Debug, Default)]
pub struct VaultBuilder {
    repo: Option<Arc<dyn Repo>>,
    storage: Option<Arc<dyn Storage>>,
    queue: Option<Arc<dyn JobQueue>>,
    clock: Option<Arc<dyn Clock>>,
    config: VaultConfig,
}

impl VaultBuilder {
    /// The repository (required).
    pub fn repo(mut self, repo: Arc<dyn Repo>) -> Self {
        self.repo = Some(repo);
        self
    }

    /// The blob storage (required).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The job queue (required).
    pub fn queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// The clock; [`SystemClock`] by default.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The whole configuration.
    pub fn config(mut self, config: VaultConfig) -> Self {
        self.config = config;
        self
    }

    /// The upload limits only.
    pub fn limits(mut self, limits: ImageLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Checks the parts and builds the vault.
    pub fn build(self) -> Result<Vault, BuildError> {
        let config = self.config;
        if config.max_attempts == 0 {
            return Err(BuildError::InvalidConfig("max_attempts must be at least 1"));
        }
        if config.work_batch == 0 {
            return Err(BuildError::InvalidConfig("work_batch must be at least 1"));
        }
        if config.max_uploads_per_user == 0 {
            return Err(BuildError::InvalidConfig(
                "max_uploads_per_user must be at least 1",
            ));
        }
        if config.job_lease.is_zero() {
            return Err(BuildError::InvalidConfig(
                "job_lease must be longer than zero",
            ));
        }
        if config.token_ttl.is_some_and(|ttl| ttl.is_zero()) {
            return Err(BuildError::InvalidConfig(
                "token_ttl must be longer than zero",
            ));
        }
        config
            .login_throttle
            .check()
            .map_err(BuildError::InvalidConfig)?;
        if config.password_hash_concurrency == 0 {
            return Err(BuildError::InvalidConfig(
                "password_hash_concurrency must be at least 1",
            ));
        }
        if chrono::TimeDelta::from_std(config.verified_login_ttl).is_err() {
            return Err(BuildError::InvalidConfig("verified_login_ttl is too long"));
        }
        let pool = BlockingPool::new(config.blocking_concurrency.max(1));
        let hasher =
            AdmissionPool::new(config.password_hash_concurrency, config.password_hash_queue);
        let throttle = &config.login_throttle;
        let pair_throttle = LoginThrottle::new(throttle.clone());
        let username_throttle = LoginThrottle::with_free_failures(
            throttle.clone(),
            throttle.username_failures_before_delay,
        );
        let client_throttle = LoginThrottle::with_free_failures(
            throttle.clone(),
            throttle.client_failures_before_delay,
        );
        let verified = ReadCache::new(
            crate::metrics::CACHE_VERIFIED_LOGINS,
            if config.verified_login_ttl.is_zero() {
                0
            } else {
                config.verified_login_capacity
            },
            config.cache_max_age,
        );
        let mut credential_key = [0; 32];
        getrandom::fill(&mut credential_key)
            .map_err(|_| BuildError::InvalidConfig("no randomness for the login cache key"))?;
        let decode_memory = DecodeMemory::new(config.decode_memory_bytes);
        let token_throttle = LoginThrottle::new(config.login_throttle.clone());
        let links = ReadCache::new(
            crate::metrics::CACHE_LINKS,
            config.link_cache_capacity,
            config.cache_max_age,
        );
        let originals = ReadCache::new(
            crate::metrics::CACHE_ORIGINALS,
            config.link_cache_capacity,
            config.cache_max_age,
        );
        let accounts = ReadCache::new(
            crate::metrics::CACHE_ACCOUNTS,
            config.account_cache_capacity,
            config.cache_max_age,
        );
        let media = ReadCache::new(
            crate::metrics::CACHE_MEDIA,
            config.media_cache_bytes,
            config.cache_max_age,
        );
        Ok(Vault {
            inner: Arc::new(Inner {
                repo: self.repo.ok_or(BuildError::MissingRepo)?,
                storage: self.storage.ok_or(BuildError::MissingStorage)?,
                queue: self.queue.ok_or(BuildError::MissingQueue)?,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                config,
                pool,
                hasher,
                password_checks: AtomicU64::new(0),
                pair_throttle,
                username_throttle,
                client_throttle,
                logins_settled: tokio::sync::Notify::new(),
                verified,
                credential_key,
                decode_memory,
                token_throttle,
                links,
                originals,
                accounts,
                media,
                link_feed: OnceLock::new(),
                upload_slots: Arc::default(),
                holder: RwLock::new(None),
                process: OnceLock::new(),
            }),
        })
    }
}
