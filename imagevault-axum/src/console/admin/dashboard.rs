//! `/admin/`: what the installation holds and how much work waits, with the way to each
//! section.

use axum::extract::State;
use axum::response::IntoResponse;
use maud::{Markup, html};

use crate::AppState;

use super::super::format;
use super::super::html::{PageError, PageResult};
use super::super::session::SignedInAdmin;
use super::{admin_page, viewer};

fn figure(label: &str, id: &str, value: u64) -> Markup {
    html! {
        div.figure {
            dt { (label) }
            dd #(id) data-value=(value) { (value) }
        }
    }
}

/// `GET /admin/`.
pub(crate) async fn dashboard(admin: SignedInAdmin, State(state): State<AppState>) -> PageResult {
    let prefix = state.config.path_prefix();
    let figures = state
        .vault
        .dashboard(&admin.0.account)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let viewer = viewer(&state, &admin);
    let totals = figures.totals;
    let queue = figures.queue;
    let body = html! {
        h1 { "Administration" }
        section.card aria-labelledby="holds-heading" {
            h2 #holds-heading { "Stored" }
            dl.stats {
                (figure("Users", "stat-users", totals.users))
                (figure("Images", "stat-images", totals.images))
                div.figure {
                    dt { "Originals stored" }
                    dd #stat-bytes data-value=(totals.bytes) { (format::size(totals.bytes)) }
                }
            }
        }
        section.card aria-labelledby="work-heading" {
            h2 #work-heading { "Thumbnails and jobs" }
            dl.stats {
                (figure("Thumbnails pending", "stat-thumbnails-pending", totals.thumbnails_pending))
                (figure("Thumbnails failed", "stat-thumbnails-failed", totals.thumbnails_failed))
                (figure("Jobs ready", "stat-queue-ready", queue.ready))
                (figure("Jobs delayed", "stat-queue-delayed", queue.delayed))
                (figure("Jobs in flight", "stat-queue-in-flight", queue.in_flight))
                (figure("Dead letters", "stat-queue-dead", queue.dead))
            }
            @if totals.thumbnails_failed > 0 {
                p { a href=(viewer.href("/admin/images/?failed=1")) { "Images with failed thumbnails" } }
            }
        }
        nav aria-label="Sections" {
            ul.sections {
                li { a href=(viewer.href("/admin/users/")) { "Users" } ": accounts, plans and roles, passwords, sessions" }
                li { a href=(viewer.href("/admin/plans/")) { "Plans" } ": thumbnail heights and links" }
                li { a href=(viewer.href("/admin/images/")) { "Images" } ": every user's, failed thumbnails, retries" }
            }
        }
    };
    Ok(admin_page(&viewer, "Administration", body).into_response())
}
