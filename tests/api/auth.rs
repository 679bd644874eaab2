//! Authentication: Basic, Bearer and `Token` schemes, tokens, 401s, plan-less users, `/api/me/`.

use imagevault::PlanId;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    AppOptions, field_errors, header, json_response, keys, spawn_app, spawn_app_with, text,
};

#[tokio::test]
async fn basic_bearer_and_token_schemes_all_authenticate() {
    let app = spawn_app().await;
    let user = &app.enterprise;
    let requests = [
        app.client
            .get(app.endpoint("/api/me/"))
            .basic_auth(&user.username, Some(&user.password)),
        app.client
            .get(app.endpoint("/api/me/"))
            .bearer_auth(&user.token),
        app.client
            .get(app.endpoint("/api/me/"))
            .header("Authorization", format!("Token {}", user.token)),
    ];
    for request in requests {
        let (status, body) = json_response(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(text(&body, "username"), "enterprise");
    }
}

#[tokio::test]
async fn me_describes_the_caller_and_its_current_plan() {
    let app = spawn_app().await;
    let (status, me) = app.get_json("/api/me/", &app.enterprise).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&me), ["id", "is_admin", "plan", "quota", "username"]);
    assert_eq!(me["id"], app.enterprise.id.as_str());
    assert_eq!(me["is_admin"], false);
    assert_eq!(
        me["plan"],
        json!({
            "id": PlanId::ENTERPRISE.to_string(),
            "name": "Enterprise",
            "thumbnail_heights": [200, 400],
            "thumbnail_formats": ["original"],
            "original_link": true,
            "expiring_links": true,
            "max_images": null,
            "max_bytes": null,
            "strip_metadata": false,
        })
    );
    assert_eq!(
        me["quota"],
        json!({"max_images": null, "max_bytes": null, "images": 0, "bytes": 0, "over_limit": false})
    );

    let (_, me) = app.get_json("/api/me/", &app.basic).await;
    assert_eq!(me["plan"]["name"], "Basic");
    assert_eq!(me["plan"]["thumbnail_heights"], json!([200]));
    assert_eq!(me["plan"]["original_link"], false);
    let (_, me) = app.get_json("/api/me/", &app.premium).await;
    assert_eq!(me["plan"]["name"], "Premium");
    assert_eq!(me["plan"]["expiring_links"], false);

    let (_, me) = app.get_json("/api/me/", &app.no_plan).await;
    assert!(me["plan"].is_null(), "{me}");
    let (_, me) = app.get_json("/api/me/", &app.admin).await;
    assert_eq!(me["is_admin"], true);
}

#[tokio::test]
async fn token_login_gives_a_new_working_token_each_time() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": "premium", "password": app.premium.password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&body), ["token"]);
    let first = text(&body, "token").to_owned();
    let second = app.token_for("premium", &app.premium.password).await;
    assert_ne!(first, second, "one token per device");
    assert!(first.len() >= 22, "at least 128 bits: {first}");

    // Form data is accepted too, as DRF's parsers do.
    let response = app
        .client
        .post(app.endpoint("/api/auth/token/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=premium&password={}",
            app.premium.password.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let third = text(&body, "token").to_owned();

    for token in [&first, &second, &third] {
        let response = app
            .client
            .get(app.endpoint("/api/me/"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, me) = json_response(response).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["username"], "premium");
    }
}

#[tokio::test]
async fn wrong_credentials_are_400_non_field_errors() {
    let app = spawn_app().await;
    for credentials in [
        json!({"username": "premium", "password": "wrong password"}),
        json!({"username": "nobody", "password": "whatever it is"}),
    ] {
        let (status, body) = app
            .call(Method::POST, "/api/auth/token/", None, Some(credentials))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(keys(&body), ["non_field_errors"]);
        assert!(!field_errors(&body, "non_field_errors").is_empty());
    }
}

#[tokio::test]
async fn missing_login_fields_are_field_errors() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(Method::POST, "/api/auth/token/", None, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["password", "username"]);
    assert_eq!(field_errors(&body, "username"), ["This field is required."]);

    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": "premium"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["password"]);
}

