//! Faults of the services, with real processes of the example server on PostgreSQL, Redis
//! and S3-compatible storage (moto). The shared services are never stopped: each test puts
//! a loopback TCP proxy of its own between the server and one service, and "cuts" it and
//! "restores" it, twice: every open connection is closed, and new ones are first refused
//! (the service stopped), then accepted and never answered (the network partitioned).
//!
//! - The database down: API calls answer 503 with a JSON `detail` and no internals,
//!   `/readyz` names the database, `/healthz` stays 200, and the same process serves again
//!   once the database is back.
//! - Storage failing: an upload answers the storage's 503 and leaves neither an image nor
//!   a row behind (when storage is partitioned, the S3 client's own timeouts end it before
//!   the server's request time limit does).
//! - The queue down: uploads still answer 201, `/readyz` names the queue, and once it is
//!   back the reconciler has the thumbnails made.
//! - A worker killed (SIGKILL) while it holds a job: another worker finishes the job when
//!   its lease lapses, and nothing stays pending.
//!
//! Needs PostgreSQL (`IMAGEVAULT_TEST_POSTGRES_URL`), Redis (`IMAGEVAULT_TEST_REDIS_URL`;
//! each test uses keys under a random prefix) and an S3 endpoint
//! (`IMAGEVAULT_TEST_S3_ENDPOINT`). A missing service skips the test with a printed reason,
//! unless `IMAGEVAULT_REQUIRE_SERVICES=1`. Every wait is bounded; the figures printed (how
//! long a failure took to be answered, how long recovery took) are reported, never asserted.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use support::{
    Process, Services, Setup, TestDatabase, USER, USER_PASSWORD, all_images, create_bucket,
    create_user, fixture, random_name, services_or_skip, socket_address, thumbnail_statuses,
    upload, via,
};

/// The longest any one wait of these tests (a recovery, thumbnails becoming ready) may take.
const LIMIT: Duration = Duration::from_secs(120);
/// The client's own limit on one request during an outage: above the server's default
/// request timeout (60 s), so that what is measured is the server's answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(75);

/// What a cut proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards every connection to the service.
    Forward,
    /// Closes every open connection and stops listening, so new ones are refused, as when
    /// the service is stopped.
    Refuse,
    /// Closes every open connection and accepts new ones but never answers, as when the
    /// network to the service is partitioned: clients wait for their own timeouts.
    BlackHole,
}

