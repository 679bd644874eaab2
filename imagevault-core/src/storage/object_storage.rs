//! [`ObjectStorage`]: the [`Storage`] port over any [`object_store::ObjectStore`]
//! (local files, memory, and with feature `s3` Amazon S3 and S3-compatible servers).

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, PutPayload};

use crate::format::ImageFormat;
use crate::storage::{
    KeyPrefix, ListedObject, ObjectInfo, Storage, StorageError, StorageKey, StoredObject,
    file_backed,
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
    /// The directory of a [`local`](Self::local) store: reads open the file themselves,
    /// in one trip to the blocking pool (object_store's reader takes several).
    local_root: Option<Arc<std::path::PathBuf>>,
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
            local_root: None,
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
        let root = std::fs::canonicalize(directory).map_err(|error| failed(error.into()))?;
        Ok(Self {
            local_root: Some(Arc::new(root)),
            ..Self::new(Arc::new(store), "")
        })
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

fn file_error(error: std::io::Error) -> StorageError {
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
        if let Some(root) = &self.local_root {
            // Keys are `/`-separated segments of UUIDs and an extension (StorageKey checks
            // them), so they map to the same paths object_store writes, without escaping.
            let path = key
                .as_str()
                .split('/')
                .fold(root.to_path_buf(), |path, segment| path.join(segment));
            return read_file(path, range).await;
        }
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
        let body = match result.payload {
            GetResultPayload::File(file, _) => file_chunks(Arc::new(file), served.clone()),
            GetResultPayload::Stream(stream) => stream.map_err(backend).boxed(),
        };
        Ok(Some(StoredObject {
            info: object_info,
            range: served,
            body,
        }))
    }
}

/// How much of a local file one blocking read takes. object_store's own reader takes 8 KiB
/// per trip to the blocking pool (and one more trip to find the end), which costs more in
/// thread hand-offs than in reading: a 20 KB thumbnail took six trips. At this size a
/// thumbnail is one trip and an original a few, and a response holds at most one chunk.
const FILE_CHUNK: u64 = 256 * 1024;

/// How much the first read of a local file takes: an object the vault's media cache may
/// keep is read whole, so that it is one file-backed buffer (see [`file_backed`]), sent
/// from the file however often it is served.
const FIRST_CHUNK: u64 = crate::CACHED_MEDIA_LIMIT;

/// What opening a local file for a read found.
enum Opened {
    Missing,
    BadRange(Range<u64>, u64),
    Found {
        info: ObjectInfo,
        served: Range<u64>,
        first: Vec<u8>,
        file: Arc<std::fs::File>,
    },
}

/// What to read of an opened file.
struct ReadPlan {
    info: ObjectInfo,
    served: Range<u64>,
    /// The length of the first chunk.
    first: usize,
}

/// An opened file's size checked against `range`: what to read, or the outcome when there
/// is nothing to read.
fn plan_read(
    file: &std::fs::File,
    range: Option<Range<u64>>,
) -> std::io::Result<Result<ReadPlan, Opened>> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(Err(Opened::Missing));
    }
    let size = metadata.len();
    let ranged = range.is_some();
    let served = range.unwrap_or(0..size);
    if served.end > size || (ranged && served.start >= served.end) {
        return Ok(Err(Opened::BadRange(served, size)));
    }
    let first = usize::try_from((served.end - served.start).min(FIRST_CHUNK)).unwrap_or(0);
    let info = ObjectInfo {
        size,
        last_modified: metadata.modified().ok().map(DateTime::<Utc>::from),
    };
    Ok(Ok(ReadPlan {
        info,
        served,
        first,
    }))
}

/// Opens a file and reads its first chunk; blocking, so for the blocking pool.
fn open_blocking(path: &FsPath, range: Option<Range<u64>>) -> std::io::Result<Opened> {
    let file = match std::fs::File::open(path) {
        Ok(file) => Arc::new(file),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Opened::Missing),
        Err(error) => return Err(error),
    };
    let ReadPlan {
        info,
        served,
        first,
    } = match plan_read(&file, range)? {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    let chunk = read_blocking(&file, served.start, first as u64)?;
    Ok(Opened::Found {
        info,
        served,
        first: chunk,
        file,
    })
}

