//! [`MemoryJobQueue`]: the [`JobQueue`] port in process memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::queue::{DeadLetter, Delivery, DeliveryId, Job, JobQueue, QueueDepth, QueueError};

/// A bounded [`JobQueue`] in process memory: the embedded default.
///
/// Jobs live only as long as the process; the reconciler re-enqueues unfinished work from
/// the repository after a restart, so nothing is lost for good. When `capacity` jobs are
/// waiting or in flight, `enqueue` refuses with [`QueueError::Full`] instead of growing.
/// A job equal to one waiting for its first delivery is merged into it, as the
/// [`JobQueue`] contract says.
///
/// ```
/// use std::time::Duration;
/// use imagevault_core::{ImageId, Job, JobQueue, MemoryJobQueue};
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let queue = MemoryJobQueue::new(100);
/// queue.enqueue(Job::GenerateThumbnails { image_id: ImageId::new() }).await.unwrap();
/// let delivery = queue.reserve(Duration::from_secs(60), Duration::ZERO).await.unwrap().unwrap();
/// queue.ack(&delivery).await.unwrap();
/// assert_eq!(queue.depth().await.unwrap().in_flight, 0);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryJobQueue {
    capacity: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_delivery: u64,
    ready: VecDeque<Entry>,
    delayed: Vec<(Instant, Entry)>,
    in_flight: HashMap<u64, (Instant, Entry)>,
    dead: VecDeque<DeadLetter>,
    /// The jobs of the entries in `ready` that were never delivered: an enqueue of one of
    /// these is merged into the waiting entry.
    fresh: HashSet<Job>,
}

#[derive(Debug, Clone)]
struct Entry {
    job: Job,
    /// Deliveries made so far.
    deliveries: u32,
}

/// Dead letters kept, newest first; older ones are dropped so memory stays bounded.
const DEAD_LETTERS_KEPT: usize = 10_000;

impl MemoryJobQueue {
    /// A queue holding at most `capacity` jobs (ready, delayed and in flight together).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every method leaves the state consistent between statements, so a poisoned lock
        // (a panic elsewhere while holding it) is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn delivery_number(delivery: &Delivery) -> Option<u64> {
        delivery.id.0.strip_prefix("mem-")?.parse().ok()
    }

    fn settle(&self, delivery: &Delivery) -> Option<Entry> {
        let number = Self::delivery_number(delivery)?;
        self.state()
            .in_flight
            .remove(&number)
            .map(|(_, entry)| entry)
    }
}

impl State {
    /// Moves due retries and lapsed leases to the ready queue; returns the next time
    /// something becomes due, if anything is waiting.
    fn promote(&mut self, now: Instant) -> Option<Instant> {
        let lapsed: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(number, _)| *number)
            .collect();
        for number in lapsed {
            if let Some((_, entry)) = self.in_flight.remove(&number) {
                self.ready.push_back(entry);
            }
        }
        let mut index = 0;
        while index < self.delayed.len() {
            if self.delayed[index].0 <= now {
                let (_, entry) = self.delayed.swap_remove(index);
                self.ready.push_back(entry);
            } else {
                index += 1;
            }
        }
        self.delayed
            .iter()
            .map(|(due, _)| *due)
            .chain(self.in_flight.values().map(|(deadline, _)| *deadline))
            .min()
    }

    fn len(&self) -> usize {
        self.ready.len() + self.delayed.len() + self.in_flight.len()
    }
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn enqueue(&self, job: Job) -> Result<(), QueueError> {
        {
            let mut state = self.state();
            // Before the capacity check: a merged job needs no room.
            if state.fresh.contains(&job) {
                return Ok(());
            }
            if state.len() >= self.capacity {
                return Err(QueueError::Full {
                    capacity: self.capacity,
                });
            }
            state.fresh.insert(job.clone());
            state.ready.push_back(Entry { job, deliveries: 0 });
        }
        self.changed.notify_waiters();
        Ok(())
    }

    async fn reserve(
        &self,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        let give_up = Instant::now() + wait;
        loop {
            // Register interest before looking, so an enqueue between the look and the
            // wait still wakes this call.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let next_due = {
                let mut state = self.state();
                let next_due = state.promote(now);
                if let Some(mut entry) = state.ready.pop_front() {
                    if entry.deliveries == 0 {
                        state.fresh.remove(&entry.job);
                    }
                    entry.deliveries = entry.deliveries.saturating_add(1);
                    let number = state.next_delivery;
                    state.next_delivery += 1;
                    let delivery = Delivery {
                        id: DeliveryId(format!("mem-{number}")),
                        job: entry.job.clone(),
                        attempt: entry.deliveries,
                    };
                    state.in_flight.insert(number, (now + lease, entry));
                    return Ok(Some(delivery));
                }
                next_due
            };
            if now >= give_up {
                return Ok(None);
            }
            let wake = next_due.map_or(give_up, |due| due.min(give_up));
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.settle(delivery);
        Ok(())
    }

    async fn retry(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        if let Some(entry) = self.settle(delivery) {
            self.state().delayed.push((Instant::now() + delay, entry));
            self.changed.notify_waiters();
        }
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        if let Some(entry) = self.settle(delivery) {
            let mut state = self.state();
            state.dead.push_front(DeadLetter {
                job: entry.job,
                attempts: entry.deliveries,
                reason: reason.to_owned(),
            });
            state.dead.truncate(DEAD_LETTERS_KEPT);
        }
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.state().dead.iter().take(limit).cloned().collect())
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let mut state = self.state();
        state.promote(Instant::now());
        Ok(QueueDepth {
            ready: state.ready.len() as u64,
            delayed: state.delayed.len() as u64,
            in_flight: state.in_flight.len() as u64,
            dead: state.dead.len() as u64,
        })
    }
}
