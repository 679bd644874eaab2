//! `/api/admin/plans/` and `/api/admin/users/`: JSON CRUD for administrators.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use imagevault_core::page::ListKind;
use imagevault_core::{
    Account, NewUser, Password, Plan, PlanId, PlanName, PlanSpec, QuotaLimits, QuotaOverride,
    QuotaResource, ThumbnailFormats, ThumbnailHeight, ThumbnailHeights, User, UserChanges, UserId,
    Username, VaultError,
};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::{ListQuery, PageParams};
use crate::payload::{Fields, parse_integer};
use crate::routes::{authenticated_405, created, path_id, payload};
use crate::schema::{
    DetailBody, FieldErrorsBody, PageBody, PlanBody, PlanWrite, UserBody, UserWrite,
};
use crate::{AppState, api_route};

pub(crate) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = api_route(
        router,
        "/api/admin/plans/",
        get(list_plans)
            .post(create_plan)
            .fallback(authenticated_405!("GET, HEAD, POST")),
    );
    let router = api_route(
        router,
        "/api/admin/plans/{id}/",
        get(get_plan)
            .put(update_plan)
            .patch(update_plan)
            .delete(delete_plan)
            .fallback(authenticated_405!("GET, HEAD, PUT, PATCH, DELETE")),
    );
    let router = api_route(
        router,
        "/api/admin/users/",
        get(list_users)
            .post(create_user)
            .fallback(authenticated_405!("GET, HEAD, POST")),
    );
    let router = api_route(
        router,
        "/api/admin/users/{id}/",
        get(get_user)
            .put(update_user)
            .patch(update_user)
            .delete(delete_user)
            .fallback(authenticated_405!("GET, HEAD, PUT, PATCH, DELETE")),
    );
    api_route(
        router,
        "/api/admin/users/{id}/tokens/",
        delete(revoke_user_tokens).fallback(authenticated_405!("DELETE")),
    )
}

/// Reads a plan from the body; fields that are not required and left out come from
/// `current` when updating, or take their defaults when creating.
fn plan_spec(fields: &mut Fields, current: Option<&Plan>) -> Option<PlanSpec> {
    let name = fields.string("name", true).and_then(|name| {
        PlanName::parse(&name)
            .map_err(|error| fields.error(error.field, error.message))
            .ok()
    });
    let heights = fields
        .integer_list("thumbnail_heights", true)
        .and_then(|heights| {
            // The core words every height rule, out-of-u32 numbers included.
            heights
                .iter()
                .map(|&pixels| ThumbnailHeight::from_integer(pixels).map(ThumbnailHeight::get))
                .collect::<Result<Vec<u32>, _>>()
                .and_then(ThumbnailHeights::new)
                .map_err(|error| fields.error(error.field, error.message))
                .ok()
        });
    let formats = fields
        .string_list(ThumbnailFormats::FIELD, false)
        .and_then(|names| {
            ThumbnailFormats::from_names(names.iter().map(String::as_str))
                .map_err(|error| fields.error(error.field, error.message))
                .ok()
        });
    let original_link = fields.boolean("original_link", false);
    let expiring_links = fields.boolean("expiring_links", false);
    let strip_metadata = fields.boolean("strip_metadata", false);
    let max_images = quota_limit(fields, "max_images", QuotaResource::Images);
    let max_bytes = quota_limit(fields, "max_bytes", QuotaResource::Bytes);
    if !fields.is_clean() {
        return None;
    }
    // Limits left out keep their values on update, and are unlimited on create.
    let current_quota = current.map(|plan| plan.quota).unwrap_or_default();
    Some(PlanSpec {
        name: name.or_else(|| current.map(|plan| plan.name.clone()))?,
        thumbnail_heights: heights
            .or_else(|| current.map(|plan| plan.thumbnail_heights.clone()))?,
        // Left out: kept on update, the original's format only on create.
        thumbnail_formats: formats
            .or_else(|| current.map(|plan| plan.thumbnail_formats.clone()))
            .unwrap_or_default(),
        original_link: original_link
            .or_else(|| current.map(|plan| plan.original_link))
            .unwrap_or(false),
        expiring_links: expiring_links
            .or_else(|| current.map(|plan| plan.expiring_links))
            .unwrap_or(false),
        quota: QuotaLimits {
            max_images: max_images.unwrap_or(current_quota.max_images),
            max_bytes: max_bytes.unwrap_or(current_quota.max_bytes),
        },
        strip_metadata: strip_metadata
            .or_else(|| current.map(|plan| plan.strip_metadata))
            .unwrap_or(false),
    })
}

