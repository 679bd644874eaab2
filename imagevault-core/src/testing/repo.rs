//! The [`Repo`] conformance suite.
//!
//! Every check works on a shared repository that already holds other rows: the built-in
//! plans, rows of other checks and of concurrent runs of this suite. So each check makes
//! its own plans and users under random names, never asserts a global count, and only
//! compares lists it owns: images and links are listed per owner, and for the global
//! plan and user lists a check looks at its own rows only, which it places at a random
//! far-future time so that no other rows lie between them.
//!
//! Timestamps have microsecond precision, as the [`Repo`] contract requires of callers.
//! Checks delete the users and plans they made when they pass.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use uuid::Uuid;

use crate::auth::{ApiToken, TokenHash};
use crate::image::{Image, ImageId, ImageName, ImageRecord, Usage};
use crate::imaging::ImageFormat;
use crate::link::{ExpiringLink, ExpirySeconds, LinkId, LinkKey};
use crate::page::{Direction, Keyset, KeysetQuery, Positioned};
use crate::plan::{Plan, PlanId, PlanName, ThumbnailHeight, ThumbnailHeights};
use crate::repo::{
    ChangeFeed, Conflict, ImageFilter, Repo, RepoError, ResetScope, SessionOwner, TokenOwner,
    Totals, WorkScope,
};
use crate::session::{SessionRecord, SessionSecret};
use crate::storage::StorageKey;
use crate::thumbnail::{Thumbnail, ThumbnailStatus};
use crate::user::{PasswordHash, TokenRecord, User, UserId, Username};

/// Runs every repository check.
pub async fn run_all(repo: &dyn Repo) {
    ping_succeeds(repo).await;

    builtin_plans_exist(repo).await;
    plan_create_get_update_delete(repo).await;
    plan_names_are_unique(repo).await;
    plan_in_use_cannot_be_deleted(repo).await;
    plans_list_newest_first(repo).await;

    user_create_get_update_delete(repo).await;
    user_conflicts(repo).await;
    users_list_newest_first(repo).await;
    tokens_find_and_revoke(repo).await;
    find_token_owner_sees_current_plan(repo).await;
    token_expiry_round_trips(repo).await;
    delete_user_tokens_revokes_only_theirs(repo).await;
    begin_user_deletion_locks_the_account(repo).await;
    user_tokens_list_newest_first(repo).await;
    touch_token_records_use(repo).await;
    search_users_by_keyset(repo).await;
    search_users_takes_text_literally(repo).await;
    plan_user_counts_count_each_plan(repo).await;

    image_round_trips(repo).await;
    image_insert_needs_owner(repo).await;
    images_are_owner_scoped(repo).await;
    images_list_by_keyset(repo).await;
    images_list_is_stable_under_inserts(repo).await;
    delete_image_removes_thumbnails_and_links(repo).await;
    find_original_sees_current_plan(repo).await;
    referenced_keys_finds_originals_and_thumbnails(repo).await;
    usage_counts_originals(repo).await;

    ensure_thumbnails_inserts_missing_rows(repo).await;
    start_thumbnail_attempt_renews_pending_rows(repo).await;
    complete_thumbnail_succeeds_once(repo).await;
    fail_thumbnails_only_fails_pending_rows(repo).await;
    claim_work_for_owner(repo).await;
    claim_work_for_lapsed_leases(repo).await;
    claim_work_respects_limit(repo).await;
    claim_work_for_plan(repo).await;

    links_insert_get_update_delete(repo).await;
    links_list_by_keyset(repo).await;
    find_link_sees_image_and_current_plan(repo).await;
    link_changes_are_reported(repo).await;
    account_changes_are_reported(repo).await;

    delete_user_removes_everything_of_theirs(repo).await;

    sessions_insert_find_touch_delete(repo).await;
    session_insert_needs_a_live_user(repo).await;
    delete_user_sessions_ends_only_theirs(repo).await;
    delete_ended_sessions_by_idle_and_expiry(repo).await;
    user_deletion_ends_sessions(repo).await;

    concurrent_image_inserts(repo).await;
    concurrent_creates_of_one_name(repo).await;

    totals_count_the_checks_rows(repo).await;
    all_images_list_by_keyset_and_filter(repo).await;
    reset_thumbnails_of_an_image_owner_or_plan(repo).await;
}

// ---------------------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------------------

/// A PHC string that looks like an argon2id hash; repositories store it as text.
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

/// The current time, truncated to microseconds as the service's clock gives it.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `n` microseconds after `time` (before it when negative).
fn micros(time: DateTime<Utc>, n: i64) -> DateTime<Utc> {
    time + TimeDelta::microseconds(n)
}

/// A random microsecond between the years 2889 and 3039: rows created at it (and a few
/// microseconds later) are newer than anything real, and with overwhelming likelihood no
/// row of a concurrent run of this suite falls among them.
fn far_future() -> DateTime<Utc> {
    const SPAN_MICROS: u128 = 150 * 365 * 86_400 * 1_000_000;
    let start: DateTime<Utc> =
        DateTime::from_timestamp(29_000_000_000, 0).expect("a valid far-future time");
    let offset =
        i64::try_from(Uuid::new_v4().as_u128() % SPAN_MICROS).expect("the span fits in i64");
    micros(start, offset)
}

/// A thumbnail height that is known to be valid.
fn height(pixels: u32) -> ThumbnailHeight {
    ThumbnailHeight::new(pixels).expect("a valid thumbnail height")
}

/// A plan with a random unique name, not yet stored.
fn plan_value(heights: &[u32], created_at: DateTime<Utc>) -> Plan {
    Plan {
        id: PlanId::new(),
        name: PlanName::parse(&super::unique("plan")).expect("a valid plan name"),
        thumbnail_heights: ThumbnailHeights::new(heights.iter().copied()).expect("valid heights"),
        original_link: true,
        expiring_links: true,
        created_at,
    }
}

/// Stores a new plan with `heights` (and originals and links granted).
async fn new_plan(repo: &dyn Repo, heights: &[u32]) -> Plan {
    let plan = plan_value(heights, now());
    repo.create_plan(&plan)
        .await
        .expect("create_plan failed for a new plan with a unique name");
    plan
}

/// A user with a random unique username, not yet stored.
fn user_value(plan: Option<PlanId>, created_at: DateTime<Utc>) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(&super::unique("user")).expect("a valid username"),
        password_hash: PasswordHash::from_phc(PHC),
        is_admin: false,
        plan_id: plan,
        created_at,
    }
}

/// Stores a new user on `plan`.
async fn new_user(repo: &dyn Repo, plan: Option<PlanId>) -> User {
    let user = user_value(plan, now());
    repo.create_user(&user)
        .await
        .expect("create_user failed for a new user with a unique name");
    user
}

/// A 1600×1200 JPEG image of `owner` with no thumbnail rows, not yet stored.
///
/// Its id is a random (v4) UUID, so that id order says nothing about insertion order.
fn bare_image(owner: UserId, created_at: DateTime<Utc>) -> ImageRecord {
    ImageRecord {
        image: Image {
            id: ImageId::from_uuid(Uuid::new_v4()),
            owner,
            name: ImageName::parse(&format!("{}.jpg", super::unique("image")))
                .expect("a valid image name"),
            format: ImageFormat::Jpeg,
            width: 1600,
            height: 1200,
            size: 245_760,
            storage_key: StorageKey::new_original(ImageFormat::Jpeg),
            created_at,
        },
        thumbnails: Vec::new(),
    }
}

/// Like [`bare_image`], with a pending 200-pixel thumbnail row as an upload makes it.
fn new_image(owner: UserId, created_at: DateTime<Utc>) -> ImageRecord {
    let mut record = bare_image(owner, created_at);
    record.thumbnails.push(row(
        &record.image,
        200,
        ThumbnailStatus::Pending,
        0,
        created_at,
    ));
    record
}

/// Like [`bare_image`], with one thumbnail row (after two attempts) per `(height, status,
/// updated_at)` of `rows`.
fn image_with_rows(
    owner: UserId,
    created_at: DateTime<Utc>,
    rows: &[(u32, ThumbnailStatus, DateTime<Utc>)],
) -> ImageRecord {
    let mut record = bare_image(owner, created_at);
    record.thumbnails = rows
        .iter()
        .map(|&(pixels, status, at)| row(&record.image, pixels, status, 2, at))
        .collect();
    record
}

/// Stores `record`, returning it.
async fn insert(repo: &dyn Repo, record: ImageRecord) -> ImageRecord {
    repo.insert_image(&record)
        .await
        .expect("insert_image failed for an image of an existing user");
    record
}

/// A thumbnail row of `image` in `status`; a ready row gets a fresh storage key, a failed
/// one a failure reason.
fn row(
    image: &Image,
    pixels: u32,
    status: ThumbnailStatus,
    attempts: u32,
    updated_at: DateTime<Utc>,
) -> Thumbnail {
    let mut thumbnail = Thumbnail::pending(
        image.id,
        height(pixels),
        image.width,
        image.height,
        updated_at,
    );
    thumbnail.status = status;
    thumbnail.attempts = attempts;
    match status {
        ThumbnailStatus::Ready => {
            thumbnail.storage_key = Some(StorageKey::new_thumbnail(image.format));
        }
        ThumbnailStatus::Failed => {
            thumbnail.failure = Some(format!("could not make the {pixels}-pixel thumbnail"));
        }
        ThumbnailStatus::Pending => {}
    }
    thumbnail
}

/// `record` with its thumbnails ascending by height, as repositories return it.
fn sorted(mut record: ImageRecord) -> ImageRecord {
    record
        .thumbnails
        .sort_by_key(|thumbnail| thumbnail.max_height);
    record
}

/// The stored thumbnail rows of an image that must exist.
async fn rows_of(repo: &dyn Repo, image: ImageId) -> Vec<Thumbnail> {
    repo.get_image_by_id(image)
        .await
        .expect("get_image_by_id failed")
        .expect("an image of the check has disappeared")
        .thumbnails
}

/// A link to `image` with a random (v4) id and a 300-second expiry, not yet stored.
fn link_value(image: &Image, created_at: DateTime<Utc>) -> ExpiringLink {
    let expiry = ExpirySeconds::new(300).expect("a valid expiry");
    ExpiringLink {
        id: LinkId::from_uuid(Uuid::new_v4()),
        ..ExpiringLink::new(image.owner, image.id, image.format, expiry, created_at)
    }
}

/// Stores a new link to `image`.
async fn new_link(repo: &dyn Repo, image: &Image, created_at: DateTime<Utc>) -> ExpiringLink {
    let link = link_value(image, created_at);
    repo.insert_link(&link)
        .await
        .expect("insert_link failed for a link to an existing image");
    link
}

/// Deletes the users (with everything of theirs), then the plans, a check made.
async fn clean_up(repo: &dyn Repo, users: &[UserId], plans: &[PlanId]) {
    for &user in users {
        repo.delete_user(user)
            .await
            .expect("delete_user failed while cleaning up");
    }
    for &plan in plans {
        repo.delete_plan(plan)
            .await
            .expect("delete_plan of an unused plan failed while cleaning up");
    }
}

