use std::time::Instant;

use super::colour::SourceProfile;
use super::decode::decode;
use super::encode::{encode, encode_webp};
use super::info::swaps_dimensions;
use super::orient::apply_orientation;
use super::placeholder::placeholder;
use super::resize::Resizer;
use super::{ImageError, ImageInfo, ImageLimits, inspect, thumbnail_size};
use crate::placeholder::Placeholder;

/// One rendered thumbnail, encoded in the same format as its source, in sRGB, with the EXIF
/// orientation applied to the pixels and no metadata at all (no EXIF, GPS, ICC or text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedThumbnail {
    /// The requested maximum height this thumbnail was rendered for.
    pub max_height: u32,
    /// Width in pixels, as displayed (see [`thumbnail_size`]).
    pub width: u32,
    /// Height in pixels, as displayed: `max_height`, or less when the source is shorter.
    pub height: u32,
    /// The encoded image (PNG or JPEG, like the source).
    pub data: Vec<u8>,
    /// The same pixels as lossy WebP, when [`RenderOptions::webp`] asked for it.
    pub webp: Option<Vec<u8>>,
}

/// What [`render_thumbnails_with`] makes besides each thumbnail in the source's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// Also encode each thumbnail as lossy WebP (from the same resized pixels).
    pub webp: bool,
}

impl RenderOptions {
    /// Options with WebP variants on or off.
    pub const fn with_webp(webp: bool) -> Self {
        Self { webp }
    }
}

/// What [`render_thumbnails_with`] makes: the thumbnails and the image's placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One per requested height, as [`render_thumbnails`] returns them.
    pub thumbnails: Vec<RenderedThumbnail>,
    /// The ThumbHash and average colour of the smallest thumbnail's upright pixels; `None`
    /// when no height was asked for, or (an internal error, logged) it could not be made.
    pub placeholder: Option<Placeholder>,
}

/// [`render_thumbnails_with`] without variants, and without the placeholder.
///
/// # Errors
///
/// As [`render_thumbnails_with`].
pub fn render_thumbnails(
    data: &[u8],
    max_heights: &[u32],
    limits: &ImageLimits,
) -> Result<Vec<RenderedThumbnail>, ImageError> {
    render_thumbnails_with(data, max_heights, limits, RenderOptions::default())
        .map(|rendered| rendered.thumbnails)
}

