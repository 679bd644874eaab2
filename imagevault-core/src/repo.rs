//! The [`Repo`] port: everything the service persists, split by aggregate.
//!
//! [`Repo`] combines [`PlanRepo`], [`UserRepo`], [`ImageRepo`], [`LinkRepo`],
//! [`SessionRepo`] and [`HolderRepo`]; a backend implements all six and `ping`. The conformance suite in `imagevault_core::testing::repo`
//! (feature `testing`) pins the contract down; every backend runs it.

use std::collections::HashSet;
use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::auth::TokenHash;
use crate::box_error::BoxError;
pub use crate::changes::{ChangeFeed, ChangeNotifier};
use crate::holder::{HolderId, HolderRecord};
use crate::image::{ContentDigest, Image, ImageId, ImageRecord, Usage};
use crate::link::{ExpiringLink, LinkId, LinkKey};
use crate::page::KeysetQuery;
use crate::placeholder::Placeholder;
use crate::plan::{Plan, PlanId, ThumbnailHeight};
use crate::quota::QuotaExceeded;
use crate::session::SessionRecord;
use crate::storage_key::StorageKey;
use crate::thumbnail::Thumbnail;
use crate::user::{TokenRecord, User, UserId, Username};

pub(crate) mod memory;

/// A write that would break a uniqueness or reference rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// Another user has the username.
    #[error("the username is taken")]
    UsernameTaken,
    /// Another plan has the name.
    #[error("the plan name is taken")]
    PlanNameTaken,
    /// The plan is still assigned to at least one user.
    #[error("the plan is assigned to users")]
    PlanInUse,
    /// A referenced row does not exist: a user's plan, an image's owner, a token's user,
    /// or a link's image (which must also belong to the link's owner).
    #[error("a referenced row does not exist")]
    MissingReference,
    /// The image would pass its owner's quota ([`ImageRepo::insert_image`]).
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
}

/// A failure of a [`Repo`] backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The write conflicts with existing rows; nothing was changed.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The backend failed; `source` keeps the cause.
    #[error("{backend} repository failed")]
    Backend {
        /// Which backend, for example `"postgres"`.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// An original found by its storage key, with what decides whether it may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalTarget {
    /// The image.
    pub image: Image,
    /// The owner's current plan.
    pub owner_plan: Option<Plan>,
}

/// The user an API token belongs to, with what an authenticated request needs.
///
/// [`UserRepo::find_token_owner`] reads both in one lookup, so authenticating a request
/// costs a single round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The user.
    pub user: User,
    /// The user's current plan; `None` for a user without one.
    pub plan: Option<Plan>,
    /// When the token expires, if it does; the caller refuses it from then on.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the token's use was last recorded (see [`UserRepo::touch_token`]), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An expiring link found by its public key, with what decides whether it may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// The link.
    pub link: ExpiringLink,
    /// The image it points to.
    pub image: Image,
    /// The owner's current plan.
    pub owner_plan: Option<Plan>,
}

/// Which images a thumbnail work claim looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkScope {
    /// Every image. Finding rows missing for a plan reads every image, so this grows with
    /// the table; the periodic reconciler runs it rarely and [`Self::LapsedLeases`] often.
    All,
    /// The images that have a claimable pending row (see
    /// [`ImageRepo::claim_thumbnail_work`]: its lease lapsed, or its holder is not
    /// registered), whoever owns them: work a lost job left behind. Backends answer it
    /// from an index of pending rows, so its cost follows the outstanding work, not the
    /// number of images.
    LapsedLeases,
    /// One user's images.
    Owner(UserId),
    /// The images of every user on one plan.
    Plan(PlanId),
}

/// Installation-wide counts, for the administrators' dashboard
/// ([`ImageRepo::totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Users, not counting those being deleted.
    pub users: u64,
    /// Images of every user.
    pub images: u64,
    /// The originals' bytes (the sum of their `size`); thumbnails are not counted.
    pub bytes: u64,
    /// Thumbnail rows waiting to be made.
    pub thumbnails_pending: u64,
    /// Thumbnail rows that could not be made.
    pub thumbnails_failed: u64,
}

