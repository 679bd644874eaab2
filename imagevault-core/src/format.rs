//! [`ImageFormat`]: the formats imagevault accepts and produces, with every name a format
//! goes by (its name, MIME types and file extensions), so that the adapters read them from
//! here.

use std::fmt;

/// The image formats the pipeline accepts and produces.
///
/// Thumbnails are always encoded in the format of their source. Serialized as the
/// lowercase strings `"png"` and `"jpeg"`.
///
/// ```
/// use imagevault_core::ImageFormat;
/// assert_eq!(ImageFormat::from_mime("image/pjpeg"), Some(ImageFormat::Jpeg));
/// assert_eq!(ImageFormat::from_mime("image/gif"), None);
/// let accepted: Vec<_> = ImageFormat::ALL.iter().map(|format| format.content_type()).collect();
/// assert_eq!(accepted, ["image/png", "image/jpeg"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Portable Network Graphics.
    Png,
    /// JPEG (JFIF or EXIF), baseline, extended or progressive Huffman-coded.
    Jpeg,
}

impl ImageFormat {
    /// Every format, in the order lists and messages name them.
    pub const ALL: [Self; 2] = [Self::Png, Self::Jpeg];

    /// The canonical lowercase name: `"png"` or `"jpeg"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
        }
    }

    /// The usual file extension, without the dot: `"png"` or `"jpg"`. Stored objects are
    /// named with it.
    pub fn extension(self) -> &'static str {
        self.extensions()[0]
    }

    /// The MIME type: `"image/png"` or `"image/jpeg"`.
    pub fn content_type(self) -> &'static str {
        self.mime_types()[0]
    }

    /// Every MIME type an upload of this format may be declared as, the canonical one
    /// ([`content_type`](Self::content_type)) first, then the aliases that clients send.
    pub fn mime_types(self) -> &'static [&'static str] {
        match self {
            Self::Png => &["image/png"],
            Self::Jpeg => &["image/jpeg", "image/jpg", "image/pjpeg"],
        }
    }

    /// The format a lowercase MIME type (without parameters) names, aliases included, or
    /// `None`.
    ///
    /// Only for routing an upload: its format comes from its bytes
    /// (see [`inspect`](crate::imaging::inspect)), never from the declared type.
    pub fn from_mime(mime: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.mime_types().contains(&mime))
    }

    /// Every file extension of this format, without the dot, the usual one
    /// ([`extension`](Self::extension)) first.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Png => &["png"],
            Self::Jpeg => &["jpg", "jpeg"],
        }
    }

    /// The format for a lowercase file extension without the dot (`"png"`, `"jpg"` or
    /// `"jpeg"`), or `None`.
    ///
    /// Only for naming stored files: the format of an upload comes from its bytes
    /// (see [`inspect`](crate::imaging::inspect)), never from its name.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.extensions().contains(&ext))
    }

    /// The inverse of [`as_str`](Self::as_str): `"png"` or `"jpeg"`, or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == s)
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file extension of WebP thumbnail variants, without the dot.
pub(crate) const WEBP_EXTENSION: &str = "webp";

/// The format of an object served under `/media/`: an original's or thumbnail's
/// [`ImageFormat`], or WebP for a thumbnail's WebP variant. Read from the key's extension.
///
/// ```
/// use imagevault_core::{ImageFormat, MediaFormat};
/// assert_eq!(MediaFormat::from_extension("webp"), Some(MediaFormat::Webp));
/// assert_eq!(MediaFormat::Webp.content_type(), "image/webp");
/// assert_eq!(MediaFormat::from(ImageFormat::Jpeg).extension(), "jpg");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaFormat {
    /// An original or thumbnail in an accepted format.
    Image(ImageFormat),
    /// A thumbnail's lossy WebP variant.
    Webp,
}

impl MediaFormat {
    /// Every format a media object may have.
    pub const ALL: [Self; 3] = [
        Self::Image(ImageFormat::Png),
        Self::Image(ImageFormat::Jpeg),
        Self::Webp,
    ];

