//! Run with `cargo run --release -p imagevault-core --example colour_difference -- make DIR [PHOTO]`
//! and then `... -- measure DIR`.
//!
//! The colour test's measurement as a program, for `scripts/colour-difference.sh` to put
//! libvips' figure beside imagevault's:
//!
//! - `make DIR [PHOTO]` writes `DIR/srgb.jpg` and `DIR/p3.jpg`: the photo (by default the
//!   fixture `bythewater_2560x1600.jpg`) encoded again at quality 95 as sRGB, and converted
//!   to Display P3 with the P3 profile embedded; and `DIR/p3-untagged.jpg`, the P3 file
//!   without its profile (shown as sRGB: what imagevault rendered before it read profiles).
//! - `measure DIR` renders the 400 px thumbnails of those files with `render_thumbnails`
//!   and prints the mean CIEDE2000 between the sRGB file's thumbnail and the P3 file's,
//!   with the profile applied and without it; then the same between `DIR/vips-srgb.jpg`
//!   and `DIR/vips-p3.jpg` if they are there (libvips' thumbnails of the same two files);
//!   then the time of `render_thumbnails` for 200 and 400 px on the sRGB and the P3 file,
//!   best of `$BENCH_RUNS` (default 10).
//!
//! The measure is `testing::profiles::mean_ciede2000`, the one the colour unit test bounds.
//! Figures, not checks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imagevault_core::imaging::{ImageLimits, render_thumbnails};
use imagevault_core::testing::profiles::{mean_ciede2000, srgb_and_p3_jpegs};

/// Decodes a JPEG to RGB; exits with a message if it is not one.
fn rgb(data: &[u8], what: &str) -> Vec<u8> {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    let pixels = decoder
        .decode()
        .unwrap_or_else(|e| fail(&format!("{what}: {e}")));
    match decoder.info().map(|i| i.pixel_format) {
        Some(jpeg_decoder::PixelFormat::RGB24) => pixels,
        other => fail(&format!("{what}: {other:?} is not RGB")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("colour_difference: {message}");
    std::process::exit(1)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

/// The 400 px thumbnail of a file, decoded.
fn thumbnail(data: &[u8], what: &str) -> Vec<u8> {
    let thumbnails = render_thumbnails(data, &[400], &ImageLimits::default())
        .unwrap_or_else(|e| fail(&format!("{what}: {e}")));
    rgb(&thumbnails[0].data, what)
}

/// The JPEG without its APP2 segments.
fn without_app2(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
        let end = at + 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != 0xE2 {
            out.extend_from_slice(&jpeg[at..end.min(jpeg.len())]);
        }
        at = end;
    }
    out.extend_from_slice(&jpeg[at.min(jpeg.len())..]);
    out
}

fn best_time(data: &[u8], runs: usize) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            render_thumbnails(data, &[200, 400], &ImageLimits::default())
                .unwrap_or_else(|e| fail(&e.to_string()));
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let mode = args.next().and_then(|m| m.into_string().ok());
    let Some(dir) = args.next().map(PathBuf::from) else {
        fail("usage: colour_difference make|measure DIR [PHOTO]");
    };
    match mode.as_deref() {
        Some("make") => {
            let photo = args.next().map_or_else(
                || {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("../tests/fixtures/bythewater_2560x1600.jpg")
                },
                PathBuf::from,
            );
            let (srgb, p3) = srgb_and_p3_jpegs(&read(&photo));
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
            for (name, data) in [
                ("srgb.jpg", &srgb),
                ("p3.jpg", &p3),
                ("p3-untagged.jpg", &without_app2(&p3)),
            ] {
                std::fs::write(dir.join(name), data).unwrap_or_else(|e| fail(&e.to_string()));
            }
            println!("wrote {} (from {})", dir.display(), photo.display());
        }
        Some("measure") => {
            let srgb = read(&dir.join("srgb.jpg"));
            let p3 = read(&dir.join("p3.jpg"));
            let untagged = read(&dir.join("p3-untagged.jpg"));
            let reference = thumbnail(&srgb, "srgb.jpg");
            let converted = mean_ciede2000(&reference, &thumbnail(&p3, "p3.jpg"));
            let unconverted = mean_ciede2000(&reference, &thumbnail(&untagged, "p3-untagged.jpg"));
            println!("imagevault, profile applied:      mean CIEDE2000 {converted:.3}");
            println!("imagevault, without conversion:   mean CIEDE2000 {unconverted:.3}");
            let (vips_srgb, vips_p3) = (dir.join("vips-srgb.jpg"), dir.join("vips-p3.jpg"));
            if vips_srgb.is_file() && vips_p3.is_file() {
                let a = rgb(&read(&vips_srgb), "vips-srgb.jpg");
                let b = rgb(&read(&vips_p3), "vips-p3.jpg");
                if a.len() == b.len() {
                    let vips = mean_ciede2000(&a, &b);
                    println!("libvips thumbnail (export sRGB): mean CIEDE2000 {vips:.3}");
                } else {
                    fail("libvips' two thumbnails differ in size");
                }
            }
            let runs = std::env::var("BENCH_RUNS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10usize)
                .clamp(1, 100);
            for (name, data) in [("sRGB", &srgb), ("Display P3", &p3)] {
                let best = best_time(data, runs);
                println!(
                    "render_thumbnails 200+400 px, {name}: {:.1} ms (best of {runs})",
                    best.as_secs_f64() * 1000.0
                );
            }
        }
        _ => fail("usage: colour_difference make|measure DIR [PHOTO]"),
    }
}
