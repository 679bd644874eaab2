//! The [`Storage`] conformance suite.
//!
//! [`storage_conformance_tests!`](crate::storage_conformance_tests) writes one test per check
//! for a backend, so that a backend with two broken rules shows two failing tests;
//! [`run_all`] runs every check in one go. Every check deletes what it writes.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use futures::TryStreamExt as _;

use crate::storage::{KeyPrefix, ListedObject, Storage, StorageError};
use crate::{ImageFormat, StorageKey};

/// The future of one check running on a storage.
pub type CheckFuture<'a> = futures::future::BoxFuture<'a, ()>;

/// One check of the suite, as [`storage_conformance_tests!`](crate::storage_conformance_tests)
/// hands it to a runner: a runner opens a storage, awaits the check on it, and cleans up.
pub type Check = for<'a> fn(&'a dyn Storage) -> CheckFuture<'a>;

/// The checks of the suite, the one list both [`storage_conformance_tests!`] and
/// [`run_all`] expand: hands `[check ...]` to `__storage_conformance!(@<then> <args> [...])`.
///
/// [`storage_conformance_tests!`]: crate::storage_conformance_tests
#[doc(hidden)]
#[macro_export]
macro_rules! __storage_conformance {
    (@checks $then:ident $args:tt) => {
        $crate::__storage_conformance!(@$then $args [
            put_get_head_delete
            missing_keys
            ranges
            put_replaces
            large_objects_stream
            list_finds_objects_under_a_prefix
            list_of_an_empty_prefix_is_empty
        ]);
    };
    (@tests ($runner:expr) [$($name:ident)*]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                fn check(storage: &dyn $crate::Storage) -> $crate::testing::storage::CheckFuture<'_> {
                    ::std::boxed::Box::pin($crate::testing::storage::$name(storage))
                }
                ($runner)(check).await;
            }
        )*
    };
    (@run ($storage:ident) [$($name:ident)*]) => {
        $( $crate::testing::storage::$name($storage).await; )*
    };
}

/// Expands the suite into one `#[tokio::test]` per check, named after the check
/// (`put_get_head_delete`, `ranges`, ...), so that every broken rule shows as a failing
/// test of its own.
///
/// Each test gets a storage, from one of two forms:
/// - an expression, evaluated in each test, that is a future of a [`Storage`]:
///   `storage_conformance_tests!(async { make_storage().await })`;
/// - `runner = f`, where `f` is an async function (or closure) taking a [`Check`]: it
///   opens a storage, awaits the check on it and cleans up after it (a bucket or directory
///   to remove), or returns without calling the check to skip it.
///
/// Invoke it inside a module named after the backend, so that `cargo test` shows
/// `memory::put_get_head_delete`. The tests use the multi-threaded tokio runtime, so the
/// crate needs `tokio` (features `macros` and `rt-multi-thread`) in its dev-dependencies.
///
/// ```
/// mod memory {
///     use imagevault_core::{ObjectStorage, storage_conformance_tests};
///
///     storage_conformance_tests!(async { ObjectStorage::memory() });
/// }
///
/// mod local_directory {
///     use imagevault_core::ObjectStorage;
///     use imagevault_core::testing::storage::Check;
///
///     /// A storage in a temporary directory, removed after the check.
///     async fn run(check: Check) {
///         let directory = tempfile::tempdir().unwrap();
///         check(&ObjectStorage::local(directory.path()).unwrap()).await;
///     }
///
///     imagevault_core::storage_conformance_tests!(runner = run);
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! storage_conformance_tests {
    (runner = $runner:expr $(,)?) => {
        $crate::__storage_conformance!(@checks tests ($runner));
    };
    ($make:expr $(,)?) => {
        $crate::storage_conformance_tests!(runner = |check: $crate::testing::storage::Check| async move {
            check(&$make.await).await;
        });
    };
}

/// Runs every storage check in turn; the first broken rule stops the run (see
/// [`storage_conformance_tests!`](crate::storage_conformance_tests) for one test per check).
pub async fn run_all(storage: &dyn Storage) {
    crate::__storage_conformance!(@checks run (storage));
}

