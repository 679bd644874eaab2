//! Decoding to 8-bit pixels: JPEG with DCT-domain downscaling, PNG in full (16-bit samples
//! rounded to 8 bits), CMYK converted to RGB through the image's profile.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::colour::{SourceProfile, standard_cmyk_to_srgb};
use super::jpeg_structure::without_ac_scans;
use super::pixels::{Layout, Pixels};
use super::{ImageError, ImageFormat, ImageInfo, ImageLimits};

/// Decodes an image that [`inspect`](super::inspect) accepted.
///
/// `min_size` is the smallest (width, height), in stored orientation, that the result must
/// have in both dimensions: JPEGs are decoded at the smallest DCT scale (1/8, 1/4, 1/2 or 1)
/// that still reaches it (at 1/8, a progressive JPEG's AC scans are not decoded at all).
/// PNGs are always decoded at full size.
///
/// The pixels stay in the image's own colour space, to be converted once resized, except
/// CMYK, which becomes RGB here: through `profile` (the image's CMYK profile) when there is
/// one that works, else naively.
pub(crate) fn decode(
    data: &[u8],
    info: &ImageInfo,
    min_size: (u32, u32),
    limits: &ImageLimits,
    profile: Option<&SourceProfile>,
) -> Result<Pixels, ImageError> {
    let format = info.format;
    // The decoders are well fuzzed, but a panic in one must not take down the caller's
    // worker thread: it is reported like any other decode failure.
    let result = catch_unwind(AssertUnwindSafe(|| match format {
        ImageFormat::Jpeg => decode_jpeg(data, info, min_size, limits, profile),
        ImageFormat::Png => decode_png(data, info, limits),
    }));
    result.unwrap_or_else(|_| Err(ImageError::decode(format, "the decoder panicked")))
}

/// ceil(len * numerator / 8): the size of one side at a DCT scale of numerator/8, exactly
/// as the decoder computes it.
pub(crate) fn scaled_side(len: u32, numerator: u32) -> u32 {
    len.saturating_mul(numerator).div_ceil(8)
}

/// The smallest DCT scale numerator (of 8) whose output covers `min_size` in both
/// dimensions. (`jpeg_decoder::Decoder::scale` accepts a scale once either dimension is
/// large enough, so the pipeline chooses the scale itself.)
pub(crate) fn dct_scale(width: u32, height: u32, min_size: (u32, u32)) -> u32 {
    [1, 2, 4]
        .into_iter()
        .find(|&n| scaled_side(width, n) >= min_size.0 && scaled_side(height, n) >= min_size.1)
        .unwrap_or(8)
}

fn decode_jpeg(
    data: &[u8],
    info: &ImageInfo,
    min_size: (u32, u32),
    limits: &ImageLimits,
    profile: Option<&SourceProfile>,
) -> Result<Pixels, ImageError> {
    let numerator = dct_scale(info.stored_width, info.stored_height, min_size);
    // At 1/8 scale only the DC coefficients count: a progressive file's AC scans, most of
    // its compressed data, are not decoded at all (same pixels, much less work).
    if numerator == 1
        && let Some(pieces) = without_ac_scans(data)
    {
        let decoder = jpeg_decoder::Decoder::new(Pieces::new(pieces));
        let scale = (numerator, true);
        if let Some(pixels) = decode_jpeg_with(decoder, info, min_size, limits, scale, profile)? {
            return Ok(pixels);
        }
    }
    let decoder = jpeg_decoder::Decoder::new(data);
    decode_jpeg_with(decoder, info, min_size, limits, (numerator, false), profile)?
        .ok_or_else(|| ImageError::decode(ImageFormat::Jpeg, "the decoder refused every scale"))
}