/// Which images [`ImageRepo::list_all_images`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// Only this user's images; `None` for every user's.
    pub owner: Option<UserId>,
    /// Only images with at least one failed thumbnail.
    pub failed_thumbnails_only: bool,
}

/// Which thumbnails [`ImageRepo::reset_thumbnails`] sets back to pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetScope {
    /// Every thumbnail of one image.
    Image(ImageId),
    /// Every failed thumbnail, whoever owns it.
    Failed,
    /// Every thumbnail of one user's images.
    Owner(UserId),
    /// Every thumbnail of the images of every user on one plan.
    Plan(PlanId),
}

/// Plans.
#[async_trait]
pub trait PlanRepo: Send + Sync + Debug + 'static {
    /// Inserts a plan. A taken name is [`Conflict::PlanNameTaken`].
    async fn create_plan(&self, plan: &Plan) -> Result<(), RepoError>;
    /// A plan by id.
    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>, RepoError>;
    /// A plan by exact name.
    async fn find_plan_by_name(&self, name: &str) -> Result<Option<Plan>, RepoError>;
    /// A page of plans, newest first.
    async fn list_plans(&self, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError>;
    /// Replaces a plan's fields (not its id or creation time). `false` if it does not exist.
    /// A taken name is [`Conflict::PlanNameTaken`].
    async fn update_plan(&self, plan: &Plan) -> Result<bool, RepoError>;
    /// Deletes a plan. `false` if it does not exist; [`Conflict::PlanInUse`] while any user has it.
    async fn delete_plan(&self, id: PlanId) -> Result<bool, RepoError>;

    /// How many users each plan has, for the administrators' plan list.
    ///
    /// # Contract
    /// - One entry per stored plan, plans without users included (with 0), in no
    ///   particular order.
    /// - Users being deleted have no plan any more (see
    ///   [`UserRepo::begin_user_deletion`]), so they are not counted.
    async fn plan_user_counts(&self) -> Result<Vec<(PlanId, u64)>, RepoError>;
}

