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

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::Value;

use support::{
    Setup, TestDatabase, USER, USER_PASSWORD, all_images, create_bucket, create_user, fixture,
    list_bucket, own_redis, random_name, services_or_skip,
};

const UPLOADS: usize = 200;
/// A short lease, so that the killed worker's jobs come back within seconds.
const JOB_LEASE_SECS: &str = "6";
/// The sweeper's grace period in this test (the default is an hour).
const SWEEP_GRACE: Duration = Duration::from_secs(3);
/// The longest the whole recovery may take before the test gives up.
const RECOVERY_LIMIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_a_worker_dies_and_redis_forgets_everything() {
    let services = support::Services::from_env();
    let s3_endpoint = services.s3_endpoint.clone();
    if !services_or_skip(&[("PostgreSQL", &services.postgres), ("S3", &s3_endpoint)]) {
        return;
    }
    let workdir = tempfile::tempdir().expect("temp dir");
    let logs = workdir.path().to_owned();

    // Redis: our own server when possible, so FLUSHALL is real and harms nobody.
    let (redis_process, redis_url, own) = match own_redis(&logs) {
        Some((process, url)) => (Some(process), url, true),
        None => {
            if !services_or_skip(&[("Redis", &services.redis)]) {
                return;
            }
            (None, services.redis.clone(), false)
        }
    };

    // A fresh database and bucket.
    let database = TestDatabase::create(&services.postgres, "iv_dist_").await;
    let http = reqwest::Client::new();
    let bucket = create_bucket(&http, &s3_endpoint, "iv-dist-").await;

    let setup = Setup {
        database: database.url.clone(),
        bucket: bucket.clone(),
        s3_endpoint: s3_endpoint.clone(),
        queue: redis_url.clone(),
        queue_prefix: format!("{}:", random_name("dist")),
        job_lease_secs: JOB_LEASE_SECS.to_owned(),
        logs,
    };
    setup.run("migrate", &["migrate"]);
    // One user sends all the uploads, 8 at a time: above the per-user default of 2, which
    // this test is not about.
    let api_args = ["--no-worker", "--max-uploads-per-user", "8"];
    let (_api_1, api_1) = setup.start_server("api-1", &api_args);
    // The first API created the administrator; the second finds it.
    let (_api_2, api_2) = setup.start_server("api-2", &api_args);
    let mut worker_1 = Some(setup.start_worker("worker-1", 2));
    let _worker_2 = setup.start_worker("worker-2", 2);

    create_user(&http, &api_1).await;

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
    // A token, not Basic: 8 Basic logins at once for one user from one address would each
    // reserve a throttle attempt before their password check, and more than the 5 free
    // ones are refused with 429 until the first checks finish.
    let token: serde_json::Value = http
        .post(format!("{api_1}/api/auth/token/"))
        .json(&serde_json::json!({"username": USER, "password": USER_PASSWORD}))
        .send()
        .await
        .expect("token login")
        .json()
        .await
        .expect("a token answer");
    let token = token["token"].as_str().expect("a token").to_owned();
    let mut uploads = futures::stream::iter(0..UPLOADS)
        .map(|index| {
            let (name, bytes) = &files[index % files.len()];
            let api = if index % 2 == 0 { &api_1 } else { &api_2 };
            let form = reqwest::multipart::Form::new().part(
                "image",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(*name),
            );
            http.post(format!("{api}/api/images/"))
                .bearer_auth(&token)
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
            if let Some(worker) = worker_1.take() {
                eprintln!("killing {} after {uploaded} uploads", worker.name);
                worker.kill();
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
    database.remove().await;
}
