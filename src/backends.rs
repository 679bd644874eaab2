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
    /// Database connections per process (default
    /// [`DEFAULT_MAX_CONNECTIONS`](Self::DEFAULT_MAX_CONNECTIONS)).
    pub max_connections: u32,
    /// How long a PostgreSQL query waits for a connection before it fails (default
    /// [`DEFAULT_ACQUIRE_TIMEOUT`](Self::DEFAULT_ACQUIRE_TIMEOUT)).
    /// While the server cannot be reached every query waits this long, and the API answers
    /// 503 only then, so it is kept short; a busy pool waits as long. (A SQLite database is
    /// a local file, so its waits are only for its one writer, and keep the driver's
    /// default.)
    pub acquire_timeout: Duration,
    /// Jobs the in-process queue holds before it refuses more (default 100 000); refused
    /// work is picked up later by the reconciler.
    pub queue_capacity: usize,
    /// The key prefix of a Redis queue (default
    /// [`DEFAULT_QUEUE_PREFIX`](Self::DEFAULT_QUEUE_PREFIX)), so that several
    /// installations, or test runs, can share one Redis server.
    pub queue_prefix: String,
    /// A PEM file of the CA certificates that a `rediss://` queue's certificate must chain
    /// to, instead of the system's CA store (default none): for a Redis server whose
    /// certificate a private CA signed. Refused with any other queue URL.
    pub queue_ca_file: Option<PathBuf>,
}

impl BackendOptions {
    /// The default of [`max_connections`](Self::max_connections): 8.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
    /// The default of [`acquire_timeout`](Self::acquire_timeout): 5 s.
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default of [`queue_prefix`](Self::queue_prefix): `imagevault:`.
    pub const DEFAULT_QUEUE_PREFIX: &'static str = "imagevault:";
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            queue_capacity: 100_000,
            queue_prefix: Self::DEFAULT_QUEUE_PREFIX.to_owned(),
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
        /// The URL given, with its secrets hidden ([`redact_url`]).
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
        url: redact_url(url),
        supported: DATABASE_SCHEMES,
    })
}

/// The file a `sqlite://<path>` (or `sqlite:<path>`) database URL names, without its
/// query; `None` for other URLs and for an in-memory SQLite database.
///
/// ```
/// use std::path::Path;
/// use imagevault::backends::sqlite_file;
/// assert_eq!(sqlite_file("sqlite://data/iv.db?mode=rwc").as_deref(), Some(Path::new("data/iv.db")));
/// assert_eq!(sqlite_file("postgres://localhost/iv"), None);
/// ```
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

/// The directory of a SQLite file must exist before SQLite can create the file.
#[cfg(feature = "sqlite")]
fn create_parent_directory(url: &str) -> Result<(), BackendError> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    match path.parent() {
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
    Ok(Arc::new(
        ObjectStorage::from_url(url).map_err(redacted_storage_error)?,
    ))
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
        url: redact_url(url),
        supported: QUEUE_SCHEMES,
    })
}

/// What stands in for a secret in a redacted URL.
const REDACTED: &str = "***";

/// Query parameters whose values are secrets (matched case-insensitively, by substring):
/// libpq's `password` and `sslpassword`, tokens and keys of any service.
const SECRET_PARAMETERS: [&str; 5] = ["pass", "secret", "token", "key", "auth"];

