//! Opening the three backends of a [`Vault`](crate::Vault) from URLs, as the example
//! server and most deployments do:
//!
//! | port | URLs |
//! | --- | --- |
//! | database | `sqlite://<path>` (feature `sqlite`), `postgres://...` (feature `postgres`), `memory://` |
//! | storage | `file://<directory>`, `memory://`, `s3://<bucket>[/<prefix>]` (feature `s3`) |
//! | queue | `memory://` (in-process, bounded), `redis://...` or `rediss://...` (TLS) (feature `redis`) |
//!
//! TLS to PostgreSQL is chosen in the URL, as with libpq: `?sslmode=require` encrypts
//! without checking the server's certificate, `?sslmode=verify-full` also checks it against
//! the system's CA store, or against `&sslrootcert=<file>` (a PEM CA file), and checks that
//! it names the host of the URL. TLS to Redis is the `rediss://` scheme, which always checks
//! the certificate and the host name, against the system's CA store or
//! [`BackendOptions::queue_ca_file`]. Both use rustls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use imagevault_core::{
    JobQueue, MemoryJobQueue, MemoryRepo, ObjectStorage, Repo, Storage, VaultBuilder,
};

/// Choices for [`Backends::open`] beyond the URLs.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// Apply the database migrations when opening (default `true`; harmless when applied).
    pub migrate: bool,
    /// Database connections per process (default 8).
    pub max_connections: u32,
    /// How long a PostgreSQL query waits for a connection before it fails (default 5 s).
    /// While the server cannot be reached every query waits this long, and the API answers
    /// 503 only then, so it is kept short; a busy pool waits as long. (A SQLite database is
    /// a local file, so its waits are only for its one writer, and keep the driver's
    /// default.)
    pub acquire_timeout: Duration,
    /// Jobs the in-process queue holds before it refuses more (default 100 000); refused
    /// work is picked up later by the reconciler.
    pub queue_capacity: usize,
    /// The key prefix of a Redis queue (default `imagevault:`), so that several
    /// installations, or test runs, can share one Redis server.
    pub queue_prefix: String,
    /// A PEM file of the CA certificates that a `rediss://` queue's certificate must chain
    /// to, instead of the system's CA store (default none): for a Redis server whose
    /// certificate a private CA signed. Refused with any other queue URL.
    pub queue_ca_file: Option<PathBuf>,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            queue_capacity: 100_000,
            queue_prefix: "imagevault:".to_owned(),
            queue_ca_file: None,
        }
    }
}

/// A backend URL that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The URL's scheme is not one this build supports.
    #[error("unsupported {port} url {url:?}; supported: {supported}")]
    Unsupported {
        /// `database`, `storage` or `queue`.
        port: &'static str,
        /// The URL given.
        url: String,
        /// The schemes this build accepts.
        supported: &'static str,
    },
    /// The storage could not be opened.
    #[error(transparent)]
    Storage(#[from] imagevault_core::StorageUrlError),
    /// The database could not be opened or migrated.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[error(transparent)]
    Database(#[from] imagevault_sqlx::SetupError),
    /// The Redis queue could not be opened.
    #[cfg(feature = "redis")]
    #[error(transparent)]
    Queue(#[from] imagevault_redis_queue::SetupError),
    /// [`BackendOptions::queue_ca_file`] was given for a queue URL without TLS.
    #[error(
        "a queue CA file was given, but the queue url is {scheme}://..., which does not use \
         TLS; it is only for rediss:// urls"
    )]
    CaFileWithoutTls {
        /// The scheme of the queue URL given (only the scheme: the URL may hold a password).
        scheme: String,
    },
    /// [`BackendOptions::queue_ca_file`] could not be read.
    #[error("cannot read the queue CA file {path:?}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A local directory for the database could not be created.
    #[error("cannot create the directory {path:?} for the database")]
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The repository, storage and queue of one deployment.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use imagevault::backends::{BackendOptions, Backends};
///
/// let backends = Backends::open("memory://", "memory://", "memory://", &BackendOptions::default()).await?;
/// let vault = backends.vault_builder().build()?;
/// # let _ = vault;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Backends {
    /// The database.
    pub repo: Arc<dyn Repo>,
    /// Blob storage.
    pub storage: Arc<dyn Storage>,
    /// The job queue.
    pub queue: Arc<dyn JobQueue>,
}

impl Backends {
    /// Opens all three from their URLs.
    pub async fn open(
        database: &str,
        storage: &str,
        queue: &str,
        options: &BackendOptions,
    ) -> Result<Self, BackendError> {
        Ok(Self {
            repo: open_repo(database, options).await?,
            storage: open_storage(storage)?,
            queue: open_queue(queue, options).await?,
        })
    }

    /// A [`VaultBuilder`] with these three backends set.
    pub fn vault_builder(&self) -> VaultBuilder {
        crate::Vault::builder()
            .repo(self.repo.clone())
            .storage(self.storage.clone())
            .queue(self.queue.clone())
    }
}

const DATABASE_SCHEMES: &str = if cfg!(all(feature = "sqlite", feature = "postgres")) {
    "sqlite://<path>, postgres://..., memory://"
} else if cfg!(feature = "sqlite") {
    "sqlite://<path>, memory:// (build with feature postgres for postgres://)"
} else if cfg!(feature = "postgres") {
    "postgres://..., memory:// (build with feature sqlite for sqlite://)"
} else {
    "memory:// (build with features sqlite or postgres for databases)"
};

