//! `/media/...`: headers, conditional and range requests, HEAD, malformed paths, and
//! originals gated by the owner's current plan.

use std::io::Write as _;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use imagevault::backend::storage::{
    KeyPrefix, ListedObject, ObjectInfo, StorageError, StoredObject, file_backed,
};
use imagevault::backend::{Storage, StorageKey};
use imagevault::{ImageFormat, ObjectStorage, PlanId};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    AppOptions, TestApp, fixture, header, json_response, spawn_app, spawn_app_with, text,
};

/// An Enterprise image with ready thumbnails: `(original url, [thumbnail urls], bytes)`.
async fn ready_image(app: &TestApp, name: &str) -> (String, Vec<String>, Vec<u8>) {
    let data = fixture(name);
    let image = app.upload_fixture(&app.enterprise, name).await;
    let image = app
        .wait_for_thumbnails(&app.enterprise, text(&image, "id"))
        .await;
    let thumbnails = image["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|thumbnail| text(thumbnail, "url").to_owned())
        .collect();
    (text(&image, "original").to_owned(), thumbnails, data)
}

#[tokio::test]
async fn media_answers_carry_type_length_etag_and_their_caching() {
    let app = spawn_app().await;
    for (name, mime) in [
        ("chelsea_451x300.png", "image/png"),
        ("storm_1920x1280_orient6.jpg", "image/jpeg"),
    ] {
        let (original, thumbnails, data) = ready_image(&app, name).await;
        let mut urls = vec![(original, Some(data))];
        urls.extend(thumbnails.into_iter().map(|url| (url, None)));
        for (url, expected) in urls {
            let response = app.media(&url).await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap();
            assert_eq!(header(&headers, "content-type"), Some(mime), "{url}");
            assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
            assert_eq!(
                header(&headers, "content-length"),
                Some(body.len().to_string().as_str())
            );
            // Originals are gated by the plan and by deletion: every use revalidates.
            let caching = if expected.is_some() {
                "private, no-cache"
            } else {
                "public, max-age=31536000, immutable"
            };
            assert_eq!(header(&headers, "cache-control"), Some(caching), "{url}");
            let etag = header(&headers, "etag").expect("an ETag").to_owned();
            assert!(
                etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
                "a strong ETag: {etag}"
            );
            if let Some(expected) = expected {
                assert_eq!(body.to_vec(), expected, "the original's bytes");
            }

            // A client that accepts compression (every browser) gets the same bytes and
            // length: images are not compressed again.
            let response = app
                .request(Method::GET, &url, None)
                .header("Accept-Encoding", "gzip, deflate, br")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(response.headers(), "content-encoding"), None);
            assert_eq!(
                header(response.headers(), "content-length"),
                Some(body.len().to_string().as_str())
            );
            assert_eq!(response.bytes().await.unwrap(), body);

            // The same ETag each time; If-None-Match with it gives 304 without a body.
            let again = app.media(&url).await;
            assert_eq!(header(again.headers(), "etag"), Some(etag.as_str()));
            let response = app
                .request(Method::GET, &url, None)
                .header("If-None-Match", &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{url}");
            assert_eq!(header(response.headers(), "etag"), Some(etag.as_str()));
            assert!(response.bytes().await.unwrap().is_empty());
            let response = app
                .request(Method::GET, &url, None)
                .header("If-None-Match", "\"something-else\"")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn ranges_give_206_with_the_exact_bytes_and_416_when_unsatisfiable() {
    let app = spawn_app().await;
    let (original, thumbnails, data) = ready_image(&app, "chelsea_451x300.png").await;
    let size = data.len();
    let range = |value: &str| {
        app.request(Method::GET, &original, None)
            .header("Range", value.to_owned())
            .send()
    };

    let response = range("bytes=0-99").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        Some(format!("bytes 0-99/{size}").as_str())
    );
    assert_eq!(header(response.headers(), "content-length"), Some("100"));
    assert_eq!(response.bytes().await.unwrap().to_vec(), data[..100]);

    let response = range("bytes=1000-1999").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap().to_vec(), data[1000..2000]);

    let response = range(&format!("bytes={}-", size - 10)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        Some(format!("bytes {}-{}/{size}", size - 10, size - 1).as_str())
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), data[size - 10..]);

    // A suffix range: the last 50 bytes.
    let response = range("bytes=-50").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        Some(format!("bytes {}-{}/{size}", size - 50, size - 1).as_str())
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), data[size - 50..]);

    // An end past the size is cut to the size.
    let response = range(&format!("bytes=10-{}", size * 2)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap().to_vec(), data[10..]);

    for unsatisfiable in [
        format!("bytes={size}-"),
        format!("bytes={}-{}", size + 5, size + 10),
    ] {
        let response = range(&unsatisfiable).await.unwrap();
        let content_range = header(response.headers(), "content-range").map(str::to_owned);
        let (status, body) = json_response(response).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{unsatisfiable}");
        assert!(body["detail"].is_string());
        assert_eq!(content_range, Some(format!("bytes */{size}")));
    }

    // Several ranges may be answered with the whole body.
    let response = range("bytes=0-1,5-6").await.unwrap();
    match response.status() {
        StatusCode::OK => assert_eq!(response.bytes().await.unwrap().to_vec(), data),
        StatusCode::PARTIAL_CONTENT => {}
        other => panic!("a multi-range request got {other}"),
    }

    // Thumbnails take ranges too.
    let thumbnail = app.media_bytes(&thumbnails[0]).await;
    let response = app
        .request(Method::GET, &thumbnails[0], None)
        .header("Range", "bytes=-20")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.unwrap().to_vec(),
        thumbnail[thumbnail.len() - 20..]
    );
}