/// `length` bytes at `offset`; blocking, so for the blocking pool.
fn read_blocking(file: &std::fs::File, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
    let mut chunk = vec![0; usize::try_from(length).map_err(std::io::Error::other)?];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut chunk, offset)?;
    #[cfg(not(unix))]
    {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut chunk)?;
    }
    Ok(chunk)
}

/// Runs blocking file work on the blocking pool.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| file_error(std::io::Error::other(error)))?
        .map_err(file_error)
}

/// The same as [`open_blocking`], but only from the kernel's caches, so that it may run on
/// the async thread: `openat2` with `RESOLVE_CACHED` and `preadv2` with `RWF_NOWAIT` fail
/// instead of waiting for the disk. `None` when anything would have to wait (or the kernel
/// lacks these calls): the caller then goes to the blocking pool. A hot thumbnail costs no
/// thread hand-off at all, which on a small machine was most of the cost of serving it.
#[cfg(target_os = "linux")]
fn open_cached(path: &FsPath, range: Option<Range<u64>>) -> Option<std::io::Result<Opened>> {
    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
    use rustix::io::Errno;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let file = match openat2(CWD, path, flags, Mode::empty(), ResolveFlags::CACHED) {
        Ok(fd) => Arc::new(std::fs::File::from(fd)),
        Err(Errno::NOENT) => return Some(Ok(Opened::Missing)),
        Err(_) => return None,
    };
    let ReadPlan {
        info,
        served,
        first,
    } = match plan_read(&file, range) {
        Ok(Ok(plan)) => plan,
        Ok(Err(outcome)) => return Some(Ok(outcome)),
        Err(error) => return Some(Err(error)),
    };
    // A chunk not wholly cached is read on the pool instead.
    let chunk = read_cached(&file, served.start, first as u64)?;
    Some(Ok(Opened::Found {
        info,
        served,
        first: chunk,
        file,
    }))
}

/// `length` bytes at `offset`, if the page cache holds them all (`preadv2` with
/// `RWF_NOWAIT`); `None` when the disk would have to be read, or on other platforms.
fn read_cached(file: &std::fs::File, offset: u64, length: u64) -> Option<Vec<u8>> {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::{ReadWriteFlags, preadv2};
        let mut chunk = vec![0; usize::try_from(length).ok()?];
        let read = preadv2(
            file,
            &mut [std::io::IoSliceMut::new(&mut chunk)],
            offset,
            ReadWriteFlags::NOWAIT,
        );
        matches!(read, Ok(n) if n == chunk.len()).then_some(chunk)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, length);
        None
    }
}

/// Opens a local file, checks `range` against its size and reads the first chunk: from the
/// kernel's caches on this thread when it can, else in one trip to the blocking pool. The
/// rest (if any) follows chunk by chunk.
async fn read_file(
    path: std::path::PathBuf,
    range: Option<Range<u64>>,
) -> Result<Option<StoredObject>, StorageError> {
    #[cfg(target_os = "linux")]
    let cached = open_cached(&path, range.clone());
    #[cfg(not(target_os = "linux"))]
    let cached = None;
    let opened = match cached {
        Some(opened) => opened.map_err(file_error)?,
        None => on_blocking_pool(move || open_blocking(&path, range)).await?,
    };
    match opened {
        Opened::Missing => Ok(None),
        Opened::BadRange(range, size) => Err(StorageError::InvalidRange {
            start: range.start,
            end: range.end,
            size,
        }),
        Opened::Found {
            info,
            served,
            first,
            file,
        } => {
            let rest = served.start + first.len() as u64..served.end;
            let first = file_backed::buffer(first, Arc::clone(&file), served.start);
            let body = futures::stream::once(futures::future::ready(Ok(first)))
                .chain(file_chunks(file, rest))
                .boxed();
            Ok(Some(StoredObject {
                info,
                range: served,
                body,
            }))
        }
    }
}

