//! A bounded pool for CPU-heavy work (decoding, resizing, password hashing), so that it
//! never runs on the async executor and a burst of uploads cannot decode without limit.

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

#[cfg(test)]
mod tests {
    use super::*;

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
