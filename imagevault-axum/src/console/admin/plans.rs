//! `/admin/plans/`: the plans table, a new plan, one plan's page and its deletion.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use imagevault_core::page::ListKind;
use imagevault_core::{
    MetadataKind, Page, Plan, PlanId, PlanName, PlanSpec, QuotaLimits, QuotaResource, Regenerate,
    ThumbnailFormat, ThumbnailFormats, ThumbnailHeights, limit_text, size_text,
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;

use super::super::format::yes_no;
use super::super::html::{PageError, PageResult, Viewer, messages, see_other};
use super::super::session::SignedInAdmin;
use super::{
    Invalid, admin_page, checked, described_by, form_errors, labelled, notice, page_request, pager,
    time, viewer,
};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// The fields of the plan forms.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PlanForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    thumbnail_heights: String,
    /// The checkbox for [`ThumbnailFormat::Webp`] in `thumbnail_formats`.
    webp_thumbnails: Option<String>,
    original_link: Option<String>,
    expiring_links: Option<String>,
    strip_metadata: Option<String>,
    #[serde(default)]
    max_images: String,
    #[serde(default)]
    max_bytes: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
}

/// What a plan form shows: the typed values, or the plan's own.
#[derive(Debug, Default)]
struct Shown {
    name: String,
    thumbnail_heights: String,
    webp_thumbnails: bool,
    original_link: bool,
    expiring_links: bool,
    strip_metadata: bool,
    max_images: String,
    max_bytes: String,
}

impl Shown {
    fn of(plan: &Plan) -> Self {
        let limit = |limit: Option<u64>| limit.map(|limit| limit.to_string()).unwrap_or_default();
        Self {
            name: plan.name.as_str().to_owned(),
            thumbnail_heights: plan.thumbnail_heights.to_string(),
            webp_thumbnails: plan.thumbnail_formats.webp(),
            original_link: plan.original_link,
            expiring_links: plan.expiring_links,
            strip_metadata: plan.strip_metadata,
            max_images: limit(plan.quota.max_images),
            max_bytes: limit(plan.quota.max_bytes),
        }
    }

    fn typed(form: &PlanForm) -> Self {
        Self {
            name: form.name.clone(),
            thumbnail_heights: form.thumbnail_heights.clone(),
            webp_thumbnails: checked(form.webp_thumbnails.as_ref()),
            original_link: checked(form.original_link.as_ref()),
            expiring_links: checked(form.expiring_links.as_ref()),
            strip_metadata: checked(form.strip_metadata.as_ref()),
            max_images: form.max_images.clone(),
            max_bytes: form.max_bytes.clone(),
        }
    }
}

/// The plan the form describes, by the core's own parsers, or every field's reasons.
fn spec(form: &PlanForm) -> Result<PlanSpec, Invalid> {
    let mut invalid = Invalid::default();
    let name = PlanName::parse(&form.name).map_err(|e| invalid.add(e)).ok();
    let heights = ThumbnailHeights::parse(&form.thumbnail_heights)
        .map_err(|e| invalid.add(e))
        .ok();
    let max_images = QuotaLimits::parse(QuotaResource::Images, "max_images", &form.max_images)
        .map_err(|e| invalid.add(e))
        .ok();
    let max_bytes = QuotaLimits::parse(QuotaResource::Bytes, "max_bytes", &form.max_bytes)
        .map_err(|e| invalid.add(e))
        .ok();
    match (name, heights, max_images, max_bytes) {
        (Some(name), Some(thumbnail_heights), Some(max_images), Some(max_bytes)) => Ok(PlanSpec {
            name,
            thumbnail_heights,
            thumbnail_formats: formats(checked(form.webp_thumbnails.as_ref())),
            original_link: checked(form.original_link.as_ref()),
            expiring_links: checked(form.expiring_links.as_ref()),
            quota: QuotaLimits {
                max_images,
                max_bytes,
            },
            strip_metadata: checked(form.strip_metadata.as_ref()),
        }),
        _ => Err(invalid),
    }
}

/// The formats of a plan with or without WebP thumbnails.
fn formats(webp: bool) -> ThumbnailFormats {
    let mut formats = ThumbnailFormats::original_only();
    if webp {
        formats = ThumbnailFormats::new([ThumbnailFormat::Original, ThumbnailFormat::Webp])
            .unwrap_or(formats);
    }
    formats
}

fn plan_path(id: PlanId) -> String {
    format!("/admin/plans/{id}/")
}

fn parse_id(id: &str, prefix: &str) -> Result<PlanId, PageError> {
    PlanId::parse(id).ok_or_else(|| PageError::not_found(prefix))
}

