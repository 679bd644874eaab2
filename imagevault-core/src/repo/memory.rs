//! [`MemoryRepo`]: the [`Repo`](crate::Repo) port in process memory, for tests, examples and
//! single-process programs that need no persistence.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::auth::TokenHash;
use crate::holder::{HolderId, HolderRecord};
use crate::image::{ContentDigest, Image, ImageId, ImageRecord, Usage};
use crate::link::{ExpiringLink, LinkId, LinkKey};
use crate::page::{KeysetQuery, Positioned};
use crate::placeholder::Placeholder;
use crate::plan::{Plan, PlanId, ThumbnailHeight};
use crate::repo::{
    ChangeFeed, ChangeNotifier, Conflict, HolderRepo, ImageFilter, ImageRepo, LinkRepo, LinkTarget,
    OriginalTarget, PlanRepo, Repo, RepoError, ResetScope, SessionOwner, SessionRepo, TokenOwner,
    Totals, UserRepo, WorkScope,
};
use crate::repo::{FailureGroup, PlanThumbnailCounts, ThumbnailOverview};
use crate::session::SessionRecord;
use crate::storage_key::StorageKey;
use crate::thumbnail::{Thumbnail, ThumbnailStatus};
use crate::user::{PasswordHash, TokenRecord, User, UserId, Username};

/// A [`Repo`] in process memory, starting with the built-in plans.
///
/// It enforces the same uniqueness and reference rules as the SQL backends. Lists sort on
/// each call, which suits tests and small embedded uses, not millions of rows.
///
/// ```
/// use imagevault_core::{MemoryRepo, PlanId, PlanRepo};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let repo = MemoryRepo::new();
/// let basic = repo.get_plan(PlanId::BASIC).await.unwrap().unwrap();
/// assert_eq!(basic.name.as_str(), "Basic");
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryRepo {
    state: Mutex<State>,
    /// Told of every change that can alter a `find_link` answer; always connected, since
    /// every change is made here.
    link_changes: ChangeNotifier,
    link_feed: ChangeFeed,
    /// Told of every change that can alter a `find_token_owner` answer; likewise.
    account_changes: ChangeNotifier,
    account_feed: ChangeFeed,
}

#[derive(Debug, Default)]
struct State {
    plans: HashMap<PlanId, Plan>,
    users: HashMap<UserId, User>,
    tokens: HashMap<[u8; 32], TokenRecord>,
    sessions: HashMap<[u8; 32], SessionRecord>,
    /// Users marked by `begin_user_deletion`, with the time of the mark.
    deleting: HashMap<UserId, DateTime<Utc>>,
    images: HashMap<ImageId, Image>,
    thumbnails: BTreeMap<(ImageId, ThumbnailHeight), Thumbnail>,
    links: HashMap<LinkId, ExpiringLink>,
    holders: HashMap<HolderId, HolderRecord>,
}

impl Default for MemoryRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRepo {
    /// An empty repository holding only the built-in plans.
    pub fn new() -> Self {
        let mut state = State::default();
        for plan in Plan::builtin() {
            state.plans.insert(plan.id, plan);
        }
        let (link_changes, link_feed) = ChangeFeed::connected();
        let (account_changes, account_feed) = ChangeFeed::connected();
        Self {
            state: Mutex::new(state),
            link_changes,
            link_feed,
            account_changes,
            account_feed,
        }
    }

