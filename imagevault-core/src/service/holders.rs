//! This vault as a holder of thumbnail work: registering it, its heartbeat, and the sweep
//! that removes dead holders so that their work is taken up at once (see
//! [`HolderRecord`]).

use std::future::Future;

use tracing::{info, warn};

use crate::error::VaultError;
use crate::holder::{HOLDER_HEARTBEAT, HolderId, HolderRecord, ProcessIdentity};

use super::Vault;

impl Vault {
    /// The holder that this vault's thumbnail work is leased to, while it is registered
    /// ([`register_work_holder`](Self::register_work_holder)); `None` before, and then
    /// its work is leased by time alone.
    pub fn work_holder(&self) -> Option<HolderId> {
        *self
            .inner
            .holder
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_work_holder(&self, holder: Option<HolderId>) {
        *self
            .inner
            .holder
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = holder;
    }

    /// This process's identity, read once.
    fn process_identity(&self) -> Option<&ProcessIdentity> {
        self.inner
            .process
            .get_or_init(ProcessIdentity::current)
            .as_ref()
    }

    /// Registers this vault as a holder of thumbnail work, so that the rows it uploads,
    /// claims and works on name it, and returns its id (the same one if it is registered
    /// already). Call it before serving uploads, and keep the registration alive with
    /// [`run_work_holder`](Self::run_work_holder); without a heartbeat the holder is
    /// judged dead after [`HOLDER_TIMEOUT`](crate::HOLDER_TIMEOUT).
    pub async fn register_work_holder(&self) -> Result<HolderId, VaultError> {
        let id = self.work_holder().unwrap_or_default();
        self.inner
            .repo
            .register_holder(&HolderRecord {
                id,
                process: self.process_identity().cloned(),
                heartbeat_at: self.now(),
            })
            .await?;
        self.set_work_holder(Some(id));
        Ok(id)
    }

    /// Holds thumbnail work until `shutdown`: registers this vault as a holder (see
    /// [`register_work_holder`](Self::register_work_holder)) if it is not yet, renews its
    /// heartbeat every [`HOLDER_HEARTBEAT`], and registers it again should another process
    /// have judged it dead. On shutdown it unregisters, so that whatever work it still
    /// holds (jobs of an in-process queue that stops with it) is taken up at once by the
    /// next process that reconciles.
    ///
    /// With it, a process that crashes leaves no work behind for longer than it takes
    /// another process (or itself, restarted) to see it dead: at once on the same machine,
    /// [`HOLDER_TIMEOUT`](crate::HOLDER_TIMEOUT) from another. Run it beside
    /// [`run_worker`](Self::run_worker) and [`run_reconciler`](Self::run_reconciler) in
    /// every process that uploads or makes thumbnails.
    pub async fn run_work_holder(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(HOLDER_HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => self.heartbeat().await,
            }
        }
        if let Some(id) = self.work_holder() {
            self.set_work_holder(None);
            if let Err(error) = self.inner.repo.remove_holder(id, None).await {
                warn!(%error, holder = %id, "could not unregister the work holder; it will be seen dead");
            }
        }
    }

    async fn heartbeat(&self) {
        let renewed = match self.work_holder() {
            Some(id) => self.inner.repo.heartbeat_holder(id, self.now()).await,
            None => Ok(false),
        };
        match renewed {
            Ok(true) => {}
            Ok(false) => {
                if let Some(id) = self.work_holder() {
                    warn!(holder = %id, "this work holder was judged dead elsewhere; registering again");
                }
                if let Err(error) = self.register_work_holder().await {
                    warn!(%error, "could not register the work holder; trying again");
                }
            }
            Err(error) => warn!(%error, "could not renew the work holder's heartbeat"),
        }
    }

    /// Removes the holders that are dead ([`HolderRecord::death`]) as judged by this
    /// process now, so that the work they held may be claimed at once, and returns how
    /// many it removed. [`reconcile`](Self::reconcile) and
    /// [`reconcile_lapsed`](Self::reconcile_lapsed) run it first.
    pub async fn sweep_dead_holders(&self) -> Result<usize, VaultError> {
        let own = self.work_holder();
        let now = self.now();
        let mut removed = 0;
        for holder in self.inner.repo.list_holders().await? {
            if Some(holder.id) == own {
                continue;
            }
            let Some(death) = holder.death(now, self.process_identity(), ProcessIdentity::probe)
            else {
                continue;
            };
            if self
                .inner
                .repo
                .remove_holder(holder.id, Some(holder.heartbeat_at))
                .await?
            {
                info!(holder = %holder.id, ?death, process = ?holder.process, "removed a dead work holder; its work is free");
                removed += 1;
            }
        }
        Ok(removed)
    }
}
