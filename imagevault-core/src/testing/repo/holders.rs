//! Checks of [`HolderRepo`](crate::repo::HolderRepo) and of the leases that name a holder:
//! a live holder's work is never claimed by another, a removed (dead) holder's work is
//! claimed at once, and heartbeats keep a holder registered.

use chrono::{DateTime, TimeDelta, Utc};

use crate::repo::WorkScope;
use crate::{
    HolderId, HolderRecord, ImageRecord, PlanId, ProcessIdentity, Repo, Thumbnail, ThumbnailStatus,
    UserId,
};

use super::fixtures::{
    Answer, Collection, bare_image, clean_up, insert, micros, new_image, new_user, now, row,
    rows_of,
};

/// A holder record that names a made-up process, not yet stored.
fn holder_value() -> HolderRecord {
    HolderRecord {
        id: HolderId::new(),
        process: Some(ProcessIdentity {
            machine: crate::testing::unique("machine"),
            pid: 4242,
            started: 987_654,
        }),
        heartbeat_at: now(),
    }
}

/// Registers a new holder.
async fn new_holder(repo: &dyn Repo) -> HolderRecord {
    let holder = holder_value();
    repo.register_holder(&holder)
        .await
        .got("register_holder of a new holder must succeed");
    holder
}

/// The stored record of `id`, if registered.
async fn stored(repo: &dyn Repo, id: HolderId) -> Option<HolderRecord> {
    repo.list_holders()
        .await
        .got("list_holders must succeed")
        .into_iter()
        .find(|holder| holder.id == id)
}

/// Holders round-trip exactly (with or without a process); registering again replaces
/// the record; a heartbeat renews a registered holder only; removal is conditional on the
/// heartbeat seen, and unconditional without one.
pub async fn holders_register_heartbeat_and_remove(repo: &dyn Repo) {
    let first = new_holder(repo).await;
    let anonymous = HolderRecord {
        process: None,
        ..holder_value()
    };
    repo.register_holder(&anonymous)
        .await
        .got("register_holder of a holder without a process must succeed");
    assert_eq!(
        stored(repo, first.id).await,
        Some(first.clone()),
        "list_holders must return a registered holder as it was registered"
    );
    assert_eq!(
        stored(repo, anonymous.id).await,
        Some(anonymous.clone()),
        "list_holders must return a holder without a process as it was registered"
    );

    let renewed_at = micros(first.heartbeat_at, 1_500_000);
    repo.heartbeat_holder(first.id, renewed_at)
        .await
        .must_be(true, "heartbeat_holder of a registered holder must be true");
    let renewed = HolderRecord {
        heartbeat_at: renewed_at,
        ..first.clone()
    };
    assert_eq!(
        stored(repo, first.id).await,
        Some(renewed.clone()),
        "heartbeat_holder must set heartbeat_at and nothing else"
    );
    repo.heartbeat_holder(HolderId::new(), renewed_at)
        .await
        .must_be(false, "heartbeat_holder of an unknown holder must be false");

    repo.remove_holder(first.id, Some(first.heartbeat_at))
        .await
        .must_be(
            false,
            "remove_holder must keep a holder whose heartbeat was renewed since it was seen",
        );
    assert_eq!(stored(repo, first.id).await, Some(renewed.clone()));
    repo.remove_holder(first.id, Some(renewed_at))
        .await
        .must_be(true, "remove_holder with the current heartbeat must remove");
    assert_eq!(
        stored(repo, first.id).await,
        None,
        "a removed holder must not be listed"
    );
    repo.remove_holder(first.id, None).await.must_be(
        false,
        "remove_holder of an unregistered holder must be false",
    );
    repo.heartbeat_holder(first.id, renewed_at).await.must_be(
        false,
        "heartbeat_holder of a removed holder must be false, so that it registers again",
    );

    let replaced = HolderRecord {
        heartbeat_at: micros(renewed_at, 1),
        ..holder_value()
    };
    let replaced = HolderRecord {
        id: anonymous.id,
        ..replaced
    };
    repo.register_holder(&replaced)
        .await
        .got("register_holder of a registered id must succeed");
    assert_eq!(
        stored(repo, anonymous.id).await,
        Some(replaced),
        "register_holder must replace the record of the same id"
    );
    repo.remove_holder(anonymous.id, None)
        .await
        .must_be(true, "remove_holder without a heartbeat must remove");
}

