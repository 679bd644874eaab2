//! Checks of what the command-line bulk tools read: the thumbnail overview of
//! `admin thumbnails status` and the content-digest lookup of `admin import`.

use std::collections::HashSet;

use crate::repo::ThumbnailOverview;
use crate::{ContentDigest, ImageId, PlanId, Repo, ThumbnailStatus};

use super::fixtures::{
    bare_image, clean_up, height, insert, micros, new_plan, new_user, now, stored_image,
};

/// The overview, or a panic naming the call.
async fn overview(repo: &dyn Repo, max_reasons: usize, examples: usize) -> ThumbnailOverview {
    repo.thumbnail_overview(max_reasons, examples)
        .await
        .unwrap_or_else(|error| {
            panic!("thumbnail_overview({max_reasons}, {examples}) failed: {error:?}")
        })
}

/// `thumbnail_overview` counts a plan's rows by status exactly, groups failed rows by
/// reason (most first, each with a bounded number of distinct example images) and keeps
/// to the number of reasons asked for.
pub async fn thumbnail_overview_counts_by_plan_and_reason(repo: &dyn Repo) {
    use ThumbnailStatus::{Pending, Ready};
    let plan = new_plan(repo, &[200, 400, 800]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let before = micros(now(), -1000);
    let first = stored_image(
        repo,
        user.id,
        before,
        &[(200, Ready), (400, Pending), (800, Pending)],
    )
    .await;
    let second = stored_image(repo, user.id, before, &[(200, Pending), (400, Pending)]).await;
    let common = crate::testing::unique("common failure");
    let rare = crate::testing::unique("rare failure");
    let fail = async |image: ImageId, heights: &[u32], reason: &str| {
        let heights: Vec<_> = heights.iter().map(|&pixels| height(pixels)).collect();
        repo.fail_thumbnails(image, &heights, reason, now())
            .await
            .expect("fail_thumbnails failed");
    };
    fail(first.image.id, &[400, 800], &common).await;
    fail(second.image.id, &[200], &common).await;
    fail(second.image.id, &[400], &rare).await;

    let all = overview(repo, 1000, 1).await;
    let ours: Vec<_> = all
        .by_plan
        .iter()
        .filter(|counts| counts.plan == Some(plan.id))
        .collect();
    assert_eq!(ours.len(), 1, "one entry per plan: {:?}", all.by_plan);
    assert_eq!(
        (ours[0].pending, ours[0].ready, ours[0].failed),
        (0, 1, 4),
        "{:?}",
        ours[0]
    );
    let position = |reason: &str| {
        all.failures
            .iter()
            .position(|group| group.reason.as_deref() == Some(reason))
            .unwrap_or_else(|| panic!("no failure group for {reason:?}: {:?}", all.failures))
    };
    let (common_at, rare_at) = (position(&common), position(&rare));
    assert!(
        common_at < rare_at,
        "failure groups must come most rows first: {:?}",
        all.failures
    );
    assert_eq!(all.failures[common_at].count, 3);
    assert_eq!(
        all.failures[common_at].examples.len(),
        1,
        "one example was asked for"
    );
    assert!([first.image.id, second.image.id].contains(&all.failures[common_at].examples[0]));
    assert_eq!(all.failures[rare_at].count, 1);
    assert_eq!(all.failures[rare_at].examples, vec![second.image.id]);

    let examples = overview(repo, 1000, 5).await;
    let group = examples
        .failures
        .iter()
        .find(|group| group.reason.as_deref() == Some(common.as_str()))
        .expect("the common failure's group");
    assert_eq!(
        group.examples.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([first.image.id, second.image.id]),
        "examples are distinct images"
    );
    assert_eq!(group.examples.len(), 2, "examples are distinct images");
    assert!(overview(repo, 1, 5).await.failures.len() <= 1);
    assert!(overview(repo, 0, 5).await.failures.is_empty());
    clean_up(repo, &[user.id], &[plan.id]).await;
}

/// `find_image_by_digest` finds the owner's image with that content, and never another
/// user's image or an image without a digest.
pub async fn find_image_by_digest_is_owner_scoped(repo: &dyn Repo) {
    let owner = new_user(repo, Some(PlanId::BASIC)).await;
    let other = new_user(repo, Some(PlanId::BASIC)).await;
    let digest = ContentDigest::of(crate::testing::unique("content").as_bytes());
    let find = async |user, digest: &ContentDigest| {
        repo.find_image_by_digest(user, digest)
            .await
            .expect("find_image_by_digest failed")
    };
    assert_eq!(find(owner.id, &digest).await, None);
    insert(repo, bare_image(owner.id, now())).await;
    assert_eq!(
        find(owner.id, &digest).await,
        None,
        "an image without a digest never matches"
    );
    let mut record = bare_image(owner.id, now());
    record.image.digest = Some(digest);
    let stored = insert(repo, record).await;
    assert_eq!(find(owner.id, &digest).await, Some(stored.image.id));
    assert_eq!(
        find(other.id, &digest).await,
        None,
        "another owner's image never matches"
    );
    let elsewhere = ContentDigest::of(b"other content");
    assert_eq!(find(owner.id, &elsewhere).await, None);
    let mut again = bare_image(owner.id, micros(now(), 5));
    again.image.digest = Some(digest);
    let again = insert(repo, again).await;
    let found = find(owner.id, &digest).await;
    assert!(
        found == Some(stored.image.id) || found == Some(again.image.id),
        "one of the owner's images with the digest: {found:?}"
    );
    clean_up(repo, &[owner.id, other.id], &[]).await;
}
