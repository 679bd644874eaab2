//! The router on the memory adapters, driven with `oneshot`: no socket, no database.
//! The full contract is exercised end to end in the workspace's `tests/api`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use imagevault_axum::{RouterConfig, router};
use imagevault_core::{
    ExpirySeconds, ImageFormat, ImageName, MediaFormat, MemoryJobQueue, MemoryRepo, NewUser,
    ObjectStorage, PageLimit, Password, PlanId, PlanName, ThumbnailHeight, ThumbnailHeights,
    Username, Vault,
};
use serde_json::Value;
use tower::ServiceExt as _;

struct App {
    router: axum::Router,
    basic: String,
}

async fn app() -> App {
    app_with(RouterConfig::new("http://testserver").expect("valid url")).await
}

async fn app_with(config: RouterConfig) -> App {
    let vault = Vault::builder()
        .repo(Arc::new(MemoryRepo::new()))
        .storage(Arc::new(ObjectStorage::memory()))
        .queue(Arc::new(MemoryJobQueue::new(100)))
        .build()
        .expect("all ports given");
    vault
        .bootstrap_user(NewUser {
            username: Username::parse("alice").expect("valid"),
            password: Password::new("correct horse").expect("valid"),
            plan: Some(PlanId::ENTERPRISE),
            is_admin: false,
        })
        .await
        .expect("user created");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:correct horse")
    );
    App {
        router: router(vault, config),
        basic,
    }
}

async fn send(
    app: &App,
    method: Method,
    uri: &str,
    auth: bool,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if auth {
        request = request.header(header::AUTHORIZATION, &app.basic);
    }
    let response = app
        .router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

#[tokio::test]
async fn unknown_routes_are_json_404_for_everyone() {
    let app = app().await;
    for auth in [false, true] {
        let (status, headers, body) = send(&app, Method::GET, "/api/nothing-here/", auth).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body["detail"], "Not found.");
    }
}

#[tokio::test]
async fn authentication_comes_before_the_method_check() {
    let app = app().await;
    let (status, headers, body) = send(&app, Method::PATCH, "/api/images/", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(
        body["detail"],
        "Authentication credentials were not provided."
    );

    let (status, headers, body) = send(&app, Method::PATCH, "/api/images/", true).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, HEAD, POST");
    assert!(body["detail"].as_str().expect("detail").contains("PATCH"));
}

#[tokio::test]
async fn paths_work_with_and_without_the_trailing_slash() {
    let app = app().await;
    for path in ["/api/me/", "/api/me"] {
        let (status, _, body) = send(&app, Method::GET, path, true).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["username"], "alice");
        assert_eq!(body["plan"]["name"], "Enterprise");
    }
}

