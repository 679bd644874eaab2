//! Background processing: duplicates, retries, failures, backfill and reconciliation.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::TimeDelta;
use imagevault_core::testing::images::{crafted_png, png};
use imagevault_core::{
    Job, JobOutcome, JobQueue, MemoryJobQueue, PlanId, PlanName, PlanSpec, ThumbnailHeights,
    ThumbnailStatus, UserChanges, VaultConfig,
};

use crate::harness::TestVault;

fn statuses(view: &imagevault_core::ImageView) -> Vec<(u32, ThumbnailStatus)> {
    view.thumbnails
        .iter()
        .map(|t| (t.max_height, t.status))
        .collect()
}

/// The same job delivered twice (a redelivery after a crash, a duplicate enqueue) makes
/// each thumbnail once and leaves no stray object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_delivered_twice_makes_each_thumbnail_once() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload_fixture(&user, "chelsea_451x300.png").await;
    let lease = std::time::Duration::from_secs(60);
    let first = t
        .queue
        .reserve(lease, std::time::Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    // Enqueued once the upload's job is out: an equal waiting job would absorb it.
    t.queue
        .enqueue(Job::GenerateThumbnails {
            image_id: view.image.id,
        })
        .await
        .unwrap();
    let second = t
        .queue
        .reserve(lease, std::time::Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.job, second.job);
    let (a, b) = tokio::join!(
        t.vault.handle_delivery(&first),
        t.vault.handle_delivery(&second)
    );
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        (JobOutcome::Completed, JobOutcome::Completed)
    );
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(
        statuses(&view),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
    assert_eq!(
        t.storage.keys(),
        TestVault::expected_keys([&view]),
        "duplicate work left stray objects"
    );
    assert_eq!(t.run_jobs().await, 0);
}

/// Transient storage failures are retried with growing delays; the job then completes.
#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload(&user, png(100, 300)).await;
    t.storage.failing_puts.store(2, Ordering::SeqCst);
    let lease = std::time::Duration::from_secs(60);
    let mut delays = Vec::new();
    loop {
        let Some(delivery) = t
            .queue
            .reserve(lease, std::time::Duration::from_secs(10))
            .await
            .unwrap()
        else {
            panic!("the retried job never came back");
        };
        match t.vault.handle_delivery(&delivery).await.unwrap() {
            JobOutcome::Retrying { delay } => delays.push(delay),
            JobOutcome::Completed => break,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let base = t.vault.config().retry_base_delay;
    assert_eq!(delays, [base, base * 2], "backoff doubles");
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(statuses(&view), [(200, ThumbnailStatus::Ready)]);
    let thumbnail = &view.thumbnails[0];
    assert_eq!((thumbnail.width, thumbnail.height), (67, 200));
}

/// After the last attempt, the thumbnails are failed and the job is dead-lettered.
#[tokio::test]
async fn the_last_attempt_fails_the_thumbnails() {
    let mut config = VaultConfig::default();
    config.max_attempts = 2;
    config.retry_base_delay = std::time::Duration::from_millis(10);
    let t = TestVault::with_config(config);
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload(&user, png(100, 300)).await;
    t.storage.failing_puts.store(usize::MAX, Ordering::SeqCst);
    let lease = std::time::Duration::from_secs(60);
    let mut outcomes = Vec::new();
    while let Some(delivery) = t
        .queue
        .reserve(lease, std::time::Duration::from_millis(500))
        .await
        .unwrap()
    {
        outcomes.push(t.vault.handle_delivery(&delivery).await.unwrap());
    }
    assert_eq!(outcomes.len(), 2);
    assert!(
        matches!(outcomes[1], JobOutcome::DeadLettered { .. }),
        "{outcomes:?}"
    );
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(
        statuses(&view),
        [
            (200, ThumbnailStatus::Failed),
            (400, ThumbnailStatus::Failed)
        ]
    );
    let dead = t.queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].reason.contains("gave up after 2 attempts"),
        "{}",
        dead[0].reason
    );
}

/// A PNG with valid structure and CRCs but garbage compressed data: accepted at upload
/// (only a decode can tell), then its thumbnails fail at once without retries.
#[tokio::test]
async fn damage_found_by_decoding_fails_the_thumbnails_without_retrying() {
    let png = crafted_png(64, 640, b"this is not a zlib stream at all");

    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload(&user, png).await;
    assert_eq!(statuses(&view), [(200, ThumbnailStatus::Pending)]);
    assert_eq!(t.run_jobs().await, 1, "a permanent failure is not retried");
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(statuses(&view), [(200, ThumbnailStatus::Failed)]);
    assert_eq!(t.queue.dead_letters(10).await.unwrap().len(), 1);
    assert_eq!(t.storage.keys(), TestVault::expected_keys([&view]));
}

