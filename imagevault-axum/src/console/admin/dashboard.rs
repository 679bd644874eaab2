//! `/admin/`: the dashboard, with the way to each section.

use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;

use crate::AppState;

use super::super::html::PageResult;
use super::super::session::SignedInAdmin;
use super::{admin_page, viewer};

/// `GET /admin/`.
pub(crate) async fn dashboard(admin: SignedInAdmin, State(state): State<AppState>) -> PageResult {
    let viewer = viewer(&state, &admin);
    let body = html! {
        h1 { "Administration" }
        ul.sections {
            li { a href=(viewer.href("/admin/users/")) { "Users" } ": accounts, plans and roles, passwords, sessions" }
            li { a href=(viewer.href("/admin/plans/")) { "Plans" } ": thumbnail heights and links" }
        }
    };
    Ok(admin_page(&viewer, "Administration", body).into_response())
}
