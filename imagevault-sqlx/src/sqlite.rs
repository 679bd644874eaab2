//! [`SqliteRepo`]: the repository in a single SQLite file, the embedded default.
//!
//! Writes go through a pool of exactly one connection, so writers of this process queue
//! in the pool instead of competing for SQLite's lock, and write transactions start with
//! `BEGIN IMMEDIATE`, so that against other processes they wait (busy timeout) for the
//! lock up front rather than fail when a read upgrades to a write. Reads use a separate
//! pool and, in WAL mode, never wait for the writer. The change feeds poll counters that
//! triggers keep (see [`change_feed`]).

mod change_feed;

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use imagevault_core::repo::{ChangeFeed, PoolStats, RepoError, WorkScope};
use imagevault_core::{
    HolderId, ImageId, ImageRecord, StorageKey, Thumbnail, ThumbnailHeight, UserId,
};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::dialect::{Dialect, Statement};
use crate::error::{InvalidRow, SetupError, backend};
use crate::repo::RECORD_SQL;
use crate::rows::{
    self, CandidateRow, ImageThumbnailRow, StoredHeights as _, convert, found_keys, records,
};

use self::change_feed::ChangeFeeds;

const BACKEND: &str = "sqlite";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Microseconds since the Unix epoch.
type Stamp = i64;
/// A JSON array of integers.
type Heights = String;

fn fail(error: sqlx::Error) -> RepoError {
    backend(BACKEND, error)
}

fn checked<T>(result: Result<T, InvalidRow>) -> Result<T, RepoError> {
    convert(BACKEND, result)
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// Storage keys as a JSON array of strings, for `json_each`. Keys hold only ASCII letters,
/// digits, `-`, `_`, `.` and `/`, none of which JSON needs escaped.
fn keys_json(keys: &[StorageKey]) -> String {
    let items: Vec<String> = keys.iter().map(|key| format!("\"{key}\"")).collect();
    format!("[{}]", items.join(","))
}

/// Builds a [`SqliteRepo`]: pool size, timeouts, file creation, and whether to migrate at
/// connect.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use imagevault_sqlx::SqliteRepo;
///
/// let dir = tempfile::tempdir()?;
/// let url = format!("sqlite://{}", dir.path().join("imagevault.db").display());
/// let repo = SqliteRepo::builder(url)
///     .create_if_missing(true)
///     .max_connections(4)
///     .busy_timeout(Duration::from_secs(10))
///     .migrate_on_connect(true)
///     .build()
///     .await?;
/// # let _ = repo;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteRepoBuilder {
    url: String,
    max_connections: u32,
    acquire_timeout: Duration,
    busy_timeout: Duration,
    create_if_missing: Option<bool>,
    migrate: bool,
}

impl std::fmt::Debug for SqliteRepoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRepoBuilder")
            .field("url", &self.url)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .field("create_if_missing", &self.create_if_missing)
            .field("migrate", &self.migrate)
            .finish()
    }
}

impl SqliteRepoBuilder {
    /// The most connections for reads (default 4); writes always use one more, their own.
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a query waits for a free connection before it fails (default 30 s). Writes
    /// queue for the one write connection, so this bounds how long a write may queue.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long a statement waits for another process's lock on the file (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether a missing file is created; by default the URL decides (`?mode=rwc` creates).
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = Some(create);
        self
    }

    /// Whether [`build`](Self::build) also applies the embedded migrations (default
    /// `false`).
    pub fn migrate_on_connect(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Opens the database (WAL, `synchronous = NORMAL`, foreign keys on) and migrates if
    /// asked.
    pub async fn build(self) -> Result<SqliteRepo, SetupError> {
        let mut options = SqliteConnectOptions::from_str(&self.url)
            .map_err(|error| SetupError::InvalidUrl {
                backend: BACKEND,
                source: Box::new(error),
            })?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(self.busy_timeout)
            .foreign_keys(true);
        if let Some(create) = self.create_if_missing {
            options = options.create_if_missing(create);
        }
        let connect_error = |error| SetupError::Connect {
            backend: BACKEND,
            source: Box::new(error),
        };
        // An in-memory database lives as long as its one connection: one pool, one
        // connection, never recycled.
        let memory = self.url.contains(":memory:") || self.url.contains("mode=memory");
        let mut writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.acquire_timeout);
        if memory {
            writer = writer
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let writer = writer
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        let (reader, feeds) = if memory {
            (writer.clone(), ChangeFeeds::new(None))
        } else {
            let reader = SqlitePoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout)
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            (reader, ChangeFeeds::new(Some(options)))
        };
        let repo = SqliteRepo {
            reader,
            writer,
            one_pool: memory,
            feeds,
        };
        if self.migrate {
            repo.migrate().await?;
        }
        Ok(repo)
    }
}

