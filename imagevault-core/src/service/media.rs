//! Resolving anonymous `/media/...` paths to stored objects, with the plan's gating rules.

use std::ops::Range;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::VaultError;
use crate::format::MediaFormat;
use crate::imaging::ImageFormat;
use crate::link::{ExpiringLink, LinkKey};
use crate::repo::LinkTarget;
use crate::storage::{ObjectInfo, StorageError, StorageKey, StoredObject};

use super::Vault;

/// What an expiring link resolves to, reduced to what serving it needs: the entry of the
/// vault's link cache.
#[derive(Debug, Clone)]
pub(super) struct ResolvedLink {
    link: ExpiringLink,
    storage_key: StorageKey,
    etag: String,
    image_format: ImageFormat,
    /// Whether the owner's plan (when resolved) had expiring links.
    allowed: bool,
}

impl From<LinkTarget> for ResolvedLink {
    fn from(target: LinkTarget) -> Self {
        Self {
            allowed: target.owner_plan.is_some_and(|plan| plan.expiring_links),
            link: target.link,
            etag: etag_for(&target.image.storage_key),
            storage_key: target.image.storage_key,
            image_format: target.image.format,
        }
    }
}

/// What an original's path resolves to, reduced to what serving it needs: the entry of
/// the vault's original cache.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResolvedOriginal {
    format: MediaFormat,
    /// Whether the owner's plan (when resolved) had `original_link`.
    linked: bool,
}

/// What a media path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `imageupload/<uuid>/<uuid>.<ext>`: an original, while the owner's plan links originals.
    Original,
    /// `thumbnail/<uuid>/<uuid>.<ext>`: a thumbnail.
    Thumbnail,
    /// `exp/<uuid>/<uuid>.<ext>`: an original through an expiring link.
    ExpiringLink,
}

/// How long clients and caches may keep a media response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaCaching {
    /// The content under this URL never changes: `public, max-age=31536000, immutable`.
    Immutable,
    /// May be stored by this client only, and revalidated on every use:
    /// `private, no-cache`. For originals, which stop being served when the owner's plan
    /// loses `original_link` or the image is deleted; a shared cache would go on serving
    /// them, and a fresh client copy would be shown without asking.
    Revalidate,
    /// Valid for `max_age` more seconds and for this client only: `private, max-age=<n>`.
    Private {
        /// Whole seconds until the link expires.
        max_age: u64,
    },
}

/// A media path resolved to a stored object that may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaObject {
    /// What kind of path it was.
    pub kind: MediaKind,
    /// Where the bytes are.
    pub key: StorageKey,
    /// The content's format, for `Content-Type`: an image format, or WebP for a
    /// thumbnail's WebP variant.
    pub format: MediaFormat,
    /// A strong entity tag (quoted), stable for as long as the key exists: keys are never
    /// reused, so the key identifies the bytes.
    pub etag: String,
    /// Cache rules for the response.
    pub caching: MediaCaching,
}

struct MediaPath<'a> {
    kind: MediaKind,
    dir: uuid::Uuid,
    file: uuid::Uuid,
    format: MediaFormat,
    raw: &'a str,
}

/// Accepts only the exact shapes imagevault makes: canonical lowercase UUIDs and a known
/// extension, so no other spelling can alias an object and nothing else reaches storage.
fn parse_media_path(path: &str) -> Option<MediaPath<'_>> {
    let mut segments = path.split('/');
    let (kind, dir, file_name) = (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() {
        return None;
    }
    let kind = match kind {
        "imageupload" => MediaKind::Original,
        "thumbnail" => MediaKind::Thumbnail,
        "exp" => MediaKind::ExpiringLink,
        _ => return None,
    };
    let (stem, extension) = file_name.rsplit_once('.')?;
    let canonical = |text: &str| {
        uuid::Uuid::try_parse(text)
            .ok()
            .filter(|uuid| uuid.hyphenated().to_string() == text)
    };
    // Only the extension imagevault names objects with: one URL per object.
    let format = MediaFormat::from_extension(extension)?;
    Some(MediaPath {
        kind,
        dir: canonical(dir)?,
        file: canonical(stem)?,
        format,
        raw: path,
    })
}

impl MediaObject {
    /// Content under a key that never changes: cached publicly for a year.
    fn immutable(kind: MediaKind, key: StorageKey, format: MediaFormat) -> Self {
        Self {
            kind,
            etag: etag_for(&key),
            key,
            format,
            caching: MediaCaching::Immutable,
        }
    }
}

/// A strong validator for the object under `key`: stored objects never change, so the
/// key alone names the bytes. Half a SHA-256 of it, in hex, quoted.
fn etag_for(key: &StorageKey) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(key.as_str().as_bytes());
    let mut etag = String::with_capacity(34);
    etag.push('"');
    for byte in &digest[..16] {
        etag.push(char::from(HEX[usize::from(byte >> 4)]));
        etag.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    etag.push('"');
    etag
}

