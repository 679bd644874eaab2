//! Slow clients and greedy ones (issue 17, item 4): a header trickled in byte by byte, an
//! idle keep-alive connection, more connections than the cap, a body that stops arriving,
//! one user's uploads taking every upload permit, and the permit of an upload whose client
//! vanished while it was being stored. All on raw sockets against the real server, with
//! short limits configured per test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;
use futures::stream::BoxStream;
use imagevault::backend::storage::{
    KeyPrefix, ListedObject, ObjectInfo, StorageError, StoredObject,
};
use imagevault::backend::{Storage, StorageKey};
use imagevault::{ImageFormat, ObjectStorage};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::helpers::{AppOptions, RawBody, TestApp, TestUser, json_response, png, spawn_app_with};

/// The longest any step of these tests waits for the server: far above every limit they
/// configure, so only a server that does not enforce the limit reaches it.
const BOUND: Duration = Duration::from_secs(20);

const BOUNDARY: &str = "imagevault-test-boundary";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects")
}

fn healthz(app: &TestApp) -> String {
    format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        app.port
    )
}

/// Reads until one whole response head is in, or the server closes the connection;
/// `None` if it closed first.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&received[..end]).into_owned());
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Reads until the server closes the connection, discarding what it sends.
async fn until_closed(stream: &mut TcpStream) {
    let mut buffer = [0; 4096];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
    }
}

/// A request header sent one byte every 200 ms (the whole header takes seconds) against a
/// header read timeout of 1 s: the server disconnects before the header is complete.
#[tokio::test]
async fn a_header_sent_a_byte_at_a_time_is_cut_off() {
    let app = spawn_app_with(AppOptions {
        serve: |options| {
            options.header_read_timeout = Duration::from_secs(1);
            options.keep_alive_timeout = Duration::from_secs(1);
        },
        ..AppOptions::default()
    })
    .await;
    let header = healthz(&app);
    let mut stream = connect(&app).await;
    let started = Instant::now();
    let mut sent = 0;
    let trickle = async {
        for byte in header.as_bytes() {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Either the whole header went out (the server waited for it all), or a write
        // failed because the server had closed the connection.
        read_head(&mut stream).await
    };
    let answer = tokio::time::timeout(BOUND, trickle)
        .await
        .expect("the exchange ended within the bound");
    println!(
        "byte-at-a-time client: {sent} of {} header bytes sent, connection held {:.1} s",
        header.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        sent < header.len() && answer.is_none(),
        "the server waited for the whole trickled header ({sent} bytes) and answered {answer:?}"
    );
}

/// A keep-alive connection that sends nothing after its first response is closed by the
/// server (keep-alive timeout 1 s, header read timeout far longer).
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app_with(AppOptions {
        serve: |options| {
            options.header_read_timeout = Duration::from_secs(60);
            options.keep_alive_timeout = Duration::from_secs(1);
        },
        ..AppOptions::default()
    })
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(healthz(&app).as_bytes())
        .await
        .expect("sent");
    let head = read_head(&mut stream).await.expect("answered");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    tokio::time::timeout(BOUND, until_closed(&mut stream))
        .await
        .expect("the server closed the idle connection within the bound");
    println!(
        "idle keep-alive connection closed after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A connection that never sends a byte is idle too.
    let mut silent = connect(&app).await;
    tokio::time::timeout(BOUND, until_closed(&mut silent))
        .await
        .expect("the server closed the silent connection within the bound");
}

/// With a cap of 2 open connections, a third is not served while two are open, and is
/// served as soon as one of them closes.
#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(AppOptions {
        serve: |options| {
            options.max_open_connections = 2;
            options.header_read_timeout = Duration::from_secs(60);
            options.keep_alive_timeout = Duration::from_secs(60);
        },
        ..AppOptions::default()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream
            .write_all(healthz(&app).as_bytes())
            .await
            .expect("sent");
        let head = tokio::time::timeout(BOUND, read_head(&mut stream))
            .await
            .expect("within the bound")
            .expect("answered");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(stream);
    }
    let mut third = connect(&app).await;
    third
        .write_all(healthz(&app).as_bytes())
        .await
        .expect("the kernel takes the request");
    let early = tokio::time::timeout(Duration::from_millis(500), read_head(&mut third)).await;
    assert!(
        early.is_err(),
        "a third connection was served while the cap of 2 were open: {early:?}"
    );
    drop(open.remove(0));
    let head = tokio::time::timeout(BOUND, read_head(&mut third))
        .await
        .expect("served once a slot freed, within the bound")
        .expect("answered");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// An upload whose body stops arriving is answered 408 once no byte came for the body read
