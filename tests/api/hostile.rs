//! Hostile and unusual files, end to end through `POST /api/images/` and the media URLs.
//!
//! TABLE

use std::time::Duration;

use jpeg_encoder::ColorType as JpegColor;
use png::{BitDepth, ColorType};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{
    TestApp, content_type, expected_thumbnail, field_errors, header, json_response, keys,
    spawn_app, text,
};
use crate::hostile_files::*;

/// Every request of these tests gives up after this long: a server that hangs on a file
/// fails the test instead of stalling it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the API must answer for a file.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 400 `{"image": [message]}`, the message containing each of these (lowercased).
    Rejected(&'static [&'static str]),
    /// 415 `{"detail"}`: a raw body declared as a type the API does not take.
    UnsupportedMediaType,
    /// 201 with this format and displayed size; every thumbnail ready, of the size the
    /// contract gives, decoding to it, and without metadata; each thumbnail looks like this.
    Ready {
        format: &'static str,
        size: (u32, u32),
        look: Look,
    },
    /// 201 (the structure is sound); damage only the decoder finds marks every thumbnail
    /// failed, and the original stays.
    Failed { format: &'static str },
}

/// What a ready thumbnail must look like.
#[derive(Debug, Clone, Copy)]
enum Look {
    /// The pixel at (u, v) (both in 0..1), RGBA (JPEG thumbnails are opaque).
    Pixel((f64, f64), [u8; 4]),
    /// The stored image is `QUADRANTS` and carries this EXIF orientation: each quadrant of
    /// the thumbnail shows the colour that turning the image upright puts there.
    Quadrants(u8),
}

/// One hostile file and the answer it must get.
#[derive(Debug)]
struct Case {
    /// Names the case in failures, and its seed file for the fuzzer.
    name: String,
    data: Vec<u8>,
    /// The file name of the multipart part; `None` sends a raw body.
    file_name: Option<&'static str>,
    /// The declared type: of the part, or the raw body's `Content-Type`.
    mime: &'static str,
    expect: Expect,
}

/// A multipart upload named `file_name`, declared as `mime`.
fn case(
    name: impl Into<String>,
    data: Vec<u8>,
    (file_name, mime): (&'static str, &'static str),
    expect: Expect,
) -> Case {
    Case {
        name: name.into(),
        data,
        file_name: Some(file_name),
        mime,
        expect,
    }
}

/// A raw-body upload with `Content-Type: mime`.
fn raw(name: &str, data: Vec<u8>, mime: &'static str, expect: Expect) -> Case {
    Case {
        name: name.to_owned(),
        data,
        file_name: None,
        mime,
        expect,
    }
}

const AS_PNG: (&str, &str) = ("upload.png", "image/png");
const AS_JPEG: (&str, &str) = ("upload.jpg", "image/jpeg");

fn ready(format: &'static str, size: (u32, u32), look: Look) -> Expect {
    Expect::Ready { format, size, look }
}

/// The centre pixel is this colour, RGBA.
fn centre(rgba: [u8; 4]) -> Look {
    Look::Pixel((0.5, 0.5), rgba)
}

/// The centre pixel is this opaque colour.
fn opaque([r, g, b]: [u8; 3]) -> Look {
    centre([r, g, b, 255])
}

/// The size most accepted cases use: taller than the 200 px thumbnail (scaled) and shorter
/// than the 400 px one (kept at its own size).
const W: u32 = 360;
const H: u32 = 240;

const ACCEPTED: &str = "accepted types are png and jpeg";

