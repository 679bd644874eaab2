//! The core `JobQueue` conformance suite on the Redis server of `IMAGEVAULT_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`), plus what the suite cannot check from one queue:
//! workers in several processes (several connections), holders that vanish, stale delivery
//! ids, a connection killed by the server, bounded dead letters, and the keys left behind.
//!
//! Each test works under a random key prefix, through an ACL user of its own that may only
//! touch keys under that prefix, so a key outside it fails the test. Afterwards the test
//! deletes its keys (SCAN and DEL on its prefix only) and its user; nothing is flushed, so
//! tests run side by side on one server.
//!
//! Without a reachable server the tests print why and pass, unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`, when they fail.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use imagevault_core::queue::{Delivery, DeliveryId, QueueDepth, QueueError};
use imagevault_core::{ImageId, Job, JobQueue};
use imagevault_redis_queue::{RedisJobQueue, SetupError};
use redis::aio::MultiplexedConnection;

const LONG: Duration = Duration::from_secs(60);
const SHORT_LEASE: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

fn server_url() -> String {
    std::env::var("IMAGEVAULT_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `url` with `user:password@` as its credentials, replacing any it had.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}{tail}")
}

/// A connection to the test server with its own credentials; `None` (after printing why)
/// when the server cannot be reached and services are not required.
async fn admin_connection() -> Option<MultiplexedConnection> {
    let url = server_url();
    let connect = async {
        redis::Client::open(url.as_str())?
            .get_multiplexed_async_connection()
            .await
    };
    let reason = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(connection)) => return Some(connection),
        Ok(Err(error)) => format!("Redis at {url} is unreachable: {error}"),
        Err(_) => format!("Redis at {url} did not answer within 5 s"),
    };
    imagevault_core::testing::skip_unless_required(&reason);
    None
}

/// One test's corner of the server: a key prefix and a user confined to it.
#[derive(Clone)]
struct TestRedis {
    /// The server's own credentials, for checks and cleanup.
    admin: MultiplexedConnection,
    /// The server as `user`.
    url: String,
    /// The ACL user; it may only touch keys starting with `prefix`.
    user: String,
    /// Every key of the test starts with this. Hex digits, `-` and `:` only, so it needs
    /// no escaping as a glob pattern.
    prefix: String,
}

impl TestRedis {
    async fn create(mut admin: MultiplexedConnection) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("imagevault-test:{id}:");
        let user = format!("imagevault-test-{id}");
        let password = uuid::Uuid::new_v4().simple().to_string();
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("on")
            .arg(format!(">{password}"))
            .arg(format!("~{prefix}*"))
            .arg("+@all")
            .exec_async(&mut admin)
            .await
            .expect("creating an ACL user for the test (needs Redis 6.2 or newer)");
        Self {
            url: with_credentials(&server_url(), &user, &password),
            admin,
            user,
            prefix,
        }
    }

    /// A queue under `prefix`, which must start with the test's prefix.
    async fn queue_at(&self, prefix: &str) -> RedisJobQueue {
        RedisJobQueue::builder(self.url.clone())
            .prefix(prefix)
            .build()
            .await
            .expect("connecting a queue")
    }

    /// A queue under the test's prefix: every call gives a new connection to one queue.
    async fn queue(&self) -> RedisJobQueue {
        self.queue_at(&self.prefix).await
    }

    /// The keys under the test's prefix, sorted.
    async fn keys(&self) -> Vec<String> {
        let mut admin = self.admin.clone();
        let mut keys = Vec::new();
        let mut cursor = 0_u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut admin)
                .await
                .expect("SCAN failed");
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Closes the user's connections, deletes the keys under the prefix and the user.
    async fn clean_up(&self) {
        let mut admin = self.admin.clone();
        let _: Result<i64, _> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(&self.user)
            .query_async(&mut admin)
            .await;
        let keys = self.keys().await;
        for chunk in keys.chunks(500) {
            let deleted: Result<i64, _> =
                redis::cmd("DEL").arg(chunk).query_async(&mut admin).await;
            if let Err(error) = deleted {
                eprintln!("could not delete the keys under {}: {error}", self.prefix);
            }
        }
        let _: Result<i64, _> = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&self.user)
            .query_async(&mut admin)
            .await;
    }
}

