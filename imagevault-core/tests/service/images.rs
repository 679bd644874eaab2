//! Uploads: plan gating, thumbnail sizes, orientation, metadata, and rejected input.

use bytes::Bytes;
use imagevault_core::page::PageRequest;
use imagevault_core::testing::images::{crafted_png, png};
use imagevault_core::{
    Account, ImageError, ImageFormat, ImageLimits, PlanId, ThumbnailStatus, Upload, UserId,
    VaultError,
};

use crate::harness::{TestVault, fixture};

fn heights(view: &imagevault_core::ImageView) -> Vec<(u32, u32, u32, ThumbnailStatus)> {
    view.thumbnails
        .iter()
        .map(|t| (t.max_height, t.width, t.height, t.status))
        .collect()
}

#[tokio::test]
async fn basic_gets_one_thumbnail_and_no_original() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload_fixture(&user, "storm_1920x1280_orient6.jpg").await;
    assert_eq!(view.image.format, ImageFormat::Jpeg);
    assert_eq!(
        (view.image.width, view.image.height),
        (1280, 1920),
        "display size applies EXIF orientation 6"
    );
    assert_eq!(
        view.image.size,
        fixture("storm_1920x1280_orient6.jpg").len() as u64
    );
    assert_eq!(view.image.name.as_str(), "storm_1920x1280_orient6.jpg");
    assert!(view.original.is_none(), "Basic has no original link");
    assert_eq!(heights(&view), [(200, 133, 200, ThumbnailStatus::Pending)]);
    assert_eq!(t.run_jobs().await, 1);
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(heights(&view), [(200, 133, 200, ThumbnailStatus::Ready)]);
}

#[tokio::test]
async fn premium_gets_two_thumbnails_and_the_original() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let view = t.upload_fixture(&user, "grey_2560x1600.jpg").await;
    assert_eq!(view.original.as_ref(), Some(&view.image.storage_key));
    t.run_jobs().await;
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    assert_eq!(
        heights(&view),
        [
            (200, 320, 200, ThumbnailStatus::Ready),
            (400, 640, 400, ThumbnailStatus::Ready)
        ]
    );
}

/// Each ready thumbnail decodes to exactly the advertised size, in the original's format,
/// with the original's colour layout.
#[tokio::test]
async fn thumbnails_have_the_advertised_size_and_format() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let cases = [
        (
            "chelsea_451x300.png",
            [(301, 200), (451, 300)],
            image::ColorType::Rgb8,
        ),
        (
            "camera_512x512.png",
            [(200, 200), (400, 400)],
            image::ColorType::L8,
        ),
        (
            "arc-colors-transparent_2140x1200.png",
            [(357, 200), (713, 400)],
            image::ColorType::Rgba8,
        ),
        (
            "grey_2560x1600.jpg",
            [(320, 200), (640, 400)],
            image::ColorType::L8,
        ),
        (
            "sunset_4272x2848.jpg",
            [(300, 200), (600, 400)],
            image::ColorType::Rgb8,
        ),
        (
            "storm_1920x1280_orient6.jpg",
            [(133, 200), (267, 400)],
            image::ColorType::Rgb8,
        ),
    ];
    for (name, sizes, color) in cases {
        let uploaded = t.upload_fixture(&user, name).await;
        t.run_jobs().await;
        let view = t.vault.get_image(&user, uploaded.image.id).await.unwrap();
        for (thumbnail, expected) in view.thumbnails.iter().zip(sizes) {
            assert_eq!(thumbnail.status, ThumbnailStatus::Ready, "{name}");
            assert_eq!(
                (thumbnail.width, thumbnail.height),
                expected,
                "{name} at {}",
                thumbnail.max_height
            );
            let bytes = t.fetch(thumbnail.storage_key.as_ref().unwrap()).await;
            let format = image::guess_format(&bytes).unwrap();
            let expected_format = match view.image.format {
                ImageFormat::Png => image::ImageFormat::Png,
                ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            };
            assert_eq!(
                format, expected_format,
                "{name}: a thumbnail keeps the original's format"
            );
            let decoded = image::load_from_memory(&bytes).unwrap();
            assert_eq!(
                (decoded.width(), decoded.height()),
                expected,
                "{name}: decoded size"
            );
            assert_eq!(decoded.color(), color, "{name}: colour layout");
        }
    }
}

/// Orientation 6 means "rotate 90° clockwise to display". The thumbnail must look like the
/// rotated original, not like the stored pixels squeezed into a portrait frame.
#[tokio::test]
async fn exif_orientation_is_applied_to_the_pixels() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let view = t.upload_fixture(&user, "storm_1920x1280_orient6.jpg").await;
    t.run_jobs().await;
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    let thumbnail = image::load_from_memory(
        &t.fetch(view.thumbnails[0].storage_key.as_ref().unwrap())
            .await,
    )
    .unwrap()
    .to_rgb8();
    let stored = image::load_from_memory(&fixture("storm_1920x1280_orient6.jpg")).unwrap();
    let reference = |rotated: image::DynamicImage| {
        rotated
            .resize_exact(133, 200, image::imageops::FilterType::Triangle)
            .to_rgb8()
    };
    let difference = |a: &image::RgbImage, b: &image::RgbImage| {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.as_raw().len() as f64
    };
    let right = difference(&thumbnail, &reference(stored.rotate90()));
    let wrong = difference(&thumbnail, &reference(stored.rotate270()));
    assert!(
        right < 8.0,
        "the thumbnail differs from the correctly rotated original by {right}"
    );
    assert!(
        wrong > 2.0 * right,
        "a wrongly rotated reference is as close ({wrong}) as the right one ({right})"
    );
}

