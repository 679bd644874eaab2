//! Background work: making thumbnails, backfills after plan changes, and the reconciler
//! that rebuilds lost queue entries from the database.

use std::future::Future;
use std::time::Duration;

use chrono::TimeDelta;
use tracing::{debug, error, info, warn};

use crate::error::VaultError;
use crate::image::{ImageId, ImageRecord};
use crate::imaging::{self, Rendered};
use crate::metrics;
use crate::plan::ThumbnailHeight;
use crate::queue::{Delivery, Job};
use crate::repo::WorkScope;
use crate::storage::StorageKey;
use crate::thumbnail::{Thumbnail, ThumbnailStatus, failure_reason};

use super::Vault;

/// How [`Vault::handle_delivery`] settled a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Done (or nothing left to do); acknowledged.
    Completed,
    /// Failed for now; queued again after `delay`.
    Retrying {
        /// The backoff before the next delivery.
        delay: Duration,
    },
    /// Given up: moved to the dead-letter set, its thumbnails marked failed.
    DeadLettered {
        /// Why.
        reason: String,
    },
}

/// Options for [`Vault::run_worker`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// Jobs processed at once by this worker. Default
    /// [`DEFAULT_CONCURRENCY`](Self::DEFAULT_CONCURRENCY).
    pub concurrency: usize,
    /// How long one `reserve` call waits for a job before checking for shutdown. Default 1 s.
    pub poll_wait: Duration,
}

impl WorkerOptions {
    /// The default of [`concurrency`](Self::concurrency): 2.
    pub const DEFAULT_CONCURRENCY: usize = 2;
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: Self::DEFAULT_CONCURRENCY,
            poll_wait: Duration::from_secs(1),
        }
    }
}

/// Why a job failed: worth retrying, or never going to work.
#[derive(Debug)]
enum JobError {
    Transient(VaultError),
    Permanent(String),
}

impl From<VaultError> for JobError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Repo(_) | VaultError::Storage(_) | VaultError::Queue(_) => {
                Self::Transient(error)
            }
            other => Self::Permanent(other.to_string()),
        }
    }
}

