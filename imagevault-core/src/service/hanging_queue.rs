//! A job queue for tests of what happens while an enqueue hangs.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use crate::MemoryJobQueue;
use crate::queue::{DeadLetter, Delivery, Job, JobQueue, QueueDepth, QueueError};

/// The in-memory queue with an `enqueue` that hangs until the test lets it through,
/// or for good, as a Redis client's does while it retries a lost connection.
#[derive(Debug)]
pub(crate) struct HangingQueue {
    pub(crate) jobs: MemoryJobQueue,
    /// Notified as an enqueue starts to hang.
    pub(crate) hanging: Notify,
    /// An enqueue goes through once it gets a permit; there are none at first.
    pub(crate) gate: Semaphore,
}

impl HangingQueue {
    pub(crate) fn new() -> Self {
        Self {
            jobs: MemoryJobQueue::new(10),
            hanging: Notify::new(),
            gate: Semaphore::new(0),
        }
    }

    /// Runs `work` until it starts to queue a job, drops it there, as a request's future
    /// is dropped when its client disconnects, then lets the held enqueue through. Returns
    /// the job queued within 10 s after, if any. Panics if `work` finishes without queueing.
    pub(crate) async fn drop_while_enqueueing(&self, work: impl Future) -> Option<Delivery> {
        tokio::select! {
            _ = work => panic!("the work finished while its enqueue was held"),
            () = self.hanging.notified() => {}
        }
        self.gate.add_permits(1);
        self.jobs
            .reserve(Duration::from_secs(60), Duration::from_secs(10))
            .await
            .expect("the in-memory queue does not fail")
    }
}

#[async_trait]
impl JobQueue for HangingQueue {
    async fn enqueue(&self, job: Job) -> Result<(), QueueError> {
        self.hanging.notify_one();
        let _permit = self.gate.acquire().await.expect("the gate is never closed");
        self.jobs.enqueue(job).await
    }
    async fn reserve(
        &self,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        self.jobs.reserve(lease, wait).await
    }
    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.jobs.ack(delivery).await
    }
    async fn retry(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.jobs.retry(delivery, delay).await
    }
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        self.jobs.dead_letter(delivery, reason).await
    }
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.jobs.dead_letters(limit).await
    }
    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        self.jobs.depth().await
    }
}