/// Renders one thumbnail per entry of `max_heights`, in the same order, from a single decode.
///
/// The sizes follow [`thumbnail_size`] applied to the displayed size (never upscaling).
/// [`inspect`] runs first, so every limit is enforced before any pixel is decoded. JPEGs are
/// decoded directly at the smallest DCT scale (1/8, 1/4, 1/2 or 1) that still covers the
/// largest thumbnail (at 1/8, which needs only the DC coefficients, a progressive JPEG's AC
/// scans are skipped, so damage inside them goes unnoticed); every thumbnail is then resized
/// from that one decoded image with a Lanczos3 filter (alpha premultiplied), converted to
/// sRGB, turned upright per the EXIF orientation, and encoded like the source: baseline JPEG
/// at quality 85 with 4:2:0 chroma (greyscale stays greyscale, CMYK becomes RGB), or PNG
/// keeping the L/LA/RGB/RGBA layout (palettes expand to RGB or RGBA, 16-bit samples are
/// rounded to 8 bits).
///
/// Colours: the image's ICC profile (JPEG APP2 `ICC_PROFILE`, PNG `iCCP`) or PNG `gAMA` and
/// `cHRM` chunks say what its pixels mean, and the thumbnails are converted from that to
/// sRGB with moxcms (CMYK through its profile while decoding, everything else once resized,
/// alpha kept). Thumbnails are sRGB and carry no profile. An image without colour
/// information, with an sRGB profile or a PNG `sRGB` chunk is taken as sRGB and costs
/// nothing extra; a profile that cannot be used (damaged, larger than
/// [`MAX_ICC_PROFILE_BYTES`](super::MAX_ICC_PROFILE_BYTES), of the wrong class or colour
/// space) is ignored with a warning, and the image is taken as sRGB.
///
/// Heights that give the same size (e.g. any height at or above the image's own) are
/// rendered once and copied. An empty `max_heights` still validates the file. The variants
/// `options` asks for (WebP) are encoded from the same resized, upright pixels as each
/// thumbnail.
///
/// The smallest thumbnail's upright pixels, once encoded, also give the image's
/// [`Placeholder`]: its exact alpha-weighted average colour, and a ThumbHash of a copy
/// resized to fit 100 x 100 (beyond the thumbnail's own pixels, at most that small copy).
///
/// This is CPU-bound and blocks, the longer the larger the image (a large progressive JPEG
/// takes longest). Async callers should run it on a blocking pool.
///
/// # Errors
///
/// Everything [`inspect`] returns; [`ImageError::ZeroMaxHeight`] if a height is 0;
/// [`ImageError::Decode`] when the compressed pixel data is damaged;
/// [`ImageError::Render`] if resizing or encoding fails (an internal error).
pub fn render_thumbnails_with(
    data: &[u8],
    max_heights: &[u32],
    limits: &ImageLimits,
    options: RenderOptions,
) -> Result<Rendered, ImageError> {
    if max_heights.contains(&0) {
        return Err(ImageError::ZeroMaxHeight);
    }
    let info = inspect(data, limits)?;
    if max_heights.is_empty() {
        return Ok(Rendered {
            thumbnails: Vec::new(),
            placeholder: None,
        });
    }
    let format = info.format;
    let sizes = displayed_sizes(&info, max_heights);
    let stored_sizes = stored_sizes(&info, max_heights);
    let min_size = stored_sizes
        .iter()
        .fold((1, 1), |(a, b), &(w, h)| (a.max(w), b.max(h)));

    let decoding = Instant::now();
    // None for sRGB, for an image without a profile and for one that cannot be used.
    let profile = SourceProfile::of(data, &info);
    let pixels = decode(data, &info, min_size, limits, profile.as_ref())?;
    crate::metrics::record_decode(decoding.elapsed());
    let to_srgb = profile.and_then(|profile| profile.to_srgb(pixels.layout()));

    let mut resizer =
        Resizer::new(pixels, &stored_sizes).map_err(|e| ImageError::render(format, e))?;
    let mut thumbnails: Vec<RenderedThumbnail> = Vec::with_capacity(max_heights.len());
    // The first of the smallest sizes, which is rendered rather than copied.
    let smallest = (0..sizes.len()).min_by_key(|&i| u64::from(sizes[i].0) * u64::from(sizes[i].1));
    let mut made_placeholder = None;
    for (index, ((&max_height, &(width, height)), &(stored_width, stored_height))) in max_heights
        .iter()
        .zip(&sizes)
        .zip(&stored_sizes)
        .enumerate()
    {
        if let Some(same) = thumbnails
            .iter()
            .find(|t| (t.width, t.height) == (width, height))
        {
            let copy = RenderedThumbnail {
                max_height,
                ..same.clone()
            };
            thumbnails.push(copy);
            continue;
        }
        let rendering = Instant::now();
        let mut resized = resizer
            .resize(stored_width, stored_height)
            .map_err(|e| ImageError::render(format, e))?;
        // Converted once small, as libvips' thumbnail does.
        if let Some(to_srgb) = &to_srgb {
            resized = to_srgb.apply(resized);
        }
        let upright = apply_orientation(resized, info.orientation);
        let encoded = encode(&upright, format).map_err(|e| ImageError::render(format, e))?;
        let webp = options
            .webp
            .then(|| encode_webp(&upright))
            .transpose()
            .map_err(|e| ImageError::render(format, e))?;
        crate::metrics::record_render(max_height, rendering.elapsed());
        let (width, height) = (upright.width(), upright.height());
        if Some(index) == smallest {
            made_placeholder = placeholder(upright)
                .map_err(|error| tracing::warn!(%error, "could not make the placeholder"))
                .ok();
        }
        thumbnails.push(RenderedThumbnail {
            max_height,
            width,
            height,
            data: encoded,
            webp,
        });
    }
    Ok(Rendered {
        thumbnails,
        placeholder: made_placeholder,
    })
}

