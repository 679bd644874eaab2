//! `/api/images/`: upload, list, read and delete.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use imagevault_core::page::ListKind;
use imagevault_core::{
    ImageError, ImageFormat, ImageId, ImageName, ReadLimitedError, Upload, VaultError, read_limited,
};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::{ListQuery, PageParams};
use crate::payload::{content_type, multipart_error, unsupported_media_type};
use crate::routes::{authenticated_405, created, path_id};
use crate::schema::{DetailBody, FieldErrorsBody, ImageBody, PageBody, UploadForm};
use crate::{AppState, api_route};

/// Room for the multipart framing and the `name` field around the file itself.
pub(crate) const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let body_limit = state.vault.config().limits.max_bytes + MULTIPART_OVERHEAD;
    let body_limit = usize::try_from(body_limit).unwrap_or(usize::MAX);
    let router = Router::new();
    let router = api_route(
        router,
        "/api/images/",
        get(list_images)
            .post(upload_image)
            .layer(DefaultBodyLimit::max(body_limit))
            .fallback(authenticated_405!("GET, HEAD, POST")),
    );
    api_route(
        router,
        "/api/images/{id}/",
        get(get_image)
            .delete(delete_image)
            .fallback(authenticated_405!("GET, HEAD, DELETE")),
    )
}

/// Upload a PNG or JPEG image; its thumbnails are made in the background.
///
/// Send `multipart/form-data` with the file in `image` and an optional `name`, or the raw
/// file with `Content-Type: image/png` or `image/jpeg` and an optional `?name=`.
#[utoipa::path(post, path = "/api/images/", tag = "images",
    security(("basic" = []), ("token" = [])),
    // Its length comes from crate::openapi::FieldLimits.
    params(("name" = Option<String>, Query, description = "The name for a raw-body upload (default `image.<ext>`)")),
    request_body(
        description = "The image, as a multipart form or as the raw body",
        // And one content type per image format: crate::openapi::ImageContentTypes adds them.
        content((UploadForm = "multipart/form-data"))
    ),
    responses(
        (status = 201, description = "Stored; thumbnails are `pending`", body = ImageBody,
            headers(("Location" = String, description = "The image's URL"))),
        (status = 400, description = "No file, not PNG or JPEG, damaged, too many pixels, or a bad `name`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "The user has no plan, or the upload would pass a quota limit (the detail names the limit and the usage; nothing is stored)", body = DetailBody),
        (status = 408, description = "The body stopped arriving before its end", body = DetailBody),
        (status = 413, description = "The body is over the byte limit", body = DetailBody),
        (status = 415, description = "Neither a multipart form nor an image body", body = DetailBody),
        (status = 429, description = "The user has the most uploads in progress one user may have", body = DetailBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn upload_image(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    caller.account.require_plan()?;
    let limit = state.vault.config().limits.max_bytes;
    let declared = check_declared_length(request.headers(), limit)?;
    // The user's place first, so one user's extra uploads are refused at once instead of
    // waiting for (and taking) permits the other users need.
    let mut slot = state.vault.reserve_upload(&caller.account)?;
    // Held until the upload is stored, also when the client goes away before: bodies in
    // memory are bounded by the permits.
    let permit = state.uploads.clone().acquire_owned().await.map_err(|_| {
        ApiError::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is shutting down.",
        )
    })?;
    slot.hold(permit);
    let (content_type, essence) = content_type(request.headers());
    let upload = match essence.as_str() {
        "multipart/form-data" => read_multipart_upload(request, &state, limit, declared).await?,
        mime if ImageFormat::from_mime(mime).is_some() => {
            let data = read_body(request.into_body(), limit, declared).await?;
            let name = ListQuery::parse(query.as_deref())
                .get("name")
                .map(str::to_owned);
            Upload {
                data,
                name,
                file_name: None,
            }
        }
        "" => {
            let data = read_body(request.into_body(), limit, declared).await?;
            if data.is_empty() {
                return Err(ApiError::field("image", "No file was submitted."));
            }
            return Err(unsupported_media_type(""));
        }
        _ => return Err(unsupported_media_type(&content_type)),
    };
    let view = state
        .vault
        .upload_reserved(&caller.account, slot, upload)
        .await?;
    let body = ImageBody::new(view, &state);
    let location = body.url().to_owned();
    created(&location, body)
}

/// A declared length over the limit is refused before a byte of the body is read;
/// otherwise the declared length, if any.
fn check_declared_length(headers: &HeaderMap, limit: u64) -> Result<Option<u64>, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit + MULTIPART_OVERHEAD => {
            Err(ApiError::payload_too_large(limit))
        }
        _ => Ok(declared),
    }
}

