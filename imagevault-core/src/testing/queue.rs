//! The [`JobQueue`] conformance suite.
//!
//! Each check needs an empty queue of its own (it reserves whatever is there): a Redis
//! backend gives each a fresh key prefix. Lease checks wait out short real leases (a few
//! hundred milliseconds).
//!
//! [`queue_conformance_tests!`](crate::queue_conformance_tests) writes one test per check
//! for a backend, so that a backend with two broken rules shows two failing tests;
//! [`run_all`] runs every check in one go.

use std::future::Future;
use std::time::Duration;

use crate::ImageId;
use crate::queue::{Job, JobQueue, QueueDepth};

const LONG: Duration = Duration::from_secs(60);
const SHORT_LEASE: Duration = Duration::from_millis(300);

/// The future of one check running on a queue.
pub type CheckFuture<'a> = futures::future::BoxFuture<'a, ()>;

/// One check of the suite, as [`queue_conformance_tests!`](crate::queue_conformance_tests)
/// hands it to a runner: a runner opens a queue, awaits the check on it, and cleans up.
pub type Check = for<'a> fn(&'a dyn JobQueue) -> CheckFuture<'a>;

/// The checks of the suite, the one list both [`queue_conformance_tests!`] and [`run_all`]
/// expand: hands `[check ...]` to `__queue_conformance!(@<then> <args> [...])`.
///
/// [`queue_conformance_tests!`]: crate::queue_conformance_tests
#[doc(hidden)]
#[macro_export]
macro_rules! __queue_conformance {
    (@checks $then:ident $args:tt) => {
        $crate::__queue_conformance!(@$then $args [
            enqueue_reserve_ack
            reserve_waits_then_gives_up
            reserve_wakes_on_enqueue
            lapsed_lease_redelivers
            retry_redelivers_after_delay
            dead_letter_keeps_the_job
            settling_twice_is_harmless
            every_job_is_delivered
            waiting_duplicates_merge
        ]);
    };
    (@tests ($runner:expr) [$($name:ident)*]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                fn check(queue: &dyn $crate::JobQueue) -> $crate::testing::queue::CheckFuture<'_> {
                    ::std::boxed::Box::pin($crate::testing::queue::$name(queue))
                }
                ($runner)(check).await;
            }
        )*
    };
    (@run ($make:ident) [$($name:ident)*]) => {
        $( $crate::testing::queue::$name(&$make().await).await; )*
    };
}

/// Expands the suite into one `#[tokio::test]` per check, named after the check
/// (`enqueue_reserve_ack`, `lapsed_lease_redelivers`, ...), so that every broken rule shows
/// as a failing test of its own.
///
/// Each test gets an empty queue of its own, from one of two forms:
/// - an expression, evaluated in each test, that is a future of a [`JobQueue`]:
///   `queue_conformance_tests!(async { make_queue().await })`;
/// - `runner = f`, where `f` is an async function (or closure) taking a [`Check`]: it
///   opens a queue, awaits the check on it and cleans up after it, or returns without
///   calling the check to skip it.
///
/// Invoke it inside a module named after the backend, so that `cargo test` shows
/// `memory::enqueue_reserve_ack`. The tests use the multi-threaded tokio runtime, so the
/// crate needs `tokio` (features `macros` and `rt-multi-thread`) in its dev-dependencies.
///
/// ```
/// mod memory {
///     use imagevault_core::{MemoryJobQueue, queue_conformance_tests};
///
///     queue_conformance_tests!(async { MemoryJobQueue::new(1_000) });
/// }
///
/// mod with_a_runner {
///     use imagevault_core::testing::queue::Check;
///
///     /// Opens a queue for one check (here in memory; a queue on a server would take a
///     /// fresh key prefix, and delete its keys after the check).
///     async fn run(check: Check) {
///         let queue = imagevault_core::MemoryJobQueue::new(1_000);
///         check(&queue).await;
///     }
///
///     imagevault_core::queue_conformance_tests!(runner = run);
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! queue_conformance_tests {
    (runner = $runner:expr $(,)?) => {
        $crate::__queue_conformance!(@checks tests ($runner));
    };
    ($make:expr $(,)?) => {
        $crate::queue_conformance_tests!(runner = |check: $crate::testing::queue::Check| async move {
            check(&$make.await).await;
        });
    };
}

