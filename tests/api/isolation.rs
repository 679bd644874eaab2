//! Users never see, change or learn about each other's images and links: every endpoint
//! taking another user's id answers as for an unknown id (404, never 403), and lists show
//! only the caller's own items.

use imagevault::PlanId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, create_user, spawn_app, text};

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| text(item, "id").to_owned())
        .collect()
}

async fn list(app: &TestApp, user: &TestUser, path: &str) -> Vec<String> {
    let (status, page) = app.get_json(path, user).await;
    assert_eq!(status, StatusCode::OK, "{path}: {page}");
    ids(&page)
}

#[tokio::test]
async fn another_users_ids_are_404_on_every_endpoint_and_lists_show_only_ones_own() {
    let app = spawn_app().await;
    let alice = &app.enterprise;
    let bob = create_user(&app.vault, "bob", Some(PlanId::ENTERPRISE), false).await;

    let alice_image = app.upload_png(alice, 30, 30).await;
    let alice_image_id = text(&alice_image, "id").to_owned();
    let alice_link = app.create_link(alice, &alice_image_id, 900).await;
    let alice_link_id = text(&alice_link, "id").to_owned();
    let bob_image = app.upload_png(&bob, 40, 40).await;
    let bob_link = app.create_link(&bob, text(&bob_image, "id"), 900).await;

    let image_path = format!("/api/images/{alice_image_id}/");
    let link_path = format!("/api/expiring-links/{alice_link_id}/");
    let unknown_image = format!("/api/images/{}/", uuid::Uuid::new_v4());
    let unknown_link = format!("/api/expiring-links/{}/", uuid::Uuid::new_v4());
    let update = json!({"expiry_in_seconds": 1200});
    let calls = [
        (Method::GET, &image_path, None),
        (Method::DELETE, &image_path, None),
        (Method::GET, &link_path, None),
        (Method::PUT, &link_path, Some(update.clone())),
        (Method::PATCH, &link_path, Some(update.clone())),
        (Method::DELETE, &link_path, None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app
            .call(method.clone(), path, Some(&bob), body.clone())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        // Exactly what an unknown id gets.
        let unknown = if path.starts_with("/api/images/") {
            &unknown_image
        } else {
            &unknown_link
        };
        let (unknown_status, unknown_answer) =
            app.call(method.clone(), unknown, Some(&bob), body).await;
        assert_eq!(
            (status, &answer),
            (unknown_status, &unknown_answer),
            "{method} {path}"
        );
        assert_eq!(answer, json!({"detail": "Not found."}));
    }

    // A link to someone else's image cannot be made: 400 on base_image, as for an unknown id.
    let (status, answer) = app
        .post_json(
            "/api/expiring-links/",
            &bob,
            json!({"base_image": alice_image_id, "expiry_in_seconds": 600}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.get("base_image").is_some(), "{answer}");

    // Lists.
    assert_eq!(
        list(&app, &bob, "/api/images/").await,
        [text(&bob_image, "id")]
    );
    assert_eq!(
        list(&app, &bob, "/api/expiring-links/").await,
        [text(&bob_link, "id")]
    );
    assert!(
        list(
            &app,
            &bob,
            &format!("/api/expiring-links/?base_image={alice_image_id}")
        )
        .await
        .is_empty()
    );
    assert_eq!(
        list(&app, alice, "/api/images/").await,
        [alice_image_id.as_str()]
    );
    assert_eq!(
        list(&app, alice, "/api/expiring-links/").await,
        [alice_link_id.as_str()]
    );

    // Alice's things are untouched by Bob's attempts.
    let (_, link) = app.get_json(&link_path, alice).await;
    assert_eq!(link, alice_link);
    assert_eq!(app.media_status(text(&link, "url")).await, StatusCode::OK);
    app.get_image(alice, &alice_image_id).await;

    // Basic and Premium users likewise see only their own images.
    for user in [&app.basic, &app.premium] {
        assert!(list(&app, user, "/api/images/").await.is_empty());
        let (status, _) = app.get_json(&image_path, user).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn an_admin_has_no_access_to_other_users_images_through_the_image_api() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.premium, 30, 30).await;
    let admin = create_user(&app.vault, "plannedadmin", Some(PlanId::ENTERPRISE), true).await;
    assert!(list(&app, &admin, "/api/images/").await.is_empty());
    let (status, _) = app
        .get_json(&format!("/api/images/{}/", text(&image, "id")), &admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
