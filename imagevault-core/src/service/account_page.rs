//! What the account page and the administrators' lists show beyond the basic CRUD: a
//! user's usage, the user search and how many users each plan has.

use crate::error::VaultError;
use crate::image::Usage;
use crate::page::{self, ListKind, Page, PageRequest};
use crate::plan::PlanId;
use crate::user::User;

use super::Vault;
use super::account::Account;

impl Vault {
    /// How many images the account has and the bytes of their originals together.
    pub async fn usage(&self, account: &Account) -> Result<Usage, VaultError> {
        Ok(self.inner.repo.usage(account.user.id).await?)
    }

    /// One page of the users whose username contains `text` (ignoring the case of ASCII
    /// letters; an empty text lists every user), newest first, as
    /// [`list_users`](Self::list_users) pages them. Administrators only.
    pub async fn search_users(
        &self,
        admin: &Account,
        text: &str,
        request: PageRequest,
    ) -> Result<Page<User>, VaultError> {
        admin.require_admin()?;
        let repo = &self.inner.repo;
        Ok(
            page::paginate(request, ListKind::Users, |query| async move {
                repo.search_users(text, &query).await
            })
            .await?,
        )
    }

    /// How many users each plan has, every plan included. Administrators only.
    pub async fn plan_user_counts(
        &self,
        admin: &Account,
    ) -> Result<Vec<(PlanId, u64)>, VaultError> {
        admin.require_admin()?;
        Ok(self.inner.repo.plan_user_counts().await?)
    }
}
