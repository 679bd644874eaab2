//! Rows as both databases return them, and their conversion to the domain types.
//!
//! The row structs are generic over how a timestamp (`T`) and a plan's heights (`H`) are
//! stored, which is all the two schemas differ in: PostgreSQL returns `timestamptz` and
//! `integer[]`, SQLite INTEGER microseconds and a JSON array. Every conversion checks what
//! it reads, so a row changed behind imagevault's back is an error, never a panic.
//!
//! Beside the rows stand the statements that read them and that [`crate::repo`] uses by
//! name (`token_sql`, `session_sql`, `admin_sql`, `account_page_sql`, the keyset clause),
//! each written once for both databases.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use imagevault_core::imaging::ImageFormat;
use imagevault_core::page::{Direction, KeysetQuery};
use imagevault_core::repo::WorkScope;
use imagevault_core::{
    Color, ContentDigest, ExpiringLink, ExpirySeconds, HolderId, HolderRecord, Image, ImageId,
    ImageName, ImageRecord, LinkId, LinkKey, MetadataRemoved, Placeholder, Plan, PlanId, PlanName,
    QuotaLimits, QuotaOverrides, StorageKey, Thumbnail, ThumbnailFormat, ThumbnailFormats,
    ThumbnailHeight, ThumbnailHeights, ThumbnailStatus, User, UserId, Username,
};
use imagevault_core::{
    PasswordHash, SessionOwner, SessionRecord, TokenHash, TokenOwner, TokenRecord, repo::RepoError,
};
use uuid::Uuid;

use crate::error::{InvalidRow, Unstorable, backend};

/// How a backend stores a timestamp.
pub(crate) trait Stamp: Sized + Clone {
    /// `time` as stored.
    fn from_utc(time: DateTime<Utc>) -> Self;
    /// The stored value as a time.
    fn into_utc(self) -> Result<DateTime<Utc>, InvalidRow>;
}

/// PostgreSQL: `timestamptz`.
impl Stamp for DateTime<Utc> {
    fn from_utc(time: DateTime<Utc>) -> Self {
        time
    }

    fn into_utc(self) -> Result<DateTime<Utc>, InvalidRow> {
        Ok(self)
    }
}

/// SQLite: INTEGER microseconds since the Unix epoch, which compare and index as numbers.
impl Stamp for i64 {
    fn from_utc(time: DateTime<Utc>) -> Self {
        time.timestamp_micros()
    }

    fn into_utc(self) -> Result<DateTime<Utc>, InvalidRow> {
        DateTime::from_timestamp_micros(self)
            .ok_or_else(|| InvalidRow(format!("timestamp {self} is out of range")))
    }
}

/// How a backend stores a plan's heights.
pub(crate) trait StoredHeights: Sized {
    /// `heights` as stored.
    fn from_heights(heights: &[ThumbnailHeight]) -> Self;
    /// The stored value as validated heights.
    fn into_heights(self) -> Result<ThumbnailHeights, InvalidRow>;
}

/// PostgreSQL: `integer[]`.
impl StoredHeights for Vec<i32> {
    fn from_heights(heights: &[ThumbnailHeight]) -> Self {
        // Heights are at most 10 000, so the fallback is never taken.
        heights
            .iter()
            .map(|height| i32::try_from(height.get()).unwrap_or(i32::MAX))
            .collect()
    }

    fn into_heights(self) -> Result<ThumbnailHeights, InvalidRow> {
        let pixels = self
            .into_iter()
            .map(|height| u32::try_from(height).map_err(|_| InvalidRow(format!("height {height}"))))
            .collect::<Result<Vec<u32>, _>>()?;
        ThumbnailHeights::new(pixels).map_err(|error| InvalidRow(error.message))
    }
}

/// SQLite: a JSON array, which `json_each` reads.
impl StoredHeights for String {
    fn from_heights(heights: &[ThumbnailHeight]) -> Self {
        let items: Vec<String> = heights.iter().map(|height| height.to_string()).collect();
        format!("[{}]", items.join(","))
    }

    fn into_heights(self) -> Result<ThumbnailHeights, InvalidRow> {
        let invalid = || InvalidRow(format!("plan heights {self:?}"));
        let inner = self
            .trim()
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .ok_or_else(invalid)?;
        let pixels = inner
            .split(',')
            .map(|item| item.trim().parse::<u32>().map_err(|_| invalid()))
            .collect::<Result<Vec<u32>, _>>()?;
        ThumbnailHeights::new(pixels).map_err(|error| InvalidRow(error.message))
    }
}

/// Those of `asked` that a query for referenced storage keys `found`. Matching against the
/// keys asked for, rather than parsing what the database returns, keeps the answer within
/// them.
pub(crate) fn found_keys(asked: &[StorageKey], found: &[String]) -> HashSet<StorageKey> {
    let found: HashSet<&str> = found.iter().map(String::as_str).collect();
    asked
        .iter()
        .filter(|key| found.contains(key.as_str()))
        .cloned()
        .collect()
}

/// A `u64` as a signed 64-bit column.
pub(crate) fn signed(value: u64, what: &str) -> Result<i64, Unstorable> {
    i64::try_from(value).map_err(|_| Unstorable(format!("{what} {value} exceeds i64")))
}

/// A signed 64-bit column as a `u32`.
pub(crate) fn unsigned32(value: i64, what: &str) -> Result<u32, InvalidRow> {
    u32::try_from(value).map_err(|_| InvalidRow(format!("{what} {value}")))
}

pub(crate) fn format(text: &str) -> Result<ImageFormat, InvalidRow> {
    ImageFormat::parse(text).ok_or_else(|| InvalidRow(format!("image format {text:?}")))
}

pub(crate) fn storage_key(text: &str) -> Result<StorageKey, InvalidRow> {
    StorageKey::parse(text).ok_or_else(|| InvalidRow(format!("storage key {text:?}")))
}

/// What was removed from an upload, as stored (see [`MetadataRemoved::parse`]).
pub(crate) fn metadata_removed(text: &str) -> Result<MetadataRemoved, InvalidRow> {
    MetadataRemoved::parse(text).ok_or_else(|| InvalidRow(format!("metadata removed {text:?}")))
}

/// An image's placeholder from its two columns, both `NULL` or neither.
pub(crate) fn placeholder(
    thumbhash: Option<&[u8]>,
    average_color: Option<&str>,
) -> Result<Option<Placeholder>, InvalidRow> {
    match (thumbhash, average_color) {
        (None, None) => Ok(None),
        (Some(thumbhash), Some(text)) => {
            let color = Color::parse_hex(text)
                .ok_or_else(|| InvalidRow(format!("average colour {text:?}")))?;
            Placeholder::new(thumbhash.to_vec(), color)
                .map(Some)
                .ok_or_else(|| InvalidRow(format!("a ThumbHash of {} bytes", thumbhash.len())))
        }
        _ => Err(InvalidRow(
            "a placeholder with one of its two columns NULL".into(),
        )),
    }
}

/// A stored content digest (see [`ContentDigest::to_hex`]).
pub(crate) fn digest(text: &str) -> Result<ContentDigest, InvalidRow> {
    ContentDigest::from_hex(text).ok_or_else(|| InvalidRow(format!("content digest {text:?}")))
}

pub(crate) fn height(value: i64) -> Result<ThumbnailHeight, InvalidRow> {
    ThumbnailHeight::new(unsigned32(value, "thumbnail height")?)
        .map_err(|error| InvalidRow(error.message))
}

