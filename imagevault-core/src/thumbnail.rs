//! Thumbnails: one row per image and height, made asynchronously by the worker.

use chrono::{DateTime, Utc};

use crate::id::{HolderId, ImageId};
use crate::plan::ThumbnailHeight;
use crate::storage_key::StorageKey;

mod size;

pub use size::thumbnail_size;

/// Where a thumbnail is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailStatus {
    /// Not made yet.
    Pending,
    /// Made and stored.
    Ready,
    /// Could not be made; no more attempts will be made.
    Failed,
}

impl ThumbnailStatus {
    /// `pending`, `ready` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One thumbnail of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The image it belongs to.
    pub image_id: ImageId,
    /// The plan height it was made for.
    pub max_height: ThumbnailHeight,
    /// Width in pixels (known before it is made, from the original's size).
    pub width: u32,
    /// Height in pixels: `max_height`, or the original's height when that is smaller.
    pub height: u32,
    /// Pending, ready or failed.
    pub status: ThumbnailStatus,
    /// Where the bytes are; set once ready.
    pub storage_key: Option<StorageKey>,
    /// Where the WebP variant's bytes are (`thumbnail/<uuid>/<uuid>.webp`), for a row made
    /// while the owner's plan listed `webp` (see
    /// [`ThumbnailFormats`](crate::ThumbnailFormats)). Set by the worker before the row
    /// turns ready, so a ready row of such a plan has both files; `None` otherwise. Kept
    /// when the plan drops `webp` (the file goes with the image), and reused if it lists
    /// `webp` again.
    pub webp_storage_key: Option<StorageKey>,
    /// How many times the worker has started making it.
    pub attempts: u32,
    /// Last change; for a pending row, the start of its current lease.
    pub updated_at: DateTime<Utc>,
    /// Why it could not be made, for a failed row: a short message meant for people (at
    /// most [`THUMBNAIL_FAILURE_MAX_CHARS`] characters, see [`failure_reason`]). `None`
    /// for rows that did not fail.
    pub failure: Option<String>,
    /// For a pending row, the holder of its lease: the running process that will make it
    /// (see [`HolderRecord`](crate::HolderRecord)). Once that holder is dead the row may be
    /// claimed at once, before its lease lapses. `None` for a row leased by time alone.
    pub lease_holder: Option<HolderId>,
}

/// The most characters a thumbnail's [`failure`](Thumbnail::failure) reason keeps.
pub const THUMBNAIL_FAILURE_MAX_CHARS: usize = 500;

/// `message` cut to [`THUMBNAIL_FAILURE_MAX_CHARS`] characters, as a thumbnail's failure
/// reason: whatever a decoder or backend says, the stored reason stays small.
///
/// ```
/// use imagevault_core::{THUMBNAIL_FAILURE_MAX_CHARS, failure_reason};
/// assert_eq!(failure_reason("the image is truncated"), "the image is truncated");
/// assert_eq!(failure_reason(&"é".repeat(600)).chars().count(), THUMBNAIL_FAILURE_MAX_CHARS);
/// ```
pub fn failure_reason(message: &str) -> String {
    message.chars().take(THUMBNAIL_FAILURE_MAX_CHARS).collect()
}

impl Thumbnail {
    /// A pending row for `image_id` at `max_height`, sized from the original's display
    /// size, leased at `now` by time alone (no [`lease_holder`](Self::lease_holder)).
    pub fn pending(
        image_id: ImageId,
        max_height: ThumbnailHeight,
        original_width: u32,
        original_height: u32,
        now: DateTime<Utc>,
    ) -> Self {
        let (width, height) = thumbnail_size(original_width, original_height, max_height.get());
        Self {
            image_id,
            max_height,
            width,
            height,
            status: ThumbnailStatus::Pending,
            storage_key: None,
            webp_storage_key: None,
            attempts: 0,
            updated_at: now,
            failure: None,
            lease_holder: None,
        }
    }
}
