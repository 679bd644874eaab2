//! Administration of plans and users.

use imagevault_core::page::PageRequest;
use imagevault_core::testing::images::png;
use imagevault_core::{
    NewUser, Password, PlanId, PlanName, PlanSpec, ThumbnailHeights, UserChanges, Username,
    VaultError,
};

use crate::harness::TestVault;

fn spec(name: &str, heights: &[u32]) -> PlanSpec {
    PlanSpec {
        name: PlanName::parse(name).unwrap(),
        thumbnail_heights: ThumbnailHeights::new(heights.iter().copied()).unwrap(),
        thumbnail_formats: Default::default(),
        original_link: true,
        expiring_links: false,
        quota: Default::default(),
        strip_metadata: false,
    }
}

#[tokio::test]
async fn only_admins_administer() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::ENTERPRISE)).await;
    let denied = [
        t.vault
            .list_plans(&user, PageRequest::default())
            .await
            .err(),
        t.vault
            .create_plan(&user, spec("Sneaky", &[10]))
            .await
            .err(),
        t.vault
            .list_users(&user, PageRequest::default())
            .await
            .err(),
        t.vault.delete_user(&user, user.user.id).await.err(),
    ];
    for error in denied {
        assert!(matches!(error, Some(VaultError::AdminOnly)), "{error:?}");
    }
}

#[tokio::test]
async fn plans_are_validated_and_protected_while_in_use() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let plans = t
        .vault
        .list_plans(&admin, PageRequest::default())
        .await
        .unwrap();
    let names: Vec<&str> = plans.items.iter().map(|plan| plan.name.as_str()).collect();
    for builtin in ["Basic", "Premium", "Enterprise"] {
        assert!(names.contains(&builtin), "{names:?}");
    }
    let gold = t
        .vault
        .create_plan(&admin, spec("Gold", &[600, 50]))
        .await
        .unwrap();
    assert_eq!(
        gold.thumbnail_heights.pixels().collect::<Vec<_>>(),
        [50, 600]
    );
    match t.vault.create_plan(&admin, spec("Gold", &[1])).await {
        Err(VaultError::Validation(error)) => assert_eq!(error.field, "name"),
        other => panic!("a duplicate plan name must be a name error, got {other:?}"),
    }
    let member = t.user(Some(gold.id)).await;
    match t.vault.delete_plan(&admin, gold.id).await {
        Err(VaultError::Conflict(message)) => assert!(message.contains("assigned"), "{message}"),
        other => panic!("deleting a plan in use must conflict, got {other:?}"),
    }
    t.vault
        .update_user(
            &admin,
            member.user.id,
            UserChanges {
                plan: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.vault.delete_plan(&admin, gold.id).await.unwrap();
    assert!(matches!(
        t.vault.get_plan(&admin, gold.id).await,
        Err(VaultError::NotFound)
    ));
}

#[tokio::test]
async fn users_are_validated_and_deleted_with_everything_they_own() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let new_user = |name: &str, plan| NewUser {
        username: Username::parse(name).unwrap(),
        password: Password::new("long enough password").unwrap(),
        plan,
        is_admin: false,
    };
    let carol = t
        .vault
        .create_user(&admin, new_user("carol", Some(PlanId::ENTERPRISE)))
        .await
        .unwrap();
    match t.vault.create_user(&admin, new_user("carol", None)).await {
        Err(VaultError::Validation(error)) => assert_eq!(error.field, "username"),
        other => panic!("a taken username must be a username error, got {other:?}"),
    }
    match t
        .vault
        .create_user(&admin, new_user("dave", Some(PlanId::new())))
        .await
    {
        Err(VaultError::Validation(error)) => assert_eq!(error.field, "plan"),
        other => panic!("an unknown plan must be a plan error, got {other:?}"),
    }
    let renamed = t
        .vault
        .update_user(
            &admin,
            carol.id,
            UserChanges {
                username: Some(Username::parse("caroline").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed.password_hash, carol.password_hash,
        "a change without a password keeps it"
    );

    let account = t
        .vault
        .authenticate_password("caroline", "long enough password")
        .await
        .unwrap();
    let image = t.upload(&account, png(20, 20)).await;
    t.run_jobs().await;
    let link = t
        .vault
        .create_link(
            &account,
            image.image.id,
            imagevault_core::ExpirySeconds::new(300).unwrap(),
        )
        .await
        .unwrap();
    let token = t.vault.issue_token(&account).await.unwrap();
    assert!(!t.storage.keys().is_empty());
    t.vault.delete_user(&admin, carol.id).await.unwrap();
    // Locked out as soon as the deletion is accepted.
    assert!(t.vault.authenticate_token(token.expose()).await.is_err());
    assert!(matches!(
        t.vault
            .authenticate_password("caroline", "long enough password")
            .await,
        Err(VaultError::InvalidCredentials)
    ));
    // The rest is deleted in the background, to completion.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    assert!(matches!(
        t.vault.get_user(&admin, carol.id).await,
        Err(VaultError::NotFound)
    ));
    while imagevault_core::UserRepo::get_user(t.vault.repo().as_ref(), carol.id)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the user was never deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        t.storage.keys().is_empty(),
        "a deleted user's files remain: {:?}",
        t.storage.keys()
    );
    assert!(matches!(
        t.vault.resolve_media(&link.media_path).await,
        Err(VaultError::NotFound)
    ));
}