/// Every value in `document` stored under the key `name`, at any depth.
fn values_named<'a>(document: &'a Value, name: &str, found: &mut Vec<&'a Value>) {
    match document {
        Value::Object(map) => {
            for (key, value) in map {
                if key == name {
                    found.push(value);
                }
                values_named(value, name, found);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| values_named(item, name, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_served_schema_states_the_cores_rules() {
    let app = app().await;
    let (status, _, schema) = send(&app, Method::GET, "/api/schema/", false).await;
    assert_eq!(status, StatusCode::OK);

    let mut expiries = Vec::new();
    values_named(&schema["components"], "expiry_in_seconds", &mut expiries);
    let bounds: Vec<_> = expiries
        .iter()
        .filter(|expiry| expiry.get("type").is_some())
        .collect();
    // LinkBody, LinkCreate, LinkUpdate and the links page's inlined LinkBody.
    assert_eq!(bounds.len(), 4, "{expiries:?}");
    for expiry in bounds {
        assert_eq!(expiry["minimum"], ExpirySeconds::MIN, "{expiry}");
        assert_eq!(expiry["maximum"], ExpirySeconds::MAX, "{expiry}");
    }
    let out_of_range = ExpirySeconds::out_of_range();
    assert_eq!(
        schema["components"]["schemas"]["FieldErrorsBody"]["example"][out_of_range.field],
        serde_json::json!([out_of_range.message])
    );

    let mut limits = Vec::new();
    values_named(&schema["paths"], "parameters", &mut limits);
    let limits: Vec<_> = limits
        .iter()
        .filter_map(|parameters| parameters.as_array())
        .flatten()
        .filter(|parameter| parameter["name"] == "limit")
        .collect();
    assert_eq!(limits.len(), 4, "the four lists");
    for limit in limits {
        let integer = &limit["schema"]["oneOf"][0];
        assert_eq!(integer["minimum"], PageLimit::MIN, "{limit}");
        assert_eq!(integer["maximum"], PageLimit::MAX, "{limit}");
        assert_eq!(integer["default"], PageLimit::DEFAULT.get(), "{limit}");
    }

    let image_types: Vec<String> = ImageFormat::ALL
        .iter()
        .map(|format| format.content_type().to_owned())
        .collect();
    let content_types = |content: &Value| -> Vec<String> {
        let mut types: Vec<String> = content
            .as_object()
            .expect("content")
            .keys()
            .filter(|mime| mime.starts_with("image/"))
            .cloned()
            .collect();
        types.sort();
        types
    };
    let mut expected = image_types.clone();
    expected.sort();
    let upload = &schema["paths"]["/api/images/"]["post"]["requestBody"]["content"];
    assert_eq!(content_types(upload), expected);
    assert!(upload["multipart/form-data"].is_object());
    // Media also serves the WebP variants of thumbnails, which are never uploaded.
    let mut media_types: Vec<String> = MediaFormat::ALL
        .iter()
        .map(|format| format.content_type().to_owned())
        .collect();
    media_types.sort();
    let media = &schema["paths"]["/media/{kind}/{dir}/{file}"]["get"]["responses"];
    for status in ["200", "206"] {
        assert_eq!(
            content_types(&media[status]["content"]),
            media_types,
            "{status}"
        );
    }

    let schemas = &schema["components"]["schemas"];
    let lengths = [
        ("UploadForm", "name", 1, ImageName::MAX_CHARS),
        ("PlanWrite", "name", 1, PlanName::MAX_CHARS),
        ("UserWrite", "username", 1, Username::MAX_CHARS),
        (
            "UserWrite",
            "password",
            Password::MIN_CHARS,
            Password::MAX_BYTES,
        ),
    ];
    for (name, field, min, max) in lengths {
        let property = &schemas[name]["properties"][field];
        assert_eq!(property["minLength"], min, "{name}.{field}");
        assert_eq!(property["maxLength"], max, "{name}.{field}");
    }
    let raw_name = &schema["paths"]["/api/images/"]["post"]["parameters"][0];
    assert_eq!(raw_name["name"], "name");
    assert_eq!(raw_name["schema"]["maxLength"], ImageName::MAX_CHARS);
    let written = &schemas["PlanWrite"]["properties"]["thumbnail_heights"];
    assert_eq!(written["minItems"], 1);
    assert_eq!(written["maxItems"], ThumbnailHeights::MAX_COUNT);
    let mut heights = Vec::new();
    values_named(schemas, "thumbnail_heights", &mut heights);
    let heights: Vec<_> = heights
        .iter()
        .filter(|heights| heights.get("items").is_some())
        .collect();
    // PlanWrite, PlanBody and the plans page's inlined PlanBody.
    assert_eq!(heights.len(), 3, "{heights:?}");
    for height in heights.iter().map(|heights| &heights["items"]) {
        assert_eq!(height["minimum"], ThumbnailHeight::MIN, "{height}");
        assert_eq!(height["maximum"], ThumbnailHeight::MAX, "{height}");
    }
}

#[tokio::test]
async fn the_schema_and_docs_need_no_credentials() {
    let app = app().await;
    let (status, _, schema) = send(&app, Method::GET, "/api/schema/", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        schema["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
    assert!(schema["paths"]["/api/images/{id}/"]["delete"].is_object());
    let response = app
        .router
        .clone()
        .oneshot(
            Request::get("/api/docs/")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let html = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(String::from_utf8_lossy(&html).contains("swagger"));
}

/// With one upload permit, a second upload waits until the first is stored (its body is
/// not read meanwhile), then goes through: the bound costs latency, never an error.
#[tokio::test]
async fn uploads_over_the_permits_wait_their_turn() {
    let app = app_with(
        RouterConfig::new("http://testserver")
            .expect("valid url")
            .max_concurrent_uploads(1),
    )
    .await;
    let png: &[u8] = include_bytes!("../../tests/fixtures/chelsea_451x300.png");
    let upload = |body: Body| {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/images/")
            .header(header::AUTHORIZATION, &app.basic)
            .header(header::CONTENT_TYPE, "image/png")
            .body(body)
            .expect("request");
        tokio::spawn(app.router.clone().oneshot(request))
    };

    // The first upload's body arrives in two halves; it holds the only permit meanwhile.
    let (half, rest) = png.split_at(png.len() / 2);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    sender.send(Ok(half.to_vec())).await.expect("open");
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let first = upload(Body::from_stream(body));
    // Room in the channel again means the handler took the first half: it has the permit.
    let slot = sender.reserve().await.expect("open");
    let mut second = upload(Body::from(png.to_vec()));
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut second)
            .await
            .is_err(),
        "the second upload must wait for the first one's permit"
    );

    slot.send(Ok(rest.to_vec()));
    drop(sender);
    let first = first.await.expect("task").expect("infallible");
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = second.await.expect("task").expect("infallible");
    assert_eq!(second.status(), StatusCode::CREATED);
}

/// Storage that counts `head` calls and answers each after a pause, so that concurrent
/// readiness checks overlap.
#[derive(Debug)]
struct CountingStorage {
    inner: ObjectStorage,
    heads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl imagevault_core::Storage for CountingStorage {
    async fn put(
        &self,
        key: &imagevault_core::StorageKey,
        data: bytes::Bytes,
        format: imagevault_core::ImageFormat,
    ) -> Result<(), imagevault_core::storage::StorageError> {
        self.inner.put(key, data, format).await
    }

    async fn get(
        &self,
        key: &imagevault_core::StorageKey,
    ) -> Result<
        Option<imagevault_core::storage::StoredObject>,
        imagevault_core::storage::StorageError,
    > {
        self.inner.get(key).await
    }

    async fn get_range(
        &self,
        key: &imagevault_core::StorageKey,
        range: std::ops::Range<u64>,
    ) -> Result<
        Option<imagevault_core::storage::StoredObject>,
        imagevault_core::storage::StorageError,
    > {
        self.inner.get_range(key, range).await
    }

    async fn head(
        &self,
        key: &imagevault_core::StorageKey,
    ) -> Result<Option<imagevault_core::storage::ObjectInfo>, imagevault_core::storage::StorageError>
    {
        self.heads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.inner.head(key).await
    }

    async fn delete(
        &self,
        key: &imagevault_core::StorageKey,
    ) -> Result<(), imagevault_core::storage::StorageError> {
        self.inner.delete(key).await
    }

    fn list(
        &self,
        prefix: &imagevault_core::storage::KeyPrefix,
    ) -> futures::stream::BoxStream<
        '_,
        Result<imagevault_core::storage::ListedObject, imagevault_core::storage::StorageError>,
    > {
        self.inner.list(prefix)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_checks_are_shared_by_concurrent_and_repeated_callers() {
    let storage = Arc::new(CountingStorage {
        inner: ObjectStorage::memory(),
        heads: std::sync::atomic::AtomicUsize::new(0),
    });
    let vault = Vault::builder()
        .repo(Arc::new(MemoryRepo::new()))
        .storage(storage.clone())
        .queue(Arc::new(MemoryJobQueue::new(100)))
        .build()
        .expect("all ports given");
    let app = App {
        router: router(
            vault,
            RouterConfig::new("http://testserver").expect("valid url"),
        ),
        basic: String::new(),
    };
    let app = Arc::new(app);
    // 50 probes at once, then 50 more one after the other: a flood of an endpoint that
    // needs no credentials.
    let concurrent: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, Method::GET, "/readyz", false).await })
        })
        .collect();
    for probe in concurrent {
        let (status, _, body) = probe.await.expect("the probe ran");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
    }
    for _ in 0..50 {
        let (status, _, body) = send(&app, Method::GET, "/readyz", false).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let checks = storage.heads.load(std::sync::atomic::Ordering::SeqCst);
    println!("100 /readyz calls made {checks} storage checks");
    // One check serves every caller within a second of it; a slow machine may need a
    // second or a third, never one per call.
    assert!(checks <= 3, "{checks} storage checks for 100 calls");
}