/// Runs every queue check in turn, each on a fresh queue from `make`; the first broken
/// rule stops the run (see [`queue_conformance_tests!`](crate::queue_conformance_tests) for
/// one test per check).
pub async fn run_all<Q, F, Fut>(make: F)
where
    Q: JobQueue,
    F: Fn() -> Fut,
    Fut: Future<Output = Q>,
{
    crate::__queue_conformance!(@checks run (make));
}

fn job() -> Job {
    Job::GenerateThumbnails {
        image_id: ImageId::new(),
    }
}

/// A job goes in, comes out once under a lease with attempt 1, and is gone once acked.
pub async fn enqueue_reserve_ack(queue: &dyn JobQueue) {
    let job = job();
    queue.enqueue(job.clone()).await.expect("enqueue failed");
    assert_eq!(
        queue.depth().await.expect("depth").ready,
        1,
        "an enqueued job must count as ready"
    );
    let delivery = queue
        .reserve(LONG, Duration::ZERO)
        .await
        .expect("reserve failed")
        .expect("no job delivered");
    assert_eq!(delivery.job, job, "a different job was delivered");
    assert_eq!(delivery.attempt, 1, "the first delivery is attempt 1");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(
        (depth.ready, depth.in_flight),
        (0, 1),
        "a reserved job is in flight, not ready"
    );
    assert!(
        queue
            .reserve(LONG, Duration::ZERO)
            .await
            .expect("reserve")
            .is_none(),
        "a leased job was handed out twice"
    );
    queue.ack(&delivery).await.expect("ack failed");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(
        (depth.ready, depth.in_flight, depth.delayed),
        (0, 0, 0),
        "an acked job must be gone"
    );
}

/// With nothing queued, reserve waits about `wait` and returns `None`.
pub async fn reserve_waits_then_gives_up(queue: &dyn JobQueue) {
    let started = std::time::Instant::now();
    let delivery = queue
        .reserve(LONG, Duration::from_millis(200))
        .await
        .expect("reserve failed");
    assert!(delivery.is_none(), "an empty queue delivered a job");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "reserve returned before its wait was over"
    );
}

/// A reserve that is waiting receives a job enqueued meanwhile.
pub async fn reserve_wakes_on_enqueue(queue: &dyn JobQueue) {
    let job = job();
    let (delivery, ()) = tokio::join!(queue.reserve(LONG, Duration::from_secs(10)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        queue.enqueue(job.clone()).await.expect("enqueue failed");
    });
    let delivery = delivery
        .expect("reserve failed")
        .expect("the waiting reserve missed the job");
    assert_eq!(delivery.job, job);
    queue.ack(&delivery).await.expect("ack failed");
}

/// A job whose lease lapses without being settled is delivered again, with attempt 2,
/// and an ack of the lapsed delivery does not remove the new one.
pub async fn lapsed_lease_redelivers(queue: &dyn JobQueue) {
    let job = job();
    queue.enqueue(job.clone()).await.expect("enqueue failed");
    let first = queue
        .reserve(SHORT_LEASE, Duration::ZERO)
        .await
        .expect("reserve")
        .expect("no job");
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
    let second = queue
        .reserve(LONG, Duration::from_secs(5))
        .await
        .expect("reserve")
        .expect("a job whose lease lapsed was not delivered again");
    assert_eq!(second.job, job);
    assert_eq!(
        second.attempt, 2,
        "a redelivery after a lapsed lease is attempt 2"
    );
    queue.ack(&first).await.expect("a stale ack must not fail");
    assert_eq!(
        queue.depth().await.expect("depth").in_flight,
        1,
        "a stale ack settled the new delivery"
    );
    queue.ack(&second).await.expect("ack failed");
    assert_eq!(queue.depth().await.expect("depth").in_flight, 0);
}

