//! Administration: plans and users. Every method needs an administrator's [`Account`],
//! except the `bootstrap_*` helpers meant for a command line with direct access.

use std::future::Future;
use std::pin::Pin;

use tracing::{info, warn};

use crate::error::VaultError;
use crate::page::{self, ListKind, Page, PageRequest};
use crate::plan::{Plan, PlanId, PlanSpec};
use crate::queue::Job;
use crate::quota::{QuotaOverride, QuotaOverrides};
use crate::repo::{Repo, RepoError, WorkScope};
use crate::user::{Password, User, UserId, Username};
use crate::validation::ValidationError;

use super::{Account, Vault};

/// What a [`Repo`] method returns: a boxed future borrowing the repository and its inputs.
type RepoFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RepoError>> + Send + 'a>>;

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Unique login name.
    pub username: Username,
    /// The initial password.
    pub password: Password,
    /// The plan, if any.
    pub plan: Option<PlanId>,
    /// Whether the user administers the installation.
    pub is_admin: bool,
}

impl NewUser {
    /// A user who is not an administrator, with `username` and `password` checked by
    /// [`Username::parse`] and [`Password::new`].
    ///
    /// ```
    /// use imagevault_core::{NewUser, PlanId};
    ///
    /// let alice = NewUser::new("alice", "correct horse battery", Some(PlanId::PREMIUM))?;
    /// assert!(!alice.is_admin);
    /// assert!(NewUser::new("alice", "short", None).is_err());
    /// # Ok::<(), imagevault_core::ValidationError>(())
    /// ```
    pub fn new(
        username: &str,
        password: &str,
        plan: Option<PlanId>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            username: Username::parse(username)?,
            password: Password::new(password)?,
            plan,
            is_admin: false,
        })
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// A new username.
    pub username: Option<Username>,
    /// A new password.
    pub password: Option<Password>,
    /// A new plan (`Some(None)` removes the plan).
    pub plan: Option<Option<PlanId>>,
    /// A new admin flag.
    pub is_admin: Option<bool>,
    /// A new override of the plan's image limit.
    pub max_images: Option<QuotaOverride>,
    /// A new override of the plan's byte limit.
    pub max_bytes: Option<QuotaOverride>,
}

impl Vault {
    /// One page of plans, newest first.
    pub async fn list_plans(
        &self,
        admin: &Account,
        request: PageRequest,
    ) -> Result<Page<Plan>, VaultError> {
        admin.require_admin()?;
        let repo = &self.inner.repo;
        Ok(
            page::paginate(request, ListKind::Plans, |query| async move {
                repo.list_plans(&query).await
            })
            .await?,
        )
    }

    /// One plan.
    pub async fn get_plan(&self, admin: &Account, id: PlanId) -> Result<Plan, VaultError> {
        admin.require_admin()?;
        self.inner
            .repo
            .get_plan(id)
            .await?
            .ok_or(VaultError::NotFound)
    }

    /// Creates a plan; a taken name is a validation error on `name`.
    pub async fn create_plan(&self, admin: &Account, spec: PlanSpec) -> Result<Plan, VaultError> {
        admin.require_admin()?;
        self.bootstrap_plan(spec).await
    }

    /// Creates a plan without an administrator's account, for command lines and setup code
    /// that already have full access.
    pub async fn bootstrap_plan(&self, spec: PlanSpec) -> Result<Plan, VaultError> {
        let plan = Plan::new(spec, self.now());
        self.inner.repo.create_plan(&plan).await?;
        info!(plan = %plan.id, name = %plan.name, "plan created");
        Ok(plan)
    }

