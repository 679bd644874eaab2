//! Checks of concurrent writers: inserts of one user's images, creates of one name.

use crate::page::{Direction, KeysetQuery, Positioned};
use crate::repo::Conflict;
use crate::{ImageId, ImageRecord, Plan, PlanId, PlanName, Repo, User, Username};

use super::fixtures::{
    assert_conflict, clean_up, micros, new_image, new_user, now, plan_value, user_value,
};

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
    let username = Username::parse(&crate::testing::unique("race")).expect("a valid username");
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

    let name = PlanName::parse(&crate::testing::unique("race")).expect("a valid plan name");
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
