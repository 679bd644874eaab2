//! Work holders: two vaults on one repository stand for two processes sharing a database.
//! A live holder's pending work is never taken by the other's reconciler; a dead one's is
//! taken at once (on this machine, its process gone) or once its heartbeat is older than
//! `HOLDER_TIMEOUT` (anywhere), measured on manual clocks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use imagevault_core::{
    Clock, HOLDER_HEARTBEAT, HOLDER_TIMEOUT, HolderId, HolderRecord, ImageView, Job, JobQueue,
    MemoryRepo, PlanId, ProcessIdentity, Repo,
};

use crate::harness::TestVault;

/// Two vaults on one repository, with clocks of their own started at the same time.
fn two_processes() -> (TestVault, TestVault) {
    let repo: Arc<dyn Repo> = Arc::new(MemoryRepo::new());
    (
        TestVault::with_repo(repo.clone()),
        TestVault::with_repo(repo),
    )
}

/// Uploads a photo through `t` whose job is then lost, as with a queue that died with its
/// process.
async fn upload_and_lose_the_job(t: &TestVault) -> ImageView {
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload_fixture(&user, "chelsea_451x300.png").await;
    let lost = t
        .queue
        .reserve(Duration::from_secs(3600), Duration::ZERO)
        .await
        .unwrap();
    assert!(lost.is_some(), "the upload queued its job");
    view
}

/// Asserts that `t`'s queue now holds the job of `image`: the work was taken up there.
async fn queued_here(t: &TestVault, image: &ImageView) {
    let delivery = t
        .queue
        .reserve(Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap()
        .expect("the reconciler queued the work");
    assert_eq!(
        delivery.job,
        Job::GenerateThumbnails {
            image_id: image.image.id
        }
    );
}

fn seconds(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap()
}

fn advance_both(first: &TestVault, second: &TestVault, by: TimeDelta) {
    first.clock.advance(by);
    second.clock.advance(by);
}

/// Waits (at most 10 s) until `holder`'s stored heartbeat is `at`: the heartbeat task,
/// which ticks on the real clock, has written the manual clock's time.
async fn heartbeat_written(t: &TestVault, holder: HolderId, at: chrono::DateTime<chrono::Utc>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holders = t.vault.repo().list_holders().await.unwrap();
        if holders
            .iter()
            .any(|record| record.id == holder && record.heartbeat_at == at)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no heartbeat within 10 s (every {HOLDER_HEARTBEAT:?}): {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An upload leases its rows to its registered vault; while that vault heartbeats, the
/// other vault's reconciler leaves the work alone however long it waits (short of the job
/// lease); once the heartbeats stop for longer than `HOLDER_TIMEOUT`, the next pass takes
/// the work, and it is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_stops_heartbeating_loses_its_work_after_the_timeout() {
    let (first, second) = two_processes();
    let holder = first.vault.register_work_holder().await.unwrap();
    let heartbeat = tokio::spawn({
        let vault = first.vault.clone();
        async move { vault.run_work_holder(std::future::pending()).await }
    });
    let view = upload_and_lose_the_job(&first).await;
    let rows = first
        .vault
        .repo()
        .get_image_by_id(view.image.id)
        .await
        .unwrap()
        .unwrap()
        .thumbnails;
    assert!(
        rows.iter().all(|row| row.lease_holder == Some(holder)),
        "an upload leases its rows to the vault's holder: {rows:?}"
    );

    assert_eq!(second.vault.reconcile().await.unwrap(), 0);
    // Beyond the timeout in all, but never without a heartbeat for that long.
    let step = seconds(HOLDER_TIMEOUT) / 2 + TimeDelta::seconds(1);
    for _ in 0..3 {
        advance_both(&first, &second, step);
        heartbeat_written(&first, holder, first.clock.now()).await;
        assert_eq!(
            second.vault.reconcile_lapsed().await.unwrap(),
            0,
            "a heartbeating holder keeps its work"
        );
        assert_eq!(second.vault.reconcile().await.unwrap(), 0);
    }

    // The first process freezes: no heartbeat any more, nothing given back.
    heartbeat.abort();
    let _ = heartbeat.await;
    advance_both(&first, &second, seconds(HOLDER_TIMEOUT));
    assert_eq!(
        second.vault.reconcile_lapsed().await.unwrap(),
        0,
        "a heartbeat exactly the timeout old is still alive"
    );
    advance_both(&first, &second, TimeDelta::microseconds(1));
    assert_eq!(
        second.vault.reconcile_lapsed().await.unwrap(),
        1,
        "a holder silent for longer than the timeout is dead, and its work taken at once"
    );
    assert!(
        second
            .vault
            .repo()
            .list_holders()
            .await
            .unwrap()
            .iter()
            .all(|record| record.id != holder),
        "the sweep removed the dead holder"
    );
    queued_here(&second, &view).await;
}

/// A holder of this machine whose process is gone is dead at once: no clock moves, and
/// the work it left (fresh leases, 5 minutes from lapsing) is taken by the next pass. A
/// holder whose process id now belongs to a later process is dead too; one whose process
/// runs (this one) keeps its work.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_of_this_machine_whose_process_is_gone_loses_its_work_at_once() {
    let (first, second) = two_processes();
    let me = ProcessIdentity::current().expect("Linux has a process table");
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = exited.id();
    exited.wait().unwrap();
    let now = first.clock.now();
    let repo = first.vault.repo();
    let register = |process: ProcessIdentity| async move {
        let record = HolderRecord {
            id: HolderId::new(),
            process: Some(process),
            heartbeat_at: now,
        };
        repo.register_holder(&record).await.unwrap();
        record.id
    };
    let gone = register(ProcessIdentity {
        pid: gone_pid,
        ..me.clone()
    })
    .await;
    let replaced = register(ProcessIdentity {
        started: me.started + 1,
        ..me.clone()
    })
    .await;
    let alive = register(me.clone()).await;
    let elsewhere = register(ProcessIdentity {
        machine: format!("{}-elsewhere", me.machine),
        pid: gone_pid,
        ..me.clone()
    })
    .await;

    assert_eq!(second.vault.sweep_dead_holders().await.unwrap(), 2);
    let left: Vec<HolderId> = repo
        .list_holders()
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.id)
        .collect();
    for id in [gone, replaced] {
        assert!(!left.contains(&id), "{id} is dead at once");
    }
    for id in [alive, elsewhere] {
        assert!(
            left.contains(&id),
            "{id} runs, or is on another machine and heartbeating"
        );
    }

    // Work held by a process that is gone: the crash of the only server of a machine.
    first.vault.register_work_holder().await.unwrap();
    let view = upload_and_lose_the_job(&first).await;
    let crashed = first.vault.work_holder().unwrap();
    let record = repo
        .list_holders()
        .await
        .unwrap()
        .into_iter()
        .find(|record| record.id == crashed)
        .unwrap();
    repo.register_holder(&HolderRecord {
        process: Some(ProcessIdentity {
            pid: gone_pid,
            ..me.clone()
        }),
        ..record
    })
    .await
    .unwrap();
    assert_eq!(
        second.vault.reconcile_lapsed().await.unwrap(),
        1,
        "the restarted process takes the work at once"
    );
    queued_here(&second, &view).await;
}

