//! [`ObjectStorage`]: the [`Storage`] port over any [`object_store::ObjectStore`]
//! (local files, memory, and with feature `s3` Amazon S3 and S3-compatible servers).

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use crate::imaging::ImageFormat;
use crate::storage::{
    KeyPrefix, ListedObject, ObjectInfo, Storage, StorageError, StorageKey, StoredObject,
};

#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "s3")]
pub use s3::S3StorageBuilder;

const BACKEND: &str = "object_store";

/// The storage URLs this build opens, for error messages.
const SUPPORTED_URLS: &str = if cfg!(feature = "s3") {
    "file://<directory>, memory:// or s3://<bucket>[/<prefix>]"
} else {
    "file://<directory> or memory:// (build with feature s3 for s3://<bucket>[/<prefix>])"
};

/// A [`Storage`] over an object_store backend, with every key under an optional prefix.
///
/// ```
/// use bytes::Bytes;
/// use imagevault_core::{ImageFormat, ObjectStorage, Storage, StorageKey};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let storage = ObjectStorage::from_url("memory://").unwrap();
/// let key = StorageKey::new_thumbnail(ImageFormat::Png);
/// storage.put(&key, Bytes::from_static(b"bytes"), ImageFormat::Png).await.unwrap();
/// assert_eq!(storage.head(&key).await.unwrap().unwrap().size, 5);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// Why a storage URL could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageUrlError {
    /// The scheme is not one this build supports (`s3://` needs feature `s3`).
    #[error("unsupported storage URL {url:?}; use {SUPPORTED_URLS}")]
    UnsupportedScheme {
        /// The URL given.
        url: String,
    },
    /// An `s3://` URL without a bucket, or with parts that are configured elsewhere.
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    #[error("invalid S3 storage URL {url:?}: {reason}")]
    InvalidS3Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key prefix that is not a relative path of safe segments.
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    #[error(
        "invalid storage prefix {prefix:?}; use /-separated segments of ASCII letters, digits, '-', '_' and '.'"
    )]
    InvalidPrefix {
        /// The prefix given.
        prefix: String,
    },
    /// object_store refused the S3 configuration (a missing bucket name, a bad region or
    /// endpoint, a key id without its secret, ...).
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    #[error("cannot configure S3 storage for bucket {bucket:?}")]
    S3 {
        /// The bucket, empty if none was given.
        bucket: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The local directory could not be created or opened.
    #[error("cannot use directory {path:?} for storage")]
    Directory {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ObjectStorage {
    /// Wraps an object store; keys are stored under `prefix` (empty for the root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: Path::from(prefix),
        }
    }

    /// A store in process memory (object_store's `InMemory`); contents vanish with it.
    pub fn memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()), "")
    }

    /// Files under `directory`, which is created if missing. Writes are atomic (a temporary
    /// file renamed into place).
    pub fn local(directory: impl AsRef<FsPath>) -> Result<Self, StorageUrlError> {
        let directory = directory.as_ref();
        let failed =
            |source: Box<dyn std::error::Error + Send + Sync>| StorageUrlError::Directory {
                path: directory.display().to_string(),
                source,
            };
        std::fs::create_dir_all(directory).map_err(|error| failed(error.into()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(directory)
            .map_err(|error| failed(error.into()))?;
        Ok(Self::new(Arc::new(store), ""))
    }

    /// Opens a storage URL:
    ///
    /// - `memory://`;
    /// - `file://<directory>`, where the directory may be absolute (`file:///srv/media`) or
    ///   relative (`file://./media`);
    /// - with feature `s3`, `s3://<bucket>[/<prefix>]`: the bucket on Amazon S3 or an
    ///   S3-compatible server, with every key under the optional prefix, configured by the
    ///   `AWS_*` environment variables as `S3StorageBuilder::from_env` describes.
    pub fn from_url(url: &str) -> Result<Self, StorageUrlError> {
        if url == "memory://" || url == "memory:///" {
            return Ok(Self::memory());
        }
        if let Some(directory) = url.strip_prefix("file://").filter(|rest| !rest.is_empty()) {
            return Self::local(directory);
        }
        #[cfg(feature = "s3")]
        if url.starts_with("s3://") {
            return S3StorageBuilder::from_env().url(url)?.build();
        }
        Err(StorageUrlError::UnsupportedScheme {
            url: url.to_owned(),
        })
    }

    fn path(&self, key: &StorageKey) -> Path {
        key.as_str()
            .split('/')
            .fold(self.prefix.clone(), |path, segment| path.child(segment))
    }
}

fn backend(error: object_store::Error) -> StorageError {
    StorageError::Backend {
        backend: BACKEND,
        source: Box::new(error),
    }
}

fn info(meta: &object_store::ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        size: meta.size,
        last_modified: Some(meta.last_modified),
    }
}

