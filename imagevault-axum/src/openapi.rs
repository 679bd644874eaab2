//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the
//! interactive page that shows it (Swagger UI, served from files built into the binary).

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use imagevault_core::{
    ImageFormat, ImageName, Password, PlanName, ThumbnailHeight, ThumbnailHeights, Username,
};
use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{ArrayItems, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::Config;

use crate::config::RouterConfig;
use crate::error::ApiError;
use crate::routes::{account, admin, images, links, media, service};
use crate::schema;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "imagevault",
        description = "Upload PNG and JPEG images, get thumbnails for your plan, and share originals through expiring links. Authenticate with HTTP Basic or with a token from `POST /api/auth/token/` (`Authorization: Bearer <token>`). Errors are `{\"detail\": \"...\"}`, or `{\"field\": [\"message\"]}` with 400.",
    ),
    paths(
        service::healthz,
        service::readyz,
        account::create_token,
        account::revoke_token,
        account::me,
        images::upload_image,
        images::list_images,
        images::get_image,
        images::delete_image,
        links::create_link,
        links::list_links,
        links::get_link,
        links::update_link,
        links::delete_link,
        admin::list_plans,
        admin::create_plan,
        admin::get_plan,
        admin::update_plan,
        admin::delete_plan,
        admin::list_users,
        admin::create_user,
        admin::get_user,
        admin::update_user,
        admin::delete_user,
        admin::revoke_user_tokens,
        media::serve_media,
    ),
    components(schemas(
        schema::ImageBody,
        schema::ThumbnailBody,
        schema::LinkBody,
        schema::PlanBody,
        schema::UserBody,
        schema::MeBody,
        schema::QuotaBody,
        schema::TokenBody,
        schema::DetailBody,
        schema::FieldErrorsBody,
        schema::ImageFile,
    )),
    modifiers(&SecuritySchemes, &CommonResponses, &ImageContentTypes, &FieldLimits),
    tags(
        (name = "auth", description = "Tokens and the caller's account"),
        (name = "images", description = "Upload, list, read and delete images"),
        (name = "expiring links", description = "Links to originals that stop working after a time (plans with expiring links)"),
        (name = "media", description = "The files, served anonymously"),
        (name = "admin", description = "Plans and users (administrators)"),
        (name = "service", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from POST /api/auth/token/; `Token <token>` works too",
                    ))
                    .build(),
            ),
        );
    }
}

/// The image media types of the raw upload body and of served files: one per format the
/// core accepts ([`ImageFormat::ALL`]), so that a new format reaches the document without
/// an annotation (which could only list literals).
struct ImageContentTypes;

impl Modify for ImageContentTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let image_file = || RefOr::T(Content::new(Some(Ref::from_schema_name("ImageFile"))));
        let mime_types = || ImageFormat::ALL.map(|format| format.content_type().to_owned());
        for (path, item) in &mut openapi.paths.paths {
            if path == "/api/images/"
                && let Some(RefOr::T(body)) = item
                    .post
                    .as_mut()
                    .and_then(|upload| upload.request_body.as_mut())
            {
                body.content
                    .extend(mime_types().map(|mime| (mime, image_file())));
            }
            if path.starts_with("/media/")
                && let Some(get) = item.get.as_mut()
            {
                // Served files may also be thumbnails' WebP variants (MediaFormat::ALL).
                let served = || {
                    imagevault_core::MediaFormat::ALL.map(|format| format.content_type().to_owned())
                };
                for status in ["200", "206"] {
                    if let Some(RefOr::T(response)) = get.responses.responses.get_mut(status) {
                        response
                            .content
                            .extend(served().map(|mime| (mime, image_file())));
                    }
                }
            }
        }
    }
}

/// The lengths and counts of request fields, from the core's constants: annotations could
/// only repeat them as literals.
struct FieldLimits;

impl Modify for FieldLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            let lengths = [
                ("UploadForm", "name", 1, ImageName::MAX_CHARS),
                ("PlanWrite", "name", 1, PlanName::MAX_CHARS),
                ("UserWrite", "username", 1, Username::MAX_CHARS),
                (
                    "UserWrite",
                    "password",
                    Password::MIN_CHARS,
                    Password::MAX_BYTES,
                ),
            ];
            for (schema, field, min, max) in lengths {
                if let Some(Schema::Object(object)) = property(components, schema, field) {
                    object.min_length = Some(min);
                    object.max_length = Some(max);
                }
            }
            if let Some(Schema::Array(heights)) =
                property(components, "PlanWrite", "thumbnail_heights")
            {
                heights.min_items = Some(1);
                heights.max_items = Some(ThumbnailHeights::MAX_COUNT);
            }
            for schema in components.schemas.values_mut() {
                if let RefOr::T(schema) = schema {
                    bound_heights(schema);
                }
            }
        }
        let raw_upload = openapi
            .paths
            .paths
            .get_mut("/api/images/")
            .and_then(|item| item.post.as_mut())
            .and_then(|upload| upload.parameters.as_mut());
        for parameter in raw_upload.into_iter().flatten() {
            if let RefOr::T(parameter) = parameter
                && parameter.name == "name"
                && let Some(RefOr::T(Schema::Object(name))) = parameter.schema.as_mut()
            {
                name.min_length = Some(1);
                name.max_length = Some(ImageName::MAX_CHARS);
            }
        }
    }
}

