//! The administrators' console under `/admin/`: the dashboard, users, plans and every
//! user's images. Every handler takes [`SignedInAdmin`] first, so anyone else signed in
//! gets a 403 page and a signed-out browser the login page, whatever the form holds.
//!
//! The pages read and write through the vault's administrator methods; what is allowed
//! (username and password rules, plan names and heights, a plan in use) is the vault's
//! to say, and its words are shown next to the field they concern.

mod dashboard;
mod images;
mod plans;
mod users;

use std::collections::BTreeMap;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use imagevault_core::page::{Cursor, ListKind};
use imagevault_core::{Page, PageLimit, PageRequest, Plan, PlanId, ValidationError, VaultError};
use maud::{Markup, html};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

use super::format;
use super::html::{PageError, Viewer, field_errors, page};
use super::session::SignedInAdmin;

/// Rows per page of the users and plans tables.
const TABLE_PAGE: i64 = 50;

/// The administrators' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/", get(dashboard::dashboard))
        .route("/admin/users/", get(users::list))
        .route(
            "/admin/users/new/",
            get(users::new_form).post(users::create),
        )
        .route("/admin/users/{id}/", get(users::show).post(users::update))
        .route("/admin/users/{id}/password/", post(users::reset_password))
        .route("/admin/users/{id}/sign-out/", post(users::sign_out))
        .route(
            "/admin/users/{id}/delete/",
            get(users::confirm_delete).post(users::delete),
        )
        .route("/admin/plans/", get(plans::list))
        .route(
            "/admin/plans/new/",
            get(plans::new_form).post(plans::create),
        )
        .route("/admin/plans/{id}/", get(plans::show).post(plans::update))
        .route(
            "/admin/plans/{id}/delete/",
            get(plans::confirm_delete).post(plans::delete),
        )
        .route("/admin/images/", get(images::list))
        .route("/admin/images/{id}/delete/", post(images::delete))
        .route("/admin/images/{id}/retry/", post(images::retry))
        .route("/admin/images/retry-failed/", post(images::retry_failed))
        .route("/admin/users/{id}/regenerate/", post(users::regenerate))
        .route("/admin/plans/{id}/regenerate/", post(plans::regenerate))
}

/// The viewer of an administrator's page.
fn viewer<'a>(state: &'a AppState, admin: &'a SignedInAdmin) -> Viewer<'a> {
    Viewer {
        prefix: state.config.path_prefix(),
        signed_in: Some(&admin.0),
    }
}

/// An administrator's page: the shell with the console's own navigation above `body`.
fn admin_page(viewer: &Viewer<'_>, title: &str, body: Markup) -> Markup {
    let body = html! {
        nav.admin-nav aria-label="Administration" {
            ul.actions {
                li { a href=(viewer.href("/admin/")) { "Dashboard" } }
                li { a href=(viewer.href("/admin/users/")) { "Users" } }
                li { a href=(viewer.href("/admin/plans/")) { "Plans" } }
                li { a href=(viewer.href("/admin/images/")) { "Images" } }
            }
        }
        (body)
    };
    page(viewer, title, body)
}

/// A timestamp as pages show it, in UTC to the minute, with the exact time for machines.
fn time(at: &DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) { (format::timestamp(*at)) }
    }
}

/// The confirmation a redirect after a successful form carries (`?done=`), as a fixed
/// sentence: nothing the query holds is echoed into the page.
fn done_message(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "Created.",
        "saved" => "Saved.",
        "password" => "Password set; the user's sessions and API tokens have ended.",
        "signed-out" => "The user's sessions and API tokens have ended.",
        "deleted" => "Deleted.",
        "retried" => "The image's thumbnails are being made again.",
        "retried-failed" => "Every failed thumbnail is being made again.",
        "regenerating" => {
            "The thumbnails are being made again; the current ones are served until then."
        }
        _ => return None,
    })
}

fn notice(done: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = done_message(done) {
            p.notice.message-ok role="status" { (message) }
        }
    }
}

/// A form's input errors, by field, as the vault worded them.
#[derive(Debug, Default)]
struct Invalid(BTreeMap<String, Vec<String>>);

