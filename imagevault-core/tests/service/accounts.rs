//! Passwords and API tokens.

use imagevault_core::{PlanId, VaultError};

use crate::harness::TestVault;

#[tokio::test]
async fn passwords_log_in_and_wrong_ones_do_not() {
    let t = TestVault::new();
    let account = t.user(Some(PlanId::BASIC)).await;
    let name = account.user.username.as_str();
    assert!(
        account
            .user
            .password_hash
            .as_str()
            .starts_with("$argon2id$"),
        "passwords are stored hashed"
    );
    let again = t
        .vault
        .authenticate_password(name, "correct horse battery")
        .await
        .unwrap();
    assert_eq!(again.user.id, account.user.id);
    assert_eq!(again.plan.unwrap().id, PlanId::BASIC);
    for (username, password) in [
        (name, "wrong password"),
        ("nobody", "correct horse battery"),
        ("bad name!", "x"),
    ] {
        let error = t
            .vault
            .authenticate_password(username, password)
            .await
            .unwrap_err();
        assert!(matches!(error, VaultError::InvalidCredentials), "{error:?}");
    }
    let huge = "x".repeat(100_000);
    assert!(matches!(
        t.vault.authenticate_password(name, &huge).await,
        Err(VaultError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn tokens_are_issued_per_device_and_revocable() {
    let t = TestVault::new();
    let account = t.user(Some(PlanId::PREMIUM)).await;
    let laptop = t.vault.issue_token(&account).await.unwrap();
    let phone = t.vault.issue_token(&account).await.unwrap();
    assert_ne!(laptop.expose(), phone.expose());
    assert_eq!(
        t.vault
            .authenticate_token(laptop.expose())
            .await
            .unwrap()
            .user
            .id,
        account.user.id
    );
    t.vault.revoke_token(laptop.expose()).await.unwrap();
    assert!(matches!(
        t.vault.authenticate_token(laptop.expose()).await,
        Err(VaultError::InvalidCredentials)
    ));
    assert!(
        t.vault.authenticate_token(phone.expose()).await.is_ok(),
        "revoking one token keeps the others"
    );
    t.vault.revoke_token("never issued").await.unwrap();
    assert!(matches!(
        t.vault.authenticate_token("").await,
        Err(VaultError::InvalidCredentials)
    ));
}
