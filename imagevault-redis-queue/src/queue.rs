//! [`RedisJobQueue`], the [`JobQueue`] on Redis, and its builder.

use std::time::Duration;

use async_trait::async_trait;
use imagevault_core::queue::{DeadLetter, Delivery, Job, JobQueue, QueueDepth, QueueError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    Cmd, ConnectionAddr, FromRedisValue, IntoConnectionInfo, RedisResult, ScriptInvocation,
    TlsCertificates,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{SetupError, Unreadable, backend};
use crate::keys::{Keys, delivery_id, millis, new_job_id, parse_delivery_id};
use crate::scripts::{self, action};

/// The prefix of every key unless [`RedisJobQueueBuilder::prefix`] sets another.
pub(crate) const DEFAULT_PREFIX: &str = "imagevault:";

/// Most due retries, and separately most lapsed leases, one reserve moves to the ready
/// list, so that one script never runs for long after a backlog builds up.
const PROMOTE_BATCH: u32 = 100;

/// The first pause between polls of a waiting [`JobQueue::reserve`]; it doubles up to
/// [`RedisJobQueueBuilder::max_poll_interval`].
const FIRST_POLL: Duration = Duration::from_millis(5);

/// Builds a [`RedisJobQueue`]: key prefix, dead letters kept, timeouts and polling.
///
/// ```no_run
/// # async fn demo() -> Result<(), imagevault_redis_queue::SetupError> {
/// use std::time::Duration;
/// use imagevault_redis_queue::RedisJobQueue;
///
/// let queue = RedisJobQueue::builder("redis://redis.internal:6379/0")
///     .prefix("photos-prod:")
///     .dead_letters_kept(5_000)
///     .response_timeout(Duration::from_secs(2))
///     .build()
///     .await?;
/// assert_eq!(queue.prefix(), "photos-prod:");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisJobQueueBuilder {
    url: String,
    prefix: String,
    dead_letters_kept: usize,
    connection_timeout: Duration,
    response_timeout: Duration,
    connection_retries: usize,
    max_poll_interval: Duration,
    root_certificates: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisJobQueueBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: leave it out.
        f.debug_struct("RedisJobQueueBuilder")
            .field("prefix", &self.prefix)
            .field("dead_letters_kept", &self.dead_letters_kept)
            .field("connection_timeout", &self.connection_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("connection_retries", &self.connection_retries)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("root_certificates", &self.root_certificates.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisJobQueueBuilder {
    /// Starts every key with `prefix` (default `imagevault:`), so that several
    /// installations, or tests, share one server without seeing each other's jobs.
    /// Queues with the same prefix on the same server are one queue.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many dead letters are kept, newest first (default 1000); older ones are
    /// dropped so the set stays bounded. With 0 none are kept.
    pub fn dead_letters_kept(mut self, kept: usize) -> Self {
        self.dead_letters_kept = kept;
        self
    }

    /// How long connecting waits for the server (default 5 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long a command waits for its answer before it fails (default 5 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times connecting, or reconnecting after the connection was lost, is
    /// retried with a growing pause before the calls waiting for it fail (default 6). The
    /// next call after that tries again.
    pub fn connection_retries(mut self, retries: usize) -> Self {
        self.connection_retries = retries;
        self
    }

    /// The longest pause between two looks for a job while [`JobQueue::reserve`] waits
    /// (default 50 ms). Waiting polls, starting with short pauses, rather than blocking the
    /// connection that every call of the queue shares.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Trusts only the CA certificates in `pem` (one or more PEM `CERTIFICATE` blocks) for
    /// a `rediss://` URL, instead of the system's CA store: for a server whose certificate a
    /// private CA signed. The server's name in the URL must be one the certificate names.
    /// [`build`](Self::build) refuses it with a `redis://` URL, whose traffic is not
    /// encrypted at all.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use imagevault_redis_queue::RedisJobQueue;
    ///
    /// let ca = std::fs::read("/etc/imagevault/redis-ca.pem")?;
    /// let queue = RedisJobQueue::builder("rediss://redis.internal:6380")
    ///     .root_certificates(ca)
    ///     .build()
    ///     .await?;
    /// # let _ = queue;
    /// # Ok(()) }
    /// ```
    pub fn root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates = Some(pem.into());
        self
    }

    /// Connects, failing if the server cannot be reached.
    pub async fn build(self) -> Result<RedisJobQueue, SetupError> {
        let client = self.client()?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connection_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.connection_retries);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| SetupError::Connect {
                source: Box::new(error),
            })?;
        Ok(RedisJobQueue {
            connection,
            keys: Keys::new(&self.prefix),
            prefix: self.prefix,
            dead_letters_kept: self.dead_letters_kept,
            max_poll_interval: self.max_poll_interval,
        })
    }

    /// The client for the URL, with the CA certificates given, if any.
    fn client(&self) -> Result<redis::Client, SetupError> {
        let invalid = |error: redis::RedisError| SetupError::InvalidUrl {
            source: Box::new(error),
        };
        let info = self.url.as_str().into_connection_info().map_err(invalid)?;
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        if tls {
            install_crypto_provider();
        }
        match &self.root_certificates {
            None => redis::Client::open(info).map_err(invalid),
            Some(_) if !tls => Err(SetupError::CertificatesWithoutTls),
            // Text without a certificate would trust nothing, and every connection would
            // fail with a less telling error.
            Some(pem) if CertificateDer::pem_slice_iter(pem).next().is_none() => {
                Err(SetupError::Certificates {
                    source: "no PEM CERTIFICATE block found".into(),
                })
            }
            Some(pem) => redis::Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            )
            .map_err(|source| SetupError::Certificates {
                source: Box::new(source),
            }),
        }
    }
}

