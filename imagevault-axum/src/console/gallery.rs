//! `/`: the signed-in user's gallery, and `/upload/`, its upload form's target.

use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bytes::Bytes;
use imagevault_core::page::{Cursor, ListKind};
use imagevault_core::{
    Image, ImageError, ImageFormat, ImageView, Page, PageLimit, PageRequest, ReadLimitedError,
    ThumbnailStatus, ThumbnailView, Upload, VaultError, read_limited,
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::session_cookie::CSRF_FIELD;

use super::html::{PageError, PageResult, Viewer, messages, page, see_other};
use super::session::SignedIn;

/// Images per gallery page: four rows of six on a wide screen.
const GALLERY_PAGE: i64 = 24;

/// The most files one upload form may carry; the script sends files one by one, so this
/// bounds only the form posted without JavaScript.
pub(crate) const MAX_FILES_PER_FORM: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GalleryQuery {
    cursor: Option<String>,
}

/// How one file of an upload form fared.
#[derive(Debug)]
pub(crate) struct FileOutcome {
    file_name: String,
    /// The stored image's name, or the server's reasons for refusing the file.
    result: Result<String, Vec<String>>,
}

/// The smallest thumbnail of an image, as the gallery shows it.
pub(crate) fn smallest(view: &ImageView) -> Option<&ThumbnailView> {
    view.thumbnails
        .iter()
        .min_by_key(|thumbnail| thumbnail.max_height)
}

/// The `style` attribute that paints a thumbnail's box in the image's average colour while
/// the picture loads (or is still being made); `None` until the image has a placeholder.
///
/// An attribute rather than a class: the colour is the image's own. The pages' policy
/// allows it (`style-src 'unsafe-inline'`, which covers `style` attributes), and a page
/// under a stricter policy only loses the colour.
pub(crate) fn placeholder_style(image: &Image) -> Option<String> {
    image
        .placeholder
        .as_ref()
        .map(|placeholder| format!("background-color:{}", placeholder.average_color()))
}

/// A pending thumbnail's box: its status, on the image's average colour once known (the
/// words on a chip of their own, so that they stay readable on any colour).
pub(crate) fn pending_box(style: Option<&str>) -> Markup {
    html! {
        span.thumb-status.pending.has-placeholder[style.is_some()] style=[style] {
            span.thumb-status-text { "Thumbnail pending" }
        }
    }
}

/// An image's card: its smallest thumbnail when ready, else its status, which the script
/// keeps up to date. The image's average colour fills the box until the picture shows.
pub(crate) fn image_card(viewer: &Viewer<'_>, view: &ImageView) -> Markup {
    let id = view.image.id.to_string();
    let name = view.image.name.as_str();
    let thumbnail = smallest(view);
    let pending = thumbnail.is_some_and(|t| t.status == ThumbnailStatus::Pending);
    let style = placeholder_style(&view.image);
    html! {
        li.image-card data-image-id=(id) data-pending=[pending.then_some("1")] {
            a href=(viewer.href(&format!("/images/{id}/"))) {
                @match thumbnail {
                    Some(ThumbnailView { status: ThumbnailStatus::Ready, storage_key: Some(key), width, height, .. }) => {
                        // The link's text names the image already; the same words again as
                        // the picture's text would be read twice (axe: image-redundant-alt).
                        img src=(viewer.href(&format!("/media/{}", key.as_str())))
                            width=(width) height=(height) alt="" loading="lazy" style=[style];
                    }
                    Some(ThumbnailView { status: ThumbnailStatus::Failed, .. }) => {
                        span.thumb-status.failed { "Thumbnail failed" }
                    }
                    Some(_) => (pending_box(style.as_deref())),
                    None => span.thumb-status { "No thumbnail in your plan" },
                }
                span.name { (name) }
            }
        }
    }
}

fn upload_results(outcomes: &[FileOutcome]) -> Markup {
    html! {
        ul #upload-results aria-live="polite" {
            @for outcome in outcomes {
                @match &outcome.result {
                    Ok(name) => li.upload-ok data-file-name=(outcome.file_name) {
                        strong { (outcome.file_name) } ": uploaded as " (name) "."
                    },
                    Err(reasons) => li.upload-error data-file-name=(outcome.file_name) {
                        strong { (outcome.file_name) } ": not uploaded. "
                        @for reason in reasons { (reason) " " }
                    },
                }
            }
        }
    }
}

fn gallery_page(
    viewer: &Viewer<'_>,
    page_items: Result<&Page<ImageView>, String>,
    outcomes: &[FileOutcome],
) -> Markup {
    let body = html! {
        h1 { "Your images" }
        @match page_items {
            Err(message) => p.notice role="alert" { (message) },
            Ok(images) => {
                section.upload aria-labelledby="upload-heading" {
                    h2 #upload-heading { "Upload" }
                    form #upload method="post" action=(viewer.href("/upload/"))
                        enctype="multipart/form-data" {
                        (viewer.csrf_field())
                        div.dropzone {
                            label for="upload-image" { "PNG or JPEG images (several at once, or drop them here)" }
                            input #upload-image type="file" name="image" multiple
                                accept=(accepted_types()) required;
                        }
                        button type="submit" { "Upload" }
                    }
                    (upload_results(outcomes))
                }
                section aria-labelledby="images-heading" {
                    h2 #images-heading { "Images" }
                    @if images.items.is_empty() {
                        p #gallery-empty { "No images yet: upload one above." }
                    }
                    ul #gallery {
                        @for view in &images.items { (image_card(viewer, view)) }
                    }
                    nav.pager aria-label="Pages" {
                        @if let Some(previous) = &images.previous {
                            a rel="prev" href=(viewer.href(&format!("/?cursor={}", previous.encode()))) { "Newer images" }
                        }
                        @if let Some(next) = &images.next {
                            a rel="next" href=(viewer.href(&format!("/?cursor={}", next.encode()))) { "Older images" }
                        }
                    }
                }
            }
        }
    };
    page(viewer, "Your images", body)
}

