//! Thumbnail encoders. Nothing but pixels goes out: no EXIF, ICC, text or time chunks.

use std::borrow::Cow;

use super::ImageFormat;
use super::pixels::{Layout, Pixels};

/// JPEG quality of thumbnails: visually clean at thumbnail sizes, about half the bytes of 95.
pub(crate) const JPEG_QUALITY: u8 = 85;

/// Lossy WebP quality (libwebp's 0 to 100 scale) of the WebP thumbnails a plan may ask
/// for: clean at thumbnail sizes, as the JPEG thumbnails' quality is; compared with
/// libvips' `webpsave` at the same `Q` by `scripts/bench-webp.sh`.
pub const WEBP_QUALITY: u8 = 80;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn encode(pixels: &Pixels, format: ImageFormat) -> Result<Vec<u8>, BoxError> {
    match format {
        ImageFormat::Jpeg => encode_jpeg(pixels),
        ImageFormat::Png => encode_png(pixels),
    }
}

fn encode_jpeg(pixels: &Pixels) -> Result<Vec<u8>, BoxError> {
    let width = u16::try_from(pixels.width())?;
    let height = u16::try_from(pixels.height())?;
    // JPEG sources only ever decode to L or RGB; alpha (impossible here) would be dropped.
    let (data, color): (Cow<'_, [u8]>, _) = match pixels.layout() {
        Layout::L => (pixels.data().into(), jpeg_encoder::ColorType::Luma),
        Layout::Rgb => (pixels.data().into(), jpeg_encoder::ColorType::Rgb),
        Layout::Rgba => (pixels.data().into(), jpeg_encoder::ColorType::Rgba),
        Layout::La => (
            pixels.data().iter().step_by(2).copied().collect(),
            jpeg_encoder::ColorType::Luma,
        ),
    };
    let mut out = Vec::with_capacity(data.len() / 8 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    // 4:2:0 is the encoder's default below quality 90; averaging the chroma instead of
    // picking one sample per block avoids jagged colour edges for almost no time.
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder.encode(&data, width, height, color)?;
    Ok(out)
}

/// Lossy WebP at [`WEBP_QUALITY`] through libwebp (built from the C source the `webp`
/// crate ships). WebP has no greyscale: L and LA are widened to RGB and RGBA; alpha is
/// kept (RGBA and LA), and sources without alpha encode without an alpha channel.
pub(crate) fn encode_webp(pixels: &Pixels) -> Result<Vec<u8>, BoxError> {
    let (width, height) = (pixels.width(), pixels.height());
    let data = pixels.data();
    let (rgb, has_alpha): (Cow<'_, [u8]>, bool) = match pixels.layout() {
        Layout::Rgb => (data.into(), false),
        Layout::Rgba => (data.into(), true),
        Layout::L => (data.iter().flat_map(|&v| [v, v, v]).collect(), false),
        Layout::La => (
            data.chunks_exact(2)
                .flat_map(|pair| [pair[0], pair[0], pair[0], pair[1]])
                .collect(),
            true,
        ),
    };
    let encoder = if has_alpha {
        webp::Encoder::from_rgba(&rgb, width, height)
    } else {
        webp::Encoder::from_rgb(&rgb, width, height)
    };
    let encoded = encoder
        .encode_simple(false, f32::from(WEBP_QUALITY))
        .map_err(|error| format!("WebP encoding failed: {error:?}"))?;
    Ok(encoded.to_vec())
}

fn encode_png(pixels: &Pixels) -> Result<Vec<u8>, BoxError> {
    let color = match pixels.layout() {
        Layout::L => png::ColorType::Grayscale,
        Layout::La => png::ColorType::GrayscaleAlpha,
        Layout::Rgb => png::ColorType::Rgb,
        Layout::Rgba => png::ColorType::Rgba,
    };
    let mut out = Vec::with_capacity(pixels.data().len() / 2 + 1024);
    let mut encoder = png::Encoder::new(&mut out, pixels.width(), pixels.height());
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels.data())?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::encode;
    use crate::imaging::ImageFormat;
    use crate::imaging::pixels::{Layout, Pixels};

    #[test]
    fn png_round_trips_every_layout() {
        for (layout, color) in [
            (Layout::L, png::ColorType::Grayscale),
            (Layout::La, png::ColorType::GrayscaleAlpha),
            (Layout::Rgb, png::ColorType::Rgb),
            (Layout::Rgba, png::ColorType::Rgba),
        ] {
            let data: Vec<u8> = (0..5 * 3 * layout.channels())
                .map(|i| u8::try_from(i * 7 % 256).unwrap_or(0))
                .collect();
            let pixels = Pixels::new(5, 3, layout, data.clone()).expect("valid");
            let out = encode(&pixels, ImageFormat::Png).expect("encodes");
            let decoder = png::Decoder::new(std::io::Cursor::new(&out));
            let mut reader = decoder.read_info().expect("png");
            let mut buf = vec![0; reader.output_buffer_size().expect("size")];
            let info = reader.next_frame(&mut buf).expect("frame");
            assert_eq!((info.width, info.height, info.color_type), (5, 3, color));
            assert_eq!(buf, data, "lossless");
        }
    }

    #[test]
    fn jpeg_grey_and_rgb() {
        for (layout, components) in [(Layout::L, 1), (Layout::Rgb, 3)] {
            let pixels = Pixels::new(17, 9, layout, vec![128; 17 * 9 * components]).expect("valid");
            let out = encode(&pixels, ImageFormat::Jpeg).expect("encodes");
            let mut decoder = jpeg_decoder::Decoder::new(&out[..]);
            let decoded = decoder.decode().expect("jpeg");
            let info = decoder.info().expect("info");
            assert_eq!((info.width, info.height), (17, 9));
            assert_eq!(decoded.len(), 17 * 9 * components);
            assert!(decoded.iter().all(|&v| v.abs_diff(128) <= 2));
        }
    }

    /// Decodes a WebP with libwebp's decoder: (width, height, has alpha, samples).
    fn decode_webp(data: &[u8]) -> (u32, u32, bool, Vec<u8>) {
        assert!(
            data.starts_with(b"RIFF") && &data[8..12] == b"WEBP",
            "a WebP file"
        );
        let image = webp::Decoder::new(data).decode().expect("decodes");
        (
            image.width(),
            image.height(),
            image.is_alpha(),
            image.to_vec(),
        )
    }

    #[test]
    fn webp_encodes_every_layout_and_keeps_alpha() {
        for (layout, alpha) in [
            (Layout::L, false),
            (Layout::La, true),
            (Layout::Rgb, false),
            (Layout::Rgba, true),
        ] {
            let channels = layout.channels();
            let mut data = Vec::with_capacity(33 * 21 * channels);
            for y in 0..21u32 {
                for x in 0..33u32 {
                    // A smooth gradient; the alpha channel (last) is opaque on the left half.
                    let value = u8::try_from((x * 7 + y * 3) % 256).unwrap_or(0);
                    let opaque = if x < 16 { 255 } else { 0 };
                    match channels {
                        1 => data.push(value),
                        2 => data.extend([value, opaque]),
                        3 => data.extend([value, 255 - value, 128]),
                        _ => data.extend([value, 255 - value, 128, opaque]),
                    }
                }
            }
            let pixels = Pixels::new(33, 21, layout, data).expect("valid");
            let out = super::encode_webp(&pixels).expect("encodes");
            let (width, height, has_alpha, samples) = decode_webp(&out);
            assert_eq!((width, height, has_alpha), (33, 21, alpha), "{layout:?}");
            if alpha {
                // Lossy colour, but the alpha plane is exact at this quality.
                assert_eq!(samples[3], 255, "left half stays opaque ({layout:?})");
                assert_eq!(
                    samples[(33 - 1) * 4 + 3],
                    0,
                    "right half stays clear ({layout:?})"
                );
            } else if layout == Layout::L {
                // Grey widened to RGB stays grey, give or take the lossy chroma.
                let [r, g, b] = [samples[0], samples[1], samples[2]];
                assert!(r.abs_diff(g) <= 4 && g.abs_diff(b) <= 4, "{r} {g} {b}");
            }
        }
    }

    #[test]
    fn jpeg_cannot_exceed_65535_pixels_a_side() {
        let pixels = Pixels::new(70_000, 1, Layout::L, vec![0; 70_000]).expect("valid");
        assert!(encode(&pixels, ImageFormat::Jpeg).is_err());
    }
}
