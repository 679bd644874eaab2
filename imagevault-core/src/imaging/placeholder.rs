//! The placeholder of an image: a ThumbHash and the average colour of a rendered thumbnail.

use crate::placeholder::{Color, Placeholder};

use super::pixels::{Layout, Pixels};
use super::resize::Resizer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The longest side ThumbHash takes: its encoder asserts both sides are at most 100, and a
/// larger input would only be slower for the same few coefficients.
pub(crate) const THUMBHASH_MAX_SIDE: u32 = 100;

/// The placeholder of an upright thumbnail: its exact average colour, then its ThumbHash
/// from a copy resized to fit [`THUMBHASH_MAX_SIDE`] (alpha premultiplied while resizing,
/// as for thumbnails). Holds at most that small copy besides `pixels`.
pub(crate) fn placeholder(pixels: Pixels) -> Result<Placeholder, BoxError> {
    let average = average_color(&pixels);
    let (width, height) = fit(pixels.width(), pixels.height(), THUMBHASH_MAX_SIDE);
    let small = Resizer::new(pixels, &[(width, height)])?.resize(width, height)?;
    let rgba = to_rgba(&small);
    let hash = thumbhash::rgba_to_thumb_hash(width as usize, height as usize, &rgba);
    Placeholder::new(hash, average)
        .ok_or_else(|| "the ThumbHash encoder returned a hash of an unexpected length".into())
}

