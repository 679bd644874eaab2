//! A user's own API tokens, as the account page lists and revokes them, and how often
//! their use is recorded.

use std::time::Duration;

use chrono::TimeDelta;
use imagevault_core::{
    Clock as _, PlanId, SESSION_TOUCH_INTERVAL, TokenId, TokenInfo, VaultConfig, VaultError,
};

use crate::harness::TestVault;

#[tokio::test]
async fn own_tokens_are_listed_newest_first_without_their_secret() {
    let mut config = VaultConfig::default();
    config.token_ttl = Some(Duration::from_secs(30 * 86_400));
    let t = TestVault::with_config(config);
    let user = t.user(Some(PlanId::BASIC)).await;
    let other = t.user(Some(PlanId::BASIC)).await;
    let older = t.vault.issue_token(&user).await.unwrap();
    t.clock.advance(TimeDelta::seconds(5));
    let newer = t.vault.issue_token(&user).await.unwrap();
    t.vault.issue_token(&other).await.unwrap();

    let listed = t.vault.list_own_tokens(&user).await.unwrap();
    let expected = [&newer, &older].map(|issued| TokenInfo {
        id: TokenId::of(&issued.token.hash()),
        created_at: issued.expires_at.unwrap() - TimeDelta::days(30),
        last_used_at: None,
        expires_at: issued.expires_at,
    });
    assert_eq!(listed, expected, "the user's tokens only, newest first");
    for (info, issued) in listed.iter().zip([&newer, &older]) {
        assert!(
            !issued.expose().contains(info.id.as_str()),
            "the id is not a part of the secret"
        );
    }
    assert_eq!(t.vault.list_own_tokens(&other).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_tokens_use_is_recorded_once_per_touch_interval_cached_or_not() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let token = t.vault.issue_token(&user).await.unwrap();
    let last_used = || async { t.vault.list_own_tokens(&user).await.unwrap()[0].last_used_at };
    let feed = t.vault.repo().account_changes().unwrap();
    let epoch = feed.epoch();

    let first_use = t.clock.now();
    t.vault.authenticate_token(token.expose()).await.unwrap();
    assert_eq!(
        last_used().await,
        Some(first_use),
        "the first use is recorded"
    );

    let interval = TimeDelta::from_std(SESSION_TOUCH_INTERVAL).unwrap();
    t.clock.advance(interval - TimeDelta::microseconds(1));
    t.vault.authenticate_token(token.expose()).await.unwrap();
    assert_eq!(
        last_used().await,
        Some(first_use),
        "a use within the interval of the last recorded one writes nothing"
    );
    t.clock.advance(TimeDelta::microseconds(1));
    let second_use = t.clock.now();
    t.vault.authenticate_token(token.expose()).await.unwrap();
    assert_eq!(
        last_used().await,
        Some(second_use),
        "a use an interval later is recorded, though the account is cached"
    );
    assert_eq!(
        feed.epoch(),
        epoch,
        "recording a use is no account change: cached accounts stay"
    );
}

#[tokio::test]
async fn users_revoke_their_own_tokens_only() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let other = t.user(Some(PlanId::BASIC)).await;
    let token = t.vault.issue_token(&user).await.unwrap();
    let kept = t.vault.issue_token(&user).await.unwrap();
    let theirs = t.vault.issue_token(&other).await.unwrap();
    t.vault.authenticate_token(token.expose()).await.unwrap();
    let id = TokenId::of(&token.token.hash());

    let refused = t.vault.revoke_own_token(&other, &id).await.unwrap_err();
    assert!(matches!(refused, VaultError::NotFound), "{refused:?}");
    t.vault.authenticate_token(token.expose()).await.unwrap();
    let unknown = TokenId::parse("0123456789abcdef").unwrap();
    assert!(matches!(
        t.vault.revoke_own_token(&user, &unknown).await,
        Err(VaultError::NotFound)
    ));

    t.vault.revoke_own_token(&user, &id).await.unwrap();
    assert!(
        matches!(
            t.vault.authenticate_token(token.expose()).await,
            Err(VaultError::InvalidCredentials)
        ),
        "a revoked token is refused at once, though its account was cached"
    );
    let listed: Vec<TokenId> = t
        .vault
        .list_own_tokens(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect();
    assert_eq!(listed, [TokenId::of(&kept.token.hash())]);
    t.vault.authenticate_token(kept.expose()).await.unwrap();
    t.vault.authenticate_token(theirs.expose()).await.unwrap();
    assert!(matches!(
        t.vault.revoke_own_token(&user, &id).await,
        Err(VaultError::NotFound)
    ));
}
