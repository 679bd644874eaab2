use super::colour::ColourSource;
use super::memory::{Shape, render_bytes};
use super::render::stored_sizes;
use super::sniff::{Sniffed, sniff};
use super::{ImageError, ImageFormat, jpeg_structure, png_structure};

/// Input limits, checked by [`inspect`] before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Largest accepted `width * height`, as declared in the header. Decoding needs memory
    /// in proportion, how much depends on the file (see [`ImageInfo::render_bytes`]): about
    /// 3 to 16 bytes per pixel for PNG (16-bit rows and alpha copies included) and baseline
    /// JPEG, up to about 21 for a 4-component progressive JPEG, whose coefficients are all
    /// held at once (10 of the 21 bytes, needed even for the smallest thumbnails).
    pub max_pixels: u64,
}

impl ImageLimits {
    /// The default of [`max_bytes`](Self::max_bytes): 25 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 25 * 1024 * 1024;
    /// The default of [`max_pixels`](Self::max_pixels): 50 megapixels.
    pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
}

impl Default for ImageLimits {
    /// [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES) and
    /// [`DEFAULT_MAX_PIXELS`](Self::DEFAULT_MAX_PIXELS).
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// What [`inspect`] learns from the bytes without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// The format, from the magic bytes.
    pub format: ImageFormat,
    /// Width as encoded in the file.
    pub stored_width: u32,
    /// Height as encoded in the file.
    pub stored_height: u32,
    /// EXIF orientation, 1..=8; 1 when there is no EXIF orientation or it is invalid.
    pub orientation: u8,
    /// Width as displayed, after applying the orientation.
    pub width: u32,
    /// Height as displayed, after applying the orientation.
    pub height: u32,
    /// What decoding costs in memory besides the size.
    pub(crate) shape: Shape,
    /// Where the colour profile is, if the file has one.
    pub(crate) colour: ColourSource,
}

impl ImageInfo {
    /// The most bytes [`render_thumbnails`](super::render_thumbnails) of this image for
    /// `max_heights` allocates, beyond the file itself: the larger of the decode (at the DCT
    /// scale the heights need; a progressive JPEG's coefficients at full resolution, 2 bytes
    /// per sample of every component padded to whole MCUs, whatever the scale; a 16-bit
    /// PNG's output and rows at 16 bits; the CMYK to RGB copy) and the resize (the decoded pixels, an
    /// unpremultiplied copy, the largest thumbnail, its upright copy and its encoding).
    /// Callers that run several renders at once weigh them by this.
    ///
    /// ```
    /// use imagevault_core::imaging::{ImageLimits, inspect};
    ///
    /// // A 1x1 greyscale PNG.
    /// let png = [
    ///     137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0,
    ///     1, 8, 0, 0, 0, 0, 58, 126, 155, 85, 0, 0, 0, 10, 73, 68, 65, 84, 120, 156, 99, 96,
    ///     0, 0, 0, 2, 0, 1, 72, 175, 164, 113, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
    /// ];
    /// let info = inspect(&png, &ImageLimits::default()).unwrap();
    /// assert!(info.render_bytes(&[200]) < 1 << 20);
    /// ```
    pub fn render_bytes(&self, max_heights: &[u32]) -> u64 {
        render_bytes(self, &stored_sizes(self, max_heights))
    }
}

/// What a structure walk returns.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) format: ImageFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) orientation: u8,
    pub(crate) shape: Shape,
    pub(crate) colour: ColourSource,
}