/// Decodes at the DCT scale `numerator`/8 (or, for tiny images, at full size). With
/// `dc_only` (the AC scans left out) only a 1/8 decode is right: `None` if the decoder
/// would use another scale.
fn decode_jpeg_with<R: Read>(
    mut decoder: jpeg_decoder::Decoder<R>,
    info: &ImageInfo,
    min_size: (u32, u32),
    limits: &ImageLimits,
    (numerator, dc_only): (u32, bool),
    profile: Option<&SourceProfile>,
) -> Result<Option<Pixels>, ImageError> {
    let err = |e: jpeg_decoder::Error| ImageError::decode(ImageFormat::Jpeg, e);
    // The walk already bounded width * height; components are at most 4 bytes per pixel.
    decoder.set_max_decoding_buffer_size(
        usize::try_from(limits.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX),
    );

    let (w, h) = (info.stored_width, info.stored_height);
    let request = |n: u32| {
        (
            u16::try_from(scaled_side(w, n)).unwrap_or(u16::MAX),
            u16::try_from(scaled_side(h, n)).unwrap_or(u16::MAX),
        )
    };
    let (rw, rh) = request(numerator);
    let (mut out_w, mut out_h) = decoder.scale(rw, rh).map_err(err)?;
    if u32::from(out_w) < min_size.0 || u32::from(out_h) < min_size.1 {
        // Tiny images where two scales give the same size on one side can make the
        // decoder pick a smaller scale than asked; fall back to full size.
        (out_w, out_h) = decoder.scale(u16::MAX, u16::MAX).map_err(err)?;
    }
    if dc_only && (out_w, out_h) != request(1) {
        return Ok(None);
    }

    let mut pixels = decoder.decode().map_err(err)?;
    let format = decoder.info().map(|i| i.pixel_format).ok_or_else(|| {
        ImageError::decode(ImageFormat::Jpeg, "no frame information after decoding")
    })?;
    let layout = match format {
        jpeg_decoder::PixelFormat::L8 => Layout::L,
        jpeg_decoder::PixelFormat::RGB24 => Layout::Rgb,
        jpeg_decoder::PixelFormat::CMYK32 => {
            pixels = profile
                .and_then(|profile| profile.cmyk_to_srgb(&pixels))
                .or_else(|| standard_cmyk_to_srgb(&pixels))
                .unwrap_or_else(|| cmyk_to_rgb(&pixels));
            Layout::Rgb
        }
        jpeg_decoder::PixelFormat::L16 => {
            return Err(ImageError::UnsupportedFormat {
                detected: "16-bit jpeg",
            });
        }
    };
    Pixels::new(u32::from(out_w), u32::from(out_h), layout, pixels)
        .map(Some)
        .ok_or_else(|| {
            ImageError::decode(
                ImageFormat::Jpeg,
                "the decoder returned fewer pixels than the image size",
            )
        })
}

/// Pieces of one byte slice read one after another, without copying them into one buffer.
struct Pieces<'a> {
    rest: std::vec::IntoIter<&'a [u8]>,
    current: &'a [u8],
}

impl<'a> Pieces<'a> {
    fn new(pieces: Vec<&'a [u8]>) -> Self {
        Self {
            rest: pieces.into_iter(),
            current: &[],
        }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rest.next() {
                Some(piece) => self.current = piece,
                None => return Ok(0),
            }
        }
        self.current.read(buf)
    }
}

/// jpeg-decoder returns CMYK as ink amounts (0 = no ink), Adobe's inversion already undone.
/// This is the naive conversion without any profile, the last resort should even the
/// standard CMYK profile's transform fail.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let (pixels, _) = cmyk.as_chunks::<4>();
    let mut rgb = Vec::with_capacity(pixels.len() * 3);
    for &[c, m, y, k] in pixels {
        let white = 255 - u32::from(k);
        for ink in [c, m, y] {
            let v = (255 - u32::from(ink)) * white;
            // Exact rounding of v / 255 for v <= 255 * 255.
            rgb.push(u8::try_from((v + 128 + ((v + 128) >> 8)) >> 8).unwrap_or(u8::MAX));
        }
    }
    rgb
}

