//! [`SqliteRepo`]: the repository in a single SQLite file, the embedded default.
//!
//! Writes go through a pool of exactly one connection, so writers of this process queue
//! in the pool instead of competing for SQLite's lock, and write transactions start with
//! `BEGIN IMMEDIATE`, so that against other processes they wait (busy timeout) for the
//! lock up front rather than fail when a read upgrades to a write. Reads use a separate
//! pool and, in WAL mode, never wait for the writer.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use imagevault_core::page::KeysetQuery;
use imagevault_core::repo::{
    Conflict, ImageFilter, ImageRepo, LinkRepo, LinkTarget, OriginalTarget, PlanRepo, Repo,
    RepoError, ResetScope, SessionOwner, SessionRepo, TokenOwner, Totals, UserRepo, WorkScope,
};
use imagevault_core::{
    ExpiringLink, ImageId, ImageRecord, LinkId, LinkKey, PasswordHash, Plan, PlanId, StorageKey,
    Thumbnail, ThumbnailHeight, TokenRecord, Usage, User, UserId, Username,
};
use imagevault_core::{SessionRecord, TokenHash};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::{InvalidRow, SetupError, Violations, backend};
use crate::rows::{
    self, CandidateRow, ImagePlanRow, ImageThumbnailRow, LinkRow, LinkTargetRow, PlanRow,
    SessionOwnerRow, TokenOwnerRow, TokenRow, UserRow, convert, found_keys, heights_json,
    image_columns, image_thumbnail_columns, in_order, keyset_clause, link_columns,
    owner_plan_columns, plan_columns, records, signed, user_columns,
};

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
        let reader = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(connect_error)?
        };
        let repo = SqliteRepo { reader, writer };
        if self.migrate {
            repo.migrate().await?;
        }
        Ok(repo)
    }
}

/// The [`Repo`] in a SQLite file: WAL mode, a busy timeout, foreign keys on, one write
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
    pub async fn migrate(&self) -> Result<(), SetupError> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|error| SetupError::Migrate {
                backend: BACKEND,
                source: Box::new(error),
            })
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

    async fn record(
        &self,
        id: ImageId,
        owner: Option<UserId>,
    ) -> Result<Option<ImageRecord>, RepoError> {
        let mut connection = self.reader.acquire().await.map_err(fail)?;
        record(&mut connection, id, owner).await
    }
}

/// An image with its thumbnails, in one query.
async fn record(
    connection: &mut SqliteConnection,
    id: ImageId,
    owner: Option<UserId>,
) -> Result<Option<ImageRecord>, RepoError> {
    let rows: Vec<ImageThumbnailRow<Stamp>> = sqlx::query_as(concat!(
        "SELECT ",
        image_thumbnail_columns!(),
        " FROM images i LEFT JOIN thumbnails t ON t.image_id = i.id",
        " WHERE i.id = $1 AND ($2 IS NULL OR i.owner = $2)",
        " ORDER BY t.max_height"
    ))
    .bind(id.as_uuid())
    .bind(owner.map(|owner| owner.as_uuid()))
    .fetch_all(&mut *connection)
    .await
    .map_err(fail)?;
    Ok(checked(records(&rows))?.into_iter().next())
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
             attempts, updated_at, failure) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        }
        Insert::IfMissing => {
            "INSERT INTO thumbnails (image_id, max_height, width, height, status, storage_key, \
             attempts, updated_at, failure) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
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
        .execute(&mut *connection)
        .await?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl PlanRepo for SqliteRepo {
    async fn create_plan(&self, plan: &Plan) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO plans (id, name, thumbnail_heights, original_link, expiring_links, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.name.as_str())
        .bind(heights_json(plan.thumbnail_heights.as_slice()))
        .bind(plan.original_link)
        .bind(plan.expiring_links)
        .bind(micros(plan.created_at))
        .execute(&self.writer)
        .await
        .map_err(|error| Violations::PLAN_NAME.map(BACKEND, error))?;
        Ok(())
    }

    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>, RepoError> {
        let row: Option<PlanRow<Stamp, Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        checked(row.map(PlanRow::into_plan).transpose())
    }

    async fn find_plan_by_name(&self, name: &str) -> Result<Option<Plan>, RepoError> {
        let row: Option<PlanRow<Stamp, Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        checked(row.map(PlanRow::into_plan).transpose())
    }

    async fn list_plans(&self, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError> {
        let sql = format!(
            "SELECT {} FROM plans p WHERE TRUE {}",
            plan_columns!(),
            keyset_clause(query, "p", 1)
        );
        let mut select = sqlx::query_as::<_, PlanRow<Stamp, Heights>>(&sql);
        if let Some((anchor, _)) = query.anchor {
            select = select.bind(micros(anchor.created_at)).bind(anchor.id);
        }
        let rows = select.fetch_all(&self.reader).await.map_err(fail)?;
        let plans = checked(rows.into_iter().map(PlanRow::into_plan).collect())?;
        Ok(in_order(query, plans))
    }

    async fn update_plan(&self, plan: &Plan) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE plans SET name = $2, thumbnail_heights = $3, original_link = $4, \
             expiring_links = $5 WHERE id = $1",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.name.as_str())
        .bind(heights_json(plan.thumbnail_heights.as_slice()))
        .bind(plan.original_link)
        .bind(plan.expiring_links)
        .execute(&self.writer)
        .await
        .map_err(|error| Violations::PLAN_NAME.map(BACKEND, error))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_plan(&self, id: PlanId) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM plans WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(|error| Violations::PLAN_DELETE.map(BACKEND, error))?;
        Ok(done.rows_affected() > 0)
    }

    async fn plan_user_counts(&self) -> Result<Vec<(PlanId, u64)>, RepoError> {
        let rows: Vec<(uuid::Uuid, i64)> =
            sqlx::query_as(crate::rows::account_page_sql::PLAN_USER_COUNTS)
                .fetch_all(&self.reader)
                .await
                .map_err(fail)?;
        checked(
            rows.into_iter()
                .map(|(id, users)| crate::rows::plan_count(id, users))
                .collect(),
        )
    }
}