/// A plan change shows new heights as pending at once and queues their backfill.
#[tokio::test]
async fn a_plan_change_backfills_missing_thumbnails() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload_fixture(&user, "camera_512x512.png").await;
    t.run_jobs().await;
    let premium = UserChanges {
        plan: Some(Some(PlanId::PREMIUM)),
        ..Default::default()
    };
    t.vault
        .update_user(&admin, user.user.id, premium)
        .await
        .unwrap();
    let user = t.refresh(&user).await;
    let pending = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(
        statuses(&pending),
        [
            (200, ThumbnailStatus::Ready),
            (400, ThumbnailStatus::Pending)
        ]
    );
    assert!(pending.original.is_some());
    t.run_jobs().await;
    let done = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(
        statuses(&done),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
    assert_eq!(
        done.thumbnails[0].storage_key, pending.thumbnails[0].storage_key,
        "existing thumbnails are kept"
    );

    // Editing a custom plan backfills every user on it.
    let spec = |heights: &[u32]| PlanSpec {
        name: PlanName::parse("Custom").unwrap(),
        thumbnail_heights: ThumbnailHeights::new(heights.iter().copied()).unwrap(),
        thumbnail_formats: Default::default(),
        original_link: false,
        expiring_links: false,
        quota: Default::default(),
        strip_metadata: false,
    };
    let custom = t.vault.create_plan(&admin, spec(&[100])).await.unwrap();
    let member = t.user(Some(custom.id)).await;
    let image = t.upload(&member, png(50, 600)).await;
    t.run_jobs().await;
    t.vault
        .update_plan(&admin, custom.id, spec(&[100, 300]))
        .await
        .unwrap();
    let member = t.refresh(&member).await;
    let before = t.vault.get_image(&member, image.image.id).await.unwrap();
    assert_eq!(
        statuses(&before),
        [
            (100, ThumbnailStatus::Ready),
            (300, ThumbnailStatus::Pending)
        ]
    );
    t.run_jobs().await;
    let after = t.vault.get_image(&member, image.image.id).await.unwrap();
    assert_eq!(
        statuses(&after),
        [(100, ThumbnailStatus::Ready), (300, ThumbnailStatus::Ready)]
    );
    assert_eq!(
        (after.thumbnails[1].width, after.thumbnails[1].height),
        (25, 300)
    );

    // Heights the plan no longer has are not listed.
    t.vault
        .update_plan(&admin, custom.id, spec(&[300]))
        .await
        .unwrap();
    let member = t.refresh(&member).await;
    let narrowed = t.vault.get_image(&member, image.image.id).await.unwrap();
    assert_eq!(statuses(&narrowed), [(300, ThumbnailStatus::Ready)]);
}

/// The database is the source of truth: a job lost with a crashed worker is found again by
/// the reconciler once its lease has lapsed, and completed.
#[tokio::test]
async fn the_reconciler_recovers_work_lost_with_a_worker() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload_fixture(&user, "chelsea_451x300.png").await;
    // Take the job and never settle it, as a worker killed mid-job would.
    let hour = std::time::Duration::from_secs(3600);
    let _lost = t
        .queue
        .reserve(hour, std::time::Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        t.vault.reconcile().await.unwrap(),
        0,
        "work under a live lease is left alone"
    );
    t.clock.advance(TimeDelta::minutes(6));
    assert_eq!(t.vault.reconcile().await.unwrap(), 1);
    assert_eq!(
        t.vault.reconcile().await.unwrap(),
        0,
        "claimed work is not queued twice"
    );
    t.run_jobs().await;
    let done = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(
        statuses(&done),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
}

/// An upload succeeds when the queue refuses its job; the reconciler queues it later.
#[tokio::test]
async fn uploads_survive_a_full_queue() {
    let t = TestVault::with_queue(VaultConfig::default(), Arc::new(MemoryJobQueue::new(1)));
    let user = t.user(Some(PlanId::BASIC)).await;
    let first = t.upload(&user, png(30, 300)).await;
    let second = t.upload(&user, png(30, 300)).await;
    assert_eq!(
        t.run_jobs().await,
        1,
        "only the first job fitted in the queue"
    );
    let waiting = t.vault.get_image(&user, second.image.id).await.unwrap();
    assert_eq!(statuses(&waiting), [(200, ThumbnailStatus::Pending)]);
    t.clock.advance(TimeDelta::minutes(6));
    assert_eq!(t.vault.reconcile().await.unwrap(), 1);
    t.run_jobs().await;
    for id in [first.image.id, second.image.id] {
        let view = t.vault.get_image(&user, id).await.unwrap();
        assert_eq!(statuses(&view), [(200, ThumbnailStatus::Ready)]);
    }
}

