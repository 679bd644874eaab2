//! Checks of WebP thumbnail variants: plans' `thumbnail_formats`, the variant's key on
//! thumbnail rows, and the claim that makes the variants of a plan that gained WebP.

use chrono::TimeDelta;

use crate::repo::WorkScope;
use crate::{
    Plan, PlanId, Repo, StorageKey, Thumbnail, ThumbnailFormat, ThumbnailFormats, ThumbnailStatus,
};

use super::fixtures::{
    Lookup, bare_image, clean_up, height, insert, micros, new_plan, new_user, now, row, rows_of,
};

fn with_webp() -> ThumbnailFormats {
    ThumbnailFormats::new([ThumbnailFormat::Original, ThumbnailFormat::Webp])
        .expect("valid formats")
}

/// A plan's `thumbnail_formats` round-trip through create, update and every read that
/// returns a plan (by id, by name, in a list, as an image owner's plan); the built-in
/// plans have the original's format only.
pub async fn plan_thumbnail_formats_round_trip(repo: &dyn Repo) {
    let basic = repo
        .get_plan(PlanId::BASIC)
        .await
        .must_find("the built-in Basic plan is missing");
    assert_eq!(
        basic.thumbnail_formats,
        ThumbnailFormats::original_only(),
        "built-in plans must keep the original's format only"
    );
    let plan = new_plan(repo, &[150]).await;
    assert_eq!(plan.thumbnail_formats, ThumbnailFormats::original_only());
    let webp = Plan {
        thumbnail_formats: with_webp(),
        ..plan.clone()
    };
    assert!(
        repo.update_plan(&webp).await.expect("update_plan failed"),
        "update_plan must find the plan"
    );
    let read = repo
        .get_plan(plan.id)
        .await
        .must_find("get_plan lost the plan");
    assert_eq!(read, webp, "get_plan must return the formats stored");
    let by_name = repo
        .find_plan_by_name(plan.name.as_str())
        .await
        .must_find("find_plan_by_name lost the plan");
    assert_eq!(by_name.thumbnail_formats, with_webp());

    let user = new_user(repo, Some(plan.id)).await;
    let record = insert(repo, bare_image(user.id, now())).await;
    let target = repo
        .find_original(&record.image.storage_key)
        .await
        .must_find("find_original lost the image");
    assert_eq!(
        target.owner_plan.map(|plan| plan.thumbnail_formats),
        Some(with_webp()),
        "an owner's plan, read through a join, must carry its formats"
    );

    let back = Plan {
        thumbnail_formats: ThumbnailFormats::original_only(),
        ..webp
    };
    repo.update_plan(&back).await.expect("update_plan failed");
    assert_eq!(
        repo.get_plan(plan.id)
            .await
            .must_find("get_plan lost the plan")
            .thumbnail_formats,
        ThumbnailFormats::original_only(),
        "update_plan must store dropping WebP"
    );
    clean_up(repo, &[user.id], &[plan.id]).await;
}