#[tokio::test]
async fn head_answers_the_same_headers_without_a_body() {
    let app = spawn_app().await;
    let (original, thumbnails, data) = ready_image(&app, "storm_1920x1280_orient6.jpg").await;
    let link = {
        let (_, list) = app.get_json("/api/images/", &app.enterprise).await;
        let id = text(&list["results"][0], "id").to_owned();
        app.create_link(&app.enterprise, &id, 900).await
    };
    for url in [
        original.as_str(),
        thumbnails[1].as_str(),
        text(&link, "url"),
    ] {
        let get = app.media(url).await;
        let get_headers = get.headers().clone();
        let get_body = get.bytes().await.unwrap();
        let head = app.request(Method::HEAD, url, None).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{url}");
        let head_headers = head.headers().clone();
        assert!(head.bytes().await.unwrap().is_empty(), "no body");
        for name in [
            "content-type",
            "content-length",
            "etag",
            "cache-control",
            "x-content-type-options",
        ] {
            assert!(header(&head_headers, name).is_some(), "HEAD {url}: {name}");
            assert_eq!(
                header(&head_headers, name),
                header(&get_headers, name),
                "HEAD {url}: {name}"
            );
        }
        assert_eq!(
            header(&head_headers, "content-length"),
            Some(get_body.len().to_string().as_str())
        );
    }
    assert_eq!(
        app.media_bytes(&original).await.len(),
        data.len(),
        "GET after HEAD still serves everything"
    );
}

