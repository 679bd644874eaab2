//! The sweeper: deletes stored objects that no row refers to.
//!
//! Objects and rows cannot change in one transaction, so a process that dies at the wrong
//! moment leaves objects behind: an upload writes its original and then inserts the row,
//! the worker writes a thumbnail and then marks it ready, and deleting an image or a user
//! removes the rows and then the objects. The sweeper lists both kinds of object and
//! deletes those that no row refers to once they are older than a grace period, which
//! covers the moment between an object's write and its row's.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use tracing::{debug, info, warn};

use crate::error::VaultError;
use crate::storage::{KeyPrefix, ListedObject, StorageKey};

use super::Vault;

/// Options for [`Vault::sweep`] and [`Vault::run_sweeper`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepOptions {
    /// How long an object must have been stored, unreferenced, before it is deleted.
    /// Default [`DEFAULT_GRACE`](Self::DEFAULT_GRACE).
    ///
    /// Between writing an object and inserting its row, an upload (or the worker, for a
    /// thumbnail) holds an object that no row refers to yet. The grace period must be
    /// longer than that can last (the request timeout, the job lease), plus however far the
    /// storage's clock, which dates the objects, may be behind the service's.
    pub grace: Duration,
    /// Keys looked up in the repository at once. Default 500.
    pub batch: usize,
    /// Count what would be deleted, and log it, but delete nothing. Default `false`.
    pub dry_run: bool,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            grace: Self::DEFAULT_GRACE,
            batch: 500,
            dry_run: false,
        }
    }
}

impl SweepOptions {
    /// The default of [`grace`](Self::grace): an hour.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

    /// The default options with another grace period.
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            grace,
            ..Self::default()
        }
    }
}

/// What one [`Vault::sweep`] found and did.
///
/// Every object scanned is counted once more, in exactly one of the other counts:
/// `scanned = referenced + deleted + kept_young + kept_undated + failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Objects listed, originals and thumbnails.
    pub scanned: u64,
    /// Objects a row refers to: kept.
    pub referenced: u64,
    /// Unreferenced objects older than the grace period: deleted, or in a dry run, the ones
    /// that would have been.
    pub deleted: u64,
    /// The bytes of the `deleted` objects.
    pub deleted_bytes: u64,
    /// Unreferenced objects younger than the grace period: kept, since an upload may still
    /// be about to insert their row.
    pub kept_young: u64,
    /// Unreferenced objects whose storage does not say when they were written: kept,
    /// since nothing tells them apart from an object whose row is still being written.
    pub kept_undated: u64,
    /// Unreferenced objects whose delete failed (logged); the next pass tries again.
    pub failed: u64,
    /// Whether this was a dry run, which deleted nothing.
    pub dry_run: bool,
}

impl Vault {
    /// One sweeper pass: deletes the stored originals and thumbnails that no row refers to
    /// and that were written more than `options.grace` ago by the vault's clock. A
    /// referenced object is never deleted, nor one whose age is unknown.
    ///
    /// Objects are listed in batches of `options.batch`. For each batch the repository
    /// says which keys rows refer to; the unreferenced ones old enough are checked again
    /// right before they are deleted, so a row inserted while the pass runs saves its
    /// object. A failed delete is logged and counted, and the pass goes on; a failure to
    /// list or to query the repository ends the pass with the error, having deleted
    /// nothing that was referenced. Stopping a pass half-way is harmless.
    pub async fn sweep(&self, options: &SweepOptions) -> Result<SweepReport, VaultError> {
        self.sweep_with_progress(options, |_| {}).await
    }