/// `retry` hides the job for its delay, then delivers it with the next attempt number.
pub async fn retry_redelivers_after_delay(queue: &dyn JobQueue) {
    let job = job();
    queue.enqueue(job.clone()).await.expect("enqueue failed");
    let first = queue
        .reserve(LONG, Duration::ZERO)
        .await
        .expect("reserve")
        .expect("no job");
    queue
        .retry(&first, Duration::from_millis(400))
        .await
        .expect("retry failed");
    assert!(
        queue
            .reserve(LONG, Duration::ZERO)
            .await
            .expect("reserve")
            .is_none(),
        "a retried job came back before its delay"
    );
    assert_eq!(
        queue.depth().await.expect("depth").delayed,
        1,
        "a retried job counts as delayed"
    );
    let second = queue
        .reserve(LONG, Duration::from_secs(5))
        .await
        .expect("reserve")
        .expect("a retried job never came back");
    assert_eq!((second.job.clone(), second.attempt), (job, 2));
    queue.ack(&second).await.expect("ack failed");
}

/// A dead-lettered job is never delivered again and is listed with its reason.
pub async fn dead_letter_keeps_the_job(queue: &dyn JobQueue) {
    let job = job();
    queue.enqueue(job.clone()).await.expect("enqueue failed");
    let delivery = queue
        .reserve(LONG, Duration::ZERO)
        .await
        .expect("reserve")
        .expect("no job");
    queue
        .dead_letter(&delivery, "corrupt image: test")
        .await
        .expect("dead_letter failed");
    assert!(
        queue
            .reserve(LONG, Duration::ZERO)
            .await
            .expect("reserve")
            .is_none(),
        "a dead letter was delivered"
    );
    let dead = queue.dead_letters(10).await.expect("dead_letters failed");
    let letter = dead
        .iter()
        .find(|letter| letter.job == job)
        .expect("the dead letter is not listed");
    assert_eq!(letter.reason, "corrupt image: test");
    assert_eq!(letter.attempts, 1);
    assert_eq!(queue.depth().await.expect("depth").dead, 1);
}

/// Settling a delivery twice, or in two ways, changes nothing the second time.
pub async fn settling_twice_is_harmless(queue: &dyn JobQueue) {
    queue.enqueue(job()).await.expect("enqueue failed");
    let delivery = queue
        .reserve(LONG, Duration::ZERO)
        .await
        .expect("reserve")
        .expect("no job");
    queue.ack(&delivery).await.expect("ack failed");
    queue
        .ack(&delivery)
        .await
        .expect("a second ack must not fail");
    queue
        .retry(&delivery, Duration::ZERO)
        .await
        .expect("retry after ack must not fail");
    queue
        .dead_letter(&delivery, "late")
        .await
        .expect("dead_letter after ack must not fail");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(
        depth,
        Default::default(),
        "settling an acked delivery again changed the queue: {depth:?}"
    );
}

/// Many jobs from concurrent producers are each delivered exactly once to concurrent
/// consumers when every delivery is acked in time.
pub async fn every_job_is_delivered(queue: &dyn JobQueue) {
    let jobs: Vec<Job> = (0..200).map(|_| job()).collect();
    futures::future::try_join_all(jobs.iter().map(|job| queue.enqueue(job.clone())))
        .await
        .expect("enqueue failed");
    let consume = || async {
        let mut seen = Vec::new();
        while let Some(delivery) = queue
            .reserve(LONG, Duration::from_millis(200))
            .await
            .expect("reserve failed")
        {
            seen.push(delivery.job.clone());
            queue.ack(&delivery).await.expect("ack failed");
        }
        seen
    };
    let (a, b, c) = tokio::join!(consume(), consume(), consume());
    let mut delivered: Vec<String> = [a, b, c]
        .concat()
        .iter()
        .map(|job| format!("{job:?}"))
        .collect();
    let mut expected: Vec<String> = jobs.iter().map(|job| format!("{job:?}")).collect();
    delivered.sort();
    expected.sort();
    assert_eq!(
        delivered.len(),
        expected.len(),
        "jobs were lost or duplicated"
    );
    assert_eq!(
        delivered, expected,
        "the delivered jobs differ from the enqueued ones"
    );
}

