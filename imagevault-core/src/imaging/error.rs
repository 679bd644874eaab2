use super::ImageFormat;

/// Why an upload was rejected or a thumbnail could not be made.
///
/// The messages are written for the person who uploaded the file: each says what was
/// wrong and what would be accepted. Every variant except [`Render`](Self::Render) is a
/// problem with the input; `Render` is an internal failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The input has no bytes at all.
    #[error("the file is empty; upload a png or jpeg image")]
    Empty,

    /// The bytes are not PNG or JPEG, or are a JPEG variant that is not supported
    /// (arithmetic-coded, lossless, hierarchical, 12-bit, ...).
    #[error(
        "unsupported image type {detected}; accepted types are {}",
        accepted_types(detected)
    )]
    UnsupportedFormat {
        /// What the bytes look like: `"gif"`, `"bmp"`, `"webp"`, `"tiff"`, `"heif/avif"`,
        /// `"svg/xml"`, `"html"`, `"pdf"`, `"text"`, `"unknown"`, or a JPEG variant such as
        /// `"arithmetic-coded jpeg"`.
        detected: &'static str,
    },

    /// The input is longer than [`ImageLimits::max_bytes`](super::ImageLimits::max_bytes).
    #[error("the file is {size} bytes; at most {limit} bytes are allowed")]
    TooLarge {
        /// Length of the input in bytes.
        size: u64,
        /// The limit in force.
        limit: u64,
    },

    /// The header declares more pixels than
    /// [`ImageLimits::max_pixels`](super::ImageLimits::max_pixels).
    #[error(
        "image is {width}x{height} ({} pixels); at most {limit} pixels are allowed",
        u64::from(*width) * u64::from(*height)
    )]
    TooManyPixels {
        /// Width as stored in the file (before EXIF orientation).
        width: u32,
        /// Height as stored in the file (before EXIF orientation).
        height: u32,
        /// The limit in force.
        limit: u64,
    },

    /// The file ends before its structure is complete (a cut-off upload).
    #[error("truncated {format}: {detail}")]
    Truncated {
        /// The format the file claims to be.
        format: ImageFormat,
        /// What was cut off, e.g. "chunk IDAT runs past the end of the file".
        detail: String,
    },

    /// The file structure is invalid: bad checksum, impossible header values, chunks or
    /// markers in the wrong place.
    #[error("corrupt {format}: {detail}")]
    Corrupt {
        /// The format the file claims to be.
        format: ImageFormat,
        /// What is wrong, e.g. "CRC mismatch in chunk IHDR".
        detail: String,
    },

    /// Damage only a full decode reveals (e.g. invalid compressed data), or a decoder
    /// failure. The decoder's own error is the [`source`](std::error::Error::source).
    #[error(
        "the {format} image data could not be decoded (it is damaged or uses an unsupported feature); upload an undamaged png or jpeg image"
    )]
    Decode {
        /// The format being decoded.
        format: ImageFormat,
        /// The decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A requested thumbnail height is zero.
    #[error("thumbnail height 0 is invalid; thumbnail heights must be at least 1")]
    ZeroMaxHeight,

    /// Resizing or encoding a thumbnail failed. This is an internal error: the input was
    /// valid. The resizer's or encoder's error is the
    /// [`source`](std::error::Error::source).
    #[error(
        "could not render a {format} thumbnail; this is an internal error, not a problem with the upload"
    )]
    Render {
        /// The output format.
        format: ImageFormat,
        /// The resizer's or encoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// JPEG variants get a message that says which JPEGs are fine, so that "unsupported image
/// type lossless jpeg" (or "jpeg with the height in a DNL segment") is not followed by
/// "accepted types are png and jpeg".
fn accepted_types(detected: &str) -> &'static str {
    if detected.contains("jpeg") {
        "png and 8-bit baseline or progressive huffman-coded jpeg"
    } else {
        "png and jpeg"
    }
}

impl ImageError {
    pub(crate) fn truncated(format: ImageFormat, detail: impl Into<String>) -> Self {
        Self::Truncated {
            format,
            detail: detail.into(),
        }
    }

    pub(crate) fn corrupt(format: ImageFormat, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            format,
            detail: detail.into(),
        }
    }

    pub(crate) fn decode(
        format: ImageFormat,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Decode {
            format,
            source: source.into(),
        }
    }

    pub(crate) fn render(
        format: ImageFormat,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Render {
            format,
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ImageError, ImageFormat};
    use std::error::Error as _;

    #[test]
    fn messages_say_what_is_wrong_and_what_is_allowed() {
        let cases = [
            (
                ImageError::Empty,
                "the file is empty; upload a png or jpeg image",
            ),
            (
                ImageError::UnsupportedFormat { detected: "gif" },
                "unsupported image type gif; accepted types are png and jpeg",
            ),
            (
                ImageError::UnsupportedFormat {
                    detected: "arithmetic-coded jpeg",
                },
                "unsupported image type arithmetic-coded jpeg; accepted types are png and 8-bit baseline or progressive huffman-coded jpeg",
            ),
            (
                ImageError::UnsupportedFormat {
                    detected: "jpeg with the height in a DNL segment",
                },
                "unsupported image type jpeg with the height in a DNL segment; accepted types are png and 8-bit baseline or progressive huffman-coded jpeg",
            ),
            (
                ImageError::TooLarge {
                    size: 30_000_000,
                    limit: 26_214_400,
                },
                "the file is 30000000 bytes; at most 26214400 bytes are allowed",
            ),
            (
                ImageError::TooManyPixels {
                    width: 60_000,
                    height: 60_000,
                    limit: 50_000_000,
                },
                "image is 60000x60000 (3600000000 pixels); at most 50000000 pixels are allowed",
            ),
            (
                ImageError::truncated(ImageFormat::Png, "chunk IDAT runs past the end of the file"),
                "truncated png: chunk IDAT runs past the end of the file",
            ),
            (
                ImageError::corrupt(ImageFormat::Png, "CRC mismatch in chunk IHDR"),
                "corrupt png: CRC mismatch in chunk IHDR",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn every_message_is_lowercase_first_without_trailing_period() {
        let errors = [
            ImageError::Empty,
            ImageError::UnsupportedFormat { detected: "text" },
            ImageError::TooLarge { size: 2, limit: 1 },
            ImageError::TooManyPixels {
                width: 2,
                height: 2,
                limit: 1,
            },
            ImageError::truncated(ImageFormat::Jpeg, "x"),
            ImageError::corrupt(ImageFormat::Jpeg, "x"),
            ImageError::decode(ImageFormat::Jpeg, "bad huffman code"),
            ImageError::ZeroMaxHeight,
            ImageError::render(ImageFormat::Png, "out of memory"),
        ];
        for err in errors {
            let msg = err.to_string();
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
        }
    }

    #[test]
    fn decode_and_render_keep_their_source() {
        let err = ImageError::decode(ImageFormat::Jpeg, "bad huffman code");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("bad huffman code")
        );
        let err = ImageError::render(ImageFormat::Png, "encoder failed");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("encoder failed")
        );
    }

    #[test]
    fn is_send_sync_and_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<ImageError>();
    }
}
