//! `--metrics-bind` on the real `imagevault-server` binary: `serve` with its default
//! backends (SQLite, local files, the in-process queue) scraped before and after known
//! traffic, whose counters must move by exactly that traffic; and a `worker` process
//! (which needs a shared queue: Redis, skipped without it unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`) answering `/healthz`, `/readyz` and `/metrics` on its
//! metrics port. Every wait is bounded.

mod support;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use support::{
    Local, Process, Services, USER, USER_PASSWORD, create_user, fixture, random_name,
    services_or_skip, upload,
};

/// The longest one step may take: a loaded machine and a debug build.
const PATIENCE: Duration = Duration::from_secs(120);
/// Requests sent to one route, to be counted exactly.
const REQUESTS: usize = 7;

/// The process's URLs: its metrics listener, and its API when it serves one.
struct Started {
    process: Process,
    metrics: String,
    api: Option<String>,
}

/// Starts `args` in `local` and waits (bounded) for its metrics line, and its API line
/// when `serves_api`.
fn start(local: &Local, name: &str, args: &[&str], serves_api: bool) -> Started {
    let mut process = Process {
        name: name.to_owned(),
        child: local.command(name, args).spawn().expect("spawn the server"),
    };
    let stdout = process.child.stdout.take().expect("stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let (mut metrics, mut api) = (None, None);
    let deadline = Instant::now() + PATIENCE;
    while metrics.is_none() || (serves_api && api.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = receiver
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{name} did not start; {}", local.log(name)));
        if let Some(url) = line.strip_prefix("imagevault metrics on ") {
            metrics = Some(url.trim().to_owned());
        } else if let Some(url) = line.strip_prefix("imagevault listening on ") {
            api = Some(url.trim().to_owned());
        }
    }
    Started {
        process,
        metrics: metrics.expect("the metrics line"),
        api,
    }
}

/// The sum of the samples of `name` whose labels include all of `labels`, in Prometheus
/// text; 0 when there is none.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let wanted = series_name == name
                && labels
                    .iter()
                    .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")));
            wanted.then(|| value.parse::<f64>().expect("a sample value"))
        })
        .sum()
}

async fn scrape(http: &reqwest::Client, metrics: &str) -> String {
    let response = http
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    response.text().await.expect("the scrape's text")
}

