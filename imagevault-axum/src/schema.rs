//! The JSON bodies of the API, as Rust types: what handlers serialise and what the
//! OpenAPI document describes. Request bodies are parsed by [`crate::payload`], field by
//! field; the request types here exist for the document.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use imagevault_core::{
    ExpirySeconds, ImageView, LinkView, MetadataKind, MetadataRemoved, PageLimit, Placeholder,
    Plan, QuotaLimits, QuotaOverride, QuotaStatus, ThumbnailFormat, User,
};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// RFC 3339 in UTC with a `Z`, with fractional seconds only when there are any.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An `int32` schema from `minimum` to `maximum`. Attributes take only literals, so the
/// bounds the core enforces reach the document through schemas built here.
fn bounded_integer(minimum: u32, maximum: u32) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(minimum))
        .maximum(Some(maximum))
}

/// `expiry_in_seconds`: from [`ExpirySeconds::MIN`] to [`ExpirySeconds::MAX`]. Fields use it
/// with `#[schema(value_type = ExpiryInSeconds, inline)]`.
#[derive(Debug)]
pub(crate) struct ExpiryInSeconds;

impl PartialSchema for ExpiryInSeconds {
    fn schema() -> RefOr<Schema> {
        bounded_integer(ExpirySeconds::MIN, ExpirySeconds::MAX).into()
    }
}

impl ToSchema for ExpiryInSeconds {}

/// `?limit=`: from [`PageLimit::MIN`] to [`PageLimit::MAX`], [`PageLimit::DEFAULT`] when
/// absent.
#[derive(Debug)]
pub(crate) struct PageLimitParam;

impl PartialSchema for PageLimitParam {
    fn schema() -> RefOr<Schema> {
        bounded_integer(PageLimit::MIN, PageLimit::MAX)
            .default(Some(PageLimit::DEFAULT.get().into()))
            .into()
    }
}

impl ToSchema for PageLimitParam {}

/// The example of [`FieldErrorsBody`]: the core's own message for an expiry out of range.
fn field_errors_example() -> serde_json::Value {
    let error = ExpirySeconds::out_of_range();
    serde_json::json!({ error.field: [error.message] })
}

/// An uploaded image, with links to what the owner's plan grants.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImageBody {
    id: Uuid,
    /// This image's URL in the API.
    url: String,
    name: String,
    /// `jpeg` or `png`, as detected from the content.
    #[schema(example = "jpeg")]
    format: &'static str,
    /// Width as displayed (EXIF orientation applied).
    width: u32,
    /// Height as displayed (EXIF orientation applied).
    height: u32,
    /// The stored original's size in bytes: after metadata removal, when there was any.
    size: u64,
    #[schema(format = DateTime)]
    created_at: String,
    /// What was removed from the upload before the original was stored, when the owner's
    /// plan had `strip_metadata` at upload: an empty list when there was nothing to remove.
    /// Null when the upload was stored as it came.
    #[schema(value_type = Option<MetadataRemovedList>)]
    metadata_removed: Option<MetadataRemoved>,
    /// The original's media URL; present only when the owner's plan has `original_link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    original: Option<String>,
    /// One entry per height of the owner's current plan, ascending.
    thumbnails: Vec<ThumbnailBody>,
    /// A [ThumbHash](https://evanw.github.io/thumbhash/) of the image (5 to 25 bytes, in
    /// standard base64 with padding), to draw a blurred placeholder while the thumbnails
    /// load; `null` until the worker has made them.
    #[schema(example = "1QcSHQRnh493V4dIh4eXh1h4kJUI")]
    placeholder: Option<String>,
    /// The average colour of the image's visible pixels as `#rrggbb` (each pixel weighted
    /// by its alpha), a background while the thumbnails load; `null` until the worker has
    /// made them.
    #[schema(example = "#6b7f8a", pattern = "^#[0-9a-f]{6}$")]
    average_color: Option<String>,
}

/// `metadata_removed`: unique names from [`MetadataKind::ALL`], in that order.
#[derive(Debug)]
pub(crate) struct MetadataRemovedList;

impl PartialSchema for MetadataRemovedList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(MetadataKind::ALL.map(MetadataKind::name))),
            )
            .unique_items(true)
            .into()
    }
}

impl ToSchema for MetadataRemovedList {}

/// One thumbnail of an image.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ThumbnailBody {
    max_height: u32,
    width: u32,
    height: u32,
    /// `pending`, `ready` or `failed`.
    #[schema(example = "ready")]
    status: &'static str,
    /// The media URL, once ready.
    url: Option<String>,
    /// The WebP variant's media URL (`image/webp`), once ready; present only when the
    /// owner's plan lists `webp` in `thumbnail_formats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = Option<String>)]
    webp_url: Option<Option<String>>,
}

