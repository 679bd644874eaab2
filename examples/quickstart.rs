//! Run with `cargo run --example quickstart [IMAGE...]`
//!
//! The whole library in one process with no services: a user on the Premium plan uploads
//! images, a worker makes their thumbnails, and the files land in a local directory
//! (`./imagevault-data/quickstart`). Without arguments it uploads a test photograph.

use std::sync::Arc;

use imagevault::{
    MemoryJobQueue, MemoryRepo, NewUser, ObjectStorage, Password, PlanId, Upload, Username, Vault,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let directory = std::path::Path::new("imagevault-data/quickstart");
    let vault = Vault::builder()
        .repo(Arc::new(MemoryRepo::new()))
        .storage(Arc::new(ObjectStorage::local(directory)?))
        .queue(Arc::new(MemoryJobQueue::new(10_000)))
        .build()?;

    vault
        .bootstrap_user(NewUser {
            username: Username::parse("alice")?,
            password: Password::new("correct horse battery")?,
            plan: Some(PlanId::PREMIUM),
            is_admin: false,
        })
        .await?;
    let alice = vault
        .authenticate_password("alice", "correct horse battery")
        .await?;

    let mut paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        paths.push(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/storm_1920x1280_orient6.jpg"
            )
            .into(),
        );
    }
    for path in &paths {
        let upload = Upload {
            data: std::fs::read(path)?.into(),
            file_name: Some(path.clone()),
            name: None,
        };
        match vault.upload(&alice, upload).await {
            Ok(view) => println!(
                "uploaded {} as {} ({}x{} {}, {} bytes)",
                path,
                view.image.id,
                view.image.width,
                view.image.height,
                view.image.format,
                view.image.size
            ),
            Err(error) => println!("rejected {path}: {error}"),
        }
    }

    let started = std::time::Instant::now();
    let jobs = vault.run_pending_jobs(usize::MAX).await?;
    println!("worker ran {jobs} jobs in {:.0?}", started.elapsed());

    let page = vault.list_images(&alice, Default::default()).await?;
    for view in page.items {
        println!("{} {}", view.image.id, view.image.name);
        if let Some(original) = &view.original {
            println!(
                "  original   {}",
                directory.join(original.as_str()).display()
            );
        }
        for thumbnail in &view.thumbnails {
            let place = thumbnail.storage_key.as_ref().map_or_else(
                || "-".to_owned(),
                |key| directory.join(key.as_str()).display().to_string(),
            );
            println!(
                "  {:>4} px    {}x{} {:?} {}",
                thumbnail.max_height, thumbnail.width, thumbnail.height, thumbnail.status, place
            );
        }
    }
    Ok(())
}
