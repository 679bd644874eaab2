//! The sweeper: objects no row refers to are deleted once older than the grace period;
//! referenced objects, young objects and objects of unknown age are kept.
//!
//! Object times come from the storage's real clock, so each test first sets the manual
//! clock to the real time, then moves it past the grace period.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use imagevault_core::testing::images::png;
use imagevault_core::{
    ImageFormat, ImageView, PlanId, Storage, StorageKey, SweepOptions, SweepReport,
};

use crate::harness::TestVault;

/// A vault whose clock reads the real time, as the storage dates its objects.
fn vault() -> TestVault {
    let t = TestVault::new();
    t.clock.set(Utc::now());
    t
}

/// Moves the clock past the default grace period of an hour.
fn after_grace(t: &TestVault) {
    t.clock.advance(TimeDelta::minutes(61));
}

/// Stores an object directly, as a process that died before writing its row left it.
async fn orphan(t: &TestVault, key: StorageKey, data: &'static [u8]) -> StorageKey {
    t.storage
        .put(&key, Bytes::from_static(data), ImageFormat::Png)
        .await
        .unwrap();
    key
}

async fn sweep(t: &TestVault) -> SweepReport {
    t.vault.sweep(&SweepOptions::default()).await.unwrap()
}

/// The report's counts as a tuple: (scanned, referenced, deleted, kept young, kept
/// undated, failed).
fn counts(report: &SweepReport) -> (u64, u64, u64, u64, u64, u64) {
    (
        report.scanned,
        report.referenced,
        report.deleted,
        report.kept_young,
        report.kept_undated,
        report.failed,
    )
}

fn keys_of(keys: &[&StorageKey]) -> BTreeSet<String> {
    keys.iter().map(ToString::to_string).collect()
}

/// An object written by an upload that died before inserting its row, and a thumbnail
/// written by a worker that died before marking it ready, stay while they are younger
/// than the grace period and are deleted after it.
#[tokio::test]
async fn orphans_are_deleted_after_the_grace_period_and_kept_before() {
    let t = vault();
    let original = orphan(&t, StorageKey::new_original(ImageFormat::Png), b"original").await;
    let thumbnail = orphan(&t, StorageKey::new_thumbnail(ImageFormat::Png), b"thumb").await;

    let report = sweep(&t).await;
    assert_eq!(counts(&report), (2, 0, 0, 2, 0, 0), "{report:?}");
    assert_eq!(t.storage.keys(), keys_of(&[&original, &thumbnail]));

    t.clock.advance(TimeDelta::minutes(59));
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (2, 0, 0, 2, 0, 0), "{report:?}");

    t.clock.advance(TimeDelta::minutes(2));
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (2, 0, 2, 0, 0, 0), "{report:?}");
    assert_eq!(report.deleted_bytes, 8 + 5);
    assert!(!report.dry_run);
    assert!(t.storage.keys().is_empty(), "{:?}", t.storage.keys());

    let report = sweep(&t).await;
    assert_eq!(
        counts(&report),
        (0, 0, 0, 0, 0, 0),
        "an empty storage: {report:?}"
    );
}

/// Originals and ready thumbnails of every user, and originals whose thumbnails are
/// still pending, are never deleted however old they are, even with no grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_objects_are_never_deleted() {
    let t = vault();
    let alice = t.user(Some(PlanId::PREMIUM)).await;
    let bob = t.user(Some(PlanId::ENTERPRISE)).await;
    let mut uploaded = Vec::new();
    for account in [&alice, &bob] {
        uploaded.push((account, t.upload(account, png(40, 30)).await));
    }
    t.run_jobs().await;
    let mut views: Vec<ImageView> = Vec::new();
    for (account, view) in uploaded {
        views.push(t.vault.get_image(account, view.image.id).await.unwrap());
    }
    // An upload whose thumbnails are not made yet.
    views.push(t.upload(&bob, png(30, 40)).await);
    let expected = TestVault::expected_keys(&views);
    assert_eq!(expected.len(), 2 * 3 + 1, "{expected:?}");
    assert_eq!(t.storage.keys(), expected);

    t.clock.advance(TimeDelta::days(30));
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (7, 7, 0, 0, 0, 0), "{report:?}");
    let report = t
        .vault
        .sweep(&SweepOptions::with_grace(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(counts(&report), (7, 7, 0, 0, 0, 0), "{report:?}");
    assert_eq!(t.storage.keys(), expected);
}

/// Among referenced objects, only the orphans go, in batches of any size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_orphans_go_in_batches_of_any_size() {
    let t = vault();
    let alice = t.user(Some(PlanId::PREMIUM)).await;
    let mut views = Vec::new();
    for _ in 0..2 {
        views.push(t.upload(&alice, png(20, 20)).await);
    }
    t.run_jobs().await;
    let mut orphans = Vec::new();
    for index in 0..5 {
        let key = match index % 2 {
            0 => StorageKey::new_original(ImageFormat::Png),
            _ => StorageKey::new_thumbnail(ImageFormat::Png),
        };
        orphans.push(orphan(&t, key, b"stray").await);
    }
    let kept: BTreeSet<String> = t
        .storage
        .keys()
        .into_iter()
        .filter(|key| !orphans.iter().any(|orphan| orphan.as_str() == key))
        .collect();
    assert_eq!(kept.len(), 2 * 3);

    after_grace(&t);
    let mut options = SweepOptions::default();
    options.batch = 2;
    let report = t.vault.sweep(&options).await.unwrap();
    assert_eq!(counts(&report), (11, 6, 5, 0, 0, 0), "{report:?}");
    assert_eq!(t.storage.keys(), kept);
}

