//! The change feeds of a [`PostgresRepo`]: one task `LISTEN`s for the notifications that
//! the migrations' triggers send on every change to links and accounts, from any process,
//! and keeps the feeds connected only while its connection provably delivers.

use std::time::Duration;

use imagevault_core::repo::ChangeNotifier;

use crate::feeds::{Feeds, Notifiers};
use sqlx::postgres::{PgListener, PgNotification, PgPool, PgPoolOptions};

use super::PostgresRepo;

/// The channel the link-change triggers (migration 0002) notify on.
const LINK_CHANGES_CHANNEL: &str = "imagevault_link_changes";
/// The channel the account-change triggers (migration 0003) notify on.
const ACCOUNT_CHANGES_CHANNEL: &str = "imagevault_account_changes";
/// The `application_name` of the listener's connection, which tells it apart in
/// `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "imagevault change listener";
/// The channel the listener notifies itself on, to prove its connection still delivers.
const HEARTBEAT_CHANNEL: &str = "imagevault_listener_heartbeat";

/// How often the change listener sends itself a heartbeat `NOTIFY`.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// How long the change listener waits for its heartbeat, or for a new connection to start
/// listening, before it counts its connection as lost. A connection that dies silently
/// (a black-holed network: no reset, no error) is noticed only this way.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);

impl PostgresRepo {
    /// The longest a change committed by another process can go unseen by this
    /// repository's change feeds while they report themselves connected, even when the
    /// listener's connection dies silently: a heartbeat interval (2 s) plus its answer's
    /// timeout (3 s), after which the feeds report disconnected and the vault's caches are
    /// bypassed until the listener is back (and then start empty).
    pub const CHANGE_FEED_STALENESS: Duration =
        Duration::from_secs(HEARTBEAT_INTERVAL.as_secs() + HEARTBEAT_TIMEOUT.as_secs());

    /// The change feeds, starting on first use the task that feeds them: it `LISTEN`s on
    /// both channels on a connection of its own, checks with a heartbeat that the
    /// connection still delivers, reconnects with backoff when it is lost (the feeds are
    /// disconnected meanwhile, so nothing is cached), and ends when the pool is closed or
    /// the runtime shuts down (disconnecting them).
    pub(super) fn feeds(&self) -> &Feeds {
        self.feeds.get_or_init(|| {
            let (notifiers, feeds) = crate::feeds::disconnected();
            tokio::spawn(listen_for_changes(self.pool.clone(), notifiers));
            feeds
        })
    }
}

impl Notifiers {
    fn for_channel(&self, channel: &str) -> Option<&ChangeNotifier> {
        match channel {
            LINK_CHANGES_CHANNEL => Some(&self.links),
            ACCOUNT_CHANGES_CHANNEL => Some(&self.accounts),
            _ => None,
        }
    }
}

/// Why the listener's connection was given up.
#[derive(Debug, thiserror::Error)]
enum ListenerLost {
    /// The server closed the connection, or it failed.
    #[error("the connection was lost")]
    Closed,
    /// The query failed.
    #[error(transparent)]
    Failed(#[from] sqlx::Error),
    /// Nothing came back in time: the connection may have died silently.
    #[error("no answer within {0:?}")]
    Silent(Duration),
}

/// Feeds the notifiers from the change notifications until the pool is closed.
async fn listen_for_changes(pool: PgPool, notifiers: Notifiers) {
    const FIRST_RETRY: Duration = Duration::from_millis(100);
    const LONGEST_RETRY: Duration = Duration::from_secs(5);
    let mut retry = FIRST_RETRY;
    let closed = pool.close_event();
    tokio::pin!(closed);
    while !pool.is_closed() {
        let lost = tokio::select! {
            () = &mut closed => break,
            lost = listen_once(&pool, &notifiers, &mut retry, FIRST_RETRY) => lost,
        };
        notifiers.disconnected();
        if pool.is_closed() {
            break;
        }
        tracing::warn!(error = %lost, retry_in = ?retry, "the change listener lost its connection; links and token accounts are not cached until it is back");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LONGEST_RETRY);
    }
}

/// Connects, listens and feeds the notifiers until the connection is lost; `retry` is
/// reset to `first_retry` once listening.
async fn listen_once(
    pool: &PgPool,
    notifiers: &Notifiers,
    retry: &mut Duration,
    first_retry: Duration,
) -> ListenerLost {
    let mut listener = match tokio::time::timeout(HEARTBEAT_TIMEOUT, subscribe(pool)).await {
        Ok(Ok(listener)) => listener,
        Ok(Err(error)) => return error.into(),
        Err(_) => return ListenerLost::Silent(HEARTBEAT_TIMEOUT),
    };
    *retry = first_retry;
    notifiers.connected();
    tracing::debug!("listening for link and account changes");
    let mut beats = tokio::time::interval(HEARTBEAT_INTERVAL);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sequence: u64 = 0;
    loop {
        tokio::select! {
            received = listener.try_recv() => {
                if let Err(lost) = deliver(received, notifiers) {
                    return lost;
                }
            }
            _ = beats.tick() => {
                sequence += 1;
                let beat = heartbeat(&mut listener, notifiers, sequence);
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, beat).await {
                    Ok(Ok(())) => {}
                    Ok(Err(lost)) => return lost,
                    Err(_) => return ListenerLost::Silent(HEARTBEAT_TIMEOUT),
                }
            }
        }
    }
}

/// Reports one received notification to its feed; `Err` when the connection is lost.
fn deliver(
    received: Result<Option<PgNotification>, sqlx::Error>,
    notifiers: &Notifiers,
) -> Result<Option<PgNotification>, ListenerLost> {
    let notification = received?.ok_or(ListenerLost::Closed)?;
    if let Some(notifier) = notifiers.for_channel(notification.channel()) {
        notifier.changed();
    }
    Ok(Some(notification))
}

/// Notifies the heartbeat channel on the listener's own connection and waits for that
/// notification to come back, reporting any change notification that arrives first: a
/// notification sent after a change commits is delivered after it, so once the heartbeat
/// is back every change committed before it was sent has been reported.
async fn heartbeat(
    listener: &mut PgListener,
    notifiers: &Notifiers,
    sequence: u64,
) -> Result<(), ListenerLost> {
    let payload = sequence.to_string();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(HEARTBEAT_CHANNEL)
        .bind(&payload)
        .execute(&mut *listener)
        .await?;
    loop {
        let received = listener.try_recv().await;
        if let Some(notification) = deliver(received, notifiers)?
            && notification.channel() == HEARTBEAT_CHANNEL
            && notification.payload() == payload
        {
            return Ok(());
        }
    }
}

/// A listener on a connection of its own, outside the pool: a connection that died
/// silently cannot be closed, only abandoned (sqlx's listener then waits on it to
/// `UNLISTEN` until the operating system gives up on it), and it must not hold one of the
/// pool's connections meanwhile.
async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(HEARTBEAT_TIMEOUT)
        .connect_with(
            (*pool.connect_options())
                .clone()
                .application_name(LISTENER_APPLICATION_NAME),
        )
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener
        .listen_all([
            LINK_CHANGES_CHANNEL,
            ACCOUNT_CHANGES_CHANNEL,
            HEARTBEAT_CHANNEL,
        ])
        .await?;
    Ok(listener)
}