/// Panics unless `result` is the conflict `expected`.
#[track_caller]
fn assert_conflict<T: Debug>(result: Result<T, RepoError>, expected: Conflict, rule: &str) {
    match result {
        Err(RepoError::Conflict(conflict)) if conflict == expected => {}
        other => panic!("{rule} must fail with Conflict::{expected:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Keyset list harness
// ---------------------------------------------------------------------------------------

/// Whether a list holds only the check's rows or other rows too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The list (one owner's) holds exactly the check's rows: pages are compared exactly.
    Own,
    /// The list (all plans, all users) holds other rows too, none of them between the
    /// check's rows: only the check's rows and their order are compared.
    Shared,
}

/// Anchors to query from: every item, positions just before and after every item's time
/// (on ties the id decides) and positions beyond both ends.
fn anchors(newest_first: &[Keyset]) -> Vec<Keyset> {
    let (lowest, highest) = (Uuid::nil(), Uuid::from_u128(u128::MAX));
    let mut anchors = newest_first.to_vec();
    for position in newest_first {
        anchors.push(Keyset {
            created_at: position.created_at,
            id: lowest,
        });
        anchors.push(Keyset {
            created_at: position.created_at,
            id: highest,
        });
    }
    if let (Some(newest), Some(oldest)) = (newest_first.first(), newest_first.last()) {
        anchors.push(Keyset {
            created_at: micros(newest.created_at, 1),
            id: lowest,
        });
        anchors.push(Keyset {
            created_at: micros(oldest.created_at, -1),
            id: highest,
        });
    }
    anchors.sort_unstable();
    anchors.dedup();
    anchors
}

/// Asks `fetch` for pages from every anchor of [`anchors`] in both directions with every
/// limit up to one more than the check's rows, and from the start, and compares each
/// page with [`KeysetQuery::select`] applied to `ours`.
async fn check_keyset_list<T, F, Fut>(
    list: &str,
    scope: Scope,
    ours: &[T],
    position: fn(&T) -> Keyset,
    fetch: F,
) where
    T: Clone + Debug + PartialEq,
    F: Fn(KeysetQuery) -> Fut,
    Fut: Future<Output = Result<Vec<T>, RepoError>>,
{
    let mut newest_first = ours.to_vec();
    newest_first.sort_by_key(|item| std::cmp::Reverse(position(item)));
    let positions: Vec<Keyset> = newest_first.iter().map(position).collect();
    let most = newest_first.len() + 1;
    let mut queries: Vec<KeysetQuery> = (1..=most)
        .map(|limit| KeysetQuery {
            anchor: None,
            limit,
        })
        .collect();
    if scope == Scope::Own {
        queries.push(KeysetQuery::first(1000));
    }
    for anchor in anchors(&positions) {
        for direction in [Direction::Older, Direction::Newer] {
            for limit in 1..=most {
                queries.push(KeysetQuery {
                    anchor: Some((anchor, direction)),
                    limit,
                });
            }
        }
    }
    for query in queries {
        let page = fetch(query)
            .await
            .unwrap_or_else(|error| panic!("{list} failed for {query:?}: {error:?}"));
        check_page(
            list,
            scope,
            &query,
            &page,
            &newest_first,
            &positions,
            position,
        );
    }
}

/// Checks one page of [`check_keyset_list`].
fn check_page<T: Clone + Debug + PartialEq>(
    list: &str,
    scope: Scope,
    query: &KeysetQuery,
    page: &[T],
    ours: &[T],
    our_positions: &[Keyset],
    position: fn(&T) -> Keyset,
) {
    let got: Vec<Keyset> = page.iter().map(position).collect();
    assert!(
        page.len() <= query.limit,
        "{list} returned more than `limit` items for {query:?}"
    );
    assert!(
        got.windows(2).all(|pair| pair[0] > pair[1]),
        "{list} must return items newest first by (created_at, id), without repeats, for {query:?}: {got:?}"
    );
    assert!(
        got.iter().all(|item| query.admits(item)),
        "{list} returned items not strictly on the anchor's side for {query:?}: {got:?}"
    );
    let expected = query.select(ours, position);
    match scope {
        Scope::Own => {
            assert_eq!(
                page, expected,
                "{list} must return exactly the nearest `limit` items for {query:?}"
            );
        }
        Scope::Shared => {
            let ours_set: HashSet<Keyset> = our_positions.iter().copied().collect();
            let mine: Vec<T> = page
                .iter()
                .filter(|item| ours_set.contains(&position(item)))
                .cloned()
                .collect();
            match query.anchor {
                None => {
                    let first = got
                        .first()
                        .expect("a list that holds the check's rows returned nothing");
                    assert!(
                        *first >= our_positions[0],
                        "{list} must start at the newest item; {first:?} is older than {:?}",
                        our_positions[0]
                    );
                    assert_eq!(
                        mine,
                        ours[..mine.len()],
                        "{list} from the start must list the check's rows newest first without gaps"
                    );
                    if page.len() < query.limit {
                        assert_eq!(
                            mine, ours,
                            "{list} ended before all of the check's rows for {query:?}"
                        );
                    }
                }
                Some((_, Direction::Older)) => {
                    assert!(
                        page.len() >= expected.len() && page[..expected.len()] == expected[..],
                        "{list} must start an older page with the nearest older items for {query:?}: \
                         expected {expected:?} first, got {page:?}"
                    );
                    assert_eq!(
                        mine.len(),
                        expected.len(),
                        "{list} repeated or skipped items for {query:?}"
                    );
                }
                Some((_, Direction::Newer)) => {
                    let start = page.len().saturating_sub(expected.len());
                    assert!(
                        page.len() >= expected.len() && page[start..] == expected[..],
                        "{list} must end a newer page with the nearest newer items for {query:?}: \
                         expected {expected:?} last, got {page:?}"
                    );
                    assert_eq!(
                        mine.len(),
                        expected.len(),
                        "{list} repeated or skipped items for {query:?}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------

/// `ping` succeeds on a working backend.
pub async fn ping_succeeds(repo: &dyn Repo) {
    repo.ping()
        .await
        .expect("ping must succeed on a working backend");
}

// ---------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------

/// The built-in plans exist under their fixed ids and names with the API's grants:
/// Basic 200 px only; Premium 200 and 400 px and the original; Enterprise also links.
pub async fn builtin_plans_exist(repo: &dyn Repo) {
    let expected = [
        (PlanId::BASIC, "Basic", vec![200], false, false),
        (PlanId::PREMIUM, "Premium", vec![200, 400], true, false),
        (PlanId::ENTERPRISE, "Enterprise", vec![200, 400], true, true),
    ];
    for (id, name, heights, original_link, expiring_links) in expected {
        let plan = repo
            .get_plan(id)
            .await
            .expect("get_plan failed")
            .unwrap_or_else(|| {
                panic!("the built-in plan {name} must exist under its fixed id {id}")
            });
        assert_eq!(
            plan.name.as_str(),
            name,
            "the built-in plan {id} has the wrong name"
        );
        assert_eq!(
            plan.thumbnail_heights.pixels().collect::<Vec<_>>(),
            heights,
            "the built-in plan {name} has the wrong thumbnail heights"
        );
        assert_eq!(
            (plan.original_link, plan.expiring_links),
            (original_link, expiring_links),
            "the built-in plan {name} grants the wrong features (original_link, expiring_links)"
        );
        let by_name = repo
            .find_plan_by_name(name)
            .await
            .expect("find_plan_by_name failed");
        assert_eq!(
            by_name,
            Some(plan),
            "find_plan_by_name must find the built-in plan {name}"
        );
    }
}

/// A plan round-trips through `create_plan`, `get_plan` and `find_plan_by_name` with its
/// heights ascending; `update_plan` replaces every field but id and creation time and is
/// `false` for a missing plan; `delete_plan` removes it and is `false` the second time.
pub async fn plan_create_get_update_delete(repo: &dyn Repo) {
    let plan = Plan {
        expiring_links: false,
        ..plan_value(&[400, 100, 250], now())
    };
    repo.create_plan(&plan).await.expect("create_plan failed");
    let stored = repo.get_plan(plan.id).await.expect("get_plan failed");
    assert_eq!(
        stored.as_ref(),
        Some(&plan),
        "a plan must round-trip through create_plan and get_plan"
    );
    let heights: Vec<u32> = stored
        .expect("checked above")
        .thumbnail_heights
        .pixels()
        .collect();
    assert_eq!(
        heights,
        [100, 250, 400],
        "a plan's heights must come back ascending"
    );
    let by_name = repo
        .find_plan_by_name(plan.name.as_str())
        .await
        .expect("find_plan_by_name failed");
    assert_eq!(
        by_name.as_ref(),
        Some(&plan),
        "find_plan_by_name must find a plan by its exact name"
    );
    let missing_name = super::unique("no-such-plan");
    assert!(
        repo.find_plan_by_name(&missing_name)
            .await
            .expect("find_plan_by_name failed")
            .is_none(),
        "find_plan_by_name of an unknown name must be None"
    );
    assert!(
        repo.get_plan(PlanId::new())
            .await
            .expect("get_plan failed")
            .is_none(),
        "get_plan of an unknown id must be None"
    );

    let changed = Plan {
        name: PlanName::parse(&super::unique("renamed")).expect("a valid plan name"),
        thumbnail_heights: ThumbnailHeights::new([900, 50]).expect("valid heights"),
        original_link: false,
        expiring_links: true,
        created_at: plan.created_at + TimeDelta::days(1),
        ..plan.clone()
    };
    assert!(
        repo.update_plan(&changed)
            .await
            .expect("update_plan failed"),
        "update_plan of a stored plan must be true"
    );
    let expected = Plan {
        created_at: plan.created_at,
        ..changed.clone()
    };
    assert_eq!(
        repo.get_plan(plan.id).await.expect("get_plan failed"),
        Some(expected.clone()),
        "update_plan must replace every field but the id and the creation time"
    );
    assert!(
        repo.find_plan_by_name(plan.name.as_str())
            .await
            .expect("find_plan_by_name failed")
            .is_none(),
        "a plan must no longer be found by its old name after a rename"
    );
    assert_eq!(
        repo.find_plan_by_name(changed.name.as_str())
            .await
            .expect("find_plan_by_name failed"),
        Some(expected.clone()),
        "a renamed plan must be found by its new name"
    );
    let same_name = Plan {
        original_link: true,
        ..expected
    };
    assert!(
        repo.update_plan(&same_name)
            .await
            .expect("update_plan keeping the plan's own name must not conflict"),
        "update_plan of a stored plan must be true"
    );

    let missing = plan_value(&[200], now());
    assert!(
        !repo
            .update_plan(&missing)
            .await
            .expect("update_plan failed"),
        "update_plan of a missing plan must be false"
    );
    assert!(
        repo.get_plan(missing.id)
            .await
            .expect("get_plan failed")
            .is_none(),
        "update_plan of a missing plan must not create it"
    );

    assert!(
        repo.delete_plan(plan.id).await.expect("delete_plan failed"),
        "delete_plan of an unused plan must be true"
    );
    assert!(
        repo.get_plan(plan.id)
            .await
            .expect("get_plan failed")
            .is_none(),
        "a deleted plan must be gone"
    );
    assert!(
        !repo.delete_plan(plan.id).await.expect("delete_plan failed"),
        "deleting a plan twice must be false"
    );
    assert!(
        !repo
            .delete_plan(PlanId::new())
            .await
            .expect("delete_plan failed"),
        "delete_plan of an unknown id must be false"
    );
}

/// A taken plan name is [`Conflict::PlanNameTaken`] on create and on update, and the
/// failed write changes nothing.
pub async fn plan_names_are_unique(repo: &dyn Repo) {
    let first = new_plan(repo, &[200]).await;
    let clash = Plan {
        name: first.name.clone(),
        ..plan_value(&[300], now())
    };
    assert_conflict(
        repo.create_plan(&clash).await,
        Conflict::PlanNameTaken,
        "create_plan with a taken name",
    );
    assert!(
        repo.get_plan(clash.id)
            .await
            .expect("get_plan failed")
            .is_none(),
        "a create_plan that conflicts must not store the plan"
    );
    assert_eq!(
        repo.find_plan_by_name(first.name.as_str())
            .await
            .expect("find_plan_by_name failed"),
        Some(first.clone()),
        "a conflicting create_plan must leave the name's owner as it was"
    );

    let second = new_plan(repo, &[300]).await;
    let renamed = Plan {
        name: first.name.clone(),
        thumbnail_heights: ThumbnailHeights::new([700]).expect("valid"),
        ..second.clone()
    };
    assert_conflict(
        repo.update_plan(&renamed).await,
        Conflict::PlanNameTaken,
        "update_plan to a taken name",
    );
    assert_eq!(
        repo.get_plan(second.id).await.expect("get_plan failed"),
        Some(second.clone()),
        "an update_plan that conflicts must change nothing"
    );
    clean_up(repo, &[], &[first.id, second.id]).await;
}

/// `delete_plan` is [`Conflict::PlanInUse`] while a user has the plan, leaving it stored,
/// and succeeds once the user has moved to another plan or been deleted.
pub async fn plan_in_use_cannot_be_deleted(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200]).await;
    let other = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let planless = new_user(repo, None).await;
    assert_conflict(
        repo.delete_plan(plan.id).await,
        Conflict::PlanInUse,
        "delete_plan of a plan a user has",
    );
    assert_eq!(
        repo.get_plan(plan.id).await.expect("get_plan failed"),
        Some(plan.clone()),
        "a plan in use must survive delete_plan"
    );
    assert_eq!(
        repo.get_user(user.id)
            .await
            .expect("get_user failed")
            .and_then(|user| user.plan_id),
        Some(plan.id),
        "a failed delete_plan must not touch the plan's users"
    );

    let moved = User {
        plan_id: Some(other.id),
        ..user.clone()
    };
    assert!(
        repo.update_user(&moved).await.expect("update_user failed"),
        "update_user of a stored user must be true"
    );
    assert!(
        repo.delete_plan(plan.id)
            .await
            .expect("delete_plan of a plan nobody has any more failed"),
        "delete_plan must succeed once no user has the plan"
    );
    assert_conflict(
        repo.delete_plan(other.id).await,
        Conflict::PlanInUse,
        "delete_plan of a plan a user moved to",
    );
    assert!(
        repo.delete_user(user.id).await.expect("delete_user failed"),
        "delete_user of a stored user must be true"
    );
    assert!(
        repo.delete_plan(other.id)
            .await
            .expect("delete_plan after its only user was deleted failed"),
        "delete_plan must succeed once the plan's only user is deleted"
    );
    clean_up(repo, &[planless.id], &[]).await;
}

/// `list_plans` is newest first by `(created_at, id)`, ties broken by id, and follows
/// [`KeysetQuery`] in both directions (checked on the check's own far-future plans).
pub async fn plans_list_newest_first(repo: &dyn Repo) {
    let base = far_future();
    let plans: Vec<Plan> = [0, 0, 1, 5, 5, 9]
        .into_iter()
        .map(|offset| Plan {
            id: PlanId::from_uuid(Uuid::new_v4()),
            ..plan_value(&[200], micros(base, offset))
        })
        .collect();
    for index in [3, 0, 5, 1, 4, 2] {
        repo.create_plan(&plans[index])
            .await
            .expect("create_plan failed");
    }
    check_keyset_list(
        "list_plans",
        Scope::Shared,
        &plans,
        Positioned::position,
        move |query| async move { repo.list_plans(&query).await },
    )
    .await;
    let ids: Vec<PlanId> = plans.iter().map(|plan| plan.id).collect();
    clean_up(repo, &[], &ids).await;
}

// ---------------------------------------------------------------------------------------
// Users and tokens
// ---------------------------------------------------------------------------------------

/// A user round-trips through `create_user`, `get_user` and `find_user_by_username`, with
/// the admin flag, a missing plan and the password hash; `update_user` replaces every
/// field but id and creation time and is `false` for a missing user; `delete_user`
/// removes the user and is `false` the second time.
pub async fn user_create_get_update_delete(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200]).await;
    let admin = User {
        is_admin: true,
        ..user_value(Some(plan.id), now())
    };
    repo.create_user(&admin).await.expect("create_user failed");
    let stored = repo.get_user(admin.id).await.expect("get_user failed");
    assert_eq!(
        stored.as_ref(),
        Some(&admin),
        "a user must round-trip through create_user and get_user"
    );
    assert_eq!(
        stored.as_ref().map(|user| user.password_hash.as_str()),
        Some(PHC),
        "the password hash must round-trip as the same PHC string"
    );
    assert_eq!(
        repo.find_user_by_username(&admin.username)
            .await
            .expect("find_user_by_username failed"),
        Some(admin.clone()),
        "find_user_by_username must find a user by their exact username"
    );

    let planless = user_value(None, micros(now(), -1));
    repo.create_user(&planless)
        .await
        .expect("create_user without a plan failed");
    assert_eq!(
        repo.get_user(planless.id).await.expect("get_user failed"),
        Some(planless.clone()),
        "a user with no plan and no admin flag must round-trip"
    );
    assert!(
        repo.get_user(UserId::new())
            .await
            .expect("get_user failed")
            .is_none(),
        "get_user of an unknown id must be None"
    );
    let unknown = Username::parse(&super::unique("nobody")).expect("a valid username");
    assert!(
        repo.find_user_by_username(&unknown)
            .await
            .expect("find_user_by_username failed")
            .is_none(),
        "find_user_by_username of an unknown name must be None"
    );

    let changed = User {
        username: Username::parse(&super::unique("renamed")).expect("a valid username"),
        password_hash: PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXI$b3RoZXJoYXNo",
        ),
        is_admin: false,
        plan_id: Some(PlanId::BASIC),
        created_at: admin.created_at + TimeDelta::days(1),
        ..admin.clone()
    };
    assert!(
        repo.update_user(&changed)
            .await
            .expect("update_user failed"),
        "update_user of a stored user must be true"
    );
    let expected = User {
        created_at: admin.created_at,
        ..changed.clone()
    };
    assert_eq!(
        repo.get_user(admin.id).await.expect("get_user failed"),
        Some(expected.clone()),
        "update_user must replace every field but the id and the creation time"
    );
    assert!(
        repo.find_user_by_username(&admin.username)
            .await
            .expect("find_user_by_username failed")
            .is_none(),
        "a renamed user must no longer be found by their old username"
    );
    assert_eq!(
        repo.find_user_by_username(&changed.username)
            .await
            .expect("find_user_by_username failed"),
        Some(expected.clone()),
        "a renamed user must be found by their new username"
    );
    let demoted = User {
        plan_id: None,
        ..expected
    };
    assert!(
        repo.update_user(&demoted)
            .await
            .expect("update_user to no plan failed"),
        "update_user must be true"
    );
    assert_eq!(
        repo.get_user(admin.id).await.expect("get_user failed"),
        Some(demoted),
        "update_user must be able to take a user's plan away"
    );

    let missing = user_value(None, now());
    assert!(
        !repo
            .update_user(&missing)
            .await
            .expect("update_user failed"),
        "update_user of a missing user must be false"
    );
    assert!(
        repo.get_user(missing.id)
            .await
            .expect("get_user failed")
            .is_none(),
        "update_user of a missing user must not create them"
    );

    assert!(
        repo.delete_user(admin.id)
            .await
            .expect("delete_user failed"),
        "delete_user of a stored user must be true"
    );
    assert!(
        repo.get_user(admin.id)
            .await
            .expect("get_user failed")
            .is_none(),
        "a deleted user must be gone"
    );
    assert!(
        repo.find_user_by_username(&changed.username)
            .await
            .expect("find_user_by_username failed")
            .is_none(),
        "a deleted user must not be found by username"
    );
    assert!(
        !repo
            .delete_user(admin.id)
            .await
            .expect("delete_user failed"),
        "deleting a user twice must be false"
    );
    clean_up(repo, &[planless.id], &[plan.id]).await;
}

/// A taken username is [`Conflict::UsernameTaken`] and an unknown plan id is
/// [`Conflict::MissingReference`], on create and on update, and the failed write
/// changes nothing.
pub async fn user_conflicts(repo: &dyn Repo) {
    let first = new_user(repo, Some(PlanId::BASIC)).await;
    let second = new_user(repo, None).await;

    let clash = User {
        username: first.username.clone(),
        ..user_value(None, now())
    };
    assert_conflict(
        repo.create_user(&clash).await,
        Conflict::UsernameTaken,
        "create_user with a taken username",
    );
    assert!(
        repo.get_user(clash.id)
            .await
            .expect("get_user failed")
            .is_none(),
        "a create_user that conflicts must not store the user"
    );
    assert_eq!(
        repo.find_user_by_username(&first.username)
            .await
            .expect("find_user_by_username failed"),
        Some(first.clone()),
        "a conflicting create_user must leave the username's owner as they were"
    );

    let orphan = user_value(Some(PlanId::new()), now());
    assert_conflict(
        repo.create_user(&orphan).await,
        Conflict::MissingReference,
        "create_user with an unknown plan",
    );
    assert!(
        repo.get_user(orphan.id)
            .await
            .expect("get_user failed")
            .is_none(),
        "a create_user with an unknown plan must not store the user"
    );
    assert!(
        repo.find_user_by_username(&orphan.username)
            .await
            .expect("find_user_by_username failed")
            .is_none(),
        "a create_user with an unknown plan must not take the username"
    );

    let renamed = User {
        username: first.username.clone(),
        is_admin: true,
        ..second.clone()
    };
    assert_conflict(
        repo.update_user(&renamed).await,
        Conflict::UsernameTaken,
        "update_user to a taken username",
    );
    assert_eq!(
        repo.get_user(second.id).await.expect("get_user failed"),
        Some(second.clone()),
        "an update_user that conflicts on the username must change nothing"
    );
    let replanned = User {
        plan_id: Some(PlanId::new()),
        is_admin: true,
        ..second.clone()
    };
    assert_conflict(
        repo.update_user(&replanned).await,
        Conflict::MissingReference,
        "update_user to an unknown plan",
    );
    assert_eq!(
        repo.get_user(second.id).await.expect("get_user failed"),
        Some(second.clone()),
        "an update_user with an unknown plan must change nothing"
    );
    let promoted = User {
        is_admin: true,
        ..second.clone()
    };
    assert!(
        repo.update_user(&promoted)
            .await
            .expect("update_user keeping the user's own username must not conflict"),
        "update_user of a stored user must be true"
    );
    clean_up(repo, &[first.id, second.id], &[]).await;
}

/// `list_users` is newest first by `(created_at, id)`, ties broken by id, and follows
/// [`KeysetQuery`] in both directions (checked on the check's own far-future users).
pub async fn users_list_newest_first(repo: &dyn Repo) {
    let base = far_future();
    let users: Vec<User> = [0, 0, 2, 3, 3, 3, 8]
        .into_iter()
        .map(|offset| User {
            id: UserId::from_uuid(Uuid::new_v4()),
            ..user_value(None, micros(base, offset))
        })
        .collect();
    for index in [4, 6, 0, 2, 5, 1, 3] {
        repo.create_user(&users[index])
            .await
            .expect("create_user failed");
    }
    check_keyset_list(
        "list_users",
        Scope::Shared,
        &users,
        Positioned::position,
        move |query| async move { repo.list_users(&query).await },
    )
    .await;
    let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
    clean_up(repo, &ids, &[]).await;
}

/// Tokens find their user (with the user's plan) until revoked; `delete_token` is `false`
/// the second time; a token for an unknown user is [`Conflict::MissingReference`]; a
/// deleted user's tokens find nothing.
pub async fn tokens_find_and_revoke(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let basic = repo
        .get_plan(PlanId::BASIC)
        .await
        .expect("get_plan failed")
        .expect("the built-in Basic plan must exist");
    let owner = TokenOwner {
        user: user.clone(),
        plan: Some(basic),
        expires_at: None,
        last_used_at: None,
    };
    let token = || {
        ApiToken::generate()
            .expect("generating a token failed")
            .hash()
    };
    let (first, second, stray) = (token(), token(), token());
    for hash in [first, second] {
        let record = TokenRecord {
            hash,
            user_id: user.id,
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        };
        repo.insert_token(&record)
            .await
            .expect("insert_token failed for an existing user");
    }
    for hash in [first, second] {
        assert_eq!(
            repo.find_token_owner(&hash)
                .await
                .expect("find_token_owner failed"),
            Some(owner.clone()),
            "find_token_owner must find the token's user and their plan"
        );
    }
    assert!(
        repo.find_token_owner(&stray)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "find_token_owner of an unknown hash must be None"
    );

    assert!(
        repo.delete_token(&first)
            .await
            .expect("delete_token failed"),
        "delete_token of a stored token must be true"
    );
    assert!(
        repo.find_token_owner(&first)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "a revoked token must find nobody"
    );
    assert!(
        !repo
            .delete_token(&first)
            .await
            .expect("delete_token failed"),
        "revoking a token twice must be false"
    );
    assert_eq!(
        repo.find_token_owner(&second)
            .await
            .expect("find_token_owner failed"),
        Some(owner),
        "revoking one token must leave the user's other tokens"
    );

    let orphan = TokenRecord {
        hash: stray,
        user_id: UserId::new(),
        created_at: now(),
        expires_at: None,
        last_used_at: None,
    };
    assert_conflict(
        repo.insert_token(&orphan).await,
        Conflict::MissingReference,
        "insert_token for an unknown user",
    );
    assert!(
        repo.find_token_owner(&stray)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "a token refused for an unknown user must not be stored"
    );

    assert!(
        repo.delete_user(user.id).await.expect("delete_user failed"),
        "delete_user must be true"
    );
    assert!(
        repo.find_token_owner(&second)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "the token of a deleted user must find nobody"
    );
}

/// `find_token_owner` returns the user's current plan with the user: a plan change, a
/// change to the plan itself and losing the plan show at once; a user created without a
/// plan has `None`; each token owner gets their own plan.
pub async fn find_token_owner_sees_current_plan(repo: &dyn Repo) {
    let first = new_plan(repo, &[200]).await;
    let second = new_plan(repo, &[300, 600]).await;
    let user = new_user(repo, Some(first.id)).await;
    let bystander = new_user(repo, None).await;
    let store_token = move |user_id: UserId| async move {
        let hash = ApiToken::generate()
            .expect("generating a token failed")
            .hash();
        repo.insert_token(&TokenRecord {
            hash,
            user_id,
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        })
        .await
        .expect("insert_token failed for an existing user");
        hash
    };
    let token = store_token(user.id).await;
    let bystander_token = store_token(bystander.id).await;
    let found = move |hash: TokenHash, rule: &'static str| async move {
        repo.find_token_owner(&hash)
            .await
            .expect("find_token_owner failed")
            .unwrap_or_else(|| panic!("{rule}"))
    };

    let owner = found(token, "find_token_owner must find the token's user").await;
    assert_eq!(owner.user, user, "find_token_owner must return the user");
    assert_eq!(
        owner.plan,
        Some(first.clone()),
        "find_token_owner must return the user's plan"
    );
    let other = found(
        bystander_token,
        "find_token_owner must find the token's user",
    )
    .await;
    assert_eq!(
        other,
        TokenOwner {
            user: bystander.clone(),
            plan: None,
            expires_at: None,
            last_used_at: None,
        },
        "find_token_owner's plan must be None for a user created without a plan"
    );

    let moved = User {
        plan_id: Some(second.id),
        ..user.clone()
    };
    assert!(
        repo.update_user(&moved).await.expect("update_user failed"),
        "update_user must be true"
    );
    let owner = found(token, "find_token_owner must find a user who changed plan").await;
    assert_eq!(
        owner,
        TokenOwner {
            user: moved.clone(),
            plan: Some(second.clone()),
            expires_at: None,
            last_used_at: None,
        },
        "find_token_owner must reflect a change of the user's plan"
    );

    let regranted = Plan {
        expiring_links: false,
        thumbnail_heights: ThumbnailHeights::new([300, 900]).expect("valid heights"),
        ..second.clone()
    };
    assert!(
        repo.update_plan(&regranted)
            .await
            .expect("update_plan failed"),
        "update_plan must be true"
    );
    let owner = found(
        token,
        "find_token_owner must find a user whose plan changed",
    )
    .await;
    assert_eq!(
        owner.plan,
        Some(regranted),
        "find_token_owner must reflect a change to the plan itself"
    );

    let planless = User {
        plan_id: None,
        ..user.clone()
    };
    assert!(
        repo.update_user(&planless)
            .await
            .expect("update_user failed"),
        "update_user must be true"
    );
    let owner = found(token, "find_token_owner must find a user without a plan").await;
    assert_eq!(
        owner,
        TokenOwner {
            user: planless,
            plan: None,
            expires_at: None,
            last_used_at: None,
        },
        "find_token_owner's plan must be None when the user has none"
    );
    clean_up(repo, &[user.id, bystander.id], &[first.id, second.id]).await;
}

/// Stores a token for `user` expiring at `expires_at`, returning its hash.
async fn store_token(
    repo: &dyn Repo,
    user: UserId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<TokenHash, RepoError> {
    let hash = ApiToken::generate()
        .expect("generating a token failed")
        .hash();
    repo.insert_token(&TokenRecord {
        hash,
        user_id: user,
        created_at: now(),
        expires_at,
        last_used_at: None,
    })
    .await
    .map(|()| hash)
}

/// A token's expiry round-trips exactly through `insert_token` and `find_token_owner`,
/// and a token without one has `None`. (Refusing an expired token is the caller's rule:
/// the repository returns it with its expiry, in the past or not.)
pub async fn token_expiry_round_trips(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let later = micros(now(), 3_600_000_123);
    let earlier = micros(now(), -1_000_001);
    for expires_at in [Some(later), Some(earlier), None] {
        let hash = store_token(repo, user.id, expires_at)
            .await
            .expect("insert_token failed for an existing user");
        let owner = repo
            .find_token_owner(&hash)
            .await
            .expect("find_token_owner failed")
            .expect("find_token_owner must find a stored token, expired or not");
        assert_eq!(
            owner,
            TokenOwner {
                user: user.clone(),
                plan: None,
                expires_at,
                last_used_at: None,
            },
            "find_token_owner must return the token's expiry as stored"
        );
    }
    clean_up(repo, &[user.id], &[]).await;
}

/// `delete_user_tokens` revokes every token of the user and no one else's, returning how
/// many it revoked (0 the second time, and for an unknown user).
pub async fn delete_user_tokens_revokes_only_theirs(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let mut theirs = Vec::new();
    for _ in 0..3 {
        theirs.push(
            store_token(repo, user.id, None)
                .await
                .expect("insert_token failed"),
        );
    }
    let other = store_token(repo, bystander.id, None)
        .await
        .expect("insert_token failed");
    assert_eq!(
        repo.delete_user_tokens(user.id)
            .await
            .expect("delete_user_tokens failed"),
        3,
        "delete_user_tokens must count the tokens it revoked"
    );
    for hash in &theirs {
        assert!(
            repo.find_token_owner(hash)
                .await
                .expect("find_token_owner failed")
                .is_none(),
            "a token revoked by delete_user_tokens must find nobody"
        );
    }
    assert!(
        repo.find_token_owner(&other)
            .await
            .expect("find_token_owner failed")
            .is_some(),
        "delete_user_tokens must leave other users' tokens"
    );
    assert_eq!(
        repo.delete_user_tokens(user.id)
            .await
            .expect("delete_user_tokens failed"),
        0,
        "delete_user_tokens of a user without tokens must be 0"
    );
    assert_eq!(
        repo.delete_user_tokens(UserId::new())
            .await
            .expect("delete_user_tokens failed"),
        0,
        "delete_user_tokens of an unknown user must be 0"
    );
    assert!(
        store_token(repo, user.id, None).await.is_ok(),
        "a user whose tokens were revoked may get new ones"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// `begin_user_deletion` locks an account in one step: its tokens find nobody, its
/// password hash is unusable, its plan is gone, `update_user` is `false` and `insert_token` a
/// [`Conflict::MissingReference`] from then on; others are untouched. Marked users are
/// listed by `users_being_deleted`, oldest mark first (a second mark keeps the first
/// time), until `delete_user`. An unknown user is `false`.
pub async fn begin_user_deletion_locks_the_account(repo: &dyn Repo) {
    assert!(
        !repo
            .begin_user_deletion(UserId::new(), now())
            .await
            .expect("begin_user_deletion failed"),
        "begin_user_deletion of an unknown user must be false"
    );
    let first = new_user(repo, Some(PlanId::BASIC)).await;
    let second = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let token = store_token(repo, first.id, None)
        .await
        .expect("insert_token failed");
    let other = store_token(repo, bystander.id, None)
        .await
        .expect("insert_token failed");

    // Marks far in the past, so that no other marked user falls between them or before.
    let marked_at = far_past();
    assert!(
        repo.begin_user_deletion(first.id, marked_at)
            .await
            .expect("begin_user_deletion failed"),
        "begin_user_deletion of a user must be true"
    );
    assert!(
        repo.begin_user_deletion(second.id, micros(marked_at, 1))
            .await
            .expect("begin_user_deletion failed")
    );
    assert!(
        repo.begin_user_deletion(first.id, now())
            .await
            .expect("begin_user_deletion failed"),
        "begin_user_deletion of a user already marked must be true"
    );

    assert!(
        repo.find_token_owner(&token)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "begin_user_deletion must revoke the user's tokens"
    );
    assert!(
        repo.find_token_owner(&other)
            .await
            .expect("find_token_owner failed")
            .is_some(),
        "begin_user_deletion must leave other users' tokens"
    );
    let locked = repo
        .get_user(first.id)
        .await
        .expect("get_user failed")
        .expect("a user being deleted stays readable until delete_user");
    assert!(
        locked.password_hash.is_unusable(),
        "begin_user_deletion must make the password unusable, got {:?}",
        locked.password_hash.as_str().get(..10)
    );
    assert_eq!(
        locked,
        User {
            password_hash: locked.password_hash.clone(),
            plan_id: None,
            ..first.clone()
        },
        "begin_user_deletion must remove the plan and change nothing else of the user"
    );
    let untouched = repo
        .get_user(bystander.id)
        .await
        .expect("get_user failed")
        .expect("the bystander exists");
    assert_eq!(untouched, bystander, "other users must be untouched");

    let revived = User {
        password_hash: PasswordHash::from_phc(PHC),
        is_admin: true,
        ..first.clone()
    };
    assert!(
        !repo
            .update_user(&revived)
            .await
            .expect("update_user failed"),
        "update_user of a user being deleted must be false"
    );
    assert_eq!(
        repo.get_user(first.id)
            .await
            .expect("get_user failed")
            .map(|user| user.password_hash.is_unusable() && !user.is_admin),
        Some(true),
        "update_user must not change a user being deleted"
    );
    assert_conflict(
        store_token(repo, first.id, None).await,
        Conflict::MissingReference,
        "insert_token for a user being deleted",
    );

    // Other checks sharing the repository mark users of their own meanwhile: only the
    // order of this check's users, and the limit, are its to assert.
    let mut listed = repo
        .users_being_deleted(10_000)
        .await
        .expect("users_being_deleted failed");
    listed.retain(|id| *id == first.id || *id == second.id);
    assert_eq!(
        listed,
        vec![first.id, second.id],
        "users_being_deleted must list marked users oldest mark first, keeping the first mark"
    );
    assert_eq!(
        repo.users_being_deleted(1)
            .await
            .expect("users_being_deleted failed")
            .len(),
        1,
        "users_being_deleted must respect its limit"
    );
    clean_up(repo, &[first.id, second.id], &[]).await;
    let listed = repo
        .users_being_deleted(10_000)
        .await
        .expect("users_being_deleted failed");
    assert!(
        !listed.contains(&first.id) && !listed.contains(&second.id),
        "a deleted user must no longer be listed as being deleted"
    );
    assert!(
        !listed.contains(&bystander.id),
        "a user not being deleted must not be listed"
    );
    clean_up(repo, &[bystander.id], &[]).await;
}

/// A token of `user` created at `created_at`, not yet stored.
fn token_value(user: UserId, created_at: DateTime<Utc>) -> TokenRecord {
    TokenRecord {
        hash: ApiToken::generate()
            .expect("generating a token failed")
            .hash(),
        user_id: user,
        created_at,
        expires_at: None,
        last_used_at: None,
    }
}

/// `list_user_tokens` lists every stored token of the user and no one else's, newest first
/// (ties by hash, descending), each as stored to the microsecond: expiry (past ones too)
/// and last use included. Revoked tokens are gone from it; an unknown user has none.
pub async fn user_tokens_list_newest_first(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let base = now();
    let mut tokens = vec![
        token_value(user.id, micros(base, -2_000_001)),
        TokenRecord {
            expires_at: Some(micros(base, -1_000_003)),
            last_used_at: Some(micros(base, -1_500_007)),
            ..token_value(user.id, micros(base, -3_000_005))
        },
        TokenRecord {
            expires_at: Some(micros(base, 86_400_000_009)),
            ..token_value(user.id, micros(base, -7))
        },
        token_value(user.id, micros(base, -7)),
    ];
    for token in &tokens {
        repo.insert_token(token)
            .await
            .expect("insert_token failed for an existing user");
    }
    repo.insert_token(&token_value(bystander.id, base))
        .await
        .expect("insert_token failed for an existing user");
    tokens
        .sort_by(|a, b| (b.created_at, b.hash.as_bytes()).cmp(&(a.created_at, a.hash.as_bytes())));
    assert_eq!(
        repo.list_user_tokens(user.id)
            .await
            .expect("list_user_tokens failed"),
        tokens,
        "list_user_tokens must list the user's tokens as stored, newest first, ties by hash descending"
    );

    let revoked = tokens.remove(1);
    assert!(
        repo.delete_token(&revoked.hash)
            .await
            .expect("delete_token failed")
    );
    assert_eq!(
        repo.list_user_tokens(user.id)
            .await
            .expect("list_user_tokens failed"),
        tokens,
        "a revoked token must no longer be listed"
    );
    assert!(
        repo.list_user_tokens(UserId::new())
            .await
            .expect("list_user_tokens failed")
            .is_empty(),
        "an unknown user has no tokens"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// `touch_token` sets a token's `last_used_at`, exactly, and nothing else, as
/// `list_user_tokens` and `find_token_owner` show; it is `false` for a token that is not
/// stored, and then stores nothing.
pub async fn touch_token_records_use(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let expires_at = Some(micros(now(), 3_600_000_001));
    let token = TokenRecord {
        expires_at,
        ..token_value(user.id, now())
    };
    let other = token_value(user.id, micros(token.created_at, -1));
    for record in [&token, &other] {
        repo.insert_token(record)
            .await
            .expect("insert_token failed for an existing user");
    }
    for used_at in [micros(now(), 60_000_003), micros(now(), 120_000_011)] {
        assert!(
            repo.touch_token(&token.hash, used_at)
                .await
                .expect("touch_token failed"),
            "touch_token of a stored token must be true"
        );
        let touched = TokenRecord {
            last_used_at: Some(used_at),
            ..token.clone()
        };
        assert_eq!(
            repo.list_user_tokens(user.id)
                .await
                .expect("list_user_tokens failed"),
            vec![touched, other.clone()],
            "touch_token must set last_used_at of that token only, exactly"
        );
        let owner = repo
            .find_token_owner(&token.hash)
            .await
            .expect("find_token_owner failed")
            .expect("a touched token must still find its user");
        assert_eq!(
            (owner.user.id, owner.expires_at, owner.last_used_at),
            (user.id, expires_at, Some(used_at)),
            "find_token_owner must return the token's last use"
        );
    }
    let stray = ApiToken::generate()
        .expect("generating a token failed")
        .hash();
    assert!(
        !repo
            .touch_token(&stray, now())
            .await
            .expect("touch_token failed"),
        "touch_token of an unknown token must be false"
    );
    assert!(
        repo.find_token_owner(&stray)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "touch_token of an unknown token must not store it"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// A user named `name`, created at `created_at`, not yet stored.
fn named_user(name: &str, created_at: DateTime<Utc>) -> User {
    User {
        username: Username::parse(name).expect("a valid username"),
        ..user_value(None, created_at)
    }
}

/// `search_users` finds the users whose username contains the text anywhere, ignoring
/// the case of ASCII letters, newest first by `(created_at, id)` and paged by
/// [`KeysetQuery`] in both directions as `list_users` is; an empty text finds every user.
pub async fn search_users_by_keyset(repo: &dyn Repo) {
    // A random marker, so that only this check's users match it.
    let marker = super::unique("find");
    let upper = marker.to_ascii_uppercase();
    let base = now();
    let names = [
        marker.clone(),
        format!("a{upper}"),
        format!("{marker}.z"),
        format!("x_{marker}_y"),
        format!("{upper}@b"),
        format!("q{marker}"),
        format!("{marker}{marker}"),
    ];
    let matching: Vec<User> = names
        .iter()
        .zip([0, 0, 2, 3, 3, 3, 8])
        .map(|(name, offset)| named_user(name, micros(base, offset)))
        .collect();
    // Near misses: the marker broken, in the same time span.
    let (head, tail) = marker.split_at(4);
    let misses = [
        named_user(&format!("{head}.{tail}"), micros(base, 3)),
        named_user(&marker[1..], micros(base, 1)),
    ];
    for user in matching.iter().chain(&misses) {
        repo.create_user(user).await.expect("create_user failed");
    }
    for text in [marker.as_str(), upper.as_str()] {
        check_keyset_list(
            "search_users",
            Scope::Own,
            &matching,
            Positioned::position,
            move |query| async move { repo.search_users(text, &query).await },
        )
        .await;
    }
    let part = &marker[2..];
    let found = repo
        .search_users(part, &KeysetQuery::first(1000))
        .await
        .expect("search_users failed");
    let ids: HashSet<UserId> = found.iter().map(|user| user.id).collect();
    assert!(
        matching.iter().all(|user| ids.contains(&user.id)) && ids.contains(&misses[1].id),
        "search_users must find the text anywhere in the username"
    );
    assert!(
        !ids.contains(&misses[0].id),
        "search_users must not find a username without the text"
    );
    let everyone = repo
        .search_users("", &KeysetQuery::first(1000))
        .await
        .expect("search_users failed");
    let everyone_ids: HashSet<UserId> = everyone.iter().map(|user| user.id).collect();
    assert!(
        matching
            .iter()
            .chain(&misses)
            .all(|user| everyone_ids.contains(&user.id)),
        "search_users with an empty text must find every user"
    );
    let ids: Vec<UserId> = matching.iter().chain(&misses).map(|user| user.id).collect();
    clean_up(repo, &ids, &[]).await;
}

/// `%`, `_` and `\` in the search text are literal characters, never wildcards.
pub async fn search_users_takes_text_literally(repo: &dyn Repo) {
    let marker = super::unique("lit");
    let underscored = named_user(&format!("{marker}a_b"), now());
    let lettered = named_user(&format!("{marker}axb"), now());
    for user in [&underscored, &lettered] {
        repo.create_user(user).await.expect("create_user failed");
    }
    let found = |text: String| async move {
        repo.search_users(&text, &KeysetQuery::first(1000))
            .await
            .expect("search_users failed")
            .into_iter()
            .map(|user| user.id)
            .collect::<Vec<UserId>>()
    };
    assert_eq!(
        found(format!("{marker}a_b")).await,
        vec![underscored.id],
        "an underscore in the text must match only an underscore"
    );
    assert!(
        found(format!("{marker}%")).await.is_empty(),
        "a percent sign in the text must match only a percent sign"
    );
    assert!(
        found(format!("{marker}a\\_b")).await.is_empty(),
        "a backslash in the text must match only a backslash"
    );
    clean_up(repo, &[underscored.id, lettered.id], &[]).await;
}

/// `plan_user_counts` has every plan, a plan without users with 0, and counts the users
/// of each plan: a user moving plans, being deleted or marked for deletion moves the counts.
pub async fn plan_user_counts_count_each_plan(repo: &dyn Repo) {
    let full = new_plan(repo, &[200]).await;
    let empty = new_plan(repo, &[200]).await;
    let users = [
        new_user(repo, Some(full.id)).await,
        new_user(repo, Some(full.id)).await,
        new_user(repo, Some(full.id)).await,
    ];
    let counts = || async {
        let counts = repo
            .plan_user_counts()
            .await
            .expect("plan_user_counts failed");
        let ids: HashSet<PlanId> = counts.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids.len(),
            counts.len(),
            "plan_user_counts must list each plan once"
        );
        assert!(
            ids.contains(&PlanId::BASIC),
            "plan_user_counts must list every plan"
        );
        let of = |plan: PlanId| counts.iter().find(|(id, _)| *id == plan).map(|(_, n)| *n);
        (of(full.id), of(empty.id))
    };
    assert_eq!(
        counts().await,
        (Some(3), Some(0)),
        "plan_user_counts must count each plan's users, and list a plan without users with 0"
    );
    let moved = User {
        plan_id: Some(empty.id),
        ..users[0].clone()
    };
    assert!(repo.update_user(&moved).await.expect("update_user failed"));
    assert!(
        repo.begin_user_deletion(users[1].id, now())
            .await
            .expect("begin_user_deletion failed")
    );
    assert_eq!(
        counts().await,
        (Some(1), Some(1)),
        "a user moving plans or being deleted must move the counts"
    );
    let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
    clean_up(repo, &ids, &[full.id, empty.id]).await;
    let after = repo
        .plan_user_counts()
        .await
        .expect("plan_user_counts failed");
    assert!(
        after
            .iter()
            .all(|(id, _)| *id != full.id && *id != empty.id),
        "a deleted plan must no longer be counted"
    );
}

/// `usage` counts the owner's images and sums their originals' sizes exactly (beyond 32
/// bits), no one else's; an image deleted leaves it; an unknown user's usage is zero.
pub async fn usage_counts_originals(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::BASIC)).await;
    let other = new_user(repo, Some(PlanId::BASIC)).await;
    assert_eq!(
        repo.usage(owner.id).await.expect("usage failed"),
        Usage::default(),
        "a user without images uses nothing"
    );
    let mut images = Vec::new();
    for size in [5_000_000_001_u64, 245_760, 1] {
        let mut record = new_image(owner.id, now());
        record.image.size = size;
        images.push(insert(repo, record).await);
    }
    insert(repo, new_image(other.id, now())).await;
    assert_eq!(
        repo.usage(owner.id).await.expect("usage failed"),
        Usage {
            images: 3,
            bytes: 5_000_245_762,
        },
        "usage must count the owner's images and sum their sizes"
    );
    assert!(
        repo.delete_image(owner.id, images[0].image.id)
            .await
            .expect("delete_image failed")
            .is_some()
    );
    assert_eq!(
        repo.usage(owner.id).await.expect("usage failed"),
        Usage {
            images: 2,
            bytes: 245_761,
        },
        "a deleted image must leave the usage"
    );
    assert_eq!(
        repo.usage(UserId::new()).await.expect("usage failed"),
        Usage::default(),
        "an unknown user uses nothing"
    );
    clean_up(repo, &[owner.id, other.id], &[]).await;
}

/// A random microsecond between the years 1019 and 1169, earlier than any real row.
fn far_past() -> DateTime<Utc> {
    const SPAN_MICROS: u128 = 150 * 365 * 86_400 * 1_000_000;
    let start: DateTime<Utc> =
        DateTime::from_timestamp(-30_000_000_000, 0).expect("a valid far-past time");
    let offset =
        i64::try_from(Uuid::new_v4().as_u128() % SPAN_MICROS).expect("the span fits in i64");
    micros(start, offset)
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

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
    assert_eq!(
        repo.get_image_by_id(record.image.id)
            .await
            .expect("get_image_by_id failed"),
        Some(expected),
        "get_image_by_id must return the same record as get_image"
    );

    let bare = insert(repo, bare_image(user.id, now())).await;
    assert_eq!(
        repo.get_image(user.id, bare.image.id)
            .await
            .expect("get_image failed"),
        Some(bare),
        "an image without thumbnail rows must round-trip with none"
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
    assert!(
        repo.get_image_by_id(record.image.id)
            .await
            .expect("get_image_by_id failed")
            .is_none(),
        "an image refused for an unknown owner must not be stored"
    );
    assert!(
        repo.find_original(&record.image.storage_key)
            .await
            .expect("find_original failed")
            .is_none(),
        "an image refused for an unknown owner must not be found by its key"
    );
    assert!(
        repo.referenced_keys(std::slice::from_ref(&ready_key))
            .await
            .expect("referenced_keys failed")
            .is_empty(),
        "the thumbnail rows of a refused image must not be stored (insert_image is all or nothing)"
    );
}

/// `get_image` only returns the owner's images; `get_image_by_id` ignores the owner;
/// both are `None` for unknown ids.
pub async fn images_are_owner_scoped(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::BASIC)).await;
    let other = new_user(repo, Some(PlanId::BASIC)).await;
    let record = insert(repo, new_image(owner.id, now())).await;
    assert!(
        repo.get_image(other.id, record.image.id)
            .await
            .expect("get_image failed")
            .is_none(),
        "get_image must not return another user's image"
    );
    assert_eq!(
        repo.get_image(owner.id, record.image.id)
            .await
            .expect("get_image failed"),
        Some(record.clone()),
        "get_image must return the owner's image"
    );
    assert_eq!(
        repo.get_image_by_id(record.image.id)
            .await
            .expect("get_image_by_id failed"),
        Some(record.clone()),
        "get_image_by_id must return an image whoever owns it"
    );
    assert!(
        repo.get_image(owner.id, ImageId::new())
            .await
            .expect("get_image failed")
            .is_none(),
        "get_image of an unknown id must be None"
    );
    assert!(
        repo.get_image_by_id(ImageId::new())
            .await
            .expect("get_image_by_id failed")
            .is_none(),
        "get_image_by_id of an unknown id must be None"
    );
    let listed = repo
        .list_images(other.id, &KeysetQuery::first(100))
        .await
        .expect("list_images failed");
    assert!(
        listed.is_empty(),
        "list_images must not list another user's images"
    );
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

    assert!(
        repo.delete_image(stranger.id, record.image.id)
            .await
            .expect("delete_image failed")
            .is_none(),
        "delete_image of another user's image must be None"
    );
    assert_eq!(
        repo.get_image(owner.id, record.image.id)
            .await
            .expect("get_image failed"),
        Some(record.clone()),
        "delete_image by another user must leave the image and its thumbnails intact"
    );
    assert!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed")
            .is_some(),
        "delete_image by another user must leave the image's links intact"
    );

    let deleted = repo
        .delete_image(owner.id, record.image.id)
        .await
        .expect("delete_image failed");
    assert_eq!(
        deleted,
        Some(record.clone()),
        "delete_image must return the deleted image with its thumbnails"
    );
    assert!(
        repo.get_image_by_id(record.image.id)
            .await
            .expect("get_image_by_id failed")
            .is_none(),
        "a deleted image must be gone"
    );
    assert!(
        repo.find_original(&record.image.storage_key)
            .await
            .expect("find_original failed")
            .is_none(),
        "a deleted image must not be found by its key"
    );
    assert!(
        repo.referenced_keys(std::slice::from_ref(&ready_key))
            .await
            .expect("referenced_keys failed")
            .is_empty(),
        "a deleted image's thumbnails must be gone"
    );
    assert!(
        repo.find_link(&link.key)
            .await
            .expect("find_link failed")
            .is_none(),
        "a deleted image's links must be gone"
    );
    assert!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed")
            .is_none(),
        "a deleted image's links must be gone"
    );
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
    assert!(
        repo.delete_image(owner.id, record.image.id)
            .await
            .expect("delete_image failed")
            .is_none(),
        "deleting an image twice must be None"
    );
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
    let found = move |rule: &'static str| async move {
        repo.find_original(key)
            .await
            .expect("find_original failed")
            .unwrap_or_else(|| panic!("{rule}"))
    };

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

    let moved = User {
        plan_id: Some(second.id),
        ..user.clone()
    };
    assert!(
        repo.update_user(&moved).await.expect("update_user failed"),
        "update_user must be true"
    );
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
    assert!(
        repo.update_plan(&regranted)
            .await
            .expect("update_plan failed"),
        "update_plan must be true"
    );
    let target = found("find_original must find the image after its plan changed").await;
    assert_eq!(
        target.owner_plan,
        Some(regranted),
        "find_original must reflect a change to the plan itself"
    );

    let planless = User {
        plan_id: None,
        ..user.clone()
    };
    assert!(
        repo.update_user(&planless)
            .await
            .expect("update_user failed"),
        "update_user must be true"
    );
    let target = found("find_original must find the image of a user without a plan").await;
    assert_eq!(
        target.owner_plan, None,
        "find_original's plan must be None when the owner has none"
    );

    assert!(
        repo.find_original(&StorageKey::new_original(ImageFormat::Jpeg))
            .await
            .expect("find_original failed")
            .is_none(),
        "find_original of an unknown key must be None"
    );
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
    assert!(
        repo.complete_thumbnail(record.image.id, pending.max_height, &completed_key, now())
            .await
            .expect("complete_thumbnail failed"),
        "complete_thumbnail of a pending row must be true"
    );
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
        .expect("delete_image failed")
        .expect("the image existed");
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

// ---------------------------------------------------------------------------------------
// Thumbnail work
// ---------------------------------------------------------------------------------------

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
    assert!(
        repo.get_image_by_id(ghost.image.id)
            .await
            .expect("get_image_by_id failed")
            .is_none(),
        "ensure_thumbnails must not create an image"
    );

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
    repo.start_thumbnail_attempt(record.image.id, &heights, first)
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
    repo.start_thumbnail_attempt(record.image.id, &heights, second)
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
    repo.start_thumbnail_attempt(ImageId::new(), &heights, second)
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
    assert!(
        repo.complete_thumbnail(image, height(200), &key, done_at)
            .await
            .expect("complete_thumbnail failed"),
        "complete_thumbnail of a pending row must be true"
    );
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
    assert!(
        repo.referenced_keys(std::slice::from_ref(&duplicate))
            .await
            .expect("referenced_keys failed")
            .is_empty(),
        "a refused complete_thumbnail must not store its key"
    );
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
    assert!(
        !repo
            .complete_thumbnail(image, height(200), &key, now())
            .await
            .expect("complete_thumbnail failed"),
        "complete_thumbnail of a failed row must be false"
    );
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
        .claim_thumbnail_work(WorkScope::Owner(user.id), claim_at, stale_before, 100)
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

    let again = repo
        .claim_thumbnail_work(WorkScope::Owner(user.id), claim_at, stale_before, 100)
        .await
        .expect("claim_thumbnail_work failed");
    assert!(
        again.is_empty(),
        "claiming again at the same `now` must find no work, found {again:?}"
    );
    let planless_work = repo
        .claim_thumbnail_work(WorkScope::Owner(planless.id), claim_at, stale_before, 100)
        .await
        .expect("claim_thumbnail_work failed");
    assert!(
        planless_work.is_empty(),
        "claim_thumbnail_work must ignore users without a plan"
    );
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
        .claim_thumbnail_work(WorkScope::LapsedLeases, claim_at, stale_before, 10_000)
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
            .claim_thumbnail_work(WorkScope::Owner(user.id), claim_at, stale_before, 3)
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
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100)
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

    let moved = User {
        plan_id: Some(plan.id),
        ..mover.clone()
    };
    assert!(
        repo.update_user(&moved).await.expect("update_user failed"),
        "update_user must be true"
    );
    let claimed = repo
        .claim_thumbnail_work(WorkScope::Plan(plan.id), claim_at, stale_before, 100)
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

// ---------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------

/// A link round-trips through `insert_link` and `get_link`, which is owner-scoped;
/// `update_link` changes the expiry (and only of the owner's link); `delete_link` is
/// owner-scoped and `false` the second time; a link to a missing image is
/// [`Conflict::MissingReference`].
pub async fn links_insert_get_update_delete(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let stranger = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let record = insert(repo, new_image(owner.id, now())).await;
    let link = new_link(repo, &record.image, micros(now(), 3)).await;
    assert_eq!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed"),
        Some(link.clone()),
        "a link must round-trip through insert_link and get_link"
    );
    assert!(
        repo.get_link(stranger.id, link.id)
            .await
            .expect("get_link failed")
            .is_none(),
        "get_link must not return another user's link"
    );
    assert!(
        repo.get_link(owner.id, LinkId::new())
            .await
            .expect("get_link failed")
            .is_none(),
        "get_link of an unknown id must be None"
    );

    let longer = link.with_expiry(ExpirySeconds::new(30_000).expect("a valid expiry"));
    assert!(
        repo.update_link(&longer).await.expect("update_link failed"),
        "update_link of the owner's link must be true"
    );
    assert_eq!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed"),
        Some(longer.clone()),
        "update_link must change expiry_seconds and expires_at"
    );
    let hijack = ExpiringLink {
        owner: stranger.id,
        ..link.with_expiry(ExpirySeconds::new(600).expect("valid"))
    };
    assert!(
        !repo.update_link(&hijack).await.expect("update_link failed"),
        "update_link of another user's link must be false"
    );
    let missing = link_value(&record.image, now());
    assert!(
        !repo
            .update_link(&missing)
            .await
            .expect("update_link failed"),
        "update_link of a missing link must be false"
    );
    assert!(
        repo.get_link(owner.id, missing.id)
            .await
            .expect("get_link failed")
            .is_none(),
        "update_link of a missing link must not create it"
    );
    assert_eq!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed"),
        Some(longer.clone()),
        "a refused update_link must change nothing"
    );

    assert!(
        !repo
            .delete_link(stranger.id, link.id)
            .await
            .expect("delete_link failed"),
        "delete_link of another user's link must be false"
    );
    assert!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed")
            .is_some(),
        "delete_link by another user must leave the link"
    );
    assert!(
        repo.delete_link(owner.id, link.id)
            .await
            .expect("delete_link failed"),
        "delete_link must be true"
    );
    assert!(
        repo.get_link(owner.id, link.id)
            .await
            .expect("get_link failed")
            .is_none(),
        "a deleted link must be gone"
    );
    assert!(
        repo.find_link(&link.key)
            .await
            .expect("find_link failed")
            .is_none(),
        "a deleted link must not be found by key"
    );
    assert!(
        !repo
            .delete_link(owner.id, link.id)
            .await
            .expect("delete_link failed"),
        "deleting a link twice must be false"
    );

    let ghost = bare_image(owner.id, now());
    let orphan = link_value(&ghost.image, now());
    assert_conflict(
        repo.insert_link(&orphan).await,
        Conflict::MissingReference,
        "insert_link to a missing image",
    );
    assert!(
        repo.get_link(owner.id, orphan.id)
            .await
            .expect("get_link failed")
            .is_none(),
        "a refused insert_link must not store the link"
    );
    assert!(
        repo.find_link(&orphan.key)
            .await
            .expect("find_link failed")
            .is_none(),
        "a refused insert_link must not store the link"
    );
    clean_up(repo, &[owner.id, stranger.id], &[]).await;
}

