//! The change feeds of a [`SqliteRepo`]. SQLite cannot notify other processes, so the
//! triggers of migration 0012 count every change to links and accounts in the table
//! `change_counters`, in the transaction that makes it, whoever makes it (another server
//! on the same file, the command line, `sqlite3`), and one task polls the counters.
//!
//! On a file the task asks, on a connection of its own outside the pools (so it never
//! waits for a pool slot), `PRAGMA data_version`, which moves only when another connection
//! has committed, and reads the counters only then. An in-memory database lives on the
//! pool's one connection, which every change goes through, so there the task reads the
//! counters through the pool.
//!
//! Every poll must end within [`POLL_INTERVAL`] + [`POLL_TIMEOUT`] of the previous poll's
//! start, or the feeds disconnect (and the vault's caches are bypassed) until a new
//! connection has read the counters again: a change committed before a poll starts is
//! reported when that poll ends, so none goes unreported for longer than
//! [`SqliteRepo::CHANGE_FEED_STALENESS`] while the feeds say they are connected.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use imagevault_core::repo::ChangeFeed;

use crate::feeds::{Feeds, Notifiers};
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool};
use tokio::time::Instant;

use super::SqliteRepo;

/// How long the poller waits after a poll starts before it starts the next.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How much longer than [`POLL_INTERVAL`] after the previous poll's start a poll may take
/// to end (and a new connection to read the counters) before the feeds disconnect: the
/// file may be locked for a moment (a checkpoint), or the machine loaded.
pub(super) const POLL_TIMEOUT: Duration = Duration::from_millis(900);

/// The first wait before the poller reconnects after losing its connection.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts (the wait doubles up to this).
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// The counters of migration 0012, read in one statement.
const READ_COUNTERS: &str = "SELECT feed, changes FROM change_counters";
/// The counter of the link feed.
const LINKS: &str = "links";
/// The counter of the account feed.
const ACCOUNTS: &str = "accounts";

impl SqliteRepo {
    /// The longest a change committed by another process (or plain SQL) can go unseen by
    /// this repository's change feeds while they report themselves connected: the poll
    /// interval (100 ms) plus how long a poll may take (900 ms). A poll that fails or
    /// takes longer disconnects the feeds, and the vault's caches are bypassed until a new
    /// connection has read the counters again (and then start empty).
    pub const CHANGE_FEED_STALENESS: Duration = POLL_INTERVAL.saturating_add(POLL_TIMEOUT);
}

/// What a [`SqliteRepo`] needs for its change feeds: where the poller reads, and the
/// feeds once started, shared by every clone.
#[derive(Debug, Clone)]
pub(super) struct ChangeFeeds {
    /// The options of the poller's own connection; `None` for an in-memory database,
    /// which is polled through its pool.
    own_connection: Option<SqliteConnectOptions>,
    started: Arc<OnceLock<Feeds>>,
}

impl ChangeFeeds {
    /// Feeds polled on a connection of their own opened with `options` (the pools'
    /// options), or through the pool when `options` is `None`.
    pub(super) fn new(options: Option<SqliteConnectOptions>) -> Self {
        let own_connection = options.map(|options| {
            // Read only by promise (`query_only`), not by opening the file read-only,
            // which fails on a WAL file whose shared-memory file is missing. Waits for a
            // lock stay within the poll's timeout, and the ten polls a second stay out of
            // the statement log.
            options
                .pragma("query_only", "1")
                .busy_timeout(POLL_TIMEOUT)
                .disable_statement_logging()
        });
        Self {
            own_connection,
            started: Arc::default(),
        }
    }

    /// The link feed, starting the poller on first use (see [`Self::start`]).
    pub(super) fn links(&self, pool: &SqlitePool) -> ChangeFeed {
        self.start(pool).links.clone()
    }

    /// The account feed, starting the poller on first use (see [`Self::start`]).
    pub(super) fn accounts(&self, pool: &SqlitePool) -> ChangeFeed {
        self.start(pool).accounts.clone()
    }

    /// Starts the poller now rather than on the first call for a feed.
    pub(super) fn start_polling(&self, pool: &SqlitePool) {
        self.start(pool);
    }

    /// The feeds, spawning on first use the task that feeds them: it polls until the pool
    /// is closed or every feed is dropped, and reconnects with backoff when a poll fails
    /// or is late (the feeds are disconnected meanwhile, so nothing is cached).
    fn start(&self, pool: &SqlitePool) -> &Feeds {
        self.started.get_or_init(|| {
            let (notifiers, feeds) = crate::feeds::disconnected();
            tokio::spawn(poll_for_changes(
                pool.clone(),
                self.own_connection.clone(),
                notifiers,
            ));
            feeds
        })
    }
}

impl Notifiers {
    /// Moves each feed whose counter moved from `before` to `now`.
    fn report(&self, before: Counters, now: Counters) {
        if now.links != before.links {
            self.links.changed();
        }
        if now.accounts != before.accounts {
            self.accounts.changed();
        }
    }
}

/// The values of the two counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counters {
    links: i64,
    accounts: i64,
}