/// timeout (1 s), long before the request timeout (60 s): raw and multipart, with a
/// declared length and chunked.
#[tokio::test]
async fn a_stalled_upload_body_is_answered_408_before_the_request_timeout() {
    let app = spawn_app_with(AppOptions {
        serve: |options| {
            options.router = options
                .router
                .clone()
                .request_timeout(Duration::from_secs(60))
                .body_read_timeout(Duration::from_secs(1));
        },
        ..AppOptions::default()
    })
    .await;
    let file = png(64, 64);
    let mut form = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&file[..file.len() / 2]);
    let multipart = format!("multipart/form-data; boundary={BOUNDARY}");
    let cases = [
        (
            "raw, declared length",
            "image/png",
            RawBody::Partial {
                length: file.len(),
                data: file[..file.len() / 2].to_vec(),
            },
        ),
        (
            "raw, chunked",
            "image/png",
            RawBody::ChunkedUnfinished(file[..100].to_vec()),
        ),
        (
            "multipart, declared length",
            multipart.as_str(),
            RawBody::Partial {
                length: form.len() + 1000,
                data: form.clone(),
            },
        ),
        (
            "multipart, chunked",
            multipart.as_str(),
            RawBody::ChunkedUnfinished(form.clone()),
        ),
    ];
    for (case, content_type, body) in cases {
        let started = Instant::now();
        let response = tokio::time::timeout(
            BOUND,
            app.raw_request(
                &format!(
                    "POST /api/images/ HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}",
                    app.premium.token
                ),
                body,
            ),
        )
        .await
        .expect("answered within the bound");
        println!(
            "{case}: {} after {:.1} s",
            response.status,
            started.elapsed().as_secs_f64()
        );
        assert_eq!(response.status, 408, "{case}");
        let detail = response.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("1 s"), "{case}: {detail}");
    }
    assert_eq!(app.media_files(), 0, "a stalled upload stored nothing");
}

/// Storage whose `put`s wait until the test opens the gate, counting those that started.
#[derive(Debug)]
struct GatedStorage {
    inner: ObjectStorage,
    entered: AtomicUsize,
    gate: watch::Sender<bool>,
}

impl GatedStorage {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: ObjectStorage::memory(),
            entered: AtomicUsize::new(0),
            gate: watch::channel(false).0,
        })
    }

    fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }

    async fn wait_entered(&self, count: usize) {
        tokio::time::timeout(BOUND, async {
            while self.entered() < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{count} stores started within the bound"));
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }
}

#[async_trait]
impl Storage for GatedStorage {
    async fn put(
        &self,
        key: &StorageKey,
        data: Bytes,
        format: ImageFormat,
    ) -> Result<(), StorageError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut gate = self.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        self.inner.put(key, data, format).await
    }

    async fn get(&self, key: &StorageKey) -> Result<Option<StoredObject>, StorageError> {
        self.inner.get(key).await
    }

    async fn get_range(
        &self,
        key: &StorageKey,
        range: std::ops::Range<u64>,
    ) -> Result<Option<StoredObject>, StorageError> {
        self.inner.get_range(key, range).await
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

fn upload_in_background(app: &TestApp, user: &TestUser) -> tokio::task::JoinHandle<StatusCode> {
    let request = app
        .request(reqwest::Method::POST, "/api/images/", Some(user))
        .header(reqwest::header::CONTENT_TYPE, "image/png")
        .body(png(32, 24));
    tokio::spawn(async move { request.send().await.expect("sent").status() })
}

/// While a user has 2 uploads in progress (their stores held), a third of theirs is
/// refused with 429, `Retry-After` and the limit; another user's upload goes ahead.
#[tokio::test]
async fn a_users_third_concurrent_upload_is_refused_while_another_user_uploads() {
    let storage = GatedStorage::new();
    let app = spawn_app_with(AppOptions {
        storage: Some(storage.clone()),
        ..AppOptions::default()
    })
    .await;
    let first = upload_in_background(&app, &app.basic);
    let second = upload_in_background(&app, &app.basic);
    storage.wait_entered(2).await;

    let response = app
        .upload_raw(&app.basic, png(32, 24), "image/png", "")
        .await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry_after.is_some_and(|seconds| seconds.parse::<u64>().is_ok_and(|s| s >= 1)));
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("2 uploads in progress"), "{detail}");

    let other = upload_in_background(&app, &app.premium);
    storage.wait_entered(3).await;
    storage.open();
    for upload in [first, second, other] {
        assert_eq!(upload.await.unwrap(), StatusCode::CREATED);
    }
    // The places are given back once the stores end.
    let response = app
        .upload_raw(&app.basic, png(32, 24), "image/png", "")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// With one upload permit, a client that vanishes while its upload is being stored does
/// not free the permit: another user's upload waits (it does not reach the storage) until
/// the store ends, and the vanished client's image is stored.
#[tokio::test]
async fn the_upload_permit_is_held_until_the_store_ends_after_the_client_vanished() {
    let storage = GatedStorage::new();
    let app = spawn_app_with(AppOptions {
        storage: Some(storage.clone()),
        serve: |options| {
            options.router = options.router.clone().max_concurrent_uploads(1);
        },
        ..AppOptions::default()
    })
    .await;
    let file = png(32, 24);
    let mut vanishing = connect(&app).await;
    vanishing
        .write_all(
            format!(
                "POST /api/images/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                app.port,
                app.basic.token,
                file.len()
            )
            .as_bytes(),
        )
        .await
        .expect("sent");
    vanishing.write_all(&file).await.expect("sent");
    storage.wait_entered(1).await;
    drop(vanishing);
    // Let the server notice the closed connection and drop the request.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let other = upload_in_background(&app, &app.premium);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        storage.entered(),
        1,
        "another upload reached the storage while the vanished client's store still held the only permit"
    );
    storage.open();
    assert_eq!(
        tokio::time::timeout(BOUND, other).await.unwrap().unwrap(),
        StatusCode::CREATED
    );
    let (status, page) = app.get_json("/api/images/", &app.basic).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1), "{page}");
}
