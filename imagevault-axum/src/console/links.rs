//! Expiring links on the image page: the section that lists and creates them, and the
//! forms' targets `POST /images/<id>/links/`, `POST /links/<id>/` (a new lifetime) and
//! `POST /links/<id>/delete/`.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use imagevault_core::page::{Cursor, ListKind};
use imagevault_core::{
    ExpirySeconds, ImageId, LinkId, LinkView, PageLimit, PageRequest, PlanFeature, VaultError,
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;
use crate::schema;

use super::format;
use super::html::{PageError, PageResult, Viewer, field_errors, see_other};
use super::image::{image_id, render};
use super::session::SignedIn;

/// The form field of a link's lifetime in seconds.
const EXPIRES_IN: &str = "expires_in";

/// What a lifetime field holds when the page is shown again: what was typed and why it
/// was refused.
#[derive(Debug, Default)]
pub(crate) struct ExpiryInput {
    value: String,
    errors: Vec<String>,
}

/// The state of the link forms on the image page: empty, or one of them refused.
#[derive(Debug, Default)]
pub(crate) struct LinkForms {
    create: ExpiryInput,
    edit: Option<(LinkId, ExpiryInput)>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExpiryForm {
    #[serde(default, rename = "csrfmiddlewaretoken")]
    csrf: Option<String>,
    #[serde(default)]
    expires_in: String,
}

/// The lifetime typed in a form; anything but an integer in range gets the vault's words
/// for a value out of range, as the API answers.
fn expiry(text: &str) -> Result<ExpirySeconds, String> {
    let seconds = text
        .trim()
        .parse::<i64>()
        .map_err(|_| ExpirySeconds::out_of_range().message)?;
    ExpirySeconds::new(seconds).map_err(|error| error.message)
}

/// The number input of a lifetime, tied to its help and errors.
fn expiry_input(id: &str, value: &str, errors: &[String]) -> Markup {
    let described = if errors.is_empty() {
        "expires_in-help".to_owned()
    } else {
        format!("expires_in-help {id}-error")
    };
    html! {
        input id=(id) type="number" name=(EXPIRES_IN) value=(value) required
            min=(ExpirySeconds::MIN) max=(ExpirySeconds::MAX) step="1" inputmode="numeric"
            aria-describedby=(described) aria-invalid=[(!errors.is_empty()).then_some("true")];
        (field_errors(id, errors))
    }
}

fn link_row(
    viewer: &Viewer<'_>,
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
    view: &LinkView,
    edit: Option<&ExpiryInput>,
) -> Markup {
    let link = &view.link;
    let id = link.id.to_string();
    let url = state.absolute_from(&["/media/", &view.media_path]);
    let input_id = format!("expires_in-{id}");
    let current = link.expiry_seconds.get().to_string();
    let (value, errors) = match edit {
        Some(input) => (input.value.as_str(), input.errors.as_slice()),
        None => (current.as_str(), &[][..]),
    };
    html! {
        tr data-link-id=(id) data-expired=[view.expired.then_some("1")] {
            td {
                a.link-url href=(url) { (url) }
                " "
                button.copy-link.secondary type="button" hidden data-url=(url) { "Copy" }
            }
            td {
                time datetime=(schema::timestamp(link.created_at)) { (format::timestamp(link.created_at)) }
            }
            td {
                time datetime=(schema::timestamp(link.expires_at)) { (format::timestamp(link.expires_at)) }
            }
            td.time-left { (format::time_left(now, link.expires_at)) }
            td {
                form.inline-form.update-link method="post" action=(viewer.href(&format!("/links/{id}/"))) {
                    (viewer.csrf_field())
                    label for=(input_id) { "Lifetime (seconds from creation)" }
                    (expiry_input(&input_id, value, errors))
                    " "
                    button.secondary type="submit" { "Change" }
                }
            }
            td {
                form.inline-form.delete-link method="post" action=(viewer.href(&format!("/links/{id}/delete/")))
                    data-confirm="Delete this link? Its URL stops working at once." {
                    (viewer.csrf_field())
                    button.danger type="submit" { "Delete" }
                }
            }
        }
    }
}

/// The image page's section on expiring links: the create form and the image's links, or
/// a sentence when the plan has none.
pub(super) async fn section(
    state: &AppState,
    viewer: &Viewer<'_>,
    signed_in: &SignedIn,
    image: ImageId,
    cursor: Option<&str>,
    forms: &LinkForms,
) -> Result<Markup, PageError> {
    let prefix = viewer.prefix;
    let account = &signed_in.account;
    if let Err(error) = account.require_feature(PlanFeature::ExpiringLinks) {
        let plan = account.plan.as_ref().map(|plan| plan.name.as_str());
        return Ok(html! {
            section #links-section aria-labelledby="links-heading" {
                h2 #links-heading { "Expiring links" }
                p.notice #no-links {
                    @match (plan, error) {
                        (Some(plan), VaultError::PlanForbids(_)) => {
                            "Your plan (" (plan) ") has no expiring links."
                        }
                        _ => "You have no plan, so you cannot make expiring links.",
                    }
                }
            }
        });
    }
    let cursor = cursor
        .filter(|text| !text.is_empty())
        .map(|text| Cursor::decode(text, ListKind::Links))
        .transpose()
        .map_err(|error| PageError::new(error, prefix))?;
    let limit =
        PageLimit::new(i64::from(PageLimit::MAX)).map_err(|error| PageError::new(error, prefix))?;
    let links = state
        .vault
        .list_links(account, Some(image), PageRequest { limit, cursor })
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let now = state.vault.clock().now();
    let page_path = format!("/images/{image}/");
    Ok(html! {
        section #links-section aria-labelledby="links-heading" {
            h2 #links-heading { "Expiring links" }
            form #create-link method="post" action=(viewer.href(&format!("/images/{image}/links/"))) {
                (viewer.csrf_field())
                div.field {
                    label for=(EXPIRES_IN) { "Lifetime in seconds" }
                    (expiry_input(EXPIRES_IN, &forms.create.value, &forms.create.errors))
                    p.help #expires_in-help {
                        "From " (ExpirySeconds::MIN) " to " (ExpirySeconds::MAX) " seconds. Anyone with the link can open the original until then."
                    }
                }
                button type="submit" { "Create link" }
            }
            @if links.items.is_empty() {
                p #links-empty { "No links to this image yet." }
            } @else {
                table #links {
                    caption.visually-hidden { "Expiring links to this image" }
                    thead {
                        tr {
                            th scope="col" { "Link" }
                            th scope="col" { "Created" }
                            th scope="col" { "Expires" }
                            th scope="col" { "Time left" }
                            th scope="col" { "Change expiry" }
                            th scope="col" { "Delete" }
                        }
                    }
                    tbody {
                        @for view in &links.items {
                            @let edit = forms.edit.as_ref().filter(|(id, _)| *id == view.link.id).map(|(_, input)| input);
                            (link_row(viewer, state, now, view, edit))
                        }
                    }
                }
            }
            nav.pager aria-label="Pages of links" {
                @if let Some(previous) = &links.previous {
                    a rel="prev" href=(viewer.href(&format!("{page_path}?links_cursor={}#links-section", previous.encode()))) { "Newer links" }
                }
                @if let Some(next) = &links.next {
                    a rel="next" href=(viewer.href(&format!("{page_path}?links_cursor={}#links-section", next.encode()))) { "Older links" }
                }
            }
        }
    })
}