/// `list_links` lists one owner's links, optionally of one image, newest first by
/// `(created_at, id)` with ties broken by id, following [`KeysetQuery`] exactly; another
/// user's links never appear.
pub async fn links_list_by_keyset(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let other = new_user(repo, Some(PlanId::ENTERPRISE)).await;
    let base = now();
    let first = insert(repo, new_image(owner.id, micros(base, -10_000_000))).await;
    let second = insert(repo, new_image(owner.id, micros(base, -10_000_000))).await;
    let theirs = insert(repo, new_image(other.id, micros(base, -10_000_000))).await;
    let layout: [(&ImageRecord, i64); 7] = [
        (&first, 0),
        (&second, 0),
        (&first, 0),
        (&second, 4),
        (&first, 4),
        (&first, 900),
        (&second, -50),
    ];
    let links: Vec<ExpiringLink> = layout
        .iter()
        .map(|&(record, offset)| link_value(&record.image, micros(base, offset)))
        .collect();
    for index in [2, 5, 0, 6, 3, 1, 4] {
        repo.insert_link(&links[index])
            .await
            .expect("insert_link failed");
    }
    let their_links = [
        new_link(repo, &theirs.image, base).await,
        new_link(repo, &theirs.image, micros(base, 4)).await,
    ];

    let owner_id = owner.id;
    check_keyset_list(
        "list_links",
        Scope::Own,
        &links,
        Positioned::position,
        move |query| async move { repo.list_links(owner_id, None, &query).await },
    )
    .await;
    let of_first: Vec<ExpiringLink> = links
        .iter()
        .filter(|link| link.image_id == first.image.id)
        .cloned()
        .collect();
    let image = first.image.id;
    check_keyset_list(
        "list_links of one image",
        Scope::Own,
        &of_first,
        Positioned::position,
        move |query| async move { repo.list_links(owner_id, Some(image), &query).await },
    )
    .await;
    let other_id = other.id;
    check_keyset_list(
        "list_links",
        Scope::Own,
        &their_links,
        Positioned::position,
        move |query| async move { repo.list_links(other_id, None, &query).await },
    )
    .await;
    let cross = repo
        .list_links(owner.id, Some(theirs.image.id), &KeysetQuery::first(100))
        .await
        .expect("list_links failed");
    assert!(
        cross.is_empty(),
        "list_links must not list another user's links, even filtered by their image"
    );
    clean_up(repo, &[owner.id, other.id], &[]).await;
}

