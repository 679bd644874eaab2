//! # imagevault
//!
//! Image management as a library: uploads of PNG and JPEG images, thumbnails made in the
//! background for each user's plan, originals and expiring links served under `/media/...`,
//! on pluggable storage, database and queue backends.
//!
//! This facade crate re-exports [`imagevault_core`], so an application depends on one
//! crate and picks backends with features:
//!
//! | feature | what it adds |
//! | --- | --- |
//! | (default) | the service, imaging, object_store storage (local files, memory), in-memory repository and queue |
//! | `testing` | the conformance suites of [`testing`], for your own backends |
//! | `sqlite` | `sqlx::SqliteRepo`: the repository in one SQLite file (WAL), from `imagevault-sqlx` |
//! | `postgres` | `sqlx::PostgresRepo`: the repository on PostgreSQL, from `imagevault-sqlx` |
//! | `redis` | `redis_queue::RedisJobQueue`: the job queue on Redis, shared by API processes and workers, from `imagevault-redis-queue` |
//! | `s3` | `S3StorageBuilder` and `s3://<bucket>[/<prefix>]` storage URLs: storage on Amazon S3 or an S3-compatible server (MinIO, ...), configured by `AWS_*` variables |
//! | `axum` | [`axum::router`](mod@axum): the whole REST API as an axum `Router`, from `imagevault-axum` |
//!
//! [`backends`] opens all three backends from URLs (`sqlite://...`, `file://...`,
//! `s3://...`, `redis://...`, `memory://`), as the example server does;
//! [`server::serve`](crate::server) (feature `axum`) runs the API with its worker and
//! reconciler and shuts down gracefully.
//!
//! ```
//! use std::sync::Arc;
//! use imagevault::{MemoryJobQueue, MemoryRepo, ObjectStorage, Vault};
//!
//! let vault = Vault::builder()
//!     .repo(Arc::new(MemoryRepo::new()))
//!     .storage(Arc::new(ObjectStorage::memory()))
//!     .queue(Arc::new(MemoryJobQueue::new(10_000)))
//!     .build()
//!     .expect("all three ports were given");
//! # let _ = vault;
//! ```
//!
//! See the [`imagevault_core`] documentation for a complete walk-through.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backends;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod server;

pub use imagevault_core::*;

/// The core crate itself, for paths such as `imagevault::core::repo::RepoError`.
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