async fn get_plan(state: &AppState, admin: &SignedInAdmin, id: PlanId) -> Result<Plan, PageError> {
    state
        .vault
        .get_plan(&admin.0.account, id)
        .await
        .map_err(|error| PageError::vault(error, state.config.path_prefix()))
}

const FIELDS: [&str; 8] = [
    "name",
    "thumbnail_heights",
    "thumbnail_formats",
    "original_link",
    "expiring_links",
    "strip_metadata",
    "max_images",
    "max_bytes",
];

/// The plan form's fields, posted to `action`.
fn plan_form(
    viewer: &Viewer<'_>,
    id: &str,
    action: &str,
    shown: &Shown,
    invalid: &Invalid,
    submit: &str,
) -> Markup {
    html! {
        (form_errors(&invalid.others(&FIELDS)))
        form #(id) method="post" action=(viewer.href(action)) {
            (viewer.csrf_field())
            (labelled("name", "Name", invalid, html! {
                input #id_name type="text" name="name" value=(shown.name) required
                    maxlength=(PlanName::MAX_CHARS)
                    aria-describedby=[described_by("name", invalid)];
            }))
            (labelled("thumbnail_heights", "Thumbnail heights in pixels", invalid, html! {
                input #id_thumbnail_heights type="text" name="thumbnail_heights"
                    value=(shown.thumbnail_heights) required inputmode="numeric"
                    aria-describedby=(described_by("thumbnail_heights", invalid)
                        .map_or_else(|| "thumbnail_heights-help".to_owned(), |errors| format!("thumbnail_heights-help {errors}")));
            }))
            p.help #thumbnail_heights-help { "Separated by spaces, for example “200 400”." }
            p {
                input #id_webp_thumbnails type="checkbox" name="webp_thumbnails" checked[shown.webp_thumbnails]
                    aria-describedby="webp_thumbnails-help";
                " "
                label for="id_webp_thumbnails" { "Also a WebP file of each thumbnail" }
            }
            p.help #webp_thumbnails-help {
                "Each thumbnail is made in the original's format; with this, also as lossy WebP (quality "
                (imagevault_core::imaging::WEBP_QUALITY) ") for browsers to choose with "
                code { "<picture>" } "."
            }
            p {
                input #id_original_link type="checkbox" name="original_link" checked[shown.original_link];
                " "
                label for="id_original_link" { "Link to the original upload" }
            }
            p {
                input #id_expiring_links type="checkbox" name="expiring_links" checked[shown.expiring_links];
                " "
                label for="id_expiring_links" { "Expiring links to the original" }
            }
            p {
                input #id_strip_metadata type="checkbox" name="strip_metadata"
                    checked[shown.strip_metadata] aria-describedby="strip_metadata-help";
                " "
                label for="id_strip_metadata" { "Remove private metadata from uploads" }
            }
            p.help #strip_metadata-help {
                "Before the original is stored: "
                (metadata_names())
                ". The orientation and colour profile are kept, the pixels are not touched; images already stored keep theirs."
            }
            (labelled("max_images", "Most images per user", invalid, html! {
                input #id_max_images type="text" name="max_images" value=(shown.max_images)
                    inputmode="numeric" aria-describedby=(with_help("max_images", invalid));
            }))
            p.help #max_images-help {
                "Empty for no limit; at most " (QuotaLimits::MAX_IMAGES) "."
            }
            (labelled("max_bytes", "Most bytes of originals per user", invalid, html! {
                input #id_max_bytes type="text" name="max_bytes" value=(shown.max_bytes)
                    inputmode="numeric" aria-describedby=(with_help("max_bytes", invalid));
            }))
            p.help #max_bytes-help {
                "Empty for no limit; at most " (QuotaLimits::MAX_BYTES) " (1 PiB)."
            }
            p { button type="submit" { (submit) } }
        }
    }
}

