//! The kinds of private metadata that plans with `strip_metadata` remove from originals at
//! upload, and their names: the one list the stripper, the Image JSON, the database
//! column, the OpenAPI schema and the docs all read.

use serde::Serialize;

/// A kind of metadata removed from an original (see
/// [`strip_metadata`](crate::imaging::strip_metadata)).
///
/// ```
/// use imagevault_core::MetadataKind;
/// assert_eq!(MetadataKind::Exif.name(), "exif");
/// assert_eq!(MetadataKind::from_name("iptc"), Some(MetadataKind::Iptc));
/// assert_eq!(MetadataKind::ALL.len(), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataKind {
    /// EXIF (JPEG APP1 `Exif`, PNG `eXIf`): camera, time, GPS position, embedded preview.
    /// When the original had an orientation other than 1, a minimal EXIF holding only the
    /// Orientation tag takes its place.
    Exif,
    /// XMP (JPEG APP1 `http://ns.adobe.com/xap/1.0/` and extended XMP, PNG `iTXt` with
    /// keyword `XML:com.adobe.xmp`).
    Xmp,
    /// IPTC and other Photoshop resources (JPEG APP13).
    Iptc,
    /// JPEG comment segments (COM).
    Comment,
    /// PNG text chunks (`tEXt`, `zTXt`, `iTXt` other than XMP).
    Text,
    /// The PNG last-modification time (`tIME`).
    Time,
    /// Bytes after the end of the image (after JPEG EOI or PNG IEND), which no decoder
    /// reads: camera previews and depth maps, or anything appended.
    Trailing,
}

impl MetadataKind {
    /// Every kind, in the order lists show them.
    pub const ALL: [Self; 7] = [
        Self::Exif,
        Self::Xmp,
        Self::Iptc,
        Self::Comment,
        Self::Text,
        Self::Time,
        Self::Trailing,
    ];

    /// The name in the API and in storage.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Exif => "exif",
            Self::Xmp => "xmp",
            Self::Iptc => "iptc",
            Self::Comment => "comment",
            Self::Text => "text",
            Self::Time => "time",
            Self::Trailing => "trailing",
        }
    }

    /// The kind called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl std::fmt::Display for MetadataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What was removed from an original: a set of [`MetadataKind`]s, kept in the order of
/// [`MetadataKind::ALL`]; empty when the original had none of them.
///
/// ```
/// use imagevault_core::{MetadataKind, MetadataRemoved};
/// let mut removed = MetadataRemoved::default();
/// removed.insert(MetadataKind::Comment);
/// removed.insert(MetadataKind::Exif);
/// removed.insert(MetadataKind::Exif);
/// assert_eq!(removed.to_string(), "exif comment");
/// assert_eq!(MetadataRemoved::parse("exif comment"), Some(removed));
/// assert_eq!(MetadataRemoved::parse(""), Some(MetadataRemoved::default()));
/// assert_eq!(MetadataRemoved::parse("gps"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MetadataRemoved(Vec<MetadataKind>);

impl MetadataRemoved {
    /// Adds `kind`, once.
    pub fn insert(&mut self, kind: MetadataKind) {
        if let Err(at) = self.0.binary_search(&kind) {
            self.0.insert(at, kind);
        }
    }

    /// Whether `kind` was removed.
    pub fn contains(&self, kind: MetadataKind) -> bool {
        self.0.binary_search(&kind).is_ok()
    }

    /// The kinds, in the order of [`MetadataKind::ALL`].
    pub fn kinds(&self) -> &[MetadataKind] {
        &self.0
    }

    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads back the text [`Display`](std::fmt::Display) writes (names separated by
    /// spaces, as backends store it); `None` for an unknown name.
    pub fn parse(text: &str) -> Option<Self> {
        let mut removed = Self::default();
        for name in text.split_whitespace() {
            removed.insert(MetadataKind::from_name(name)?);
        }
        Some(removed)
    }
}

/// The names separated by single spaces; the empty string for an empty set.
impl std::fmt::Display for MetadataRemoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, kind) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl FromIterator<MetadataKind> for MetadataRemoved {
    fn from_iter<I: IntoIterator<Item = MetadataKind>>(iter: I) -> Self {
        let mut removed = Self::default();
        for kind in iter {
            removed.insert(kind);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for kind in MetadataKind::ALL {
            assert_eq!(MetadataKind::from_name(kind.name()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
        let all: MetadataRemoved = MetadataKind::ALL.into_iter().rev().collect();
        assert_eq!(all.kinds(), MetadataKind::ALL);
        assert_eq!(MetadataRemoved::parse(&all.to_string()), Some(all));
    }
}
