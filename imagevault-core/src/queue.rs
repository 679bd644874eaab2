//! The [`JobQueue`] port: background work with leases, retries and a dead-letter set.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::box_error::BoxError;
use crate::id::{ImageId, PlanId, UserId};

pub(crate) mod memory;

/// A unit of background work. Handlers are idempotent, so a job may safely run twice.
///
/// A job names what to work on, never the work itself (no list of heights): its handler
/// reads the current state when it runs. That is what lets a queue merge equal waiting
/// jobs (see the [`JobQueue`] contract); a variant that carried work would break it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Job {
    /// Make the missing thumbnails of one image for its owner's current plan.
    GenerateThumbnails {
        /// The image.
        image_id: ImageId,
    },
    /// Queue thumbnail work for every image of one user, after their plan changed.
    BackfillOwner {
        /// The user.
        user_id: UserId,
    },
    /// Queue thumbnail work for every image of every user on a plan, after it changed.
    BackfillPlan {
        /// The plan.
        plan_id: PlanId,
    },
}

/// Identifies one delivery of a job, for `ack`, `retry` and `dead_letter`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId(pub String);

/// A job handed to a worker under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// This delivery.
    pub id: DeliveryId,
    /// The job.
    pub job: Job,
    /// 1 for the first delivery; each retry or lease expiry adds one.
    pub attempt: u32,
}

/// A job that will not be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The job.
    pub job: Job,
    /// Deliveries made before it was given up.
    pub attempts: u32,
    /// Why it was given up.
    pub reason: String,
}

/// How much work a queue holds, for readiness probes and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Jobs ready to be reserved.
    pub ready: u64,
    /// Jobs waiting for a retry delay to pass.
    pub delayed: u64,
    /// Jobs reserved under a live lease.
    pub in_flight: u64,
    /// Jobs in the dead-letter set.
    pub dead: u64,
}

/// A failure of a [`JobQueue`] backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A bounded queue is full; the job was not accepted.
    #[error("the job queue is full ({capacity} jobs)")]
    Full {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The backend failed; `source` keeps the cause.
    #[error("{backend} queue failed")]
    Backend {
        /// Which backend, for example `"redis"`.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// A job queue with at-least-once delivery.
///
/// # Contract
/// - A job enqueued is delivered at least once, until acknowledged or dead-lettered.
/// - `reserve` hands a job out under a lease; if neither `ack`, `retry` nor `dead_letter`
///   follows before the lease ends, the job is delivered again with `attempt + 1`.
/// - `reserve` waits up to `wait` for a job and returns `Ok(None)` if none came.
/// - `retry` makes the job reservable again after `delay`, with `attempt + 1`.
/// - `ack`, `retry` and `dead_letter` of a delivery whose lease has lapsed (the job went to
///   someone else) or that was already settled change nothing and return `Ok(())`.
/// - Jobs arrive at least once, in no guaranteed order: handlers must be idempotent.
/// - Enqueueing a job equal to one that is waiting for its first delivery (enqueued and not
///   yet reserved) is a no-op that returns `Ok(())`: the waiting job stands for both, so
///   repeated enqueues for one image while no worker runs leave one job, not a pile. This
///   loses no work because a [`Job`] carries only ids: its handler reads what to do (the
///   plan's heights, the missing thumbnails) when it runs, so the one delivery does what
///   either job would have done. A job that has been reserved (in flight, or delayed for a
///   retry) absorbs nothing: its handler may already have read the state the new job was
///   queued for.
#[async_trait]
pub trait JobQueue: Send + Sync + Debug + 'static {
    /// Adds a job, unless an equal one is waiting for its first delivery (see the contract).
    async fn enqueue(&self, job: Job) -> Result<(), QueueError>;
    /// Takes a job under a lease of `lease`, waiting up to `wait` for one.
    async fn reserve(
        &self,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError>;
    /// Completes a delivery.
    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError>;
    /// Puts the job back, to be delivered again after `delay`.
    async fn retry(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError>;
    /// Gives the job up: it moves to the dead-letter set with `reason`.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError>;
    /// The newest dead letters, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// How much work the queue holds.
    async fn depth(&self) -> Result<QueueDepth, QueueError>;
}