/// The [`Repo`](imagevault_core::repo::Repo) in a SQLite file: WAL mode, a busy timeout, foreign keys on, one write
/// connection and a pool of read connections, and embedded migrations.
///
/// Many tasks may write at once: their writes queue for the write connection, and never
/// fail with "database is locked" (other processes writing the same file wait up to the
/// busy timeout). Cloning is cheap and shares the pools.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use imagevault_core::{PlanId, PlanRepo};
/// use imagevault_sqlx::SqliteRepo;
///
/// let dir = tempfile::tempdir()?;
/// let url = format!("sqlite://{}?mode=rwc", dir.path().join("imagevault.db").display());
/// let repo = SqliteRepo::connect(&url).await?;
/// repo.migrate().await?;
/// repo.migrate().await?; // already applied: nothing to do
/// let basic = repo.get_plan(PlanId::BASIC).await?.expect("a built-in plan");
/// assert_eq!(basic.name.as_str(), "Basic");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteRepo {
    reader: SqlitePool,
    writer: SqlitePool,
    /// Whether `reader` is `writer` (an in-memory database), so its connections count once.
    one_pool: bool,
    /// The change feeds, started together by the first call for either: one polling task,
    /// shared by every clone.
    feeds: ChangeFeeds,
}

impl SqliteRepo {
    /// A builder for a repository in the database at `url`: `sqlite://path/to/file.db`
    /// (add `?mode=rwc` to create the file) or `sqlite::memory:`.
    pub fn builder(url: impl Into<String>) -> SqliteRepoBuilder {
        SqliteRepoBuilder {
            url: url.into(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            create_if_missing: None,
            migrate: false,
        }
    }

    /// Opens `url` with the default options, without migrating.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        Self::builder(url).build().await
    }

    /// Applies the embedded migrations that are not applied yet; the first creates the
    /// schema and the built-in plans. Running it again is harmless.
    ///
    /// Once the schema is there, the change feeds start polling (they otherwise start on
    /// first use), so that they are connected by the time a vault's first requests would
    /// cache what they read.
    pub async fn migrate(&self) -> Result<(), SetupError> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|error| SetupError::Migrate {
                backend: BACKEND,
                source: Box::new(error),
            })?;
        self.feeds.start_polling(&self.writer);
        Ok(())
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, RepoError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail)
    }
}

/// Runs `select`, a statement of image rows joined with their thumbnails, on `executor`,
/// and groups its rows into records.
///
/// SQLite folds the rows into one JSON array, which is parsed here: sqlx copies every value
/// of every row it hands over (`sqlite3_value_dup`, an allocation each, freed again with
/// the row), and a list page's 42 rows of 22 columns spent most of their time there. One
/// text value costs one copy. The array keeps the subquery's order: SQLite runs an ordered
/// subquery of an aggregate as a co-routine that yields its rows in that order.
async fn fetch_records<'e, 'q: 'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
    mut select: Statement<'q, SqliteRepo>,
) -> Result<Vec<ImageRecord>, RepoError> {
    use sqlx::Execute as _;
    let sql = format!(
        "SELECT json_group_array(json_array({})) FROM ({}) AS joined",
        rows::json_image_thumbnail_columns!(),
        select.sql()
    );
    let arguments = select
        .take_arguments()
        .map_err(|error| fail(sqlx::Error::Encode(error)))?
        .unwrap_or_default();
    let text: String = sqlx::query_scalar_with(&sql, arguments)
        .fetch_one(executor)
        .await
        .map_err(fail)?;
    let parsed = serde_json::from_str::<Vec<rows::JsonImageThumbnailRow>>(&text)
        .map_err(|error| InvalidRow(format!("image rows as JSON: {error}")))
        .and_then(|rows| {
            rows.into_iter()
                .map(ImageThumbnailRow::<Stamp>::try_from)
                .collect::<Result<Vec<_>, _>>()
        })
        .and_then(|rows| records(&rows));
    checked(parsed)
}