/// A plan's limit: `None` when left out (or wrong, with the error recorded), `Some(None)`
/// for null (no limit), else the number within the core's bounds.
fn quota_limit(
    fields: &mut Fields,
    field: &'static str,
    resource: QuotaResource,
) -> Option<Option<u64>> {
    match fields.nullable_value(field)? {
        None => Some(None),
        Some(value) => quota_number(fields, field, resource, &value, "null for no limit").map(Some),
    }
}

/// A user's override of a plan limit, tri-state: `None` when left out (keep it, or wrong,
/// with the error recorded); null is [`QuotaOverride::Plan`], `"unlimited"`
/// [`QuotaOverride::Unlimited`], a number [`QuotaOverride::Limit`].
fn quota_override(
    fields: &mut Fields,
    field: &'static str,
    resource: QuotaResource,
) -> Option<QuotaOverride> {
    match fields.nullable_value(field)? {
        None => Some(QuotaOverride::Plan),
        Some(Value::String(text)) if text.trim() == QuotaOverride::UNLIMITED_WORD => {
            Some(QuotaOverride::Unlimited)
        }
        Some(value) => {
            let alternatives = format!(
                "\"{}\" for no limit, or null for the plan's",
                QuotaOverride::UNLIMITED_WORD
            );
            quota_number(fields, field, resource, &value, &alternatives).map(QuotaOverride::Limit)
        }
    }
}

/// The limit `value` holds, checked against the core's bounds for `resource`.
fn quota_number(
    fields: &mut Fields,
    field: &'static str,
    resource: QuotaResource,
    value: &Value,
    alternatives: &str,
) -> Option<u64> {
    let Some(number) = parse_integer(value) else {
        fields.error(
            field,
            format!(
                "A valid integer is required: a number from 0 to {}, or {alternatives}.",
                resource.max()
            ),
        );
        return None;
    };
    resource
        .check(field, i128::from(number))
        .map_err(|error| fields.error(error.field, error.message))
        .ok()
}

/// `user` with their limits and usage, for an answer.
async fn user_body(state: &AppState, admin: &Account, user: User) -> Result<UserBody, VaultError> {
    let quotas = state
        .vault
        .user_quotas(admin, std::slice::from_ref(&user))
        .await?;
    Ok(UserBody::new(
        user,
        quotas.into_iter().next().unwrap_or_default(),
    ))
}

/// All plans, newest first.
#[utoipa::path(get, path = "/api/admin/plans/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page", body = PageBody<PlanBody>),
        (status = 400, description = "Bad `limit` or `cursor`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
    ))]
pub(crate) async fn list_plans(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<PageBody<PlanBody>, ApiError> {
    caller.account.require_admin()?;
    let query = ListQuery::parse(query.as_deref());
    let request = query.page_request(ListKind::Plans)?;
    let page = state.vault.list_plans(&caller.account, request).await?;
    Ok(query.body(&state, "/api/admin/plans/", page, PlanBody::from))
}

/// Create a plan.
#[utoipa::path(post, path = "/api/admin/plans/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    request_body(content = PlanWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "The plan", body = PlanBody,
            headers(("Location" = String, description = "The plan's URL"))),
        (status = 400, description = "A taken name or bad heights", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
    ))]