impl Vault {
    /// Runs a job once. Idempotent: running it again, or concurrently, makes no duplicate
    /// thumbnails and leaves no stray objects.
    async fn process(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::GenerateThumbnails { image_id } => self.generate_thumbnails(*image_id).await,
            Job::BackfillOwner { user_id } => {
                let queued = self.backfill(WorkScope::Owner(*user_id)).await?;
                info!(user = %user_id, queued, "backfill queued thumbnail work");
                Ok(())
            }
            Job::BackfillPlan { plan_id } => {
                let queued = self.backfill(WorkScope::Plan(*plan_id)).await?;
                info!(plan = %plan_id, queued, "backfill queued thumbnail work");
                Ok(())
            }
        }
    }

    /// The heights to make now: the owner's current plan heights whose rows are pending,
    /// and whether the plan wants WebP variants. Rows missing for the current plan are
    /// created first.
    async fn pending_heights(
        &self,
        record: &ImageRecord,
    ) -> Result<(Vec<ThumbnailHeight>, bool), JobError> {
        let repo = &self.inner.repo;
        let Some(owner) = repo
            .get_user(record.image.owner)
            .await
            .map_err(VaultError::from)?
        else {
            return Ok((Vec::new(), false));
        };
        let plan = match owner.plan_id {
            Some(plan_id) => repo.get_plan(plan_id).await.map_err(VaultError::from)?,
            None => None,
        };
        let Some(plan) = plan else {
            return Ok((Vec::new(), false));
        };
        let now = self.now();
        let image = &record.image;
        let missing: Vec<Thumbnail> = plan
            .thumbnail_heights
            .as_slice()
            .iter()
            .filter(|height| {
                !record
                    .thumbnails
                    .iter()
                    .any(|row| row.max_height == **height)
            })
            .map(|&height| Thumbnail {
                lease_holder: self.work_holder(),
                ..Thumbnail::pending(image.id, height, image.width, image.height, now)
            })
            .collect();
        if !missing.is_empty() {
            repo.ensure_thumbnails(&missing)
                .await
                .map_err(VaultError::from)?;
        }
        let heights = plan
            .thumbnail_heights
            .as_slice()
            .iter()
            .copied()
            .filter(|height| {
                record
                    .thumbnails
                    .iter()
                    .find(|row| row.max_height == *height)
                    .is_none_or(|row| row.status == ThumbnailStatus::Pending)
            })
            .collect();
        Ok((heights, plan.thumbnail_formats.webp()))
    }

    async fn generate_thumbnails(&self, image_id: ImageId) -> Result<(), JobError> {
        let repo = &self.inner.repo;
        let Some(record) = repo
            .get_image_by_id(image_id)
            .await
            .map_err(VaultError::from)?
        else {
            debug!(image = %image_id, "image deleted before its thumbnails were made");
            return Ok(());
        };
        let (mut todo, webp) = self.pending_heights(&record).await?;
        if todo.is_empty() {
            return Ok(());
        }
        // A file that kills the worker process never gets to fail its job; its rows keep
        // coming back through the reconciler. Stop after the allowed number of attempts.
        let exhausted: Vec<ThumbnailHeight> = record
            .thumbnails
            .iter()
            .filter(|row| {
                todo.contains(&row.max_height) && row.attempts >= self.inner.config.max_attempts
            })
            .map(|row| row.max_height)
            .collect();
        if !exhausted.is_empty() {
            warn!(image = %image_id, ?exhausted, "thumbnails failed: out of attempts");
            let reason = format!(
                "gave up after {} attempts that did not finish",
                self.inner.config.max_attempts
            );
            repo.fail_thumbnails(image_id, &exhausted, &reason, self.now())
                .await
                .map_err(VaultError::from)?;
            for height in &exhausted {
                metrics::record_thumbnails(*height, true, 1);
            }
            todo.retain(|height| !exhausted.contains(height));
            if todo.is_empty() {
                return Ok(());
            }
        }
        repo.start_thumbnail_attempt(image_id, &todo, self.now(), self.work_holder())
            .await
            .map_err(VaultError::from)?;

        let image = &record.image;
        let Some(original) = self
            .inner
            .storage
            .get(&image.storage_key)
            .await
            .map_err(VaultError::from)?
        else {
            // The reason is shown to administrators and kept with the dead letter: it
            // names no storage key, which is as good as a link to the original.
            return Err(JobError::Permanent(
                "the original is missing from storage".into(),
            ));
        };
        let data = original.bytes().await.map_err(VaultError::from)?;
        let heights: Vec<u32> = todo.iter().map(|height| height.get()).collect();
        let limits = self.inner.config.limits;
        // The header tells what the decode will take; the render waits for that much of
        // the memory budget, and holds it until it is done.
        let header = data.clone();
        let info = self
            .inner
            .pool
            .run(move || imaging::inspect(&header, &limits))
            .await
            .map_err(|_| JobError::Permanent("the image inspector panicked".into()))?
            .map_err(|error| JobError::Permanent(error.to_string()))?;
        let _memory = self
            .inner
            .decode_memory
            .reserve(info.render_bytes(&heights))
            .await;
        let Rendered {
            thumbnails: rendered,
            placeholder,
        } = self
            .inner
            .pool
            .run(move || {
                let options = imaging::RenderOptions::with_webp(webp);
                imaging::render_thumbnails_with(&data, &heights, &limits, options)
            })
            .await
            .map_err(|_| JobError::Permanent("the image decoder panicked".into()))?
            .map_err(|error| JobError::Permanent(error.to_string()))?;

        // Stored before the thumbnails are, so that a failure here is retried while they
        // are still pending, and pages have it while the thumbnails are still being stored.
        // Made from the smallest thumbnail rendered now, it replaces the image's earlier one:
        // a regeneration renders every height, so the placeholder follows the pipeline (a
        // backfilled larger height gives a placeholder of the same picture).
        if let Some(placeholder) = placeholder {
            let stored = repo
                .set_placeholder(image_id, &placeholder)
                .await
                .map_err(VaultError::from)?;
            if !stored {
                debug!(image = %image_id, "image deleted while its placeholder was made");
            }
        }

        // Only an image's first rendering, complete, tells how long an upload waited to be
        // ready; a regeneration or a duplicate delivery would count an old upload again.
        let mut first_ready = exhausted.is_empty()
            && record
                .thumbnails
                .iter()
                .all(|row| row.status != ThumbnailStatus::Ready);
        for (height, thumbnail) in todo.iter().zip(rendered) {
            let previous = record
                .thumbnails
                .iter()
                .find(|row| row.max_height == *height);
            // The WebP variant is stored and recorded first, so that a row of a WebP plan
            // is never ready without it.
            let mut previous_webp = None;
            if let Some(webp) = thumbnail.webp {
                let webp_key = StorageKey::new_webp_thumbnail();
                // The port's format names the source image's type; the object's own type
                // is in its key (`.webp`), which is what `/media/` serves it by.
                self.inner
                    .storage
                    .put(&webp_key, webp.into(), image.format)
                    .await
                    .map_err(VaultError::from)?;
                let attached = repo
                    .attach_thumbnail_webp(image_id, *height, &webp_key)
                    .await
                    .map_err(VaultError::from);
                match attached {
                    Ok(true) => {
                        previous_webp = previous
                            .and_then(|row| row.webp_storage_key.as_ref())
                            .filter(|previous| **previous != webp_key);
                    }
                    Ok(false) => {
                        debug!(image = %image_id, %height, "thumbnail already settled; discarding duplicate");
                        first_ready = false;
                        self.delete_stray(&webp_key).await;
                        continue;
                    }
                    Err(error) => {
                        self.delete_stray(&webp_key).await;
                        return Err(error.into());
                    }
                }
            }
            let key = StorageKey::new_thumbnail(image.format);
            self.inner
                .storage
                .put(&key, thumbnail.data.into(), image.format)
                .await
                .map_err(VaultError::from)?;
            let completed = repo
                .complete_thumbnail(image_id, *height, &key, self.now())
                .await
                .map_err(VaultError::from);
            match completed {
                Ok(true) => {
                    metrics::record_thumbnails(*height, false, 1);
                    // A thumbnail made again (see `Vault::regenerate_thumbnails`) kept its
                    // old object until now; it is no longer referenced.
                    let previous = previous
                        .and_then(|row| row.storage_key.as_ref())
                        .filter(|previous| **previous != key);
                    for stale in previous.into_iter().chain(previous_webp) {
                        self.delete_stray(stale).await;
                    }
                }
                Ok(false) => {
                    // Another delivery finished first, or the image was deleted meanwhile.
                    // A WebP variant attached above is left alone: the winner may have
                    // attached after it and be using it; if not, the sweeper removes it.
                    debug!(image = %image_id, %height, "thumbnail already settled; discarding duplicate");
                    first_ready = false;
                    self.delete_stray(&key).await;
                }
                Err(error) => {
                    self.delete_stray(&key).await;
                    return Err(error.into());
                }
            }
        }
        info!(image = %image_id, heights = ?todo, "thumbnails ready");
        if first_ready && let Ok(waited) = (self.now() - image.created_at).to_std() {
            metrics::record_upload_to_ready(waited);
        }
        Ok(())
    }

    async fn delete_stray(&self, key: &StorageKey) {
        if let Err(error) = self.inner.storage.delete(key).await {
            warn!(%key, %error, "could not delete an unneeded thumbnail object");
        }
    }

    /// Marks what a given-up job leaves unfinished as failed, for `reason`.
    async fn give_up(&self, job: &Job, reason: &str) -> Result<(), VaultError> {
        if let Job::GenerateThumbnails { image_id } = job
            && let Some(record) = self.inner.repo.get_image_by_id(*image_id).await?
        {
            let pending: Vec<ThumbnailHeight> = record
                .thumbnails
                .iter()
                .filter(|row| row.status == ThumbnailStatus::Pending)
                .map(|row| row.max_height)
                .collect();
            self.inner
                .repo
                .fail_thumbnails(*image_id, &pending, &failure_reason(reason), self.now())
                .await?;
            for height in &pending {
                metrics::record_thumbnails(*height, true, 1);
            }
        }
        Ok(())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let config = &self.inner.config;
        let doublings = attempt.saturating_sub(1).min(30);
        config
            .retry_base_delay
            .saturating_mul(1u32 << doublings)
            .min(config.retry_max_delay)
    }

    /// Processes one delivery and settles it with the queue: acknowledged when done,
    /// retried with exponential backoff after a transient failure, dead-lettered (with its
    /// thumbnails marked failed) after a permanent failure or the last attempt.
    pub async fn handle_delivery(&self, delivery: &Delivery) -> Result<JobOutcome, VaultError> {
        let queue = &self.inner.queue;
        let reason = match self.process(&delivery.job).await {
            Ok(()) => {
                queue.ack(delivery).await?;
                metrics::record_job(metrics::OUTCOME_COMPLETED);
                return Ok(JobOutcome::Completed);
            }
            Err(JobError::Transient(error))
                if delivery.attempt < self.inner.config.max_attempts =>
            {
                let delay = self.backoff(delivery.attempt);
                warn!(job = ?delivery.job, attempt = delivery.attempt, ?delay, %error, "job failed; retrying");
                queue.retry(delivery, delay).await?;
                metrics::record_job(metrics::OUTCOME_RETRIED);
                return Ok(JobOutcome::Retrying { delay });
            }
            Err(JobError::Transient(error)) => {
                format!("gave up after {} attempts: {error}", delivery.attempt)
            }
            Err(JobError::Permanent(reason)) => reason,
        };
        error!(job = ?delivery.job, attempt = delivery.attempt, %reason, "job failed for good");
        self.give_up(&delivery.job, &reason).await?;
        queue.dead_letter(delivery, &reason).await?;
        metrics::record_job(metrics::OUTCOME_DEAD_LETTERED);
        Ok(JobOutcome::DeadLettered { reason })
    }

    /// Processes jobs that are ready now, until the queue has none or `max_jobs` were
    /// handled; returns how many were handled. For tests and for programs that want to
    /// drive the work themselves.
    pub async fn run_pending_jobs(&self, max_jobs: usize) -> Result<usize, VaultError> {
        let mut handled = 0;
        while handled < max_jobs {
            let Some(delivery) = self
                .inner
                .queue
                .reserve(self.inner.config.job_lease, Duration::ZERO)
                .await?
            else {
                break;
            };
            self.handle_delivery(&delivery).await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// Runs a worker until `shutdown` completes: `options.concurrency` loops that reserve,
    /// process and settle jobs. On shutdown it stops taking jobs (within one
    /// `options.poll_wait`) and finishes those it has; anything cut short (by a crash) is
    /// redelivered when its lease lapses.
    pub async fn run_worker(
        &self,
        options: WorkerOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let loops: Vec<_> = (0..options.concurrency.max(1))
            .map(|_| {
                let vault = self.clone();
                let stop = stop_rx.clone();
                let wait = options.poll_wait;
                tokio::spawn(async move {
                    while !*stop.borrow() {
                        // Not raced against the stop signal: a reserve cancelled midway
                        // could leave a job reserved by nobody until its lease lapses.
                        // Stopping waits at most one `poll_wait` more, and a job reserved
                        // meanwhile is finished like the others.
                        let reserved = vault
                            .inner
                            .queue
                            .reserve(vault.inner.config.job_lease, wait)
                            .await;
                        match reserved {
                            Ok(Some(delivery)) => {
                                if let Err(error) = vault.handle_delivery(&delivery).await {
                                    warn!(%error, "could not settle a job; it will be redelivered");
                                }
                            }
                            Ok(None) => {}
                            Err(error) => {
                                warn!(%error, "the job queue failed; pausing before the next try");
                                let mut stop = stop.clone();
                                tokio::select! {
                                    () = tokio::time::sleep(wait) => {}
                                    _ = stop.changed() => {}
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        shutdown.await;
        let _ = stop_tx.send(true);
        for handle in loops {
            if let Err(error) = handle.await {
                error!(%error, "a worker loop panicked");
            }
        }
    }

    /// A full reconciler pass: removes dead work holders
    /// ([`sweep_dead_holders`](Self::sweep_dead_holders)), then queues every image whose
    /// thumbnails are pending without a live lease (lapsed, or held by a dead holder), or
    /// missing for the owner's current plan. The database is the source of
    /// truth, so work lost with the queue (a restart, a flushed Redis) is found again here.
    /// It reads every image; [`reconcile_lapsed`](Self::reconcile_lapsed) is the cheap pass.
    /// Returns the number of jobs queued.
    pub async fn reconcile(&self) -> Result<usize, VaultError> {
        self.reconcile_scope(WorkScope::All).await
    }

    /// A cheap reconciler pass: removes dead work holders, then queues only the images
    /// with a pending thumbnail whose lease has lapsed or whose holder is dead (an upload's
    /// job lost with the queue), found from an index of pending rows. Thumbnails missing for a changed plan are left to [`reconcile`](Self::reconcile).
    /// Returns the number of jobs queued.
    pub async fn reconcile_lapsed(&self) -> Result<usize, VaultError> {
        self.reconcile_scope(WorkScope::LapsedLeases).await
    }

    async fn reconcile_scope(&self, scope: WorkScope) -> Result<usize, VaultError> {
        // Dead holders first, so that the work they held is claimed in this pass. A failed
        // sweep leaves that work to its lease, as without holders.
        if let Err(error) = self.sweep_dead_holders().await {
            warn!(%error, "could not sweep dead work holders");
        }
        let queued = self.backfill(scope).await?;
        if queued > 0 {
            info!(queued, ?scope, "reconciler queued thumbnail work");
        }
        Ok(queued)
    }

    /// Reconciles every `interval` until `shutdown`, finishing on every tick the user
    /// deletions a crash left unfinished ([`finish_user_deletions`](Self::finish_user_deletions)): a full pass ([`reconcile`](Self::reconcile))
    /// now and then every [`VaultConfig::full_reconcile_every`](super::VaultConfig::full_reconcile_every), a lapsed-lease pass
    /// ([`reconcile_lapsed`](Self::reconcile_lapsed)) at the other ticks. A full pass reads
    /// every image (seconds at a million), so it does not run every minute.
    pub async fn run_reconciler(
        &self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_full: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                tick = ticks.tick() => {
                    let full = last_full.is_none_or(|at| {
                        tick.duration_since(at) >= self.inner.config.full_reconcile_every
                    });
                    let pass = if full {
                        self.reconcile().await
                    } else {
                        self.reconcile_lapsed().await
                    };
                    metrics::record_reconciler_pass(full, pass.as_ref().ok().copied());
                    if let Err(error) = self.finish_user_deletions().await {
                        warn!(%error, "finishing user deletions failed; trying again next interval");
                    }
                    if let Err(error) = self.purge_ended_sessions().await {
                        warn!(%error, "deleting ended sessions failed; trying again next interval");
                    }
                    match pass {
                        // A failed full pass is tried again at the next tick.
                        Ok(_) if full => last_full = Some(tick),
                        Ok(_) => {}
                        Err(error) => {
                            warn!(%error, full, "reconciler pass failed; trying again next interval");
                        }
                    }
                }
            }
        }
    }
}

/// The lease as a signed duration, for timestamp arithmetic.
pub(super) fn lease_delta(lease: Duration) -> TimeDelta {
    TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX)
}
