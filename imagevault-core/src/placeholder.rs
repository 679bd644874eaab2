//! What a page shows while an image's thumbnails load: a ThumbHash and the average colour.
//!
//! The worker computes both from the smallest thumbnail it renders (see
//! [`imaging::render_thumbnails_with`](crate::imaging::render_thumbnails_with)) and
//! stores them with the image; an image has none until then.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// An sRGB colour with 8 bits per channel, written `#rrggbb` (lowercase).
///
/// ```
/// use imagevault_core::Color;
/// let color = Color::parse_hex("#1A2b3c").unwrap();
/// assert_eq!(color, Color([0x1a, 0x2b, 0x3c]));
/// assert_eq!(color.to_hex(), "#1a2b3c");
/// assert_eq!(Color::parse_hex("1a2b3c"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color(pub [u8; 3]);

impl Color {
    /// `#rrggbb`, lowercase, as the API and the database write it.
    pub fn to_hex(self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// Parses `#rrggbb` (either case); `None` for anything else.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('#')?;
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |at: usize| u8::from_str_radix(&digits[at..at + 2], 16).ok();
        Some(Self([channel(0)?, channel(2)?, channel(4)?]))
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An image's placeholder: its [ThumbHash](https://evanw.github.io/thumbhash/) bytes and
/// its average colour.
///
/// ```
/// use imagevault_core::{Color, Placeholder};
/// let placeholder = Placeholder::new(vec![0x1f, 0x08, 0x0a, 0x05, 0x80], Color([1, 2, 3])).unwrap();
/// assert_eq!(placeholder.thumbhash_base64(), "HwgKBYA=");
/// assert!(Placeholder::new(vec![1, 2], Color([1, 2, 3])).is_none(), "too short for a ThumbHash");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placeholder {
    thumbhash: Vec<u8>,
    average_color: Color,
}

impl Placeholder {
    /// The fewest bytes of a ThumbHash: its header (5 bytes, 6 with alpha) holds the
    /// average colour and the coefficient counts.
    pub const MIN_THUMBHASH_BYTES: usize = 5;

    /// The most bytes of a ThumbHash: 6 header bytes and 38 coefficients of 4 bits for an
    /// image with alpha (an opaque one takes at most 5 and 37). Anything longer read back
    /// from a database was not written by imagevault.
    pub const MAX_THUMBHASH_BYTES: usize = 25;

    /// A placeholder from ThumbHash bytes and an average colour; `None` when `thumbhash`
    /// is shorter than [`MIN_THUMBHASH_BYTES`](Self::MIN_THUMBHASH_BYTES) or longer than
    /// [`MAX_THUMBHASH_BYTES`](Self::MAX_THUMBHASH_BYTES).
    pub fn new(thumbhash: Vec<u8>, average_color: Color) -> Option<Self> {
        (Self::MIN_THUMBHASH_BYTES..=Self::MAX_THUMBHASH_BYTES)
            .contains(&thumbhash.len())
            .then_some(Self {
                thumbhash,
                average_color,
            })
    }

    /// The ThumbHash bytes, as its decoders take them.
    pub fn thumbhash(&self) -> &[u8] {
        &self.thumbhash
    }

    /// The ThumbHash in standard base64 with padding, as the API shows it.
    pub fn thumbhash_base64(&self) -> String {
        STANDARD.encode(&self.thumbhash)
    }

    /// The average colour of the image's visible pixels: each pixel's sRGB values weighted
    /// by its alpha (a transparent pixel counts for nothing), rounded to 8 bits.
    pub fn average_color(&self) -> Color {
        self.average_color
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_round_trip_and_reject_anything_else() {
        for color in [
            Color([0, 0, 0]),
            Color([255, 255, 255]),
            Color([9, 160, 250]),
        ] {
            assert_eq!(Color::parse_hex(&color.to_hex()), Some(color));
            assert_eq!(
                Color::parse_hex(&color.to_hex().to_uppercase()),
                Some(color)
            );
        }
        for bad in [
            "",
            "#",
            "#12345",
            "#1234567",
            "#12345g",
            "123456",
            "#+12345",
            "#١٢٣٤٥٦",
        ] {
            assert_eq!(Color::parse_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn thumbhash_length_is_bounded() {
        let color = Color([0, 0, 0]);
        assert!(Placeholder::new(vec![0; 4], color).is_none());
        assert!(Placeholder::new(vec![0; 5], color).is_some());
        assert!(Placeholder::new(vec![0; 25], color).is_some());
        assert!(Placeholder::new(vec![0; 26], color).is_none());
    }
}