#[tokio::test]
async fn malformed_media_paths_are_json_404() {
    let app = spawn_app().await;
    let (original, thumbnails, _) = ready_image(&app, "storm_1920x1280_orient6.jpg").await;
    let original_path = original.strip_prefix(&app.public_url).unwrap().to_owned();
    let thumbnail_path = thumbnails[0]
        .strip_prefix(&app.public_url)
        .unwrap()
        .to_owned();
    // Each served as it is (the objects exist and are served)...
    for path in [&original_path, &thumbnail_path] {
        assert_eq!(app.raw_get(path).await.status, 200, "{path}");
    }
    let (dir, file) = {
        let rest = thumbnail_path.strip_prefix("/media/thumbnail/").unwrap();
        let (dir, file) = rest.split_once('/').unwrap();
        (dir.to_owned(), file.trim_end_matches(".jpg").to_owned())
    };
    // ...and no other spelling reaches them.
    let malformed = [
        "/media/".to_owned(),
        "/media/thumbnail/".to_owned(),
        format!("/media/thumbnail/{dir}"),
        format!("/media/thumbnail/{dir}/{file}"),
        format!("/media/thumbnail/{dir}/{file}.jpg/"),
        format!("/media/thumbnail/{dir}/{file}.jpg/extra"),
        format!("/media/thumbnail/{dir}/{file}.jpeg"),
        format!("/media/thumbnail/{dir}/{file}.JPG"),
        format!("/media/thumbnail/{dir}/{file}.png"),
        format!("/media/thumbnail/{dir}/{file}.gif"),
        format!("/media/thumbnail/{}/{file}.jpg", dir.to_uppercase()),
        format!("/media/thumbnail/{dir}/{}.jpg", file.to_uppercase()),
        format!("/media/thumbnail/{}/{file}.jpg", dir.replace('-', "")),
        format!("/media/thumbnail/{dir}%2F{file}.jpg"),
        format!("/media/thumbnail%2F{dir}/{file}.jpg"),
        format!("/media/thumbnail/{dir}%2f{file}.jpg"),
        format!("/media/thumbnail/../thumbnail/{dir}/{file}.jpg"),
        format!("/media/thumbnail/{dir}/../{dir}/{file}.jpg"),
        format!("/media/thumbnail/{dir}/./{file}.jpg"),
        format!("/media/%2E%2E/thumbnail/{dir}/{file}.jpg"),
        format!("/media//thumbnail/{dir}/{file}.jpg"),
        format!("/media/thumbnails/{dir}/{file}.jpg"),
        format!("/media/other/{dir}/{file}.jpg"),
        format!("/media/imageupload/{dir}/{file}.jpg"),
        format!("/media/exp/{dir}/{file}.jpg"),
        format!("/media/thumbnail/{dir}/{file}.jpg%00"),
        "/media/../etc/passwd".to_owned(),
        "/media/..%2F..%2Fetc%2Fpasswd".to_owned(),
        format!("{}/", original_path),
    ];
    for path in &malformed {
        let response = app.raw_get(path).await;
        assert_eq!(response.status, 404, "{path}");
        let body = response.json();
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    // An unknown object of the right shape, for each kind.
    for kind in ["imageupload", "thumbnail", "exp"] {
        let path = format!(
            "/media/{kind}/{}/{}.png",
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        );
        let (status, body) = json_response(app.media(&path).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": "Not found."}));
    }
}

#[tokio::test]
async fn originals_are_404_while_the_owners_plan_lacks_original_links() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.premium, 40, 30).await;
    let original = text(&image, "original").to_owned();
    let thumbnail = {
        let image = app
            .wait_for_thumbnails(&app.premium, text(&image, "id"))
            .await;
        text(&image["thumbnails"][0], "url").to_owned()
    };
    assert_eq!(app.media_status(&original).await, StatusCode::OK);

    app.set_plan(&app.premium, Some(&PlanId::BASIC.to_string()))
        .await;
    assert_eq!(app.media_status(&original).await, StatusCode::NOT_FOUND);
    let response = app
        .request(Method::HEAD, &original, None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.media_status(&thumbnail).await,
        StatusCode::OK,
        "thumbnails stay"
    );
    let image = app.get_image(&app.premium, text(&image, "id")).await;
    assert!(image.get("original").is_none(), "not shown either");

    app.set_plan(&app.premium, None).await;
    assert_eq!(app.media_status(&original).await, StatusCode::NOT_FOUND);

    app.set_plan(&app.premium, Some(&PlanId::PREMIUM.to_string()))
        .await;
    assert_eq!(app.media_status(&original).await, StatusCode::OK);
    let image = app.get_image(&app.premium, text(&image, "id")).await;
    assert_eq!(image["original"], original.as_str());
}

