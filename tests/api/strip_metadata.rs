//! Originals without private metadata: a plan with `strip_metadata` stores each upload
//! without its EXIF (but the orientation), XMP, IPTC, comments, text chunks and trailing
//! bytes, says so in `metadata_removed`, and counts the stored size; other plans store
//! uploads byte for byte.

use imagevault::MetadataKind;
use png::{BitDepth, ColorType};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, decode, fixture, spawn_app, text};
use crate::hostile_files::{
    SECRET, exif_app1, exif_tiff, png_with, rgb_png, segment, with_segment,
};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The start of the GPSInfo entry of IFD0 (tag 0x8825, type LONG, big-endian): only an
/// EXIF with a GPS position has it.
const GPS_POINTER_ENTRY: [u8; 4] = [0x88, 0x25, 0x00, 0x04];

/// A JPEG with EXIF orientation 6 and a GPS position, XMP, IPTC, a comment and bytes after
/// EOI, all carrying [`SECRET`].
fn private_jpeg() -> Vec<u8> {
    let jpeg = crate::hostile_files::rgb_jpeg(120, 80, &vec![128; 120 * 80 * 3]);
    let xmp = [b"http://ns.adobe.com/xap/1.0/\0".as_slice(), SECRET].concat();
    let iptc = [b"Photoshop 3.0\0".as_slice(), SECRET].concat();
    let mut data = with_segment(&jpeg, &segment(0xFE, SECRET));
    data = with_segment(&data, &segment(0xED, &iptc));
    data = with_segment(&data, &segment(0xE1, &xmp));
    data = with_segment(&data, &segment(0xE1, &exif_app1(6, true)));
    data.extend_from_slice(SECRET);
    data
}

/// A PNG with a GPS-bearing `eXIf` (orientation 1), `tEXt` and `tIME` chunks.
fn private_png() -> Vec<u8> {
    let text = [b"Comment\0".as_slice(), SECRET].concat();
    let time = [0x07, 0xEA, 12, 7, 13, 30, 0];
    let exif = exif_tiff(1, true);
    png_with(
        (40, 30),
        (ColorType::Rgb, BitDepth::Eight),
        &vec![90; 40 * 30 * 3],
        |_| {},
        &[(b"eXIf", &exif), (b"tEXt", &text), (b"tIME", &time)],
    )
}