/// Runs `check` in its own corner of the test server, then cleans up whether the check
/// passed or not.
async fn with_redis<F, Fut>(check: F)
where
    F: FnOnce(TestRedis) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin) = admin_connection().await else {
        return;
    };
    let redis = TestRedis::create(admin).await;
    let outcome = tokio::spawn(check(redis.clone())).await;
    redis.clean_up().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

fn job() -> Job {
    Job::GenerateThumbnails {
        image_id: ImageId::new(),
    }
}

async fn reserve_now(queue: &RedisJobQueue, lease: Duration) -> Option<Delivery> {
    queue
        .reserve(lease, Duration::ZERO)
        .await
        .expect("reserve failed")
}

async fn depth(queue: &RedisJobQueue) -> QueueDepth {
    queue.depth().await.expect("depth failed")
}

fn in_flight(in_flight: u64) -> QueueDepth {
    QueueDepth {
        in_flight,
        ..QueueDepth::default()
    }
}

// ---------------------------------------------------------------------------------------
// The conformance suite
// ---------------------------------------------------------------------------------------

/// The suite, each check on an empty queue under a test prefix of its own.
mod conformance {
    use imagevault_core::testing::queue::Check;

    async fn run(check: Check) {
        super::with_redis(|redis| async move { check(&redis.queue().await).await }).await;
    }

    imagevault_core::queue_conformance_tests!(runner = run);
}

// ---------------------------------------------------------------------------------------
// Several workers and processes
// ---------------------------------------------------------------------------------------

/// While no worker runs, producers on four connections (an upload, the reconciler, plan
/// backfills in other processes) enqueue the same two jobs 200 times at once: the queue
/// holds two jobs, each delivered once, and leaves no keys once they are acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_pile_up_nowhere() {
    with_redis(|redis| async move {
        let mut queues = Vec::new();
        for _ in 0..4 {
            queues.push(redis.queue().await);
        }
        let jobs = [job(), job()];
        let enqueues = (0..200).map(|i| {
            let queue = &queues[i % queues.len()];
            queue.enqueue(jobs[i % 2].clone())
        });
        futures::future::try_join_all(enqueues)
            .await
            .expect("enqueue failed");
        assert_eq!(
            depth(&queues[0]).await,
            QueueDepth {
                ready: 2,
                ..QueueDepth::default()
            },
            "200 enqueues of two waiting jobs must leave two jobs"
        );
        let mut delivered = Vec::new();
        while let Some(delivery) = reserve_now(&queues[1], LONG).await {
            queues[2].ack(&delivery).await.expect("ack failed");
            delivered.push(delivery.job);
        }
        assert_eq!(delivered.len(), 2, "each job once: {delivered:?}");
        assert!(delivered.contains(&jobs[0]) && delivered.contains(&jobs[1]));
        assert_eq!(
            redis.keys().await,
            Vec::<String>::new(),
            "a drained queue must leave no keys"
        );
    })
    .await;
}

/// Eight workers on four connections (as four processes would have) take 500 jobs; with
/// every lease long enough, each job is delivered exactly once, as attempt 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_take_each_job_once() {
    with_redis(|redis| async move {
        let mut queues = Vec::new();
        for _ in 0..4 {
            queues.push(redis.queue().await);
        }
        let jobs: Vec<Job> = (0..500).map(|_| job()).collect();
        futures::future::try_join_all(
            jobs.iter()
                .enumerate()
                .map(|(index, job)| queues[index % queues.len()].enqueue(job.clone())),
        )
        .await
        .expect("enqueue failed");
        assert_eq!(depth(&queues[0]).await.ready, 500);

        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let queue = queues[worker % queues.len()].clone();
                tokio::spawn(async move {
                    let mut taken = Vec::new();
                    while let Some(delivery) = queue
                        .reserve(LONG, Duration::from_millis(300))
                        .await
                        .expect("reserve failed")
                    {
                        taken.push((format!("{:?}", delivery.job), delivery.attempt));
                        queue.ack(&delivery).await.expect("ack failed");
                    }
                    taken
                })
            })
            .collect();
        let mut taken = Vec::new();
        for worker in workers {
            taken.extend(worker.await.expect("a worker panicked"));
        }

        assert_eq!(taken.len(), 500, "jobs were lost or delivered twice");
        assert!(
            taken.iter().all(|(_, attempt)| *attempt == 1),
            "a job was delivered again although no lease lapsed"
        );
        let delivered: HashSet<String> = taken.into_iter().map(|(job, _)| job).collect();
        let expected: HashSet<String> = jobs.iter().map(|job| format!("{job:?}")).collect();
        assert_eq!(delivered, expected, "each job must be delivered once");
        assert_eq!(depth(&queues[0]).await, QueueDepth::default());
        assert_eq!(
            redis.keys().await,
            Vec::<String>::new(),
            "a drained queue must leave no keys"
        );
    })
    .await;
}