/// The [`JobQueue`] on Redis: jobs survive worker crashes and are shared by any number of
/// processes.
///
/// Every change of a job's state is one Lua script, so concurrent workers never take one
/// delivery twice. A reserved job is leased until a deadline on the server's clock; once
/// it passes, the next reserve hands the job out again with the next attempt number, and
/// the lapsed holder's `ack`, `retry` or `dead_letter` no longer changes anything. The
/// README describes the keys.
///
/// Cloning is cheap and shares the connection, which reconnects by itself after it is
/// lost. A call whose connection drops is sent once more on the new one, except `enqueue`
/// (if the first got through, the job would be queued twice); a call during a longer
/// outage fails with [`QueueError::Backend`], and later calls work again.
///
/// A waiting `reserve` spends its time in the pauses between polls, where dropping its
/// future (a `select!` on shutdown) is harmless. Dropped while a poll's script is underway,
/// it may leave one job leased to nobody, which returns to the queue when that lease ends.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use imagevault_core::{ImageId, Job, JobQueue};
/// use imagevault_redis_queue::RedisJobQueue;
///
/// let queue = RedisJobQueue::connect("redis://127.0.0.1:6379").await?;
/// queue.enqueue(Job::GenerateThumbnails { image_id: ImageId::new() }).await?;
/// let lease = Duration::from_secs(60);
/// if let Some(delivery) = queue.reserve(lease, Duration::from_secs(5)).await? {
///     // ... do the work, then:
///     queue.ack(&delivery).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisJobQueue {
    connection: ConnectionManager,
    prefix: String,
    keys: Keys,
    dead_letters_kept: usize,
    max_poll_interval: Duration,
}

impl std::fmt::Debug for RedisJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJobQueue")
            .field("prefix", &self.prefix)
            .field("dead_letters_kept", &self.dead_letters_kept)
            .field("max_poll_interval", &self.max_poll_interval)
            .finish_non_exhaustive()
    }
}

/// A dead letter as stored, one JSON document per entry of the dead-letter list.
#[derive(Debug, Serialize, Deserialize)]
struct StoredDeadLetter {
    job: Job,
    attempts: u32,
    reason: String,
}

/// How [`RedisJobQueue::settle`] ends a delivery.
#[derive(Debug)]
enum Settle<'a> {
    Ack,
    Retry(Duration),
    DeadLetter(&'a str),
}

