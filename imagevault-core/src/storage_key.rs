//! [`StorageKey`] and [`KeyPrefix`]: where an object is kept, as safe relative paths.
//!
//! Values below the [`Storage`](crate::Storage) port, so that an image or a thumbnail can
//! name its object without depending on the port.

use crate::format::ImageFormat;

/// The first segment of every original's key.
const ORIGINALS: &str = "imageupload";
/// The first segment of every thumbnail's key.
const THUMBNAILS: &str = "thumbnail";

/// Whether `byte` may appear in a key: ASCII letters, digits, `-`, `_`, `.`, and `/`
/// between segments. Branch-free, so that the compiler checks many bytes at a time.
fn key_byte(byte: u8) -> bool {
    let letter = (byte | 0x20).wrapping_sub(b'a') < 26;
    let digit = byte.wrapping_sub(b'0') < 10;
    letter | digit | (byte == b'-') | (byte == b'_') | (byte == b'.') | (byte == b'/')
}

/// Whether `path` is `/`-separated segments that may each be part of a key: not empty,
/// `.` or `..`, and made only of ASCII letters, digits, `-`, `_` and `.`.
///
/// Every key of every listed image is checked on its way out of the database, so this is
/// on the list page's hot path: hence one vectorised pass over the bytes and a SIMD search
/// for the few slashes, rather than `str::split` with a check per segment.
fn safe_segments(path: &str) -> bool {
    let bytes = path.as_bytes();
    if !bytes.iter().fold(true, |all, &byte| all & key_byte(byte)) {
        return false;
    }
    let mut segment_start = 0;
    for segment_end in memchr::memchr_iter(b'/', bytes).chain(std::iter::once(bytes.len())) {
        if matches!(&bytes[segment_start..segment_end], b"" | b"." | b"..") {
            return false;
        }
        segment_start = segment_end + 1;
    }
    true
}

/// The key of a stored object: a relative path of `/`-separated segments made only of ASCII
/// letters, digits, `-`, `_` and `.`, with no empty, `.` or `..` segment, at most 1024 bytes.
///
/// Keys made by imagevault are `imageupload/<uuid>/<uuid>.<ext>` and
/// `thumbnail/<uuid>/<uuid>.<ext>` with random (v4) UUIDs: no user input reaches a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageKey(String);

impl StorageKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 1024;

    /// Checks that `key` is a safe relative path.
    ///
    /// ```
    /// use imagevault_core::StorageKey;
    /// assert!(StorageKey::parse("thumbnail/a/b.png").is_some());
    /// assert!(StorageKey::parse("../etc/passwd").is_none());
    /// assert!(StorageKey::parse("/abs").is_none());
    /// ```
    pub fn parse(key: &str) -> Option<Self> {
        (key.len() <= Self::MAX_LEN && safe_segments(key)).then(|| Self(key.to_owned()))
    }

    /// A new random key for an original: `imageupload/<uuid>/<uuid>.<ext>`.
    pub fn new_original(format: ImageFormat) -> Self {
        Self::random(ORIGINALS, format)
    }

    /// A new random key for a thumbnail: `thumbnail/<uuid>/<uuid>.<ext>`.
    pub fn new_thumbnail(format: ImageFormat) -> Self {
        Self::random(THUMBNAILS, format)
    }

    /// A new random key for a thumbnail's WebP variant: `thumbnail/<uuid>/<uuid>.webp`.
    ///
    /// ```
    /// use imagevault_core::StorageKey;
    /// let key = StorageKey::new_webp_thumbnail();
    /// assert!(key.as_str().starts_with("thumbnail/") && key.as_str().ends_with(".webp"));
    /// ```
    pub fn new_webp_thumbnail() -> Self {
        Self::random_with(THUMBNAILS, crate::format::WEBP_EXTENSION)
    }

    fn random(prefix: &str, format: ImageFormat) -> Self {
        Self::random_with(prefix, format.extension())
    }

    fn random_with(prefix: &str, extension: &str) -> Self {
        Self(format!(
            "{prefix}/{}/{}.{extension}",
            uuid::Uuid::new_v4().hyphenated(),
            uuid::Uuid::new_v4().hyphenated(),
        ))
    }

    /// The key as a path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A "directory" of keys, for [`Storage::list`](crate::Storage::list): empty for every key, or whole key segments