/// Takes the next job off the queue and acknowledges it unrun, as a queue that loses it
/// would, returning it.
async fn lose_next_job(t: &TestVault) -> Job {
    let delivery = t
        .queue
        .reserve(
            std::time::Duration::from_secs(60),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap()
        .expect("a job was queued");
    t.queue.ack(&delivery).await.unwrap();
    delivery.job
}

/// The frequent reconciler pass finds an upload whose job was lost once its lease lapses,
/// but not thumbnails missing for a changed plan whose backfill job was lost: those are
/// the full pass's, which reads every image.
#[tokio::test]
async fn the_lapsed_pass_leaves_missing_thumbnails_to_the_full_pass() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let moved = t.user(Some(PlanId::BASIC)).await;
    let moved_image = t.upload(&moved, png(30, 300)).await;
    t.run_jobs().await;
    t.vault
        .update_user(
            &admin,
            moved.user.id,
            UserChanges {
                plan: Some(Some(PlanId::PREMIUM)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let moved = t.refresh(&moved).await;
    // The backfill job is lost with the queue, as is the next upload's job.
    let lost = lose_next_job(&t).await;
    assert!(matches!(lost, Job::BackfillOwner { .. }), "{lost:?}");
    let uploader = t.user(Some(PlanId::BASIC)).await;
    let stranded = t.upload(&uploader, png(30, 300)).await;
    let lost = lose_next_job(&t).await;
    assert!(matches!(lost, Job::GenerateThumbnails { .. }), "{lost:?}");

    t.clock.advance(TimeDelta::minutes(6));
    assert_eq!(
        t.vault.reconcile_lapsed().await.unwrap(),
        1,
        "the lapsed pass queues the stranded upload only"
    );
    t.run_jobs().await;
    let view = t
        .vault
        .get_image(&uploader, stranded.image.id)
        .await
        .unwrap();
    assert_eq!(statuses(&view), [(200, ThumbnailStatus::Ready)]);
    let view = t
        .vault
        .get_image(&moved, moved_image.image.id)
        .await
        .unwrap();
    assert_eq!(
        statuses(&view),
        [
            (200, ThumbnailStatus::Ready),
            (400, ThumbnailStatus::Pending)
        ],
        "the 400 px thumbnail is shown pending, and no pass has queued it yet"
    );
    assert_eq!(t.vault.reconcile_lapsed().await.unwrap(), 0);
    assert_eq!(
        t.vault.reconcile().await.unwrap(),
        1,
        "the full pass finds the thumbnails missing for the new plan"
    );
    t.run_jobs().await;
    let view = t
        .vault
        .get_image(&moved, moved_image.image.id)
        .await
        .unwrap();
    assert_eq!(
        statuses(&view),
        [(200, ThumbnailStatus::Ready), (400, ThumbnailStatus::Ready)]
    );
}

/// A worker asked to stop finishes what it holds and leaves nothing reserved: whatever it
/// took is settled, and the rest is still ready for the next worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_leaves_no_job_reserved() {
    let test = TestVault::new();
    let owner = test.user(Some(PlanId::PREMIUM)).await;
    for _ in 0..12 {
        test.upload(&owner, png(64, 48)).await;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn({
        let vault = test.vault.clone();
        async move {
            let mut options = imagevault_core::WorkerOptions::default();
            options.concurrency = 3;
            options.poll_wait = std::time::Duration::from_millis(50);
            vault
                .run_worker(options, async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    // Stop while jobs are still coming in, so some loops are waiting in `reserve`.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for _ in 0..4 {
        test.upload(&owner, png(32, 24)).await;
    }
    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(30), worker)
        .await
        .expect("the worker stops")
        .expect("no panic");
    let depth = test.queue.depth().await.unwrap();
    assert_eq!(depth.in_flight, 0, "{depth:?}");
    // Whatever was not taken is still there: running the rest finishes every image.
    test.run_jobs().await;
    let page = test
        .vault
        .list_images(&owner, imagevault_core::PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 16);
    for view in &page.items {
        assert!(
            statuses(view)
                .iter()
                .all(|(_, status)| *status == ThumbnailStatus::Ready),
            "{:?}",
            statuses(view)
        );
    }
}
