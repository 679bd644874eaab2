//! `/api/expiring-links/`: create, list, read, update and delete.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use imagevault_core::page::ListKind;
use imagevault_core::{ExpirySeconds, LinkId, PlanFeature, parse_image_id};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::{ListQuery, PageParams};
use crate::payload::Fields;
use crate::routes::{authenticated_405, created, path_id, payload};
use crate::schema::{DetailBody, FieldErrorsBody, LinkBody, LinkCreate, LinkUpdate, PageBody};
use crate::{AppState, api_route};

pub(crate) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = api_route(
        router,
        "/api/expiring-links/",
        get(list_links)
            .post(create_link)
            .fallback(authenticated_405!("GET, HEAD, POST")),
    );
    api_route(
        router,
        "/api/expiring-links/{id}/",
        get(get_link)
            .put(update_link)
            .patch(update_link)
            .delete(delete_link)
            .fallback(authenticated_405!("GET, HEAD, PUT, PATCH, DELETE")),
    )
}

/// `expiry_in_seconds` from the body. A value that is not an integer gets the same
/// message as one out of range, as the API documents.
fn expiry(fields: &mut Fields, required: bool) -> Option<ExpirySeconds> {
    const FIELD: &str = "expiry_in_seconds";
    let out_of_range = ExpirySeconds::out_of_range().message;
    let seconds = fields.integer_or(FIELD, required, &out_of_range)?;
    ExpirySeconds::new(seconds)
        .map_err(|error| fields.error(FIELD, error.message))
        .ok()
}

/// Create an expiring link to one of the caller's images.
#[utoipa::path(post, path = "/api/expiring-links/", tag = "expiring links",
    security(("basic" = []), ("token" = [])),
    request_body(content = LinkCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "The link", body = LinkBody,
            headers(("Location" = String, description = "The link's URL in the API"))),
        (status = 400, description = "Bad `base_image` or `expiry_in_seconds`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "No plan, or the plan has no expiring links", body = DetailBody),
    ))]
pub(crate) async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    caller.account.require_feature(PlanFeature::ExpiringLinks)?;
    let mut fields = Fields::full(payload(request, &state).await?);
    let image = fields.string("base_image", true).and_then(|text| {
        parse_image_id("base_image", &text)
            .map_err(|error| fields.error(error.field, error.message))
            .ok()
    });
    let expiry = expiry(&mut fields, true);
    fields.finish()?;
    let (Some(image), Some(expiry)) = (image, expiry) else {
        return Err(ApiError::field("non_field_errors", "Invalid data."));
    };
    let view = state
        .vault
        .create_link(&caller.account, image, expiry)
        .await?;
    let location = state.absolute(format_args!("/api/expiring-links/{}/", view.link.id));
    created(&location, LinkBody::new(view, &state))
}

/// The caller's expiring links, newest first.
#[utoipa::path(get, path = "/api/expiring-links/", tag = "expiring links",
    security(("basic" = []), ("token" = [])),
    params(
        ("base_image" = Option<uuid::Uuid>, Query, description = "Only this image's links"),
        PageParams,
    ),
    responses(
        (status = 200, description = "One page", body = PageBody<LinkBody>),
        (status = 400, description = "Bad `base_image`, `limit` or `cursor`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "No plan, or the plan has no expiring links", body = DetailBody),
    ))]
pub(crate) async fn list_links(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<PageBody<LinkBody>, ApiError> {
    caller.account.require_feature(PlanFeature::ExpiringLinks)?;
    let query = ListQuery::parse(query.as_deref());
    let image = match query.get("base_image") {
        None | Some("") => None,
        Some(text) => Some(parse_image_id("base_image", text)?),
    };
    let request = query.page_request(ListKind::Links)?;
    let page = state
        .vault
        .list_links(&caller.account, image, request)
        .await?;
    Ok(query.body(&state, "/api/expiring-links/", page, |view| {
        LinkBody::new(view, &state)
    }))
}

/// One of the caller's expiring links.
#[utoipa::path(get, path = "/api/expiring-links/{id}/", tag = "expiring links",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The link id")),
    responses(
        (status = 200, description = "The link", body = LinkBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "No plan, or the plan has no expiring links", body = DetailBody),
        (status = 404, description = "Unknown, malformed, or another user's", body = DetailBody),
    ))]
pub(crate) async fn get_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LinkBody>, ApiError> {
    caller.account.require_feature(PlanFeature::ExpiringLinks)?;
    let id = path_id(&id, LinkId::parse)?;
    let view = state.vault.get_link(&caller.account, id).await?;
    Ok(Json(LinkBody::new(view, &state)))
}

/// Change a link's lifetime (`PUT` or `PATCH`); `expires_at` becomes
/// `created_at + expiry_in_seconds`. `base_image` cannot change.
#[utoipa::path(method(put, patch), path = "/api/expiring-links/{id}/", tag = "expiring links",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The link id")),
    request_body(content = LinkUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated link", body = LinkBody),
        (status = 400, description = "Bad `expiry_in_seconds`, or a different `base_image`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "No plan, or the plan has no expiring links", body = DetailBody),
        (status = 404, description = "Unknown, malformed, or another user's", body = DetailBody),
    ))]
pub(crate) async fn update_link(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<LinkBody>, ApiError> {
    caller.account.require_feature(PlanFeature::ExpiringLinks)?;
    let id = path_id(&id, LinkId::parse)?;
    let current = state.vault.get_link(&caller.account, id).await?;
    let body = payload(request, &state).await?;
    let mut fields = if method == Method::PATCH {
        Fields::partial(body)
    } else {
        Fields::full(body)
    };
    if let Some(image) = fields.string("base_image", false)
        && image != current.link.image_id.to_string()
    {
        fields.error(
            "base_image",
            "The base image of a link cannot be changed; create a new link instead.",
        );
    }
    let expiry = expiry(&mut fields, true);
    fields.finish()?;
    let view = match expiry {
        Some(expiry) => state.vault.update_link(&caller.account, id, expiry).await?,
        None => current,
    };
    Ok(Json(LinkBody::new(view, &state)))
}

/// Delete one of the caller's links; its URL stops working at once.
#[utoipa::path(delete, path = "/api/expiring-links/{id}/", tag = "expiring links",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The link id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "No plan, or the plan has no expiring links", body = DetailBody),
        (status = 404, description = "Unknown, malformed, or another user's", body = DetailBody),
    ))]
pub(crate) async fn delete_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.account.require_feature(PlanFeature::ExpiringLinks)?;
    let id = path_id(&id, LinkId::parse)?;
    state.vault.delete_link(&caller.account, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
