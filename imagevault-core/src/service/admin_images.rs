//! Every user's images for administrators: listing with filters, deleting, and (see
//! [`Vault::retry_thumbnails`]) their thumbnails' failures and retries.

use std::collections::HashMap;

use tracing::info;

use crate::error::VaultError;
use crate::image::{Image, ImageId, ImageRecord};
use crate::page::{self, ListKind, Page, PageRequest};
use crate::plan::PlanId;
use crate::queue::Job;
use crate::repo::{ImageFilter, ResetScope, WorkScope};
use crate::thumbnail::Thumbnail;
use crate::user::{UserId, Username};

use super::{Account, Vault};

/// An image as an administrator sees it: every stored thumbnail row, whatever the owner's
/// plan, and the owner's username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminImageView {
    /// The image.
    pub image: Image,
    /// The owner's username; `None` if the owner was deleted since the page was read.
    pub owner_username: Option<Username>,
    /// Every thumbnail row, ascending by height, including heights the owner's plan no
    /// longer has; a failed row carries its reason.
    pub thumbnails: Vec<Thumbnail>,
}

/// Whose thumbnails [`Vault::regenerate_thumbnails`] makes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regenerate {
    /// Every thumbnail of one user's images.
    User(UserId),
    /// Every thumbnail of the images of every user on one plan.
    Plan(PlanId),
}

impl Vault {
    /// One page of every user's images that pass `filter`, newest first, for
    /// administrators ([`VaultError::AdminOnly`] for others).
    pub async fn admin_list_images(
        &self,
        admin: &Account,
        filter: ImageFilter,
        request: PageRequest,
    ) -> Result<Page<AdminImageView>, VaultError> {
        admin.require_admin()?;
        let repo = &self.inner.repo;
        let page = page::paginate(request, ListKind::AllImages, |query| async move {
            repo.list_all_images(&filter, &query).await
        })
        .await?;
        // One lookup per owner on the page (at most a page's worth), not per image.
        let mut usernames: HashMap<UserId, Option<Username>> = HashMap::new();
        for record in &page.items {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                usernames.entry(record.image.owner)
            {
                let user = repo.get_user(record.image.owner).await?;
                entry.insert(user.map(|user| user.username));
            }
        }
        Ok(
            page.map(|ImageRecord { image, thumbnails }| AdminImageView {
                owner_username: usernames.get(&image.owner).cloned().flatten(),
                image,
                thumbnails,
            }),
        )
    }

    /// Deletes any user's image with its thumbnails, links and stored objects, as its
    /// owner's delete does; [`VaultError::NotFound`] for an unknown image.
    pub async fn admin_delete_image(&self, admin: &Account, id: ImageId) -> Result<(), VaultError> {
        admin.require_admin()?;
        let owner = self
            .inner
            .repo
            .get_image_by_id(id)
            .await?
            .ok_or(VaultError::NotFound)?
            .image
            .owner;
        self.delete_owned_image(owner, id).await?;
        info!(image = %id, %owner, admin = %admin.user.id, "image deleted by an administrator");
        Ok(())
    }

    /// Makes every thumbnail of one image again, whatever its status (a failed one gets
    /// its attempts back), and queues the work at once. Returns how many thumbnails were
    /// set back to pending; [`VaultError::NotFound`] for an unknown image.
    pub async fn retry_thumbnails(
        &self,
        admin: &Account,
        image: ImageId,
    ) -> Result<u64, VaultError> {
        admin.require_admin()?;
        if self.inner.repo.get_image_by_id(image).await?.is_none() {
            return Err(VaultError::NotFound);
        }
        let reset = self.reset_thumbnails(ResetScope::Image(image)).await?;
        // One image: its own job, rather than a claim that may pick up other work.
        self.enqueue_or_defer(Job::GenerateThumbnails { image_id: image })
            .await;
        info!(%image, reset, admin = %admin.user.id, "thumbnails retried");
        Ok(reset)
    }

    /// Makes every failed thumbnail again, with its attempts back, and queues the work at
    /// once. Returns how many thumbnails were set back to pending.
    pub async fn retry_failed_thumbnails(&self, admin: &Account) -> Result<u64, VaultError> {
        admin.require_admin()?;
        self.bootstrap_retry_failed_thumbnails().await
    }

    /// [`retry_failed_thumbnails`](Self::retry_failed_thumbnails) without an
    /// administrator's account, for command lines that already have full access.
    pub async fn bootstrap_retry_failed_thumbnails(&self) -> Result<u64, VaultError> {
        let reset = self.reset_thumbnails(ResetScope::Failed).await?;
        // The reset rows' leases have lapsed, so the lapsed-lease claim finds them (with
        // any other lapsed work, which is due anyway).
        let queued = self.backfill(WorkScope::LapsedLeases).await?;
        info!(reset, queued, "failed thumbnails retried");
        Ok(reset)
    }

    /// Makes every thumbnail of a user's images, or of the images of every user on a plan,
    /// again (after a change to how thumbnails are made, say) and queues the work at once.
    /// Ready thumbnails stay served until their replacement is stored. Returns how many
    /// thumbnails were set back to pending; [`VaultError::NotFound`] for an unknown user
    /// or plan.
    pub async fn regenerate_thumbnails(
        &self,
        admin: &Account,
        target: Regenerate,
    ) -> Result<u64, VaultError> {
        admin.require_admin()?;
        self.bootstrap_regenerate_thumbnails(target).await
    }

    /// [`regenerate_thumbnails`](Self::regenerate_thumbnails) without an administrator's
    /// account, for command lines that already have full access.
    pub async fn bootstrap_regenerate_thumbnails(
        &self,
        target: Regenerate,
    ) -> Result<u64, VaultError> {
        let (reset, work) = match target {
            Regenerate::User(user) => {
                self.inner
                    .repo
                    .get_user(user)
                    .await?
                    .filter(|user| !user.is_being_deleted())
                    .ok_or(VaultError::NotFound)?;
                (ResetScope::Owner(user), WorkScope::Owner(user))
            }
            Regenerate::Plan(plan) => {
                self.inner
                    .repo
                    .get_plan(plan)
                    .await?
                    .ok_or(VaultError::NotFound)?;
                (ResetScope::Plan(plan), WorkScope::Plan(plan))
            }
        };
        let reset = self.reset_thumbnails(reset).await?;
        let queued = self.backfill(work).await?;
        info!(?target, reset, queued, "thumbnails regenerated");
        Ok(reset)
    }

    /// Sets the thumbnails in `scope` back to pending with a lease that has lapsed
    /// already: the claims of [`Vault::backfill`] queue them at once, and if the queue
    /// does not take the work now, the reconciler's next cheap pass does.
    async fn reset_thumbnails(&self, scope: ResetScope) -> Result<u64, VaultError> {
        let lease = super::worker::lease_delta(self.inner.config.job_lease);
        let lapsed = self
            .now()
            .checked_sub_signed(lease + chrono::TimeDelta::microseconds(1))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        Ok(self.inner.repo.reset_thumbnails(scope, lapsed).await?)
    }
}