fn decode_png(data: &[u8], info: &ImageInfo, limits: &ImageLimits) -> Result<Pixels, ImageError> {
    let err = |e: png::DecodingError| ImageError::decode(ImageFormat::Png, e);
    // The output buffer is ours; the decoder's own allocations are ancillary chunk data
    // (bounded by the file size) and a few rows (at most 8 bytes per pixel each).
    let row_budget = u64::from(info.stored_width).saturating_mul(8 * 4);
    let budget = limits
        .max_bytes
        .saturating_add(row_budget)
        .saturating_add(1 << 20);
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(data),
        png::Limits {
            bytes: usize::try_from(budget).unwrap_or(usize::MAX),
        },
    );
    // Palettes and low bit depths expand to 8 bits and tRNS to an alpha channel; 16-bit
    // samples are rounded to 8 bits below (the decoder's own reduction truncates): every PNG
    // arrives as L, LA, RGB or RGBA of 8 bits.
    decoder.set_transformations(png::Transformations::EXPAND);
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    let mut reader = decoder.read_info().map_err(err)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::decode(ImageFormat::Png, "the image is too large to address"))?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(err)?;
    buf.truncate(frame.buffer_size());
    match frame.bit_depth {
        png::BitDepth::Eight => {}
        png::BitDepth::Sixteen => round_to_8_bits(&mut buf),
        _ => {
            return Err(ImageError::decode(
                ImageFormat::Png,
                "the decoder did not expand the samples to 8 or 16 bits",
            ));
        }
    }
    let layout = match frame.color_type {
        png::ColorType::Grayscale => Layout::L,
        png::ColorType::GrayscaleAlpha => Layout::La,
        png::ColorType::Rgb => Layout::Rgb,
        png::ColorType::Rgba => Layout::Rgba,
        png::ColorType::Indexed => {
            return Err(ImageError::decode(
                ImageFormat::Png,
                "the decoder did not expand the palette",
            ));
        }
    };
    if (frame.width, frame.height) != (info.stored_width, info.stored_height) {
        return Err(ImageError::decode(
            ImageFormat::Png,
            "the first frame is not the size of the image",
        ));
    }
    Pixels::new(frame.width, frame.height, layout, buf).ok_or_else(|| {
        ImageError::decode(
            ImageFormat::Png,
            "the decoder returned fewer pixels than the image size",
        )
    })
}