impl RedisJobQueue {
    /// A builder for a queue on the server at `url`: `redis://[user:password@]host[:port][/db]`,
    /// or `rediss://...` for TLS, which checks the server's certificate against the system's
    /// CA store, or against [`RedisJobQueueBuilder::root_certificates`] when given.
    pub fn builder(url: impl Into<String>) -> RedisJobQueueBuilder {
        RedisJobQueueBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            dead_letters_kept: 1_000,
            connection_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            connection_retries: 6,
            max_poll_interval: Duration::from_millis(50),
            root_certificates: None,
        }
    }

    /// Connects to `url` with the defaults of [`builder`](Self::builder).
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        Self::builder(url).build().await
    }

    /// The prefix of every key of this queue.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `invocation`, and once more if the connection dropped under it.
    ///
    /// Only for scripts that may run twice: a settle whose first run got through finds its
    /// delivery settled the second time, and a reserve whose first run got through leaves
    /// a job leased to nobody, which the lease returns to the queue as for a crashed worker.
    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, QueueError> {
        let mut connection = self.connection.clone();
        let result: RedisResult<T> = match invocation.invoke_async(&mut connection).await {
            // The manager is reconnecting; the second call waits for the new connection.
            Err(error) if error.is_connection_dropped() => {
                invocation.invoke_async(&mut connection).await
            }
            result => result,
        };
        result.map_err(backend)
    }

    /// Runs the read-only `command`, and once more if the connection dropped under it.
    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, QueueError> {
        let mut connection = self.connection.clone();
        let result: RedisResult<T> = match command.query_async(&mut connection).await {
            Err(error) if error.is_connection_dropped() => {
                command.query_async(&mut connection).await
            }
            result => result,
        };
        result.map_err(backend)
    }

    /// One look for a job, without waiting.
    async fn try_reserve(&self, lease: Duration) -> Result<Option<Delivery>, QueueError> {
        let mut invocation = scripts::RESERVE.prepare_invoke();
        invocation
            .key(&self.keys.jobs)
            .key(&self.keys.attempts)
            .key(&self.keys.ready)
            .key(&self.keys.delayed)
            .key(&self.keys.in_flight)
            .key(&self.keys.waiting)
            .arg(millis(lease))
            .arg(PROMOTE_BATCH);
        let reply: Option<(String, u32, String)> = self.invoke(&invocation).await?;
        let Some((job_id, attempt, job)) = reply else {
            return Ok(None);
        };
        // A job this version cannot read stays leased: when the lease lapses it goes to
        // another worker, perhaps one of a newer version that knows its type.
        let job = serde_json::from_str(&job).map_err(|source| {
            backend(Unreadable {
                what: format!("job {job_id}"),
                source,
            })
        })?;
        Ok(Some(Delivery {
            id: delivery_id(&job_id, attempt),
            job,
            attempt,
        }))
    }

    /// Ends `delivery` as `how` if it still holds its job; returns whether it did.
    async fn settle(&self, delivery: &Delivery, how: Settle<'_>) -> Result<bool, QueueError> {
        let Some((job_id, attempt)) = parse_delivery_id(&delivery.id) else {
            return Ok(false);
        };
        let mut invocation = scripts::SETTLE.prepare_invoke();
        invocation
            .key(&self.keys.jobs)
            .key(&self.keys.attempts)
            .key(&self.keys.in_flight)
            .key(&self.keys.delayed)
            .key(&self.keys.dead)
            .arg(job_id)
            .arg(attempt);
        match how {
            Settle::Ack => {
                invocation.arg(action::ACK);
            }
            Settle::Retry(delay) => {
                invocation.arg(action::RETRY).arg(millis(delay));
            }
            Settle::DeadLetter(reason) => {
                let letter = StoredDeadLetter {
                    job: delivery.job.clone(),
                    // The attempt the script checks, not a field the caller could change.
                    attempts: attempt,
                    reason: reason.to_owned(),
                };
                let letter = serde_json::to_string(&letter).map_err(backend)?;
                invocation
                    .arg(action::DEAD)
                    .arg(letter)
                    .arg(self.dead_letters_kept);
            }
        }
        self.invoke(&invocation).await
    }
}

