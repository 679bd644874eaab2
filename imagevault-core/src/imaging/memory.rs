//! How many bytes rendering an image takes, from its header and the thumbnail heights
//! alone, so that renders can be admitted by the memory they will use.
//!
//! The pixel count alone says little: a 16-bit PNG's rows take twice the bytes per sample
//! before they are reduced to 8 bits, and a progressive JPEG decoder keeps every DCT
//! coefficient of the image (2 bytes each, per component, padded to whole MCUs) until the
//! last scan, whatever scale it outputs at.

use super::decode::{dct_scale, scaled_side};
use super::{ImageFormat, ImageInfo};

/// One JPEG component's sampling factors (horizontal, vertical), each 1 to 4.
pub(crate) type Sampling = (u8, u8);

/// What the memory of a decode depends on besides the size, as the structure walk found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The IHDR colour type and bit depth.
    Png {
        /// 0, 2, 3, 4 or 6.
        color_type: u8,
        /// 1, 2, 4, 8 or 16.
        bit_depth: u8,
    },
    /// The frame's components and coding.
    Jpeg {
        /// The first `components` entries are used.
        sampling: [Sampling; 4],
        /// 1, 3 or 4.
        components: u8,
        /// SOF2: every coefficient is held until the last scan.
        progressive: bool,
    },
}

impl Shape {
    /// The shape of a JPEG frame with these components (at most 4 are read).
    pub(crate) fn jpeg(components: &[Sampling], progressive: bool) -> Self {
        let mut sampling = [(1, 1); 4];
        for (slot, &factors) in sampling.iter_mut().zip(components) {
            *slot = factors;
        }
        Self::Jpeg {
            sampling,
            components: u8::try_from(components.len().min(4)).unwrap_or(4),
            progressive,
        }
    }
}

/// Raw rows the PNG decoder holds at most: png 0.18 moves inflated rows back once about 4
/// are done, so 4 done rows, the rows being filled and unfiltered, and the previous row.
const PNG_ROWS_HELD: u64 = 8;

/// The inflate window and buffers, and the PNG decoder's data-stream slack of 128 KiB.
const PNG_FIXED_BYTES: u64 = 512 * 1024;

/// The most bytes `render_thumbnails` allocates for `info` and `max_heights`, beyond the
/// file itself: the larger of the decode (decoder state and decoded pixels) and the resize
/// (decoded pixels, an unpremultiplied copy, the largest thumbnail, its upright copy and
/// its encoding, bounded by its pixels).
pub(crate) fn render_bytes(info: &ImageInfo, stored_sizes: &[(u32, u32)]) -> u64 {
    let min_size = stored_sizes
        .iter()
        .fold((1, 1), |(a, b), &(w, h)| (a.max(w), b.max(h)));
    let (w, h) = (info.stored_width, info.stored_height);
    let (decode, (out_w, out_h), channels, alpha) = match info.shape {
        Shape::Png {
            color_type,
            bit_depth,
        } => {
            let (decode, channels) = png_decode(w, h, color_type, bit_depth);
            (decode, (w, h), channels, matches!(color_type, 3 | 4 | 6))
        }
        Shape::Jpeg {
            sampling,
            components,
            progressive,
        } => {
            let components = &sampling[..usize::from(components.clamp(1, 4))];
            let numerator = match info.format {
                ImageFormat::Jpeg => dct_scale(w, h, min_size),
                ImageFormat::Png => 8,
            };
            let decode = jpeg_decode(w, h, components, progressive, numerator);
            let out = (scaled_side(w, numerator), scaled_side(h, numerator));
            // Grey stays grey; colour and CMYK come out as RGB.
            let channels = if components.len() == 1 { 1 } else { 3 };
            (decode, out, channels, false)
        }
    };
    let decoded = u64::from(out_w) * u64::from(out_h) * channels;
    let same_size_kept = alpha && stored_sizes.contains(&(out_w, out_h));
    let largest = stored_sizes
        .iter()
        .map(|&(tw, th)| u64::from(tw) * u64::from(th) * channels)
        .max()
        .unwrap_or(0);
    let upright = if (2..=8).contains(&info.orientation) {
        largest
    } else {
        0
    };
    let resize = decoded + if same_size_kept { decoded } else { 0 } + 2 * largest + upright;
    decode.max(resize)
}

