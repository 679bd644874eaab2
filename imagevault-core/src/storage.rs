//! The [`Storage`] port: where originals and thumbnails are kept, by [`StorageKey`].

use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::imaging::ImageFormat;

/// A boxed error from a backend, kept as the source of a port error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The first segment of every original's key.
const ORIGINALS: &str = "imageupload";
/// The first segment of every thumbnail's key.
const THUMBNAILS: &str = "thumbnail";

/// Whether `byte` may appear in a key: ASCII letters, digits, `-`, `_`, `.`, and `/`
/// between segments. Branch-free, so that the compiler checks many bytes at a time.
fn key_byte(byte: u8) -> bool {
    let letter = (byte | 0x20).wrapping_sub(b'a') < 26;
    let digit = byte.wrapping_sub(b'0') < 10;
    letter | digit | (byte == b'-') | (byte == b'_') | (byte == b'.') | (byte == b'/')
}

/// Whether `path` is `/`-separated segments that may each be part of a key: not empty,
/// `.` or `..`, and made only of ASCII letters, digits, `-`, `_` and `.`.
///
/// Every key of every listed image is checked on its way out of the database, so this is
/// on the list page's hot path: one vectorised pass over the bytes and a SIMD search for
/// the few slashes take a third of the time of `str::split` with a check per segment.
fn safe_segments(path: &str) -> bool {
    let bytes = path.as_bytes();
    if !bytes.iter().fold(true, |all, &byte| all & key_byte(byte)) {
        return false;
    }
    let mut segment_start = 0;
    for segment_end in memchr::memchr_iter(b'/', bytes).chain(std::iter::once(bytes.len())) {
        if matches!(&bytes[segment_start..segment_end], b"" | b"." | b"..") {
            return false;
        }
        segment_start = segment_end + 1;
    }
    true
}

/// The key of a stored object: a relative path of `/`-separated segments made only of ASCII
/// letters, digits, `-`, `_` and `.`, with no empty, `.` or `..` segment, at most 1024 bytes.
///
/// Keys made by imagevault are `imageupload/<uuid>/<uuid>.<ext>` and
/// `thumbnail/<uuid>/<uuid>.<ext>` with random (v4) UUIDs: no user input reaches a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageKey(String);

impl StorageKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 1024;

    /// Checks that `key` is a safe relative path.
    ///
    /// ```
    /// use imagevault_core::StorageKey;
    /// assert!(StorageKey::parse("thumbnail/a/b.png").is_some());
    /// assert!(StorageKey::parse("../etc/passwd").is_none());
    /// assert!(StorageKey::parse("/abs").is_none());
    /// ```
    pub fn parse(key: &str) -> Option<Self> {
        (key.len() <= Self::MAX_LEN && safe_segments(key)).then(|| Self(key.to_owned()))
    }

    /// A new random key for an original: `imageupload/<uuid>/<uuid>.<ext>`.
    pub fn new_original(format: ImageFormat) -> Self {
        Self::random(ORIGINALS, format)
    }

    /// A new random key for a thumbnail: `thumbnail/<uuid>/<uuid>.<ext>`.
    pub fn new_thumbnail(format: ImageFormat) -> Self {
        Self::random(THUMBNAILS, format)
    }

    fn random(prefix: &str, format: ImageFormat) -> Self {
        Self(format!(
            "{prefix}/{}/{}.{}",
            uuid::Uuid::new_v4().hyphenated(),
            uuid::Uuid::new_v4().hyphenated(),
            format.extension()
        ))
    }

    /// The key as a path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A "directory" of keys, for [`Storage::list`]: empty for every key, or whole key segments
/// each followed by `/`, such as `thumbnail/`.
///
/// ```
/// use imagevault_core::storage::KeyPrefix;
/// assert_eq!(KeyPrefix::originals().as_str(), "imageupload/");
/// assert!(KeyPrefix::parse("thumbnail/0b5c/").is_some());
/// assert!(KeyPrefix::parse("thumb").is_none()); // part of a segment
/// assert!(KeyPrefix::parse("../").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// `imageupload/`: where every original is stored.
    pub fn originals() -> Self {
        Self(format!("{ORIGINALS}/"))
    }

    /// `thumbnail/`: where every thumbnail is stored.
    pub fn thumbnails() -> Self {
        Self(format!("{THUMBNAILS}/"))
    }

    /// Checks that `prefix` is empty, or segments as in a [`StorageKey`] each followed by
    /// `/`.
    pub fn parse(prefix: &str) -> Option<Self> {
        if prefix.is_empty() {
            return Some(Self(String::new()));
        }
        let directories = prefix.strip_suffix('/')?;
        (prefix.len() <= StorageKey::MAX_LEN && safe_segments(directories))
            .then(|| Self(prefix.to_owned()))
    }

    /// The prefix, empty or ending in `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix's segments, without the slashes; none for the empty prefix.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator('/')
    }

    /// Whether `key` lies under this prefix.
    pub fn contains(&self, key: &StorageKey) -> bool {
        key.as_str().starts_with(&self.0)
    }
}

impl std::fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as it reads in the documentation, one segment at a time.
    fn segments_by_splitting(path: &str) -> bool {
        path.split('/').all(|segment| {
            !matches!(segment, "" | "." | "..")
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
    }

    #[test]
    fn the_fast_check_agrees_with_splitting_on_every_short_path() {
        // Every string of up to five bytes over an alphabet with each kind of byte: allowed
        // ones, the separator, a dot, a forbidden ASCII byte and a non-ASCII letter.
        let alphabet = ["a", "Z", "7", "-", "_", ".", "/", " ", "\\", "é"];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            let mut longer = Vec::new();
            for path in &paths {
                for piece in alphabet {
                    let path = format!("{path}{piece}");
                    assert_eq!(
                        safe_segments(&path),
                        segments_by_splitting(&path),
                        "{path:?}"
                    );
                    checked += 1;
                    longer.push(path);
                }
            }
            paths = longer;
        }
        assert_eq!(checked, 10 + 100 + 1_000 + 10_000 + 100_000);
    }

    #[test]
    fn keys_and_prefixes_follow_the_segment_rule() {
        let key = StorageKey::new_thumbnail(ImageFormat::Png);
        assert_eq!(StorageKey::parse(key.as_str()), Some(key));
        for bad in [
            "", "/a", "a/", "a//b", "a/./b", "a/../b", "..", "a/b c", "a/b%2f",
        ] {
            assert!(StorageKey::parse(bad).is_none(), "{bad:?}");
        }
        assert!(StorageKey::parse(&"a".repeat(StorageKey::MAX_LEN)).is_some());
        assert!(StorageKey::parse(&"a".repeat(StorageKey::MAX_LEN + 1)).is_none());
        assert!(KeyPrefix::parse("thumbnail/a.b/").is_some());
        for bad in ["thumbnail", "/", "a//", "../", "a/../"] {
            assert!(KeyPrefix::parse(bad).is_none(), "{bad:?}");
        }
    }
}
