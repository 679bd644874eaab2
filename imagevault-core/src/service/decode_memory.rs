//! Admission of renders by the memory their decodes take, so that several large images
//! rendered at once cannot together take more than the configured budget.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB, so that a `u32` of permits covers terabytes.
const UNIT: u64 = 1024;

/// A budget of bytes that renders reserve before they decode, weighed by
/// [`ImageInfo::render_bytes`](crate::imaging::ImageInfo::render_bytes).
#[derive(Debug)]
pub(crate) struct DecodeMemory {
    permits: Arc<Semaphore>,
    total: u32,
}

impl DecodeMemory {
    /// A budget of `bytes` (at least one unit).
    pub(crate) fn new(bytes: u64) -> Self {
        let total = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until `bytes` of the budget are free and holds them until the permit drops.
    /// A decode larger than the whole budget waits for all of it and then runs alone, so
    /// every image the limits accept still gets rendered.
    pub(crate) async fn reserve(&self, bytes: u64) -> OwnedSemaphorePermit {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total);
        // The semaphore is never closed, so acquiring cannot fail; should that invariant
        // break, an unweighted permit keeps the render going rather than losing the job.
        match self.permits.clone().acquire_many_owned(units).await {
            Ok(permit) => permit,
            Err(_) => Arc::new(Semaphore::new(1))
                .acquire_owned()
                .await
                .unwrap_or_else(|_| unreachable!("a fresh semaphore is open")),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn renders_wait_for_the_memory_they_need() {
        let memory = DecodeMemory::new(100 * UNIT);
        let big = memory.reserve(60 * UNIT).await;
        assert!(
            memory.reserve(60 * UNIT).now_or_never().is_none(),
            "two decodes of 60 KiB must not run at once in 100 KiB"
        );
        let small = memory
            .reserve(40 * UNIT)
            .now_or_never()
            .expect("40 KiB still fit beside 60");
        drop(big);
        let again = memory
            .reserve(60 * UNIT)
            .now_or_never()
            .expect("the 60 KiB were given back");
        drop((small, again));
    }

    #[tokio::test]
    async fn a_decode_larger_than_the_budget_runs_alone() {
        let memory = DecodeMemory::new(100 * UNIT);
        let huge = memory
            .reserve(u64::MAX)
            .now_or_never()
            .expect("an oversized decode takes the whole budget instead of waiting forever");
        assert!(memory.reserve(1).now_or_never().is_none(), "it runs alone");
        drop(huge);
        assert!(memory.reserve(1).now_or_never().is_some());
    }
}
