//! Test data shared by the checks: values with random unique names, stored rows, clean-up and
//! assertions that name the broken rule.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use std::fmt::Debug;
use uuid::Uuid;

use crate::repo::{Conflict, RepoError};
use crate::{
    ApiToken, ExpiringLink, ExpirySeconds, Image, ImageFormat, ImageId, ImageName, ImageRecord,
    LinkId, PasswordHash, Plan, PlanId, PlanName, Repo, StorageKey, Thumbnail, ThumbnailHeight,
    ThumbnailHeights, ThumbnailStatus, TokenHash, TokenRecord, User, UserId, Username,
};

/// A PHC string that looks like an argon2id hash; repositories store it as text.
pub(super) const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

/// The current time, truncated to microseconds as the service's clock gives it.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `n` microseconds after `time` (before it when negative).
pub(super) fn micros(time: DateTime<Utc>, n: i64) -> DateTime<Utc> {
    time + TimeDelta::microseconds(n)
}

/// A random microsecond between the years 2889 and 3039: rows created at it (and a few
/// microseconds later) are newer than anything real, and with overwhelming likelihood no
/// row of a concurrent run of this suite falls among them.
pub(super) fn far_future() -> DateTime<Utc> {
    random_time_in_150_years_from(29_000_000_000)
}

/// A random microsecond between the years 1019 and 1169, earlier than any real row.
pub(super) fn far_past() -> DateTime<Utc> {
    random_time_in_150_years_from(-30_000_000_000)
}

/// A random microsecond in the 150 years from `start` (seconds since the Unix epoch).
fn random_time_in_150_years_from(start: i64) -> DateTime<Utc> {
    const SPAN_MICROS: u128 = 150 * 365 * 86_400 * 1_000_000;
    let start: DateTime<Utc> = DateTime::from_timestamp(start, 0).expect("a valid time");
    let offset =
        i64::try_from(Uuid::new_v4().as_u128() % SPAN_MICROS).expect("the span fits in i64");
    micros(start, offset)
}

/// A thumbnail height that is known to be valid.
pub(super) fn height(pixels: u32) -> ThumbnailHeight {
    ThumbnailHeight::new(pixels).expect("a valid thumbnail height")
}

/// A plan with a random unique name, not yet stored.
pub(super) fn plan_value(heights: &[u32], created_at: DateTime<Utc>) -> Plan {
    Plan {
        id: PlanId::new(),
        name: PlanName::parse(&crate::testing::unique("plan")).expect("a valid plan name"),
        thumbnail_heights: ThumbnailHeights::new(heights.iter().copied()).expect("valid heights"),
        thumbnail_formats: Default::default(),
        original_link: true,
        expiring_links: true,
        quota: Default::default(),
        strip_metadata: false,
        created_at,
    }
}

/// Stores a new plan with `heights` (and originals and links granted).
pub(super) async fn new_plan(repo: &dyn Repo, heights: &[u32]) -> Plan {
    let plan = plan_value(heights, now());
    repo.create_plan(&plan)
        .await
        .expect("create_plan failed for a new plan with a unique name");
    plan
}

/// A user with a random unique username, not yet stored.
pub(super) fn user_value(plan: Option<PlanId>, created_at: DateTime<Utc>) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(&crate::testing::unique("user")).expect("a valid username"),
        password_hash: PasswordHash::from_phc(PHC),
        is_admin: false,
        plan_id: plan,
        quota: Default::default(),
        created_at,
    }
}

/// Stores a new user on `plan`.
pub(super) async fn new_user(repo: &dyn Repo, plan: Option<PlanId>) -> User {
    let user = user_value(plan, now());
    repo.create_user(&user)
        .await
        .expect("create_user failed for a new user with a unique name");
    user
}

/// Moves `user` to `plan` (to none when `None`), returning the user as now stored.
pub(super) async fn move_to_plan(repo: &dyn Repo, user: &User, plan: Option<PlanId>) -> User {
    let moved = User {
        plan_id: plan,
        ..user.clone()
    };
    repo.update_user(&moved)
        .await
        .must_be(true, "update_user must be true");
    moved
}