    /// The extension objects of this format are stored under, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Image(format) => format.extension(),
            Self::Webp => WEBP_EXTENSION,
        }
    }

    /// The MIME type served as `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Image(format) => format.content_type(),
            Self::Webp => "image/webp",
        }
    }

    /// The format stored under `extension` (exactly [`extension`](Self::extension)'s
    /// spelling: one URL per object), or `None`.
    pub fn from_extension(extension: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.extension() == extension)
    }
}

impl From<ImageFormat> for MediaFormat {
    fn from(format: ImageFormat) -> Self {
        Self::Image(format)
    }
}

#[cfg(test)]
mod tests {
    use super::{ImageFormat, MediaFormat};

    #[test]
    fn media_formats_are_named_by_their_one_extension() {
        for format in MediaFormat::ALL {
            assert_eq!(
                MediaFormat::from_extension(format.extension()),
                Some(format)
            );
        }
        assert_eq!(MediaFormat::from_extension("jpeg"), None);
        assert_eq!(MediaFormat::Webp.content_type(), "image/webp");
    }

    #[test]
    fn names_extensions_and_content_types() {
        assert_eq!(ImageFormat::Png.as_str(), "png");
        assert_eq!(ImageFormat::Jpeg.as_str(), "jpeg");
        assert_eq!(ImageFormat::Png.extension(), "png");
        assert_eq!(ImageFormat::Jpeg.extension(), "jpg");
        assert_eq!(ImageFormat::Png.content_type(), "image/png");
        assert_eq!(ImageFormat::Jpeg.content_type(), "image/jpeg");
        assert_eq!(ImageFormat::Jpeg.to_string(), "jpeg");
        assert_eq!(ImageFormat::Png.to_string(), "png");
    }

    #[test]
    fn parsing() {
        assert_eq!(ImageFormat::from_extension("png"), Some(ImageFormat::Png));
        assert_eq!(ImageFormat::from_extension("jpg"), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::from_extension("jpeg"), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::from_extension("JPG"), None);
        assert_eq!(ImageFormat::from_extension(".png"), None);
        assert_eq!(ImageFormat::from_extension("gif"), None);
        assert_eq!(ImageFormat::parse("png"), Some(ImageFormat::Png));
        assert_eq!(ImageFormat::parse("jpeg"), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::parse("jpg"), None);
        assert_eq!(ImageFormat::parse("PNG"), None);
        for f in [ImageFormat::Png, ImageFormat::Jpeg] {
            assert_eq!(ImageFormat::parse(f.as_str()), Some(f));
            assert_eq!(ImageFormat::from_extension(f.extension()), Some(f));
        }
    }

    #[test]
    fn mime_types_and_their_aliases() {
        assert_eq!(ImageFormat::from_mime("image/png"), Some(ImageFormat::Png));
        for jpeg in ["image/jpeg", "image/jpg", "image/pjpeg"] {
            assert_eq!(
                ImageFormat::from_mime(jpeg),
                Some(ImageFormat::Jpeg),
                "{jpeg}"
            );
        }
        for other in ["image/gif", "image/PNG", "image/png; q=1", "", "png"] {
            assert_eq!(ImageFormat::from_mime(other), None, "{other}");
        }
        for format in ImageFormat::ALL {
            assert_eq!(ImageFormat::from_mime(format.content_type()), Some(format));
        }
    }

    #[test]
    fn serde_uses_lowercase_names() {
        assert_eq!(
            serde_json::to_string(&ImageFormat::Png).ok().as_deref(),
            Some("\"png\"")
        );
        assert_eq!(
            serde_json::to_string(&ImageFormat::Jpeg).ok().as_deref(),
            Some("\"jpeg\"")
        );
        let back: Option<ImageFormat> = serde_json::from_str("\"jpeg\"").ok();
        assert_eq!(back, Some(ImageFormat::Jpeg));
        assert!(serde_json::from_str::<ImageFormat>("\"Jpeg\"").is_err());
    }
}
