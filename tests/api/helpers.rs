//! `spawn_app()`: the real server (`imagevault::server::serve`: router, in-process worker
//! and reconciler) on a free port of 127.0.0.1, with a fresh SQLite database and media
//! directory in a temporary directory, a manual clock, and one user per built-in plan plus
//! an administrator and a user without a plan. `TestApp` has typed helpers for the calls
//! most tests make; `raw_request` speaks HTTP/1.1 on a bare socket for requests a normal
//! client would not send as written (dot segments, oversized bodies).

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use imagevault::axum::RouterConfig;
use imagevault::backend::ManualClock;
use imagevault::backends::{BackendOptions, Backends};
use imagevault::server::{ServeOptions, serve};
use imagevault::{Account, NewUser, Password, PlanId, Username, Vault, VaultConfig};
use imagevault::{ImageLimits, WorkerOptions};
// The images most tests upload, built by the core's test builders.
pub(crate) use imagevault_core::testing::images::{SHORT_IDAT, crafted_png, jpeg, png};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The password of every user `spawn_app` creates.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// Polls of `wait_for_thumbnails` before it gives up, and the pause between two.
const THUMBNAIL_POLLS: usize = 1_200;
const POLL_PAUSE: Duration = Duration::from_millis(50);

/// Logs go to the test output only when `TEST_LOG` is set (filter from `RUST_LOG`, else
/// `info`), as in zero2prod.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .init();
    }
});

/// A user created for the test, with a token issued for it.
#[derive(Debug, Clone)]
pub(crate) struct TestUser {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) token: String,
}

/// How to start the app.
#[derive(Debug, Clone)]
pub(crate) struct AppOptions {
    pub(crate) config: VaultConfig,
    /// Run the in-process worker (tests that drive the jobs themselves turn it off).
    pub(crate) worker: bool,
    /// The public URL the API builds absolute URLs from; default the bind address.
    pub(crate) public_url: Option<String>,
    /// Changes to the server's options (connection limits, the router's) before it starts.
    pub(crate) serve: fn(&mut ServeOptions),
    /// A storage to use instead of the media directory's (a test double).
    pub(crate) storage: Option<std::sync::Arc<dyn imagevault::backend::Storage>>,
    /// The database URL; default a fresh SQLite file in the test's directory.
    pub(crate) database: Option<String>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            config: VaultConfig::default(),
            worker: true,
            public_url: None,
            serve: |_| {},
            storage: None,
            database: None,
        }
    }
}

impl AppOptions {
    /// The default configuration with other upload limits.
    pub(crate) fn limits(limits: ImageLimits) -> Self {
        let mut options = Self::default();
        options.config.limits = limits;
        options
    }
}

