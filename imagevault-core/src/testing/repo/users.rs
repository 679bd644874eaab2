//! Checks of the user half of [`UserRepo`](crate::UserRepo): round trips, conflicts, lists and
//! search, and deleting a user.

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashSet;
use uuid::Uuid;

use crate::page::{KeysetQuery, Positioned};
use crate::repo::Conflict;
use crate::{
    ExpiringLink, ImageRecord, PasswordHash, PlanId, Repo, StorageKey, ThumbnailStatus, TokenHash,
    User, UserId, Username,
};

use super::fixtures::{
    Answer, Collection, Lookup, PHC, assert_conflict, bare_image, clean_up, far_future, far_past,
    insert, micros, new_link, new_plan, new_user, now, row, sorted, store_token, user_value,
};
use super::keyset::{Scope, check_keyset_list};

/// A user round-trips through `create_user`, `get_user` and `find_user_by_username`, with
/// the admin flag, a missing plan and the password hash; `update_user` replaces every
/// field but id and creation time and is `false` for a missing user; `delete_user`
/// removes the user and is `false` the second time.
pub async fn user_create_get_update_delete(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200]).await;
    let admin = User {
        is_admin: true,
        ..user_value(Some(plan.id), now())
    };
    repo.create_user(&admin).await.expect("create_user failed");
    let stored = repo.get_user(admin.id).await.expect("get_user failed");
    assert_eq!(
        stored.as_ref(),
        Some(&admin),
        "a user must round-trip through create_user and get_user"
    );
    assert_eq!(
        stored.as_ref().map(|user| user.password_hash.as_str()),
        Some(PHC),
        "the password hash must round-trip as the same PHC string"
    );
    repo.find_user_by_username(&admin.username).await.must_be(
        Some(admin.clone()),
        "find_user_by_username must find a user by their exact username",
    );

    let planless = user_value(None, micros(now(), -1));
    repo.create_user(&planless)
        .await
        .expect("create_user without a plan failed");
    repo.get_user(planless.id).await.must_be(
        Some(planless.clone()),
        "a user with no plan and no admin flag must round-trip",
    );
    repo.get_user(UserId::new())
        .await
        .must_be_none("get_user of an unknown id must be None");
    let unknown = Username::parse(&crate::testing::unique("nobody")).expect("a valid username");
    repo.find_user_by_username(&unknown)
        .await
        .must_be_none("find_user_by_username of an unknown name must be None");

    let changed = User {
        username: Username::parse(&crate::testing::unique("renamed")).expect("a valid username"),
        password_hash: PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXI$b3RoZXJoYXNo",
        ),
        is_admin: false,
        plan_id: Some(PlanId::BASIC),
        created_at: admin.created_at + TimeDelta::days(1),
        ..admin.clone()
    };
    repo.update_user(&changed)
        .await
        .must_be(true, "update_user of a stored user must be true");
    let expected = User {
        created_at: admin.created_at,
        ..changed.clone()
    };
    repo.get_user(admin.id).await.must_be(
        Some(expected.clone()),
        "update_user must replace every field but the id and the creation time",
    );
    repo.find_user_by_username(&admin.username)
        .await
        .must_be_none("a renamed user must no longer be found by their old username");
    repo.find_user_by_username(&changed.username).await.must_be(
        Some(expected.clone()),
        "a renamed user must be found by their new username",
    );
    let demoted = User {
        plan_id: None,
        ..expected
    };
    assert!(
        repo.update_user(&demoted)
            .await
            .expect("update_user to no plan failed"),
        "update_user must be true"
    );
    repo.get_user(admin.id).await.must_be(
        Some(demoted),
        "update_user must be able to take a user's plan away",
    );

    let missing = user_value(None, now());
    repo.update_user(&missing)
        .await
        .must_be(false, "update_user of a missing user must be false");
    repo.get_user(missing.id)
        .await
        .must_be_none("update_user of a missing user must not create them");

    repo.delete_user(admin.id)
        .await
        .must_be(true, "delete_user of a stored user must be true");
    repo.get_user(admin.id)
        .await
        .must_be_none("a deleted user must be gone");
    repo.find_user_by_username(&changed.username)
        .await
        .must_be_none("a deleted user must not be found by username");
    repo.delete_user(admin.id)
        .await
        .must_be(false, "deleting a user twice must be false");
    clean_up(repo, &[planless.id], &[plan.id]).await;
}