/// Converts a decoded row, naming the backend in the error.
pub(crate) fn convert<T>(
    backend_name: &'static str,
    result: Result<T, InvalidRow>,
) -> Result<T, RepoError> {
    result.map_err(|error| backend(backend_name, error))
}

/// The columns of [`PlanRow`], from table alias `p`.
macro_rules! plan_columns {
    () => {
        "p.id, p.name, p.thumbnail_heights, p.original_link, p.expiring_links, p.created_at, \
         p.max_images, p.max_bytes, p.strip_metadata, p.thumbnail_formats"
    };
}
pub(crate) use plan_columns;

/// A row of `plans`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PlanRow<T, H> {
    id: Uuid,
    name: String,
    thumbnail_heights: H,
    original_link: bool,
    expiring_links: bool,
    created_at: T,
    max_images: Option<i64>,
    max_bytes: Option<i64>,
    strip_metadata: bool,
    thumbnail_formats: String,
}

impl<T: Stamp, H: StoredHeights> PlanRow<T, H> {
    pub(crate) fn into_plan(self) -> Result<Plan, InvalidRow> {
        Ok(Plan {
            id: PlanId::from_uuid(self.id),
            name: PlanName::parse(&self.name).map_err(|error| InvalidRow(error.message))?,
            thumbnail_heights: self.thumbnail_heights.into_heights()?,
            thumbnail_formats: ThumbnailFormats::parse(&self.thumbnail_formats)
                .map_err(|error| InvalidRow(error.message))?,
            original_link: self.original_link,
            expiring_links: self.expiring_links,
            quota: QuotaLimits {
                max_images: quota::limit(self.max_images)?,
                max_bytes: quota::limit(self.max_bytes)?,
            },
            strip_metadata: self.strip_metadata,
            created_at: self.created_at.into_utc()?,
        })
    }
}

/// An SQL condition on the plan aliased `p`: whether its `thumbnail_formats` (names
/// separated by commas, see migration 0011/0009) list WebP. The name is the core's.
pub(crate) fn plan_lists_webp() -> String {
    format!(
        "(',' || p.thumbnail_formats || ',') LIKE '%,{},%'",
        ThumbnailFormat::Webp.as_str()
    )
}

/// The columns of [`OwnerPlanRow`]: the plan of the user aliased `u`, joined as `p`
/// (`LEFT JOIN plans p ON p.id = u.plan_id`).
macro_rules! owner_plan_columns {
    () => {
        "p.id AS plan_id, p.name AS plan_name, \
     p.thumbnail_heights AS plan_thumbnail_heights, p.original_link AS plan_original_link, \
     p.expiring_links AS plan_expiring_links, p.created_at AS plan_created_at, \
     p.max_images AS plan_max_images, p.max_bytes AS plan_max_bytes, \
     p.strip_metadata AS plan_strip_metadata, p.thumbnail_formats AS plan_thumbnail_formats"
    };
}
pub(crate) use owner_plan_columns;

/// An owner's plan, left-joined: all `NULL` for an owner without a plan.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OwnerPlanRow<T, H> {
    plan_id: Option<Uuid>,
    plan_name: Option<String>,
    plan_thumbnail_heights: Option<H>,
    plan_original_link: Option<bool>,
    plan_expiring_links: Option<bool>,
    plan_created_at: Option<T>,
    plan_max_images: Option<i64>,
    plan_max_bytes: Option<i64>,
    plan_strip_metadata: Option<bool>,
    plan_thumbnail_formats: Option<String>,
}

impl<T: Stamp, H: StoredHeights> OwnerPlanRow<T, H> {
    fn into_plan(self) -> Result<Option<Plan>, InvalidRow> {
        match (
            self.plan_id,
            self.plan_name,
            self.plan_thumbnail_heights,
            self.plan_original_link,
            self.plan_expiring_links,
            self.plan_created_at,
            self.plan_strip_metadata,
            self.plan_thumbnail_formats,
        ) {
            (None, ..) => Ok(None),
            (
                Some(id),
                Some(name),
                Some(thumbnail_heights),
                Some(original_link),
                Some(expiring_links),
                Some(created_at),
                Some(strip_metadata),
                Some(thumbnail_formats),
            ) => PlanRow {
                id,
                name,
                thumbnail_heights,
                original_link,
                expiring_links,
                created_at,
                max_images: self.plan_max_images,
                max_bytes: self.plan_max_bytes,
                strip_metadata,
                thumbnail_formats,
            }
            .into_plan()
            .map(Some),
            _ => Err(InvalidRow("a plan with NULL columns".into())),
        }
    }
}

/// The columns of [`UserRow`], from table alias `u`. The plan id is selected as
/// `user_plan_id` so that it does not clash with [`OwnerPlanRow`]'s `plan_id` when a user
/// is read with their plan ([`UserPlanRow`]).
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.password_hash, u.is_admin, u.plan_id AS user_plan_id, u.created_at, \
         u.max_images AS user_max_images, u.max_bytes AS user_max_bytes"
    };
}
pub(crate) use user_columns;

/// A row of `users`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow<T> {
    id: Uuid,
    username: String,
    password_hash: String,
    is_admin: bool,
    user_plan_id: Option<Uuid>,
    created_at: T,
    user_max_images: Option<i64>,
    user_max_bytes: Option<i64>,
}

impl<T: Stamp> UserRow<T> {
    pub(crate) fn into_user(self) -> Result<User, InvalidRow> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            username: Username::parse(&self.username).map_err(|error| InvalidRow(error.message))?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            is_admin: self.is_admin,
            plan_id: self.user_plan_id.map(PlanId::from_uuid),
            quota: QuotaOverrides {
                max_images: quota::override_from(self.user_max_images)?,
                max_bytes: quota::override_from(self.user_max_bytes)?,
            },
            created_at: self.created_at.into_utc()?,
        })
    }
}

/// A user (alias `u`) with their plan.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserPlanRow<T, H> {
    #[sqlx(flatten)]
    pub(crate) user: UserRow<T>,
    #[sqlx(flatten)]
    pub(crate) plan: OwnerPlanRow<T, H>,
}

impl<T: Stamp, H: StoredHeights> UserPlanRow<T, H> {
    pub(crate) fn into_parts(self) -> Result<(User, Option<Plan>), InvalidRow> {
        Ok((self.user.into_user()?, self.plan.into_plan()?))
    }
}

/// A token's user with their plan, and the token's expiry and last use (columns
/// `token_expires_at`, `token_last_used_at`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenOwnerRow<T, H> {
    #[sqlx(flatten)]
    pub(crate) owner: UserPlanRow<T, H>,
    pub(crate) token_expires_at: Option<T>,
    pub(crate) token_last_used_at: Option<T>,
}

impl<T: Stamp, H: StoredHeights> TokenOwnerRow<T, H> {
    pub(crate) fn into_token_owner(self) -> Result<TokenOwner, InvalidRow> {
        let (user, plan) = self.owner.into_parts()?;
        Ok(TokenOwner {
            user,
            plan,
            expires_at: self.token_expires_at.map(Stamp::into_utc).transpose()?,
            last_used_at: self.token_last_used_at.map(Stamp::into_utc).transpose()?,
        })
    }
}

/// A row of `api_tokens`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenRow<T> {
    hash: Vec<u8>,
    user_id: Uuid,
    created_at: T,
    expires_at: Option<T>,
    last_used_at: Option<T>,
}

