//! `/images/<id>/`: one image with every thumbnail its owner's plan gives, the original when
//! the plan links it, its facts and its expiring links; `/images/<id>/delete/`, its
//! deletion behind a confirmation page.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use imagevault_core::{ImageId, ImageView, ThumbnailStatus, ThumbnailView};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;

use super::format;
use super::gallery::{pending_box, placeholder_style};
use super::html::{PageError, PageResult, Viewer, page, see_other};
use super::links::{self, LinkForms};
use super::login::CsrfForm;
use super::session::SignedIn;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ImageQuery {
    /// The page of the image's links to show.
    links_cursor: Option<String>,
}

/// The image id of a path, or the 404 page: a malformed id names no image, as an unknown one.
pub(super) fn image_id(text: &str, prefix: &str) -> Result<ImageId, PageError> {
    ImageId::parse(text).ok_or_else(|| PageError::not_found(prefix))
}

/// One thumbnail as the image page shows it: the picture once made, else its status; the
/// image's average colour (`style`) fills its box until the picture shows.
fn thumbnail_figure(
    viewer: &Viewer<'_>,
    name: &str,
    thumbnail: &ThumbnailView,
    style: Option<&str>,
) -> Markup {
    html! {
        figure.thumbnail data-max-height=(thumbnail.max_height) {
            @match (&thumbnail.status, &thumbnail.storage_key) {
                (ThumbnailStatus::Ready, Some(key)) => {
                    a href=(viewer.href(&format!("/media/{}", key.as_str()))) {
                        img src=(viewer.href(&format!("/media/{}", key.as_str())))
                            width=(thumbnail.width) height=(thumbnail.height)
                            alt=(format!("{name}, {} pixels high", thumbnail.height))
                            style=[style];
                    }
                }
                (ThumbnailStatus::Failed, _) => span.thumb-status.failed { "Thumbnail failed" },
                _ => (pending_box(style)),
            }
            figcaption {
                (thumbnail.max_height) " px thumbnail"
                @if thumbnail.status == ThumbnailStatus::Ready {
                    " (" (thumbnail.width) " × " (thumbnail.height) ")"
                }
            }
        }
    }
}

fn image_body(viewer: &Viewer<'_>, view: &ImageView, links_section: Markup) -> Markup {
    let image = &view.image;
    let id = image.id.to_string();
    let name = image.name.as_str();
    let style = placeholder_style(image);
    html! {
        h1 { (name) }
        section aria-labelledby="details-heading" {
            h2 #details-heading { "Details" }
            dl.facts #image-facts {
                dt { "Name" } dd.image-name { (name) }
                dt { "Size" } dd.image-size { (format::size(image.size)) " (" (image.size) " bytes)" }
                dt { "Format" } dd.image-format { (image.format.as_str().to_uppercase()) }
                dt { "Dimensions" } dd.image-dimensions { (image.width) " × " (image.height) " pixels" }
                dt { "Uploaded" } dd.image-created {
                    (format::time(image.created_at))
                }
                @if let Some(removed) = &image.metadata_removed {
                    dt { "Private metadata" } dd.image-metadata-removed {
                        @if removed.is_empty() {
                            "None found"
                        } @else {
                            "Removed at upload: " (removed.kinds().iter().map(|kind| kind.name()).collect::<Vec<_>>().join(", "))
                        }
                    }
                }
            }
        }
        section aria-labelledby="thumbnails-heading" {
            h2 #thumbnails-heading { "Thumbnails" }
            @if view.thumbnails.is_empty() {
                p { "Your plan gives no thumbnails." }
            } @else {
                div.thumbs #thumbnails data-image-id=(id) {
                    @for thumbnail in &view.thumbnails {
                        (thumbnail_figure(viewer, name, thumbnail, style.as_deref()))
                    }
                }
            }
        }
        section aria-labelledby="original-heading" {
            h2 #original-heading { "Original" }
            @match &view.original {
                Some(key) => {
                    @let href = viewer.href(&format!("/media/{}", key.as_str()));
                    p { a #original-link href=(href) { "Open the original" } " (" (format::size(image.size)) ")" }
                    img.original-preview src=(href) width=(image.width) height=(image.height)
                        alt=(format!("{name}, the original")) loading="lazy";
                }
                None => p #no-original { "Your plan does not link the original upload." },
            }
        }
        (links_section)
        section aria-labelledby="delete-heading" {
            h2 #delete-heading { "Delete" }
            form #delete-image method="get" action=(viewer.href(&format!("/images/{id}/delete/"))) {
                button.danger type="submit" { "Delete this image…" }
            }
        }
    }
}

/// Renders the image page with `status`, the link forms as `forms` left them (what was
/// typed, and the errors next to the fields).
pub(super) async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    id: ImageId,
    links_cursor: Option<&str>,
    forms: &LinkForms,
    status: StatusCode,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let view = state
        .vault
        .get_image(&signed_in.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let viewer = Viewer {
        prefix,
        signed_in: Some(signed_in),
    };
    let links_section = links::section(state, &viewer, signed_in, id, links_cursor, forms).await?;
    let title = view.image.name.as_str().to_owned();
    let body = image_body(&viewer, &view, links_section);
    Ok((status, page(&viewer, &title, body)).into_response())
}

/// `GET /images/<id>/`: the image page.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<ImageQuery>,
) -> PageResult {
    let id = image_id(&id, state.config.path_prefix())?;
    render(
        &state,
        &signed_in,
        id,
        query.links_cursor.as_deref(),
        &LinkForms::default(),
        StatusCode::OK,
    )
    .await
}

/// `GET /images/<id>/delete/`: asks before deleting.
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let id = image_id(&id, prefix)?;
    let view = state
        .vault
        .get_image(&signed_in.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let viewer = Viewer {
        prefix,
        signed_in: Some(&signed_in),
    };
    let name = view.image.name.as_str();
    let body = html! {
        h1 { "Delete “" (name) "”?" }
        p {
            "The image, its thumbnails and its expiring links will be deleted, and their "
            "URLs stop working at once. This cannot be undone."
        }
        form #confirm-delete method="post" action=(viewer.href(&format!("/images/{id}/delete/"))) {
            (viewer.csrf_field())
            div.actions {
                button.danger type="submit" { "Delete" }
                a href=(viewer.href(&format!("/images/{id}/"))) { "Cancel" }
            }
        }
    };
    Ok(page(&viewer, &format!("Delete {name}"), body).into_response())
}

/// `POST /images/<id>/delete/`: deletes the image and goes back to the gallery.
pub(crate) async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = image_id(&id, prefix)?;
    state
        .vault
        .delete_image(&signed_in.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other(&format!("{prefix}/")))
}