/// A taken username is [`Conflict::UsernameTaken`] and an unknown plan id is
/// [`Conflict::MissingReference`], on create and on update, and the failed write
/// changes nothing.
pub async fn user_conflicts(repo: &dyn Repo) {
    let first = new_user(repo, Some(PlanId::BASIC)).await;
    let second = new_user(repo, None).await;

    let clash = User {
        username: first.username.clone(),
        ..user_value(None, now())
    };
    assert_conflict(
        repo.create_user(&clash).await,
        Conflict::UsernameTaken,
        "create_user with a taken username",
    );
    repo.get_user(clash.id)
        .await
        .must_be_none("a create_user that conflicts must not store the user");
    repo.find_user_by_username(&first.username).await.must_be(
        Some(first.clone()),
        "a conflicting create_user must leave the username's owner as they were",
    );

    let orphan = user_value(Some(PlanId::new()), now());
    assert_conflict(
        repo.create_user(&orphan).await,
        Conflict::MissingReference,
        "create_user with an unknown plan",
    );
    repo.get_user(orphan.id)
        .await
        .must_be_none("a create_user with an unknown plan must not store the user");
    repo.find_user_by_username(&orphan.username)
        .await
        .must_be_none("a create_user with an unknown plan must not take the username");

    let renamed = User {
        username: first.username.clone(),
        is_admin: true,
        ..second.clone()
    };
    assert_conflict(
        repo.update_user(&renamed).await,
        Conflict::UsernameTaken,
        "update_user to a taken username",
    );
    repo.get_user(second.id).await.must_be(
        Some(second.clone()),
        "an update_user that conflicts on the username must change nothing",
    );
    let replanned = User {
        plan_id: Some(PlanId::new()),
        is_admin: true,
        ..second.clone()
    };
    assert_conflict(
        repo.update_user(&replanned).await,
        Conflict::MissingReference,
        "update_user to an unknown plan",
    );
    repo.get_user(second.id).await.must_be(
        Some(second.clone()),
        "an update_user with an unknown plan must change nothing",
    );
    let promoted = User {
        is_admin: true,
        ..second.clone()
    };
    assert!(
        repo.update_user(&promoted)
            .await
            .expect("update_user keeping the user's own username must not conflict"),
        "update_user of a stored user must be true"
    );
    clean_up(repo, &[first.id, second.id], &[]).await;
}

/// `list_users` is newest first by `(created_at, id)`, ties broken by id, and follows
/// [`KeysetQuery`] in both directions (checked on the check's own far-future users).
pub async fn users_list_newest_first(repo: &dyn Repo) {
    let base = far_future();
    let users: Vec<User> = [0, 0, 2, 3, 3, 3, 8]
        .into_iter()
        .map(|offset| User {
            id: UserId::from_uuid(Uuid::new_v4()),
            ..user_value(None, micros(base, offset))
        })
        .collect();
    for index in [4, 6, 0, 2, 5, 1, 3] {
        repo.create_user(&users[index])
            .await
            .expect("create_user failed");
    }
    check_keyset_list(
        "list_users",
        Scope::Shared,
        &users,
        Positioned::position,
        move |query| async move { repo.list_users(&query).await },
    )
    .await;
    let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
    clean_up(repo, &ids, &[]).await;
}

