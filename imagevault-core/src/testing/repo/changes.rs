//! Checks of the change feeds a backend may offer (`link_changes`, `account_changes`).

use std::future::Future;

use crate::repo::ChangeFeed;
use crate::{ExpirySeconds, Plan, Repo, User};

use super::fixtures::{
    Answer, clean_up, insert, new_image, new_link, new_plan, new_user, now, token_value,
};

/// How long a backend may take to report a change on its [`ChangeFeed`] in these checks.
const CHANGE_REPORT_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A feed under test, with the name of the method that gave it, for messages.
struct NamedFeed<'a>(&'a str, ChangeFeed);

/// The feed's epoch once it is connected; panics if it does not connect in time.
async fn connected_epoch(NamedFeed(name, feed): &NamedFeed<'_>) -> u64 {
    let deadline = tokio::time::Instant::now() + CHANGE_REPORT_LIMIT;
    loop {
        if let Some(epoch) = feed.epoch() {
            return epoch;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the {name} feed did not connect within {CHANGE_REPORT_LIMIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Runs `change` and panics unless the feed then leaves epoch `before` (moves on, or
/// disconnects) within [`CHANGE_REPORT_LIMIT`].
async fn assert_reported<F: Future<Output = ()>>(named: &NamedFeed<'_>, what: &str, change: F) {
    let before = connected_epoch(named).await;
    change.await;
    let NamedFeed(name, feed) = named;
    let deadline = tokio::time::Instant::now() + CHANGE_REPORT_LIMIT;
    while feed.epoch() == Some(before) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} must report {what}, and did not within {CHANGE_REPORT_LIMIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// When a backend offers a [`link_changes`](crate::repo::LinkRepo::link_changes) feed,
/// every change that can alter a `find_link` answer moves it: a link updated or deleted,
/// its image deleted, the owner's plan changed, the owner deleted, the plan updated or
/// deleted. (On a repository shared with concurrent activity another change may move the
/// feed first; the check then proves less, never fails wrongly.)
pub async fn link_changes_are_reported(repo: &dyn Repo) {
    link_changes_made_elsewhere_are_reported(repo, repo).await;
}

/// [`link_changes_are_reported`] with the feed of `watched` and every change made through
/// `repo`: another repository on the same database, as another process would open it.
pub async fn link_changes_made_elsewhere_are_reported(watched: &dyn Repo, repo: &dyn Repo) {
    let Some(feed) = watched.link_changes() else {
        return;
    };
    let feed = NamedFeed("link_changes", feed);
    let plan = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let record = insert(repo, new_image(user.id, now())).await;
    let link = new_link(repo, &record.image, now()).await;

    let longer = link.with_expiry(ExpirySeconds::new(600).expect("a valid expiry"));
    assert_reported(&feed, "a link's update", async {
        assert!(repo.update_link(&longer).await.expect("update_link failed"));
    })
    .await;
    assert_reported(&feed, "a link's deletion", async {
        assert!(
            repo.delete_link(user.id, link.id)
                .await
                .expect("delete_link failed")
        );
    })
    .await;

    new_link(repo, &record.image, now()).await;
    assert_reported(&feed, "the deletion of a linked image", async {
        let deleted = repo
            .delete_image(user.id, record.image.id)
            .await
            .expect("delete_image failed");
        assert!(deleted.is_some());
    })
    .await;

    let other_plan = new_plan(repo, &[300]).await;
    let record = insert(repo, new_image(user.id, now())).await;
    new_link(repo, &record.image, now()).await;
    let moved = User {
        plan_id: Some(other_plan.id),
        ..user.clone()
    };
    assert_reported(&feed, "a change of the owner's plan", async {
        assert!(repo.update_user(&moved).await.expect("update_user failed"));
    })
    .await;
    let without_links = Plan {
        expiring_links: false,
        ..other_plan.clone()
    };
    assert_reported(&feed, "an update of the owner's plan", async {
        assert!(
            repo.update_plan(&without_links)
                .await
                .expect("update_plan failed")
        );
    })
    .await;
    assert_reported(&feed, "the owner's deletion", async {
        assert!(repo.delete_user(user.id).await.expect("delete_user failed"));
    })
    .await;
    assert_reported(&feed, "a plan's deletion", async {
        assert!(repo.delete_plan(plan.id).await.expect("delete_plan failed"));
    })
    .await;
    clean_up(repo, &[], &[other_plan.id]).await;
}

/// When a backend offers an [`account_changes`](crate::repo::UserRepo::account_changes)
/// feed, every change that can alter a `find_token_owner` answer moves it: a token
/// deleted, its user updated (any field) or deleted, the user's plan updated, a plan
/// deleted. (On a repository shared with concurrent activity another change may move the
/// feed first; the check then proves less, never fails wrongly.)
pub async fn account_changes_are_reported(repo: &dyn Repo) {
    account_changes_made_elsewhere_are_reported(repo, repo).await;
}

/// [`account_changes_are_reported`] with the feed of `watched` and every change made
/// through `repo`: another repository on the same database, as another process would
/// open it.
pub async fn account_changes_made_elsewhere_are_reported(watched: &dyn Repo, repo: &dyn Repo) {
    let Some(feed) = watched.account_changes() else {
        return;
    };
    let feed = NamedFeed("account_changes", feed);
    let plan = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let token = |user: &User| token_value(user.id, now());
    let first = token(&user);
    repo.insert_token(&first)
        .await
        .expect("insert_token failed");
    assert_reported(&feed, "a token's deletion", async {
        assert!(
            repo.delete_token(&first.hash)
                .await
                .expect("delete_token failed")
        );
    })
    .await;

    repo.insert_token(&token(&user))
        .await
        .expect("insert_token failed");
    let admin = User {
        is_admin: true,
        ..user.clone()
    };
    assert_reported(&feed, "a change of a user's admin flag", async {
        assert!(repo.update_user(&admin).await.expect("update_user failed"));
    })
    .await;
    let without_plan = User {
        plan_id: None,
        ..admin.clone()
    };
    assert_reported(&feed, "a change of a user's plan", async {
        assert!(
            repo.update_user(&without_plan)
                .await
                .expect("update_user failed")
        );
    })
    .await;
    assert!(repo.update_user(&admin).await.expect("update_user failed"));
    let wider = Plan {
        original_link: !plan.original_link,
        ..plan.clone()
    };
    assert_reported(&feed, "an update of the user's plan", async {
        assert!(repo.update_plan(&wider).await.expect("update_plan failed"));
    })
    .await;
    repo.insert_token(&token(&user))
        .await
        .expect("insert_token failed");
    assert_reported(&feed, "the revocation of a user's tokens", async {
        repo.delete_user_tokens(user.id)
            .await
            .must_be(2, "the two tokens stored since the first was deleted");
    })
    .await;
    repo.insert_token(&token(&user))
        .await
        .expect("insert_token failed");
    assert_reported(&feed, "the start of a user's deletion", async {
        assert!(
            repo.begin_user_deletion(user.id, now())
                .await
                .expect("begin_user_deletion failed")
        );
    })
    .await;
    assert_reported(&feed, "the user's deletion", async {
        assert!(repo.delete_user(user.id).await.expect("delete_user failed"));
    })
    .await;
    assert_reported(&feed, "a plan's deletion", async {
        assert!(repo.delete_plan(plan.id).await.expect("delete_plan failed"));
    })
    .await;
}
