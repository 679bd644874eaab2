//! The vault's link and account caches and its own invalidation of them, on a repository
//! whose change feeds are connected but never report anything: whatever drops a cached
//! answer here is the vault's own bookkeeping, as it must be on PostgreSQL in the moment
//! before the notification of a change it made itself arrives.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use imagevault_core::page::KeysetQuery;
use imagevault_core::repo::{
    ChangeFeed, ChangeNotifier, HolderRepo, ImageFilter, ImageRepo, LinkRepo, LinkTarget,
    OriginalTarget, PlanRepo, RepoError, ResetScope, SessionOwner, SessionRepo, Totals, UserRepo,
    WorkScope,
};
use imagevault_core::testing::images::png;
use imagevault_core::{
    Account, ExpiringLink, ExpirySeconds, HolderId, HolderRecord, ImageId, ImageRecord, LinkId,
    LinkKey, MemoryRepo, Placeholder, Plan, PlanId, PlanName, PlanSpec, Repo, SessionRecord,
    StorageKey, Thumbnail, ThumbnailHeight, ThumbnailHeights, TokenHash, TokenOwner, TokenRecord,
    User, UserChanges, UserId, Username, VaultError,
};

use crate::harness::TestVault;

/// A `MemoryRepo` whose change feeds never move: changes reach the repository, but no
/// reader is told.
#[derive(Debug)]
struct DeafRepo {
    inner: MemoryRepo,
    feed: ChangeFeed,
    _notifier: ChangeNotifier,
}

impl DeafRepo {
    fn new() -> Self {
        let (notifier, feed) = ChangeFeed::connected();
        Self {
            inner: MemoryRepo::new(),
            feed,
            _notifier: notifier,
        }
    }
}

#[async_trait]
impl PlanRepo for DeafRepo {
    async fn create_plan(&self, plan: &Plan) -> Result<(), RepoError> {
        self.inner.create_plan(plan).await
    }
    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>, RepoError> {
        self.inner.get_plan(id).await
    }
    async fn find_plan_by_name(&self, name: &str) -> Result<Option<Plan>, RepoError> {
        self.inner.find_plan_by_name(name).await
    }
    async fn list_plans(&self, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError> {
        self.inner.list_plans(query).await
    }
    async fn update_plan(&self, plan: &Plan) -> Result<bool, RepoError> {
        self.inner.update_plan(plan).await
    }
    async fn delete_plan(&self, id: PlanId) -> Result<bool, RepoError> {
        self.inner.delete_plan(id).await
    }
    async fn plan_user_counts(&self) -> Result<Vec<(PlanId, u64)>, RepoError> {
        self.inner.plan_user_counts().await
    }
}

#[async_trait]
impl UserRepo for DeafRepo {
    async fn create_user(&self, user: &User) -> Result<(), RepoError> {
        self.inner.create_user(user).await
    }
    async fn get_user(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.inner.get_user(id).await
    }
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, RepoError> {
        self.inner.find_user_by_username(username).await
    }
    async fn list_users(&self, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        self.inner.list_users(query).await
    }
    async fn search_users(&self, text: &str, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        self.inner.search_users(text, query).await
    }
    async fn update_user(&self, user: &User) -> Result<bool, RepoError> {
        self.inner.update_user(user).await
    }
    async fn update_user_revoking_logins(&self, user: &User) -> Result<bool, RepoError> {
        self.inner.update_user_revoking_logins(user).await
    }
    async fn delete_user(&self, id: UserId) -> Result<bool, RepoError> {
        self.inner.delete_user(id).await
    }
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), RepoError> {
        self.inner.insert_token(token).await
    }
    async fn find_token_owner(&self, hash: &TokenHash) -> Result<Option<TokenOwner>, RepoError> {
        self.inner.find_token_owner(hash).await
    }
    async fn delete_token(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        self.inner.delete_token(hash).await
    }
    async fn delete_user_tokens(&self, user: UserId) -> Result<u64, RepoError> {
        self.inner.delete_user_tokens(user).await
    }
    async fn list_user_tokens(&self, user: UserId) -> Result<Vec<TokenRecord>, RepoError> {
        self.inner.list_user_tokens(user).await
    }
    async fn touch_token(
        &self,
        hash: &TokenHash,
        used_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        self.inner.touch_token(hash, used_at).await
    }
    async fn begin_user_deletion(&self, id: UserId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        self.inner.begin_user_deletion(id, now).await
    }
    async fn users_being_deleted(&self, limit: usize) -> Result<Vec<UserId>, RepoError> {
        self.inner.users_being_deleted(limit).await
    }
    fn account_changes(&self) -> Option<ChangeFeed> {
        Some(self.feed.clone())
    }
}

