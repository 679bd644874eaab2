#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Leaves: values and ids that import nothing from the crate but each other.
mod auth;
mod box_error;
mod changes;
mod clock;
mod format;
mod holder;
mod id;
pub mod page;
mod storage_key;
mod validation;

// Domain values, importing leaves and each other downward.
mod image;
mod link;
mod metadata;
mod placeholder;
mod plan;
mod quota;
mod session;
mod thumbnail;
mod user;

// Ports, each with its own error and a folder of its adapters.
pub mod imaging;
pub mod queue;
pub mod repo;
pub mod storage;

// The in-memory adapters under one name.
pub mod memory;

// What the service records, for an exporter.
pub mod metrics;

// The service and its error on top.
mod error;
mod service;

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use auth::{ApiToken, TokenHash, TokenId};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{PlanFeature, VaultError};
pub use format::MediaFormat;
pub use holder::{
    HOLDER_HEARTBEAT, HOLDER_TIMEOUT, HolderDeath, HolderId, HolderRecord, ProcessIdentity,
    ProcessProbe,
};
pub use image::{ContentDigest, Image, ImageId, ImageName, ImageRecord, Usage};
pub use imaging::{ImageError, ImageFormat, ImageLimits};
pub use link::{ExpiringLink, ExpirySeconds, LinkId, LinkKey};
pub use memory::{MemoryJobQueue, MemoryRepo};
pub use metadata::{MetadataKind, MetadataRemoved};
pub use page::{Page, PageLimit, PageRequest};
pub use placeholder::{Color, Placeholder};
pub use plan::{
    Plan, PlanId, PlanName, PlanSpec, ThumbnailFormat, ThumbnailFormats, ThumbnailHeight,
    ThumbnailHeights,
};
pub use queue::{Job, JobQueue};
pub use quota::{
    QuotaExceeded, QuotaLimits, QuotaOverride, QuotaOverrides, QuotaResource, QuotaStatus,
    human_size, limit_text, size_text,
};
pub use repo::{
    HolderRepo, ImageFilter, ImageRepo, LinkRepo, PlanRepo, Repo, ResetScope, SessionOwner,
    SessionRepo, TokenOwner, Totals, UserRepo,
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
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use storage::object_storage::S3StorageBuilder;
pub use storage::object_storage::{ObjectStorage, StorageUrlError};
pub use storage::{Storage, StorageKey};
pub use thumbnail::{THUMBNAIL_FAILURE_MAX_CHARS, Thumbnail, ThumbnailStatus, failure_reason};
pub use user::{Password, PasswordHash, TokenRecord, User, UserId, Username};
pub use validation::ValidationError;