/// `begin_user_deletion` locks an account in one step: its tokens find nobody, its
/// password hash is unusable, its plan is gone, `update_user` is `false` and `insert_token` a
/// [`Conflict::MissingReference`] from then on; others are untouched. Marked users are
/// listed by `users_being_deleted`, oldest mark first (a second mark keeps the first
/// time), until `delete_user`. An unknown user is `false`.
pub async fn begin_user_deletion_locks_the_account(repo: &dyn Repo) {
    repo.begin_user_deletion(UserId::new(), now())
        .await
        .must_be(
            false,
            "begin_user_deletion of an unknown user must be false",
        );
    let first = new_user(repo, Some(PlanId::BASIC)).await;
    let second = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let token = store_token(repo, first.id, None)
        .await
        .expect("insert_token failed");
    let other = store_token(repo, bystander.id, None)
        .await
        .expect("insert_token failed");

    // Marks far in the past, so that no other marked user falls between them or before.
    let marked_at = far_past();
    repo.begin_user_deletion(first.id, marked_at)
        .await
        .must_be(true, "begin_user_deletion of a user must be true");
    assert!(
        repo.begin_user_deletion(second.id, micros(marked_at, 1))
            .await
            .expect("begin_user_deletion failed")
    );
    repo.begin_user_deletion(first.id, now()).await.must_be(
        true,
        "begin_user_deletion of a user already marked must be true",
    );

    repo.find_token_owner(&token)
        .await
        .must_be_none("begin_user_deletion must revoke the user's tokens");
    repo.find_token_owner(&other)
        .await
        .must_find("begin_user_deletion must leave other users' tokens");
    let locked = repo
        .get_user(first.id)
        .await
        .must_find("a user being deleted stays readable until delete_user");
    assert!(
        locked.password_hash.is_unusable(),
        "begin_user_deletion must make the password unusable, got {:?}",
        locked.password_hash.as_str().get(..10)
    );
    assert_eq!(
        locked,
        User {
            password_hash: locked.password_hash.clone(),
            plan_id: None,
            ..first.clone()
        },
        "begin_user_deletion must remove the plan and change nothing else of the user"
    );
    let untouched = repo
        .get_user(bystander.id)
        .await
        .must_find("the bystander exists");
    assert_eq!(untouched, bystander, "other users must be untouched");

    let revived = User {
        password_hash: PasswordHash::from_phc(PHC),
        is_admin: true,
        ..first.clone()
    };
    repo.update_user(&revived)
        .await
        .must_be(false, "update_user of a user being deleted must be false");
    assert_eq!(
        repo.get_user(first.id)
            .await
            .expect("get_user failed")
            .map(|user| user.password_hash.is_unusable() && !user.is_admin),
        Some(true),
        "update_user must not change a user being deleted"
    );
    assert_conflict(
        store_token(repo, first.id, None).await,
        Conflict::MissingReference,
        "insert_token for a user being deleted",
    );

    // Other checks sharing the repository mark users of their own meanwhile: only the
    // order of this check's users, and the limit, are its to assert.
    let mut listed = repo
        .users_being_deleted(10_000)
        .await
        .expect("users_being_deleted failed");
    listed.retain(|id| *id == first.id || *id == second.id);
    assert_eq!(
        listed,
        vec![first.id, second.id],
        "users_being_deleted must list marked users oldest mark first, keeping the first mark"
    );
    assert_eq!(
        repo.users_being_deleted(1)
            .await
            .expect("users_being_deleted failed")
            .len(),
        1,
        "users_being_deleted must respect its limit"
    );
    clean_up(repo, &[first.id, second.id], &[]).await;
    let listed = repo
        .users_being_deleted(10_000)
        .await
        .expect("users_being_deleted failed");
    assert!(
        !listed.contains(&first.id) && !listed.contains(&second.id),
        "a deleted user must no longer be listed as being deleted"
    );
    assert!(
        !listed.contains(&bystander.id),
        "a user not being deleted must not be listed"
    );
    clean_up(repo, &[bystander.id], &[]).await;
}

/// A user named `name`, created at `created_at`, not yet stored.
fn named_user(name: &str, created_at: DateTime<Utc>) -> User {
    User {
        username: Username::parse(name).expect("a valid username"),
        ..user_value(None, created_at)
    }
}

