//! The admin API for users: CRUD, write-only passwords, plan assignment, pagination,
//! deleting a user with their files, and 403 for everyone else.

use imagevault::PlanId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{field_errors, header, json_response, keys, spawn_app, text};

const USER_KEYS: [&str; 7] = [
    "id",
    "is_admin",
    "max_bytes",
    "max_images",
    "plan",
    "quota",
    "username",
];

#[tokio::test]
async fn non_admins_get_403_and_anonymous_callers_401_on_every_admin_endpoint() {
    let app = spawn_app().await;
    let plan = format!("/api/admin/plans/{}/", PlanId::BASIC);
    let user = format!("/api/admin/users/{}/", app.basic.id);
    let plan_body = json!({"name": "X", "thumbnail_heights": [100]});
    let user_body = json!({"username": "x", "password": "long enough password"});
    let calls: [(Method, &str, Option<Value>); 12] = [
        (Method::GET, "/api/admin/plans/", None),
        (Method::POST, "/api/admin/plans/", Some(plan_body.clone())),
        (Method::GET, &plan, None),
        (Method::PUT, &plan, Some(plan_body.clone())),
        (Method::PATCH, &plan, Some(plan_body)),
        (Method::DELETE, &plan, None),
        (Method::GET, "/api/admin/users/", None),
        (Method::POST, "/api/admin/users/", Some(user_body.clone())),
        (Method::GET, &user, None),
        (Method::PUT, &user, Some(user_body.clone())),
        (Method::PATCH, &user, Some(user_body)),
        (Method::DELETE, &user, None),
    ];
    for (method, path, body) in calls {
        for caller in [&app.basic, &app.premium, &app.enterprise, &app.no_plan] {
            let (status, answer) = app
                .call(method.clone(), path, Some(caller), body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{} {method} {path}: {answer}",
                caller.username
            );
            assert_eq!(keys(&answer), ["detail"]);
        }
        let (status, _) = app.call(method.clone(), path, None, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}"
        );
    }
    // Nothing changed.
    let (_, basic) = app.get_json(&user, &app.admin).await;
    assert_eq!(basic["plan"], PlanId::BASIC.to_string());
}