/// One-byte and foreign files: the content decides, whatever the name and declared type.
/// (The empty file, in a form and as a raw body, is in `uploads.rs`.)
fn foreign_cases() -> Vec<Case> {
    let mut cases = vec![
        case(
            "one-byte-ff",
            vec![0xFF],
            AS_JPEG,
            Expect::Rejected(&["unknown", ACCEPTED]),
        ),
        case(
            "one-byte-89",
            vec![0x89],
            AS_PNG,
            Expect::Rejected(&["unknown", ACCEPTED]),
        ),
        raw(
            "one-byte-raw",
            b"x".to_vec(),
            "image/png",
            Expect::Rejected(&["text", ACCEPTED]),
        ),
        // A raw body's declared type is checked first: an SVG declared as one is not an
        // image upload at all; declared as a JPEG, its content is judged.
        raw(
            "svg-raw-declared-svg",
            SVG.to_vec(),
            "image/svg+xml",
            Expect::UnsupportedMediaType,
        ),
        raw(
            "svg-raw-declared-jpeg",
            SVG.to_vec(),
            "image/jpeg",
            Expect::Rejected(&["svg", ACCEPTED]),
        ),
    ];
    let foreign: [(&str, Vec<u8>, Expect, &'static str); 7] = [
        (
            "text",
            b"just some notes\n".to_vec(),
            Expect::Rejected(&["type text;", ACCEPTED]),
            "text/plain",
        ),
        (
            "html",
            html(),
            Expect::Rejected(&["type html;", ACCEPTED]),
            "text/html",
        ),
        (
            "svg",
            SVG.to_vec(),
            Expect::Rejected(&["type svg/xml;", ACCEPTED]),
            "image/svg+xml",
        ),
        (
            "gif",
            GIF.to_vec(),
            Expect::Rejected(&["type gif;", ACCEPTED]),
            "image/gif",
        ),
        (
            "bmp",
            bmp(),
            Expect::Rejected(&["type bmp;", ACCEPTED]),
            "image/bmp",
        ),
        (
            "webp",
            WEBP.to_vec(),
            Expect::Rejected(&["type webp;", ACCEPTED]),
            "image/webp",
        ),
        (
            "tiff",
            tiff(),
            Expect::Rejected(&["type tiff;", ACCEPTED]),
            "image/tiff",
        ),
    ];
    for (name, data, expect, true_mime) in foreign {
        // Named .png and declared image/png: name and type lie.
        cases.push(case(format!("{name}-as-png"), data.clone(), AS_PNG, expect));
        // Named .jpg but declared as what it is.
        cases.push(case(
            format!("{name}-as-jpg"),
            data,
            ("innocent.jpg", true_mime),
            expect,
        ));
    }
    cases
}

/// Files cut short or with broken checksums. Cuts the structure walk sees are 400s; damage
/// only a decoder sees fails the thumbnails. (A PNG cut in half or before IEND, a JPEG cut
/// in half and a flipped byte in IDAT are in `uploads.rs`.)
fn damaged_cases() -> Vec<Case> {
    let png = rgb_png(W, H, &quadrants(W, H));
    let jpeg = rgb_jpeg(W, H, &quadrants(W, H));
    let progressive = jpeg_with((W, H), JpegColor::Rgb, &quadrants(W, H), |encoder| {
        encoder.set_progressive(true);
    });
    let with_eoi = |data: Vec<u8>| [data, vec![0xFF, 0xD9]].concat();
    let text = png_with(
        (W, H),
        (ColorType::Rgb, BitDepth::Eight),
        &quadrants(W, H),
        |encoder| {
            encoder
                .add_text_chunk("Comment".into(), "hello".into())
                .unwrap();
        },
        &[],
    );
    vec![
        case(
            "png-signature-start",
            png[..4].to_vec(),
            AS_PNG,
            Expect::Rejected(&["truncated png", "signature"]),
        ),
        case(
            "png-signature-only",
            png[..8].to_vec(),
            AS_PNG,
            Expect::Rejected(&["truncated png"]),
        ),
        case(
            "png-cut-in-ihdr",
            png[..20].to_vec(),
            AS_PNG,
            Expect::Rejected(&["truncated png", "ihdr"]),
        ),
        case(
            "png-idat-data-cut-crc-fixed",
            with_short_idat(&png, 200),
            AS_PNG,
            Expect::Failed { format: "png" },
        ),
        case(
            "png-bad-crc-ihdr",
            with_bad_crc(&png, b"IHDR"),
            AS_PNG,
            Expect::Rejected(&["corrupt png", "crc", "ihdr"]),
        ),
        case(
            "png-bad-crc-idat",
            with_bad_crc(&png, b"IDAT"),
            AS_PNG,
            Expect::Rejected(&["corrupt png", "crc", "idat"]),
        ),
        case(
            "png-bad-crc-iend",
            with_bad_crc(&png, b"IEND"),
            AS_PNG,
            Expect::Rejected(&["corrupt png", "crc", "iend"]),
        ),
        case(
            "png-bad-crc-text",
            with_bad_crc(&text, b"tEXt"),
            AS_PNG,
            Expect::Rejected(&["corrupt png", "crc", "text"]),
        ),
        case(
            "jpeg-soi-only",
            jpeg[..2].to_vec(),
            AS_JPEG,
            Expect::Rejected(&["truncated jpeg"]),
        ),
        case(
            "jpeg-cut-in-header",
            jpeg[..30].to_vec(),
            AS_JPEG,
            Expect::Rejected(&["truncated jpeg"]),
        ),
        case(
            "jpeg-cut-in-scan",
            cut_in_scan(&jpeg, 100),
            AS_JPEG,
            Expect::Rejected(&["truncated jpeg"]),
        ),
        case(
            "jpeg-no-eoi",
            jpeg[..jpeg.len() - 2].to_vec(),
            AS_JPEG,
            Expect::Rejected(&["truncated jpeg"]),
        ),
        case(
            "jpeg-cut-in-scan-eoi-added",
            with_eoi(cut_in_scan(&jpeg, scan_len(&jpeg) * 6 / 10)),
            AS_JPEG,
            ready(
                "jpeg",
                (W, H),
                Look::Pixel((0.25, 0.25), [230, 20, 20, 255]),
            ),
        ),
        // jpeg-encoder's first scan holds only the luma DC coefficients: the red quadrant
        // comes out the grey of red's luma (0.299 * 230 + 0.587 * 20 + 0.114 * 20 = 83).
        case(
            "jpeg-progressive-first-scan-only",
            only_first_scan(&progressive),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Pixel((0.25, 0.25), [83, 83, 83, 255])),
        ),
    ]
}