/// `search_users` finds the users whose username contains the text anywhere, ignoring
/// the case of ASCII letters, newest first by `(created_at, id)` and paged by
/// [`KeysetQuery`] in both directions as `list_users` is; an empty text finds every user.
pub async fn search_users_by_keyset(repo: &dyn Repo) {
    // A random marker, so that only this check's users match it.
    let marker = crate::testing::unique("find");
    let upper = marker.to_ascii_uppercase();
    let base = now();
    let names = [
        marker.clone(),
        format!("a{upper}"),
        format!("{marker}.z"),
        format!("x_{marker}_y"),
        format!("{upper}@b"),
        format!("q{marker}"),
        format!("{marker}{marker}"),
    ];
    let matching: Vec<User> = names
        .iter()
        .zip([0, 0, 2, 3, 3, 3, 8])
        .map(|(name, offset)| named_user(name, micros(base, offset)))
        .collect();
    // Near misses: the marker broken, in the same time span.
    let (head, tail) = marker.split_at(4);
    let misses = [
        named_user(&format!("{head}.{tail}"), micros(base, 3)),
        named_user(&marker[1..], micros(base, 1)),
    ];
    for user in matching.iter().chain(&misses) {
        repo.create_user(user).await.expect("create_user failed");
    }
    for text in [marker.as_str(), upper.as_str()] {
        check_keyset_list(
            "search_users",
            Scope::Own,
            &matching,
            Positioned::position,
            move |query| async move { repo.search_users(text, &query).await },
        )
        .await;
    }
    let part = &marker[2..];
    let found = repo
        .search_users(part, &KeysetQuery::first(1000))
        .await
        .expect("search_users failed");
    let ids: HashSet<UserId> = found.iter().map(|user| user.id).collect();
    assert!(
        matching.iter().all(|user| ids.contains(&user.id)) && ids.contains(&misses[1].id),
        "search_users must find the text anywhere in the username"
    );
    assert!(
        !ids.contains(&misses[0].id),
        "search_users must not find a username without the text"
    );
    let everyone = repo
        .search_users("", &KeysetQuery::first(1000))
        .await
        .expect("search_users failed");
    let everyone_ids: HashSet<UserId> = everyone.iter().map(|user| user.id).collect();
    assert!(
        matching
            .iter()
            .chain(&misses)
            .all(|user| everyone_ids.contains(&user.id)),
        "search_users with an empty text must find every user"
    );
    let ids: Vec<UserId> = matching.iter().chain(&misses).map(|user| user.id).collect();
    clean_up(repo, &ids, &[]).await;
}

/// `%`, `_` and `\` in the search text are literal characters, never wildcards.
pub async fn search_users_takes_text_literally(repo: &dyn Repo) {
    let marker = crate::testing::unique("lit");
    let underscored = named_user(&format!("{marker}a_b"), now());
    let lettered = named_user(&format!("{marker}axb"), now());
    for user in [&underscored, &lettered] {
        repo.create_user(user).await.expect("create_user failed");
    }
    let found = |text: String| async move {
        repo.search_users(&text, &KeysetQuery::first(1000))
            .await
            .expect("search_users failed")
            .into_iter()
            .map(|user| user.id)
            .collect::<Vec<UserId>>()
    };
    assert_eq!(
        found(format!("{marker}a_b")).await,
        vec![underscored.id],
        "an underscore in the text must match only an underscore"
    );
    assert!(
        found(format!("{marker}%")).await.is_empty(),
        "a percent sign in the text must match only a percent sign"
    );
    assert!(
        found(format!("{marker}a\\_b")).await.is_empty(),
        "a backslash in the text must match only a backslash"
    );
    clean_up(repo, &[underscored.id, lettered.id], &[]).await;
}

