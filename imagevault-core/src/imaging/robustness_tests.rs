//! Truncated and bit-flipped inputs, real and generated: `inspect` and `render_thumbnails`
//! must return (Ok or Err) and never panic. Deterministic, so any failure reproduces.

use super::test_support::{
    Rng, corpus_dir, encode_jpeg, fix_png_crcs, interlaced_rgb_png, make_cmyk_jpeg, make_jpeg,
    make_png, make_progressive_jpeg, pattern, with_jpeg_exif,
};
use super::{ImageError, ImageLimits, inspect, render_thumbnails};

/// Small enough that a mutated header cannot make the test decode a huge image.
fn fuzz_limits() -> ImageLimits {
    ImageLimits {
        max_bytes: 25 * 1024 * 1024,
        max_pixels: 4_000_000,
    }
}

fn generated_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use png::{BitDepth as D, ColorType as C};
    vec![
        ("png rgb8 exif", make_png(37, 23, C::Rgb, D::Eight, Some(6))),
        ("png rgba16", make_png(20, 31, C::Rgba, D::Sixteen, None)),
        ("png grey1", make_png(33, 9, C::Grayscale, D::One, None)),
        (
            "png palette4",
            make_png(19, 17, C::Indexed, D::Four, Some(3)),
        ),
        (
            "png la8",
            make_png(16, 16, C::GrayscaleAlpha, D::Eight, None),
        ),
        (
            "jpeg rgb exif",
            with_jpeg_exif(&make_jpeg(48, 40, 3, 80), 8, true),
        ),
        ("jpeg grey", make_jpeg(40, 24, 1, 80)),
        (
            "png interlaced",
            interlaced_rgb_png(21, 13, &pattern(21, 13, 3)),
        ),
        ("jpeg progressive", make_progressive_jpeg(64, 48)),
        ("jpeg cmyk", encode_jpeg(24, 16, 4, &pattern(24, 16, 4), 80)),
    ]
}

/// A mutated copy of `data`: a truncation, byte flips, or a run of 0xFF/0x00 bytes.
fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = data.to_vec();
    match rng.below(5) {
        0 => out.truncate(rng.below(data.len())),
        1 => {
            let at = rng.below(out.len());
            out[at] ^= 1 << rng.below(8);
        }
        2 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(out.len());
                out[at] = u8::try_from(rng.below(256)).unwrap_or(0);
            }
        }
        3 => {
            // Header damage is the most interesting: concentrate on the first bytes.
            let at = rng.below(out.len().min(700));
            out[at] = if rng.below(2) == 0 { 0xFF } else { 0x00 };
        }
        _ => {
            let at = rng.below(out.len());
            let len = rng.below(64).min(out.len() - at);
            let fill = if rng.below(2) == 0 { 0xFF } else { 0x00 };
            out[at..at + len].fill(fill);
        }
    }
    out
}

/// Like [`mutate`], with PNG chunk CRCs fixed up afterwards half of the time, so that
/// damaged IHDR fields and compressed data reach the decoder instead of failing the CRC.
fn mutate_any(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = mutate(data, rng);
    if out.starts_with(b"\x89PNG") && rng.below(2) == 0 {
        fix_png_crcs(&mut out);
    }
    out
}

/// Runs both entry points; returns whether rendering succeeded.
fn exercise(data: &[u8], limits: &ImageLimits) -> bool {
    let inspected = inspect(data, limits);
    let rendered = render_thumbnails(data, &[16, 64], limits);
    // Anything inspect rejects, render rejects with the same kind of error.
    if let Err(e) = &inspected {
        assert!(rendered.is_err(), "inspect said {e} but render succeeded");
    }
    if let Ok(thumbs) = &rendered {
        for t in thumbs {
            assert!(t.width >= 1 && t.height >= 1 && !t.data.is_empty());
        }
    }
    rendered.is_ok()
}

#[test]
fn every_prefix_of_generated_files_is_rejected_without_panicking() {
    for (name, data) in generated_seeds() {
        assert!(exercise(&data, &fuzz_limits()), "{name} renders intact");
        for len in 0..data.len() {
            let prefix = &data[..len];
            match inspect(prefix, &fuzz_limits()) {
                Err(ImageError::Empty | ImageError::Truncated { .. }) => {}
                // A cut inside the JPEG scan can land right after a 0xFF, or a PNG cut can
                // leave too few bytes to tell the file type: other errors are fine too, as
                // long as the prefix is not accepted.
                Err(_) => {}
                Ok(_) => panic!("{name}: prefix of {len} bytes accepted"),
            }
            // Rendering prefixes is cheap for these small files; do it for a sample.
            if len % 7 == 0 {
                assert!(
                    !exercise(prefix, &fuzz_limits()),
                    "{name}: prefix {len} rendered"
                );
            }
        }
    }
}