/// A vault that shuts down unregisters: the work it leaves is taken at once by the next
/// pass of another process, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_shuts_down_gives_its_work_back() {
    let (first, second) = two_processes();
    first.vault.register_work_holder().await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let heartbeat = tokio::spawn({
        let vault = first.vault.clone();
        async move {
            vault
                .run_work_holder(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    upload_and_lose_the_job(&first).await;
    assert_eq!(second.vault.reconcile_lapsed().await.unwrap(), 0);
    stop.send(()).unwrap();
    heartbeat.await.unwrap();
    assert_eq!(first.vault.work_holder(), None);
    assert_eq!(
        second.vault.reconcile_lapsed().await.unwrap(),
        1,
        "work given back is taken at once"
    );
}

/// A vault that was judged dead while it still ran (a long pause) registers again at its
/// next heartbeat, and keeps the work it leases from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_judged_dead_while_alive_registers_again() {
    let (first, second) = two_processes();
    let holder = first.vault.register_work_holder().await.unwrap();
    assert!(
        first
            .vault
            .repo()
            .remove_holder(holder, None)
            .await
            .unwrap()
    );
    let heartbeat = tokio::spawn({
        let vault = first.vault.clone();
        async move { vault.run_work_holder(std::future::pending()).await }
    });
    heartbeat_written(&first, holder, first.clock.now()).await;
    upload_and_lose_the_job(&first).await;
    assert_eq!(
        second.vault.reconcile_lapsed().await.unwrap(),
        0,
        "the holder is registered again, with its id"
    );
    heartbeat.abort();
}
