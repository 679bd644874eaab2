//! `/admin/users/`: the users table, a new user, and one user's page (plan and admin flag,
//! password reset, sign-out everywhere, deletion).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use imagevault_core::page::ListKind;
use imagevault_core::{
    NewUser, Page, Password, Plan, PlanId, QuotaOverride, QuotaResource, QuotaStatus, Regenerate,
    User, UserChanges, UserId, Username, ValidationError, human_size, limit_text,
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;

use super::super::format::yes_no;
use super::super::html::{PageError, PageResult, Viewer, see_other};
use super::super::session::SignedInAdmin;
use super::{
    Invalid, admin_page, all_plans, checked, described_by, encoded, form_errors, labelled, notice,
    page_request, pager, plan_name, time, viewer,
};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    q: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// The fields of the new-user and edit-user forms (the edit form has no password).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UserForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    plan: String,
    is_admin: Option<String>,
    /// The quota overrides, on the edit form only: absent keeps them.
    max_images: Option<String>,
    max_bytes: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
}

/// What a user form shows: the typed values, or the user's own. Never a password.
#[derive(Debug, Default)]
struct Shown {
    username: String,
    plan: String,
    is_admin: bool,
    max_images: String,
    max_bytes: String,
}

impl Shown {
    fn of(user: &User) -> Self {
        Self {
            username: user.username.as_str().to_owned(),
            plan: user.plan_id.map(|id| id.to_string()).unwrap_or_default(),
            is_admin: user.is_admin,
            max_images: user.quota.max_images.to_string(),
            max_bytes: user.quota.max_bytes.to_string(),
        }
    }

    fn typed(form: &UserForm) -> Self {
        Self {
            username: form.username.clone(),
            plan: form.plan.clone(),
            is_admin: checked(form.is_admin.as_ref()),
            max_images: form.max_images.clone().unwrap_or_default(),
            max_bytes: form.max_bytes.clone().unwrap_or_default(),
        }
    }
}

/// An override field of the edit form, by the core's parser: `None` when absent (keep).
fn parse_override(
    text: Option<&String>,
    resource: QuotaResource,
    field: &'static str,
) -> Result<Option<QuotaOverride>, ValidationError> {
    text.map(|text| QuotaOverride::parse(resource, field, text))
        .transpose()
}

/// An override's input, with its help text.
fn override_input(field: &str, label: &str, value: &str, invalid: &Invalid) -> Markup {
    let help = format!("{field}-help");
    let described = match described_by(field, invalid) {
        Some(errors) => format!("{help} {errors}"),
        None => help.clone(),
    };
    html! {
        (labelled(field, label, invalid, html! {
            input id=(format!("id_{field}")) type="text" name=(field) value=(value)
                autocapitalize="none" aria-describedby=(described);
        }))
        p.help id=(help) {
            "“" (QuotaOverride::PLAN_WORD) "” for the plan's limit, “"
            (QuotaOverride::UNLIMITED_WORD) "” for none, or a number."
        }
    }
}

/// A user's usage against their limits, in words: `3 of 5 images`, `1.2 MiB of unlimited`.
fn usage_text(quota: &QuotaStatus) -> (String, String) {
    (
        format!(
            "{} of {}",
            quota.usage.images,
            limit_text(quota.limits.max_images, |limit| limit.to_string())
        ),
        format!(
            "{} of {}",
            human_size(quota.usage.bytes),
            limit_text(quota.limits.max_bytes, human_size)
        ),
    )
}

/// The user's quota and usage, for their page.
async fn quota_of(
    state: &AppState,
    admin: &SignedInAdmin,
    user: &User,
) -> Result<QuotaStatus, PageError> {
    state
        .vault
        .user_quotas(&admin.0.account, std::slice::from_ref(user))
        .await
        .map(|quotas| quotas.into_iter().next().unwrap_or_default())
        .map_err(|error| PageError::vault(error, state.config.path_prefix()))
}

/// The plan select's value: empty for no plan, else a plan id.
fn parse_plan(text: &str) -> Result<Option<PlanId>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    PlanId::parse(text).map(Some).ok_or_else(|| {
        ValidationError::new(
            "plan",
            "Select a valid choice. That choice is not one of the available choices.",
        )
    })
}

