//! Upload limits: bodies over the byte limit get 413 JSON whether their size is declared or
//! only found while streaming, headers over the pixel limit get 400, and the server keeps
//! answering afterwards.

use imagevault::ImageLimits;
use reqwest::StatusCode;

use crate::helpers::{
    AppOptions, RawBody, RawResponse, SHORT_IDAT, TestApp, crafted_png, field_errors,
    json_response, keys, png, spawn_app, spawn_app_with,
};

/// 26 MiB: over the default limit of 25 MiB.
const OVERSIZED: usize = 26 * 1024 * 1024;

const BOUNDARY: &str = "imagevault-test-boundary";

/// A PNG signature followed by filler, `size` bytes in all.
fn oversized_file(size: usize) -> Vec<u8> {
    let mut data = png(16, 16);
    data.resize(size, 0x5a);
    data
}

fn multipart_body(file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post(app: &TestApp, content_type: &str, body: RawBody) -> RawResponse {
    app.raw_request(
        &format!(
            "POST /api/images/ HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}",
            app.premium.token
        ),
        body,
    )
    .await
}

fn assert_too_large(response: &RawResponse, case: &str) {
    assert_eq!(response.status, 413, "{case}");
    let body = response.json();
    assert_eq!(keys(&body), ["detail"], "{case}");
    assert!(
        body["detail"].as_str().unwrap().contains("25 MiB")
            || body["detail"].as_str().unwrap().contains("too large"),
        "{case}: {body}"
    );
}

/// The server still answers, and still takes a normal upload.
async fn assert_alive(app: &TestApp) {
    let response = app
        .request(reqwest::Method::GET, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let image = app.upload_png(&app.premium, 30, 20).await;
    assert_eq!(image["width"], 30);
}

#[tokio::test]
async fn a_26_mib_multipart_upload_is_413_json() {
    let app = spawn_app().await;
    let body = multipart_body(&oversized_file(OVERSIZED));
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let response = post(&app, &content_type, RawBody::Sized(body.clone())).await;
    assert_too_large(&response, "multipart with Content-Length");
    assert_alive(&app).await;

    // Without a declared length, the limit is found while streaming.
    let response = post(&app, &content_type, RawBody::Chunked(body)).await;
    assert_too_large(&response, "chunked multipart");
    assert_alive(&app).await;
    let (_, list) = app.get_json("/api/images/", &app.premium).await;
    assert_eq!(
        list["results"].as_array().unwrap().len(),
        2,
        "only the normal uploads"
    );
}

#[tokio::test]
async fn a_26_mib_raw_upload_is_413_json() {
    let app = spawn_app().await;
    let file = oversized_file(OVERSIZED);
    let response = post(&app, "image/png", RawBody::Sized(file.clone())).await;
    assert_too_large(&response, "raw with Content-Length");
    assert_alive(&app).await;

    let response = post(&app, "image/png", RawBody::Chunked(file)).await;
    assert_too_large(&response, "chunked raw");
    assert_alive(&app).await;

    // One byte over the limit is over it; a file of exactly the limit gets past the size
    // check (a PNG with filler after IEND, which the structure walk ends at).
    let limit = 25 * 1024 * 1024;
    let response = post(
        &app,
        "image/png",
        RawBody::Chunked(oversized_file(limit + 1)),
    )
    .await;
    assert_too_large(&response, "one byte over");
    let response = post(&app, "image/png", RawBody::Sized(oversized_file(limit))).await;
    assert_eq!(response.status, 201, "at the limit: {:?}", response.json());
    assert_alive(&app).await;
}

/// A declared length over the limit is refused before the body is read: the server
/// answers although the client sends only a few bytes and then waits.
#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_without_reading_the_body() {
    let app = spawn_app().await;
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    for content_type in [content_type.as_str(), "image/png"] {
        let response = post(
            &app,
            content_type,
            RawBody::Partial {
                length: OVERSIZED,
                data: png(16, 16),
            },
        )
        .await;
        assert_too_large(&response, content_type);
    }
    assert_alive(&app).await;
}

/// Without a declared length, the limit is found while streaming: the server answers once
/// the body passes the limit, although the client never ends the body.
#[tokio::test]
async fn a_streamed_upload_is_stopped_at_the_limit_before_its_end() {
    let app = spawn_app().await;
    let file = oversized_file(OVERSIZED);
    let mut unfinished_form = multipart_body(&file);
    unfinished_form.truncate(unfinished_form.len() - BOUNDARY.len() - 8);
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let response = post(
        &app,
        &content_type,
        RawBody::ChunkedUnfinished(unfinished_form),
    )
    .await;
    assert_too_large(&response, "unfinished chunked multipart");
    let response = post(&app, "image/png", RawBody::ChunkedUnfinished(file)).await;
    assert_too_large(&response, "unfinished chunked raw");
    assert_alive(&app).await;
}

#[tokio::test]
async fn a_png_header_over_the_pixel_limit_is_a_400_on_image() {
    let app = spawn_app().await;
    // 10000 x 10000 = 100 megapixels, over the default 50, in a file of a few bytes.
    let response = app
        .upload_multipart(
            &app.premium,
            crafted_png(10_000, 10_000, SHORT_IDAT),
            "big.png",
            "image/png",
            None,
        )
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = field_errors(&body, "image").join(" ");
    assert!(message.contains("50000000"), "{message}");
    assert_alive(&app).await;

    // Just under the limit the header passes (the data is judged later, by the decoder).
    let response = app
        .upload_multipart(
            &app.premium,
            crafted_png(5_000, 10_000, SHORT_IDAT),
            "ok.png",
            "image/png",
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_configured_pixel_limit_applies() {
    let app = spawn_app_with(AppOptions::limits(ImageLimits {
        max_bytes: 25 * 1024 * 1024,
        max_pixels: 10_000,
    }))
    .await;
    let response = app
        .upload_multipart(&app.premium, png(101, 100), "a.png", "image/png", None)
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(field_errors(&body, "image")[0].contains("10000"), "{body}");
    let image = app.upload_png(&app.premium, 100, 100).await;
    assert_eq!(image["height"], 100);
}

#[tokio::test]
async fn a_configured_byte_limit_applies() {
    let app = spawn_app_with(AppOptions::limits(ImageLimits {
        max_bytes: 10_000,
        max_pixels: 50_000_000,
    }))
    .await;
    let big = oversized_file(10_001);
    let response = app
        .upload_multipart(&app.premium, big.clone(), "a.png", "image/png", None)
        .await;
    let (status, body) = json_response(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(keys(&body), ["detail"]);
    let response = app.upload_raw(&app.premium, big, "image/png", "").await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_alive(&app).await;
}