/// `find_link` finds a link by its public key with its image and the owner's current plan
/// (a plan change shows at once; `None` without a plan), and nothing for unknown keys.
pub async fn find_link_sees_image_and_current_plan(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let record = insert(repo, new_image(user.id, now())).await;
    let link = new_link(repo, &record.image, now()).await;
    let target = repo
        .find_link(&link.key)
        .await
        .expect("find_link failed")
        .expect("find_link must find a link by its key");
    assert_eq!(target.link, link, "find_link must return the link");
    assert_eq!(
        target.image, record.image,
        "find_link must return the link's image"
    );
    assert_eq!(
        target.owner_plan,
        Some(plan.clone()),
        "find_link must return the owner's plan"
    );

    let moved = User {
        plan_id: Some(PlanId::ENTERPRISE),
        ..user.clone()
    };
    assert!(
        repo.update_user(&moved).await.expect("update_user failed"),
        "update_user must be true"
    );
    let enterprise = repo
        .get_plan(PlanId::ENTERPRISE)
        .await
        .expect("get_plan failed");
    let target = repo
        .find_link(&link.key)
        .await
        .expect("find_link failed")
        .expect("find_link must find the link");
    assert_eq!(
        target.owner_plan, enterprise,
        "find_link must reflect a change of the owner's plan"
    );

    let planless = User {
        plan_id: None,
        ..user.clone()
    };
    assert!(
        repo.update_user(&planless)
            .await
            .expect("update_user failed"),
        "update_user must be true"
    );
    let target = repo
        .find_link(&link.key)
        .await
        .expect("find_link failed")
        .expect("find_link must find the link");
    assert_eq!(
        target.owner_plan, None,
        "find_link's plan must be None when the owner has none"
    );

    assert!(
        repo.find_link(&LinkKey::generate())
            .await
            .expect("find_link failed")
            .is_none(),
        "find_link of an unknown key must be None"
    );
    clean_up(repo, &[user.id], &[plan.id]).await;
}