impl Vault {
    /// Resolves a media path (the part after `/media/`) to an object that may be served now.
    ///
    /// - Originals: only while the owner's plan has `original_link`; without a query when
    ///   the original is in the vault's original cache (sized like the link cache, see
    ///   [`VaultConfig::link_cache_capacity`](super::VaultConfig::link_cache_capacity)).
    /// - Thumbnails and their WebP variants (`.webp`): by key alone, without a query; whether the object exists is for
    ///   [`open_media`](Self::open_media) (or a storage `head`) to tell.
    /// - Expiring links: while the owner's plan has `expiring_links`;
    ///   [`VaultError::LinkExpired`] once expired; cached privately for the time left.
    ///   Resolved without a query when the link is in the vault's link cache (see
    ///   [`VaultConfig::link_cache_capacity`](super::VaultConfig::link_cache_capacity)).
    ///
    /// Anything else (other shapes, unknown or deleted originals and links) is
    /// [`VaultError::NotFound`].
    pub async fn resolve_media(&self, path: &str) -> Result<MediaObject, VaultError> {
        let parsed = parse_media_path(path).ok_or(VaultError::NotFound)?;
        match parsed.kind {
            MediaKind::Original => {
                let key = StorageKey::parse(parsed.raw).ok_or(VaultError::NotFound)?;
                let resolved = self
                    .resolve_original(&key)
                    .await?
                    .ok_or(VaultError::NotFound)?;
                if !resolved.linked || resolved.format != parsed.format {
                    return Err(VaultError::NotFound);
                }
                Ok(MediaObject {
                    caching: MediaCaching::Revalidate,
                    ..MediaObject::immutable(parsed.kind, key, parsed.format)
                })
            }
            MediaKind::Thumbnail => {
                // Straight from storage: a thumbnail object is written once under a random
                // key and deleted with its image, so its existence is the whole check, and
                // the hottest media path costs no database query.
                let key = StorageKey::parse(parsed.raw).ok_or(VaultError::NotFound)?;
                Ok(MediaObject::immutable(parsed.kind, key, parsed.format))
            }
            MediaKind::ExpiringLink => {
                let key = LinkKey {
                    dir: parsed.dir,
                    file: parsed.file,
                };
                let resolved = self.resolve_link(key).await?.ok_or(VaultError::NotFound)?;
                if !resolved.allowed || MediaFormat::from(resolved.image_format) != parsed.format {
                    return Err(VaultError::NotFound);
                }
                let now = self.now();
                if resolved.link.is_expired(now) {
                    return Err(VaultError::LinkExpired);
                }
                Ok(MediaObject {
                    kind: parsed.kind,
                    etag: resolved.etag,
                    key: resolved.storage_key,
                    format: parsed.format,
                    caching: MediaCaching::Private {
                        max_age: resolved.link.seconds_left(now),
                    },
                })
            }
        }
    }

    /// The link under `key`, from the cache when it may be used, else from the repository
    /// (and then cached). Expiry is the caller's to check: it is not a change.
    async fn resolve_link(&self, key: LinkKey) -> Result<Option<ResolvedLink>, VaultError> {
        let repo = &self.inner.repo;
        let cache = &self.inner.links;
        // The stamp is read before the query, so a change committed while it runs makes
        // the entry stale at once.
        let stamp = cache.stamp(|| self.link_feed());
        if let Some(stamp) = stamp
            && let Some(resolved) = cache.get(&key, stamp)
        {
            return Ok(Some(resolved));
        }
        let Some(target) = repo.find_link(&key).await? else {
            return Ok(None);
        };
        let resolved = ResolvedLink::from(target);
        if let Some(stamp) = stamp {
            cache.insert(key, stamp, resolved.clone());
        }
        Ok(Some(resolved))
    }

    /// The original stored at `key`, from the cache when it may be used, else from the
    /// repository (and then cached), under the link feed: it reports every change that
    /// can alter the answer (the image deleted, the owner's plan changed, the plan
    /// updated), as it does for links.
    async fn resolve_original(
        &self,
        key: &StorageKey,
    ) -> Result<Option<ResolvedOriginal>, VaultError> {
        let cache = &self.inner.originals;
        let stamp = cache.stamp(|| self.link_feed());
        if let Some(stamp) = stamp
            && let Some(resolved) = cache.get(key, stamp)
        {
            return Ok(Some(resolved));
        }
        let Some(target) = self.inner.repo.find_original(key).await? else {
            return Ok(None);
        };
        let resolved = ResolvedOriginal {
            format: MediaFormat::from(target.image.format),
            linked: target.owner_plan.is_some_and(|plan| plan.original_link),
        };
        if let Some(stamp) = stamp {
            cache.insert(key.clone(), stamp, resolved);
        }
        Ok(Some(resolved))
    }