#[async_trait]
impl UserRepo for SqliteRepo {
    async fn create_user(&self, user: &User) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, plan_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.is_admin)
        .bind(user.plan_id.map(|plan| plan.as_uuid()))
        .bind(micros(user.created_at))
        .execute(&self.writer)
        .await
        .map_err(|error| Violations::USER.map(BACKEND, error))?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, RepoError> {
        let row: Option<UserRow<Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        checked(row.map(UserRow::into_user).transpose())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, RepoError> {
        let row: Option<UserRow<Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.username = $1"
        ))
        .bind(username.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        checked(row.map(UserRow::into_user).transpose())
    }

    async fn list_users(&self, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        let sql = format!(
            "SELECT {} FROM users u WHERE TRUE {}",
            user_columns!(),
            keyset_clause(query, "u", 1)
        );
        let mut select = sqlx::query_as::<_, UserRow<Stamp>>(&sql);
        if let Some((anchor, _)) = query.anchor {
            select = select.bind(micros(anchor.created_at)).bind(anchor.id);
        }
        let rows = select.fetch_all(&self.reader).await.map_err(fail)?;
        let users = checked(rows.into_iter().map(UserRow::into_user).collect())?;
        Ok(in_order(query, users))
    }

    async fn search_users(&self, text: &str, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        let sql = format!(
            "SELECT {} FROM users u WHERE {} {}",
            user_columns!(),
            crate::rows::account_page_sql::SEARCH_CONDITION,
            keyset_clause(query, "u", 2)
        );
        let mut select = sqlx::query_as::<_, UserRow<Stamp>>(&sql)
            .bind(crate::rows::account_page_sql::search_pattern(text));
        if let Some((anchor, _)) = query.anchor {
            select = select.bind(micros(anchor.created_at)).bind(anchor.id);
        }
        let rows = select.fetch_all(&self.reader).await.map_err(fail)?;
        let users = checked(rows.into_iter().map(UserRow::into_user).collect())?;
        Ok(in_order(query, users))
    }

    async fn update_user(&self, user: &User) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE users SET username = $2, password_hash = $3, is_admin = $4, plan_id = $5 \
             WHERE id = $1 AND deletion_requested_at IS NULL",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.is_admin)
        .bind(user.plan_id.map(|plan| plan.as_uuid()))
        .execute(&self.writer)
        .await
        .map_err(|error| Violations::USER.map(BACKEND, error))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, RepoError> {
        // Tokens, images, thumbnails and links go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), RepoError> {
        let done = sqlx::query(crate::rows::token_sql::INSERT)
            .bind(&token.hash.as_bytes()[..])
            .bind(token.user_id.as_uuid())
            .bind(micros(token.created_at))
            .bind(token.expires_at.map(micros))
            .bind(token.last_used_at.map(micros))
            .execute(&self.writer)
            .await
            .map_err(|error| Violations::MISSING_REFERENCE.map(BACKEND, error))?;
        if done.rows_affected() == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    async fn find_token_owner(&self, hash: &TokenHash) -> Result<Option<TokenOwner>, RepoError> {
        let row: Option<TokenOwnerRow<Stamp, Heights>> =
            sqlx::query_as(crate::rows::token_sql::FIND_OWNER)
                .bind(&hash.as_bytes()[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(fail)?;
        checked(row.map(TokenOwnerRow::into_token_owner).transpose())
    }

    async fn delete_token(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE hash = $1")
            .bind(&hash.as_bytes()[..])
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_tokens(&self, user: UserId) -> Result<u64, RepoError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected())
    }

    async fn list_user_tokens(&self, user: UserId) -> Result<Vec<TokenRecord>, RepoError> {
        let rows: Vec<TokenRow<Stamp>> = sqlx::query_as(crate::rows::token_sql::LIST_USER)
            .bind(user.as_uuid())
            .fetch_all(&self.reader)
            .await
            .map_err(fail)?;
        checked(rows.into_iter().map(TokenRow::into_token).collect())
    }

    async fn touch_token(
        &self,
        hash: &TokenHash,
        used_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = sqlx::query(crate::rows::token_sql::TOUCH)
            .bind(&hash.as_bytes()[..])
            .bind(micros(used_at))
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn begin_user_deletion(&self, id: UserId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let mut tx = self.write().await?;
        let marked = sqlx::query(crate::rows::MARK_USER_DELETED)
            .bind(id.as_uuid())
            .bind(PasswordHash::unusable().as_str())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        for delete in crate::rows::DELETE_USER_CREDENTIALS {
            sqlx::query(delete)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        Ok(true)
    }

    async fn users_being_deleted(&self, limit: usize) -> Result<Vec<UserId>, RepoError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<(uuid::Uuid,)> = sqlx::query_as(crate::rows::USERS_BEING_DELETED)
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(fail)?;
        Ok(ids.into_iter().map(|(id,)| UserId::from_uuid(id)).collect())
    }
}

#[async_trait]
impl ImageRepo for SqliteRepo {
    async fn insert_image(&self, record: &ImageRecord) -> Result<(), RepoError> {
        let image = &record.image;
        let size = signed(image.size, "image size").map_err(|error| backend(BACKEND, error))?;
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO images (id, owner, name, format, width, height, size, storage_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(image.id.as_uuid())
        .bind(image.owner.as_uuid())
        .bind(image.name.as_str())
        .bind(image.format.as_str())
        .bind(i64::from(image.width))
        .bind(i64::from(image.height))
        .bind(size)
        .bind(image.storage_key.as_str())
        .bind(micros(image.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|error| Violations::MISSING_REFERENCE.map(BACKEND, error))?;
        for row in &record.thumbnails {
            insert_thumbnail(&mut tx, row, Insert::Strict)
                .await
                .map_err(|error| Violations::MISSING_REFERENCE.map(BACKEND, error))?;
        }
        tx.commit().await.map_err(fail)
    }

    async fn get_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        self.record(id, Some(owner)).await
    }

    async fn get_image_by_id(&self, id: ImageId) -> Result<Option<ImageRecord>, RepoError> {
        self.record(id, None).await
    }

    async fn list_images(
        &self,
        owner: UserId,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        // One statement: the keyset page of images, joined with their thumbnails.
        let sql = format!(
            "SELECT {} FROM (SELECT * FROM images i WHERE i.owner = $1 {}) AS i \
             LEFT JOIN thumbnails t ON t.image_id = i.id \
             ORDER BY i.created_at DESC, i.id DESC, t.max_height",
            image_thumbnail_columns!(),
            keyset_clause(query, "i", 2)
        );
        let mut select = sqlx::query_as::<_, ImageThumbnailRow<Stamp>>(&sql).bind(owner.as_uuid());
        if let Some((anchor, _)) = query.anchor {
            select = select.bind(micros(anchor.created_at)).bind(anchor.id);
        }
        let rows = select.fetch_all(&self.reader).await.map_err(fail)?;
        checked(records(&rows))
    }

    async fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        // Under the write lock, what is read is exactly what the delete removes.
        let mut tx = self.write().await?;
        let Some(deleted) = record(&mut tx, id, Some(owner)).await? else {
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

    async fn find_original(&self, key: &StorageKey) -> Result<Option<OriginalTarget>, RepoError> {
        let row: Option<ImagePlanRow<Stamp, Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            image_columns!(),
            ", ",
            owner_plan_columns!(),
            " FROM images i JOIN users u ON u.id = i.owner LEFT JOIN plans p ON p.id = u.plan_id",
            " WHERE i.storage_key = $1 LIMIT 1"
        ))
        .bind(key.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        let Some(row) = row else { return Ok(None) };
        let (image, owner_plan) = checked(row.into_parts())?;
        Ok(Some(OriginalTarget { image, owner_plan }))
    }

    async fn referenced_keys(&self, keys: &[StorageKey]) -> Result<HashSet<StorageKey>, RepoError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        // One lookup per key in each table's storage_key index.
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT storage_key FROM images \
             WHERE storage_key IN (SELECT value FROM json_each($1)) \
             UNION \
             SELECT storage_key FROM thumbnails \
             WHERE storage_key IS NOT NULL AND storage_key IN (SELECT value FROM json_each($1))",
        )
        .bind(keys_json(keys))
        .fetch_all(&self.reader)
        .await
        .map_err(fail)?;
        Ok(found_keys(keys, &found))
    }

    async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for row in rows {
            insert_thumbnail(&mut tx, row, Insert::IfMissing)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    async fn start_thumbnail_attempt(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        sqlx::query(
            "UPDATE thumbnails SET attempts = MIN(attempts + 1, 4294967295), updated_at = $3 \
             WHERE image_id = $1 AND status = 'pending' \
               AND max_height IN (SELECT value FROM json_each($2))",
        )
        .bind(image.as_uuid())
        .bind(heights_json(heights))
        .bind(micros(now))
        .execute(&self.writer)
        .await
        .map_err(fail)?;
        Ok(())
    }

    async fn complete_thumbnail(
        &self,
        image: ImageId,
        height: ThumbnailHeight,
        key: &StorageKey,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE thumbnails SET status = 'ready', storage_key = $3, updated_at = $4, \
             failure = NULL \
             WHERE image_id = $1 AND max_height = $2 AND status = 'pending'",
        )
        .bind(image.as_uuid())
        .bind(i64::from(height.get()))
        .bind(key.as_str())
        .bind(micros(now))
        .execute(&self.writer)
        .await
        .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn fail_thumbnails(
        &self,
        image: ImageId,
        heights: &[ThumbnailHeight],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        sqlx::query(&rows::admin_sql::fail_thumbnails(
            "max_height IN (SELECT value FROM json_each($2))",
        ))
        .bind(image.as_uuid())
        .bind(heights_json(heights))
        .bind(reason)
        .bind(micros(now))
        .execute(&self.writer)
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
    ) -> Result<Vec<ImageId>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (scope_condition, scope_id) = match scope {
            WorkScope::All => ("", None),
            WorkScope::LapsedLeases => (crate::rows::LAPSED_LEASE_CONDITION, None),
            WorkScope::Owner(owner) => ("AND i.owner = $3", Some(owner.as_uuid())),
            WorkScope::Plan(plan) => ("AND u.plan_id = $3", Some(plan.as_uuid())),
        };
        // Candidates are images with a plan height that has no row, or a lapsed pending
        // row, oldest first. The write lock makes the claim atomic.
        let sql = format!(
            "SELECT i.id, i.width, i.height, p.thumbnail_heights \
             FROM images i JOIN users u ON u.id = i.owner JOIN plans p ON p.id = u.plan_id \
             WHERE TRUE {scope_condition} AND ( \
               EXISTS (SELECT 1 FROM json_each(p.thumbnail_heights) AS h WHERE NOT EXISTS \
                 (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id AND t.max_height = h.value)) \
               OR EXISTS (SELECT 1 FROM thumbnails t WHERE t.image_id = i.id \
                 AND t.status = 'pending' AND t.updated_at < $1 \
                 AND t.max_height IN (SELECT value FROM json_each(p.thumbnail_heights)))) \
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
        let mut claimed = Vec::new();
        for candidate in candidates {
            let image = ImageId::from_uuid(candidate.id);
            let heights = candidate.thumbnail_heights.clone();
            // Renew lapsed leases first, so that the rows inserted below are not renewed.
            let renewed = sqlx::query(
                "UPDATE thumbnails SET updated_at = $1 \
                 WHERE image_id = $2 AND status = 'pending' AND updated_at < $3 \
                   AND max_height IN (SELECT value FROM json_each($4))",
            )
            .bind(micros(now))
            .bind(image.as_uuid())
            .bind(micros(stale_before))
            .bind(heights)
            .execute(&mut *tx)
            .await
            .map_err(fail)?
            .rows_affected();
            let mut touched = renewed > 0;
            for row in checked(candidate.pending_rows(now))? {
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

    async fn totals(&self) -> Result<Totals, RepoError> {
        let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(rows::admin_sql::TOTALS)
            .fetch_one(&self.reader)
            .await
            .map_err(fail)?;
        checked(rows::admin_sql::totals(counts))
    }

    async fn list_all_images(
        &self,
        filter: &ImageFilter,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        let sql = rows::admin_sql::all_images(filter, query);
        let mut select = sqlx::query_as::<_, ImageThumbnailRow<Stamp>>(&sql);
        if let Some(owner) = filter.owner {
            select = select.bind(owner.as_uuid());
        }
        if let Some((anchor, _)) = query.anchor {
            select = select.bind(micros(anchor.created_at)).bind(anchor.id);
        }
        let rows = select.fetch_all(&self.reader).await.map_err(fail)?;
        checked(records(&rows))
    }

    async fn reset_thumbnails(
        &self,
        scope: ResetScope,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let (sql, id) = rows::admin_sql::reset_thumbnails(scope);
        let mut update = sqlx::query(sql).bind(micros(now));
        if let Some(id) = id {
            update = update.bind(id);
        }
        let done = update.execute(&self.writer).await.map_err(fail)?;
        Ok(done.rows_affected())
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, RepoError> {
        let (images, bytes): (i64, i64) = sqlx::query_as(crate::rows::account_page_sql::USAGE)
            .bind(owner.as_uuid())
            .fetch_one(&self.reader)
            .await
            .map_err(fail)?;
        checked(crate::rows::usage(images, bytes))
    }
}

#[async_trait]
impl LinkRepo for SqliteRepo {
    async fn insert_link(&self, link: &ExpiringLink) -> Result<(), RepoError> {
        // Inserted only if the image exists and is the link owner's.
        let done = sqlx::query(
            "INSERT INTO links (id, owner, image_id, format, key_dir, key_file, expiry_seconds, \
             created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM images WHERE id = $3 AND owner = $2",
        )
        .bind(link.id.as_uuid())
        .bind(link.owner.as_uuid())
        .bind(link.image_id.as_uuid())
        .bind(link.format.as_str())
        .bind(link.key.dir)
        .bind(link.key.file)
        .bind(i64::from(link.expiry_seconds.get()))
        .bind(micros(link.created_at))
        .bind(micros(link.expires_at))
        .execute(&self.writer)
        .await
        .map_err(|error| Violations::MISSING_REFERENCE.map(BACKEND, error))?;
        if done.rows_affected() == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    async fn get_link(&self, owner: UserId, id: LinkId) -> Result<Option<ExpiringLink>, RepoError> {
        let row: Option<LinkRow<Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            link_columns!(),
            " FROM links l WHERE l.id = $1 AND l.owner = $2"
        ))
        .bind(id.as_uuid())
        .bind(owner.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        checked(row.map(LinkRow::into_link).transpose())
    }

    async fn list_links(
        &self,
        owner: UserId,
        image: Option<ImageId>,
        query: &KeysetQuery,
    ) -> Result<Vec<ExpiringLink>, RepoError> {
        let (image_condition, next) = match image {
            Some(_) => ("AND l.image_id = $2", 3),
            None => ("", 2),
        };
        let sql = format!(
            "SELECT {} FROM links l WHERE l.owner = $1 {image_condition} {}",
            link_columns!(),
            keyset_clause(query, "l", next)
        );
        let mut select = sqlx::query_as::<_, LinkRow<Stamp>>(&sql).bind(owner.as_uuid());
        if let Some(image) = image {
            select = select.bind(image.as_uuid());
        }
        if let Some((anchor, _)) = query.anchor {
            select = select.bind(micros(anchor.created_at)).bind(anchor.id);
        }
        let rows = select.fetch_all(&self.reader).await.map_err(fail)?;
        let links = checked(rows.into_iter().map(LinkRow::into_link).collect())?;
        Ok(in_order(query, links))
    }

    async fn update_link(&self, link: &ExpiringLink) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE links SET expiry_seconds = $3, expires_at = $4 WHERE id = $1 AND owner = $2",
        )
        .bind(link.id.as_uuid())
        .bind(link.owner.as_uuid())
        .bind(i64::from(link.expiry_seconds.get()))
        .bind(micros(link.expires_at))
        .execute(&self.writer)
        .await
        .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_link(&self, owner: UserId, id: LinkId) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM links WHERE id = $1 AND owner = $2")
            .bind(id.as_uuid())
            .bind(owner.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_link(&self, key: &LinkKey) -> Result<Option<LinkTarget>, RepoError> {
        let row: Option<LinkTargetRow<Stamp, Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            link_columns!(),
            ", ",
            image_columns!(),
            ", ",
            owner_plan_columns!(),
            " FROM links l JOIN images i ON i.id = l.image_id JOIN users u ON u.id = i.owner",
            " LEFT JOIN plans p ON p.id = u.plan_id",
            " WHERE l.key_dir = $1 AND l.key_file = $2"
        ))
        .bind(key.dir)
        .bind(key.file)
        .fetch_optional(&self.reader)
        .await
        .map_err(fail)?;
        let Some(row) = row else { return Ok(None) };
        let (link, image, owner_plan) = checked(row.into_parts())?;
        Ok(Some(LinkTarget {
            link,
            image,
            owner_plan,
        }))
    }
}

#[async_trait]
impl SessionRepo for SqliteRepo {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), RepoError> {
        let done = sqlx::query(crate::rows::session_sql::INSERT)
            .bind(&session.hash.as_bytes()[..])
            .bind(session.user_id.as_uuid())
            .bind(micros(session.created_at))
            .bind(micros(session.last_seen_at))
            .bind(micros(session.expires_at))
            .execute(&self.writer)
            .await
            .map_err(|error| Violations::MISSING_REFERENCE.map(BACKEND, error))?;
        if done.rows_affected() == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionOwner>, RepoError> {
        let row: Option<SessionOwnerRow<Stamp, Heights>> =
            sqlx::query_as(crate::rows::session_sql::FIND)
                .bind(&hash.as_bytes()[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(fail)?;
        checked(row.map(|row| row.into_session_owner(*hash)).transpose())
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        seen_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = sqlx::query(crate::rows::session_sql::TOUCH)
            .bind(&hash.as_bytes()[..])
            .bind(micros(seen_at))
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        let done = sqlx::query(crate::rows::session_sql::DELETE)
            .bind(&hash.as_bytes()[..])
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, RepoError> {
        let done = sqlx::query(crate::rows::session_sql::DELETE_USER)
            .bind(user.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected())
    }

    async fn delete_ended_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let done = sqlx::query(crate::rows::session_sql::DELETE_ENDED)
            .bind(micros(idle_before))
            .bind(micros(now))
            .execute(&self.writer)
            .await
            .map_err(fail)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl Repo for SqliteRepo {
    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(fail)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The JSON written for plans and height lists is what `json_each` and the row
    /// conversion read.
    #[test]
    fn height_lists_are_json_arrays() {
        use crate::rows::StoredHeights as _;
        let heights = imagevault_core::ThumbnailHeights::new([400, 200]).unwrap();
        let json = super::heights_json(heights.as_slice());
        assert_eq!(json, "[200,400]");
        assert_eq!(json.into_heights().unwrap(), heights);
        assert!(String::from("[200,200]").into_heights().is_err());
        assert!(String::from("200").into_heights().is_err());
        assert!(String::from("[]").into_heights().is_err());
    }
}
