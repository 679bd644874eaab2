//! Hostile and unusual files, end to end: each is uploaded through `POST /api/images/` as
//! the Premium user (thumbnail heights 200 and 400) with a bounded client timeout, and its
//! answer checked. For a 400, the `image` message must name what is wrong and what is
//! allowed. For an accepted file, the original must be served byte for byte as uploaded
//! (metadata and appended bytes included, as its image type with `nosniff`), and once the
//! thumbnails settle (never a 500, never stuck `pending`) each must be `ready` at the size
//! API.md gives, decode to that size, look right (a colour, or four coloured quadrants put
//! upright), and carry nothing but pixels (no APPn/COM segment or chunk other than
//! IHDR/IDAT/IEND, nothing after EOI/IEND, none of the EXIF, GPS, text or appended bytes) —
//! or, where the damage shows only in the decoder, `failed`.
//!
//! | group (test) | cases | outcome |
//! | --- | --- | --- |
//! | foreign | text, HTML, SVG, GIF, BMP, WebP, TIFF, each named `.png` and declared `image/png`, and named `.jpg` and declared as what it is | 400 "unsupported image type <detected>; accepted types are png and jpeg" |
//! | foreign | one byte (`FF`, `89`, raw `x`) | 400 naming `unknown` / `text` and the accepted types |
//! | foreign | raw SVG declared `image/svg+xml` / declared `image/jpeg` | 415 `detail` / 400 naming svg |
//! | damaged | PNG cut in its signature, after it, inside IHDR; JPEG of SOI only, cut in its header, cut in its scan, without EOI | 400 "truncated png/jpeg: ..." |
//! | damaged | bad CRC in IHDR, IDAT, IEND, tEXt | 400 "corrupt png: CRC mismatch in chunk <type>" |
//! | damaged | PNG with its IDAT data cut, CRC and IEND intact | 201, thumbnails `failed` |
//! | damaged | JPEG cut in its scan with EOI re-added; progressive JPEG of its first scan only | 201, `ready`: the decoder conceals the missing data (grey), as libjpeg and browsers do |
//! | huge | JPEG headers of 65535x65535 and 65535x764 (a JPEG cannot say 100000) | 400 naming the size and "at most 50000000 pixels" |
//! | huge | all-zero PNG bombs of 7072x7072, 1-bit (19 KB) and 8-bit (63 KB) | 400 naming the size and the limit, without inflating |
//! | huge | the 1-bit bomb at 7071x7071, under the limit | 201, `ready` (black) |
//! | heavy | 16-bit RGBA PNG of 200000x240 (rows of 1.6 MB before reduction to 8 bits); progressive CMYK JPEG of 8000x6000 (every coefficient held: 384 MB) | 201, `ready`, colours right |
//! | lying | PNG width 0 or 2^31; JPEG width 0 | 400 "corrupt ...: invalid image size ..." / "width of 0" |
//! | lying | JPEG height in DNL, 12-bit, arithmetic-coded, lossless | 400 naming the variant and "8-bit baseline or progressive huffman-coded jpeg" |
//! | lying | APNG whose first frame is larger than the image | 201, thumbnails `failed` |
//! | lying | JPEG header of 4000x3000 on 64x48 of data | 201, `ready`, the missing data concealed |
//! | lying | EXIF orientation 0 and 9, EXIF IFD offset out of range | 201, `ready`, shown as stored |
//! | png | 16-bit RGB, grey and grey+alpha; grey+alpha; palette with tRNS; 1-bit grey; Adam7 interlaced | 201, `ready`, colours (and alpha) kept |
//! | png | APNG of two frames | 201, `ready`: its default image (the first frame) |
//! | jpeg | progressive (colour, grey), grey, restart markers, Adobe CMYK (inverted), YCCK | 201, `ready`, colours right (CMYK ink to RGB) |
//! | orientation | JPEG EXIF orientations 1 to 8; PNG `eXIf` 5 and 6 | 201, `ready`, upright: sides swapped for 5 to 8, quadrants where turning puts them |
//! | extreme | PNG and JPEG of 1x20000 and 20000x1 | 201, `ready`: 1x200 and 1x400; 20000x1 kept (never upscaled); no side of 0 |
//! | polyglot | JPEG + ZIP, JPEG + HTML, HTML in a JPEG comment, PNG + ZIP, HTML in a PNG tEXt | 201, `ready`; the original keeps the extra bytes, the thumbnails do not |
//! | polyglot | PNG signature + JPEG; GIF + ZIP (GIFAR); HTML + JPEG; ZIP + JPEG; SOI + PNG | 400: the first bytes decide (corrupt png, gif, html, unknown, unknown) |
//! | colour | Display P3 JPEG, Adobe RGB JPEG, P3 PNG (`iCCP`), CMYK JPEG with its profile | 201, `ready`, the colours converted to sRGB (CMYK cyan ink as the profile prints it) |
//! | colour | profiles truncated, over `MAX_ICC_PROFILE_BYTES` (4 MiB), of class abstract / device link, CMYK or grey on RGB, garbage tags, chunks missing or miscounted; an `iCCP` bomb and broken zlib; nonsense `gAMA`/`cHRM` | 201, `ready`, the profile ignored: the pixels shown as sRGB |
//! | metadata | JPEG with EXIF + GPS, XMP, ICC, comment (orientation 1 and 6); PNG with `eXIf` + GPS, tEXt, iTXt, zTXt | 201, `ready`, thumbnails bare; originals keep it all (API.md promises bare thumbnails, originals are served as uploaded) |
//!
//! Already in `uploads.rs`: the empty file (form and raw), GIF/HTML/text named `.png`, a PNG
//! cut in half or before IEND, a JPEG cut in half, a flipped byte in IDAT, a 100000x100000
//! PNG header, and a structurally sound PNG with too little data (`failed`). In `limits.rs`:
//! the byte limit (413) and the configured pixel limit.
//!
//! `hostile_seeds` writes every file of 64 KiB or less to `$IMAGEVAULT_WRITE_HOSTILE_SEEDS`
//! for `scripts/fuzz.sh`.

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
        // 19 KB that inflate to 6 MB, over the limit by 13184 pixels.
        case(
            "bomb-png-1bit-7072x7072",
            zero_png(7072, 7072, BitDepth::One),
            AS_PNG,
            Expect::Rejected(&["7072x7072", "at most 50000000 pixels"]),
        ),
        // 63 KB that inflate to 50 MB.
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