/// Headers over the pixel limit, and decompression bombs: refused from the header, before a
/// byte is inflated. (A crafted PNG header of 100000x100000 is in `uploads.rs`; a JPEG
/// header cannot say more than 65535 on a side.)
fn huge_cases() -> Vec<Case> {
    let jpeg = rgb_jpeg(64, 48, &solid(64 * 48, &RED));
    vec![
        case(
            "jpeg-header-65535x65535",
            with_sof_size(&jpeg, 65_535, 65_535),
            AS_JPEG,
            Expect::Rejected(&["65535x65535", "at most 50000000 pixels"]),
        ),
        case(
            "jpeg-header-65535x764",
            with_sof_size(&jpeg, 65_535, 764),
            AS_JPEG,
            Expect::Rejected(&["65535x764", "at most 50000000 pixels"]),
        ),
        // About 5 KB that inflate to 6 MB, over the limit by 13184 pixels.
        case(
            "bomb-png-1bit-7072x7072",
            zero_png(7072, 7072, BitDepth::One),
            AS_PNG,
            Expect::Rejected(&["7072x7072", "at most 50000000 pixels"]),
        ),
        // About 50 KB that inflate to 50 MB.
        case(
            "bomb-png-8bit-7072x7072",
            zero_png(7072, 7072, BitDepth::Eight),
            AS_PNG,
            Expect::Rejected(&["7072x7072", "at most 50000000 pixels"]),
        ),
        // Just under the limit the same bomb is a legitimate (black) image.
        case(
            "bomb-png-1bit-7071x7071",
            zero_png(7071, 7071, BitDepth::One),
            AS_PNG,
            ready("png", (7071, 7071), opaque([0, 0, 0])),
        ),
    ]
}

