//! The repository's methods, written once for any [`Dialect`]: [`SqlRepo`] holds their
//! bodies and [`impl_repo!`](crate::repo::impl_repo) implements the core's traits for a
//! backend with them.
//!
//! The bodies are generic functions rather than the trait impls themselves because the
//! core's traits are foreign: Rust allows no `impl<D: Dialect> PlanRepo for D`. The sqlx
//! bounds they need are stated once, on [`SqlRepo`]'s impl; each backend meets them with
//! its concrete types, so the generic code compiles to what the two copies did.

use std::collections::HashSet;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use imagevault_core::page::KeysetQuery;
use imagevault_core::repo::{
    Conflict, ImageFilter, LinkTarget, OriginalTarget, RepoError, ResetScope, SessionOwner,
    ThumbnailOverview, TokenOwner, Totals, WorkScope,
};
use imagevault_core::{
    ContentDigest, ExpiringLink, HolderId, HolderRecord, ImageId, ImageRecord, LinkId, LinkKey,
    PasswordHash, Placeholder, Plan, PlanId, SessionRecord, StorageKey, Thumbnail, ThumbnailHeight,
    TokenHash, TokenRecord, Usage, User, UserId, Username,
};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

use crate::dialect::{Connection, Dialect, RowsAffected as _, Statement, StatementAs};
use crate::error::{InvalidRow, Unstorable, Violations, backend};
use crate::rows::{
    self, HolderRow, ImagePlanRow, LinkRow, LinkTargetRow, PlanRow, SessionOwnerRow, Stamp as _,
    StoredHeights as _, TokenOwnerRow, TokenRow, UserRow, convert, image_columns,
    image_thumbnail_columns, in_order, keyset_clause, link_columns, owner_plan_columns,
    plan_columns, signed, user_columns,
};

/// The repository's methods for backend `D`, as functions of the backend.
pub(crate) struct SqlRepo<D>(PhantomData<D>);

/// A failed statement of backend `D`.
fn fail<D: Dialect>(error: sqlx::Error) -> RepoError {
    backend(D::BACKEND, error)
}

/// A row of backend `D` converted to a domain value, or a backend error naming `D`.
fn checked<D: Dialect, T>(result: Result<T, InvalidRow>) -> Result<T, RepoError> {
    convert(D::BACKEND, result)
}