/// Users and their API tokens.
#[async_trait]
pub trait UserRepo: Send + Sync + Debug + 'static {
    /// Inserts a user. [`Conflict::UsernameTaken`] for a taken name (compared exactly,
    /// case-sensitively, as Django does),
    /// [`Conflict::MissingReference`] for a plan that does not exist.
    async fn create_user(&self, user: &User) -> Result<(), RepoError>;
    /// A user by id.
    async fn get_user(&self, id: UserId) -> Result<Option<User>, RepoError>;
    /// A user by exact username.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, RepoError>;
    /// A page of users, newest first.
    async fn list_users(&self, query: &KeysetQuery) -> Result<Vec<User>, RepoError>;
    /// A page of the users whose username contains `text`, for the administrators' search.
    ///
    /// # Contract
    /// - `text` matches anywhere in the username, ignoring the case of ASCII letters;
    ///   whether other letters are folded is the backend's (PostgreSQL folds them, SQLite
    ///   and memory do not). Every character of `text` is literal: `%`, `_` and `\` are
    ///   no wildcards. An empty `text` matches every user.
    /// - Ordered and paged exactly as [`list_users`](Self::list_users).
    async fn search_users(&self, text: &str, query: &KeysetQuery) -> Result<Vec<User>, RepoError>;
    /// Replaces a user's fields (not id or creation time). `false` if the user does not
    /// exist or is being deleted (see [`begin_user_deletion`](Self::begin_user_deletion)),
    /// so that no change can give such an account a password back.
    /// Same conflicts as `create_user`.
    async fn update_user(&self, user: &User) -> Result<bool, RepoError>;
    /// [`update_user`](Self::update_user), and in the same atomic write deletes every API
    /// token and session of the user: a new password ends whatever the old one opened, and
    /// no crash may keep the one without the other. `false`, with nothing deleted, where
    /// `update_user` is `false`. Same conflicts as `update_user`.
    async fn update_user_revoking_logins(&self, user: &User) -> Result<bool, RepoError>;
    /// Deletes a user with all their tokens, sessions, images, thumbnails and links.
    /// `false` if the user does not exist. Stored objects are the caller's to delete.
    async fn delete_user(&self, id: UserId) -> Result<bool, RepoError>;
    /// The first step of deleting a user, in one atomic write: marks the user as being
    /// deleted (at `now`, kept if already marked), replaces the password hash with
    /// [`PasswordHash::unusable`], removes the plan and deletes all of the user's tokens,
    /// sessions and links, so that the account can neither log in nor act, and its originals and links
    /// are no longer served, while its images are deleted. `false` if the user does not
    /// exist; `true` again for a user already marked. The user stays readable until
    /// [`delete_user`](Self::delete_user).
    ///
    /// [`PasswordHash::unusable`]: crate::PasswordHash::unusable
    async fn begin_user_deletion(&self, id: UserId, now: DateTime<Utc>) -> Result<bool, RepoError>;
    /// Up to `limit` users marked by [`begin_user_deletion`](Self::begin_user_deletion)
    /// and not yet deleted, oldest mark first (then by id): deletions a crash or restart
    /// left unfinished.
    async fn users_being_deleted(&self, limit: usize) -> Result<Vec<UserId>, RepoError>;
    /// Stores a token's hash. [`Conflict::MissingReference`] if the user does not exist or
    /// is being deleted.
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), RepoError>;
    /// The user a token hash belongs to, with the user's current plan: one indexed lookup.
    /// `None` for a hash that is not stored.
    async fn find_token_owner(&self, hash: &TokenHash) -> Result<Option<TokenOwner>, RepoError>;
    /// Revokes a token. `false` if it was not stored.
    async fn delete_token(&self, hash: &TokenHash) -> Result<bool, RepoError>;
    /// Revokes every token of a user, returning how many there were.
    async fn delete_user_tokens(&self, user: UserId) -> Result<u64, RepoError>;

    /// Every stored token of `user`, for the user's account page.
    ///
    /// # Contract
    /// - Newest first by `created_at`, ties by hash descending; expired tokens included.
    /// - Only `user`'s tokens; an unknown user has none.
    async fn list_user_tokens(&self, user: UserId) -> Result<Vec<TokenRecord>, RepoError>;
    /// Records that a request used the token at `used_at`. `false` if it is not stored.
    ///
    /// # Contract
    /// - Sets `last_used_at` and nothing else.
    /// - Does not move the [`account_changes`](Self::account_changes) feed: what
    ///   [`find_token_owner`](Self::find_token_owner) answers for authentication does not
    ///   depend on it, and a feed moved by every recorded use would empty every process's
    ///   account cache once a minute per active token.
    async fn touch_token(
        &self,
        hash: &TokenHash,
        used_at: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// A feed of changes to what [`find_token_owner`](Self::find_token_owner) answers, so
    /// that a [`Vault`](crate::Vault) may cache the accounts behind tokens; `None` (the
    /// default) if the backend has none, and then every token costs a lookup.
    ///
    /// With a feed, every committed change that can alter an answer, made by any process,
    /// must move the feed's epoch soon after it commits, or disconnect the feed while
    /// changes could go unreported: a token deleted (one, or all of a user's), a user
    /// updated, marked for deletion or deleted, a plan updated or deleted. Inserts need not, since a missing token is never cached. The
    /// time from commit to the epoch moving is how long another process may still accept a
    /// token revoked elsewhere, or an account as it was before a change made elsewhere.
    ///
    /// Called once per vault, from within a Tokio runtime, so a backend may spawn the task
    /// that listens for changes here.
    fn account_changes(&self) -> Option<ChangeFeed> {
        None
    }
}

