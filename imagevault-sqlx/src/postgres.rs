//! [`PostgresRepo`]: the repository on PostgreSQL, for deployments that scale out.

mod change_feed;

pub use change_feed::LISTENER_APPLICATION_NAME;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use imagevault_core::repo::{ChangeFeed, PoolStats, RepoError, WorkScope};
use imagevault_core::{
    HolderId, Image, ImageId, ImageName, ImageRecord, StorageKey, Thumbnail, ThumbnailHeight,
    UserId,
};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column as _, Connection as _};
use sqlx::{Postgres, Row as _, Transaction};
use uuid::Uuid;

use crate::dialect::{Dialect, Statement};
use crate::error::{InvalidRow, SetupError, backend};
use crate::feeds::Feeds;
use crate::rows::{
    self, CandidateRow, ImageRow, JoinedImageRow, ThumbnailRow, convert, found_keys, image_columns,
    records, thumbnail_columns, thumbnail_status, unsigned32,
};

const BACKEND: &str = "postgres";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

type Stamp = DateTime<Utc>;
type Heights = Vec<i32>;

fn fail(error: sqlx::Error) -> RepoError {
    backend(BACKEND, error)
}

fn checked<T>(result: Result<T, InvalidRow>) -> Result<T, RepoError> {
    convert(BACKEND, result)
}

/// How long a pooled connection may sit idle and still be handed out without a ping.
const UNCHECKED_IDLE_WINDOW: Duration = Duration::from_millis(500);

/// Builds a [`PostgresRepo`]: pool size, timeouts, and whether to migrate at connect.
///
/// ```no_run
/// # async fn demo() -> Result<(), imagevault_sqlx::SetupError> {
/// use std::time::Duration;
/// use imagevault_sqlx::PostgresRepo;
///
/// let repo = PostgresRepo::builder("postgres://imagevault@localhost/imagevault")
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(5))
///     .migrate_on_connect(true)
///     .build()
///     .await?;
/// # let _ = repo;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresRepoBuilder {
    url: String,
    max_connections: u32,
    acquire_timeout: Duration,
    migrate: bool,
}

impl std::fmt::Debug for PostgresRepoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: leave it out.
        f.debug_struct("PostgresRepoBuilder")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("migrate", &self.migrate)
            .finish_non_exhaustive()
    }
}

impl PostgresRepoBuilder {
    /// The most connections the pool opens (default 10).
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a query waits for a free connection before it fails (default 30 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether [`build`](Self::build) also applies the embedded migrations (default
    /// `false`: run [`PostgresRepo::migrate`] from a deployment step instead).
    pub fn migrate_on_connect(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Connects (opening one connection to check the server answers) and migrates if asked.
    pub async fn build(self) -> Result<PostgresRepo, SetupError> {
        let options: PgConnectOptions =
            self.url.parse().map_err(|error| SetupError::InvalidUrl {
                backend: BACKEND,
                source: Box::new(error),
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            // sqlx already pings every connection as it returns to the pool; pinging it
            // again on the way out costs a second round trip per query. Only a connection
            // that has sat idle may have died unnoticed, so only that one is checked (as
            // HikariCP does), within the acquire timeout.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= UNCHECKED_IDLE_WINDOW {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|error| SetupError::Connect {
                backend: BACKEND,
                source: Box::new(error),
            })?;
        let repo = PostgresRepo {
            pool,
            feeds: Arc::default(),
        };
        if self.migrate {
            repo.migrate().await?;
        }
        Ok(repo)
    }
}

/// The [`Repo`](imagevault_core::repo::Repo) on PostgreSQL: a connection pool and embedded migrations.
///
/// Cloning is cheap and shares the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use imagevault_core::{PlanId, PlanRepo};
/// use imagevault_sqlx::PostgresRepo;
///
/// let repo = PostgresRepo::connect("postgres://postgres@127.0.0.1:5432/imagevault").await?;
/// repo.migrate().await?;
/// let basic = repo.get_plan(PlanId::BASIC).await?;
/// assert_eq!(basic.map(|plan| plan.name.to_string()).as_deref(), Some("Basic"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresRepo {
    pool: PgPool,
    /// The change feeds, started together by the first call for either: one listening task
    /// on one connection, shared by every clone.
    feeds: Arc<OnceLock<Feeds>>,
}

impl PostgresRepo {
    /// A builder for a repository on the database at `url` (`postgres://user:password@host/db`).
    pub fn builder(url: impl Into<String>) -> PostgresRepoBuilder {
        PostgresRepoBuilder {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            migrate: false,
        }
    }

    /// Connects to `url` with the default options, without migrating.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        Self::builder(url).build().await
    }

    /// Applies the embedded migrations that are not applied yet; the first creates the
    /// schema and the built-in plans. Running it again, or from several processes at once,
    /// is harmless (the migrations hold an advisory lock).
    pub async fn migrate(&self) -> Result<(), SetupError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|error| SetupError::Migrate {
                backend: BACKEND,
                source: Box::new(error),
            })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction whose `BEGIN` the caller's cancellation cannot cut short.
    ///
    /// sqlx 0.8 counts a transaction only once the server has answered its `BEGIN`
    /// (sqlx issue 4393): a future dropped while waiting for that answer (a client
    /// that went away, a request timeout) leaves the connection inside a transaction that
    /// nothing ends, and the pool hands it on, so the next borrower's statements neither
    /// commit nor release their locks. In a task of its own the `BEGIN` always completes,
    /// and a transaction nobody is left to receive is dropped there, which rolls it back.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, RepoError> {
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin().await })
            .await
            .map_err(|error| backend(BACKEND, error))?
            .map_err(fail)
    }
}

