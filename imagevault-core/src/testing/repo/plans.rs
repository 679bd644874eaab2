//! Checks of [`PlanRepo`](crate::PlanRepo): built-in plans, round trips, unique names,
//! plans in use, the keyset list and the per-plan user counts.

use chrono::TimeDelta;
use std::collections::HashSet;
use uuid::Uuid;

use crate::page::Positioned;
use crate::repo::Conflict;
use crate::{Plan, PlanId, PlanName, Repo, ThumbnailHeights, User, UserId};

use super::fixtures::{
    Answer, Lookup, assert_conflict, clean_up, far_future, micros, new_plan, new_user, now,
    plan_value,
};
use super::keyset::{Scope, check_keyset_list};

/// The built-in plans exist under their fixed ids and names with the API's grants:
/// Basic 200 px only; Premium 200 and 400 px and the original; Enterprise also links.
pub async fn builtin_plans_exist(repo: &dyn Repo) {
    let expected = [
        (PlanId::BASIC, "Basic", vec![200], false, false),
        (PlanId::PREMIUM, "Premium", vec![200, 400], true, false),
        (PlanId::ENTERPRISE, "Enterprise", vec![200, 400], true, true),
    ];
    for (id, name, heights, original_link, expiring_links) in expected {
        let plan = repo
            .get_plan(id)
            .await
            .expect("get_plan failed")
            .unwrap_or_else(|| {
                panic!("the built-in plan {name} must exist under its fixed id {id}")
            });
        assert_eq!(
            plan.name.as_str(),
            name,
            "the built-in plan {id} has the wrong name"
        );
        assert_eq!(
            plan.thumbnail_heights.pixels().collect::<Vec<_>>(),
            heights,
            "the built-in plan {name} has the wrong thumbnail heights"
        );
        assert_eq!(
            (plan.original_link, plan.expiring_links),
            (original_link, expiring_links),
            "the built-in plan {name} grants the wrong features (original_link, expiring_links)"
        );
        assert!(
            !plan.strip_metadata,
            "the built-in plan {name} must store uploads as they are (strip_metadata false)"
        );
        let by_name = repo
            .find_plan_by_name(name)
            .await
            .expect("find_plan_by_name failed");
        assert_eq!(
            by_name,
            Some(plan),
            "find_plan_by_name must find the built-in plan {name}"
        );
    }
}

