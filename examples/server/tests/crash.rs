//! Recovery after a crash of the single process of the embedded default (SQLite, local
//! files, the in-process queue), with real processes of the example server and no
//! service at all.
//!
//! A server is killed (SIGKILL) while it makes the thumbnails of large JPEGs, with jobs
//! pending in its in-process queue, which die with it. Restarted with the default job lease
//! (5 minutes), it takes that work up at once: it registered as the holder of the work,
//! and its successor sees on the same machine that the holder's process is gone. Every
//! thumbnail is ready within [`READY_BOUND`], far below the lease; the time from restart
//! to ready is printed. No upload answered 201 is lost, and every stored file belongs to
//! a row or to an upload cut short by the kill.
//!
//! A second server on the same files while the first one runs shows the other side: a
//! live process's pending work is not taken by another process's reconciler.
//!
//! `IMAGEVAULT_CRASH_TEST_BINARY` runs the processes of another build of the server (for
//! example main's, to measure the time before this rule existed).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::{Local, Process, USER, all_images, create_user, upload};

/// How long after the restart every thumbnail must be ready: a correctness bound, far
/// below the default job lease (300 s) that was the only way back before leases named
/// their holder, and far above the time the work takes.
const READY_BOUND: Duration = Duration::from_secs(60);
/// The generated photos: 12 megapixels, so that a thumbnail takes a while.
const PHOTO_WIDTH: u32 = 4000;
const PHOTO_HEIGHT: u32 = 3000;
/// Uploads answered 201 before the kill, at most.
const UPLOADS: usize = 8;
/// The longest the test waits for the first server to have pending work under way.
const IN_FLIGHT_BOUND: Duration = Duration::from_secs(30);

/// The server binary: this build's, unless `IMAGEVAULT_CRASH_TEST_BINARY` names another.
fn binary() -> String {
    std::env::var("IMAGEVAULT_CRASH_TEST_BINARY").unwrap_or_else(|_| support::BINARY.into())
}