/// The columns of thumbnail rows, for `unnest` inserts.
struct ThumbnailColumns {
    image_id: Vec<Uuid>,
    max_height: Vec<i64>,
    width: Vec<i64>,
    height: Vec<i64>,
    status: Vec<&'static str>,
    storage_key: Vec<Option<String>>,
    attempts: Vec<i64>,
    updated_at: Vec<DateTime<Utc>>,
    failure: Vec<Option<String>>,
    webp_storage_key: Vec<Option<String>>,
    lease_holder: Vec<Option<Uuid>>,
}

impl ThumbnailColumns {
    fn of(rows: &[Thumbnail]) -> Self {
        Self {
            image_id: rows.iter().map(|row| row.image_id.as_uuid()).collect(),
            max_height: rows
                .iter()
                .map(|row| i64::from(row.max_height.get()))
                .collect(),
            width: rows.iter().map(|row| i64::from(row.width)).collect(),
            height: rows.iter().map(|row| i64::from(row.height)).collect(),
            status: rows.iter().map(|row| row.status.as_str()).collect(),
            storage_key: rows
                .iter()
                .map(|row| row.storage_key.as_ref().map(|key| key.as_str().to_owned()))
                .collect(),
            attempts: rows.iter().map(|row| i64::from(row.attempts)).collect(),
            updated_at: rows.iter().map(|row| row.updated_at).collect(),
            failure: rows.iter().map(|row| row.failure.clone()).collect(),
            webp_storage_key: rows
                .iter()
                .map(|row| {
                    row.webp_storage_key
                        .as_ref()
                        .map(|key| key.as_str().to_owned())
                })
                .collect(),
            lease_holder: rows
                .iter()
                .map(|row| row.lease_holder.map(|holder| holder.as_uuid()))
                .collect(),
        }
    }

    /// Binds the columns as `$1` to `$11`.
    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(self.image_id)
            .bind(self.max_height)
            .bind(self.width)
            .bind(self.height)
            .bind(self.status)
            .bind(self.storage_key)
            .bind(self.attempts)
            .bind(self.updated_at)
            .bind(self.failure)
            .bind(self.webp_storage_key)
            .bind(self.lease_holder)
    }
}

const UNNEST_THUMBNAILS: &str = "unnest($1::uuid[], $2::bigint[], $3::bigint[], \
     $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::timestamptz[], $9::text[], \
     $10::text[], $11::uuid[]) \
     AS r(image_id, max_height, width, height, status, storage_key, attempts, updated_at, \
     failure, webp_storage_key, lease_holder)";

/// The columns that [`UNNEST_THUMBNAILS`] gives, in its order, for an `INSERT`.
const THUMBNAIL_INSERT_COLUMNS: &str = "(image_id, max_height, width, height, status, \
     storage_key, attempts, updated_at, failure, webp_storage_key, lease_holder)";

/// The rows of one [`image_thumbnail_columns`](crate::rows::image_thumbnail_columns) query, their column types checked once.
///
/// Every row of a result shares its statement's column metadata, so checking the first
/// row's types covers them all; the rows are then decoded without sqlx's per-value type
/// check, a cost that would otherwise be paid for every column of every row of a page.
struct ImageThumbnailRows<'r>(Vec<TypedImageThumbnailRow<'r>>);

/// A row of [`ImageThumbnailRows`], read by position, borrowing its text: the hottest read
/// (a page of images) decodes each image's columns once, not once per thumbnail row, and
/// allocates only what the domain types keep.
struct TypedImageThumbnailRow<'r>(&'r PgRow);

