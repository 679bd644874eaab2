//! Embedded colour profiles: any bytes as the ICC profile of a valid JPEG (APP2
//! `ICC_PROFILE` chunks) and of a valid PNG (an `iCCP` chunk), and any 40 bytes as a PNG's
//! `gAMA` and `cHRM` chunks. A profile can never fail a render: it is used, or ignored with
//! a warning and the image taken as sRGB, and the thumbnails always come out.
#![no_main]

use std::sync::OnceLock;

use imagevault_core::imaging::{ImageLimits, render_thumbnails};
use imagevault_core::testing::images::{self, chunk};
use imagevault_core::testing::profiles::{app2_chunks, iccp, with_app2};
use libfuzzer_sys::fuzz_target;

const HEIGHTS: [u32; 2] = [8, 24];

/// The images the profiles go into: a colour JPEG, a CMYK JPEG and an RGB PNG.
fn bases() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static BASES: OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = OnceLock::new();
    BASES.get_or_init(|| {
        (
            images::jpeg(32, 24),
            images::make_cmyk_jpeg(32, 24, false),
            images::png(32, 24),
        )
    })
}

/// The PNG with `chunks` inserted after IHDR (8 bytes of signature and 25 of IHDR).
fn png_with_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    [&png[..33], &chunks.concat(), &png[33..]].concat()
}

fn renders(data: &[u8]) {
    let thumbnails = render_thumbnails(data, &HEIGHTS, &ImageLimits::default())
        .expect("a profile never fails a valid image's thumbnails");
    assert_eq!(thumbnails.len(), HEIGHTS.len());
}

fuzz_target!(|data: &[u8]| {
    let (jpeg, cmyk, png) = bases();
    // A JPEG holds at most 255 chunks.
    if data.len().div_ceil(65_519) <= 255 {
        let segments = app2_chunks(data, 65_519);
        renders(&with_app2(jpeg, &segments));
        renders(&with_app2(cmyk, &segments));
    }
    renders(&png_with_chunks(png, &[chunk(b"iCCP", &iccp(data))]));
    if let (Some(gama), Some(chrm)) = (data.get(..4), data.get(4..36)) {
        renders(&png_with_chunks(
            png,
            &[chunk(b"gAMA", gama), chunk(b"cHRM", chrm)],
        ));
    }
});
