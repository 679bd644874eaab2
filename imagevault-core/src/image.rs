//! Uploaded images and their names.

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::format::ImageFormat;
use crate::id::UserId;
use crate::metadata::MetadataRemoved;
use crate::page::{Keyset, Positioned, positioned};
use crate::placeholder::Placeholder;
use crate::storage_key::StorageKey;
use crate::thumbnail::Thumbnail;
use crate::validation::ValidationError;

pub use crate::id::ImageId;

/// An image's display name: 1 to 255 characters, chosen by the user.
///
/// The name is only ever shown back; it never reaches a storage path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ImageName(String);

impl ImageName {
    /// The longest name allowed, in characters.
    pub const MAX_CHARS: usize = 255;

    /// A name given explicitly: rejected when blank, too long or containing control characters.
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        if name.trim().is_empty() {
            return Err(ValidationError::new("name", "This field may not be blank."));
        }
        let chars = name.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                format!(
                    "Ensure this field has no more than {} characters; it has {chars}.",
                    Self::MAX_CHARS
                ),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "Control characters are not allowed in a name.",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The default name taken from an uploaded file name: the last path component
    /// (either slash), control characters dropped, cut to 255 characters.
    /// `None` when nothing usable is left.
    ///
    /// ```
    /// use imagevault_core::ImageName;
    /// let name = ImageName::from_file_name("C:\\photos\\../cat.jpg").unwrap();
    /// assert_eq!(name.as_str(), "cat.jpg");
    /// ```
    pub fn from_file_name(file_name: &str) -> Option<Self> {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let cleaned: String = base
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::MAX_CHARS)
            .collect();
        if cleaned.trim().is_empty() || cleaned == "." || cleaned == ".." {
            None
        } else {
            Some(Self(cleaned))
        }
    }

    /// The name used when the upload gives none: `image.<ext>`.
    pub fn fallback(format: ImageFormat) -> Self {
        Self(format!("image.{}", format.extension()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An uploaded original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Identity.
    pub id: ImageId,
    /// The user who uploaded it.
    pub owner: UserId,
    /// Display name.
    pub name: ImageName,
    /// PNG or JPEG, as detected from the content.
    pub format: ImageFormat,
    /// Width as displayed (EXIF orientation applied).
    pub width: u32,
    /// Height as displayed (EXIF orientation applied).
    pub height: u32,
    /// The original's size in bytes.
    pub size: u64,
    /// Where the original's bytes are stored.
    pub storage_key: StorageKey,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// The SHA-256 of the bytes as uploaded, so that a bulk import can skip what the owner
    /// already has. When the plan removed metadata, the stored original differs from the
    /// upload; the digest is still that of the upload, so that importing the same file
    /// again is recognised. `None` for images stored before digests were recorded.
    pub digest: Option<ContentDigest>,
    /// What pages show while the thumbnails load, made by the worker with the thumbnails
    /// ([`ImageRepo::set_placeholder`](crate::ImageRepo::set_placeholder)). `None` until
    /// then, and for images whose thumbnails were made before placeholders were (until
    /// they are made again).
    pub placeholder: Option<Placeholder>,
    /// What was removed from the upload before it was stored (see
    /// [`strip_metadata`](crate::imaging::strip_metadata)): `None` when the owner's plan
    /// did not remove metadata at upload, an empty set when there was nothing to remove.
    pub metadata_removed: Option<MetadataRemoved>,
}

/// The SHA-256 of an original's bytes: what makes two uploads the same content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentDigest([u8; 32]);

impl ContentDigest {
    /// The digest of `data`.
    ///
    /// ```
    /// use imagevault_core::ContentDigest;
    /// let digest = ContentDigest::of(b"abc");
    /// assert!(digest.to_hex().starts_with("ba7816bf"));
    /// ```
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// The digest as 64 lowercase hexadecimal digits, as backends store it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// A digest from 64 hexadecimal digits (either case); `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(digest))
    }
}

impl std::fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An image with all its thumbnail rows, as repositories return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image.
    pub image: Image,
    /// Every thumbnail row of the image, whatever the owner's current plan; ascending by height.
    pub thumbnails: Vec<Thumbnail>,
}

positioned!(Image);

impl Positioned for ImageRecord {
    fn position(&self) -> Keyset {
        self.image.position()
    }
}

/// What a user's images take up, as the account page shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// How many images the user has.
    pub images: u64,
    /// The bytes of their originals together (the `size` of each image); thumbnails are
    /// not counted.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_through_hex_and_reject_anything_else() {
        let digest = ContentDigest::of(b"imagevault");
        assert_eq!(ContentDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(
            ContentDigest::from_hex(&digest.to_hex().to_uppercase()),
            Some(digest)
        );
        assert_eq!(ContentDigest::from_hex("abc"), None);
        assert_eq!(ContentDigest::from_hex(&"zz".repeat(32)), None);
        assert_eq!(ContentDigest::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn explicit_names_are_validated() {
        assert!(ImageName::parse("holiday.jpg").is_ok());
        assert_eq!(ImageName::parse(" ").unwrap_err().field, "name");
        assert!(ImageName::parse(&"é".repeat(255)).is_ok());
        let error = ImageName::parse(&"é".repeat(256)).unwrap_err();
        assert!(
            error.message.contains("no more than 255"),
            "{}",
            error.message
        );
        assert!(ImageName::parse("a\nb").is_err());
    }

    #[test]
    fn file_names_lose_their_path_and_are_cut() {
        assert_eq!(
            ImageName::from_file_name("/etc/passwd").unwrap().as_str(),
            "passwd"
        );
        assert_eq!(
            ImageName::from_file_name("a\\b\\c.png").unwrap().as_str(),
            "c.png"
        );
        assert!(ImageName::from_file_name("dir/").is_none());
        assert!(ImageName::from_file_name("..").is_none());
        let long = format!("{}.jpg", "x".repeat(300));
        assert_eq!(
            ImageName::from_file_name(&long)
                .unwrap()
                .as_str()
                .chars()
                .count(),
            255
        );
        assert_eq!(ImageName::fallback(ImageFormat::Jpeg).as_str(), "image.jpg");
    }
}
