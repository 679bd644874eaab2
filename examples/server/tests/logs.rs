//! Secrets and capability URLs stay out of the server's log, with a real process of the
//! example server on PostgreSQL: a database URL with a password, media requests of every
//! kind, and request ids a client made up. Also the errors of a start that fails on a
//! queue URL with a password, and a forged page cursor on PostgreSQL.
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
    ADMIN_PASSWORD, BINARY, Process, Services, TestDatabase, USER, USER_PASSWORD, create_user,
    fixture, services_or_skip, upload,
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
        image = http
            .get(format!("{api}/api/images/{id}/"))
            .basic_auth(USER, Some(USER_PASSWORD))
            .send()
            .await
            .expect("image")
            .json()
            .await
            .expect("json");
    }
    let link: Value = http
        .post(format!("{api}/api/expiring-links/"))
        .basic_auth(USER, Some(USER_PASSWORD))
        .json(&serde_json::json!({"base_image": id, "expiry_in_seconds": 300}))
        .send()
        .await
        .expect("link")
        .json()
        .await
        .expect("json");
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