    /// [`sweep`](Self::sweep), calling `progress` with the counts so far after each batch,
    /// so that a command line can show a long pass moving (the total is not known until
    /// the listing ends).
    pub async fn sweep_with_progress(
        &self,
        options: &SweepOptions,
        mut progress: impl FnMut(&SweepReport) + Send,
    ) -> Result<SweepReport, VaultError> {
        if options.grace < self.inner.config.job_lease {
            warn!(
                grace_secs = options.grace.as_secs(),
                job_lease_secs = self.inner.config.job_lease.as_secs(),
                "the sweep's grace period is shorter than the job lease: it may delete an object an upload or a worker is about to refer to"
            );
        }
        let now = self.now();
        let cutoff = now
            .checked_sub_signed(super::worker::lease_delta(options.grace))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let batch_size = options.batch.max(1);
        let mut report = SweepReport {
            dry_run: options.dry_run,
            ..SweepReport::default()
        };
        for prefix in [KeyPrefix::originals(), KeyPrefix::thumbnails()] {
            let mut listing = self.inner.storage.list(&prefix);
            let mut batch = Vec::with_capacity(batch_size);
            while let Some(object) = listing.next().await {
                batch.push(object?);
                if batch.len() >= batch_size {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                    self.sweep_batch(full, now, cutoff, options.dry_run, &mut report)
                        .await?;
                    progress(&report);
                }
            }
            if !batch.is_empty() {
                self.sweep_batch(batch, now, cutoff, options.dry_run, &mut report)
                    .await?;
                progress(&report);
            }
        }
        if report.deleted > 0 || report.failed > 0 {
            info!(
                scanned = report.scanned,
                referenced = report.referenced,
                deleted = report.deleted,
                deleted_bytes = report.deleted_bytes,
                kept_young = report.kept_young,
                kept_undated = report.kept_undated,
                failed = report.failed,
                dry_run = report.dry_run,
                "sweep finished"
            );
        } else {
            debug!(
                scanned = report.scanned,
                referenced = report.referenced,
                kept_young = report.kept_young,
                kept_undated = report.kept_undated,
                "sweep finished: nothing to delete"
            );
        }
        Ok(report)
    }

    /// Settles one batch of listed objects, adding to `report`.
    async fn sweep_batch(
        &self,
        objects: Vec<ListedObject>,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
        dry_run: bool,
        report: &mut SweepReport,
    ) -> Result<(), VaultError> {
        report.scanned += objects.len() as u64;
        let referenced = self.referenced(objects.iter()).await?;
        let mut old = Vec::new();
        for object in objects {
            if referenced.contains(&object.key) {
                report.referenced += 1;
                continue;
            }
            match object.info.last_modified {
                None => report.kept_undated += 1,
                // Also an object dated after `now`: a storage clock ahead of ours.
                Some(written) if written >= cutoff => report.kept_young += 1,
                Some(written) => old.push((object, written)),
            }
        }
        if old.is_empty() {
            return Ok(());
        }
        // Look again just before deleting: a slow pass gives rows time to appear.
        let referenced = self
            .referenced(old.iter().map(|(object, _)| object))
            .await?;
        for (object, written) in old {
            let key = &object.key;
            if referenced.contains(key) {
                report.referenced += 1;
                continue;
            }
            let bytes = object.info.size;
            let age_secs = (now - written).num_seconds();
            if dry_run {
                info!(%key, bytes, %written, age_secs, "sweep (dry run): would delete an unreferenced object");
            } else if let Err(error) = self.inner.storage.delete(key).await {
                warn!(%key, %error, "sweep could not delete an unreferenced object; the next pass tries again");
                report.failed += 1;
                continue;
            } else {
                // Media is served from memory by key: stop serving a cached copy too.
                self.inner.media.invalidate();
                info!(%key, bytes, %written, age_secs, "sweep deleted an unreferenced object");
            }
            report.deleted += 1;
            report.deleted_bytes += bytes;
        }
        Ok(())
    }

    /// Which of `objects` a row refers to.
    async fn referenced(
        &self,
        objects: impl Iterator<Item = &ListedObject>,
    ) -> Result<HashSet<StorageKey>, VaultError> {
        let keys: Vec<StorageKey> = objects.map(|object| object.key.clone()).collect();
        Ok(self.inner.repo.referenced_keys(&keys).await?)
    }

    /// Runs [`sweep`](Self::sweep) now and then every `interval` (at least a second), until
    /// `shutdown`. A pass that fails is logged and tried again at the next interval; a pass
    /// still running at shutdown is stopped where it is, which leaves nothing half-done.
    pub async fn run_sweeper(
        &self,
        interval: Duration,
        options: SweepOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(interval.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticks.tick() => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        swept = self.sweep(&options) => {
                            crate::metrics::record_sweep(swept.as_ref().ok());
                            if let Err(error) = swept {
                                warn!(%error, "sweep failed; trying again next interval");
                            }
                        }
                    }
                }
            }
        }
    }
}