impl ImageBody {
    /// The image's URL in the API, for `Location`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn new(view: ImageView, state: &AppState) -> Self {
        let image = view.image;
        let mut id_buffer = Uuid::encode_buffer();
        let id: &str = image.id.as_uuid().hyphenated().encode_lower(&mut id_buffer);
        let placeholder = image.placeholder.as_ref();
        Self {
            placeholder: placeholder.map(Placeholder::thumbhash_base64),
            average_color: placeholder.map(|placeholder| placeholder.average_color().to_hex()),
            url: state.absolute_from(&["/api/images/", id, "/"]),
            id: image.id.as_uuid(),
            name: image.name.as_str().to_owned(),
            format: image.format.as_str(),
            width: image.width,
            height: image.height,
            size: image.size,
            created_at: timestamp(image.created_at),
            metadata_removed: image.metadata_removed,
            original: view
                .original
                .map(|key| state.absolute_from(&["/media/", key.as_str()])),
            thumbnails: view
                .thumbnails
                .into_iter()
                .map(|thumbnail| ThumbnailBody {
                    max_height: thumbnail.max_height,
                    width: thumbnail.width,
                    height: thumbnail.height,
                    status: thumbnail.status.as_str(),
                    url: thumbnail
                        .storage_key
                        .map(|key| state.absolute_from(&["/media/", key.as_str()])),
                    webp_url: thumbnail
                        .webp_storage_key
                        .map(|key| key.map(|key| state.absolute_from(&["/media/", key.as_str()]))),
                })
                .collect(),
        }
    }
}

/// An expiring link to an image's original.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkBody {
    id: Uuid,
    /// The image whose original the link serves.
    base_image: Uuid,
    #[schema(value_type = ExpiryInSeconds, inline)]
    expiry_in_seconds: u32,
    #[schema(format = DateTime)]
    created_at: String,
    /// Always `created_at + expiry_in_seconds`.
    #[schema(format = DateTime)]
    expires_at: String,
    expired: bool,
    /// The anonymous media URL of the link.
    url: String,
}

impl LinkBody {
    pub(crate) fn new(view: LinkView, state: &AppState) -> Self {
        let link = view.link;
        Self {
            id: link.id.as_uuid(),
            base_image: link.image_id.as_uuid(),
            expiry_in_seconds: link.expiry_seconds.get(),
            created_at: timestamp(link.created_at),
            expires_at: timestamp(link.expires_at),
            expired: view.expired,
            url: state.absolute_from(&["/media/", &view.media_path]),
        }
    }
}

/// A plan: which thumbnails every image gets and which links its users may have.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlanBody {
    id: Uuid,
    name: String,
    /// Ascending and unique.
    #[schema(example = json!([200, 400]))]
    thumbnail_heights: Vec<u32>,
    /// The formats each thumbnail is made in: always `original`, and `webp` for an extra
    /// WebP file of each (`webp_url`).
    #[schema(value_type = Vec<ThumbnailFormatName>, example = json!(["original", "webp"]))]
    thumbnail_formats: Vec<&'static str>,
    original_link: bool,
    expiring_links: bool,
    /// The most images each user may keep; null for no limit.
    #[schema(value_type = Option<ImageLimit>)]
    max_images: Option<u64>,
    /// The most bytes of originals each user may keep; null for no limit.
    #[schema(value_type = Option<ByteLimit>)]
    max_bytes: Option<u64>,
    /// Whether uploads lose their private metadata (EXIF but the orientation, XMP, IPTC,
    /// comments, text chunks) before the original is stored.
    strip_metadata: bool,
}

impl From<Plan> for PlanBody {
    fn from(plan: Plan) -> Self {
        Self {
            id: plan.id.as_uuid(),
            name: plan.name.as_str().to_owned(),
            thumbnail_heights: plan.thumbnail_heights.pixels().collect(),
            thumbnail_formats: plan
                .thumbnail_formats
                .as_slice()
                .iter()
                .map(|format| format.as_str())
                .collect(),
            original_link: plan.original_link,
            expiring_links: plan.expiring_links,
            max_images: plan.quota.max_images,
            max_bytes: plan.quota.max_bytes,
            strip_metadata: plan.strip_metadata,
        }
    }
}

/// One of [`ThumbnailFormat::ALL`]'s names, as a string enum.
#[derive(Debug)]
pub(crate) struct ThumbnailFormatName;

impl PartialSchema for ThumbnailFormatName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ThumbnailFormat::ALL.map(ThumbnailFormat::as_str)))
            .into()
    }
}

impl ToSchema for ThumbnailFormatName {}

/// `max_images`: from 0 to [`QuotaLimits::MAX_IMAGES`].
#[derive(Debug)]
pub(crate) struct ImageLimit;