fn user_path(id: UserId) -> String {
    format!("/admin/users/{id}/")
}

fn parse_id(id: &str, prefix: &str) -> Result<UserId, PageError> {
    UserId::parse(id).ok_or_else(|| PageError::not_found(prefix))
}

async fn get_user(state: &AppState, admin: &SignedInAdmin, id: UserId) -> Result<User, PageError> {
    state
        .vault
        .get_user(&admin.0.account, id)
        .await
        .map_err(|error| PageError::vault(error, state.config.path_prefix()))
}

fn plan_select(plans: &[Plan], selected: &str, invalid: &Invalid) -> Markup {
    html! {
        select #id_plan name="plan" aria-describedby=[described_by("plan", invalid)] {
            option value="" selected[selected.is_empty()] { "No plan" }
            @for plan in plans {
                @let id = plan.id.to_string();
                option value=(id) selected[selected == id] { (plan.name.as_str()) }
            }
        }
    }
}

fn is_admin_box(is_admin: bool) -> Markup {
    html! {
        p {
            input #id_is_admin type="checkbox" name="is_admin" checked[is_admin];
            " "
            label for="id_is_admin" { "Administrator (may use this console and the admin API)" }
        }
    }
}

fn username_input(shown: &Shown, invalid: &Invalid) -> Markup {
    labelled(
        "username",
        "Username",
        invalid,
        html! {
            input #id_username type="text" name="username" value=(shown.username) required
                autocomplete="off" autocapitalize="none"
                maxlength=(Username::MAX_CHARS)
                aria-describedby=[described_by("username", invalid)];
        },
    )
}

fn password_input(invalid: &Invalid, label: &str) -> Markup {
    labelled(
        "password",
        label,
        invalid,
        html! {
            input #id_password type="password" name="password" required autocomplete="new-password"
                minlength=(Password::MIN_CHARS)
                aria-describedby=[described_by("password", invalid)];
        },
    )
}

fn list_page(
    viewer: &Viewer<'_>,
    users: &Page<User>,
    quotas: &[QuotaStatus],
    plans: &[Plan],
    query: &ListQuery,
) -> Markup {
    let body = html! {
        h1 { "Users" }
        (notice(query.done.as_deref()))
        p { a.create-user href=(viewer.href("/admin/users/new/")) { "Create a user" } }
        form #user-search method="get" action=(viewer.href("/admin/users/")) role="search" {
            p {
                label for="id_q" { "Search usernames" }
                input #id_q type="search" name="q" value=(query.q.as_deref().unwrap_or_default())
                    autocapitalize="none";
                button type="submit" { "Search" }
            }
        }
        @if users.items.is_empty() {
            p #users-empty { "No users." }
        } @else {
            table #users {
                thead { tr {
                    th scope="col" { "Username" }
                    th scope="col" { "Plan" }
                    th scope="col" { "Administrator" }
                    th scope="col" { "Images" }
                    th scope="col" { "Storage" }
                    th scope="col" { "Created" }
                } }
                tbody {
                    @for (user, quota) in users.items.iter().zip(quotas) {
                        @let (images, bytes) = usage_text(quota);
                        tr data-user-id=(user.id) {
                            td { a href=(viewer.href(&user_path(user.id))) { (user.username.as_str()) } }
                            td { (plan_name(plans, user.plan_id)) }
                            td { (yes_no(user.is_admin)) }
                            td.images { (images) }
                            td.storage {
                                (bytes)
                                @if quota.is_over_limit() { " " strong.over-limit { "(over the limit)" } }
                            }
                            td { (time(&user.created_at)) }
                        }
                    }
                }
            }
        }
        (pager(viewer, "/admin/users/", &query.q.as_deref().filter(|q| !q.is_empty()).map(|q| format!("q={}&", encoded(q))).unwrap_or_default(), users))
    };
    admin_page(viewer, "Users", body)
}

