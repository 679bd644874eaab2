//! The whole scaled-out setup on loopback, with real processes of the example server: two
//! API processes (`serve --no-worker`) and two workers (`worker`) sharing PostgreSQL,
//! Redis and S3-compatible storage (moto). 200 uploads are spread over both APIs; midway
//! one worker is killed with SIGKILL and Redis loses everything (FLUSHALL). At the end
//! every thumbnail must be ready, every row must have its object, and one sweep must leave
//! no unreferenced object older than the grace period while keeping every referenced one.
//!
//! Needs PostgreSQL (`IMAGEVAULT_TEST_POSTGRES_URL`), Redis (`IMAGEVAULT_TEST_REDIS_URL`;
//! when `redis-server` is installed the test runs its own instance, so that FLUSHALL
//! touches nobody else's data) and an S3 endpoint (`IMAGEVAULT_TEST_S3_ENDPOINT`). A
//! missing service skips the test with a printed reason, unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`. Every wait is bounded; the figures it prints (how long
//! recovery took) are reported, never asserted.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_imagevault-server");
const UPLOADS: usize = 200;
const ADMIN_PASSWORD: &str = "distributed-admin-password";
const USER: &str = "dora";
const USER_PASSWORD: &str = "dora-the-uploader";
/// A short lease, so that the killed worker's jobs come back within seconds.
const JOB_LEASE_SECS: &str = "6";
/// The sweeper's grace period in this test (the default is an hour).
const SWEEP_GRACE: Duration = Duration::from_secs(3);
/// The longest the whole recovery may take before the test gives up.
const RECOVERY_LIMIT: Duration = Duration::from_secs(300);

/// Whether something answers on the host and port of `url`.
fn reachable(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok())
}