    /// `update_user`, also deleting the user's tokens and sessions under the same lock when
    /// `revoke_logins`.
    fn replace_user(&self, user: &User, revoke_logins: bool) -> Result<bool, RepoError> {
        let mut state = self.state();
        let Some(stored) = state.users.get(&user.id) else {
            return Ok(false);
        };
        if state.deleting.contains_key(&user.id) {
            return Ok(false);
        }
        let created_at = stored.created_at;
        state.check_user(user)?;
        state.users.insert(
            user.id,
            User {
                created_at,
                ..user.clone()
            },
        );
        if revoke_logins {
            state.tokens.retain(|_, token| token.user_id != user.id);
            state
                .sessions
                .retain(|_, session| session.user_id != user.id);
        }
        self.link_changes.changed();
        self.account_changes.changed();
        Ok(true)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-made change: every method
        // validates before it mutates. So a poisoned lock is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn record(&self, image: &Image) -> ImageRecord {
        ImageRecord {
            image: image.clone(),
            thumbnails: self
                .thumbnails
                .range((image.id, ThumbnailHeight::SMALLEST)..)
                .take_while(|((id, _), _)| *id == image.id)
                .map(|(_, thumbnail)| thumbnail.clone())
                .collect(),
        }
    }

    fn owner_plan(&self, owner: UserId) -> Option<Plan> {
        let plan_id = self.users.get(&owner)?.plan_id?;
        self.plans.get(&plan_id).cloned()
    }

    /// What `owner`'s images take up: counted on each call, as lists are sorted on each.
    fn usage(&self, owner: UserId) -> Usage {
        self.images
            .values()
            .filter(|image| image.owner == owner)
            .fold(Usage::default(), |usage, image| Usage {
                images: usage.images + 1,
                bytes: usage.bytes.saturating_add(image.size),
            })
    }

    fn remove_image(&mut self, id: ImageId) -> Option<ImageRecord> {
        let image = self.images.remove(&id)?;
        let record = self.record(&image);
        self.thumbnails.retain(|(image_id, _), _| *image_id != id);
        self.links.retain(|_, link| link.image_id != id);
        Some(record)
    }

    fn check_user(&self, user: &User) -> Result<(), RepoError> {
        if self
            .users
            .values()
            .any(|other| other.id != user.id && other.username == user.username)
        {
            return Err(Conflict::UsernameTaken.into());
        }
        if let Some(plan) = user.plan_id
            && !self.plans.contains_key(&plan)
        {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    /// Whether pending `row` may be claimed: its lease lapsed, or its holder is gone.
    fn claimable(&self, row: &Thumbnail, stale_before: DateTime<Utc>) -> bool {
        row.status == ThumbnailStatus::Pending
            && (row.updated_at < stale_before
                || row
                    .lease_holder
                    .is_some_and(|holder| !self.holders.contains_key(&holder)))
    }

    fn check_plan_name(&self, plan: &Plan) -> Result<(), RepoError> {
        if self
            .plans
            .values()
            .any(|other| other.id != plan.id && other.name == plan.name)
        {
            return Err(Conflict::PlanNameTaken.into());
        }
        Ok(())
    }
}

fn newest_first<T: Clone + Positioned>(
    items: impl Iterator<Item = T>,
    query: &KeysetQuery,
) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    items.sort_by_key(|item| std::cmp::Reverse(item.position()));
    query.select(&items, Positioned::position)
}

#[async_trait]
impl PlanRepo for MemoryRepo {
    async fn create_plan(&self, plan: &Plan) -> Result<(), RepoError> {
        let mut state = self.state();
        state.check_plan_name(plan)?;
        state.plans.insert(plan.id, plan.clone());
        Ok(())
    }

    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>, RepoError> {
        Ok(self.state().plans.get(&id).cloned())
    }

    async fn find_plan_by_name(&self, name: &str) -> Result<Option<Plan>, RepoError> {
        Ok(self
            .state()
            .plans
            .values()
            .find(|plan| plan.name.as_str() == name)
            .cloned())
    }