/// What deleting an image or a user leaves behind when the process dies after the rows
/// went and before the objects did is swept; other users' objects stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_deleted_images_and_users_are_swept() {
    let t = vault();
    let alice = t.user(Some(PlanId::PREMIUM)).await;
    let bob = t.user(Some(PlanId::ENTERPRISE)).await;
    let doomed_image = t.upload(&alice, png(20, 30)).await;
    let kept_image = t.upload(&alice, png(30, 20)).await;
    let bobs_image = t.upload(&bob, png(25, 25)).await;
    t.run_jobs().await;
    let kept_image = t
        .vault
        .get_image(&alice, kept_image.image.id)
        .await
        .unwrap();
    let bobs_image = t.vault.get_image(&bob, bobs_image.image.id).await.unwrap();

    // The rows go, as `Vault::delete_image` and `delete_user` remove them first.
    t.vault
        .repo()
        .delete_image(alice.user.id, doomed_image.image.id)
        .await
        .unwrap()
        .unwrap();
    assert!(t.vault.repo().delete_user(bob.user.id).await.unwrap());
    assert_eq!(t.storage.keys().len(), 3 * 3, "the objects are still there");

    let report = sweep(&t).await;
    assert_eq!(counts(&report), (9, 3, 0, 6, 0, 0), "{report:?}");
    after_grace(&t);
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (9, 3, 6, 0, 0, 0), "{report:?}");
    assert_eq!(
        t.storage.keys(),
        TestVault::expected_keys([&kept_image]),
        "only the remaining image's objects stay"
    );
    assert!(
        !TestVault::expected_keys([&bobs_image])
            .iter()
            .any(|key| t.storage.keys().contains(key))
    );
}

/// A dry run counts and logs what it would delete, and deletes nothing.
#[tokio::test]
async fn a_dry_run_deletes_nothing() {
    let t = vault();
    let key = orphan(&t, StorageKey::new_original(ImageFormat::Jpeg), b"stray").await;
    after_grace(&t);
    let mut options = SweepOptions::default();
    options.dry_run = true;
    let report = t.vault.sweep(&options).await.unwrap();
    assert_eq!(counts(&report), (1, 0, 1, 0, 0, 0), "{report:?}");
    assert_eq!(report.deleted_bytes, 5);
    assert!(report.dry_run);
    assert_eq!(t.storage.keys(), keys_of(&[&key]));

    let report = sweep(&t).await;
    assert_eq!(counts(&report), (1, 0, 1, 0, 0, 0), "{report:?}");
    assert!(t.storage.keys().is_empty());
}

/// Objects whose storage does not date them are kept: their age cannot be told apart from
/// that of an upload whose row is still to come.
#[tokio::test]
async fn objects_of_unknown_age_are_kept() {
    let t = vault();
    let key = orphan(&t, StorageKey::new_thumbnail(ImageFormat::Png), b"stray").await;
    t.storage.undated_listings.store(true, Ordering::SeqCst);
    t.clock.advance(TimeDelta::days(365));
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (1, 0, 0, 0, 1, 0), "{report:?}");
    assert_eq!(t.storage.keys(), keys_of(&[&key]));
}

/// Objects dated after the vault's clock (a storage clock running ahead) are young.
#[tokio::test]
async fn objects_from_the_future_are_young() {
    let t = vault();
    t.clock.advance(TimeDelta::hours(-5));
    orphan(&t, StorageKey::new_original(ImageFormat::Png), b"stray").await;
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (1, 0, 0, 1, 0, 0), "{report:?}");
}

/// A delete that fails is counted and logged, the pass goes on, and the next pass
/// deletes the object.
#[tokio::test]
async fn failed_deletes_are_counted_and_retried_next_pass() {
    let t = vault();
    orphan(&t, StorageKey::new_original(ImageFormat::Png), b"first").await;
    orphan(&t, StorageKey::new_thumbnail(ImageFormat::Png), b"second").await;
    after_grace(&t);
    t.storage.failing_deletes.store(1, Ordering::SeqCst);
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (2, 0, 1, 0, 0, 1), "{report:?}");
    assert_eq!(t.storage.keys().len(), 1);
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (1, 0, 1, 0, 0, 0), "{report:?}");
    assert!(t.storage.keys().is_empty());
}

/// An object whose row arrives later (an upload slower than the sweep) is kept while young
/// and referenced once its row exists, however old it then is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_whose_row_arrives_is_kept() {
    let t = vault();
    let alice = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload(&alice, png(20, 20)).await;
    // The same object seen before its row: young, so kept.
    let record = t
        .vault
        .repo()
        .delete_image(alice.user.id, view.image.id)
        .await
        .unwrap()
        .unwrap();
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (1, 0, 0, 1, 0, 0), "{report:?}");
    t.vault.repo().insert_image(&record).await.unwrap();
    after_grace(&t);
    let report = sweep(&t).await;
    assert_eq!(counts(&report), (1, 1, 0, 0, 0, 0), "{report:?}");
    assert_eq!(t.storage.keys(), keys_of(&[&view.image.storage_key]));
}

/// `run_sweeper` sweeps at once, and returns when told to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_runs_until_shutdown() {
    let t = vault();
    orphan(&t, StorageKey::new_original(ImageFormat::Png), b"stray").await;
    after_grace(&t);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let vault = t.vault.clone();
    let sweeper = tokio::spawn(async move {
        vault
            .run_sweeper(Duration::from_secs(3600), SweepOptions::default(), async {
                let _ = stopped.await;
            })
            .await;
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !t.storage.keys().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pass did not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), sweeper)
        .await
        .expect("the sweeper stops on shutdown")
        .unwrap();
}
