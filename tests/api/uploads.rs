//! Rejected uploads: 400 `{"image": [...]}` naming the detected type or the problem, for
//! missing, empty, foreign, truncated, corrupt and oversized-by-header files; the content
//! decides, not the file name or the declared type.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    SHORT_IDAT, TestApp, crafted_png, field_errors, jpeg, json_response, keys, png, spawn_app, text,
};

/// A 1x1 GIF.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

const HTML: &[u8] =
    b"<!DOCTYPE html>\n<html><head><title>x</title></head><body>not an image</body></html>\n";

/// Uploads `data` as `file_name` (declared `image/png`) and returns the `image` messages
/// of the 400, lowercased.
async fn rejected(app: &TestApp, data: Vec<u8>, file_name: &str) -> String {
    let response = app
        .upload_multipart(&app.premium, data, file_name, "image/png", None)
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{file_name}: {body}");
    assert_eq!(keys(&body), ["image"], "{file_name}");
    field_errors(&body, "image").join(" ").to_lowercase()
}

async fn nothing_stored(app: &TestApp) {
    let (_, list) = app.get_json("/api/images/", &app.premium).await;
    assert_eq!(list["results"], json!([]));
    assert_eq!(app.media_files(), 0, "no file left behind");
}

#[tokio::test]
async fn a_missing_or_empty_file_is_a_400_on_image() {
    let app = spawn_app().await;

    // A form without the image field.
    let form = reqwest::multipart::Form::new().text("name", "cat.png");
    let response = app
        .request(reqwest::Method::POST, "/api/images/", Some(&app.premium))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["image"]);

    // The file under another field name.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png(10, 10)).file_name("cat.png"),
    );
    let response = app
        .request(reqwest::Method::POST, "/api/images/", Some(&app.premium))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["image"]);

    // An empty file, in a form and as a raw body.
    assert!(
        rejected(&app, Vec::new(), "empty.png")
            .await
            .contains("empty")
    );
    let response = app
        .upload_raw(&app.premium, Vec::new(), "image/png", "")
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["image"]);

    // No body and no type at all.
    let response = app
        .request(reqwest::Method::POST, "/api/images/", Some(&app.premium))
        .send()
        .await
        .unwrap();
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(keys(&body), ["image"]);

    nothing_stored(&app).await;
}

#[tokio::test]
async fn files_that_are_not_png_or_jpeg_are_rejected_by_their_content() {
    let app = spawn_app().await;
    let message = rejected(&app, GIF.to_vec(), "innocent.png").await;
    assert!(
        message.contains("gif"),
        "names the detected type: {message}"
    );
    assert!(
        message.contains("png") && message.contains("jpeg"),
        "names the accepted types: {message}"
    );
    let message = rejected(&app, HTML.to_vec(), "page.png").await;
    assert!(message.contains("html"), "{message}");
    let message = rejected(&app, b"just some text\n".to_vec(), "notes.jpg").await;
    assert!(message.contains("png"), "{message}");

    // As a raw body declared image/png too.
    let response = app
        .upload_raw(&app.premium, GIF.to_vec(), "image/png", "")
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        field_errors(&body, "image")[0]
            .to_lowercase()
            .contains("gif")
    );
    nothing_stored(&app).await;

    // A JPEG named and declared as PNG is a JPEG.
    let response = app
        .upload_multipart(&app.premium, jpeg(30, 20), "really.png", "image/png", None)
        .await;
    let (status, image) = json_response(response).await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    assert_eq!(image["format"], "jpeg");
    assert!(text(&image, "original").ends_with(".jpg"));
}

#[tokio::test]
async fn truncated_and_corrupt_files_are_rejected_before_decoding() {
    let app = spawn_app().await;
    let whole = png(120, 90);
    let message = rejected(&app, whole[..whole.len() / 2].to_vec(), "cut.png").await;
    assert!(message.contains("truncated"), "{message}");
    let message = rejected(&app, whole[..whole.len() - 12].to_vec(), "no-iend.png").await;
    assert!(
        message.contains("truncated") || message.contains("iend"),
        "{message}"
    );

    let whole = jpeg(120, 90);
    let message = rejected(&app, whole[..whole.len() / 2].to_vec(), "cut.jpg").await;
    assert!(
        message.contains("truncated") && message.contains("jpeg"),
        "{message}"
    );

    // One flipped byte inside IDAT: the chunk's CRC no longer matches.
    let mut corrupt = png(120, 90);
    let idat = corrupt
        .windows(4)
        .position(|window| window == b"IDAT")
        .unwrap();
    corrupt[idat + 10] ^= 0xff;
    let message = rejected(&app, corrupt, "flipped.png").await;
    assert!(message.contains("crc"), "{message}");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_header_claiming_100000_by_100000_pixels_is_a_400() {
    let app = spawn_app().await;
    let message = rejected(&app, crafted_png(100_000, 100_000, SHORT_IDAT), "huge.png").await;
    assert!(message.contains("100000x100000"), "{message}");
    assert!(message.contains("50000000"), "names the limit: {message}");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn damage_only_a_decoder_finds_marks_the_thumbnails_failed() {
    let app = spawn_app().await;
    // Sound chunks and CRCs, but far too little pixel data for 300 x 250.
    let image = app
        .upload(
            &app.premium,
            crafted_png(300, 250, SHORT_IDAT),
            "broken.png",
            "image/png",
        )
        .await;
    assert_eq!(image["format"], "png");
    let image = app
        .wait_for_thumbnails(&app.premium, text(&image, "id"))
        .await;
    for thumbnail in image["thumbnails"].as_array().unwrap() {
        assert_eq!(thumbnail["status"], "failed", "{thumbnail}");
        assert!(thumbnail["url"].is_null());
    }
    // The image itself stays, with its original.
    assert_eq!(
        app.media_status(text(&image, "original")).await,
        StatusCode::OK
    );
}
