//! The HTTP edge: cross-site requests with browser-attached credentials, the cache rules
//! and security headers of media and HTML, client request ids, and list fields that must
//! be lists.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, header, json_response, spawn_app, text};

/// `admin`'s usernames as the admin API lists them.
async fn usernames(app: &TestApp) -> Vec<String> {
    let (status, page) = app
        .get_json("/api/admin/users/?limit=100", &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| text(user, "username").to_owned())
        .collect()
}

/// A form-encoded `POST /api/admin/users/` creating `username`, with the admin's Basic
/// credentials and the extra headers given.
async fn basic_form_create(
    app: &TestApp,
    username: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = app
        .request(Method::POST, "/api/admin/users/", None)
        .basic_auth(&app.admin.username, Some(PASSWORD))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "username={username}&password=a+long+enough+password"
        ));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    json_response(request.send().await.unwrap()).await
}

#[tokio::test]
async fn cross_site_requests_with_basic_credentials_are_refused() {
    let app = spawn_app().await;

    // What a page on evil.example gets a browser to send after the user logged in to the
    // browser's Basic prompt: a form post carrying the remembered credentials.
    let (status, body) =
        basic_form_create(&app, "mallory", &[("Origin", "https://evil.example")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Cross-site request refused"), "{detail}");
    assert!(detail.contains("https://evil.example"), "{detail}");
    assert!(!usernames(&app).await.contains(&"mallory".to_owned()));

    // The browser's own word for it, with or without an Origin.
    for site in ["cross-site", "same-site"] {
        let (status, body) = basic_form_create(&app, "mallory", &[("Sec-Fetch-Site", site)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{site}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(site), "{body}");
    }
    // An opaque origin (a sandboxed frame) is not this server's either.
    let (status, body) = basic_form_create(&app, "mallory", &[("Origin", "null")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!usernames(&app).await.contains(&"mallory".to_owned()));

    // Reading is not refused: it changes nothing.
    let response = app
        .request(Method::GET, "/api/admin/users/", None)
        .basic_auth(&app.admin.username, Some(PASSWORD))
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The server's own pages, and clients that are not browsers, are served.
    let (status, body) = basic_form_create(
        &app,
        "samesite",
        &[
            ("Origin", app.public_url.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = basic_form_create(&app, "script", &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A token is never attached by a browser on its own: a cross-site page had to hold it.
    let response = app
        .request(Method::POST, "/api/admin/users/", Some(&app.admin))
        .header("Origin", "https://client.example")
        .header("Sec-Fetch-Site", "cross-site")
        .json(&json!({"username": "viatoken", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let names = usernames(&app).await;
    for created in ["samesite", "script", "viatoken"] {
        assert!(names.contains(&created.to_owned()), "{created}: {names:?}");
    }
}

/// An Enterprise image with ready thumbnails: `(original url, thumbnail url)`.
async fn ready_image(app: &TestApp) -> (String, String) {
    let image = app.upload_png(&app.enterprise, 300, 200).await;
    let image = app
        .wait_for_thumbnails(&app.enterprise, text(&image, "id"))
        .await;
    let thumbnail = text(&image["thumbnails"][0], "url").to_owned();
    (text(&image, "original").to_owned(), thumbnail)
}

#[tokio::test]
async fn originals_are_revalidated_and_thumbnails_cached_for_a_year() {
    let app = spawn_app().await;
    let (original, thumbnail) = ready_image(&app).await;

    let response = app.media(&original).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("private, no-cache")
    );
    let etag = header(response.headers(), "etag").unwrap().to_owned();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
    // Revalidation costs no body while the original is still served.
    let response = app
        .request(Method::GET, &original, None)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("private, no-cache")
    );
    assert_eq!(header(response.headers(), "etag"), Some(etag.as_str()));

    // Once the plan stops linking originals, revalidation is refused too.
    app.set_plan(
        &app.enterprise,
        Some(&imagevault::PlanId::BASIC.to_string()),
    )
    .await;
    let response = app
        .request(Method::GET, &original, None)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = app.media(&thumbnail).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}

#[tokio::test]
async fn media_and_html_carry_security_headers() {
    let app = spawn_app().await;
    let (original, thumbnail) = ready_image(&app).await;
    for url in [&original, &thumbnail] {
        for method in [Method::GET, Method::HEAD] {
            let response = app.request(method.clone(), url, None).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{method} {url}");
            let headers = response.headers();
            assert_eq!(
                header(headers, "content-security-policy"),
                Some("default-src 'none'; sandbox"),
                "{method} {url}"
            );
            assert_eq!(
                header(headers, "cross-origin-resource-policy"),
                Some("cross-origin"),
                "{method} {url}"
            );
        }
    }

    let response = app
        .request(Method::GET, "/api/docs/", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    let policy = header(&headers, "content-security-policy").expect("a CSP on the page");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    // Everything the page loads is allowed: its scripts and style sheets come from this
    // server, and it fetches the schema from this server.
    let page = response.text().await.unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("style-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    for line in page
        .lines()
        .filter(|line| line.contains("src=") || line.contains("href="))
    {
        assert!(
            !line.contains("//") || line.contains(&app.public_url),
            "the page loads from elsewhere: {line}"
        );
    }
    assert!(
        !page.contains("<script>"),
        "no inline script the CSP would block"
    );

    // JSON answers are not pages.
    let response = app
        .request(Method::GET, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(header(response.headers(), "x-frame-options"), None);
}

#[tokio::test]
async fn client_request_ids_are_kept_only_when_short_and_plain() {
    let app = spawn_app().await;
    let kept = "a1b2c3-D4E5-".repeat(5);
    let too_long = "a".repeat(65);
    for (sent, keep) in [
        (kept.as_str(), true),
        ("0193a6c4-5f1e-7b2a-9c3d-4e5f6a7b8c9d", true),
        (too_long.as_str(), false),
        ("id with spaces", false),
        ("id\"quoted", false),
        ("id;level=error", false),
    ] {
        let response = app
            .request(Method::GET, "/healthz", None)
            .header("X-Request-Id", sent)
            .send()
            .await
            .unwrap();
        let answered = header(response.headers(), "x-request-id").expect("a request id");
        if keep {
            assert_eq!(answered, sent);
        } else {
            assert_ne!(answered, sent);
            assert!(uuid::Uuid::try_parse(answered).is_ok(), "{answered}");
        }
    }
}

#[tokio::test]
async fn thumbnail_heights_must_be_a_list() {
    let app = spawn_app().await;
    let plan = app.create_plan("Listed", &[100], false, false).await;
    let path = format!("/api/admin/plans/{}/", text(&plan, "id"));
    for (heights, kind) in [
        (json!("200"), "str"),
        (json!("200,400"), "str"),
        (json!(200), "int"),
        (json!(200.5), "float"),
        (json!({"0": 200}), "dict"),
        (json!(true), "bool"),
    ] {
        let expected = json!({
            "thumbnail_heights": [format!("Expected a list of items but got type \"{kind}\".")]
        });
        let body = json!({"name": "Not a list", "thumbnail_heights": heights});
        for (method, target) in [
            (Method::POST, "/api/admin/plans/"),
            (Method::PUT, path.as_str()),
            (Method::PATCH, path.as_str()),
        ] {
            let (status, answer) = app
                .call(method.clone(), target, Some(&app.admin), Some(body.clone()))
                .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {heights}: {answer}"
            );
            assert_eq!(answer, expected, "{method} {heights}");
        }
    }
    // In a form every field is text; its values are the list, as DRF reads a form: one
    // value is a list of one, and a comma-joined value is not a number.
    for (form, expected) in [
        ("name=One&thumbnail_heights=200", Some(json!([200]))),
        (
            "name=Two&thumbnail_heights=300&thumbnail_heights=100",
            Some(json!([100, 300])),
        ),
        ("name=Three&thumbnail_heights=200,400", None),
    ] {
        let response = app
            .request(Method::POST, "/api/admin/plans/", Some(&app.admin))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        let (status, answer) = json_response(response).await;
        match expected {
            Some(heights) => {
                assert_eq!(status, StatusCode::CREATED, "{form}: {answer}");
                assert_eq!(answer["thumbnail_heights"], heights, "{form}");
            }
            None => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {answer}");
                assert_eq!(
                    answer,
                    json!({"thumbnail_heights": ["A valid integer is required for every item."]})
                );
            }
        }
    }
    let (_, unchanged) = app.get_json(&path, &app.admin).await;
    assert_eq!(unchanged["thumbnail_heights"], json!([100]));
}