fn key() -> StorageKey {
    StorageKey::new_thumbnail(ImageFormat::Png)
}

async fn read_all(storage: &dyn Storage, key: &StorageKey) -> Option<Bytes> {
    let object = storage.get(key).await.expect("get failed")?;
    Some(object.bytes().await.expect("reading the body failed"))
}

/// An object written can be read back whole, its size is reported, and delete removes it.
pub async fn put_get_head_delete(storage: &dyn Storage) {
    let key = key();
    let data = Bytes::from_static(b"\x89PNG not really, but bytes all the same");
    storage
        .put(&key, data.clone(), ImageFormat::Png)
        .await
        .expect("put failed");
    let object = storage
        .get(&key)
        .await
        .expect("get failed")
        .expect("object missing after put");
    assert_eq!(
        object.info.size,
        data.len() as u64,
        "get reports the wrong size"
    );
    assert_eq!(
        object.range,
        0..data.len() as u64,
        "a whole get must cover the whole object"
    );
    assert_eq!(
        object.bytes().await.expect("body"),
        data,
        "get returned other bytes"
    );
    let info = storage
        .head(&key)
        .await
        .expect("head failed")
        .expect("head found nothing after put");
    assert_eq!(info.size, data.len() as u64, "head reports the wrong size");
    storage.delete(&key).await.expect("delete failed");
    assert!(
        storage.head(&key).await.expect("head failed").is_none(),
        "object still there after delete"
    );
    assert!(
        read_all(storage, &key).await.is_none(),
        "get still finds a deleted object"
    );
}

/// Missing keys are `Ok(None)` for reads and `Ok(())` for delete.
pub async fn missing_keys(storage: &dyn Storage) {
    let key = key();
    assert!(
        storage
            .get(&key)
            .await
            .expect("get of a missing key must not fail")
            .is_none()
    );
    assert!(
        storage
            .get_range(&key, 0..1)
            .await
            .expect("ranged get of a missing key must not fail")
            .is_none()
    );
    assert!(
        storage
            .head(&key)
            .await
            .expect("head of a missing key must not fail")
            .is_none()
    );
    storage
        .delete(&key)
        .await
        .expect("deleting a missing key must succeed");
}

/// Ranged reads return exactly the requested bytes; ranges not within the object fail
/// with [`StorageError::InvalidRange`].
pub async fn ranges(storage: &dyn Storage) {
    let key = key();
    let data: Bytes = (0..=255u8).cycle().take(1000).collect::<Vec<_>>().into();
    storage
        .put(&key, data.clone(), ImageFormat::Png)
        .await
        .expect("put failed");
    for range in [0..1, 10..20, 999..1000, 0..1000] {
        let object = storage
            .get_range(&key, range.clone())
            .await
            .expect("ranged get failed")
            .expect("ranged get found nothing");
        assert_eq!(object.range, range, "ranged get reports another range");
        assert_eq!(
            object.info.size, 1000,
            "ranged get must report the whole object's size"
        );
        let bytes = object.bytes().await.expect("body");
        assert_eq!(
            &bytes[..],
            &data[range.start as usize..range.end as usize],
            "ranged get returned other bytes"
        );
    }
    for bad in [1000..1001, 500..2000, 5..5] {
        match storage.get_range(&key, bad.clone()).await {
            Err(StorageError::InvalidRange { size, .. }) => assert_eq!(size, 1000),
            other => {
                panic!("range {bad:?} of a 1000-byte object must be InvalidRange, got {other:?}")
            }
        }
    }
    storage.delete(&key).await.expect("delete failed");
}

/// A second put under the same key replaces the object.
pub async fn put_replaces(storage: &dyn Storage) {
    let key = key();
    storage
        .put(&key, Bytes::from_static(b"first"), ImageFormat::Png)
        .await
        .expect("put failed");
    storage
        .put(&key, Bytes::from_static(b"second!"), ImageFormat::Png)
        .await
        .expect("put failed");
    assert_eq!(
        read_all(storage, &key).await.as_deref(),
        Some(&b"second!"[..]),
        "put must replace"
    );
    storage.delete(&key).await.expect("delete failed");
}