impl<T: Stamp> TokenRow<T> {
    pub(crate) fn into_token(self) -> Result<TokenRecord, InvalidRow> {
        let hash: [u8; 32] = self
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| InvalidRow(format!("a token hash of {} bytes", self.hash.len())))?;
        Ok(TokenRecord {
            hash: TokenHash::from_bytes(hash),
            user_id: UserId::from_uuid(self.user_id),
            created_at: self.created_at.into_utc()?,
            expires_at: self.expires_at.map(Stamp::into_utc).transpose()?,
            last_used_at: self.last_used_at.map(Stamp::into_utc).transpose()?,
        })
    }
}

/// API token statements, the same in both dialects; only how times are bound differs.
pub(crate) mod token_sql {
    /// Binds hash, user id, created, expires, last used. Through a SELECT of the user, so
    /// that a user being deleted gets no new token.
    pub(crate) const INSERT: &str = "INSERT INTO api_tokens \
         (hash, user_id, created_at, expires_at, last_used_at) \
         SELECT $1, id, $3, $4, $5 FROM users WHERE id = $2 AND deletion_requested_at IS NULL";
    /// Binds the hash.
    pub(crate) const FIND_OWNER: &str = concat!(
        "SELECT ",
        super::user_columns!(),
        ", ",
        super::owner_plan_columns!(),
        ", k.expires_at AS token_expires_at, k.last_used_at AS token_last_used_at",
        " FROM api_tokens k JOIN users u ON u.id = k.user_id",
        " LEFT JOIN plans p ON p.id = u.plan_id WHERE k.hash = $1"
    );
    /// Binds the user id.
    pub(crate) const LIST_USER: &str = "SELECT hash, user_id, created_at, expires_at, last_used_at \
         FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, hash DESC";
    /// Binds the hash and the time of use. Only `last_used_at`, which the PostgreSQL
    /// account-change trigger leaves out, so that recording a use empties no cache.
    pub(crate) const TOUCH: &str = "UPDATE api_tokens SET last_used_at = $2 WHERE hash = $1";
}

/// A session's user with their plan, and the session's times (columns `session_*`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionOwnerRow<T, H> {
    #[sqlx(flatten)]
    pub(crate) owner: UserPlanRow<T, H>,
    pub(crate) session_created_at: T,
    pub(crate) session_last_seen_at: T,
    pub(crate) session_expires_at: T,
}

impl<T: Stamp, H: StoredHeights> SessionOwnerRow<T, H> {
    pub(crate) fn into_session_owner(self, hash: TokenHash) -> Result<SessionOwner, InvalidRow> {
        let (user, plan) = self.owner.into_parts()?;
        Ok(SessionOwner {
            session: SessionRecord {
                hash,
                user_id: user.id,
                created_at: self.session_created_at.into_utc()?,
                last_seen_at: self.session_last_seen_at.into_utc()?,
                expires_at: self.session_expires_at.into_utc()?,
            },
            user,
            plan,
        })
    }
}

/// Session statements, the same in both dialects; only how times are bound differs.
pub(crate) mod session_sql {
    /// Binds hash, user id, created, last seen, expires. Through a SELECT of the user, so
    /// that a user being deleted gets no new session.
    pub(crate) const INSERT: &str = "INSERT INTO sessions \
         (hash, user_id, created_at, last_seen_at, expires_at) \
         SELECT $1, id, $3, $4, $5 FROM users WHERE id = $2 AND deletion_requested_at IS NULL";
    /// Binds the hash.
    pub(crate) const FIND: &str = concat!(
        "SELECT ",
        super::user_columns!(),
        ", ",
        super::owner_plan_columns!(),
        ", s.created_at AS session_created_at, s.last_seen_at AS session_last_seen_at",
        ", s.expires_at AS session_expires_at",
        " FROM sessions s JOIN users u ON u.id = s.user_id",
        " LEFT JOIN plans p ON p.id = u.plan_id WHERE s.hash = $1"
    );
    /// Binds the hash and the last-seen time.
    pub(crate) const TOUCH: &str = "UPDATE sessions SET last_seen_at = $2 WHERE hash = $1";
    /// Binds the hash.
    pub(crate) const DELETE: &str = "DELETE FROM sessions WHERE hash = $1";
    /// Binds the user id.
    pub(crate) const DELETE_USER: &str = "DELETE FROM sessions WHERE user_id = $1";
    /// Binds the idle cut-off and now.
    pub(crate) const DELETE_ENDED: &str =
        "DELETE FROM sessions WHERE last_seen_at < $1 OR expires_at <= $2";
}

/// The columns of [`ImageRow`], from table alias `i`.
macro_rules! image_columns {
    () => {
        "i.id, i.owner, i.name, i.format, i.width, i.height, i.size, i.storage_key, i.created_at, \
     i.digest, i.placeholder, i.average_color, i.metadata_removed"
    };
}
pub(crate) use image_columns;

/// A row of `images`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ImageRow<T> {
    id: Uuid,
    owner: Uuid,
    name: String,
    format: String,
    width: i64,
    height: i64,
    size: i64,
    storage_key: String,
    created_at: T,
    digest: Option<String>,
    placeholder: Option<Vec<u8>>,
    average_color: Option<String>,
    metadata_removed: Option<String>,
}

impl<T: Stamp> ImageRow<T> {
    pub(crate) fn into_image(self) -> Result<Image, InvalidRow> {
        self.to_image()
    }

    pub(crate) fn to_image(&self) -> Result<Image, InvalidRow> {
        Ok(Image {
            id: ImageId::from_uuid(self.id),
            owner: UserId::from_uuid(self.owner),
            name: ImageName::parse(&self.name).map_err(|error| InvalidRow(error.message))?,
            format: format(&self.format)?,
            width: unsigned32(self.width, "width")?,
            height: unsigned32(self.height, "height")?,
            size: u64::try_from(self.size)
                .map_err(|_| InvalidRow(format!("size {}", self.size)))?,
            storage_key: storage_key(&self.storage_key)?,
            created_at: self.created_at.clone().into_utc()?,
            digest: self.digest.as_deref().map(digest).transpose()?,
            placeholder: placeholder(self.placeholder.as_deref(), self.average_color.as_deref())?,
            metadata_removed: self
                .metadata_removed
                .as_deref()
                .map(metadata_removed)
                .transpose()?,
        })
    }
}

/// The columns of [`ThumbnailRow`], from table alias `t`.
#[cfg(feature = "postgres")]
macro_rules! thumbnail_columns {
    () => {
        "t.image_id, t.max_height, t.width, t.height, \
     t.status, t.storage_key, t.attempts, t.updated_at, t.failure, t.webp_storage_key, \
     t.lease_holder"
    };
}
#[cfg(feature = "postgres")]
pub(crate) use thumbnail_columns;

/// A row of `thumbnails`, as PostgreSQL returns the rows it deletes.
#[cfg(feature = "postgres")]
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ThumbnailRow<T> {
    image_id: Uuid,
    max_height: i64,
    width: i64,
    height: i64,
    status: String,
    storage_key: Option<String>,
    attempts: i64,
    updated_at: T,
    failure: Option<String>,
    webp_storage_key: Option<String>,
    lease_holder: Option<Uuid>,
}