/// Starts `serve` of [`binary`] in `local`'s directory, logging at `log` (a level).
fn start(local: &Local, name: &str, log: &str) -> (Process, String) {
    let command = local.command(name, &["serve", "--bind", "127.0.0.1:0"]);
    let mut renamed = Command::new(binary());
    renamed
        .args(command.get_args())
        .current_dir(local.dir.path())
        .env_clear()
        .envs(
            command
                .get_envs()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        )
        .env("IMAGEVAULT_LOG", log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(
            std::fs::File::create(local.dir.path().join(format!("{name}.log"))).expect("log"),
        ));
    support::listening(
        Process {
            name: name.to_owned(),
            child: renamed.spawn().expect("spawn the server"),
        },
        || local.log(name),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// How many thumbnails of `images` are pending.
fn pending(images: &[Value]) -> usize {
    support::thumbnail_statuses(images)
        .iter()
        .filter(|status| *status == "pending")
        .count()
}

/// The storage key of a `/media/` URL.
fn media_key(url: &str) -> String {
    url.split_once("/media/")
        .map(|(_, key)| key.to_owned())
        .unwrap_or_else(|| panic!("not a media URL: {url}"))
}

/// Every file under `dir`, as storage keys relative to it.
fn stored_keys(dir: &Path) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(key) = path.strip_prefix(dir) {
                keys.insert(key.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    keys
}

/// Uploads photos one after the other until [`UPLOADS`] answered 201 or the server is
/// gone; returns the ids of those answered 201.
async fn upload_photos(http: &reqwest::Client, api: &str, photo: &[u8]) -> Vec<String> {
    let mut created = Vec::new();
    for n in 0..UPLOADS {
        let Ok(answer) = upload(http, api, &format!("photo-{n}.jpg"), photo).await else {
            break;
        };
        assert_eq!(answer.status(), StatusCode::CREATED, "upload {n}");
        let image: Value = answer.json().await.expect("image json");
        created.push(image["id"].as_str().expect("id").to_owned());
    }
    created
}

/// The first server is killed with thumbnails pending, a second one started on the same
/// files with the default job lease makes every one of them within the bound, and nothing
/// answered 201 is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_job_has_its_work_taken_up_at_once_after_a_restart() {
    let local = Local::new();
    let photo = imagevault::testing::images::jpeg(PHOTO_WIDTH, PHOTO_HEIGHT);
    let http = client();
    let (first, api) = start(&local, "first", "warn");
    create_user(&http, &api).await;

    let created = upload_photos(&http, &api, &photo).await;
    assert_eq!(created.len(), UPLOADS, "every upload answered 201");
    // Kill while the work is under way: some thumbnails pending, some perhaps ready.
    let deadline = Instant::now() + IN_FLIGHT_BOUND;
    let pending_at_kill = loop {
        let waiting = pending(&all_images(&http, &api).await);
        if waiting > 0 {
            break waiting;
        }
        assert!(
            Instant::now() < deadline,
            "no thumbnail was pending: the photos are too small to catch the work under way"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill();
    println!("killed the first server with {pending_at_kill} thumbnails pending");

    let restarted = Instant::now();
    let (_second, api) = start(&local, "second", "warn");
    let deadline = restarted + READY_BOUND;
    let images = loop {
        let images = all_images(&http, &api).await;
        let waiting = pending(&images);
        if waiting == 0 {
            break images;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} thumbnails still pending {:?} after the restart (default job lease \
             300 s); {}",
            READY_BOUND,
            local.log("second")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "restart to every thumbnail ready: {:.2} s ({pending_at_kill} pending at the kill)",
        restarted.elapsed().as_secs_f64()
    );

    let ids: BTreeSet<&str> = images
        .iter()
        .map(|image| image["id"].as_str().expect("id"))
        .collect();
    for id in &created {
        assert!(ids.contains(id.as_str()), "image {id} answered 201 is lost");
    }
    let statuses = support::thumbnail_statuses(&images);
    assert!(
        statuses.iter().all(|status| status == "ready"),
        "every thumbnail ready, none failed: {statuses:?}"
    );

    // Every row's file is there, and every file belongs to a row: a kill between storing
    // a thumbnail and marking it ready could leave one for the sweeper, never lose one.
    let mut referenced = BTreeSet::new();
    for image in &images {
        referenced.insert(media_key(image["original"].as_str().expect("original url")));
        for thumbnail in image["thumbnails"].as_array().expect("thumbnails") {
            referenced.insert(media_key(thumbnail["url"].as_str().expect("thumbnail url")));
        }
    }
    let stored = stored_keys(&local.dir.path().join("imagevault-data/media"));
    let missing: Vec<&String> = referenced.difference(&stored).collect();
    assert!(missing.is_empty(), "files of rows are missing: {missing:?}");
    let orphans: Vec<&String> = stored.difference(&referenced).collect();
    println!("orphan files after the restart: {}", orphans.len());
    assert!(
        orphans
            .iter()
            .all(|key| key.starts_with("thumbnail/") || key.starts_with("imageupload/")),
        "only stored objects under the media prefixes: {orphans:?}"
    );
    assert!(
        orphans.iter().all(|key| key.starts_with("thumbnail/")),
        "an original without a row: every upload here answered before the kill: {orphans:?}"
    );
}

/// Two servers on one SQLite file and one media folder: while the first runs, with its
/// thumbnails pending, the second's reconciler (which runs at its start) takes none of its
/// work; the second's log says so, and the first finishes its own work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_does_not_take_the_work_of_a_live_one() {
    let local = Local::new();
    let photo = imagevault::testing::images::jpeg(PHOTO_WIDTH, PHOTO_HEIGHT);
    let http = client();
    let (_first, api) = start(&local, "first", "warn");
    create_user(&http, &api).await;
    let created = upload_photos(&http, &api, &photo).await;
    assert_eq!(created.len(), UPLOADS, "every upload answered 201");
    let waiting = pending(&all_images(&http, &api).await);
    assert!(waiting > 0, "no thumbnail was pending");

    // At info, the second server logs what its reconciler queues.
    let (second, _) = start(&local, "second", "info");
    // The second server's first reconciler pass runs at its start; wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(local.dir.path().join("second.log"))
        .unwrap_or_default()
        .contains("serving")
    {
        assert!(Instant::now() < deadline, "{}", local.log("second"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.kill();
    let log = std::fs::read_to_string(local.dir.path().join("second.log")).unwrap_or_default();
    assert!(
        !log.contains("reconciler queued thumbnail work"),
        "the second server took work the first one holds:\n{log}"
    );

    let deadline = Instant::now() + READY_BOUND;
    loop {
        let waiting = pending(&all_images(&http, &api).await);
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} thumbnails of {USER} still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
