//! What the administrators' console reads and does: the dashboard, every user's images,
//! thumbnail failures and their retry.

use chrono::TimeDelta;
use imagevault_core::JobQueue as _;
use imagevault_core::page::{PageLimit, PageRequest};
use imagevault_core::queue::QueueDepth;
use imagevault_core::repo::ImageFilter;
use std::sync::atomic::Ordering;

use imagevault_core::testing::images::{crafted_png, png};
use imagevault_core::{
    AdminImageView, ImageId, PlanId, Regenerate, ThumbnailStatus, Totals, UserId, VaultConfig,
    VaultError,
};

use crate::harness::TestVault;

/// The dashboard counts users, images, bytes, pending and failed thumbnails and the
/// queue's jobs, and only administrators see it.
#[tokio::test]
async fn the_dashboard_counts_what_the_installation_holds() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::BASIC)).await;
    let good = t.upload(&user, png(100, 300)).await;
    let bad = t
        .upload(&user, crafted_png(64, 640, b"this is not a zlib stream"))
        .await;
    let dashboard = t.vault.dashboard(&admin).await.unwrap();
    assert_eq!(
        dashboard.totals,
        Totals {
            users: 2,
            images: 2,
            bytes: good.image.size + bad.image.size,
            thumbnails_pending: 2,
            thumbnails_failed: 0,
        }
    );
    assert_eq!(
        dashboard.queue,
        QueueDepth {
            ready: 2,
            ..QueueDepth::default()
        }
    );

    assert_eq!(t.run_jobs().await, 2);
    let dashboard = t.vault.dashboard(&admin).await.unwrap();
    assert_eq!(
        (
            dashboard.totals.thumbnails_pending,
            dashboard.totals.thumbnails_failed
        ),
        (0, 1),
        "one thumbnail made, the damaged file's failed"
    );
    assert_eq!(
        dashboard.queue,
        QueueDepth {
            dead: 1,
            ..QueueDepth::default()
        }
    );

    assert!(matches!(
        t.vault.dashboard(&user).await,
        Err(VaultError::AdminOnly)
    ));
}

fn ids(views: &[AdminImageView]) -> Vec<ImageId> {
    views.iter().map(|view| view.image.id).collect()
}

/// Administrators list every user's images newest first with their owners' usernames,
/// one owner's or only those with failed thumbnails, page by page; others may not.
#[tokio::test]
async fn admins_list_every_users_images() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let alice = t.user(Some(PlanId::BASIC)).await;
    let bob = t.user(Some(PlanId::PREMIUM)).await;
    let mut uploaded = Vec::new();
    for (account, data) in [
        (&alice, png(100, 300)),
        (&bob, png(120, 300)),
        (&alice, crafted_png(64, 640, b"this is not a zlib stream")),
    ] {
        uploaded.push(t.upload(account, data).await.image.id);
        t.clock.advance(TimeDelta::seconds(1));
    }
    t.run_jobs().await;
    let newest_first: Vec<ImageId> = uploaded.iter().rev().copied().collect();

    let all = t
        .vault
        .admin_list_images(&admin, ImageFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&all.items), newest_first);
    let owners: Vec<&str> = all
        .items
        .iter()
        .map(|view| view.owner_username.as_ref().unwrap().as_str())
        .collect();
    assert_eq!(
        owners,
        [
            alice.user.username.as_str(),
            bob.user.username.as_str(),
            alice.user.username.as_str()
        ]
    );
    let bobs = &all.items[1];
    assert_eq!(
        bobs.thumbnails
            .iter()
            .map(|row| (row.max_height.get(), row.status))
            .collect::<Vec<_>>(),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)],
        "every thumbnail row is shown"
    );

    let alices = t
        .vault
        .admin_list_images(
            &admin,
            ImageFilter {
                owner: Some(alice.user.id),
                failed_thumbnails_only: false,
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&alices.items), [uploaded[2], uploaded[0]]);
    let failed = t
        .vault
        .admin_list_images(
            &admin,
            ImageFilter {
                owner: None,
                failed_thumbnails_only: true,
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&failed.items), [uploaded[2]]);

    let mut request = PageRequest {
        limit: PageLimit::new(2).unwrap(),
        cursor: None,
    };
    let mut paged = Vec::new();
    loop {
        let page = t
            .vault
            .admin_list_images(&admin, ImageFilter::default(), request)
            .await
            .unwrap();
        paged.extend(ids(&page.items));
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, newest_first, "pages follow each other without gaps");

    assert!(matches!(
        t.vault
            .admin_list_images(&alice, ImageFilter::default(), PageRequest::default())
            .await,
        Err(VaultError::AdminOnly)
    ));
}