/// `delete_user` removes the user's tokens, images, thumbnails and links, and nothing of
/// another user's.
pub async fn delete_user_removes_everything_of_theirs(repo: &dyn Repo) {
    struct Holdings {
        user: User,
        token: TokenHash,
        record: ImageRecord,
        ready_key: StorageKey,
        link: ExpiringLink,
    }
    async fn holdings(repo: &dyn Repo) -> Holdings {
        let user = new_user(repo, Some(PlanId::ENTERPRISE)).await;
        let token = store_token(repo, user.id, None)
            .await
            .expect("insert_token failed");
        let mut record = bare_image(user.id, now());
        let ready = row(&record.image, 200, ThumbnailStatus::Ready, 1, now());
        let ready_key = ready.storage_key.clone().expect("a ready row has a key");
        record.thumbnails = vec![
            ready,
            row(&record.image, 400, ThumbnailStatus::Pending, 0, now()),
        ];
        let record = insert(repo, record).await;
        let link = new_link(repo, &record.image, now()).await;
        Holdings {
            user,
            token,
            record,
            ready_key,
            link,
        }
    }
    let doomed = holdings(repo).await;
    let kept = holdings(repo).await;

    repo.delete_user(doomed.user.id)
        .await
        .must_be(true, "delete_user must be true");
    let everything = KeysetQuery::first(100);
    repo.find_token_owner(&doomed.token)
        .await
        .must_be_none("delete_user must remove the user's tokens");
    repo.get_image_by_id(doomed.record.image.id)
        .await
        .must_be_none("delete_user must remove the user's images");
    repo.list_images(doomed.user.id, &everything)
        .await
        .must_be_empty("delete_user must remove the user's images");
    repo.find_original(&doomed.record.image.storage_key)
        .await
        .must_be_none("delete_user must remove the user's images");
    repo.referenced_keys(std::slice::from_ref(&doomed.ready_key))
        .await
        .must_be_empty("delete_user must remove the user's thumbnails");
    repo.find_link(&doomed.link.key)
        .await
        .must_be_none("delete_user must remove the user's links");
    repo.list_links(doomed.user.id, None, &everything)
        .await
        .must_be_empty("delete_user must remove the user's links");

    assert_eq!(
        repo.find_token_owner(&kept.token)
            .await
            .expect("find_token_owner failed")
            .map(|owner| owner.user),
        Some(kept.user.clone()),
        "delete_user must not remove another user's tokens"
    );
    repo.get_image(kept.user.id, kept.record.image.id)
        .await
        .must_be(
            Some(sorted(kept.record.clone())),
            "delete_user must not remove another user's images or thumbnails",
        );
    assert!(
        repo.referenced_keys(std::slice::from_ref(&kept.ready_key))
            .await
            .expect("referenced_keys failed")
            .contains(&kept.ready_key),
        "delete_user must not remove another user's thumbnails"
    );
    repo.list_links(kept.user.id, None, &everything)
        .await
        .must_be(
            std::slice::from_ref(&kept.link),
            "delete_user must not remove another user's links",
        );
    repo.delete_user(doomed.user.id)
        .await
        .must_be(false, "deleting a user twice must be false");

    // A new user under the deleted user's id must inherit nothing: the only way to see
    // that the rows were removed rather than merely orphaned.
    let reborn = User {
        id: doomed.user.id,
        ..user_value(Some(PlanId::ENTERPRISE), now())
    };
    repo.create_user(&reborn)
        .await
        .expect("create_user under a deleted user's id failed");
    let rule = "delete_user must remove the user's tokens, not leave them to a later user with the same id";
    repo.find_token_owner(&doomed.token)
        .await
        .must_be_none(rule);
    let rule = "delete_user must remove the user's images, not leave them to a later user with the same id";
    repo.list_images(reborn.id, &everything)
        .await
        .must_be_empty(rule);
    let rule =
        "delete_user must remove the user's links, not leave them to a later user with the same id";
    repo.list_links(reborn.id, None, &everything)
        .await
        .must_be_empty(rule);
    clean_up(repo, &[reborn.id, kept.user.id], &[]).await;
}
