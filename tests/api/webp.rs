//! WebP thumbnails, opted into per plan with `thumbnail_formats`: validation, `webp_url`
//! next to `url`, the files served as `image/webp` at the thumbnail's size, backfills when
//! a plan gains WebP, and the key's absence for plans without it.

use imagevault_core::testing::images::solid_rgba_png;
use png::BitDepth;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, assert_media_url, content_type, create_user, field_errors, spawn_app,
};

/// Polls the image until every thumbnail is ready with a WebP URL (a bounded number of
/// times) and returns it.
async fn wait_for_webp(app: &TestApp, user: &TestUser, id: &str) -> Value {
    for _ in 0..400 {
        let image = app.get_image(user, id).await;
        let done = image["thumbnails"]
            .as_array()
            .expect("thumbnails is a list")
            .iter()
            .all(|thumbnail| thumbnail["status"] == "ready" && thumbnail["webp_url"].is_string());
        if done {
            return image;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the WebP thumbnails of {id} were not made");
}

/// A plan with WebP thumbnails at `heights`, and a user on it.
async fn webp_plan_user(app: &TestApp, name: &str, heights: &[u32]) -> (Value, TestUser) {
    let (status, plan) = app
        .post_json(
            "/api/admin/plans/",
            &app.admin,
            json!({
                "name": name,
                "thumbnail_heights": heights,
                "thumbnail_formats": ["webp", "original"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["thumbnail_formats"], json!(["original", "webp"]));
    let user = create_user(
        &app.vault,
        &format!("{name}-user").to_lowercase(),
        None,
        false,
    )
    .await;
    app.set_plan(&user, plan["id"].as_str()).await;
    (plan, user)
}

/// GETs a WebP URL: `image/webp`, decoding to `(width, height, has alpha)`.
async fn fetch_webp(app: &TestApp, url: &str) -> (u32, u32, bool) {
    let response = app.media(url).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    assert_eq!(
        content_type(response.headers()).as_deref(),
        Some("image/webp")
    );
    let bytes = response.bytes().await.expect("body read");
    let image = webp::Decoder::new(&bytes)
        .decode()
        .expect("a WebP that libwebp decodes");
    (image.width(), image.height(), image.is_alpha())
}

#[tokio::test]
async fn thumbnail_formats_are_validated_with_the_allowed_values() {
    let app = spawn_app().await;
    for (formats, expected) in [
        (json!(["webp"]), "must include “original”"),
        (
            json!(["original", "avif"]),
            "“avif” is not a thumbnail format",
        ),
        (json!(["original", "webp", "webp"]), "webp is listed twice"),
        (json!([]), "must include “original”"),
    ] {
        let (status, body) = app
            .post_json(
                "/api/admin/plans/",
                &app.admin,
                json!({"name": "Bad formats", "thumbnail_heights": [100], "thumbnail_formats": formats}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{formats}: {body}");
        let errors = field_errors(&body, "thumbnail_formats");
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{formats}: {body}"
        );
        if formats == json!(["original", "avif"]) {
            assert!(
                errors[0].contains("allowed values are original, webp"),
                "{body}"
            );
        }
    }
    let (status, body) = app
        .post_json(
            "/api/admin/plans/",
            &app.admin,
            json!({"name": "Not a list", "thumbnail_heights": [100], "thumbnail_formats": "webp"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        !field_errors(&body, "thumbnail_formats").is_empty(),
        "{body}"
    );

    // Left out: the original's format only on create, kept on update.
    let plan = app.create_plan("Plain", &[100], false, false).await;
    assert_eq!(plan["thumbnail_formats"], json!(["original"]));
    let path = format!("/api/admin/plans/{}/", plan["id"].as_str().unwrap());
    let (status, webp) = app
        .patch_json(
            &path,
            &app.admin,
            json!({"thumbnail_formats": ["original", "webp"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{webp}");
    let (status, renamed) = app
        .patch_json(&path, &app.admin, json!({"name": "Renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["thumbnail_formats"], json!(["original", "webp"]));
}

#[tokio::test]
async fn a_webp_plan_serves_webp_thumbnails_of_the_thumbnail_size() {
    let app = spawn_app().await;
    let (_, user) = webp_plan_user(&app, "Webp", &[50, 100]).await;
    for (upload, alpha) in [
        (app.upload_png(&user, 160, 120).await, false),
        (app.upload_jpeg(&user, 90, 160).await, false),
        (
            app.upload(
                &user,
                solid_rgba_png(120, 80, BitDepth::Eight, [200, 40, 10, 128]),
                "clear.png",
                "image/png",
            )
            .await,
            true,
        ),
    ] {
        let id = upload["id"].as_str().unwrap();
        for thumbnail in upload["thumbnails"].as_array().unwrap() {
            assert_eq!(
                thumbnail["webp_url"],
                Value::Null,
                "null until made: {upload}"
            );
        }
        let image = wait_for_webp(&app, &user, id).await;
        let extension = if image["format"] == "png" {
            "png"
        } else {
            "jpg"
        };
        for thumbnail in image["thumbnails"].as_array().unwrap() {
            let url = thumbnail["url"].as_str().unwrap();
            let webp_url = thumbnail["webp_url"].as_str().unwrap();
            assert_media_url(&app, url, "thumbnail", extension);
            assert_media_url(&app, webp_url, "thumbnail", "webp");
            let size = (
                u32::try_from(thumbnail["width"].as_u64().unwrap()).unwrap(),
                u32::try_from(thumbnail["height"].as_u64().unwrap()).unwrap(),
            );
            assert_eq!(fetch_webp(&app, webp_url).await, (size.0, size.1, alpha));
        }
    }
}

#[tokio::test]
async fn plans_without_webp_have_no_webp_url_key() {
    let app = spawn_app().await;
    let upload = app.upload_png(&app.premium, 300, 200).await;
    let image = app
        .wait_for_thumbnails(&app.premium, upload["id"].as_str().unwrap())
        .await;
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        assert!(thumbnail.get("webp_url").is_none(), "{image}");
        assert!(thumbnail["url"].is_string(), "{image}");
    }
}

#[tokio::test]
async fn adding_webp_to_a_plan_backfills_and_removing_it_hides_the_urls() {
    let app = spawn_app().await;
    let plan = app.create_plan("Later", &[60], false, false).await;
    let user = create_user(&app.vault, "later-user", None, false).await;
    app.set_plan(&user, plan["id"].as_str()).await;
    let upload = app.upload_png(&user, 160, 120).await;
    let id = upload["id"].as_str().unwrap();
    let before = app.wait_for_thumbnails(&user, id).await;
    assert!(
        before["thumbnails"][0].get("webp_url").is_none(),
        "{before}"
    );

    let path = format!("/api/admin/plans/{}/", plan["id"].as_str().unwrap());
    let (status, body) = app
        .patch_json(
            &path,
            &app.admin,
            json!({"thumbnail_formats": ["original", "webp"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let image = wait_for_webp(&app, &user, id).await;
    let thumbnail = &image["thumbnails"][0];
    let webp_url = thumbnail["webp_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch_webp(&app, &webp_url).await, (80, 60, false));
    assert!(thumbnail["url"].is_string());

    // Dropped: the key goes at once; the file stays until the image is deleted.
    let (status, body) = app
        .patch_json(
            &path,
            &app.admin,
            json!({"thumbnail_formats": ["original"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let image = app.get_image(&user, id).await;
    assert!(image["thumbnails"][0].get("webp_url").is_none(), "{image}");
    assert_eq!(app.media_status(&webp_url).await, StatusCode::OK);
    assert_eq!(
        app.delete(&format!("/api/images/{id}/"), &user).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.media_status(&webp_url).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_users_webp_thumbnails_are_not_visible() {
    let app = spawn_app().await;
    let (plan, owner) = webp_plan_user(&app, "Mine", &[40]).await;
    let other = create_user(&app.vault, "someone-else", None, false).await;
    app.set_plan(&other, plan["id"].as_str()).await;
    let upload = app.upload_png(&owner, 80, 80).await;
    let id = upload["id"].as_str().unwrap();
    wait_for_webp(&app, &owner, id).await;
    let (status, body) = app.get_json(&format!("/api/images/{id}/"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, page) = app.get_json("/api/images/", &other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["results"], json!([]), "{page}");
}
