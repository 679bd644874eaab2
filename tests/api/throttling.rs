//! Login throttling: after 5 failed logins for one username from one address (token login
//! or Basic, known user or not) the next attempts are refused with 429 and `Retry-After`, the
//! wait doubling up to 60 s; a success forgets the failures. The username from all addresses
//! and an address whatever the usernames have higher limits of their own. Bad tokens are
//! throttled per client address. Attempts are counted before their password is checked, so
//! concurrent guesses get no more checks; the checks running or waiting are bounded (503
//! beyond), and a successful check is remembered for a while.

use std::net::IpAddr;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, header, json_response, spawn_app, spawn_app_with};

/// A client whose connections come from `address` (any of 127.0.0.0/8 works on Linux).
fn client_from(address: &str) -> Client {
    Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// `POST /api/auth/token/`: the status, the `Retry-After` header and the body.
async fn token_login(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    token_login_with(&app.client, app, username, password).await
}

/// [`token_login`] with a given client.
async fn token_login_with(
    client: &Client,
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = client
        .post(app.endpoint("/api/auth/token/"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = header(response.headers(), "retry-after").map(str::to_owned);
    let (status, body) = json_response(response).await;
    (status, retry_after, body)
}

/// `GET /api/me/` with Basic credentials: the status, the `Retry-After` header and the body.
async fn basic_me(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    basic_me_with(&app.client, app, username, password).await
}

/// [`basic_me`] with a given client.
async fn basic_me_with(
    client: &Client,
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = client
        .get(app.endpoint("/api/me/"))
        .basic_auth(username, Some(password))
        .send()
        .await
        .unwrap();
    let retry_after = header(response.headers(), "retry-after").map(str::to_owned);
    let (status, body) = json_response(response).await;
    (status, retry_after, body)
}

/// Sends every request at once: the status, the `Retry-After` header and the body of each.
async fn send_all(requests: Vec<RequestBuilder>) -> Vec<(StatusCode, Option<String>, Value)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let retry_after = header(response.headers(), "retry-after").map(str::to_owned);
                let (status, body) = json_response(response).await;
                (status, retry_after, body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn throttled(seconds: u64) -> Value {
    let unit = if seconds == 1 { "second" } else { "seconds" };
    json!({"detail": format!("Request was throttled. Expected available in {seconds} {unit}.")})
}

#[tokio::test]
async fn five_wrong_passwords_then_even_the_right_one_waits_for_retry_after() {
    let app = spawn_app().await;
    let password = app.premium.password.clone();
    for _ in 0..5 {
        let (status, retry_after, _) = token_login(&app, "premium", "wrong password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(retry_after, None);
    }
    let (status, retry_after, body) = token_login(&app, "premium", &password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body, throttled(1));
    // Refused attempts do not make the wait longer.
    let (status, retry_after, _) = token_login(&app, "premium", "wrong password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));

    // Another failure after the wait doubles it.
    app.advance(1);
    let (status, _, _) = token_login(&app, "premium", "wrong password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, retry_after, body) = token_login(&app, "premium", &password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(body, throttled(2));

    // Past Retry-After the right password works, and forgets the failures.
    app.advance(2);
    let (status, _, body) = token_login(&app, "premium", &password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..5 {
        let (status, _, _) = token_login(&app, "premium", "wrong password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "five free failures again");
    }
    let (status, retry_after, _) = token_login(&app, "premium", &password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));

    // Other users are not affected.
    let (status, _, _) = token_login(&app, "basic", &app.basic.password).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_wait_is_capped_at_60_seconds_and_forgotten_after_15_quiet_minutes() {
    let app = spawn_app().await;
    let mut waits = Vec::new();
    for _ in 0..12 {
        let (status, retry_after, _) = token_login(&app, "premium", "wrong password").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let seconds: i64 = retry_after.unwrap().parse().unwrap();
            waits.push(seconds);
            app.advance(seconds);
            let (status, _, _) = token_login(&app, "premium", "wrong password").await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
        }
    }
    let (_, retry_after, _) = token_login(&app, "premium", "wrong password").await;
    waits.push(retry_after.unwrap().parse().unwrap());
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);

    app.advance(15 * 60);
    let (status, _, _) = token_login(&app, "premium", "wrong password").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the failures were forgotten"
    );
    let (status, _, _) = token_login(&app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_username_is_throttled_exactly_like_a_known_one() {
    let app = spawn_app().await;
    let mut answers = Vec::new();
    for username in ["premium", "nobody"] {
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(token_login(&app, username, "wrong password").await);
        }
        for _ in 0..2 {
            seen.push(token_login(&app, username, &app.premium.password).await);
            seen.push(basic_me(&app, username, &app.premium.password).await);
        }
        app.advance(1);
        seen.push(token_login(&app, username, "wrong password").await);
        seen.push(token_login(&app, username, "wrong password").await);
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][5].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answers[0][10].1.as_deref(), Some("2"));
}

#[tokio::test]
async fn basic_auth_counts_and_is_refused_like_token_login() {
    let app = spawn_app().await;
    let password = app.enterprise.password.clone();
    for _ in 0..3 {
        let (status, retry_after, body) = basic_me(&app, "enterprise", "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(retry_after, None);
    }
    // Both ways of logging in count for the same username.
    for _ in 0..2 {
        let (status, _, _) = token_login(&app, "enterprise", "wrong password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, retry_after, body) = basic_me(&app, "enterprise", &password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body, throttled(1));
    let (status, retry_after, _) = token_login(&app, "enterprise", &password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));
    // A token the user already has still works.
    let (status, _) = app.get_json("/api/me/", &app.enterprise).await;
    assert_eq!(status, StatusCode::OK);

    app.advance(1);
    let (status, _, body) = basic_me(&app, "enterprise", &password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = basic_me(&app, "enterprise", "wrong password").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the success forgot the failures"
    );
}

#[tokio::test]
async fn bad_tokens_are_throttled_per_client_but_valid_tokens_always_work() {
    let app = spawn_app().await;
    let bad = |app: &TestApp| {
        app.client
            .get(app.endpoint("/api/me/"))
            .bearer_auth("iv_not-a-real-token")
            .send()
    };
    for _ in 0..5 {
        let response = bad(&app).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = bad(&app).await.unwrap();
    assert_eq!(header(response.headers(), "retry-after"), Some("1"));
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, throttled(1));

    let (status, _) = app.get_json("/api/me/", &app.basic).await;
    assert_eq!(status, StatusCode::OK, "a valid token from the same client");
    let (status, _, _) = basic_me(&app, "basic", &app.basic.password).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "password logins are counted per username"
    );

    app.advance(1);
    let response = bad(&app).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forty_concurrent_wrong_passwords_get_only_five_checks() {
    let app = spawn_app().await;
    let checks = app.vault.password_checks();
    let attempts = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                app.client
                    .post(app.endpoint("/api/auth/token/"))
                    .json(&json!({"username": "premium", "password": "wrong password"}))
            } else {
                app.client
                    .get(app.endpoint("/api/me/"))
                    .basic_auth("premium", Some("wrong password"))
            }
        })
        .collect();
    let answers = send_all(attempts).await;
    let checked = answers
        .iter()
        .filter(|(status, _, _)| {
            *status == StatusCode::BAD_REQUEST || *status == StatusCode::UNAUTHORIZED
        })
        .count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    println!("of 40 concurrent wrong passwords, {checked} were checked");
    assert_eq!(checked, 5, "{answers:?}");
    assert_eq!(refused.len(), 35, "{answers:?}");
    for (_, retry_after, body) in refused {
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    }
    assert_eq!(app.vault.password_checks() - checks, 5);
}

#[tokio::test]
async fn concurrent_right_basic_logins_of_one_client_all_get_in() {
    // A page or a script sends its requests in parallel with the same Basic credentials:
    // more of them than the free attempts must not be refused while the first checks run.
    let app = spawn_app().await;
    let attempts = (0..12)
        .map(|_| {
            app.client
                .get(app.endpoint("/api/me/"))
                .basic_auth("premium", Some(app.premium.password.as_str()))
        })
        .collect();
    let answers = send_all(attempts).await;
    let statuses: Vec<_> = answers.iter().map(|(status, _, _)| *status).collect();
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{answers:?}"
    );
}

#[tokio::test]
async fn an_attacker_at_one_address_does_not_lock_out_the_user_at_another() {
    let app = spawn_app().await;
    let attacker = client_from("127.0.0.2");
    let user = client_from("127.0.0.3");
    // The attacker tries again as soon as each wait is over, 30 times.
    let mut refused = 0;
    for _ in 0..30 {
        let (status, retry_after, body) =
            token_login_with(&attacker, &app, "premium", "wrong password").await;
        match status {
            StatusCode::BAD_REQUEST => {}
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                app.advance(retry_after.unwrap().parse().unwrap());
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(refused > 10, "the attacker was slowed down: {refused}");
    // One more failure, so the attacker is waiting when the user comes.
    let (status, _, _) = token_login_with(&attacker, &app, "premium", "wrong password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = basic_me_with(&attacker, &app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the attacker waits");

    let (status, _, body) = token_login_with(&user, &app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = basic_me_with(&user, &app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = basic_me_with(&attacker, &app, "premium", "wrong password").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the user's success does not free the attacker"
    );
}

#[tokio::test]
async fn guessing_one_username_from_many_addresses_meets_the_per_username_limit() {
    let mut options = AppOptions::default();
    options.config.login_throttle.username_failures_before_delay = 8;
    let app = spawn_app_with(options).await;
    for host in 10..18 {
        let client = client_from(&format!("127.0.0.{host}"));
        let (status, _, _) = token_login_with(&client, &app, "premium", "wrong password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "127.0.0.{host}");
    }
    let fresh = client_from("127.0.0.20");
    let (status, retry_after, _) =
        token_login_with(&fresh, &app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));
    app.advance(1);
    let (status, _, _) = token_login_with(&fresh, &app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn random_usernames_from_one_address_meet_the_per_address_limit() {
    let mut options = AppOptions::default();
    options.config.login_throttle.client_failures_before_delay = 10;
    let app = spawn_app_with(options).await;
    let guesser = client_from("127.0.0.4");
    for i in 0..10 {
        let (status, _, _) =
            basic_me_with(&guesser, &app, &format!("random{i}"), "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let checks = app.vault.password_checks();
    let (status, retry_after, body) =
        basic_me_with(&guesser, &app, "random-new", "wrong password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let (status, _, _) = token_login_with(&guesser, &app, "premium", "wrong password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.vault.password_checks(), checks, "nothing was hashed");
    // Another address is not held back.
    let other = client_from("127.0.0.5");
    let (status, _, _) = basic_me_with(&other, &app, "random-new", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn saturated_password_checks_are_refused_with_503_and_not_counted() {
    let mut options = AppOptions::default();
    options.config.password_hash_concurrency = 1;
    options.config.password_hash_queue = 0;
    let app = spawn_app_with(options).await;
    let checks = app.vault.password_checks();
    let attempts = (0..40)
        .map(|i| {
            app.client
                .get(app.endpoint("/api/me/"))
                .basic_auth(format!("someone{i}"), Some("wrong password"))
        })
        .collect();
    let answers = send_all(attempts).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let checked = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::UNAUTHORIZED)
        .count();
    println!("{} busy, {checked} checked", busy.len());
    assert_eq!(busy.len() + checked, 40, "{answers:?}");
    assert!(!busy.is_empty(), "{answers:?}");
    for (_, retry_after, body) in busy {
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        assert_eq!(
            body,
            &json!({"detail": "Too many logins are being checked; try again in 1 second."})
        );
    }
    assert_eq!(app.vault.password_checks() - checks, checked as u64);
}

#[tokio::test]
async fn an_honest_basic_client_pays_for_one_password_check_until_the_account_changes() {
    // The counts below are exact while the repository's change feed moves only when told
    // to. On a loaded machine the SQLite feed may also drop out and reconnect (a poll
    // late by most of its bound), which rightly forgets every remembered check; such a
    // run says nothing either way, so it is run again on a new app.
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        match one_password_check_until_the_account_changes().await {
            Ok(()) => return,
            Err(FeedMoved(during)) => println!("attempt {attempt}: the feed moved {during}"),
        }
    }
    panic!("the change feed moved on its own in each of {ATTEMPTS} attempts");
}

/// The feed moved on its own while the counts were taken; says when.
struct FeedMoved(&'static str);

/// `Err` unless the account feed is still at `epoch`.
fn feed_still_at(
    feed: Option<&imagevault::backend::repo::ChangeFeed>,
    epoch: Option<u64>,
    during: &'static str,
) -> Result<(), FeedMoved> {
    match feed {
        Some(feed) if feed.epoch().is_none() || feed.epoch() != epoch => Err(FeedMoved(during)),
        _ => Ok(()),
    }
}

async fn one_password_check_until_the_account_changes() -> Result<(), FeedMoved> {
    let app = spawn_app().await;
    let feed = app.vault.repo().account_changes();
    let feed = feed.as_ref();
    let epoch = feed.and_then(|feed| feed.epoch());
    let checks = app.vault.password_checks();
    for _ in 0..10 {
        let (status, _, body) = basic_me(&app, "premium", &app.premium.password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    feed_still_at(feed, epoch, "during the first logins")?;
    assert_eq!(app.vault.password_checks() - checks, 1);
    // Another password, or another user, is checked on its own.
    let (status, _, _) = basic_me(&app, "premium", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.vault.password_checks() - checks, 2);

    // A password change through the API forgets the remembered check at once.
    let path = format!("/api/admin/users/{}/", app.premium.id);
    let (status, body) = app
        .patch_json(
            &path,
            &app.admin,
            json!({"password": "a brand new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The repository's change feed reports that change too, a moment later (on SQLite
    // within a poll), and then drops what was remembered meanwhile, as it must for a
    // change made elsewhere. Waiting for the report keeps the count below exact.
    if let Some(feed) = feed {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while feed.epoch() == epoch && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let epoch = feed.and_then(|feed| feed.epoch());
    let (status, _, _) = basic_me(&app, "premium", &app.premium.password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    for _ in 0..3 {
        let (status, _, _) = basic_me(&app, "premium", "a brand new password").await;
        assert_eq!(status, StatusCode::OK);
    }
    feed_still_at(feed, epoch, "after the password change")?;
    let after_change = app.vault.password_checks();
    assert_eq!(after_change - checks, 4);

    // Remembered for 30 s at most, so a change made by another process is seen within
    // that even with a repository whose change feed failed to report it.
    app.advance(29);
    basic_me(&app, "premium", "a brand new password").await;
    feed_still_at(feed, epoch, "within the 30 s")?;
    assert_eq!(app.vault.password_checks(), after_change);
    app.advance(1);
    basic_me(&app, "premium", "a brand new password").await;
    assert_eq!(app.vault.password_checks(), after_change + 1);
    Ok(())
}

/// Options whose router believes the forwarding headers of 127.0.0.2 only.
fn behind_proxy_at_127_0_0_2() -> AppOptions {
    AppOptions {
        serve: |options| {
            let router = std::mem::take(&mut options.router);
            options.router = router
                .trusted_proxies([imagevault::axum::parse_trusted_proxy("127.0.0.2").unwrap()]);
        },
        ..AppOptions::default()
    }
}

/// A wrong-password token login from `client`, forwarded for `forwarded_for`.
fn forwarded_wrong_login(client: &Client, app: &TestApp, forwarded_for: &str) -> RequestBuilder {
    client
        .post(app.endpoint("/api/auth/token/"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"username": "premium", "password": "wrong password"}))
}

/// How many of `answers` were checked (400) and how many refused (429); anything else
/// fails the test.
fn checked_and_refused<'a>(
    answers: impl IntoIterator<Item = &'a (StatusCode, Option<String>, Value)>,
) -> (usize, usize) {
    let mut counts = (0, 0);
    for (status, _, body) in answers {
        match *status {
            StatusCode::BAD_REQUEST => counts.0 += 1,
            StatusCode::TOO_MANY_REQUESTS => counts.1 += 1,
            other => panic!("{other}: {body}"),
        }
    }
    counts
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own() {
    let app = spawn_app_with(behind_proxy_at_127_0_0_2()).await;
    let proxy = client_from("127.0.0.2");
    // Two clients behind the proxy guess at once, 8 times each; the first one also sends
    // a forged address first, which the proxy's appended one overrides.
    let attempts = (0..16)
        .map(|i| {
            let forwarded = if i % 2 == 0 {
                "203.0.113.9, 198.51.100.1"
            } else {
                "198.51.100.2"
            };
            forwarded_wrong_login(&proxy, &app, forwarded)
        })
        .collect();
    let answers = send_all(attempts).await;
    assert_eq!(checked_and_refused(answers.iter().step_by(2)), (5, 3));
    assert_eq!(
        checked_and_refused(answers.iter().skip(1).step_by(2)),
        (5, 3)
    );

    // A third client behind the same proxy is not held back; Forwarded is read when
    // X-Forwarded-For is absent; and a client's own Forwarded, which nginx passes through
    // beside the X-Forwarded-For it appends to, does not free a throttled client.
    let answers = send_all(vec![
        proxy
            .post(app.endpoint("/api/auth/token/"))
            .header("X-Forwarded-For", "198.51.100.3")
            .json(&json!({"username": "premium", "password": app.premium.password})),
        proxy
            .post(app.endpoint("/api/auth/token/"))
            .header("Forwarded", "for=\"[2001:db8::1]:4711\"")
            .json(&json!({"username": "premium", "password": "wrong password"})),
        forwarded_wrong_login(&proxy, &app, "198.51.100.1")
            .header("Forwarded", "for=\"[2001:db8::2]:4711\""),
    ])
    .await;
    assert_eq!(answers[0].0, StatusCode::OK, "{answers:?}");
    assert_eq!(answers[1].0, StatusCode::BAD_REQUEST, "{answers:?}");
    assert_eq!(answers[2].0, StatusCode::TOO_MANY_REQUESTS, "{answers:?}");
}

#[tokio::test]
async fn from_an_untrusted_peer_forwarding_headers_are_ignored() {
    let app = spawn_app_with(behind_proxy_at_127_0_0_2()).await;
    let spoofer = client_from("127.0.0.3");
    // Every attempt claims another address: all count against the peer.
    let attempts = (0..8)
        .map(|i| forwarded_wrong_login(&spoofer, &app, &format!("198.51.100.{}", 10 + i)))
        .collect();
    assert_eq!(checked_and_refused(&send_all(attempts).await), (5, 3));
    let (status, retry_after, _) = send_all(vec![
        forwarded_wrong_login(&spoofer, &app, "198.51.100.99")
            .header("Forwarded", "for=198.51.100.98"),
    ])
    .await
    .remove(0);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));
    // The trusted proxy's clients are not the spoofer's.
    let proxy = client_from("127.0.0.2");
    let (status, _, _) = send_all(vec![forwarded_wrong_login(&proxy, &app, "198.51.100.10")])
        .await
        .remove(0);
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