/// PNG colour types and layouts the decoder must normalise: all accepted, thumbnails ready.
fn png_cases() -> Vec<Case> {
    let count = W * H;
    let png = |color, depth, pixels: &[u8], setup: &dyn Fn(&mut png::Encoder<'_, &mut Vec<u8>>)| {
        png_with((W, H), (color, depth), pixels, setup, &[])
    };
    let sixteen = |samples: &[u16]| -> Vec<u8> {
        let pixel: Vec<u8> = samples.iter().flat_map(|s| s.to_be_bytes()).collect();
        solid(count, &pixel)
    };
    vec![
        case(
            "png-16bit-rgb",
            png(
                ColorType::Rgb,
                BitDepth::Sixteen,
                &sixteen(&[0xE6E6, 0x1414, 0x1414]),
                &|_| {},
            ),
            AS_PNG,
            ready("png", (W, H), opaque(RED)),
        ),
        case(
            "png-16bit-grey",
            png(
                ColorType::Grayscale,
                BitDepth::Sixteen,
                &sixteen(&[0x6464]),
                &|_| {},
            ),
            AS_PNG,
            ready("png", (W, H), opaque([100, 100, 100])),
        ),
        case(
            "png-16bit-grey-alpha",
            png(
                ColorType::GrayscaleAlpha,
                BitDepth::Sixteen,
                &sixteen(&[0x6464, 0x8080]),
                &|_| {},
            ),
            AS_PNG,
            ready("png", (W, H), centre([100, 100, 100, 128])),
        ),
        case(
            "png-grey-alpha",
            png(
                ColorType::GrayscaleAlpha,
                BitDepth::Eight,
                &solid(count, &[100, 128]),
                &|_| {},
            ),
            AS_PNG,
            ready("png", (W, H), centre([100, 100, 100, 128])),
        ),
        // Index 0 is red, half transparent through tRNS.
        case(
            "png-palette-trns",
            png(
                ColorType::Indexed,
                BitDepth::Eight,
                &solid(count, &[0]),
                &|encoder| {
                    encoder.set_palette([RED, BLUE].concat());
                    encoder.set_trns(vec![128]);
                },
            ),
            AS_PNG,
            ready("png", (W, H), centre([230, 20, 20, 128])),
        ),
        case(
            "png-1bit-grey",
            png(
                ColorType::Grayscale,
                BitDepth::One,
                &solid(count / 8, &[0xFF]),
                &|_| {},
            ),
            AS_PNG,
            ready("png", (W, H), opaque([255, 255, 255])),
        ),
        case(
            "png-interlaced",
            interlaced_png(W, H, &quadrants(W, H)),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
        // APNG: accepted as its default image (the IDAT, here also the first frame, red);
        // the thumbnails are still images, the other frame (blue) is not shown.
        case(
            "apng-two-frames",
            apng(W, H),
            AS_PNG,
            ready("png", (W, H), opaque(RED)),
        ),
    ]
}

/// JPEG encodings the decoder must handle: all accepted, thumbnails ready.
fn jpeg_cases() -> Vec<Case> {
    let count = W * H;
    let cyan = [0, 255, 255];
    vec![
        case(
            "jpeg-progressive",
            jpeg_with((W, H), JpegColor::Rgb, &quadrants(W, H), |encoder| {
                encoder.set_progressive(true);
            }),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "jpeg-progressive-grey",
            jpeg_with((W, H), JpegColor::Luma, &solid(count, &[90]), |encoder| {
                encoder.set_progressive(true);
            }),
            AS_JPEG,
            ready("jpeg", (W, H), opaque([90, 90, 90])),
        ),
        case(
            "jpeg-grey",
            jpeg_with((W, H), JpegColor::Luma, &solid(count, &[90]), |_| {}),
            AS_JPEG,
            ready("jpeg", (W, H), opaque([90, 90, 90])),
        ),
        case(
            "jpeg-restart-markers",
            jpeg_with((W, H), JpegColor::Rgb, &quadrants(W, H), |encoder| {
                encoder.set_restart_interval(1);
            }),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        // Adobe CMYK as Photoshop writes it: APP14 "Adobe" (transform 0), inverted ink
        // values. Full cyan ink is (0, 255, 255).
        case(
            "jpeg-cmyk-adobe-inverted",
            jpeg_with(
                (W, H),
                JpegColor::Cmyk,
                &solid(count, &[255, 0, 0, 0]),
                |_| {},
            ),
            AS_JPEG,
            ready("jpeg", (W, H), opaque(cyan)),
        ),
        // The same ink as YCCK (APP14 transform 2).
        case(
            "jpeg-ycck",
            jpeg_with(
                (W, H),
                JpegColor::CmykAsYcck,
                &solid(count, &[255, 0, 0, 0]),
                |_| {},
            ),
            AS_JPEG,
            ready("jpeg", (W, H), opaque(cyan)),
        ),
    ]
}

/// The eight EXIF orientations of a JPEG, and two in a PNG `eXIf` chunk: thumbnails come
/// out upright (sides swapped for 5 to 8).
fn orientation_cases() -> Vec<Case> {
    let pixels = quadrants(W, H);
    let upright = |o: u8| if o >= 5 { (H, W) } else { (W, H) };
    let mut cases: Vec<Case> = (1..=8u8)
        .map(|o| {
            let data = jpeg_with((W, H), JpegColor::Rgb, &pixels, |encoder| {
                encoder
                    .add_app_segment(1, exif_app1(u16::from(o), false))
                    .unwrap();
            });
            case(
                format!("jpeg-orientation-{o}"),
                data,
                AS_JPEG,
                ready("jpeg", upright(o), Look::Quadrants(o)),
            )
        })
        .collect();
    for o in [5u8, 6] {
        let exif = exif_tiff(u16::from(o), false);
        let data = png_with(
            (W, H),
            (ColorType::Rgb, BitDepth::Eight),
            &pixels,
            |_| {},
            &[(b"eXIf", &exif)],
        );
        cases.push(case(
            format!("png-orientation-{o}"),
            data,
            AS_PNG,
            ready("png", upright(o), Look::Quadrants(o)),
        ));
    }
    cases
}

/// One pixel wide or high, 20000 long (far under the pixel limit): accepted like any other
/// image, since the contract bounds only the height; every thumbnail side is at least 1.
fn extreme_cases() -> Vec<Case> {
    let line = solid(20_000, &GREEN);
    vec![
        case(
            "png-1x20000",
            rgb_png(1, 20_000, &line),
            AS_PNG,
            ready("png", (1, 20_000), opaque(GREEN)),
        ),
        case(
            "png-20000x1",
            rgb_png(20_000, 1, &line),
            AS_PNG,
            ready("png", (20_000, 1), opaque(GREEN)),
        ),
        case(
            "jpeg-1x20000",
            rgb_jpeg(1, 20_000, &line),
            AS_JPEG,
            ready("jpeg", (1, 20_000), opaque(GREEN)),
        ),
        case(
            "jpeg-20000x1",
            rgb_jpeg(20_000, 1, &line),
            AS_JPEG,
            ready("jpeg", (20_000, 1), opaque(GREEN)),
        ),
    ]
}

/// Files that are two things at once. The first bytes decide the type; bytes after IEND or
/// EOI are ignored, kept in the original (served as uploaded, with its image type and
/// `nosniff`) and absent from the thumbnails.
fn polyglot_cases() -> Vec<Case> {
    let jpeg = rgb_jpeg(W, H, &quadrants(W, H));
    let png = rgb_png(W, H, &quadrants(W, H));
    let comment = segment(0xFE, &html());
    let html_text = png_with(
        (W, H),
        (ColorType::Rgb, BitDepth::Eight),
        &quadrants(W, H),
        |_| {},
        &[(b"tEXt", &[b"Comment\0".as_slice(), &html()].concat())],
    );
    let accepted = |format| ready(format, (W, H), Look::Quadrants(1));
    vec![
        case(
            "jpeg-then-zip",
            [jpeg.clone(), zip()].concat(),
            AS_JPEG,
            accepted("jpeg"),
        ),
        case(
            "jpeg-then-html",
            [jpeg.clone(), html()].concat(),
            AS_JPEG,
            accepted("jpeg"),
        ),
        case(
            "jpeg-html-in-comment",
            with_segment(&jpeg, &comment),
            AS_JPEG,
            accepted("jpeg"),
        ),
        case(
            "png-then-zip",
            [png.clone(), zip()].concat(),
            AS_PNG,
            accepted("png"),
        ),
        case("png-html-in-text", html_text, AS_PNG, accepted("png")),
        // The PNG signature decides the type; what follows is not a PNG chunk.
        case(
            "png-signature-then-jpeg",
            [&png[..8], &jpeg].concat(),
            AS_PNG,
            Expect::Rejected(&["png"]),
        ),
        case(
            "gif-then-zip",
            [GIF, &zip()].concat(),
            AS_PNG,
            Expect::Rejected(&["type gif;", ACCEPTED]),
        ),
        case(
            "html-then-jpeg",
            [html(), jpeg.clone()].concat(),
            AS_JPEG,
            Expect::Rejected(&["type html;", ACCEPTED]),
        ),
        case(
            "zip-then-jpeg",
            [zip(), jpeg.clone()].concat(),
            AS_JPEG,
            Expect::Rejected(&["type unknown;", ACCEPTED]),
        ),
        case(
            "soi-then-png",
            [&jpeg[..2], &png].concat(),
            AS_JPEG,
            Expect::Rejected(&["type unknown;", ACCEPTED]),
        ),
    ]
}

/// Metadata with a location: thumbnails carry none of it (checked for every ready case).
fn metadata_cases() -> Vec<Case> {
    let pixels = quadrants(W, H);
    let exif_jpeg = |o: u8| {
        let data = jpeg_with((W, H), JpegColor::Rgb, &pixels, |encoder| {
            encoder
                .add_app_segment(1, exif_app1(u16::from(o), true))
                .unwrap();
            let xmp = [
                b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>".as_slice(),
                SECRET,
            ]
            .concat();
            encoder.add_app_segment(1, xmp).unwrap();
            let icc = [b"ICC_PROFILE\0\x01\x01".as_slice(), SECRET].concat();
            encoder.add_app_segment(2, icc).unwrap();
        });
        with_segment(&data, &segment(0xFE, SECRET))
    };
    let exif = exif_tiff(1, true);
    let png = png_with(
        (W, H),
        (ColorType::Rgb, BitDepth::Eight),
        &pixels,
        |encoder| {
            let secret = String::from_utf8(SECRET.to_vec()).unwrap();
            encoder
                .add_text_chunk("Comment".into(), secret.clone())
                .unwrap();
            encoder
                .add_itxt_chunk("Location".into(), secret.clone())
                .unwrap();
            encoder.add_ztxt_chunk("Author".into(), secret).unwrap();
        },
        &[(b"eXIf", &exif)],
    );
    vec![
        case(
            "jpeg-exif-gps-xmp-icc-comment",
            exif_jpeg(1),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "jpeg-exif-gps-orientation-6",
            exif_jpeg(6),
            AS_JPEG,
            ready("jpeg", (H, W), Look::Quadrants(6)),
        ),
        case(
            "png-exif-gps-text",
            png,
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
    ]
}

/// Every case, in table order.
fn all_cases() -> Vec<Case> {
    [
        foreign_cases(),
        damaged_cases(),
        huge_cases(),
        png_cases(),
        jpeg_cases(),
        orientation_cases(),
        extreme_cases(),
        polyglot_cases(),
        metadata_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Sends a case's upload as the Premium user (heights 200 and 400, original links).
async fn send(app: &TestApp, case: &Case) -> (StatusCode, Value) {
    let builder = app
        .request(Method::POST, "/api/images/", Some(&app.premium))
        .timeout(CLIENT_TIMEOUT);
    let builder = match case.file_name {
        Some(file_name) => {
            let part = reqwest::multipart::Part::bytes(case.data.clone())
                .file_name(file_name)
                .mime_str(case.mime)
                .unwrap();
            builder.multipart(reqwest::multipart::Form::new().part("image", part))
        }
        None => builder
            .header(reqwest::header::CONTENT_TYPE, case.mime)
            .body(case.data.clone()),
    };
    let response = builder
        .send()
        .await
        .unwrap_or_else(|error| panic!("{}: no answer: {error}", case.name));
    json_response(response).await
}

/// Uploads every case, then checks each answer and, for accepted files, the thumbnails
/// once they have settled.
async fn run(cases: Vec<Case>) {
    let app = spawn_app().await;
    let mut accepted = Vec::new();
    for case in &cases {
        let (status, body) = send(&app, case).await;
        let name = &case.name;
        match case.expect {
            Expect::Rejected(words) => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
                assert_eq!(keys(&body), ["image"], "{name}");
                let message = field_errors(&body, "image").join(" ").to_lowercase();
                for word in words {
                    assert!(message.contains(word), "{name}: {word:?} in {message:?}");
                }
            }
            Expect::UnsupportedMediaType => {
                assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
                assert_eq!(keys(&body), ["detail"], "{name}");
            }
            Expect::Ready { .. } | Expect::Failed { .. } => {
                assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
                accepted.push((case, body));
            }
        }
    }
    for (case, image) in accepted {
        check_accepted(&app, case, &image).await;
    }
}

async fn check_accepted(app: &TestApp, case: &Case, image: &Value) {
    let name = &case.name;
    let format = match case.expect {
        Expect::Ready { format, .. } | Expect::Failed { format } => format,
        _ => unreachable!("only accepted cases are checked here"),
    };
    assert_eq!(image["format"], format, "{name}");
    assert_eq!(image["size"], case.data.len(), "{name}");
    // The original is served exactly as uploaded (metadata and appended bytes included),
    // as its detected image type, never to be sniffed as anything else.
    let response = app.media(text(image, "original")).await;
    assert_eq!(response.status(), StatusCode::OK, "{name}");
    let mime = if format == "png" {
        "image/png"
    } else {
        "image/jpeg"
    };
    assert_eq!(content_type(response.headers()).as_deref(), Some(mime));
    assert_eq!(
        header(response.headers(), "x-content-type-options"),
        Some("nosniff")
    );
    assert_eq!(response.bytes().await.unwrap(), case.data, "{name}");

    let image = app
        .wait_for_thumbnails(&app.premium, text(image, "id"))
        .await;
    let thumbnails = image["thumbnails"].as_array().unwrap();
    assert_eq!(thumbnails.len(), 2, "{name}: Premium has two heights");
    match case.expect {
        Expect::Failed { .. } => {
            for thumbnail in thumbnails {
                assert_eq!(thumbnail["status"], "failed", "{name}: {thumbnail}");
                assert!(thumbnail["url"].is_null(), "{name}");
            }
        }
        Expect::Ready { size, look, .. } => {
            assert_eq!(
                (&image["width"], &image["height"]),
                (&size.0.into(), &size.1.into()),
                "{name}"
            );
            for thumbnail in thumbnails {
                assert_eq!(thumbnail["status"], "ready", "{name}: {thumbnail}");
                let max_height = u32::try_from(thumbnail["max_height"].as_u64().unwrap()).unwrap();
                let (width, height) = expected_thumbnail(size.0, size.1, max_height);
                assert!(width >= 1 && height >= 1, "{name}: no side of 0 pixels");
                assert_eq!(
                    (&thumbnail["width"], &thumbnail["height"]),
                    (&width.into(), &height.into()),
                    "{name}: {thumbnail}"
                );
                let data = app.media_bytes(text(thumbnail, "url")).await;
                let decoded = image::load_from_memory(&data)
                    .unwrap_or_else(|error| panic!("{name}: thumbnail decodes: {error}"))
                    .to_rgba8();
                assert_eq!(decoded.dimensions(), (width, height), "{name}");
                assert_bare(&data, format, name);
                check_look(&decoded, look, name);
            }
        }
        _ => unreachable!("only accepted cases are checked here"),
    }
}

/// Panics unless a thumbnail holds nothing but its pixels: a JPEG without APP1..APP15 (EXIF,
/// XMP, ICC) or comment segments and nothing after EOI; a PNG of only IHDR, IDAT and IEND
/// (no eXIf or text chunks) and nothing after IEND; and `SECRET` nowhere.
fn assert_bare(data: &[u8], format: &str, name: &str) {
    if format == "jpeg" {
        let mut at = 2;
        while data[at + 1] != 0xDA {
            let marker = data[at + 1];
            assert!(
                !matches!(marker, 0xE1..=0xEF | 0xFE),
                "{name}: thumbnail has segment {marker:#x}"
            );
            at += 2 + usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        }
        assert!(data.ends_with(&[0xFF, 0xD9]), "{name}: nothing after EOI");
    } else {
        let chunks = png_chunks(data);
        for (_, kind, _) in &chunks {
            assert!(
                matches!(kind, b"IHDR" | b"IDAT" | b"IEND"),
                "{name}: thumbnail has chunk {}",
                String::from_utf8_lossy(kind)
            );
        }
        let (_, last, end) = chunks.last().unwrap();
        assert_eq!(
            (last, end + 4),
            (b"IEND", data.len()),
            "{name}: nothing after IEND"
        );
    }
    for needle in [SECRET, b"Exif", b"PK\x03\x04"] {
        assert!(
            !data.windows(needle.len()).any(|window| window == needle),
            "{name}: thumbnail contains {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

/// Where the pixel shown at (u, v) of an upright image is in the stored image, for each
/// EXIF orientation (u, v in 0..1).
fn stored_position(orientation: u8, u: f64, v: f64) -> (f64, f64) {
    match orientation {
        1 => (u, v),
        2 => (1.0 - u, v),
        3 => (1.0 - u, 1.0 - v),
        4 => (u, 1.0 - v),
        5 => (v, u),
        6 => (v, 1.0 - u),
        7 => (1.0 - v, 1.0 - u),
        8 => (1.0 - v, u),
        _ => unreachable!("orientations are 1 to 8"),
    }
}

fn check_look(decoded: &image::RgbaImage, look: Look, name: &str) {
    let (width, height) = decoded.dimensions();
    let at = |u: f64, v: f64| {
        // Truncation is the point: the pixel under (u, v).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (x, y) = (
            (u * f64::from(width)) as u32,
            (v * f64::from(height)) as u32,
        );
        decoded.get_pixel(x.min(width - 1), y.min(height - 1)).0
    };
    let near = |actual: [u8; 4], expected: [u8; 4]| {
        actual
            .iter()
            .zip(expected)
            .all(|(&a, e)| a.abs_diff(e) <= 32)
    };
    match look {
        Look::Pixel((u, v), expected) => {
            let actual = at(u, v);
            assert!(
                near(actual, expected),
                "{name}: at ({u}, {v}) {actual:?}, expected {expected:?}"
            );
        }
        Look::Quadrants(orientation) => {
            for (u, v) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (su, sv) = stored_position(orientation, u, v);
                let [r, g, b] = quadrant_colour(su, sv);
                let actual = at(u, v);
                assert!(
                    near(actual, [r, g, b, 255]),
                    "{name}: at ({u}, {v}) {actual:?}, expected {:?}",
                    [r, g, b]
                );
            }
        }
    }
}

#[tokio::test]
async fn hostile_foreign_types_are_named_in_a_400() {
    run(foreign_cases()).await;
}

#[tokio::test]
async fn hostile_damaged_files_are_400_or_fail_their_thumbnails() {
    run(damaged_cases()).await;
}

#[tokio::test]
async fn hostile_huge_headers_and_bombs_are_refused_before_decoding() {
    run(huge_cases()).await;
}

#[tokio::test]
async fn hostile_png_variants_are_thumbnailed() {
    run(png_cases()).await;
}

#[tokio::test]
async fn hostile_jpeg_variants_are_thumbnailed() {
    run(jpeg_cases()).await;
}

#[tokio::test]
async fn hostile_exif_orientations_come_out_upright() {
    run(orientation_cases()).await;
}

#[tokio::test]
async fn hostile_extreme_aspect_ratios_get_thumbnails() {
    run(extreme_cases()).await;
}

#[tokio::test]
async fn hostile_polyglots_are_judged_by_their_first_bytes() {
    run(polyglot_cases()).await;
}

#[tokio::test]
async fn hostile_metadata_stays_out_of_thumbnails() {
    run(metadata_cases()).await;
}

/// The metadata cases do carry what the thumbnails must not: otherwise their check above
/// would prove nothing. Their originals keep it, served byte for byte as uploaded (checked
/// for every accepted case): API.md promises metadata-free thumbnails, not originals.
#[test]
fn hostile_metadata_cases_carry_gps_and_text() {
    for case in metadata_cases() {
        let found = case
            .data
            .windows(SECRET.len())
            .filter(|window| *window == SECRET)
            .count();
        assert!(found >= 3, "{}: {found} copies of the secret", case.name);
    }
}

/// With `IMAGEVAULT_WRITE_HOSTILE_SEEDS=<dir>`, writes every case's file of 64 KiB or less
/// to `<dir>` for `scripts/fuzz.sh` to seed its corpora from. Either way, checks that every
/// case has a distinct name usable as a file name.
#[test]
fn hostile_seeds() {
    let cases = all_cases();
    let mut names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    assert!(
        names
            .iter()
            .all(|name| { name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') })
    );
    let Some(dir) = std::env::var_os("IMAGEVAULT_WRITE_HOSTILE_SEEDS") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    for case in cases.iter().filter(|case| case.data.len() <= 64 * 1024) {
        let extension = if case.data.starts_with(b"\x89PNG") {
            "png"
        } else if case.data.starts_with(b"\xFF\xD8") {
            "jpg"
        } else {
            "bin"
        };
        let path = std::path::Path::new(&dir).join(format!("{}.{extension}", case.name));
        std::fs::write(&path, &case.data).unwrap();
    }
}