impl Invalid {
    fn add(&mut self, error: ValidationError) {
        self.0
            .entry(error.field.to_owned())
            .or_default()
            .push(error.message);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages about `field`.
    fn get(&self, field: &str) -> &[String] {
        self.0.get(field).map_or(&[], Vec::as_slice)
    }

    /// The messages about fields other than the form's own `fields`, shown above it.
    fn others(&self, fields: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(field, _)| !fields.contains(&field.as_str()))
            .flat_map(|(_, messages)| messages.iter().cloned())
            .collect()
    }

    /// The field errors of a refusal the form can show (the API's 400s); anything else
    /// (a missing record, a failed database) is a page of its own.
    fn from_vault(error: VaultError, prefix: &str) -> Result<Self, PageError> {
        let error = ApiError::from(error);
        match error.body() {
            ErrorBody::Fields(fields) if error.status() == StatusCode::BAD_REQUEST => {
                Ok(Self(fields.clone()))
            }
            _ => Err(PageError::new(error, prefix)),
        }
    }
}

/// An input with its label, its errors next to it, and `aria-describedby` tying them.
fn labelled(field: &str, label: &str, invalid: &Invalid, input: Markup) -> Markup {
    html! {
        p {
            label for=(format!("id_{field}")) { (label) }
            (input)
            (field_errors(field, invalid.get(field)))
        }
    }
}

/// `aria-describedby` for a field's input, when it has errors.
fn described_by(field: &str, invalid: &Invalid) -> Option<String> {
    (!invalid.get(field).is_empty()).then(|| format!("{field}-error"))
}

/// The errors about no field of the form, above it.
fn form_errors(messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            div.errors role="alert" {
                @for message in messages { p { (message) } }
            }
        }
    }
}

/// A page of `kind` from a `?cursor=` (none or empty: the first page).
fn page_request(
    cursor: Option<&str>,
    kind: ListKind,
    prefix: &str,
) -> Result<PageRequest, PageError> {
    let cursor = cursor
        .filter(|text| !text.is_empty())
        .map(|text| Cursor::decode(text, kind))
        .transpose()
        .map_err(|error| PageError::new(error, prefix))?;
    Ok(PageRequest {
        limit: PageLimit::new(TABLE_PAGE).map_err(|error| PageError::new(error, prefix))?,
        cursor,
    })
}

/// The "newer" and "older" links of a keyset page; `query` is the list's other
/// parameters, already encoded, each followed by `&`.
fn pager<T>(viewer: &Viewer<'_>, path: &str, query: &str, page: &Page<T>) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if let Some(previous) = &page.previous {
                a rel="prev" href=(viewer.href(&format!("{path}?{query}cursor={}", previous.encode()))) { "Newer" }
            }
            @if let Some(next) = &page.next {
                a rel="next" href=(viewer.href(&format!("{path}?{query}cursor={}", next.encode()))) { "Older" }
            }
        }
    }
}

/// Every plan, newest first, for plan selects and names: plans are few, so all pages
/// are read.
async fn all_plans(state: &AppState, admin: &SignedInAdmin) -> Result<Vec<Plan>, PageError> {
    let prefix = state.config.path_prefix();
    let mut plans = Vec::new();
    let mut cursor = None;
    loop {
        let request = PageRequest {
            limit: PageLimit::new(i64::from(PageLimit::MAX))
                .map_err(|error| PageError::new(error, prefix))?,
            cursor,
        };
        let page = state
            .vault
            .list_plans(&admin.0.account, request)
            .await
            .map_err(|error| PageError::vault(error, prefix))?;
        plans.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(plans),
        }
    }
}

/// A plan's name among `plans`, or "no plan".
fn plan_name(plans: &[Plan], id: Option<PlanId>) -> Markup {
    html! {
        @match id.and_then(|id| plans.iter().find(|plan| plan.id == id)) {
            Some(plan) => (plan.name.as_str()),
            None => em { "no plan" },
        }
    }
}

/// `text` for a query string.
fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Whether an HTML checkbox was sent: browsers send it (as `on`) only when it is checked.
fn checked(value: Option<&String>) -> bool {
    value.is_some()
}