#[tokio::test]
async fn deleting_a_token_revokes_only_that_token() {
    let app = spawn_app().await;
    let token = app.token_for("basic", &app.basic.password).await;
    let other = app.token_for("basic", &app.basic.password).await;
    let response = app
        .client
        .delete(app.endpoint("/api/auth/token/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());

    let me = |token: String| {
        let request = app.client.get(app.endpoint("/api/me/")).bearer_auth(token);
        async move { json_response(request.send().await.unwrap()).await }
    };
    let (status, body) = me(token.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].is_string());
    let (status, _) = me(other).await;
    assert_eq!(status, StatusCode::OK, "other devices keep their tokens");

    // Revoking a revoked token needs a valid token: 401.
    let response = app
        .client
        .delete(app.endpoint("/api/auth/token/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_or_bad_credentials_are_401_with_a_challenge_and_a_detail() {
    // Eight bad tokens from one address: more than throttling (tests/api/throttling.rs)
    // lets through as 401s by default.
    let mut options = AppOptions::default();
    options.config.login_throttle.failures_before_delay = 100;
    let app = spawn_app_with(options).await;
    for path in [
        "/api/me/",
        "/api/images/",
        "/api/expiring-links/",
        "/api/admin/users/",
    ] {
        let requests = [
            ("none", app.client.get(app.endpoint(path))),
            (
                "wrong password",
                app.client
                    .get(app.endpoint(path))
                    .basic_auth("premium", Some("not the password")),
            ),
            (
                "unknown user",
                app.client
                    .get(app.endpoint(path))
                    .basic_auth("ghost", Some("x")),
            ),
            (
                "bad token",
                app.client.get(app.endpoint(path)).bearer_auth("nonsense"),
            ),
            (
                "bad Token token",
                app.client
                    .get(app.endpoint(path))
                    .header("Authorization", "Token nonsense"),
            ),
            (
                "malformed basic",
                app.client
                    .get(app.endpoint(path))
                    .header("Authorization", "Basic !!!"),
            ),
            (
                "empty bearer",
                app.client
                    .get(app.endpoint(path))
                    .header("Authorization", "Bearer"),
            ),
        ];
        for (case, request) in requests {
            let response = request.send().await.unwrap();
            let challenge = header(response.headers(), "www-authenticate").map(str::to_owned);
            let (status, body) = json_response(response).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {case}: {body}");
            assert!(
                challenge.is_some_and(|value| !value.is_empty()),
                "{path} {case}: WWW-Authenticate"
            );
            assert_eq!(keys(&body), ["detail"], "{path} {case}");
        }
    }
}

#[tokio::test]
async fn a_user_without_a_plan_gets_403_on_image_and_link_endpoints() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.enterprise, 40, 30).await;
    let link = app
        .create_link(&app.enterprise, text(&image, "id"), 600)
        .await;
    let image_path = format!("/api/images/{}/", text(&image, "id"));
    let link_path = format!("/api/expiring-links/{}/", text(&link, "id"));
    let body = json!({"base_image": image["id"], "expiry_in_seconds": 600});
    let calls = [
        (Method::GET, "/api/images/".to_owned(), None),
        (Method::GET, image_path.clone(), None),
        (Method::DELETE, image_path, None),
        (Method::GET, "/api/expiring-links/".to_owned(), None),
        (
            Method::POST,
            "/api/expiring-links/".to_owned(),
            Some(body.clone()),
        ),
        (Method::GET, link_path.clone(), None),
        (Method::PUT, link_path.clone(), Some(body.clone())),
        (Method::PATCH, link_path.clone(), Some(body)),
        (Method::DELETE, link_path, None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app
            .call(method.clone(), &path, Some(&app.no_plan), body)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert!(
            text(&answer, "detail").contains("no plan"),
            "{method} {path}: {answer}"
        );
    }
    let response = app
        .upload_multipart(
            &app.no_plan,
            crate::helpers::png(10, 10),
            "a.png",
            "image/png",
            None,
        )
        .await;
    let (status, answer) = json_response(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text(&answer, "detail").contains("no plan"), "{answer}");
}

/// What the database holds: token hashes and argon2id password hashes, never the secrets.
#[tokio::test]
async fn tokens_and_passwords_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let token = app.token_for("premium", &app.premium.password).await;
    let stored = app.database_bytes();
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|window| window == needle);
    assert!(
        !contains(token.as_bytes()),
        "the token itself is not stored"
    );
    assert!(!contains(app.premium.token.as_bytes()));
    assert!(
        !contains(app.premium.password.as_bytes()),
        "nor the password"
    );
    assert!(contains(b"$argon2id$"), "passwords are argon2id hashes");
}

/// With a token lifetime configured, the token response says when the token expires, and
/// from then on it is refused (401), though its account was cached by the requests before;
/// without one, the response is `{"token": ...}` alone and the token keeps working.
#[tokio::test]
async fn tokens_expire_after_the_configured_lifetime() {
    let mut options = AppOptions::default();
    options.config.token_ttl = Some(std::time::Duration::from_secs(600));
    let app = spawn_app_with(options).await;
    let user = &app.basic;
    let issued_at = app.now();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": user.username, "password": user.password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["expires_at", "token"]);
    let expires_at: chrono::DateTime<chrono::Utc> = text(&body, "expires_at").parse().unwrap();
    assert_eq!(expires_at, issued_at + chrono::TimeDelta::seconds(600));
    let token = text(&body, "token").to_owned();
    let me = || {
        let request = app.client.get(app.endpoint("/api/me/")).bearer_auth(&token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me().await, StatusCode::OK);
    assert_eq!(me().await, StatusCode::OK, "served from the account cache");
    app.advance(599);
    assert_eq!(me().await, StatusCode::OK, "a second before its expiry");
    app.advance(1);
    assert_eq!(me().await, StatusCode::UNAUTHORIZED, "expired");
    app.advance(3600);
    assert_eq!(me().await, StatusCode::UNAUTHORIZED);

    let app = spawn_app().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": app.basic.username, "password": app.basic.password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["token"], "no lifetime by default");
    let token = text(&body, "token").to_owned();
    app.advance(10 * 365 * 86_400);
    let response = app
        .client
        .get(app.endpoint("/api/me/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
