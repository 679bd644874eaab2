//! What the end-to-end tests with real server processes share: finding the services,
//! starting and stopping processes of the example server, a fresh database and bucket
//! per test, and the API calls every test makes.
//!
//! Each test binary uses a part of this module, so the rest is dead code there.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_imagevault-server");
pub(crate) const ADMIN_PASSWORD: &str = "e2e-admin-password";
pub(crate) const USER: &str = "dora";
pub(crate) const USER_PASSWORD: &str = "dora-the-uploader";
/// The built-in Enterprise plan: thumbnails of 200 and 400 px and original links.
pub(crate) const ENTERPRISE: &str = "00000000-0000-7000-8000-00000000b003";

/// The services' URLs, from the environment or the local defaults.
#[derive(Debug, Clone)]
pub(crate) struct Services {
    pub(crate) postgres: String,
    pub(crate) s3_endpoint: String,
    pub(crate) redis: String,
}

impl Services {
    pub(crate) fn from_env() -> Self {
        Self {
            postgres: env_or(
                "IMAGEVAULT_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            s3_endpoint: env_or("IMAGEVAULT_TEST_S3_ENDPOINT", "http://127.0.0.1:5555"),
            redis: env_or("IMAGEVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        }
    }
}

/// The `host:port` of `url` (user information and path left out).
pub(crate) fn host_port(url: &str) -> &str {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit('@').next().unwrap_or(authority)
}

/// The first address `url`'s host and port resolve to.
pub(crate) fn socket_address(url: &str) -> Option<SocketAddr> {
    host_port(url)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
}

/// `url` with its host and port replaced by `address`, user information, path and query
/// kept: the same service reached through a proxy.
pub(crate) fn via(url: &str, address: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{address}{path}")
}

/// Whether something answers on the host and port of `url`.
pub(crate) fn reachable(url: &str) -> bool {
    socket_address(url)
        .is_some_and(|address| TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok())
}

/// Skips (or fails, when services are required) unless every service answers.
pub(crate) fn services_or_skip(services: &[(&str, &str)]) -> bool {
    for (name, url) in services {
        if !reachable(url) {
            imagevault::testing::skip_unless_required(&format!("{name} at {url} is not reachable"));
            return false;
        }
    }
    true
}

pub(crate) fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub(crate) fn random_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A child process, killed when the test ends however it ends.
pub(crate) struct Process {
    pub(crate) name: String,
    pub(crate) child: Child,
}

impl Process {
    /// SIGKILL: the process gets no chance to finish or give back anything it holds.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fresh PostgreSQL database, dropped by [`TestDatabase::remove`].
pub(crate) struct TestDatabase {
    admin: sqlx::PgConnection,
    name: String,
    /// The new database's URL on the server of the URL it was made from.
    pub(crate) url: String,
}

impl TestDatabase {
    /// Creates a database named `<prefix><random>` on the server of `postgres`.
    pub(crate) async fn create(postgres: &str, prefix: &str) -> Self {
        use sqlx::Connection as _;
        let name = random_name(prefix);
        let mut admin = sqlx::PgConnection::connect(postgres)
            .await
            .expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let (base, _) = postgres.rsplit_once('/').expect("a database in the url");
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    /// Drops the database, whoever is still connected.
    pub(crate) async fn remove(mut self) {
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.admin)
        .await;
    }
}

/// Creates a bucket named `<prefix><random>` at the S3 endpoint.
pub(crate) async fn create_bucket(http: &reqwest::Client, endpoint: &str, prefix: &str) -> String {
    let bucket = random_name(prefix);
    let created = http
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    bucket
}

/// The environment every server process of a test shares.
pub(crate) struct Setup {
    pub(crate) database: String,
    pub(crate) bucket: String,
    pub(crate) s3_endpoint: String,
    pub(crate) queue: String,
    pub(crate) queue_prefix: String,
    pub(crate) job_lease_secs: String,
    pub(crate) logs: PathBuf,
}

impl Setup {
    pub(crate) fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IMAGEVAULT_DATABASE", &self.database)
            .env("IMAGEVAULT_STORAGE", format!("s3://{}/media", self.bucket))
            .env("IMAGEVAULT_QUEUE", &self.queue)
            .env("IMAGEVAULT_QUEUE_PREFIX", &self.queue_prefix)
            .env("IMAGEVAULT_JOB_LEASE_SECS", &self.job_lease_secs)
            .env("IMAGEVAULT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("IMAGEVAULT_LOG", "warn")
            .env("AWS_ENDPOINT_URL", &self.s3_endpoint)
            .env("AWS_ACCESS_KEY_ID", "imagevault-test")
            .env("AWS_SECRET_ACCESS_KEY", "imagevault-test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(self.logs.join(format!("{name}.log"))).expect("log file"),
            ));
        command
    }

    /// Runs a command to completion (bounded), returning its standard output.
    pub(crate) fn run(&self, name: &str, args: &[&str]) -> String {
        let mut process = Process {
            name: name.to_owned(),
            child: self.command(name, args).spawn().expect("spawn"),
        };
        let stdout = process.child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut text);
            let _ = sender.send(text);
        });
        let output = receiver
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("{name} did not finish; see {}", self.log(name)));
        let status = process.child.wait().expect("wait");
        assert!(
            status.success(),
            "{name} failed: {status}; {}",
            self.log(name)
        );
        output
    }

    /// Starts `serve` with `args` (and `--bind 127.0.0.1:0`); returns it and its base URL.
    pub(crate) fn start_server(&self, name: &str, args: &[&str]) -> (Process, String) {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let process = Process {
            name: name.to_owned(),
            child: self.command(name, &all).spawn().expect("spawn server"),
        };
        listening(process, || self.log(name))
    }

    /// Starts `serve --no-worker`: an API process only.
    pub(crate) fn start_api(&self, name: &str) -> (Process, String) {
        self.start_server(name, &["--no-worker"])
    }

    /// Starts `worker` with `concurrency` job loops and a reconciler pass every 2 s.
    pub(crate) fn start_worker(&self, name: &str, concurrency: u16) -> Process {
        Process {
            name: name.to_owned(),
            child: self
                .command(
                    name,
                    &[
                        "worker",
                        "--concurrency",
                        &concurrency.to_string(),
                        "--reconcile-every-secs",
                        "2",
                    ],
                )
                .spawn()
                .expect("spawn worker"),
        }
    }

    pub(crate) fn log(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        format!(
            "last lines of {name}'s log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

/// Waits (bounded) for a started server's listening line on its standard output; returns
/// it and its base URL. `log` says why when it never comes.
pub(crate) fn listening(mut process: Process, log: impl FnOnce() -> String) -> (Process, String) {
    let stdout = process.child.stdout.take().expect("stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("imagevault listening on ") {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{} did not start; {}", process.name, log()));
    (process, url)
}

/// The binary with its own default backends in a fresh temporary directory: SQLite, files
/// and the in-process queue, so it needs no service. When no user exists yet, the first
/// `serve` creates the administrator `admin` with [`ADMIN_PASSWORD`].
pub(crate) struct Local {
    /// The working directory: `imagevault-data/` and the processes' logs.
    pub(crate) dir: tempfile::TempDir,
}

impl Local {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub(crate) fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IMAGEVAULT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("IMAGEVAULT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join(format!("{name}.log")))
                    .expect("log file"),
            ));
        command
    }

    /// Runs `imagevault-server admin <args>` to completion (bounded), with `password` in
    /// `IMAGEVAULT_PASSWORD` (never on the command line); returns its standard output.
    pub(crate) fn admin(&self, args: &[&str], password: Option<&str>) -> String {
        let name = format!("admin-{}", args.first().copied().unwrap_or_default());
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        let mut command = self.command(&name, &all);
        if let Some(password) = password {
            command.env("IMAGEVAULT_PASSWORD", password);
        }
        let mut child = command.spawn().expect("spawn admin command");
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not finish; {}", self.log(&name));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut output = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut stdout, &mut output);
        }
        assert!(
            status.success(),
            "{name} failed: {status}; {}",
            self.log(&name)
        );
        output
    }

    /// Starts `serve --bind 127.0.0.1:0` with `args`; returns it and its base URL.
    pub(crate) fn start_server(&self, name: &str, args: &[&str]) -> (Process, String) {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let process = Process {
            name: name.to_owned(),
            child: self.command(name, &all).spawn().expect("spawn server"),
        };
        listening(process, || self.log(name))
    }

    pub(crate) fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        format!(
            "last lines of {name}'s log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

/// A Redis server of the test's own, when `redis-server` is installed.
pub(crate) fn own_redis(logs: &Path) -> Option<(Process, String)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::fs::File::create(logs.join("redis.log")).ok()?)
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let process = Process {
        name: "redis".into(),
        child,
    };
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reachable(&url) {
            return Some((process, url));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Every key in `bucket` under `prefix`, through the S3 ListObjectsV2 API.
pub(crate) async fn list_bucket(
    http: &reqwest::Client,
    endpoint: &str,
    bucket: &str,
    prefix: &str,
) -> HashSet<String> {
    let mut keys = HashSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("list-type", "2")
            .append_pair("prefix", prefix);
        if let Some(token) = &token {
            query.append_pair("continuation-token", token);
        }
        let response = http
            .get(format!("{endpoint}/{bucket}?{}", query.finish()))
            .send()
            .await
            .expect("list objects");
        assert!(
            response.status().is_success(),
            "list objects: {}",
            response.status()
        );
        let xml = response.text().await.expect("list body");
        keys.extend(xml_values(&xml, "Key"));
        token = xml_values(&xml, "NextContinuationToken").into_iter().next();
        if token.is_none() {
            return keys;
        }
    }
}

