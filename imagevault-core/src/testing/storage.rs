//! The [`Storage`] conformance suite.

use bytes::Bytes;

use crate::imaging::ImageFormat;
use crate::storage::{Storage, StorageError, StorageKey};

/// Runs every storage check.
pub async fn run_all(storage: &dyn Storage) {
    put_get_head_delete(storage).await;
    missing_keys(storage).await;
    ranges(storage).await;
    put_replaces(storage).await;
    large_objects_stream(storage).await;
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

#[cfg(test)]
mod tests {
    use crate::ObjectStorage;

    #[tokio::test]
    async fn memory_object_store_conforms() {
        super::run_all(&ObjectStorage::memory()).await;
    }

    #[tokio::test]
    async fn local_directory_conforms() {
        let directory = tempfile::tempdir().unwrap();
        let storage = ObjectStorage::from_url(&format!(
            "file://{}",
            directory.path().join("media").display()
        ))
        .unwrap();
        super::run_all(&storage).await;
    }

    #[test]
    fn unsupported_urls_say_what_is_accepted() {
        let error = ObjectStorage::from_url("ftp://host/dir").unwrap_err();
        assert!(error.to_string().contains("file://"), "{error}");
    }
}