#[cfg(feature = "postgres")]
impl<T: Stamp> ThumbnailRow<T> {
    pub(crate) fn into_thumbnail(self) -> Result<Thumbnail, InvalidRow> {
        Ok(Thumbnail {
            image_id: ImageId::from_uuid(self.image_id),
            max_height: height(self.max_height)?,
            width: unsigned32(self.width, "thumbnail width")?,
            height: unsigned32(self.height, "thumbnail height")?,
            status: thumbnail_status(&self.status)?,
            storage_key: self.storage_key.as_deref().map(storage_key).transpose()?,
            webp_storage_key: self
                .webp_storage_key
                .as_deref()
                .map(storage_key)
                .transpose()?,
            attempts: unsigned32(self.attempts, "attempts")?,
            updated_at: self.updated_at.into_utc()?,
            failure: self.failure,
            lease_holder: self.lease_holder.map(HolderId::from_uuid),
        })
    }
}

/// The columns of [`ImageThumbnailRow`]: an image (alias `i`) left-joined with one of its
/// thumbnails (alias `t`).
macro_rules! image_thumbnail_columns {
    () => {
        "i.id, i.owner, i.name, i.format, i.width, \
     i.height, i.size, i.storage_key, i.created_at, t.max_height AS thumbnail_max_height, \
     t.width AS thumbnail_width, t.height AS thumbnail_height, t.status AS thumbnail_status, \
     t.storage_key AS thumbnail_storage_key, t.attempts AS thumbnail_attempts, \
     t.updated_at AS thumbnail_updated_at, t.failure AS thumbnail_failure, i.digest, \
     i.placeholder, i.average_color, i.metadata_removed, \
     t.webp_storage_key AS thumbnail_webp_storage_key, t.lease_holder AS thumbnail_lease_holder"
    };
}
pub(crate) use image_thumbnail_columns;

/// An image with one of its thumbnails, or with `NULL`s when it has none, as SQLite
/// decodes it (from a [`JsonImageThumbnailRow`]; PostgreSQL reads these rows by position).
#[cfg(feature = "sqlite")]
#[derive(Debug)]
pub(crate) struct ImageThumbnailRow<T> {
    image: ImageRow<T>,
    thumbnail_max_height: Option<i64>,
    thumbnail_width: Option<i64>,
    thumbnail_height: Option<i64>,
    thumbnail_status: Option<String>,
    thumbnail_storage_key: Option<String>,
    thumbnail_attempts: Option<i64>,
    thumbnail_updated_at: Option<T>,
    thumbnail_failure: Option<String>,
    thumbnail_webp_storage_key: Option<String>,
    thumbnail_lease_holder: Option<Uuid>,
}

/// The columns of an [`ImageThumbnailRow`] as SQLite's `json_array` arguments, over a
/// subquery of [`image_thumbnail_columns`] (whose names they use), in the order of
/// [`JsonImageThumbnailRow`]. Blobs go as hex, `NULL` as `null` (`hex(NULL)` would be `''`).
#[cfg(feature = "sqlite")]
macro_rules! json_image_thumbnail_columns {
    () => {
        "hex(id), hex(owner), name, format, width, height, size, storage_key, created_at, \
         digest, iif(placeholder IS NULL, NULL, hex(placeholder)), average_color, \
         metadata_removed, thumbnail_max_height, thumbnail_width, thumbnail_height, \
         thumbnail_status, thumbnail_storage_key, thumbnail_attempts, thumbnail_updated_at, \
         thumbnail_failure, thumbnail_webp_storage_key, \
         iif(thumbnail_lease_holder IS NULL, NULL, hex(thumbnail_lease_holder))"
    };
}
#[cfg(feature = "sqlite")]
pub(crate) use json_image_thumbnail_columns;

/// An [`ImageThumbnailRow`] as the JSON array of [`json_image_thumbnail_columns`].
#[cfg(feature = "sqlite")]
#[derive(Debug, serde::Deserialize)]
pub(crate) struct JsonImageThumbnailRow(
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

#[cfg(feature = "sqlite")]
impl TryFrom<JsonImageThumbnailRow> for ImageThumbnailRow<i64> {
    type Error = InvalidRow;

    fn try_from(row: JsonImageThumbnailRow) -> Result<Self, InvalidRow> {
        let JsonImageThumbnailRow(
            id,
            owner,
            name,
            format,
            width,
            height,
            size,
            storage_key,
            created_at,
            digest,
            placeholder,
            average_color,
            metadata_removed,
            thumbnail_max_height,
            thumbnail_width,
            thumbnail_height,
            thumbnail_status,
            thumbnail_storage_key,
            thumbnail_attempts,
            thumbnail_updated_at,
            thumbnail_failure,
            thumbnail_webp_storage_key,
            thumbnail_lease_holder,
        ) = row;
        let uuid = |hex: &str| {
            Uuid::try_parse(hex)
                .map_err(|_| InvalidRow(format!("an id of {} hex digits", hex.len())))
        };
        Ok(ImageThumbnailRow {
            image: ImageRow {
                id: uuid(&id)?,
                owner: uuid(&owner)?,
                name,
                format,
                width,
                height,
                size,
                storage_key,
                created_at,
                digest,
                placeholder: placeholder.as_deref().map(from_hex).transpose()?,
                average_color,
                metadata_removed,
            },
            thumbnail_max_height,
            thumbnail_width,
            thumbnail_height,
            thumbnail_status,
            thumbnail_storage_key,
            thumbnail_attempts,
            thumbnail_updated_at,
            thumbnail_failure,
            thumbnail_webp_storage_key,
            thumbnail_lease_holder: thumbnail_lease_holder.as_deref().map(uuid).transpose()?,
        })
    }
}

/// The bytes of SQLite's `hex()` of a blob.
#[cfg(feature = "sqlite")]
fn from_hex(hex: &str) -> Result<Vec<u8>, InvalidRow> {
    let invalid = || InvalidRow(format!("a blob of {} hex digits", hex.len()));
    let digit = |byte: u8| char::from(byte).to_digit(16).ok_or_else(invalid);
    if !hex.len().is_multiple_of(2) {
        return Err(invalid());
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let (high, low) = (digit(pair[0])?, digit(pair[1])?);
            u8::try_from(high << 4 | low).map_err(|_| invalid())
        })
        .collect()
}

/// One row of an image left-joined with one of its thumbnails, as either backend returns
/// it: what [`records`] needs to read from it.
pub(crate) trait JoinedImageRow {
    /// The image's id, read from every row.
    fn image_id(&self) -> Result<Uuid, InvalidRow>;
    /// The image, read only from the first row of each image (the others repeat it).
    fn image(&self) -> Result<Image, InvalidRow>;
    /// The thumbnail, or `None` for an image without thumbnails (a row of `NULL`s).
    fn thumbnail(&self) -> Result<Option<Thumbnail>, InvalidRow>;
}

#[cfg(feature = "sqlite")]
impl<T: Stamp> JoinedImageRow for ImageThumbnailRow<T> {
    fn image_id(&self) -> Result<Uuid, InvalidRow> {
        Ok(self.image.id)
    }

    fn image(&self) -> Result<Image, InvalidRow> {
        self.image.to_image()
    }