pub(crate) async fn create_plan(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    caller.account.require_admin()?;
    let mut fields = Fields::full(payload(request, &state).await?);
    let spec = plan_spec(&mut fields, None);
    fields.finish()?;
    let Some(spec) = spec else {
        return Err(ApiError::field("non_field_errors", "Invalid data."));
    };
    let plan = state.vault.create_plan(&caller.account, spec).await?;
    let location = state.absolute(format_args!("/api/admin/plans/{}/", plan.id));
    created(&location, PlanBody::from(plan))
}

/// One plan.
#[utoipa::path(get, path = "/api/admin/plans/{id}/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The plan id")),
    responses(
        (status = 200, description = "The plan", body = PlanBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
    ))]
pub(crate) async fn get_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PlanBody>, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, PlanId::parse)?;
    Ok(Json(
        state.vault.get_plan(&caller.account, id).await?.into(),
    ))
}

/// Replace (`PUT`) or change (`PATCH`) a plan; users on it see the change at once and
/// thumbnails for new heights are made in the background.
#[utoipa::path(method(put, patch), path = "/api/admin/plans/{id}/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The plan id")),
    request_body(content = PlanWrite, content_type = "application/json"),
    responses(
        (status = 200, description = "The plan", body = PlanBody),
        (status = 400, description = "A taken name or bad heights", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
    ))]
pub(crate) async fn update_plan(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<PlanBody>, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, PlanId::parse)?;
    let current = state.vault.get_plan(&caller.account, id).await?;
    let body = payload(request, &state).await?;
    let partial = method == Method::PATCH;
    let mut fields = if partial {
        Fields::partial(body)
    } else {
        Fields::full(body)
    };
    // Flags left out keep their values, as a DRF ModelSerializer leaves fields that are
    // not required alone on update; `name` and heights are required on `PUT`.
    let spec = plan_spec(&mut fields, Some(&current));
    fields.finish()?;
    let Some(spec) = spec else {
        return Err(ApiError::field("non_field_errors", "Invalid data."));
    };
    let plan = state.vault.update_plan(&caller.account, id, spec).await?;
    Ok(Json(plan.into()))
}

/// Delete a plan that no user has.
#[utoipa::path(delete, path = "/api/admin/plans/{id}/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The plan id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
        (status = 409, description = "Users still have the plan", body = DetailBody),
    ))]
pub(crate) async fn delete_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, PlanId::parse)?;
    state.vault.delete_plan(&caller.account, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Reads a plan reference: a plan id, or null for none.
fn plan_ref(fields: &mut Fields) -> Option<Option<PlanId>> {
    if !fields.has("plan") {
        return None;
    }
    // Null is allowed here ("no plan"), so read the raw text.
    match fields.nullable_string("plan") {
        Some(None) => Some(None),
        Some(Some(text)) if text.is_empty() => Some(None),
        Some(Some(text)) => match PlanId::parse(&text) {
            Some(id) => Some(Some(id)),
            None => {
                fields.error("plan", format!("“{text}” is not a valid UUID."));
                None
            }
        },
        None => None,
    }
}

fn username(fields: &mut Fields, required: bool) -> Option<Username> {
    fields.string("username", required).and_then(|name| {
        Username::parse(&name)
            .map_err(|error| fields.error(error.field, error.message))
            .ok()
    })
}

fn password(fields: &mut Fields, required: bool) -> Option<Password> {
    fields.string("password", required).and_then(|text| {
        Password::new(text)
            .map_err(|error| fields.error(error.field, error.message))
            .ok()
    })
}

/// All users, newest first.
#[utoipa::path(get, path = "/api/admin/users/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page", body = PageBody<UserBody>),
        (status = 400, description = "Bad `limit` or `cursor`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
    ))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<PageBody<UserBody>, ApiError> {
    caller.account.require_admin()?;
    let query = ListQuery::parse(query.as_deref());
    let request = query.page_request(ListKind::Users)?;
    let page = state.vault.list_users(&caller.account, request).await?;
    let mut quotas = state
        .vault
        .user_quotas(&caller.account, &page.items)
        .await?
        .into_iter();
    Ok(query.body(&state, "/api/admin/users/", page, |user| {
        UserBody::new(user, quotas.next().unwrap_or_default())
    }))
}

