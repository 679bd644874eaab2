//! [`Dialect`]: what PostgreSQL and SQLite do differently, in one place each, so that the
//! repository's methods are written once (in [`crate::repo`]).
//!
//! The differences are how a time and a plan's heights are stored (the row types of
//! [`crate::rows`]), which pool reads and which writes, how a write transaction starts,
//! how the joined image rows are decoded, and the statements that take a list of values or
//! lock rows, which the two databases spell differently, and the change feeds:
//! PostgreSQL `LISTEN`s for its triggers' notifications, SQLite polls counters its
//! triggers keep.

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use imagevault_core::repo::{ChangeFeed, PoolStats, RepoError, WorkScope};
use imagevault_core::{
    HolderId, ImageId, ImageRecord, StorageKey, Thumbnail, ThumbnailHeight, UserId,
};
use sqlx::{Database, Decode, Encode, Pool, Transaction, Type};

use crate::rows::{Stamp, StoredHeights};

/// A statement of dialect `D` with its bound values.
pub(crate) type Statement<'q, D> =
    sqlx::query::Query<'q, <D as Dialect>::Db, <<D as Dialect>::Db as Database>::Arguments<'q>>;

/// A statement of dialect `D` with its bound values, whose rows are read as `R`.
pub(crate) type StatementAs<'q, D, R> = sqlx::query::QueryAs<
    'q,
    <D as Dialect>::Db,
    R,
    <<D as Dialect>::Db as Database>::Arguments<'q>,
>;

/// The connection type of dialect `D`, which a transaction dereferences to.
pub(crate) type Connection<D> = <<D as Dialect>::Db as Database>::Connection;

/// The number of rows a statement changed, which sqlx reports per database without a
/// common trait.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A value that is bound to statements of `DB` and decoded from its rows.
pub(crate) trait Column<DB: Database>:
    Send + Sync + Unpin + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>
{
}

impl<DB: Database, T> Column<DB> for T where
    T: Send + Sync + Unpin + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>
{
}

/// A backend: its database, how it stores times and heights, its pools, and the statements
/// it spells its own way. Implemented by the public repository types.
/// The state of one pool.
pub(crate) fn stats_of<DB: Database>(pool: &Pool<DB>) -> PoolStats {
    let open = pool.size();
    // sqlx's idle count is a counter that can read briefly below zero, wrapped to a huge
    // number, while a connection changes hands; such a reading counts as none idle.
    let idle = u32::try_from(pool.num_idle())
        .ok()
        .filter(|idle| *idle <= open)
        .unwrap_or(0);
    PoolStats::new(open, idle, pool.options().get_max_connections())
}

pub(crate) trait Dialect: std::fmt::Debug + Send + Sync + Sized + 'static {
    /// The sqlx database.
    type Db: Database<QueryResult: RowsAffected>;
    /// How a time is stored.
    type Stamp: Stamp + Column<Self::Db>;
    /// How a plan's heights are stored.
    type Heights: StoredHeights + Column<Self::Db>;
    /// A list of thumbnail heights as a statement takes it, see [`Self::MAX_HEIGHT_IN_2`].
    type HeightList: Send + for<'q> Encode<'q, Self::Db> + Type<Self::Db>;

    /// The backend's name in errors: `"postgres"` or `"sqlite"`.
    const BACKEND: &'static str;

    /// The condition that `max_height` is one of the heights bound as `$2`, as a
    /// [`Self::HeightList`]. PostgreSQL compares with an array, SQLite has no arrays and
    /// reads a JSON one with `json_each`.
    const MAX_HEIGHT_IN_2: &'static str;

    /// `heights` as a statement's list of heights.
    fn height_list(heights: &[ThumbnailHeight]) -> Self::HeightList;

    /// The pool that runs reads.
    fn reader(&self) -> &Pool<Self::Db>;

    /// The pool that runs single-statement writes. The same as the reader on PostgreSQL;
    /// SQLite writes through a pool of its one write connection.
    fn writer(&self) -> &Pool<Self::Db>;

    /// The pools' state, for [`Repo::pool_stats`](imagevault_core::repo::Repo::pool_stats).
    fn pool_stats(&self) -> PoolStats;

    /// Starts a write transaction.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, RepoError>> + Send;

    /// Runs `select`, a statement of [`image_thumbnail_columns`](crate::rows::image_thumbnail_columns)
    /// whose rows keep each image's rows together, on the read pool, and groups its rows
    /// into records.
    fn fetch_records<'a>(
        &'a self,
        select: Statement<'a, Self>,
    ) -> impl Future<Output = Result<Vec<ImageRecord>, RepoError>> + Send + 'a;

    /// Inserts an image's thumbnail rows in the transaction that inserts the image.
    fn insert_thumbnails<'a>(
        connection: &'a mut Connection<Self>,
        rows: &'a [Thumbnail],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// [`ImageRepo::delete_image`](imagevault_core::repo::ImageRepo::delete_image): each
    /// backend locks what it reads its own way.
    fn delete_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> impl Future<Output = Result<Option<ImageRecord>, RepoError>> + Send;

    /// [`ImageRepo::referenced_keys`](imagevault_core::repo::ImageRepo::referenced_keys)
    /// for a non-empty list of keys.
    fn referenced_keys(
        &self,
        keys: &[StorageKey],
    ) -> impl Future<Output = Result<HashSet<StorageKey>, RepoError>> + Send;

    /// [`ImageRepo::ensure_thumbnails`](imagevault_core::repo::ImageRepo::ensure_thumbnails)
    /// for a non-empty list of rows.
    fn ensure_thumbnails(
        &self,
        rows: &[Thumbnail],
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// [`ImageRepo::claim_thumbnail_work`](imagevault_core::repo::ImageRepo::claim_thumbnail_work)
    /// for a limit above zero: PostgreSQL claims concurrently with row locks, SQLite under
    /// its one write lock.
    fn claim_thumbnail_work(
        &self,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
        holder: Option<HolderId>,
    ) -> impl Future<Output = Result<Vec<ImageId>, RepoError>> + Send;

    /// The feed of link changes (see
    /// [`LinkRepo::link_changes`](imagevault_core::repo::LinkRepo::link_changes)).
    fn link_changes(&self) -> Option<ChangeFeed>;

    /// The feed of account changes (see
    /// [`UserRepo::account_changes`](imagevault_core::repo::UserRepo::account_changes)).
    fn account_changes(&self) -> Option<ChangeFeed>;
}