#[async_trait]
impl ImageRepo for DeafRepo {
    async fn insert_image(&self, record: &ImageRecord) -> Result<(), RepoError> {
        self.inner.insert_image(record).await
    }
    async fn get_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        self.inner.get_image(owner, id).await
    }
    async fn get_image_by_id(&self, id: ImageId) -> Result<Option<ImageRecord>, RepoError> {
        self.inner.get_image_by_id(id).await
    }
    async fn list_images(
        &self,
        owner: UserId,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        self.inner.list_images(owner, query).await
    }
    async fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        self.inner.delete_image(owner, id).await
    }
    async fn find_original(&self, key: &StorageKey) -> Result<Option<OriginalTarget>, RepoError> {
        self.inner.find_original(key).await
    }
    async fn referenced_keys(&self, keys: &[StorageKey]) -> Result<HashSet<StorageKey>, RepoError> {
        self.inner.referenced_keys(keys).await
    }
    async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError> {
        self.inner.ensure_thumbnails(rows).await
    }
    async fn start_thumbnail_attempt(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        now: DateTime<Utc>,
        holder: Option<HolderId>,
    ) -> Result<(), RepoError> {
        self.inner
            .start_thumbnail_attempt(image, heights, now, holder)
            .await
    }
    async fn complete_thumbnail(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        key: &StorageKey,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        self.inner.complete_thumbnail(image, height, key, now).await
    }
    async fn set_placeholder(
        &self,
        image: ImageId,
        placeholder: &Placeholder,
    ) -> Result<bool, RepoError> {
        self.inner.set_placeholder(image, placeholder).await
    }
    async fn attach_thumbnail_webp(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        webp_key: &StorageKey,
    ) -> Result<bool, RepoError> {
        self.inner
            .attach_thumbnail_webp(image, height, webp_key)
            .await
    }
    async fn fail_thumbnails(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.inner
            .fail_thumbnails(image, heights, reason, now)
            .await
    }
    async fn claim_thumbnail_work(
        &self,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
        holder: Option<HolderId>,
    ) -> Result<Vec<ImageId>, RepoError> {
        self.inner
            .claim_thumbnail_work(scope, now, stale_before, limit, holder)
            .await
    }

    async fn totals(&self) -> Result<Totals, RepoError> {
        self.inner.totals().await
    }
    async fn list_all_images(
        &self,
        filter: &ImageFilter,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        self.inner.list_all_images(filter, query).await
    }
    async fn reset_thumbnails(
        &self,
        scope: ResetScope,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        self.inner.reset_thumbnails(scope, now).await
    }
    async fn usage(&self, owner: UserId) -> Result<imagevault_core::Usage, RepoError> {
        self.inner.usage(owner).await
    }
    async fn thumbnail_overview(
        &self,
        max_reasons: usize,
        examples_per_reason: usize,
    ) -> Result<imagevault_core::repo::ThumbnailOverview, RepoError> {
        self.inner
            .thumbnail_overview(max_reasons, examples_per_reason)
            .await
    }
    async fn find_image_by_digest(
        &self,
        owner: UserId,
        digest: &imagevault_core::ContentDigest,
    ) -> Result<Option<ImageId>, RepoError> {
        self.inner.find_image_by_digest(owner, digest).await
    }
}

