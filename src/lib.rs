//! # imagevault
//!
//! Image management as a library: uploads of PNG and JPEG images, thumbnails made in the
//! background for each user's plan, originals and expiring links served under `/media/...`,
//! on pluggable storage, database and queue backends.
//!
//! The root holds what an application that embeds imagevault uses: the [`Vault`] service,
//! what it takes and gives back, the ids, and the built-in backends. Writers of backends
//! find the ports, the records they store and their errors in [`backend`]; everything else
//! of the core is in [`core`]. `use imagevault::prelude::*;` brings in the names of a first
//! program.
//!
//! | feature | what it adds |
//! | --- | --- |
//! | (default) | the service, imaging, object_store storage (local files, memory), in-memory repository and queue |
//! | `testing` | the conformance suites of [`testing`], for your own backends |
//! | `sqlite` | `sqlx::SqliteRepo`: the repository in one SQLite file (WAL), from `imagevault-sqlx` |
//! | `postgres` | `sqlx::PostgresRepo`: the repository on PostgreSQL, from `imagevault-sqlx` |
//! | `redis` | `redis_queue::RedisJobQueue`: the job queue on Redis, shared by API processes and workers, from `imagevault-redis-queue` |
//! | `s3` | `s3://<bucket>[/<prefix>]` storage URLs and `core::S3StorageBuilder`: storage on Amazon S3 or an S3-compatible server (MinIO, ...), configured by `AWS_*` variables |
//! | `axum` | [`axum::router`](mod@axum): the whole REST API as an axum `Router`, from `imagevault-axum` |
//! | `metrics` | [`metrics`]: Prometheus metrics, `/healthz` and `/readyz` on a listener of their own |
//!
//! [`backends`] opens all three backends from URLs (`sqlite://...`, `file://...`,
//! `s3://...`, `redis://...`, `memory://`), as the example server does;
//! [`server::serve`](crate::server) (feature `axum`) runs the API with its worker and
//! reconciler and shuts down gracefully.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use imagevault::prelude::*;
//!
//! let backends = Backends::open("memory://", "memory://", "memory://", &Default::default()).await?;
//! let vault = backends.vault_builder().build()?;
//! vault.bootstrap_user(NewUser::new("alice", "correct horse battery", Some(PlanId::BASIC))?).await?;
//! let alice = vault.authenticate_password("alice", "correct horse battery").await?;
//! assert_eq!(vault.list_images(&alice, PageRequest::default()).await?.items.len(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! See the [`imagevault_core`] documentation for a complete walk-through.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backends;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod server;

// The service and its settings.
pub use imagevault_core::{
    BuildError, ImageLimits, SweepOptions, SweepReport, ThrottleConfig, Vault, VaultBuilder,
    VaultConfig, VaultError, WorkerOptions,
};
// What callers hand the service.
pub use imagevault_core::{
    Account, ExpirySeconds, NewUser, Password, PlanSpec, Upload, UserChanges, Username,
};
// What the service gives back.
pub use imagevault_core::{
    ImageView, IssuedToken, LinkView, MediaObject, MetadataKind, MetadataRemoved, Page,
    PageRequest, Plan, ThumbnailStatus, ThumbnailView, User,
};
// Ids.
pub use imagevault_core::{ImageId, LinkId, PlanId, UserId};
// What the service's errors carry.
pub use imagevault_core::{ImageError, ImageFormat, PlanFeature, ValidationError};
// The built-in backends.
pub use imagevault_core::{MemoryJobQueue, MemoryRepo, ObjectStorage};

/// The names a first program uses: `use imagevault::prelude::*;`.
pub mod prelude {
    pub use crate::backends::{BackendOptions, Backends};
    pub use crate::{
        Account, ExpirySeconds, ImageId, NewUser, PageRequest, PlanId, Upload, Vault, VaultError,
    };
}

/// For writers of backends: the three ports, the records they keep, and their errors.
///
/// An application that only uses the built-in backends needs none of this. The
/// conformance suites that a new backend must pass are in `imagevault::testing`
/// (feature `testing`).
pub mod backend {
    pub use imagevault_core::repo::{
        ImageRepo, LinkRepo, PlanRepo, Repo, RepoError, SessionRepo, UserRepo,
    };
    pub use imagevault_core::{
        Clock, ImageRecord, Job, JobQueue, ManualClock, SessionRecord, Storage, StorageKey,
        SystemClock, Thumbnail, TokenHash, TokenRecord,
    };
    pub use imagevault_core::{imaging, page, queue, repo, storage};
}

/// The conformance suites a backend runs: the `imagevault-core` crate's `testing` module
/// and its macros.
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing {
    pub use imagevault_core::testing::*;
    pub use imagevault_core::{
        queue_conformance_tests, repo_conformance_tests, storage_conformance_tests,
    };
}

/// The core crate itself, for everything the root leaves out, such as
/// `imagevault::core::Dashboard` or `imagevault::core::repo::RepoError`.
pub use imagevault_core as core;

/// The repository on SQLite and PostgreSQL: the `imagevault-sqlx` crate.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use imagevault_sqlx as sqlx;

/// The job queue on Redis: the `imagevault-redis-queue` crate.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use imagevault_redis_queue as redis_queue;

/// The REST API as an axum `Router`: the `imagevault-axum` crate.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use imagevault_axum as axum;

/// Compiles the README's Rust examples as doctests, so they cannot drift from the API.
#[cfg(all(doctest, feature = "sqlite", feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