/// The kinds of metadata a plan with `strip_metadata` removes, by their API names.
fn metadata_names() -> String {
    MetadataKind::ALL
        .iter()
        .map(|kind| kind.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The formats as the console lists them: `original, webp`.
fn formats_text(formats: &ThumbnailFormats) -> String {
    formats
        .as_slice()
        .iter()
        .map(|format| format.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `aria-describedby` of a field with a help text `<field>-help`, and its errors if any.
fn with_help(field: &str, invalid: &Invalid) -> String {
    match described_by(field, invalid) {
        Some(errors) => format!("{field}-help {errors}"),
        None => format!("{field}-help"),
    }
}

fn list_page(
    viewer: &Viewer<'_>,
    plans: &Page<Plan>,
    counts: &[(PlanId, u64)],
    done: Option<&str>,
) -> Markup {
    let users = |id: PlanId| {
        counts
            .iter()
            .find(|(plan, _)| *plan == id)
            .map_or(0, |(_, count)| *count)
    };
    let body = html! {
        h1 { "Plans" }
        (notice(done))
        p { a.create-plan href=(viewer.href("/admin/plans/new/")) { "Create a plan" } }
        table #plans {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Thumbnail heights" }
                th scope="col" { "Thumbnail formats" }
                th scope="col" { "Original link" }
                th scope="col" { "Expiring links" }
                th scope="col" { "Strips metadata" }
                th scope="col" { "Most images" }
                th scope="col" { "Most bytes" }
                th scope="col" { "Users" }
                th scope="col" { "Created" }
            } }
            tbody {
                @for plan in &plans.items {
                    tr data-plan-id=(plan.id) {
                        td { a href=(viewer.href(&plan_path(plan.id))) { (plan.name.as_str()) } }
                        td { (plan.thumbnail_heights) }
                        td.thumbnail-formats { (formats_text(&plan.thumbnail_formats)) }
                        td { (yes_no(plan.original_link)) }
                        td { (yes_no(plan.expiring_links)) }
                        td.strip-metadata { (yes_no(plan.strip_metadata)) }
                        td.max-images { (limit_text(plan.quota.max_images, |n| n.to_string())) }
                        td.max-bytes { (limit_text(plan.quota.max_bytes, size_text)) }
                        td.user-count { (users(plan.id)) }
                        td { (time(&plan.created_at)) }
                    }
                }
            }
        }
        (pager(viewer, "/admin/plans/", "", plans))
    };
    admin_page(viewer, "Plans", body)
}

/// `GET /admin/plans/`: every plan, newest first, with how many users have it.
pub(crate) async fn list(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let request = page_request(query.cursor.as_deref(), ListKind::Plans, prefix)?;
    let plans = state
        .vault
        .list_plans(&admin.0.account, request)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let counts = state
        .vault
        .plan_user_counts(&admin.0.account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let page = list_page(
        &viewer(&state, &admin),
        &plans,
        &counts,
        query.done.as_deref(),
    );
    Ok(page.into_response())
}

fn new_page(viewer: &Viewer<'_>, shown: &Shown, invalid: &Invalid) -> Markup {
    let body = html! {
        h1 { "Create a plan" }
        (plan_form(viewer, "create-plan", "/admin/plans/new/", shown, invalid, "Create"))
    };
    admin_page(viewer, "Create a plan", body)
}

/// `GET /admin/plans/new/`: the form.
pub(crate) async fn new_form(admin: SignedInAdmin, State(state): State<AppState>) -> PageResult {
    Ok(new_page(
        &viewer(&state, &admin),
        &Shown::default(),
        &Invalid::default(),
    )
    .into_response())
}

/// `POST /admin/plans/new/`: creates the plan and shows it, or the form again with the
/// reasons.
pub(crate) async fn create(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Form(form): Form<PlanForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let invalid = match spec(&form) {
        Ok(spec) => match state.vault.create_plan(&admin.0.account, spec).await {
            Ok(plan) => {
                return Ok(see_other(&format!(
                    "{prefix}{}?done=created",
                    plan_path(plan.id)
                )));
            }
            Err(error) => Invalid::from_vault(error, prefix)?,
        },
        Err(invalid) => invalid,
    };
    let page = new_page(&viewer(&state, &admin), &Shown::typed(&form), &invalid);
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

fn plan_page(
    viewer: &Viewer<'_>,
    plan: &Plan,
    shown: &Shown,
    invalid: &Invalid,
    done: Option<&str>,
) -> Markup {
    let path = plan_path(plan.id);
    let title = format!("Plan {}", plan.name);
    let body = html! {
        h1 { (title) }
        (notice(done))
        dl.facts {
            dt { "Thumbnail heights" } dd { (plan.thumbnail_heights) }
            dt { "Thumbnail formats" } dd.thumbnail-formats { (formats_text(&plan.thumbnail_formats)) }
            dt { "Original link" } dd { (yes_no(plan.original_link)) }
            dt { "Expiring links" } dd { (yes_no(plan.expiring_links)) }
            dt { "Removes private metadata" } dd.strip-metadata { (yes_no(plan.strip_metadata)) }
            dt { "Most images per user" } dd.max-images { (limit_text(plan.quota.max_images, |n| n.to_string())) }
            dt { "Most bytes per user" } dd.max-bytes { (limit_text(plan.quota.max_bytes, size_text)) }
            dt { "Created" } dd { (time(&plan.created_at)) }
            dt { "Id" } dd { code { (plan.id) } }
        }
        section.card aria-labelledby="edit-heading" {
            h2 #edit-heading { "Change" }
            p.help { "Users on the plan see a change at once; thumbnails of new heights are made in the background." }
            (plan_form(viewer, "edit-plan", &path, shown, invalid, "Save"))
        }
        section.card aria-labelledby="thumbnails-heading" {
            h2 #thumbnails-heading { "Thumbnails" }
            form #regenerate-plan method="post" action=(viewer.href(&format!("{path}regenerate/")))
                data-confirm=(format!("Make every thumbnail of every user on {} again?", plan.name)) {
                (viewer.csrf_field())
                p.help { "Makes every thumbnail of the images of every user on the plan again, in the background; the current ones are served until then." }
                button.secondary type="submit" { "Make their thumbnails again" }
            }
        }
        section.card aria-labelledby="delete-heading" {
            h2 #delete-heading { "Delete" }
            form #delete-plan method="get" action=(viewer.href(&format!("{path}delete/"))) {
                button.danger type="submit" { "Delete this plan…" }
            }
        }
    };
    admin_page(viewer, &title, body)
}

/// `GET /admin/plans/<id>/`.
pub(crate) async fn show(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let id = parse_id(&id, state.config.path_prefix())?;
    let plan = get_plan(&state, &admin, id).await?;
    let page = plan_page(
        &viewer(&state, &admin),
        &plan,
        &Shown::of(&plan),
        &Invalid::default(),
        query.done.as_deref(),
    );
    Ok(page.into_response())
}

/// `POST /admin/plans/<id>/`: replaces the plan's name and grants.
pub(crate) async fn update(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<PlanForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = parse_id(&id, prefix)?;
    let plan = get_plan(&state, &admin, id).await?;
    let invalid = match spec(&form) {
        Ok(spec) => match state.vault.update_plan(&admin.0.account, id, spec).await {
            Ok(_) => return Ok(see_other(&format!("{prefix}{}?done=saved", plan_path(id)))),
            Err(error) => Invalid::from_vault(error, prefix)?,
        },
        Err(invalid) => invalid,
    };
    let page = plan_page(
        &viewer(&state, &admin),
        &plan,
        &Shown::typed(&form),
        &invalid,
        None,
    );
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

fn confirm_page(viewer: &Viewer<'_>, plan: &Plan, refused: &[String]) -> Markup {
    let path = plan_path(plan.id);
    let title = format!("Delete plan {}?", plan.name);
    let body = html! {
        h1 { (title) }
        (form_errors(refused))
        p { "Only a plan that no user has can be deleted." }
        form #confirm-delete-plan method="post" action=(viewer.href(&format!("{path}delete/"))) {
            (viewer.csrf_field())
            p.actions {
                button.danger type="submit" { "Yes, delete " (plan.name.as_str()) }
                " "
                a href=(viewer.href(&path)) { "No, go back" }
            }
        }
    };
    admin_page(viewer, &title, body)
}

/// `GET /admin/plans/<id>/delete/`: are you sure?
pub(crate) async fn confirm_delete(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id, state.config.path_prefix())?;
    let plan = get_plan(&state, &admin, id).await?;
    Ok(confirm_page(&viewer(&state, &admin), &plan, &[]).into_response())
}

/// `POST /admin/plans/<id>/delete/`: deletes the plan, or says why the vault would not
/// (users still have it).
pub(crate) async fn delete(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = parse_id(&id, prefix)?;
    let plan = get_plan(&state, &admin, id).await?;
    match state.vault.delete_plan(&admin.0.account, id).await {
        Ok(()) => Ok(see_other(&format!("{prefix}/admin/plans/?done=deleted"))),
        Err(error) => {
            let error = ApiError::from(error);
            if error.status() != StatusCode::CONFLICT {
                return Err(PageError::new(error, prefix));
            }
            let page = confirm_page(&viewer(&state, &admin), &plan, &messages(error.body()));
            Ok((StatusCode::CONFLICT, page).into_response())
        }
    }
}

/// `POST /admin/plans/<id>/regenerate/`: makes every thumbnail of the images of every
/// user on the plan again.
pub(crate) async fn regenerate(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = parse_id(&id, prefix)?;
    state
        .vault
        .regenerate_thumbnails(&admin.0.account, Regenerate::Plan(id))
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other(&format!(
        "{prefix}{}?done=regenerating",
        plan_path(id)
    )))
}