/// A running server and what the tests need to talk to it.
#[derive(Debug)]
pub(crate) struct TestApp {
    /// `http://127.0.0.1:<port>`, where the server listens.
    pub(crate) address: String,
    /// The public URL the API builds absolute URLs from (the address unless configured).
    pub(crate) public_url: String,
    pub(crate) port: u16,
    /// A client that does not follow redirects (the API promises none).
    pub(crate) client: Client,
    pub(crate) vault: Vault,
    pub(crate) clock: ManualClock,
    pub(crate) admin: TestUser,
    pub(crate) basic: TestUser,
    pub(crate) premium: TestUser,
    pub(crate) enterprise: TestUser,
    pub(crate) no_plan: TestUser,
    /// Where the storage keeps its files.
    pub(crate) media_dir: PathBuf,
    _shutdown: oneshot::Sender<()>,
    dir: tempfile::TempDir,
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub(crate) async fn spawn_app_with(options: AppOptions) -> TestApp {
    LazyLock::force(&TRACING);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().display().to_string();
    let database = options
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{root}/imagevault.db"));
    let backends = Backends::open(
        &database,
        &format!("file://{root}/media"),
        "memory://",
        &BackendOptions::default(),
    )
    .await
    .expect("backends open");
    // Whole seconds, so timestamps in responses have no fraction.
    let clock = ManualClock::new(Utc::now().trunc_subsecs(0));
    let mut builder = backends.vault_builder();
    if let Some(storage) = options.storage {
        builder = builder.storage(storage);
    }
    let vault = builder
        .clock(std::sync::Arc::new(clock.clone()))
        .config(options.config)
        .build()
        .expect("vault builds");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let address = format!("http://127.0.0.1:{port}");
    let mut worker = WorkerOptions::default();
    worker.poll_wait = Duration::from_millis(50);
    let router = RouterConfig::new(options.public_url.as_deref().unwrap_or(&address))
        .expect("valid public url");
    let public_url = router.public_url().to_owned();
    let mut serve_options = ServeOptions {
        router,
        worker: options.worker.then_some(worker),
        reconcile_every: Some(Duration::from_millis(200)),
        sweep_every: None,
        sweep: Default::default(),
        shutdown_grace: Duration::from_secs(1),
        ..ServeOptions::default()
    };
    (options.serve)(&mut serve_options);
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server_vault = vault.clone();
    tokio::spawn(async move {
        serve(listener, server_vault, serve_options, async move {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });

    let admin = create_user(&vault, "admin", None, true).await;
    let basic = create_user(&vault, "basic", Some(PlanId::BASIC), false).await;
    let premium = create_user(&vault, "premium", Some(PlanId::PREMIUM), false).await;
    let enterprise = create_user(&vault, "enterprise", Some(PlanId::ENTERPRISE), false).await;
    let no_plan = create_user(&vault, "noplan", None, false).await;

    TestApp {
        address,
        public_url,
        port,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds"),
        vault,
        clock,
        admin,
        basic,
        premium,
        enterprise,
        no_plan,
        media_dir: dir.path().join("media"),
        _shutdown: shutdown,
        dir,
    }
}

/// Creates a user directly through the service (as the server's command line does) and
/// issues it a token without a password check, which keeps tests fast.
pub(crate) async fn create_user(
    vault: &Vault,
    username: &str,
    plan: Option<PlanId>,
    is_admin: bool,
) -> TestUser {
    let user = vault
        .bootstrap_user(NewUser {
            username: Username::parse(username).expect("valid username"),
            password: Password::new(PASSWORD).expect("valid password"),
            plan,
            is_admin,
        })
        .await
        .expect("user created");
    let token = vault
        .issue_token(&Account {
            user: user.clone(),
            plan: None,
        })
        .await
        .expect("token issued");
    TestUser {
        id: user.id.to_string(),
        username: username.to_owned(),
        password: PASSWORD.to_owned(),
        token: token.expose().to_owned(),
    }
}

impl TestApp {
    /// The URL to send a request for `path` to.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The absolute URL of `path` as the API writes it (under the public URL).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// The time the server reads, as the manual clock holds it.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        imagevault::backend::Clock::now(&self.clock)
    }

    /// The number of files in the media directory.
    pub(crate) fn media_files(&self) -> usize {
        fn count(path: &std::path::Path) -> usize {
            std::fs::read_dir(path).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| {
                        let path = entry.path();
                        if path.is_dir() { count(&path) } else { 1 }
                    })
                    .sum()
            })
        }
        count(&self.media_dir)
    }

    /// The bytes of the SQLite database and its journal files, as stored on disk.
    pub(crate) fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).expect("the data directory") {
            let path = entry.expect("an entry").path();
            let is_database = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("imagevault.db"));
            if is_database {
                bytes.extend(std::fs::read(&path).expect("readable"));
            }
        }
        bytes
    }

    /// Moves the server's clock forward.
    pub(crate) fn advance(&self, seconds: i64) {
        self.clock.advance(TimeDelta::seconds(seconds));
    }

    /// A request to `path` (or an absolute URL) authenticated with `user`'s token.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        user: Option<&TestUser>,
    ) -> RequestBuilder {
        // URLs from responses are under the public URL; requests go to the bind address.
        let url = match path.strip_prefix(&self.public_url) {
            Some(path) => format!("{}{path}", self.address),
            None if path.starts_with("http") => path.to_owned(),
            None => format!("{}{path}", self.address),
        };
        let builder = self.client.request(method, url);
        match user {
            Some(user) => builder.bearer_auth(&user.token),
            None => builder,
        }
    }

    /// Sends a request and reads its JSON answer (asserting it is JSON).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&TestUser>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = self.request(method, path, user);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        json_response(builder.send().await.expect("request sent")).await
    }

    pub(crate) async fn get_json(&self, path: &str, user: &TestUser) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(user), None).await
    }

    pub(crate) async fn post_json(
        &self,
        path: &str,
        user: &TestUser,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(user), Some(body)).await
    }

    pub(crate) async fn patch_json(
        &self,
        path: &str,
        user: &TestUser,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(user), Some(body)).await
    }

    pub(crate) async fn put_json(
        &self,
        path: &str,
        user: &TestUser,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(user), Some(body)).await
    }

    /// `DELETE`; returns the status (and checks a 204 has no body).
    pub(crate) async fn delete(&self, path: &str, user: &TestUser) -> StatusCode {
        let response = self
            .request(Method::DELETE, path, Some(user))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body = response.bytes().await.expect("body read");
        if status == StatusCode::NO_CONTENT {
            assert!(body.is_empty(), "a 204 has no body");
        }
        status
    }

    /// A multipart upload: the file in `image`, with an optional `name` field.
    pub(crate) async fn upload_multipart(
        &self,
        user: &TestUser,
        data: Vec<u8>,
        file_name: &str,
        mime: &str,
        name: Option<&str>,
    ) -> Response {
        let part = reqwest::multipart::Part::bytes(data)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .expect("valid mime type");
        let mut form = reqwest::multipart::Form::new().part("image", part);
        if let Some(name) = name {
            form = form.text("name", name.to_owned());
        }
        self.request(Method::POST, "/api/images/", Some(user))
            .multipart(form)
            .send()
            .await
            .expect("request sent")
    }

    /// A raw-body upload with `Content-Type: content_type` and `query` (such as `?name=x`).
    pub(crate) async fn upload_raw(
        &self,
        user: &TestUser,
        data: Vec<u8>,
        content_type: &str,
        query: &str,
    ) -> Response {
        self.request(Method::POST, &format!("/api/images/{query}"), Some(user))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(data)
            .send()
            .await
            .expect("request sent")
    }

    /// Uploads `data` as `file_name` and returns the Image object of the 201.
    pub(crate) async fn upload(
        &self,
        user: &TestUser,
        data: Vec<u8>,
        file_name: &str,
        mime: &str,
    ) -> Value {
        let response = self
            .upload_multipart(user, data, file_name, mime, None)
            .await;
        let (status, body) = json_response(response).await;
        assert_eq!(status, StatusCode::CREATED, "upload failed: {body}");
        body
    }

    /// Uploads a generated PNG of `width` x `height`.
    pub(crate) async fn upload_png(&self, user: &TestUser, width: u32, height: u32) -> Value {
        self.upload(user, png(width, height), "generated.png", "image/png")
            .await
    }

    /// Uploads a generated JPEG of `width` x `height`.
    pub(crate) async fn upload_jpeg(&self, user: &TestUser, width: u32, height: u32) -> Value {
        self.upload(user, jpeg(width, height), "generated.jpg", "image/jpeg")
            .await
    }

    /// Uploads a file of `tests/fixtures/`.
    pub(crate) async fn upload_fixture(&self, user: &TestUser, name: &str) -> Value {
        let mime = if name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        self.upload(user, fixture(name), name, mime).await
    }

    /// `GET /api/images/<id>/`, asserting 200.
    pub(crate) async fn get_image(&self, user: &TestUser, id: &str) -> Value {
        let (status, body) = self.get_json(&format!("/api/images/{id}/"), user).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Polls the image until none of its thumbnails is pending (a bounded number of times)
    /// and returns it; panics if they stay pending.
    pub(crate) async fn wait_for_thumbnails(&self, user: &TestUser, id: &str) -> Value {
        for _ in 0..THUMBNAIL_POLLS {
            let image = self.get_image(user, id).await;
            let pending = image["thumbnails"]
                .as_array()
                .expect("thumbnails is a list")
                .iter()
                .any(|thumbnail| thumbnail["status"] == "pending");
            if !pending {
                return image;
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        panic!("thumbnails of {id} still pending after {THUMBNAIL_POLLS} polls");
    }

    /// Creates an expiring link, asserting 201, and returns the Link object.
    pub(crate) async fn create_link(&self, user: &TestUser, image_id: &str, seconds: u32) -> Value {
        let (status, body) = self
            .post_json(
                "/api/expiring-links/",
                user,
                json!({"base_image": image_id, "expiry_in_seconds": seconds}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Logs in through `POST /api/auth/token/` and returns the token.
    pub(crate) async fn token_for(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/token/",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Anonymous `GET` of a media URL (absolute, as the API returns them, or a path).
    pub(crate) async fn media(&self, url: &str) -> Response {
        self.request(Method::GET, url, None)
            .send()
            .await
            .expect("request sent")
    }

    /// The bytes of a media URL, asserting 200.
    pub(crate) async fn media_bytes(&self, url: &str) -> Vec<u8> {
        let response = self.media(url).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {url}");
        response.bytes().await.expect("body read").to_vec()
    }

    /// The status of an anonymous `GET` of a media URL, checking that errors are JSON.
    pub(crate) async fn media_status(&self, url: &str) -> StatusCode {
        let response = self.media(url).await;
        let status = response.status();
        if status.is_client_error() {
            let (_, body) = json_response(response).await;
            assert!(body["detail"].is_string(), "{body}");
        }
        status
    }

    /// Assigns a plan (or none) to a user through the admin API.
    pub(crate) async fn set_plan(&self, user: &TestUser, plan: Option<&str>) {
        let (status, body) = self
            .patch_json(
                &format!("/api/admin/users/{}/", user.id),
                &self.admin,
                json!({ "plan": plan }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Creates a plan through the admin API and returns it.
    pub(crate) async fn create_plan(
        &self,
        name: &str,
        heights: &[u32],
        original_link: bool,
        expiring_links: bool,
    ) -> Value {
        let (status, body) = self
            .post_json(
                "/api/admin/plans/",
                &self.admin,
                json!({
                    "name": name,
                    "thumbnail_heights": heights,
                    "original_link": original_link,
                    "expiring_links": expiring_links,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Sends `head` (the request line and headers, without the final blank line) and
    /// `body` on a fresh connection, writing the body while reading the answer, so that a
    /// server answering before it read the whole body is seen answering.
    pub(crate) async fn raw_request(&self, head: &str, body: RawBody) -> RawResponse {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connects");
        let (mut reader, mut writer) = stream.into_split();
        let mut head = format!(
            "{head}\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        match &body {
            RawBody::Empty => head.push_str("\r\n"),
            RawBody::Sized(data) => {
                head.push_str(&format!("Content-Length: {}\r\n\r\n", data.len()))
            }
            RawBody::Partial { length, .. } => {
                head.push_str(&format!("Content-Length: {length}\r\n\r\n"))
            }
            RawBody::Chunked(_) | RawBody::ChunkedUnfinished(_) => {
                head.push_str("Transfer-Encoding: chunked\r\n\r\n")
            }
        }
        let writing = tokio::spawn(async move {
            // Write errors are expected once the server has answered and closed.
            writer.write_all(head.as_bytes()).await?;
            let finish = !matches!(body, RawBody::ChunkedUnfinished(_));
            match body {
                RawBody::Empty => {}
                RawBody::Sized(data) => {
                    for chunk in data.chunks(64 * 1024) {
                        writer.write_all(chunk).await?;
                    }
                }
                RawBody::Partial { data, .. } => {
                    writer.write_all(&data).await?;
                    writer.flush().await?;
                    std::future::pending::<()>().await;
                }
                RawBody::Chunked(data) | RawBody::ChunkedUnfinished(data) => {
                    for chunk in data.chunks(64 * 1024) {
                        writer
                            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                            .await?;
                        writer.write_all(chunk).await?;
                        writer.write_all(b"\r\n").await?;
                    }
                    if !finish {
                        writer.flush().await?;
                        std::future::pending::<()>().await;
                    }
                    writer.write_all(b"0\r\n\r\n").await?;
                }
            }
            writer.flush().await?;
            Ok::<_, std::io::Error>(writer)
        });
        let reading = async {
            let mut received = Vec::new();
            let mut buffer = vec![0; 64 * 1024];
            loop {
                match reader.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buffer[..n]),
                }
                if RawResponse::parse(&received).is_some() {
                    break;
                }
            }
            received
        };
        let received = tokio::time::timeout(Duration::from_secs(120), reading)
            .await
            .expect("the server answered within the bound");
        writing.abort();
        RawResponse::parse(&received).unwrap_or_else(|| {
            panic!(
                "incomplete HTTP response: {:?}",
                String::from_utf8_lossy(&received[..received.len().min(500)])
            )
        })
    }

    /// `GET <target>` on a bare socket, for paths a URL library would normalise.
    pub(crate) async fn raw_get(&self, target: &str) -> RawResponse {
        self.raw_request(&format!("GET {target} HTTP/1.1"), RawBody::Empty)
            .await
    }
}

/// The body of a `raw_request`.
#[derive(Debug)]
pub(crate) enum RawBody {
    Empty,
    /// With `Content-Length`.
    Sized(Vec<u8>),
    /// With `Transfer-Encoding: chunked`: the size is not declared.
    Chunked(Vec<u8>),
    /// Declares `length` bytes but sends only `data`, then waits without ending the body:
    /// only a server that answers before reading the body answers at all.
    Partial {
        length: usize,
        data: Vec<u8>,
    },
    /// Chunked, sends `data` and then waits without the last chunk: only a server that
    /// answers while the body is still streaming answers at all.
    ChunkedUnfinished(Vec<u8>),
}

/// An HTTP/1.1 response read from a bare socket.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    /// The response, once `data` holds all of it.
    fn parse(data: &[u8]) -> Option<Self> {
        let end = data.windows(4).position(|window| window == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&data[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let rest = &data[end + 4..];
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let body = if let Some(length) = header("content-length") {
            let length: usize = length.parse().ok()?;
            rest.get(..length)?.to_vec()
        } else if header("transfer-encoding").is_some_and(|value| value.contains("chunked")) {
            decode_chunked(rest)?
        } else {
            rest.to_vec()
        };
        Some(Self {
            status,
            headers,
            body,
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON, asserting the response says it is JSON.
    pub(crate) fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {}",
            self.status
        );
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A complete chunked body, or `None` while the last chunk has not arrived.
fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Reads a response's JSON body, asserting `Content-Type: application/json`.
pub(crate) async fn json_response(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = content_type(response.headers());
    let bytes = response.bytes().await.expect("body read");
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}, body {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "status {status}: not JSON ({error}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// The `Content-Type` without parameters.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim().to_owned())
}

/// A header's value as text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The messages of a field error body, asserting the body has exactly that field.
pub(crate) fn field_errors(body: &Value, field: &str) -> Vec<String> {
    let object = body.as_object().expect("an error object");
    assert!(
        object.contains_key(field),
        "expected an error on {field:?}: {body}"
    );
    object[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} errors are a list: {body}"))
        .iter()
        .map(|message| message.as_str().expect("a message").to_owned())
        .collect()
}

/// The keys of a JSON object, sorted.
pub(crate) fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// `value[field]` as a string.
pub(crate) fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is a string: {value}"))
}

/// Parses an RFC 3339 timestamp the way the API writes them: UTC with a `Z`.
pub(crate) fn timestamp(text: &str) -> DateTime<Utc> {
    assert!(text.ends_with('Z'), "{text} is in UTC with a Z");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text}: {error}"))
        .with_timezone(&Utc)
}

/// Checks that `url` is `<address>/media/<kind>/<uuid v4>/<uuid v4>.<extension>`.
pub(crate) fn assert_media_url(app: &TestApp, url: &str, kind: &str, extension: &str) {
    let prefix = format!("{}/media/{kind}/", app.public_url);
    let rest = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} starts with {prefix}"));
    let (dir, file) = rest.split_once('/').expect("two segments");
    let stem = file
        .strip_suffix(&format!(".{extension}"))
        .unwrap_or_else(|| panic!("{url} ends with .{extension}"));
    for part in [dir, stem] {
        let uuid = uuid::Uuid::try_parse(part).unwrap_or_else(|_| panic!("{part} is a UUID"));
        assert_eq!(uuid.get_version_num(), 4, "{part} is a random (v4) UUID");
        assert_eq!(uuid.hyphenated().to_string(), part, "lowercase, hyphenated");
    }
}

/// A file of `tests/fixtures/`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|error| panic!("fixture {}: {error}", path.display()))
}

/// The format and pixel size of encoded image bytes.
pub(crate) fn decode(data: &[u8]) -> (image::ImageFormat, u32, u32) {
    let format = image::guess_format(data).expect("a known format");
    let decoded = image::load_from_memory(data).expect("the image decodes");
    (format, decoded.width(), decoded.height())
}

/// Whether a JPEG has an APP1 (EXIF or XMP) segment before its image data.
pub(crate) fn jpeg_has_app1(data: &[u8]) -> bool {
    assert_eq!(&data[..2], b"\xff\xd8", "a JPEG");
    let mut at = 2;
    while at + 4 <= data.len() {
        assert_eq!(data[at], 0xff, "a marker at {at}");
        let marker = data[at + 1];
        if marker == 0xe1 {
            return true;
        }
        if marker == 0xda {
            return false;
        }
        let length = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        at += 2 + length;
    }
    false
}

/// `round_half_up(width * max_height / height)`, at least 1; the original size when it is
/// not taller than `max_height`.
pub(crate) fn expected_thumbnail(width: u32, height: u32, max_height: u32) -> (u32, u32) {
    if height <= max_height {
        return (width, height);
    }
    let scaled = (2 * u64::from(width) * u64::from(max_height) + u64::from(height))
        / (2 * u64::from(height));
    (u32::try_from(scaled.max(1)).expect("fits"), max_height)
}

/// A signed-in browser, as the console's handler tests drive it: the session cookie
/// (`name=value`) and the CSRF token of its pages.
#[cfg(feature = "console")]
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

#[cfg(feature = "console")]
impl TestApp {
    /// A request for a console page, with `browser`'s session cookie if any.
    pub(crate) fn page_request(
        &self,
        method: Method,
        path: &str,
        browser: Option<&Browser>,
    ) -> RequestBuilder {
        let builder = self.request(method, path, None);
        match browser {
            Some(browser) => builder.header(reqwest::header::COOKIE, &browser.cookie),
            None => builder,
        }
    }

    /// `GET` of a page: its status, `Location` and HTML.
    pub(crate) async fn get_page(
        &self,
        path: &str,
        browser: Option<&Browser>,
    ) -> (StatusCode, Option<String>, String) {
        let response = self
            .page_request(Method::GET, path, browser)
            .send()
            .await
            .expect("request sent");
        page_parts(response).await
    }

    /// Posts a form as a browser does (`application/x-www-form-urlencoded`); `fields` are
    /// sent as given, so a test adds the CSRF field itself (see [`Browser::form`]).
    pub(crate) async fn post_form(
        &self,
        path: &str,
        browser: Option<&Browser>,
        fields: &[(&str, &str)],
    ) -> Response {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.page_request(Method::POST, path, browser)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /login/` with the form's fields.
    pub(crate) async fn post_login(&self, username: &str, password: &str, next: &str) -> Response {
        self.post_form(
            "/login/",
            None,
            &[
                ("username", username),
                ("password", password),
                ("next", next),
            ],
        )
        .await
    }

    /// Signs `user` in through the login form and reads the CSRF token of a page.
    pub(crate) async fn sign_in(&self, user: &TestUser) -> Browser {
        self.sign_in_with(&user.username, &user.password).await
    }

    /// Signs in with a username and password, asserting success.
    pub(crate) async fn sign_in_with(&self, username: &str, password: &str) -> Browser {
        let response = self.post_login(username, password, "/account/").await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login of {username}"
        );
        let cookie = session_cookie(response.headers()).expect("a session cookie");
        let mut browser = Browser {
            cookie,
            csrf: String::new(),
        };
        let (status, _, html) = self.get_page("/account/", Some(&browser)).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        browser.csrf = csrf_token(&html).expect("the page's CSRF token");
        browser
    }
}

#[cfg(feature = "console")]
impl Browser {
    /// `fields` with this browser's CSRF token first, as the console's forms send it.
    pub(crate) fn form<'a>(&'a self, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = vec![("csrfmiddlewaretoken", self.csrf.as_str())];
        all.extend_from_slice(fields);
        all
    }
}

/// A page's status, `Location` and body text.
#[cfg(feature = "console")]
pub(crate) async fn page_parts(response: Response) -> (StatusCode, Option<String>, String) {
    let status = response.status();
    let location = header(response.headers(), "location").map(str::to_owned);
    let html = response.text().await.expect("body read");
    (status, location, html)
}

/// The `name=value` of the session cookie a response sets (empty value when it clears it).
#[cfg(feature = "console")]
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    set_cookie(headers).map(|cookie| {
        cookie
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

/// The whole `Set-Cookie` of the session cookie, with its attributes.
#[cfg(feature = "console")]
pub(crate) fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.contains("imagevault_session="))
        .map(str::to_owned)
}

/// The CSRF token of a page, from its `<meta name="csrf-token">`.
#[cfg(feature = "console")]
pub(crate) fn csrf_token(html: &str) -> Option<String> {
    let marker = r#"<meta name="csrf-token" content=""#;
    let start = html.find(marker)? + marker.len();
    let length = html[start..].find('"')?;
    Some(html[start..start + length].to_owned())
}

/// The HTML element that contains `marker` (text inside its start tag), up to its end tag
/// `</tag>`: enough to look inside one list item or table row of a page.
#[cfg(feature = "console")]
pub(crate) fn element<'a>(html: &'a str, marker: &str, tag: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} is on the page: {html}"));
    let open = format!("<{tag}");
    let start = html[..at]
        .rfind(&open)
        .unwrap_or_else(|| panic!("<{tag}> around {marker:?}"));
    let close = format!("</{tag}>");
    let end = html[at..]
        .find(&close)
        .map_or(html.len(), |end| at + end + close.len());
    &html[start..end]
}
