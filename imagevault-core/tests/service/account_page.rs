//! What the account page and the administrators' lists read: usage, the user search and
//! plan user counts, through the vault.

use imagevault_core::testing::images::png;
use imagevault_core::{PageLimit, PageRequest, PlanId, Usage, VaultError};

use crate::harness::TestVault;

#[tokio::test]
async fn usage_counts_the_accounts_own_originals() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let other = t.user(Some(PlanId::BASIC)).await;
    assert_eq!(t.vault.usage(&user).await.unwrap(), Usage::default());
    let first = t.upload(&user, png(12, 10)).await;
    let second = t.upload(&user, png(30, 20)).await;
    t.upload(&other, png(12, 10)).await;
    t.run_jobs().await;
    assert_eq!(
        t.vault.usage(&user).await.unwrap(),
        Usage {
            images: 2,
            bytes: first.image.size + second.image.size,
        },
        "thumbnails and other users' images are not counted"
    );
}

#[tokio::test]
async fn only_admins_search_users_and_count_plan_users() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let request = PageRequest {
        cursor: None,
        limit: PageLimit::default(),
    };
    let text = user.user.username.as_str().to_ascii_uppercase();
    let page = t.vault.search_users(&admin, &text, request).await.unwrap();
    let found: Vec<_> = page.items.iter().map(|found| found.id).collect();
    assert_eq!(found, [user.user.id]);
    let counts = t.vault.plan_user_counts(&admin).await.unwrap();
    assert!(counts.contains(&(PlanId::PREMIUM, 1)), "{counts:?}");
    assert!(matches!(
        t.vault.search_users(&user, "", request).await,
        Err(VaultError::AdminOnly)
    ));
    assert!(matches!(
        t.vault.plan_user_counts(&user).await,
        Err(VaultError::AdminOnly)
    ));
}