/// A 1600×1200 JPEG image of `owner` with no thumbnail rows, not yet stored.
///
/// Its id is a random (v4) UUID, so that id order says nothing about insertion order.
pub(super) fn bare_image(owner: UserId, created_at: DateTime<Utc>) -> ImageRecord {
    ImageRecord {
        image: Image {
            id: ImageId::from_uuid(Uuid::new_v4()),
            owner,
            name: ImageName::parse(&format!("{}.jpg", crate::testing::unique("image")))
                .expect("a valid image name"),
            format: ImageFormat::Jpeg,
            width: 1600,
            height: 1200,
            size: 245_760,
            storage_key: StorageKey::new_original(ImageFormat::Jpeg),
            created_at,
            digest: None,
            placeholder: None,
            metadata_removed: None,
        },
        thumbnails: Vec::new(),
    }
}

/// Like [`bare_image`], with a pending 200-pixel thumbnail row as an upload makes it.
pub(super) fn new_image(owner: UserId, created_at: DateTime<Utc>) -> ImageRecord {
    let mut record = bare_image(owner, created_at);
    record.thumbnails.push(row(
        &record.image,
        200,
        ThumbnailStatus::Pending,
        0,
        created_at,
    ));
    record
}

/// Like [`bare_image`], with one thumbnail row (after two attempts) per `(height, status,
/// updated_at)` of `rows`.
pub(super) fn image_with_rows(
    owner: UserId,
    created_at: DateTime<Utc>,
    rows: &[(u32, ThumbnailStatus, DateTime<Utc>)],
) -> ImageRecord {
    let mut record = bare_image(owner, created_at);
    record.thumbnails = rows
        .iter()
        .map(|&(pixels, status, at)| row(&record.image, pixels, status, 2, at))
        .collect();
    record
}

/// Like [`image_with_rows`], every row updated at `created_at`.
pub(super) fn image_with_rows_at(
    owner: UserId,
    created_at: DateTime<Utc>,
    rows: &[(u32, ThumbnailStatus)],
) -> ImageRecord {
    let rows: Vec<_> = rows
        .iter()
        .map(|&(pixels, status)| (pixels, status, created_at))
        .collect();
    image_with_rows(owner, created_at, &rows)
}

/// Stores [`image_with_rows_at`], returning it as repositories return it (rows ascending
/// by height).
pub(super) async fn stored_image(
    repo: &dyn Repo,
    owner: UserId,
    created_at: DateTime<Utc>,
    rows: &[(u32, ThumbnailStatus)],
) -> ImageRecord {
    sorted(insert(repo, image_with_rows_at(owner, created_at, rows)).await)
}

/// Stores `record`, returning it.
pub(super) async fn insert(repo: &dyn Repo, record: ImageRecord) -> ImageRecord {
    repo.insert_image(&record)
        .await
        .expect("insert_image failed for an image of an existing user");
    record
}

/// A thumbnail row of `image` in `status`; a ready row gets a fresh storage key, a failed
/// one a failure reason.
pub(super) fn row(
    image: &Image,
    pixels: u32,
    status: ThumbnailStatus,
    attempts: u32,
    updated_at: DateTime<Utc>,
) -> Thumbnail {
    let mut thumbnail = Thumbnail::pending(
        image.id,
        height(pixels),
        image.width,
        image.height,
        updated_at,
    );
    thumbnail.status = status;
    thumbnail.attempts = attempts;
    match status {
        ThumbnailStatus::Ready => {
            thumbnail.storage_key = Some(StorageKey::new_thumbnail(image.format));
        }
        ThumbnailStatus::Failed => {
            thumbnail.failure = Some(format!("could not make the {pixels}-pixel thumbnail"));
        }
        ThumbnailStatus::Pending => {}
    }
    thumbnail
}

/// `record` with its thumbnails ascending by height, as repositories return it.
pub(super) fn sorted(mut record: ImageRecord) -> ImageRecord {
    record
        .thumbnails
        .sort_by_key(|thumbnail| thumbnail.max_height);
    record
}

/// The stored thumbnail rows of an image that must exist.
pub(super) async fn rows_of(repo: &dyn Repo, image: ImageId) -> Vec<Thumbnail> {
    repo.get_image_by_id(image)
        .await
        .must_find("an image of the check has disappeared")
        .thumbnails
}

/// A link to `image` with a random (v4) id and a 300-second expiry, not yet stored.
pub(super) fn link_value(image: &Image, created_at: DateTime<Utc>) -> ExpiringLink {
    let expiry = ExpirySeconds::new(300).expect("a valid expiry");
    ExpiringLink {
        id: LinkId::from_uuid(Uuid::new_v4()),
        ..ExpiringLink::new(image.owner, image.id, image.format, expiry, created_at)
    }
}

