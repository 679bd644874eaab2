//! What the account page and the administrators' lists show beyond the basic CRUD: a
//! user's usage, the user search and how many users each plan has.

use crate::error::VaultError;
use crate::image::Usage;
use crate::page::{self, ListKind, Page, PageRequest};
use crate::plan::{Plan, PlanId};
use crate::quota::QuotaStatus;
use crate::user::User;

use super::Vault;
use super::account::Account;

impl Vault {
    /// How many images the account has and the bytes of their originals together.
    pub async fn usage(&self, account: &Account) -> Result<Usage, VaultError> {
        Ok(self.inner.repo.usage(account.user.id).await?)
    }

    /// The account's effective quota beside its usage.
    pub async fn quota(&self, account: &Account) -> Result<QuotaStatus, VaultError> {
        let usage = self.usage(account).await?;
        Ok(QuotaStatus::new(
            &account.user.quota,
            account.plan.as_ref().map(|plan| &plan.quota),
            usage,
        ))
    }

    /// Each user's effective quota beside their usage, in order, for administrators: one
    /// usage lookup per user, and each distinct plan read once.
    pub async fn user_quotas(
        &self,
        admin: &Account,
        users: &[User],
    ) -> Result<Vec<QuotaStatus>, VaultError> {
        admin.require_admin()?;
        let repo = &self.inner.repo;
        let mut plans: Vec<Plan> = Vec::new();
        let mut quotas = Vec::with_capacity(users.len());
        for user in users {
            let plan_quota = match user.plan_id {
                None => None,
                Some(id) => match plans.iter().find(|plan| plan.id == id) {
                    Some(plan) => Some(plan.quota),
                    None => repo.get_plan(id).await?.map(|plan| {
                        let quota = plan.quota;
                        plans.push(plan);
                        quota
                    }),
                },
            };
            let usage = repo.usage(user.id).await?;
            quotas.push(QuotaStatus::new(&user.quota, plan_quota.as_ref(), usage));
        }
        Ok(quotas)
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