/// Local storage whose reads, once `disguise` is set, hand out file-backed buffers holding
/// zeros in memory and the object's real bytes in their file. A body sent from memory is
/// zeros; only one sent from the file is right.
#[derive(Debug)]
struct DisguisedStorage {
    inner: ObjectStorage,
    disguise: AtomicBool,
}

impl DisguisedStorage {
    async fn disguised(
        &self,
        object: Option<StoredObject>,
    ) -> Result<Option<StoredObject>, StorageError> {
        let Some(object) = object else {
            return Ok(None);
        };
        if !self.disguise.load(Ordering::SeqCst) {
            return Ok(Some(object));
        }
        let (info, range) = (object.info.clone(), object.range.clone());
        let real = object.bytes().await?;
        assert!(real.len() >= file_backed::MIN_FILE_BACKED_LEN);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&real).unwrap();
        let zeros = file_backed::buffer(vec![0; real.len()], Arc::new(file), 0);
        Ok(Some(StoredObject::in_memory(info, range, zeros)))
    }
}

#[async_trait]
impl Storage for DisguisedStorage {
    async fn put(
        &self,
        key: &StorageKey,
        data: Bytes,
        format: ImageFormat,
    ) -> Result<(), StorageError> {
        self.inner.put(key, data, format).await
    }

    async fn get(&self, key: &StorageKey) -> Result<Option<StoredObject>, StorageError> {
        let object = self.inner.get(key).await?;
        self.disguised(object).await
    }

    async fn get_range(
        &self,
        key: &StorageKey,
        range: Range<u64>,
    ) -> Result<Option<StoredObject>, StorageError> {
        let object = self.inner.get_range(key, range).await?;
        self.disguised(object).await
    }

    async fn head(&self, key: &StorageKey) -> Result<Option<ObjectInfo>, StorageError> {
        self.inner.head(key).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    fn list(&self, prefix: &KeyPrefix) -> BoxStream<'_, Result<ListedObject, StorageError>> {
        self.inner.list(prefix)
    }
}

/// The server sends a large media body from the file it was read from (`sendfile`), with
/// nothing between storage and the socket copying it: the disguised storage's buffers are
/// zeros in memory, so only bytes sent from the file match.
#[tokio::test]
async fn large_media_bodies_go_from_their_file_to_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(DisguisedStorage {
        inner: ObjectStorage::local(dir.path()).unwrap(),
        disguise: AtomicBool::new(false),
    });
    let app = spawn_app_with(AppOptions {
        storage: Some(storage.clone()),
        ..AppOptions::default()
    })
    .await;
    let (original, thumbnails, data) = ready_image(&app, "chelsea_451x300.png").await;
    storage.disguise.store(true, Ordering::SeqCst);
    let largest = thumbnails.last().expect("thumbnails");
    for url in [&original, largest] {
        // Twice: read from storage, then from the media cache.
        for _ in 0..2 {
            let response = app.media(url).await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let body = response.bytes().await.unwrap();
            assert!(
                body.iter().any(|&byte| byte != 0),
                "{url} was sent from memory"
            );
            if *url == original {
                assert!(body == data, "the original's bytes");
            }
        }
        // A byte range, from the cached buffer's offset in the file.
        let response = app
            .request(Method::GET, url, None)
            .header("Range", "bytes=1000-70999")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let part = response.bytes().await.unwrap();
        assert_eq!(part.len(), 70_000);
        assert!(
            part.iter().any(|&byte| byte != 0),
            "{url}: the range was sent from memory"
        );
        if *url == original {
            assert!(part[..] == data[1000..71_000]);
        }
    }
}