/// A multi-megabyte object survives the round trip byte for byte.
pub async fn large_objects_stream(storage: &dyn Storage) {
    let key = StorageKey::new_original(ImageFormat::Jpeg);
    let data: Bytes = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<_>>()
        .into();
    storage
        .put(&key, data.clone(), ImageFormat::Jpeg)
        .await
        .expect("put of a large object failed");
    let read = read_all(storage, &key).await.expect("large object missing");
    assert!(read == data, "large object changed in storage");
    storage.delete(&key).await.expect("delete failed");
}

/// A directory no other check or concurrent run uses: `<top>/<random uuid>/`.
fn fresh_directory(top: &str) -> KeyPrefix {
    KeyPrefix::parse(&format!("{top}/{}/", uuid::Uuid::new_v4().hyphenated()))
        .expect("a valid prefix")
}

/// A key in `directory`, shaped like imagevault's own.
fn key_in(directory: &KeyPrefix) -> StorageKey {
    StorageKey::parse(&format!(
        "{directory}{}.png",
        uuid::Uuid::new_v4().hyphenated()
    ))
    .expect("a valid key")
}

/// Lists `prefix` whole, keyed by key; panics on a failure or a key listed twice.
async fn listing(storage: &dyn Storage, prefix: &KeyPrefix) -> BTreeMap<StorageKey, ListedObject> {
    let listed: Vec<ListedObject> = storage
        .list(prefix)
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("list of {prefix:?} failed: {error:?}"));
    let mut by_key = BTreeMap::new();
    for object in listed {
        assert!(
            prefix.contains(&object.key),
            "list of {prefix:?} returned {:?}, which is not under it",
            object.key
        );
        let key = object.key.clone();
        assert!(
            by_key.insert(key.clone(), object).is_none(),
            "list of {prefix:?} returned {key:?} twice"
        );
    }
    by_key
}

/// `list` finds every object under a prefix with its size and a plausible time of writing,
/// and nothing outside it; a deleted object is no longer listed.
pub async fn list_finds_objects_under_a_prefix(storage: &dyn Storage) {
    let directory = fresh_directory("thumbnail");
    let objects: Vec<(StorageKey, Bytes)> = [&b"one"[..], b"second", b"the third"]
        .into_iter()
        .map(|data| (key_in(&directory), Bytes::from_static(data)))
        .collect();
    for (key, data) in &objects {
        storage
            .put(key, data.clone(), ImageFormat::Png)
            .await
            .expect("put failed");
    }
    let elsewhere = key_in(&fresh_directory("imageupload"));
    storage
        .put(
            &elsewhere,
            Bytes::from_static(b"original"),
            ImageFormat::Png,
        )
        .await
        .expect("put failed");

    let listed = listing(storage, &directory).await;
    let sizes: BTreeMap<&StorageKey, u64> = listed
        .iter()
        .map(|(key, object)| (key, object.info.size))
        .collect();
    let expected: BTreeMap<&StorageKey, u64> = objects
        .iter()
        .map(|(key, data)| (key, data.len() as u64))
        .collect();
    assert_eq!(
        sizes, expected,
        "list must return exactly the objects under the prefix, with their sizes"
    );
    for object in listed.values() {
        if let Some(written) = object.info.last_modified {
            let age = Utc::now() - written;
            assert!(
                age.abs() < TimeDelta::minutes(5),
                "list reports {:?} written at {written}, not about now",
                object.key
            );
        }
    }
    let all_thumbnails = listing(storage, &KeyPrefix::thumbnails()).await;
    for (key, _) in &objects {
        assert!(
            all_thumbnails.contains_key(key),
            "list of thumbnail/ must include {key:?}"
        );
    }
    assert!(
        !all_thumbnails.contains_key(&elsewhere),
        "list of thumbnail/ must not include an original"
    );
    assert!(
        listing(storage, &KeyPrefix::originals())
            .await
            .contains_key(&elsewhere),
        "list of imageupload/ must include an original"
    );

    let (deleted, _) = &objects[1];
    storage.delete(deleted).await.expect("delete failed");
    let listed = listing(storage, &directory).await;
    assert!(
        !listed.contains_key(deleted),
        "list must not return a deleted object"
    );
    assert_eq!(listed.len(), 2, "list must keep the objects not deleted");

    for (key, _) in &objects {
        storage.delete(key).await.expect("delete failed");
    }
    storage.delete(&elsewhere).await.expect("delete failed");
    assert!(
        listing(storage, &directory).await.is_empty(),
        "list must return nothing once every object under the prefix is deleted"
    );
}