/// Reads a raw image body. The request body is not wrapped in the router's body limit (only
/// extractors are), so `read_limited` is the one cap; a stream error is a client that went
/// away mid-upload.
async fn read_body(body: Body, limit: u64, declared: Option<u64>) -> Result<Bytes, ApiError> {
    read_limited(body.into_data_stream(), limit, declared)
        .await
        .map_err(|error| match error {
            ReadLimitedError::TooLarge { .. } => ApiError::payload_too_large(limit),
            ReadLimitedError::Stream(error) => ApiError::detail(
                StatusCode::BAD_REQUEST,
                format!("The request body could not be read: {error}."),
            ),
        })
}

/// Reads the `image` and `name` fields, stopping at `limit` bytes of file without reading
/// the rest of the body.
async fn read_multipart_upload(
    request: Request,
    state: &AppState,
    limit: u64,
    declared: Option<u64>,
) -> Result<Upload, ApiError> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::detail(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let mut image: Option<(Bytes, Option<String>)> = None;
    let mut name: Option<String> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("image") if image.is_none() => {
                let file_name = field.file_name().map(str::to_owned);
                // The whole form's declared length bounds the file's: allocate once.
                let data =
                    read_limited(field, limit, declared)
                        .await
                        .map_err(|error| match error {
                            ReadLimitedError::TooLarge { .. } => ApiError::payload_too_large(limit),
                            ReadLimitedError::Stream(error) => multipart_error(error),
                        })?;
                image = Some((data, file_name));
            }
            Some("name") => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if text.len() + chunk.len() > MULTIPART_OVERHEAD as usize {
                        return Err(ApiError::field(
                            "name",
                            format!(
                                "Ensure this field has no more than {} characters.",
                                ImageName::MAX_CHARS
                            ),
                        ));
                    }
                    text.extend_from_slice(&chunk);
                }
                name = Some(
                    String::from_utf8(text)
                        .map_err(|_| ApiError::field("name", "The name must be UTF-8 text."))?,
                );
            }
            // Other fields are ignored, as DRF ignores unknown fields; multer skips them.
            _ => {}
        }
    }
    let Some((data, file_name)) = image else {
        return Err(ApiError::field(
            "image",
            "No file was submitted; send the image in the multipart field \"image\".",
        ));
    };
    if data.is_empty() {
        return Err(ApiError::from(VaultError::Image(ImageError::Empty)));
    }
    Ok(Upload {
        data,
        name,
        file_name,
    })
}

/// The caller's images, newest first.
#[utoipa::path(get, path = "/api/images/", tag = "images",
    security(("basic" = []), ("token" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page", body = PageBody<ImageBody>),
        (status = 400, description = "Bad `limit` or `cursor`", body = FieldErrorsBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "The user has no plan", body = DetailBody),
    ))]
pub(crate) async fn list_images(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<PageBody<ImageBody>, ApiError> {
    caller.account.require_plan()?;
    let query = ListQuery::parse(query.as_deref());
    let request = query.page_request(ListKind::Images)?;
    let page = state.vault.list_images(&caller.account, request).await?;
    Ok(query.body(&state, "/api/images/", page, |view| {
        ImageBody::new(view, &state)
    }))
}

/// One of the caller's images.
#[utoipa::path(get, path = "/api/images/{id}/", tag = "images",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The image id")),
    responses(
        (status = 200, description = "The image", body = ImageBody),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "The user has no plan", body = DetailBody),
        (status = 404, description = "Unknown, malformed, or another user's", body = DetailBody),
    ))]
pub(crate) async fn get_image(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ImageBody>, ApiError> {
    caller.account.require_plan()?;
    let id = path_id(&id, ImageId::parse)?;
    let view = state.vault.get_image(&caller.account, id).await?;
    Ok(Json(ImageBody::new(view, &state)))
}

/// Delete one of the caller's images with its thumbnails and expiring links.
#[utoipa::path(delete, path = "/api/images/{id}/", tag = "images",
    security(("basic" = []), ("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The image id")),
    responses(
        (status = 204, description = "Deleted; its media URLs answer 404"),
        (status = 401, description = "No or bad credentials", body = DetailBody),
        (status = 403, description = "The user has no plan", body = DetailBody),
        (status = 404, description = "Unknown, malformed, or another user's", body = DetailBody),
    ))]
pub(crate) async fn delete_image(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.account.require_plan()?;
    let id = path_id(&id, ImageId::parse)?;
    state.vault.delete_image(&caller.account, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
