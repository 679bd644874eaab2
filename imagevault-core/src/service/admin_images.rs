//! Every user's images for administrators: listing with filters, deleting, and (see
//! [`Vault::retry_thumbnails`]) their thumbnails' failures and retries.

use std::collections::HashMap;

use tracing::info;

use crate::error::VaultError;
use crate::image::{Image, ImageId, ImageRecord};
use crate::page::{self, ListKind, Page, PageRequest};
use crate::repo::ImageFilter;
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
            let owner = record.image.owner;
            if !usernames.contains_key(&owner) {
                let user = repo.get_user(owner).await?;
                usernames.insert(owner, user.map(|user| user.username));
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
}