/// `GET /admin/users/`: every user, newest first, or those whose username contains
/// `?q=` (as the vault matches it).
pub(crate) async fn list(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    let request = page_request(query.cursor.as_deref(), ListKind::Users, prefix)?;
    let text = query.q.as_deref().map_or("", str::trim);
    let users = if text.is_empty() {
        state.vault.list_users(&admin.0.account, request).await
    } else {
        state
            .vault
            .search_users(&admin.0.account, text, request)
            .await
    }
    .map_err(|error| PageError::vault(error, prefix))?;
    let quotas = state
        .vault
        .user_quotas(&admin.0.account, &users.items)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let plans = all_plans(&state, &admin).await?;
    Ok(list_page(&viewer(&state, &admin), &users, &quotas, &plans, &query).into_response())
}

fn new_page(viewer: &Viewer<'_>, plans: &[Plan], shown: &Shown, invalid: &Invalid) -> Markup {
    let body = html! {
        h1 { "Create a user" }
        (form_errors(&invalid.others(&["username", "password", "plan"])))
        form #create-user method="post" action=(viewer.href("/admin/users/new/")) {
            (viewer.csrf_field())
            (username_input(shown, invalid))
            (password_input(invalid, "Password"))
            (labelled("plan", "Plan", invalid, plan_select(plans, &shown.plan, invalid)))
            (is_admin_box(shown.is_admin))
            p { button type="submit" { "Create" } }
        }
    };
    admin_page(viewer, "Create a user", body)
}

/// `GET /admin/users/new/`: the form.
pub(crate) async fn new_form(admin: SignedInAdmin, State(state): State<AppState>) -> PageResult {
    let plans = all_plans(&state, &admin).await?;
    let shown = Shown {
        plan: PlanId::BASIC.to_string(),
        ..Shown::default()
    };
    Ok(new_page(&viewer(&state, &admin), &plans, &shown, &Invalid::default()).into_response())
}

/// `POST /admin/users/new/`: creates the user and shows their page, or the form again
/// with the vault's reasons.
pub(crate) async fn create(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Form(form): Form<UserForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let mut invalid = Invalid::default();
    let username = Username::parse(&form.username)
        .map_err(|e| invalid.add(e))
        .ok();
    let password = Password::new(form.password.as_str())
        .map_err(|e| invalid.add(e))
        .ok();
    let plan = parse_plan(&form.plan).map_err(|e| invalid.add(e)).ok();
    let is_admin = checked(form.is_admin.as_ref());
    let created = match (username, password, plan) {
        (Some(username), Some(password), Some(plan)) if invalid.is_empty() => {
            let new_user = NewUser {
                username,
                password,
                plan,
                is_admin,
            };
            match state.vault.create_user(&admin.0.account, new_user).await {
                Ok(user) => Some(user),
                Err(error) => {
                    invalid = Invalid::from_vault(error, prefix)?;
                    None
                }
            }
        }
        _ => None,
    };
    if let Some(user) = created {
        return Ok(see_other(&format!(
            "{prefix}{}?done=created",
            user_path(user.id)
        )));
    }
    let plans = all_plans(&state, &admin).await?;
    let page = new_page(
        &viewer(&state, &admin),
        &plans,
        &Shown::typed(&form),
        &invalid,
    );
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

/// What one user's page shows besides the user: the edit form's values and errors, and
/// the password form's errors.
#[derive(Debug, Default)]
struct UserPageState<'a> {
    shown: Option<Shown>,
    edit: Invalid,
    password: Invalid,
    done: Option<&'a str>,
}

