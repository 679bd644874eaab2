//! The SQLite change feed between real processes: `serve` on its default backends (a
//! SQLite file, local files, the in-process queue) caches the account behind an API token
//! (its `/metrics` count the cache hits), and the command line, another process on the
//! same file, revokes the token or demotes its user; the server must refuse the token, or
//! the rights, within `SqliteRepo::CHANGE_FEED_STALENESS` plus an allowance. Every wait is
//! bounded.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use imagevault::sqlx::SqliteRepo;
use reqwest::StatusCode;
use serde_json::Value;

use support::{Local, USER, USER_PASSWORD, create_user};

/// What the test allows beyond the stated bound: a loaded machine and a debug build.
const BOUND_ALLOWANCE: Duration = Duration::from_secs(1);
/// How long the server may take to start caching a token's account.
const CACHE_PATIENCE: Duration = Duration::from_secs(30);

/// The server on its default backends, with a metrics listener on a port of its own.
struct Server {
    _process: support::Process,
    api: String,
    metrics: String,
    http: reqwest::Client,
}

impl Server {
    fn start(local: &Local) -> Self {
        let metrics_port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let metrics_bind = format!("127.0.0.1:{metrics_port}");
        let (process, api) = local.start_server("serve", &["--metrics-bind", &metrics_bind]);
        Self {
            _process: process,
            api,
            metrics: format!("http://{metrics_bind}"),
            http: reqwest::Client::new(),
        }
    }

    /// A new API token of [`USER`].
    async fn token(&self) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/api/auth/token/", self.api))
            .json(&serde_json::json!({"username": USER, "password": USER_PASSWORD}))
            .send()
            .await
            .expect("asking for a token")
            .json()
            .await
            .expect("the token's JSON");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// `GET /api/me/` with `token`: the status, and the body when it is 200.
    async fn me(&self, token: &str) -> (StatusCode, Option<Value>) {
        let response = self
            .http
            .get(format!("{}/api/me/", self.api))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/me/");
        let status = response.status();
        let body = if status == StatusCode::OK {
            Some(response.json().await.expect("the account's JSON"))
        } else {
            None
        };
        (status, body)
    }

    /// The hits of the account cache so far.
    async fn account_cache_hits(&self) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.metrics))
            .send()
            .await
            .expect("scraping /metrics")
            .text()
            .await
            .expect("the scrape's text");
        text.lines()
            .filter(|line| {
                line.starts_with("imagevault_cache_hits_total{")
                    && line.contains("cache=\"accounts\"")
            })
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }

    /// Asks `GET /api/me/` with `token` until the account cache answers it (its hits
    /// move), within [`CACHE_PATIENCE`]: the change feed connects on the first use.
    async fn until_cached(&self, token: &str) {
        let deadline = Instant::now() + CACHE_PATIENCE;
        loop {
            let hits = self.account_cache_hits().await;
            assert_eq!(self.me(token).await.0, StatusCode::OK, "the token works");
            if self.account_cache_hits().await > hits {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not answer the token from its account cache within \
                 {CACHE_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks `GET /api/me/` with `token` every 5 ms until `done` holds for its answer;
    /// panics unless it does within the stated bound plus [`BOUND_ALLOWANCE`], counted
    /// from `since`. Prints how long it took.
    async fn until(
        &self,
        token: &str,
        since: Instant,
        what: &str,
        done: impl Fn(StatusCode, Option<&Value>) -> bool,
    ) {
        let bound = SqliteRepo::CHANGE_FEED_STALENESS;
        let limit = bound + BOUND_ALLOWANCE;
        loop {
            let (status, body) = self.me(token).await;
            if done(status, body.as_ref()) {
                eprintln!(
                    "{what}: seen by the server {:?} after the command exited (bound {bound:?})",
                    since.elapsed()
                );
                return;
            }
            assert!(
                since.elapsed() < limit,
                "{what}: still {status} {body:?} after {limit:?} (the stated bound {bound:?} + \
                 {BOUND_ALLOWANCE:?})"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Runs `imagevault-server admin <args>` in `local` (the server's directory, so on the
/// server's database) to its end; returns when it exited.
fn admin(local: &Local, args: &[&str]) -> Instant {
    tokio::task::block_in_place(|| local.admin(args, None));
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_revokes_tokens_and_rights_a_running_server_has_cached() {
    let local = Local::new();
    let server = Server::start(&local);
    create_user(&server.http, &server.api).await;

    let token = server.token().await;
    server.until_cached(&token).await;
    let since = admin(&local, &["revoke-tokens", USER]);
    server
        .until(
            &token,
            since,
            "a token revoked by the command line",
            |status, _| status == StatusCode::UNAUTHORIZED,
        )
        .await;

    admin(&local, &["set-admin", USER, "true"]);
    let token = server.token().await;
    let is_admin = |body: Option<&Value>| body.and_then(|me| me["is_admin"].as_bool());
    let (status, body) = server.me(&token).await;
    assert_eq!(
        (status, is_admin(body.as_ref())),
        (StatusCode::OK, Some(true))
    );
    server.until_cached(&token).await;
    let since = admin(&local, &["set-admin", USER, "false"]);
    server
        .until(
            &token,
            since,
            "an administrator demoted by the command line",
            |status, body| status == StatusCode::OK && is_admin(body) == Some(false),
        )
        .await;
}