    fn thumbnail(&self) -> Result<Option<Thumbnail>, InvalidRow> {
        match (
            self.thumbnail_max_height,
            self.thumbnail_width,
            self.thumbnail_height,
            &self.thumbnail_status,
            self.thumbnail_attempts,
            &self.thumbnail_updated_at,
        ) {
            (None, ..) => Ok(None),
            (
                Some(max_height),
                Some(width),
                Some(height),
                Some(status),
                Some(attempts),
                Some(updated_at),
            ) => Ok(Some(Thumbnail {
                image_id: ImageId::from_uuid(self.image.id),
                max_height: self::height(max_height)?,
                width: unsigned32(width, "thumbnail width")?,
                height: unsigned32(height, "thumbnail height")?,
                status: thumbnail_status(status)?,
                storage_key: self
                    .thumbnail_storage_key
                    .as_deref()
                    .map(storage_key)
                    .transpose()?,
                webp_storage_key: self
                    .thumbnail_webp_storage_key
                    .as_deref()
                    .map(storage_key)
                    .transpose()?,
                attempts: unsigned32(attempts, "attempts")?,
                updated_at: updated_at.clone().into_utc()?,
                failure: self.thumbnail_failure.clone(),
                lease_holder: self.thumbnail_lease_holder.map(HolderId::from_uuid),
            })),
            _ => Err(InvalidRow("a thumbnail with NULL columns".into())),
        }
    }
}

pub(crate) fn thumbnail_status(text: &str) -> Result<ThumbnailStatus, InvalidRow> {
    ThumbnailStatus::parse(text).ok_or_else(|| InvalidRow(format!("thumbnail status {text:?}")))
}

/// Groups image rows joined with their thumbnails (each image's rows together, in any
/// order among themselves) into records, keeping the images' order, with each image's
/// thumbnails by height. Each image's columns are read once, from its first row.
pub(crate) fn records<R: JoinedImageRow>(rows: &[R]) -> Result<Vec<ImageRecord>, InvalidRow> {
    let mut records: Vec<ImageRecord> = Vec::new();
    for row in rows {
        let image_id = ImageId::from_uuid(row.image_id()?);
        let thumbnail = row.thumbnail()?;
        match records.last_mut() {
            Some(last) if last.image.id == image_id => last.thumbnails.extend(thumbnail),
            _ => records.push(ImageRecord {
                image: row.image()?,
                thumbnails: thumbnail.into_iter().collect(),
            }),
        }
    }
    for record in &mut records {
        record
            .thumbnails
            .sort_by_key(|thumbnail| thumbnail.max_height);
    }
    Ok(records)
}

/// An image (alias `i`) with its owner's plan.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ImagePlanRow<T, H> {
    #[sqlx(flatten)]
    pub(crate) image: ImageRow<T>,
    #[sqlx(flatten)]
    pub(crate) plan: OwnerPlanRow<T, H>,
}

impl<T: Stamp, H: StoredHeights> ImagePlanRow<T, H> {
    pub(crate) fn into_parts(self) -> Result<(Image, Option<Plan>), InvalidRow> {
        Ok((self.image.into_image()?, self.plan.into_plan()?))
    }
}

/// The columns of [`LinkRow`], from table alias `l`.
macro_rules! link_columns {
    () => {
        "l.id AS link_id, l.owner AS link_owner, \
     l.image_id AS link_image_id, l.format AS link_format, l.key_dir AS link_key_dir, \
     l.key_file AS link_key_file, l.expiry_seconds AS link_expiry_seconds, \
     l.created_at AS link_created_at, l.expires_at AS link_expires_at"
    };
}
pub(crate) use link_columns;

/// A row of `links`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LinkRow<T> {
    link_id: Uuid,
    link_owner: Uuid,
    link_image_id: Uuid,
    link_format: String,
    link_key_dir: Uuid,
    link_key_file: Uuid,
    link_expiry_seconds: i64,
    link_created_at: T,
    link_expires_at: T,
}

impl<T: Stamp> LinkRow<T> {
    pub(crate) fn into_link(self) -> Result<ExpiringLink, InvalidRow> {
        Ok(ExpiringLink {
            id: LinkId::from_uuid(self.link_id),
            owner: UserId::from_uuid(self.link_owner),
            image_id: ImageId::from_uuid(self.link_image_id),
            format: format(&self.link_format)?,
            key: LinkKey {
                dir: self.link_key_dir,
                file: self.link_key_file,
            },
            expiry_seconds: ExpirySeconds::new(self.link_expiry_seconds)
                .map_err(|error| InvalidRow(error.message))?,
            created_at: self.link_created_at.into_utc()?,
            expires_at: self.link_expires_at.into_utc()?,
        })
    }
}

/// A link with its image and the image owner's plan.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LinkTargetRow<T, H> {
    #[sqlx(flatten)]
    pub(crate) link: LinkRow<T>,
    #[sqlx(flatten)]
    pub(crate) image: ImageRow<T>,
    #[sqlx(flatten)]
    pub(crate) plan: OwnerPlanRow<T, H>,
}

impl<T: Stamp, H: StoredHeights> LinkTargetRow<T, H> {
    pub(crate) fn into_parts(self) -> Result<(ExpiringLink, Image, Option<Plan>), InvalidRow> {
        Ok((
            self.link.into_link()?,
            self.image.into_image()?,
            self.plan.into_plan()?,
        ))
    }
}

/// An image that may have thumbnail work, with its owner's plan heights.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CandidateRow<H> {
    pub(crate) id: Uuid,
    pub(crate) width: i64,
    pub(crate) height: i64,
    pub(crate) thumbnail_heights: H,
}

impl<H: StoredHeights> CandidateRow<H> {
    /// The pending rows of every plan height, sized from the image, leased at `now` to
    /// `holder`.
    pub(crate) fn pending_rows(
        self,
        now: DateTime<Utc>,
        holder: Option<HolderId>,
    ) -> Result<Vec<Thumbnail>, InvalidRow> {
        let image = ImageId::from_uuid(self.id);
        let width = unsigned32(self.width, "width")?;
        let height = unsigned32(self.height, "height")?;
        Ok(self
            .thumbnail_heights
            .into_heights()?
            .as_slice()
            .iter()
            .map(|&max_height| Thumbnail {
                lease_holder: holder,
                ..Thumbnail::pending(image, max_height, width, height, now)
            })
            .collect())
    }
}

/// The condition that the lease of the thumbnail row aliased `t`, taken as pending, may be
/// claimed, with `stale_before` as parameter `$<stale>`: its lease lapsed, or it names a
/// holder that is not registered (see `ImageRepo::claim_thumbnail_work`). A registered
/// holder is one primary-key lookup.
pub(crate) fn claimable_lease(stale: u8) -> String {
    format!(
        "(t.updated_at < ${stale} OR (t.lease_holder IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM work_holders w WHERE w.id = t.lease_holder)))"
    )
}

/// The `claim_thumbnail_work` condition of [`WorkScope::LapsedLeases`] on images `i`, with
/// `stale_before` as `$1`: answered from the partial index of pending rows
/// (`thumbnails_pending`).
fn lapsed_lease_condition() -> String {
    format!(
        "AND i.id IN (SELECT t.image_id FROM thumbnails t \
         WHERE t.status = 'pending' AND {})",
        claimable_lease(1)
    )
}

/// The condition (starting with `AND`, empty for every image) that limits a claim of
/// thumbnail work over `images i JOIN users u` to `scope`, and the id to bind as `$3` when
/// it names one. `$1` is the time before which a pending row's lease has lapsed.
pub(crate) fn work_scope_condition(scope: WorkScope) -> (String, Option<Uuid>) {
    match scope {
        WorkScope::All => (String::new(), None),
        WorkScope::LapsedLeases => (lapsed_lease_condition(), None),
        WorkScope::Owner(owner) => ("AND i.owner = $3".into(), Some(owner.as_uuid())),
        WorkScope::Plan(plan) => ("AND u.plan_id = $3".into(), Some(plan.as_uuid())),
    }
}