/// Bounds every height of every `thumbnail_heights` in `schema`, at any depth (a plan is
/// also inlined in its list's page).
fn bound_heights(schema: &mut Schema) {
    match schema {
        Schema::Object(object) => {
            for (name, property) in &mut object.properties {
                let RefOr::T(property) = property else {
                    continue;
                };
                if name == "thumbnail_heights"
                    && let Schema::Array(heights) = property
                    && let ArrayItems::RefOrSchema(height) = &mut heights.items
                    && let RefOr::T(Schema::Object(height)) = height.as_mut()
                {
                    height.minimum = Some(ThumbnailHeight::MIN.into());
                    height.maximum = Some(ThumbnailHeight::MAX.into());
                } else {
                    bound_heights(property);
                }
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items
                && let RefOr::T(items) = items.as_mut()
            {
                bound_heights(items);
            }
        }
        _ => {}
    }
}

/// The property `field` of the component schema `schema`, if both are inline objects.
fn property<'a>(
    components: &'a mut utoipa::openapi::Components,
    schema: &str,
    field: &str,
) -> Option<&'a mut Schema> {
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return None;
    };
    match object.properties.get_mut(field) {
        Some(RefOr::T(property)) => Some(property),
        _ => None,
    }
}

/// Answers that any operation of a kind can give, added where a handler's annotation does
/// not list them, so that the document covers every status the server sends:
/// - 429 on every authenticated operation: bad credentials are throttled per username
///   (Basic) and per client address (tokens), whatever the endpoint;
/// - 503 on every `/api/` and `/media/` operation: a backend is unavailable, or the
///   request ran over the server's time limit;
/// - a 400 documented as field errors may also be `{"detail": ...}`, when the body could
///   not be parsed at all.
///
/// It also documents that `PATCH` bodies may be empty (nothing changes), and that empty
/// `?limit=` and `?base_image=` mean the parameter is absent.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;

        let detail = || RefOr::Ref(Ref::from_schema_name("DetailBody"));
        let field_errors = Ref::from_schema_name("FieldErrorsBody");
        for (path, item) in &mut openapi.paths.paths {
            let served = path.starts_with("/api/") || path.starts_with("/media/");
            if let Some(RefOr::T(body)) = item
                .patch
                .as_mut()
                .and_then(|patch| patch.request_body.as_mut())
            {
                body.required = Some(Required::False);
            }
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let authenticated = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                let responses = &mut operation.responses.responses;
                if authenticated {
                    responses.entry("429".to_owned()).or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(
                                "Too many failed logins: for this username (Basic) or from this \
                                 address (bad tokens); wait `Retry-After` seconds",
                            )
                            .content("application/json", Content::new(Some(detail())))
                            .header(
                                "Retry-After",
                                Header::new(ObjectBuilder::new().schema_type(Type::Integer)),
                            )
                            .build()
                            .into()
                    });
                }
                if served {
                    responses.entry("503".to_owned()).or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(
                                "A backend (database, storage or queue) is unavailable, or the \
                                 request took longer than the server allows; try again later",
                            )
                            .content("application/json", Content::new(Some(detail())))
                            .build()
                            .into()
                    });
                }
                if let Some(RefOr::T(bad_request)) = responses.get_mut("400") {
                    for content in bad_request.content.values_mut() {
                        if let RefOr::T(content) = content
                            && matches!(&content.schema, Some(RefOr::Ref(schema)) if *schema == field_errors)
                        {
                            content.schema = Some(
                                OneOfBuilder::new()
                                    .item(field_errors.clone())
                                    .item(detail())
                                    .into(),
                            );
                        }
                    }
                }
            }
        }
        allow_empty_values(openapi, &["limit", "base_image"]);
    }
}