#[async_trait]
impl JobQueue for RedisJobQueue {
    async fn enqueue(&self, job: Job) -> Result<(), QueueError> {
        let job = serde_json::to_string(&job).map_err(backend)?;
        // Not sent again after a dropped connection, unlike the other calls: if the first
        // one got through, the job would be queued twice.
        scripts::ENQUEUE
            .key(&self.keys.jobs)
            .key(&self.keys.ready)
            .key(&self.keys.waiting)
            .arg(new_job_id())
            .arg(job)
            .invoke_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn reserve(
        &self,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        // `None`: a wait too long to represent, which never ends.
        let give_up = Instant::now().checked_add(wait);
        let mut pause = FIRST_POLL.min(self.max_poll_interval);
        loop {
            if let Some(delivery) = self.try_reserve(lease).await? {
                return Ok(Some(delivery));
            }
            let now = Instant::now();
            let pause_now = match give_up {
                Some(give_up) if now >= give_up => return Ok(None),
                Some(give_up) => pause.min(give_up - now),
                None => pause,
            };
            tokio::time::sleep(pause_now).await;
            pause = next_pause(pause, self.max_poll_interval);
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.settle(delivery, Settle::Ack).await.map(drop)
    }

    async fn retry(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.settle(delivery, Settle::Retry(delay)).await.map(drop)
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        self.settle(delivery, Settle::DeadLetter(reason))
            .await
            .map(drop)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let Some(last) = limit.checked_sub(1) else {
            // LRANGE 0 -1 would be the whole list.
            return Ok(Vec::new());
        };
        let last = isize::try_from(last).unwrap_or(isize::MAX);
        let mut command = redis::cmd("LRANGE");
        command.arg(&self.keys.dead).arg(0).arg(last);
        let letters: Vec<String> = self.query(&command).await?;
        letters
            .iter()
            .map(|letter| {
                let stored: StoredDeadLetter = serde_json::from_str(letter).map_err(|source| {
                    backend(Unreadable {
                        what: "dead letter".to_owned(),
                        source,
                    })
                })?;
                Ok(DeadLetter {
                    job: stored.job,
                    attempts: stored.attempts,
                    reason: stored.reason,
                })
            })
            .collect()
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let mut invocation = scripts::DEPTH.prepare_invoke();
        invocation
            .key(&self.keys.ready)
            .key(&self.keys.delayed)
            .key(&self.keys.in_flight)
            .key(&self.keys.dead);
        let (ready, delayed, in_flight, dead): (u64, u64, u64, u64) =
            self.invoke(&invocation).await?;
        Ok(QueueDepth {
            ready,
            delayed,
            in_flight,
            dead,
        })
    }
}

/// The pause after `pause` while polling: twice as long, at most `max`.
fn next_pause(pause: Duration, max: Duration) -> Duration {
    pause.saturating_mul(2).min(max)
}

/// Makes ring rustls's process-wide crypto provider unless another is installed: redis
/// builds its TLS configuration with that default, which rustls cannot choose by itself in
/// a program that links more than one provider.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer leaves that one in place, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagevault_core::ImageId;

    #[test]
    fn polling_backs_off_to_the_cap() {
        let max = Duration::from_millis(50);
        let mut pause = FIRST_POLL;
        let mut pauses = Vec::new();
        for _ in 0..6 {
            pauses.push(pause.as_millis());
            pause = next_pause(pause, max);
        }
        assert_eq!(pauses, [5, 10, 20, 40, 50, 50]);
        assert_eq!(next_pause(Duration::MAX, max), max);
    }

    #[test]
    fn dead_letters_round_trip_as_json() {
        let job = Job::GenerateThumbnails {
            image_id: ImageId::new(),
        };
        let stored = StoredDeadLetter {
            job: job.clone(),
            attempts: 3,
            reason: "corrupt image: \"bad\" \u{1F4A5}".to_owned(),
        };
        let text = serde_json::to_string(&stored).expect("serializes");
        let back: StoredDeadLetter = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(
            (back.job, back.attempts, back.reason),
            (job, 3, stored.reason)
        );
    }

    #[test]
    fn unknown_job_types_are_unreadable_not_panics() {
        let error = serde_json::from_str::<Job>(r#"{"type":"from_the_future","x":1}"#)
            .expect_err("an unknown job type");
        let error = backend(Unreadable {
            what: "job 00".to_owned(),
            source: error,
        });
        assert!(matches!(
            error,
            QueueError::Backend {
                backend: "redis",
                ..
            }
        ));
    }

    #[test]
    fn the_builder_does_not_print_the_url() {
        let builder = RedisJobQueue::builder("redis://user:hunter2@127.0.0.1:6379");
        let printed = format!("{builder:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("imagevault:"), "{printed}");
    }

    #[test]
    fn the_poll_interval_is_never_zero() {
        let builder = RedisJobQueue::builder("redis://127.0.0.1").max_poll_interval(Duration::ZERO);
        assert_eq!(builder.max_poll_interval, Duration::from_millis(1));
    }
}
