//! Plans: the admin API for them, and plan changes (a user's new plan, an edited plan)
//! taking effect at once, with thumbnails for new heights made in the background.

use imagevault::PlanId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, TestApp, TestUser, decode, header, json_response, keys, spawn_app, spawn_app_with,
    text,
};

const PLAN_KEYS: [&str; 9] = [
    "expiring_links",
    "id",
    "max_bytes",
    "max_images",
    "name",
    "original_link",
    "strip_metadata",
    "thumbnail_formats",
    "thumbnail_heights",
];

/// `(max_height, width, height, status)` of each thumbnail.
fn thumbnails(image: &Value) -> Vec<(u64, u64, u64, String)> {
    image["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["max_height"].as_u64().unwrap(),
                t["width"].as_u64().unwrap(),
                t["height"].as_u64().unwrap(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn heights(image: &Value) -> Vec<u64> {
    thumbnails(image).into_iter().map(|t| t.0).collect()
}

/// Every thumbnail is ready and serves an image of its advertised size.
async fn assert_ready_and_served(app: &TestApp, image: &Value) {
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        assert_eq!(thumbnail["status"], "ready", "{thumbnail}");
        let bytes = app.media_bytes(text(thumbnail, "url")).await;
        let (_, width, height) = decode(&bytes);
        assert_eq!(
            (Some(u64::from(width)), Some(u64::from(height))),
            (thumbnail["width"].as_u64(), thumbnail["height"].as_u64()),
            "{thumbnail}"
        );
    }
}

#[tokio::test]
async fn admins_list_create_read_update_and_delete_plans() {
    let app = spawn_app().await;
    let (status, page) = app.get_json("/api/admin/plans/", &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&page), ["next", "previous", "results"]);
    let builtin = |id: PlanId, name: &str, heights: Value, original: bool, expiring: bool| {
        json!({
            "id": id.to_string(),
            "name": name,
            "thumbnail_heights": heights,
            "thumbnail_formats": ["original"],
            "original_link": original,
            "expiring_links": expiring,
            "max_images": null,
            "max_bytes": null,
            "strip_metadata": false,
        })
    };
    let results = page["results"].as_array().unwrap();
    for plan in [
        builtin(PlanId::BASIC, "Basic", json!([200]), false, false),
        builtin(PlanId::PREMIUM, "Premium", json!([200, 400]), true, false),
        builtin(
            PlanId::ENTERPRISE,
            "Enterprise",
            json!([200, 400]),
            true,
            true,
        ),
    ] {
        assert!(results.contains(&plan), "{plan} in {page}");
    }

    // Create: heights echoed sorted.
    let response = app
        .request(Method::POST, "/api/admin/plans/", Some(&app.admin))
        .json(&json!({
            "name": "Custom",
            "thumbnail_heights": [300, 100, 200],
            "original_link": true,
            "expiring_links": false,
        }))
        .send()
        .await
        .unwrap();
    let location = header(response.headers(), "location").map(str::to_owned);
    let (status, plan) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(keys(&plan), PLAN_KEYS);
    assert_eq!(plan["name"], "Custom");
    assert_eq!(plan["thumbnail_heights"], json!([100, 200, 300]));
    assert_eq!(plan["original_link"], true);
    assert_eq!(plan["expiring_links"], false);
    let path = format!("/api/admin/plans/{}/", text(&plan, "id"));
    if let Some(location) = location {
        assert_eq!(location, app.url(&path));
    }
    let (status, read) = app.get_json(&path, &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, plan);
    let (_, page) = app.get_json("/api/admin/plans/", &app.admin).await;
    assert!(page["results"].as_array().unwrap().contains(&plan));

    // Form data works as well as JSON, with a repeated field for the heights.
    let response = app
        .request(Method::POST, "/api/admin/plans/", Some(&app.admin))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=From+a+form&thumbnail_heights=300&thumbnail_heights=100&original_link=true")
        .send()
        .await
        .unwrap();
    let (status, form_plan) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{form_plan}");
    assert_eq!(form_plan["name"], "From a form");
    assert_eq!(form_plan["thumbnail_heights"], json!([100, 300]));
    assert_eq!(form_plan["original_link"], true);
    assert_eq!(form_plan["expiring_links"], false);

    // The extremes of a height are fine.
    let extremes = app
        .create_plan("Extremes", &[10_000, 1], false, false)
        .await;
    assert_eq!(extremes["thumbnail_heights"], json!([1, 10_000]));

    // Taken names, on create and on update.
    for name in ["Custom", "Basic"] {
        let (status, body) = app
            .post_json(
                "/api/admin/plans/",
                &app.admin,
                json!({"name": name, "thumbnail_heights": [100]}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(keys(&body), ["name"]);
    }
    let (status, body) = app
        .patch_json(&path, &app.admin, json!({"name": "Premium"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["name"]);

    // Bad heights.
    for heights in [
        json!([]),
        json!([0]),
        json!([10_001]),
        json!([-5]),
        json!([100, 100]),
        json!(["abc"]),
        json!("abc"),
        json!(null),
    ] {
        let (status, body) = app
            .post_json(
                "/api/admin/plans/",
                &app.admin,
                json!({"name": "Bad", "thumbnail_heights": heights}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{heights}: {body}");
        assert_eq!(keys(&body), ["thumbnail_heights"], "{heights}");
        let (status, body) = app
            .patch_json(&path, &app.admin, json!({"thumbnail_heights": heights}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "PATCH {heights}: {body}");
    }
    // Below and above the range alike (a negative number is no u32), in the core's words.
    for height in [-5_i64, 10_001] {
        let (_, body) = app
            .post_json(
                "/api/admin/plans/",
                &app.admin,
                json!({"name": "Bad", "thumbnail_heights": [height]}),
            )
            .await;
        let message = body["thumbnail_heights"][0].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("Thumbnail height {height} is out of range"))
                && message.contains("between 1 and 10000"),
            "{body}"
        );
    }
    let (status, body) = app
        .post_json("/api/admin/plans/", &app.admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["name", "thumbnail_heights"]);

    // PUT replaces what it names; flags left out keep their values, as a DRF
    // ModelSerializer leaves fields that are not required alone.
    let (status, before) = app.get_json(&path, &app.admin).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    let (status, plan) = app
        .put_json(
            &path,
            &app.admin,
            json!({"name": "Custom 2", "thumbnail_heights": [500, 50]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(keys(&plan), PLAN_KEYS);
    assert_eq!(plan["name"], "Custom 2");
    assert_eq!(plan["thumbnail_heights"], json!([50, 500]));
    assert_eq!(plan["original_link"], before["original_link"]);
    assert_eq!(plan["expiring_links"], before["expiring_links"]);
    let (status, plan) = app
        .put_json(
            &path,
            &app.admin,
            json!({"name": "Custom 2", "thumbnail_heights": [500, 50], "original_link": !before["original_link"].as_bool().unwrap()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        plan["original_link"],
        !before["original_link"].as_bool().unwrap()
    );
    let (status, body) = app
        .put_json(&path, &app.admin, json!({"name": "Only"}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "PUT needs every field: {body}"
    );
    assert_eq!(keys(&body), ["thumbnail_heights"]);

    // PATCH changes only what it names.
    let (status, plan) = app
        .patch_json(&path, &app.admin, json!({"expiring_links": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["name"], "Custom 2");
    assert_eq!(plan["thumbnail_heights"], json!([50, 500]));
    assert_eq!(plan["expiring_links"], true);
    assert_eq!(app.get_json(&path, &app.admin).await.1, plan);

    // A plan in use cannot be deleted: 409.
    app.set_plan(&app.basic, Some(text(&plan, "id"))).await;
    let response = app
        .request(Method::DELETE, &path, Some(&app.admin))
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(keys(&body), ["detail"]);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/admin/plans/{}/", PlanId::PREMIUM),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a built-in plan in use");

    // Once unused, it can.
    app.set_plan(&app.basic, Some(&PlanId::BASIC.to_string()))
        .await;
    assert_eq!(app.delete(&path, &app.admin).await, StatusCode::NO_CONTENT);
    let (status, body) = app.get_json(&path, &app.admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
    assert_eq!(app.delete(&path, &app.admin).await, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get_json("/api/admin/plans/not-a-uuid/", &app.admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A Premium user with one 400x300 image whose thumbnails are ready.
async fn premium_with_image(app: &TestApp) -> (&TestUser, String) {
    let user = &app.premium;
    let image = app.upload_png(user, 400, 300).await;
    let id = text(&image, "id").to_owned();
    let image = app.wait_for_thumbnails(user, &id).await;
    assert_eq!(heights(&image), [200, 400]);
    (user, id)
}

#[tokio::test]
async fn a_users_new_plan_shows_at_once_and_its_thumbnails_are_made() {
    let app = spawn_app().await;
    let (user, id) = premium_with_image(&app).await;
    let tiny = app.create_plan("Tiny", &[120, 50], false, false).await;

    app.set_plan(user, Some(text(&tiny, "id"))).await;
    let image = app.get_image(user, &id).await;
    assert_eq!(heights(&image), [50, 120], "exactly the new plan's heights");
    assert!(
        image.get("original").is_none(),
        "the new plan has no original link"
    );
    for (_, _, _, status) in thumbnails(&image) {
        assert!(status == "pending" || status == "ready", "{status}");
    }
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        assert_eq!(thumbnail["url"].is_null(), thumbnail["status"] == "pending");
    }
    let image = app.wait_for_thumbnails(user, &id).await;
    assert_eq!(
        thumbnails(&image),
        [
            (50, 67, 50, "ready".to_owned()),
            (120, 160, 120, "ready".to_owned())
        ]
    );
    assert_ready_and_served(&app, &image).await;
    let (_, list) = app.get_json("/api/images/", user).await;
    assert_eq!(list["results"][0], image, "the list shows the same");
}

#[tokio::test]
async fn an_edited_plan_shows_at_once_for_its_users_and_its_thumbnails_are_made() {
    let app = spawn_app().await;
    let (user, id) = premium_with_image(&app).await;
    let plan = app.create_plan("Growing", &[50], false, false).await;
    app.set_plan(user, Some(text(&plan, "id"))).await;
    app.wait_for_thumbnails(user, &id).await;

    let (status, _) = app
        .patch_json(
            &format!("/api/admin/plans/{}/", text(&plan, "id")),
            &app.admin,
            json!({"thumbnail_heights": [250, 50, 120], "original_link": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let image = app.get_image(user, &id).await;
    assert_eq!(heights(&image), [50, 120, 250]);
    assert!(image["original"].is_string(), "the original is shown now");
    let image = app.wait_for_thumbnails(user, &id).await;
    assert_eq!(
        thumbnails(&image),
        [
            (50, 67, 50, "ready".to_owned()),
            (120, 160, 120, "ready".to_owned()),
            (250, 333, 250, "ready".to_owned())
        ]
    );
    assert_ready_and_served(&app, &image).await;
    assert_eq!(
        app.media_status(text(&image, "original")).await,
        StatusCode::OK
    );

    // Removing heights hides them.
    let (status, _) = app
        .patch_json(
            &format!("/api/admin/plans/{}/", text(&plan, "id")),
            &app.admin,
            json!({"thumbnail_heights": [120]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let image = app.get_image(user, &id).await;
    assert_eq!(thumbnails(&image), [(120, 160, 120, "ready".to_owned())]);
}

/// With the worker stopped, new heights are exactly `pending` until the jobs run.
#[tokio::test]
async fn new_heights_are_pending_until_the_worker_makes_them() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let user = &app.basic;
    let image = app.upload_png(user, 400, 300).await;
    let id = text(&image, "id").to_owned();
    assert_eq!(thumbnails(&image), [(200, 267, 200, "pending".to_owned())]);
    run_jobs_until_ready(&app, user, &id).await;
    let image = app.get_image(user, &id).await;
    assert_eq!(thumbnails(&image), [(200, 267, 200, "ready".to_owned())]);

    let plan = app
        .create_plan("Three", &[100, 200, 300], false, false)
        .await;
    app.set_plan(user, Some(text(&plan, "id"))).await;
    let image = app.get_image(user, &id).await;
    assert_eq!(
        thumbnails(&image),
        [
            (100, 133, 100, "pending".to_owned()),
            (200, 267, 200, "ready".to_owned()),
            (300, 400, 300, "pending".to_owned())
        ]
    );
    assert!(image["thumbnails"][0]["url"].is_null());
    assert!(image["thumbnails"][1]["url"].is_string());

    run_jobs_until_ready(&app, user, &id).await;
    let image = app.get_image(user, &id).await;
    assert_eq!(
        thumbnails(&image),
        [
            (100, 133, 100, "ready".to_owned()),
            (200, 267, 200, "ready".to_owned()),
            (300, 400, 300, "ready".to_owned())
        ]
    );
    assert_ready_and_served(&app, &image).await;
}

/// Runs the queued jobs in the test (the app has no worker) until no thumbnail of the
/// image is pending; the reconciler may queue work in between, so this loops, boundedly.
async fn run_jobs_until_ready(app: &TestApp, user: &TestUser, id: &str) {
    for _ in 0..200 {
        app.vault.run_pending_jobs(1_000).await.unwrap();
        let image = app.get_image(user, id).await;
        if thumbnails(&image).iter().all(|t| t.3 != "pending") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("thumbnails of {id} still pending");
}

#[tokio::test]
async fn links_work_only_while_the_owners_plan_has_expiring_links() {
    let app = spawn_app().await;
    let user = &app.enterprise;
    let image = app.upload_png(user, 60, 40).await;
    let link = app.create_link(user, text(&image, "id"), 3000).await;
    let url = text(&link, "url").to_owned();
    let link_path = format!("/api/expiring-links/{}/", text(&link, "id"));
    let enterprise = format!("/api/admin/plans/{}/", PlanId::ENTERPRISE);
    assert_eq!(app.media_status(&url).await, StatusCode::OK);

    // The plan loses the feature: the URL is 404 and the link API 403.
    let (status, _) = app
        .patch_json(&enterprise, &app.admin, json!({"expiring_links": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.media_status(&url).await, StatusCode::NOT_FOUND);
    let (status, _) = app.get_json(&link_path, user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.get_image(user, text(&image, "id")).await;

    // It gains it back before expiry: the same URL works again.
    let (status, _) = app
        .patch_json(&enterprise, &app.admin, json!({"expiring_links": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.media_status(&url).await, StatusCode::OK);

    // Likewise when the user moves to a plan without links, and back.
    app.set_plan(user, Some(&PlanId::PREMIUM.to_string())).await;
    assert_eq!(app.media_status(&url).await, StatusCode::NOT_FOUND);
    app.set_plan(user, Some(&PlanId::ENTERPRISE.to_string()))
        .await;
    assert_eq!(app.media_status(&url).await, StatusCode::OK);
    let (status, read) = app.get_json(&link_path, user).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, link);

    // But not after its expiry.
    app.advance(3001);
    let response = app.media(&url).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let (_, body) = json_response(response).await;
    assert_eq!(body, json!({"detail": "This link has expired."}));
}