/// each followed by `/`, such as `thumbnail/`.
///
/// ```
/// use imagevault_core::storage::KeyPrefix;
/// assert_eq!(KeyPrefix::originals().as_str(), "imageupload/");
/// assert!(KeyPrefix::parse("thumbnail/0b5c/").is_some());
/// assert!(KeyPrefix::parse("thumb").is_none()); // part of a segment
/// assert!(KeyPrefix::parse("../").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// `imageupload/`: where every original is stored.
    pub fn originals() -> Self {
        Self(format!("{ORIGINALS}/"))
    }

    /// `thumbnail/`: where every thumbnail is stored.
    pub fn thumbnails() -> Self {
        Self(format!("{THUMBNAILS}/"))
    }

    /// Checks that `prefix` is empty, or segments as in a [`StorageKey`] each followed by
    /// `/`.
    pub fn parse(prefix: &str) -> Option<Self> {
        if prefix.is_empty() {
            return Some(Self(String::new()));
        }
        let directories = prefix.strip_suffix('/')?;
        (prefix.len() <= StorageKey::MAX_LEN && safe_segments(directories))
            .then(|| Self(prefix.to_owned()))
    }

    /// The prefix, empty or ending in `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix's segments, without the slashes; none for the empty prefix.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator('/')
    }

    /// Whether `key` lies under this prefix.
    pub fn contains(&self, key: &StorageKey) -> bool {
        key.as_str().starts_with(&self.0)
    }
}

impl std::fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as it reads in the documentation, one segment at a time.
    fn segments_by_splitting(path: &str) -> bool {
        path.split('/').all(|segment| {
            !matches!(segment, "" | "." | "..")
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
    }

    #[test]
    fn the_fast_check_agrees_with_splitting_on_every_short_path() {
        // Every string of up to five bytes over an alphabet with each kind of byte: allowed
        // ones, the separator, a dot, a forbidden ASCII byte and a non-ASCII letter.
        let alphabet = ["a", "Z", "7", "-", "_", ".", "/", " ", "\\", "é"];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            let mut longer = Vec::new();
            for path in &paths {
                for piece in alphabet {
                    let path = format!("{path}{piece}");
                    assert_eq!(
                        safe_segments(&path),
                        segments_by_splitting(&path),
                        "{path:?}"
                    );
                    checked += 1;
                    longer.push(path);
                }
            }
            paths = longer;
        }
        assert_eq!(checked, 10 + 100 + 1_000 + 10_000 + 100_000);
    }

    #[test]
    fn keys_and_prefixes_follow_the_segment_rule() {
        let key = StorageKey::new_thumbnail(ImageFormat::Png);
        assert_eq!(StorageKey::parse(key.as_str()), Some(key));
        for bad in [
            "", "/a", "a/", "a//b", "a/./b", "a/../b", "..", "a/b c", "a/b%2f",
        ] {
            assert!(StorageKey::parse(bad).is_none(), "{bad:?}");
        }
        assert!(StorageKey::parse(&"a".repeat(StorageKey::MAX_LEN)).is_some());
        assert!(StorageKey::parse(&"a".repeat(StorageKey::MAX_LEN + 1)).is_none());
        assert!(KeyPrefix::parse("thumbnail/a.b/").is_some());
        for bad in ["thumbnail", "/", "a//", "../", "a/../"] {
            assert!(KeyPrefix::parse(bad).is_none(), "{bad:?}");
        }
    }
}