/// Where a link form goes back to: the image's page, at its links.
fn back_to(prefix: &str, image: ImageId) -> axum::response::Response {
    see_other(&format!("{prefix}/images/{image}/#links-section"))
}

/// `POST /images/<id>/links/`: a new link to the image.
pub(crate) async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ExpiryForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = image_id(&id, prefix)?;
    let refused = |errors: Vec<String>| LinkForms {
        create: ExpiryInput {
            value: form.expires_in.clone(),
            errors,
        },
        edit: None,
    };
    let expiry = match expiry(&form.expires_in) {
        Ok(expiry) => expiry,
        Err(message) => {
            let forms = refused(vec![message]);
            return render(
                &state,
                &signed_in,
                id,
                None,
                &forms,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    match state
        .vault
        .create_link(&signed_in.account, id, expiry)
        .await
    {
        Ok(_) => Ok(back_to(prefix, id)),
        // The vault words another user's image as a bad `base_image`; a page says 404.
        Err(VaultError::Validation(error)) if error.field == "base_image" => {
            Err(PageError::not_found(prefix))
        }
        Err(VaultError::Validation(error)) => {
            let forms = refused(vec![error.message]);
            render(
                &state,
                &signed_in,
                id,
                None,
                &forms,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => Err(PageError::vault(error, prefix)),
    }
}

/// `POST /links/<id>/`: a new lifetime for the link, still counted from its creation.
pub(crate) async fn update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ExpiryForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = LinkId::parse(&id).ok_or_else(|| PageError::not_found(prefix))?;
    let account = &signed_in.account;
    let current = state
        .vault
        .get_link(account, id)
        .await
        .map_err(|error| PageError::vault(error, prefix))?;
    let image = current.link.image_id;
    let refused = |errors: Vec<String>| LinkForms {
        create: ExpiryInput::default(),
        edit: Some((
            id,
            ExpiryInput {
                value: form.expires_in.clone(),
                errors,
            },
        )),
    };
    let expiry = match expiry(&form.expires_in) {
        Ok(expiry) => expiry,
        Err(message) => {
            let forms = refused(vec![message]);
            return render(
                &state,
                &signed_in,
                image,
                None,
                &forms,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    match state.vault.update_link(account, id, expiry).await {
        Ok(_) => Ok(back_to(prefix, image)),
        Err(VaultError::Validation(error)) => {
            let forms = refused(vec![error.message]);
            render(
                &state,
                &signed_in,
                image,
                None,
                &forms,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => Err(PageError::vault(error, prefix)),
    }
}

/// `POST /links/<id>/delete/`: deletes the link; its URL stops working at once.
pub(crate) async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ExpiryForm>,
) -> PageResult {
    let prefix = state.config.path_prefix();
    signed_in.check_csrf(form.csrf.as_deref(), prefix)?;
    let id = LinkId::parse(&id).ok_or_else(|| PageError::not_found(prefix))?;
    let account = &signed_in.account;
    let vault_error = |error| PageError::vault(error, prefix);
    let image = state
        .vault
        .get_link(account, id)
        .await
        .map_err(vault_error)?
        .link
        .image_id;
    state
        .vault
        .delete_link(account, id)
        .await
        .map_err(vault_error)?;
    Ok(back_to(prefix, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_lifetime_is_read_with_the_vaults_bounds_and_words() {
        assert_eq!(expiry(" 300 ").map(ExpirySeconds::get), Ok(300));
        assert_eq!(expiry("30000").map(ExpirySeconds::get), Ok(30_000));
        let out_of_range = ExpirySeconds::out_of_range().message;
        for bad in [
            "299",
            "30001",
            "",
            "abc",
            "1e3",
            "-5",
            "99999999999999999999",
        ] {
            assert_eq!(expiry(bad), Err(out_of_range.clone()), "{bad:?}");
        }
    }
}