/// The keyset part of a list query over columns `created_at` and `id` (qualified by
/// `alias`): the condition (starting with `AND`), the order and the limit, numbering its
/// parameters from `$first`. Bind the anchor's time and id, if there is an anchor.
///
/// The limit is written into the statement, not bound: with a bound limit PostgreSQL
/// cannot cost a generic plan and re-plans the prepared statement on every execution.
/// The limit is a number the service checked, so the text is safe, and a handful of
/// statements per connection are cached.
///
/// A newer page is read oldest first from the anchor, so that the limit keeps the items
/// nearest to it; [`in_order`] turns it back to newest first.
pub(crate) fn keyset_clause(query: &KeysetQuery, alias: &str, first: usize) -> String {
    let (condition, order) = match query.anchor {
        None => (String::new(), "DESC"),
        Some((_, Direction::Older)) => (
            format!(
                "AND ({alias}.created_at, {alias}.id) < (${}, ${}) ",
                first,
                first + 1
            ),
            "DESC",
        ),
        Some((_, Direction::Newer)) => (
            format!(
                "AND ({alias}.created_at, {alias}.id) > (${}, ${}) ",
                first,
                first + 1
            ),
            "ASC",
        ),
    };
    let limit = query.limit;
    format!("{condition}ORDER BY {alias}.created_at {order}, {alias}.id {order} LIMIT {limit}")
}

/// Puts a page read by [`keyset_clause`] newest first.
pub(crate) fn in_order<T>(query: &KeysetQuery, mut items: Vec<T>) -> Vec<T> {
    if matches!(query.anchor, Some((_, Direction::Newer))) {
        items.reverse();
    }
    items
}

/// Marks user `$1` as being deleted at `$3` (kept if already marked), with the unusable
/// password hash `$2` and no plan: the first, locking step of a user's deletion.
pub(crate) const MARK_USER_DELETED: &str = "UPDATE users SET password_hash = $2, plan_id = NULL, \
     deletion_requested_at = COALESCE(deletion_requested_at, $3) WHERE id = $1";

/// What goes with that first step, in the same transaction: the user `$1`'s logins (also
/// revoked with a new password) and links.
pub(crate) const DELETE_USER_LOGINS: [&str; 2] = [
    "DELETE FROM api_tokens WHERE user_id = $1",
    "DELETE FROM sessions WHERE user_id = $1",
];
/// The rest of that first step: the user `$1`'s links.
pub(crate) const DELETE_USER_LINKS: &str = "DELETE FROM links WHERE owner = $1";

/// Replaces the fields of user `$1` not being deleted: username `$2`, password hash `$3`,
/// `is_admin` `$4`, plan `$5` and quota overrides `$6` (images) and `$7` (bytes).
pub(crate) const UPDATE_USER: &str = "UPDATE users SET username = $2, password_hash = $3, \
     is_admin = $4, plan_id = $5, max_images = $6, max_bytes = $7 \
     WHERE id = $1 AND deletion_requested_at IS NULL";

/// Users marked as being deleted, oldest mark first, at most `$1`.
pub(crate) const USERS_BEING_DELETED: &str = "SELECT id FROM users WHERE deletion_requested_at IS NOT NULL \
     ORDER BY deletion_requested_at, id LIMIT $1";

/// Statements of the administrators' console, the same in both dialects.
pub(crate) mod admin_sql {
    /// `ImageRepo::totals`: users (not being deleted), images, the originals' bytes,
    /// pending and failed thumbnails, as five 64-bit integers. Each count is answered
    /// from an index where there is one (the pending and failed rows have partial ones).
    pub(crate) const TOTALS: &str = "SELECT \
         (SELECT COUNT(*) FROM users WHERE deletion_requested_at IS NULL), \
         (SELECT COUNT(*) FROM images), \
         (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM images), \
         (SELECT COUNT(*) FROM thumbnails WHERE status = 'pending'), \
         (SELECT COUNT(*) FROM thumbnails WHERE status = 'failed')";

    /// The `list_all_images` statement for `filter` and `query`: images newest first,
    /// each joined with its thumbnails. Bind the owner (if the filter has one), then the
    /// keyset anchor's time and id (if the query has one).
    pub(crate) fn all_images(
        filter: &imagevault_core::repo::ImageFilter,
        query: &imagevault_core::page::KeysetQuery,
    ) -> String {
        let mut conditions = String::new();
        let mut next = 1;
        if filter.owner.is_some() {
            conditions.push_str("AND i.owner = $1 ");
            next = 2;
        }
        if filter.failed_thumbnails_only {
            // Answered from the partial index of failed rows (`thumbnails_failed`).
            conditions.push_str(
                "AND i.id IN (SELECT f.image_id FROM thumbnails f WHERE f.status = 'failed') ",
            );
        }
        format!(
            "SELECT {} FROM (SELECT * FROM images i WHERE TRUE {conditions}{}) AS i \
             LEFT JOIN thumbnails t ON t.image_id = i.id \
             ORDER BY i.created_at DESC, i.id DESC, t.max_height",
            super::image_thumbnail_columns!(),
            super::keyset_clause(query, "i", next)
        )
    }

    /// `ImageRepo::fail_thumbnails`, with `heights_condition` matching `max_height` to
    /// the list bound as `$2` as the dialect takes lists (`= ANY($2)` in PostgreSQL, a
    /// JSON array in SQLite). Binds the image, the heights, the reason and the time.
    pub(crate) fn fail_thumbnails(heights_condition: &str) -> String {
        format!(
            "UPDATE thumbnails SET status = 'failed', failure = $3, updated_at = $4 \
             WHERE image_id = $1 AND status = 'pending' AND {heights_condition}"
        )
    }

    /// `ImageRepo::reset_thumbnails` for `scope`, with the id it binds as `$2` (if any);
    /// `$1` is the time.
    pub(crate) fn reset_thumbnails(
        scope: imagevault_core::repo::ResetScope,
    ) -> (&'static str, Option<uuid::Uuid>) {
        use imagevault_core::repo::ResetScope;
        macro_rules! reset {
            ($rows:literal) => {
                concat!(
                    "UPDATE thumbnails SET status = 'pending', attempts = 0, failure = NULL, ",
                    "updated_at = $1, lease_holder = NULL WHERE ",
                    $rows
                )
            };
        }
        match scope {
            ResetScope::Image(image) => (reset!("image_id = $2"), Some(image.as_uuid())),
            ResetScope::Failed => (reset!("status = 'failed'"), None),
            ResetScope::Owner(owner) => (
                reset!("image_id IN (SELECT id FROM images WHERE owner = $2)"),
                Some(owner.as_uuid()),
            ),
            ResetScope::Plan(plan) => (
                reset!(
                    "image_id IN (SELECT i.id FROM images i JOIN users u ON u.id = i.owner \
                     WHERE u.plan_id = $2)"
                ),
                Some(plan.as_uuid()),
            ),
        }
    }

