//! The [`Storage`] port: where originals and thumbnails are kept, by [`StorageKey`].

use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::BoxStream;

pub use crate::box_error::BoxError;
use crate::format::ImageFormat;
pub use crate::storage_key::{KeyPrefix, StorageKey};

pub mod file_backed;
pub(crate) mod object_storage;

/// What is known of a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// When it was written, where the backend knows.
    pub last_modified: Option<DateTime<Utc>>,
}

/// One object found by [`Storage::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: StorageKey,
    /// Its size and, where the backend knows it, when it was written.
    pub info: ObjectInfo,
}

/// An object being read: its metadata, the byte range returned, and the bytes as a stream.
pub struct StoredObject {
    /// The whole object's metadata.
    pub info: ObjectInfo,
    /// The range of the object that `body` yields.
    pub range: Range<u64>,
    /// The bytes of `range`, in order.
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl StoredObject {
    /// An object held in memory, as one chunk: `bytes` are the object's bytes at `range`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use imagevault_core::storage::{ObjectInfo, StoredObject};
    /// let whole = StoredObject::in_memory(
    ///     ObjectInfo { size: 5, last_modified: None },
    ///     0..5,
    ///     Bytes::from_static(b"hello"),
    /// );
    /// assert_eq!(whole.range, 0..5);
    /// ```
    pub fn in_memory(info: ObjectInfo, range: Range<u64>, bytes: Bytes) -> Self {
        Self {
            info,
            range,
            body: futures::stream::once(std::future::ready(Ok(bytes))).boxed(),
        }
    }

    /// Reads the whole body into memory: one buffer of the range's length, filled as the
    /// chunks arrive (a body of one chunk is returned as it is, without a copy).
    pub async fn bytes(self) -> Result<Bytes, StorageError> {
        use futures::TryStreamExt as _;
        let length = usize::try_from(self.range.end.saturating_sub(self.range.start)).unwrap_or(0);
        let mut body = self.body;
        let Some(first) = body.try_next().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = body.try_next().await? else {
            return Ok(first);
        };
        let mut buffer = bytes::BytesMut::with_capacity(length.max(first.len() + second.len()));
        buffer.extend_from_slice(&first);
        buffer.extend_from_slice(&second);
        drop((first, second));
        while let Some(chunk) = body.try_next().await? {
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }
}

impl Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("info", &self.info)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A failure of a [`Storage`] backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A range that does not lie within the object was requested.
    #[error("range {start}..{end} is not within the object's {size} bytes")]
    InvalidRange {
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// The object's size.
        size: u64,
    },
    /// The backend failed; `source` keeps the cause.
    #[error("{backend} storage failed")]
    Backend {
        /// Which backend, for example `"object_store"`.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// Blob storage for originals and thumbnails.
///
/// # Contract
/// - `put` is atomic: a reader sees the whole object or none of it. Keys are never reused
///   by imagevault, so objects are immutable once written.
/// - `get`, `get_range` and `head` of a missing key are `Ok(None)`.
/// - `get_range` with a range not within `0..size` (or empty) is [`StorageError::InvalidRange`].
/// - `delete` of a missing key is `Ok(())`.
/// - `list` yields every object under the prefix, once each, in no particular order, with
///   the same `size` as `head`; an object put or deleted while the listing runs may or may
///   not be included. A prefix with no objects yields nothing, not an error. Objects whose
///   keys are not [`StorageKey`]s (not written by imagevault) may be skipped. A failure is
///   an `Err` item, after which the stream may end.
/// - Where `last_modified` is known, it is when the object was written, by a clock close to
///   the service's: the sweeper (`Vault::sweep`) deletes unreferenced objects by their age.
#[async_trait]
pub trait Storage: Send + Sync + Debug + 'static {
    /// Stores `data` under `key`, replacing any object there.
    async fn put(
        &self,
        key: &StorageKey,
        data: Bytes,
        format: ImageFormat,
    ) -> Result<(), StorageError>;

    /// Reads a whole object.
    async fn get(&self, key: &StorageKey) -> Result<Option<StoredObject>, StorageError>;

    /// Reads the bytes `range` of an object.
    async fn get_range(
        &self,
        key: &StorageKey,
        range: Range<u64>,
    ) -> Result<Option<StoredObject>, StorageError>;

    /// Reads an object's metadata.
    async fn head(&self, key: &StorageKey) -> Result<Option<ObjectInfo>, StorageError>;

    /// Removes an object.
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError>;

    /// Lists the objects whose keys start with `prefix`, for the sweeper.
    fn list(&self, prefix: &KeyPrefix) -> BoxStream<'_, Result<ListedObject, StorageError>>;
}
