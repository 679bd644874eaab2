//! Images: the upload answer, the Image object, names, raw uploads, lists and cursors,
//! delete, and thumbnails checked by decoding the bytes served.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_media_url, decode, expected_thumbnail, field_errors, fixture, header,
    jpeg_has_app1, json_response, keys, png, spawn_app, text, timestamp,
};

const IMAGE_KEYS: [&str; 13] = [
    "average_color",
    "created_at",
    "format",
    "height",
    "id",
    "metadata_removed",
    "name",
    "original",
    "placeholder",
    "size",
    "thumbnails",
    "url",
    "width",
];

/// `(max_height, width, height, status)` of each thumbnail, in order.
fn thumbnails(image: &Value) -> Vec<(u64, u64, u64, String)> {
    image["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(
                keys(t),
                ["height", "max_height", "status", "url", "width"],
                "{t}"
            );
            (
                t["max_height"].as_u64().unwrap(),
                t["width"].as_u64().unwrap(),
                t["height"].as_u64().unwrap(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pending(sizes: &[(u64, u64, u64)]) -> Vec<(u64, u64, u64, String)> {
    sizes
        .iter()
        .map(|&(h, w, ht)| (h, w, ht, "pending".to_owned()))
        .collect()
}

fn ready(sizes: &[(u64, u64, u64)]) -> Vec<(u64, u64, u64, String)> {
    sizes
        .iter()
        .map(|&(h, w, ht)| (h, w, ht, "ready".to_owned()))
        .collect()
}

#[tokio::test]
async fn an_upload_answers_201_with_location_and_the_image_object() {
    let app = spawn_app().await;
    let data = fixture("storm_1920x1280_orient6.jpg");
    let response = app
        .upload_multipart(
            &app.enterprise,
            data.clone(),
            "storm_1920x1280_orient6.jpg",
            "image/jpeg",
            None,
        )
        .await;
    let location = header(response.headers(), "location").map(str::to_owned);
    let (status, image) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{image}");

    assert_eq!(keys(&image), IMAGE_KEYS);
    let id = text(&image, "id");
    let uuid = uuid::Uuid::try_parse(id).expect("the id is a UUID");
    assert_eq!(uuid.hyphenated().to_string(), id);
    let url = app.url(&format!("/api/images/{id}/"));
    assert_eq!(image["url"], url.as_str());
    assert_eq!(location.as_deref(), Some(url.as_str()), "Location");
    assert_eq!(image["name"], "storm_1920x1280_orient6.jpg");
    assert_eq!(image["format"], "jpeg");
    assert_eq!(
        (&image["width"], &image["height"]),
        (&json!(1280), &json!(1920)),
        "display size, with EXIF orientation 6 applied"
    );
    assert_eq!(image["size"], data.len());
    assert!(
        image["metadata_removed"].is_null(),
        "the plan stores uploads as they come"
    );
    let created_at = text(&image, "created_at");
    assert_eq!(timestamp(created_at), app.now());
    assert!(
        created_at.len() == 20 && created_at.as_bytes()[10] == b'T',
        "RFC 3339 in UTC, like 2026-11-23T20:00:00Z: {created_at}"
    );
    assert_media_url(&app, text(&image, "original"), "imageupload", "jpg");
    assert_eq!(
        thumbnails(&image),
        pending(&[(200, 133, 200), (400, 267, 400)]),
        "exactly the plan's heights, ascending, pending right after the upload"
    );
    assert!(image["thumbnails"][0]["url"].is_null());
    assert!(image["thumbnails"][1]["url"].is_null());

    let image = app.wait_for_thumbnails(&app.enterprise, id).await;
    assert_eq!(
        thumbnails(&image),
        ready(&[(200, 133, 200), (400, 267, 400)])
    );
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        assert_media_url(&app, text(thumbnail, "url"), "thumbnail", "jpg");
    }
    // The original's URL serves the uploaded bytes unchanged.
    assert_eq!(app.media_bytes(text(&image, "original")).await, data);

    // GET returns the same object.
    assert_eq!(app.get_image(&app.enterprise, id).await, image);
}

#[tokio::test]
async fn the_original_key_is_present_only_for_plans_with_original_links() {
    let app = spawn_app().await;
    let basic = app.upload_png(&app.basic, 300, 250).await;
    assert!(basic.get("original").is_none(), "no key at all: {basic}");
    let mut without_original: Vec<&str> = IMAGE_KEYS.to_vec();
    without_original.retain(|key| *key != "original");
    assert_eq!(keys(&basic), without_original);
    assert_eq!(thumbnails(&basic), pending(&[(200, 240, 200)]));
    assert_eq!(basic["format"], "png");

    let premium = app.upload_png(&app.premium, 300, 250).await;
    assert_media_url(&app, text(&premium, "original"), "imageupload", "png");
    assert_eq!(
        thumbnails(&premium),
        pending(&[(200, 240, 200), (400, 300, 250)])
    );
    let basic = app
        .wait_for_thumbnails(&app.basic, text(&basic, "id"))
        .await;
    assert!(basic.get("original").is_none());
    assert_eq!(thumbnails(&basic), ready(&[(200, 240, 200)]));
}

#[tokio::test]
async fn a_raw_body_upload_is_accepted_with_an_optional_name() {
    let app = spawn_app().await;
    let cases = [
        (png(50, 40), "image/png", "?name=cat.png", "cat.png", "png"),
        (png(50, 40), "image/png", "", "image.png", "png"),
        (
            crate::helpers::jpeg(50, 40),
            "image/jpeg",
            "",
            "image.jpg",
            "jpeg",
        ),
        (
            crate::helpers::jpeg(50, 40),
            "image/jpeg",
            "?name=holiday%20photo.jpeg",
            "holiday photo.jpeg",
            "jpeg",
        ),
    ];
    for (data, content_type, query, name, format) in cases {
        let size = data.len();
        let response = app
            .upload_raw(&app.premium, data, content_type, query)
            .await;
        let location = header(response.headers(), "location").map(str::to_owned);
        let (status, image) = json_response(response).await;
        assert_eq!(status, StatusCode::CREATED, "{query}: {image}");
        assert_eq!(image["name"], name);
        assert_eq!(image["format"], format);
        assert_eq!(image["size"], size);
        assert_eq!(
            (&image["width"], &image["height"]),
            (&json!(50), &json!(40))
        );
        assert_eq!(location.as_deref(), image["url"].as_str());
    }
}

#[tokio::test]
async fn the_default_name_is_the_file_name_without_its_path_and_at_most_255_characters() {
    let app = spawn_app().await;
    let long = format!("{}.png", "a".repeat(300));
    let cases = [
        ("cat.png", None, "cat.png"),
        ("holiday/2026/cat.png", None, "cat.png"),
        ("C:\\Users\\me\\Pictures\\dog.png", None, "dog.png"),
        ("ignored.png", Some("Explicit name"), "Explicit name"),
    ];
    for (file_name, name, expected) in cases {
        let response = app
            .upload_multipart(&app.basic, png(20, 20), file_name, "image/png", name)
            .await;
        let (status, image) = json_response(response).await;
        assert_eq!(status, StatusCode::CREATED, "{file_name}: {image}");
        assert_eq!(image["name"], expected, "{file_name}");
    }

    // A file part without a file name: `image.<ext>`.
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(crate::helpers::jpeg(20, 20)),
    );
    let response = app
        .request(Method::POST, "/api/images/", Some(&app.basic))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, image) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    assert_eq!(image["name"], "image.jpg");

    let response = app
        .upload_multipart(&app.basic, png(20, 20), &long, "image/png", None)
        .await;
    let (status, image) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(text(&image, "name"), &long[..255], "cut to 255 characters");

    let exactly = "n".repeat(255);
    let response = app
        .upload_multipart(
            &app.basic,
            png(20, 20),
            "x.png",
            "image/png",
            Some(&exactly),
        )
        .await;
    let (status, image) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    assert_eq!(image["name"], exactly.as_str());
}