    /// Replaces a plan's name and grants. The change shows at once in every response;
    /// thumbnails for new heights are queued for every user on the plan.
    pub async fn update_plan(
        &self,
        admin: &Account,
        id: PlanId,
        spec: PlanSpec,
    ) -> Result<Plan, VaultError> {
        admin.require_admin()?;
        let current = self
            .inner
            .repo
            .get_plan(id)
            .await?
            .ok_or(VaultError::NotFound)?;
        let updated = current.with_spec(spec);
        // New heights, or WebP newly listed, make work for every image of the plan's users.
        let gains_webp = updated.thumbnail_formats.webp() && !current.thumbnail_formats.webp();
        let backfill = (updated.thumbnail_heights != current.thumbnail_heights || gains_webp)
            .then_some(Job::BackfillPlan { plan_id: id });
        let updated = self
            .save_change(updated, |repo, plan| repo.update_plan(plan), backfill)
            .await?;
        info!(plan = %id, "plan updated");
        Ok(updated)
    }

    /// Deletes a plan; [`VaultError::Conflict`] while users have it.
    pub async fn delete_plan(&self, admin: &Account, id: PlanId) -> Result<(), VaultError> {
        admin.require_admin()?;
        if self.inner.repo.delete_plan(id).await? {
            self.links_changed();
            self.accounts_changed();
            info!(plan = %id, "plan deleted");
            Ok(())
        } else {
            Err(VaultError::NotFound)
        }
    }

    /// One page of users, newest first.
    pub async fn list_users(
        &self,
        admin: &Account,
        request: PageRequest,
    ) -> Result<Page<User>, VaultError> {
        admin.require_admin()?;
        let repo = &self.inner.repo;
        Ok(
            page::paginate(request, ListKind::Users, |query| async move {
                repo.list_users(&query).await
            })
            .await?,
        )
    }

    /// One user; a user being deleted is [`VaultError::NotFound`] already.
    pub async fn get_user(&self, admin: &Account, id: UserId) -> Result<User, VaultError> {
        admin.require_admin()?;
        self.inner
            .repo
            .get_user(id)
            .await?
            .filter(|user| !user.is_being_deleted())
            .ok_or(VaultError::NotFound)
    }

    /// Creates a user; a taken username is a validation error on `username`, an unknown
    /// plan one on `plan`.
    pub async fn create_user(
        &self,
        admin: &Account,
        new_user: NewUser,
    ) -> Result<User, VaultError> {
        admin.require_admin()?;
        self.bootstrap_user(new_user).await
    }

    /// Creates a user without an administrator's account, for command lines and the first
    /// start of a server.
    pub async fn bootstrap_user(&self, new_user: NewUser) -> Result<User, VaultError> {
        if let Some(plan) = new_user.plan {
            self.check_plan_exists(plan).await?;
        }
        let user = User {
            id: UserId::new(),
            username: new_user.username,
            password_hash: self.hash_password(new_user.password).await?,
            is_admin: new_user.is_admin,
            plan_id: new_user.plan,
            quota: QuotaOverrides::default(),
            created_at: self.now(),
        };
        self.inner.repo.create_user(&user).await?;
        info!(user = %user.id, username = %user.username, admin = user.is_admin, "user created");
        Ok(user)
    }

    /// Changes a user. A new plan shows at once in every response, and thumbnails for its
    /// heights are queued.
    pub async fn update_user(
        &self,
        admin: &Account,
        id: UserId,
        changes: UserChanges,
    ) -> Result<User, VaultError> {
        admin.require_admin()?;
        self.bootstrap_update_user(id, changes).await
    }

    /// [`update_user`](Self::update_user) without an administrator's account.
    pub async fn bootstrap_update_user(
        &self,
        id: UserId,
        changes: UserChanges,
    ) -> Result<User, VaultError> {
        let current = self
            .inner
            .repo
            .get_user(id)
            .await?
            .ok_or(VaultError::NotFound)?;
        if let Some(Some(plan)) = changes.plan {
            self.check_plan_exists(plan).await?;
        }
        // A new password ends every session and token of the old one: whoever knew it may
        // hold them.
        let revoke_tokens = changes.password.is_some();
        let password_hash = match changes.password {
            Some(password) => self.hash_password(password).await?,
            None => current.password_hash.clone(),
        };
        let updated = User {
            username: changes.username.unwrap_or_else(|| current.username.clone()),
            password_hash,
            is_admin: changes.is_admin.unwrap_or(current.is_admin),
            plan_id: changes.plan.unwrap_or(current.plan_id),
            quota: QuotaOverrides {
                max_images: changes.max_images.unwrap_or(current.quota.max_images),
                max_bytes: changes.max_bytes.unwrap_or(current.quota.max_bytes),
            },
            ..current.clone()
        };
        let backfill = (updated.plan_id != current.plan_id && updated.plan_id.is_some())
            .then_some(Job::BackfillOwner { user_id: id });
        let updated = self
            .save_change(
                updated,
                move |repo, user| {
                    Box::pin(async move {
                        if revoke_tokens {
                            repo.update_user_revoking_logins(user).await
                        } else {
                            repo.update_user(user).await
                        }
                    })
                },
                backfill,
            )
            .await?;
        info!(user = %id, tokens_revoked = revoke_tokens, "user updated");
        Ok(updated)
    }