/// Create a user.
#[utoipa::path(post, path = "/api/admin/users/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    request_body(content = UserWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "The user", body = UserBody,
            headers(("Location" = String, description = "The user's URL"))),
        (status = 400, description = "A taken username, a bad password or an unknown plan", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
    ))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    caller.account.require_admin()?;
    let mut fields = Fields::full(payload(request, &state).await?);
    let username = username(&mut fields, true);
    let password = password(&mut fields, true);
    let plan = plan_ref(&mut fields);
    let is_admin = fields.boolean("is_admin", false);
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::field("non_field_errors", "Invalid data."));
    };
    let user = state
        .vault
        .create_user(
            &caller.account,
            NewUser {
                username,
                password,
                plan: plan.flatten(),
                is_admin: is_admin.unwrap_or(false),
            },
        )
        .await?;
    let location = state.absolute(format_args!("/api/admin/users/{}/", user.id));
    created(&location, user_body(&state, &caller.account, user).await?)
}

/// One user.
#[utoipa::path(get, path = "/api/admin/users/{id}/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = UserBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
    ))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UserBody>, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, UserId::parse)?;
    let user = state.vault.get_user(&caller.account, id).await?;
    Ok(Json(user_body(&state, &caller.account, user).await?))
}

/// Replace (`PUT`) or change (`PATCH`) a user. Fields left out (`password`, `plan`,
/// `is_admin`) keep their values; a new plan shows at once and its thumbnails are made in
/// the background. A new `password` revokes all of the user's API tokens.
#[utoipa::path(method(put, patch), path = "/api/admin/users/{id}/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    request_body(content = UserWrite, content_type = "application/json"),
    responses(
        (status = 200, description = "The user", body = UserBody),
        (status = 400, description = "A taken username, a bad password or an unknown plan", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
    ))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<UserBody>, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, UserId::parse)?;
    // Unknown ids are 404 before the body is judged.
    state.vault.get_user(&caller.account, id).await?;
    let body = payload(request, &state).await?;
    let partial = method == Method::PATCH;
    let mut fields = if partial {
        Fields::partial(body)
    } else {
        Fields::full(body)
    };
    let username = username(&mut fields, true);
    // The password is never required on update: without it, it is kept.
    let password = password(&mut fields, false);
    let plan = plan_ref(&mut fields);
    let is_admin = fields.boolean("is_admin", false);
    let max_images = quota_override(&mut fields, "max_images", QuotaResource::Images);
    let max_bytes = quota_override(&mut fields, "max_bytes", QuotaResource::Bytes);
    fields.finish()?;
    // Fields left out keep their values (on `PUT` too, as in a DRF ModelSerializer, where
    // they are not required); only `username` is required on `PUT`.
    let changes = UserChanges {
        username,
        password,
        plan,
        is_admin,
        max_images,
        max_bytes,
    };
    let user: User = state
        .vault
        .update_user(&caller.account, id, changes)
        .await?;
    Ok(Json(user_body(&state, &caller.account, user).await?))
}

/// Delete a user with their images, files and links. The account is locked (password
/// unusable, tokens revoked) before the answer; its images, files and links, and then the
/// user, are deleted in the background, to completion even if the server restarts.
#[utoipa::path(delete, path = "/api/admin/users/{id}/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 204, description = "Locked at once; deleted with their images, files and links in the background"),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
    ))]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, UserId::parse)?;
    state.vault.delete_user(&caller.account, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke all of a user's API tokens: every device must log in again.
#[utoipa::path(delete, path = "/api/admin/users/{id}/tokens/", tag = "admin",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 204, description = "The user's tokens no longer work"),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "Not an administrator", body = DetailBody),
        (status = 404, description = "Unknown or malformed id", body = DetailBody),
    ))]
pub(crate) async fn revoke_user_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.account.require_admin()?;
    let id = path_id(&id, UserId::parse)?;
    state.vault.revoke_user_tokens(&caller.account, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
