//! Expiring links: plan gating, validation, isolation, expiry and update on the clock.

use chrono::TimeDelta;
use imagevault_core::page::PageRequest;
use imagevault_core::testing::images::png;
use imagevault_core::{
    ExpirySeconds, MediaCaching, PlanFeature, PlanId, VaultError, parse_image_id,
};

use crate::harness::TestVault;

fn seconds(n: i64) -> ExpirySeconds {
    ExpirySeconds::new(n).unwrap()
}

#[tokio::test]
async fn only_plans_with_expiring_links_may_use_them() {
    let t = TestVault::new();
    for plan in [PlanId::BASIC, PlanId::PREMIUM] {
        let user = t.user(Some(plan)).await;
        let view = t.upload(&user, png(8, 8)).await;
        let error = t
            .vault
            .create_link(&user, view.image.id, seconds(300))
            .await
            .unwrap_err();
        assert!(
            matches!(error, VaultError::PlanForbids(PlanFeature::ExpiringLinks)),
            "{error:?}"
        );
        assert!(error.to_string().contains("expiring links"), "{error}");
        let error = t
            .vault
            .list_links(&user, None, PageRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(error, VaultError::PlanForbids(_)), "{error:?}");
    }
    let nobody = t.user(None).await;
    let error = t
        .vault
        .list_links(&nobody, None, PageRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::NoPlan), "{error:?}");
}

#[tokio::test]
async fn expiry_is_validated() {
    for bad in [-1, 0, 299, 30_001, i64::MAX] {
        let error = ExpirySeconds::new(bad).unwrap_err();
        assert_eq!(error.field, "expiry_in_seconds");
        assert_eq!(error.message, "Ensure this value is between 300 and 30000.");
    }
    let error = parse_image_id("base_image", "nope").unwrap_err();
    assert_eq!(error.field, "base_image");
}

#[tokio::test]
async fn links_expire_on_time_and_updates_move_the_deadline() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::ENTERPRISE)).await;
    let view = t.upload(&user, png(30, 20)).await;
    let link = t
        .vault
        .create_link(&user, view.image.id, seconds(300))
        .await
        .unwrap();
    assert_eq!(
        link.link.expires_at - link.link.created_at,
        TimeDelta::seconds(300)
    );
    assert!(!link.expired);
    assert!(link.media_path.starts_with("exp/") && link.media_path.ends_with(".png"));

    let media = t.vault.resolve_media(&link.media_path).await.unwrap();
    assert_eq!(media.caching, MediaCaching::Private { max_age: 300 });
    assert_eq!(
        media.key, view.image.storage_key,
        "a link serves the original's bytes"
    );

    t.clock.advance(TimeDelta::seconds(299));
    let media = t.vault.resolve_media(&link.media_path).await.unwrap();
    assert_eq!(
        media.caching,
        MediaCaching::Private { max_age: 1 },
        "max-age never outlives the link"
    );

    t.clock.advance(TimeDelta::seconds(1));
    let error = t.vault.resolve_media(&link.media_path).await.unwrap_err();
    assert!(matches!(error, VaultError::LinkExpired), "{error:?}");
    assert!(t.vault.get_link(&user, link.link.id).await.unwrap().expired);

    let updated = t
        .vault
        .update_link(&user, link.link.id, seconds(600))
        .await
        .unwrap();
    assert_eq!(
        updated.link.expires_at,
        link.link.created_at + TimeDelta::seconds(600)
    );
    assert_eq!(updated.link.created_at, link.link.created_at);
    assert_eq!(
        updated.media_path, link.media_path,
        "an update keeps the URL"
    );
    assert!(!updated.expired);
    let media = t.vault.resolve_media(&link.media_path).await.unwrap();
    assert_eq!(media.caching, MediaCaching::Private { max_age: 300 });

    t.vault.delete_link(&user, link.link.id).await.unwrap();
    let error = t.vault.resolve_media(&link.media_path).await.unwrap_err();
    assert!(
        matches!(error, VaultError::NotFound),
        "a deleted link must stop working at once: {error:?}"
    );
}