impl<'r> ImageThumbnailRows<'r> {
    fn check(rows: &'r [PgRow]) -> Result<Self, InvalidRow> {
        if let Some(first) = rows.first() {
            expect_type::<Uuid>(first, 0)?;
            expect_type::<Uuid>(first, 1)?;
            expect_type::<&str>(first, 2)?;
            expect_type::<&str>(first, 3)?;
            for index in [4, 5, 6, 9, 10, 11, 14] {
                expect_type::<i64>(first, index)?;
            }
            expect_type::<&str>(first, 7)?;
            expect_type::<DateTime<Utc>>(first, 8)?;
            expect_type::<&str>(first, 12)?;
            expect_type::<&str>(first, 13)?;
            expect_type::<DateTime<Utc>>(first, 15)?;
            expect_type::<&str>(first, 16)?;
            expect_type::<&str>(first, 17)?;
            expect_type::<&[u8]>(first, 18)?;
            expect_type::<&str>(first, 19)?;
            expect_type::<&str>(first, 20)?;
            expect_type::<&str>(first, 21)?;
            expect_type::<Uuid>(first, 22)?;
        }
        Ok(Self(rows.iter().map(TypedImageThumbnailRow).collect()))
    }
}

impl TypedImageThumbnailRow<'_> {
    /// Column `index`, whose type [`ImageThumbnailRows::check`] checked.
    fn get<'r, T>(&'r self, index: usize) -> Result<T, InvalidRow>
    where
        T: sqlx::Decode<'r, Postgres>,
    {
        self.0
            .try_get_unchecked(index)
            .map_err(|error| InvalidRow(format!("column {index}: {error}")))
    }
}

impl JoinedImageRow for TypedImageThumbnailRow<'_> {
    fn image_id(&self) -> Result<Uuid, InvalidRow> {
        self.get(0)
    }

    fn image(&self) -> Result<Image, InvalidRow> {
        let size: i64 = self.get(6)?;
        Ok(Image {
            id: ImageId::from_uuid(self.get(0)?),
            owner: UserId::from_uuid(self.get(1)?),
            name: ImageName::parse(self.get(2)?).map_err(|error| InvalidRow(error.message))?,
            format: rows::format(self.get(3)?)?,
            width: unsigned32(self.get(4)?, "width")?,
            height: unsigned32(self.get(5)?, "height")?,
            size: u64::try_from(size).map_err(|_| InvalidRow(format!("size {size}")))?,
            storage_key: rows::storage_key(self.get(7)?)?,
            created_at: self.get(8)?,
            digest: self
                .get::<Option<&str>>(17)?
                .map(rows::digest)
                .transpose()?,
            placeholder: rows::placeholder(self.get(18)?, self.get(19)?)?,
            metadata_removed: self
                .get::<Option<&str>>(20)?
                .map(rows::metadata_removed)
                .transpose()?,
        })
    }

    fn thumbnail(&self) -> Result<Option<Thumbnail>, InvalidRow> {
        let Some(max_height) = self.get::<Option<i64>>(9)? else {
            return Ok(None);
        };
        let storage_key: Option<&str> = self.get(13)?;
        Ok(Some(Thumbnail {
            image_id: ImageId::from_uuid(self.get(0)?),
            max_height: rows::height(max_height)?,
            width: unsigned32(self.get(10)?, "thumbnail width")?,
            height: unsigned32(self.get(11)?, "thumbnail height")?,
            status: thumbnail_status(self.get(12)?)?,
            storage_key: storage_key.map(rows::storage_key).transpose()?,
            webp_storage_key: self
                .get::<Option<&str>>(21)?
                .map(rows::storage_key)
                .transpose()?,
            attempts: unsigned32(self.get(14)?, "attempts")?,
            updated_at: self.get(15)?,
            failure: self.get::<Option<&str>>(16)?.map(str::to_owned),
            lease_holder: self.get::<Option<Uuid>>(22)?.map(HolderId::from_uuid),
        }))
    }
}

/// Whether column `index` of `row` exists and holds values of type `T` (or `NULL`s).
fn expect_type<T: sqlx::Type<Postgres>>(row: &PgRow, index: usize) -> Result<(), InvalidRow> {
    let column = row
        .columns()
        .get(index)
        .ok_or_else(|| InvalidRow(format!("no column {index}")))?;
    let found = column.type_info();
    if T::compatible(found) {
        Ok(())
    } else {
        Err(InvalidRow(format!(
            "column {index} ({}) is of type {found}, not {}",
            column.name(),
            T::type_info()
        )))
    }
}