impl PartialSchema for ImageLimit {
    fn schema() -> RefOr<Schema> {
        bounded_int64(QuotaLimits::MAX_IMAGES).into()
    }
}

impl ToSchema for ImageLimit {}

/// `max_bytes`: from 0 to [`QuotaLimits::MAX_BYTES`].
#[derive(Debug)]
pub(crate) struct ByteLimit;

impl PartialSchema for ByteLimit {
    fn schema() -> RefOr<Schema> {
        bounded_int64(QuotaLimits::MAX_BYTES).into()
    }
}

impl ToSchema for ByteLimit {}

/// An `int64` schema from 0 to `maximum`.
fn bounded_int64(maximum: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(maximum as f64))
}

/// A user's override of `max_images`: null takes the plan's, `"unlimited"` lifts it, a
/// number replaces it.
#[derive(Debug)]
pub(crate) struct ImageLimitOverride;

impl PartialSchema for ImageLimitOverride {
    fn schema() -> RefOr<Schema> {
        override_schema(QuotaLimits::MAX_IMAGES)
    }
}

impl ToSchema for ImageLimitOverride {}

/// A user's override of `max_bytes`, as [`ImageLimitOverride`].
#[derive(Debug)]
pub(crate) struct ByteLimitOverride;

impl PartialSchema for ByteLimitOverride {
    fn schema() -> RefOr<Schema> {
        override_schema(QuotaLimits::MAX_BYTES)
    }
}

impl ToSchema for ByteLimitOverride {}

/// null, `"unlimited"` or a number from 0 to `maximum`.
fn override_schema(maximum: u64) -> RefOr<Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(bounded_int64(maximum))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([QuotaOverride::UNLIMITED_WORD])),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// An override as JSON: null, `"unlimited"` or the number.
fn override_json(value: QuotaOverride) -> serde_json::Value {
    match value {
        QuotaOverride::Plan => serde_json::Value::Null,
        QuotaOverride::Unlimited => QuotaOverride::UNLIMITED_WORD.into(),
        QuotaOverride::Limit(limit) => limit.into(),
    }
}

/// A user's effective limits (null for none) and what their images take up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuotaBody {
    /// The most images the user may keep: their override, else their plan's.
    max_images: Option<u64>,
    /// The most bytes of originals the user may keep: their override, else their plan's.
    max_bytes: Option<u64>,
    /// How many images the user has.
    images: u64,
    /// The bytes of the user's originals together.
    bytes: u64,
    /// Whether usage is above a limit (a limit may be lowered below it); no upload is
    /// accepted until enough is deleted.
    over_limit: bool,
}

impl From<QuotaStatus> for QuotaBody {
    fn from(status: QuotaStatus) -> Self {
        Self {
            max_images: status.limits.max_images,
            max_bytes: status.limits.max_bytes,
            images: status.usage.images,
            bytes: status.usage.bytes,
            over_limit: status.is_over_limit(),
        }
    }
}

/// A user as administrators see it; the password is write-only.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserBody {
    id: Uuid,
    username: String,
    /// The plan's id, or null.
    plan: Option<Uuid>,
    is_admin: bool,
    /// Overrides the plan's `max_images`: null takes the plan's, `"unlimited"` lifts it.
    #[schema(value_type = ImageLimitOverride)]
    max_images: serde_json::Value,
    /// Overrides the plan's `max_bytes`: null takes the plan's, `"unlimited"` lifts it.
    #[schema(value_type = ByteLimitOverride)]
    max_bytes: serde_json::Value,
    /// The limits that apply and the usage.
    quota: QuotaBody,
}

impl UserBody {
    pub(crate) fn new(user: User, quota: QuotaStatus) -> Self {
        Self {
            id: user.id.as_uuid(),
            username: user.username.as_str().to_owned(),
            plan: user.plan_id.map(|plan| plan.as_uuid()),
            is_admin: user.is_admin,
            max_images: override_json(user.quota.max_images),
            max_bytes: override_json(user.quota.max_bytes),
            quota: quota.into(),
        }
    }
}

/// The caller's own account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeBody {
    pub(crate) id: Uuid,
    pub(crate) username: String,
    pub(crate) is_admin: bool,
    pub(crate) plan: Option<PlanBody>,
    /// The caller's limits and usage.
    pub(crate) quota: QuotaBody,
}

/// A new API token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenBody {
    /// Send it as `Authorization: Bearer <token>` (or `Token <token>`).
    pub(crate) token: String,
    /// When the token stops working; left out when it does not expire (the default: the
    /// server sets no token lifetime).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PageBody<T> {
    /// The next (older) page, or null on the last page.
    pub(crate) next: Option<String>,
    /// The previous (newer) page, or null on the first page.
    pub(crate) previous: Option<String>,
    pub(crate) results: Vec<T>,
}