/// The thumbnail sizes as displayed, one per height.
fn displayed_sizes(info: &ImageInfo, max_heights: &[u32]) -> Vec<(u32, u32)> {
    max_heights
        .iter()
        .map(|&max_height| thumbnail_size(info.width, info.height, max_height))
        .collect()
}

/// The thumbnail sizes as stored: resizing happens before orientation, on the smaller
/// image, so targets are computed upright and swapped back.
pub(crate) fn stored_sizes(info: &ImageInfo, max_heights: &[u32]) -> Vec<(u32, u32)> {
    let swap = swaps_dimensions(info.orientation);
    displayed_sizes(info, max_heights)
        .into_iter()
        .map(|(w, h)| if swap { (h, w) } else { (w, h) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::ImageFormat;
    use crate::imaging::pixels::Pixels;
    use crate::imaging::test_support::{
        PngChunks, chunk, corpus_file, encode_jpeg, encode_png, make_jpeg, make_png, with_jpeg_exif,
    };

    fn limits() -> ImageLimits {
        ImageLimits::default()
    }

    /// A decoded output: size, channel count and 8-bit samples.
    struct Decoded {
        width: u32,
        height: u32,
        channels: usize,
        data: Vec<u8>,
    }

    impl Decoded {
        fn pixel(&self, x: u32, y: u32) -> &[u8] {
            let at = (y as usize * self.width as usize + x as usize) * self.channels;
            &self.data[at..at + self.channels]
        }
    }

    fn decode_output(format: ImageFormat, data: &[u8]) -> Decoded {
        match format {
            ImageFormat::Jpeg => {
                let mut decoder = jpeg_decoder::Decoder::new(data);
                let pixels = decoder.decode().expect("output jpeg decodes");
                let info = decoder.info().expect("info");
                Decoded {
                    width: u32::from(info.width),
                    height: u32::from(info.height),
                    channels: info.pixel_format.pixel_bytes(),
                    data: pixels,
                }
            }
            ImageFormat::Png => {
                let decoder = png::Decoder::new(std::io::Cursor::new(data));
                let mut reader = decoder.read_info().expect("output png decodes");
                let mut buf = vec![0; reader.output_buffer_size().expect("size")];
                let frame = reader.next_frame(&mut buf).expect("frame");
                assert_eq!(frame.bit_depth, png::BitDepth::Eight);
                buf.truncate(frame.buffer_size());
                Decoded {
                    width: frame.width,
                    height: frame.height,
                    channels: frame.color_type.samples(),
                    data: buf,
                }
            }
        }
    }

    /// Panics if a JPEG has any APPn segment other than the JFIF APP0, or a comment.
    fn assert_jpeg_has_no_metadata(data: &[u8]) {
        let mut pos = 2;
        loop {
            assert_eq!(data[pos], 0xFF, "marker expected at {pos}");
            let marker = data[pos + 1];
            if marker == 0xDA {
                break; // metadata cannot come after the first scan in our encoder's output
            }
            let len = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
            match marker {
                0xE0 => assert!(
                    data[pos + 4..].starts_with(b"JFIF\0"),
                    "APP0 that is not JFIF"
                ),
                0xE1..=0xEF => panic!("metadata segment APP{} in output", marker - 0xE0),
                0xFE => panic!("comment segment in output"),
                _ => {}
            }
            pos += 2 + len;
        }
        // Nothing after the end of the image either.
        assert_eq!(&data[data.len() - 2..], [0xFF, 0xD9]);
    }

    /// Panics unless a PNG has only IHDR, IDAT and IEND chunks.
    fn assert_png_has_no_metadata(data: &[u8]) {
        for c in PngChunks::new(data) {
            assert!(
                matches!(&c.kind, b"IHDR" | b"IDAT" | b"IEND"),
                "chunk {} in output",
                String::from_utf8_lossy(&c.kind)
            );
        }
    }

    fn assert_no_metadata(format: ImageFormat, data: &[u8]) {
        match format {
            ImageFormat::Jpeg => assert_jpeg_has_no_metadata(data),
            ImageFormat::Png => assert_png_has_no_metadata(data),
        }
    }

    #[test]
    fn corpus_thumbnail_sizes_and_formats() {
        // (file, format, channels of the output, size at 200, size at 400)
        let cases = [
            (
                "arc-colors-transparent_2140x1200.png",
                ImageFormat::Png,
                4,
                (357, 200),
                (713, 400),
            ),
            (
                "astronaut_512x512.png",
                ImageFormat::Png,
                3,
                (200, 200),
                (400, 400),
            ),
            (
                "bythewater_2560x1600.jpg",
                ImageFormat::Jpeg,
                3,
                (320, 200),
                (640, 400),
            ),
            (
                "camera_512x512.png",
                ImageFormat::Png,
                1,
                (200, 200),
                (400, 400),
            ),
            (
                "chelsea_451x300.png",
                ImageFormat::Png,
                3,
                (301, 200),
                (451, 300),
            ),
            (
                "grey_2560x1600.jpg",
                ImageFormat::Jpeg,
                1,
                (320, 200),
                (640, 400),
            ),
            (
                "seeding_5312x2988.jpg",
                ImageFormat::Jpeg,
                3,
                (356, 200),
                (711, 400),
            ),
            (
                "storm_1920x1280_orient6.jpg",
                ImageFormat::Jpeg,
                3,
                (133, 200),
                (267, 400),
            ),
            (
                "sunset_4272x2848.jpg",
                ImageFormat::Jpeg,
                3,
                (300, 200),
                (600, 400),
            ),
        ];
        for (name, format, channels, small, large) in cases {
            let Some(data) = corpus_file(name) else {
                return;
            };
            let thumbs = render_thumbnails(&data, &[200, 400], &limits()).expect(name);
            assert_eq!(thumbs.len(), 2);
            for (thumb, (max_height, size)) in thumbs.iter().zip([(200, small), (400, large)]) {
                assert_eq!(thumb.max_height, max_height, "{name}");
                assert_eq!((thumb.width, thumb.height), size, "{name} at {max_height}");
                let info = inspect(&thumb.data, &limits()).expect("output is valid");
                assert_eq!(info.format, format, "{name}");
                assert_eq!(info.orientation, 1, "{name}: orientation is baked in");
                let decoded = decode_output(format, &thumb.data);
                assert_eq!((decoded.width, decoded.height), size, "{name}");
                assert_eq!(decoded.channels, channels, "{name}");
                assert_no_metadata(format, &thumb.data);
            }
        }
    }

    #[test]
    fn corpus_small_png_is_never_upscaled() {
        let Some(data) = corpus_file("chelsea_451x300.png") else {
            return;
        };
        let thumbs = render_thumbnails(&data, &[400, 300, 1000], &limits()).expect("renders");
        for t in &thumbs {
            assert_eq!((t.width, t.height), (451, 300));
        }
        assert_eq!(thumbs[0].data, thumbs[2].data);
        // Not resized at all: the pixels are the original ones.
        let original = decode_output(ImageFormat::Png, &data);
        let thumb = decode_output(ImageFormat::Png, &thumbs[0].data);
        assert_eq!(original.data, thumb.data);
    }

    #[test]
    fn corpus_orientation_6_is_upright() {
        let Some(data) = corpus_file("storm_1920x1280_orient6.jpg") else {
            return;
        };
        let thumbs = render_thumbnails(&data, &[200], &limits()).expect("renders");
        assert_eq!((thumbs[0].width, thumbs[0].height), (133, 200));
        let decoded = decode_output(ImageFormat::Jpeg, &thumbs[0].data);
        assert_eq!((decoded.width, decoded.height), (133, 200));
        // Compare with the stored image rotated by hand: the top-left of the upright
        // thumbnail is the bottom-left of the stored image.
        let stored = decode_output(ImageFormat::Jpeg, &data);
        let luma = |p: &[u8]| (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 3;
        let mut diff = 0u64;
        let mut count = 0u64;
        for ty in (10..190).step_by(20) {
            for tx in (10..123).step_by(20) {
                // Upright (x, y) shows stored (y, h - 1 - x), scaled from 133x200 to 1920x1280.
                let sx = ty * 1920 / 200;
                let sy = 1279 - tx * 1280 / 133;
                let a = luma(decoded.pixel(tx, ty));
                let b = luma(stored.pixel(sx, sy));
                diff += u64::from(a.abs_diff(b));
                count += 1;
            }
        }
        assert!(diff / count < 25, "mean luma difference {}", diff / count);
    }

    /// Stored image 64x32: top-left red, top-right green, bottom-left blue, bottom-right
    /// white, encoded with the given orientation tag.
    fn quadrants(format: ImageFormat, orientation: u8) -> Vec<u8> {
        let (w, h) = (64u32, 32u32);
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(match (x < w / 2, y < h / 2) {
                    (true, true) => &[255, 0, 0],
                    (false, true) => &[0, 255, 0],
                    (true, false) => &[0, 0, 255],
                    (false, false) => &[255, 255, 255],
                });
            }
        }
        match format {
            ImageFormat::Png => encode_png(
                w,
                h,
                png::ColorType::Rgb,
                png::BitDepth::Eight,
                &rgb,
                Some(orientation),
            ),
            ImageFormat::Jpeg => with_jpeg_exif(
                &encode_jpeg(w, h, 3, &rgb, 95),
                orientation,
                orientation % 2 == 1,
            ),
        }
    }

    #[test]
    fn all_orientations_are_applied_to_pixels() {
        const R: [u8; 3] = [255, 0, 0];
        const G: [u8; 3] = [0, 255, 0];
        const B: [u8; 3] = [0, 0, 255];
        const W: [u8; 3] = [255, 255, 255];
        // Displayed quadrants [top-left, top-right, bottom-left, bottom-right].
        let expected: [(u8, [[u8; 3]; 4]); 8] = [
            (1, [R, G, B, W]),
            (2, [G, R, W, B]),
            (3, [W, B, G, R]),
            (4, [B, W, R, G]),
            (5, [R, B, G, W]),
            (6, [B, R, W, G]),
            (7, [W, G, B, R]),
            (8, [G, W, R, B]),
        ];
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            for (orientation, colours) in expected {
                let data = quadrants(format, orientation);
                // 1000: no resize; 16: resized to a quarter of the height as displayed.
                let thumbs = render_thumbnails(&data, &[1000, 16], &limits()).expect("renders");
                for thumb in thumbs {
                    let (w, h) = if orientation >= 5 { (32, 64) } else { (64, 32) };
                    let scale = if thumb.max_height == 16 { h / 16 } else { 1 };
                    let (w, h) = (w / scale, h / scale);
                    assert_eq!(
                        (thumb.width, thumb.height),
                        (w, h),
                        "{format} o={orientation}"
                    );
                    let decoded = decode_output(format, &thumb.data);
                    let probes = [
                        (w / 4, h / 4),
                        (3 * w / 4, h / 4),
                        (w / 4, 3 * h / 4),
                        (3 * w / 4, 3 * h / 4),
                    ];
                    for ((x, y), want) in probes.into_iter().zip(colours) {
                        let got = decoded.pixel(x, y);
                        assert!(
                            got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 40),
                            "{format} orientation {orientation} height {}: pixel ({x},{y}) is {got:?}, want {want:?}",
                            thumb.max_height
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn grey_stays_grey_and_alpha_is_kept() {
        let grey_jpeg = make_jpeg(300, 200, 1, 90);
        let t = render_thumbnails(&grey_jpeg, &[100], &limits()).expect("renders");
        assert_eq!(decode_output(ImageFormat::Jpeg, &t[0].data).channels, 1);

        for (color, channels) in [
            (png::ColorType::Grayscale, 1),
            (png::ColorType::GrayscaleAlpha, 2),
            (png::ColorType::Rgb, 3),
            (png::ColorType::Rgba, 4),
        ] {
            let data = make_png(90, 60, color, png::BitDepth::Eight, None);
            let t = render_thumbnails(&data, &[30], &limits()).expect("renders");
            let decoded = decode_output(ImageFormat::Png, &t[0].data);
            assert_eq!((decoded.width, decoded.height), (45, 30));
            assert_eq!(decoded.channels, channels, "{color:?}");
        }
        // 16-bit RGBA comes out as 8-bit RGBA.
        let data = make_png(90, 60, png::ColorType::Rgba, png::BitDepth::Sixteen, None);
        let t = render_thumbnails(&data, &[30], &limits()).expect("renders");
        assert_eq!(decode_output(ImageFormat::Png, &t[0].data).channels, 4);
    }

    #[test]
    fn corpus_grey_and_alpha() {
        if let Some(data) = corpus_file("grey_2560x1600.jpg") {
            let t = render_thumbnails(&data, &[200], &limits()).expect("renders");
            assert_eq!(decode_output(ImageFormat::Jpeg, &t[0].data).channels, 1);
        }
        if let Some(data) = corpus_file("arc-colors-transparent_2140x1200.png") {
            let t = render_thumbnails(&data, &[200], &limits()).expect("renders");
            let decoded = decode_output(ImageFormat::Png, &t[0].data);
            assert_eq!(decoded.channels, 4);
            let alphas: Vec<u8> = decoded.data.chunks_exact(4).map(|p| p[3]).collect();
            assert!(alphas.iter().any(|&a| a < 255), "transparency survives");
            assert!(
                alphas.iter().all(|&a| a <= 130),
                "the source alpha is at most 122"
            );
        }
    }

    #[test]
    fn metadata_is_stripped() {
        // JPEG with EXIF, an ICC-like APP2 and a comment.
        let jpeg = with_jpeg_exif(&make_jpeg(120, 80, 3, 90), 1, false);
        let mut with_more = jpeg[..2].to_vec();
        with_more.extend_from_slice(&crate::imaging::test_support::segment(
            0xE2,
            b"ICC_PROFILE\0\x01\x01fake",
        ));
        with_more.extend_from_slice(&crate::imaging::test_support::segment(0xFE, b"a comment"));
        with_more.extend_from_slice(&jpeg[2..]);
        for heights in [[40], [80], [1000]] {
            let t = render_thumbnails(&with_more, &heights, &limits()).expect("renders");
            assert_jpeg_has_no_metadata(&t[0].data);
        }
        // PNG with eXIf, tEXt, iTXt, tIME, gAMA, pHYs and iCCP-looking chunks.
        let png = make_png(120, 80, png::ColorType::Rgb, png::BitDepth::Eight, Some(1));
        let ihdr_end = PngChunks::new(&png)
            .find_chunk(b"IHDR")
            .expect("IHDR")
            .payload_end
            + 4;
        let mut with_more = png[..ihdr_end].to_vec();
        for (kind, payload) in [
            (b"gAMA", &[0, 0, 0xB1, 0x8F][..]),
            (b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1][..]),
            (b"tEXt", b"Author\0someone"),
            (b"tIME", &[0x07, 0xE8, 1, 1, 0, 0, 0][..]),
        ] {
            with_more.extend_from_slice(&chunk(kind, payload));
        }
        with_more.extend_from_slice(&png[ihdr_end..]);
        for heights in [[40], [80], [1000]] {
            let t = render_thumbnails(&with_more, &heights, &limits()).expect("renders");
            assert_png_has_no_metadata(&t[0].data);
        }
        // And the real camera EXIF of the corpus.
        for name in ["bythewater_2560x1600.jpg", "storm_1920x1280_orient6.jpg"] {
            let Some(data) = corpus_file(name) else {
                return;
            };
            let t = render_thumbnails(&data, &[200], &limits()).expect("renders");
            assert_jpeg_has_no_metadata(&t[0].data);
        }
    }

    #[test]
    fn order_duplicates_and_heights_above_the_image() {
        let data = make_jpeg(300, 200, 3, 90);
        let thumbs =
            render_thumbnails(&data, &[100, 50, 100, 200, 5000, 1], &limits()).expect("renders");
        let sizes: Vec<_> = thumbs
            .iter()
            .map(|t| (t.max_height, t.width, t.height))
            .collect();
        assert_eq!(
            sizes,
            [
                (100, 150, 100),
                (50, 75, 50),
                (100, 150, 100),
                (200, 300, 200),
                (5000, 300, 200),
                (1, 2, 1)
            ]
        );
        assert_eq!(thumbs[0].data, thumbs[2].data);
        assert_eq!(thumbs[3].data, thumbs[4].data);
        for t in &thumbs {
            let decoded = decode_output(ImageFormat::Jpeg, &t.data);
            assert_eq!((decoded.width, decoded.height), (t.width, t.height));
        }
    }

    #[test]
    fn argument_and_limit_errors() {
        let data = make_png(30, 20, png::ColorType::Rgb, png::BitDepth::Eight, None);
        assert!(matches!(
            render_thumbnails(&data, &[100, 0], &limits()),
            Err(ImageError::ZeroMaxHeight)
        ));
        assert_eq!(render_thumbnails(&data, &[], &limits()).expect("ok"), []);
        assert!(matches!(
            render_thumbnails(b"GIF89a...", &[], &limits()),
            Err(ImageError::UnsupportedFormat { detected: "gif" })
        ));
        let small = ImageLimits {
            max_bytes: 1 << 20,
            max_pixels: 599,
        };
        assert!(matches!(
            render_thumbnails(&data, &[10], &small),
            Err(ImageError::TooManyPixels {
                width: 30,
                height: 20,
                limit: 599
            })
        ));
        assert!(matches!(
            render_thumbnails(b"", &[10], &limits()),
            Err(ImageError::Empty)
        ));
    }

    #[test]
    fn interlaced_png_renders_like_the_plain_one() {
        use crate::imaging::test_support::{interlaced_rgb_png, pattern};
        for (w, h) in [(37, 23), (1, 1), (3, 9), (16, 16)] {
            let rgb = pattern(w, h, 3);
            let interlaced = interlaced_rgb_png(w, h, &rgb);
            let plain = encode_png(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &rgb, None);
            let a = render_thumbnails(&interlaced, &[1000, 8], &limits()).expect("interlaced");
            let b = render_thumbnails(&plain, &[1000, 8], &limits()).expect("plain");
            for (a, b) in a.iter().zip(&b) {
                assert_eq!((a.width, a.height), (b.width, b.height));
                let (da, db) = (
                    decode_output(ImageFormat::Png, &a.data),
                    decode_output(ImageFormat::Png, &b.data),
                );
                assert_eq!(da.data, db.data, "{w}x{h} at {}", a.max_height);
            }
            // Without resizing, the pixels are exactly the source's.
            assert_eq!(decode_output(ImageFormat::Png, &a[0].data).data, rgb);
        }
    }

    /// PSNR in dB between two equally sized 8-bit buffers.
    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mse = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn shrink_on_load_matches_a_full_decode() {
        // The DCT-scaled decode followed by Lanczos3 must look like a full decode followed
        // by Lanczos3: compare both pipelines on real photos.
        use crate::imaging::decode::decode;
        use crate::imaging::resize::Resizer;
        for name in [
            "bythewater_2560x1600.jpg",
            "grey_2560x1600.jpg",
            "storm_1920x1280_orient6.jpg",
        ] {
            let Some(data) = corpus_file(name) else {
                return;
            };
            let info = inspect(&data, &limits()).expect("valid");
            for max_height in [200, 400] {
                let (w, h) = thumbnail_size(info.width, info.height, max_height);
                let (w, h) = if info.orientation >= 5 {
                    (h, w)
                } else {
                    (w, h)
                };
                let scaled = decode(&data, &info, (w, h), &limits(), None).expect("scaled");
                let full = decode(
                    &data,
                    &info,
                    (info.stored_width, info.stored_height),
                    &limits(),
                    None,
                )
                .expect("full");
                assert!(
                    scaled.width() < full.width(),
                    "{name}: DCT scaling was used"
                );
                let resize = |p: Pixels| Resizer::new(p, &[]).and_then(|mut r| r.resize(w, h));
                let a = resize(scaled).expect("resize");
                let b = resize(full).expect("resize");
                let quality = psnr(a.data(), b.data());
                // Measured: 33 dB where the 1/8 scale lands exactly on the target (the DCT
                // box average is a little softer than Lanczos3), 37 to 50 dB otherwise.
                assert!(
                    quality > 32.0,
                    "{name} at {max_height}: PSNR {quality:.1} dB"
                );
            }
        }
    }

    #[test]
    fn concurrent_renders_match_one_at_a_time() {
        // Renders from many threads at once, as the worker pool makes them (and the JPEG
        // decoder starts helper threads of its own), give the bytes of a render made alone.
        let jpegs = [
            make_jpeg(640, 480, 3, 90),
            crate::imaging::test_support::make_progressive_jpeg(600, 400),
            make_jpeg(300, 500, 1, 90),
        ];
        let alone: Vec<Vec<RenderedThumbnail>> = jpegs
            .iter()
            .map(|data| render_thumbnails(data, &[200, 100], &limits()).expect("renders"))
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let (data, expected) = (&jpegs[i % jpegs.len()], &alone[i % jpegs.len()]);
                    scope.spawn(move || {
                        for _ in 0..3 {
                            let got =
                                render_thumbnails(data, &[200, 100], &limits()).expect("renders");
                            assert_eq!(&got, expected);
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().expect("no render panicked");
            }
        });
    }

    #[test]
    fn progressive_cmyk_and_tiny_jpegs_render() {
        let progressive = crate::imaging::test_support::make_progressive_jpeg(200, 120);
        let t = render_thumbnails(&progressive, &[60, 30], &limits()).expect("renders");
        assert_eq!(
            (t[0].width, t[0].height, t[1].width, t[1].height),
            (100, 60, 50, 30)
        );

        let cmyk = encode_jpeg(40, 20, 4, &vec![0u8; 40 * 20 * 4], 90);
        let t = render_thumbnails(&cmyk, &[10], &limits()).expect("renders");
        let decoded = decode_output(ImageFormat::Jpeg, &t[0].data);
        assert_eq!(decoded.channels, 3);
        assert!(decoded.data.iter().all(|&v| v >= 250), "no ink is white");

        for (w, h) in [(1, 1), (1, 300), (300, 1), (7, 9)] {
            let data = make_jpeg(w, h, 3, 90);
            for t in render_thumbnails(&data, &[1, 2, 100], &limits()).expect("renders") {
                assert_eq!((t.width, t.height), thumbnail_size(w, h, t.max_height));
                let decoded = decode_output(ImageFormat::Jpeg, &t.data);
                assert_eq!((decoded.width, decoded.height), (t.width, t.height));
            }
        }
    }

    #[test]
    fn webp_variants_come_from_the_same_upright_pixels() {
        // An EXIF-rotated JPEG: the WebP must be upright and the thumbnail's size.
        let jpeg = with_jpeg_exif(&make_jpeg(120, 80, 3, 90), 6, false);
        let png = make_png(90, 60, png::ColorType::Rgba, png::BitDepth::Eight, None);
        for (data, alpha) in [(jpeg, false), (png, true)] {
            let plain = render_thumbnails(&data, &[40, 500], &limits()).expect("renders");
            assert!(plain.iter().all(|t| t.webp.is_none()), "none unless asked");
            let options = RenderOptions::with_webp(true);
            let rendered = render_thumbnails_with(&data, &[40, 500], &limits(), options)
                .expect("renders")
                .thumbnails;
            for thumbnail in &rendered {
                let webp = thumbnail.webp.as_deref().expect("a WebP variant");
                let image = webp::Decoder::new(webp).decode().expect("decodes");
                assert_eq!(
                    (image.width(), image.height(), image.is_alpha()),
                    (thumbnail.width, thumbnail.height, alpha)
                );
            }
            assert_eq!(
                rendered
                    .iter()
                    .map(|t| (t.width, t.height))
                    .collect::<Vec<_>>(),
                plain
                    .iter()
                    .map(|t| (t.width, t.height))
                    .collect::<Vec<_>>()
            );
        }
    }
}