/// A user on a new plan with originals linked and `strip_metadata` as given.
async fn user_on_plan(app: &TestApp, strip_metadata: bool) -> &TestUser {
    let (status, plan) = app
        .post_json(
            "/api/admin/plans/",
            &app.admin,
            json!({
                "name": format!("Strip {strip_metadata}"),
                "thumbnail_heights": [100],
                "original_link": true,
                "strip_metadata": strip_metadata,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["strip_metadata"], strip_metadata);
    let user = if strip_metadata {
        &app.premium
    } else {
        &app.basic
    };
    app.set_plan(user, Some(text(&plan, "id"))).await;
    user
}

/// The stored original of an uploaded image, checked against its `size`.
async fn original(app: &TestApp, image: &Value) -> Vec<u8> {
    let data = app.media_bytes(text(image, "original")).await;
    assert_eq!(image["size"], data.len(), "size is the served length");
    data
}

fn removed(image: &Value) -> Vec<&str> {
    image["metadata_removed"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {image}"))
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_stripping_plan_stores_originals_without_gps_xmp_iptc_comments_or_text() {
    let app = spawn_app().await;
    let user = user_on_plan(&app, true).await;

    let upload = private_jpeg();
    let image = app
        .upload(user, upload.clone(), "private.jpg", "image/jpeg")
        .await;
    assert_eq!(
        removed(&image),
        ["exif", "xmp", "iptc", "comment", "trailing"]
    );
    let stored = original(&app, &image).await;
    assert!(stored.len() < upload.len());
    assert!(contains(&upload, SECRET) && contains(&upload, &GPS_POINTER_ENTRY));
    assert!(
        !contains(&stored, SECRET),
        "a secret is left in the original"
    );
    assert!(!contains(&stored, &GPS_POINTER_ENTRY), "a GPS IFD is left");
    assert!(!contains(&stored, b"HostileCam"), "the camera is left");
    // The orientation stays: the image shows turned, and a minimal EXIF carries it.
    assert_eq!(
        (&image["width"], &image["height"]),
        (&json!(80), &json!(120))
    );
    assert!(contains(&stored, b"Exif\0\0MM\0*"));
    assert_eq!(decode(&stored), decode(&upload));
    let image = app.wait_for_thumbnails(user, text(&image, "id")).await;
    assert_eq!(image["thumbnails"][0]["status"], "ready", "{image}");
    assert_eq!(image["thumbnails"][0]["width"], 67);

    let upload = private_png();
    let image = app
        .upload(user, upload.clone(), "private.png", "image/png")
        .await;
    assert_eq!(removed(&image), ["exif", "text", "time"]);
    let stored = original(&app, &image).await;
    assert!(!contains(&stored, SECRET) && !contains(&stored, b"eXIf"));
    assert!(!contains(&stored, b"tIME"));
    assert_eq!(decode(&stored), decode(&upload));
    assert!(
        image::load_from_memory(&stored).unwrap().into_bytes()
            == image::load_from_memory(&upload).unwrap().into_bytes(),
        "the same pixels"
    );

    // A file without any of it: stored as it came, with an empty list.
    let plain = rgb_png(30, 20, &[200; 30 * 20 * 3]);
    let image = app
        .upload(user, plain.clone(), "plain.png", "image/png")
        .await;
    assert_eq!(image["metadata_removed"], json!([]));
    assert_eq!(original(&app, &image).await, plain);

    // The camera fixture loses its Canon EXIF but keeps orientation 6.
    let camera = fixture("storm_1920x1280_orient6.jpg");
    let image = app
        .upload(user, camera.clone(), "storm.jpg", "image/jpeg")
        .await;
    assert_eq!(removed(&image), ["exif"]);
    assert_eq!(
        (&image["width"], &image["height"]),
        (&json!(1280), &json!(1920))
    );
    let stored = original(&app, &image).await;
    assert!(contains(&camera, b"Canon") && !contains(&stored, b"Canon"));

    // The quota counts the stored sizes.
    let (_, me) = app.get_json("/api/me/", user).await;
    let (_, page) = app.get_json("/api/images/", user).await;
    let sizes: u64 = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| image["size"].as_u64().unwrap())
        .sum();
    assert_eq!(me["quota"]["bytes"], sizes);
}

#[tokio::test]
async fn other_plans_store_originals_byte_for_byte() {
    let app = spawn_app().await;
    let user = user_on_plan(&app, false).await;
    for (upload, name, mime) in [
        (private_jpeg(), "private.jpg", "image/jpeg"),
        (private_png(), "private.png", "image/png"),
    ] {
        let image = app.upload(user, upload.clone(), name, mime).await;
        assert!(image["metadata_removed"].is_null(), "{image}");
        assert_eq!(original(&app, &image).await, upload);
    }
}

#[tokio::test]
async fn the_flag_is_kept_when_left_out_and_turning_it_on_changes_no_stored_image() {
    let app = spawn_app().await;
    let user = user_on_plan(&app, false).await;
    let before = app
        .upload(user, private_jpeg(), "private.jpg", "image/jpeg")
        .await;
    let (_, me) = app.get_json("/api/me/", user).await;
    let path = format!("/api/admin/plans/{}/", text(&me["plan"], "id"));
    let (status, plan) = app
        .patch_json(&path, &app.admin, json!({"strip_metadata": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["strip_metadata"], true);
    let (status, plan) = app
        .patch_json(&path, &app.admin, json!({"thumbnail_heights": [100, 200]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["strip_metadata"], true, "left out keeps it");
    let (status, plan) = app
        .put_json(
            &path,
            &app.admin,
            json!({"name": plan["name"], "thumbnail_heights": [100]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["strip_metadata"], true, "left out of a PUT keeps it");

    let after = app
        .upload(user, private_jpeg(), "private.jpg", "image/jpeg")
        .await;
    assert!(after["metadata_removed"].is_array(), "{after}");
    let again = app.get_image(user, text(&before, "id")).await;
    assert!(again["metadata_removed"].is_null(), "{again}");
    assert_eq!(original(&app, &again).await, private_jpeg());

    let (status, body) = app
        .patch_json(&path, &app.admin, json!({"strip_metadata": "sometimes"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["strip_metadata"].is_array(), "{body}");
}

#[tokio::test]
async fn the_names_are_one_list_in_the_schema_and_the_docs() {
    let app = spawn_app().await;
    let response = app
        .request(reqwest::Method::GET, "/api/schema/", None)
        .send()
        .await
        .unwrap();
    let schema: Value = response.json().await.unwrap();
    let names: Vec<&str> = MetadataKind::ALL.iter().map(|kind| kind.name()).collect();
    let property = &schema["components"]["schemas"]["ImageBody"]["properties"]["metadata_removed"];
    let text = property.to_string();
    let documented: Vec<&str> = schema_enum(&schema, property).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(documented, names, "{text}");
    assert_eq!(
        schema["components"]["schemas"]["PlanBody"]["properties"]["strip_metadata"]["type"],
        "boolean"
    );

    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    for name in names {
        assert!(docs.contains(&format!("| `{name}` |")), "{name} in API.md");
    }
}

/// The enumerated strings of an array schema, wherever utoipa put them (inline, behind a
/// `oneOf` with null, or behind a reference into `document`'s components).
fn schema_enum<'a>(document: &'a Value, schema: &'a Value) -> Option<Vec<&'a str>> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/components/schemas/")?;
        return schema_enum(document, &document["components"]["schemas"][name]);
    }
    if let Some(values) = schema["items"]["enum"].as_array() {
        return values.iter().map(Value::as_str).collect();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[key].as_array()
            && let Some(found) = options
                .iter()
                .find_map(|option| schema_enum(document, option))
        {
            return Some(found);
        }
    }
    None
}