#[async_trait]
impl LinkRepo for DeafRepo {
    async fn insert_link(&self, link: &ExpiringLink) -> Result<(), RepoError> {
        self.inner.insert_link(link).await
    }
    async fn get_link(&self, owner: UserId, id: LinkId) -> Result<Option<ExpiringLink>, RepoError> {
        self.inner.get_link(owner, id).await
    }
    async fn list_links(
        &self,
        owner: UserId,
        image: Option<ImageId>,
        query: &KeysetQuery,
    ) -> Result<Vec<ExpiringLink>, RepoError> {
        self.inner.list_links(owner, image, query).await
    }
    async fn update_link(&self, link: &ExpiringLink) -> Result<bool, RepoError> {
        self.inner.update_link(link).await
    }
    async fn delete_link(&self, owner: UserId, id: LinkId) -> Result<bool, RepoError> {
        self.inner.delete_link(owner, id).await
    }
    async fn find_link(&self, key: &LinkKey) -> Result<Option<LinkTarget>, RepoError> {
        self.inner.find_link(key).await
    }
    fn link_changes(&self) -> Option<ChangeFeed> {
        Some(self.feed.clone())
    }
}

#[async_trait]
impl SessionRepo for DeafRepo {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), RepoError> {
        self.inner.insert_session(session).await
    }
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionOwner>, RepoError> {
        self.inner.find_session(hash).await
    }
    async fn touch_session(
        &self,
        hash: &TokenHash,
        seen_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        self.inner.touch_session(hash, seen_at).await
    }
    async fn delete_session(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        self.inner.delete_session(hash).await
    }
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, RepoError> {
        self.inner.delete_user_sessions(user).await
    }
    async fn delete_ended_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        self.inner.delete_ended_sessions(idle_before, now).await
    }
}

#[async_trait]
impl HolderRepo for DeafRepo {
    async fn register_holder(&self, holder: &HolderRecord) -> Result<(), RepoError> {
        self.inner.register_holder(holder).await
    }
    async fn heartbeat_holder(
        &self,
        id: HolderId,
        heartbeat_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        self.inner.heartbeat_holder(id, heartbeat_at).await
    }
    async fn list_holders(&self) -> Result<Vec<HolderRecord>, RepoError> {
        self.inner.list_holders().await
    }
    async fn remove_holder(
        &self,
        id: HolderId,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> Result<bool, RepoError> {
        self.inner.remove_holder(id, seen_heartbeat).await
    }
}

#[async_trait]
impl Repo for DeafRepo {
    async fn ping(&self) -> Result<(), RepoError> {
        self.inner.ping().await
    }

