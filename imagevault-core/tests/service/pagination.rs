//! Image lists: newest first, stable across inserts, isolated per user.

use chrono::TimeDelta;
use imagevault_core::page::{Cursor, ListKind, PageRequest};
use imagevault_core::testing::images::png;
use imagevault_core::{ImageId, PageLimit, PlanId, VaultError};

use crate::harness::TestVault;

fn ids(page: &imagevault_core::Page<imagevault_core::ImageView>) -> Vec<ImageId> {
    page.items.iter().map(|view| view.image.id).collect()
}

#[tokio::test]
async fn pages_are_newest_first_and_stable_across_inserts() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let mut uploaded = Vec::new();
    for index in 0..7 {
        // Some uploads share a timestamp: the id must break the tie consistently.
        if index % 3 == 0 {
            t.clock.advance(TimeDelta::milliseconds(5));
        }
        uploaded.push(t.upload(&user, png(2, 2)).await.image.id);
    }
    let newest_first: Vec<ImageId> = {
        let mut all = t
            .vault
            .list_images(
                &user,
                PageRequest {
                    limit: PageLimit::new(100).unwrap(),
                    cursor: None,
                },
            )
            .await
            .unwrap()
            .items;
        all.sort_by_key(|view| std::cmp::Reverse((view.image.created_at, view.image.id)));
        all.iter().map(|view| view.image.id).collect()
    };
    assert_eq!(newest_first.len(), 7);
    assert_eq!(newest_first[0], uploaded[6], "the last upload comes first");

    let limit = PageLimit::new(3).unwrap();
    let first = t
        .vault
        .list_images(
            &user,
            PageRequest {
                limit,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&first), newest_first[..3]);
    assert!(
        first.previous.is_none(),
        "the first page has no previous page"
    );

    // New uploads between requests must not shift the following pages.
    t.clock.advance(TimeDelta::seconds(1));
    let newer = t.upload(&user, png(2, 2)).await.image.id;
    let second = t
        .vault
        .list_images(
            &user,
            PageRequest {
                limit,
                cursor: first.next,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&second), newest_first[3..6]);
    let third = t
        .vault
        .list_images(
            &user,
            PageRequest {
                limit,
                cursor: second.next,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&third), newest_first[6..]);
    assert!(third.next.is_none());

    // Walking back reaches the new upload.
    let back = t
        .vault
        .list_images(
            &user,
            PageRequest {
                limit,
                cursor: second.previous,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&back), newest_first[..3]);
    let front = t
        .vault
        .list_images(
            &user,
            PageRequest {
                limit,
                cursor: back.previous,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&front), [newer]);
    assert!(front.previous.is_none());
}

#[tokio::test]
async fn cursors_are_checked() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    for _ in 0..3 {
        t.upload(&user, png(2, 2)).await;
    }
    let limit = PageLimit::new(1).unwrap();
    let page = t
        .vault
        .list_images(
            &user,
            PageRequest {
                limit,
                cursor: None,
            },
        )
        .await
        .unwrap();
    let text = page.next.unwrap().encode();
    let mut tampered = text.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let error =
        Cursor::decode(std::str::from_utf8(&tampered).unwrap(), ListKind::Images).unwrap_err();
    assert_eq!(error.field, "cursor");
    assert!(
        Cursor::decode(&text, ListKind::Links).is_err(),
        "an image cursor must not page links"
    );
    let error = PageLimit::new(0).unwrap_err();
    assert_eq!(
        (error.field, error.message.as_str()),
        ("limit", "Ensure this value is between 1 and 100.")
    );
}

#[tokio::test]
async fn users_see_only_their_own_images() {
    let t = TestVault::new();
    let alice = t.user(Some(PlanId::PREMIUM)).await;
    let bob = t.user(Some(PlanId::PREMIUM)).await;
    let hers = t.upload(&alice, png(5, 5)).await;
    let his = t.upload(&bob, png(5, 5)).await;
    let bobs = t
        .vault
        .list_images(&bob, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&bobs), [his.image.id]);
    assert!(matches!(
        t.vault.get_image(&bob, hers.image.id).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.delete_image(&bob, hers.image.id).await,
        Err(VaultError::NotFound)
    ));
    assert!(
        t.vault.get_image(&alice, hers.image.id).await.is_ok(),
        "a refused delete must not delete"
    );
    assert!(matches!(
        t.vault.get_image(&alice, ImageId::new()).await,
        Err(VaultError::NotFound)
    ));
}