/// An image of `user` uploaded at `created` whose pending rows name `holder`, stored.
async fn held_image(
    repo: &dyn Repo,
    user: UserId,
    created: DateTime<Utc>,
    holder: Option<HolderId>,
) -> ImageRecord {
    let mut record = new_image(user, created);
    for row in &mut record.thumbnails {
        row.lease_holder = holder;
    }
    insert(repo, record).await
}

/// A time before which no lease of the check has lapsed: only the holder rule can make
/// its fresh rows claimable.
fn long_before(created: DateTime<Utc>) -> DateTime<Utc> {
    created - TimeDelta::hours(1)
}

/// The pending rows of a registered holder are not claimed by another holder before their
/// lease lapses, however long its heartbeats go on, and fresh rows without a holder keep
/// the lease rule; once their lease lapsed, both are claimed. `insert_image`,
/// `ensure_thumbnails`, claims and `start_thumbnail_attempt` store the holder they are
/// given.
pub async fn live_holders_keep_their_work(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let live = new_holder(repo).await;
    let claimer = new_holder(repo).await;
    let created = micros(now(), -1_000_000);
    let held = held_image(repo, user.id, created, Some(live.id)).await;
    let unheld = held_image(repo, user.id, created, None).await;
    assert_eq!(
        rows_of(repo, held.image.id).await,
        held.thumbnails,
        "insert_image must store each row's lease_holder"
    );

    let mut claim_at = now();
    for beat in 1..=3 {
        repo.heartbeat_holder(live.id, micros(live.heartbeat_at, beat))
            .await
            .must_be(true, "heartbeat_holder of a registered holder must be true");
        claim_at = micros(claim_at, 1);
        repo.claim_thumbnail_work(
            WorkScope::Owner(user.id),
            claim_at,
            long_before(created),
            100,
            Some(claimer.id),
        )
        .await
        .must_be_empty(
            "claim_thumbnail_work must claim neither a live holder's fresh rows nor fresh \
             rows without a holder",
        );
        assert_eq!(
            rows_of(repo, held.image.id).await,
            held.thumbnails,
            "claim_thumbnail_work must not touch a live holder's rows"
        );
        assert_eq!(rows_of(repo, unheld.image.id).await, unheld.thumbnails);
    }

    // Rows made for a plan height, and attempts, name the holder they are given.
    let bare = insert(repo, bare_image(user.id, created)).await;
    let ensured = Thumbnail {
        lease_holder: Some(live.id),
        ..row(&bare.image, 200, ThumbnailStatus::Pending, 0, created)
    };
    repo.ensure_thumbnails(std::slice::from_ref(&ensured))
        .await
        .got("ensure_thumbnails must succeed");
    assert_eq!(
        rows_of(repo, bare.image.id).await,
        std::slice::from_ref(&ensured),
        "ensure_thumbnails must store the rows' lease_holder"
    );
    let attempt_at = micros(claim_at, 1);
    repo.start_thumbnail_attempt(
        bare.image.id,
        &[ensured.max_height],
        attempt_at,
        Some(claimer.id),
    )
    .await
    .got("start_thumbnail_attempt must succeed");
    assert_eq!(
        rows_of(repo, bare.image.id).await,
        [Thumbnail {
            attempts: 1,
            updated_at: attempt_at,
            lease_holder: Some(claimer.id),
            ..ensured
        }],
        "start_thumbnail_attempt must lease the rows to the holder making them"
    );

    let lapsed_at = claim_at + TimeDelta::hours(1);
    let mut claimed = repo
        .claim_thumbnail_work(
            WorkScope::Owner(user.id),
            lapsed_at,
            micros(lapsed_at, -1),
            100,
            Some(claimer.id),
        )
        .await
        .got("claim_thumbnail_work must succeed");
    claimed.sort_unstable();
    let mut expected = vec![held.image.id, unheld.image.id, bare.image.id];
    expected.sort_unstable();
    assert_eq!(
        claimed, expected,
        "a lapsed lease must be claimed whether its holder is registered or there is none"
    );
    for record in [&held, &unheld] {
        assert_eq!(
            rows_of(repo, record.image.id).await,
            [Thumbnail {
                updated_at: lapsed_at,
                lease_holder: Some(claimer.id),
                ..record.thumbnails[0].clone()
            }],
            "a claimed row must be leased to the claimer at `now`"
        );
    }
    for holder in [live.id, claimer.id] {
        repo.remove_holder(holder, None)
            .await
            .must_be(true, "remove_holder of a registered holder must be true");
    }
    clean_up(repo, &[user.id], &[]).await;
}