/// Big-endian 16-bit samples rounded to 8 bits, in place (the buffer halves): the nearest
/// of the 256 levels, `(v * 255 + 32767) / 65535`. Dropping the low byte, as the decoder's
/// own reduction does, makes values up to a whole level darker: 0x01FE is 1.98 levels and
/// would become 1 instead of 2.
fn round_to_8_bits(buf: &mut Vec<u8>) {
    let samples = buf.len() / 2;
    for i in 0..samples {
        let v = u32::from(u16::from_be_bytes([buf[2 * i], buf[2 * i + 1]]));
        buf[i] = u8::try_from((v * 255 + 32_767) / 65_535).unwrap_or(u8::MAX);
    }
    buf.truncate(samples);
    // The resize keeps these pixels: give the 16-bit half back now.
    buf.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::inspect;
    use crate::imaging::test_support::{encode_jpeg, encode_png, make_jpeg, make_png};

    fn decode_all(data: &[u8], min_size: (u32, u32)) -> Result<Pixels, ImageError> {
        let limits = ImageLimits::default();
        let info = inspect(data, &limits)?;
        decode(data, &info, min_size, &limits, None)
    }

    #[test]
    fn dct_scale_covers_both_dimensions() {
        assert_eq!(dct_scale(5312, 2988, (711, 400)), 2);
        assert_eq!(dct_scale(5312, 2988, (664, 373)), 1);
        assert_eq!(dct_scale(5312, 2988, (665, 373)), 2);
        assert_eq!(dct_scale(1920, 1280, (400, 267)), 2);
        assert_eq!(dct_scale(1920, 1280, (240, 160)), 1);
        assert_eq!(dct_scale(100, 100, (100, 100)), 8);
        // One side large enough is not enough.
        assert_eq!(dct_scale(1600, 100, (10, 50)), 4);
        assert_eq!(scaled_side(5312, 1), 664);
        assert_eq!(scaled_side(2988, 1), 374);
        assert_eq!(scaled_side(1, 1), 1);
    }

    #[test]
    fn jpeg_is_decoded_at_the_smallest_sufficient_scale() {
        let jpeg = make_jpeg(160, 96, 3, 90);
        for (min, expected) in [
            ((20, 12), (20, 12)),
            ((21, 12), (40, 24)),
            ((20, 13), (40, 24)),
            ((40, 24), (40, 24)),
            ((41, 1), (80, 48)),
            ((81, 1), (160, 96)),
            ((160, 96), (160, 96)),
        ] {
            let pixels = decode_all(&jpeg, min).expect("decodes");
            assert_eq!((pixels.width(), pixels.height()), expected, "min {min:?}");
            assert_eq!(pixels.layout(), Layout::Rgb);
        }
    }

    #[test]
    fn tiny_jpegs_never_come_out_smaller_than_asked() {
        for (w, h) in [(1, 1), (1, 9), (9, 1), (3, 17), (17, 3), (8, 8), (9, 9)] {
            let jpeg = make_jpeg(w, h, 3, 90);
            for min in [(1, 1), (w, 1), (1, h), (w, h)] {
                let pixels = decode_all(&jpeg, min).expect("decodes");
                assert!(
                    pixels.width() >= min.0 && pixels.height() >= min.1,
                    "{w}x{h} min {min:?} gave {}x{}",
                    pixels.width(),
                    pixels.height()
                );
            }
        }
    }

    /// jpeg-decoder on the whole file at the scale it picks for `request`.
    fn plain_decode(data: &[u8], request: (u16, u16)) -> (u16, u16, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(data);
        let (w, h) = decoder.scale(request.0, request.1).expect("scale");
        (w, h, decoder.decode().expect("decodes"))
    }

    #[test]
    fn progressive_jpeg_at_one_eighth_skips_ac_scans_with_the_same_pixels() {
        use crate::imaging::test_support::make_progressive_jpeg;
        let jpeg = make_progressive_jpeg(320, 200);
        assert!(without_ac_scans(&jpeg).is_some());
        // 1/8 scale (40x25): the AC scans are skipped; the pixels are those of a plain decode.
        let pixels = decode_all(&jpeg, (40, 25)).expect("decodes");
        let (w, h, plain) = plain_decode(&jpeg, (40, 25));
        assert_eq!(
            (pixels.width(), pixels.height()),
            (u32::from(w), u32::from(h))
        );
        assert_eq!((w, h), (40, 25));
        assert_eq!(pixels.data(), plain, "same pixels without the AC scans");
        // A larger scale needs the AC coefficients: still the plain decode.
        let pixels = decode_all(&jpeg, (41, 25)).expect("decodes");
        assert_eq!(pixels.data(), plain_decode(&jpeg, (80, 50)).2);
        assert_eq!((pixels.width(), pixels.height()), (80, 50));
    }

    #[test]
    fn tiny_progressive_jpegs_decode_like_the_whole_file() {
        use crate::imaging::test_support::make_progressive_jpeg;
        // Sizes where several DCT scales give the same output size.
        for (w, h) in [(1, 1), (3, 17), (9, 9), (17, 3), (16, 8)] {
            let jpeg = make_progressive_jpeg(w, h);
            for min in [(1, 1), (w, h)] {
                let pixels = decode_all(&jpeg, min).expect("decodes");
                assert!(
                    pixels.width() >= min.0 && pixels.height() >= min.1,
                    "{w}x{h} min {min:?} gave {}x{}",
                    pixels.width(),
                    pixels.height()
                );
                let request = (
                    u16::try_from(pixels.width()).expect("small"),
                    u16::try_from(pixels.height()).expect("small"),
                );
                assert_eq!(pixels.data(), plain_decode(&jpeg, request).2, "{w}x{h}");
            }
        }
    }

    #[test]
    fn pieces_read_as_one_stream() {
        let mut out = Vec::new();
        Pieces::new(vec![b"ab", b"", b"c", b"", b"def"])
            .read_to_end(&mut out)
            .expect("reads");
        assert_eq!(out, b"abcdef");
        let mut one = [0u8; 1];
        let mut pieces = Pieces::new(vec![b"", b"x"]);
        assert_eq!(pieces.read(&mut one).expect("reads"), 1);
        assert_eq!(pieces.read(&mut one).expect("reads"), 0);
    }

    #[test]
    fn grey_jpeg_stays_grey() {
        let jpeg = make_jpeg(32, 16, 1, 90);
        let pixels = decode_all(&jpeg, (32, 16)).expect("decodes");
        assert_eq!(pixels.layout(), Layout::L);
        assert_eq!(pixels.data().len(), 32 * 16);
    }

    /// A CMYK JPEG without a profile, in 4 vertical bands of 8 columns: magenta+yellow,
    /// cyan, black and no ink, as ink amounts.
    fn cmyk_bands() -> Vec<u8> {
        let inks: [[u8; 4]; 4] = [
            [0, 255, 255, 0],
            [255, 0, 0, 0],
            [0, 0, 0, 255],
            [0, 0, 0, 0],
        ];
        let mut data = Vec::new();
        for _ in 0..8 {
            for ink in inks {
                for _ in 0..8 {
                    data.extend_from_slice(&ink);
                }
            }
        }
        encode_jpeg(32, 8, 4, &data, 100)
    }

    fn assert_bands(pixels: &Pixels, expected: [[u8; 3]; 4], tolerance: u8, what: &str) {
        assert_eq!(pixels.layout(), Layout::Rgb);
        assert_eq!((pixels.width(), pixels.height()), (32, 8));
        for (band, want) in expected.iter().enumerate() {
            let at = (4 * 32 + band * 8 + 4) * 3;
            let got = &pixels.data()[at..at + 3];
            for (g, w) in got.iter().zip(want) {
                assert!(
                    g.abs_diff(*w) <= tolerance,
                    "{what}, band {band}: got {got:?}, want {want:?}"
                );
            }
        }
    }

    #[test]
    fn cmyk_jpegs_without_a_profile_convert_through_fogra39() {
        // The sRGB of Fogra's own measurements of these inks in FOGRA39L.ti3 (XYZ relative
        // to the paper, Bradford to D65, clipped), which the bundled profile was made from.
        let fogra39 = [[228, 31, 37], [0, 160, 228], [43, 43, 42], [255, 255, 255]];
        let pixels = decode_all(&cmyk_bands(), (32, 8)).expect("decodes");
        assert_bands(&pixels, fogra39, 12, "through FOGRA39");
        // Without colour management, the naive formula: paper white and pure primaries.
        let naive = [[255, 0, 0], [0, 255, 255], [0, 0, 0], [255, 255, 255]];
        let pixels = crate::imaging::colour::tests::without_conversion(|| {
            decode_all(&cmyk_bands(), (32, 8)).expect("decodes")
        });
        assert_bands(&pixels, naive, 8, "naive");
    }

    #[test]
    fn cmyk_conversion_rounds_exactly() {
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 255]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[128, 0, 0, 128]), [63, 127, 127]);
        for c in 0..=255u8 {
            for k in [0u8, 1, 100, 254, 255] {
                let exact = f64::from(255 - c) * f64::from(255 - k) / 255.0;
                let got = cmyk_to_rgb(&[c, 0, 0, k])[0];
                assert_eq!(f64::from(got), exact.round(), "c={c} k={k}");
            }
        }
    }

    #[test]
    fn png_layouts() {
        use png::{BitDepth as D, ColorType as C};
        for (color, depth, layout) in [
            (C::Grayscale, D::One, Layout::L),
            (C::Grayscale, D::Four, Layout::L),
            (C::Grayscale, D::Eight, Layout::L),
            (C::Grayscale, D::Sixteen, Layout::L),
            (C::GrayscaleAlpha, D::Eight, Layout::La),
            (C::GrayscaleAlpha, D::Sixteen, Layout::La),
            (C::Rgb, D::Eight, Layout::Rgb),
            (C::Rgb, D::Sixteen, Layout::Rgb),
            (C::Rgba, D::Eight, Layout::Rgba),
            (C::Rgba, D::Sixteen, Layout::Rgba),
            (C::Indexed, D::Two, Layout::Rgb),
            (C::Indexed, D::Eight, Layout::Rgb),
        ] {
            let png = make_png(13, 7, color, depth, None);
            let pixels = decode_all(&png, (1, 1)).expect("decodes");
            assert_eq!(pixels.layout(), layout, "{color:?} {depth:?}");
            assert_eq!((pixels.width(), pixels.height()), (13, 7));
        }
    }

    #[test]
    fn png_one_bit_grey_expands_to_full_range() {
        // Row of 8 pixels: 1,0,1,0,... as a single byte 0b1010_1010.
        let png = encode_png(
            8,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            &[0xAA],
            None,
        );
        let pixels = decode_all(&png, (1, 1)).expect("decodes");
        assert_eq!(pixels.data(), [255, 0, 255, 0, 255, 0, 255, 0]);
    }

    #[test]
    fn damaged_image_data_is_a_decode_error() {
        // Valid structure and CRCs, but the zlib stream inside IDAT is garbage.
        use crate::imaging::test_support::{chunk, png_from_chunks};
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&4u32.to_be_bytes());
        ihdr.extend_from_slice(&4u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let png = png_from_chunks(&[
            chunk(b"IHDR", &ihdr),
            chunk(b"IDAT", b"this is not zlib data"),
            chunk(b"IEND", b""),
        ]);
        match decode_all(&png, (1, 1)) {
            Err(ImageError::Decode {
                format: ImageFormat::Png,
                ..
            }) => {}
            other => panic!("expected Decode, got {other:?}"),
        }
    }
}
