//! Checks of the image half of [`ImageRepo`](crate::ImageRepo): round trips, owners, keyset lists,
//! deletion, originals, referenced keys and usage.

use chrono::TimeDelta;
use std::collections::HashSet;

use crate::page::{Direction, KeysetQuery, Positioned};
use crate::repo::Conflict;
use crate::{
    Color, ContentDigest, Image, ImageFormat, ImageId, ImageName, ImageRecord, MetadataKind,
    MetadataRemoved, Placeholder, Plan, PlanId, Repo, StorageKey, Thumbnail, ThumbnailStatus,
    Usage, UserId,
};

use super::fixtures::{
    Answer, Collection, Lookup, assert_conflict, bare_image, clean_up, insert, micros,
    move_to_plan, new_image, new_link, new_plan, new_user, now, row, sorted,
};
use super::keyset::{Scope, check_keyset_list};

/// What was removed from an upload round-trips: not stripped (`None`), stripped with
/// nothing to remove (an empty set, which must not come back as `None`), and a few kinds.
pub async fn image_metadata_removed_round_trips(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let cases = [
        None,
        Some(MetadataRemoved::default()),
        Some(
            [MetadataKind::Exif, MetadataKind::Comment]
                .into_iter()
                .collect(),
        ),
        Some(MetadataKind::ALL.into_iter().collect()),
    ];
    for metadata_removed in cases {
        let mut record = bare_image(user.id, now());
        record.image.metadata_removed = metadata_removed.clone();
        let stored = insert(repo, record).await;
        let read = repo
            .get_image(user.id, stored.image.id)
            .await
            .expect("get_image failed")
            .expect("the image was stored");
        assert_eq!(
            read.image.metadata_removed, metadata_removed,
            "an image's metadata_removed must round-trip, None and empty apart"
        );
        let listed = repo
            .get_image_by_id(stored.image.id)
            .await
            .expect("get_image_by_id failed")
            .expect("the image was stored");
        assert_eq!(listed.image.metadata_removed, metadata_removed);
    }
    clean_up(repo, &[user.id], &[]).await;
}