/// `url` with its secrets replaced by `***`, for logs and error messages: the password of
/// the user information, and the values of query parameters that name a password, secret,
/// token or key. A `key=value` connection string (libpq style) gets the same treatment.
///
/// The user information ends at the *last* `@` before the path: passwords may contain
/// `/`, `?`, `#` and `@` unencoded, which strict parsers reject but drivers accept, so
/// whatever could be part of a password is hidden, at the cost of hiding more of a
/// malformed URL than needed. Percent-encoded passwords are hidden whole.
///
/// ```
/// use imagevault::backends::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/images?sslmode=require"),
///     "postgres://app:***@db:5432/images?sslmode=require"
/// );
/// assert_eq!(redact_url("redis://:pa/ss@cache:6379/0"), "redis://:***@cache:6379/0");
/// assert_eq!(redact_url("postgres://db/images?password=x"), "postgres://db/images?password=***");
/// assert_eq!(redact_url("sqlite://./data/imagevault.db"), "sqlite://./data/imagevault.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_key_values(url);
    };
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let mut redacted = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            // A user name has none of these; a password that does is hidden whole.
            Some((user, _)) if !user.contains(['/', '?', '#']) => {
                redacted.push_str(user);
                redacted.push(':');
                redacted.push_str(REDACTED);
            }
            Some(_) => redacted.push_str(REDACTED),
            // A name alone (`redis://token@host`) may itself be the secret.
            None if userinfo.contains(['/', '?', '#']) || userinfo.len() > 32 => {
                redacted.push_str(REDACTED)
            }
            None => redacted.push_str(userinfo),
        }
        redacted.push('@');
    }
    match after.split_once('?') {
        Some((path, query)) => {
            redacted.push_str(path);
            redacted.push('?');
            redacted.push_str(&redact_query(query));
        }
        None => redacted.push_str(after),
    }
    redacted
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|secret| name.contains(secret))
}

/// A query string with the values of secret parameters hidden (and any fragment kept).
fn redact_query(query: &str) -> String {
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let mut redacted = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_parameter(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    if let Some(fragment) = fragment {
        redacted.push('#');
        redacted.push_str(fragment);
    }
    redacted
}

/// A `key=value` connection string with the values of secret keys hidden.
fn redact_key_values(text: &str) -> String {
    text.split(' ')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_parameter(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A storage URL error whose URL is redacted, as [`BackendError`] must carry no secret.
fn redacted_storage_error(error: imagevault_core::StorageUrlError) -> BackendError {
    use imagevault_core::StorageUrlError;
    BackendError::Storage(match error {
        StorageUrlError::UnsupportedScheme { url } => StorageUrlError::UnsupportedScheme {
            url: redact_url(&url),
        },
        #[cfg(feature = "s3")]
        StorageUrlError::InvalidS3Url { url, reason } => StorageUrlError::InvalidS3Url {
            url: redact_url(&url),
            reason,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_user_information_are_redacted() {
        for (url, redacted) in [
            (
                "postgres://app:s3cret@db:5432/images?sslmode=require",
                "postgres://app:***@db:5432/images?sslmode=require",
            ),
            ("postgres://app@db/images", "postgres://app@db/images"),
            ("redis://:pa/ss@cache:6379", "redis://:***@cache:6379"),
            ("redis://:pa/ss@cache:6379/2", "redis://:***@cache:6379/2"),
            ("redis://default:p@ss@cache", "redis://default:***@cache"),
            (
                "postgres://app:p?ss#w@db/images",
                "postgres://app:***@db/images",
            ),
            (
                "postgres://app:p%40ss%2Fw@db/images",
                "postgres://app:***@db/images",
            ),
            ("postgres://a/b:c@db/images", "postgres://***@db/images"),
            (
                "postgres://db/images?user=app&password=s3cret&sslpassword=k",
                "postgres://db/images?user=app&password=***&sslpassword=***",
            ),
            (
                "host=db user=app password=s3cret dbname=images",
                "host=db user=app password=*** dbname=images",
            ),
            (
                "sqlite://./imagevault-data/imagevault.db",
                "sqlite://./imagevault-data/imagevault.db",
            ),
            ("s3://bucket/prefix", "s3://bucket/prefix"),
            ("memory://", "memory://"),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
            for secret in ["s3cret", "pa/ss", "p@ss", "p?ss", "p%40ss"] {
                assert!(!redact_url(url).contains(secret), "{url}");
            }
        }
    }

    #[tokio::test]
    async fn errors_of_unsupported_urls_carry_no_password() {
        let database = open_repo("mysql://app:s3cret@db/images", &BackendOptions::default())
            .await
            .unwrap_err()
            .to_string();
        let queue = open_queue("amqp://app:s3cret@mq", &BackendOptions::default())
            .await
            .unwrap_err()
            .to_string();
        let storage = open_storage("ftp://app:s3cret@files/media")
            .unwrap_err()
            .to_string();
        for error in [database, queue, storage] {
            assert!(!error.contains("s3cret"), "{error}");
            assert!(error.contains("app:***@"), "{error}");
        }
    }

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