/// `(width, height)` scaled down to fit a `side` x `side` square, keeping the aspect ratio
/// (each side rounded, at least 1); unchanged when it fits already.
fn fit(width: u32, height: u32, side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= side {
        return (width, height);
    }
    let scale = |length: u32| {
        let scaled =
            (u64::from(length) * u64::from(side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(side).max(1)
    };
    (scale(width), scale(height))
}

/// The mean of the sRGB-encoded samples with each pixel weighted by its alpha, rounded:
/// `Σ αc / Σ α` per channel, so transparent pixels count for nothing and a half-transparent
/// one half. Greys are their grey in all three channels. An image with no visible pixel at
/// all has the plain mean of its (invisible) colours.
fn average_color(pixels: &Pixels) -> Color {
    let channels = pixels.layout().channels();
    let (mut weighted, mut weight) = ([0u64; 3], 0u64);
    let (mut plain, mut count) = ([0u64; 3], 0u64);
    for pixel in pixels.data().chunks_exact(channels) {
        let (rgb, alpha) = match pixels.layout() {
            Layout::L => ([pixel[0]; 3], 255),
            Layout::La => ([pixel[0]; 3], pixel[1]),
            Layout::Rgb => ([pixel[0], pixel[1], pixel[2]], 255),
            Layout::Rgba => ([pixel[0], pixel[1], pixel[2]], pixel[3]),
        };
        for ((sum, plain_sum), value) in weighted.iter_mut().zip(&mut plain).zip(rgb) {
            *sum += u64::from(value) * u64::from(alpha);
            *plain_sum += u64::from(value);
        }
        weight += u64::from(alpha);
        count += 1;
    }
    let (sums, total) = if weight > 0 {
        (weighted, weight)
    } else {
        (plain, count.max(1))
    };
    // Each quotient is a mean of 8-bit values, so it fits in 8 bits.
    Color(sums.map(|sum| u8::try_from((sum + total / 2) / total).unwrap_or(u8::MAX)))
}

/// The pixels as 8-bit RGBA, not premultiplied, as the ThumbHash encoder takes them.
fn to_rgba(pixels: &Pixels) -> Vec<u8> {
    let channels = pixels.layout().channels();
    let mut rgba = Vec::with_capacity(pixels.data().len() / channels * 4);
    for pixel in pixels.data().chunks_exact(channels) {
        match pixels.layout() {
            Layout::L => rgba.extend_from_slice(&[pixel[0], pixel[0], pixel[0], 255]),
            Layout::La => rgba.extend_from_slice(&[pixel[0], pixel[0], pixel[0], pixel[1]]),
            Layout::Rgb => rgba.extend_from_slice(&[pixel[0], pixel[1], pixel[2], 255]),
            Layout::Rgba => rgba.extend_from_slice(pixel),
        }
    }
    rgba
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, layout: Layout, pixel: &[u8]) -> Pixels {
        let data = pixel.repeat(width as usize * height as usize);
        Pixels::new(width, height, layout, data).expect("valid")
    }

    /// The ThumbHash decoder's average colour, in 8 bits.
    fn decoded_average(placeholder: &Placeholder) -> [u8; 4] {
        let (r, g, b, a) =
            thumbhash::thumb_hash_to_average_rgba(placeholder.thumbhash()).expect("decodes");
        [r, g, b, a].map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio() {
        assert_eq!(fit(320, 200, 100), (100, 63));
        assert_eq!(fit(200, 320, 100), (63, 100));
        assert_eq!(fit(100, 100, 100), (100, 100));
        assert_eq!(fit(40, 7, 100), (40, 7));
        assert_eq!(fit(10_000, 1, 100), (100, 1));
        assert_eq!(fit(1, 10_000, 100), (1, 100));
    }

    #[test]
    fn a_solid_image_averages_to_exactly_its_colour() {
        for (layout, pixel, want) in [
            (Layout::Rgb, &[12u8, 200, 77][..], [12, 200, 77]),
            (Layout::Rgba, &[250, 1, 128, 255][..], [250, 1, 128]),
            (Layout::L, &[93][..], [93, 93, 93]),
            (Layout::La, &[180, 40][..], [180, 180, 180]),
            // A half-transparent colour is still that colour.
            (Layout::Rgba, &[10, 20, 30, 128][..], [10, 20, 30]),
        ] {
            for (w, h) in [(320, 200), (7, 300), (1, 1), (100, 100)] {
                let placeholder = placeholder(solid(w, h, layout, pixel)).expect("hashes");
                assert_eq!(
                    placeholder.average_color(),
                    Color(want),
                    "{layout:?} {w}x{h}"
                );
                // ThumbHash's own average is quantised (to 6 bits of luminance and fewer of
                // chroma), so it is only close.
                let [r, g, b, _] = decoded_average(&placeholder);
                for (got, want) in [r, g, b].into_iter().zip(want) {
                    assert!(
                        got.abs_diff(want) <= 8,
                        "{layout:?} {w}x{h}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn transparent_pixels_do_not_count() {
        // Left half opaque red, right half fully transparent green: the average is red, and
        // the ThumbHash knows it has alpha.
        let mut data = Vec::new();
        for _ in 0..50 {
            for x in 0..80 {
                data.extend_from_slice(if x < 40 {
                    &[255, 0, 0, 255]
                } else {
                    &[0, 255, 0, 0]
                });
            }
        }
        let pixels = Pixels::new(80, 50, Layout::Rgba, data).expect("valid");
        let placeholder = placeholder(pixels).expect("hashes");
        assert_eq!(placeholder.average_color(), Color([255, 0, 0]));
        let [r, g, _, a] = decoded_average(&placeholder);
        assert!(r > 200 && g < 40, "decoded average {r} {g}");
        assert!(a < 255, "the hash records transparency");
        // Half weight: opaque white and half-transparent black average to 2/3 white.
        let mut data = Vec::new();
        for i in 0..100 {
            data.extend_from_slice(if i % 2 == 0 { &[255, 255] } else { &[0, 128] });
        }
        let pixels = Pixels::new(10, 10, Layout::La, data).expect("valid");
        // 255 * 255 / (255 + 128) = 169.8, rounded.
        assert_eq!(placeholder_of(pixels).average_color(), Color([170; 3]));
        // Nothing visible at all: the plain mean of the colours.
        let pixels = solid(20, 20, Layout::Rgba, &[40, 50, 60, 0]);
        assert_eq!(placeholder_of(pixels).average_color(), Color([40, 50, 60]));
    }

    fn placeholder_of(pixels: Pixels) -> Placeholder {
        placeholder(pixels).expect("hashes")
    }

    #[test]
    fn a_known_image_round_trips_to_roughly_its_average() {
        // Four quadrants (red, green, blue, white) average to 127.5 grey; the decoded
        // ThumbHash shows the quadrants in the right places.
        let (w, h) = (300u32, 200u32);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(match (x < w / 2, y < h / 2) {
                    (true, true) => &[255, 0, 0],
                    (false, true) => &[0, 255, 0],
                    (true, false) => &[0, 0, 255],
                    (false, false) => &[255, 255, 255],
                });
            }
        }
        let placeholder = placeholder_of(Pixels::new(w, h, Layout::Rgb, data).expect("valid"));
        assert_eq!(placeholder.average_color(), Color([128, 128, 128]));
        let [r, g, b, a] = decoded_average(&placeholder);
        assert_eq!(a, 255);
        for (got, want) in [r, g, b].into_iter().zip([128, 128, 128]) {
            assert!(got.abs_diff(want) <= 12, "decoded average {r} {g} {b}");
        }
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(placeholder.thumbhash())
            .expect("decodes");
        assert!((ratio - 1.5).abs() < 0.2, "aspect ratio {ratio}");
        let (dw, dh, rgba) =
            thumbhash::thumb_hash_to_rgba(placeholder.thumbhash()).expect("decodes");
        let at = |x: usize, y: usize| &rgba[(y * dw + x) * 4..(y * dw + x) * 4 + 3];
        let top_left = at(dw / 8, dh / 8);
        let top_right = at(dw * 7 / 8, dh / 8);
        let bottom_left = at(dw / 8, dh * 7 / 8);
        assert!(
            top_left[0] > top_left[1] && top_left[0] > top_left[2],
            "{top_left:?}"
        );
        assert!(
            top_right[1] > top_right[0] && top_right[1] > top_right[2],
            "{top_right:?}"
        );
        assert!(
            bottom_left[2] > bottom_left[0] && bottom_left[2] > bottom_left[1],
            "{bottom_left:?}"
        );
    }

    #[test]
    fn hashes_stay_within_the_declared_length() {
        // The longest hashes: detailed images with alpha, square or wide.
        let mut rng = crate::imaging::test_support::Rng::new(7);
        for (w, h) in [(100, 100), (100, 30), (30, 100), (1, 1), (100, 1), (57, 83)] {
            for layout in [Layout::Rgba, Layout::Rgb, Layout::La] {
                let len = w as usize * h as usize * layout.channels();
                let data: Vec<u8> = (0..len).map(|_| (rng.next_u64() >> 56) as u8).collect();
                let pixels = Pixels::new(w, h, layout, data).expect("valid");
                let placeholder = placeholder_of(pixels);
                assert!(placeholder.thumbhash().len() <= Placeholder::MAX_THUMBHASH_BYTES);
            }
        }
    }
}