    /// The user with this username, for administrators' filters and lookups; a user being
    /// deleted is [`VaultError::NotFound`] already, as in [`get_user`](Self::get_user).
    pub async fn find_user(
        &self,
        admin: &Account,
        username: &Username,
    ) -> Result<User, VaultError> {
        admin.require_admin()?;
        self.inner
            .repo
            .find_user_by_username(username)
            .await?
            .filter(|user| !user.is_being_deleted())
            .ok_or(VaultError::NotFound)
    }

    /// Deletes a user with their images, stored files, links and tokens.
    ///
    /// First, in one write, the account is locked: its password made unusable, its plan
    /// removed, its tokens revoked and its links deleted, so it can neither log in nor act,
    /// and its originals and links are not served, from the moment this returns. The
    /// images, their files and links, then the user row, are deleted by a task of its own
    /// that does not depend on the caller (it goes on if the caller goes away and
    /// `delete_user` returns without waiting for it); a deletion that a crash or restart
    /// cut short is finished by the reconciler (see [`Vault::finish_user_deletions`]).
    pub async fn delete_user(&self, admin: &Account, id: UserId) -> Result<(), VaultError> {
        admin.require_admin()?;
        self.bootstrap_delete_user(id).await
    }

    /// [`delete_user`](Self::delete_user) without an administrator's account.
    pub async fn bootstrap_delete_user(&self, id: UserId) -> Result<(), VaultError> {
        let existing = self.inner.repo.get_user(id).await?;
        if existing.is_none_or(|user| user.is_being_deleted())
            || !self.inner.repo.begin_user_deletion(id, self.now()).await?
        {
            return Err(VaultError::NotFound);
        }
        self.accounts_changed();
        self.links_changed();
        info!(user = %id, "user locked for deletion");
        let vault = self.clone();
        tokio::spawn(async move {
            if let Err(error) = vault.finish_user_deletion(id).await {
                warn!(user = %id, %error, "deleting a user's images failed; the reconciler finishes it");
            }
        });
        Ok(())
    }

    /// Finishes the deletions of users that [`delete_user`](Self::delete_user) locked
    /// but a crash or restart left with images, one user after another; the reconciler
    /// calls it on every pass. Returns how many users were deleted.
    pub async fn finish_user_deletions(&self) -> Result<usize, VaultError> {
        let mut finished = 0;
        loop {
            let users = self
                .inner
                .repo
                .users_being_deleted(self.inner.config.work_batch)
                .await?;
            if users.is_empty() {
                return Ok(finished);
            }
            for id in users {
                self.finish_user_deletion(id).await?;
                finished += 1;
            }
        }
    }

    /// Deletes a locked user's images with their files and links, then the user.
    /// Idempotent, so that the task started by `delete_user` and the reconciler may both
    /// work on one user.
    async fn finish_user_deletion(&self, id: UserId) -> Result<(), VaultError> {
        // Images go one page at a time, each with its objects, so that memory stays bounded
        // however many images the user has.
        loop {
            let page = self
                .inner
                .repo
                .list_images(
                    id,
                    &crate::page::KeysetQuery::first(self.inner.config.work_batch),
                )
                .await?;
            if page.is_empty() {
                break;
            }
            for record in page {
                if let Some(deleted) = self.inner.repo.delete_image(id, record.image.id).await? {
                    self.links_changed();
                    self.delete_objects(&deleted).await;
                }
            }
        }
        if self.inner.repo.delete_user(id).await? {
            self.links_changed();
            self.accounts_changed();
            info!(user = %id, "user deleted");
        }
        Ok(())
    }

