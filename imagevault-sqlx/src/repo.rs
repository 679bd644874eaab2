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
    TokenOwner, Totals, WorkScope,
};
use imagevault_core::{
    ExpiringLink, ImageId, ImageRecord, LinkId, LinkKey, PasswordHash, Plan, PlanId, SessionRecord,
    StorageKey, Thumbnail, ThumbnailHeight, TokenHash, TokenRecord, Usage, User, UserId, Username,
};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

use crate::dialect::{Connection, Dialect, RowsAffected as _};
use crate::error::{InvalidRow, Violations, backend};
use crate::rows::{
    self, ImagePlanRow, LinkRow, LinkTargetRow, PlanRow, SessionOwnerRow, Stamp as _,
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
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> (i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, i64, i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> PlanRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> UserRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> TokenRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> TokenOwnerRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> SessionOwnerRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ImagePlanRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LinkRow<D::Stamp>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LinkTargetRow<D::Stamp, D::Heights>: FromRow<'r, <D::Db as Database>::Row>,
{
    // Plans.

    pub(crate) async fn create_plan(repo: &D, plan: &Plan) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO plans (id, name, thumbnail_heights, original_link, expiring_links, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.name.as_str())
        .bind(D::Heights::from_heights(plan.thumbnail_heights.as_slice()))
        .bind(plan.original_link)
        .bind(plan.expiring_links)
        .bind(D::Stamp::from_utc(plan.created_at))
        .execute(repo.writer())
        .await
        .map_err(|error| Violations::PLAN_NAME.map(D::BACKEND, error))?;
        Ok(())
    }

    pub(crate) async fn get_plan(repo: &D, id: PlanId) -> Result<Option<Plan>, RepoError> {
        let row: Option<PlanRow<D::Stamp, D::Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        checked::<D, _>(row.map(PlanRow::into_plan).transpose())
    }

    pub(crate) async fn find_plan_by_name(repo: &D, name: &str) -> Result<Option<Plan>, RepoError> {
        let row: Option<PlanRow<D::Stamp, D::Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.name = $1"
        ))
        .bind(name)
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        checked::<D, _>(row.map(PlanRow::into_plan).transpose())
    }

    pub(crate) async fn list_plans(repo: &D, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError> {
        let sql = format!(
            "SELECT {} FROM plans p WHERE TRUE {}",
            plan_columns!(),
            keyset_clause(query, "p", 1)
        );
        let mut select = sqlx::query_as::<_, PlanRow<D::Stamp, D::Heights>>(&sql);
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        let rows = select.fetch_all(repo.reader()).await.map_err(fail::<D>)?;
        let plans = checked::<D, _>(rows.into_iter().map(PlanRow::into_plan).collect())?;
        Ok(in_order(query, plans))
    }

    pub(crate) async fn update_plan(repo: &D, plan: &Plan) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE plans SET name = $2, thumbnail_heights = $3, original_link = $4, \
             expiring_links = $5 WHERE id = $1",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.name.as_str())
        .bind(D::Heights::from_heights(plan.thumbnail_heights.as_slice()))
        .bind(plan.original_link)
        .bind(plan.expiring_links)
        .execute(repo.writer())
        .await
        .map_err(|error| Violations::PLAN_NAME.map(D::BACKEND, error))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_plan(repo: &D, id: PlanId) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM plans WHERE id = $1")
            .bind(id.as_uuid())
            .execute(repo.writer())
            .await
            .map_err(|error| Violations::PLAN_DELETE.map(D::BACKEND, error))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn plan_user_counts(repo: &D) -> Result<Vec<(PlanId, u64)>, RepoError> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(rows::account_page_sql::PLAN_USER_COUNTS)
            .fetch_all(repo.reader())
            .await
            .map_err(fail::<D>)?;
        checked::<D, _>(
            rows.into_iter()
                .map(|(id, users)| rows::plan_count(id, users))
                .collect(),
        )
    }

    // Users and their API tokens.

    pub(crate) async fn create_user(repo: &D, user: &User) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, plan_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.is_admin)
        .bind(user.plan_id.map(|plan| plan.as_uuid()))
        .bind(D::Stamp::from_utc(user.created_at))
        .execute(repo.writer())
        .await
        .map_err(|error| Violations::USER.map(D::BACKEND, error))?;
        Ok(())
    }

    pub(crate) async fn get_user(repo: &D, id: UserId) -> Result<Option<User>, RepoError> {
        let row: Option<UserRow<D::Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        checked::<D, _>(row.map(UserRow::into_user).transpose())
    }

    pub(crate) async fn find_user_by_username(
        repo: &D,
        username: &Username,
    ) -> Result<Option<User>, RepoError> {
        let row: Option<UserRow<D::Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.username = $1"
        ))
        .bind(username.as_str())
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        checked::<D, _>(row.map(UserRow::into_user).transpose())
    }

    pub(crate) async fn list_users(repo: &D, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
        let sql = format!(
            "SELECT {} FROM users u WHERE TRUE {}",
            user_columns!(),
            keyset_clause(query, "u", 1)
        );
        let mut select = sqlx::query_as::<_, UserRow<D::Stamp>>(&sql);
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        let rows = select.fetch_all(repo.reader()).await.map_err(fail::<D>)?;
        let users = checked::<D, _>(rows.into_iter().map(UserRow::into_user).collect())?;
        Ok(in_order(query, users))
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
        let mut select = sqlx::query_as::<_, UserRow<D::Stamp>>(&sql)
            .bind(rows::account_page_sql::search_pattern(text));
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        let rows = select.fetch_all(repo.reader()).await.map_err(fail::<D>)?;
        let users = checked::<D, _>(rows.into_iter().map(UserRow::into_user).collect())?;
        Ok(in_order(query, users))
    }

    pub(crate) async fn update_user(repo: &D, user: &User) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE users SET username = $2, password_hash = $3, is_admin = $4, plan_id = $5 \
             WHERE id = $1 AND deletion_requested_at IS NULL",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.is_admin)
        .bind(user.plan_id.map(|plan| plan.as_uuid()))
        .execute(repo.writer())
        .await
        .map_err(|error| Violations::USER.map(D::BACKEND, error))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_user(repo: &D, id: UserId) -> Result<bool, RepoError> {
        // Tokens, images, thumbnails and links go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
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
        for delete in rows::DELETE_USER_CREDENTIALS {
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
        let ids: Vec<(Uuid,)> = sqlx::query_as(rows::USERS_BEING_DELETED)
            .bind(limit)
            .fetch_all(repo.reader())
            .await
            .map_err(fail::<D>)?;
        Ok(ids.into_iter().map(|(id,)| UserId::from_uuid(id)).collect())
    }

    pub(crate) async fn insert_token(repo: &D, token: &TokenRecord) -> Result<(), RepoError> {
        let done = sqlx::query(rows::token_sql::INSERT)
            .bind(&token.hash.as_bytes()[..])
            .bind(token.user_id.as_uuid())
            .bind(D::Stamp::from_utc(token.created_at))
            .bind(token.expires_at.map(D::Stamp::from_utc))
            .bind(token.last_used_at.map(D::Stamp::from_utc))
            .execute(repo.writer())
            .await
            .map_err(|error| Violations::MISSING_REFERENCE.map(D::BACKEND, error))?;
        if done.rows_affected() == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    pub(crate) async fn find_token_owner(
        repo: &D,
        hash: &TokenHash,
    ) -> Result<Option<TokenOwner>, RepoError> {
        let row: Option<TokenOwnerRow<D::Stamp, D::Heights>> =
            sqlx::query_as(rows::token_sql::FIND_OWNER)
                .bind(&hash.as_bytes()[..])
                .fetch_optional(repo.reader())
                .await
                .map_err(fail::<D>)?;
        checked::<D, _>(row.map(TokenOwnerRow::into_token_owner).transpose())
    }

    pub(crate) async fn delete_token(repo: &D, hash: &TokenHash) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE hash = $1")
            .bind(&hash.as_bytes()[..])
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_user_tokens(repo: &D, user: UserId) -> Result<u64, RepoError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn list_user_tokens(
        repo: &D,
        user: UserId,
    ) -> Result<Vec<TokenRecord>, RepoError> {
        let rows: Vec<TokenRow<D::Stamp>> = sqlx::query_as(rows::token_sql::LIST_USER)
            .bind(user.as_uuid())
            .fetch_all(repo.reader())
            .await
            .map_err(fail::<D>)?;
        checked::<D, _>(rows.into_iter().map(TokenRow::into_token).collect())
    }

    pub(crate) async fn touch_token(
        repo: &D,
        hash: &TokenHash,
        used_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = sqlx::query(rows::token_sql::TOUCH)
            .bind(&hash.as_bytes()[..])
            .bind(D::Stamp::from_utc(used_at))
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    // Images and thumbnails.

    pub(crate) async fn insert_image(repo: &D, record: &ImageRecord) -> Result<(), RepoError> {
        let image = &record.image;
        let size = signed(image.size, "image size").map_err(|error| backend(D::BACKEND, error))?;
        let mut tx = repo.begin_write().await?;
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
        .bind(D::Stamp::from_utc(image.created_at))
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

    /// Image `id` with its thumbnails, if it is `owner`'s (or whoever's, without an owner).
    pub(crate) async fn record(
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
        // sort step); `records` puts each image's few thumbnails in order.
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

    pub(crate) async fn find_original(
        repo: &D,
        key: &StorageKey,
    ) -> Result<Option<OriginalTarget>, RepoError> {
        let row: Option<ImagePlanRow<D::Stamp, D::Heights>> = sqlx::query_as(concat!(
            "SELECT ",
            image_columns!(),
            ", ",
            owner_plan_columns!(),
            " FROM images i JOIN users u ON u.id = i.owner LEFT JOIN plans p ON p.id = u.plan_id",
            " WHERE i.storage_key = $1 LIMIT 1"
        ))
        .bind(key.as_str())
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        let Some(row) = row else { return Ok(None) };
        let (image, owner_plan) = checked::<D, _>(row.into_parts())?;
        Ok(Some(OriginalTarget { image, owner_plan }))
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
    ) -> Result<(), RepoError> {
        // The attempts column holds a `u32`: the count stops at its largest value.
        let sql = format!(
            "UPDATE thumbnails SET attempts = CASE WHEN attempts < 4294967295 \
             THEN attempts + 1 ELSE 4294967295 END, updated_at = $3 \
             WHERE image_id = $1 AND status = 'pending' AND {}",
            D::MAX_HEIGHT_IN_2
        );
        sqlx::query(&sql)
            .bind(image.as_uuid())
            .bind(D::height_list(heights))
            .bind(D::Stamp::from_utc(now))
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(())
    }

    pub(crate) async fn complete_thumbnail(
        repo: &D,
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
        .bind(D::Stamp::from_utc(now))
        .execute(repo.writer())
        .await
        .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn fail_thumbnails(
        repo: &D,
        image: ImageId,
        heights: &[ThumbnailHeight],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        sqlx::query(&rows::admin_sql::fail_thumbnails(D::MAX_HEIGHT_IN_2))
            .bind(image.as_uuid())
            .bind(D::height_list(heights))
            .bind(reason)
            .bind(D::Stamp::from_utc(now))
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(())
    }

    pub(crate) async fn claim_thumbnail_work(
        repo: &D,
        scope: WorkScope,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ImageId>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        repo.claim_thumbnail_work(scope, now, stale_before, limit)
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
        let done = update.execute(repo.writer()).await.map_err(fail::<D>)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn usage(repo: &D, owner: UserId) -> Result<Usage, RepoError> {
        let (images, bytes): (i64, i64) = sqlx::query_as(rows::account_page_sql::USAGE)
            .bind(owner.as_uuid())
            .fetch_one(repo.reader())
            .await
            .map_err(fail::<D>)?;
        checked::<D, _>(rows::usage(images, bytes))
    }

    // Expiring links.

    pub(crate) async fn insert_link(repo: &D, link: &ExpiringLink) -> Result<(), RepoError> {
        // Inserted only if the image exists and is the link owner's; the foreign key
        // catches an image deleted at the same moment.
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
        .bind(D::Stamp::from_utc(link.created_at))
        .bind(D::Stamp::from_utc(link.expires_at))
        .execute(repo.writer())
        .await
        .map_err(|error| Violations::MISSING_REFERENCE.map(D::BACKEND, error))?;
        if done.rows_affected() == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    pub(crate) async fn get_link(
        repo: &D,
        owner: UserId,
        id: LinkId,
    ) -> Result<Option<ExpiringLink>, RepoError> {
        let row: Option<LinkRow<D::Stamp>> = sqlx::query_as(concat!(
            "SELECT ",
            link_columns!(),
            " FROM links l WHERE l.id = $1 AND l.owner = $2"
        ))
        .bind(id.as_uuid())
        .bind(owner.as_uuid())
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        checked::<D, _>(row.map(LinkRow::into_link).transpose())
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
        let mut select = sqlx::query_as::<_, LinkRow<D::Stamp>>(&sql).bind(owner.as_uuid());
        if let Some(image) = image {
            select = select.bind(image.as_uuid());
        }
        if let Some((anchor, _)) = query.anchor {
            select = select
                .bind(D::Stamp::from_utc(anchor.created_at))
                .bind(anchor.id);
        }
        let rows = select.fetch_all(repo.reader()).await.map_err(fail::<D>)?;
        let links = checked::<D, _>(rows.into_iter().map(LinkRow::into_link).collect())?;
        Ok(in_order(query, links))
    }

    pub(crate) async fn update_link(repo: &D, link: &ExpiringLink) -> Result<bool, RepoError> {
        let done = sqlx::query(
            "UPDATE links SET expiry_seconds = $3, expires_at = $4 WHERE id = $1 AND owner = $2",
        )
        .bind(link.id.as_uuid())
        .bind(link.owner.as_uuid())
        .bind(i64::from(link.expiry_seconds.get()))
        .bind(D::Stamp::from_utc(link.expires_at))
        .execute(repo.writer())
        .await
        .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_link(
        repo: &D,
        owner: UserId,
        id: LinkId,
    ) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM links WHERE id = $1 AND owner = $2")
            .bind(id.as_uuid())
            .bind(owner.as_uuid())
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn find_link(
        repo: &D,
        key: &LinkKey,
    ) -> Result<Option<LinkTarget>, RepoError> {
        let row: Option<LinkTargetRow<D::Stamp, D::Heights>> = sqlx::query_as(concat!(
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
        .fetch_optional(repo.reader())
        .await
        .map_err(fail::<D>)?;
        let Some(row) = row else { return Ok(None) };
        let (link, image, owner_plan) = checked::<D, _>(row.into_parts())?;
        Ok(Some(LinkTarget {
            link,
            image,
            owner_plan,
        }))
    }

    // Browser sessions.

    pub(crate) async fn insert_session(repo: &D, session: &SessionRecord) -> Result<(), RepoError> {
        let done = sqlx::query(rows::session_sql::INSERT)
            .bind(&session.hash.as_bytes()[..])
            .bind(session.user_id.as_uuid())
            .bind(D::Stamp::from_utc(session.created_at))
            .bind(D::Stamp::from_utc(session.last_seen_at))
            .bind(D::Stamp::from_utc(session.expires_at))
            .execute(repo.writer())
            .await
            .map_err(|error| Violations::MISSING_REFERENCE.map(D::BACKEND, error))?;
        if done.rows_affected() == 0 {
            return Err(Conflict::MissingReference.into());
        }
        Ok(())
    }

    pub(crate) async fn find_session(
        repo: &D,
        hash: &TokenHash,
    ) -> Result<Option<SessionOwner>, RepoError> {
        let row: Option<SessionOwnerRow<D::Stamp, D::Heights>> =
            sqlx::query_as(rows::session_sql::FIND)
                .bind(&hash.as_bytes()[..])
                .fetch_optional(repo.reader())
                .await
                .map_err(fail::<D>)?;
        checked::<D, _>(row.map(|row| row.into_session_owner(*hash)).transpose())
    }

    pub(crate) async fn touch_session(
        repo: &D,
        hash: &TokenHash,
        seen_at: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = sqlx::query(rows::session_sql::TOUCH)
            .bind(&hash.as_bytes()[..])
            .bind(D::Stamp::from_utc(seen_at))
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_session(repo: &D, hash: &TokenHash) -> Result<bool, RepoError> {
        let done = sqlx::query(rows::session_sql::DELETE)
            .bind(&hash.as_bytes()[..])
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_user_sessions(repo: &D, user: UserId) -> Result<u64, RepoError> {
        let done = sqlx::query(rows::session_sql::DELETE_USER)
            .bind(user.as_uuid())
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn delete_ended_sessions(
        repo: &D,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let done = sqlx::query(rows::session_sql::DELETE_ENDED)
            .bind(D::Stamp::from_utc(idle_before))
            .bind(D::Stamp::from_utc(now))
            .execute(repo.writer())
            .await
            .map_err(fail::<D>)?;
        Ok(done.rows_affected())
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

/// Implements the core's repository traits for backend `$repo`, a [`Dialect`], with the
/// bodies of [`SqlRepo`]. It only forwards: each method's code is in [`SqlRepo`] or, where
/// the backends differ, in the [`Dialect`] impl. The change feeds come from the
/// [`Dialect`], whose methods the backend documents.
macro_rules! impl_repo {
    ($repo:ty) => {
        const _: () = {
            use std::collections::HashSet;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use imagevault_core::page::KeysetQuery;
            use imagevault_core::repo::{
                ChangeFeed, ImageFilter, ImageRepo, LinkRepo, LinkTarget, OriginalTarget, PlanRepo,
                Repo, RepoError, ResetScope, SessionOwner, SessionRepo, TokenOwner, Totals,
                UserRepo, WorkScope,
            };
            use imagevault_core::{
                ExpiringLink, ImageId, ImageRecord, LinkId, LinkKey, Plan, PlanId, SessionRecord,
                StorageKey, Thumbnail, ThumbnailHeight, TokenHash, TokenRecord, Usage, User,
                UserId, Username,
            };

            use $crate::dialect::Dialect;
            use $crate::repo::SqlRepo;

            #[async_trait]
            impl PlanRepo for $repo {
                async fn create_plan(&self, plan: &Plan) -> Result<(), RepoError> {
                    SqlRepo::create_plan(self, plan).await
                }
                async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>, RepoError> {
                    SqlRepo::get_plan(self, id).await
                }
                async fn find_plan_by_name(&self, name: &str) -> Result<Option<Plan>, RepoError> {
                    SqlRepo::find_plan_by_name(self, name).await
                }
                async fn list_plans(&self, query: &KeysetQuery) -> Result<Vec<Plan>, RepoError> {
                    SqlRepo::list_plans(self, query).await
                }
                async fn update_plan(&self, plan: &Plan) -> Result<bool, RepoError> {
                    SqlRepo::update_plan(self, plan).await
                }
                async fn delete_plan(&self, id: PlanId) -> Result<bool, RepoError> {
                    SqlRepo::delete_plan(self, id).await
                }
                async fn plan_user_counts(&self) -> Result<Vec<(PlanId, u64)>, RepoError> {
                    SqlRepo::plan_user_counts(self).await
                }
            }

            #[async_trait]
            impl UserRepo for $repo {
                async fn create_user(&self, user: &User) -> Result<(), RepoError> {
                    SqlRepo::create_user(self, user).await
                }
                async fn get_user(&self, id: UserId) -> Result<Option<User>, RepoError> {
                    SqlRepo::get_user(self, id).await
                }
                async fn find_user_by_username(
                    &self,
                    username: &Username,
                ) -> Result<Option<User>, RepoError> {
                    SqlRepo::find_user_by_username(self, username).await
                }
                async fn list_users(&self, query: &KeysetQuery) -> Result<Vec<User>, RepoError> {
                    SqlRepo::list_users(self, query).await
                }
                async fn search_users(
                    &self,
                    text: &str,
                    query: &KeysetQuery,
                ) -> Result<Vec<User>, RepoError> {
                    SqlRepo::search_users(self, text, query).await
                }
                async fn update_user(&self, user: &User) -> Result<bool, RepoError> {
                    SqlRepo::update_user(self, user).await
                }
                async fn delete_user(&self, id: UserId) -> Result<bool, RepoError> {
                    SqlRepo::delete_user(self, id).await
                }
                async fn begin_user_deletion(
                    &self,
                    id: UserId,
                    now: DateTime<Utc>,
                ) -> Result<bool, RepoError> {
                    SqlRepo::begin_user_deletion(self, id, now).await
                }
                async fn users_being_deleted(
                    &self,
                    limit: usize,
                ) -> Result<Vec<UserId>, RepoError> {
                    SqlRepo::users_being_deleted(self, limit).await
                }
                async fn insert_token(&self, token: &TokenRecord) -> Result<(), RepoError> {
                    SqlRepo::insert_token(self, token).await
                }
                async fn find_token_owner(
                    &self,
                    hash: &TokenHash,
                ) -> Result<Option<TokenOwner>, RepoError> {
                    SqlRepo::find_token_owner(self, hash).await
                }
                async fn delete_token(&self, hash: &TokenHash) -> Result<bool, RepoError> {
                    SqlRepo::delete_token(self, hash).await
                }
                async fn delete_user_tokens(&self, user: UserId) -> Result<u64, RepoError> {
                    SqlRepo::delete_user_tokens(self, user).await
                }
                async fn list_user_tokens(
                    &self,
                    user: UserId,
                ) -> Result<Vec<TokenRecord>, RepoError> {
                    SqlRepo::list_user_tokens(self, user).await
                }
                async fn touch_token(
                    &self,
                    hash: &TokenHash,
                    used_at: DateTime<Utc>,
                ) -> Result<bool, RepoError> {
                    SqlRepo::touch_token(self, hash, used_at).await
                }
                fn account_changes(&self) -> Option<ChangeFeed> {
                    <$repo as Dialect>::account_changes(self)
                }
            }

            #[async_trait]
            impl ImageRepo for $repo {
                async fn insert_image(&self, record: &ImageRecord) -> Result<(), RepoError> {
                    SqlRepo::insert_image(self, record).await
                }
                async fn get_image(
                    &self,
                    owner: UserId,
                    id: ImageId,
                ) -> Result<Option<ImageRecord>, RepoError> {
                    SqlRepo::record(self, id, Some(owner)).await
                }
                async fn get_image_by_id(
                    &self,
                    id: ImageId,
                ) -> Result<Option<ImageRecord>, RepoError> {
                    SqlRepo::record(self, id, None).await
                }
                async fn list_images(
                    &self,
                    owner: UserId,
                    query: &KeysetQuery,
                ) -> Result<Vec<ImageRecord>, RepoError> {
                    SqlRepo::list_images(self, owner, query).await
                }
                async fn delete_image(
                    &self,
                    owner: UserId,
                    id: ImageId,
                ) -> Result<Option<ImageRecord>, RepoError> {
                    <$repo as Dialect>::delete_image(self, owner, id).await
                }
                async fn find_original(
                    &self,
                    key: &StorageKey,
                ) -> Result<Option<OriginalTarget>, RepoError> {
                    SqlRepo::find_original(self, key).await
                }
                async fn referenced_keys(
                    &self,
                    keys: &[StorageKey],
                ) -> Result<HashSet<StorageKey>, RepoError> {
                    SqlRepo::referenced_keys(self, keys).await
                }
                async fn ensure_thumbnails(&self, rows: &[Thumbnail]) -> Result<(), RepoError> {
                    SqlRepo::ensure_thumbnails(self, rows).await
                }
                async fn start_thumbnail_attempt(
                    &self,
                    image: ImageId,
                    heights: &[ThumbnailHeight],
                    now: DateTime<Utc>,
                ) -> Result<(), RepoError> {
                    SqlRepo::start_thumbnail_attempt(self, image, heights, now).await
                }
                async fn complete_thumbnail(
                    &self,
                    image: ImageId,
                    height: ThumbnailHeight,
                    key: &StorageKey,
                    now: DateTime<Utc>,
                ) -> Result<bool, RepoError> {
                    SqlRepo::complete_thumbnail(self, image, height, key, now).await
                }
                async fn fail_thumbnails(
                    &self,
                    image: ImageId,
                    heights: &[ThumbnailHeight],
                    reason: &str,
                    now: DateTime<Utc>,
                ) -> Result<(), RepoError> {
                    SqlRepo::fail_thumbnails(self, image, heights, reason, now).await
                }
                async fn claim_thumbnail_work(
                    &self,
                    scope: WorkScope,
                    now: DateTime<Utc>,
                    stale_before: DateTime<Utc>,
                    limit: usize,
                ) -> Result<Vec<ImageId>, RepoError> {
                    SqlRepo::claim_thumbnail_work(self, scope, now, stale_before, limit).await
                }
                async fn totals(&self) -> Result<Totals, RepoError> {
                    SqlRepo::totals(self).await
                }
                async fn list_all_images(
                    &self,
                    filter: &ImageFilter,
                    query: &KeysetQuery,
                ) -> Result<Vec<ImageRecord>, RepoError> {
                    SqlRepo::list_all_images(self, filter, query).await
                }
                async fn reset_thumbnails(
                    &self,
                    scope: ResetScope,
                    now: DateTime<Utc>,
                ) -> Result<u64, RepoError> {
                    SqlRepo::reset_thumbnails(self, scope, now).await
                }
                async fn usage(&self, owner: UserId) -> Result<Usage, RepoError> {
                    SqlRepo::usage(self, owner).await
                }
            }

            #[async_trait]
            impl LinkRepo for $repo {
                async fn insert_link(&self, link: &ExpiringLink) -> Result<(), RepoError> {
                    SqlRepo::insert_link(self, link).await
                }
                async fn get_link(
                    &self,
                    owner: UserId,
                    id: LinkId,
                ) -> Result<Option<ExpiringLink>, RepoError> {
                    SqlRepo::get_link(self, owner, id).await
                }
                async fn list_links(
                    &self,
                    owner: UserId,
                    image: Option<ImageId>,
                    query: &KeysetQuery,
                ) -> Result<Vec<ExpiringLink>, RepoError> {
                    SqlRepo::list_links(self, owner, image, query).await
                }
                async fn update_link(&self, link: &ExpiringLink) -> Result<bool, RepoError> {
                    SqlRepo::update_link(self, link).await
                }
                async fn delete_link(&self, owner: UserId, id: LinkId) -> Result<bool, RepoError> {
                    SqlRepo::delete_link(self, owner, id).await
                }
                async fn find_link(&self, key: &LinkKey) -> Result<Option<LinkTarget>, RepoError> {
                    SqlRepo::find_link(self, key).await
                }
                fn link_changes(&self) -> Option<ChangeFeed> {
                    <$repo as Dialect>::link_changes(self)
                }
            }

            #[async_trait]
            impl SessionRepo for $repo {
                async fn insert_session(&self, session: &SessionRecord) -> Result<(), RepoError> {
                    SqlRepo::insert_session(self, session).await
                }
                async fn find_session(
                    &self,
                    hash: &TokenHash,
                ) -> Result<Option<SessionOwner>, RepoError> {
                    SqlRepo::find_session(self, hash).await
                }
                async fn touch_session(
                    &self,
                    hash: &TokenHash,
                    seen_at: DateTime<Utc>,
                ) -> Result<bool, RepoError> {
                    SqlRepo::touch_session(self, hash, seen_at).await
                }
                async fn delete_session(&self, hash: &TokenHash) -> Result<bool, RepoError> {
                    SqlRepo::delete_session(self, hash).await
                }
                async fn delete_user_sessions(&self, user: UserId) -> Result<u64, RepoError> {
                    SqlRepo::delete_user_sessions(self, user).await
                }
                async fn delete_ended_sessions(
                    &self,
                    idle_before: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> Result<u64, RepoError> {
                    SqlRepo::delete_ended_sessions(self, idle_before, now).await
                }
            }

            #[async_trait]
            impl Repo for $repo {
                async fn ping(&self) -> Result<(), RepoError> {
                    SqlRepo::ping(self).await
                }
            }
        };
    };
}
pub(crate) use impl_repo;