/// How long a backend may take to report a change on its [`ChangeFeed`] in these checks.
const CHANGE_REPORT_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A feed under test, with the name of the method that gave it, for messages.
struct NamedFeed<'a>(&'a str, ChangeFeed);

/// The feed's epoch once it is connected; panics if it does not connect in time.
async fn connected_epoch(NamedFeed(name, feed): &NamedFeed<'_>) -> u64 {
    let deadline = tokio::time::Instant::now() + CHANGE_REPORT_LIMIT;
    loop {
        if let Some(epoch) = feed.epoch() {
            return epoch;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the {name} feed did not connect within {CHANGE_REPORT_LIMIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Runs `change` and panics unless the feed then leaves epoch `before` (moves on, or
/// disconnects) within [`CHANGE_REPORT_LIMIT`].
async fn assert_reported<F: Future<Output = ()>>(named: &NamedFeed<'_>, what: &str, change: F) {
    let before = connected_epoch(named).await;
    change.await;
    let NamedFeed(name, feed) = named;
    let deadline = tokio::time::Instant::now() + CHANGE_REPORT_LIMIT;
    while feed.epoch() == Some(before) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} must report {what}, and did not within {CHANGE_REPORT_LIMIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// When a backend offers a [`link_changes`](crate::repo::LinkRepo::link_changes) feed,
/// every change that can alter a `find_link` answer moves it: a link updated or deleted,
/// its image deleted, the owner's plan changed, the owner deleted, the plan updated or
/// deleted. (On a repository shared with concurrent activity another change may move the
/// feed first; the check then proves less, never fails wrongly.)
pub async fn link_changes_are_reported(repo: &dyn Repo) {
    let Some(feed) = repo.link_changes() else {
        return;
    };
    let feed = NamedFeed("link_changes", feed);
    let plan = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let record = insert(repo, new_image(user.id, now())).await;
    let link = new_link(repo, &record.image, now()).await;

    let longer = link.with_expiry(ExpirySeconds::new(600).expect("a valid expiry"));
    assert_reported(&feed, "a link's update", async {
        assert!(repo.update_link(&longer).await.expect("update_link failed"));
    })
    .await;
    assert_reported(&feed, "a link's deletion", async {
        assert!(
            repo.delete_link(user.id, link.id)
                .await
                .expect("delete_link failed")
        );
    })
    .await;

    new_link(repo, &record.image, now()).await;
    assert_reported(&feed, "the deletion of a linked image", async {
        let deleted = repo
            .delete_image(user.id, record.image.id)
            .await
            .expect("delete_image failed");
        assert!(deleted.is_some());
    })
    .await;

    let other_plan = new_plan(repo, &[300]).await;
    let record = insert(repo, new_image(user.id, now())).await;
    new_link(repo, &record.image, now()).await;
    let moved = User {
        plan_id: Some(other_plan.id),
        ..user.clone()
    };
    assert_reported(&feed, "a change of the owner's plan", async {
        assert!(repo.update_user(&moved).await.expect("update_user failed"));
    })
    .await;
    let without_links = Plan {
        expiring_links: false,
        ..other_plan.clone()
    };
    assert_reported(&feed, "an update of the owner's plan", async {
        assert!(
            repo.update_plan(&without_links)
                .await
                .expect("update_plan failed")
        );
    })
    .await;
    assert_reported(&feed, "the owner's deletion", async {
        assert!(repo.delete_user(user.id).await.expect("delete_user failed"));
    })
    .await;
    assert_reported(&feed, "a plan's deletion", async {
        assert!(repo.delete_plan(plan.id).await.expect("delete_plan failed"));
    })
    .await;
    clean_up(repo, &[], &[other_plan.id]).await;
}

/// When a backend offers an [`account_changes`](crate::repo::UserRepo::account_changes)
/// feed, every change that can alter a `find_token_owner` answer moves it: a token
/// deleted, its user updated (any field) or deleted, the user's plan updated, a plan
/// deleted. (On a repository shared with concurrent activity another change may move the
/// feed first; the check then proves less, never fails wrongly.)
pub async fn account_changes_are_reported(repo: &dyn Repo) {
    let Some(feed) = repo.account_changes() else {
        return;
    };
    let feed = NamedFeed("account_changes", feed);
    let plan = new_plan(repo, &[200]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let token = |user: &User| TokenRecord {
        hash: ApiToken::generate()
            .expect("generating a token failed")
            .hash(),
        user_id: user.id,
        created_at: now(),
        expires_at: None,
        last_used_at: None,
    };
    let first = token(&user);
    repo.insert_token(&first)
        .await
        .expect("insert_token failed");
    assert_reported(&feed, "a token's deletion", async {
        assert!(
            repo.delete_token(&first.hash)
                .await
                .expect("delete_token failed")
        );
    })
    .await;

    repo.insert_token(&token(&user))
        .await
        .expect("insert_token failed");
    let admin = User {
        is_admin: true,
        ..user.clone()
    };
    assert_reported(&feed, "a change of a user's admin flag", async {
        assert!(repo.update_user(&admin).await.expect("update_user failed"));
    })
    .await;
    let without_plan = User {
        plan_id: None,
        ..admin.clone()
    };
    assert_reported(&feed, "a change of a user's plan", async {
        assert!(
            repo.update_user(&without_plan)
                .await
                .expect("update_user failed")
        );
    })
    .await;
    assert!(repo.update_user(&admin).await.expect("update_user failed"));
    let wider = Plan {
        original_link: !plan.original_link,
        ..plan.clone()
    };
    assert_reported(&feed, "an update of the user's plan", async {
        assert!(repo.update_plan(&wider).await.expect("update_plan failed"));
    })
    .await;
    repo.insert_token(&token(&user))
        .await
        .expect("insert_token failed");
    assert_reported(&feed, "the revocation of a user's tokens", async {
        assert_eq!(
            repo.delete_user_tokens(user.id)
                .await
                .expect("delete_user_tokens failed"),
            2,
            "the two tokens stored since the first was deleted"
        );
    })
    .await;
    repo.insert_token(&token(&user))
        .await
        .expect("insert_token failed");
    assert_reported(&feed, "the start of a user's deletion", async {
        assert!(
            repo.begin_user_deletion(user.id, now())
                .await
                .expect("begin_user_deletion failed")
        );
    })
    .await;
    assert_reported(&feed, "the user's deletion", async {
        assert!(repo.delete_user(user.id).await.expect("delete_user failed"));
    })
    .await;
    assert_reported(&feed, "a plan's deletion", async {
        assert!(repo.delete_plan(plan.id).await.expect("delete_plan failed"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Users' data as a whole
// ---------------------------------------------------------------------------------------

/// `delete_user` removes the user's tokens, images, thumbnails and links, and nothing of
/// another user's.
pub async fn delete_user_removes_everything_of_theirs(repo: &dyn Repo) {
    struct Holdings {
        user: User,
        token: crate::auth::TokenHash,
        record: ImageRecord,
        ready_key: StorageKey,
        link: ExpiringLink,
    }
    async fn holdings(repo: &dyn Repo) -> Holdings {
        let user = new_user(repo, Some(PlanId::ENTERPRISE)).await;
        let token = ApiToken::generate()
            .expect("generating a token failed")
            .hash();
        let record = TokenRecord {
            hash: token,
            user_id: user.id,
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        };
        repo.insert_token(&record)
            .await
            .expect("insert_token failed");
        let mut record = bare_image(user.id, now());
        let ready = row(&record.image, 200, ThumbnailStatus::Ready, 1, now());
        let ready_key = ready.storage_key.clone().expect("a ready row has a key");
        record.thumbnails = vec![
            ready,
            row(&record.image, 400, ThumbnailStatus::Pending, 0, now()),
        ];
        let record = insert(repo, record).await;
        let link = new_link(repo, &record.image, now()).await;
        Holdings {
            user,
            token,
            record,
            ready_key,
            link,
        }
    }
    let doomed = holdings(repo).await;
    let kept = holdings(repo).await;

    assert!(
        repo.delete_user(doomed.user.id)
            .await
            .expect("delete_user failed"),
        "delete_user must be true"
    );
    let everything = KeysetQuery::first(100);
    assert!(
        repo.find_token_owner(&doomed.token)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "delete_user must remove the user's tokens"
    );
    assert!(
        repo.get_image_by_id(doomed.record.image.id)
            .await
            .expect("get_image_by_id failed")
            .is_none(),
        "delete_user must remove the user's images"
    );
    assert!(
        repo.list_images(doomed.user.id, &everything)
            .await
            .expect("list_images failed")
            .is_empty(),
        "delete_user must remove the user's images"
    );
    assert!(
        repo.find_original(&doomed.record.image.storage_key)
            .await
            .expect("find_original failed")
            .is_none(),
        "delete_user must remove the user's images"
    );
    assert!(
        repo.referenced_keys(std::slice::from_ref(&doomed.ready_key))
            .await
            .expect("referenced_keys failed")
            .is_empty(),
        "delete_user must remove the user's thumbnails"
    );
    assert!(
        repo.find_link(&doomed.link.key)
            .await
            .expect("find_link failed")
            .is_none(),
        "delete_user must remove the user's links"
    );
    assert!(
        repo.list_links(doomed.user.id, None, &everything)
            .await
            .expect("list_links failed")
            .is_empty(),
        "delete_user must remove the user's links"
    );

    assert_eq!(
        repo.find_token_owner(&kept.token)
            .await
            .expect("find_token_owner failed")
            .map(|owner| owner.user),
        Some(kept.user.clone()),
        "delete_user must not remove another user's tokens"
    );
    assert_eq!(
        repo.get_image(kept.user.id, kept.record.image.id)
            .await
            .expect("get_image failed"),
        Some(sorted(kept.record.clone())),
        "delete_user must not remove another user's images or thumbnails"
    );
    assert!(
        repo.referenced_keys(std::slice::from_ref(&kept.ready_key))
            .await
            .expect("referenced_keys failed")
            .contains(&kept.ready_key),
        "delete_user must not remove another user's thumbnails"
    );
    assert_eq!(
        repo.list_links(kept.user.id, None, &everything)
            .await
            .expect("list_links failed"),
        std::slice::from_ref(&kept.link),
        "delete_user must not remove another user's links"
    );
    assert!(
        !repo
            .delete_user(doomed.user.id)
            .await
            .expect("delete_user failed"),
        "deleting a user twice must be false"
    );

    // A new user under the deleted user's id must inherit nothing: the only way to see
    // that the rows were removed rather than merely orphaned.
    let reborn = User {
        id: doomed.user.id,
        ..user_value(Some(PlanId::ENTERPRISE), now())
    };
    repo.create_user(&reborn)
        .await
        .expect("create_user under a deleted user's id failed");
    assert!(
        repo.find_token_owner(&doomed.token)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "delete_user must remove the user's tokens, not leave them to a later user with the same id"
    );
    assert!(
        repo.list_images(reborn.id, &everything)
            .await
            .expect("list_images failed")
            .is_empty(),
        "delete_user must remove the user's images, not leave them to a later user with the same id"
    );
    assert!(
        repo.list_links(reborn.id, None, &everything)
            .await
            .expect("list_links failed")
            .is_empty(),
        "delete_user must remove the user's links, not leave them to a later user with the same id"
    );
    clean_up(repo, &[reborn.id, kept.user.id], &[]).await;
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// A session of `user` with fresh random secret, not yet stored.
fn session_value(
    user: UserId,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> SessionRecord {
    SessionRecord {
        hash: SessionSecret::generate()
            .expect("generating a session secret failed")
            .hash(),
        user_id: user,
        created_at,
        last_seen_at,
        expires_at,
    }
}

/// Stores a session of `user` seen now and expiring in a day, returning it.
async fn new_session(repo: &dyn Repo, user: UserId) -> SessionRecord {
    let at = now();
    let session = session_value(user, at, at, micros(at, 86_400_000_000));
    repo.insert_session(&session)
        .await
        .expect("insert_session failed for an existing user");
    session
}

/// Whether the session with `hash` is stored.
async fn session_exists(repo: &dyn Repo, hash: &TokenHash) -> bool {
    repo.find_session(hash)
        .await
        .expect("find_session failed")
        .is_some()
}

/// A session round-trips through `insert_session` and `find_session` with its user and
/// the user's current plan (`None` for a user without one), its times exact to the
/// microsecond; `touch_session` sets `last_seen_at` and is `false` for an unknown session;
/// `delete_session` removes it and is `false` the second time.
pub async fn sessions_insert_find_touch_delete(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200, 400]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let planless = new_user(repo, None).await;
    let base = now();
    // Odd microseconds, so that a backend keeping milliseconds (or seconds) fails.
    let session = session_value(
        user.id,
        micros(base, -3_600_000_001),
        micros(base, -7),
        micros(base, 1_209_600_000_003),
    );
    repo.insert_session(&session)
        .await
        .expect("insert_session failed for an existing user");
    assert_eq!(
        repo.find_session(&session.hash)
            .await
            .expect("find_session failed"),
        Some(SessionOwner {
            session: session.clone(),
            user: user.clone(),
            plan: Some(plan.clone()),
        }),
        "find_session must return the session as stored (to the microsecond) with its user and plan"
    );
    let other = new_session(repo, planless.id).await;
    assert_eq!(
        repo.find_session(&other.hash)
            .await
            .expect("find_session failed"),
        Some(SessionOwner {
            session: other.clone(),
            user: planless.clone(),
            plan: None,
        }),
        "find_session's plan must be None for a user without a plan"
    );
    let stray = SessionSecret::generate()
        .expect("generating a session secret failed")
        .hash();
    assert!(
        !session_exists(repo, &stray).await,
        "find_session of an unknown hash must be None"
    );

    let seen_at = micros(base, 60_000_001);
    assert!(
        repo.touch_session(&session.hash, seen_at)
            .await
            .expect("touch_session failed"),
        "touch_session of a stored session must be true"
    );
    let touched = repo
        .find_session(&session.hash)
        .await
        .expect("find_session failed")
        .expect("a touched session must still be found");
    assert_eq!(
        touched.session,
        SessionRecord {
            last_seen_at: seen_at,
            ..session.clone()
        },
        "touch_session must set last_seen_at, exactly, and nothing else"
    );
    assert!(
        !repo
            .touch_session(&stray, seen_at)
            .await
            .expect("touch_session failed"),
        "touch_session of an unknown session must be false"
    );
    assert!(
        !session_exists(repo, &stray).await,
        "touch_session of an unknown session must not create one"
    );

    assert!(
        repo.delete_session(&session.hash)
            .await
            .expect("delete_session failed"),
        "delete_session of a stored session must be true"
    );
    assert!(
        !session_exists(repo, &session.hash).await,
        "a deleted session must not be found"
    );
    assert!(
        !repo
            .delete_session(&session.hash)
            .await
            .expect("delete_session failed"),
        "deleting a session twice must be false"
    );
    assert!(
        session_exists(repo, &other.hash).await,
        "deleting one session must leave others"
    );
    clean_up(repo, &[user.id, planless.id], &[plan.id]).await;
}

/// `insert_session` for an unknown user, or for a user being deleted, is
/// [`Conflict::MissingReference`] and stores nothing.
pub async fn session_insert_needs_a_live_user(repo: &dyn Repo) {
    let at = now();
    let orphan = session_value(UserId::new(), at, at, micros(at, 3_600_000_000));
    assert_conflict(
        repo.insert_session(&orphan).await,
        Conflict::MissingReference,
        "insert_session for an unknown user",
    );
    assert!(
        !session_exists(repo, &orphan.hash).await,
        "a session refused for an unknown user must not be stored"
    );

    let user = new_user(repo, Some(PlanId::BASIC)).await;
    assert!(
        repo.begin_user_deletion(user.id, at)
            .await
            .expect("begin_user_deletion failed")
    );
    let late = session_value(user.id, at, at, micros(at, 3_600_000_000));
    assert_conflict(
        repo.insert_session(&late).await,
        Conflict::MissingReference,
        "insert_session for a user being deleted",
    );
    assert!(
        !session_exists(repo, &late.hash).await,
        "a session refused for a user being deleted must not be stored"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `delete_user_sessions` ends every session of the user and no one else's, returning how
/// many it ended (0 the second time, and for an unknown user); the user may sign in again.
pub async fn delete_user_sessions_ends_only_theirs(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let mut theirs = Vec::new();
    for _ in 0..3 {
        theirs.push(new_session(repo, user.id).await);
    }
    let other = new_session(repo, bystander.id).await;
    assert_eq!(
        repo.delete_user_sessions(user.id)
            .await
            .expect("delete_user_sessions failed"),
        3,
        "delete_user_sessions must count the sessions it ended"
    );
    for session in &theirs {
        assert!(
            !session_exists(repo, &session.hash).await,
            "a session ended by delete_user_sessions must not be found"
        );
    }
    assert!(
        session_exists(repo, &other.hash).await,
        "delete_user_sessions must leave other users' sessions"
    );
    assert_eq!(
        repo.delete_user_sessions(user.id)
            .await
            .expect("delete_user_sessions failed"),
        0,
        "delete_user_sessions of a user without sessions must be 0"
    );
    assert_eq!(
        repo.delete_user_sessions(UserId::new())
            .await
            .expect("delete_user_sessions failed"),
        0,
        "delete_user_sessions of an unknown user must be 0"
    );
    let again = new_session(repo, user.id).await;
    assert!(
        session_exists(repo, &again.hash).await,
        "a user whose sessions were ended may start new ones"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// The idle cut-off of [`delete_ended_sessions_by_idle_and_expiry`]: a fixed time in the
/// year 1494, the same for every run, so that concurrent runs sharing a repository delete
/// the same sessions (each other's ended ones, never each other's kept ones, which a
/// later random cut-off would).
fn session_idle_cut_off() -> DateTime<Utc> {
    DateTime::from_timestamp(-15_000_000_000, 0).expect("a valid far-past time")
}

/// The "now" of [`delete_ended_sessions_by_idle_and_expiry`]: a day after
/// [`session_idle_cut_off`], before the expiry of any real session.
fn session_expiry_cut_off() -> DateTime<Utc> {
    micros(session_idle_cut_off(), 86_400_000_000)
}

/// Ended sessions of a user, for [`delete_ended_sessions_by_idle_and_expiry`] and
/// [`ended_sessions_are_counted`]: last seen just before the idle cut-off, expiring just
/// at and before the expiry cut-off; and sessions just within both, which must stay.
async fn ended_and_kept_sessions(
    repo: &dyn Repo,
    user: UserId,
) -> (Vec<SessionRecord>, Vec<SessionRecord>) {
    let (idle, expiry) = (session_idle_cut_off(), session_expiry_cut_off());
    let created = micros(idle, -86_400_000_000);
    let later = far_future();
    let ended = vec![
        session_value(user, created, micros(idle, -1), later),
        session_value(user, created, now(), expiry),
        session_value(user, created, now(), micros(expiry, -1)),
    ];
    let kept = vec![
        session_value(user, created, idle, later),
        session_value(user, created, now(), micros(expiry, 1)),
    ];
    for session in ended.iter().chain(&kept) {
        repo.insert_session(session)
            .await
            .expect("insert_session failed for an existing user");
    }
    (ended, kept)
}

/// `delete_ended_sessions(idle_before, now)` deletes the sessions last seen before
/// `idle_before` (not those seen at it) and those expiring at or before `now` (not those
/// expiring after it), of every user, and leaves sessions in use.
///
/// How many it deleted is not checked here: concurrent runs sharing the repository delete
/// each other's ended sessions. [`ended_sessions_are_counted`] checks it.
pub async fn delete_ended_sessions_by_idle_and_expiry(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let (ended, kept) = ended_and_kept_sessions(repo, user.id).await;
    let current = new_session(repo, bystander.id).await;
    repo.delete_ended_sessions(session_idle_cut_off(), session_expiry_cut_off())
        .await
        .expect("delete_ended_sessions failed");
    for (index, session) in ended.iter().enumerate() {
        assert!(
            !session_exists(repo, &session.hash).await,
            "delete_ended_sessions must delete ended session {index} (last seen {}, expiring {})",
            session.last_seen_at,
            session.expires_at
        );
    }
    for (index, session) in kept.iter().enumerate() {
        assert!(
            session_exists(repo, &session.hash).await,
            "delete_ended_sessions must keep session {index} (last seen {}, expiring {})",
            session.last_seen_at,
            session.expires_at
        );
    }
    assert!(
        session_exists(repo, &current.hash).await,
        "delete_ended_sessions must keep a session in use"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// `delete_ended_sessions` returns how many sessions it deleted, and 0 when called again.
/// The count is global, so run this check on a repository that no concurrent run of the
/// suite shares; [`run_all`] leaves it out.
pub async fn ended_sessions_are_counted(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let (ended, _kept) = ended_and_kept_sessions(repo, user.id).await;
    let (idle, expiry) = (session_idle_cut_off(), session_expiry_cut_off());
    assert_eq!(
        repo.delete_ended_sessions(idle, expiry)
            .await
            .expect("delete_ended_sessions failed"),
        u64::try_from(ended.len()).expect("a small count"),
        "delete_ended_sessions must count the sessions it deleted"
    );
    assert_eq!(
        repo.delete_ended_sessions(idle, expiry)
            .await
            .expect("delete_ended_sessions failed"),
        0,
        "delete_ended_sessions must be 0 when no session has ended"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `begin_user_deletion` and `delete_user` delete the user's sessions and no one else's.
pub async fn user_deletion_ends_sessions(repo: &dyn Repo) {
    let marked = new_user(repo, Some(PlanId::BASIC)).await;
    let deleted = new_user(repo, Some(PlanId::BASIC)).await;
    let bystander = new_user(repo, Some(PlanId::BASIC)).await;
    let marked_session = new_session(repo, marked.id).await;
    let deleted_session = new_session(repo, deleted.id).await;
    let other = new_session(repo, bystander.id).await;

    assert!(
        repo.begin_user_deletion(marked.id, now())
            .await
            .expect("begin_user_deletion failed")
    );
    assert!(
        !session_exists(repo, &marked_session.hash).await,
        "begin_user_deletion must delete the user's sessions"
    );
    assert!(
        repo.delete_user(deleted.id)
            .await
            .expect("delete_user failed")
    );
    assert!(
        !session_exists(repo, &deleted_session.hash).await,
        "delete_user must delete the user's sessions"
    );
    assert!(
        session_exists(repo, &other.hash).await,
        "deleting a user must leave other users' sessions"
    );
    let reborn = User {
        username: Username::parse(&super::unique("user")).expect("a valid username"),
        ..deleted.clone()
    };
    repo.create_user(&reborn)
        .await
        .expect("create_user failed for a new user with a freed id");
    assert!(
        !session_exists(repo, &deleted_session.hash).await,
        "delete_user must delete the user's sessions, not leave them to a later user with the same id"
    );
    clean_up(repo, &[marked.id, reborn.id, bystander.id], &[]).await;
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

/// 32 concurrent `insert_image` calls for one user all succeed, and the user's list
/// then holds exactly those 32 images, each once, whether read whole or page by page.
pub async fn concurrent_image_inserts(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let base = now();
    let records: Vec<ImageRecord> = (0..32)
        .map(|index| new_image(user.id, micros(base, index % 4)))
        .collect();
    let results =
        futures::future::join_all(records.iter().map(|record| repo.insert_image(record))).await;
    for result in results {
        result.expect("a concurrent insert_image failed");
    }
    let mut expected: Vec<ImageId> = records.iter().map(|record| record.image.id).collect();
    expected.sort_unstable();

    let whole = repo
        .list_images(user.id, &KeysetQuery::first(1000))
        .await
        .expect("list_images failed");
    let mut listed: Vec<ImageId> = whole.iter().map(|record| record.image.id).collect();
    listed.sort_unstable();
    assert_eq!(
        listed, expected,
        "after 32 concurrent inserts the list must hold exactly those 32 images, once each"
    );

    let mut paged = Vec::new();
    let mut anchor = None;
    loop {
        let page = repo
            .list_images(user.id, &KeysetQuery { anchor, limit: 5 })
            .await
            .expect("list_images failed");
        paged.extend(page.iter().map(|record| record.image.id));
        match page.last() {
            Some(last) if page.len() == 5 => {
                anchor = Some((Positioned::position(last), Direction::Older))
            }
            _ => break,
        }
        assert!(paged.len() <= 64, "paging 32 images does not end");
    }
    paged.sort_unstable();
    assert_eq!(
        paged, expected,
        "paging through 32 concurrently inserted images must visit each once"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// Concurrent creates of users with one username, and of plans with one name, store
/// exactly one; every other create fails with the matching conflict, never otherwise.
pub async fn concurrent_creates_of_one_name(repo: &dyn Repo) {
    let username = Username::parse(&super::unique("race")).expect("a valid username");
    let users: Vec<User> = (0..8)
        .map(|_| User {
            username: username.clone(),
            ..user_value(None, now())
        })
        .collect();
    let results = futures::future::join_all(users.iter().map(|user| repo.create_user(user))).await;
    let mut winners = Vec::new();
    for (user, result) in users.iter().zip(results) {
        match result {
            Ok(()) => winners.push(user.id),
            other => assert_conflict(
                other,
                Conflict::UsernameTaken,
                "a concurrent create_user with a taken username",
            ),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of concurrent create_user calls with one username must succeed"
    );
    let stored = repo
        .find_user_by_username(&username)
        .await
        .expect("find_user_by_username failed");
    assert_eq!(
        stored.map(|user| user.id),
        winners.first().copied(),
        "the username must belong to the one winner"
    );

    let name = PlanName::parse(&super::unique("race")).expect("a valid plan name");
    let plans: Vec<Plan> = (0..8)
        .map(|_| Plan {
            name: name.clone(),
            ..plan_value(&[200], now())
        })
        .collect();
    let results = futures::future::join_all(plans.iter().map(|plan| repo.create_plan(plan))).await;
    let mut plan_winners = Vec::new();
    for (plan, result) in plans.iter().zip(results) {
        match result {
            Ok(()) => plan_winners.push(plan.id),
            other => assert_conflict(
                other,
                Conflict::PlanNameTaken,
                "a concurrent create_plan with a taken name",
            ),
        }
    }
    assert_eq!(
        plan_winners.len(),
        1,
        "exactly one of concurrent create_plan calls with one name must succeed"
    );
    clean_up(repo, &winners, &plan_winners).await;
}

// ---------------------------------------------------------------------------------------
// Administrators' console
// ---------------------------------------------------------------------------------------

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
    let at = now();
    let mut record = image_with_rows(
        owner,
        at,
        &rows
            .iter()
            .map(|&(pixels, status)| (pixels, status, at))
            .collect::<Vec<_>>(),
    );
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
        let at = micros(base, offset);
        let rows: Vec<(u32, ThumbnailStatus, DateTime<Utc>)> = rows
            .iter()
            .map(|&(pixels, status)| (pixels, status, at))
            .collect();
        images.push(sorted(
            insert(repo, image_with_rows(owner, at, &rows)).await,
        ));
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
            assert_eq!(
                repo.list_all_images(&filter, &first)
                    .await
                    .expect("list_all_images failed"),
                repo.list_images(owner, &first)
                    .await
                    .expect("list_images failed"),
                "list_all_images of one owner must be that owner's list_images"
            );
        }
    }
    clean_up(repo, &[user.id, other.id], &[]).await;
}

/// `row` as [`ImageRepo::reset_thumbnails`](crate::repo::ImageRepo::reset_thumbnails)
/// leaves it: pending, no attempts, no failure, leased at `at`, its storage key kept.
fn reset_row(row: &Thumbnail, at: DateTime<Utc>) -> Thumbnail {
    Thumbnail {
        status: ThumbnailStatus::Pending,
        attempts: 0,
        failure: None,
        updated_at: at,
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
    let rows = |statuses: &[(u32, ThumbnailStatus)]| -> Vec<(u32, ThumbnailStatus, DateTime<Utc>)> {
        statuses
            .iter()
            .map(|&(pixels, status)| (pixels, status, before))
            .collect()
    };
    let first = sorted(
        insert(
            repo,
            image_with_rows(on_plan.id, before, &rows(&[(200, Ready), (400, Failed)])),
        )
        .await,
    );
    let second = sorted(
        insert(
            repo,
            image_with_rows(on_plan.id, before, &rows(&[(200, Failed), (800, Pending)])),
        )
        .await,
    );
    let third = sorted(
        insert(
            repo,
            image_with_rows(also_on_plan.id, before, &rows(&[(200, Ready)])),
        )
        .await,
    );
    let untouched = sorted(
        insert(
            repo,
            image_with_rows(elsewhere.id, before, &rows(&[(200, Failed), (400, Ready)])),
        )
        .await,
    );
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
/// uses meanwhile: [`run_alone`] runs it.
pub async fn reset_failed_thumbnails_resets_only_failed_rows(repo: &dyn Repo) {
    use ThumbnailStatus::{Failed, Pending, Ready};
    let user = new_user(repo, Some(PlanId::PREMIUM)).await;
    let other = new_user(repo, None).await;
    let before = micros(now(), -1000);
    let at = |statuses: &[(u32, ThumbnailStatus)]| -> Vec<(u32, ThumbnailStatus, DateTime<Utc>)> {
        statuses
            .iter()
            .map(|&(pixels, status)| (pixels, status, before))
            .collect()
    };
    let mixed = sorted(
        insert(
            repo,
            image_with_rows(
                user.id,
                before,
                &at(&[(200, Failed), (400, Ready), (800, Pending)]),
            ),
        )
        .await,
    );
    let others = sorted(
        insert(
            repo,
            image_with_rows(other.id, before, &at(&[(200, Failed)])),
        )
        .await,
    );
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

/// The checks that need a repository no one else writes to meanwhile (each changes or
/// counts every user's rows): call it on a fresh repository of its own, not alongside
/// [`run_all`].
pub async fn run_alone(repo: &dyn Repo) {
    totals_are_exact(repo).await;
    reset_failed_thumbnails_resets_only_failed_rows(repo).await;
}

/// `totals` counts exactly: users but not those being deleted, images, the originals'
/// bytes, pending and failed (not ready) thumbnails, and follows completions and deletes.
///
/// Needs a repository no one else writes to meanwhile, so it is not part of [`run_all`]:
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
        .expect("delete_image failed")
        .expect("the image was there");
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread")]
    async fn memory_repo_conforms() {
        super::run_all(&crate::MemoryRepo::new()).await
    }

    #[tokio::test]
    async fn memory_repo_counts_ended_sessions() {
        super::ended_sessions_are_counted(&crate::MemoryRepo::new()).await
    }

    #[tokio::test]
    async fn memory_repo_conforms_alone() {
        super::run_alone(&crate::MemoryRepo::new()).await
    }

    /// The checks must hold on a repository shared with concurrent runs of the suite.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_repo_conforms_when_shared() {
        let repo = Arc::new(crate::MemoryRepo::new());
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let repo = Arc::clone(&repo);
                tokio::spawn(async move { super::run_all(repo.as_ref()).await })
            })
            .collect();
        for run in runs {
            run.await.expect("a concurrent run of the suite failed");
        }
    }
}