/// How [`insert_thumbnail`] treats a row that exists or belongs to no image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    /// Both are errors (a unique and a foreign key violation).
    Strict,
    /// An existing row is kept; a row of a missing image is skipped.
    IfMissing,
}

/// Inserts one thumbnail row, returning whether it was inserted.
async fn insert_thumbnail(
    connection: &mut SqliteConnection,
    row: &Thumbnail,
    mode: Insert,
) -> Result<bool, sqlx::Error> {
    let sql = match mode {
        Insert::Strict => {
            "INSERT INTO thumbnails (image_id, max_height, width, height, status, storage_key, \
             attempts, updated_at, failure, webp_storage_key, lease_holder) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        }
        Insert::IfMissing => {
            "INSERT INTO thumbnails (image_id, max_height, width, height, status, storage_key, \
             attempts, updated_at, failure, webp_storage_key, lease_holder) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE EXISTS (SELECT 1 FROM images WHERE id = $1) \
             ON CONFLICT (image_id, max_height) DO NOTHING"
        }
    };
    let done = sqlx::query(sql)
        .bind(row.image_id.as_uuid())
        .bind(i64::from(row.max_height.get()))
        .bind(i64::from(row.width))
        .bind(i64::from(row.height))
        .bind(row.status.as_str())
        .bind(row.storage_key.as_ref().map(StorageKey::as_str))
        .bind(i64::from(row.attempts))
        .bind(micros(row.updated_at))
        .bind(row.failure.as_deref())
        .bind(row.webp_storage_key.as_ref().map(StorageKey::as_str))
        .bind(row.lease_holder.map(|holder| holder.as_uuid()))
        .execute(&mut *connection)
        .await?;
    Ok(done.rows_affected() > 0)
}

impl Dialect for SqliteRepo {
    type Db = Sqlite;
    type Stamp = Stamp;
    type Heights = Heights;
    /// A JSON array, which `json_each` reads.
    type HeightList = String;

    const BACKEND: &'static str = BACKEND;
    const MAX_HEIGHT_IN_2: &'static str = "max_height IN (SELECT value FROM json_each($2))";

    fn height_list(heights: &[ThumbnailHeight]) -> String {
        String::from_heights(heights)
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn pool_stats(&self) -> PoolStats {
        let writer = crate::dialect::stats_of(&self.writer);
        if self.one_pool {
            writer
        } else {
            writer + crate::dialect::stats_of(&self.reader)
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, RepoError> {
        self.write().await
    }

    async fn fetch_records<'a>(
        &'a self,
        select: Statement<'a, Self>,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        fetch_records(&self.reader, select).await
    }

    async fn insert_thumbnails<'a>(
        connection: &'a mut SqliteConnection,
        rows: &'a [Thumbnail],
    ) -> Result<(), sqlx::Error> {
        for row in rows {
            insert_thumbnail(connection, row, Insert::Strict).await?;
        }
        Ok(())
    }

    async fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        // Under the write lock, what is read is exactly what the delete removes.
        let mut tx = self.write().await?;
        let select = sqlx::query(RECORD_SQL)
            .bind(id.as_uuid())
            .bind(owner.as_uuid());
        let Some(deleted) = fetch_records(&mut *tx, select).await?.into_iter().next() else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM images WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(Some(deleted))
    }

    async fn referenced_keys(&self, keys: &[StorageKey]) -> Result<HashSet<StorageKey>, RepoError> {
        // One lookup per key in each table's storage_key index.
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT storage_key FROM images \
             WHERE storage_key IN (SELECT value FROM json_each($1)) \
             UNION \
             SELECT storage_key FROM thumbnails \
             WHERE storage_key IS NOT NULL AND storage_key IN (SELECT value FROM json_each($1)) \
             UNION \
             SELECT webp_storage_key FROM thumbnails \
             WHERE webp_storage_key IS NOT NULL \
               AND webp_storage_key IN (SELECT value FROM json_each($1))",
        )
        .bind(keys_json(keys))
        .fetch_all(&self.reader)
        .await
        .map_err(fail)?;
        Ok(found_keys(keys, &found))
    }

    async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError> {
        let mut tx = self.write().await?;
        for row in rows {
            insert_thumbnail(&mut tx, row, Insert::IfMissing)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    async fn claim_thumbnail_work(
        &self,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
        holder: Option<HolderId>,
    ) -> Result<Vec<ImageId>, RepoError> {
        let (scope_condition, scope_id) = rows::work_scope_condition(scope);
        let webp = rows::plan_lists_webp();
        let claimable = rows::claimable_lease(1);
        // Candidates are images with a plan height that has no row, a claimable pending row,
        // or (for a WebP plan) a ready row without its WebP variant, oldest first. The
        // write lock makes the claim atomic.
        let sql = format!(
            "SELECT i.id, i.width, i.height, p.thumbnail_heights \
             FROM images i JOIN users u ON u.id = i.owner JOIN plans p ON p.id = u.plan_id \
             WHERE TRUE {scope_condition} AND ( \
               EXISTS (SELECT 1 FROM json_each(p.thumbnail_heights) AS h WHERE NOT EXISTS \
                 (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id AND t.max_height = h.value)) \
               OR EXISTS (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id \
                 AND t.status = 'pending' AND {claimable} \
                 AND t.max_height IN (SELECT value FROM json_each(p.thumbnail_heights))) \
               OR ({webp} AND EXISTS (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id \
                 AND t.status = 'ready' AND t.webp_storage_key IS NULL \
                 AND t.max_height IN (SELECT value FROM json_each(p.thumbnail_heights))))) \
             ORDER BY i.created_at, i.id \
             LIMIT $2"
        );
        let mut tx = self.write().await?;
        let mut select = sqlx::query_as::<_, CandidateRow<Heights>>(&sql)
            .bind(micros(stale_before))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        if let Some(id) = scope_id {
            select = select.bind(id);
        }
        let candidates = select.fetch_all(&mut *tx).await.map_err(fail)?;
        let renew = format!(
            "UPDATE thumbnails AS t SET updated_at = $1, lease_holder = $5 \
             WHERE image_id = $2 AND status = 'pending' AND {} \
               AND max_height IN (SELECT value FROM json_each($4))",
            rows::claimable_lease(3)
        );
        let mut claimed = Vec::new();
        for candidate in candidates {
            let image = ImageId::from_uuid(candidate.id);
            let heights = candidate.thumbnail_heights.clone();
            // Renew claimable leases first, so that the rows inserted below are not renewed.
            let renewed = sqlx::query(&renew)
                .bind(micros(now))
                .bind(image.as_uuid())
                .bind(micros(stale_before))
                .bind(heights)
                .bind(holder.map(|holder| holder.as_uuid()))
                .execute(&mut *tx)
                .await
                .map_err(fail)?
                .rows_affected();
            // Ready rows of a plan that gained WebP are made again, with their variant.
            let reopen = format!(
                "UPDATE thumbnails SET status = 'pending', attempts = 0, failure = NULL, \
                 updated_at = $1, lease_holder = $4 \
                 WHERE image_id = $2 AND status = 'ready' AND webp_storage_key IS NULL \
                   AND max_height IN (SELECT value FROM json_each($3)) \
                   AND EXISTS (SELECT 1 FROM images i JOIN users u ON u.id = i.owner \
                     JOIN plans p ON p.id = u.plan_id WHERE i.id = $2 AND {webp})"
            );
            let reopened = sqlx::query(&reopen)
                .bind(micros(now))
                .bind(image.as_uuid())
                .bind(candidate.thumbnail_heights.clone())
                .bind(holder.map(|holder| holder.as_uuid()))
                .execute(&mut *tx)
                .await
                .map_err(fail)?
                .rows_affected();
            let mut touched = renewed > 0 || reopened > 0;
            for row in checked(candidate.pending_rows(now, holder))? {
                touched |= insert_thumbnail(&mut tx, &row, Insert::IfMissing)
                    .await
                    .map_err(fail)?;
            }
            if touched {
                claimed.push(image);
            }
        }
        tx.commit().await.map_err(fail)?;
        Ok(claimed)
    }

    /// A feed driven by the `links` counter, which the triggers of migration 0012 move on
    /// every change that can alter a link's resolution, from any process; one task polls
    /// it for both feeds (see [`SqliteRepo::CHANGE_FEED_STALENESS`]).
    fn link_changes(&self) -> Option<ChangeFeed> {
        Some(self.feeds.links(&self.writer))
    }

    /// A feed driven by the `accounts` counter, which the triggers of migration 0012 move
    /// on every change to tokens, users and plans, from any process; the same task as
    /// [`Self::link_changes`] polls it.
    fn account_changes(&self) -> Option<ChangeFeed> {
        Some(self.feeds.accounts(&self.writer))
    }
}

crate::repo::impl_repo!(SqliteRepo);
