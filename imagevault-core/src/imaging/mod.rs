//! The imaging pipeline: validating uploaded PNG and JPEG files and rendering thumbnails.
//!
//! Two entry points do all the work:
//!
//! - [`inspect`] sniffs the format from the bytes, walks the whole file structure
//!   (chunk CRCs for PNG, marker segments and scans for JPEG), reads the dimensions and the
//!   EXIF orientation, and enforces [`ImageLimits`], all without decoding a single pixel.
//! - [`render_thumbnails`] inspects, decodes once (JPEG at a reduced DCT scale when the
//!   thumbnails are small enough), resizes to every requested height, converts to sRGB from
//!   the image's colour profile, applies the EXIF orientation and re-encodes in the input's
//!   format without any metadata.
//!   [`render_thumbnails_with`] also gives the image's [`Placeholder`](crate::Placeholder)
//!   from the smallest thumbnail.
//!
//! Both are CPU-bound and synchronous; async callers should run them on a blocking pool.
//!
//! ```
//! use imagevault_core::imaging::{ImageFormat, ImageLimits, inspect, thumbnail_size};
//!
//! // The type comes from the magic bytes, whatever the file is called.
//! let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00";
//! let err = inspect(gif, &ImageLimits::default()).expect_err("not a png or jpeg");
//! assert_eq!(err.to_string(), "unsupported image type gif; accepted types are png and jpeg");
//!
//! assert_eq!(thumbnail_size(1280, 1920, 200), (133, 200));
//! assert_eq!(ImageFormat::Jpeg.extension(), "jpg");
//! ```

mod colour;
mod decode;
mod encode;
mod error;
mod exif;
mod info;
mod jpeg_structure;
mod memory;
mod orient;
mod pixels;
mod placeholder;
mod png_structure;
mod render;
mod resize;
mod sniff;
mod strip;

#[cfg(test)]
mod colour_tests;
#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod test_support;

pub use crate::format::ImageFormat;
pub use crate::thumbnail::thumbnail_size;
pub use colour::MAX_ICC_PROFILE_BYTES;
pub use encode::WEBP_QUALITY;
pub use error::ImageError;
pub use info::{ImageInfo, ImageLimits, inspect};
pub use render::{
    RenderOptions, Rendered, RenderedThumbnail, render_thumbnails, render_thumbnails_with,
};
pub use strip::{Stripped, strip_metadata};

/// How many leading bytes [`detect_format`] looks at; fewer are fine for a shorter file.
pub const DETECT_FORMAT_BYTES: usize = sniff::TEXT_WINDOW;

/// The format the first bytes of a file show, detected as uploads detect it (never from a
/// name): PNG or JPEG, which may still turn out truncated or corrupt, or else `Err` with
/// what the bytes look like (`"gif"`, `"text"`, `"unknown"`, ...). A bulk import uses it
/// to skip other files before reading them whole.
///
/// ```
/// use imagevault_core::imaging::{ImageFormat, detect_format};
/// assert_eq!(detect_format(b"\x89PNG\r\n\x1a\n"), Ok(ImageFormat::Png));
/// assert_eq!(detect_format(b"GIF89a"), Err("gif"));
/// ```
pub fn detect_format(head: &[u8]) -> Result<ImageFormat, &'static str> {
    match sniff::sniff(head) {
        sniff::Sniffed::Supported(format) => Ok(format),
        sniff::Sniffed::Unsupported(looks_like) => Err(looks_like),
    }
}
