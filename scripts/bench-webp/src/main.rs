//! Prints the time to encode one thumbnail as JPEG, PNG, WebP and AVIF, per corpus image
//! and height, and writes each WebP (and the lossless PNG of the same pixels) for the
//! script to compare with libvips' `webpsave`.
//!
//! Usage: bench-webp OUT_DIR RUNS WEBP_QUALITY AVIF_QUALITY AVIF_SPEED IMAGE...
//!
//! The pixels are decoded and resized (Lanczos3) once per image and height; only the
//! encoders are timed, each as the best of RUNS. JPEG and PNG use imagevault's settings
//! (JPEG quality 85, 4:2:0 with averaged chroma; PNG fast compression); WebP is lossy at
//! WEBP_QUALITY (alpha kept); AVIF is ravif at AVIF_QUALITY and AVIF_SPEED, one thread.
//! Prints tab-separated rows: image, height, format, best ms, bytes.

use std::time::{Duration, Instant};

const HEIGHTS: [u32; 2] = [200, 400];

fn best_of<T>(runs: u32, mut encode: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = encode();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out_dir, runs, webp_quality, avif_quality, avif_speed, images @ ..] = &args[..] else {
        return Err("usage: bench-webp OUT_DIR RUNS WEBP_QUALITY AVIF_QUALITY AVIF_SPEED IMAGE...".into());
    };
    let runs: u32 = runs.parse()?;
    let webp_quality: f32 = webp_quality.parse()?;
    let avif_quality: f32 = avif_quality.parse()?;
    let avif_speed: u8 = avif_speed.parse()?;
    let avif = ravif::Encoder::new()
        .with_quality(avif_quality)
        .with_alpha_quality(avif_quality)
        .with_speed(avif_speed)
        .with_num_threads(Some(1));
    for path in images {
        let name = std::path::Path::new(path)
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("image")
            .to_owned();
        let source = image::open(path)?;
        let alpha = source.color().has_alpha();
        for height in HEIGHTS {
            let width = ((u64::from(source.width()) * u64::from(height) * 2
                + u64::from(source.height()))
                / (2 * u64::from(source.height()))) as u32;
            let (width, height) = if height >= source.height() {
                (source.width(), source.height())
            } else {
                (width.max(1), height)
            };
            let resized =
                source.resize_exact(width, height, image::imageops::FilterType::Lanczos3);
            let rgba = resized.to_rgba8();
            let rgb = resized.to_rgb8();
            let (w16, h16) = (u16::try_from(width)?, u16::try_from(height)?);

            let (time, jpeg) = best_of(runs, || {
                let mut out = Vec::new();
                let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
                encoder.set_chroma_subsampling_method(
                    jpeg_encoder::ChromaSubsamplingMethod::Average,
                );
                encoder
                    .encode(rgb.as_raw(), w16, h16, jpeg_encoder::ColorType::Rgb)
                    .map(|()| out)
            });
            println!("{name}\t{height}\tjpeg\t{:.3}\t{}", ms(time), jpeg?.len());

            let (pixels, color) = if alpha {
                (rgba.as_raw(), png::ColorType::Rgba)
            } else {
                (rgb.as_raw(), png::ColorType::Rgb)
            };
            let encode_png = |compression| -> Result<Vec<u8>, png::EncodingError> {
                let mut out = Vec::new();
                let mut encoder = png::Encoder::new(&mut out, width, height);
                encoder.set_color(color);
                encoder.set_depth(png::BitDepth::Eight);
                encoder.set_compression(compression);
                let mut writer = encoder.write_header()?;
                writer.write_image_data(pixels)?;
                writer.finish()?;
                Ok(out)
            };
            let (time, png_out) = best_of(runs, || encode_png(png::Compression::Fast));
            println!("{name}\t{height}\tpng\t{:.3}\t{}", ms(time), png_out?.len());

            let (time, webp_out) = best_of(runs, || {
                let encoder = if alpha {
                    webp::Encoder::from_rgba(rgba.as_raw(), width, height)
                } else {
                    webp::Encoder::from_rgb(rgb.as_raw(), width, height)
                };
                encoder
                    .encode_simple(false, webp_quality)
                    .map(|memory| memory.to_vec())
            });
            let webp_out = webp_out.map_err(|error| format!("webp: {error:?}"))?;
            println!("{name}\t{height}\twebp\t{:.3}\t{}", ms(time), webp_out.len());
            std::fs::write(format!("{out_dir}/{name}_{height}.webp"), &webp_out)?;
            // Lossless input for libvips, so that both WebP encoders get the same pixels.
            std::fs::write(
                format!("{out_dir}/{name}_{height}.png"),
                encode_png(png::Compression::Fast)?,
            )?;

            let rgba_pixels: Vec<rgb::RGBA8> = rgba
                .pixels()
                .map(|p| rgb::RGBA8::new(p[0], p[1], p[2], p[3]))
                .collect();
            let rgb_pixels: Vec<rgb::RGB8> =
                rgb.pixels().map(|p| rgb::RGB8::new(p[0], p[1], p[2])).collect();
            let (w, h) = (width as usize, height as usize);
            // AVIF takes far longer: best of at most 3.
            let (time, avif_out) = best_of(runs.min(3), || {
                if alpha {
                    avif.encode_rgba(imgref::Img::new(&rgba_pixels[..], w, h))
                        .map(|encoded| encoded.avif_file)
                } else {
                    avif.encode_rgb(imgref::Img::new(&rgb_pixels[..], w, h))
                        .map(|encoded| encoded.avif_file)
                }
            });
            println!("{name}\t{height}\tavif\t{:.3}\t{}", ms(time), avif_out?.len());
        }
    }
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