#[tokio::test]
async fn a_name_over_255_characters_or_blank_is_a_400_on_name() {
    let app = spawn_app().await;
    let name = "n".repeat(256);
    let response = app
        .upload_multipart(&app.basic, png(20, 20), "x.png", "image/png", Some(&name))
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["name"]);
    assert!(field_errors(&body, "name")[0].contains("255"), "{body}");

    let response = app
        .upload_raw(
            &app.basic,
            png(20, 20),
            "image/png",
            &format!("?name={name}"),
        )
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["name"]);

    for blank in ["", "   "] {
        let response = app
            .upload_multipart(&app.basic, png(20, 20), "x.png", "image/png", Some(blank))
            .await;
        let (status, body) = json_response(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{blank:?}: {body}");
        assert_eq!(keys(&body), ["name"]);
    }

    let (_, list) = app.get_json("/api/images/", &app.basic).await;
    assert_eq!(list["results"], json!([]), "nothing was stored");
}

/// Uploads `count` images one clock second apart and waits for their thumbnails; returns
/// their ids, oldest first.
async fn upload_series(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let image = app.upload_png(&app.basic, 10 + i as u32, 10).await;
        ids.push(text(&image, "id").to_owned());
        app.advance(1);
    }
    for id in &ids {
        app.wait_for_thumbnails(&app.basic, id).await;
    }
    ids
}