/// A plan round-trips through `create_plan`, `get_plan` and `find_plan_by_name` with its
/// heights ascending; `update_plan` replaces every field but id and creation time and is
/// `false` for a missing plan; `delete_plan` removes it and is `false` the second time.
pub async fn plan_create_get_update_delete(repo: &dyn Repo) {
    let plan = Plan {
        expiring_links: false,
        ..plan_value(&[400, 100, 250], now())
    };
    repo.create_plan(&plan).await.expect("create_plan failed");
    let stored = repo.get_plan(plan.id).await.expect("get_plan failed");
    assert_eq!(
        stored.as_ref(),
        Some(&plan),
        "a plan must round-trip through create_plan and get_plan"
    );
    let heights: Vec<u32> = stored
        .expect("checked above")
        .thumbnail_heights
        .pixels()
        .collect();
    assert_eq!(
        heights,
        [100, 250, 400],
        "a plan's heights must come back ascending"
    );
    let by_name = repo
        .find_plan_by_name(plan.name.as_str())
        .await
        .expect("find_plan_by_name failed");
    assert_eq!(
        by_name.as_ref(),
        Some(&plan),
        "find_plan_by_name must find a plan by its exact name"
    );
    let missing_name = crate::testing::unique("no-such-plan");
    repo.find_plan_by_name(&missing_name)
        .await
        .must_be_none("find_plan_by_name of an unknown name must be None");
    repo.get_plan(PlanId::new())
        .await
        .must_be_none("get_plan of an unknown id must be None");

    let changed = Plan {
        name: PlanName::parse(&crate::testing::unique("renamed")).expect("a valid plan name"),
        thumbnail_heights: ThumbnailHeights::new([900, 50]).expect("valid heights"),
        original_link: false,
        expiring_links: true,
        strip_metadata: !plan.strip_metadata,
        created_at: plan.created_at + TimeDelta::days(1),
        ..plan.clone()
    };
    repo.update_plan(&changed)
        .await
        .must_be(true, "update_plan of a stored plan must be true");
    let expected = Plan {
        created_at: plan.created_at,
        ..changed.clone()
    };
    repo.get_plan(plan.id).await.must_be(
        Some(expected.clone()),
        "update_plan must replace every field but the id and the creation time",
    );
    repo.find_plan_by_name(plan.name.as_str())
        .await
        .must_be_none("a plan must no longer be found by its old name after a rename");
    repo.find_plan_by_name(changed.name.as_str()).await.must_be(
        Some(expected.clone()),
        "a renamed plan must be found by its new name",
    );
    let same_name = Plan {
        original_link: true,
        ..expected
    };
    assert!(
        repo.update_plan(&same_name)
            .await
            .expect("update_plan keeping the plan's own name must not conflict"),
        "update_plan of a stored plan must be true"
    );

    let missing = plan_value(&[200], now());
    repo.update_plan(&missing)
        .await
        .must_be(false, "update_plan of a missing plan must be false");
    repo.get_plan(missing.id)
        .await
        .must_be_none("update_plan of a missing plan must not create it");

    repo.delete_plan(plan.id)
        .await
        .must_be(true, "delete_plan of an unused plan must be true");
    repo.get_plan(plan.id)
        .await
        .must_be_none("a deleted plan must be gone");
    repo.delete_plan(plan.id)
        .await
        .must_be(false, "deleting a plan twice must be false");
    repo.delete_plan(PlanId::new())
        .await
        .must_be(false, "delete_plan of an unknown id must be false");
}

/// A taken plan name is [`Conflict::PlanNameTaken`] on create and on update, and the
/// failed write changes nothing.
pub async fn plan_names_are_unique(repo: &dyn Repo) {
    let first = new_plan(repo, &[200]).await;
    let clash = Plan {
        name: first.name.clone(),
        ..plan_value(&[300], now())
    };
    assert_conflict(
        repo.create_plan(&clash).await,
        Conflict::PlanNameTaken,
        "create_plan with a taken name",
    );
    repo.get_plan(clash.id)
        .await
        .must_be_none("a create_plan that conflicts must not store the plan");
    repo.find_plan_by_name(first.name.as_str()).await.must_be(
        Some(first.clone()),
        "a conflicting create_plan must leave the name's owner as it was",
    );

    let second = new_plan(repo, &[300]).await;
    let renamed = Plan {
        name: first.name.clone(),
        thumbnail_heights: ThumbnailHeights::new([700]).expect("valid"),
        ..second.clone()
    };
    assert_conflict(
        repo.update_plan(&renamed).await,
        Conflict::PlanNameTaken,
        "update_plan to a taken name",
    );
    repo.get_plan(second.id).await.must_be(
        Some(second.clone()),
        "an update_plan that conflicts must change nothing",
    );
    clean_up(repo, &[], &[first.id, second.id]).await;
}

