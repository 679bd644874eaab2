//! Expiring links: create, list, read, update and delete.

use crate::error::{PlanFeature, VaultError};
use crate::image::ImageId;
use crate::link::{ExpiringLink, ExpirySeconds, LinkId};
use crate::page::{self, ListKind, Page, PageRequest};
use crate::validation::ValidationError;

use super::{Account, Vault};

/// An expiring link as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// The link.
    pub link: ExpiringLink,
    /// The media path it is served at, below `/media/`: `exp/<uuid>/<uuid>.<ext>`.
    pub media_path: String,
    /// Whether it had expired when read.
    pub expired: bool,
}

impl LinkView {
    fn new(link: ExpiringLink, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            media_path: link.media_path(),
            expired: link.is_expired(now),
            link,
        }
    }
}

/// Parses an image id given in field `field`, with the API's message for a malformed one.
///
/// ```
/// use imagevault_core::parse_image_id;
/// assert!(parse_image_id("base_image", "not-a-uuid").is_err());
/// ```
pub fn parse_image_id(field: &'static str, text: &str) -> Result<ImageId, ValidationError> {
    ImageId::parse(text)
        .ok_or_else(|| ValidationError::new(field, format!("“{text}” is not a valid UUID.")))
}

impl Vault {
    /// Creates a link to one of the account's images, valid for `expiry` from now.
    ///
    /// Needs a plan with expiring links. Another user's or an unknown image is a validation
    /// error on `base_image`, worded exactly like a missing one.
    pub async fn create_link(
        &self,
        account: &Account,
        image_id: ImageId,
        expiry: ExpirySeconds,
    ) -> Result<LinkView, VaultError> {
        account.require_feature(PlanFeature::ExpiringLinks)?;
        let image = self
            .inner
            .repo
            .get_image(account.user.id, image_id)
            .await?
            .ok_or_else(|| missing_image(image_id))?
            .image;
        let now = self.now();
        let link = ExpiringLink::new(account.user.id, image.id, image.format, expiry, now);
        self.inner
            .repo
            .insert_link(&link)
            .await
            .map_err(|error| match error {
                // The image was deleted between the check and the insert.
                crate::repo::RepoError::Conflict(crate::repo::Conflict::MissingReference) => {
                    missing_image(image_id)
                }
                other => other.into(),
            })?;
        Ok(LinkView::new(link, now))
    }

    /// One page of the account's links, newest first; with `image`, only that image's
    /// (another user's image id simply yields an empty list).
    pub async fn list_links(
        &self,
        account: &Account,
        image: Option<ImageId>,
        request: PageRequest,
    ) -> Result<Page<LinkView>, VaultError> {
        account.require_feature(PlanFeature::ExpiringLinks)?;
        let owner = account.user.id;
        let repo = &self.inner.repo;
        let page = page::paginate(request, ListKind::Links, |query| async move {
            repo.list_links(owner, image, &query).await
        })
        .await?;
        let now = self.now();
        Ok(page.map(|link| LinkView::new(link, now)))
    }

    /// One of the account's links.
    pub async fn get_link(&self, account: &Account, id: LinkId) -> Result<LinkView, VaultError> {
        account.require_feature(PlanFeature::ExpiringLinks)?;
        let link = self
            .inner
            .repo
            .get_link(account.user.id, id)
            .await?
            .ok_or(VaultError::NotFound)?;
        Ok(LinkView::new(link, self.now()))
    }

    /// Changes a link's lifetime; `expires_at` becomes `created_at + expiry`.
    pub async fn update_link(
        &self,
        account: &Account,
        id: LinkId,
        expiry: ExpirySeconds,
    ) -> Result<LinkView, VaultError> {
        account.require_feature(PlanFeature::ExpiringLinks)?;
        let link = self
            .inner
            .repo
            .get_link(account.user.id, id)
            .await?
            .ok_or(VaultError::NotFound)?
            .with_expiry(expiry);
        if !self.inner.repo.update_link(&link).await? {
            return Err(VaultError::NotFound);
        }
        self.links_changed();
        Ok(LinkView::new(link, self.now()))
    }

    /// Deletes one of the account's links; its URL stops working at once.
    pub async fn delete_link(&self, account: &Account, id: LinkId) -> Result<(), VaultError> {
        account.require_feature(PlanFeature::ExpiringLinks)?;
        if self.inner.repo.delete_link(account.user.id, id).await? {
            self.links_changed();
            Ok(())
        } else {
            Err(VaultError::NotFound)
        }
    }
}

fn missing_image(id: ImageId) -> VaultError {
    VaultError::invalid(
        "base_image",
        format!("Invalid pk “{id}” - object does not exist."),
    )
}