fn ids_of(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| text(image, "id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_is_newest_first_and_walks_both_ways_by_cursor() {
    let app = spawn_app().await;
    let mut ids = upload_series(&app, 5).await;
    ids.reverse();

    let (status, all) = app.get_json("/api/images/", &app.basic).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&all), ["next", "previous", "results"]);
    assert_eq!(ids_of(&all), ids, "newest first, default limit 20");
    assert!(all["next"].is_null() && all["previous"].is_null());
    for image in all["results"].as_array().unwrap() {
        assert_eq!(image, &app.get_image(&app.basic, text(image, "id")).await);
    }

    // Forward with ?limit=2.
    let (status, mut page) = app.get_json("/api/images/?limit=2", &app.basic).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page["previous"].is_null(),
        "previous is null on the first page"
    );
    let mut pages = vec![ids_of(&page)];
    let mut last = page.clone();
    while let Some(next) = page["next"].as_str() {
        assert!(
            next.starts_with(&app.url("/api/images/?")),
            "absolute, from the public URL: {next}"
        );
        assert!(next.contains("limit=2"), "keeps the limit: {next}");
        let (status, following) = app.get_json(next, &app.basic).await;
        assert_eq!(status, StatusCode::OK, "{following}");
        assert!(
            following["previous"].is_string(),
            "a later page has a previous"
        );
        pages.push(ids_of(&following));
        assert!(pages.len() <= 5, "the walk ends");
        last = following.clone();
        page = following;
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), ids);

    // Back again with previous.
    let mut backwards = vec![ids_of(&last)];
    let mut page = last;
    while let Some(previous) = page["previous"].as_str() {
        assert!(
            previous.starts_with(&app.url("/api/images/?")),
            "{previous}"
        );
        let (status, earlier) = app.get_json(previous, &app.basic).await;
        assert_eq!(status, StatusCode::OK, "{earlier}");
        assert!(earlier["next"].is_string());
        backwards.push(ids_of(&earlier));
        assert!(backwards.len() <= 5, "the walk ends");
        page = earlier;
    }
    backwards.reverse();
    assert_eq!(backwards, pages, "the same pages, back to the first");
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_400() {
    let app = spawn_app().await;
    upload_series(&app, 3).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=eyJ4IjoxfQ", "cursor"),
    ] {
        let (status, body) = app
            .get_json(&format!("/api/images/?{query}"), &app.basic)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(!field_errors(&body, field).is_empty());
    }
    for limit in [1, 100] {
        let (status, page) = app
            .get_json(&format!("/api/images/?limit={limit}"), &app.basic)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["results"].as_array().unwrap().len(), limit.min(3));
    }
    // A cursor from another list is not a cursor of this one.
    let image = app.upload_png(&app.enterprise, 10, 10).await;
    for seconds in [300, 400] {
        app.create_link(&app.enterprise, text(&image, "id"), seconds)
            .await;
        app.advance(1);
    }
    let (_, links) = app
        .get_json("/api/expiring-links/?limit=1", &app.enterprise)
        .await;
    let next = text(&links, "next");
    let cursor = next.split("cursor=").nth(1).unwrap();
    let (status, body) = app
        .get_json(&format!("/api/images/?cursor={cursor}"), &app.enterprise)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!field_errors(&body, "cursor").is_empty());
}

#[tokio::test]
async fn delete_removes_the_image_its_files_and_its_links() {
    let app = spawn_app().await;
    let user = &app.enterprise;
    let image = app.upload_png(user, 500, 420).await;
    let id = text(&image, "id");
    let image = app.wait_for_thumbnails(user, id).await;
    let link = app.create_link(user, id, 3600).await;
    let mut media = vec![
        text(&image, "original").to_owned(),
        text(&link, "url").to_owned(),
    ];
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        media.push(text(thumbnail, "url").to_owned());
    }
    for url in &media {
        assert_eq!(app.media_status(url).await, StatusCode::OK, "{url}");
    }

    assert_eq!(app.media_files(), 3, "the original and two thumbnails");
    assert_eq!(
        app.delete(&format!("/api/images/{id}/"), user).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.media_files(), 0, "the files are deleted");

    for url in &media {
        assert_eq!(app.media_status(url).await, StatusCode::NOT_FOUND, "{url}");
    }
    let (status, body) = app.get_json(&format!("/api/images/{id}/"), user).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
    let (status, _) = app
        .get_json(&format!("/api/expiring-links/{}/", text(&link, "id")), user)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "its links are gone");
    let (_, links) = app.get_json("/api/expiring-links/", user).await;
    assert_eq!(links["results"], json!([]));
    let (_, images) = app.get_json("/api/images/", user).await;
    assert_eq!(images["results"], json!([]));
    assert_eq!(
        app.delete(&format!("/api/images/{id}/"), user).await,
        StatusCode::NOT_FOUND,
        "a second delete finds nothing"
    );
}