    /// Five counts as [`Totals`](imagevault_core::repo::Totals); a negative count (which
    /// no database returns) is an invalid row.
    pub(crate) fn totals(
        (users, images, bytes, pending, failed): (i64, i64, i64, i64, i64),
    ) -> Result<imagevault_core::repo::Totals, crate::error::InvalidRow> {
        let count = |value: i64, what: &str| {
            u64::try_from(value).map_err(|_| crate::error::InvalidRow(format!("{what} {value}")))
        };
        Ok(imagevault_core::repo::Totals {
            users: count(users, "user count")?,
            images: count(images, "image count")?,
            bytes: count(bytes, "byte count")?,
            thumbnails_pending: count(pending, "pending thumbnail count")?,
            thumbnails_failed: count(failed, "failed thumbnail count")?,
        })
    }
}

/// Statements for the account page and the administrators' lists, the same in both
/// dialects.
pub(crate) mod account_page_sql {
    /// Binds the owner: the counters that [`super::quota::RESERVE`] and the
    /// `images_release_quota` trigger keep, as one row (zeros for an unknown user).
    pub(crate) const USAGE: &str = "SELECT COALESCE(MAX(image_count), 0), \
         COALESCE(MAX(image_bytes), 0) FROM users WHERE id = $1";
    /// Every plan with its number of users.
    pub(crate) const PLAN_USER_COUNTS: &str = "SELECT p.id, COUNT(u.id) FROM plans p \
         LEFT JOIN users u ON u.plan_id = p.id GROUP BY p.id";
    /// The condition of a user search on users `u`, with the pattern of [`search_pattern`]
    /// as `$1`. Both sides are lowered by the database, so a backend folds the text as it
    /// folds the names.
    pub(crate) const SEARCH_CONDITION: &str = "lower(u.username) LIKE lower($1) ESCAPE '\\'";