/// Fresh rows whose holder is not registered (removed, as dead, or never registered) are
/// claimed at once, for the claimer, by an owner's claim and by the lapsed-lease pass
/// ([`WorkScope::LapsedLeases`]), which leaves a registered holder's rows alone. The pass
/// claims every user's rows, and rows freed by a removal are claimable by anyone, so this
/// check runs alone.
pub async fn dead_holders_work_is_claimed_at_once(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let live = new_holder(repo).await;
    let dead = new_holder(repo).await;
    let claimer = new_holder(repo).await;
    let created = now();
    let kept = held_image(repo, user.id, created, Some(live.id)).await;
    let freed = held_image(repo, user.id, created, Some(dead.id)).await;
    let never = held_image(repo, user.id, created, Some(HolderId::new())).await;
    let claim = |scope, at| {
        repo.claim_thumbnail_work(scope, at, long_before(created), 100, Some(claimer.id))
    };

    let claim_at = micros(created, 1);
    claim(WorkScope::Owner(user.id), claim_at).await.must_be(
        vec![never.image.id],
        "claim_thumbnail_work must claim the fresh rows of a holder never registered, \
             and no others",
    );
    repo.remove_holder(dead.id, None)
        .await
        .must_be(true, "remove_holder of a registered holder must be true");
    let removed_at = micros(created, 2);
    claim(WorkScope::Owner(user.id), removed_at).await.must_be(
        vec![freed.image.id],
        "once its holder is removed, a row must be claimed at once, before its lease lapses",
    );
    for (record, at) in [(&never, claim_at), (&freed, removed_at)] {
        assert_eq!(
            rows_of(repo, record.image.id).await,
            [Thumbnail {
                updated_at: at,
                lease_holder: Some(claimer.id),
                ..record.thumbnails[0].clone()
            }],
            "a claimed row must be leased to the claimer at `now`"
        );
    }
    assert_eq!(
        rows_of(repo, kept.image.id).await,
        kept.thumbnails,
        "claim_thumbnail_work must not touch a live holder's rows"
    );

    let again = held_image(repo, user.id, created, Some(live.id)).await;
    repo.remove_holder(live.id, None)
        .await
        .must_be(true, "remove_holder of a registered holder must be true");
    let mut claimed = claim(WorkScope::LapsedLeases, micros(created, 3))
        .await
        .got("claim_thumbnail_work must succeed");
    claimed.sort_unstable();
    let mut expected = vec![kept.image.id, again.image.id];
    expected.sort_unstable();
    assert_eq!(
        claimed, expected,
        "claim_thumbnail_work(LapsedLeases) must find exactly the rows of a removed holder"
    );
    claim(WorkScope::LapsedLeases, micros(created, 4))
        .await
        .must_be_empty("the claimer's own rows must not be claimed again while it is registered");
    repo.remove_holder(claimer.id, None)
        .await
        .must_be(true, "remove_holder of a registered holder must be true");
    clean_up(repo, &[user.id], &[]).await;
}
