//! Thumbnail encoders. Nothing but pixels goes out: no EXIF, ICC, text or time chunks.

use std::borrow::Cow;

use super::ImageFormat;
use super::pixels::{Layout, Pixels};

/// JPEG quality of thumbnails: visually clean at thumbnail sizes, about half the bytes of 95.
pub(crate) const JPEG_QUALITY: u8 = 85;

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

    #[test]
    fn jpeg_cannot_exceed_65535_pixels_a_side() {
        let pixels = Pixels::new(70_000, 1, Layout::L, vec![0; 70_000]).expect("valid");
        assert!(encode(&pixels, ImageFormat::Jpeg).is_err());
    }
}