/// Images and their thumbnails.
#[async_trait]
pub trait ImageRepo: Send + Sync + Debug + 'static {
    /// Inserts an image and its thumbnail rows atomically: all or nothing.
    /// [`Conflict::MissingReference`] if the owner does not exist. The rows are stored as
    /// given, [`Thumbnail::lease_holder`] included.
    ///
    /// # Contract (quotas)
    /// - In the same transaction, the image is counted against its owner's effective quota
    ///   ([`QuotaOverrides::effective`](crate::QuotaOverrides::effective) of the user's
    ///   overrides and plan): if one more image, or `size` more bytes, would pass a limit,
    ///   nothing is written and the answer is [`Conflict::QuotaExceeded`], as
    ///   [`QuotaOverrides::admit`](crate::QuotaOverrides::admit) words it.
    /// - Concurrent inserts for one owner are serialised on that check, so they never pass
    ///   a limit together; [`delete_image`](Self::delete_image) frees the usage in its own
    ///   transaction.
    async fn insert_image(&self, record: &ImageRecord) -> Result<(), RepoError>;
    /// One of `owner`'s images with all its thumbnail rows; `None` for another user's image.
    async fn get_image(&self, owner: UserId, id: ImageId)
    -> Result<Option<ImageRecord>, RepoError>;
    /// An image by id whoever owns it, for the worker.
    async fn get_image_by_id(&self, id: ImageId) -> Result<Option<ImageRecord>, RepoError>;
    /// A page of `owner`'s images with their thumbnails, newest first: a bounded number of
    /// queries however many images the owner has.
    async fn list_images(
        &self,
        owner: UserId,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError>;
    /// Deletes one of `owner`'s images with its thumbnails and links, returning what was
    /// deleted (for the caller to delete the stored objects); `None` if there was no such image.
    async fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError>;
    /// The image whose original is stored at `key`, with its owner's plan.
    async fn find_original(&self, key: &StorageKey) -> Result<Option<OriginalTarget>, RepoError>;
    /// Which of `keys` a row refers to: an image's original, or a thumbnail row of any
    /// status that holds the key (as `storage_key` or `webp_storage_key`). Whoever owns the rows; for the sweeper, which deletes
    /// stored objects no row refers to. Callers pass a bounded batch (hundreds of keys);
    /// backends answer it with a bounded number of indexed queries.
    async fn referenced_keys(&self, keys: &[StorageKey]) -> Result<HashSet<StorageKey>, RepoError>;
    /// Inserts the given (pending) thumbnail rows, [`Thumbnail::lease_holder`] included,
    /// where no row exists for that image and height; existing rows are left as they are.
    /// Rows of a missing image are ignored.
    async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError>;
    /// Starts an attempt at the image's pending thumbnails of `heights`: `attempts + 1`,
    /// `updated_at = now` and `lease_holder = holder`, which renews their lease for the
    /// holder making them. Rows not pending are left alone.
    async fn start_thumbnail_attempt(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        now: DateTime<Utc>,
        holder: Option<HolderId>,
    ) -> Result<(), RepoError>;
    /// Marks a pending thumbnail ready at `key`, with no failure reason. Returns `false`,
    /// changing nothing, when the row is gone or no longer pending (a duplicate delivery
    /// won the race), in which case the caller deletes the object it stored.
    async fn complete_thumbnail(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        key: &StorageKey,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// Stores `placeholder` as the image's [`Image::placeholder`], replacing the one it
    /// had: the worker's, made with the image's thumbnails.
    ///
    /// # Contract
    /// - Returns `false`, changing nothing, when the image is gone (deleted while its
    ///   thumbnails were made); `true` otherwise, also when it had this placeholder already.
    /// - Changes nothing else about the image or its thumbnails.
    async fn set_placeholder(
        &self,
        image: ImageId,
        placeholder: &Placeholder,
    ) -> Result<bool, RepoError>;
    /// Records the WebP variant of a pending thumbnail at `webp_key`, before
    /// [`complete_thumbnail`](Self::complete_thumbnail) makes the row ready.
    ///
    /// # Contract
    /// - Only a pending row changes: its `webp_storage_key` becomes `webp_key` (replacing
    ///   any earlier one; the caller deletes that object once the row is ready). Nothing
    ///   else changes.
    /// - Returns `false`, changing nothing, when the row is gone or not pending.
    async fn attach_thumbnail_webp(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        webp_key: &StorageKey,
    ) -> Result<bool, RepoError>;
    /// Marks the image's pending thumbnails of `heights` failed, for `reason`.
    ///
    /// # Contract
    /// - Only pending rows change: `status = failed`, `failure = reason` (stored as given;
    ///   callers bound it with [`failure_reason`](crate::failure_reason)),
    ///   `updated_at = now`.
    async fn fail_thumbnails(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;
    /// Finds thumbnail work in `scope` and leases it to `holder`, for at most `limit`
    /// images:
    /// - for every height of the owner's current plan with no row, inserts a pending row
    ///   (sized from the image) with `updated_at = now` and `lease_holder = holder`;
    /// - every claimable pending row of a current plan height gets `updated_at = now` and
    ///   `lease_holder = holder`. A pending row is claimable when its lease has lapsed
    ///   (`updated_at` before `stale_before`) or when it names a holder that is not
    ///   registered ([`HolderRepo`]: a holder judged dead and removed). A row with no
    ///   holder, or a registered one, is claimable only once its lease lapsed (a live
    ///   holder that stopped making progress does not keep its work for ever);
    /// - when the plan lists `webp` ([`ThumbnailFormats::webp`](crate::ThumbnailFormats::webp)),
    ///   every ready row of a current plan height without a `webp_storage_key` is set back
    ///   to pending to be made again with its WebP variant: `status = pending`,
    ///   `attempts = 0`, no failure, `updated_at = now`, `lease_holder = holder`, both keys
    ///   kept (as [`reset_thumbnails`](Self::reset_thumbnails) does).
    ///
    /// Returns the ids of the images touched. Because claimed rows carry a fresh lease,
    /// calling again returns other images, so repeated calls page through all the work.
    async fn claim_thumbnail_work(
        &self,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
        holder: Option<HolderId>,
    ) -> Result<Vec<ImageId>, RepoError>;

    // Administrators' console.

    /// Counts users, images, stored bytes and pending and failed thumbnails.
    ///
    /// # Contract
    /// - Users being deleted (see [`UserRepo::begin_user_deletion`]) are not counted;
    ///   their images are, until they are deleted.
    /// - `bytes` is the sum of the originals' `size`, `0` without images.
    /// - Each figure is read from one committed state; the five together need not be
    ///   (another writer may commit between them).
    async fn totals(&self) -> Result<Totals, RepoError>;

    /// A page of every user's images that pass `filter`, with all their thumbnail rows,
    /// for administrators.
    ///
    /// # Contract
    /// - Newest first by `(created_at, id)`, following [`KeysetQuery`] exactly, with each
    ///   image's thumbnails ascending by height, as [`list_images`](Self::list_images).
    /// - With an owner, the images are exactly those `list_images` gives that owner.
    /// - `failed_thumbnails_only` keeps the images with at least one failed thumbnail row
    ///   (with all their rows, failed or not).
    /// - A bounded number of queries however many images there are.
    async fn list_all_images(
        &self,
        filter: &ImageFilter,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError>;

    /// Sets the thumbnails in `scope` back to pending, to be made again, and returns how
    /// many rows it set.
    ///
    /// # Contract
    /// - [`ResetScope::Image`], [`ResetScope::Owner`] and [`ResetScope::Plan`] set every row
    ///   of the images in scope, whatever its status; [`ResetScope::Failed`] only failed rows.
    /// - Each row set gets `status = pending`, `attempts = 0`, no failure and
    ///   `updated_at = now` (for a pending row, the start of its lease; a caller that wants
    ///   the rows claimed at once passes a time whose lease has lapsed).
    /// - `storage_key` and `webp_storage_key` are kept, so a ready row's objects stay referenced until
    ///   [`complete_thumbnail`](Self::complete_thumbnail) stores its replacement.
    /// - No other row changes.
    async fn reset_thumbnails(
        &self,
        scope: ResetScope,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError>;

    /// How many images `owner` has and the bytes of their originals together: what the
    /// quota counts.
    ///
    /// # Contract
    /// - Counts only `owner`'s images; an unknown user's usage is zero.
    /// - Follows every insert and delete at once (a backend may keep counters beside the
    ///   user, as the SQL ones do).
    /// - `bytes` is the sum of the images' `size`, exact beyond 32 bits.
    async fn usage(&self, owner: UserId) -> Result<Usage, RepoError>;

    // Command-line bulk tools (`admin thumbnails status`, `admin import`).

    /// Every thumbnail row counted by status and by its owner's current plan, with the
    /// failed rows grouped by reason, for `admin thumbnails status`.
    ///
    /// # Contract
    /// - `by_plan` has one entry per plan (`None`: owners without a plan) that has
    ///   thumbnail rows, in no particular order; together they count every row once.
    /// - `failures` has at most `max_reasons` groups of failed rows by reason, most rows
    ///   first (ties by reason); an empty or missing reason is `None`. Each group has up to
    ///   `examples_per_reason` distinct ids of images with such a row.
    /// - A bounded number of queries: `2 + max_reasons` at most.
    async fn thumbnail_overview(
        &self,
        max_reasons: usize,
        examples_per_reason: usize,
    ) -> Result<ThumbnailOverview, RepoError>;

    /// One of `owner`'s images whose original has `digest` (see [`Image::digest`]), for an
    /// import that skips what the owner already has.
    ///
    /// # Contract
    /// - Only `owner`'s images; images without a digest never match.
    /// - Answered from an index on `(owner, digest)`.
    async fn find_image_by_digest(
        &self,
        owner: UserId,
        digest: &ContentDigest,
    ) -> Result<Option<ImageId>, RepoError>;
}

/// Thumbnail counts by status for one plan ([`ImageRepo::thumbnail_overview`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanThumbnailCounts {
    /// The owners' plan; `None` for owners without one.
    pub plan: Option<PlanId>,
    /// Rows waiting to be made.
    pub pending: u64,
    /// Rows made.
    pub ready: u64,
    /// Rows that could not be made.
    pub failed: u64,
}

/// Failed thumbnails that share a reason ([`ImageRepo::thumbnail_overview`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    /// Why they failed; `None` when no reason was recorded.
    pub reason: Option<String>,
    /// How many failed rows have this reason.
    pub count: u64,
    /// A few images with such a row.
    pub examples: Vec<ImageId>,
}

/// What [`ImageRepo::thumbnail_overview`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThumbnailOverview {
    /// Counts per owners' plan.
    pub by_plan: Vec<PlanThumbnailCounts>,
    /// Failed rows by reason, most first.
    pub failures: Vec<FailureGroup>,
}

/// Expiring links.
#[async_trait]
pub trait LinkRepo: Send + Sync + Debug + 'static {
    /// Inserts a link. [`Conflict::MissingReference`] if its image does not exist.
    async fn insert_link(&self, link: &ExpiringLink) -> Result<(), RepoError>;
    /// One of `owner`'s links.
    async fn get_link(&self, owner: UserId, id: LinkId) -> Result<Option<ExpiringLink>, RepoError>;
    /// A page of `owner`'s links, newest first, optionally of one image only.
    async fn list_links(
        &self,
        owner: UserId,
        image: Option<ImageId>,
        query: &KeysetQuery,
    ) -> Result<Vec<ExpiringLink>, RepoError>;
    /// Replaces the expiry of `link` (matched by owner and id). `false` if there is no such link.
    async fn update_link(&self, link: &ExpiringLink) -> Result<bool, RepoError>;
    /// Deletes one of `owner`'s links. `false` if there was no such link.
    async fn delete_link(&self, owner: UserId, id: LinkId) -> Result<bool, RepoError>;
    /// A link by its public key, with its image and the owner's plan: one indexed lookup.
    async fn find_link(&self, key: &LinkKey) -> Result<Option<LinkTarget>, RepoError>;

    /// A feed of changes to what [`find_link`](Self::find_link) answers, so that a
    /// [`Vault`](crate::Vault) may cache its answers; `None` (the default) if the backend
    /// has none, and then nothing is cached.
    ///
    /// With a feed, every committed change that can alter an answer, made by any process,
    /// must move the feed's epoch soon after it commits, or disconnect the feed while
    /// changes could go unreported: a link updated or deleted, its image deleted, the
    /// owner's plan changed or the owner deleted, and that plan updated or deleted.
    /// Inserts need not, since a missing link is never cached. The time from commit to the
    /// epoch moving is how long another process may still serve a link deleted elsewhere.
    ///
    /// Called once per vault, from within a Tokio runtime, so a backend may spawn the task
    /// that listens for changes here.
    fn link_changes(&self) -> Option<ChangeFeed> {
        None
    }
}