/// Why the poller stopped following the counters.
#[derive(Debug, thiserror::Error)]
enum PollStopped {
    /// A query failed (the file is gone, the table missing, the pool closed).
    #[error(transparent)]
    Failed(#[from] sqlx::Error),
    /// The counters table lacks a feed's row.
    #[error("change_counters has no row {0:?}")]
    MissingCounter(&'static str),
    /// A poll, or reading the counters on a new connection, did not end in time.
    #[error("no answer within {0:?}")]
    Late(Duration),
    /// Nobody reads the feeds any more.
    #[error("the feeds were dropped")]
    Abandoned,
}

/// Feeds the notifiers from the counters until the pool is closed or the feeds are
/// dropped.
async fn poll_for_changes(
    pool: SqlitePool,
    own_connection: Option<SqliteConnectOptions>,
    notifiers: Notifiers,
) {
    let mut retry = FIRST_RETRY;
    let closed = pool.close_event();
    tokio::pin!(closed);
    while !pool.is_closed() {
        let stopped = tokio::select! {
            () = &mut closed => break,
            stopped = follow(&pool, own_connection.as_ref(), &notifiers, &mut retry) => stopped,
        };
        notifiers.disconnected();
        if matches!(stopped, PollStopped::Abandoned) || pool.is_closed() {
            break;
        }
        tracing::warn!(error = %stopped, retry_in = ?retry, "the SQLite change poller lost track of the change counters; links and token accounts are not cached until it is back");
        tokio::select! {
            () = &mut closed => break,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LONGEST_RETRY);
    }
}

/// Opens the poller, reads the counters, connects the feeds and reports every change
/// until a poll fails or is late; `retry` is reset to [`FIRST_RETRY`] once connected.
async fn follow(
    pool: &SqlitePool,
    own_connection: Option<&SqliteConnectOptions>,
    notifiers: &Notifiers,
    retry: &mut Duration,
) -> PollStopped {
    let mut started = Instant::now();
    let opened = tokio::time::timeout_at(started + POLL_TIMEOUT, async {
        let mut poller = Poller::open(pool, own_connection).await?;
        let counters = poller.read_counters().await?;
        Ok::<_, PollStopped>((poller, counters))
    })
    .await;
    let (mut poller, mut counters) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(stopped)) => return stopped,
        Err(_) => return PollStopped::Late(POLL_TIMEOUT),
    };
    *retry = FIRST_RETRY;
    notifiers.connected();
    tracing::debug!("polling the SQLite change counters");
    loop {
        if notifiers.abandoned() {
            return PollStopped::Abandoned;
        }
        tokio::time::sleep_until(started + POLL_INTERVAL).await;
        // Every change committed before the previous poll started has been reported; the
        // ones since are reported when this poll ends, which must be within the bound of
        // that start.
        let deadline = started + SqliteRepo::CHANGE_FEED_STALENESS;
        let this_start = Instant::now();
        match tokio::time::timeout_at(deadline, poller.poll(counters)).await {
            Ok(Ok(now)) => {
                notifiers.report(counters, now);
                counters = now;
            }
            Ok(Err(stopped)) => return stopped,
            Err(_) => return PollStopped::Late(SqliteRepo::CHANGE_FEED_STALENESS),
        }
        started = this_start;
    }
}

/// Where the counters are read.
enum Poller {
    /// A file, on a connection of the poller's own: `data_version` is the value of
    /// `PRAGMA data_version` when the counters were last read.
    Own {
        connection: SqliteConnection,
        data_version: i64,
    },
    /// An in-memory database, through its pool.
    Pool(SqlitePool),
}

impl Poller {
    async fn open(
        pool: &SqlitePool,
        own_connection: Option<&SqliteConnectOptions>,
    ) -> Result<Self, PollStopped> {
        Ok(match own_connection {
            Some(options) => Poller::Own {
                connection: options.connect().await?,
                data_version: 0,
            },
            None => Poller::Pool(pool.clone()),
        })
    }

    /// The counters now, and on a file the `data_version` they were read under.
    async fn read_counters(&mut self) -> Result<Counters, PollStopped> {
        let rows: Vec<(String, i64)> = match self {
            Poller::Own {
                connection,
                data_version,
            } => {
                // Read before the counters: a commit in between moves it again, so the
                // next poll reads the counters again rather than miss that commit.
                *data_version = read_data_version(connection).await?;
                sqlx::query_as(READ_COUNTERS)
                    .fetch_all(&mut *connection)
                    .await?
            }
            Poller::Pool(pool) => sqlx::query_as(READ_COUNTERS).fetch_all(&*pool).await?,
        };
        let counter = |feed: &'static str| {
            rows.iter()
                .find(|(name, _)| name == feed)
                .map(|(_, changes)| *changes)
                .ok_or(PollStopped::MissingCounter(feed))
        };
        Ok(Counters {
            links: counter(LINKS)?,
            accounts: counter(ACCOUNTS)?,
        })
    }

    /// The counters now, read only when another connection has committed since they were
    /// last read (`last`, returned as it is otherwise).
    async fn poll(&mut self, last: Counters) -> Result<Counters, PollStopped> {
        if let Poller::Own {
            connection,
            data_version,
        } = self
            && read_data_version(connection).await? == *data_version
        {
            return Ok(last);
        }
        self.read_counters().await
    }
}

/// `PRAGMA data_version`: moves whenever another connection commits to the file.
async fn read_data_version(connection: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(connection)
        .await
}
