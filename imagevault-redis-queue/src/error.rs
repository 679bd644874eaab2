//! Errors: [`SetupError`] for connecting, and the mapping of Redis failures to the core's
//! [`QueueError`].

use imagevault_core::queue::QueueError;
use imagevault_core::storage::BoxError;

/// Connecting to Redis failed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use imagevault_redis_queue::{RedisJobQueue, SetupError};
///
/// let error = RedisJobQueue::connect("http://127.0.0.1:6379").await.unwrap_err();
/// assert!(matches!(error, SetupError::InvalidUrl { .. }));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The URL is not one this crate can connect with: `redis://`, `rediss://` (TLS) or a
    /// Unix socket, `redis+unix://`.
    #[error("invalid redis url (expected redis://, rediss:// or redis+unix://)")]
    InvalidUrl {
        /// What was wrong with it.
        #[source]
        source: BoxError,
    },
    /// CA certificates were given for a URL without TLS.
    #[error(
        "CA certificates were given for a redis:// url, which does not use TLS; use rediss:// \
         to connect over TLS"
    )]
    CertificatesWithoutTls,
    /// The CA certificates given could not be read as PEM certificates.
    #[error("unreadable CA certificates for redis (expected PEM CERTIFICATE blocks)")]
    Certificates {
        /// What was wrong with them.
        #[source]
        source: BoxError,
    },
    /// The server could not be reached, or refused the connection (a wrong password, say).
    #[error("could not connect to redis")]
    Connect {
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// A value stored under the queue's keys that this version cannot read: written by a newer
/// version (a job type it does not know) or changed by hand.
#[derive(Debug, thiserror::Error)]
#[error("unreadable {what} in redis")]
pub(crate) struct Unreadable {
    /// What was being read, for example `job 0f3c…`.
    pub(crate) what: String,
    /// Why it could not be read.
    #[source]
    pub(crate) source: serde_json::Error,
}

/// A failure of the Redis backend.
pub(crate) fn backend(source: impl Into<BoxError>) -> QueueError {
    QueueError::Backend {
        backend: "redis",
        source: source.into(),
    }
}