fn jpeg_segments(data: &[u8]) -> Vec<u8> {
    // Markers before the first scan; enough to see any metadata segment.
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= data.len() && data[at] == 0xFF {
        let marker = data[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let length = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        at += 2 + length;
    }
    markers
}

fn png_chunks(data: &[u8]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 8 <= data.len() {
        let length = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        chunks.push(String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned());
        at += 12 + length;
    }
    chunks
}

#[tokio::test]
async fn thumbnails_carry_no_metadata() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    assert!(
        jpeg_segments(&fixture("storm_1920x1280_orient6.jpg")).contains(&0xE1),
        "the fixture should have an EXIF segment to strip"
    );
    for name in [
        "storm_1920x1280_orient6.jpg",
        "arc-colors-transparent_2140x1200.png",
    ] {
        let view = t.upload_fixture(&user, name).await;
        t.run_jobs().await;
        let view = t.vault.get_image(&user, view.image.id).await.unwrap();
        for thumbnail in &view.thumbnails {
            let bytes = t.fetch(thumbnail.storage_key.as_ref().unwrap()).await;
            if view.image.format == ImageFormat::Jpeg {
                let markers = jpeg_segments(&bytes);
                assert!(
                    !markers
                        .iter()
                        .any(|m| (0xE1..=0xEF).contains(m) || *m == 0xFE),
                    "{name}: metadata segments in a thumbnail: {markers:x?}"
                );
            } else {
                let chunks = png_chunks(&bytes);
                let allowed = ["IHDR", "PLTE", "tRNS", "IDAT", "IEND"];
                assert!(
                    chunks.iter().all(|chunk| allowed.contains(&chunk.as_str())),
                    "{name}: metadata chunks in a thumbnail: {chunks:?}"
                );
            }
        }
    }
}

async fn rejected(t: &TestVault, user: &Account, data: Bytes) -> VaultError {
    let error = t
        .vault
        .upload(
            user,
            Upload {
                data,
                file_name: Some("photo.jpg".into()),
                name: None,
            },
        )
        .await
        .expect_err("the upload should have been rejected");
    let page = t
        .vault
        .list_images(user, PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "a rejected upload left an image row");
    assert!(
        t.storage.keys().is_empty(),
        "a rejected upload left objects: {:?}",
        t.storage.keys()
    );
    assert_eq!(
        t.queue.depth_now().await,
        0,
        "a rejected upload queued work"
    );
    error
}

trait DepthNow {
    async fn depth_now(&self) -> u64;
}

impl DepthNow for imagevault_core::MemoryJobQueue {
    async fn depth_now(&self) -> u64 {
        use imagevault_core::JobQueue;
        let depth = self.depth().await.unwrap();
        depth.ready + depth.delayed + depth.in_flight
    }
}