/// A worker that reserves a job and disappears (its connection closes) does not lose the
/// job: after the lease another worker gets it, as attempt 2, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_holder_is_redelivered_after_the_lease() {
    with_redis(|redis| async move {
        let holder = redis.queue().await;
        let job = job();
        holder.enqueue(job.clone()).await.expect("enqueue failed");
        let first = reserve_now(&holder, SHORT_LEASE).await.expect("no job");
        assert_eq!(first.attempt, 1);
        drop(holder);

        let other = redis.queue().await;
        assert!(
            reserve_now(&other, LONG).await.is_none(),
            "a job under a live lease was handed out"
        );
        assert_eq!(depth(&other).await, in_flight(1));
        let second = other
            .reserve(LONG, Duration::from_secs(5))
            .await
            .expect("reserve failed")
            .expect("the job of a vanished holder was not redelivered");
        assert_eq!((second.job.clone(), second.attempt), (job, 2));
        assert_ne!(second.id, first.id, "a redelivery needs a new delivery id");
        other.ack(&second).await.expect("ack failed");
        assert_eq!(depth(&other).await, QueueDepth::default());
    })
    .await;
}

/// Once a lapsed job is redelivered, the old delivery's ack, retry and dead letter change
/// nothing, nor do forged ids; only the current delivery settles the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_delivery_settles_nothing() {
    with_redis(|redis| async move {
        let (slow, fast) = (redis.queue().await, redis.queue().await);
        slow.enqueue(job()).await.expect("enqueue failed");
        let stale = reserve_now(&slow, SHORT_LEASE).await.expect("no job");
        tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
        let current = fast
            .reserve(LONG, Duration::from_secs(5))
            .await
            .expect("reserve failed")
            .expect("the lapsed job was not redelivered");
        assert_eq!(current.attempt, 2);

        slow.ack(&stale).await.expect("a stale ack must not fail");
        slow.retry(&stale, Duration::ZERO)
            .await
            .expect("a stale retry must not fail");
        slow.dead_letter(&stale, "stale")
            .await
            .expect("a stale dead letter must not fail");
        let forged = |id: String| Delivery {
            id: DeliveryId(id),
            ..current.clone()
        };
        let (job_id, _) = current.id.0.split_once(':').expect("a job id and attempt");
        for id in [
            format!("{job_id}:3"),
            format!("{job_id}:02"),
            format!("{}:2", uuid::Uuid::new_v4().simple()),
            "mem-0".to_owned(),
            String::new(),
        ] {
            slow.ack(&forged(id))
                .await
                .expect("a forged ack must not fail");
        }
        assert_eq!(
            depth(&fast).await,
            in_flight(1),
            "a stale or forged delivery changed the queue"
        );
        assert!(
            fast.dead_letters(10)
                .await
                .expect("dead_letters")
                .is_empty()
        );

        // The current delivery still holds the job; once retried, it is stale as well.
        fast.retry(&current, Duration::ZERO)
            .await
            .expect("retry failed");
        let third = fast
            .reserve(LONG, Duration::from_secs(5))
            .await
            .expect("reserve failed")
            .expect("the retried job never came back");
        assert_eq!(third.attempt, 3);
        fast.ack(&current).await.expect("a stale ack must not fail");
        assert_eq!(depth(&fast).await, in_flight(1));
        fast.ack(&third).await.expect("ack failed");
        assert_eq!(depth(&fast).await, QueueDepth::default());
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

/// The server closes the queue's connections (as a restart or a failover would). Every call
/// but `enqueue` is sent again on a new connection, so it succeeds; `enqueue`, which is not
/// safe to send twice, succeeds or fails with a backend error, and the next one works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_works_again_after_its_connection_is_killed() {
    with_redis(|redis| async move {
        let kill = || async {
            let killed: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("USER")
                .arg(&redis.user)
                .query_async(&mut redis.admin.clone())
                .await
                .expect("CLIENT KILL failed");
            assert!(killed >= 1, "the queue had no connection to kill");
        };
        let queue = redis.queue().await;
        let job = job();
        queue.enqueue(job.clone()).await.expect("enqueue failed");

        kill().await;
        assert_eq!(
            depth(&queue).await.ready,
            1,
            "the job was lost with the connection"
        );
        kill().await;
        let delivery = reserve_now(&queue, LONG).await.expect("no job");
        assert_eq!((delivery.job.clone(), delivery.attempt), (job, 1));
        kill().await;
        queue.ack(&delivery).await.expect("ack after a kill");
        kill().await;
        assert!(
            queue
                .dead_letters(10)
                .await
                .expect("dead_letters after a kill")
                .is_empty()
        );

        kill().await;
        match queue.enqueue(self::job()).await {
            Ok(())
            | Err(QueueError::Backend {
                backend: "redis", ..
            }) => {}
            Err(other) => panic!("expected a redis backend error, got {other:?}"),
        }
        queue
            .enqueue(self::job())
            .await
            .expect("enqueue after reconnecting");
        while let Some(delivery) = reserve_now(&queue, LONG).await {
            queue.ack(&delivery).await.expect("ack failed");
        }

        // Killed while a reserve waits for a job that another process enqueues later.
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.reserve(LONG, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        kill().await;
        let late = self::job();
        redis
            .queue()
            .await
            .enqueue(late.clone())
            .await
            .expect("enqueue from another connection");
        let delivery = waiting
            .await
            .expect("the reserve panicked")
            .expect("a waiting reserve failed after a kill")
            .expect("the waiting reserve missed the job");
        assert_eq!(delivery.job, late);
        queue.ack(&delivery).await.expect("ack failed");
        assert_eq!(depth(&queue).await, QueueDepth::default());
    })
    .await;
}

#[tokio::test]
async fn bad_urls_and_closed_ports_are_setup_errors() {
    for url in ["http://127.0.0.1:6379", "not a url"] {
        match RedisJobQueue::connect(url).await {
            Err(SetupError::InvalidUrl { .. }) => {}
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
    // CA certificates only go with TLS, and must be certificates.
    let plain = RedisJobQueue::builder("redis://127.0.0.1:6379")
        .root_certificates("-----BEGIN CERTIFICATE-----")
        .build()
        .await;
    assert!(
        matches!(plain, Err(SetupError::CertificatesWithoutTls)),
        "{plain:?}"
    );
    let garbage = RedisJobQueue::builder("rediss://127.0.0.1:6379")
        .root_certificates("not a certificate")
        .build()
        .await;
    assert!(
        matches!(garbage, Err(SetupError::Certificates { .. })),
        "{garbage:?}"
    );
    // Nothing listens on port 1.
    let closed = RedisJobQueue::builder("redis://127.0.0.1:1")
        .connection_retries(0)
        .build()
        .await;
    assert!(
        matches!(closed, Err(SetupError::Connect { .. })),
        "{closed:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Dead letters and keys
// ---------------------------------------------------------------------------------------

/// Dead letters keep the job, its attempts and the reason, newest first, and only as many
/// as configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_bounded_and_newest_first() {
    with_redis(|redis| async move {
        let queue = RedisJobQueue::builder(redis.url.clone())
            .prefix(redis.prefix.clone())
            .dead_letters_kept(3)
            .build()
            .await
            .expect("connecting");
        // One job tried three times, then four more tried once.
        let tried = job();
        queue.enqueue(tried.clone()).await.expect("enqueue failed");
        for attempt in 1..=3 {
            let delivery = reserve_now(&queue, LONG).await.expect("no job");
            assert_eq!(delivery.attempt, attempt);
            if attempt < 3 {
                queue
                    .retry(&delivery, Duration::ZERO)
                    .await
                    .expect("retry failed");
            } else {
                queue
                    .dead_letter(&delivery, "reason 0")
                    .await
                    .expect("dead_letter failed");
            }
        }
        let dead = queue.dead_letters(10).await.expect("dead_letters failed");
        assert_eq!(
            (
                dead[0].job.clone(),
                dead[0].attempts,
                dead[0].reason.as_str()
            ),
            (tried, 3, "reason 0")
        );
        for index in 1..=4 {
            queue.enqueue(job()).await.expect("enqueue failed");
            let delivery = reserve_now(&queue, LONG).await.expect("no job");
            queue
                .dead_letter(&delivery, &format!("reason {index}"))
                .await
                .expect("dead_letter failed");
        }
        let reasons = |letters: Vec<imagevault_core::queue::DeadLetter>| {
            letters
                .into_iter()
                .map(|letter| letter.reason)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reasons(queue.dead_letters(10).await.expect("dead_letters")),
            ["reason 4", "reason 3", "reason 2"]
        );
        assert_eq!(
            reasons(queue.dead_letters(2).await.expect("dead_letters")),
            ["reason 4", "reason 3"]
        );
        assert!(
            queue
                .dead_letters(0)
                .await
                .expect("dead_letters")
                .is_empty()
        );
        assert_eq!(
            depth(&queue).await,
            QueueDepth {
                dead: 3,
                ..QueueDepth::default()
            }
        );
        assert_eq!(
            redis.keys().await,
            [format!("{}queue:dead", redis.prefix)],
            "only the dead letters remain"
        );

        // Keeping none: the job is given up all the same.
        let forgetful = RedisJobQueue::builder(redis.url.clone())
            .prefix(format!("{}none:", redis.prefix))
            .dead_letters_kept(0)
            .build()
            .await
            .expect("connecting");
        forgetful.enqueue(job()).await.expect("enqueue failed");
        let delivery = reserve_now(&forgetful, LONG).await.expect("no job");
        forgetful
            .dead_letter(&delivery, "dropped")
            .await
            .expect("dead_letter failed");
        assert_eq!(depth(&forgetful).await, QueueDepth::default());
    })
    .await;
}

/// Every state a job can be in uses only the documented keys under the prefix, and the
/// test user cannot reach keys outside it (so the other tests prove the same).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_stay_under_the_prefix() {
    with_redis(|redis| async move {
        let queue = redis.queue().await;
        for _ in 0..4 {
            queue.enqueue(job()).await.expect("enqueue failed");
        }
        let retried = reserve_now(&queue, LONG).await.expect("no job");
        queue.retry(&retried, LONG).await.expect("retry failed");
        let dead = reserve_now(&queue, LONG).await.expect("no job");
        queue
            .dead_letter(&dead, "test")
            .await
            .expect("dead_letter failed");
        let _held = reserve_now(&queue, LONG).await.expect("no job");
        assert_eq!(
            depth(&queue).await,
            QueueDepth {
                ready: 1,
                delayed: 1,
                in_flight: 1,
                dead: 1
            }
        );
        let expected: Vec<String> = [
            "attempts",
            "dead",
            "delayed",
            "in_flight",
            "jobs",
            "ready",
            "waiting",
        ]
        .iter()
        .map(|name| format!("{}queue:{name}", redis.prefix))
        .collect();
        assert_eq!(redis.keys().await, expected);

        // The default prefix is outside what the test user may touch.
        let outside = RedisJobQueue::connect(&redis.url)
            .await
            .expect("connecting");
        match outside.enqueue(job()).await {
            Err(QueueError::Backend {
                backend: "redis", ..
            }) => {}
            other => panic!("a key outside the test prefix must be refused, got {other:?}"),
        }
    })
    .await;
}

/// Waits and leases too long to represent are accepted, not overflowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_durations_are_accepted() {
    with_redis(|redis| async move {
        let queue = redis.queue().await;
        queue.enqueue(job()).await.expect("enqueue failed");
        let delivery = queue
            .reserve(Duration::MAX, Duration::MAX)
            .await
            .expect("reserve failed")
            .expect("a ready job");
        assert_eq!(depth(&queue).await, in_flight(1));
        queue
            .retry(&delivery, Duration::MAX)
            .await
            .expect("retry failed");
        assert_eq!(
            depth(&queue).await,
            QueueDepth {
                delayed: 1,
                ..QueueDepth::default()
            }
        );
    })
    .await;
}

#[test]
fn credentials_are_put_into_urls() {
    assert_eq!(
        with_credentials("redis://127.0.0.1:6379", "u", "p"),
        "redis://u:p@127.0.0.1:6379"
    );
    assert_eq!(
        with_credentials(
            "redis://old:secret@127.0.0.1:6379/2?protocol=resp3",
            "u",
            "p"
        ),
        "redis://u:p@127.0.0.1:6379/2?protocol=resp3"
    );
    assert_eq!(
        with_credentials("redis://:secret@localhost", "u", "p"),
        "redis://u:p@localhost"
    );
}
