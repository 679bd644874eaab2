//! What the administrators' console reads and does: the dashboard, every user's images,
//! thumbnail failures and their retry.

use imagevault_core::queue::QueueDepth;
use imagevault_core::{PlanId, Totals, VaultError};

use crate::harness::{TestVault, crafted_png, small_png};

/// The dashboard counts users, images, bytes, pending and failed thumbnails and the
/// queue's jobs, and only administrators see it.
#[tokio::test]
async fn the_dashboard_counts_what_the_installation_holds() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::BASIC)).await;
    let good = t.upload(&user, small_png(100, 300)).await;
    let bad = t
        .upload(&user, crafted_png(64, 640, b"this is not a zlib stream"))
        .await;
    let dashboard = t.vault.dashboard(&admin).await.unwrap();
    assert_eq!(
        dashboard.totals,
        Totals {
            users: 2,
            images: 2,
            bytes: good.image.size + bad.image.size,
            thumbnails_pending: 2,
            thumbnails_failed: 0,
        }
    );
    assert_eq!(
        dashboard.queue,
        QueueDepth {
            ready: 2,
            ..QueueDepth::default()
        }
    );

    assert_eq!(t.run_jobs().await, 2);
    let dashboard = t.vault.dashboard(&admin).await.unwrap();
    assert_eq!(
        (
            dashboard.totals.thumbnails_pending,
            dashboard.totals.thumbnails_failed
        ),
        (0, 1),
        "one thumbnail made, the damaged file's failed"
    );
    assert_eq!(
        dashboard.queue,
        QueueDepth {
            dead: 1,
            ..QueueDepth::default()
        }
    );

    assert!(matches!(
        t.vault.dashboard(&user).await,
        Err(VaultError::AdminOnly)
    ));
}
