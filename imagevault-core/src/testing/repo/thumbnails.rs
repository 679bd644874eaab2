//! Checks of the thumbnail work of [`ImageRepo`](crate::ImageRepo): rows ensured, attempts,
//! completions, failures and claims.

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashSet;
use uuid::Uuid;

use crate::page::KeysetQuery;
use crate::repo::WorkScope;
use crate::{
    Color, Image, ImageFormat, ImageId, Placeholder, PlanId, Repo, StorageKey, Thumbnail,
    ThumbnailStatus,
};

use super::fixtures::{
    Answer, Collection, Lookup, bare_image, clean_up, height, image_with_rows, image_with_rows_at,
    insert, micros, move_to_plan, new_plan, new_user, now, row, rows_of,
};

/// `ensure_thumbnails` inserts the rows that are missing, leaves existing rows as they
/// are, and ignores rows of images that do not exist.
pub async fn ensure_thumbnails_inserts_missing_rows(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let mut record = bare_image(user.id, now());
    let existing = row(
        &record.image,
        200,
        ThumbnailStatus::Ready,
        1,
        micros(now(), -5),
    );
    record.thumbnails = vec![existing.clone()];
    let record = insert(repo, record).await;
    let later = micros(now(), 9);
    let missing = row(&record.image, 400, ThumbnailStatus::Pending, 0, later);
    let ghost = bare_image(user.id, now());
    let rows = [
        row(&record.image, 200, ThumbnailStatus::Pending, 0, later),
        missing.clone(),
        row(&ghost.image, 200, ThumbnailStatus::Pending, 0, later),
    ];
    repo.ensure_thumbnails(&rows)
        .await
        .expect("ensure_thumbnails must ignore rows of a missing image, not fail");
    assert_eq!(
        rows_of(repo, record.image.id).await,
        [existing.clone(), missing.clone()],
        "ensure_thumbnails must insert missing rows and leave existing ones as they are"
    );
    repo.get_image_by_id(ghost.image.id)
        .await
        .must_be_none("ensure_thumbnails must not create an image");

    let again = [Thumbnail {
        attempts: 5,
        updated_at: micros(later, 1),
        ..missing.clone()
    }];
    repo.ensure_thumbnails(&again)
        .await
        .expect("ensure_thumbnails failed");
    repo.ensure_thumbnails(&[])
        .await
        .expect("ensure_thumbnails of no rows failed");
    assert_eq!(
        rows_of(repo, record.image.id).await,
        [existing, missing],
        "ensure_thumbnails must not overwrite a row it inserted before"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `start_thumbnail_attempt` adds one attempt and renews `updated_at` on the pending rows
/// of the given heights only, creates no rows and ignores a missing image.
pub async fn start_thumbnail_attempt_renews_pending_rows(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let before = micros(now(), -60_000_000);
    let mut record = bare_image(user.id, before);
    record.thumbnails = vec![
        row(&record.image, 100, ThumbnailStatus::Pending, 0, before),
        row(&record.image, 200, ThumbnailStatus::Pending, 0, before),
        row(&record.image, 400, ThumbnailStatus::Ready, 1, before),
        row(&record.image, 800, ThumbnailStatus::Failed, 2, before),
    ];
    let record = insert(repo, record).await;
    let heights = [height(200), height(400), height(800), height(1600)];
    let first = now();
    repo.start_thumbnail_attempt(record.image.id, &heights, first, None)
        .await
        .expect("start_thumbnail_attempt failed");
    let mut expected = record.thumbnails.clone();
    expected[1] = Thumbnail {
        attempts: 1,
        updated_at: first,
        ..expected[1].clone()
    };
    assert_eq!(
        rows_of(repo, record.image.id).await,
        expected,
        "start_thumbnail_attempt must renew only the pending rows of the given heights, adding none"
    );
    let second = micros(first, 1);
    repo.start_thumbnail_attempt(record.image.id, &heights, second, None)
        .await
        .expect("start_thumbnail_attempt failed");
    expected[1] = Thumbnail {
        attempts: 2,
        updated_at: second,
        ..expected[1].clone()
    };
    assert_eq!(
        rows_of(repo, record.image.id).await,
        expected,
        "every start_thumbnail_attempt must add one attempt"
    );
    repo.start_thumbnail_attempt(ImageId::new(), &heights, second, None)
        .await
        .expect("start_thumbnail_attempt of a missing image must not fail");
    clean_up(repo, &[user.id], &[]).await;
}

/// `complete_thumbnail` marks a pending row ready at the key once; a second completion,
/// a ready or failed row, a missing row and a missing image are `false` and change nothing.
pub async fn complete_thumbnail_succeeds_once(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let before = micros(now(), -1000);
    let mut record = bare_image(user.id, before);
    record.thumbnails = vec![
        row(&record.image, 200, ThumbnailStatus::Pending, 1, before),
        row(&record.image, 400, ThumbnailStatus::Failed, 2, before),
    ];
    let record = insert(repo, record).await;
    let image = record.image.id;
    let key = StorageKey::new_thumbnail(ImageFormat::Jpeg);
    let done_at = now();
    repo.complete_thumbnail(image, height(200), &key, done_at)
        .await
        .must_be(true, "complete_thumbnail of a pending row must be true");
    let mut expected = record.thumbnails.clone();
    expected[0] = Thumbnail {
        status: ThumbnailStatus::Ready,
        storage_key: Some(key.clone()),
        updated_at: done_at,
        ..expected[0].clone()
    };
    assert_eq!(
        rows_of(repo, image).await,
        expected,
        "complete_thumbnail must mark the row ready at the key"
    );

    let duplicate = StorageKey::new_thumbnail(ImageFormat::Jpeg);
    let later = micros(done_at, 5);
    let refusals = [
        (
            image,
            200,
            "a second complete_thumbnail of the same row (a duplicate delivery)",
        ),
        (image, 400, "complete_thumbnail of a failed row"),
        (image, 600, "complete_thumbnail of a height with no row"),
        (ImageId::new(), 200, "complete_thumbnail of a missing image"),
    ];
    for (target, pixels, what) in refusals {
        let done = repo
            .complete_thumbnail(target, height(pixels), &duplicate, later)
            .await;
        assert!(
            !done.unwrap_or_else(|error| panic!("{what} failed: {error:?}")),
            "{what} must be false"
        );
    }
    assert_eq!(
        rows_of(repo, image).await,
        expected,
        "a refused complete_thumbnail must change nothing"
    );
    repo.referenced_keys(std::slice::from_ref(&duplicate))
        .await
        .must_be_empty("a refused complete_thumbnail must not store its key");
    clean_up(repo, &[user.id], &[]).await;
}

/// `fail_thumbnails` marks the pending rows of the given heights failed with the reason
/// (any text, stored as given) and leaves ready rows, other heights and missing rows alone;
/// a failed row can no longer be completed.
pub async fn fail_thumbnails_only_fails_pending_rows(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let before = micros(now(), -1000);
    let mut record = bare_image(user.id, before);
    record.thumbnails = vec![
        row(&record.image, 100, ThumbnailStatus::Pending, 1, before),
        row(&record.image, 200, ThumbnailStatus::Pending, 3, before),
        row(&record.image, 400, ThumbnailStatus::Ready, 1, before),
    ];
    let record = insert(repo, record).await;
    let image = record.image.id;
    let failed_at = now();
    let reason = "the image is truncated: «ünïcode» ' \" ; -- and quotes";
    repo.fail_thumbnails(
        image,
        &[height(200), height(400), height(800)],
        reason,
        failed_at,
    )
    .await
    .expect("fail_thumbnails failed");
    let mut expected = record.thumbnails.clone();
    expected[1] = Thumbnail {
        status: ThumbnailStatus::Failed,
        failure: Some(reason.to_owned()),
        updated_at: failed_at,
        ..expected[1].clone()
    };
    assert_eq!(
        rows_of(repo, image).await,
        expected,
        "fail_thumbnails must fail only the pending rows of the given heights, adding none"
    );
    let key = StorageKey::new_thumbnail(ImageFormat::Jpeg);
    repo.complete_thumbnail(image, height(200), &key, now())
        .await
        .must_be(false, "complete_thumbnail of a failed row must be false");
    repo.fail_thumbnails(ImageId::new(), &[height(200)], reason, failed_at)
        .await
        .expect("fail_thumbnails of a missing image must not fail");
    clean_up(repo, &[user.id], &[]).await;
}

/// `claim_thumbnail_work` for one owner inserts pending rows (sized from the image,
/// `updated_at = now`) for the current plan's heights that have none, renews pending rows
/// whose lease lapsed strictly before `stale_before`, returns exactly the images touched,
/// and leaves alone fresh, ready and failed rows, heights not in the plan, other users'
/// images and users without a plan. Claiming again at the same `now` finds nothing.
pub async fn claim_work_for_owner(repo: &dyn Repo) {
    use ThumbnailStatus::{Failed, Pending, Ready};
    let plan = new_plan(repo, &[120, 240]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let neighbour = new_user(repo, Some(plan.id)).await;
    let planless = new_user(repo, None).await;
    let claim_at = now();
    let stale_before = claim_at - TimeDelta::minutes(10);
    let stale = claim_at - TimeDelta::hours(1);
    let fresh = claim_at - TimeDelta::minutes(1);
    let created = claim_at - TimeDelta::hours(2);

    let with_rows =
        |rows: &[(u32, ThumbnailStatus, DateTime<Utc>)]| image_with_rows(user.id, created, rows);
    // Work: no rows at all; one height missing; a lapsed lease.
    let no_rows = insert(repo, with_rows(&[])).await;
    let one_missing = insert(repo, with_rows(&[(120, Ready, stale)])).await;
    let lapsed = insert(
        repo,
        with_rows(&[(120, Pending, stale), (240, Ready, stale)]),
    )
    .await;
    // Not work: a fresh lease; a lease taken exactly at `stale_before`; everything done,
    // with a lapsed row at a height the plan does not have.
    let leased = insert(
        repo,
        with_rows(&[(120, Pending, fresh), (240, Failed, stale)]),
    )
    .await;
    let boundary = insert(
        repo,
        with_rows(&[(120, Pending, stale_before), (240, Ready, stale)]),
    )
    .await;
    let done = insert(
        repo,
        with_rows(&[
            (120, Ready, stale),
            (240, Failed, stale),
            (999, Pending, stale),
        ]),
    )
    .await;
    let neighbours = insert(repo, bare_image(neighbour.id, created)).await;
    let no_plan = insert(repo, bare_image(planless.id, created)).await;

    let mut claimed = repo
        .claim_thumbnail_work(WorkScope::Owner(user.id), claim_at, stale_before, 100, None)
        .await
        .expect("claim_thumbnail_work failed");
    claimed.sort_unstable();
    let mut expected = vec![no_rows.image.id, one_missing.image.id, lapsed.image.id];
    expected.sort_unstable();
    assert_eq!(
        claimed, expected,
        "claim_thumbnail_work must return exactly the images with missing rows or lapsed pending rows"
    );

    let inserted = |image: &Image, pixels| {
        Thumbnail::pending(
            image.id,
            height(pixels),
            image.width,
            image.height,
            claim_at,
        )
    };
    assert_eq!(
        rows_of(repo, no_rows.image.id).await,
        [inserted(&no_rows.image, 120), inserted(&no_rows.image, 240)],
        "claim_thumbnail_work must insert a pending row, sized from the image and leased at `now`, for every plan height"
    );
    assert_eq!(
        rows_of(repo, one_missing.image.id).await,
        [
            one_missing.thumbnails[0].clone(),
            inserted(&one_missing.image, 240)
        ],
        "claim_thumbnail_work must insert only the missing heights and keep the existing rows"
    );
    let renewed = Thumbnail {
        updated_at: claim_at,
        ..lapsed.thumbnails[0].clone()
    };
    assert_eq!(
        rows_of(repo, lapsed.image.id).await,
        [renewed, lapsed.thumbnails[1].clone()],
        "claim_thumbnail_work must renew a lapsed lease (updated_at = now, attempts unchanged) and nothing else"
    );
    for (record, what) in [
        (&leased, "a fresh lease and a failed row"),
        (&boundary, "a lease taken exactly at stale_before"),
        (
            &done,
            "ready and failed rows and a row of a height not in the plan",
        ),
        (&neighbours, "another user's image"),
        (&no_plan, "an image of a user without a plan"),
    ] {
        assert_eq!(
            rows_of(repo, record.image.id).await,
            record.thumbnails,
            "claim_thumbnail_work must not touch {what}"
        );
    }

    repo.claim_thumbnail_work(WorkScope::Owner(user.id), claim_at, stale_before, 100, None)
        .await
        .must_be_empty("claiming again at the same `now` must find no work, found {again:?}");
    repo.claim_thumbnail_work(
        WorkScope::Owner(planless.id),
        claim_at,
        stale_before,
        100,
        None,
    )
    .await
    .must_be_empty("claim_thumbnail_work must ignore users without a plan");
    assert!(
        rows_of(repo, no_plan.image.id).await.is_empty(),
        "claim_thumbnail_work must not insert rows for a user without a plan"
    );
    clean_up(repo, &[user.id, neighbour.id, planless.id], &[plan.id]).await;
}

/// `claim_thumbnail_work` for [`WorkScope::LapsedLeases`] renews the lapsed pending rows
/// (and inserts the rows missing beside them), and leaves alone images whose only work is a
/// missing row, fresh leases and ready rows.
///
/// Concurrent runs of the suite share the lapsed scope, so a lapsed row here may be
/// renewed by another run's claim: the check is that it was renewed, by whichever run.
/// The lapsed rows sit at a random instant of the 15th to 19th centuries, the other rows
/// near now, out of reach of every run's `stale_before`.
pub async fn claim_work_for_lapsed_leases(repo: &dyn Repo) {
    use ThumbnailStatus::{Pending, Ready};
    const SPAN_MICROS: u128 = 400 * 365 * 86_400 * 1_000_000;
    let plan = new_plan(repo, &[120, 240]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let claim_at = now();
    let ancient_start: DateTime<Utc> =
        DateTime::from_timestamp(-17_000_000_000, 0).expect("a valid time in the 15th century");
    let offset =
        i64::try_from(Uuid::new_v4().as_u128() % SPAN_MICROS).expect("the span fits in i64");
    let lapsed_at = micros(ancient_start, offset);
    let stale_before = micros(lapsed_at, 1);
    let recent = claim_at - TimeDelta::minutes(1);
    let created = claim_at - TimeDelta::hours(2);
    let with_rows =
        |rows: &[(u32, ThumbnailStatus, DateTime<Utc>)]| image_with_rows(user.id, created, rows);
    let lapsed = insert(repo, with_rows(&[(120, Pending, lapsed_at)])).await;
    let only_missing = insert(repo, with_rows(&[(120, Ready, recent)])).await;
    let no_rows = insert(repo, with_rows(&[])).await;
    let leased = insert(
        repo,
        with_rows(&[(120, Pending, recent), (240, Ready, recent)]),
    )
    .await;

    let claimed = repo
        .claim_thumbnail_work(
            WorkScope::LapsedLeases,
            claim_at,
            stale_before,
            10_000,
            None,
        )
        .await
        .expect("claim_thumbnail_work failed");
    for (record, what) in [
        (&only_missing, "an image whose only work is a missing row"),
        (&no_rows, "an image without rows"),
        (&leased, "an image with a fresh lease"),
    ] {
        assert!(
            !claimed.contains(&record.image.id),
            "claim_thumbnail_work(LapsedLeases) must not claim {what}"
        );
        assert_eq!(
            rows_of(repo, record.image.id).await,
            record.thumbnails,
            "claim_thumbnail_work(LapsedLeases) must not touch {what}"
        );
    }
    let rows = rows_of(repo, lapsed.image.id).await;
    assert_eq!(
        rows.iter()
            .map(|row| row.max_height.get())
            .collect::<Vec<_>>(),
        [120, 240],
        "claim_thumbnail_work(LapsedLeases) must insert the rows missing beside a lapsed one"
    );
    assert!(
        rows[0].status == Pending && rows[0].updated_at > lapsed_at,
        "claim_thumbnail_work(LapsedLeases) must renew a lapsed lease, found {:?}",
        rows[0]
    );
    clean_up(repo, &[user.id], &[plan.id]).await;
}

/// `claim_thumbnail_work` claims at most `limit` images per call, and repeated calls at
/// the same `now` page through all the work, each image once, and then return nothing.
pub async fn claim_work_respects_limit(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let created = micros(now(), -1_000_000);
    let mut pending = HashSet::new();
    for offset in 0..7 {
        let record = insert(repo, bare_image(user.id, micros(created, offset))).await;
        pending.insert(record.image.id);
    }
    let claim_at = now();
    let stale_before = micros(claim_at, -1);
    let mut seen = HashSet::new();
    for call in 1.. {
        assert!(
            call <= 10,
            "repeated claim_thumbnail_work calls never run out of work"
        );
        let claimed = repo
            .claim_thumbnail_work(WorkScope::Owner(user.id), claim_at, stale_before, 3, None)
            .await
            .expect("claim_thumbnail_work failed");
        assert!(
            claimed.len() <= 3,
            "claim_thumbnail_work must claim at most `limit` images, claimed {}",
            claimed.len()
        );
        if claimed.is_empty() {
            break;
        }
        for id in claimed {
            assert!(
                pending.contains(&id),
                "claim_thumbnail_work returned an image out of scope"
            );
            assert!(
                seen.insert(id),
                "claim_thumbnail_work claimed an image twice at the same `now`"
            );
        }
    }
    assert_eq!(
        seen, pending,
        "paging through claim_thumbnail_work must claim every image with work"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `claim_thumbnail_work` for a plan claims the images of every user currently on it,
/// with that plan's heights, and no others; a user moved onto the plan is included.
pub async fn claim_work_for_plan(repo: &dyn Repo) {
    let plan = new_plan(repo, &[150]).await;
    let elsewhere = new_plan(repo, &[150, 300]).await;
    let first = new_user(repo, Some(plan.id)).await;
    let second = new_user(repo, Some(plan.id)).await;
    let mover = new_user(repo, Some(elsewhere.id)).await;
    let created = micros(now(), -5_000_000);
    let a = insert(repo, bare_image(first.id, created)).await;
    let b = insert(repo, bare_image(first.id, micros(created, 1))).await;
    let c = insert(repo, bare_image(second.id, created)).await;
    let d = insert(repo, bare_image(mover.id, created)).await;
    let claim_at = now();
    let stale_before = claim_at - TimeDelta::minutes(10);

    let mut claimed = repo
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100, None)
        .await
        .expect("claim_thumbnail_work failed");
    claimed.sort_unstable();
    let mut expected = vec![a.image.id, b.image.id, c.image.id];
    expected.sort_unstable();
    assert_eq!(
        claimed, expected,
        "claim_thumbnail_work for a plan must claim exactly the images of its users"
    );
    let only = |image: &Image| {
        vec![Thumbnail::pending(
            image.id,
            height(150),
            image.width,
            image.height,
            claim_at,
        )]
    };
    assert_eq!(
        rows_of(repo, c.image.id).await,
        only(&c.image),
        "a plan claim must insert the plan's heights only"
    );
    assert!(
        rows_of(repo, d.image.id).await.is_empty(),
        "a plan claim must not touch users on other plans"
    );

    move_to_plan(repo, &mover, Some(plan.id)).await;
    let claimed = repo
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100, None)
        .await
        .expect("claim_thumbnail_work failed");
    assert_eq!(
        claimed,
        [d.image.id],
        "a plan claim must include a user who just moved onto the plan, and only new work"
    );
    assert_eq!(
        rows_of(repo, d.image.id).await,
        only(&d.image),
        "a plan claim must use the owner's current plan"
    );
    clean_up(
        repo,
        &[first.id, second.id, mover.id],
        &[plan.id, elsewhere.id],
    )
    .await;
}

/// `set_placeholder` stores an image's placeholder, replaces it when set again (the same
/// value again is still `true`), changes nothing else, leaves other images alone, and is
/// `false` for a missing (deleted) image; `get_image`, `get_image_by_id` and
/// `list_images` all show it.
pub async fn set_placeholder_stores_and_replaces(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let rows = [
        (200, ThumbnailStatus::Ready),
        (400, ThumbnailStatus::Pending),
    ];
    let record = insert(repo, image_with_rows_at(user.id, now(), &rows)).await;
    let other = insert(repo, image_with_rows_at(user.id, now(), &rows[..1])).await;
    let image = record.image.id;
    let stored = |id| async move {
        repo.get_image_by_id(id)
            .await
            .must_find("the image must still be there")
    };
    let before = stored(image).await;
    assert_eq!(
        before.image.placeholder, None,
        "a new image has no placeholder"
    );

    // The shortest and longest hashes a ThumbHash encoder makes, every byte value.
    let first = Placeholder::new((0..=4).collect(), Color([0, 127, 255])).expect("valid");
    let second = Placeholder::new(
        (0..Placeholder::MAX_THUMBHASH_BYTES)
            .map(|i| u8::try_from(i * 10 + 5).expect("small"))
            .collect(),
        Color([255, 0, 9]),
    )
    .expect("valid");
    for (placeholder, what) in [
        (&first, "a first placeholder"),
        (&first, "the same placeholder again"),
        (&second, "a replacement"),
    ] {
        repo.set_placeholder(image, placeholder)
            .await
            .must_be(true, &format!("set_placeholder of {what} must be true"));
        let got = stored(image).await;
        assert_eq!(
            got.image,
            Image {
                placeholder: Some(placeholder.clone()),
                ..record.image.clone()
            },
            "set_placeholder of {what} must store it and change nothing else"
        );
        assert_eq!(
            got.thumbnails, before.thumbnails,
            "set_placeholder must leave the thumbnails alone"
        );
    }
    let owned = repo
        .get_image(user.id, image)
        .await
        .must_find("the owner's image");
    assert_eq!(
        owned.image.placeholder,
        Some(second.clone()),
        "get_image shows it"
    );
    let listed = repo
        .list_images(user.id, &KeysetQuery::first(10))
        .await
        .got("list_images");
    let placeholders: Vec<_> = listed
        .iter()
        .map(|r| (r.image.id, r.image.placeholder.clone()))
        .collect();
    assert!(
        placeholders.contains(&(image, Some(second.clone())))
            && placeholders.contains(&(other.image.id, None)),
        "list_images shows each image's own placeholder: {placeholders:?}"
    );

    repo.set_placeholder(ImageId::new(), &first)
        .await
        .must_be(false, "set_placeholder of a missing image must be false");
    repo.delete_image(user.id, image)
        .await
        .must_find("the image to delete");
    repo.set_placeholder(image, &first)
        .await
        .must_be(false, "set_placeholder of a deleted image must be false");
    clean_up(repo, &[user.id], &[]).await;
}