    /// The `LIKE` pattern for usernames containing `text`, its wildcards escaped.
    pub(crate) fn search_pattern(text: &str) -> String {
        let mut pattern = String::with_capacity(text.len() + 2);
        pattern.push('%');
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

/// Statements of the command-line bulk tools (`admin thumbnails status`, `admin import`),
/// the same in both dialects.
pub(crate) mod bulk_sql {
    use imagevault_core::repo::{FailureGroup, PlanThumbnailCounts};
    use imagevault_core::{ImageId, PlanId, ThumbnailStatus};
    use uuid::Uuid;

    use crate::error::InvalidRow;

    /// Thumbnail rows counted by the owner's plan and status.
    pub(crate) const THUMBNAILS_BY_PLAN: &str = "SELECT u.plan_id, t.status, COUNT(*) \
         FROM thumbnails t JOIN images i ON i.id = t.image_id JOIN users u ON u.id = i.owner \
         GROUP BY u.plan_id, t.status";

    /// Failed rows by reason (an empty string for none), most first; binds the limit.
    /// Answered from the partial index of failed rows.
    pub(crate) const FAILURE_REASONS: &str = "SELECT COALESCE(failure, '') AS reason, \
         COUNT(*) AS n FROM thumbnails WHERE status = 'failed' \
         GROUP BY COALESCE(failure, '') ORDER BY n DESC, reason LIMIT $1";

    /// Images with a failed row of one reason (as [`FAILURE_REASONS`] gives it); binds the
    /// reason and the limit.
    pub(crate) const FAILURE_EXAMPLES: &str = "SELECT DISTINCT image_id FROM thumbnails \
         WHERE status = 'failed' AND COALESCE(failure, '') = $1 ORDER BY image_id LIMIT $2";

    /// An owner's oldest image with a digest; binds the owner and the digest's hex.
    pub(crate) const FIND_BY_DIGEST: &str = "SELECT id FROM images \
         WHERE owner = $1 AND digest = $2 ORDER BY created_at, id LIMIT 1";

    /// The rows of [`THUMBNAILS_BY_PLAN`] as one entry per plan.
    pub(crate) fn plan_counts(
        rows: Vec<(Option<Uuid>, String, i64)>,
    ) -> Result<Vec<PlanThumbnailCounts>, InvalidRow> {
        let mut plans: Vec<PlanThumbnailCounts> = Vec::new();
        for (plan, status, count) in rows {
            let plan = plan.map(PlanId::from_uuid);
            let count =
                u64::try_from(count).map_err(|_| InvalidRow(format!("thumbnail count {count}")))?;
            let index = match plans.iter().position(|entry| entry.plan == plan) {
                Some(index) => index,
                None => {
                    plans.push(PlanThumbnailCounts {
                        plan,
                        ..PlanThumbnailCounts::default()
                    });
                    plans.len() - 1
                }
            };
            let entry = &mut plans[index];
            match super::thumbnail_status(&status)? {
                ThumbnailStatus::Pending => entry.pending += count,
                ThumbnailStatus::Ready => entry.ready += count,
                ThumbnailStatus::Failed => entry.failed += count,
            }
        }
        Ok(plans)
    }

    /// One row of [`FAILURE_REASONS`] with its examples.
    pub(crate) fn failure_group(
        reason: String,
        count: i64,
        examples: Vec<(Uuid,)>,
    ) -> Result<FailureGroup, InvalidRow> {
        Ok(FailureGroup {
            reason: (!reason.is_empty()).then_some(reason),
            count: u64::try_from(count)
                .map_err(|_| InvalidRow(format!("failure count {count}")))?,
            examples: examples
                .into_iter()
                .map(|(id,)| ImageId::from_uuid(id))
                .collect(),
        })
    }
}

/// Quotas: how limits and overrides are stored, and the statements that enforce them, the
/// same in both dialects (the schema is in the `quotas` migrations).
pub(crate) mod quota {
    use imagevault_core::{QuotaLimits, QuotaOverride, QuotaOverrides};

    use crate::error::{InvalidRow, Unstorable};

    /// A user's `max_images` or `max_bytes` column holding this is "unlimited, whatever the
    /// plan says"; `NULL` is "the plan's limit".
    const UNLIMITED: i64 = -1;

    /// The effective limit of `column` (`max_images` or `max_bytes`) for the `users` row
    /// being updated: its override, else its plan's; `NULL` is unlimited.
    macro_rules! effective_limit {
        ($column:literal) => {
            concat!(
                "(CASE WHEN users.",
                $column,
                " IS NULL THEN (SELECT p.",
                $column,
                " FROM plans p WHERE p.id = users.plan_id) WHEN users.",
                $column,
                " < 0 THEN NULL ELSE users.",
                $column,
                " END)"
            )
        };
    }

    /// Binds the owner and the image's size: counts the image against the owner's quota,
    /// changing no row (so affecting none) when that would pass a limit or the owner does
    /// not exist. Run in the transaction that inserts the image: PostgreSQL's row lock, and
    /// SQLite's single writer, make concurrent uploads of one owner take turns here.
    pub(crate) const RESERVE: &str = concat!(
        "UPDATE users SET image_count = image_count + 1, image_bytes = image_bytes + $2 ",
        "WHERE id = $1 AND (",
        effective_limit!("max_images"),
        " IS NULL OR image_count + 1 <= ",
        effective_limit!("max_images"),
        ") AND (",
        effective_limit!("max_bytes"),
        " IS NULL OR image_bytes + $2 <= ",
        effective_limit!("max_bytes"),
        ")"
    );

    /// Binds the owner: what a refused [`RESERVE`] is explained with.
    pub(crate) const STATE: &str = "SELECT u.image_count, u.image_bytes, \
         u.max_images AS user_max_images, u.max_bytes AS user_max_bytes, \
         p.max_images AS plan_max_images, p.max_bytes AS plan_max_bytes \
         FROM users u LEFT JOIN plans p ON p.id = u.plan_id WHERE u.id = $1";

    /// A row of [`STATE`].
    #[derive(Debug, sqlx::FromRow)]
    pub(crate) struct StateRow {
        image_count: i64,
        image_bytes: i64,
        user_max_images: Option<i64>,
        user_max_bytes: Option<i64>,
        plan_max_images: Option<i64>,
        plan_max_bytes: Option<i64>,
    }

    impl StateRow {
        /// The refusal of an image of `size` bytes, as the core words it; `None` if it
        /// fits after all (a limit raised since the refusal), which the caller treats as a
        /// race and retries.
        pub(crate) fn refusal(
            self,
            size: u64,
        ) -> Result<Option<imagevault_core::QuotaExceeded>, InvalidRow> {
            let overrides = QuotaOverrides {
                max_images: override_from(self.user_max_images)?,
                max_bytes: override_from(self.user_max_bytes)?,
            };
            let plan = QuotaLimits {
                max_images: limit(self.plan_max_images)?,
                max_bytes: limit(self.plan_max_bytes)?,
            };
            let usage = super::usage(self.image_count, self.image_bytes)?;
            Ok(overrides.admit(Some(&plan), usage, size).err())
        }
    }

    /// A plan's stored limit.
    pub(crate) fn limit(column: Option<i64>) -> Result<Option<u64>, InvalidRow> {
        column
            .map(|value| {
                u64::try_from(value).map_err(|_| InvalidRow(format!("quota limit {value}")))
            })
            .transpose()
    }

    /// A plan's limits as stored: `max_images`, `max_bytes`.
    pub(crate) fn limit_columns(
        limits: &QuotaLimits,
    ) -> Result<(Option<i64>, Option<i64>), Unstorable> {
        let column = |limit: Option<u64>| limit.map(|value| super::signed(value, "quota limit"));
        Ok((
            column(limits.max_images).transpose()?,
            column(limits.max_bytes).transpose()?,
        ))
    }

    /// A user's overrides as stored: `max_images`, `max_bytes`.
    pub(crate) fn override_columns(
        overrides: &QuotaOverrides,
    ) -> Result<(Option<i64>, Option<i64>), Unstorable> {
        Ok((
            override_column(overrides.max_images)?,
            override_column(overrides.max_bytes)?,
        ))
    }

    /// A user's stored override.
    pub(crate) fn override_from(column: Option<i64>) -> Result<QuotaOverride, InvalidRow> {
        Ok(match column {
            None => QuotaOverride::Plan,
            Some(UNLIMITED) => QuotaOverride::Unlimited,
            Some(value) => QuotaOverride::Limit(
                u64::try_from(value).map_err(|_| InvalidRow(format!("quota override {value}")))?,
            ),
        })
    }

    /// A user's override as stored.
    fn override_column(value: QuotaOverride) -> Result<Option<i64>, Unstorable> {
        Ok(match value {
            QuotaOverride::Plan => None,
            QuotaOverride::Unlimited => Some(UNLIMITED),
            QuotaOverride::Limit(limit) => Some(super::signed(limit, "quota override")?),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn overrides_round_trip_through_their_columns() {
            for value in [
                QuotaOverride::Plan,
                QuotaOverride::Unlimited,
                QuotaOverride::Limit(0),
            ] {
                let column = override_column(value).unwrap();
                assert_eq!(override_from(column).unwrap(), value);
            }
            assert!(override_from(Some(-2)).is_err());
            assert!(limit(Some(-1)).is_err());
        }

        #[test]
        fn the_reservation_reads_each_limit_twice_and_nothing_else() {
            assert_eq!(RESERVE.matches("users.max_images IS NULL").count(), 2);
            assert_eq!(RESERVE.matches("users.max_bytes IS NULL").count(), 2);
        }
    }
}

/// The usage of `images` and `bytes` as counted by [`account_page_sql::USAGE`].
pub(crate) fn usage(images: i64, bytes: i64) -> Result<imagevault_core::Usage, InvalidRow> {
    Ok(imagevault_core::Usage {
        images: u64::try_from(images).map_err(|_| InvalidRow(format!("image count {images}")))?,
        bytes: u64::try_from(bytes).map_err(|_| InvalidRow(format!("byte count {bytes}")))?,
    })
}

/// A plan's user count as counted by [`account_page_sql::PLAN_USER_COUNTS`].
pub(crate) fn plan_count(id: Uuid, users: i64) -> Result<(PlanId, u64), InvalidRow> {
    Ok((
        PlanId::from_uuid(id),
        u64::try_from(users).map_err(|_| InvalidRow(format!("user count {users}")))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::StoredHeights as _;

    /// The JSON written for plans and height lists is what `json_each` and the row
    /// conversion read.
    #[test]
    fn height_lists_are_json_arrays() {
        let heights = imagevault_core::ThumbnailHeights::new([400, 200]).unwrap();
        let json = String::from_heights(heights.as_slice());
        assert_eq!(json, "[200,400]");
        assert_eq!(json.into_heights().unwrap(), heights);
        assert!(String::from("[200,200]").into_heights().is_err());
        assert!(String::from("200").into_heights().is_err());
        assert!(String::from("[]").into_heights().is_err());
    }
}

/// A row of `work_holders`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HolderRow<T> {
    id: Uuid,
    machine: Option<String>,
    pid: Option<i64>,
    started: Option<i64>,
    heartbeat_at: T,
}

impl<T: Stamp> HolderRow<T> {
    pub(crate) fn into_holder(self) -> Result<HolderRecord, InvalidRow> {
        let process = match (self.machine, self.pid, self.started) {
            (Some(machine), Some(pid), Some(started)) => Some(imagevault_core::ProcessIdentity {
                machine,
                pid: u32::try_from(pid).map_err(|_| InvalidRow(format!("process id {pid}")))?,
                started: u64::try_from(started)
                    .map_err(|_| InvalidRow(format!("process start {started}")))?,
            }),
            (None, None, None) => None,
            _ => return Err(InvalidRow("a work holder with part of a process".into())),
        };
        Ok(HolderRecord {
            id: HolderId::from_uuid(self.id),
            process,
            heartbeat_at: self.heartbeat_at.into_utc()?,
        })
    }
}

/// The statements of `HolderRepo`, the same on both databases.
pub(crate) mod holder_sql {
    /// Registers holder `$1` (machine `$2`, pid `$3`, start `$4`, heartbeat `$5`),
    /// replacing a record of the same id.
    pub(crate) const REGISTER: &str = "INSERT INTO work_holders \
         (id, machine, pid, started, heartbeat_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET machine = excluded.machine, pid = excluded.pid, \
         started = excluded.started, heartbeat_at = excluded.heartbeat_at";
    /// Sets holder `$1`'s heartbeat to `$2`.
    pub(crate) const HEARTBEAT: &str = "UPDATE work_holders SET heartbeat_at = $2 WHERE id = $1";
    /// Every holder.
    pub(crate) const LIST: &str =
        "SELECT id, machine, pid, started, heartbeat_at FROM work_holders";
    /// Removes holder `$1` if `$2` is `NULL` or its heartbeat.
    pub(crate) const REMOVE: &str =
        "DELETE FROM work_holders WHERE id = $1 AND ($2 IS NULL OR heartbeat_at = $2)";
}