fn user_page(
    viewer: &Viewer<'_>,
    user: &User,
    quota: &QuotaStatus,
    plans: &[Plan],
    state: UserPageState<'_>,
) -> Markup {
    let path = user_path(user.id);
    let shown = state.shown.unwrap_or_else(|| Shown::of(user));
    let name = user.username.as_str();
    let title = format!("User {name}");
    let body = html! {
        h1 { "User " (name) }
        (notice(state.done))
        dl.facts {
            dt { "Plan" } dd { (plan_name(plans, user.plan_id)) }
            dt { "Administrator" } dd { (yes_no(user.is_admin)) }
            @let (images, bytes) = usage_text(quota);
            dt { "Images" } dd #quota-images { (images) }
            dt { "Storage" } dd #quota-bytes { (bytes) }
            dt { "Created" } dd { (time(&user.created_at)) }
            dt { "Id" } dd { code { (user.id) } }
        }
        @if quota.is_over_limit() {
            p.notice #over-limit role="status" {
                "Usage is over the limit: no upload is accepted until enough images are deleted or the limit is raised."
            }
        }
        p { a href=(viewer.href(&format!("/admin/images/?owner={}", super::encoded(name)))) { "Images of " (name) } }
        section.card aria-labelledby="edit-heading" {
            h2 #edit-heading { "Username, plan, role and quota" }
            (form_errors(&state.edit.others(&["username", "plan", "is_admin", "password", "max_images", "max_bytes"])))
            form #edit-user method="post" action=(viewer.href(&path)) {
                (viewer.csrf_field())
                (username_input(&shown, &state.edit))
                (labelled("plan", "Plan", &state.edit, plan_select(plans, &shown.plan, &state.edit)))
                (is_admin_box(shown.is_admin))
                (override_input("max_images", "Most images", &shown.max_images, &state.edit))
                (override_input("max_bytes", "Most bytes of originals", &shown.max_bytes, &state.edit))
                p { button type="submit" { "Save" } }
            }
        }
        section.card aria-labelledby="password-heading" {
            h2 #password-heading { "Reset the password" }
            p.help { "A new password ends every session and API token of the user." }
            form #reset-password method="post" action=(viewer.href(&format!("{path}password/"))) {
                (viewer.csrf_field())
                (password_input(&state.password, "New password"))
                p { button type="submit" { "Set password" } }
            }
        }
        section.card aria-labelledby="sessions-heading" {
            h2 #sessions-heading { "Sessions and API tokens" }
            form #sign-out-user method="post" action=(viewer.href(&format!("{path}sign-out/")))
                data-confirm=(format!("Sign {name} out everywhere?")) {
                (viewer.csrf_field())
                p.help { "Signs the user out of every browser and revokes every API token; the password stays." }
                button.secondary type="submit" { "Revoke tokens and sessions" }
            }
        }
        section.card aria-labelledby="thumbnails-heading" {
            h2 #thumbnails-heading { "Thumbnails" }
            form #regenerate-user method="post" action=(viewer.href(&format!("{path}regenerate/")))
                data-confirm=(format!("Make every thumbnail of {name} again?")) {
                (viewer.csrf_field())
                p.help { "Makes every thumbnail of the user's images again, in the background; the current ones are served until then." }
                button.secondary type="submit" { "Make their thumbnails again" }
            }
        }
        section.card aria-labelledby="delete-heading" {
            h2 #delete-heading { "Delete" }
            form #delete-user method="get" action=(viewer.href(&format!("{path}delete/"))) {
                button.danger type="submit" { "Delete this user…" }
            }
        }
    };
    admin_page(viewer, &title, body)
}

/// `GET /admin/users/<id>/`.
pub(crate) async fn show(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let id = parse_id(&id, state.config.path_prefix())?;
    let user = get_user(&state, &admin, id).await?;
    let quota = quota_of(&state, &admin, &user).await?;
    let plans = all_plans(&state, &admin).await?;
    let page_state = UserPageState {
        done: query.done.as_deref(),
        ..UserPageState::default()
    };
    Ok(user_page(&viewer(&state, &admin), &user, &quota, &plans, page_state).into_response())
}