impl Dialect for PostgresRepo {
    type Db = Postgres;
    type Stamp = Stamp;
    type Heights = Heights;
    /// `thumbnails.max_height` is a `bigint`.
    type HeightList = Vec<i64>;

    const BACKEND: &'static str = BACKEND;
    const MAX_HEIGHT_IN_2: &'static str = "max_height = ANY($2)";

    fn height_list(heights: &[ThumbnailHeight]) -> Vec<i64> {
        heights
            .iter()
            .map(|height| i64::from(height.get()))
            .collect()
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn pool_stats(&self) -> PoolStats {
        crate::dialect::stats_of(&self.pool)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, RepoError> {
        self.begin().await
    }

    /// The hottest read (a page of images): the rows are decoded by position with their
    /// column types checked once, see [`ImageThumbnailRows`].
    async fn fetch_records<'a>(
        &'a self,
        select: Statement<'a, Self>,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        let rows = select.fetch_all(&self.pool).await.map_err(fail)?;
        checked(records(&checked(ImageThumbnailRows::check(&rows))?.0))
    }

    async fn insert_thumbnails<'a>(
        connection: &'a mut PgConnection,
        rows: &'a [Thumbnail],
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO thumbnails {THUMBNAIL_INSERT_COLUMNS} SELECT r.* FROM {UNNEST_THUMBNAILS}"
        );
        ThumbnailColumns::of(rows)
            .bind(sqlx::query(&sql))
            .execute(connection)
            .await?;
        Ok(())
    }

    async fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        let mut tx = self.begin().await?;
        // Locking the image holds off new thumbnail rows; deleting the thumbnails with
        // RETURNING reports exactly the rows that were there, so a worker finishing at the
        // same moment either lands in the answer or finds its row gone.
        let image: Option<ImageRow<Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            image_columns!(),
            " FROM images i WHERE i.id = $1 AND i.owner = $2 FOR UPDATE"
        ))
        .bind(id.as_uuid())
        .bind(owner.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(fail)?;
        let Some(image) = image else {
            return Ok(None);
        };
        let thumbnails: Vec<ThumbnailRow<Stamp>> = sqlx::query_as(concat!(
            "DELETE FROM thumbnails AS t WHERE t.image_id = $1 RETURNING ",
            thumbnail_columns!()
        ))
        .bind(id.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query("DELETE FROM images WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        let mut thumbnails: Vec<Thumbnail> = checked(
            thumbnails
                .into_iter()
                .map(ThumbnailRow::into_thumbnail)
                .collect(),
        )?;
        thumbnails.sort_by_key(|thumbnail| thumbnail.max_height);
        Ok(Some(ImageRecord {
            image: checked(image.into_image())?,
            thumbnails,
        }))
    }

    async fn referenced_keys(&self, keys: &[StorageKey]) -> Result<HashSet<StorageKey>, RepoError> {
        // One lookup per key in each table's storage_key index (the thumbnails' is partial,
        // hence the IS NOT NULL that lets a generic plan use it too).
        let asked: Vec<&str> = keys.iter().map(StorageKey::as_str).collect();
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT storage_key FROM images WHERE storage_key = ANY($1::text[]) \
             UNION \
             SELECT storage_key FROM thumbnails \
             WHERE storage_key IS NOT NULL AND storage_key = ANY($1::text[]) \
             UNION \
             SELECT webp_storage_key FROM thumbnails \
             WHERE webp_storage_key IS NOT NULL AND webp_storage_key = ANY($1::text[])",
        )
        .bind(asked)
        .fetch_all(&self.pool)
        .await
        .map_err(fail)?;
        Ok(found_keys(keys, &found))
    }

    async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError> {
        // Locking each image row (KEY SHARE) skips images deleted meanwhile instead of
        // failing on the foreign key.
        let sql = format!(
            "INSERT INTO thumbnails {THUMBNAIL_INSERT_COLUMNS} \
             SELECT r.* FROM {UNNEST_THUMBNAILS} JOIN images i ON i.id = r.image_id \
             FOR KEY SHARE OF i \
             ON CONFLICT (image_id, max_height) DO NOTHING"
        );
        ThumbnailColumns::of(rows)
            .bind(sqlx::query(&sql))
            .execute(&self.pool)
            .await
            .map_err(fail)?;
        Ok(())
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
        // Candidates are images with a plan height that has no row, a claimable pending
        // row, or (for a WebP plan) a ready row without its WebP variant, oldest first.
        // Concurrent claimers skip each other's locked images, and the answer lists only
        // images this call actually changed.
        let sql = format!(
            "SELECT i.id, i.width, i.height, p.thumbnail_heights \
             FROM images i JOIN users u ON u.id = i.owner JOIN plans p ON p.id = u.plan_id \
             WHERE TRUE {scope_condition} AND ( \
               EXISTS (SELECT 1 FROM unnest(p.thumbnail_heights) AS h(height) WHERE NOT EXISTS \
                 (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id AND t.max_height = h.height)) \
               OR EXISTS (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id \
                 AND t.status = 'pending' AND {claimable} \
                 AND t.max_height = ANY (p.thumbnail_heights)) \
               OR ({webp} AND EXISTS (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id \
                 AND t.status = 'ready' AND t.webp_storage_key IS NULL \
                 AND t.max_height = ANY (p.thumbnail_heights)))) \
             ORDER BY i.created_at, i.id \
             LIMIT $2 \
             FOR NO KEY UPDATE OF i SKIP LOCKED"
        );
        let mut tx: Transaction<'_, Postgres> = self.begin().await?;
        let mut select = sqlx::query_as::<_, CandidateRow<Heights>>(&sql)
            .bind(stale_before)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        if let Some(id) = scope_id {
            select = select.bind(id);
        }
        let candidates = select.fetch_all(&mut *tx).await.map_err(fail)?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let order: Vec<Uuid> = candidates.iter().map(|candidate| candidate.id).collect();
        let mut missing = Vec::new();
        for candidate in candidates {
            missing.extend(checked(candidate.pending_rows(now, holder))?);
        }
        let holder = holder.map(|holder| holder.as_uuid());
        // Renew claimable leases first, so that the rows inserted below are not renewed
        // again.
        let claimable = rows::claimable_lease(3);
        let sql = format!(
            "UPDATE thumbnails t SET updated_at = $1, lease_holder = $4 \
             FROM images i JOIN users u ON u.id = i.owner JOIN plans p ON p.id = u.plan_id \
             WHERE t.image_id = i.id AND i.id = ANY($2) AND t.status = 'pending' \
               AND {claimable} AND t.max_height = ANY (p.thumbnail_heights) \
             RETURNING t.image_id"
        );
        let renewed: Vec<Uuid> = sqlx::query_scalar(&sql)
            .bind(now)
            .bind(&order)
            .bind(stale_before)
            .bind(holder)
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        // Ready rows of a plan that gained WebP are made again, with their variant.
        let sql = format!(
            "UPDATE thumbnails t SET status = 'pending', attempts = 0, failure = NULL, \
             updated_at = $1, lease_holder = $3 \
             FROM images i JOIN users u ON u.id = i.owner JOIN plans p ON p.id = u.plan_id \
             WHERE t.image_id = i.id AND i.id = ANY($2) AND t.status = 'ready' \
               AND t.webp_storage_key IS NULL AND t.max_height = ANY (p.thumbnail_heights) \
               AND {webp} \
             RETURNING t.image_id"
        );
        let reopened: Vec<Uuid> = sqlx::query_scalar(&sql)
            .bind(now)
            .bind(&order)
            .bind(holder)
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        let sql = format!(
            "INSERT INTO thumbnails {THUMBNAIL_INSERT_COLUMNS} \
             SELECT r.* FROM {UNNEST_THUMBNAILS} \
             ON CONFLICT (image_id, max_height) DO NOTHING RETURNING image_id"
        );
        let inserted: Vec<Uuid> = ThumbnailColumns::of(&missing)
            .bind(sqlx::query(&sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|row| sqlx::Row::try_get::<Uuid, _>(&row, 0))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        let touched: HashSet<Uuid> = renewed
            .into_iter()
            .chain(reopened)
            .chain(inserted)
            .collect();
        Ok(order
            .into_iter()
            .filter(|id| touched.contains(id))
            .map(ImageId::from_uuid)
            .collect())
    }

    /// A feed driven by `LISTEN imagevault_link_changes`, which the triggers of migration
    /// 0002 notify on every change that can alter a link's resolution, from any process.
    /// One task, on one pooled connection, listens for both feeds and reconnects with
    /// backoff; nothing is cached while it is reconnecting.
    fn link_changes(&self) -> Option<ChangeFeed> {
        Some(self.feeds().links.clone())
    }

    /// A feed driven by `LISTEN imagevault_account_changes`, which the triggers of
    /// migration 0003 notify on every change to tokens, users and plans, from any process.
    /// The same task as [`Self::link_changes`] feeds it.
    fn account_changes(&self) -> Option<ChangeFeed> {
        Some(self.feeds().accounts.clone())
    }
}

crate::repo::impl_repo!(PostgresRepo);
