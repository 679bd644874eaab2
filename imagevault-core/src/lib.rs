#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod changes;
mod clock;
mod error;
mod id;
mod image;
pub mod imaging;
mod link;
pub mod memory;
mod object_storage;
pub mod page;
mod plan;
pub mod queue;
pub mod repo;
mod service;
mod session;
pub mod storage;
mod thumbnail;
mod user;

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use auth::{ApiToken, TokenHash, TokenId};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{PlanFeature, ValidationError, VaultError};
pub use image::{Image, ImageId, ImageName, ImageRecord, Usage};
pub use imaging::{ImageError, ImageFormat, ImageLimits};
pub use link::{ExpiringLink, ExpirySeconds, LinkId, LinkKey};
pub use memory::{MemoryJobQueue, MemoryRepo};
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use object_storage::S3StorageBuilder;
pub use object_storage::{ObjectStorage, StorageUrlError};
pub use page::{Page, PageLimit, PageRequest};
pub use plan::{Plan, PlanId, PlanName, PlanSpec, ThumbnailHeight, ThumbnailHeights};
pub use queue::{Job, JobQueue};
pub use repo::{
    ImageFilter, ImageRepo, LinkRepo, PlanRepo, Repo, ResetScope, SessionOwner, SessionRepo,
    TokenOwner, Totals, UserRepo,
};
pub use service::DEFAULT_MAX_UPLOADS_PER_USER;
pub use service::{
    Account, AdminImageView, BuildError, CACHE_MAX_AGE, CACHED_MEDIA_LIMIT,
    DEFAULT_DECODE_MEMORY_BYTES, Dashboard, ImageView, IssuedToken, JobOutcome, LinkView,
    MediaCaching, MediaKind, MediaObject, NewUser, Regenerate, StartedSession, SweepOptions,
    SweepReport, ThrottleConfig, ThumbnailView, TokenInfo, Upload, UploadSlot, UserChanges, Vault,
    VaultBuilder, VaultConfig, WorkerOptions,
};
pub use service::{ReadLimitedError, client_key, parse_image_id, read_limited};
pub use session::{
    DEFAULT_SESSION_IDLE_TIMEOUT, DEFAULT_SESSION_LIFETIME, SESSION_TOUCH_INTERVAL, SessionRecord,
    SessionSecret,
};
pub use storage::{Storage, StorageKey};
pub use thumbnail::{THUMBNAIL_FAILURE_MAX_CHARS, Thumbnail, ThumbnailStatus, failure_reason};
pub use user::{Password, PasswordHash, TokenRecord, User, UserId, Username};