/// An image and its thumbnail rows round-trip field for field (format, display size,
/// byte size beyond 32 bits, storage key, timestamps, every row's status, size, key,
/// attempts and update time), with the rows ascending by height however inserted.
pub async fn image_round_trips(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let created_at = micros(now(), -1_234_567);
    let image = Image {
        id: ImageId::new(),
        owner: user.id,
        name: ImageName::parse("Zoë's holiday ✓ (1).png").expect("a valid image name"),
        format: ImageFormat::Png,
        width: 4321,
        height: 987,
        size: 3_000_000_123,
        storage_key: StorageKey::new_original(ImageFormat::Png),
        created_at,
        digest: Some(ContentDigest::of(b"Zoe's holiday")),
        placeholder: Placeholder::new(
            vec![0xa7; Placeholder::MAX_THUMBHASH_BYTES],
            Color([1, 128, 255]),
        ),
        metadata_removed: Some(MetadataKind::ALL.into_iter().collect()),
    };
    let thumbnails = vec![
        row(
            &image,
            800,
            ThumbnailStatus::Failed,
            3,
            micros(created_at, 3_000_001),
        ),
        row(
            &image,
            200,
            ThumbnailStatus::Ready,
            1,
            micros(created_at, 2_000_002),
        ),
        row(
            &image,
            400,
            ThumbnailStatus::Pending,
            2,
            micros(created_at, 1),
        ),
    ];
    let record = ImageRecord { image, thumbnails };
    repo.insert_image(&record)
        .await
        .expect("insert_image failed");
    let expected = sorted(record.clone());
    let stored = repo
        .get_image(user.id, record.image.id)
        .await
        .expect("get_image failed");
    assert_eq!(
        stored.as_ref(),
        Some(&expected),
        "an image and its thumbnails must round-trip field for field, the thumbnails ascending by height"
    );
    repo.get_image_by_id(record.image.id).await.must_be(
        Some(expected),
        "get_image_by_id must return the same record as get_image",
    );

    let bare = insert(repo, bare_image(user.id, now())).await;
    repo.get_image(user.id, bare.image.id).await.must_be(
        Some(bare),
        "an image without thumbnail rows must round-trip with none",
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `insert_image` for an owner that does not exist is [`Conflict::MissingReference`] and
/// stores neither the image nor any of its thumbnail rows.
pub async fn image_insert_needs_owner(repo: &dyn Repo) {
    let mut record = bare_image(UserId::new(), now());
    let ready = row(&record.image, 200, ThumbnailStatus::Ready, 1, now());
    let ready_key = ready.storage_key.clone().expect("a ready row has a key");
    record.thumbnails = vec![
        ready,
        row(&record.image, 400, ThumbnailStatus::Pending, 0, now()),
    ];
    assert_conflict(
        repo.insert_image(&record).await,
        Conflict::MissingReference,
        "insert_image for an unknown owner",
    );
    repo.get_image_by_id(record.image.id)
        .await
        .must_be_none("an image refused for an unknown owner must not be stored");
    repo.find_original(&record.image.storage_key)
        .await
        .must_be_none("an image refused for an unknown owner must not be found by its key");
    let rule =
        "the thumbnail rows of a refused image must not be stored (insert_image is all or nothing)";
    repo.referenced_keys(std::slice::from_ref(&ready_key))
        .await
        .must_be_empty(rule);
}

/// `get_image` only returns the owner's images; `get_image_by_id` ignores the owner;
/// both are `None` for unknown ids.
pub async fn images_are_owner_scoped(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::BASIC)).await;
    let other = new_user(repo, Some(PlanId::BASIC)).await;
    let record = insert(repo, new_image(owner.id, now())).await;
    repo.get_image(other.id, record.image.id)
        .await
        .must_be_none("get_image must not return another user's image");
    repo.get_image(owner.id, record.image.id).await.must_be(
        Some(record.clone()),
        "get_image must return the owner's image",
    );
    repo.get_image_by_id(record.image.id).await.must_be(
        Some(record.clone()),
        "get_image_by_id must return an image whoever owns it",
    );
    repo.get_image(owner.id, ImageId::new())
        .await
        .must_be_none("get_image of an unknown id must be None");
    repo.get_image_by_id(ImageId::new())
        .await
        .must_be_none("get_image_by_id of an unknown id must be None");
    repo.list_images(other.id, &KeysetQuery::first(100))
        .await
        .must_be_empty("list_images must not list another user's images");
    clean_up(repo, &[owner.id, other.id], &[]).await;
}

/// `list_images` lists one owner's images with their thumbnails, newest first by
/// `(created_at, id)` with ties on the time broken by id, and follows [`KeysetQuery`]
/// exactly: from the start, strictly older (nearest first) and strictly newer (the
/// nearest `limit`, still newest first). Another user's images, some at the very same
/// times, never appear.
pub async fn images_list_by_keyset(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let other = new_user(repo, Some(PlanId::PREMIUM)).await;
    let base = now();
    let offsets = [0, 0, 0, 7, 7, 1_000_000, 1_000_001, -3_000_000];
    let images: Vec<ImageRecord> = offsets
        .iter()
        .map(|&offset| {
            let mut record = new_image(user.id, micros(base, offset));
            let extra = row(
                &record.image,
                400,
                ThumbnailStatus::Ready,
                1,
                micros(base, offset + 5),
            );
            record.thumbnails.push(extra);
            record
        })
        .collect();
    for index in [3, 0, 6, 1, 7, 2, 5, 4] {
        repo.insert_image(&images[index])
            .await
            .expect("insert_image failed");
    }
    let others: Vec<ImageRecord> = [0, 7, 1_000_000]
        .into_iter()
        .map(|offset| new_image(other.id, micros(base, offset)))
        .collect();
    for record in &others {
        repo.insert_image(record)
            .await
            .expect("insert_image failed");
    }
    let owner = user.id;
    check_keyset_list(
        "list_images",
        Scope::Own,
        &images,
        Positioned::position,
        move |query| async move { repo.list_images(owner, &query).await },
    )
    .await;
    let owner = other.id;
    check_keyset_list(
        "list_images",
        Scope::Own,
        &others,
        Positioned::position,
        move |query| async move { repo.list_images(owner, &query).await },
    )
    .await;
    clean_up(repo, &[user.id, other.id], &[]).await;
}

