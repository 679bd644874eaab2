//! Run with `cargo run --release -p imagevault-core --example memory_heavy_files -- OUT_DIR`
//!
//! Writes the memory-heavy files of the hostile set at full size, with a peer of the same
//! pixel count for each, to measure the peak memory of rendering them with
//! `thumbnail_once` under `/usr/bin/time -v`:
//!
//! - `wide_rgba16.png` and `wide_rgba8.png`: 200000x240 (48 MP), RGBA at 16 and 8 bits;
//! - `cmyk_progressive.jpg` and `rgb_baseline.jpg`: 8000x6000 (48 MP), a progressive
//!   4-component (CMYK, no subsampling) JPEG and a baseline 4:2:0 colour one.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .ok_or("usage: memory_heavy_files OUT_DIR")?,
    );
    for (name, depth) in [
        ("wide_rgba16.png", png::BitDepth::Sixteen),
        ("wide_rgba8.png", png::BitDepth::Eight),
    ] {
        let (width, height) = (200_000u32, 240u32);
        let bytes_per_pixel = if depth == png::BitDepth::Sixteen {
            8
        } else {
            4
        };
        let row: Vec<u8> = (0..width as usize * bytes_per_pixel)
            .map(|i| (i / 97) as u8)
            .collect();
        let mut file = Vec::new();
        let mut encoder = png::Encoder::new(&mut file, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(depth);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&row.repeat(height as usize))?;
        writer.finish()?;
        std::fs::write(out.join(name), file)?;
    }
    let (width, height) = (8000u16, 6000u16);
    for (name, color, channels, progressive) in [
        (
            "cmyk_progressive.jpg",
            jpeg_encoder::ColorType::Cmyk,
            4,
            true,
        ),
        ("rgb_baseline.jpg", jpeg_encoder::ColorType::Rgb, 3, false),
    ] {
        let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * channels);
        for y in 0..usize::from(height) {
            for x in 0..usize::from(width) {
                let (u, v) = ((x * 255 / 8000) as u8, (y * 255 / 6000) as u8);
                pixels.extend_from_slice(&[u, v, 255 - u, v / 4][..channels]);
            }
        }
        let mut file = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut file, 85);
        encoder.set_progressive(progressive);
        if channels == 4 {
            // Every component at full resolution: the most coefficients a file can hold.
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
        }
        encoder.encode(&pixels, width, height, color)?;
        std::fs::write(out.join(name), file)?;
    }
    Ok(())
}
