//! Secrets and capability URLs stay out of the server's log, with a real process of the
//! example server on PostgreSQL: a database URL with a password, media requests of every
//! kind, and request ids a client made up. Also the errors of a start that fails on a
//! queue URL with a password, and a forged page cursor on PostgreSQL. And `--log-format
//! json` (SQLite, no service): each request's line is JSON with its fields.
//!
//! Needs PostgreSQL (`IMAGEVAULT_TEST_POSTGRES_URL`); without it the test is skipped with a
//! printed reason, unless `IMAGEVAULT_REQUIRE_SERVICES=1`. Every wait is bounded.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use support::{
    ADMIN_PASSWORD, BINARY, Local, Process, Services, TestDatabase, USER, USER_PASSWORD,
    create_user, fixture, services_or_skip, upload,
};

/// A password with every character that ends a URL part early, percent-encoded as a URL
/// must carry it. PostgreSQL's trust authentication of the test server ignores it.
const DATABASE_PASSWORD: &str = "Pg%2Fs3cr%40t%3Fq%23f";
/// The same password as the driver decodes it.
const DATABASE_PASSWORD_DECODED: &str = "Pg/s3cr@t?q#f";
/// A queue password written raw, with a `/` that ends the authority for a strict parser.
const QUEUE_PASSWORD: &str = "qu/eue-s3cret";

/// The example server with only the variables given, its log (stderr) in `log`.
fn command(log: &std::path::Path, database: &str, storage: &str, queue: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("IMAGEVAULT_DATABASE", database)
        .env("IMAGEVAULT_STORAGE", storage)
        .env("IMAGEVAULT_QUEUE", queue)
        .env("IMAGEVAULT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("IMAGEVAULT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).expect("log file")));
    command
}