/// The text of every `<tag>...</tag>` in `xml` (enough for S3's flat listing answers).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|part| part.split(&close).next())
        .map(str::to_owned)
        .collect()
}

/// Creates [`USER`] on the Enterprise plan, as the administrator.
pub(crate) async fn create_user(http: &reqwest::Client, api: &str) {
    let created = http
        .post(format!("{api}/api/admin/users/"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({
            "username": USER,
            "password": USER_PASSWORD,
            "plan": ENTERPRISE,
        }))
        .send()
        .await
        .expect("create user");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
}

/// Uploads `bytes` as `name` for [`USER`].
pub(crate) async fn upload(
    http: &reqwest::Client,
    api: &str,
    name: &str,
    bytes: &[u8],
) -> reqwest::Result<reqwest::Response> {
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    );
    http.post(format!("{api}/api/images/"))
        .basic_auth(USER, Some(USER_PASSWORD))
        .multipart(form)
        .send()
        .await
}

/// Every image of [`USER`], following `next` links.
pub(crate) async fn all_images(http: &reqwest::Client, api: &str) -> Vec<Value> {
    let mut images = Vec::new();
    let mut url = format!("{api}/api/images/?limit=100");
    loop {
        let page: Value = http
            .get(&url)
            .basic_auth(USER, Some(USER_PASSWORD))
            .send()
            .await
            .expect("list images")
            .json()
            .await
            .expect("page json");
        images.extend(page["results"].as_array().expect("results").iter().cloned());
        match page["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return images,
        }
    }
}

/// The statuses of every thumbnail of `images`.
pub(crate) fn thumbnail_statuses(images: &[Value]) -> Vec<String> {
    images
        .iter()
        .flat_map(|image| image["thumbnails"].as_array().expect("thumbnails"))
        .map(|thumbnail| thumbnail["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