/// An administrator deletes another user's image with its stored objects; an unknown
/// image is not found, and users may not use it.
#[tokio::test]
async fn admins_delete_any_users_image() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let kept = t.upload(&user, png(100, 300)).await;
    let doomed = t.upload(&user, png(90, 300)).await;
    t.run_jobs().await;
    let kept = t.vault.get_image(&user, kept.image.id).await.unwrap();

    assert!(matches!(
        t.vault.admin_delete_image(&user, doomed.image.id).await,
        Err(VaultError::AdminOnly)
    ));
    t.vault
        .admin_delete_image(&admin, doomed.image.id)
        .await
        .unwrap();
    assert!(matches!(
        t.vault.get_image(&user, doomed.image.id).await,
        Err(VaultError::NotFound)
    ));
    assert_eq!(
        t.storage.keys(),
        TestVault::expected_keys([&kept]),
        "the deleted image's original and thumbnails are gone from storage"
    );
    assert!(matches!(
        t.vault.admin_delete_image(&admin, doomed.image.id).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.admin_delete_image(&admin, ImageId::new()).await,
        Err(VaultError::NotFound)
    ));
}

/// A thumbnail that cannot be made carries its reason, in the owner's view and the
/// administrators' list: the decoder's own message, or what went wrong, never a storage
/// key (as good as a link to the original).
#[tokio::test]
async fn failed_thumbnails_carry_their_reason() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::BASIC)).await;
    let damaged = t
        .upload(&user, crafted_png(64, 640, b"this is not a zlib stream"))
        .await;
    t.clock.advance(TimeDelta::seconds(1));
    let orphaned = t.upload(&user, png(100, 300)).await;
    t.vault
        .storage()
        .delete(&orphaned.image.storage_key)
        .await
        .unwrap();
    assert_eq!(t.run_jobs().await, 2);

    let damaged = t.vault.get_image(&user, damaged.image.id).await.unwrap();
    let reason = damaged.thumbnails[0]
        .failure
        .clone()
        .expect("a failed thumbnail has a reason");
    let dead = t.queue.dead_letters(10).await.unwrap();
    assert!(
        dead.iter().any(|letter| letter.reason == reason),
        "the reason is the job's: {reason:?} among {dead:?}"
    );
    let orphaned = t.vault.get_image(&user, orphaned.image.id).await.unwrap();
    assert_eq!(
        orphaned.thumbnails[0].failure.as_deref(),
        Some("the original is missing from storage")
    );

    let listed = t
        .vault
        .admin_list_images(
            &admin,
            ImageFilter {
                owner: None,
                failed_thumbnails_only: true,
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    let reasons: Vec<Option<&str>> = listed
        .items
        .iter()
        .map(|view| view.thumbnails[0].failure.as_deref())
        .collect();
    assert_eq!(
        reasons,
        [
            Some("the original is missing from storage"),
            Some(reason.as_str())
        ]
    );
    for view in &listed.items {
        let reason = view.thumbnails[0].failure.as_deref().unwrap();
        assert!(
            !reason.contains(view.image.storage_key.as_str()),
            "{reason}"
        );
    }
}

fn statuses(view: &imagevault_core::ImageView) -> Vec<(u32, ThumbnailStatus)> {
    view.thumbnails
        .iter()
        .map(|thumbnail| (thumbnail.max_height, thumbnail.status))
        .collect()
}

/// A thumbnail that failed because storage refused it shows why; once storage works
/// again, a retry of the image, or of every failed thumbnail, makes it.
#[tokio::test]
async fn retried_thumbnails_are_made_once_the_cause_is_gone() {
    let mut config = VaultConfig::default();
    config.max_attempts = 1;
    let t = TestVault::with_config(config);
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let first = t.upload(&user, png(100, 300)).await.image.id;
    let second = t.upload(&user, png(90, 300)).await.image.id;
    t.storage.failing_puts.store(usize::MAX, Ordering::SeqCst);
    assert_eq!(t.run_jobs().await, 2);
    let failed = t.vault.get_image(&user, first).await.unwrap();
    assert_eq!(
        statuses(&failed),
        [
            (200, ThumbnailStatus::Failed),
            (400, ThumbnailStatus::Failed)
        ]
    );
    let reason = failed.thumbnails[0].failure.as_deref().unwrap();
    assert!(reason.starts_with("gave up after 1 attempts"), "{reason}");

    t.storage.failing_puts.store(0, Ordering::SeqCst);
    assert!(matches!(
        t.vault.retry_thumbnails(&user, first).await,
        Err(VaultError::AdminOnly)
    ));
    assert!(matches!(
        t.vault.retry_thumbnails(&admin, ImageId::new()).await,
        Err(VaultError::NotFound)
    ));
    assert_eq!(t.vault.retry_thumbnails(&admin, first).await.unwrap(), 2);
    let pending = t.vault.get_image(&user, first).await.unwrap();
    assert_eq!(
        pending
            .thumbnails
            .iter()
            .map(|row| (row.status, row.failure.clone()))
            .collect::<Vec<_>>(),
        [
            (ThumbnailStatus::Pending, None),
            (ThumbnailStatus::Pending, None)
        ],
        "a retried thumbnail is pending without its old reason"
    );
    assert_eq!(t.run_jobs().await, 1, "the retry queued the image's job");
    let made = t.vault.get_image(&user, first).await.unwrap();
    assert_eq!(
        statuses(&made),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
    assert_eq!(
        t.vault.get_image(&user, second).await.unwrap().thumbnails[0].status,
        ThumbnailStatus::Failed,
        "retrying one image leaves the others"
    );

    assert_eq!(t.vault.retry_failed_thumbnails(&admin).await.unwrap(), 2);
    assert!(t.run_jobs().await >= 1, "the retry queued the work");
    let second = t.vault.get_image(&user, second).await.unwrap();
    assert_eq!(
        statuses(&second),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
    assert_eq!(t.vault.retry_failed_thumbnails(&admin).await.unwrap(), 0);
    assert_eq!(
        t.storage.keys(),
        TestVault::expected_keys([&made, &second]),
        "no object is left behind"
    );
}

/// Regenerating a user's or a plan's thumbnails makes ready ones again: new objects
/// replace the old ones, which are deleted; other users' thumbnails stay as they are.
#[tokio::test]
async fn regenerated_thumbnails_replace_their_objects() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let bystander = t.user(Some(PlanId::BASIC)).await;
    let mine = t.upload(&user, png(100, 300)).await.image.id;
    let theirs = t.upload(&bystander, png(100, 300)).await.image.id;
    t.run_jobs().await;
    let keys = |view: &imagevault_core::ImageView| -> Vec<String> {
        view.thumbnails
            .iter()
            .map(|row| row.storage_key.as_ref().unwrap().to_string())
            .collect()
    };
    let before = t.vault.get_image(&user, mine).await.unwrap();
    let theirs_before = t.vault.get_image(&bystander, theirs).await.unwrap();

    assert!(matches!(
        t.vault
            .regenerate_thumbnails(&user, Regenerate::User(user.user.id))
            .await,
        Err(VaultError::AdminOnly)
    ));
    assert!(matches!(
        t.vault
            .regenerate_thumbnails(&admin, Regenerate::User(UserId::new()))
            .await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault
            .regenerate_thumbnails(&admin, Regenerate::Plan(PlanId::new()))
            .await,
        Err(VaultError::NotFound)
    ));
    assert_eq!(
        t.vault
            .regenerate_thumbnails(&admin, Regenerate::User(user.user.id))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        t.run_jobs().await,
        1,
        "the regeneration queued the image's job"
    );
    let after = t.vault.get_image(&user, mine).await.unwrap();
    assert_eq!(
        statuses(&after),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
    for (old, new) in keys(&before).iter().zip(keys(&after)) {
        assert_ne!(*old, new, "a regenerated thumbnail is a new object");
    }
    assert_eq!(
        t.vault.get_image(&bystander, theirs).await.unwrap(),
        theirs_before,
        "other users' thumbnails stay"
    );
    assert_eq!(
        t.storage.keys(),
        TestVault::expected_keys([&after, &theirs_before]),
        "the old objects are deleted"
    );

    assert_eq!(
        t.vault
            .regenerate_thumbnails(&admin, Regenerate::Plan(PlanId::BASIC))
            .await
            .unwrap(),
        1
    );
    assert_eq!(t.run_jobs().await, 1);
    let theirs_after = t.vault.get_image(&bystander, theirs).await.unwrap();
    assert_eq!(statuses(&theirs_after), [(200, ThumbnailStatus::Ready)]);
    assert_ne!(keys(&theirs_after), keys(&theirs_before));
    assert_eq!(t.vault.get_image(&user, mine).await.unwrap(), after);
}
