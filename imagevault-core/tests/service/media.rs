//! Media resolution: originals gated by plan, thumbnails by readiness, malformed paths.

use imagevault_core::testing::images::png;
use imagevault_core::{MediaCaching, MediaKind, PlanId, VaultError};

use crate::harness::TestVault;

#[tokio::test]
async fn originals_are_served_only_while_the_plan_links_them() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload(&user, png(20, 20)).await;
    let path = view.image.storage_key.to_string();
    let media = t.vault.resolve_media(&path).await.unwrap();
    assert_eq!(
        (media.kind, media.caching),
        (MediaKind::Original, MediaCaching::Revalidate)
    );
    let body = t
        .vault
        .open_media(&media, None)
        .await
        .unwrap()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, png(20, 20));
    let ranged = t
        .vault
        .open_media(&media, Some(1..4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ranged.bytes().await.unwrap(), png(20, 20)[1..4]);

    let basic = imagevault_core::UserChanges {
        plan: Some(Some(PlanId::BASIC)),
        ..Default::default()
    };
    t.vault
        .update_user(&admin, user.user.id, basic)
        .await
        .unwrap();
    assert!(matches!(
        t.vault.resolve_media(&path).await,
        Err(VaultError::NotFound)
    ));
    let user = t.refresh(&user).await;
    assert!(
        t.vault
            .get_image(&user, view.image.id)
            .await
            .unwrap()
            .original
            .is_none()
    );
}

#[tokio::test]
async fn thumbnails_are_served_once_ready() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload(&user, png(300, 600)).await;
    t.run_jobs().await;
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    let key = view.thumbnails[0].storage_key.clone().unwrap();
    let media = t.vault.resolve_media(key.as_str()).await.unwrap();
    assert_eq!(media.kind, MediaKind::Thumbnail);
    assert_eq!(
        media.format,
        imagevault_core::MediaFormat::Image(imagevault_core::ImageFormat::Png)
    );
    assert!(media.etag.starts_with('"'));
}

#[tokio::test]
async fn anything_else_is_not_found() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload(&user, png(20, 20)).await;
    let key = view.image.storage_key.to_string();
    let wrong_extension = key.replace(".png", ".jpg");
    let unknown =
        "thumbnail/0b5c1a3e-7d2f-4c61-9e8a-3f4b5c6d7e8f/1c6d2b4f-8e3a-4d72-af9b-4a5c6d7e8f90.png";
    // A thumbnail is resolved by its key alone; that nothing is stored there shows on open.
    let media = t.vault.resolve_media(unknown).await.unwrap();
    assert!(t.vault.open_media(&media, None).await.unwrap().is_none());
    for path in [
        wrong_extension.as_str(),
        "imageupload/../../etc/passwd",
        "exp/x/y.jpg",
        "",
        &format!("{key}/"),
        &key.to_uppercase(),
    ] {
        let error = t.vault.resolve_media(path).await.unwrap_err();
        assert!(matches!(error, VaultError::NotFound), "{path}: {error:?}");
    }
}
