//! Service endpoints: the OpenAPI document lists the whole contract, the docs page, health
//! and readiness, all without authentication.

use reqwest::{Method, StatusCode};

use crate::helpers::{content_type, json_response, spawn_app};

/// Every route and method of `API.md`, as the OpenAPI document names them.
const CONTRACT: [(&str, &str); 28] = [
    ("post", "/api/auth/token/"),
    ("delete", "/api/auth/token/"),
    ("get", "/api/me/"),
    ("get", "/api/images/"),
    ("post", "/api/images/"),
    ("get", "/api/images/{id}/"),
    ("delete", "/api/images/{id}/"),
    ("get", "/api/expiring-links/"),
    ("post", "/api/expiring-links/"),
    ("get", "/api/expiring-links/{id}/"),
    ("put", "/api/expiring-links/{id}/"),
    ("patch", "/api/expiring-links/{id}/"),
    ("delete", "/api/expiring-links/{id}/"),
    ("get", "/api/admin/plans/"),
    ("post", "/api/admin/plans/"),
    ("get", "/api/admin/plans/{id}/"),
    ("put", "/api/admin/plans/{id}/"),
    ("patch", "/api/admin/plans/{id}/"),
    ("delete", "/api/admin/plans/{id}/"),
    ("get", "/api/admin/users/"),
    ("post", "/api/admin/users/"),
    ("get", "/api/admin/users/{id}/"),
    ("put", "/api/admin/users/{id}/"),
    ("patch", "/api/admin/users/{id}/"),
    ("delete", "/api/admin/users/{id}/"),
    ("delete", "/api/admin/users/{id}/tokens/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
];

#[tokio::test]
async fn the_schema_is_openapi_3_1_and_lists_every_route_of_the_contract() {
    let app = spawn_app().await;
    for path in ["/api/schema/", "/api/schema"] {
        let response = app.request(Method::GET, path, None).send().await.unwrap();
        let (status, schema) = json_response(response).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let version = schema["openapi"].as_str().expect("an openapi version");
        assert!(version.starts_with("3.1"), "OpenAPI 3.1: {version}");
        assert!(schema["info"]["title"].is_string());
        let paths = schema["paths"].as_object().expect("paths");
        let mut missing = Vec::new();
        for (method, route) in CONTRACT {
            if paths.get(route).and_then(|item| item.get(method)).is_none() {
                missing.push(format!("{method} {route}"));
            }
        }
        // The three media shapes, as one templated path or several.
        let media: Vec<&String> = paths
            .keys()
            .filter(|route| route.starts_with("/media/") && paths[*route].get("get").is_some())
            .collect();
        if media.is_empty() {
            missing.push("get /media/...".to_owned());
        }
        assert!(missing.is_empty(), "missing from the schema: {missing:?}");
        let components = schema["components"]["securitySchemes"]
            .as_object()
            .expect("security schemes");
        assert!(!components.is_empty());
    }
}

async fn assert_docs_page(path: &str) {
    let app = spawn_app().await;
    let response = app.request(Method::GET, path, None).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{path}, without a redirect"
    );
    assert_eq!(
        content_type(response.headers()).as_deref(),
        Some("text/html"),
        "{path}"
    );
    let page = response.text().await.unwrap();
    assert!(page.to_lowercase().contains("<html"), "{path}");
    // The page's relative links (scripts, styles) must resolve under /api/docs/ at either
    // spelling, and the files they name must be served.
    let base = format!("{}/api/docs/", app.address);
    assert!(page.contains(&format!("<base href=\"{base}\">")), "{page}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(page.contains(asset), "{asset} in {page}");
        let response = app
            .request(Method::GET, &format!("/api/docs/{asset}"), None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let initializer = app
        .request(Method::GET, "/api/docs/swagger-initializer.js", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(&format!("{}/api/schema/", app.address)),
        "the page loads this server's schema: {initializer}"
    );
}

#[tokio::test]
async fn the_docs_page_is_html() {
    assert_docs_page("/api/docs/").await;
}

/// Every path under `/api/` is accepted without its trailing slash, without a redirect.
#[tokio::test]
async fn the_docs_page_is_html_without_the_trailing_slash() {
    assert_docs_page("/api/docs").await;
}

#[tokio::test]
async fn health_and_readiness_answer_without_authentication() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.request(Method::GET, path, None).send().await.unwrap();
        let (status, body) = json_response(response).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, ready) = json_response(
        app.request(Method::GET, "/readyz", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    for part in ["database", "storage", "queue"] {
        assert_eq!(ready[part], "ok", "{ready}");
    }
}

#[tokio::test]
async fn readiness_is_503_naming_the_part_that_failed() {
    let app = spawn_app().await;
    // Storage that cannot answer: its directory replaced by a file.
    std::fs::remove_dir_all(&app.media_dir).unwrap();
    std::fs::write(&app.media_dir, b"not a directory").unwrap();
    let response = app
        .request(Method::GET, "/readyz", None)
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("storage"),
        "{body}"
    );
    assert_eq!(body["database"], "ok");
    // The error (a path under the media directory, object_store's name) is logged, not
    // shown: /readyz needs no credentials.
    assert_eq!(
        body["storage"],
        "failed: the storage returned an error; see the server log"
    );
    let text = body.to_string();
    let media_dir = app.media_dir.to_string_lossy();
    for internal in [media_dir.as_ref(), "object_store", "os error"] {
        assert!(!text.contains(internal), "{internal:?} in {text}");
    }
    // Liveness does not depend on it.
    let response = app
        .request(Method::GET, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
