//! Test helpers of the imaging unit tests: the optional photo corpus, error expectations,
//! and the images of [`crate::testing::images`] with an EXIF orientation where they need one.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::path::PathBuf;

use super::ImageError;
use super::exif::orientation_tiff;
pub(crate) use crate::testing::images::{
    PngChunks, Rng, chunk, encode_jpeg, exif_app1, fix_png_crcs, interlaced_rgb_png,
    make_cmyk_jpeg, make_jpeg, make_progressive_jpeg, pattern, png_from_chunks, png_with, segment,
    with_segment,
};

/// The real-photo corpus: `$IMAGEVAULT_CORPUS`, else `/work/shared/corpus`.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IMAGEVAULT_CORPUS")
        .map_or_else(|| PathBuf::from("/work/shared/corpus"), PathBuf::from);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: corpus folder {} is absent", dir.display());
        None
    }
}

/// A corpus file's bytes, or `None` (with a note on stderr) when the corpus is absent.
pub(crate) fn corpus_file(name: &str) -> Option<Vec<u8>> {
    let path = corpus_dir()?.join(name);
    match std::fs::read(&path) {
        Ok(data) => Some(data),
        Err(e) => {
            eprintln!("skipping: cannot read {}: {e}", path.display());
            None
        }
    }
}

/// Encodes 8- or 16-bit pixels as PNG, optionally with an eXIf orientation chunk; an
/// indexed image gets a 256-colour palette.
pub(crate) fn encode_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    pixels: &[u8],
    orientation: Option<u8>,
) -> Vec<u8> {
    let exif = orientation.map(|o| orientation_tiff(true, u16::from(o)));
    let chunks: Vec<(&[u8; 4], &[u8])> = exif.iter().map(|tiff| (b"eXIf", &tiff[..])).collect();
    png_with(
        (width, height),
        (color, depth),
        pixels,
        |encoder| {
            if color == png::ColorType::Indexed {
                let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
                encoder.set_palette(palette);
            }
        },
        &chunks,
    )
}

/// A patterned PNG of any colour type and depth.
pub(crate) fn make_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    orientation: Option<u8>,
) -> Vec<u8> {
    let samples = color.samples();
    let bits = samples * depth as usize;
    let row_bytes = (width as usize * bits).div_ceil(8);
    let pixels = pattern(u32::try_from(row_bytes).unwrap(), height, 1);
    encode_png(width, height, color, depth, &pixels, orientation)
}

/// The JPEG with an APP1 EXIF segment holding the orientation inserted after SOI.
pub(crate) fn with_jpeg_exif(jpeg: &[u8], orientation: u8, big_endian: bool) -> Vec<u8> {
    let tiff = orientation_tiff(big_endian, u16::from(orientation));
    with_segment(jpeg, &segment(0xE1, &exif_app1(&tiff)))
}

#[track_caller]
pub(crate) fn expect_corrupt<T: Debug>(result: Result<T, ImageError>, detail_part: &str) {
    match result {
        Err(ImageError::Corrupt { detail, .. }) if detail.contains(detail_part) => {}
        other => panic!("expected Corrupt containing {detail_part:?}, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn expect_truncated<T: Debug>(result: Result<T, ImageError>, detail_part: &str) {
    match result {
        Err(ImageError::Truncated { detail, .. }) if detail.contains(detail_part) => {}
        other => panic!("expected Truncated containing {detail_part:?}, got {other:?}"),
    }
}