/// `delete_plan` is [`Conflict::PlanInUse`] while a user has the plan, leaving it stored,
/// and succeeds once the user has moved to another plan or been deleted.
pub async fn plan_in_use_cannot_be_deleted(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200]).await;
    let other = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let planless = new_user(repo, None).await;
    assert_conflict(
        repo.delete_plan(plan.id).await,
        Conflict::PlanInUse,
        "delete_plan of a plan a user has",
    );
    repo.get_plan(plan.id)
        .await
        .must_be(Some(plan.clone()), "a plan in use must survive delete_plan");
    assert_eq!(
        repo.get_user(user.id)
            .await
            .expect("get_user failed")
            .and_then(|user| user.plan_id),
        Some(plan.id),
        "a failed delete_plan must not touch the plan's users"
    );

    let moved = User {
        plan_id: Some(other.id),
        ..user.clone()
    };
    repo.update_user(&moved)
        .await
        .must_be(true, "update_user of a stored user must be true");
    assert!(
        repo.delete_plan(plan.id)
            .await
            .expect("delete_plan of a plan nobody has any more failed"),
        "delete_plan must succeed once no user has the plan"
    );
    assert_conflict(
        repo.delete_plan(other.id).await,
        Conflict::PlanInUse,
        "delete_plan of a plan a user moved to",
    );
    repo.delete_user(user.id)
        .await
        .must_be(true, "delete_user of a stored user must be true");
    assert!(
        repo.delete_plan(other.id)
            .await
            .expect("delete_plan after its only user was deleted failed"),
        "delete_plan must succeed once the plan's only user is deleted"
    );
    clean_up(repo, &[planless.id], &[]).await;
}

/// `list_plans` is newest first by `(created_at, id)`, ties broken by id, and follows
/// [`KeysetQuery`](crate::page::KeysetQuery) in both directions (checked on the check's own far-future plans).
pub async fn plans_list_newest_first(repo: &dyn Repo) {
    let base = far_future();
    let plans: Vec<Plan> = [0, 0, 1, 5, 5, 9]
        .into_iter()
        .map(|offset| Plan {
            id: PlanId::from_uuid(Uuid::new_v4()),
            ..plan_value(&[200], micros(base, offset))
        })
        .collect();
    for index in [3, 0, 5, 1, 4, 2] {
        repo.create_plan(&plans[index])
            .await
            .expect("create_plan failed");
    }
    check_keyset_list(
        "list_plans",
        Scope::Shared,
        &plans,
        Positioned::position,
        move |query| async move { repo.list_plans(&query).await },
    )
    .await;
    let ids: Vec<PlanId> = plans.iter().map(|plan| plan.id).collect();
    clean_up(repo, &[], &ids).await;
}

/// `plan_user_counts` has every plan, a plan without users with 0, and counts the users
/// of each plan: a user moving plans, being deleted or marked for deletion moves the counts.
pub async fn plan_user_counts_count_each_plan(repo: &dyn Repo) {
    let full = new_plan(repo, &[200]).await;
    let empty = new_plan(repo, &[200]).await;
    let users = [
        new_user(repo, Some(full.id)).await,
        new_user(repo, Some(full.id)).await,
        new_user(repo, Some(full.id)).await,
    ];
    let counts = || async {
        let counts = repo
            .plan_user_counts()
            .await
            .expect("plan_user_counts failed");
        let ids: HashSet<PlanId> = counts.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids.len(),
            counts.len(),
            "plan_user_counts must list each plan once"
        );
        assert!(
            ids.contains(&PlanId::BASIC),
            "plan_user_counts must list every plan"
        );
        let of = |plan: PlanId| counts.iter().find(|(id, _)| *id == plan).map(|(_, n)| *n);
        (of(full.id), of(empty.id))
    };
    assert_eq!(
        counts().await,
        (Some(3), Some(0)),
        "plan_user_counts must count each plan's users, and list a plan without users with 0"
    );
    let moved = User {
        plan_id: Some(empty.id),
        ..users[0].clone()
    };
    assert!(repo.update_user(&moved).await.expect("update_user failed"));
    assert!(
        repo.begin_user_deletion(users[1].id, now())
            .await
            .expect("begin_user_deletion failed")
    );
    assert_eq!(
        counts().await,
        (Some(1), Some(1)),
        "a user moving plans or being deleted must move the counts"
    );
    let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
    clean_up(repo, &ids, &[full.id, empty.id]).await;
    let after = repo
        .plan_user_counts()
        .await
        .expect("plan_user_counts failed");
    assert!(
        after
            .iter()
            .all(|(id, _)| *id != full.id && *id != empty.id),
        "a deleted plan must no longer be counted"
    );
}
