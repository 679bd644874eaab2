//! Checks of [`LinkRepo`](crate::LinkRepo): round trips, the keyset list and public lookups.

use crate::page::{KeysetQuery, Positioned};
use crate::repo::Conflict;
use crate::{ExpiringLink, ExpirySeconds, ImageRecord, LinkId, LinkKey, PlanId, Repo};

use super::fixtures::{
    Answer, Collection, Lookup, assert_conflict, bare_image, clean_up, insert, link_value, micros,
    move_to_plan, new_image, new_link, new_plan, new_user, now,
};
use super::keyset::{Scope, check_keyset_list};

/// A link round-trips through `insert_link` and `get_link`, which is owner-scoped;
/// `update_link` changes the expiry (and only of the owner's link); `delete_link` is
/// owner-scoped and `false` the second time; a link to a missing image is
/// [`Conflict::MissingReference`].
pub async fn links_insert_get_update_delete(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let stranger = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let record = insert(repo, new_image(owner.id, now())).await;
    let link = new_link(repo, &record.image, micros(now(), 3)).await;
    repo.get_link(owner.id, link.id).await.must_be(
        Some(link.clone()),
        "a link must round-trip through insert_link and get_link",
    );
    repo.get_link(stranger.id, link.id)
        .await
        .must_be_none("get_link must not return another user's link");
    repo.get_link(owner.id, LinkId::new())
        .await
        .must_be_none("get_link of an unknown id must be None");

    let longer = link.with_expiry(ExpirySeconds::new(30_000).expect("a valid expiry"));
    repo.update_link(&longer)
        .await
        .must_be(true, "update_link of the owner's link must be true");
    repo.get_link(owner.id, link.id).await.must_be(
        Some(longer.clone()),
        "update_link must change expiry_seconds and expires_at",
    );
    let hijack = ExpiringLink {
        owner: stranger.id,
        ..link.with_expiry(ExpirySeconds::new(600).expect("valid"))
    };
    repo.update_link(&hijack)
        .await
        .must_be(false, "update_link of another user's link must be false");
    let missing = link_value(&record.image, now());
    repo.update_link(&missing)
        .await
        .must_be(false, "update_link of a missing link must be false");
    repo.get_link(owner.id, missing.id)
        .await
        .must_be_none("update_link of a missing link must not create it");
    repo.get_link(owner.id, link.id).await.must_be(
        Some(longer.clone()),
        "a refused update_link must change nothing",
    );

    repo.delete_link(stranger.id, link.id)
        .await
        .must_be(false, "delete_link of another user's link must be false");
    repo.get_link(owner.id, link.id)
        .await
        .must_find("delete_link by another user must leave the link");
    repo.delete_link(owner.id, link.id)
        .await
        .must_be(true, "delete_link must be true");
    repo.get_link(owner.id, link.id)
        .await
        .must_be_none("a deleted link must be gone");
    repo.find_link(&link.key)
        .await
        .must_be_none("a deleted link must not be found by key");
    repo.delete_link(owner.id, link.id)
        .await
        .must_be(false, "deleting a link twice must be false");

    let ghost = bare_image(owner.id, now());
    let orphan = link_value(&ghost.image, now());
    assert_conflict(
        repo.insert_link(&orphan).await,
        Conflict::MissingReference,
        "insert_link to a missing image",
    );
    repo.get_link(owner.id, orphan.id)
        .await
        .must_be_none("a refused insert_link must not store the link");
    repo.find_link(&orphan.key)
        .await
        .must_be_none("a refused insert_link must not store the link");
    clean_up(repo, &[owner.id, stranger.id], &[]).await;
}

/// `list_links` lists one owner's links, optionally of one image, newest first by
/// `(created_at, id)` with ties broken by id, following [`KeysetQuery`] exactly; another
/// user's links never appear.
pub async fn links_list_by_keyset(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let other = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let base = now();
    let first = insert(repo, new_image(owner.id, micros(base, -10_000_000))).await;
    let second = insert(repo, new_image(owner.id, micros(base, -10_000_000))).await;
    let theirs = insert(repo, new_image(other.id, micros(base, -10_000_000))).await;
    let layout: [(&ImageRecord, i64); 7] = [
        (&first, 0),
        (&second, 0),
        (&first, 0),
        (&second, 4),
        (&first, 4),
        (&first, 900),
        (&second, -50),
    ];
    let links: Vec<ExpiringLink> = layout
        .iter()
        .map(|&(record, offset)| link_value(&record.image, micros(base, offset)))
        .collect();
    for index in [2, 5, 0, 6, 3, 1, 4] {
        repo.insert_link(&links[index])
            .await
            .expect("insert_link failed");
    }
    let their_links = [
        new_link(repo, &theirs.image, base).await,
        new_link(repo, &theirs.image, micros(base, 4)).await,
    ];

    let owner_id = owner.id;
    check_keyset_list(
        "list_links",
        Scope::Own,
        &links,
        Positioned::position,
        move |query| async move { repo.list_links(owner_id, None, &query).await },
    )
    .await;
    let of_first: Vec<ExpiringLink> = links
        .iter()
        .filter(|link| link.image_id == first.image.id)
        .cloned()
        .collect();
    let image = first.image.id;
    check_keyset_list(
        "list_links of one image",
        Scope::Own,
        &of_first,
        Positioned::position,
        move |query| async move { repo.list_links(owner_id, Some(image), &query).await },
    )
    .await;
    let other_id = other.id;
    check_keyset_list(
        "list_links",
        Scope::Own,
        &their_links,
        Positioned::position,
        move |query| async move { repo.list_links(other_id, None, &query).await },
    )
    .await;
    repo.list_links(owner.id, Some(theirs.image.id), &KeysetQuery::first(100))
        .await
        .must_be_empty(
            "list_links must not list another user's links, even filtered by their image",
        );
    clean_up(repo, &[owner.id, other.id], &[]).await;
}

/// `find_link` finds a link by its public key with its image and the owner's current plan
/// (a plan change shows at once; `None` without a plan), and nothing for unknown keys.
pub async fn find_link_sees_image_and_current_plan(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let record = insert(repo, new_image(user.id, now())).await;
    let link = new_link(repo, &record.image, now()).await;
    let target = repo
        .find_link(&link.key)
        .await
        .must_find("find_link must find a link by its key");
    assert_eq!(target.link, link, "find_link must return the link");
    assert_eq!(
        target.image, record.image,
        "find_link must return the link's image"
    );
    assert_eq!(
        target.owner_plan,
        Some(plan.clone()),
        "find_link must return the owner's plan"
    );

    move_to_plan(repo, &user, Some(PlanId::ENTERPRISE)).await;
    let enterprise = repo
        .get_plan(PlanId::ENTERPRISE)
        .await
        .expect("get_plan failed");
    let target = repo
        .find_link(&link.key)
        .await
        .must_find("find_link must find the link");
    assert_eq!(
        target.owner_plan, enterprise,
        "find_link must reflect a change of the owner's plan"
    );

    move_to_plan(repo, &user, None).await;
    let target = repo
        .find_link(&link.key)
        .await
        .must_find("find_link must find the link");
    assert_eq!(
        target.owner_plan, None,
        "find_link's plan must be None when the owner has none"
    );

    repo.find_link(&LinkKey::generate())
        .await
        .must_be_none("find_link of an unknown key must be None");
    clean_up(repo, &[user.id], &[plan.id]).await;
}