    fn pool_stats(&self) -> Option<imagevault_core::repo::PoolStats> {
        self.inner.pool_stats()
    }
}

fn seconds(n: i64) -> ExpirySeconds {
    ExpirySeconds::new(n).unwrap()
}

/// A vault on a deaf repository, and direct access to that repository.
fn deaf_vault() -> (TestVault, Arc<DeafRepo>) {
    let repo = Arc::new(DeafRepo::new());
    (TestVault::with_repo(repo.clone()), repo)
}

async fn resolves(test: &TestVault, path: &str) -> Result<(), VaultError> {
    test.vault.resolve_media(path).await.map(|_| ())
}

#[tokio::test]
async fn resolutions_are_cached_until_the_feed_or_the_vault_says_otherwise() {
    let (t, repo) = deaf_vault();
    let user = t.user(Some(PlanId::ENTERPRISE)).await;
    let image = t.upload(&user, png(12, 10)).await;
    let link = t
        .vault
        .create_link(&user, image.image.id, seconds(3600))
        .await
        .unwrap();
    resolves(&t, &link.media_path).await.unwrap();

    // Deleted behind the vault's back, with no report: the cached answer stands, which
    // shows that the checks below exercise the cache.
    assert!(
        repo.inner
            .delete_link(user.user.id, link.link.id)
            .await
            .unwrap()
    );
    assert!(
        resolves(&t, &link.media_path).await.is_ok(),
        "an unreported change is not seen: the link is served from the cache"
    );
}

#[tokio::test]
async fn every_change_through_the_vault_drops_cached_links_at_once() {
    let (t, _repo) = deaf_vault();
    let admin = t.admin().await;
    let spec = PlanSpec {
        name: PlanName::parse("Links").unwrap(),
        thumbnail_heights: ThumbnailHeights::new([200]).unwrap(),
        thumbnail_formats: Default::default(),
        original_link: false,
        expiring_links: true,
        quota: Default::default(),
        strip_metadata: false,
    };
    let plan = t.vault.create_plan(&admin, spec.clone()).await.unwrap();

    // Each step: a fresh user, image and cached link, one change through the vault, and
    // the answer that change must give at once. (Deleting a plan is left out: a plan
    // still assigned cannot be deleted, so no link can depend on a deleted plan.)
    for step in 0..6 {
        let owner_plan = if step == 5 {
            plan.id
        } else {
            PlanId::ENTERPRISE
        };
        let user = t.user(Some(owner_plan)).await;
        let image = t.upload(&user, png(12, 10)).await;
        let link = t
            .vault
            .create_link(&user, image.image.id, seconds(600))
            .await
            .unwrap();
        resolves(&t, &link.media_path).await.unwrap();
        resolves(&t, &link.media_path).await.unwrap();
        let (what, expected_expired) = match step {
            0 => {
                t.vault.delete_link(&user, link.link.id).await.unwrap();
                ("deleting the link", false)
            }
            1 => {
                // Moved back to 300 s after 400 s have passed: expired now.
                t.clock.advance(TimeDelta::seconds(400));
                t.vault
                    .update_link(&user, link.link.id, seconds(300))
                    .await
                    .unwrap();
                ("shortening the link", true)
            }
            2 => {
                t.vault.delete_image(&user, image.image.id).await.unwrap();
                ("deleting the image", false)
            }
            3 => {
                let changes = UserChanges {
                    plan: Some(Some(PlanId::PREMIUM)),
                    ..Default::default()
                };
                t.vault
                    .update_user(&admin, user.user.id, changes)
                    .await
                    .unwrap();
                ("moving the owner to a plan without links", false)
            }
            4 => {
                t.vault.delete_user(&admin, user.user.id).await.unwrap();
                ("deleting the owner", false)
            }
            _ => {
                let without_links = PlanSpec {
                    expiring_links: false,
                    ..spec.clone()
                };
                t.vault
                    .update_plan(&admin, plan.id, without_links)
                    .await
                    .unwrap();
                ("taking expiring links from the owner's plan", false)
            }
        };
        let answer = resolves(&t, &link.media_path).await;
        if expected_expired {
            assert!(
                matches!(answer, Err(VaultError::LinkExpired)),
                "{what}: {answer:?}"
            );
        } else {
            assert!(
                matches!(answer, Err(VaultError::NotFound)),
                "{what} must stop the link at once: {answer:?}"
            );
        }
    }
}

#[tokio::test]
async fn original_resolutions_are_cached_until_the_feed_or_the_vault_says_otherwise() {
    let (t, repo) = deaf_vault();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let image = t.upload(&user, png(12, 10)).await;
    let path = image.image.storage_key.as_str().to_owned();
    resolves(&t, &path).await.unwrap();

    // Deleted behind the vault's back, with no report: the cached answer stands, which
    // shows that the checks below exercise the cache.
    assert!(
        repo.inner
            .delete_image(user.user.id, image.image.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        resolves(&t, &path).await.is_ok(),
        "an unreported change is not seen: the original is resolved from the cache"
    );
}

#[tokio::test]
async fn every_change_through_the_vault_drops_cached_originals_at_once() {
    let (t, _repo) = deaf_vault();
    let admin = t.admin().await;
    let spec = PlanSpec {
        name: PlanName::parse("Originals").unwrap(),
        thumbnail_heights: ThumbnailHeights::new([200]).unwrap(),
        thumbnail_formats: Default::default(),
        original_link: true,
        expiring_links: false,
        quota: Default::default(),
        strip_metadata: false,
    };
    let plan = t.vault.create_plan(&admin, spec.clone()).await.unwrap();

    // Each step: a fresh user and image whose original is resolved (and cached), one
    // change through the vault, and the original must stop resolving at once.
    for step in 0..4 {
        let owner_plan = if step == 3 { plan.id } else { PlanId::PREMIUM };
        let user = t.user(Some(owner_plan)).await;
        let image = t.upload(&user, png(12, 10)).await;
        let path = image.image.storage_key.as_str().to_owned();
        resolves(&t, &path).await.unwrap();
        resolves(&t, &path).await.unwrap();
        let what = match step {
            0 => {
                t.vault.delete_image(&user, image.image.id).await.unwrap();
                "deleting the image"
            }
            1 => {
                let changes = UserChanges {
                    plan: Some(Some(PlanId::BASIC)),
                    ..Default::default()
                };
                t.vault
                    .update_user(&admin, user.user.id, changes)
                    .await
                    .unwrap();
                "moving the owner to a plan without original links"
            }
            2 => {
                t.vault.delete_user(&admin, user.user.id).await.unwrap();
                "deleting the owner"
            }
            _ => {
                let without_originals = PlanSpec {
                    original_link: false,
                    ..spec.clone()
                };
                t.vault
                    .update_plan(&admin, plan.id, without_originals)
                    .await
                    .unwrap();
                "taking original links from the owner's plan"
            }
        };
        let answer = resolves(&t, &path).await;
        assert!(
            matches!(answer, Err(VaultError::NotFound)),
            "{what} must stop the original at once: {answer:?}"
        );
    }
}

async fn authenticates(test: &TestVault, token: &str) -> Result<Account, VaultError> {
    test.vault.authenticate_token(token).await
}

#[tokio::test]
async fn token_accounts_are_cached_until_the_feed_or_the_vault_says_otherwise() {
    let (t, repo) = deaf_vault();
    let user = t.user(Some(PlanId::BASIC)).await;
    let token = t.vault.issue_token(&user).await.unwrap();
    assert_eq!(authenticates(&t, token.expose()).await.unwrap(), user);

    // Revoked behind the vault's back, with no report: the cached account stands, which
    // shows that the checks below exercise the cache.
    assert!(repo.inner.delete_token(&token.token.hash()).await.unwrap());
    assert_eq!(
        authenticates(&t, token.expose()).await.unwrap(),
        user,
        "an unreported change is not seen: the account comes from the cache"
    );
}

#[tokio::test]
async fn every_change_through_the_vault_drops_cached_accounts_at_once() {
    let (t, _repo) = deaf_vault();
    let admin = t.admin().await;
    let spec = PlanSpec {
        name: PlanName::parse("Tall").unwrap(),
        thumbnail_heights: ThumbnailHeights::new([300]).unwrap(),
        thumbnail_formats: Default::default(),
        original_link: false,
        expiring_links: false,
        quota: Default::default(),
        strip_metadata: false,
    };
    let plan = t.vault.create_plan(&admin, spec.clone()).await.unwrap();

    // Each step: a fresh user and token, its account cached, one change through the
    // vault, and what the token must give at once.
    for step in 0..6 {
        let user = t
            .user(Some(if step == 4 { plan.id } else { PlanId::BASIC }))
            .await;
        let token = t.vault.issue_token(&user).await.unwrap();
        authenticates(&t, token.expose()).await.unwrap();
        assert_eq!(authenticates(&t, token.expose()).await.unwrap(), user);
        let change = |changes: UserChanges| {
            let (t, admin, id) = (&t, &admin, user.user.id);
            async move { t.vault.update_user(admin, id, changes).await.unwrap() }
        };
        let (what, answer) = match step {
            0 => {
                t.vault.revoke_token(token.expose()).await.unwrap();
                (
                    "revoking the token",
                    authenticates(&t, token.expose()).await,
                )
            }
            1 => {
                t.vault.delete_user(&admin, user.user.id).await.unwrap();
                ("deleting the user", authenticates(&t, token.expose()).await)
            }
            2 => {
                change(UserChanges {
                    plan: Some(Some(PlanId::PREMIUM)),
                    ..Default::default()
                })
                .await;
                let account = authenticates(&t, token.expose()).await.unwrap();
                assert_eq!(
                    account.plan.map(|plan| plan.id),
                    Some(PlanId::PREMIUM),
                    "moving the user to another plan must show at once"
                );
                continue;
            }
            3 => {
                change(UserChanges {
                    is_admin: Some(true),
                    ..Default::default()
                })
                .await;
                let account = authenticates(&t, token.expose()).await.unwrap();
                assert!(
                    account.user.is_admin,
                    "making the user an admin must show at once"
                );
                change(UserChanges {
                    is_admin: Some(false),
                    ..Default::default()
                })
                .await;
                let account = authenticates(&t, token.expose()).await.unwrap();
                assert!(
                    !account.user.is_admin,
                    "taking admin rights away must show at once"
                );
                continue;
            }
            4 => {
                let shorter = PlanSpec {
                    thumbnail_heights: ThumbnailHeights::new([150]).unwrap(),
                    ..spec.clone()
                };
                t.vault.update_plan(&admin, plan.id, shorter).await.unwrap();
                let account = authenticates(&t, token.expose()).await.unwrap();
                let heights = account.plan.map(|plan| plan.thumbnail_heights);
                assert_eq!(
                    heights,
                    Some(ThumbnailHeights::new([150]).unwrap()),
                    "changing the user's plan must show at once"
                );
                continue;
            }
            _ => {
                change(UserChanges {
                    plan: Some(None),
                    ..Default::default()
                })
                .await;
                let account = authenticates(&t, token.expose()).await.unwrap();
                assert_eq!(account.plan, None, "taking the plan away must show at once");
                continue;
            }
        };
        assert!(
            matches!(answer, Err(VaultError::InvalidCredentials)),
            "{what} must stop the token at once: {answer:?}"
        );
    }
}

/// A ready thumbnail of a fresh image of `user`'s: the image's id and the thumbnail's
/// resolved media object.
async fn ready_thumbnail(t: &TestVault, user: &Account) -> (ImageId, imagevault_core::MediaObject) {
    let view = t.upload(user, png(300, 600)).await;
    t.run_jobs().await;
    let view = t.vault.get_image(user, view.image.id).await.unwrap();
    let key = view.thumbnails[0].storage_key.clone().unwrap();
    let media = t.vault.resolve_media(key.as_str()).await.unwrap();
    (view.image.id, media)
}

/// The thumbnail's bytes at `range` as the vault serves them, or `None` if it has none.
async fn served(
    t: &TestVault,
    media: &imagevault_core::MediaObject,
    range: Option<std::ops::Range<u64>>,
) -> Option<bytes::Bytes> {
    let object = t.vault.open_media(media, range).await.unwrap()?;
    Some(object.bytes().await.unwrap())
}

#[tokio::test]
async fn thumbnails_are_served_from_memory_until_their_image_is_deleted() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let (image, media) = ready_thumbnail(&t, &user).await;
    let stored = t.fetch(&media.key).await;
    assert_eq!(served(&t, &media, None).await, Some(stored.clone()));

    // Gone from storage behind the vault's back, with no change reported: the copy in
    // memory is served, whole and in part, which shows that the checks below exercise
    // the cache.
    t.vault.storage().delete(&media.key).await.unwrap();
    assert_eq!(served(&t, &media, None).await, Some(stored.clone()));
    assert_eq!(
        served(&t, &media, Some(2..9)).await,
        Some(stored.slice(2..9))
    );
    assert!(
        t.vault
            .open_media(&media, Some(0..stored.len() as u64 + 1))
            .await
            .is_err(),
        "a range beyond the cached object is refused, as storage refuses it"
    );

    // The image deleted in the repository, not through this vault (as another process
    // would): the change feed reports it, and the cached copy is no longer served.
    assert!(
        t.vault
            .repo()
            .delete_image(user.user.id, image)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(served(&t, &media, None).await, None);
}

#[tokio::test]
async fn thumbnails_of_images_deleted_through_the_vault_stop_at_once() {
    let (t, _repo) = deaf_vault();
    let user = t.user(Some(PlanId::BASIC)).await;
    let (image, media) = ready_thumbnail(&t, &user).await;
    assert!(served(&t, &media, None).await.is_some());
    assert!(served(&t, &media, None).await.is_some());
    t.vault.delete_image(&user, image).await.unwrap();
    assert_eq!(
        served(&t, &media, None).await,
        None,
        "a deleted image's thumbnail must stop at once, though the feed never reports"
    );
}