async fn render_gallery(
    state: &AppState,
    signed_in: &SignedIn,
    cursor: Option<&str>,
    outcomes: &[FileOutcome],
) -> PageResult {
    let prefix = state.config.path_prefix();
    let cursor = cursor
        .filter(|text| !text.is_empty())
        .map(|text| Cursor::decode(text, ListKind::Images))
        .transpose()
        .map_err(|error| PageError::new(error, prefix))?;
    let request = PageRequest {
        limit: PageLimit::new(GALLERY_PAGE).map_err(|error| PageError::new(error, prefix))?,
        cursor,
    };
    let viewer = Viewer {
        prefix,
        signed_in: Some(signed_in),
    };
    let listed = state.vault.list_images(&signed_in.account, request).await;
    let markup = match &listed {
        Ok(images) => gallery_page(&viewer, Ok(images), outcomes),
        Err(VaultError::NoPlan) => gallery_page(
            &viewer,
            Err("You have no plan yet, so you cannot upload images; ask an administrator to assign one.".to_owned()),
            outcomes,
        ),
        Err(_) => {
            return Err(PageError::vault(
                listed.err().unwrap_or(VaultError::NotFound),
                prefix,
            ));
        }
    };
    Ok(markup.into_response())
}

/// `GET /`: the gallery, newest first.
pub(crate) async fn gallery(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<GalleryQuery>,
) -> PageResult {
    render_gallery(&state, &signed_in, query.cursor.as_deref(), &[]).await
}

/// `POST /upload/`: the upload form without JavaScript. Each file is stored or refused on
/// its own, in order, so one bad file loses none of the others; all stored, the browser
/// goes back to the gallery, else the gallery shows each file's outcome.
pub(crate) async fn upload(
    State(state): State<AppState>,
    signed_in: SignedIn,
    request: Request,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let page_error = |error: ApiError| PageError::new(error, prefix);
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|rejection| {
            page_error(ApiError::detail(
                StatusCode::BAD_REQUEST,
                rejection.body_text(),
            ))
        })?;
    let limit = state.vault.config().limits.max_bytes;
    let mut csrf_checked = false;
    let mut outcomes = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| page_error(crate::payload::multipart_error(error)))?
    {
        match field.name() {
            Some(CSRF_FIELD) => {
                let token = field.text().await.unwrap_or_default();
                signed_in.check_csrf(Some(&token), prefix)?;
                csrf_checked = true;
            }
            Some("image") => {
                // The token comes first in the form, so no file is read for a forgery.
                if !csrf_checked {
                    signed_in.check_csrf(None, prefix)?;
                }
                if outcomes.len() == MAX_FILES_PER_FORM {
                    return Err(page_error(ApiError::field(
                        "image",
                        format!("Send at most {MAX_FILES_PER_FORM} files in one form."),
                    )));
                }
                let file_name = field.file_name().unwrap_or("image").to_owned();
                if file_name.is_empty() {
                    // An empty file input posts one nameless, empty part.
                    continue;
                }
                let data = read_limited(field, limit, None).await;
                let result = store(&state, &signed_in, data, &file_name, limit).await;
                outcomes.push(FileOutcome { file_name, result });
            }
            _ => {}
        }
    }
    if !csrf_checked {
        signed_in.check_csrf(None, prefix)?;
    }
    if outcomes.is_empty() {
        outcomes.push(FileOutcome {
            file_name: "(none)".to_owned(),
            result: Err(vec![
                "No file was submitted; choose one or more images.".to_owned(),
            ]),
        });
    }
    if outcomes.iter().all(|outcome| outcome.result.is_ok()) {
        return Ok(see_other(&format!("{prefix}/")));
    }
    render_gallery(&state, &signed_in, None, &outcomes).await
}

/// Stores one file of the form; the error's sentences if it is refused.
async fn store<E: std::fmt::Display>(
    state: &AppState,
    signed_in: &SignedIn,
    data: Result<Bytes, ReadLimitedError<E>>,
    file_name: &str,
    limit: u64,
) -> Result<String, Vec<String>> {
    let refused = |error: ApiError| messages(error.body());
    let data = data.map_err(|error| match error {
        ReadLimitedError::TooLarge { .. } => refused(ApiError::payload_too_large(limit)),
        ReadLimitedError::Stream(error) => vec![format!("The file could not be read: {error}.")],
    })?;
    if data.is_empty() {
        return Err(refused(VaultError::Image(ImageError::Empty).into()));
    }
    let vault = &state.vault;
    let mut slot = vault
        .reserve_upload(&signed_in.account)
        .map_err(|error| refused(error.into()))?;
    let permit = state
        .uploads
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| vec!["The server is shutting down.".to_owned()])?;
    slot.hold(permit);
    let upload = Upload {
        data,
        name: None,
        file_name: Some(file_name.to_owned()),
    };
    match vault
        .upload_reserved(&signed_in.account, slot, upload)
        .await
    {
        Ok(view) => Ok(view.image.name.as_str().to_owned()),
        Err(error) => Err(refused(error.into())),
    }
}
/// The file picker's `accept`: the canonical MIME type of every format the core accepts.
fn accepted_types() -> String {
    ImageFormat::ALL.map(ImageFormat::content_type).join(",")
}