/// Opens the database at `url`, migrating it if `options.migrate`.
pub async fn open_repo(url: &str, options: &BackendOptions) -> Result<Arc<dyn Repo>, BackendError> {
    if url == "memory://" {
        return Ok(Arc::new(MemoryRepo::new()));
    }
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        create_parent_directory(url)?;
        let repo = imagevault_sqlx::SqliteRepo::builder(url)
            .create_if_missing(true)
            .max_connections(options.max_connections)
            .migrate_on_connect(options.migrate)
            .build()
            .await?;
        return Ok(Arc::new(repo));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let repo = imagevault_sqlx::PostgresRepo::builder(url)
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .migrate_on_connect(options.migrate)
            .build()
            .await?;
        return Ok(Arc::new(repo));
    }
    let _ = options;
    Err(BackendError::Unsupported {
        port: "database",
        url: url.to_owned(),
        supported: DATABASE_SCHEMES,
    })
}

/// The directory of a SQLite file must exist before SQLite can create the file.
#[cfg(feature = "sqlite")]
fn create_parent_directory(url: &str) -> Result<(), BackendError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|source| BackendError::Directory {
                path: parent.to_owned(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Opens blob storage at `url`: `file://<directory>`, `memory://`, or with feature `s3`
/// `s3://<bucket>[/<prefix>]`, configured by the `AWS_*` environment variables (see
/// [`ObjectStorage::from_url`]).
pub fn open_storage(url: &str) -> Result<Arc<dyn Storage>, BackendError> {
    Ok(Arc::new(ObjectStorage::from_url(url)?))
}

const QUEUE_SCHEMES: &str = if cfg!(feature = "redis") {
    "memory:// (the in-process queue), redis://..., rediss://... (TLS)"
} else {
    "memory:// (the in-process queue; build with feature redis for redis:// and rediss://)"
};

/// Opens the job queue at `url`: the in-process queue for `memory://`, or with feature
/// `redis` a Redis server for `redis://[user:password@]host[:port][/db]`, or over TLS for
/// `rediss://...` (keys under [`BackendOptions::queue_prefix`]).
pub async fn open_queue(
    url: &str,
    options: &BackendOptions,
) -> Result<Arc<dyn JobQueue>, BackendError> {
    if options.queue_ca_file.is_some() && !url.starts_with("rediss://") {
        let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
        return Err(BackendError::CaFileWithoutTls {
            scheme: scheme.to_owned(),
        });
    }
    if url == "memory://" {
        return Ok(Arc::new(MemoryJobQueue::new(options.queue_capacity)));
    }
    #[cfg(feature = "redis")]
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        let mut builder = imagevault_redis_queue::RedisJobQueue::builder(url)
            .prefix(options.queue_prefix.clone());
        if let Some(path) = &options.queue_ca_file {
            let pem = std::fs::read(path).map_err(|source| BackendError::CaFile {
                path: path.clone(),
                source,
            })?;
            builder = builder.root_certificates(pem);
        }
        return Ok(Arc::new(builder.build().await?));
    }
    Err(BackendError::Unsupported {
        port: "queue",
        url: url.to_owned(),
        supported: QUEUE_SCHEMES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_storage_urls_open_with_the_s3_feature() {
        // Opening contacts no server, so this needs none.
        let opened = open_storage("s3://media/imagevault");
        if cfg!(feature = "s3") {
            opened.unwrap();
        } else {
            let error = opened.unwrap_err().to_string();
            assert!(error.contains("feature s3"), "{error}");
        }
    }

    /// A request that needs an unreachable database answers 503 when its wait for a
    /// connection ends; that must come well before the request's own time limit, or the
    /// client sees the timeout instead (tests/faults.rs in the example server shows it with
    /// a real outage).
    #[cfg(feature = "axum")]
    #[test]
    fn a_database_outage_is_answered_before_the_request_times_out() {
        let waits = BackendOptions::default().acquire_timeout;
        assert!(waits > Duration::ZERO);
        assert!(waits * 4 <= imagevault_axum::RouterConfig::DEFAULT_REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_queue_ca_file_without_tls_is_refused_without_printing_the_url() {
        let options = BackendOptions {
            queue_ca_file: Some(PathBuf::from("ca.pem")),
            ..BackendOptions::default()
        };
        let error = open_queue("redis://:hunter2@127.0.0.1:6379", &options)
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, BackendError::CaFileWithoutTls { .. }),
            "{error:?}"
        );
        assert!(
            text.contains("redis://...") && text.contains("rediss://"),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !format!("{error:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn unknown_queue_urls_name_the_supported_schemes() {
        for url in ["amqp://127.0.0.1", "redis+tls://127.0.0.1:6379", "memory:"] {
            match open_queue(url, &BackendOptions::default()).await {
                Err(BackendError::Unsupported {
                    port: "queue",
                    supported,
                    ..
                }) => {
                    assert!(supported.contains("memory://"), "{supported}");
                    assert!(supported.contains("redis://"), "{supported}");
                    assert!(supported.contains("rediss://"), "{supported}");
                }
                other => panic!("{url}: expected Unsupported, got {other:?}"),
            }
        }
    }
}