/// Skips (or fails, when services are required) unless every service answers.
fn services_or_skip(services: &[(&str, &str)]) -> bool {
    for (name, url) in services {
        if !reachable(url) {
            imagevault::testing::skip_unless_required(&format!("{name} at {url} is not reachable"));
            return false;
        }
    }
    true
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A child process, killed when the test ends however it ends.
struct Process {
    name: String,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The environment every server process of this test shares.
struct Setup {
    database: String,
    bucket: String,
    s3_endpoint: String,
    redis_url: String,
    queue_prefix: String,
    logs: PathBuf,
}

impl Setup {
    fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IMAGEVAULT_DATABASE", &self.database)
            .env("IMAGEVAULT_STORAGE", format!("s3://{}/media", self.bucket))
            .env("IMAGEVAULT_QUEUE", &self.redis_url)
            .env("IMAGEVAULT_QUEUE_PREFIX", &self.queue_prefix)
            .env("IMAGEVAULT_JOB_LEASE_SECS", JOB_LEASE_SECS)
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
    fn run(&self, name: &str, args: &[&str]) -> String {
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

    /// Starts `serve --no-worker` on an ephemeral port; returns it and its base URL.
    fn start_api(&self, name: &str) -> (Process, String) {
        let mut process = Process {
            name: name.to_owned(),
            child: self
                .command(name, &["serve", "--no-worker", "--bind", "127.0.0.1:0"])
                .spawn()
                .expect("spawn api"),
        };
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
            .unwrap_or_else(|_| panic!("{name} did not start; {}", self.log(name)));
        (process, url)
    }

    fn start_worker(&self, name: &str) -> Process {
        Process {
            name: name.to_owned(),
            child: self
                .command(
                    name,
                    &[
                        "worker",
                        "--concurrency",
                        "2",
                        "--reconcile-every-secs",
                        "2",
                    ],
                )
                .spawn()
                .expect("spawn worker"),
        }
    }

    fn log(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        format!(
            "last lines of {name}'s log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

/// A Redis server of this test's own, when `redis-server` is installed.
fn own_redis(logs: &Path) -> Option<(Process, String)> {
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
async fn list_bucket(
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

/// Every image of the user, following `next` links.
async fn all_images(http: &reqwest::Client, api: &str) -> Vec<Value> {
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

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_a_worker_dies_and_redis_forgets_everything() {
    let postgres = env_or(
        "IMAGEVAULT_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let s3_endpoint = env_or("IMAGEVAULT_TEST_S3_ENDPOINT", "http://127.0.0.1:5555");
    let shared_redis = env_or("IMAGEVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    if !services_or_skip(&[("PostgreSQL", &postgres), ("S3", &s3_endpoint)]) {
        return;
    }
    let workdir = tempfile::tempdir().expect("temp dir");
    let logs = workdir.path().to_owned();

    // Redis: our own server when possible, so FLUSHALL is real and harms nobody.
    let (redis_process, redis_url, own) = match own_redis(&logs) {
        Some((process, url)) => (Some(process), url, true),
        None => {
            if !services_or_skip(&[("Redis", &shared_redis)]) {
                return;
            }
            (None, shared_redis, false)
        }
    };

    // A fresh database and bucket.
    let database_name = random_name("iv_dist_");
    let admin_connection = {
        use sqlx::Connection as _;
        let mut connection = sqlx::PgConnection::connect(&postgres)
            .await
            .expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {database_name}"))
            .execute(&mut connection)
            .await
            .expect("create database");
        connection
    };
    let (base, _) = postgres.rsplit_once('/').expect("a database in the url");
    let database = format!("{base}/{database_name}");
    let bucket = random_name("iv-dist-");
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{s3_endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );

    let setup = Setup {
        database,
        bucket: bucket.clone(),
        s3_endpoint: s3_endpoint.clone(),
        redis_url: redis_url.clone(),
        queue_prefix: format!("{}:", random_name("dist")),
        logs,
    };
    setup.run("migrate", &["migrate"]);
    let (_api_1, api_1) = setup.start_api("api-1");
    // The first API created the administrator; the second finds it.
    let (_api_2, api_2) = setup.start_api("api-2");
    let mut worker_1 = Some(setup.start_worker("worker-1"));
    let _worker_2 = setup.start_worker("worker-2");

    let created = http
        .post(format!("{api_1}/api/admin/users/"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({
            "username": USER,
            "password": USER_PASSWORD,
            "plan": "00000000-0000-7000-8000-00000000b003",
        }))
        .send()
        .await
        .expect("create user");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);

    // 200 uploads, 8 at a time, alternating between the two APIs. Every fourth is a
    // 2560x1600 JPEG, so the workers have real work in flight when one is killed.
    let files = [
        ("grey_2560x1600.jpg", fixture("grey_2560x1600.jpg")),
        ("camera_512x512.png", fixture("camera_512x512.png")),
        ("chelsea_451x300.png", fixture("chelsea_451x300.png")),
        (
            "storm_1920x1280_orient6.jpg",
            fixture("storm_1920x1280_orient6.jpg"),
        ),
    ];
    let started = Instant::now();
    let mut killed_at = None;
    let mut flushed_at = None;
    let mut uploaded = 0usize;
    let mut uploads = futures::stream::iter(0..UPLOADS)
        .map(|index| {
            let (name, bytes) = &files[index % files.len()];
            let api = if index % 2 == 0 { &api_1 } else { &api_2 };
            let form = reqwest::multipart::Form::new().part(
                "image",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(*name),
            );
            http.post(format!("{api}/api/images/"))
                .basic_auth(USER, Some(USER_PASSWORD))
                .multipart(form)
                .send()
        })
        .buffer_unordered(8);
    while let Some(response) = uploads.next().await {
        let response = response.expect("upload");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::CREATED,
            "{:?}",
            response.text().await
        );
        uploaded += 1;
        if uploaded == UPLOADS / 2 {
            // SIGKILL: no chance to finish or give back its jobs.
            if let Some(mut worker) = worker_1.take() {
                worker.child.kill().expect("kill worker-1");
                let _ = worker.child.wait();
                eprintln!("killed {} after {uploaded} uploads", worker.name);
            }
            killed_at = Some(Instant::now());
        }
        if uploaded == UPLOADS * 3 / 4 {
            let client = redis::Client::open(redis_url.as_str()).expect("redis url");
            let mut connection = client
                .get_multiplexed_async_connection()
                .await
                .expect("redis");
            if own {
                let _: () = redis::cmd("FLUSHALL")
                    .query_async(&mut connection)
                    .await
                    .expect("FLUSHALL");
            } else {
                // The shared server: lose exactly this installation's data, as FLUSHALL would.
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}*", setup.queue_prefix))
                    .query_async(&mut connection)
                    .await
                    .expect("KEYS");
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL")
                        .arg(keys)
                        .query_async(&mut connection)
                        .await
                        .expect("DEL");
                }
            }
            flushed_at = Some(Instant::now());
            eprintln!("Redis lost everything after {uploaded} uploads");
        }
    }
    drop(uploads);
    let uploads_done = Instant::now();

    // Every thumbnail becomes ready: redelivery after the lease, and the reconciler for
    // what Redis forgot.
    let images = loop {
        let images = all_images(&http, &api_2).await;
        assert_eq!(images.len(), UPLOADS);
        let thumbnails: Vec<&Value> = images
            .iter()
            .flat_map(|image| image["thumbnails"].as_array().expect("thumbnails"))
            .collect();
        assert!(
            thumbnails
                .iter()
                .all(|thumbnail| thumbnail["status"] != "failed"),
            "a thumbnail failed"
        );
        if thumbnails
            .iter()
            .all(|thumbnail| thumbnail["status"] == "ready")
        {
            break images;
        }
        assert!(
            uploads_done.elapsed() < RECOVERY_LIMIT,
            "thumbnails still pending after {RECOVERY_LIMIT:?}: {} of {}; {}",
            thumbnails
                .iter()
                .filter(|t| t["status"] == "pending")
                .count(),
            thumbnails.len(),
            setup.log("worker-2")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let all_ready = Instant::now();
    let since = |at: Option<Instant>| at.map_or(Duration::ZERO, |at| all_ready - at);
    eprintln!(
        "figures: {UPLOADS} uploads in {:.1} s; all {} thumbnails ready {:.1} s after the last upload, {:.1} s after the SIGKILL, {:.1} s after the flush (job lease {JOB_LEASE_SECS} s, reconciler every 2 s)",
        (uploads_done - started).as_secs_f64(),
        UPLOADS * 2,
        (all_ready - uploads_done).as_secs_f64(),
        since(killed_at).as_secs_f64(),
        since(flushed_at).as_secs_f64(),
    );

    // Every row has its object, and the API serves each one.
    let mut referenced = HashSet::new();
    for image in &images {
        let original = image["original"]
            .as_str()
            .expect("original link on Enterprise");
        let bytes = http
            .get(original)
            .send()
            .await
            .expect("original")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(bytes.len() as u64, image["size"].as_u64().expect("size"));
        let mut urls = vec![original.to_owned()];
        for thumbnail in image["thumbnails"].as_array().expect("thumbnails") {
            let url = thumbnail["url"]
                .as_str()
                .expect("ready thumbnails have urls");
            let response = http.get(url).send().await.expect("thumbnail");
            assert_eq!(response.status(), reqwest::StatusCode::OK, "{url}");
            urls.push(url.to_owned());
        }
        for url in urls {
            let key = url.split("/media/").nth(1).expect("a media url");
            referenced.insert(format!("media/{key}"));
        }
    }
    assert_eq!(referenced.len(), UPLOADS * 3);

    // Objects no row references: two "crashed uploads" older than the grace period, and
    // one just written (an upload whose row is not committed yet).
    let orphan = |kind: &str, extension: &str| {
        format!(
            "media/{kind}/{}/{}.{extension}",
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        )
    };
    let old_orphans = [orphan("imageupload", "png"), orphan("thumbnail", "jpg")];
    for key in &old_orphans {
        let put = http
            .put(format!("{s3_endpoint}/{bucket}/{key}"))
            .body(files[1].1.clone())
            .send()
            .await
            .expect("put orphan");
        assert!(put.status().is_success());
    }
    tokio::time::sleep(SWEEP_GRACE + Duration::from_secs(1)).await;
    let young_orphan = orphan("imageupload", "jpg");
    let put = http
        .put(format!("{s3_endpoint}/{bucket}/{young_orphan}"))
        .body(files[0].1.clone())
        .send()
        .await
        .expect("put young orphan");
    assert!(put.status().is_success());

    let report = setup.run(
        "sweep",
        &["sweep", "--grace-secs", &SWEEP_GRACE.as_secs().to_string()],
    );
    eprintln!("sweep: {}", report.trim());
    let remaining = list_bucket(&http, &s3_endpoint, &bucket, "media/").await;
    for key in &referenced {
        assert!(
            remaining.contains(key),
            "the sweep deleted a referenced object {key}"
        );
    }
    for key in &old_orphans {
        assert!(
            !remaining.contains(key),
            "the sweep kept the old orphan {key}"
        );
    }
    assert!(
        remaining.contains(&young_orphan),
        "the sweep deleted an object younger than the grace period"
    );
    let unexpected: Vec<&String> = remaining
        .iter()
        .filter(|key| !referenced.contains(*key) && **key != young_orphan)
        .collect();
    assert!(
        unexpected.is_empty(),
        "unreferenced objects left: {unexpected:?}"
    );

    // Clean up what lives outside the temp dir: the database (the bucket lives in moto's memory).
    drop((_api_1, _api_2, _worker_2, redis_process));
    let mut admin_connection = admin_connection;
    let _ = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {database_name} WITH (FORCE)"
    ))
    .execute(&mut admin_connection)
    .await;
}