impl<D> SqlRepo<D>
where
    D: Dialect,
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Stamp>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> rows::quota::StateRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, i64, i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid,): FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> (String, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Option<Uuid>, String, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> PlanRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> UserRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> TokenRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> TokenOwnerRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> SessionOwnerRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ImagePlanRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LinkRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LinkTargetRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> HolderRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
{
    /// Runs `statement` on the write pool: the number of rows it changed, with its
    /// constraint violations mapped by `violations`.
    async fn change(
        repo: &D,
        statement: Statement<'_, D>,
        violations: Violations,
    ) -> Result<u64, RepoError> {
        let done = statement
            .execute(repo.writer())
            .await
            .map_err(|error| violations.map(D::BACKEND, error))?;
        Ok(done.rows_affected())
    }

    /// Runs `insert`, which inserts through a `SELECT` of the row it references, so that no
    /// row inserted means that the reference is missing (or being deleted).
    async fn insert_referencing(repo: &D, insert: Statement<'_, D>) -> Result<(), RepoError> {
        if Self::change(repo, insert, Violations::MISSING_REFERENCE).await? == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    /// A value converted for storage, or a backend error naming `D`.
    fn stored<T>(result: Result<T, Unstorable>) -> Result<T, RepoError> {
        result.map_err(|error| backend(D::BACKEND, error))
    }

    /// Runs `select` on the read pool and converts its row, if any, with `convert`.
    async fn fetch_optional<R, T>(
        repo: &D,
        select: StatementAs<'_, D, R>,
        convert: impl FnOnce(R) -> Result<T, InvalidRow>,
    ) -> Result<Option<T>, RepoError>
    where
        R: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        let row = select
            .fetch_optional(repo.reader())
            .await
            .map_err(fail::<D>)?;
        checked::<D, _>(row.map(convert).transpose())
    }

    /// Runs `select` on the read pool and converts its rows with `convert`.
    async fn fetch_all<R, T>(
        repo: &D,
        select: StatementAs<'_, D, R>,
        convert: impl FnMut(R) -> Result<T, InvalidRow>,
    ) -> Result<Vec<T>, RepoError>
    where
        R: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        let rows = select.fetch_all(repo.reader()).await.map_err(fail::<D>)?;
        checked::<D, _>(rows.into_iter().map(convert).collect())
    }

    /// Runs the keyset page `select` (of [`keyset_clause`]), binding the query's anchor, and
    /// converts its rows with `convert`, newest first.
    async fn fetch_page<R, T>(
        repo: &D,
        mut select: StatementAs<'_, D, R>,
        query: &KeysetQuery,
        convert: impl FnMut(R) -> Result<T, InvalidRow>,
    ) -> Result<Vec<T>, RepoError>
    where
        R: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        Ok(in_order(
            query,
            Self::fetch_all(repo, select, convert).await?,
        ))
    }

    // Plans.

    pub(crate) async fn create_plan(repo: &D, plan: &Plan) -> Result<(), RepoError> {
        let (max_images, max_bytes) = Self::stored(rows::quota::limit_columns(&plan.quota))?;
        let insert = sqlx::query(
            "INSERT INTO plans (id, name, thumbnail_heights, original_link, expiring_links, created_at, \
             max_images, max_bytes, strip_metadata, thumbnail_formats) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.name.as_str())
        .bind(D::Heights::from_heights(plan.thumbnail_heights.as_slice()))
        .bind(plan.original_link)
        .bind(plan.expiring_links)
        .bind(D::Stamp::from_utc(plan.created_at))
        .bind(max_images)
        .bind(max_bytes)
        .bind(plan.strip_metadata)
        .bind(plan.thumbnail_formats.to_string());
        Self::change(repo, insert, Violations::PLAN_NAME).await?;
        Ok(())
    }

    pub(crate) async fn get_plan(repo: &D, id: PlanId) -> Result<Option<Plan>, RepoError> {
        let select = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.id = $1"
        ))
        .bind(id.as_uuid());
        Self::fetch_optional(repo, select, PlanRow::<D::Stamp, D::Heights>::into_plan).await
    }

    pub(crate) async fn find_plan_by_name(repo: &D, name: &str) -> Result<Option<Plan>, RepoError> {
        let select = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.name = $1"
        ))
        .bind(name);
        Self::fetch_optional(repo, select, PlanRow::<D::Stamp, D::Heights>::into_plan).await
    }

    pub(crate) async fn list_plans(repo: &D, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError> {
        let sql = format!(
            "SELECT {} FROM plans p WHERE TRUE {}",
            plan_columns!(),
            keyset_clause(query, "p", 1)
        );
        let select = sqlx::query_as(&sql);
        Self::fetch_page(
            repo,
            select,
            query,
            PlanRow::<D::Stamp, D::Heights>::into_plan,
        )
        .await
    }

    pub(crate) async fn update_plan(repo: &D, plan: &Plan) -> Result<bool, RepoError> {
        let (max_images, max_bytes) = Self::stored(rows::quota::limit_columns(&plan.quota))?;
        let update = sqlx::query(
            "UPDATE plans SET name = $2, thumbnail_heights = $3, original_link = $4, \
             expiring_links = $5, max_images = $6, max_bytes = $7, strip_metadata = $8, \
             thumbnail_formats = $9 \
             WHERE id = $1",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.name.as_str())
        .bind(D::Heights::from_heights(plan.thumbnail_heights.as_slice()))
        .bind(plan.original_link)
        .bind(plan.expiring_links)
        .bind(max_images)
        .bind(max_bytes)
        .bind(plan.strip_metadata)
        .bind(plan.thumbnail_formats.to_string());
        Ok(Self::change(repo, update, Violations::PLAN_NAME).await? > 0)
    }

    pub(crate) async fn delete_plan(repo: &D, id: PlanId) -> Result<bool, RepoError> {
        let delete = sqlx::query("DELETE FROM plans WHERE id = $1").bind(id.as_uuid());
        Ok(Self::change(repo, delete, Violations::PLAN_DELETE).await? > 0)
    }

    pub(crate) async fn plan_user_counts(repo: &D) -> Result<Vec<(PlanId, u64)>, RepoError> {
        let select = sqlx::query_as(rows::account_page_sql::PLAN_USER_COUNTS);
        Self::fetch_all(repo, select, |(id, users): (Uuid, i64)| {
            rows::plan_count(id, users)
        })
        .await
    }

    // Users and their API tokens.

    pub(crate) async fn create_user(repo: &D, user: &User) -> Result<(), RepoError> {
        let (max_images, max_bytes) = Self::stored(rows::quota::override_columns(&user.quota))?;
        let insert = sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, plan_id, created_at, \
             max_images, max_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.is_admin)
        .bind(user.plan_id.map(|plan| plan.as_uuid()))
        .bind(D::Stamp::from_utc(user.created_at))
        .bind(max_images)
        .bind(max_bytes);
        Self::change(repo, insert, Violations::USER).await?;
        Ok(())
    }

    pub(crate) async fn get_user(repo: &D, id: UserId) -> Result<Option<User>, RepoError> {
        let select = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_uuid());
        Self::fetch_optional(repo, select, UserRow::<D::Stamp>::into_user).await
    }

    pub(crate) async fn find_user_by_username(
        repo: &D,
        username: &Username,
    ) -> Result<Option<User>, RepoError> {
        let select = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.username = $1"
        ))
        .bind(username.as_str());
        Self::fetch_optional(repo, select, UserRow::<D::Stamp>::into_user).await
    }

    pub(crate) async fn list_users(repo: &D, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        let sql = format!(
            "SELECT {} FROM users u WHERE TRUE {}",
            user_columns!(),
            keyset_clause(query, "u", 1)
        );
        let select = sqlx::query_as(&sql);
        Self::fetch_page(repo, select, query, UserRow::<D::Stamp>::into_user).await
    }

    pub(crate) async fn search_users(
        repo: &D,
        text: &str,
        query: &KeysetQuery,
    ) -> Result<Vec<User>, RepoError> {
        let sql = format!(
            "SELECT {} FROM users u WHERE {} {}",
            user_columns!(),
            rows::account_page_sql::SEARCH_CONDITION,
            keyset_clause(query, "u", 2)
        );
        let select = sqlx::query_as(&sql).bind(rows::account_page_sql::search_pattern(text));
        Self::fetch_page(repo, select, query, UserRow::<D::Stamp>::into_user).await
    }

    /// The statement of `update_user`.
    fn user_update(user: &User) -> Result<Statement<'_, D>, RepoError> {
        let (max_images, max_bytes) = Self::stored(rows::quota::override_columns(&user.quota))?;
        Ok(sqlx::query(rows::UPDATE_USER)
            .bind(user.id.as_uuid())
            .bind(user.username.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.is_admin)
            .bind(user.plan_id.map(|plan| plan.as_uuid()))
            .bind(max_images)
            .bind(max_bytes))
    }

    pub(crate) async fn update_user(repo: &D, user: &User) -> Result<bool, RepoError> {
        Ok(Self::change(repo, Self::user_update(user)?, Violations::USER).await? > 0)
    }

    pub(crate) async fn update_user_revoking_logins(
        repo: &D,
        user: &User,
    ) -> Result<bool, RepoError> {
        let update = Self::user_update(user)?;
        let mut tx = repo.begin_write().await?;
        let updated = update
            .execute(&mut *tx)
            .await
            .map_err(|error| Violations::USER.map(D::BACKEND, error))?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        for delete in rows::DELETE_USER_LOGINS {
            sqlx::query(delete)
                .bind(user.id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(fail::<D>)?;
        }
        tx.commit().await.map_err(fail::<D>)?;
        Ok(true)
    }

    pub(crate) async fn delete_user(repo: &D, id: UserId) -> Result<bool, RepoError> {
        // Tokens, images, thumbnails and links go with the user (ON DELETE CASCADE).
        let delete = sqlx::query("DELETE FROM users WHERE id = $1").bind(id.as_uuid());
        Ok(Self::change(repo, delete, Violations::NONE).await? > 0)
    }

    pub(crate) async fn begin_user_deletion(
        repo: &D,
        id: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut tx = repo.begin_write().await?;
        let marked = sqlx::query(rows::MARK_USER_DELETED)
            .bind(id.as_uuid())
            .bind(PasswordHash::unusable().as_str())
            .bind(D::Stamp::from_utc(now))
            .execute(&mut *tx)
            .await
            .map_err(fail::<D>)?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        for delete in rows::DELETE_USER_LOGINS
            .into_iter()
            .chain([rows::DELETE_USER_LINKS])
        {
            sqlx::query(delete)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(fail::<D>)?;
        }
        tx.commit().await.map_err(fail::<D>)?;
        Ok(true)
    }

    pub(crate) async fn users_being_deleted(
        repo: &D,
        limit: usize,
    ) -> Result<Vec<UserId>, RepoError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let select = sqlx::query_as(rows::USERS_BEING_DELETED).bind(limit);
        Self::fetch_all(repo, select, |(id,): (Uuid,)| Ok(UserId::from_uuid(id))).await
    }

    pub(crate) async fn insert_token(repo: &D, token: &TokenRecord) -> Result<(), RepoError> {
        let insert = sqlx::query(rows::token_sql::INSERT)
            .bind(&token.hash.as_bytes()[..])
            .bind(token.user_id.as_uuid())
            .bind(D::Stamp::from_utc(token.created_at))
            .bind(token.expires_at.map(D::Stamp::from_utc))
            .bind(token.last_used_at.map(D::Stamp::from_utc));
        Self::insert_referencing(repo, insert).await
    }

    pub(crate) async fn find_token_owner(
        repo: &D,
        hash: &TokenHash,
    ) -> Result<Option<TokenOwner>, RepoError> {
        let select = sqlx::query_as(rows::token_sql::FIND_OWNER).bind(&hash.as_bytes()[..]);
        Self::fetch_optional(
            repo,
            select,
            TokenOwnerRow::<D::Stamp, D::Heights>::into_token_owner,
        )
        .await
    }

    pub(crate) async fn delete_token(repo: &D, hash: &TokenHash) -> Result<bool, RepoError> {
        let delete =
            sqlx::query("DELETE FROM api_tokens WHERE hash = $1").bind(&hash.as_bytes()[..]);
        Ok(Self::change(repo, delete, Violations::NONE).await? > 0)
    }

    pub(crate) async fn delete_user_tokens(repo: &D, user: UserId) -> Result<u64, RepoError> {
        let delete = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1").bind(user.as_uuid());
        Self::change(repo, delete, Violations::NONE).await
    }

    pub(crate) async fn list_user_tokens(
        repo: &D,
        user: UserId,
    ) -> Result<Vec<TokenRecord>, RepoError> {
        let select = sqlx::query_as(rows::token_sql::LIST_USER).bind(user.as_uuid());
        Self::fetch_all(repo, select, TokenRow::<D::Stamp>::into_token).await
    }

    pub(crate) async fn touch_token(
        repo: &D,
        hash: &TokenHash,
        used_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let update = sqlx::query(rows::token_sql::TOUCH)
            .bind(&hash.as_bytes()[..])
            .bind(D::Stamp::from_utc(used_at));
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    // Images and thumbnails.

    pub(crate) async fn insert_image(repo: &D, record: &ImageRecord) -> Result<(), RepoError> {
        let image = &record.image;
        let size = Self::stored(signed(image.size, "image size"))?;
        let mut tx = repo.begin_write().await?;
        // The owner's quota first: its conditional UPDATE takes the owner's row, so that
        // concurrent inserts for one owner count one after the other.
        let reserved = sqlx::query(rows::quota::RESERVE)
            .bind(image.owner.as_uuid())
            .bind(size)
            .execute(&mut *tx)
            .await
            .map_err(fail::<D>)?;
        if reserved.rows_affected() == 0 {
            let state: Option<rows::quota::StateRow> = sqlx::query_as(rows::quota::STATE)
                .bind(image.owner.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(fail::<D>)?;
            let Some(state) = state else {
                return Err(Conflict::MissingReference.into());
            };
            return Err(match checked::<D, _>(state.refusal(image.size))? {
                Some(refusal) => Conflict::QuotaExceeded(refusal).into(),
                // Under the same lock the limits cannot have changed; a row that refuses
                // yet admits is data changed behind imagevault's back.
                None => backend(
                    D::BACKEND,
                    InvalidRow("the quota refused an image its limits admit".into()),
                ),
            });
        }
        sqlx::query(
            "INSERT INTO images \
             (id, owner, name, format, width, height, size, storage_key, created_at, digest, \
             placeholder, average_color, metadata_removed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(image.id.as_uuid())
        .bind(image.owner.as_uuid())
        .bind(image.name.as_str())
        .bind(image.format.as_str())
        .bind(i64::from(image.width))
        .bind(i64::from(image.height))
        .bind(size)
        .bind(image.storage_key.as_str())
        .bind(D::Stamp::from_utc(image.created_at))
        .bind(image.digest.as_ref().map(ContentDigest::to_hex))
        .bind(
            image
                .placeholder
                .as_ref()
                .map(|placeholder| placeholder.thumbhash().to_vec()),
        )
        .bind(
            image
                .placeholder
                .as_ref()
                .map(|placeholder| placeholder.average_color().to_hex()),
        )
        .bind(image.metadata_removed.as_ref().map(ToString::to_string))
        .execute(&mut *tx)
        .await
        .map_err(|error| Violations::MISSING_REFERENCE.map(D::BACKEND, error))?;
        if !record.thumbnails.is_empty() {
            D::insert_thumbnails(&mut tx, &record.thumbnails)
                .await
                .map_err(|error| Violations::MISSING_REFERENCE.map(D::BACKEND, error))?;
        }
        tx.commit().await.map_err(fail::<D>)
    }

    pub(crate) async fn get_image(
        repo: &D,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        Self::record(repo, id, Some(owner)).await
    }

    pub(crate) async fn get_image_by_id(
        repo: &D,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        Self::record(repo, id, None).await
    }

    /// Image `id` with its thumbnails, if it is `owner`'s (or whoever's, without an owner).
    async fn record(
        repo: &D,
        id: ImageId,
        owner: Option<UserId>,
    ) -> Result<Option<ImageRecord>, RepoError> {
        let select = sqlx::query(RECORD_SQL)
            .bind(id.as_uuid())
            .bind(owner.map(|owner| owner.as_uuid()));
        Ok(repo.fetch_records(select).await?.into_iter().next())
    }

    pub(crate) async fn list_images(
        repo: &D,
        owner: UserId,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        // One statement: the keyset page of images, joined with their thumbnails. Ordered
        // by image only, which the nested loop over the keyset index already yields (no
        // sort step in PostgreSQL); `records` puts each image's few thumbnails in order.
        let sql = format!(
            "SELECT {} FROM (SELECT * FROM images i WHERE i.owner = $1 {}) AS i \
             LEFT JOIN thumbnails t ON t.image_id = i.id \
             ORDER BY i.created_at DESC, i.id DESC",
            image_thumbnail_columns!(),
            keyset_clause(query, "i", 2)
        );
        let mut select = sqlx::query(&sql).bind(owner.as_uuid());
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        repo.fetch_records(select).await
    }

    pub(crate) async fn delete_image(
        repo: &D,
        owner: UserId,
        id: ImageId,
    ) -> Result<Option<ImageRecord>, RepoError> {
        repo.delete_image(owner, id).await
    }

    pub(crate) async fn find_original(
        repo: &D,
        key: &StorageKey,
    ) -> Result<Option<OriginalTarget>, RepoError> {
        let select = sqlx::query_as(concat!(
            "SELECT ",
            image_columns!(),
            ", ",
            owner_plan_columns!(),
            " FROM images i JOIN users u ON u.id = i.owner LEFT JOIN plans p ON p.id = u.plan_id",
            " WHERE i.storage_key = $1 LIMIT 1"
        ))
        .bind(key.as_str());
        Self::fetch_optional(repo, select, |row: ImagePlanRow<D::Stamp, D::Heights>| {
            let (image, owner_plan) = row.into_parts()?;
            Ok(OriginalTarget { image, owner_plan })
        })
        .await
    }

    pub(crate) async fn referenced_keys(
        repo: &D,
        keys: &[StorageKey],
    ) -> Result<HashSet<StorageKey>, RepoError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        repo.referenced_keys(keys).await
    }

    pub(crate) async fn ensure_thumbnails(repo: &D, rows: &[Thumbnail]) -> Result<(), RepoError> {
        if rows.is_empty() {
            return Ok(());
        }
        repo.ensure_thumbnails(rows).await
    }

    pub(crate) async fn start_thumbnail_attempt(
        repo: &D,
        image: ImageId,
        heights: &[ThumbnailHeight],
        now: DateTime<Utc>,
        holder: Option<HolderId>,
    ) -> Result<(), RepoError> {
        // The attempts column holds a `u32`: the count stops at its largest value.
        let sql = format!(
            "UPDATE thumbnails SET attempts = CASE WHEN attempts < 4294967295 \
             THEN attempts + 1 ELSE 4294967295 END, updated_at = $3, lease_holder = $4 \
             WHERE image_id = $1 AND status = 'pending' AND {}",
            D::MAX_HEIGHT_IN_2
        );
        let update = sqlx::query(&sql)
            .bind(image.as_uuid())
            .bind(D::height_list(heights))
            .bind(D::Stamp::from_utc(now))
            .bind(holder.map(|holder| holder.as_uuid()));
        Self::change(repo, update, Violations::NONE).await?;
        Ok(())
    }

    pub(crate) async fn complete_thumbnail(
        repo: &D,
        image: ImageId,
        height: ThumbnailHeight,
        key: &StorageKey,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let update = sqlx::query(
            "UPDATE thumbnails SET status = 'ready', storage_key = $3, updated_at = $4, \
             failure = NULL \
             WHERE image_id = $1 AND max_height = $2 AND status = 'pending'",
        )
        .bind(image.as_uuid())
        .bind(i64::from(height.get()))
        .bind(key.as_str())
        .bind(D::Stamp::from_utc(now));
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    pub(crate) async fn set_placeholder(
        repo: &D,
        image: ImageId,
        placeholder: &Placeholder,
    ) -> Result<bool, RepoError> {
        let update =
            sqlx::query("UPDATE images SET placeholder = $2, average_color = $3 WHERE id = $1")
                .bind(image.as_uuid())
                .bind(placeholder.thumbhash())
                .bind(placeholder.average_color().to_hex());
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    pub(crate) async fn attach_thumbnail_webp(
        repo: &D,
        image: ImageId,
        height: ThumbnailHeight,
        webp_key: &StorageKey,
    ) -> Result<bool, RepoError> {
        let update = sqlx::query(
            "UPDATE thumbnails SET webp_storage_key = $3 \
             WHERE image_id = $1 AND max_height = $2 AND status = 'pending'",
        )
        .bind(image.as_uuid())
        .bind(i64::from(height.get()))
        .bind(webp_key.as_str());
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    pub(crate) async fn fail_thumbnails(
        repo: &D,
        image: ImageId,
        heights: &[ThumbnailHeight],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let sql = rows::admin_sql::fail_thumbnails(D::MAX_HEIGHT_IN_2);
        let update = sqlx::query(&sql)
            .bind(image.as_uuid())
            .bind(D::height_list(heights))
            .bind(reason)
            .bind(D::Stamp::from_utc(now));
        Self::change(repo, update, Violations::NONE).await?;
        Ok(())
    }

    pub(crate) async fn claim_thumbnail_work(
        repo: &D,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
        holder: Option<HolderId>,
    ) -> Result<Vec<ImageId>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        repo.claim_thumbnail_work(scope, now, stale_before, limit, holder)
            .await
    }

    pub(crate) async fn totals(repo: &D) -> Result<Totals, RepoError> {
        let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(rows::admin_sql::TOTALS)
            .fetch_one(repo.reader())
            .await
            .map_err(fail::<D>)?;
        checked::<D, _>(rows::admin_sql::totals(counts))
    }

    pub(crate) async fn list_all_images(
        repo: &D,
        filter: &ImageFilter,
        query: &KeysetQuery,
    ) -> Result<Vec<ImageRecord>, RepoError> {
        let sql = rows::admin_sql::all_images(filter, query);
        let mut select = sqlx::query(&sql);
        if let Some(owner) = filter.owner {
            select = select.bind(owner.as_uuid());
        }
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        repo.fetch_records(select).await
    }

    pub(crate) async fn reset_thumbnails(
        repo: &D,
        scope: ResetScope,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let (sql, id) = rows::admin_sql::reset_thumbnails(scope);
        let mut update = sqlx::query(sql).bind(D::Stamp::from_utc(now));
        if let Some(id) = id {
            update = update.bind(id);
        }
        Self::change(repo, update, Violations::NONE).await
    }

    pub(crate) async fn usage(repo: &D, owner: UserId) -> Result<Usage, RepoError> {
        let (images, bytes): (i64, i64) = sqlx::query_as(rows::account_page_sql::USAGE)
            .bind(owner.as_uuid())
            .fetch_one(repo.reader())
            .await
            .map_err(fail::<D>)?;
        checked::<D, _>(rows::usage(images, bytes))
    }

    // Command-line bulk tools.

    pub(crate) async fn thumbnail_overview(
        repo: &D,
        max_reasons: usize,
        examples_per_reason: usize,
    ) -> Result<ThumbnailOverview, RepoError> {
        let counts: Vec<(Option<Uuid>, String, i64)> =
            sqlx::query_as(rows::bulk_sql::THUMBNAILS_BY_PLAN)
                .fetch_all(repo.reader())
                .await
                .map_err(fail::<D>)?;
        let by_plan = checked::<D, _>(rows::bulk_sql::plan_counts(counts))?;
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let reasons: Vec<(String, i64)> = sqlx::query_as(rows::bulk_sql::FAILURE_REASONS)
            .bind(limit(max_reasons))
            .fetch_all(repo.reader())
            .await
            .map_err(fail::<D>)?;
        let mut failures = Vec::with_capacity(reasons.len());
        for (reason, count) in reasons {
            let examples: Vec<(Uuid,)> = sqlx::query_as(rows::bulk_sql::FAILURE_EXAMPLES)
                .bind(reason.clone())
                .bind(limit(examples_per_reason))
                .fetch_all(repo.reader())
                .await
                .map_err(fail::<D>)?;
            failures.push(checked::<D, _>(rows::bulk_sql::failure_group(
                reason, count, examples,
            ))?);
        }
        Ok(ThumbnailOverview { by_plan, failures })
    }

    pub(crate) async fn find_image_by_digest(
        repo: &D,
        owner: UserId,
        digest: &ContentDigest,
    ) -> Result<Option<ImageId>, RepoError> {
        let found: Option<(Uuid,)> = sqlx::query_as(rows::bulk_sql::FIND_BY_DIGEST)
            .bind(owner.as_uuid())
            .bind(digest.to_hex())
            .fetch_optional(repo.reader())
            .await
            .map_err(fail::<D>)?;
        Ok(found.map(|(id,)| ImageId::from_uuid(id)))
    }

    // Expiring links.

    pub(crate) async fn insert_link(repo: &D, link: &ExpiringLink) -> Result<(), RepoError> {
        // Inserted only if the image exists and is the link owner's; the foreign key
        // catches an image deleted at the same moment.
        let insert = sqlx::query(
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
        .bind(D::Stamp::from_utc(link.created_at))
        .bind(D::Stamp::from_utc(link.expires_at));
        Self::insert_referencing(repo, insert).await
    }

    pub(crate) async fn get_link(
        repo: &D,
        owner: UserId,
        id: LinkId,
    ) -> Result<Option<ExpiringLink>, RepoError> {
        let select = sqlx::query_as(concat!(
            "SELECT ",
            link_columns!(),
            " FROM links l WHERE l.id = $1 AND l.owner = $2"
        ))
        .bind(id.as_uuid())
        .bind(owner.as_uuid());
        Self::fetch_optional(repo, select, LinkRow::<D::Stamp>::into_link).await
    }

    pub(crate) async fn list_links(
        repo: &D,
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
        let mut select = sqlx::query_as(&sql).bind(owner.as_uuid());
        if let Some(image) = image {
            select = select.bind(image.as_uuid());
        }
        Self::fetch_page(repo, select, query, LinkRow::<D::Stamp>::into_link).await
    }

    pub(crate) async fn update_link(repo: &D, link: &ExpiringLink) -> Result<bool, RepoError> {
        let update = sqlx::query(
            "UPDATE links SET expiry_seconds = $3, expires_at = $4 WHERE id = $1 AND owner = $2",
        )
        .bind(link.id.as_uuid())
        .bind(link.owner.as_uuid())
        .bind(i64::from(link.expiry_seconds.get()))
        .bind(D::Stamp::from_utc(link.expires_at));
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    pub(crate) async fn delete_link(
        repo: &D,
        owner: UserId,
        id: LinkId,
    ) -> Result<bool, RepoError> {
        let delete = sqlx::query("DELETE FROM links WHERE id = $1 AND owner = $2")
            .bind(id.as_uuid())
            .bind(owner.as_uuid());
        Ok(Self::change(repo, delete, Violations::NONE).await? > 0)
    }

    pub(crate) async fn find_link(
        repo: &D,
        key: &LinkKey,
    ) -> Result<Option<LinkTarget>, RepoError> {
        let select = sqlx::query_as(concat!(
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
        .bind(key.file);
        Self::fetch_optional(repo, select, |row: LinkTargetRow<D::Stamp, D::Heights>| {
            let (link, image, owner_plan) = row.into_parts()?;
            Ok(LinkTarget {
                link,
                image,
                owner_plan,
            })
        })
        .await
    }

    // Browser sessions.

    pub(crate) async fn insert_session(repo: &D, session: &SessionRecord) -> Result<(), RepoError> {
        let insert = sqlx::query(rows::session_sql::INSERT)
            .bind(&session.hash.as_bytes()[..])
            .bind(session.user_id.as_uuid())
            .bind(D::Stamp::from_utc(session.created_at))
            .bind(D::Stamp::from_utc(session.last_seen_at))
            .bind(D::Stamp::from_utc(session.expires_at));
        Self::insert_referencing(repo, insert).await
    }

    pub(crate) async fn find_session(
        repo: &D,
        hash: &TokenHash,
    ) -> Result<Option<SessionOwner>, RepoError> {
        let select = sqlx::query_as(rows::session_sql::FIND).bind(&hash.as_bytes()[..]);
        Self::fetch_optional(
            repo,
            select,
            |row: SessionOwnerRow<D::Stamp, D::Heights>| row.into_session_owner(*hash),
        )
        .await
    }

    pub(crate) async fn touch_session(
        repo: &D,
        hash: &TokenHash,
        seen_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let update = sqlx::query(rows::session_sql::TOUCH)
            .bind(&hash.as_bytes()[..])
            .bind(D::Stamp::from_utc(seen_at));
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    pub(crate) async fn delete_session(repo: &D, hash: &TokenHash) -> Result<bool, RepoError> {
        let delete = sqlx::query(rows::session_sql::DELETE).bind(&hash.as_bytes()[..]);
        Ok(Self::change(repo, delete, Violations::NONE).await? > 0)
    }

    pub(crate) async fn delete_user_sessions(repo: &D, user: UserId) -> Result<u64, RepoError> {
        let delete = sqlx::query(rows::session_sql::DELETE_USER).bind(user.as_uuid());
        Self::change(repo, delete, Violations::NONE).await
    }

    pub(crate) async fn delete_ended_sessions(
        repo: &D,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let delete = sqlx::query(rows::session_sql::DELETE_ENDED)
            .bind(D::Stamp::from_utc(idle_before))
            .bind(D::Stamp::from_utc(now));
        Self::change(repo, delete, Violations::NONE).await
    }

    // Work holders.

    pub(crate) async fn register_holder(repo: &D, holder: &HolderRecord) -> Result<(), RepoError> {
        let process = holder.process.as_ref();
        let insert = sqlx::query(rows::holder_sql::REGISTER)
            .bind(holder.id.as_uuid())
            .bind(process.map(|process| process.machine.clone()))
            .bind(process.map(|process| i64::from(process.pid)))
            .bind(
                process
                    .map(|process| Self::stored(signed(process.started, "process start")))
                    .transpose()?,
            )
            .bind(D::Stamp::from_utc(holder.heartbeat_at));
        Self::change(repo, insert, Violations::NONE).await?;
        Ok(())
    }

    pub(crate) async fn heartbeat_holder(
        repo: &D,
        id: HolderId,
        heartbeat_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let update = sqlx::query(rows::holder_sql::HEARTBEAT)
            .bind(id.as_uuid())
            .bind(D::Stamp::from_utc(heartbeat_at));
        Ok(Self::change(repo, update, Violations::NONE).await? > 0)
    }

    pub(crate) async fn list_holders(repo: &D) -> Result<Vec<HolderRecord>, RepoError> {
        Self::fetch_all(
            repo,
            sqlx::query_as(rows::holder_sql::LIST),
            HolderRow::into_holder,
        )
        .await
    }

    pub(crate) async fn remove_holder(
        repo: &D,
        id: HolderId,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> Result<bool, RepoError> {
        let delete = sqlx::query(rows::holder_sql::REMOVE)
            .bind(id.as_uuid())
            .bind(seen_heartbeat.map(D::Stamp::from_utc));
        Ok(Self::change(repo, delete, Violations::NONE).await? > 0)
    }

    // The repository as a whole.

    pub(crate) async fn ping(repo: &D) -> Result<(), RepoError> {
        sqlx::query("SELECT 1")
            .execute(repo.reader())
            .await
            .map_err(fail::<D>)?;
        Ok(())
    }
}

/// The stored image `$1` with its thumbnails, if `$2` is `NULL` or its owner.
pub(crate) const RECORD_SQL: &str = concat!(
    "SELECT ",
    image_thumbnail_columns!(),
    " FROM images i LEFT JOIN thumbnails t ON t.image_id = i.id",
    " WHERE i.id = $1 AND ($2 IS NULL OR i.owner = $2)",
    " ORDER BY t.max_height"
);

/// Implements the core's repository traits for backend `$repo`, a [`Dialect`]: every
/// method forwards to the [`SqlRepo`] function of its name, and the change feeds to the
/// [`Dialect`]'s.
macro_rules! impl_repo {
    ($repo:ty) => {
        const _: () = {
            use std::collections::HashSet;

            use chrono::{DateTime, Utc};
            use imagevault_core::page::KeysetQuery;
            use imagevault_core::repo::{
                ChangeFeed, HolderRepo, ImageFilter, ImageRepo, LinkRepo, LinkTarget,
                OriginalTarget, PlanRepo, Repo, ResetScope, SessionOwner, SessionRepo,
                ThumbnailOverview, TokenOwner, Totals, UserRepo, WorkScope,
            };
            use imagevault_core::{
                ContentDigest, ExpiringLink, HolderId, HolderRecord, ImageId, ImageRecord, LinkId,
                LinkKey, Placeholder, Plan, PlanId, SessionRecord, StorageKey, Thumbnail,
                ThumbnailHeight, TokenHash, TokenRecord, Usage, User, UserId, Username,
            };

            use $crate::dialect::Dialect;

            $crate::repo::forward!(PlanRepo for $repo {
                create_plan(plan: &Plan) -> ();
                get_plan(id: PlanId) -> Option<Plan>;
                find_plan_by_name(name: &str) -> Option<Plan>;
                list_plans(query: &KeysetQuery) -> Vec<Plan>;
                update_plan(plan: &Plan) -> bool;
                delete_plan(id: PlanId) -> bool;
                plan_user_counts() -> Vec<(PlanId, u64)>;
            });

            $crate::repo::forward!(UserRepo for $repo {
                create_user(user: &User) -> ();
                get_user(id: UserId) -> Option<User>;
                find_user_by_username(username: &Username) -> Option<User>;
                list_users(query: &KeysetQuery) -> Vec<User>;
                search_users(text: &str, query: &KeysetQuery) -> Vec<User>;
                update_user(user: &User) -> bool;
                update_user_revoking_logins(user: &User) -> bool;
                delete_user(id: UserId) -> bool;
                begin_user_deletion(id: UserId, now: DateTime<Utc>) -> bool;
                users_being_deleted(limit: usize) -> Vec<UserId>;
                insert_token(token: &TokenRecord) -> ();
                find_token_owner(hash: &TokenHash) -> Option<TokenOwner>;
                delete_token(hash: &TokenHash) -> bool;
                delete_user_tokens(user: UserId) -> u64;
                list_user_tokens(user: UserId) -> Vec<TokenRecord>;
                touch_token(hash: &TokenHash, used_at: DateTime<Utc>) -> bool;
            } fn account_changes(&self) -> Option<ChangeFeed> {
                <$repo as Dialect>::account_changes(self)
            });

            $crate::repo::forward!(ImageRepo for $repo {
                insert_image(record: &ImageRecord) -> ();
                get_image(owner: UserId, id: ImageId) -> Option<ImageRecord>;
                get_image_by_id(id: ImageId) -> Option<ImageRecord>;
                list_images(owner: UserId, query: &KeysetQuery) -> Vec<ImageRecord>;
                delete_image(owner: UserId, id: ImageId) -> Option<ImageRecord>;
                find_original(key: &StorageKey) -> Option<OriginalTarget>;
                referenced_keys(keys: &[StorageKey]) -> HashSet<StorageKey>;
                ensure_thumbnails(rows: &[Thumbnail]) -> ();
                start_thumbnail_attempt(
                    image: ImageId,
                    heights: &[ThumbnailHeight],
                    now: DateTime<Utc>,
                    holder: Option<HolderId>,
                ) -> ();
                complete_thumbnail(
                    image: ImageId, height: ThumbnailHeight, key: &StorageKey, now: DateTime<Utc>
                ) -> bool;
                set_placeholder(image: ImageId, placeholder: &Placeholder) -> bool;
                attach_thumbnail_webp(
                    image: ImageId, height: ThumbnailHeight, webp_key: &StorageKey
                ) -> bool;
                fail_thumbnails(
                    image: ImageId, heights: &[ThumbnailHeight], reason: &str, now: DateTime<Utc>
                ) -> ();
                claim_thumbnail_work(
                    scope: WorkScope,
                    now: DateTime<Utc>,
                    stale_before: DateTime<Utc>,
                    limit: usize,
                    holder: Option<HolderId>,
                ) -> Vec<ImageId>;
                totals() -> Totals;
                list_all_images(filter: &ImageFilter, query: &KeysetQuery) -> Vec<ImageRecord>;
                reset_thumbnails(scope: ResetScope, now: DateTime<Utc>) -> u64;
                usage(owner: UserId) -> Usage;
                thumbnail_overview(max_reasons: usize, examples_per_reason: usize)
                    -> ThumbnailOverview;
                find_image_by_digest(owner: UserId, digest: &ContentDigest) -> Option<ImageId>;
            });

            $crate::repo::forward!(LinkRepo for $repo {
                insert_link(link: &ExpiringLink) -> ();
                get_link(owner: UserId, id: LinkId) -> Option<ExpiringLink>;
                list_links(
                    owner: UserId, image: Option<ImageId>, query: &KeysetQuery
                ) -> Vec<ExpiringLink>;
                update_link(link: &ExpiringLink) -> bool;
                delete_link(owner: UserId, id: LinkId) -> bool;
                find_link(key: &LinkKey) -> Option<LinkTarget>;
            } fn link_changes(&self) -> Option<ChangeFeed> {
                <$repo as Dialect>::link_changes(self)
            });

            $crate::repo::forward!(SessionRepo for $repo {
                insert_session(session: &SessionRecord) -> ();
                find_session(hash: &TokenHash) -> Option<SessionOwner>;
                touch_session(hash: &TokenHash, seen_at: DateTime<Utc>) -> bool;
                delete_session(hash: &TokenHash) -> bool;
                delete_user_sessions(user: UserId) -> u64;
                delete_ended_sessions(idle_before: DateTime<Utc>, now: DateTime<Utc>) -> u64;
            });

            $crate::repo::forward!(HolderRepo for $repo {
                register_holder(holder: &HolderRecord) -> ();
                heartbeat_holder(id: HolderId, heartbeat_at: DateTime<Utc>) -> bool;
                list_holders() -> Vec<HolderRecord>;
                remove_holder(id: HolderId, seen_heartbeat: Option<DateTime<Utc>>) -> bool;
            });

            $crate::repo::forward!(Repo for $repo {
                ping() -> ();
            } fn pool_stats(&self) -> Option<imagevault_core::repo::PoolStats> {
                Some(<$repo as Dialect>::pool_stats(self))
            });
        };
    };
}
pub(crate) use impl_repo;

/// `impl $port for $repo` with `async fn`s that call the [`SqlRepo`] function of their
/// name with `self` and their arguments, answering `Result<$answer, RepoError>`, and then
/// the `$extra` items as written.
macro_rules! forward {
    ($port:ident for $repo:ty {
        $($method:ident($($argument:ident: $type:ty),* $(,)?) -> $answer:ty;)*
    } $($extra:item)*) => {
        #[async_trait::async_trait]
        impl $port for $repo {
            $(
                async fn $method(
                    &self,
                    $($argument: $type),*
                ) -> Result<$answer, imagevault_core::repo::RepoError> {
                    $crate::repo::SqlRepo::$method(self, $($argument),*).await
                }
            )*
            $($extra)*
        }
    };
}
pub(crate) use forward;