/// `list` of a prefix nothing was ever stored under yields nothing, without an error.
pub async fn list_of_an_empty_prefix_is_empty(storage: &dyn Storage) {
    for top in ["imageupload", "thumbnail"] {
        let directory = fresh_directory(top);
        assert!(
            listing(storage, &directory).await.is_empty(),
            "list of a prefix with no objects must be empty"
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::{KeyPrefix, Storage as _};
    use crate::{ObjectStorage, StorageKey};

    mod memory {
        use crate::ObjectStorage;

        crate::storage_conformance_tests!(async { ObjectStorage::memory() });
    }

    mod local_directory {
        use crate::ObjectStorage;

        use crate::testing::storage::Check;

        /// A storage in a temporary directory, removed after the check.
        async fn run(check: Check) {
            let directory = tempfile::tempdir().unwrap();
            let storage = ObjectStorage::from_url(&format!(
                "file://{}",
                directory.path().join("media").display()
            ))
            .unwrap();
            check(&storage).await;
        }

        crate::storage_conformance_tests!(runner = run);
    }

    /// A storage under a prefix of a store that other prefixes share.
    mod prefixed_memory {
        use crate::ObjectStorage;

        crate::storage_conformance_tests!(async {
            let store = std::sync::Arc::new(object_store::memory::InMemory::new());
            ObjectStorage::new(store, "tenant/media")
        });
    }

    /// A fresh store with no directories at all lists nothing, and files that are not
    /// imagevault's (names no key can have) are skipped.
    #[tokio::test]
    async fn local_directory_lists_only_keys() {
        let directory = tempfile::tempdir().unwrap();
        let storage = ObjectStorage::local(directory.path()).unwrap();
        for prefix in [KeyPrefix::originals(), KeyPrefix::thumbnails()] {
            assert!(super::listing(&storage, &prefix).await.is_empty());
        }
        let stray = directory.path().join("thumbnail/a b");
        std::fs::create_dir_all(&stray).unwrap();
        std::fs::write(stray.join("c d.png"), b"not ours").unwrap();
        let key = StorageKey::parse("thumbnail/x/y.png").unwrap();
        storage
            .put(
                &key,
                bytes::Bytes::from_static(b"ours"),
                crate::ImageFormat::Png,
            )
            .await
            .unwrap();
        let listed = super::listing(&storage, &KeyPrefix::thumbnails()).await;
        assert_eq!(listed.keys().collect::<Vec<_>>(), [&key]);
    }

    /// Keys are listed without the storage's own prefix.
    #[tokio::test]
    async fn prefixed_stores_list_bare_keys() {
        let store = std::sync::Arc::new(object_store::memory::InMemory::new());
        let storage = ObjectStorage::new(store.clone(), "tenant/media");
        let key = StorageKey::parse("imageupload/x/y.jpg").unwrap();
        storage
            .put(
                &key,
                bytes::Bytes::from_static(b"ours"),
                crate::ImageFormat::Jpeg,
            )
            .await
            .unwrap();
        let other = ObjectStorage::new(store, "tenant/other");
        other
            .put(
                &key,
                bytes::Bytes::from_static(b"theirs"),
                crate::ImageFormat::Jpeg,
            )
            .await
            .unwrap();
        let listed = super::listing(&storage, &KeyPrefix::originals()).await;
        assert_eq!(listed.keys().collect::<Vec<_>>(), [&key]);
        assert_eq!(listed[&key].info.size, 4);
    }

    #[test]
    fn unsupported_urls_say_what_is_accepted() {
        let error = ObjectStorage::from_url("ftp://host/dir").unwrap_err();
        assert!(error.to_string().contains("file://"), "{error}");
    }
}