/// `attach_thumbnail_webp` sets the variant's key on a pending row only; completing the
/// row keeps it; `referenced_keys` finds it and `delete_image` returns it.
pub async fn webp_keys_are_attached_kept_and_referenced(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let at = micros(now(), -1_000_000);
    let mut record = bare_image(user.id, at);
    record.thumbnails = vec![
        row(&record.image, 200, ThumbnailStatus::Pending, 1, at),
        row(&record.image, 400, ThumbnailStatus::Ready, 1, at),
    ];
    let record = insert(repo, record).await;
    let image = record.image.id;
    let first = StorageKey::new_webp_thumbnail();
    let second = StorageKey::new_webp_thumbnail();
    assert!(
        repo.attach_thumbnail_webp(image, height(200), &first)
            .await
            .expect("attach_thumbnail_webp failed"),
        "attach_thumbnail_webp must set the key of a pending row"
    );
    assert!(
        repo.attach_thumbnail_webp(image, height(200), &second)
            .await
            .expect("attach_thumbnail_webp failed"),
        "attach_thumbnail_webp must replace the key of a pending row"
    );
    assert!(
        !repo
            .attach_thumbnail_webp(image, height(400), &first)
            .await
            .expect("attach_thumbnail_webp failed"),
        "attach_thumbnail_webp must leave a ready row alone"
    );
    assert!(
        !repo
            .attach_thumbnail_webp(image, height(800), &first)
            .await
            .expect("attach_thumbnail_webp failed"),
        "attach_thumbnail_webp of a missing row must answer false"
    );
    let key = StorageKey::new_thumbnail(record.image.format);
    let done = micros(now(), 0);
    assert!(
        repo.complete_thumbnail(image, height(200), &key, done)
            .await
            .expect("complete_thumbnail failed")
    );
    let mut expected = record.thumbnails.clone();
    expected[0] = Thumbnail {
        status: ThumbnailStatus::Ready,
        storage_key: Some(key.clone()),
        webp_storage_key: Some(second.clone()),
        updated_at: done,
        ..expected[0].clone()
    };
    assert_eq!(
        rows_of(repo, image).await,
        expected,
        "a completed row must keep its WebP key; the ready row must be unchanged"
    );
    let found = repo
        .referenced_keys(&[first.clone(), second.clone(), key.clone()])
        .await
        .expect("referenced_keys failed");
    assert!(
        found.contains(&second) && found.contains(&key) && !found.contains(&first),
        "referenced_keys must find a row's WebP key, and not a replaced one: {found:?}"
    );
    let deleted = repo
        .delete_image(user.id, image)
        .await
        .must_find("delete_image must return the deleted image");
    assert_eq!(
        deleted.thumbnails[0].webp_storage_key,
        Some(second.clone()),
        "delete_image must return the WebP keys, for the caller to delete the objects"
    );
    assert!(
        repo.referenced_keys(&[second])
            .await
            .expect("referenced_keys failed")
            .is_empty(),
        "a deleted image's WebP key must no longer be referenced"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// When a plan lists `webp`, `claim_thumbnail_work` sets its ready rows without a WebP
/// key back to pending (keys kept, attempts 0, leased now), once; rows with a WebP key,
/// failed rows and plans without WebP are left alone.
pub async fn claim_reopens_ready_rows_for_webp(repo: &dyn Repo) {
    let plan = new_plan(repo, &[150, 300]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let at = micros(now(), -5_000_000);
    let mut record = bare_image(user.id, at);
    let mut with_key = row(&record.image, 300, ThumbnailStatus::Ready, 2, at);
    with_key.webp_storage_key = Some(StorageKey::new_webp_thumbnail());
    record.thumbnails = vec![
        row(&record.image, 150, ThumbnailStatus::Ready, 2, at),
        with_key,
    ];
    let record = insert(repo, record).await;
    let mut failed = bare_image(user.id, micros(at, 1));
    failed.thumbnails = vec![
        row(&failed.image, 150, ThumbnailStatus::Failed, 3, at),
        row(&failed.image, 300, ThumbnailStatus::Failed, 3, at),
    ];
    let failed = insert(repo, failed).await;
    let claim_at = now();
    let stale_before = claim_at - TimeDelta::minutes(10);

    let claimed = repo
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100, None)
        .await
        .expect("claim_thumbnail_work failed");
    assert!(
        claimed.is_empty(),
        "without WebP in the plan, ready rows are no work: {claimed:?}"
    );

    let webp = Plan {
        thumbnail_formats: with_webp(),
        ..plan.clone()
    };
    repo.update_plan(&webp).await.expect("update_plan failed");
    let claimed = repo
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100, None)
        .await
        .expect("claim_thumbnail_work failed");
    assert!(
        claimed.contains(&record.image.id) && !claimed.contains(&failed.image.id),
        "a plan that gained WebP must have its ready rows claimed, not its failed ones"
    );
    let mut expected = record.thumbnails.clone();
    expected[0] = Thumbnail {
        status: ThumbnailStatus::Pending,
        attempts: 0,
        updated_at: claim_at,
        ..expected[0].clone()
    };
    assert_eq!(
        rows_of(repo, record.image.id).await,
        expected,
        "a reopened row keeps its key and is leased now; a row with its WebP is unchanged"
    );
    assert_eq!(
        rows_of(repo, failed.image.id).await,
        failed.thumbnails,
        "failed rows stay failed"
    );
    let again = repo
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100, None)
        .await
        .expect("claim_thumbnail_work failed");
    assert!(
        again.is_empty(),
        "reopened rows carry a fresh lease, so a second claim finds nothing: {again:?}"
    );
    clean_up(repo, &[user.id], &[plan.id]).await;
}