/// A session with its user and the user's plan, as [`SessionRepo::find_session`] reads
/// them in one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    /// The session.
    pub session: SessionRecord,
    /// Its user.
    pub user: User,
    /// The user's plan, if any.
    pub plan: Option<Plan>,
}

/// Browser sessions (see [`SessionSecret`](crate::SessionSecret)).
///
/// # Contract
/// - Sessions are looked up by the hash of their secret; the secret is never stored.
/// - [`find_session`](Self::find_session) answers a session whatever its times: ending
///   idle and expired sessions is the service's rule, not the repository's.
/// - [`UserRepo::begin_user_deletion`] and [`UserRepo::delete_user`] delete the user's
///   sessions, as they do the user's tokens.
/// - Deleting a missing session is `Ok(false)`.
#[async_trait]
pub trait SessionRepo: Send + Sync + Debug + 'static {
    /// Stores a new session. [`Conflict::MissingReference`] if its user does not exist.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), RepoError>;
    /// The session with this hash, with its user and plan.
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionOwner>, RepoError>;
    /// Sets the session's `last_seen_at`; `false` if there is no such session.
    async fn touch_session(
        &self,
        hash: &TokenHash,
        seen_at: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// Deletes one session; `false` if there was none.
    async fn delete_session(&self, hash: &TokenHash) -> Result<bool, RepoError>;
    /// Deletes every session of a user, returning how many there were.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, RepoError>;
    /// Deletes the sessions last seen before `idle_before` or expiring at or before
    /// `now`, returning how many there were.
    async fn delete_ended_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError>;
}

