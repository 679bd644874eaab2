//! Conformance suites for the ports: one per trait, run by every backend.
//!
//! A backend crate adds `imagevault-core = { features = ["testing"] }` to its
//! dev-dependencies and calls the suite from a test:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use imagevault_core::{MemoryJobQueue, MemoryRepo, ObjectStorage};
//! use imagevault_core::testing;
//!
//! testing::storage::run_all(&ObjectStorage::memory()).await;
//! testing::repo::run_all(&MemoryRepo::new()).await;
//! testing::queue::run_all(|| async { MemoryJobQueue::new(1_000) }).await;
//! # });
//! ```
//!
//! Each suite is also a macro that expands into one `#[tokio::test]` per check, so that a
//! backend breaking two rules fails two tests:
//! [`repo_conformance_tests!`](crate::repo_conformance_tests),
//! [`queue_conformance_tests!`](crate::queue_conformance_tests) and
//! [`storage_conformance_tests!`](crate::storage_conformance_tests). This is how the
//! built-in backends run them:
//!
//! ```
//! mod memory {
//!     imagevault_core::repo_conformance_tests!(async { imagevault_core::MemoryRepo::new() });
//! }
//! # fn main() {}
//! ```
//!
//! Each check panics with a message naming the broken rule, like an assertion in a test.
//! The checks write data (with random names, so suites can share a backend) and may
//! delete what they wrote: run them against test backends only. This module is not part
//! of the semver-stable API: checks are added as the contracts are refined.
//!
//! [`images`] builds the PNGs and JPEGs, valid and damaged, that tests of image handling upload;
//! [`profiles`] the ICC colour profiles to embed in them, and the colour-difference measure.

pub mod images;
pub mod profiles;
pub mod queue;
pub mod repo;
pub mod storage;

/// The variable that makes tests fail, instead of skip, when a service they need cannot
/// be reached; CI sets it to `1`.
pub const REQUIRE_SERVICES: &str = "IMAGEVAULT_REQUIRE_SERVICES";

/// What a test does when a service it needs (PostgreSQL, Redis, an S3 endpoint) cannot be
/// reached: it panics with `reason` when [`REQUIRE_SERVICES`] is `1`, and otherwise prints
/// `skipped: <reason>` and returns, so the caller can skip.
///
/// ```
/// # if std::env::var(imagevault_core::testing::REQUIRE_SERVICES).as_deref() != Ok("1") {
/// imagevault_core::testing::skip_unless_required("Redis at redis://127.0.0.1:1 is unreachable");
/// # }
/// ```
pub fn skip_unless_required(reason: &str) {
    if std::env::var(REQUIRE_SERVICES).as_deref() == Ok("1") {
        panic!("{reason} ({REQUIRE_SERVICES}=1)");
    }
    eprintln!("skipped: {reason}");
}

/// A short random suffix, so that names used by concurrent checks never collide.
pub(crate) fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
