//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the
//! interactive page that shows it (Swagger UI, served from files built into the binary).

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        media::serve_media,
    ),
    components(schemas(
        schema::ImageBody,
        schema::ThumbnailBody,
        schema::LinkBody,
        schema::PlanBody,
        schema::UserBody,
        schema::MeBody,
        schema::TokenBody,
        schema::DetailBody,
        schema::FieldErrorsBody,
    )),
    modifiers(&SecuritySchemes),
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