/// The registry of work holders ([`HolderRecord`]): which running processes hold leases on
/// thumbnail work (see [`Thumbnail::lease_holder`]).
///
/// # Contract
/// - A registered holder's pending rows are never claimable by
///   [`ImageRepo::claim_thumbnail_work`] before their lease lapses; once the holder is
///   removed, they are claimable at once.
/// - Judging who is dead is the service's rule ([`HolderRecord::death`]), not the
///   repository's: it only stores records, renews heartbeats and removes what it is told.
#[async_trait]
pub trait HolderRepo: Send + Sync + Debug + 'static {
    /// Registers `holder`, replacing the record of the same id if there is one.
    async fn register_holder(&self, holder: &HolderRecord) -> Result<(), RepoError>;
    /// Sets a registered holder's `heartbeat_at`; `false`, changing nothing, if it is not
    /// registered (another process judged it dead and removed it).
    async fn heartbeat_holder(
        &self,
        id: HolderId,
        heartbeat_at: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// Every registered holder, in no particular order.
    async fn list_holders(&self) -> Result<Vec<HolderRecord>, RepoError>;
    /// Removes a holder; `false` if it was not registered. With `seen_heartbeat`, only if
    /// its heartbeat is still that one, so that a holder judged dead from a record it
    /// renewed since is kept.
    async fn remove_holder(
        &self,
        id: HolderId,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> Result<bool, RepoError>;
}

/// Everything the service persists.
///
/// # Contract
/// - Lookups return `Ok(None)` (or `false`) for missing rows; errors are for failures.
/// - Owner-scoped methods never return or change another user's rows.
/// - Timestamps round-trip exactly (the service gives microsecond precision).
/// - Lists are newest first by `(created_at, id)` and follow [`KeysetQuery`] exactly.
/// - Uniqueness and reference violations are [`RepoError::Conflict`], never a panic, and
///   change nothing.
#[async_trait]
pub trait Repo: PlanRepo + UserRepo + ImageRepo + LinkRepo + SessionRepo + HolderRepo {
    /// Checks that the backend answers, for readiness probes.
    async fn ping(&self) -> Result<(), RepoError>;

    /// The connection pool's state, for the metrics; `None` (the default) for a backend
    /// without a pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}

/// A connection pool's state at one moment: see [`Repo::pool_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections lent out.
    pub in_use: u32,
    /// Connections open and free.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolStats {
    /// A pool with `open` connections, of which `idle` are free, of at most `max`.
    pub fn new(open: u32, idle: u32, max: u32) -> Self {
        Self {
            in_use: open.saturating_sub(idle),
            idle,
            max,
        }
    }
}

impl std::ops::Add for PoolStats {
    type Output = Self;

    /// Two pools as one (SQLite's reader and writer).
    fn add(self, other: Self) -> Self {
        Self {
            in_use: self.in_use.saturating_add(other.in_use),
            idle: self.idle.saturating_add(other.idle),
            max: self.max.saturating_add(other.max),
        }
    }
}