#[tokio::test]
async fn links_are_private_to_their_owner() {
    let t = TestVault::new();
    let alice = t.user(Some(PlanId::ENTERPRISE)).await;
    let bob = t.user(Some(PlanId::ENTERPRISE)).await;
    let image = t.upload(&alice, png(10, 10)).await;
    let link = t
        .vault
        .create_link(&alice, image.image.id, seconds(900))
        .await
        .unwrap();

    let error = t
        .vault
        .create_link(&bob, image.image.id, seconds(900))
        .await
        .unwrap_err();
    match error {
        VaultError::Validation(error) => {
            assert_eq!(error.field, "base_image");
            assert!(
                error.message.contains("does not exist"),
                "{}",
                error.message
            );
        }
        other => panic!("another user's image must be a base_image error, got {other:?}"),
    }
    assert!(matches!(
        t.vault.get_link(&bob, link.link.id).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.update_link(&bob, link.link.id, seconds(400)).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.delete_link(&bob, link.link.id).await,
        Err(VaultError::NotFound)
    ));
    let bobs = t
        .vault
        .list_links(&bob, Some(image.image.id), PageRequest::default())
        .await
        .unwrap();
    assert!(
        bobs.items.is_empty(),
        "filtering by another user's image must reveal nothing"
    );
    let alices = t
        .vault
        .list_links(&alice, Some(image.image.id), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(alices.items.len(), 1);
    assert_eq!(
        t.vault.get_link(&alice, link.link.id).await.unwrap().link,
        link.link
    );
}

#[tokio::test]
async fn links_follow_the_owners_current_plan() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::ENTERPRISE)).await;
    let image = t.upload(&user, png(10, 10)).await;
    let link = t
        .vault
        .create_link(&user, image.image.id, seconds(3600))
        .await
        .unwrap();
    let changes = |plan| imagevault_core::UserChanges {
        plan: Some(Some(plan)),
        ..Default::default()
    };
    t.vault
        .update_user(&admin, user.user.id, changes(PlanId::PREMIUM))
        .await
        .unwrap();
    assert!(
        matches!(
            t.vault.resolve_media(&link.media_path).await,
            Err(VaultError::NotFound)
        ),
        "a link must stop working while the owner's plan lacks expiring links"
    );
    t.vault
        .update_user(&admin, user.user.id, changes(PlanId::ENTERPRISE))
        .await
        .unwrap();
    assert!(
        t.vault.resolve_media(&link.media_path).await.is_ok(),
        "the link works again before expiry"
    );
}

#[tokio::test]
async fn link_lists_page_newest_first_and_filter_by_image() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::ENTERPRISE)).await;
    let first = t.upload(&user, png(10, 10)).await;
    let second = t.upload(&user, png(10, 10)).await;
    let mut made = Vec::new();
    for index in 0..5 {
        t.clock.advance(TimeDelta::seconds(1));
        let image = if index % 2 == 0 { &first } else { &second };
        made.push(
            t.vault
                .create_link(&user, image.image.id, seconds(300 + index))
                .await
                .unwrap(),
        );
    }
    let request = PageRequest {
        limit: imagevault_core::PageLimit::new(2).unwrap(),
        cursor: None,
    };
    let page = t.vault.list_links(&user, None, request).await.unwrap();
    assert_eq!(
        page.items.iter().map(|l| l.link.id).collect::<Vec<_>>(),
        [made[4].link.id, made[3].link.id]
    );
    let next = t
        .vault
        .list_links(
            &user,
            None,
            PageRequest {
                cursor: page.next,
                ..request
            },
        )
        .await
        .unwrap();
    assert_eq!(
        next.items.iter().map(|l| l.link.id).collect::<Vec<_>>(),
        [made[2].link.id, made[1].link.id]
    );
    let only_first = t
        .vault
        .list_links(&user, Some(first.image.id), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        only_first
            .items
            .iter()
            .map(|l| l.link.id)
            .collect::<Vec<_>>(),
        [made[4].link.id, made[2].link.id, made[0].link.id]
    );
}