/// Waits (bounded) until every thumbnail of image `id` is ready; returns how many it has
/// and how many requests for the image it took.
async fn wait_until_ready(http: &reqwest::Client, api: &str, id: &str) -> (usize, usize) {
    let deadline = Instant::now() + PATIENCE;
    let mut polls = 0;
    loop {
        polls += 1;
        let image: Value = http
            .get(format!("{api}/api/images/{id}/"))
            .basic_auth(USER, Some(USER_PASSWORD))
            .send()
            .await
            .expect("get the image")
            .json()
            .await
            .expect("the image's json");
        let thumbnails = image["thumbnails"].as_array().expect("thumbnails");
        if !thumbnails.is_empty() && thumbnails.iter().all(|t| t["status"] == "ready") {
            return (thumbnails.len(), polls);
        }
        assert!(Instant::now() < deadline, "thumbnails not ready: {image}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_counts_requests_thumbnails_and_throttled_logins_exactly() {
    let local = Local::new();
    let server = start(
        &local,
        "serve",
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
            // The second failed login of one username from one address is refused.
            "--login-failures-before-delay",
            "1",
        ],
        true,
    );
    let api = server.api.clone().expect("the API's URL");
    let http = reqwest::Client::new();
    create_user(&http, &api).await;

    let before = scrape(&http, &server.metrics).await;

    // An upload, until its thumbnails are ready.
    let uploaded: Value = upload(&http, &api, "camera.png", &fixture("camera_512x512.png"))
        .await
        .expect("upload")
        .json()
        .await
        .expect("the upload's json");
    let id = uploaded["id"].as_str().expect("an id").to_owned();
    let (heights, polls) = wait_until_ready(&http, &api, &id).await;

    // The image's route, a known number of times, with its id in the path.
    for _ in 0..REQUESTS {
        let response = http
            .get(format!("{api}/api/images/{id}/"))
            .basic_auth(USER, Some(USER_PASSWORD))
            .send()
            .await
            .expect("get the image");
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A path no route matches.
    let missing = http
        .get(format!("{api}/no/such/{id}"))
        .send()
        .await
        .expect("an unmatched path");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // Two failed logins: the first is counted, the second refused by the throttle.
    let mut login_statuses = Vec::new();
    for _ in 0..2 {
        let response = http
            .get(format!("{api}/api/me/"))
            .basic_auth("mallory", Some("not-the-password"))
            .send()
            .await
            .expect("a failed login");
        login_statuses.push(response.status());
    }
    assert_eq!(
        login_statuses,
        [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]
    );

    let after = scrape(&http, &server.metrics).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let image_route = [
        ("method", "GET"),
        ("route", "/api/images/{id}/"),
        ("status", "2xx"),
    ];
    // The wait read the same route too.
    let image_requests = (REQUESTS + polls) as f64;
    assert_eq!(
        delta("imagevault_http_requests_total", &image_route),
        image_requests
    );
    assert_eq!(
        delta(
            "imagevault_http_request_duration_seconds_count",
            &image_route
        ),
        image_requests,
        "one latency sample per request"
    );
    assert_eq!(
        delta(
            "imagevault_http_requests_total",
            &[("route", "unmatched"), ("status", "4xx")]
        ),
        1.0
    );
    assert!(
        !after.contains(&id),
        "no label carries an image id:\n{after}"
    );
    assert_eq!(delta("imagevault_uploads_total", &[]), 1.0);
    assert_eq!(
        delta("imagevault_thumbnails_rendered_total", &[]),
        heights as f64
    );
    assert_eq!(delta("imagevault_thumbnails_failed_total", &[]), 0.0);
    assert_eq!(
        delta("imagevault_thumbnail_render_seconds_count", &[]),
        heights as f64
    );
    assert_eq!(delta("imagevault_upload_to_ready_seconds_count", &[]), 1.0);
    assert_eq!(
        delta("imagevault_jobs_total", &[("outcome", "completed")]),
        1.0
    );
    assert_eq!(
        delta(
            "imagevault_login_throttled_total",
            &[("credential", "password")]
        ),
        1.0
    );
    assert_eq!(
        sample(&after, "imagevault_queue_jobs", &[("state", "dead")]),
        0.0
    );
    assert!(
        sample(&after, "imagevault_db_pool_max_connections", &[]) >= 1.0,
        "the SQLite pools are sampled:\n{after}"
    );
    assert!(
        after.contains("# HELP imagevault_http_requests_total"),
        "metrics are described"
    );
    println!(
        "scrape excerpt:\n{}",
        after
            .lines()
            .filter(|line| line.contains("/api/images/{id}/") || line.contains("thumbnails_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(server.process);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_answers_probes_and_metrics_on_its_metrics_port() {
    let services = Services::from_env();
    if !services_or_skip(&[("redis", &services.redis)]) {
        return;
    }
    let local = Local::new();
    let prefix = random_name("iv-metrics-test-");
    let worker = start(
        &local,
        "worker",
        &[
            "worker",
            "--queue",
            &services.redis,
            "--queue-prefix",
            &prefix,
            "--metrics-bind",
            "127.0.0.1:0",
        ],
        false,
    );
    let http = reqwest::Client::new();
    for probe in ["/healthz", "/readyz"] {
        let response = http
            .get(format!("{}{probe}", worker.metrics))
            .send()
            .await
            .expect("a probe");
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }
    let text = scrape(&http, &worker.metrics).await;
    assert_eq!(
        sample(&text, "imagevault_queue_jobs", &[("state", "ready")]),
        0.0
    );
    assert!(
        text.contains("imagevault_queue_jobs{state=\"dead\"}"),
        "the worker samples its queue:\n{text}"
    );
    drop(worker.process);
}

#[test]
fn a_bad_metrics_address_names_the_flag() {
    let local = Local::new();
    let output = local
        .command(
            "bad",
            &[
                "worker",
                "--queue",
                "redis://127.0.0.1:1",
                "--metrics-bind",
                "nonsense",
            ],
        )
        .output()
        .expect("run the worker");
    assert!(!output.status.success());
    let log = local.log("bad");
    assert!(
        log.contains("--metrics-bind"),
        "the error names the flag; {log}"
    );
}