/// Paging `list_images` with older-page cursors while images are inserted between the
/// requests visits every image that was there exactly once, in order: images inserted
/// newer than a cursor never appear after it, and one inserted older appears once.
pub async fn images_list_is_stable_under_inserts(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let base = micros(now(), -60_000_000);
    let mut expected = Vec::new();
    for offset in [0, -10, -20, -30, -30, -40, -50, -60] {
        let record = insert(repo, new_image(user.id, base + TimeDelta::seconds(offset))).await;
        expected.push(record);
    }
    expected.sort_by_key(|record| std::cmp::Reverse(Positioned::position(record)));
    let oldest = insert(repo, new_image(user.id, base - TimeDelta::hours(1))).await;
    let mut inserted_after_start = Vec::new();

    let limit = 3;
    let mut walked: Vec<ImageRecord> = Vec::new();
    let mut anchor = None;
    for round in 1.. {
        assert!(
            round <= 20,
            "paging list_images with older-page cursors does not end"
        );
        let page = repo
            .list_images(user.id, &KeysetQuery { anchor, limit })
            .await
            .expect("list_images failed");
        walked.extend(page.iter().cloned());
        let Some(last) = page.last() else { break };
        let position = Positioned::position(last);
        anchor = Some((position, Direction::Older));
        // Newer than everything, and just newer than the cursor: neither may show up later.
        let newest = insert(repo, new_image(user.id, base + TimeDelta::seconds(round))).await;
        let just_newer = insert(repo, new_image(user.id, micros(position.created_at, 1))).await;
        inserted_after_start.extend([newest, just_newer]);
        if page.len() < limit {
            break;
        }
    }
    let mut visited: Vec<ImageId> = walked.iter().map(|record| record.image.id).collect();
    let mut want: Vec<ImageId> = expected.iter().map(|record| record.image.id).collect();
    want.push(oldest.image.id);
    assert_eq!(
        visited, want,
        "paging list_images while images are inserted must neither repeat nor skip images"
    );
    visited.sort_unstable();
    visited.dedup();
    assert_eq!(
        visited.len(),
        walked.len(),
        "paging list_images repeated an image"
    );

    // A newer page from the first walked item of the second page holds the nearest
    // newer images, which now include those inserted just above the cursors.
    let mut everything = expected.clone();
    everything.push(oldest);
    everything.extend(inserted_after_start);
    everything.sort_by_key(|record| std::cmp::Reverse(Positioned::position(record)));
    let query = KeysetQuery {
        anchor: Some((Positioned::position(&walked[limit]), Direction::Newer)),
        limit,
    };
    let page = repo
        .list_images(user.id, &query)
        .await
        .expect("list_images failed");
    assert_eq!(
        page,
        query.select(&everything, Positioned::position),
        "a newer page after inserts must hold the nearest newer images, newest first"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `delete_image` of another user's image is `None` and leaves it intact; of the owner's
/// it returns the deleted record with its thumbnails and removes the image, its
/// thumbnails and its links, but not the owner's other images and links.
pub async fn delete_image_removes_thumbnails_and_links(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let stranger = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let mut record = bare_image(owner.id, micros(now(), -10));
    let ready = row(&record.image, 200, ThumbnailStatus::Ready, 1, now());
    let ready_key = ready.storage_key.clone().expect("a ready row has a key");
    record.thumbnails = vec![
        row(&record.image, 400, ThumbnailStatus::Pending, 0, now()),
        ready,
    ];
    let record = sorted(insert(repo, record).await);
    let kept = insert(repo, new_image(owner.id, now())).await;
    let link = new_link(repo, &record.image, now()).await;
    let kept_link = new_link(repo, &kept.image, now()).await;

    repo.delete_image(stranger.id, record.image.id)
        .await
        .must_be_none("delete_image of another user's image must be None");
    repo.get_image(owner.id, record.image.id).await.must_be(
        Some(record.clone()),
        "delete_image by another user must leave the image and its thumbnails intact",
    );
    repo.get_link(owner.id, link.id)
        .await
        .must_find("delete_image by another user must leave the image's links intact");

    let deleted = repo
        .delete_image(owner.id, record.image.id)
        .await
        .expect("delete_image failed");
    assert_eq!(
        deleted,
        Some(record.clone()),
        "delete_image must return the deleted image with its thumbnails"
    );
    repo.get_image_by_id(record.image.id)
        .await
        .must_be_none("a deleted image must be gone");
    repo.find_original(&record.image.storage_key)
        .await
        .must_be_none("a deleted image must not be found by its key");
    repo.referenced_keys(std::slice::from_ref(&ready_key))
        .await
        .must_be_empty("a deleted image's thumbnails must be gone");
    repo.find_link(&link.key)
        .await
        .must_be_none("a deleted image's links must be gone");
    repo.get_link(owner.id, link.id)
        .await
        .must_be_none("a deleted image's links must be gone");
    let links = repo
        .list_links(owner.id, None, &KeysetQuery::first(100))
        .await
        .expect("list_links failed");
    assert_eq!(
        links,
        [kept_link],
        "list_links must drop a deleted image's links and keep the others"
    );
    let images = repo
        .list_images(owner.id, &KeysetQuery::first(100))
        .await
        .expect("list_images failed");
    assert_eq!(images, [kept], "delete_image must remove only that image");
    repo.delete_image(owner.id, record.image.id)
        .await
        .must_be_none("deleting an image twice must be None");
    clean_up(repo, &[owner.id, stranger.id], &[]).await;
}

/// `find_original` finds an image by its original's key with its owner's current plan:
/// a plan change, a change to the plan itself and losing the plan show at once.
pub async fn find_original_sees_current_plan(repo: &dyn Repo) {
    let first = new_plan(repo, &[200]).await;
    let second = new_plan(repo, &[300, 600]).await;
    let user = new_user(repo, Some(first.id)).await;
    let record = insert(repo, new_image(user.id, now())).await;
    let key = &record.image.storage_key;
    let found =
        move |rule: &'static str| async move { repo.find_original(key).await.must_find(rule) };

    let target = found("find_original must find an image by its original's key").await;
    assert_eq!(
        target.image, record.image,
        "find_original must return the image"
    );
    assert_eq!(
        target.owner_plan,
        Some(first.clone()),
        "find_original must return the owner's plan"
    );

    move_to_plan(repo, &user, Some(second.id)).await;
    let target = found("find_original must find the image after its owner changed plan").await;
    assert_eq!(
        target.owner_plan,
        Some(second.clone()),
        "find_original must reflect a change of the owner's plan"
    );

    let regranted = Plan {
        original_link: false,
        ..second.clone()
    };
    repo.update_plan(&regranted)
        .await
        .must_be(true, "update_plan must be true");
    let target = found("find_original must find the image after its plan changed").await;
    assert_eq!(
        target.owner_plan,
        Some(regranted),
        "find_original must reflect a change to the plan itself"
    );

    move_to_plan(repo, &user, None).await;
    let target = found("find_original must find the image of a user without a plan").await;
    assert_eq!(
        target.owner_plan, None,
        "find_original's plan must be None when the owner has none"
    );

    repo.find_original(&StorageKey::new_original(ImageFormat::Jpeg))
        .await
        .must_be_none("find_original of an unknown key must be None");
    clean_up(repo, &[user.id], &[first.id, second.id]).await;
}

/// `referenced_keys` returns exactly those of the given keys that an image's original or a
/// thumbnail row (whatever its status) holds, whoever owns the image, in batches of any
/// size up to a thousand keys; a deleted image's keys are no longer referenced.
pub async fn referenced_keys_finds_originals_and_thumbnails(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::PREMIUM)).await;
    let other = new_user(repo, Some(PlanId::BASIC)).await;
    let mut record = bare_image(owner.id, now());
    let ready = row(&record.image, 200, ThumbnailStatus::Ready, 1, now());
    let ready_key = ready.storage_key.clone().expect("a ready row has a key");
    let pending = row(&record.image, 400, ThumbnailStatus::Pending, 1, now());
    let failed_key = StorageKey::new_thumbnail(ImageFormat::Jpeg);
    let failed = Thumbnail {
        status: ThumbnailStatus::Failed,
        storage_key: Some(failed_key.clone()),
        ..row(&record.image, 600, ThumbnailStatus::Pending, 3, now())
    };
    record.thumbnails = vec![ready, pending.clone(), failed];
    let record = insert(repo, record).await;
    let theirs = insert(repo, new_image(other.id, now())).await;
    let original = record.image.storage_key.clone();
    let their_original = theirs.image.storage_key.clone();
    let referenced = |keys: Vec<StorageKey>| async move {
        repo.referenced_keys(&keys)
            .await
            .expect("referenced_keys failed")
    };
    let set = |keys: &[&StorageKey]| -> HashSet<StorageKey> {
        keys.iter().map(|&key| key.clone()).collect()
    };

    assert!(
        referenced(Vec::new()).await.is_empty(),
        "referenced_keys of no keys must be empty"
    );
    let asked = vec![
        original.clone(),
        StorageKey::new_original(ImageFormat::Jpeg),
        ready_key.clone(),
        their_original.clone(),
        StorageKey::new_thumbnail(ImageFormat::Png),
        failed_key.clone(),
        original.clone(),
    ];
    assert_eq!(
        referenced(asked).await,
        set(&[&original, &ready_key, &their_original, &failed_key]),
        "referenced_keys must find originals and thumbnail keys of every owner, and only those"
    );

    let completed_key = StorageKey::new_thumbnail(ImageFormat::Jpeg);
    assert!(
        referenced(vec![completed_key.clone()]).await.is_empty(),
        "a key no row holds is not referenced"
    );
    repo.complete_thumbnail(record.image.id, pending.max_height, &completed_key, now())
        .await
        .must_be(true, "complete_thumbnail of a pending row must be true");
    assert_eq!(
        referenced(vec![completed_key.clone()]).await,
        set(&[&completed_key]),
        "a key is referenced as soon as complete_thumbnail stores it"
    );

    let mut many: Vec<StorageKey> = (0..997)
        .map(|index| match index % 2 {
            0 => StorageKey::new_original(ImageFormat::Png),
            _ => StorageKey::new_thumbnail(ImageFormat::Png),
        })
        .collect();
    many.insert(10, their_original.clone());
    many.insert(500, ready_key.clone());
    many.push(completed_key.clone());
    assert_eq!(
        referenced(many).await,
        set(&[&their_original, &ready_key, &completed_key]),
        "referenced_keys must answer a batch of a thousand keys"
    );

    repo.delete_image(owner.id, record.image.id)
        .await
        .must_find("the image existed");
    assert_eq!(
        referenced(vec![
            original.clone(),
            ready_key.clone(),
            completed_key.clone(),
            failed_key.clone(),
            their_original.clone(),
        ])
        .await,
        set(&[&their_original]),
        "a deleted image's original and thumbnails must no longer be referenced"
    );
    clean_up(repo, &[owner.id, other.id], &[]).await;
}