#[tokio::test]
async fn bad_files_are_rejected_with_clear_messages_and_leave_nothing() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;

    let error = rejected(&t, &user, Bytes::new()).await;
    assert!(
        matches!(error, VaultError::Image(ImageError::Empty)),
        "{error:?}"
    );

    let gif = Bytes::from_static(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    let error = rejected(&t, &user, gif).await;
    let message = error.to_string();
    assert!(
        message.contains("gif") && message.contains("png") && message.contains("jpeg"),
        "{message}"
    );

    let html = Bytes::from_static(b"<!DOCTYPE html><html><body>hi</body></html>");
    let error = rejected(&t, &user, html).await;
    assert!(
        matches!(
            error,
            VaultError::Image(ImageError::UnsupportedFormat { .. })
        ),
        "{error:?}"
    );

    let jpeg = fixture("storm_1920x1280_orient6.jpg");
    let error = rejected(&t, &user, jpeg.slice(..jpeg.len() / 2)).await;
    assert!(
        matches!(error, VaultError::Image(ImageError::Truncated { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("jpeg"), "{error}");

    let png = fixture("chelsea_451x300.png");
    let error = rejected(&t, &user, png.slice(..png.len() - 20)).await;
    assert!(
        matches!(
            error,
            VaultError::Image(ImageError::Truncated { .. } | ImageError::Corrupt { .. })
        ),
        "{error:?}"
    );

    let mut flipped = png.to_vec();
    flipped[40] ^= 0x55;
    let error = rejected(&t, &user, flipped.into()).await;
    assert!(
        matches!(error, VaultError::Image(ImageError::Corrupt { .. })),
        "{error:?}"
    );
}

/// A PNG whose header claims 100000 x 100000 pixels, with valid CRCs: refused from the
/// header alone, before any decode.
fn huge_png_header() -> Bytes {
    crafted_png(
        100_000,
        100_000,
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    )
    .into()
}

#[tokio::test]
async fn over_limit_images_are_rejected_before_decoding() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::PREMIUM)).await;
    let error = rejected(&t, &user, huge_png_header()).await;
    match &error {
        VaultError::Image(ImageError::TooManyPixels {
            width,
            height,
            limit,
        }) => {
            assert_eq!((*width, *height, *limit), (100_000, 100_000, 50_000_000));
        }
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    assert!(error.to_string().contains("50000000"), "{error}");

    let small = TestVault::with_limits(ImageLimits {
        max_bytes: 100_000,
        max_pixels: 50_000_000,
    });
    let user = small.user(Some(PlanId::PREMIUM)).await;
    let error = rejected(&small, &user, fixture("chelsea_451x300.png")).await;
    assert!(
        matches!(error, VaultError::TooLarge { limit: 100_000 }),
        "{error:?}"
    );

    let tight = TestVault::with_limits(ImageLimits {
        max_bytes: 26_214_400,
        max_pixels: 100_000,
    });
    let user = tight.user(Some(PlanId::PREMIUM)).await;
    let error = rejected(&tight, &user, fixture("chelsea_451x300.png")).await;
    assert!(
        matches!(error, VaultError::Image(ImageError::TooManyPixels { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn names_default_from_the_file_name_and_are_validated() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let upload = |name: Option<&str>, file_name: Option<&str>| Upload {
        data: png(4, 4).into(),
        name: name.map(str::to_owned),
        file_name: file_name.map(str::to_owned),
    };
    let view = t
        .vault
        .upload(&user, upload(None, Some("../../etc/holiday.png")))
        .await
        .unwrap();
    assert_eq!(view.image.name.as_str(), "holiday.png");
    assert!(
        !view.image.storage_key.as_str().contains("holiday"),
        "a user's name reached a storage path"
    );
    let view = t
        .vault
        .upload(&user, upload(Some("My cat"), Some("x.png")))
        .await
        .unwrap();
    assert_eq!(view.image.name.as_str(), "My cat");
    let view = t.vault.upload(&user, upload(None, None)).await.unwrap();
    assert_eq!(view.image.name.as_str(), "image.png");
    let long = format!("{}.png", "n".repeat(300));
    let view = t
        .vault
        .upload(&user, upload(None, Some(&long)))
        .await
        .unwrap();
    assert_eq!(view.image.name.as_str().chars().count(), 255);
    let error = t
        .vault
        .upload(&user, upload(Some(&"n".repeat(256)), None))
        .await
        .unwrap_err();
    match error {
        VaultError::Validation(error) => assert_eq!(error.field, "name"),
        other => panic!("expected a name error, got {other:?}"),
    }
}

#[tokio::test]
async fn users_without_a_plan_cannot_upload() {
    let t = TestVault::new();
    let user = t.user(None).await;
    let error = t
        .vault
        .upload(
            &user,
            Upload {
                data: png(2, 2).into(),
                ..Upload::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::NoPlan), "{error:?}");
    assert!(error.to_string().contains("no plan"));
    assert!(t.storage.keys().is_empty());
}

/// When the database insert fails after the original was stored, the object is deleted.
#[tokio::test]
async fn a_failed_insert_leaves_no_object_behind() {
    let t = TestVault::new();
    let mut ghost = t.user(Some(PlanId::BASIC)).await;
    ghost.user.id = UserId::new(); // a user the repository does not have
    let result = t
        .vault
        .upload(
            &ghost,
            Upload {
                data: png(3, 3).into(),
                ..Upload::default()
            },
        )
        .await;
    assert!(result.is_err(), "an insert for a missing owner must fail");
    assert!(
        t.storage.keys().is_empty(),
        "the stored original was not cleaned up: {:?}",
        t.storage.keys()
    );
}

#[tokio::test]
async fn a_storage_failure_fails_the_upload_cleanly() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    t.storage
        .failing_puts
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let error = t
        .vault
        .upload(
            &user,
            Upload {
                data: png(3, 3).into(),
                ..Upload::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::Storage(_)), "{error:?}");
    assert!(
        t.vault
            .list_images(&user, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_an_image_removes_its_objects_and_links() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::ENTERPRISE)).await;
    let view = t.upload(&user, png(40, 500)).await;
    t.run_jobs().await;
    let view = t.vault.get_image(&user, view.image.id).await.unwrap();
    let link = t
        .vault
        .create_link(
            &user,
            view.image.id,
            imagevault_core::ExpirySeconds::new(600).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(t.storage.keys(), TestVault::expected_keys([&view]));
    t.vault.delete_image(&user, view.image.id).await.unwrap();
    assert!(
        t.storage.keys().is_empty(),
        "objects left after delete: {:?}",
        t.storage.keys()
    );
    assert!(matches!(
        t.vault.get_image(&user, view.image.id).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.get_link(&user, link.link.id).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.resolve_media(&link.media_path).await,
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault.delete_image(&user, view.image.id).await,
        Err(VaultError::NotFound)
    ));
}