/// The UUID-shaped segments of a media URL (`<dir>` and `<file>` without the extension).
fn capability_segments(url: &str) -> Vec<String> {
    let path = url.split("/media/").nth(1).expect("a media url");
    path.split('/')
        .skip(1)
        .map(|segment| segment.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_of_a_run_holds_no_secret_and_no_media_capability() {
    let services = Services::from_env();
    if !services_or_skip(&[("PostgreSQL", &services.postgres)]) {
        return;
    }
    let database = TestDatabase::create(&services.postgres, "imagevault_logs_").await;
    let (scheme_and_user, rest) = database.url.split_once('@').unwrap_or(("", ""));
    let user = scheme_and_user
        .split("//")
        .nth(1)
        .and_then(|user| user.split(':').next())
        .unwrap_or("postgres");
    let secret_database = format!("postgres://{user}:{DATABASE_PASSWORD}@{rest}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage = format!("file://{}/media", dir.path().display());
    let log = dir.path().join("server.log");

    // A start that fails on the queue: its error names the URL, without the password.
    let failed_log = dir.path().join("failed.log");
    let queue = format!("redis://:{QUEUE_PASSWORD}@127.0.0.1:1/0");
    let output = command(&failed_log, &secret_database, &storage, &queue)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .expect("the server runs");
    assert!(!output.status.success(), "no queue, no start");
    let failed = std::fs::read_to_string(&failed_log).expect("the log");
    assert!(failed.contains("cannot open the backends"), "{failed}");

    let mut child = command(&log, &secret_database, &storage, "memory://")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let process = Process {
        name: "server".to_owned(),
        child,
    };
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("imagevault listening on ") {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let api = receiver
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!(
                "the server did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    create_user(&http, &api).await;
    let uploaded: Value = upload(&http, &api, "chelsea.png", &fixture("chelsea_451x300.png"))
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let id = uploaded["id"].as_str().expect("an id").to_owned();
    let mut image = uploaded;
    for _ in 0..600 {
        let ready = image["thumbnails"]
            .as_array()
            .is_some_and(|thumbnails| thumbnails.iter().all(|t| t["status"] == "ready"));
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        image = json_of(
            http.get(format!("{api}/api/images/{id}/"))
                .basic_auth(USER, Some(USER_PASSWORD)),
            "image",
        )
        .await;
    }
    let link: Value = json_of(
        http.post(format!("{api}/api/expiring-links/"))
            .basic_auth(USER, Some(USER_PASSWORD))
            .json(&serde_json::json!({"base_image": id, "expiry_in_seconds": 300})),
        "link",
    )
    .await;
    let mut media = vec![image["original"].as_str().expect("an original").to_owned()];
    media.extend(
        image["thumbnails"]
            .as_array()
            .expect("thumbnails")
            .iter()
            .map(|thumbnail| thumbnail["url"].as_str().expect("a url").to_owned()),
    );
    if let Some(url) = link["url"].as_str() {
        media.push(url.to_owned());
    }
    let unknown = format!(
        "{api}/media/thumbnail/{}/{}.png",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    media.push(unknown);
    // A client's request ids that must not reach the log as sent.
    let injected = "forged\"id level=ERROR message=pwned";
    let long = "x".repeat(200);
    for url in &media {
        for request_id in [injected, long.as_str()] {
            let response = http
                .get(url)
                .header("X-Request-Id", request_id)
                .send()
                .await
                .expect("media");
            assert!(
                response.status() == StatusCode::OK || response.status() == StatusCode::NOT_FOUND,
                "{url}: {}",
                response.status()
            );
        }
    }

    // A cursor carrying a time PostgreSQL cannot compare: a 400 on the cursor, not a 503.
    let forged = imagevault::core::page::Cursor {
        kind: imagevault::core::page::ListKind::Images,
        direction: imagevault::core::page::Direction::Older,
        position: imagevault::core::page::Keyset {
            created_at: "-200000-01-01T00:00:00Z"
                .parse()
                .expect("a time chrono holds"),
            id: uuid::Uuid::new_v4(),
        },
    }
    .encode();
    let response = http
        .get(format!("{api}/api/images/?cursor={forged}"))
        .basic_auth(USER, Some(USER_PASSWORD))
        .send()
        .await
        .expect("list");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["cursor"].is_array(), "{body}");

    process.kill();
    database.remove().await;
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(
        text.contains("/media/thumbnail/…"),
        "media requests are logged, by kind: {text}"
    );
    let basic_secret =
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{USER_PASSWORD}"));
    for (what, secret) in [
        ("the database password", DATABASE_PASSWORD),
        ("the decoded database password", DATABASE_PASSWORD_DECODED),
        ("a user's password", USER_PASSWORD),
        ("the administrator's password", ADMIN_PASSWORD),
        ("a Basic credential", basic_secret.as_str()),
        ("an injected request id", injected),
        ("an overlong request id", long.as_str()),
    ] {
        assert!(!text.contains(secret), "{what} is in the log:\n{text}");
        let output = String::from_utf8_lossy(&output.stderr);
        assert!(
            !failed.contains(secret),
            "{what} is in the failed start's log:\n{failed}"
        );
        assert!(!output.contains(secret), "{what}:\n{output}");
    }
    assert!(!failed.contains(QUEUE_PASSWORD), "{failed}");
    assert!(!failed.contains("eue-s3cret"), "{failed}");
    for url in &media {
        for segment in capability_segments(url) {
            assert!(!text.contains(&segment), "{url} is in the log:\n{text}");
        }
    }
}

#[test]
fn help_hides_the_values_of_secret_variables() {
    let secrets = [
        (
            "IMAGEVAULT_DATABASE",
            "postgres://app:help-db-s3cret@db/images",
        ),
        ("IMAGEVAULT_STORAGE", "s3://help-bucket-s3cret/media"),
        ("IMAGEVAULT_QUEUE", "redis://:help-queue-s3cret@cache:6379"),
        ("IMAGEVAULT_ADMIN_PASSWORD", "help-admin-s3cret"),
    ];
    for args in [&["--help"][..], &["serve", "--help"], &["worker", "--help"]] {
        let output = Command::new(BINARY)
            .args(args)
            .env_clear()
            .envs(secrets)
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("IMAGEVAULT_QUEUE"), "{args:?}: {text}");
        for (name, value) in secrets {
            assert!(!text.contains(value), "{args:?} shows {name}: {text}");
        }
    }
}

/// The JSON body of `request`'s response; `what` names the request if it fails.
async fn json_of(request: reqwest::RequestBuilder, what: &str) -> Value {
    request
        .send()
        .await
        .unwrap_or_else(|error| panic!("{what}: {error}"))
        .json()
        .await
        .unwrap_or_else(|error| panic!("{what}: {error}"))
}

/// The log lines that are JSON objects; a line that is not fails the test.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|error| panic!("a log line is not JSON ({error}): {line}"))
        })
        .collect()
}

/// The completion line of the request with id `request_id`.
fn completion_line<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| {
            line["span"]["request_id"] == request_id
                && line["message"] == "finished processing request"
        })
        .unwrap_or_else(|| panic!("no completion line for {request_id}: {lines:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_fields_and_no_capability() {
    let local = Local::new();
    let (process, api) = local.start_server(
        "server",
        &[
            "--log",
            "info",
            "--log-format",
            "json",
            "--trusted-proxies",
            "127.0.0.0/8, ::1",
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    create_user(&http, &api).await;
    let token: Value = json_of(
        http.post(format!("{api}/api/auth/token/"))
            .json(&serde_json::json!({"username": USER, "password": USER_PASSWORD})),
        "token",
    )
    .await;
    let token = token["token"].as_str().expect("a token").to_owned();
    let me: Value = json_of(http.get(format!("{api}/api/me/")).bearer_auth(&token), "me").await;
    let image: Value = upload(&http, &api, "chelsea.png", &fixture("chelsea_451x300.png"))
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let id = image["id"].as_str().expect("an id");
    // Behind the trusted proxy (loopback), for a client that forged an address first.
    let detail = http
        .get(format!("{api}/api/images/{id}/"))
        .bearer_auth(&token)
        .header("X-Request-Id", "logs-json-detail")
        .header("X-Forwarded-For", "203.0.113.9, 198.51.100.7")
        .send()
        .await
        .expect("detail");
    assert_eq!(detail.status(), StatusCode::OK);
    let link: Value = json_of(
        http.post(format!("{api}/api/expiring-links/"))
            .bearer_auth(&token)
            .header("X-Request-Id", "logs-json-link")
            .json(&serde_json::json!({"base_image": id, "expiry_in_seconds": 300})),
        "link",
    )
    .await;
    let link_url = link["url"].as_str().expect("a link url").to_owned();
    let media = http
        .get(&link_url)
        .header("X-Request-Id", "logs-json-media")
        .send()
        .await
        .expect("media");
    assert_eq!(media.status(), StatusCode::OK);
    let unauthenticated = http
        .get(format!("{api}/api/images/"))
        .header("X-Request-Id", "logs-json-anonymous")
        .send()
        .await
        .expect("list");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    process.kill();

    let text = std::fs::read_to_string(local.dir.path().join("server.log")).expect("the log");
    let lines = json_lines(&text);
    let line = completion_line(&lines, "logs-json-detail");
    println!("{line}");
    let span = &line["span"];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    assert_eq!(span["method"], "GET", "{line}");
    assert_eq!(span["route"], "/api/images/{id}/", "{line}");
    assert_eq!(span["path"], format!("/api/images/{id}/"), "{line}");
    assert_eq!(span["user_id"], me["id"], "{line}");
    assert_eq!(span["client_address"], "198.51.100.7", "{line}");

    let line = completion_line(&lines, "logs-json-link");
    assert_eq!(line["status"], 201, "{line}");
    assert_eq!(line["span"]["route"], "/api/expiring-links/", "{line}");
    assert_eq!(line["span"]["client_address"], "127.0.0.1", "{line}");

    let line = completion_line(&lines, "logs-json-media");
    println!("{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["span"]["route"], "/media/{*path}", "{line}");
    assert_eq!(line["span"]["path"], "/media/exp/…", "{line}");
    assert!(line["span"].get("user_id").is_none(), "anonymous: {line}");

    let line = completion_line(&lines, "logs-json-anonymous");
    assert_eq!(line["status"], 401, "{line}");
    assert!(line["span"].get("user_id").is_none(), "{line}");

    for segment in capability_segments(&link_url) {
        assert!(
            !text.contains(&segment),
            "{link_url} is in the log:\n{text}"
        );
    }
    for secret in [token.as_str(), USER_PASSWORD, ADMIN_PASSWORD] {
        assert!(!text.contains(secret), "a secret is in the log:\n{text}");
    }
}

#[test]
fn an_unknown_log_format_or_proxy_network_is_refused_with_what_is_allowed() {
    for (args, expected) in [
        (
            &["--log-format", "xml", "migrate"][..],
            &["--log-format", "text", "json"][..],
        ),
        (
            &["serve", "--trusted-proxies", "10.0.0.0/8,10.0.0.0/33"],
            &["--trusted-proxies", "10.0.0.0/33", "CIDR"],
        ),
    ] {
        let output = Command::new(BINARY)
            .args(args)
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        assert!(!output.status.success(), "{args:?}");
        let error = String::from_utf8_lossy(&output.stderr);
        for word in expected {
            assert!(error.contains(word), "{args:?}: {error}");
        }
    }
}