/// The bytes `range` of an open local file: from the page cache on this thread when it
/// holds a chunk, else on the blocking pool.
fn file_chunks(
    file: Arc<std::fs::File>,
    range: Range<u64>,
) -> futures::stream::BoxStream<'static, Result<Bytes, StorageError>> {
    futures::stream::try_unfold(
        (Some(file), range.start),
        move |(file, position)| async move {
            let Some(file) = file.filter(|_| position < range.end) else {
                return Ok(None);
            };
            let length = (range.end - position).min(FILE_CHUNK);
            let chunk = match read_cached(&file, position, length) {
                Some(chunk) => chunk,
                None => {
                    let file = Arc::clone(&file);
                    on_blocking_pool(move || read_blocking(&file, position, length)).await?
                }
            };
            let chunk = file_backed::buffer(chunk, Arc::clone(&file), position);
            let next = position + length;
            // The last chunk drops the file at once instead of after one more trip.
            let file = (next < range.end).then_some(file);
            Ok(Some((chunk, (file, next))))
        },
    )
    .boxed()
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

    /// The cache-only open answers exactly as the blocking one wherever it answers at all
    /// (it declines when the kernel would have to wait, or lacks `RESOLVE_CACHED`).
    #[cfg(target_os = "linux")]
    #[test]
    fn cached_reads_agree_with_blocking_reads() {
        fn summary(opened: std::io::Result<Opened>) -> String {
            match opened.unwrap() {
                Opened::Missing => "missing".into(),
                Opened::BadRange(range, size) => format!("bad {range:?} of {size}"),
                Opened::Found {
                    info,
                    served,
                    first,
                    ..
                } => format!("{} {served:?} {first:?}", info.size),
            }
        }
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("object.png");
        std::fs::write(&path, b"0123456789").unwrap();
        let missing = directory.path().join("other.png");
        for (path, range) in [
            (&path, None),
            (&path, Some(2..5)),
            (&path, Some(5..5)),
            (&path, Some(8..11)),
            (&missing, None),
        ] {
            let blocking = summary(open_blocking(path, range.clone()));
            if let Some(cached) = open_cached(path, range.clone()) {
                assert_eq!(summary(cached), blocking, "{range:?}");
            }
        }
        assert_eq!(
            summary(open_blocking(&path, Some(2..5))),
            "10 2..5 [50, 51, 52]"
        );
    }

    /// Local files larger than the first read come back whole and in order, in file-backed
    /// chunks at their offsets, and ranges that cross chunk boundaries come back exact.
    #[tokio::test]
    async fn local_reads_span_chunks() {
        let directory = tempfile::tempdir().unwrap();
        let storage = ObjectStorage::local(directory.path()).unwrap();
        let key = StorageKey::new_original(ImageFormat::Jpeg);
        let size = (FIRST_CHUNK + FILE_CHUNK * 2) as usize + 1234;
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        storage
            .put(&key, Bytes::from(data.clone()), ImageFormat::Jpeg)
            .await
            .unwrap();

        let whole = storage.get(&key).await.unwrap().unwrap();
        assert_eq!(whole.info.size, size as u64);
        assert_eq!(whole.range, 0..size as u64);
        let chunks: Vec<Bytes> = whole.body.try_collect().await.unwrap();
        let lengths: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(
            lengths,
            [
                FIRST_CHUNK as usize,
                FILE_CHUNK as usize,
                FILE_CHUNK as usize,
                1234
            ],
            "the cacheable first piece, then 256 KiB chunks"
        );
        let offsets: Vec<Option<u64>> = chunks
            .iter()
            .map(|chunk| file_backed::find(chunk).map(|region| region.offset))
            .collect();
        assert_eq!(
            offsets,
            [
                Some(0),
                Some(FIRST_CHUNK),
                Some(FIRST_CHUNK + FILE_CHUNK),
                None
            ],
            "chunks of 64 KiB or more are file-backed, at their offsets"
        );
        assert_eq!(chunks.concat(), data);

        let crossing = 10..FIRST_CHUNK + FILE_CHUNK + 10;
        let part = storage
            .get_range(&key, crossing.clone())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(part.range, crossing);
        let bytes = part.bytes().await.unwrap();
        assert_eq!(
            &bytes[..],
            &data[crossing.start as usize..crossing.end as usize]
        );
    }

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