impl ObjectStorage {
    async fn read(
        &self,
        key: &StorageKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<StoredObject>, StorageError> {
        if let Some(range) = &range
            && range.start >= range.end
        {
            return match self.head(key).await? {
                None => Ok(None),
                Some(info) => Err(StorageError::InvalidRange {
                    start: range.start,
                    end: range.end,
                    size: info.size,
                }),
            };
        }
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&self.path(key), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => {
                // Backends disagree on how they report a bad range; settle it with the size.
                if let Some(range) = range
                    && let Some(info) = self.head(key).await?
                    && range.end > info.size
                {
                    return Err(StorageError::InvalidRange {
                        start: range.start,
                        end: range.end,
                        size: info.size,
                    });
                }
                return Err(backend(error));
            }
        };
        let object_info = info(&result.meta);
        if let Some(requested) = range {
            // Some backends clip a range that runs past the end instead of refusing it.
            if result.range != requested {
                return Err(StorageError::InvalidRange {
                    start: requested.start,
                    end: requested.end,
                    size: object_info.size,
                });
            }
        }
        let served = result.range.clone();
        let body = result.into_stream().map_err(backend).boxed();
        Ok(Some(StoredObject {
            info: object_info,
            range: served,
            body,
        }))
    }
}

#[async_trait]
impl Storage for ObjectStorage {
    async fn put(
        &self,
        key: &StorageKey,
        data: Bytes,
        _format: ImageFormat,
    ) -> Result<(), StorageError> {
        self.store
            .put(&self.path(key), PutPayload::from_bytes(data))
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn get(&self, key: &StorageKey) -> Result<Option<StoredObject>, StorageError> {
        self.read(key, None).await
    }

    async fn get_range(
        &self,
        key: &StorageKey,
        range: Range<u64>,
    ) -> Result<Option<StoredObject>, StorageError> {
        self.read(key, Some(range)).await
    }

    async fn head(&self, key: &StorageKey) -> Result<Option<ObjectInfo>, StorageError> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(info(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(backend(error)),
        }
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(backend(error)),
        }
    }

    fn list(
        &self,
        prefix: &KeyPrefix,
    ) -> futures::stream::BoxStream<'_, Result<ListedObject, StorageError>> {
        let directory = prefix
            .segments()
            .fold(self.prefix.clone(), |path, segment| path.child(segment));
        let root = self.prefix.clone();
        self.store
            .list(Some(&directory))
            .map_err(backend)
            .try_filter_map(move |meta| {
                let listed = listed(&root, &meta);
                if listed.is_none() {
                    tracing::debug!(location = %meta.location, "skipping an object that is not imagevault's");
                }
                futures::future::ready(Ok(listed))
            })
            .boxed()
    }
}

/// A listed object with the configured prefix stripped from its location; `None` for a
/// location that is no [`StorageKey`] (a file imagevault did not write).
fn listed(root: &Path, meta: &object_store::ObjectMeta) -> Option<ListedObject> {
    let mut key = String::new();
    for part in meta.location.prefix_match(root)? {
        if !key.is_empty() {
            key.push('/');
        }
        key.push_str(part.as_ref());
    }
    Some(ListedObject {
        key: StorageKey::parse(&key)?,
        info: info(meta),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_urls_name_s3_or_its_feature() {
        let error = ObjectStorage::from_url("gs://bucket").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("s3://<bucket>"), "{message}");
        if cfg!(feature = "s3") {
            assert!(!message.contains("feature"), "{message}");
        } else {
            assert!(message.contains("feature s3"), "{message}");
            assert!(matches!(
                ObjectStorage::from_url("s3://bucket/prefix"),
                Err(StorageUrlError::UnsupportedScheme { .. })
            ));
        }
    }
}
