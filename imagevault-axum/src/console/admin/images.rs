//! `/admin/images/`: every user's images, newest first, filtered by owner or by failed
//! thumbnails, with each thumbnail's state (and a failed one's reason), deletion, and
//! thumbnails made again: one image's, or every failed one.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use imagevault_core::page::ListKind;
use imagevault_core::{
    AdminImageView, ImageFilter, ImageId, Page, Thumbnail, ThumbnailStatus, UserId, Username,
    ValidationError, VaultError,
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;

use super::super::format;
use super::super::html::{PageError, PageResult, Viewer, see_other};
use super::super::session::SignedInAdmin;
use super::{
    Invalid, admin_page, described_by, encoded, field_errors, notice, page_request, pager, time,
    viewer,
};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    owner: Option<String>,
    failed: Option<String>,
    done: Option<String>,
}

/// A form that acts on the list and comes back to it with the same filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
    owner: Option<String>,
    failed: Option<String>,
}

/// The list's filter as the query string gives it.
#[derive(Debug, Default)]
struct Filter {
    owner: String,
    failed: bool,
}

impl Filter {
    fn new(owner: Option<&String>, failed: Option<&String>) -> Self {
        Self {
            owner: owner
                .map(|owner| owner.trim().to_owned())
                .unwrap_or_default(),
            failed: failed.is_some_and(|failed| !failed.is_empty() && failed != "0"),
        }
    }

    /// The filter as query parameters, each followed by `&`.
    fn query(&self) -> String {
        let mut query = String::new();
        if !self.owner.is_empty() {
            query.push_str(&format!("owner={}&", encoded(&self.owner)));
        }
        if self.failed {
            query.push_str("failed=1&");
        }
        query
    }

    /// Hidden fields that bring a form's answer back to this filter.
    fn hidden(&self) -> Markup {
        html! {
            @if !self.owner.is_empty() { input type="hidden" name="owner" value=(self.owner); }
            @if self.failed { input type="hidden" name="failed" value="1"; }
        }
    }

    /// The list with this filter and a `done` message.
    fn back(&self, prefix: &str, done: &str) -> String {
        format!("{prefix}/admin/images/?{}done={done}", self.query())
    }
}

/// The smallest ready thumbnail, for the row's preview.
fn preview(view: &AdminImageView) -> Option<&Thumbnail> {
    view.thumbnails
        .iter()
        .filter(|thumbnail| thumbnail.status == ThumbnailStatus::Ready)
        .min_by_key(|thumbnail| thumbnail.max_height)
}

fn thumbnail_states(view: &AdminImageView) -> Markup {
    html! {
        @if view.thumbnails.is_empty() {
            "none"
        } @else {
            ul.thumbnail-states {
                @for thumbnail in &view.thumbnails {
                    li class=(format!("thumb-{}", thumbnail.status.as_str())) {
                        (thumbnail.max_height) " px: " (thumbnail.status.as_str())
                        @if let Some(reason) = &thumbnail.failure {
                            " — " span.failure { (reason) }
                        }
                    }
                }
            }
        }
    }
}

fn image_row(viewer: &Viewer<'_>, view: &AdminImageView, filter: &Filter) -> Markup {
    let image = &view.image;
    let id = image.id.to_string();
    html! {
        tr data-image-id=(id) {
            td {
                @match preview(view).and_then(|thumbnail| thumbnail.storage_key.as_ref().map(|key| (thumbnail, key))) {
                    Some((thumbnail, key)) => img src=(viewer.href(&format!("/media/{}", key.as_str())))
                        width=(thumbnail.width) height=(thumbnail.height) alt="" loading="lazy";
                    None => span.thumb-status { "no thumbnail" },
                }
            }
            td { (image.name.as_str()) }
            td {
                @match &view.owner_username {
                    Some(owner) => a.owner href=(viewer.href(&format!("/admin/images/?owner={}", encoded(owner.as_str())))) { (owner.as_str()) },
                    None => em { "deleted user" },
                }
            }
            td { (format::size(image.size)) ", " (image.format) ", " (image.width) "×" (image.height) }
            td { (time(&image.created_at)) }
            td { (thumbnail_states(view)) }
            td {
                @if view.thumbnails.iter().any(|thumbnail| thumbnail.status == ThumbnailStatus::Failed) {
                    form.inline-form.retry-image method="post"
                        action=(viewer.href(&format!("/admin/images/{id}/retry/"))) {
                        (viewer.csrf_field())
                        (filter.hidden())
                        button.secondary type="submit" { "Retry" span.visually-hidden { " " (image.name.as_str()) } }
                    }
                }
                form.inline-form.delete-image method="post"
                    action=(viewer.href(&format!("/admin/images/{id}/delete/")))
                    data-confirm=(format!("Delete {}?", image.name.as_str())) {
                    (viewer.csrf_field())
                    (filter.hidden())
                    button.danger type="submit" { "Delete" span.visually-hidden { " " (image.name.as_str()) } }
                }
            }
        }
    }
}

