//! Expiring links: anonymous URLs to an original that stop working after a set time.

use chrono::{DateTime, TimeDelta, Utc};

use crate::format::ImageFormat;
use crate::id::{ImageId, UserId};
use crate::page::positioned;
use crate::validation::ValidationError;

pub use crate::id::LinkId;

/// How long a link lives: `300..=30000` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ExpirySeconds(u32);

impl ExpirySeconds {
    /// The shortest lifetime.
    pub const MIN: u32 = 300;
    /// The longest lifetime.
    pub const MAX: u32 = 30_000;

    /// Checks the range.
    ///
    /// ```
    /// use imagevault_core::ExpirySeconds;
    /// assert!(ExpirySeconds::new(300).is_ok());
    /// assert!(ExpirySeconds::new(299).is_err());
    /// ```
    pub fn new(seconds: i64) -> Result<Self, ValidationError> {
        match u32::try_from(seconds) {
            Ok(seconds) if (Self::MIN..=Self::MAX).contains(&seconds) => Ok(Self(seconds)),
            _ => Err(Self::out_of_range()),
        }
    }

    /// The API's message for a value that is out of range or not an integer.
    pub fn out_of_range() -> ValidationError {
        ValidationError::new(
            "expiry_in_seconds",
            format!(
                "Ensure this value is between {} and {}.",
                Self::MIN,
                Self::MAX
            ),
        )
    }

    /// The number of seconds.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The lifetime as a duration.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.0))
    }
}

/// The random public part of a link's URL: two v4 UUIDs, 244 random bits, so links cannot
/// be guessed and reveal nothing about when they were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkKey {
    /// First path segment.
    pub dir: uuid::Uuid,
    /// Second path segment (the file stem).
    pub file: uuid::Uuid,
}

impl LinkKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self {
            dir: uuid::Uuid::new_v4(),
            file: uuid::Uuid::new_v4(),
        }
    }

    /// Parses the `<uuid>/<uuid>` form of [`Display`](std::fmt::Display).
    pub fn parse(text: &str) -> Option<Self> {
        let (dir, file) = text.split_once('/')?;
        Some(Self {
            dir: uuid::Uuid::try_parse(dir).ok()?,
            file: uuid::Uuid::try_parse(file).ok()?,
        })
    }
}

impl std::fmt::Display for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.dir.hyphenated(), self.file.hyphenated())
    }
}

/// An expiring link to an image's original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringLink {
    /// Identity.
    pub id: LinkId,
    /// The owner of the image (and of the link).
    pub owner: UserId,
    /// The image whose original the link serves.
    pub image_id: ImageId,
    /// The image's format (which never changes), for the URL's extension.
    pub format: ImageFormat,
    /// The public part of the URL.
    pub key: LinkKey,
    /// The lifetime the link was created or last updated with.
    pub expiry_seconds: ExpirySeconds,
    /// When the link was created.
    pub created_at: DateTime<Utc>,
    /// Always `created_at + expiry_seconds`.
    pub expires_at: DateTime<Utc>,
}

impl ExpiringLink {
    /// A new link to `image_id`, created at `now`.
    pub fn new(
        owner: UserId,
        image_id: ImageId,
        format: ImageFormat,
        expiry: ExpirySeconds,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: LinkId::new(),
            owner,
            image_id,
            format,
            key: LinkKey::generate(),
            expiry_seconds: expiry,
            created_at: now,
            expires_at: now + expiry.as_delta(),
        }
    }

    /// The link with a new lifetime, still counted from its creation.
    pub fn with_expiry(&self, expiry: ExpirySeconds) -> Self {
        Self {
            expiry_seconds: expiry,
            expires_at: self.created_at + expiry.as_delta(),
            ..self.clone()
        }
    }

    /// The media path the link is served at, below `/media/`: `exp/<uuid>/<uuid>.<ext>`.
    pub fn media_path(&self) -> String {
        format!("exp/{}.{}", self.key, self.format.extension())
    }

    /// Whether the link has expired at `now` (it is valid up to, not including, `expires_at`).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// Whole seconds left at `now`, rounded down; zero once expired.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> u64 {
        u64::try_from((self.expires_at - now).num_seconds()).unwrap_or(0)
    }
}

positioned!(ExpiringLink);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_bounds() {
        assert!(ExpirySeconds::new(299).is_err());
        assert!(ExpirySeconds::new(300).is_ok());
        assert!(ExpirySeconds::new(30_000).is_ok());
        assert!(ExpirySeconds::new(30_001).is_err());
        assert!(ExpirySeconds::new(-1).is_err());
        assert!(ExpirySeconds::new(i64::MAX).is_err());
        assert_eq!(
            ExpirySeconds::new(1).unwrap_err().message,
            "Ensure this value is between 300 and 30000."
        );
    }

    #[test]
    fn expiry_arithmetic() {
        let now: DateTime<Utc> = "2026-11-23T20:00:00.123456Z".parse().unwrap();
        let link = ExpiringLink::new(
            UserId::new(),
            ImageId::new(),
            ImageFormat::Jpeg,
            ExpirySeconds::new(300).unwrap(),
            now,
        );
        assert_eq!(link.expires_at - link.created_at, TimeDelta::seconds(300));
        assert!(!link.is_expired(now + TimeDelta::seconds(299)));
        assert_eq!(link.seconds_left(now + TimeDelta::milliseconds(1500)), 298);
        assert!(link.is_expired(now + TimeDelta::seconds(300)));
        assert_eq!(link.seconds_left(now + TimeDelta::seconds(400)), 0);
        let longer = link.with_expiry(ExpirySeconds::new(600).unwrap());
        assert_eq!(longer.expires_at, now + TimeDelta::seconds(600));
        assert_eq!(longer.key, link.key);
    }

    #[test]
    fn link_keys_round_trip() {
        let key = LinkKey::generate();
        assert_eq!(LinkKey::parse(&key.to_string()), Some(key));
        assert_eq!(key.dir.get_version_num(), 4);
        assert!(LinkKey::parse("nope").is_none());
    }
}
