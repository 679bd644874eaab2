//! Checks of health and of the administrators' console: totals, every user's images and
//! thumbnail resets.

use chrono::{DateTime, Utc};

use crate::page::{KeysetQuery, Positioned};
use crate::{
    ImageFilter, ImageFormat, ImageId, ImageRecord, PlanId, Repo, ResetScope, StorageKey,
    Thumbnail, ThumbnailStatus, Totals, UserId,
};

use super::fixtures::{
    Answer, Lookup, bare_image, clean_up, far_future, height, image_with_rows_at, insert, micros,
    new_plan, new_user, now, rows_of, stored_image,
};
use super::keyset::{Scope, check_keyset_list};

/// `ping` succeeds on a working backend.
pub async fn ping_succeeds(repo: &dyn Repo) {
    repo.ping()
        .await
        .expect("ping must succeed on a working backend");
}

/// `pool_stats`, where a backend has a pool, counts no more connections than the pool
/// may open (after `ping` opened at least one). Other checks may run on the repository
/// meanwhile, so how many are in use is not known.
pub async fn pool_stats_are_consistent(repo: &dyn Repo) {
    repo.ping()
        .await
        .expect("ping must succeed on a working backend");
    let Some(stats) = repo.pool_stats() else {
        return;
    };
    assert!(
        stats.max >= 1,
        "a pool opens at least one connection: {stats:?}"
    );
    assert!(
        stats.in_use + stats.idle <= stats.max,
        "a pool has no more connections than its maximum: {stats:?}"
    );
}

/// The totals of `repo`, which must answer.
async fn totals_of(repo: &dyn Repo) -> Totals {
    repo.totals().await.expect("totals failed")
}

/// An image of `owner` of `size` bytes with one row per `(height, status)`.
async fn sized_image(
    repo: &dyn Repo,
    owner: UserId,
    size: u64,
    rows: &[(u32, ThumbnailStatus)],
) -> ImageRecord {
    let mut record = image_with_rows_at(owner, now(), rows);
    record.image.size = size;
    insert(repo, record).await
}

