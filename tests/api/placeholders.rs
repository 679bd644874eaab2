//! Placeholders: `placeholder` (a base64 ThumbHash) and `average_color` in the Image object,
//! `null` until the worker has made the thumbnails, then true to the picture; the console
//! paints thumbnail boxes with the average colour.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{AppOptions, TestApp, TestUser, fixture, spawn_app_with, text};

/// Runs the worker's jobs until none of the image's thumbnails is pending; the image.
async fn settle(app: &TestApp, user: &TestUser, id: &str) -> Value {
    for _ in 0..200 {
        app.vault.run_pending_jobs(1_000).await.unwrap();
        let image = app.get_image(user, id).await;
        let pending = image["thumbnails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|thumbnail| thumbnail["status"] == "pending");
        if !pending {
            return image;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("thumbnails of {id} still pending");
}

/// The alpha-weighted mean colour of a decoded file, as the API defines `average_color`.
fn mean_colour(data: &[u8]) -> [f64; 3] {
    let rgba = image::load_from_memory(data).unwrap().to_rgba8();
    let (mut sums, mut weight) = ([0f64; 3], 0f64);
    for pixel in rgba.pixels() {
        let alpha = f64::from(pixel[3]);
        for (sum, value) in sums.iter_mut().zip(&pixel.0[..3]) {
            *sum += f64::from(*value) * alpha;
        }
        weight += alpha;
    }
    sums.map(|sum| sum / weight)
}

fn hex_colour(text: &str) -> [u8; 3] {
    assert!(
        text.len() == 7
            && text.starts_with('#')
            && text[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "#rrggbb in lowercase: {text}"
    );
    let channel = |at: usize| u8::from_str_radix(&text[at..at + 2], 16).unwrap();
    [channel(1), channel(3), channel(5)]
}

/// The ThumbHash bytes of an image, checked to decode.
fn thumbhash(image: &Value) -> Vec<u8> {
    let hash = STANDARD
        .decode(text(image, "placeholder"))
        .expect("placeholder is standard base64");
    assert!((5..=25).contains(&hash.len()), "{} bytes", hash.len());
    thumbhash::thumb_hash_to_rgba(&hash).expect("a valid ThumbHash");
    hash
}

fn worker_off() -> AppOptions {
    AppOptions {
        worker: false,
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn placeholders_are_null_until_the_worker_ran_then_match_the_picture() {
    let app = spawn_app_with(worker_off()).await;
    for (name, aspect) in [
        ("bythewater_2560x1600.jpg", 2560.0 / 1600.0),
        // Stored sideways: the placeholder is upright, like the thumbnails.
        ("storm_1920x1280_orient6.jpg", 1280.0 / 1920.0),
        ("chelsea_451x300.png", 451.0 / 300.0),
        ("camera_512x512.png", 1.0),
    ] {
        let data = fixture(name);
        let uploaded = app.upload_fixture(&app.premium, name).await;
        let id = text(&uploaded, "id").to_owned();
        for image in [&uploaded, &app.get_image(&app.premium, &id).await] {
            assert!(image["placeholder"].is_null(), "{name}: {image}");
            assert!(image["average_color"].is_null(), "{name}: {image}");
        }

        let image = settle(&app, &app.premium, &id).await;
        let hash = thumbhash(&image);
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
        assert!(
            (f64::from(ratio) / aspect - 1.0).abs() < 0.15,
            "{name}: aspect ratio {ratio}, the image's {aspect}"
        );
        // The colour of the smallest thumbnail is the picture's mean colour, up to resizing
        // and JPEG rounding.
        let average = hex_colour(text(&image, "average_color"));
        let mean = mean_colour(&data);
        for (got, want) in average.iter().zip(mean) {
            assert!(
                (f64::from(*got) - want).abs() <= 3.0,
                "{name}: average_color {average:?}, the original's mean {mean:?}"
            );
        }
        // The ThumbHash carries about the same colour.
        let (r, g, b, a) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
        assert!((a - 1.0).abs() < 1e-6, "{name}: opaque");
        for (got, want) in [r, g, b].into_iter().zip(average) {
            assert!(
                (got * 255.0 - f32::from(want)).abs() <= 12.0,
                "{name}: ThumbHash average {:?}",
                [r, g, b]
            );
        }
    }
}

#[tokio::test]
async fn transparent_pixels_do_not_colour_the_average() {
    let app = spawn_app_with(worker_off()).await;
    // Left half opaque orange, right half fully transparent blue.
    let mut picture = image::RgbaImage::new(300, 200);
    for (x, _, pixel) in picture.enumerate_pixels_mut() {
        *pixel = if x < 150 {
            image::Rgba([240, 120, 10, 255])
        } else {
            image::Rgba([0, 0, 255, 0])
        };
    }
    let mut png = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let uploaded = app
        .upload(&app.premium, png.into_inner(), "half.png", "image/png")
        .await;
    let id = text(&uploaded, "id").to_owned();
    let image = settle(&app, &app.premium, &id).await;
    assert_eq!(image["average_color"], "#f0780a", "{image}");
    let hash = thumbhash(&image);
    let (r, _, b, a) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
    assert!(
        a < 0.9,
        "the ThumbHash knows half is transparent: alpha {a}"
    );
    assert!(r > 0.8 && b < 0.2, "and that the rest is orange: {r} {b}");
}

#[tokio::test]
async fn regenerating_thumbnails_keeps_a_placeholder_and_deleting_the_image_meanwhile_is_fine() {
    let app = spawn_app_with(worker_off()).await;
    let first = app.upload_png(&app.premium, 300, 200).await;
    let first = text(&first, "id").to_owned();
    let made = settle(&app, &app.premium, &first).await;
    assert!(made["placeholder"].is_string(), "{made}");

    // Made again (`thumbnails regenerate`): the same picture gives the same placeholder.
    let owner = imagevault::UserId::parse(&app.premium.id).unwrap();
    app.vault
        .bootstrap_regenerate_thumbnails(imagevault::core::Regenerate::User(owner))
        .await
        .unwrap();
    let again = settle(&app, &app.premium, &first).await;
    assert_eq!(
        (&again["placeholder"], &again["average_color"]),
        (&made["placeholder"], &made["average_color"])
    );

    // An image deleted before the worker gets to it: the job finishes without a trace.
    let gone = app.upload_png(&app.premium, 300, 200).await;
    let gone = text(&gone, "id").to_owned();
    assert_eq!(
        app.delete(&format!("/api/images/{gone}/"), &app.premium)
            .await,
        StatusCode::NO_CONTENT
    );
    app.vault.run_pending_jobs(1_000).await.unwrap();
    let (status, _) = app
        .get_json(&format!("/api/images/{gone}/"), &app.premium)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[cfg(feature = "console")]
#[tokio::test]
async fn the_console_paints_thumbnail_boxes_in_the_average_colour() {
    let app = spawn_app_with(worker_off()).await;
    let browser = app.sign_in(&app.premium).await;
    let uploaded = app.upload_png(&app.premium, 300, 200).await;
    let id = text(&uploaded, "id").to_owned();

    // Before the worker ran: no colour anywhere.
    for path in ["/".to_owned(), format!("/images/{id}/")] {
        let (status, _, html) = app.get_page(&path, Some(&browser)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!html.contains("background-color:"), "{path}: {html}");
    }

    let image = settle(&app, &app.premium, &id).await;
    let style = format!(
        "style=\"background-color:{}\"",
        text(&image, "average_color")
    );
    let (_, _, gallery) = app.get_page("/", Some(&browser)).await;
    assert_eq!(
        gallery.matches(&style).count(),
        1,
        "the card's picture: {gallery}"
    );
    let (_, _, page) = app
        .get_page(&format!("/images/{id}/"), Some(&browser))
        .await;
    assert_eq!(
        page.matches(&style).count(),
        image["thumbnails"].as_array().unwrap().len(),
        "every thumbnail's picture: {page}"
    );
}