/// Bytes of a PNG decode (the output, at 16 bits a sample for a 16-bit file until it is
/// rounded to 8, and the decoder's window of raw rows at the file's bit depth), and the
/// channels of the output.
fn png_decode(width: u32, height: u32, color_type: u8, bit_depth: u8) -> (u64, u64) {
    let (width, height) = (u64::from(width), u64::from(height));
    let (channels, output_channels): (u64, u64) = match color_type {
        0 => (1, 1),
        2 => (3, 3),
        // A palette expands to RGBA when the file has tRNS, which the walk does not keep.
        3 => (1, 4),
        4 => (2, 2),
        _ => (4, 4),
    };
    let output = width * height * output_channels * if bit_depth == 16 { 2 } else { 1 };
    let raw_row = (width * channels * u64::from(bit_depth)).div_ceil(8) + 1;
    let rows = PNG_ROWS_HELD * raw_row + width * output_channels + PNG_FIXED_BYTES;
    (output + rows, output_channels)
}

/// Bytes of a JPEG decode at the DCT scale `numerator`/8: the coefficients of every block at
/// full resolution (progressive only, whatever the scale) plus a copy of one component's
/// (jpeg-decoder sends a component's rows to its IDCT thread as copies, over an unbounded
/// channel, one component at a time), each component's plane padded to whole MCUs, the
/// interleaved output, and for 4 components the RGB it is converted to.
fn jpeg_decode(
    width: u32,
    height: u32,
    components: &[Sampling],
    progressive: bool,
    numerator: u32,
) -> u64 {
    let h_max = components.iter().map(|c| u64::from(c.0)).max().unwrap_or(1);
    let v_max = components.iter().map(|c| u64::from(c.1)).max().unwrap_or(1);
    let mcus_wide = u64::from(width).div_ceil(8 * h_max);
    let mcus_high = u64::from(height).div_ceil(8 * v_max);
    let component_blocks = |&(h, v): &Sampling| mcus_wide * u64::from(h) * mcus_high * u64::from(v);
    let blocks: u64 = components.iter().map(component_blocks).sum();
    let largest = components.iter().map(component_blocks).max().unwrap_or(0);
    let coefficients = if progressive {
        (blocks + largest) * 64 * 2
    } else {
        0
    };
    let scale = u64::from(numerator);
    let planes = blocks * scale * scale;
    let pixels =
        u64::from(scaled_side(width, numerator)) * u64::from(scaled_side(height, numerator));
    let count = u64::try_from(components.len()).unwrap_or(4);
    let converted = if count == 4 { pixels * 3 } else { 0 };
    coefficients + planes + pixels * count + converted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_rows_take_twice_the_bytes() {
        let width = 1_000_000;
        let (eight, _) = png_decode(width, 10, 6, 8);
        let (sixteen, channels) = png_decode(width, 10, 6, 16);
        assert_eq!(channels, 4);
        // RGBA16 rows are 8 bytes a pixel against 4, and so is the output until it is
        // rounded to 8 bits.
        assert_eq!(
            sixteen - eight,
            PNG_ROWS_HELD * u64::from(width) * 4 + u64::from(width) * 10 * 4
        );
        assert!(sixteen >= u64::from(width) * 10 * 8 + PNG_ROWS_HELD * u64::from(width) * 8);
    }

    #[test]
    fn progressive_jpeg_keeps_every_coefficient_at_any_scale() {
        let cmyk = [(1, 1); 4];
        let pixels = 4000 * 3000;
        for numerator in [1, 2, 4, 8] {
            let baseline = jpeg_decode(4000, 3000, &cmyk, false, numerator);
            let progressive = jpeg_decode(4000, 3000, &cmyk, true, numerator);
            // All four components' coefficients and one in flight to the IDCT thread.
            assert_eq!(progressive - baseline, pixels * 5 * 2, "at {numerator}/8");
        }
        // Full scale: planes, CMYK output and the RGB copy.
        assert_eq!(
            jpeg_decode(4000, 3000, &cmyk, false, 8),
            pixels * (4 + 4 + 3)
        );
        // 1/8: 500x375, one sample per block.
        assert_eq!(
            jpeg_decode(4000, 3000, &cmyk, false, 1),
            500 * 375 * (4 + 4 + 3)
        );
    }

    #[test]
    fn chroma_padding_counts_whole_mcus() {
        // 4:2:0 with a 17x17 image: the MCU is 16x16, so 2x2 MCUs; luma 4x4 blocks,
        // each chroma 2x2 blocks.
        let samples = (16 + 4 + 4) * 64;
        assert_eq!(
            jpeg_decode(17, 17, &[(2, 2), (1, 1), (1, 1)], true, 8),
            3 * samples + 2 * 16 * 64 + 17 * 17 * 3
        );
    }
}