/// Enqueueing a job equal to one waiting for its first delivery adds nothing, however
/// often it happens (workers down, an image queued by its upload and the reconciler); a
/// reserved job absorbs nothing, so work queued while it runs is delivered again.
pub async fn waiting_duplicates_merge(queue: &dyn JobQueue) {
    let (a, b) = (job(), job());
    for _ in 0..5 {
        queue.enqueue(a.clone()).await.expect("enqueue failed");
    }
    queue.enqueue(b.clone()).await.expect("enqueue failed");
    queue.enqueue(a.clone()).await.expect("enqueue failed");
    assert_eq!(
        queue.depth().await.expect("depth").ready,
        2,
        "six enqueues of one waiting job and one of another must leave two jobs"
    );

    let mut first = Vec::new();
    for _ in 0..2 {
        let delivery = queue
            .reserve(LONG, Duration::ZERO)
            .await
            .expect("reserve failed")
            .expect("no job delivered");
        first.push(delivery);
    }
    let in_flight: Vec<&Job> = first.iter().map(|delivery| &delivery.job).collect();
    assert!(
        in_flight.contains(&&a) && in_flight.contains(&&b),
        "each distinct job must be delivered once, got {in_flight:?}"
    );

    // Both are leased now: a new enqueue of one is new work, not a duplicate.
    queue.enqueue(a.clone()).await.expect("enqueue failed");
    queue.enqueue(a.clone()).await.expect("enqueue failed");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(
        (depth.ready, depth.in_flight),
        (1, 2),
        "a job enqueued while an equal one is in flight must wait once, beside it"
    );
    for delivery in &first {
        queue.ack(delivery).await.expect("ack failed");
    }
    let again = queue
        .reserve(LONG, Duration::ZERO)
        .await
        .expect("reserve failed")
        .expect("the job enqueued during the lease was lost when the lease was acked");
    assert_eq!(again.job, a);
    assert_eq!(again.attempt, 1, "the new job is a first delivery");

    // Once that one is reserved too, the job can wait again.
    queue.enqueue(a.clone()).await.expect("enqueue failed");
    assert_eq!(queue.depth().await.expect("depth").ready, 1);
    queue.ack(&again).await.expect("ack failed");
    let last = queue
        .reserve(LONG, Duration::ZERO)
        .await
        .expect("reserve failed")
        .expect("no job delivered");
    assert_eq!(last.job, a);
    queue.ack(&last).await.expect("ack failed");
    assert_eq!(
        queue.depth().await.expect("depth"),
        QueueDepth::default(),
        "everything was acked"
    );
}

#[cfg(test)]
mod tests {
    mod memory {
        use crate::MemoryJobQueue;

        crate::queue_conformance_tests!(async { MemoryJobQueue::new(1_000) });
    }

    #[tokio::test]
    async fn a_full_memory_queue_still_merges_a_duplicate() {
        use crate::queue::JobQueue;
        let queue = crate::MemoryJobQueue::new(1);
        let job = super::job();
        queue.enqueue(job.clone()).await.unwrap();
        queue
            .enqueue(job)
            .await
            .expect("a duplicate of a waiting job needs no room");
    }

    #[tokio::test]
    async fn memory_queue_is_bounded() {
        use crate::queue::{JobQueue, QueueError};
        let queue = crate::MemoryJobQueue::new(2);
        queue.enqueue(super::job()).await.unwrap();
        queue.enqueue(super::job()).await.unwrap();
        match queue.enqueue(super::job()).await {
            Err(QueueError::Full { capacity: 2 }) => {}
            other => panic!("a full queue must refuse with Full, got {other:?}"),
        }
    }
}
