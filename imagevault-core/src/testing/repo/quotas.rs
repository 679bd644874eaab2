//! Checks of quotas: `insert_image` counts each image against its owner's effective
//! limits in the transaction that records it, and every delete gives the place back.

use crate::repo::{Conflict, RepoError};
use crate::{
    ImageRecord, Plan, QuotaExceeded, QuotaLimits, QuotaOverride, QuotaOverrides, QuotaResource,
    Repo, Usage, User, UserId,
};

use super::fixtures::{
    Answer as _, clean_up, insert, new_image, new_user, now, plan_value, user_value,
};

/// Stores a plan with `quota`.
async fn plan_with(repo: &dyn Repo, quota: QuotaLimits) -> Plan {
    let plan = Plan {
        quota,
        ..plan_value(&[200], now())
    };
    repo.create_plan(&plan)
        .await
        .expect("create_plan failed for a plan with limits");
    plan
}

/// An image of `owner` with `size` bytes, not yet stored.
fn image_of(owner: UserId, size: u64) -> ImageRecord {
    let mut record = new_image(owner, now());
    record.image.size = size;
    record
}

/// The refusal of `result`, which must be [`Conflict::QuotaExceeded`].
#[track_caller]
fn refusal(result: Result<(), RepoError>, rule: &str) -> QuotaExceeded {
    match result {
        Err(RepoError::Conflict(Conflict::QuotaExceeded(refusal))) => refusal,
        other => panic!("{rule} must fail with Conflict::QuotaExceeded, got {other:?}"),
    }
}

/// A plan's limits round-trip; an insert that would pass either limit is refused at the
/// boundary (the last image that fits is stored), names the limit and the usage, and
/// stores nothing; deleting an image frees its place at once.
pub async fn quota_refuses_at_the_boundary_and_delete_frees(repo: &dyn Repo) {
    let limits = QuotaLimits {
        max_images: Some(2),
        max_bytes: Some(1_000),
    };
    let plan = plan_with(repo, limits).await;
    repo.get_plan(plan.id)
        .await
        .must_be(Some(plan.clone()), "a plan's limits must round-trip");
    let owner = new_user(repo, Some(plan.id)).await;

    let first = insert(repo, image_of(owner.id, 600)).await;
    let bytes = refusal(
        repo.insert_image(&image_of(owner.id, 401)).await,
        "an image passing the byte limit by one",
    );
    assert_eq!(
        (bytes.resource, bytes.limit, bytes.usage, bytes.size),
        (
            QuotaResource::Bytes,
            1_000,
            Usage {
                images: 1,
                bytes: 600
            },
            401
        ),
        "a byte refusal must name the limit, the usage and the image's size"
    );
    assert!(
        bytes.from_plan,
        "the plan's limit must be named as the plan's"
    );
    insert(repo, image_of(owner.id, 400)).await;
    repo.usage(owner.id).await.must_be(
        Usage {
            images: 2,
            bytes: 1_000,
        },
        "images that fit exactly must be stored, and nothing of a refused one",
    );
    let images = refusal(
        repo.insert_image(&image_of(owner.id, 0)).await,
        "a third image against a limit of two",
    );
    assert_eq!(
        (images.resource, images.limit),
        (QuotaResource::Images, 2),
        "the image limit is checked first and named"
    );

    repo.delete_image(owner.id, first.image.id)
        .await
        .got("delete_image failed")
        .expect("the image existed");
    repo.usage(owner.id).await.must_be(
        Usage {
            images: 1,
            bytes: 400,
        },
        "a deleted image must free its place",
    );
    insert(repo, image_of(owner.id, 600)).await;
    clean_up(repo, &[owner.id], &[plan.id]).await;
}

/// A user's overrides round-trip and win over the plan's limits: a number replaces the
/// plan's limit, unlimited lifts it, and a limit below the usage blocks every upload
/// until the override is taken back.
pub async fn quota_overrides_win(repo: &dyn Repo) {
    let plan = plan_with(
        repo,
        QuotaLimits {
            max_images: Some(1),
            max_bytes: None,
        },
    )
    .await;
    let lifted = User {
        quota: QuotaOverrides {
            max_images: QuotaOverride::Unlimited,
            max_bytes: QuotaOverride::Limit(10_000),
        },
        ..user_value(Some(plan.id), now())
    };
    repo.create_user(&lifted)
        .await
        .expect("create_user failed for a user with overrides");
    repo.get_user(lifted.id)
        .await
        .must_be(Some(lifted.clone()), "a user's overrides must round-trip");
    for _ in 0..3 {
        insert(repo, image_of(lifted.id, 100)).await;
    }
    let own = refusal(
        repo.insert_image(&image_of(lifted.id, 9_701)).await,
        "an image passing the user's own byte limit",
    );
    assert!(
        !own.from_plan && own.limit == 10_000,
        "the override must be named as the user's own: {own:?}"
    );

    let lowered = User {
        quota: QuotaOverrides {
            max_images: QuotaOverride::Limit(2),
            max_bytes: QuotaOverride::Plan,
        },
        ..lifted.clone()
    };
    repo.update_user(&lowered)
        .await
        .must_be(true, "update_user must store overrides");
    repo.get_user(lifted.id)
        .await
        .must_be(Some(lowered.clone()), "updated overrides must round-trip");
    let over = refusal(
        repo.insert_image(&image_of(lifted.id, 1)).await,
        "an upload with usage above a lowered limit",
    );
    assert_eq!(
        (over.limit, over.usage.images),
        (2, 3),
        "usage above the limit stays, and is named"
    );
    let inherited = User {
        quota: QuotaOverrides::default(),
        ..lowered
    };
    repo.update_user(&inherited)
        .await
        .must_be(true, "update_user must store overrides");
    refusal(
        repo.insert_image(&image_of(lifted.id, 1)).await,
        "an upload against the plan's limit once the override is taken back",
    );
    clean_up(repo, &[lifted.id], &[plan.id]).await;
}

/// 20 concurrent inserts for one user against a limit of 5: exactly 5 are stored, the
/// other 15 are refused, and the usage is exactly the stored images.
pub async fn concurrent_inserts_stop_at_the_limit(repo: &dyn Repo) {
    let plan = plan_with(
        repo,
        QuotaLimits {
            max_images: Some(5),
            max_bytes: None,
        },
    )
    .await;
    let owner = new_user(repo, Some(plan.id)).await;
    let records: Vec<ImageRecord> = (0..20).map(|_| image_of(owner.id, 1_000)).collect();
    let results =
        futures::future::join_all(records.iter().map(|record| repo.insert_image(record))).await;
    let mut stored = 0;
    for result in results {
        match result {
            Ok(()) => stored += 1,
            other => {
                refusal(other, "a concurrent insert past the limit");
            }
        }
    }
    assert_eq!(
        stored, 5,
        "exactly 5 of 20 concurrent inserts must be stored"
    );
    repo.usage(owner.id).await.must_be(
        Usage {
            images: 5,
            bytes: 5_000,
        },
        "the usage must be exactly the stored images",
    );
    clean_up(repo, &[owner.id], &[plan.id]).await;
}
