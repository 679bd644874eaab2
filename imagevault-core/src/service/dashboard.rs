//! The administrators' dashboard: what the installation holds and how much work waits.

use crate::error::VaultError;
use crate::queue::QueueDepth;
use crate::repo::Totals;

use super::{Account, Vault};

/// The figures of the administrators' dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dashboard {
    /// Users, images, stored bytes, pending and failed thumbnails.
    pub totals: Totals,
    /// The job queue: ready, delayed, in flight and dead-lettered jobs.
    pub queue: QueueDepth,
}

impl Vault {
    /// The dashboard's figures, for administrators only ([`VaultError::AdminOnly`]).
    pub async fn dashboard(&self, admin: &Account) -> Result<Dashboard, VaultError> {
        admin.require_admin()?;
        let (totals, queue) = futures::try_join!(
            async { Ok::<_, VaultError>(self.inner.repo.totals().await?) },
            async { Ok::<_, VaultError>(self.inner.queue.depth().await?) },
        )?;
        Ok(Dashboard { totals, queue })
    }
}