    async fn list_plans(&self, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError> {
        let state = self.state();
        Ok(newest_first(state.plans.values().cloned(), query))
    }

    async fn update_plan(&self, plan: &Plan) -> Result<bool, RepoError> {
        let mut state = self.state();
        let Some(stored) = state.plans.get(&plan.id) else {
            return Ok(false);
        };
        let created_at = stored.created_at;
        state.check_plan_name(plan)?;
        state.plans.insert(
            plan.id,
            Plan {
                created_at,
                ..plan.clone()
            },
        );
        self.link_changes.changed();
        self.account_changes.changed();
        Ok(true)
    }

    async fn delete_plan(&self, id: PlanId) -> Result<bool, RepoError> {
        let mut state = self.state();
        if !state.plans.contains_key(&id) {
            return Ok(false);
        }
        if state.users.values().any(|user| user.plan_id == Some(id)) {
            return Err(Conflict::PlanInUse.into());
        }
        state.plans.remove(&id);
        self.link_changes.changed();
        self.account_changes.changed();
        Ok(true)
    }

    async fn plan_user_counts(&self) -> Result<Vec<(PlanId, u64)>, RepoError> {
        let state = self.state();
        let mut counts: HashMap<PlanId, u64> = state.plans.keys().map(|&id| (id, 0)).collect();
        for plan in state.users.values().filter_map(|user| user.plan_id) {
            if let Some(count) = counts.get_mut(&plan) {
                *count += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }
}

#[async_trait]
impl UserRepo for MemoryRepo {
    async fn create_user(&self, user: &User) -> Result<(), RepoError> {
        let mut state = self.state();
        state.check_user(user)?;
        state.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.state().users.get(&id).cloned())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, RepoError> {
        Ok(self
            .state()
            .users
            .values()
            .find(|user| &user.username == username)
            .cloned())
    }

    async fn list_users(&self, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        let state = self.state();
        Ok(newest_first(state.users.values().cloned(), query))
    }

    async fn search_users(&self, text: &str, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        let text = text.to_ascii_lowercase();
        let state = self.state();
        Ok(newest_first(
            state
                .users
                .values()
                .filter(|user| user.username.as_str().to_ascii_lowercase().contains(&text))
                .cloned(),
            query,
        ))
    }

    async fn update_user(&self, user: &User) -> Result<bool, RepoError> {
        self.replace_user(user, false)
    }

    async fn update_user_revoking_logins(&self, user: &User) -> Result<bool, RepoError> {
        self.replace_user(user, true)
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, RepoError> {
        let mut state = self.state();
        if state.users.remove(&id).is_none() {
            return Ok(false);
        }
        state.deleting.remove(&id);
        state.tokens.retain(|_, token| token.user_id != id);
        state.sessions.retain(|_, session| session.user_id != id);
        let images: Vec<ImageId> = state
            .images
            .values()
            .filter(|image| image.owner == id)
            .map(|image| image.id)
            .collect();
        for image in images {
            state.remove_image(image);
        }
        state.links.retain(|_, link| link.owner != id);
        self.link_changes.changed();
        self.account_changes.changed();
        Ok(true)
    }

    async fn begin_user_deletion(&self, id: UserId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let mut state = self.state();
        let State {
            users,
            tokens,
            sessions,
            links,
            deleting,
            ..
        } = &mut *state;
        let Some(user) = users.get_mut(&id) else {
            return Ok(false);
        };
        user.password_hash = PasswordHash::unusable();
        user.plan_id = None;
        tokens.retain(|_, token| token.user_id != id);
        sessions.retain(|_, session| session.user_id != id);
        links.retain(|_, link| link.owner != id);
        deleting.entry(id).or_insert(now);
        self.account_changes.changed();
        self.link_changes.changed();
        Ok(true)
    }

    async fn users_being_deleted(&self, limit: usize) -> Result<Vec<UserId>, RepoError> {
        let state = self.state();
        let mut marked: Vec<(DateTime<Utc>, UserId)> = state
            .deleting
            .iter()
            .map(|(&user, &order)| (order, user))
            .collect();
        marked.sort_unstable();
        Ok(marked
            .into_iter()
            .take(limit)
            .map(|(_, user)| user)
            .collect())
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), RepoError> {
        let mut state = self.state();
        if !state.users.contains_key(&token.user_id) || state.deleting.contains_key(&token.user_id)
        {
            return Err(Conflict::MissingReference.into());
        }
        state.tokens.insert(*token.hash.as_bytes(), token.clone());
        Ok(())
    }

    async fn find_token_owner(&self, hash: &TokenHash) -> Result<Option<TokenOwner>, RepoError> {
        let state = self.state();
        Ok(state
            .tokens
            .get(hash.as_bytes())
            .and_then(|token| Some((token, state.users.get(&token.user_id)?)))
            .map(|(token, user)| TokenOwner {
                user: user.clone(),
                plan: state.owner_plan(user.id),
                expires_at: token.expires_at,
                last_used_at: token.last_used_at,
            }))
    }

    async fn delete_token(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        let removed = self.state().tokens.remove(hash.as_bytes()).is_some();
        if removed {
            self.account_changes.changed();
        }
        Ok(removed)
    }

    async fn delete_user_tokens(&self, user: UserId) -> Result<u64, RepoError> {
        let mut state = self.state();
        let before = state.tokens.len();
        state.tokens.retain(|_, token| token.user_id != user);
        let removed = before - state.tokens.len();
        if removed > 0 {
            self.account_changes.changed();
        }
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }

    async fn list_user_tokens(&self, user: UserId) -> Result<Vec<TokenRecord>, RepoError> {
        let state = self.state();
        let mut tokens: Vec<TokenRecord> = state
            .tokens
            .values()
            .filter(|token| token.user_id == user)
            .cloned()
            .collect();
        tokens.sort_by(|a, b| {
            (b.created_at, b.hash.as_bytes()).cmp(&(a.created_at, a.hash.as_bytes()))
        });
        Ok(tokens)
    }

    async fn touch_token(
        &self,
        hash: &TokenHash,
        used_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        // No account change: see the contract.
        Ok(match self.state().tokens.get_mut(hash.as_bytes()) {
            Some(token) => {
                token.last_used_at = Some(used_at);
                true
            }
            None => false,
        })
    }

    fn account_changes(&self) -> Option<ChangeFeed> {
        Some(self.account_feed.clone())
    }
}

#[async_trait]
impl ImageRepo for MemoryRepo {
    async fn insert_image(&self, record: &ImageRecord) -> Result<(), RepoError> {
        let mut state = self.state();
        let owner = record.image.owner;
        let Some(user) = state.users.get(&owner) else {
            return Err(Conflict::MissingReference.into());
        };
        // Checked and inserted under one lock: concurrent inserts cannot pass the quota.
        let plan_quota = state.owner_plan(owner).map(|plan| plan.quota);
        user.quota
            .admit(plan_quota.as_ref(), state.usage(owner), record.image.size)
            .map_err(Conflict::from)?;
        state.images.insert(record.image.id, record.image.clone());
        for thumbnail in &record.thumbnails {
            state.thumbnails.insert(
                (thumbnail.image_id, thumbnail.max_height),
                thumbnail.clone(),
            );
        }
        Ok(())
    }

    async fn get_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        let state = self.state();
        Ok(state
            .images
            .get(&id)
            .filter(|image| image.owner == owner)
            .map(|image| state.record(image)))
    }

    async fn get_image_by_id(&self, id: ImageId) -> Result<Option<ImageRecord>, RepoError> {
        let state = self.state();
        Ok(state.images.get(&id).map(|image| state.record(image)))
    }

    async fn list_images(
        &self,
        owner: UserId,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        let state = self.state();
        let page = newest_first(
            state
                .images
                .values()
                .filter(|image| image.owner == owner)
                .cloned(),
            query,
        );
        Ok(page.iter().map(|image| state.record(image)).collect())
    }

    async fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        let mut state = self.state();
        if state
            .images
            .get(&id)
            .is_none_or(|image| image.owner != owner)
        {
            return Ok(None);
        }
        let removed = state.remove_image(id);
        self.link_changes.changed();
        Ok(removed)
    }

    async fn find_original(&self, key: &StorageKey) -> Result<Option<OriginalTarget>, RepoError> {
        let state = self.state();
        Ok(state
            .images
            .values()
            .find(|image| &image.storage_key == key)
            .map(|image| OriginalTarget {
                image: image.clone(),
                owner_plan: state.owner_plan(image.owner),
            }))
    }

    async fn referenced_keys(&self, keys: &[StorageKey]) -> Result<HashSet<StorageKey>, RepoError> {
        let wanted: HashSet<&StorageKey> = keys.iter().collect();
        if wanted.is_empty() {
            return Ok(HashSet::new());
        }
        let state = self.state();
        let originals = state.images.values().map(|image| &image.storage_key);
        let thumbnails = state
            .thumbnails
            .values()
            .flat_map(|thumbnail| [&thumbnail.storage_key, &thumbnail.webp_storage_key])
            .flatten();
        Ok(originals
            .chain(thumbnails)
            .filter(|key| wanted.contains(key))
            .cloned()
            .collect())
    }

    async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError> {
        let mut state = self.state();
        for row in rows {
            if state.images.contains_key(&row.image_id) {
                state
                    .thumbnails
                    .entry((row.image_id, row.max_height))
                    .or_insert_with(|| row.clone());
            }
        }
        Ok(())
    }

    async fn start_thumbnail_attempt(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        now: DateTime<Utc>,
        holder: Option<HolderId>,
    ) -> Result<(), RepoError> {
        let mut state = self.state();
        for height in heights {
            if let Some(row) = state.thumbnails.get_mut(&(image, *height))
                && row.status == ThumbnailStatus::Pending
            {
                row.attempts = row.attempts.saturating_add(1);
                row.updated_at = now;
                row.lease_holder = holder;
            }
        }
        Ok(())
    }

    async fn complete_thumbnail(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        key: &StorageKey,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut state = self.state();
        match state.thumbnails.get_mut(&(image, height)) {
            Some(row) if row.status == ThumbnailStatus::Pending => {
                row.status = ThumbnailStatus::Ready;
                row.storage_key = Some(key.clone());
                row.failure = None;
                row.updated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_placeholder(
        &self,
        image: ImageId,
        placeholder: &Placeholder,
    ) -> Result<bool, RepoError> {
        let mut state = self.state();
        Ok(match state.images.get_mut(&image) {
            Some(image) => {
                image.placeholder = Some(placeholder.clone());
                true
            }
            None => false,
        })
    }

    async fn attach_thumbnail_webp(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        webp_key: &StorageKey,
    ) -> Result<bool, RepoError> {
        let mut state = self.state();
        match state.thumbnails.get_mut(&(image, height)) {
            Some(row) if row.status == ThumbnailStatus::Pending => {
                row.webp_storage_key = Some(webp_key.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn fail_thumbnails(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut state = self.state();
        for height in heights {
            if let Some(row) = state.thumbnails.get_mut(&(image, *height))
                && row.status == ThumbnailStatus::Pending
            {
                row.status = ThumbnailStatus::Failed;
                row.failure = Some(reason.to_owned());
                row.updated_at = now;
            }
        }
        Ok(())
    }

    async fn claim_thumbnail_work(
        &self,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
        holder: Option<HolderId>,
    ) -> Result<Vec<ImageId>, RepoError> {
        let mut state = self.state();
        // Read once, not once per image.
        let lapsed: HashSet<ImageId> = match scope {
            WorkScope::LapsedLeases => state
                .thumbnails
                .values()
                .filter(|row| state.claimable(row, stale_before))
                .map(|row| row.image_id)
                .collect(),
            _ => HashSet::new(),
        };
        let mut candidates: Vec<Image> = state
            .images
            .values()
            .filter(|image| match scope {
                WorkScope::All => true,
                WorkScope::LapsedLeases => lapsed.contains(&image.id),
                WorkScope::Owner(owner) => image.owner == owner,
                WorkScope::Plan(plan) => {
                    state.users.get(&image.owner).and_then(|user| user.plan_id) == Some(plan)
                }
            })
            .cloned()
            .collect();
        // Oldest first, so that a backlog drains in upload order.
        candidates.sort_by_key(Positioned::position);
        let mut claimed = Vec::new();
        for image in candidates {
            if claimed.len() >= limit {
                break;
            }
            let Some(plan) = state.owner_plan(image.owner) else {
                continue;
            };
            let mut touched = false;
            for &height in plan.thumbnail_heights.as_slice() {
                let claimable = state
                    .thumbnails
                    .get(&(image.id, height))
                    .is_some_and(|row| state.claimable(row, stale_before));
                match state.thumbnails.get_mut(&(image.id, height)) {
                    None => {
                        let row = Thumbnail {
                            lease_holder: holder,
                            ..Thumbnail::pending(image.id, height, image.width, image.height, now)
                        };
                        state.thumbnails.insert((image.id, height), row);
                        touched = true;
                    }
                    Some(row) if claimable => {
                        row.updated_at = now;
                        row.lease_holder = holder;
                        touched = true;
                    }
                    // The plan gained WebP: made again, with the variant.
                    Some(row)
                        if row.status == ThumbnailStatus::Ready
                            && row.webp_storage_key.is_none()
                            && plan.thumbnail_formats.webp() =>
                    {
                        row.status = ThumbnailStatus::Pending;
                        row.attempts = 0;
                        row.failure = None;
                        row.updated_at = now;
                        row.lease_holder = holder;
                        touched = true;
                    }
                    Some(_) => {}
                }
            }
            if touched {
                claimed.push(image.id);
            }
        }
        Ok(claimed)
    }

    async fn totals(&self) -> Result<Totals, RepoError> {
        let state = self.state();
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let thumbnails = |status: ThumbnailStatus| {
            count(
                state
                    .thumbnails
                    .values()
                    .filter(|row| row.status == status)
                    .count(),
            )
        };
        Ok(Totals {
            users: count(state.users.len() - state.deleting.len()),
            images: count(state.images.len()),
            bytes: state
                .images
                .values()
                .fold(0u64, |sum, image| sum.saturating_add(image.size)),
            thumbnails_pending: thumbnails(ThumbnailStatus::Pending),
            thumbnails_failed: thumbnails(ThumbnailStatus::Failed),
        })
    }

    async fn list_all_images(
        &self,
        filter: &ImageFilter,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        let state = self.state();
        // Read once, not once per image.
        let failed: HashSet<ImageId> = if filter.failed_thumbnails_only {
            state
                .thumbnails
                .values()
                .filter(|row| row.status == ThumbnailStatus::Failed)
                .map(|row| row.image_id)
                .collect()
        } else {
            HashSet::new()
        };
        let page = newest_first(
            state
                .images
                .values()
                .filter(|image| {
                    filter.owner.is_none_or(|owner| image.owner == owner)
                        && (!filter.failed_thumbnails_only || failed.contains(&image.id))
                })
                .cloned(),
            query,
        );
        Ok(page.iter().map(|image| state.record(image)).collect())
    }

    async fn reset_thumbnails(
        &self,
        scope: ResetScope,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let mut state = self.state();
        let State {
            thumbnails,
            images,
            users,
            ..
        } = &mut *state;
        let mut reset = 0u64;
        for row in thumbnails.values_mut() {
            let owner = || images.get(&row.image_id).map(|image| image.owner);
            let in_scope = match scope {
                ResetScope::Image(image) => row.image_id == image,
                ResetScope::Failed => row.status == ThumbnailStatus::Failed,
                ResetScope::Owner(user) => owner() == Some(user),
                ResetScope::Plan(plan) => owner()
                    .and_then(|owner| users.get(&owner))
                    .is_some_and(|user| user.plan_id == Some(plan)),
            };
            if in_scope {
                row.status = ThumbnailStatus::Pending;
                row.attempts = 0;
                row.failure = None;
                row.updated_at = now;
                row.lease_holder = None;
                reset += 1;
            }
        }
        Ok(reset)
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, RepoError> {
        Ok(self.state().usage(owner))
    }

    async fn thumbnail_overview(
        &self,
        max_reasons: usize,
        examples_per_reason: usize,
    ) -> Result<ThumbnailOverview, RepoError> {
        let state = self.state();
        let mut by_plan: HashMap<Option<PlanId>, PlanThumbnailCounts> = HashMap::new();
        // Reason -> (count, image ids in order); BTree so that ties sort by reason.
        let mut failures: BTreeMap<Option<String>, (u64, Vec<ImageId>)> = BTreeMap::new();
        for row in state.thumbnails.values() {
            let plan = state
                .images
                .get(&row.image_id)
                .and_then(|image| state.users.get(&image.owner))
                .and_then(|user| user.plan_id);
            let counts = by_plan.entry(plan).or_insert(PlanThumbnailCounts {
                plan,
                ..PlanThumbnailCounts::default()
            });
            match row.status {
                ThumbnailStatus::Pending => counts.pending += 1,
                ThumbnailStatus::Ready => counts.ready += 1,
                ThumbnailStatus::Failed => {
                    counts.failed += 1;
                    let reason = row.failure.clone().filter(|reason| !reason.is_empty());
                    let (count, images) = failures.entry(reason).or_default();
                    *count += 1;
                    if !images.contains(&row.image_id) {
                        images.push(row.image_id);
                    }
                }
            }
        }
        let mut failures: Vec<FailureGroup> = failures
            .into_iter()
            .map(|(reason, (count, mut examples))| {
                examples.sort();
                examples.truncate(examples_per_reason);
                FailureGroup {
                    reason,
                    count,
                    examples,
                }
            })
            .collect();
        // Stable: equal counts keep the reasons' order.
        failures.sort_by_key(|group| std::cmp::Reverse(group.count));
        failures.truncate(max_reasons);
        Ok(ThumbnailOverview {
            by_plan: by_plan.into_values().collect(),
            failures,
        })
    }

    async fn find_image_by_digest(
        &self,
        owner: UserId,
        digest: &ContentDigest,
    ) -> Result<Option<ImageId>, RepoError> {
        Ok(self
            .state()
            .images
            .values()
            .filter(|image| image.owner == owner && image.digest.as_ref() == Some(digest))
            .min_by_key(|image| image.position())
            .map(|image| image.id))
    }
}

#[async_trait]
impl LinkRepo for MemoryRepo {
    async fn insert_link(&self, link: &ExpiringLink) -> Result<(), RepoError> {
        let mut state = self.state();
        if state
            .images
            .get(&link.image_id)
            .is_none_or(|image| image.owner != link.owner)
        {
            return Err(Conflict::MissingReference.into());
        }
        state.links.insert(link.id, link.clone());
        Ok(())
    }

    async fn get_link(&self, owner: UserId, id: LinkId) -> Result<Option<ExpiringLink>, RepoError> {
        Ok(self
            .state()
            .links
            .get(&id)
            .filter(|link| link.owner == owner)
            .cloned())
    }

    async fn list_links(
        &self,
        owner: UserId,
        image: Option<ImageId>,
        query: &KeysetQuery,
    ) -> Result<Vec<ExpiringLink>, RepoError> {
        let state = self.state();
        Ok(newest_first(
            state
                .links
                .values()
                .filter(|link| {
                    link.owner == owner && image.is_none_or(|image| link.image_id == image)
                })
                .cloned(),
            query,
        ))
    }

    async fn update_link(&self, link: &ExpiringLink) -> Result<bool, RepoError> {
        let mut state = self.state();
        match state.links.get_mut(&link.id) {
            Some(stored) if stored.owner == link.owner => {
                stored.expiry_seconds = link.expiry_seconds;
                stored.expires_at = link.expires_at;
                self.link_changes.changed();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_link(&self, owner: UserId, id: LinkId) -> Result<bool, RepoError> {
        let mut state = self.state();
        if state.links.get(&id).is_some_and(|link| link.owner == owner) {
            state.links.remove(&id);
            self.link_changes.changed();
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn find_link(&self, key: &LinkKey) -> Result<Option<LinkTarget>, RepoError> {
        let state = self.state();
        let Some(link) = state.links.values().find(|link| &link.key == key) else {
            return Ok(None);
        };
        Ok(state.images.get(&link.image_id).map(|image| LinkTarget {
            link: link.clone(),
            image: image.clone(),
            owner_plan: state.owner_plan(image.owner),
        }))
    }

    fn link_changes(&self) -> Option<ChangeFeed> {
        Some(self.link_feed.clone())
    }
}

#[async_trait]
impl SessionRepo for MemoryRepo {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), RepoError> {
        let mut state = self.state();
        if !state.users.contains_key(&session.user_id)
            || state.deleting.contains_key(&session.user_id)
        {
            return Err(Conflict::MissingReference.into());
        }
        state
            .sessions
            .insert(*session.hash.as_bytes(), session.clone());
        Ok(())
    }

    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionOwner>, RepoError> {
        let state = self.state();
        Ok(state
            .sessions
            .get(hash.as_bytes())
            .and_then(|session| Some((session, state.users.get(&session.user_id)?)))
            .map(|(session, user)| SessionOwner {
                session: session.clone(),
                user: user.clone(),
                plan: state.owner_plan(user.id),
            }))
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        seen_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        Ok(match self.state().sessions.get_mut(hash.as_bytes()) {
            Some(session) => {
                session.last_seen_at = seen_at;
                true
            }
            None => false,
        })
    }

    async fn delete_session(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        Ok(self.state().sessions.remove(hash.as_bytes()).is_some())
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, RepoError> {
        let mut state = self.state();
        let before = state.sessions.len();
        state.sessions.retain(|_, session| session.user_id != user);
        Ok(u64::try_from(before - state.sessions.len()).unwrap_or(u64::MAX))
    }

    async fn delete_ended_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let mut state = self.state();
        let before = state.sessions.len();
        state
            .sessions
            .retain(|_, session| session.last_seen_at >= idle_before && session.expires_at > now);
        Ok(u64::try_from(before - state.sessions.len()).unwrap_or(u64::MAX))
    }
}

#[async_trait]
impl HolderRepo for MemoryRepo {
    async fn register_holder(&self, holder: &HolderRecord) -> Result<(), RepoError> {
        self.state().holders.insert(holder.id, holder.clone());
        Ok(())
    }

    async fn heartbeat_holder(
        &self,
        id: HolderId,
        heartbeat_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        Ok(match self.state().holders.get_mut(&id) {
            Some(holder) => {
                holder.heartbeat_at = heartbeat_at;
                true
            }
            None => false,
        })
    }

    async fn list_holders(&self) -> Result<Vec<HolderRecord>, RepoError> {
        Ok(self.state().holders.values().cloned().collect())
    }

    async fn remove_holder(
        &self,
        id: HolderId,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> Result<bool, RepoError> {
        let mut state = self.state();
        let current = state.holders.get(&id).map(|holder| holder.heartbeat_at);
        if current.is_none() || seen_heartbeat.is_some_and(|seen| current != Some(seen)) {
            return Ok(false);
        }
        state.holders.remove(&id);
        Ok(true)
    }
}

#[async_trait]
impl Repo for MemoryRepo {
    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}
