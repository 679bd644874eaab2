//! Expiring links: plan gating, the Link object, validation, filters, updates, delete, and
//! expiry through the server's manual clock.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, assert_media_url, field_errors, header, json_response, keys, spawn_app,
    text, timestamp,
};

const RANGE_MESSAGE: &str = "Ensure this value is between 300 and 30000.";

/// An Enterprise image to link to.
async fn image(app: &TestApp) -> String {
    let image = app.upload_jpeg(&app.enterprise, 64, 48).await;
    text(&image, "id").to_owned()
}

fn lifetime(link: &Value) -> i64 {
    (timestamp(text(link, "expires_at")) - timestamp(text(link, "created_at"))).num_seconds()
}

#[tokio::test]
async fn basic_and_premium_users_get_403_on_every_link_endpoint() {
    let app = spawn_app().await;
    let enterprise_image = image(&app).await;
    let link = app
        .create_link(&app.enterprise, &enterprise_image, 600)
        .await;
    for user in [&app.basic, &app.premium] {
        let own = app.upload_png(user, 20, 20).await;
        let body = json!({"base_image": own["id"], "expiry_in_seconds": 600});
        let link_path = format!("/api/expiring-links/{}/", text(&link, "id"));
        let calls = [
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
            let (status, answer) = app.call(method.clone(), &path, Some(user), body).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{} {method} {path}: {answer}",
                user.username
            );
            assert_eq!(keys(&answer), ["detail"]);
        }
    }
    // Nothing changed for the owner.
    let (status, _) = app
        .get_json(
            &format!("/api/expiring-links/{}/", text(&link, "id")),
            &app.enterprise,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn create_answers_201_with_the_link_object() {
    let app = spawn_app().await;
    let image_id = image(&app).await;
    let response = app
        .request(Method::POST, "/api/expiring-links/", Some(&app.enterprise))
        .json(&json!({"base_image": image_id, "expiry_in_seconds": 3600}))
        .send()
        .await
        .unwrap();
    let location = header(response.headers(), "location").map(str::to_owned);
    let (status, link) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!(
        keys(&link),
        [
            "base_image",
            "created_at",
            "expired",
            "expires_at",
            "expiry_in_seconds",
            "id",
            "url"
        ]
    );
    assert!(uuid::Uuid::try_parse(text(&link, "id")).is_ok());
    assert_eq!(link["base_image"], image_id.as_str());
    assert_eq!(link["expiry_in_seconds"], 3600);
    assert_eq!(timestamp(text(&link, "created_at")), app.now());
    assert_eq!(lifetime(&link), 3600);
    assert_eq!(link["expired"], false);
    assert_media_url(&app, text(&link, "url"), "exp", "jpg");
    if let Some(location) = location {
        assert_eq!(
            location,
            app.url(&format!("/api/expiring-links/{}/", text(&link, "id")))
        );
    }
    let (status, read) = app
        .get_json(
            &format!("/api/expiring-links/{}/", text(&link, "id")),
            &app.enterprise,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, link);

    // The bounds are included.
    for seconds in [300, 30_000] {
        let link = app.create_link(&app.enterprise, &image_id, seconds).await;
        assert_eq!(lifetime(&link), i64::from(seconds));
    }
}

#[tokio::test]
async fn expiry_out_of_range_or_not_an_integer_is_a_400() {
    let app = spawn_app().await;
    let image_id = image(&app).await;
    for expiry in [
        json!(299),
        json!(30_001),
        json!(0),
        json!(-300),
        json!("abc"),
        json!(600.5),
        json!(""),
    ] {
        let (status, body) = app
            .post_json(
                "/api/expiring-links/",
                &app.enterprise,
                json!({"base_image": image_id, "expiry_in_seconds": expiry}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expiry}: {body}");
        assert_eq!(
            body,
            json!({"expiry_in_seconds": [RANGE_MESSAGE]}),
            "{expiry}"
        );
    }
    let (status, body) = app
        .post_json(
            "/api/expiring-links/",
            &app.enterprise,
            json!({"base_image": image_id}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["expiry_in_seconds"], "missing: {body}");
    let (_, list) = app.get_json("/api/expiring-links/", &app.enterprise).await;
    assert_eq!(list["results"], json!([]), "nothing was created");
}

#[tokio::test]
async fn expiry_may_be_a_string_of_digits_in_json_or_form_data() {
    let app = spawn_app().await;
    let image_id = image(&app).await;
    let (status, link) = app
        .post_json(
            "/api/expiring-links/",
            &app.enterprise,
            json!({"base_image": image_id, "expiry_in_seconds": "600"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!(link["expiry_in_seconds"], 600);

    let response = app
        .request(Method::POST, "/api/expiring-links/", Some(&app.enterprise))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("base_image={image_id}&expiry_in_seconds=700"))
        .send()
        .await
        .unwrap();
    let (status, link) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!(lifetime(&link), 700);

    let form = reqwest::multipart::Form::new()
        .text("base_image", image_id.clone())
        .text("expiry_in_seconds", "800");
    let response = app
        .request(Method::POST, "/api/expiring-links/", Some(&app.enterprise))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, link) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!(lifetime(&link), 800);

    let response = app
        .request(
            Method::PATCH,
            &format!("/api/expiring-links/{}/", text(&link, "id")),
            Some(&app.enterprise),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("expiry_in_seconds=900")
        .send()
        .await
        .unwrap();
    let (status, link) = json_response(response).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(lifetime(&link), 900);
}

#[tokio::test]
async fn a_missing_malformed_or_foreign_base_image_is_a_400_on_base_image() {
    let app = spawn_app().await;
    let other = crate::helpers::create_user(
        &app.vault,
        "other",
        Some(imagevault::PlanId::ENTERPRISE),
        false,
    )
    .await;
    let foreign = app.upload_png(&other, 20, 20).await;
    for base_image in [
        None,
        Some(json!("not-a-uuid")),
        Some(json!(12)),
        Some(json!(uuid::Uuid::new_v4().to_string())),
        Some(foreign["id"].clone()),
    ] {
        let mut body = json!({"expiry_in_seconds": 600});
        if let Some(base_image) = &base_image {
            body["base_image"] = base_image.clone();
        }
        let (status, answer) = app
            .post_json("/api/expiring-links/", &app.enterprise, body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{base_image:?}: {answer}");
        assert_eq!(keys(&answer), ["base_image"], "{base_image:?}");
    }
    // Someone else's image is worded like an unknown one: its existence is not revealed.
    let nil = uuid::Uuid::nil().to_string();
    let (_, unknown) = app
        .post_json(
            "/api/expiring-links/",
            &app.enterprise,
            json!({"base_image": nil, "expiry_in_seconds": 600}),
        )
        .await;
    let foreign_id = text(&foreign, "id").to_owned();
    let (_, foreign) = app
        .post_json(
            "/api/expiring-links/",
            &app.enterprise,
            json!({"base_image": foreign_id, "expiry_in_seconds": 600}),
        )
        .await;
    assert_eq!(
        field_errors(&unknown, "base_image")[0].replace(&nil, "ID"),
        field_errors(&foreign, "base_image")[0].replace(&foreign_id, "ID"),
    );
    // Errors on both fields are reported together.
    let (status, answer) = app
        .post_json(
            "/api/expiring-links/",
            &app.enterprise,
            json!({"base_image": "nope", "expiry_in_seconds": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&answer), ["base_image", "expiry_in_seconds"]);
}

async fn link_ids(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    let (status, page) = app
        .get_json(&format!("/api/expiring-links/{query}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    assert_eq!(keys(&page), ["next", "previous", "results"]);
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| text(link, "id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_is_newest_first_and_filters_by_base_image() {
    let app = spawn_app().await;
    let first = image(&app).await;
    let second = image(&app).await;
    let mut made = Vec::new();
    for (image_id, seconds) in [(&first, 300), (&second, 400), (&first, 500)] {
        let link = app.create_link(&app.enterprise, image_id, seconds).await;
        made.push(text(&link, "id").to_owned());
        app.advance(1);
    }
    assert_eq!(
        link_ids(&app, &app.enterprise, "").await,
        [made[2].clone(), made[1].clone(), made[0].clone()]
    );
    assert_eq!(
        link_ids(&app, &app.enterprise, &format!("?base_image={first}")).await,
        [made[2].clone(), made[0].clone()]
    );
    assert_eq!(
        link_ids(&app, &app.enterprise, &format!("?base_image={second}")).await,
        [made[1].clone()]
    );

    // Paginated like images.
    let (_, page) = app
        .get_json(
            &format!("/api/expiring-links/?base_image={first}&limit=1"),
            &app.enterprise,
        )
        .await;
    assert!(page["previous"].is_null());
    let next = text(&page, "next");
    assert!(
        next.starts_with(&app.url("/api/expiring-links/?")),
        "{next}"
    );
    assert!(
        next.contains(&format!("base_image={first}")),
        "keeps the filter: {next}"
    );
    let (_, page) = app.get_json(next, &app.enterprise).await;
    assert_eq!(page["results"][0]["id"], made[0].as_str());
    assert!(page["next"].is_null());

    // Another user's image: an empty list, revealing nothing.
    let other = crate::helpers::create_user(
        &app.vault,
        "other",
        Some(imagevault::PlanId::ENTERPRISE),
        false,
    )
    .await;
    assert!(
        link_ids(&app, &other, &format!("?base_image={first}"))
            .await
            .is_empty()
    );
    assert!(link_ids(&app, &other, "").await.is_empty());
    assert!(
        link_ids(
            &app,
            &other,
            &format!("?base_image={}", uuid::Uuid::new_v4())
        )
        .await
        .is_empty()
    );

    // A malformed id is a 400.
    let (status, body) = app
        .get_json(
            "/api/expiring-links/?base_image=not-a-uuid",
            &app.enterprise,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["base_image"]);
    let (status, body) = app
        .get_json("/api/expiring-links/?limit=0", &app.enterprise)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["limit"]);
}

#[tokio::test]
async fn put_and_patch_recompute_expires_at_and_never_change_base_image() {
    let app = spawn_app().await;
    let image_id = image(&app).await;
    let other_image = image(&app).await;
    let link = app.create_link(&app.enterprise, &image_id, 600).await;
    let path = format!("/api/expiring-links/{}/", text(&link, "id"));
    app.advance(100);

    let (status, updated) = app
        .put_json(&path, &app.enterprise, json!({"expiry_in_seconds": 1200}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["created_at"], link["created_at"],
        "created_at stays"
    );
    assert_eq!(updated["expiry_in_seconds"], 1200);
    assert_eq!(lifetime(&updated), 1200);
    assert_eq!(updated["url"], link["url"], "the URL stays");

    let (status, updated) = app
        .patch_json(&path, &app.enterprise, json!({"expiry_in_seconds": 450}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(lifetime(&updated), 450);

    // The same base_image may be sent back.
    let (status, updated) = app
        .put_json(
            &path,
            &app.enterprise,
            json!({"base_image": image_id, "expiry_in_seconds": 800}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(lifetime(&updated), 800);

    for method in [Method::PUT, Method::PATCH] {
        let (status, body) = app
            .call(
                method.clone(),
                &path,
                Some(&app.enterprise),
                Some(json!({"base_image": other_image, "expiry_in_seconds": 900})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}: {body}");
        assert_eq!(keys(&body), ["base_image"], "{method}");
        for expiry in [json!(299), json!(30_001), json!("abc")] {
            let (status, body) = app
                .call(
                    method.clone(),
                    &path,
                    Some(&app.enterprise),
                    Some(json!({"expiry_in_seconds": expiry})),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {expiry}");
            assert_eq!(body, json!({"expiry_in_seconds": [RANGE_MESSAGE]}));
        }
    }
    let (status, body) = app.put_json(&path, &app.enterprise, json!({})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "PUT needs the expiry: {body}"
    );
    assert_eq!(keys(&body), ["expiry_in_seconds"]);

    let (_, current) = app.get_json(&path, &app.enterprise).await;
    assert_eq!(current["base_image"], image_id.as_str());
    assert_eq!(lifetime(&current), 800, "failed updates changed nothing");
}

#[tokio::test]
async fn delete_answers_204_and_the_url_is_404_at_once() {
    let app = spawn_app().await;
    let image_id = image(&app).await;
    let link = app.create_link(&app.enterprise, &image_id, 600).await;
    let url = text(&link, "url");
    assert_eq!(app.media_status(url).await, StatusCode::OK);
    let path = format!("/api/expiring-links/{}/", text(&link, "id"));
    assert_eq!(
        app.delete(&path, &app.enterprise).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.media_status(url).await, StatusCode::NOT_FOUND);
    let (status, body) = app.get_json(&path, &app.enterprise).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
    assert_eq!(
        app.delete(&path, &app.enterprise).await,
        StatusCode::NOT_FOUND
    );
    // The image itself stays.
    app.get_image(&app.enterprise, &image_id).await;
}

#[tokio::test]
async fn a_link_serves_the_original_until_it_expires_and_an_update_can_revive_it() {
    let app = spawn_app().await;
    let data = crate::helpers::fixture("chelsea_451x300.png");
    let image = app
        .upload(&app.enterprise, data.clone(), "chelsea.png", "image/png")
        .await;
    let link = app
        .create_link(&app.enterprise, text(&image, "id"), 300)
        .await;
    let url = text(&link, "url").to_owned();
    assert_media_url(&app, &url, "exp", "png");

    let response = app.media(&url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        Some("image/png")
    );
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("private, max-age=300")
    );
    assert_eq!(
        response.bytes().await.unwrap().to_vec(),
        data,
        "the original's bytes"
    );

    app.advance(120);
    let response = app.media(&url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("private, max-age=180"),
        "whole seconds left"
    );

    let etag = header(response.headers(), "etag").unwrap().to_owned();
    let response = app
        .request(Method::GET, &url, None)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "valid: a 304");
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("private, max-age=180")
    );
    app.advance(181);
    let response = app.media(&url).await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body, json!({"detail": "This link has expired."}));
    // No conditional or HEAD request gets around the expiry.
    let response = app
        .request(Method::GET, &url, None)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE, "not a 304");
    let response = app.request(Method::HEAD, &url, None).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let path = format!("/api/expiring-links/{}/", text(&link, "id"));
    let (_, expired) = app.get_json(&path, &app.enterprise).await;
    assert_eq!(expired["expired"], true);
    let (_, list) = app.get_json("/api/expiring-links/", &app.enterprise).await;
    assert_eq!(list["results"][0]["expired"], true);

    // created_at + 1000 is still ahead (301 s have passed): the link works again.
    let (status, revived) = app
        .patch_json(&path, &app.enterprise, json!({"expiry_in_seconds": 1000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{revived}");
    assert_eq!(revived["expired"], false);
    assert_eq!(revived["url"], url.as_str());
    let response = app.media(&url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("private, max-age=699")
    );

    // An update whose new expiry is already past leaves it expired.
    app.advance(1000);
    let (status, still) = app
        .put_json(&path, &app.enterprise, json!({"expiry_in_seconds": 600}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["expired"], true);
    assert_eq!(app.media_status(&url).await, StatusCode::GONE);
}