/// Rejects images whose declared size exceeds the pixel limit; the walkers call this as
/// soon as they know the dimensions.
pub(crate) fn check_pixels(
    width: u32,
    height: u32,
    limits: &ImageLimits,
) -> Result<(), ImageError> {
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// Orientations 5..=8 turn the image by a quarter, swapping width and height.
pub(crate) fn swaps_dimensions(orientation: u8) -> bool {
    matches!(orientation, 5..=8)
}

/// Identifies and validates an upload without decoding its pixels.
///
/// - The format comes from the magic bytes only; anything but PNG and JPEG is
///   [`ImageError::UnsupportedFormat`] with a name for what it looks like.
/// - The size limit is checked first ([`ImageError::TooLarge`]), the pixel limit as soon as
///   the header is read ([`ImageError::TooManyPixels`]).
/// - PNG: the signature and every chunk up to IEND, with its length and CRC-32; IHDR must come
///   first and be valid (nonzero size, allowed bit depth and colour type), palette images need
///   PLTE, IDAT chunks must be present and consecutive, unknown critical chunks are rejected.
///   The orientation comes from an `eXIf` chunk.
/// - JPEG: SOI, every marker segment and its length, the entropy-coded data of every scan
///   (honouring 0xFF00 stuffing and RSTn markers), exactly one SOF that is baseline, extended or
///   progressive Huffman with 8-bit samples, and EOI. Arithmetic-coded, lossless and
///   hierarchical JPEGs are [`ImageError::UnsupportedFormat`]; more than 100 scans is
///   [`ImageError::Corrupt`] (no encoder writes that many, and each costs a pass over the
///   image). The orientation comes from the first APP1 "Exif" segment.
/// - Bytes after IEND or EOI are ignored (cameras append data there).
///
/// Runs in time linear in `data.len()`, allocates nothing proportional to the input, and
/// never panics.
///
/// # Errors
///
/// [`ImageError::Empty`], [`ImageError::UnsupportedFormat`], [`ImageError::TooLarge`],
/// [`ImageError::TooManyPixels`], [`ImageError::Truncated`] or [`ImageError::Corrupt`].
pub fn inspect(data: &[u8], limits: &ImageLimits) -> Result<ImageInfo, ImageError> {
    if data.is_empty() {
        return Err(ImageError::Empty);
    }
    let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
    if size > limits.max_bytes {
        return Err(ImageError::TooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    let header = match sniff(data) {
        Sniffed::Supported(ImageFormat::Png) => png_structure::walk(data, limits)?,
        Sniffed::Supported(ImageFormat::Jpeg) => jpeg_structure::walk(data, limits)?,
        Sniffed::Unsupported(detected) => {
            return Err(ImageError::UnsupportedFormat { detected });
        }
    };
    let (width, height) = if swaps_dimensions(header.orientation) {
        (header.height, header.width)
    } else {
        (header.width, header.height)
    };
    Ok(ImageInfo {
        format: header.format,
        stored_width: header.width,
        stored_height: header.height,
        orientation: header.orientation,
        width,
        height,
        shape: header.shape,
        colour: header.colour,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::test_support::{corpus_file, make_jpeg, make_png, with_jpeg_exif};

    #[test]
    fn default_limits() {
        let limits = ImageLimits::default();
        assert_eq!(limits.max_bytes, 26_214_400);
        assert_eq!(limits.max_pixels, 50_000_000);
    }

    #[test]
    fn empty_and_unsupported() {
        assert!(matches!(
            inspect(b"", &ImageLimits::default()),
            Err(ImageError::Empty)
        ));
        let err = inspect(b"GIF89a\x01\0\x01\0\0\0\0", &ImageLimits::default()).expect_err("gif");
        assert_eq!(
            err.to_string(),
            "unsupported image type gif; accepted types are png and jpeg"
        );
        assert!(matches!(
            inspect(b"<svg/>", &ImageLimits::default()),
            Err(ImageError::UnsupportedFormat {
                detected: "svg/xml"
            })
        ));
    }

    #[test]
    fn byte_limit_is_checked_first() {
        let png = make_png(4, 4, png::ColorType::Rgb, png::BitDepth::Eight, None);
        let limits = ImageLimits {
            max_bytes: 10,
            max_pixels: 1,
        };
        match inspect(&png, &limits) {
            Err(ImageError::TooLarge { size, limit: 10 }) => {
                assert_eq!(size, u64::try_from(png.len()).unwrap_or(0));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // Exactly at the limit is fine.
        let limits = ImageLimits {
            max_bytes: u64::try_from(png.len()).unwrap_or(0),
            max_pixels: 16,
        };
        assert!(inspect(&png, &limits).is_ok());
    }

    #[test]
    fn pixel_limit_is_inclusive() {
        let png = make_png(5, 4, png::ColorType::Rgb, png::BitDepth::Eight, None);
        let ok = ImageLimits {
            max_bytes: 1 << 20,
            max_pixels: 20,
        };
        assert!(inspect(&png, &ok).is_ok());
        let too_small = ImageLimits {
            max_pixels: 19,
            ..ok
        };
        assert!(matches!(
            inspect(&png, &too_small),
            Err(ImageError::TooManyPixels {
                width: 5,
                height: 4,
                limit: 19
            })
        ));
    }

    #[test]
    fn display_size_follows_orientation() {
        let jpeg = make_jpeg(40, 24, 3, 90);
        for o in 1..=8u8 {
            let data = with_jpeg_exif(&jpeg, o, o % 2 == 0);
            let info = inspect(&data, &ImageLimits::default()).expect("valid");
            assert_eq!(info.format, ImageFormat::Jpeg);
            assert_eq!((info.stored_width, info.stored_height), (40, 24));
            assert_eq!(info.orientation, o);
            if o >= 5 {
                assert_eq!((info.width, info.height), (24, 40));
            } else {
                assert_eq!((info.width, info.height), (40, 24));
            }
        }
        let png = make_png(10, 6, png::ColorType::Rgb, png::BitDepth::Eight, Some(8));
        let info = inspect(&png, &ImageLimits::default()).expect("valid");
        assert_eq!(
            (info.format, info.orientation, info.width, info.height),
            (ImageFormat::Png, 8, 6, 10)
        );
    }

    #[test]
    fn corpus() {
        type Case = (&'static str, ImageFormat, (u32, u32), u8, (u32, u32));
        let cases: [Case; 9] = [
            (
                "arc-colors-transparent_2140x1200.png",
                ImageFormat::Png,
                (2140, 1200),
                1,
                (2140, 1200),
            ),
            (
                "astronaut_512x512.png",
                ImageFormat::Png,
                (512, 512),
                1,
                (512, 512),
            ),
            (
                "bythewater_2560x1600.jpg",
                ImageFormat::Jpeg,
                (2560, 1600),
                1,
                (2560, 1600),
            ),
            (
                "camera_512x512.png",
                ImageFormat::Png,
                (512, 512),
                1,
                (512, 512),
            ),
            (
                "chelsea_451x300.png",
                ImageFormat::Png,
                (451, 300),
                1,
                (451, 300),
            ),
            (
                "grey_2560x1600.jpg",
                ImageFormat::Jpeg,
                (2560, 1600),
                1,
                (2560, 1600),
            ),
            (
                "seeding_5312x2988.jpg",
                ImageFormat::Jpeg,
                (5312, 2988),
                1,
                (5312, 2988),
            ),
            (
                "storm_1920x1280_orient6.jpg",
                ImageFormat::Jpeg,
                (1920, 1280),
                6,
                (1280, 1920),
            ),
            (
                "sunset_4272x2848.jpg",
                ImageFormat::Jpeg,
                (4272, 2848),
                1,
                (4272, 2848),
            ),
        ];
        for (name, format, stored, orientation, shown) in cases {
            let Some(data) = corpus_file(name) else {
                return;
            };
            let info = inspect(&data, &ImageLimits::default()).expect(name);
            assert_eq!(info.format, format, "{name}");
            assert_eq!((info.stored_width, info.stored_height), stored, "{name}");
            assert_eq!(info.orientation, orientation, "{name}");
            assert_eq!((info.width, info.height), shown, "{name}");
        }
    }
}