    /// Opens a resolved media object, whole or the bytes `range`. `Ok(None)` if the object
    /// has vanished from storage since it was resolved.
    ///
    /// An object of at most [`CACHED_MEDIA_LIMIT`](super::CACHED_MEDIA_LIMIT) bytes comes
    /// from memory once it has been read whole (see
    /// [`VaultConfig::media_cache_bytes`](super::VaultConfig::media_cache_bytes)), as one
    /// chunk. Resolving it first still applies every rule (plan, expiry) on each request.
    pub async fn open_media(
        &self,
        media: &MediaObject,
        range: Option<Range<u64>>,
    ) -> Result<Option<StoredObject>, VaultError> {
        let storage = &self.inner.storage;
        let cache = &self.inner.media;
        // Read before storage is, so that a deletion reported meanwhile makes the
        // entry stale at once.
        if let Some(stamp) = cache.stamp(|| self.link_feed()) {
            if let Some(cached) = cache.get(&media.key, stamp) {
                return Ok(Some(cached.open(range)?));
            }
            if range.is_none() {
                let Some(object) = storage.get(&media.key).await? else {
                    return Ok(None);
                };
                if object.info.size > super::CACHED_MEDIA_LIMIT {
                    return Ok(Some(object));
                }
                let cached = CachedObject {
                    info: object.info.clone(),
                    bytes: object.bytes().await?,
                };
                let weight = cached.bytes.len();
                cache.insert_weighed(media.key.clone(), stamp, cached.clone(), weight);
                return Ok(Some(cached.open(None)?));
            }
        }
        Ok(match range {
            Some(range) => storage.get_range(&media.key, range).await?,
            None => storage.get(&media.key).await?,
        })
    }
}

/// A media object held in memory: the entry of the vault's media cache.
#[derive(Debug, Clone)]
pub(super) struct CachedObject {
    info: ObjectInfo,
    bytes: Bytes,
}

impl CachedObject {
    /// The whole object, or the bytes of `range` (which the caller has checked against
    /// the object's size; a range beyond it is refused, as storage would).
    fn open(&self, range: Option<Range<u64>>) -> Result<StoredObject, StorageError> {
        let size = self.bytes.len() as u64;
        let range = range.unwrap_or(0..size);
        let invalid = || StorageError::InvalidRange {
            start: range.start,
            end: range.end,
            size,
        };
        if range.start > range.end || range.end > size {
            return Err(invalid());
        }
        let start = usize::try_from(range.start).map_err(|_| invalid())?;
        let end = usize::try_from(range.end).map_err(|_| invalid())?;
        let bytes = self.bytes.slice(start..end);
        Ok(StoredObject::in_memory(self.info.clone(), range, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0b5c1a3e-7d2f-4c61-9e8a-3f4b5c6d7e8f";
    const B: &str = "1c6d2b4f-8e3a-4d72-af9b-4a5c6d7e8f90";

    #[test]
    fn only_exact_media_shapes_parse() {
        for good in [
            format!("imageupload/{A}/{B}.jpg"),
            format!("thumbnail/{A}/{B}.png"),
            format!("thumbnail/{A}/{B}.webp"),
            format!("exp/{A}/{B}.jpg"),
        ] {
            assert!(parse_media_path(&good).is_some(), "{good}");
        }
        for bad in [
            format!("imageupload/{A}/{B}.jpeg"),
            format!("imageupload/{A}/{B}.JPG"),
            format!("imageupload/{A}/{B}"),
            format!("imageupload/{A}/../{B}.jpg"),
            format!("imageupload/{A}/{B}.jpg/"),
            format!("imageupload/{}/{B}.jpg", A.to_uppercase()),
            format!("imageupload/{}/{B}.jpg", A.replace('-', "")),
            format!("other/{A}/{B}.jpg"),
            format!("thumbnail/{A}%2F{B}.png"),
            format!("thumbnail/{A}/{B}.WEBP"),
            format!("/thumbnail/{A}/{B}.png"),
            String::new(),
        ] {
            assert!(parse_media_path(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn etags_are_strong_and_stable() {
        let key = StorageKey::parse(&format!("thumbnail/{A}/{B}.png")).unwrap();
        let etag = etag_for(&key);
        assert_eq!(etag, etag_for(&key));
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
        assert_eq!(etag.len(), 34);
        let hex: String = Sha256::digest(key.as_str().as_bytes())[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(etag, format!("\"{hex}\""));
    }
}
