//! In-memory adapters: [`MemoryRepo`] and [`MemoryJobQueue`].
//!
//! Always compiled, for tests, examples and single-process programs that need no
//! persistence. For storage, use [`ObjectStorage::memory`](crate::ObjectStorage::memory),
//! object_store's own in-memory store.

mod queue;
mod repo;

pub use queue::MemoryJobQueue;
pub use repo::MemoryRepo;