/// Files under the pixel limit whose decode takes the most memory per pixel: their weight
/// (`ImageInfo::render_bytes` in the core) counts what pixel counting
/// misses, and they render.
fn heavy_cases() -> Vec<Case> {
    let (width, height) = (8000, 6000);
    vec![
        case(
            "png-rgba16-wide-200000x240",
            solid_rgba_png(200_000, 240, BitDepth::Sixteen, [30, 40, 220, 255]),
            AS_PNG,
            ready("png", (200_000, 240), opaque(BLUE)),
        ),
        case(
            "jpeg-cmyk-progressive-8000x6000",
            jpeg_with(
                (width, height),
                JpegColor::Cmyk,
                &solid(width * height, &[255, 0, 0, 0]),
                |encoder| encoder.set_progressive(true),
            ),
            AS_JPEG,
            ready("jpeg", (width, height), opaque(FOGRA39_CYAN)),
        ),
    ]
}

/// Headers that lie in other ways: impossible or unsupported values are 400s naming them;
/// a size larger than the data is decoded (the missing data concealed, as by libjpeg and
/// browsers); orientations and EXIF that make no sense are ignored (shown as stored).
fn lying_header_cases() -> Vec<Case> {
    let jpeg = rgb_jpeg(W, H, &quadrants(W, H));
    let png = rgb_png(W, H, &quadrants(W, H));
    let exif = |tiff: Vec<u8>| {
        let app1 = imagevault_core::testing::images::exif_app1(&tiff);
        jpeg_with((W, H), JpegColor::Rgb, &quadrants(W, H), |encoder| {
            encoder.add_app_segment(1, app1).unwrap();
        })
    };
    // IFD0 pointing past the end of the TIFF.
    let mut dangling = exif_tiff(6, false);
    dangling[4..8].copy_from_slice(&4000u32.to_be_bytes());
    // The frame control chunk before IDAT says the first frame is larger than the image.
    let apng_lie = with_chunk_patch(
        &apng(W, H, &[RED, BLUE]),
        b"fcTL",
        4,
        &(W + 100).to_be_bytes(),
    );
    vec![
        case(
            "png-width-0",
            with_chunk_patch(&png, b"IHDR", 0, &0u32.to_be_bytes()),
            AS_PNG,
            Expect::Rejected(&["corrupt png", "size 0x240", "between 1 and 2147483647"]),
        ),
        case(
            "png-width-over-2-31",
            with_chunk_patch(&png, b"IHDR", 0, &(1u32 << 31).to_be_bytes()),
            AS_PNG,
            Expect::Rejected(&[
                "corrupt png",
                "size 2147483648x240",
                "between 1 and 2147483647",
            ]),
        ),
        case(
            "apng-first-frame-larger-than-image",
            apng_lie,
            AS_PNG,
            Expect::Failed { format: "png" },
        ),
        case(
            "jpeg-height-in-dnl",
            with_sof_size(&jpeg, 360, 0),
            AS_JPEG,
            Expect::Rejected(&["dnl", "8-bit baseline or progressive"]),
        ),
        case(
            "jpeg-width-0",
            with_sof_size(&jpeg, 0, 240),
            AS_JPEG,
            Expect::Rejected(&["corrupt jpeg", "width of 0"]),
        ),
        case(
            "jpeg-12-bit",
            with_sof_patch(&jpeg, 4, &[12]),
            AS_JPEG,
            Expect::Rejected(&["12-bit jpeg", "8-bit baseline or progressive"]),
        ),
        case(
            "jpeg-arithmetic-coded",
            with_sof_patch(&jpeg, 1, &[0xC9]),
            AS_JPEG,
            Expect::Rejected(&["arithmetic-coded jpeg", "8-bit baseline or progressive"]),
        ),
        case(
            "jpeg-lossless",
            with_sof_patch(&jpeg, 1, &[0xC3]),
            AS_JPEG,
            Expect::Rejected(&["lossless jpeg", "8-bit baseline or progressive"]),
        ),
        // 1.6 KB of scan data for a header of 4000 x 3000: decoded, the rest concealed.
        case(
            "jpeg-size-larger-than-data",
            with_sof_size(&rgb_jpeg(64, 48, &solid(64 * 48, &RED)), 4000, 3000),
            AS_JPEG,
            ready(
                "jpeg",
                (4000, 3000),
                Look::Pixel((0.001, 0.001), [230, 20, 20, 255]),
            ),
        ),
        case(
            "jpeg-orientation-0",
            exif(exif_tiff(0, false)),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "jpeg-orientation-9",
            exif(exif_tiff(9, false)),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "jpeg-exif-ifd-out-of-range",
            exif(dangling),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
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
            interlaced_rgb_png(W, H, &quadrants(W, H)),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
        // APNG: accepted as its default image (the IDAT, here also the first frame, red);
        // the thumbnails are still images, the other frame (blue) is not shown.
        case(
            "apng-two-frames",
            apng(W, H, &[RED, BLUE]),
            AS_PNG,
            ready("png", (W, H), opaque(RED)),
        ),
    ]
}

/// Full cyan ink in sRGB as FOGRA39, the standard CMYK profile for files without one,
/// prints it (Fogra's measurement of the patch in `FOGRA39L.ti3`, relative to the paper);
/// the naive formula would give (0, 255, 255).
const FOGRA39_CYAN: [u8; 3] = [0, 160, 228];

/// JPEG encodings the decoder must handle: all accepted, thumbnails ready.
fn jpeg_cases() -> Vec<Case> {
    let count = W * H;
    let cyan = FOGRA39_CYAN;
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
        // values, and no profile: full cyan ink as the standard press profile prints it.
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
            Expect::Rejected(&["corrupt png", "invalid chunk type"]),
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

/// Embedded colour profiles: usable ones are applied (thumbnails in sRGB), broken and hostile
/// ones ignored with a warning, never failing an upload or a thumbnail.
fn colour_cases() -> Vec<Case> {
    let pixels = quadrants(W, H);
    let in_space = |space: Profile| from_srgb(&pixels, space);
    let tagged_jpeg = |rgb: &[u8], profile: &[u8]| {
        let plain = jpeg_with((W, H), JpegColor::Rgb, rgb, |_| {});
        with_app2(&plain, &app2_chunks(profile, 65_519))
    };
    let tagged_png = |rgb: &[u8], payload: &[u8]| {
        png_with(
            (W, H),
            (ColorType::Rgb, BitDepth::Eight),
            rgb,
            |_| {},
            &[(b"iCCP", payload)],
        )
    };
    let p3 = icc(Profile::DisplayP3);
    let mut cases = vec![
        case(
            "colour-display-p3-jpeg",
            tagged_jpeg(&in_space(Profile::DisplayP3), &p3),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-adobe-rgb-jpeg",
            tagged_jpeg(&in_space(Profile::AdobeRgb), &icc(Profile::AdobeRgb)),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-display-p3-png",
            tagged_png(&in_space(Profile::DisplayP3), &iccp(&p3)),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
    ];
    // Full cyan ink through the CMYK profile: the profile's cyan, not (0, 255, 255).
    let cyan = cmyk_ink()[0].map(|linear: f64| {
        let encoded = if linear <= 0.003_130_8 {
            12.92 * linear
        } else {
            1.055 * linear.powf(1.0 / 2.4) - 0.055
        };
        (encoded * 255.0).round() as u8
    });
    let cmyk = jpeg_with(
        (W, H),
        JpegColor::Cmyk,
        &solid(W * H, &[255, 0, 0, 0]),
        |encoder| encoder.add_icc_profile(&icc(Profile::Cmyk)).unwrap(),
    );
    cases.push(case(
        "colour-cmyk-jpeg-with-profile",
        cmyk,
        AS_JPEG,
        ready("jpeg", (W, H), opaque(cyan)),
    ));

    // Hostile profiles on sRGB pixels: ignored, so the quadrants show as they are.
    let mut abstract_class = p3.clone();
    abstract_class[12..16].copy_from_slice(b"abst");
    let mut link = p3.clone();
    link[12..16].copy_from_slice(b"link");
    let mut garbage_tags = p3.clone();
    for byte in garbage_tags.iter_mut().skip(132) {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    let huge = [p3.clone(), vec![0; MAX_ICC_PROFILE_BYTES]].concat();
    let profiles: [(&str, Vec<u8>); 7] = [
        ("truncated", p3[..p3.len() / 2].to_vec()),
        ("abstract", abstract_class),
        ("device-link", link),
        ("cmyk-on-rgb", icc(Profile::Cmyk)),
        ("grey-on-rgb", icc(Profile::Grey18)),
        ("garbage-tags", garbage_tags),
        ("not-a-profile", SECRET.to_vec()),
    ];
    for (name, profile) in &profiles {
        cases.push(case(
            format!("colour-jpeg-profile-{name}"),
            tagged_jpeg(&pixels, profile),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ));
        cases.push(case(
            format!("colour-png-profile-{name}"),
            tagged_png(&pixels, &iccp(profile)),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ));
    }
    let chunks = app2_chunks(&p3, 100);
    let plain = jpeg_with((W, H), JpegColor::Rgb, &pixels, |_| {});
    let mut miscounted = chunks.clone();
    miscounted[0][13] = 200;
    let mut broken_zlib = iccp(&p3);
    let last = broken_zlib.len() - 1;
    broken_zlib[last] ^= 0xFF;
    cases.extend([
        case(
            "colour-jpeg-profile-too-large",
            with_app2(&plain, &app2_chunks(&huge, 65_519)),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-jpeg-profile-chunk-missing",
            with_app2(&plain, &chunks[1..]),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-jpeg-profile-miscounted",
            with_app2(&plain, &miscounted),
            AS_JPEG,
            ready("jpeg", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-png-iccp-bomb",
            tagged_png(&pixels, &iccp(&vec![0; MAX_ICC_PROFILE_BYTES + 1])),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-png-iccp-broken-zlib",
            tagged_png(&pixels, &broken_zlib),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
        case(
            "colour-png-nonsense-gama-chrm",
            png_with(
                (W, H),
                (ColorType::Rgb, BitDepth::Eight),
                &pixels,
                |_| {},
                &[(b"gAMA", &[0; 4]), (b"cHRM", &[0xFF; 32])],
            ),
            AS_PNG,
            ready("png", (W, H), Look::Quadrants(1)),
        ),
    ]);
    cases
}

/// Every case, in table order.
fn all_cases() -> Vec<Case> {
    [
        foreign_cases(),
        damaged_cases(),
        huge_cases(),
        heavy_cases(),
        lying_header_cases(),
        png_cases(),
        jpeg_cases(),
        orientation_cases(),
        extreme_cases(),
        polyglot_cases(),
        colour_cases(),
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
        let chunks: Vec<_> = PngChunks::new(data).collect();
        for chunk in &chunks {
            assert!(
                matches!(&chunk.kind, b"IHDR" | b"IDAT" | b"IEND"),
                "{name}: thumbnail has chunk {}",
                String::from_utf8_lossy(&chunk.kind)
            );
        }
        let last = chunks.last().unwrap();
        assert_eq!(
            (&last.kind, last.payload_end + 4),
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
async fn hostile_memory_heavy_files_are_thumbnailed() {
    run(heavy_cases()).await;
}

#[tokio::test]
async fn hostile_lying_headers_are_400_or_handled() {
    run(lying_header_cases()).await;
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
async fn hostile_colour_profiles_are_applied_or_ignored() {
    run(colour_cases()).await;
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