/// Stores a new link to `image`.
pub(super) async fn new_link(
    repo: &dyn Repo,
    image: &Image,
    created_at: DateTime<Utc>,
) -> ExpiringLink {
    let link = link_value(image, created_at);
    repo.insert_link(&link)
        .await
        .expect("insert_link failed for a link to an existing image");
    link
}

/// Deletes the users (with everything of theirs), then the plans, a check made.
pub(super) async fn clean_up(repo: &dyn Repo, users: &[UserId], plans: &[PlanId]) {
    for &user in users {
        repo.delete_user(user)
            .await
            .expect("delete_user failed while cleaning up");
    }
    for &plan in plans {
        repo.delete_plan(plan)
            .await
            .expect("delete_plan of an unused plan failed while cleaning up");
    }
}

/// Assertions on the answer of a repository call, each naming the rule it checks, so that
/// a check reads as the list of its rules.
pub(super) trait Answer<T>: Sized {
    /// The value of a call that must succeed; panics naming `rule` when it failed.
    fn got(self, rule: &str) -> T;

    /// Panics unless the call succeeded with `expected`.
    #[track_caller]
    fn must_be<U: Debug>(self, expected: U, rule: &str)
    where
        T: PartialEq<U> + Debug,
    {
        assert_eq!(self.got(rule), expected, "{rule}");
    }
}

impl<T> Answer<T> for Result<T, RepoError> {
    #[track_caller]
    fn got(self, rule: &str) -> T {
        self.unwrap_or_else(|error| panic!("{rule}: the call failed: {error:?}"))
    }
}

/// Assertions on the answer of a lookup.
pub(super) trait Lookup<T> {
    /// Panics unless the call succeeded with `None`.
    fn must_be_none(self, rule: &str);

    /// The value found by a call that must succeed with `Some`; panics naming `rule`
    /// otherwise.
    fn must_find(self, rule: &str) -> T;
}

impl<T: Debug> Lookup<T> for Result<Option<T>, RepoError> {
    #[track_caller]
    fn must_be_none(self, rule: &str) {
        if let Some(found) = self.got(rule) {
            panic!("{rule}: found {found:?}");
        }
    }

    #[track_caller]
    fn must_find(self, rule: &str) -> T {
        self.got(rule)
            .unwrap_or_else(|| panic!("{rule}: found nothing"))
    }
}

/// Assertions on the answer of a call that returns a collection.
pub(super) trait Collection {
    /// Panics unless the call succeeded with nothing.
    fn must_be_empty(self, rule: &str);
}

impl<C> Collection for Result<C, RepoError>
where
    C: Debug,
    for<'a> &'a C: IntoIterator,
{
    #[track_caller]
    fn must_be_empty(self, rule: &str) {
        let items = self.got(rule);
        assert!(
            (&items).into_iter().next().is_none(),
            "{rule}: got {items:?}"
        );
    }
}

/// Panics unless `result` is the conflict `expected`.
#[track_caller]
pub(super) fn assert_conflict<T: Debug>(
    result: Result<T, RepoError>,
    expected: Conflict,
    rule: &str,
) {
    match result {
        Err(RepoError::Conflict(conflict)) if conflict == expected => {}
        other => panic!("{rule} must fail with Conflict::{expected:?}, got {other:?}"),
    }
}

/// A fresh random token hash.
pub(super) fn token_hash() -> TokenHash {
    ApiToken::generate()
        .expect("generating a token failed")
        .hash()
}

/// A token of `user` created at `created_at`, not yet stored.
pub(super) fn token_value(user: UserId, created_at: DateTime<Utc>) -> TokenRecord {
    TokenRecord {
        hash: token_hash(),
        user_id: user,
        created_at,
        expires_at: None,
        last_used_at: None,
    }
}

/// Stores a token for `user` expiring at `expires_at`, returning its hash.
pub(super) async fn store_token(
    repo: &dyn Repo,
    user: UserId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<TokenHash, RepoError> {
    let token = TokenRecord {
        expires_at,
        ..token_value(user, now())
    };
    repo.insert_token(&token).await.map(|()| token.hash)
}