    async fn check_plan_exists(&self, plan: PlanId) -> Result<(), VaultError> {
        match self.inner.repo.get_plan(plan).await? {
            Some(_) => Ok(()),
            None => Err(ValidationError::new(
                "plan",
                format!("Invalid pk “{plan}” - object does not exist."),
            )
            .into()),
        }
    }

    /// Saves an admin's change to `record` with `save` (which answers whether the record
    /// still exists), drops the cached accounts and links it can alter, and queues
    /// `backfill` if there is one. The three go together even if the caller goes away
    /// (see [`Vault::run_to_completion`]): a change saved without its backfill job would
    /// leave the new thumbnails to the next full reconciler pass, up to an hour later.
    async fn save_change<T, F>(
        &self,
        record: T,
        save: F,
        backfill: Option<Job>,
    ) -> Result<T, VaultError>
    where
        T: Send + Sync + 'static,
        F: for<'a> FnOnce(&'a dyn Repo, &'a T) -> RepoFuture<'a, bool> + Send + 'static,
    {
        let vault = self.clone();
        Self::run_to_completion(async move {
            if !save(vault.inner.repo.as_ref(), &record).await? {
                return Err(VaultError::NotFound);
            }
            vault.links_changed();
            vault.accounts_changed();
            if let Some(job) = backfill {
                vault.enqueue_or_defer(job).await;
            }
            Ok(record)
        })
        .await
    }

    /// Queues thumbnail work for `scope` now, instead of waiting for the reconciler.
    pub(super) async fn backfill(&self, scope: WorkScope) -> Result<usize, VaultError> {
        let mut queued = 0;
        loop {
            let now = self.now();
            let stale_before = now
                .checked_sub_signed(super::worker::lease_delta(self.inner.config.job_lease))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            let images = self
                .inner
                .repo
                .claim_thumbnail_work(
                    scope,
                    now,
                    stale_before,
                    self.inner.config.work_batch,
                    self.work_holder(),
                )
                .await?;
            if images.is_empty() {
                return Ok(queued);
            }
            for image_id in images {
                self.inner
                    .queue
                    .enqueue(Job::GenerateThumbnails { image_id })
                    .await?;
                queued += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::service::hanging_queue::HangingQueue;
    use crate::{MemoryRepo, ObjectStorage};

    /// An admin whose request goes away once a user's new plan is saved (the future
    /// dropped while the backfill job is being queued) must not lose the backfill.
    #[tokio::test]
    async fn a_plan_change_whose_caller_goes_away_still_queues_its_backfill() {
        let queue = Arc::new(HangingQueue::new());
        let vault = Vault::builder()
            .repo(Arc::new(MemoryRepo::new()))
            .storage(Arc::new(ObjectStorage::memory()))
            .queue(queue.clone())
            .build()
            .unwrap();
        let user = vault
            .bootstrap_user(NewUser {
                username: Username::parse("upgraded").unwrap(),
                password: Password::new("correct horse battery").unwrap(),
                plan: Some(PlanId::BASIC),
                is_admin: false,
            })
            .await
            .unwrap();
        let change = vault.bootstrap_update_user(
            user.id,
            UserChanges {
                plan: Some(Some(PlanId::PREMIUM)),
                ..UserChanges::default()
            },
        );
        let delivery = queue
            .drop_while_enqueueing(change)
            .await
            .expect("the backfill was queued although its caller went away");
        assert_eq!(delivery.job, Job::BackfillOwner { user_id: user.id });
        let saved = vault.repo().get_user(user.id).await.unwrap().unwrap();
        assert_eq!(saved.plan_id, Some(PlanId::PREMIUM));
    }
}
