//! Conventions of every endpoint: trailing slashes, JSON 404 and 405, the order of checks,
//! JSON error bodies everywhere.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{header, json_response, keys, spawn_app, text};

#[tokio::test]
async fn paths_work_with_and_without_the_trailing_slash_and_never_redirect() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.enterprise, 30, 20).await;
    let link = app
        .create_link(&app.enterprise, text(&image, "id"), 900)
        .await;
    let paths = [
        ("/api/me/", &app.enterprise),
        ("/api/images/", &app.enterprise),
        (
            &format!("/api/images/{}/", text(&image, "id")),
            &app.enterprise,
        ),
        ("/api/expiring-links/", &app.enterprise),
        (
            &format!("/api/expiring-links/{}/", text(&link, "id")),
            &app.enterprise,
        ),
        ("/api/admin/plans/", &app.admin),
        (
            &format!("/api/admin/plans/{}/", imagevault::PlanId::BASIC),
            &app.admin,
        ),
        ("/api/admin/users/", &app.admin),
        (&format!("/api/admin/users/{}/", app.basic.id), &app.admin),
        ("/api/schema/", &app.admin),
    ];
    for (path, user) in paths {
        for spelling in [path.to_owned(), path.trim_end_matches('/').to_owned()] {
            let (status, body) = app.get_json(&spelling, user).await;
            assert_eq!(status, StatusCode::OK, "GET {spelling}: {body}");
        }
    }
    for path in ["/api/auth/token/", "/api/auth/token"] {
        let (status, body) = app
            .call(
                Method::POST,
                path,
                None,
                Some(json!({"username": "basic", "password": app.basic.password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
    }
    let response = app
        .upload_raw(&app.premium, crate::helpers::png(8, 8), "image/png", "")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .request(Method::POST, "/api/images", Some(&app.premium))
        .header("Content-Type", "image/png")
        .body(crate::helpers::png(8, 8))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "POST /api/images");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/expiring-links",
            Some(&app.enterprise),
            Some(json!({"base_image": image["id"], "expiry_in_seconds": 300})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "POST /api/expiring-links");
    let bare_link = format!("/api/expiring-links/{}", text(&link, "id"));
    let (status, _) = app
        .patch_json(
            &bare_link,
            &app.enterprise,
            json!({"expiry_in_seconds": 600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "PATCH {bare_link}");
    let (status, _) = app
        .put_json(
            &bare_link,
            &app.enterprise,
            json!({"expiry_in_seconds": 700}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "PUT {bare_link}");
    assert_eq!(
        app.delete(&bare_link, &app.enterprise).await,
        StatusCode::NO_CONTENT
    );
    let bare_image = format!("/api/images/{}", text(&image, "id"));
    assert_eq!(
        app.delete(&bare_image, &app.enterprise).await,
        StatusCode::NO_CONTENT
    );
    let response = app
        .request(Method::DELETE, "/api/auth/token", Some(&app.basic))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "DELETE /api/auth/token"
    );
}

#[tokio::test]
async fn unknown_routes_are_json_404_for_anonymous_and_authenticated_callers() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/",
        "/api/nope/",
        "/api/images/extra/segments/",
        "/api/admin/",
        "/api/admin/nope/",
        "/static/app.js",
    ] {
        for user in [None, Some(&app.enterprise)] {
            for method in [Method::GET, Method::POST] {
                let (status, body) = app.call(method.clone(), path, user, None).await;
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{method} {path} as {user:?}: {body}"
                );
                assert_eq!(body, json!({"detail": "Not found."}), "{path}");
            }
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_json_with_allow_but_401_first_for_anonymous_callers() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4();
    let cases = [
        (
            Method::PUT,
            "/api/images/".to_owned(),
            &app.enterprise,
            "POST",
        ),
        (
            Method::DELETE,
            "/api/images/".to_owned(),
            &app.enterprise,
            "GET",
        ),
        (
            Method::POST,
            format!("/api/images/{id}/"),
            &app.enterprise,
            "DELETE",
        ),
        (
            Method::PATCH,
            format!("/api/images/{id}/"),
            &app.enterprise,
            "GET",
        ),
        (
            Method::DELETE,
            "/api/me/".to_owned(),
            &app.enterprise,
            "GET",
        ),
        (Method::POST, "/api/me".to_owned(), &app.enterprise, "GET"),
        (
            Method::PUT,
            "/api/expiring-links/".to_owned(),
            &app.enterprise,
            "POST",
        ),
        (
            Method::POST,
            format!("/api/expiring-links/{id}/"),
            &app.enterprise,
            "PATCH",
        ),
        (
            Method::PUT,
            "/api/admin/plans/".to_owned(),
            &app.admin,
            "POST",
        ),
        (
            Method::POST,
            format!("/api/admin/plans/{id}/"),
            &app.admin,
            "PUT",
        ),
        (
            Method::DELETE,
            "/api/admin/users/".to_owned(),
            &app.admin,
            "POST",
        ),
        (
            Method::POST,
            format!("/api/admin/users/{id}/"),
            &app.admin,
            "DELETE",
        ),
    ];
    for (method, path, user, allowed) in &cases {
        let response = app
            .request(method.clone(), path, Some(user))
            .send()
            .await
            .unwrap();
        let allow = header(response.headers(), "allow").map(str::to_owned);
        let (status, body) = json_response(response).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        assert_eq!(keys(&body), ["detail"]);
        let allow = allow.unwrap_or_else(|| panic!("{method} {path}: an Allow header"));
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow}");
        assert!(
            !allow.contains(method.as_str()),
            "{method} {path}: Allow {allow}"
        );

        // Anonymous callers learn nothing beyond the 401.
        let (status, body) = app.call(method.clone(), path, None, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}: {body}"
        );
    }

    // Anonymous endpoints answer 405 to anyone.
    for (method, path, allowed) in [
        (Method::GET, "/api/auth/token/", "POST"),
        (Method::PUT, "/api/auth/token/", "DELETE"),
        (Method::POST, "/healthz", "GET"),
        (Method::DELETE, "/readyz", "GET"),
        (
            Method::POST,
            "/media/thumbnail/0b5c1a3e-7d2f-4c61-9e8a-3f4b5c6d7e8f/1c6d2b4f-8e3a-4d72-af9b-4a5c6d7e8f90.png",
            "GET",
        ),
        (Method::POST, "/api/schema/", "GET"),
    ] {
        let response = app
            .request(method.clone(), path, None)
            .send()
            .await
            .unwrap();
        let allow = header(response.headers(), "allow").map(str::to_owned);
        let (status, body) = json_response(response).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        assert!(body["detail"].is_string());
        let allow = allow.unwrap_or_else(|| panic!("{method} {path}: an Allow header"));
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow}");
    }
}