/// Documents that an empty value of the query parameters `names` means the parameter is
/// absent, as in Django REST Framework (`?limit=` is the default page size, `?base_image=`
/// no filter): each one's schema also admits `""`.
fn allow_empty_values(openapi: &mut utoipa::openapi::OpenApi, names: &[&str]) {
    let parameters = openapi
        .paths
        .paths
        .values_mut()
        .filter_map(|item| item.get.as_mut())
        .filter_map(|operation| operation.parameters.as_mut())
        .flatten();
    for parameter in parameters {
        if let RefOr::T(parameter) = parameter
            && names.contains(&parameter.name.as_str())
            && let Some(schema) = parameter.schema.take()
        {
            parameter.schema = Some(
                OneOfBuilder::new()
                    .item(schema)
                    .item(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some([""])),
                    )
                    .into(),
            );
        }
    }
}

/// The OpenAPI 3.1 document of the API, as served at `/api/schema/`.
///
/// ```
/// let document = imagevault_axum::openapi();
/// assert!(document.paths.paths.contains_key("/api/images/"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// `/api/schema/` and the Swagger UI page at `/api/docs/`, each on both spellings.
pub(crate) fn docs_router(config: &RouterConfig) -> Router {
    // The document never changes while the process runs: serialise it once, not per request.
    let document = bytes::Bytes::from(serde_json::to_vec(&openapi()).unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI document could not be serialised");
        b"{}".to_vec()
    }));
    let schema = get(move || {
        let document = document.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], document) }
    });
    // Absolute URLs, so the page works behind a path prefix and at either spelling.
    let base = format!("{}/api/docs/", config.public_url());
    let swagger = Arc::new(Config::new([format!(
        "{}/api/schema/",
        config.public_url()
    )]));
    let files = {
        let swagger = swagger.clone();
        get(move |Path(file): Path<String>| {
            let swagger = swagger.clone();
            async move { docs_file(&file, swagger, None) }
        })
    };
    let index = get(move || {
        let swagger = swagger.clone();
        let base = base.clone();
        async move { docs_file("index.html", swagger, Some(&base)) }
    });
    Router::new()
        .route("/api/schema/", schema.clone())
        .route("/api/schema", schema)
        .route("/api/docs/", index.clone())
        .route("/api/docs", index)
        .route("/api/docs/{*file}", files)
}

/// One file of the built-in Swagger UI. The index page gets a `<base>` so that its
/// relative links resolve under `/api/docs/` even when it is served at `/api/docs`.
fn docs_file(file: &str, swagger: Arc<Config<'static>>, base: Option<&str>) -> Response {
    match utoipa_swagger_ui::serve(file, swagger) {
        Ok(Some(found)) => {
            let content_type = found.content_type;
            let mut bytes = found.bytes.into_owned();
            if let Some(base) = base {
                let html = String::from_utf8_lossy(&bytes).replacen(
                    "<head>",
                    &format!("<head><base href=\"{base}\">"),
                    1,
                );
                bytes = html.into_bytes();
            }
            let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
            if found.gzpipped {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => ApiError::not_found().into_response(),
        Err(error) => {
            tracing::error!(%error, file, "the docs page could not be served");
            ApiError::detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A server error occurred.",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::openapi()).expect("the document serialises")
    }

    #[test]
    fn every_status_the_server_can_send_is_documented() {
        let document = document();
        let paths = document["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("a path item") {
                let responses = operation["responses"].as_object().expect("responses");
                let authenticated = operation["security"]
                    .as_array()
                    .is_some_and(|requirements| !requirements.is_empty());
                if authenticated {
                    assert!(responses.contains_key("429"), "{method} {path} lacks 429");
                }
                if path.starts_with("/api/") || path.starts_with("/media/") {
                    assert!(responses.contains_key("503"), "{method} {path} lacks 503");
                }
                if let Some(bad_request) = responses.get("400") {
                    let schema = &bad_request["content"]["application/json"]["schema"];
                    assert_ne!(
                        schema["$ref"], "#/components/schemas/FieldErrorsBody",
                        "{method} {path}: a 400 with field errors may also be a detail"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_filters_and_patch_bodies_are_allowed() {
        let document = document();
        let links = &document["paths"]["/api/expiring-links/"];
        let parameters = links["get"]["parameters"].as_array().expect("parameters");
        for name in ["limit", "base_image"] {
            let parameter = parameters
                .iter()
                .find(|parameter| parameter["name"] == name)
                .expect("the parameter");
            let choices = parameter["schema"]["oneOf"].as_array().expect("oneOf");
            assert!(
                choices
                    .iter()
                    .any(|choice| choice["enum"] == serde_json::json!([""])),
                "{name}: {parameter}"
            );
        }
        let patch = &document["paths"]["/api/expiring-links/{id}/"]["patch"];
        assert_eq!(patch["requestBody"]["required"], false);
    }
}