/// `usage` counts the owner's images and sums their originals' sizes exactly (beyond 32
/// bits), no one else's; an image deleted leaves it; an unknown user's usage is zero.
pub async fn usage_counts_originals(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::BASIC)).await;
    let other = new_user(repo, Some(PlanId::BASIC)).await;
    repo.usage(owner.id)
        .await
        .must_be(Usage::default(), "a user without images uses nothing");
    let mut images = Vec::new();
    for size in [5_000_000_001_u64, 245_760, 1] {
        let mut record = new_image(owner.id, now());
        record.image.size = size;
        images.push(insert(repo, record).await);
    }
    insert(repo, new_image(other.id, now())).await;
    repo.usage(owner.id).await.must_be(
        Usage {
            images: 3,
            bytes: 5_000_245_762,
        },
        "usage must count the owner's images and sum their sizes",
    );
    assert!(
        repo.delete_image(owner.id, images[0].image.id)
            .await
            .expect("delete_image failed")
            .is_some()
    );
    repo.usage(owner.id).await.must_be(
        Usage {
            images: 2,
            bytes: 245_761,
        },
        "a deleted image must leave the usage",
    );
    repo.usage(UserId::new())
        .await
        .must_be(Usage::default(), "an unknown user uses nothing");
    clean_up(repo, &[owner.id, other.id], &[]).await;
}