/// `totals` counts the check's own rows. Other rows come and go meanwhile (see the module
/// doc), so each figure is checked as at least what the check added; sizes of 2^40 bytes
/// make the bytes of its images stand out from everyone else's.
/// [`totals_are_exact`] checks exact figures on a repository of its own.
pub async fn totals_count_the_checks_rows(repo: &dyn Repo) {
    const BIG: u64 = 1 << 40;
    let user = new_user(repo, None).await;
    sized_image(
        repo,
        user.id,
        BIG,
        &[
            (200, ThumbnailStatus::Pending),
            (400, ThumbnailStatus::Failed),
            (800, ThumbnailStatus::Ready),
        ],
    )
    .await;
    sized_image(repo, user.id, BIG, &[(200, ThumbnailStatus::Failed)]).await;
    let totals = totals_of(repo).await;
    assert!(totals.users >= 1, "totals must count users: {totals:?}");
    assert!(totals.images >= 2, "totals must count images: {totals:?}");
    assert!(
        totals.bytes >= 2 * BIG,
        "totals must add up the originals' sizes: {totals:?}"
    );
    assert!(
        totals.thumbnails_pending >= 1,
        "totals must count pending thumbnails: {totals:?}"
    );
    assert!(
        totals.thumbnails_failed >= 2,
        "totals must count failed thumbnails: {totals:?}"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `list_all_images` lists every user's images newest first by keyset, with all their
/// thumbnail rows: all of them, one owner's (exactly what `list_images` gives), or only
/// those with a failed thumbnail. The check's images lie at far-future times, so that in
/// the lists of every user's images no other rows fall among them.
pub async fn all_images_list_by_keyset_and_filter(repo: &dyn Repo) {
    use ThumbnailStatus::{Failed, Pending, Ready};
    let user = new_user(repo, None).await;
    let other = new_user(repo, None).await;
    let base = far_future();
    // (owner, offset, rows); equal times test the id tie-break.
    type Layout<'a> = (UserId, i64, &'a [(u32, ThumbnailStatus)]);
    let layout: [Layout<'_>; 6] = [
        (user.id, 0, &[(200, Ready), (400, Ready)]),
        (other.id, 0, &[(200, Failed), (400, Ready)]),
        (user.id, 3, &[(200, Pending)]),
        (other.id, 5, &[]),
        (user.id, 5, &[(400, Failed)]),
        (other.id, 9, &[(200, Failed), (800, Failed)]),
    ];
    let mut images = Vec::new();
    for (owner, offset, rows) in layout {
        images.push(stored_image(repo, owner, micros(base, offset), rows).await);
    }
    let failed = |record: &ImageRecord| {
        record
            .thumbnails
            .iter()
            .any(|row| row.status == ThumbnailStatus::Failed)
    };
    let cases = [
        (None, false),
        (None, true),
        (Some(user.id), false),
        (Some(other.id), false),
        (Some(user.id), true),
        (Some(other.id), true),
    ];
    for (owner, failed_thumbnails_only) in cases {
        let filter = ImageFilter {
            owner,
            failed_thumbnails_only,
        };
        let ours: Vec<ImageRecord> = images
            .iter()
            .filter(|record| owner.is_none_or(|owner| record.image.owner == owner))
            .filter(|record| !failed_thumbnails_only || failed(record))
            .cloned()
            .collect();
        let scope = if owner.is_some() {
            Scope::Own
        } else {
            Scope::Shared
        };
        let name = format!("list_all_images({filter:?})");
        check_keyset_list(
            &name,
            scope,
            &ours,
            Positioned::position,
            |query| async move { repo.list_all_images(&filter, &query).await },
        )
        .await;
        if let (Some(owner), false) = (owner, failed_thumbnails_only) {
            let first = KeysetQuery::first(100);
            repo.list_all_images(&filter, &first).await.must_be(
                repo.list_images(owner, &first)
                    .await
                    .expect("list_images failed"),
                "list_all_images of one owner must be that owner's list_images",
            );
        }
    }
    clean_up(repo, &[user.id, other.id], &[]).await;
}

/// `row` as [`ImageRepo::reset_thumbnails`](crate::repo::ImageRepo::reset_thumbnails)
/// leaves it: pending, no attempts, no failure, leased at `at` by no holder, its storage
/// key kept.
fn reset_row(row: &Thumbnail, at: DateTime<Utc>) -> Thumbnail {
    Thumbnail {
        status: ThumbnailStatus::Pending,
        attempts: 0,
        failure: None,
        updated_at: at,
        lease_holder: None,
        ..row.clone()
    }
}

/// `reset_thumbnails` of one image, one owner's images or one plan's users' images sets
/// every row of those images back to pending (no attempts, no failure, `updated_at` as
/// given, the storage key kept), counts them, and changes no other row.
pub async fn reset_thumbnails_of_an_image_owner_or_plan(repo: &dyn Repo) {
    use ThumbnailStatus::{Failed, Pending, Ready};
    let plan = new_plan(repo, &[200, 400]).await;
    let on_plan = new_user(repo, Some(plan.id)).await;
    let also_on_plan = new_user(repo, Some(plan.id)).await;
    let elsewhere = new_user(repo, Some(PlanId::PREMIUM)).await;
    let before = micros(now(), -1000);
    let first = stored_image(repo, on_plan.id, before, &[(200, Ready), (400, Failed)]).await;
    let second = stored_image(repo, on_plan.id, before, &[(200, Failed), (800, Pending)]).await;
    let third = stored_image(repo, also_on_plan.id, before, &[(200, Ready)]).await;
    let untouched = stored_image(repo, elsewhere.id, before, &[(200, Failed), (400, Ready)]).await;
    let bare = insert(repo, bare_image(on_plan.id, before)).await;
    let reset_of = |record: &ImageRecord, at| -> Vec<Thumbnail> {
        record
            .thumbnails
            .iter()
            .map(|row| reset_row(row, at))
            .collect()
    };
    let reset = |scope: ResetScope, at: DateTime<Utc>| async move {
        repo.reset_thumbnails(scope, at)
            .await
            .unwrap_or_else(|error| panic!("reset_thumbnails({scope:?}) failed: {error:?}"))
    };

    let at = now();
    assert_eq!(reset(ResetScope::Image(first.image.id), at).await, 2);
    assert_eq!(
        rows_of(repo, first.image.id).await,
        reset_of(&first, at),
        "reset_thumbnails(Image) must set every row of the image back to pending"
    );
    assert_eq!(rows_of(repo, second.image.id).await, second.thumbnails);
    assert_eq!(reset(ResetScope::Image(bare.image.id), at).await, 0);
    assert_eq!(reset(ResetScope::Image(ImageId::new()), at).await, 0);

    let at = micros(at, 7);
    assert_eq!(reset(ResetScope::Owner(also_on_plan.id), at).await, 1);
    assert_eq!(rows_of(repo, third.image.id).await, reset_of(&third, at));
    assert_eq!(rows_of(repo, second.image.id).await, second.thumbnails);

    let at = micros(at, 7);
    assert_eq!(
        reset(ResetScope::Plan(plan.id), at).await,
        5,
        "reset_thumbnails(Plan) counts every row of the plan's users' images"
    );
    for record in [&first, &second, &third] {
        assert_eq!(
            rows_of(repo, record.image.id).await,
            reset_of(record, at),
            "reset_thumbnails(Plan) must set every row of its users' images back to pending"
        );
    }
    assert_eq!(
        rows_of(repo, untouched.image.id).await,
        untouched.thumbnails,
        "rows outside the scope must not change"
    );
    assert_eq!(reset(ResetScope::Owner(UserId::new()), at).await, 0);
    assert_eq!(reset(ResetScope::Plan(PlanId::new()), at).await, 0);
    clean_up(
        repo,
        &[on_plan.id, also_on_plan.id, elsewhere.id],
        &[plan.id],
    )
    .await;
}

/// `reset_thumbnails(Failed)` sets every failed row back to pending, whoever owns it,
/// and no other row. It changes other users' rows, so it needs a repository no one else
/// uses meanwhile: [`run_alone`](super::run_alone) runs it.
pub async fn reset_failed_thumbnails_resets_only_failed_rows(repo: &dyn Repo) {
    use ThumbnailStatus::{Failed, Pending, Ready};
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let other = new_user(repo, None).await;
    let before = micros(now(), -1000);
    let mixed = stored_image(
        repo,
        user.id,
        before,
        &[(200, Failed), (400, Ready), (800, Pending)],
    )
    .await;
    let others = stored_image(repo, other.id, before, &[(200, Failed)]).await;
    let reset_at = now();
    assert_eq!(
        repo.reset_thumbnails(ResetScope::Failed, reset_at)
            .await
            .expect("reset_thumbnails(Failed) failed"),
        2
    );
    let mut expected = mixed.thumbnails.clone();
    expected[0] = reset_row(&expected[0], reset_at);
    assert_eq!(
        rows_of(repo, mixed.image.id).await,
        expected,
        "reset_thumbnails(Failed) must reset the failed rows only"
    );
    assert_eq!(
        rows_of(repo, others.image.id).await,
        vec![reset_row(&others.thumbnails[0], reset_at)],
        "reset_thumbnails(Failed) resets every user's failed rows"
    );
    assert_eq!(
        repo.reset_thumbnails(ResetScope::Failed, reset_at)
            .await
            .expect("reset_thumbnails(Failed) failed"),
        0
    );
    clean_up(repo, &[user.id, other.id], &[]).await;
}

/// `totals` counts exactly: users but not those being deleted, images, the originals'
/// bytes, pending and failed (not ready) thumbnails, and follows completions and deletes.
///
/// Needs a repository no one else writes to meanwhile, so it is not part of [`run_all`](super::run_all):
/// call it on a fresh repository of its own.
pub async fn totals_are_exact(repo: &dyn Repo) {
    let before = totals_of(repo).await;
    let plus = |users: u64, images: u64, bytes: u64, pending: u64, failed: u64| Totals {
        users: before.users + users,
        images: before.images + images,
        bytes: before.bytes + bytes,
        thumbnails_pending: before.thumbnails_pending + pending,
        thumbnails_failed: before.thumbnails_failed + failed,
    };
    let user = new_user(repo, None).await;
    let leaving = new_user(repo, None).await;
    assert_eq!(
        totals_of(repo).await,
        plus(2, 0, 0, 0, 0),
        "new users count"
    );
    let first = sized_image(
        repo,
        user.id,
        1_000,
        &[
            (200, ThumbnailStatus::Pending),
            (400, ThumbnailStatus::Failed),
            (800, ThumbnailStatus::Ready),
        ],
    )
    .await;
    sized_image(repo, leaving.id, 2_345, &[(200, ThumbnailStatus::Failed)]).await;
    assert_eq!(
        totals_of(repo).await,
        plus(2, 2, 3_345, 1, 2),
        "images, bytes and pending and failed thumbnails count; ready ones do not"
    );
    assert!(
        repo.begin_user_deletion(leaving.id, now())
            .await
            .expect("begin_user_deletion failed")
    );
    assert_eq!(
        totals_of(repo).await,
        plus(1, 2, 3_345, 1, 2),
        "a user being deleted is not counted; their images are until deleted"
    );
    assert!(
        repo.complete_thumbnail(
            first.image.id,
            height(200),
            &StorageKey::new_thumbnail(ImageFormat::Jpeg),
            now()
        )
        .await
        .expect("complete_thumbnail failed")
    );
    assert_eq!(
        totals_of(repo).await,
        plus(1, 2, 3_345, 0, 2),
        "a completed thumbnail is no longer pending"
    );
    repo.delete_image(user.id, first.image.id)
        .await
        .must_find("the image was there");
    assert_eq!(
        totals_of(repo).await,
        plus(1, 1, 2_345, 0, 1),
        "a deleted image and its thumbnails no longer count"
    );
    clean_up(repo, &[user.id, leaving.id], &[]).await;
    assert_eq!(
        totals_of(repo).await,
        before,
        "deleted users no longer count"
    );
}