#[tokio::test]
async fn unknown_and_malformed_image_ids_are_404() {
    let app = spawn_app().await;
    for id in [
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
        "123".to_owned(),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let (status, body) = app
                .call(
                    method.clone(),
                    &format!("/api/images/{id}/"),
                    Some(&app.premium),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {id}");
            assert_eq!(body, json!({"detail": "Not found."}));
        }
    }
}

/// A file to upload: its bytes, file name, declared type, display size, and the expected
/// sizes of its 200 and 400 thumbnails.
type Case = (
    Vec<u8>,
    &'static str,
    &'static str,
    (u32, u32),
    [(u32, u32); 2],
);

/// Every thumbnail served decodes to the advertised size, `round_half_up(W * h / H)` wide,
/// never upscaled, in the original's format, and JPEG thumbnails carry no EXIF.
#[tokio::test]
async fn served_thumbnails_have_the_advertised_size_and_format_and_no_metadata() {
    let app = spawn_app().await;
    let user = &app.enterprise;
    let storm = fixture("storm_1920x1280_orient6.jpg");
    assert!(jpeg_has_app1(&storm), "the fixture carries EXIF");
    let cases: [Case; 5] = [
        // Displayed 1280x1920 (EXIF orientation 6).
        (
            storm,
            "storm.jpg",
            "image/jpeg",
            (1280, 1920),
            [(133, 200), (267, 400)],
        ),
        // Shorter than 400: the 400 thumbnail keeps the original size.
        (
            fixture("chelsea_451x300.png"),
            "chelsea.png",
            "image/png",
            (451, 300),
            [(301, 200), (451, 300)],
        ),
        // 401 * 200 / 400 = 200.5 rounds half up to 201; 400 high is not upscaled.
        (
            png(401, 400),
            "half.png",
            "image/png",
            (401, 400),
            [(201, 200), (401, 400)],
        ),
        (
            fixture("grey_2560x1600.jpg"),
            "grey.jpg",
            "image/jpeg",
            (2560, 1600),
            [(320, 200), (640, 400)],
        ),
        // 1 * 200 / 1000 rounds to 0: at least 1.
        (
            png(1, 1000),
            "thin.png",
            "image/png",
            (1, 1000),
            [(1, 200), (1, 400)],
        ),
    ];
    let mut uploaded = Vec::new();
    for (data, file_name, mime, size, expected) in cases {
        let format = image::guess_format(&data).unwrap();
        let image = app.upload(user, data, file_name, mime).await;
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (Some(u64::from(size.0)), Some(u64::from(size.1))),
            "{file_name}"
        );
        for (&(width, height), max_height) in expected.iter().zip([200, 400]) {
            assert_eq!(
                expected_thumbnail(size.0, size.1, max_height),
                (width, height),
                "the test's own expectation for {file_name} at {max_height}"
            );
        }
        uploaded.push((text(&image, "id").to_owned(), file_name, format, expected));
    }
    for (id, file_name, format, expected) in uploaded {
        let image = app.wait_for_thumbnails(user, &id).await;
        for (thumbnail, (width, height)) in
            image["thumbnails"].as_array().unwrap().iter().zip(expected)
        {
            assert_eq!(thumbnail["status"], "ready", "{file_name}: {thumbnail}");
            assert_eq!(
                (thumbnail["width"].as_u64(), thumbnail["height"].as_u64()),
                (Some(u64::from(width)), Some(u64::from(height))),
                "{file_name}: advertised size"
            );
            let url = text(thumbnail, "url");
            let response = app.media(url).await;
            assert_eq!(response.status(), StatusCode::OK);
            let mime = if format == image::ImageFormat::Png {
                "image/png"
            } else {
                "image/jpeg"
            };
            assert_eq!(header(response.headers(), "content-type"), Some(mime));
            let bytes = response.bytes().await.unwrap();
            let (served_format, served_width, served_height) = decode(&bytes);
            assert_eq!(
                served_format, format,
                "{file_name}: same format as the original"
            );
            assert_eq!(
                (served_width, served_height),
                (width, height),
                "{file_name} at {}: decoded size",
                thumbnail["max_height"]
            );
            if format == image::ImageFormat::Jpeg {
                assert!(
                    !jpeg_has_app1(&bytes),
                    "{file_name}: no EXIF in the thumbnail"
                );
            }
        }
    }
}

/// `HEAD` of the list and of an image answers like `GET`, without a body.
#[tokio::test]
async fn head_of_the_list_and_detail_answer_like_get_without_a_body() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.basic, 20, 20).await;
    for path in [
        "/api/images/".to_owned(),
        format!("/api/images/{}/", text(&image, "id")),
    ] {
        let response = app
            .request(Method::HEAD, &path, Some(&app.basic))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "HEAD {path}");
        assert!(response.bytes().await.unwrap().is_empty());
    }
}
