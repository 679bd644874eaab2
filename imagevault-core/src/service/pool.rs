//! Bounded pools for CPU-heavy work (decoding and resizing; password hashing), so that it
//! never runs on the async executor and a burst of uploads cannot decode without limit.
//!
//! Password hashing has a pool of its own that refuses work beyond a short queue
//! ([`AdmissionPool`]): anyone can send passwords, so a flood of them must neither take the
//! threads that render thumbnails nor pile up waiting.

use std::sync::Arc;

use tokio::sync::Semaphore;

#[derive(Debug)]
pub(crate) struct BlockingPool {
    permits: Arc<Semaphore>,
}

/// The work panicked; the panic was contained to this task.
#[derive(Debug)]
pub(crate) struct Panicked;

impl BlockingPool {
    pub(crate) fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// Runs `work` on tokio's blocking threads once one of the pool's permits is free.
    /// A panic in `work` (for example inside a decoder) comes back as [`Panicked`].
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, Panicked>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The semaphore is never closed, so acquiring only fails if that invariant breaks.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Panicked)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| Panicked)
    }
}

/// A [`BlockingPool`] that admits at most `concurrency + queue` jobs at once (running or
/// waiting) through [`try_run`](Self::try_run) and refuses the rest at once.
#[derive(Debug)]
pub(crate) struct AdmissionPool {
    pool: BlockingPool,
    admitted: Arc<Semaphore>,
}

/// Every running and waiting place of an [`AdmissionPool`] was taken.
#[derive(Debug)]
pub(crate) struct Saturated;

impl AdmissionPool {
    pub(crate) fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            pool: BlockingPool::new(concurrency),
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
        }
    }

    /// Runs `work` like [`BlockingPool::run`] if a place is free, else answers [`Saturated`]
    /// without running it.
    pub(crate) async fn try_run<T, F>(&self, work: F) -> Result<Result<T, Panicked>, Saturated>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Saturated)?;
        Ok(self.pool.run(work).await)
    }

    /// Runs `work` when a running place is free, however long that takes: for callers that
    /// are already trusted (an administrator setting a password).
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, Panicked>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.pool.run(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_admission_pool_refuses_beyond_its_places() {
        let pool = Arc::new(AdmissionPool::new(1, 2));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let mut running = Vec::new();
        for _ in 0..3 {
            let pool = pool.clone();
            let released = released.clone();
            running.push(tokio::spawn(async move {
                pool.try_run(move || {
                    let _ = released.lock().unwrap().recv();
                })
                .await
            }));
        }
        // Let the three take their places (one running, two waiting).
        while pool.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(pool.try_run(|| ()).await.is_err(), "a fourth is refused");
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for task in running {
            assert!(matches!(task.await.unwrap(), Ok(Ok(()))));
        }
        assert!(matches!(pool.try_run(|| 7).await, Ok(Ok(7))));
    }

    #[tokio::test]
    async fn a_panic_is_contained_and_frees_its_permit() {
        let pool = BlockingPool::new(1);
        let result: Result<(), Panicked> = pool.run(|| panic!("a decoder bug")).await;
        assert!(result.is_err(), "the panic comes back as Panicked");
        // The single permit was released by the unwinding task, so work still runs.
        let value = tokio::time::timeout(std::time::Duration::from_secs(10), pool.run(|| 42))
            .await
            .expect("the pool is not stuck after a panic");
        assert_eq!(value.ok(), Some(42));
    }
}