fn list_page(
    viewer: &Viewer<'_>,
    filter: &Filter,
    invalid: &Invalid,
    images: Option<&Page<AdminImageView>>,
    owner: Option<UserId>,
    done: Option<&str>,
) -> Markup {
    let body = html! {
        h1 { "Images" }
        (notice(done))
        form #image-filter method="get" action=(viewer.href("/admin/images/")) {
            p {
                label for="id_owner" { "Owner's username" }
                input #id_owner type="text" name="owner" value=(filter.owner)
                    autocapitalize="none" aria-describedby=[described_by("owner", invalid)];
                (field_errors("owner", invalid.get("owner")))
            }
            p {
                input #id_failed type="checkbox" name="failed" value="1" checked[filter.failed];
                " "
                label for="id_failed" { "Only images with failed thumbnails" }
            }
            p { button type="submit" { "Show" } }
        }
        div.actions {
            form #retry-failed method="post" action=(viewer.href("/admin/images/retry-failed/")) {
                (viewer.csrf_field())
                (filter.hidden())
                button.secondary type="submit" { "Retry every failed thumbnail" }
            }
            @if let Some(owner) = owner {
                form #regenerate-owner method="post" action=(viewer.href(&format!("/admin/users/{owner}/regenerate/")))
                    data-confirm=(format!("Make every thumbnail of {} again?", filter.owner)) {
                    (viewer.csrf_field())
                    button.secondary type="submit" { "Make every thumbnail of " (filter.owner) " again" }
                }
            }
        }
        @if let Some(images) = images {
            @if images.items.is_empty() {
                p #images-empty { "No images." }
            } @else {
                table #images {
                    thead { tr {
                        th scope="col" { span.visually-hidden { "Preview" } }
                        th scope="col" { "Name" }
                        th scope="col" { "Owner" }
                        th scope="col" { "Original" }
                        th scope="col" { "Uploaded" }
                        th scope="col" { "Thumbnails" }
                        th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for view in &images.items { (image_row(viewer, view, filter)) }
                    }
                }
            }
            (pager(viewer, "/admin/images/", &filter.query(), images))
        }
    };
    admin_page(viewer, "Images", body)
}

/// The owner filter as a user id; an owner that is not a user is the filter's error.
async fn owner_filter(
    state: &AppState,
    admin: &SignedInAdmin,
    filter: &Filter,
    invalid: &mut Invalid,
) -> Result<Option<ImageFilter>, PageError> {
    let prefix = state.config.path_prefix();
    let mut image_filter = ImageFilter {
        owner: None,
        failed_thumbnails_only: filter.failed,
    };
    if filter.owner.is_empty() {
        return Ok(Some(image_filter));
    }
    let username = match Username::parse(&filter.owner) {
        Ok(username) => username,
        Err(error) => {
            // The username's rule, said about this field.
            invalid.add(ValidationError::new("owner", error.message));
            return Ok(None);
        }
    };
    match state.vault.find_user(&admin.0.account, &username).await {
        Ok(user) => {
            image_filter.owner = Some(user.id);
            Ok(Some(image_filter))
        }
        Err(VaultError::NotFound) => {
            invalid.add(ValidationError::new(
                "owner",
                format!("No user is called “{}”.", filter.owner),
            ));
            Ok(None)
        }
        Err(error) => Err(PageError::vault(error, prefix)),
    }
}

/// `GET /admin/images/`: every user's images, or one owner's (`?owner=<username>`), or
/// those with failed thumbnails (`?failed=1`).
pub(crate) async fn list(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let filter = Filter::new(query.owner.as_ref(), query.failed.as_ref());
    let request = page_request(query.cursor.as_deref(), ListKind::AllImages, prefix)?;
    let mut invalid = Invalid::default();
    let images = match owner_filter(&state, &admin, &filter, &mut invalid).await? {
        Some(image_filter) => Some((
            image_filter,
            state
                .vault
                .admin_list_images(&admin.0.account, image_filter, request)
                .await
                .map_err(|error| PageError::vault(error, prefix))?,
        )),
        None => None,
    };
    let viewer = viewer(&state, &admin);
    let owner = images
        .as_ref()
        .and_then(|(image_filter, _)| image_filter.owner);
    let page = list_page(
        &viewer,
        &filter,
        &invalid,
        images.as_ref().map(|(_, page)| page),
        owner,
        query.done.as_deref(),
    );
    Ok(page.into_response())
}

/// `POST /admin/images/<id>/delete/`: deletes any user's image as its owner's delete
/// would, then back to the list.
pub(crate) async fn delete(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = ImageId::parse(&id).ok_or_else(|| PageError::not_found(prefix))?;
    state
        .vault
        .admin_delete_image(&admin.0.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let filter = Filter::new(form.owner.as_ref(), form.failed.as_ref());
    Ok(see_other(&filter.back(prefix, "deleted")))
}

/// `POST /admin/images/<id>/retry/`: makes the image's thumbnails again, then back to
/// the list.
pub(crate) async fn retry(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = ImageId::parse(&id).ok_or_else(|| PageError::not_found(prefix))?;
    state
        .vault
        .retry_thumbnails(&admin.0.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let filter = Filter::new(form.owner.as_ref(), form.failed.as_ref());
    Ok(see_other(&filter.back(prefix, "retried")))
}

/// `POST /admin/images/retry-failed/`: makes every failed thumbnail again.
pub(crate) async fn retry_failed(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    state
        .vault
        .retry_failed_thumbnails(&admin.0.account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let filter = Filter::new(form.owner.as_ref(), form.failed.as_ref());
    Ok(see_other(&filter.back(prefix, "retried-failed")))
}
