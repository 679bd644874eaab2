//! How many uploads one user has in progress. An upload holds its body in memory until it
//! is stored, and the HTTP layer bounds all uploads together; without a count per user, one
//! account (or one stolen token) could take every place and keep everyone else waiting.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::VaultError;
use crate::user::UserId;

use super::{Account, Vault};

/// The default of [`VaultConfig::max_uploads_per_user`](super::VaultConfig::max_uploads_per_user).
pub const DEFAULT_MAX_UPLOADS_PER_USER: usize = 2;

/// The uploads in progress, by user.
#[derive(Debug, Default)]
pub(super) struct UploadSlots {
    in_progress: Mutex<HashMap<UserId, usize>>,
}

impl UploadSlots {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        // A count is updated in one statement, so a panic elsewhere leaves it whole.
        self.in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One of a user's places for an upload in progress, from [`Vault::reserve_upload`] to the
/// end of the task that stores the upload (see [`Vault::upload_reserved`]), also when the
/// caller goes away meanwhile.
///
/// Whatever else bounds uploads can travel with it ([`UploadSlot::hold`]), such as a
/// permit of the HTTP layer's limit on uploads at once.
#[must_use = "the place is given back when the slot is dropped"]
pub struct UploadSlot {
    slots: Arc<UploadSlots>,
    user: UserId,
    held: Vec<Box<dyn Any + Send>>,
}

impl std::fmt::Debug for UploadSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSlot")
            .field("user", &self.user)
            .field("held", &self.held.len())
            .finish()
    }
}

impl UploadSlot {
    /// Keeps `guard` alive as long as this slot: until the upload is stored, or dropped
    /// unstored.
    pub fn hold(&mut self, guard: impl Send + 'static) {
        self.held.push(Box::new(guard));
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        if let Some(count) = counts.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

impl Vault {
    /// Takes one of the account's places for an upload in progress, or
    /// [`VaultError::TooManyUploads`] when it has
    /// [`max_uploads_per_user`](super::VaultConfig::max_uploads_per_user) already. Take it
    /// before reading the upload's body, and pass it to [`Vault::upload_reserved`].
    ///
    /// The count is kept in this process's memory: with several server processes, each
    /// allows that many.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use imagevault_core::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let vault = Vault::builder()
    ///     .repo(Arc::new(MemoryRepo::new()))
    ///     .storage(Arc::new(ObjectStorage::memory()))
    ///     .queue(Arc::new(MemoryJobQueue::new(100)))
    ///     .build()
    ///     .unwrap();
    /// let user = vault
    ///     .bootstrap_user(NewUser {
    ///         username: Username::parse("alice").unwrap(),
    ///         password: Password::new("correct horse battery").unwrap(),
    ///         plan: Some(PlanId::BASIC),
    ///         is_admin: false,
    ///     })
    ///     .await
    ///     .unwrap();
    /// let account = Account { user, plan: None };
    /// let first = vault.reserve_upload(&account).unwrap();
    /// let second = vault.reserve_upload(&account).unwrap();
    /// assert!(matches!(
    ///     vault.reserve_upload(&account),
    ///     Err(VaultError::TooManyUploads { limit: 2 })
    /// ));
    /// drop(first);
    /// assert!(vault.reserve_upload(&account).is_ok());
    /// # drop(second);
    /// # });
    /// ```
    pub fn reserve_upload(&self, account: &Account) -> Result<UploadSlot, VaultError> {
        let limit = self.inner.config.max_uploads_per_user;
        let user = account.user.id;
        let slots = &self.inner.upload_slots;
        let mut counts = slots.counts();
        let count = counts.entry(user).or_insert(0);
        if *count >= limit {
            return Err(VaultError::TooManyUploads { limit });
        }
        *count += 1;
        drop(counts);
        Ok(UploadSlot {
            slots: Arc::clone(slots),
            user,
            held: Vec::new(),
        })
    }
}