/// Room for one item of a page, so that a page's JSON is written into one buffer sized up
/// front: an image with its links takes about 750 bytes.
const PAGE_BYTES_PER_ITEM: usize = 1024;

impl<T: Serialize> IntoResponse for PageBody<T> {
    /// The page as JSON, like [`axum::Json`], but written into a buffer sized for the whole
    /// page: `Json` starts from 128 bytes and regrew (and copied) a 15 KB page seven times.
    fn into_response(self) -> Response {
        let mut buffer = Vec::with_capacity(PAGE_BYTES_PER_ITEM * self.results.len() + 512);
        match serde_json::to_writer(&mut buffer, &self) {
            Ok(()) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                buffer,
            )
                .into_response(),
            Err(error) => ApiError::detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("The page could not be written as JSON: {error}"),
            )
            .into_response(),
        }
    }
}

/// `{"detail": "..."}`: every error that is not about one field.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DetailBody {
    detail: String,
}

/// `{"field": ["message", ...]}`: what was wrong with each field.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = field_errors_example)]
pub(crate) struct FieldErrorsBody(std::collections::BTreeMap<String, Vec<String>>);

/// Log in with a username and password to get a token.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenRequest {
    #[schema(min_length = 1)]
    username: String,
    #[schema(format = Password, min_length = 1)]
    password: String,
}

/// The bytes of an image file.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct ImageFile(Vec<u8>);

/// An image upload (`multipart/form-data`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The PNG or JPEG file.
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    // Lengths here and below: crate::openapi::FieldLimits, from the core's constants.
    /// Display name; defaults to the file name.
    name: Option<String>,
}

/// A new expiring link. `expiry_in_seconds` is how long it stays valid, a number or a
/// string of digits.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct LinkCreate {
    base_image: Uuid,
    // Bounds only: a description here would wrap the inlined schema in an `allOf`.
    #[schema(value_type = ExpiryInSeconds, inline)]
    expiry_in_seconds: u32,
}

/// A new lifetime for a link, counted from its creation.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct LinkUpdate {
    #[schema(value_type = ExpiryInSeconds, inline)]
    expiry_in_seconds: u32,
}

/// A plan to create or replace.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct PlanWrite {
    name: String,
    /// Heights in pixels, no duplicates.
    thumbnail_heights: Vec<u32>,
    /// Must include `original`, no duplicates; default `["original"]`. Left out on
    /// update: kept.
    #[schema(value_type = Option<Vec<ThumbnailFormatName>>, example = json!(["original", "webp"]))]
    thumbnail_formats: Option<Vec<String>>,
    #[schema(default = false)]
    original_link: Option<bool>,
    #[schema(default = false)]
    expiring_links: Option<bool>,
    /// The most images each user may keep; null (the default) for no limit.
    #[schema(value_type = Option<ImageLimit>)]
    max_images: Option<u64>,
    /// The most bytes of originals each user may keep; null (the default) for no limit.
    #[schema(value_type = Option<ByteLimit>)]
    max_bytes: Option<u64>,
    /// Whether uploads lose their private metadata before the original is stored; on
    /// `PUT`, absent keeps the plan's current value. Images already stored keep theirs.
    #[schema(default = false)]
    strip_metadata: Option<bool>,
}

/// A user to create or replace. On `PUT` without `password`, the password is kept.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct UserWrite {
    /// Letters, digits and `@.+-_`.
    username: String,
    /// Write-only; `minLength` counts characters, `maxLength` bytes (UTF-8).
    #[schema(format = Password)]
    password: Option<String>,
    plan: Option<Uuid>,
    #[schema(default = false)]
    is_admin: Option<bool>,
    /// Overrides the plan's `max_images`: left out keeps the override, null takes the
    /// plan's, `"unlimited"` lifts it, a number replaces it.
    #[schema(value_type = ImageLimitOverride)]
    max_images: Option<serde_json::Value>,
    /// Overrides the plan's `max_bytes`, as `max_images`.
    #[schema(value_type = ByteLimitOverride)]
    max_bytes: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn a_page_is_written_as_the_same_json_with_a_json_content_type() {
        let page = PageBody {
            next: Some("http://127.0.0.1:8000/api/admin/users/?cursor=abc".to_owned()),
            previous: None,
            results: (0..3)
                .map(|number| UserBody {
                    id: Uuid::from_u128(number),
                    username: format!("user \"{number}\"\n"),
                    plan: None,
                    is_admin: number == 0,
                    max_images: serde_json::Value::Null,
                    max_bytes: serde_json::Value::Null,
                    quota: QuotaStatus::default().into(),
                })
                .collect(),
        };
        let expected = serde_json::to_vec(&page).unwrap();
        let response = page.into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, expected);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["results"][2]["username"], "user \"2\"\n");
    }
}
