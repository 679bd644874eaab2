//! Login throttling: after 5 failed logins for one username (token login or Basic, known
//! user or not) the next attempts are refused with 429 and `Retry-After`, the wait doubling
//! up to 60 s; a success forgets the failures. Bad tokens are throttled per client address.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, header, json_response, spawn_app};

/// `POST /api/auth/token/`: the status, the `Retry-After` header and the body.
async fn token_login(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = app
        .client
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
    let response = app
        .client
        .get(app.endpoint("/api/me/"))
        .basic_auth(username, Some(password))
        .send()
        .await
        .unwrap();
    let retry_after = header(response.headers(), "retry-after").map(str::to_owned);
    let (status, body) = json_response(response).await;
    (status, retry_after, body)
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
