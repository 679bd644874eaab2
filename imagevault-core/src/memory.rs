//! In-memory adapters: [`MemoryRepo`] and [`MemoryJobQueue`].
//!
//! Always compiled, for tests, examples and single-process programs that need no
//! persistence. For storage, use [`ObjectStorage::memory`](crate::ObjectStorage::memory),
//! object_store's own in-memory store. Each adapter lives beside its port
//! (`repo/memory.rs`, `queue/memory.rs`); this module gathers them under one name.

pub use crate::queue::memory::MemoryJobQueue;
pub use crate::repo::memory::MemoryRepo;
