//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the
//! interactive page that shows it (Swagger UI, served from files built into the binary).

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

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
        links::patch_link,
        links::delete_link,
        admin::list_plans,
        admin::create_plan,
        admin::get_plan,
        admin::update_plan,
        admin::patch_plan,
        admin::delete_plan,
        admin::list_users,
        admin::create_user,
        admin::get_user,
        admin::update_user,
        admin::patch_user,
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

/// `/api/schema/` (both spellings) and the Swagger UI page at `/api/docs/`.
pub(crate) fn docs_router() -> Router {
    let document = std::sync::Arc::new(openapi());
    let schema = {
        let document = document.clone();
        get(move || {
            let document = document.clone();
            async move { axum::Json(document.as_ref().clone()) }
        })
    };
    Router::new()
        .route("/api/schema/", schema.clone())
        .route("/api/schema", schema)
        .merge(SwaggerUi::new("/api/docs").config(Config::new(["/api/schema/"])))
}