#[tokio::test]
async fn admins_create_read_update_and_delete_users() {
    let app = spawn_app().await;
    let response = app
        .request(Method::POST, "/api/admin/users/", Some(&app.admin))
        .json(&json!({
            "username": "carol",
            "password": "carol's first password",
            "plan": PlanId::PREMIUM.to_string(),
        }))
        .send()
        .await
        .unwrap();
    let location = header(response.headers(), "location").map(str::to_owned);
    let (status, carol) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{carol}");
    assert_eq!(keys(&carol), USER_KEYS, "the password is write-only");
    assert_eq!(carol["username"], "carol");
    assert_eq!(carol["plan"], PlanId::PREMIUM.to_string());
    assert_eq!(carol["is_admin"], false);
    let id = text(&carol, "id").to_owned();
    let path = format!("/api/admin/users/{id}/");
    if let Some(location) = location {
        assert_eq!(location, app.url(&path));
    }
    let (status, read) = app.get_json(&path, &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, carol);
    let token = app.token_for("carol", "carol's first password").await;
    let response = app
        .client
        .get(app.endpoint("/api/me/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (_, me) = json_response(response).await;
    assert_eq!(me["plan"]["name"], "Premium");

    // A taken username.
    let (status, body) = app
        .post_json(
            "/api/admin/users/",
            &app.admin,
            json!({"username": "carol", "password": "another password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["username"]);
    // Bad fields, reported together.
    let (status, body) = app
        .post_json(
            "/api/admin/users/",
            &app.admin,
            json!({"username": "has space", "password": "short", "plan": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["password", "plan", "username"]);
    let (status, body) = app
        .post_json(
            "/api/admin/users/",
            &app.admin,
            json!({"username": "dave", "password": "long enough password", "plan": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown plan: {body}");
    assert!(!field_errors(&body, "plan").is_empty());

    // PUT without a password keeps it.
    let (status, updated) = app
        .put_json(
            &path,
            &app.admin,
            json!({"username": "carol2", "plan": PlanId::ENTERPRISE.to_string(), "is_admin": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(keys(&updated), USER_KEYS);
    assert_eq!(updated["username"], "carol2");
    assert_eq!(updated["plan"], PlanId::ENTERPRISE.to_string());
    app.token_for("carol2", "carol's first password").await;

    // PUT without `plan` and `is_admin` keeps them, as a DRF ModelSerializer does.
    let (status, updated) = app
        .put_json(&path, &app.admin, json!({"username": "carol2"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["plan"], PlanId::ENTERPRISE.to_string());
    assert_eq!(updated["is_admin"], false);
    // PUT without `username` is incomplete.
    let (status, body) = app.put_json(&path, &app.admin, json!({"plan": null})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["username"]);

    // PATCH with a password changes it.
    let (status, updated) = app
        .patch_json(
            &path,
            &app.admin,
            json!({"password": "carol's second password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(keys(&updated), USER_KEYS);
    assert_eq!(updated["username"], "carol2", "PATCH keeps other fields");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": "carol2", "password": "carol's first password"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the old password no longer works"
    );
    // The new password revoked the tokens of the old one: a new login from here on.
    let (status, _) = app
        .get_json(
            "/api/me/",
            &crate::helpers::TestUser {
                token: token.clone(),
                ..app.basic.clone()
            },
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old token was revoked"
    );
    let token = app.token_for("carol2", "carol's second password").await;

    // Plan null: the user has no plan and gets 403 on images at once.
    let (status, updated) = app
        .patch_json(&path, &app.admin, json!({"plan": null}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(updated["plan"].is_null());
    let response = app
        .client
        .get(app.endpoint("/api/images/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Making an admin.
    let (status, updated) = app
        .patch_json(&path, &app.admin, json!({"is_admin": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["is_admin"], true);
    let response = app
        .client
        .get(app.endpoint("/api/admin/users/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A taken username on update.
    let (status, body) = app
        .patch_json(&path, &app.admin, json!({"username": "basic"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["username"]);

    // Delete.
    assert_eq!(app.delete(&path, &app.admin).await, StatusCode::NO_CONTENT);
    let (status, _) = app.get_json(&path, &app.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = app
        .client
        .get(app.endpoint("/api/me/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "its tokens are gone"
    );
    assert_eq!(app.delete(&path, &app.admin).await, StatusCode::NOT_FOUND);
    for bad in ["not-a-uuid".to_owned(), uuid::Uuid::new_v4().to_string()] {
        let (status, body) = app
            .get_json(&format!("/api/admin/users/{bad}/"), &app.admin)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(body, json!({"detail": "Not found."}));
    }
}

#[tokio::test]
async fn the_user_list_is_paginated_like_the_others() {
    let app = spawn_app().await;
    let (status, page) = app.get_json("/api/admin/users/", &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&page), ["next", "previous", "results"]);
    let all: Vec<String> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| {
            assert_eq!(keys(user), USER_KEYS);
            text(user, "username").to_owned()
        })
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["admin", "basic", "enterprise", "noplan", "premium"]
    );

    let mut seen = Vec::new();
    let (_, mut page) = app.get_json("/api/admin/users/?limit=2", &app.admin).await;
    assert!(page["previous"].is_null());
    loop {
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| text(user, "username").to_owned()),
        );
        let Some(next) = page["next"].as_str() else {
            break;
        };
        assert!(next.starts_with(&app.url("/api/admin/users/?")), "{next}");
        assert!(seen.len() <= 5, "the walk ends");
        page = app.get_json(next, &app.admin).await.1;
        assert!(page["previous"].is_string());
    }
    assert_eq!(seen, all, "the pages hold the whole list in order");
}

#[tokio::test]
async fn deleting_a_user_deletes_their_images_files_and_links() {
    let app = spawn_app().await;
    let victim =
        crate::helpers::create_user(&app.vault, "victim", Some(PlanId::ENTERPRISE), false).await;
    let image = app.upload_png(&victim, 300, 260).await;
    let image = app.wait_for_thumbnails(&victim, text(&image, "id")).await;
    let link = app.create_link(&victim, text(&image, "id"), 3000).await;
    // Someone else's image stays.
    let kept = app.upload_png(&app.premium, 20, 20).await;
    let kept = app
        .wait_for_thumbnails(&app.premium, text(&kept, "id"))
        .await;
    let mut urls = vec![
        text(&image, "original").to_owned(),
        text(&link, "url").to_owned(),
    ];
    urls.extend(
        image["thumbnails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|thumbnail| text(thumbnail, "url").to_owned()),
    );
    for url in &urls {
        assert_eq!(app.media_status(url).await, StatusCode::OK);
    }
    let before = app.media_files();

    assert_eq!(
        app.delete(&format!("/api/admin/users/{}/", victim.id), &app.admin)
            .await,
        StatusCode::NO_CONTENT
    );
    // Locked out at once: no token, no password, and the user is gone for the API.
    let response = app
        .client
        .get(app.endpoint("/api/me/"))
        .bearer_auth(&victim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(app.endpoint("/api/me/"))
        .basic_auth(&victim.username, Some(&victim.password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": victim.username, "password": victim.password})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no login any more");
    // The images, files and links go in the background, to completion; the row last.
    wait_until_deleted(&app, &victim, before - 3).await;
    for url in &urls {
        assert_eq!(app.media_status(url).await, StatusCode::NOT_FOUND, "{url}");
    }
    assert_eq!(
        app.media_status(text(&kept, "original")).await,
        StatusCode::OK
    );
}

fn victim_id(user: &crate::helpers::TestUser) -> imagevault::UserId {
    imagevault::UserId::parse(&user.id).expect("a user id")
}

/// A deletion cut short after the lock (a crash, a restart) is finished by the
/// reconciler's pass: images, files and the user row.
#[tokio::test]
async fn the_reconciler_finishes_a_user_deletion_cut_short() {
    let app = spawn_app().await;
    let victim =
        crate::helpers::create_user(&app.vault, "halfgone", Some(PlanId::ENTERPRISE), false).await;
    let image = app.upload_png(&victim, 300, 260).await;
    let image = app.wait_for_thumbnails(&victim, text(&image, "id")).await;
    let before = app.media_files();
    // Only the first step, as a process that died right after it would leave it; the
    // app's reconciler (every 200 ms) must do the rest on its own.
    let repo = app.vault.repo();
    assert!(
        repo.begin_user_deletion(victim_id(&victim), app.now())
            .await
            .unwrap()
    );
    wait_until_deleted(&app, &victim, before - 3).await;
    assert_eq!(
        app.media_status(text(&image, "original")).await,
        StatusCode::NOT_FOUND
    );
    assert!(repo.users_being_deleted(10).await.unwrap().is_empty());
}

/// Polls, for at most 30 s, until only `files` media files are left and `user`'s row is
/// gone: a user's deletion finishes in the background.
async fn wait_until_deleted(
    app: &crate::helpers::TestApp,
    user: &crate::helpers::TestUser,
    files: usize,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let row = app.vault.repo().get_user(victim_id(user)).await.unwrap();
        if app.media_files() == files && row.is_none() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deletion did not finish: {} files left (want {files}), user row present: {}",
            app.media_files(),
            row.is_some()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A new password (API `PATCH`/`PUT`) revokes the user's tokens; other users' stay.
#[tokio::test]
async fn changing_a_password_revokes_the_users_tokens() {
    let app = spawn_app().await;
    let user = crate::helpers::create_user(&app.vault, "rotated", Some(PlanId::BASIC), false).await;
    let second = app.token_for(&user.username, &user.password).await;
    let me = |token: String| {
        let request = app.client.get(app.endpoint("/api/me/")).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me(user.token.clone()).await, StatusCode::OK);
    assert_eq!(me(second.clone()).await, StatusCode::OK, "cached now");

    let path = format!("/api/admin/users/{}/", user.id);
    let (status, body) = app
        .patch_json(&path, &app.admin, json!({"is_admin": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me(user.token.clone()).await,
        StatusCode::OK,
        "no password, no revocation"
    );

    let (status, body) = app
        .patch_json(
            &path,
            &app.admin,
            json!({"password": "a brand new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me(user.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(app.basic.token.clone()).await,
        StatusCode::OK,
        "others keep theirs"
    );

    let third = app.token_for(&user.username, "a brand new password").await;
    assert_eq!(me(third.clone()).await, StatusCode::OK);
    let (status, body) = app
        .put_json(
            &path,
            &app.admin,
            json!({"username": user.username, "password": "and another password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me(third).await, StatusCode::UNAUTHORIZED, "PUT too");
}

/// `DELETE /api/admin/users/{id}/tokens/` revokes all of a user's tokens at once; only
/// administrators may; an unknown user is 404.
#[tokio::test]
async fn admins_revoke_all_of_a_users_tokens() {
    let app = spawn_app().await;
    let user = crate::helpers::create_user(&app.vault, "stolen", Some(PlanId::BASIC), false).await;
    let second = app.token_for(&user.username, &user.password).await;
    let me = |token: String| {
        let request = app.client.get(app.endpoint("/api/me/")).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me(second.clone()).await, StatusCode::OK);
    let path = format!("/api/admin/users/{}/tokens/", user.id);

    assert_eq!(app.delete(&path, &app.basic).await, StatusCode::FORBIDDEN);
    assert_eq!(me(user.token.clone()).await, StatusCode::OK);
    assert_eq!(app.delete(&path, &app.admin).await, StatusCode::NO_CONTENT);
    assert_eq!(me(user.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(app.basic.token.clone()).await, StatusCode::OK);
    // The password still works: only the tokens were revoked.
    let fresh = app.token_for(&user.username, &user.password).await;
    assert_eq!(me(fresh).await, StatusCode::OK);

    assert_eq!(app.delete(&path, &app.admin).await, StatusCode::NO_CONTENT);
    let unknown = format!("/api/admin/users/{}/tokens/", uuid::Uuid::new_v4());
    assert_eq!(
        app.delete(&unknown, &app.admin).await,
        StatusCode::NOT_FOUND
    );
    let (status, _) = app.get_json(&path, &app.admin).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