/// `POST /admin/users/<id>/`: a new username, plan or admin flag.
pub(crate) async fn update(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<UserForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = parse_id(&id, prefix)?;
    let user = get_user(&state, &admin, id).await?;
    let mut invalid = Invalid::default();
    let username = Username::parse(&form.username)
        .map_err(|e| invalid.add(e))
        .ok();
    let plan = parse_plan(&form.plan).map_err(|e| invalid.add(e)).ok();
    let max_images = parse_override(
        form.max_images.as_ref(),
        QuotaResource::Images,
        "max_images",
    )
    .map_err(|e| invalid.add(e))
    .ok()
    .flatten();
    let max_bytes = parse_override(form.max_bytes.as_ref(), QuotaResource::Bytes, "max_bytes")
        .map_err(|e| invalid.add(e))
        .ok()
        .flatten();
    if invalid.is_empty() {
        let changes = UserChanges {
            username,
            password: None,
            plan,
            is_admin: Some(checked(form.is_admin.as_ref())),
            max_images,
            max_bytes,
        };
        match state.vault.update_user(&admin.0.account, id, changes).await {
            Ok(_) => return Ok(see_other(&format!("{prefix}{}?done=saved", user_path(id)))),
            Err(error) => invalid = Invalid::from_vault(error, prefix)?,
        }
    }
    let plans = all_plans(&state, &admin).await?;
    let page_state = UserPageState {
        shown: Some(Shown::typed(&form)),
        edit: invalid,
        ..UserPageState::default()
    };
    let quota = quota_of(&state, &admin, &user).await?;
    let page = user_page(&viewer(&state, &admin), &user, &quota, &plans, page_state);
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

/// `POST /admin/users/<id>/password/`: a new password, which ends the user's sessions and
/// tokens (the vault's rule).
pub(crate) async fn reset_password(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = parse_id(&id, prefix)?;
    let user = get_user(&state, &admin, id).await?;
    let mut invalid = Invalid::default();
    match Password::new(form.password) {
        Ok(password) => {
            let changes = UserChanges {
                password: Some(password),
                ..UserChanges::default()
            };
            match state.vault.update_user(&admin.0.account, id, changes).await {
                Ok(_) => {
                    return Ok(see_other(&format!(
                        "{prefix}{}?done=password",
                        user_path(id)
                    )));
                }
                Err(error) => invalid = Invalid::from_vault(error, prefix)?,
            }
        }
        Err(error) => invalid.add(error),
    }
    let plans = all_plans(&state, &admin).await?;
    let page_state = UserPageState {
        password: invalid,
        ..UserPageState::default()
    };
    let quota = quota_of(&state, &admin, &user).await?;
    let page = user_page(&viewer(&state, &admin), &user, &quota, &plans, page_state);
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

/// `POST /admin/users/<id>/sign-out/`: ends every session and token of the user.
pub(crate) async fn sign_out(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    admin.0.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = parse_id(&id, prefix)?;
    // An unknown or deleted user is a 404 page, as everywhere else.
    get_user(&state, &admin, id).await?;
    state
        .vault
        .sign_out_user_everywhere(&admin.0.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other(&format!(
        "{prefix}{}?done=signed-out",
        user_path(id)
    )))
}

/// `GET /admin/users/<id>/delete/`: are you sure?
pub(crate) async fn confirm_delete(
    admin: SignedInAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id, state.config.path_prefix())?;
    let user = get_user(&state, &admin, id).await?;
    let viewer = viewer(&state, &admin);
    let path = user_path(id);
    let name = user.username.as_str();
    let title = format!("Delete user {name}?");
    let body = html! {
        h1 { (title) }
        p { "The user can no longer sign in from this moment; their images, stored files and links are deleted too. This cannot be undone." }
        form #confirm-delete-user method="post" action=(viewer.href(&format!("{path}delete/"))) {
            (viewer.csrf_field())
            p.actions {
                button.danger type="submit" { "Yes, delete " (name) }
                " "
                a href=(viewer.href(&path)) { "No, go back" }
            }
        }
    };
    Ok(admin_page(&viewer, &title, body).into_response())
}

/// `POST /admin/users/<id>/delete/`: locks the user at once; the vault deletes their
/// images in the background.
pub(crate) async fn delete(
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
        .delete_user(&admin.0.account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other(&format!("{prefix}/admin/users/?done=deleted")))
}

/// `POST /admin/users/<id>/regenerate/`: makes every thumbnail of the user's images
/// again.
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
        .regenerate_thumbnails(&admin.0.account, Regenerate::User(id))
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    Ok(see_other(&format!(
        "{prefix}{}?done=regenerating",
        user_path(id)
    )))
}
