//! [`ImageFormat`]: the formats imagevault accepts and produces.

use std::fmt;

/// The image formats the pipeline accepts and produces.
///
/// Thumbnails are always encoded in the format of their source. Serialized as the
/// lowercase strings `"png"` and `"jpeg"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Portable Network Graphics.
    Png,
    /// JPEG (JFIF or EXIF), baseline, extended or progressive Huffman-coded.
    Jpeg,
}

impl ImageFormat {
    /// The canonical lowercase name: `"png"` or `"jpeg"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
        }
    }

    /// The usual file extension, without the dot: `"png"` or `"jpg"`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
        }
    }

    /// The MIME type: `"image/png"` or `"image/jpeg"`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// The format for a lowercase file extension without the dot (`"png"`, `"jpg"` or
    /// `"jpeg"`), or `None`.
    ///
    /// Only for naming stored files: the format of an upload comes from its bytes
    /// (see [`inspect`](crate::imaging::inspect)), never from its name.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "png" => Some(Self::Png),
            "jpg" | "jpeg" => Some(Self::Jpeg),
            _ => None,
        }
    }

    /// The inverse of [`as_str`](Self::as_str): `"png"` or `"jpeg"`, or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "png" => Some(Self::Png),
            "jpeg" => Some(Self::Jpeg),
            _ => None,
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ImageFormat;

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