/// A loopback TCP proxy in front of one service, which the test can cut and restore.
struct Proxy {
    address: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let (mode, modes) = watch::channel(Mode::Forward);
        let task = tokio::spawn(run_proxy(listener, address, upstream, modes));
        Self {
            address,
            mode,
            task,
        }
    }

    fn cut(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_proxy(
    listener: TcpListener,
    address: SocketAddr,
    upstream: SocketAddr,
    mut modes: watch::Receiver<Mode>,
) {
    let mut listener = Some(listener);
    // Dropping a connection's task drops both of its sockets, which closes them.
    let mut connections = JoinSet::new();
    // Black-holed connections: held open, never read nor written, until the mode changes.
    let mut held = Vec::new();
    loop {
        let accepted = async {
            match &listener {
                Some(listener) => listener.accept().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = modes.changed() => {
                if changed.is_err() {
                    return;
                }
                let mode = *modes.borrow_and_update();
                held.clear();
                if mode != Mode::Forward {
                    connections.abort_all();
                }
                if mode == Mode::Refuse {
                    listener = None;
                } else if listener.is_none() {
                    listener = Some(rebind(address).await);
                }
            }
            Some((client, _)) = accepted => {
                if *modes.borrow() == Mode::BlackHole {
                    held.push(client);
                } else {
                    connections.spawn(forward(client, upstream));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Listens on `address` again. The port was ours a moment ago; another process taking it
/// meanwhile is unlikely, but a lingering socket may need a few tries.
async fn rebind(address: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(address).await {
            Ok(listener) => return listener,
            Err(error) if Instant::now() < deadline => {
                eprintln!("proxy: cannot listen on {address} again yet: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("proxy: cannot listen on {address} again: {error}"),
        }
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// What every scenario starts from: the services, a fresh database and bucket, and a
/// directory for the processes' logs.
struct Fixture {
    services: Services,
    database: TestDatabase,
    bucket: String,
    http: reqwest::Client,
    workdir: tempfile::TempDir,
}

impl Fixture {
    /// `None` when a service is missing and the test is skipped.
    async fn prepare(name: &str) -> Option<Self> {
        let services = Services::from_env();
        if !services_or_skip(&[
            ("PostgreSQL", &services.postgres),
            ("Redis", &services.redis),
            ("S3", &services.s3_endpoint),
        ]) {
            return None;
        }
        let database = TestDatabase::create(&services.postgres, &format!("iv_{name}_")).await;
        let http = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("http client");
        let bucket = create_bucket(&http, &services.s3_endpoint, &format!("iv-{name}-")).await;
        Some(Self {
            services,
            database,
            bucket,
            http,
            workdir: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// The processes' environment, every service reached directly; a scenario then points
    /// one of them at its proxy.
    fn setup(&self, job_lease_secs: u64) -> Setup {
        Setup {
            database: self.database.url.clone(),
            bucket: self.bucket.clone(),
            s3_endpoint: self.services.s3_endpoint.clone(),
            queue: self.services.redis.clone(),
            queue_prefix: format!("{}:", random_name("faults")),
            job_lease_secs: job_lease_secs.to_string(),
            logs: self.workdir.path().to_owned(),
        }
    }

    /// Connections to the test's database, straight to the server.
    async fn sql(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database.url)
            .await
            .expect("connect to the test database")
    }

    async fn finish(self, processes: Vec<Process>) {
        drop(processes);
        self.database.remove().await;
    }
}

async fn proxy_for(url: &str) -> Proxy {
    Proxy::start(socket_address(url).expect("a service address")).await
}

/// Polls `check` every 250 ms until it holds; returns how long that took, or `None` after
/// `limit`.
async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An answer, and how long it took.
struct Answer {
    status: StatusCode,
    body: String,
    took: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("no answer within {CLIENT_TIMEOUT:?}: {error}"));
    let status = response.status();
    let body = response.text().await.expect("body");
    Answer {
        status,
        body,
        took: started.elapsed(),
    }
}

async fn upload_answer(http: &reqwest::Client, api: &str, name: &str) -> Answer {
    let started = Instant::now();
    let response = upload(http, api, name, &fixture(name))
        .await
        .unwrap_or_else(|error| panic!("no answer within {CLIENT_TIMEOUT:?}: {error}"));
    let status = response.status();
    let body = response.text().await.expect("body");
    Answer {
        status,
        body,
        took: started.elapsed(),
    }
}

fn list_request(http: &reqwest::Client, api: &str) -> reqwest::RequestBuilder {
    http.get(format!("{api}/api/images/"))
        .basic_auth(USER, Some(USER_PASSWORD))
}

/// A 503 whose body is `{"detail": "..."}` and tells nothing of the machinery behind it.
fn assert_unavailable(what: &str, answer: &Answer, internals: &[&str]) -> String {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        answer.body
    );
    let json = answer.json();
    let detail = json["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no detail in {json}"))
        .to_owned();
    let lower = answer.body.to_lowercase();
    for internal in internals.iter().chain(&[
        "sqlx", "select ", "insert ", "os error", "pool", "redis", "s3", "http://",
    ]) {
        assert!(
            !lower.contains(&internal.to_lowercase()),
            "{what}: the body shows {internal:?}: {}",
            answer.body
        );
    }
    detail
}

/// `/readyz`: its status, and which of the three parts are not `ok`.
async fn readiness(http: &reqwest::Client, api: &str) -> (StatusCode, Vec<&'static str>, Value) {
    let answer = answer(http.get(format!("{api}/readyz"))).await;
    let json = answer.json();
    let failed = ["database", "storage", "queue"]
        .into_iter()
        .filter(|part| json[*part] != "ok")
        .collect();
    (answer.status, failed, json)
}

/// Waits until every thumbnail of the user's images is ready; returns how long it took.
/// The state every outage starts from, while all is well: the test user, with one
/// uploaded image whose thumbnails are all ready.
async fn one_ready_image(http: &reqwest::Client, api: &str, setup: &Setup) {
    create_user(http, api).await;
    let first = upload_answer(http, api, "chelsea_451x300.png").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    all_thumbnails_ready(http, api, setup).await;
}

async fn all_thumbnails_ready(http: &reqwest::Client, api: &str, setup: &Setup) -> Duration {
    let last = std::sync::Mutex::new(Vec::new());
    let ready = wait_until(LIMIT, || async {
        let statuses = thumbnail_statuses(&all_images(http, api).await);
        assert!(
            statuses.iter().all(|status| status != "failed"),
            "a thumbnail failed"
        );
        let ready = statuses.iter().all(|status| status == "ready");
        *last.lock().expect("statuses") = statuses;
        ready
    })
    .await;
    ready.unwrap_or_else(|| {
        panic!(
            "thumbnails still pending after {LIMIT:?}: {:?}; {}",
            last.lock().expect("statuses"),
            setup.log("server")
        )
    })
}

async fn count_rows(sql: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(sql)
        .await
        .expect("count rows")
}

/// Both kinds of outage, one after the other, on the same processes.
const OUTAGES: [Mode; 2] = [Mode::Refuse, Mode::BlackHole];

impl Mode {
    fn describe(self) -> &'static str {
        match self {
            Mode::Forward => "up",
            Mode::Refuse => "refusing connections",
            Mode::BlackHole => "black-holed",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_calls_are_503_and_service_resumes_when_it_is_back() {
    let Some(fixture) = Fixture::prepare("dbdown").await else {
        return;
    };
    let http = fixture.http.clone();
    let proxy = proxy_for(&fixture.services.postgres).await;
    let mut setup = fixture.setup(30);
    setup.database = via(&fixture.database.url, proxy.address);
    setup.run("migrate", &["migrate"]);
    let (server, api) = setup.start_server("server", &[]);
    one_ready_image(&http, &api, &setup).await;
    let port = proxy.address.port().to_string();
    let internals = ["127.0.0.1", port.as_str(), "postgres"];

    for (outage, mode) in OUTAGES.into_iter().enumerate() {
        proxy.cut(mode);
        let cut_at = Instant::now();
        let listed = answer(list_request(&http, &api)).await;
        let detail = assert_unavailable("list images", &listed, &internals);
        let uploaded = upload_answer(&http, &api, "camera_512x512.png").await;
        assert_unavailable("upload", &uploaded, &internals);
        // /readyz answers from a check at most a second old: it follows within that.
        let unready = wait_until(LIMIT, || async {
            readiness(&http, &api).await.0 == StatusCode::SERVICE_UNAVAILABLE
        })
        .await;
        let (status, failed, readyz) = readiness(&http, &api).await;
        assert!(
            unready.is_some(),
            "still ready {LIMIT:?} into the outage: {readyz}"
        );
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{readyz}");
        assert_eq!(failed, ["database"], "{readyz}");
        let health = answer(http.get(format!("{api}/healthz"))).await;
        assert_eq!(health.status, StatusCode::OK, "{}", health.body);
        println!(
            "database {}: list images 503 in {:.2} s ({detail:?}), upload 503 in {:.2} s, /healthz 200, /readyz {readyz}",
            mode.describe(),
            listed.took.as_secs_f64(),
            uploaded.took.as_secs_f64(),
        );

        proxy.restore();
        let down_for = cut_at.elapsed();
        let recovered = wait_until(LIMIT, || async {
            answer(list_request(&http, &api)).await.status == StatusCode::OK
        })
        .await
        .unwrap_or_else(|| panic!("still failing {LIMIT:?} after the database came back"));
        // /readyz answers from a check at most a second old, so it follows within that.
        let ready = wait_until(LIMIT, || async {
            let (status, failed, _) = readiness(&http, &api).await;
            status == StatusCode::OK && failed.is_empty()
        })
        .await;
        let (_, _, readyz) = readiness(&http, &api).await;
        assert!(
            ready.is_some(),
            "not ready {LIMIT:?} after the database came back: {readyz}"
        );
        let again = upload_answer(&http, &api, "camera_512x512.png").await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        let thumbnails = all_thumbnails_ready(&http, &api, &setup).await;
        assert_eq!(all_images(&http, &api).await.len(), outage + 2);
        println!(
            "database back after {:.1} s {}: the API answered 200 again {:.2} s later, same process; the next upload's thumbnails were ready {:.2} s after it",
            down_for.as_secs_f64(),
            mode.describe(),
            recovered.as_secs_f64(),
            thumbnails.as_secs_f64(),
        );
    }
    fixture.finish(vec![server]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_storage_failing_uploads_are_503_and_leave_nothing_behind() {
    let Some(fixture) = Fixture::prepare("s3down").await else {
        return;
    };
    let http = fixture.http.clone();
    let proxy = proxy_for(&fixture.services.s3_endpoint).await;
    let mut setup = fixture.setup(30);
    setup.s3_endpoint = via(&fixture.services.s3_endpoint, proxy.address);
    setup.run("migrate", &["migrate"]);
    // The server's default request time limit (60 s): black-holed, the S3 client must give
    // up on its own first, so that the answer says storage is what failed.
    let (server, api) = setup.start_server("server", &[]);
    one_ready_image(&http, &api, &setup).await;
    let sql = fixture.sql().await;
    let port = proxy.address.port().to_string();
    let internals = [
        "127.0.0.1",
        port.as_str(),
        fixture.bucket.as_str(),
        "object_store",
    ];

    for (outage, mode) in OUTAGES.into_iter().enumerate() {
        let rows_before = count_rows(&sql, "images").await;
        proxy.cut(mode);
        let uploaded = upload_answer(&http, &api, "camera_512x512.png").await;
        let detail = assert_unavailable("upload", &uploaded, &internals);
        assert_eq!(
            detail,
            "Storage is unavailable; try again later.",
            "storage {}",
            mode.describe()
        );
        // Listing needs the database only.
        let listed = answer(list_request(&http, &api)).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let (status, failed, readyz) = readiness(&http, &api).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{readyz}");
        assert_eq!(failed, ["storage"], "{readyz}");
        println!(
            "storage {}: upload 503 in {:.2} s ({detail:?}); list images 200 in {:.2} s; /readyz {readyz}",
            mode.describe(),
            uploaded.took.as_secs_f64(),
            listed.took.as_secs_f64(),
        );

        proxy.restore();
        let images = all_images(&http, &api).await;
        assert_eq!(
            images.len(),
            outage + 1,
            "the failed upload is listed: {images:?}"
        );
        assert_eq!(
            count_rows(&sql, "images").await,
            rows_before,
            "the failed upload left a row"
        );
        let recovered = wait_until(LIMIT, || async {
            readiness(&http, &api).await.0 == StatusCode::OK
        })
        .await
        .unwrap_or_else(|| panic!("storage still not ready {LIMIT:?} after it came back"));
        let again = upload_answer(&http, &api, "camera_512x512.png").await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        let thumbnails = all_thumbnails_ready(&http, &api, &setup).await;
        assert_eq!(count_rows(&sql, "images").await, rows_before + 1);
        println!(
            "storage back: no image and no row from the failed upload; ready again after {:.2} s; an upload answered 201 in {:.2} s and its thumbnails were ready {:.2} s later",
            recovered.as_secs_f64(),
            again.took.as_secs_f64(),
            thumbnails.as_secs_f64(),
        );
    }
    sql.close().await;
    fixture.finish(vec![server]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_queue_down_uploads_succeed_and_the_reconciler_completes_them() {
    let Some(fixture) = Fixture::prepare("qdown").await else {
        return;
    };
    let http = fixture.http.clone();
    let proxy = proxy_for(&fixture.services.redis).await;
    // A short lease and reconciler interval: the reconciler re-queues pending work once its
    // lease has lapsed, and an upload's pending rows count as leased from the upload on.
    let mut setup = fixture.setup(3);
    setup.queue = via(&fixture.services.redis, proxy.address);
    setup.run("migrate", &["migrate"]);
    let (server, api) = setup.start_server("server", &["--reconcile-every-secs", "1"]);
    one_ready_image(&http, &api, &setup).await;

    for (outage, mode) in OUTAGES.into_iter().enumerate() {
        proxy.cut(mode);
        let cut_at = Instant::now();
        let mut took = Vec::new();
        for name in [
            "camera_512x512.png",
            "storm_1920x1280_orient6.jpg",
            "chelsea_451x300.png",
        ] {
            let uploaded = upload_answer(&http, &api, name).await;
            assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
            took.push(format!("{:.2} s", uploaded.took.as_secs_f64()));
        }
        let (status, failed, readyz) = readiness(&http, &api).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{readyz}");
        assert_eq!(failed, ["queue"], "{readyz}");
        let pending = thumbnail_statuses(&all_images(&http, &api).await)
            .iter()
            .filter(|status| *status == "pending")
            .count();
        println!(
            "queue {}: 3 uploads answered 201 in {}; {pending} thumbnails pending; /readyz {readyz}",
            mode.describe(),
            took.join(", ")
        );
        // Long enough for the reconciler to have tried, and failed, to queue them.
        tokio::time::sleep(Duration::from_secs(4)).await;

        proxy.restore();
        let down_for = cut_at.elapsed();
        let ready = all_thumbnails_ready(&http, &api, &setup).await;
        let (status, _, readyz) = readiness(&http, &api).await;
        assert_eq!(status, StatusCode::OK, "{readyz}");
        assert_eq!(all_images(&http, &api).await.len(), 1 + 3 * (outage + 1));
        println!(
            "queue back after {:.1} s {}: all thumbnails ready {:.2} s later (reconciler every 1 s, job lease 3 s)",
            down_for.as_secs_f64(),
            mode.describe(),
            ready.as_secs_f64(),
        );
    }
    fixture.finish(vec![server]).await;
}

/// The test's images whose thumbnails a worker has started (attempts counted) but not
/// finished: the jobs in flight.
async fn images_in_flight(sql: &sqlx::PgPool) -> Vec<uuid::Uuid> {
    sqlx::query_scalar(
        "SELECT DISTINCT image_id FROM thumbnails WHERE status = 'pending' AND attempts > 0",
    )
    .fetch_all(sql)
    .await
    .expect("thumbnails in flight")
}

/// The number of entries of the queue's Redis key `queue:<name>` (a list or sorted set).
async fn queue_entries(redis: &mut redis::aio::MultiplexedConnection, key: &str) -> u64 {
    let kind: String = redis::cmd("TYPE")
        .arg(key)
        .query_async(redis)
        .await
        .expect("TYPE");
    let command = match kind.as_str() {
        "none" => return 0,
        "list" => "LLEN",
        "zset" => "ZCARD",
        other => panic!("{key} is a {other}"),
    };
    redis::cmd(command)
        .arg(key)
        .query_async(redis)
        .await
        .expect("queue length")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_nothing() {
    let Some(fixture) = Fixture::prepare("kill").await else {
        return;
    };
    let http = fixture.http.clone();
    // A short lease, so that the killed worker's job comes back within seconds.
    let setup = fixture.setup(4);
    setup.run("migrate", &["migrate"]);
    let (api_process, api) = setup.start_api("api");
    create_user(&http, &api).await;
    let sql = fixture.sql().await;
    let mut redis = redis::Client::open(fixture.services.redis.as_str())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = |name: &str| format!("{}queue:{name}", setup.queue_prefix);

    // One job at a time, on the largest images, so that the worker holds one for a while.
    // Should it finish the job between the look and the kill, another round tries again.
    let mut held = None;
    for round in 1..=3 {
        let worker = setup.start_worker(&format!("worker-{round}"), 1);
        for name in [
            "sunset_4272x2848.jpg",
            "arc-colors-transparent_2140x1200.png",
            "bythewater_2560x1600.jpg",
        ] {
            let uploaded = upload_answer(&http, &api, name).await;
            assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        }
        let in_flight = std::sync::Mutex::new(Vec::new());
        let seen = wait_until(LIMIT, || async {
            let now = images_in_flight(&sql).await;
            let any = !now.is_empty();
            *in_flight.lock().expect("in flight") = now;
            any
        })
        .await;
        let in_flight = in_flight.into_inner().expect("in flight");
        assert!(
            seen.is_some(),
            "no job started; {}",
            setup.log(&worker.name)
        );
        worker.kill();
        let killed_at = Instant::now();
        // What is still unfinished after the kill was cut short by it.
        let cut_short: Vec<uuid::Uuid> = images_in_flight(&sql)
            .await
            .into_iter()
            .filter(|image| in_flight.contains(image))
            .collect();
        if let Some(image) = cut_short.first() {
            held = Some((*image, killed_at, round));
            break;
        }
        println!("round {round}: the worker finished its job before the kill; again");
    }
    let (image, killed_at, round) = held.expect("three rounds without a job in flight at the kill");
    let leased = queue_entries(&mut redis, &key("in_flight")).await;
    assert!(leased >= 1, "the killed worker's job is not leased");
    println!(
        "killed worker-{round} (SIGKILL) while it made the thumbnails of image {image}; {leased} job(s) leased to it"
    );

    let _survivor = setup.start_worker("survivor", 2);
    wait_until(LIMIT, || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM thumbnails WHERE image_id = $1 AND status <> 'ready'",
        )
        .bind(image)
        .fetch_one(&sql)
        .await
        .expect("thumbnails of the image");
        pending == 0
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the cut-short job never finished; {}",
            setup.log("survivor")
        )
    });
    let image_ready = killed_at.elapsed();
    all_thumbnails_ready(&http, &api, &setup).await;
    let all_ready = killed_at.elapsed();
    let attempts: Vec<i64> =
        sqlx::query_scalar("SELECT attempts FROM thumbnails WHERE image_id = $1")
            .bind(image)
            .fetch_all(&sql)
            .await
            .expect("attempts");
    let not_ready: i64 =
        sqlx::query_scalar("SELECT count(*) FROM thumbnails WHERE status <> 'ready'")
            .fetch_one(&sql)
            .await
            .expect("count");
    assert_eq!(not_ready, 0);
    let images = all_images(&http, &api).await;
    for listed in &images {
        for thumbnail in listed["thumbnails"].as_array().expect("thumbnails") {
            let url = thumbnail["url"].as_str().expect("a ready thumbnail's url");
            let fetched = http.get(url).send().await.expect("thumbnail");
            assert_eq!(fetched.status(), StatusCode::OK, "{url}");
        }
    }
    // Every job is settled: none leased, waiting or dead.
    let settled = wait_until(LIMIT, || {
        let mut redis = redis.clone();
        let key = &key;
        async move {
            let mut total = 0;
            for name in ["in_flight", "ready", "delayed", "dead"] {
                total += queue_entries(&mut redis, &key(name)).await;
            }
            total == 0
        }
    })
    .await;
    assert!(settled.is_some(), "jobs left in the queue");
    println!(
        "after the kill: image {image} ready after {:.1} s (attempts per height {attempts:?}; lease 4 s), all {} images' thumbnails ready after {:.1} s, queue empty",
        image_ready.as_secs_f64(),
        images.len(),
        all_ready.as_secs_f64(),
    );
    sql.close().await;
    fixture.finish(vec![api_process]).await;
}