#[test]
fn mutated_generated_files_never_panic() {
    // IMAGEVAULT_FUZZ_ROUNDS=100000 for a longer soak (best with --release).
    let rounds: usize = std::env::var("IMAGEVAULT_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut rng = Rng::new(0x1234_5678);
    for (name, data) in generated_seeds() {
        let mut rendered = 0;
        for _ in 0..rounds {
            if exercise(&mutate_any(&data, &mut rng), &fuzz_limits()) {
                rendered += 1;
            }
        }
        eprintln!("{name}: {rendered}/{rounds} mutations still rendered");
    }
}

#[test]
fn mutated_corpus_files_never_panic() {
    let Some(dir) = corpus_dir() else { return };
    let mut rng = Rng::new(42);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let name = path.display().to_string();
        if !(name.ends_with(".png") || name.ends_with(".jpg")) {
            continue;
        }
        let limits = ImageLimits::default();
        // inspect is cheap: many truncations and flips of every file.
        assert!(inspect(&data, &limits).is_ok(), "{name}");
        for _ in 0..300 {
            let cut = rng.below(data.len());
            assert!(
                inspect(&data[..cut], &limits).is_err(),
                "{name}: prefix {cut} accepted"
            );
            let _ = inspect(&mutate_any(&data, &mut rng), &limits);
        }
        // Rendering decodes the whole photo; a handful of mutations per file, more for the
        // small ones.
        let soak: Option<usize> = std::env::var("IMAGEVAULT_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok());
        let rounds = soak.map_or(if data.len() < 300_000 { 12 } else { 4 }, |n| n / 100);
        for _ in 0..rounds {
            exercise(&mutate_any(&data, &mut rng), &fuzz_limits());
        }
    }
}

/// The memory-heavy shapes of the hostile set, small enough for a unit test: a wide 16-bit
/// RGBA PNG (rows of 8 bytes a pixel before they are reduced to 8 bits) and a progressive
/// CMYK JPEG (every coefficient held, 2 bytes each for 4 components, even when only the DC
/// ones are decoded). Their weight counts what plain pixel counting misses, and they render.
#[test]
fn memory_heavy_files_are_weighed_and_render() {
    use png::{BitDepth as D, ColorType as C};
    let limits = ImageLimits::default();

    let (width, height) = (60_000u32, 3u32);
    let wide16 = make_png(width, height, C::Rgba, D::Sixteen, None);
    let wide8 = make_png(width, height, C::Rgba, D::Eight, None);
    let info16 = inspect(&wide16, &limits).expect("valid");
    let info8 = inspect(&wide8, &limits).expect("valid");
    // Kept at its size: the RGBA8 pixels, their unpremultiplied copy and the thumbnail
    // (pixels and encoding), or the decode with at least 4 raw rows of 8 bytes a pixel.
    let pixels = u64::from(width) * u64::from(height);
    assert!(info8.render_bytes(&[400]) >= pixels * 4 * 4);
    assert!(
        info16.render_bytes(&[400]) >= pixels * 4 + 4 * u64::from(width) * 8,
        "16-bit rows are counted at 16 bits: {}",
        info16.render_bytes(&[400])
    );
    assert!(
        info16.render_bytes(&[2]) > info8.render_bytes(&[2]),
        "a 16-bit PNG weighs more than the same 8-bit one"
    );
    let thumbs = render_thumbnails(&wide16, &[2], &limits).expect("renders");
    assert_eq!((thumbs[0].width, thumbs[0].height), (40_000, 2));

    let (width, height) = (1024u32, 768u32);
    let cmyk = make_cmyk_jpeg(width, height, true);
    let baseline = make_cmyk_jpeg(width, height, false);
    let info = inspect(&cmyk, &limits).expect("valid");
    let plain = inspect(&baseline, &limits).expect("valid");
    let pixels = u64::from(width) * u64::from(height);
    let coefficients = pixels * 4 * 2;
    // Decoded at 1/8 (128x96) for a 96 px thumbnail, at full scale for 768 px.
    for heights in [&[96][..], &[768]] {
        assert!(
            info.render_bytes(heights) >= plain.render_bytes(heights) + coefficients,
            "a progressive file adds its coefficients at {heights:?}"
        );
    }
    // At 1/8 little but the coefficients (8 bytes a pixel) and one component's copy (2).
    assert!(info.render_bytes(&[96]) < pixels * 11);
    // Full scale: coefficients (8 + 2), planes (4), CMYK output (4), RGB (3).
    assert_eq!(info.render_bytes(&[768]), pixels * 21);
    let thumbs = render_thumbnails(&cmyk, &[200, 400], &limits).expect("renders");
    assert_eq!((thumbs[1].width, thumbs[1].height), (533, 400));
}