#[tokio::test]
async fn authentication_comes_before_permission() {
    let app = spawn_app().await;
    // Anonymous: 401 on admin and link endpoints, not 403.
    for path in ["/api/admin/plans/", "/api/expiring-links/"] {
        let (status, _) = app.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // Authenticated but not allowed: 403.
    let (status, _) = app.get_json("/api/admin/plans/", &app.premium).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get_json("/api/expiring-links/", &app.premium).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_error_body_is_json() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4();
    let responses = [
        // 400
        app.request(Method::GET, "/api/images/?limit=0", Some(&app.premium)),
        // 401
        app.request(Method::GET, "/api/images/", None),
        // 403
        app.request(Method::GET, "/api/admin/users/", Some(&app.premium)),
        // 404
        app.request(
            Method::GET,
            &format!("/api/images/{id}/"),
            Some(&app.premium),
        ),
        app.request(Method::GET, "/media/nothing", None),
        app.request(
            Method::GET,
            &format!("/media/thumbnail/{id}/{id}.png"),
            None,
        ),
        app.request(Method::HEAD, "/api/nothing/", None),
        // 405
        app.request(Method::PUT, "/api/me/", Some(&app.premium)),
        // 415: a raw upload of another type
        app.request(Method::POST, "/api/images/", Some(&app.premium))
            .header("Content-Type", "text/plain")
            .body("hello"),
        // 400 on malformed JSON
        app.request(Method::POST, "/api/auth/token/", None)
            .header("Content-Type", "application/json")
            .body("{not json"),
        // 413 on a JSON body far larger than any of these endpoints takes
        app.request(Method::POST, "/api/expiring-links/", Some(&app.enterprise))
            .json(&json!({"base_image": "x".repeat(200_000), "expiry_in_seconds": 300})),
        // 415 on a body of another type
        app.request(Method::POST, "/api/admin/plans/", Some(&app.admin))
            .header("Content-Type", "text/plain")
            .body("name=x"),
    ];
    for request in responses {
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(status.is_client_error(), "{status}");
        assert_eq!(
            header(response.headers(), "x-content-type-options"),
            Some("nosniff")
        );
        if response.url().path() == "/api/nothing/" {
            // HEAD: the JSON type is announced, the body is not sent.
            assert_eq!(
                crate::helpers::content_type(response.headers()).as_deref(),
                Some("application/json")
            );
            continue;
        }
        let (_, body) = json_response(response).await;
        assert!(body.is_object(), "{body}");
    }
}

/// Absolute URLs come from the configured public URL, not from the address the request
/// reached (here the server listens on 127.0.0.1 behind an imagined proxy).
#[tokio::test]
async fn absolute_urls_are_built_from_the_configured_public_url() {
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        public_url: Some("https://images.example.test/base/".to_owned()),
        ..crate::helpers::AppOptions::default()
    })
    .await;
    let public = "https://images.example.test/base";
    assert_eq!(app.public_url, public);
    let user = &app.enterprise;
    let response = app
        .upload_multipart(
            user,
            crate::helpers::png(40, 30),
            "a.png",
            "image/png",
            None,
        )
        .await;
    let location = header(response.headers(), "location").map(str::to_owned);
    let (status, image) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = text(&image, "id").to_owned();
    let url = format!("{public}/api/images/{id}/");
    assert_eq!(image["url"], url.as_str());
    assert_eq!(location.as_deref(), Some(url.as_str()));
    crate::helpers::assert_media_url(&app, text(&image, "original"), "imageupload", "png");
    let image = app.wait_for_thumbnails(user, &id).await;
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        crate::helpers::assert_media_url(&app, text(thumbnail, "url"), "thumbnail", "png");
        // The same path, reached directly, serves it.
        assert_eq!(
            app.media_status(text(thumbnail, "url")).await,
            StatusCode::OK
        );
    }
    let link = app.create_link(user, &id, 600).await;
    crate::helpers::assert_media_url(&app, text(&link, "url"), "exp", "png");

    app.advance(1);
    app.upload_png(user, 10, 10).await;
    let (_, page) = app.get_json("/api/images/?limit=1", user).await;
    let next = text(&page, "next");
    assert!(
        next.starts_with(&format!("{public}/api/images/?")),
        "{next}"
    );
    let (status, older) = app.get_json(next, user).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(older["results"][0]["id"], id.as_str());
    let previous = text(&older, "previous");
    assert!(
        previous.starts_with(&format!("{public}/api/images/?")),
        "{previous}"
    );
}
