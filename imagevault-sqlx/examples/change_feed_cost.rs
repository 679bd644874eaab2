//! Run with `cargo run -p imagevault-sqlx --features sqlite --example change_feed_cost`
//!
//! What the SQLite change feed's polling costs: the process's CPU time per second of wall
//! time with an idle repository, before and after its feeds are started, and with the
//! feeds started while another connection commits writes that the feeds do not follow
//! (each of which makes the next poll read the counters). Linux only: CPU time is read
//! from `/proc/self/task/*/schedstat`.

use std::time::{Duration, Instant};

use imagevault_core::repo::{LinkRepo as _, UserRepo as _};
use imagevault_sqlx::SqliteRepo;
use sqlx::Connection as _;

/// How long each phase is measured.
const PHASE: Duration = Duration::from_secs(10);
/// Writes a second committed by another connection in the last phase.
const UNFOLLOWED_WRITES_PER_SECOND: u32 = 100;

/// The CPU time all threads of this process have run, from the kernel's scheduler
/// statistics (nanoseconds).
fn process_cpu() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task (Linux only)");
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// CPU time per second of wall time while `during` runs for [`PHASE`].
async fn cpu_per_second<F: std::future::Future<Output = ()>>(during: F) -> Duration {
    let (cpu, wall) = (process_cpu(), Instant::now());
    let _ = tokio::time::timeout(PHASE, during).await;
    (process_cpu() - cpu).div_f64(wall.elapsed().as_secs_f64())
}

/// Commits [`UNFOLLOWED_WRITES_PER_SECOND`] inserts a second on `other`, into a table the
/// feeds do not follow: `data_version` moves, so each poll reads the counters, which stay
/// as they were.
async fn unfollowed_writes(other: &mut sqlx::SqliteConnection) {
    let mut every = tokio::time::interval(Duration::from_secs(1) / UNFOLLOWED_WRITES_PER_SECOND);
    loop {
        every.tick().await;
        sqlx::query("INSERT INTO unfollowed (n) VALUES (1)")
            .execute(&mut *other)
            .await
            .expect("an unfollowed write");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cost.db").display());
    let repo = SqliteRepo::builder(&url)
        .migrate_on_connect(true)
        .build()
        .await?;
    // Another process, in effect: a connection of its own.
    let mut other = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("CREATE TABLE unfollowed (n INTEGER NOT NULL)")
        .execute(&mut other)
        .await?;

    let idle = cpu_per_second(std::future::pending()).await;
    let writing = cpu_per_second(unfollowed_writes(&mut other)).await;

    let (links, accounts) = (repo.link_changes(), repo.account_changes());
    let epoch = || links.as_ref().and_then(|feed| feed.epoch());
    let connecting = Instant::now();
    while epoch().is_none() {
        assert!(connecting.elapsed() < PHASE, "the feed did not connect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connected = epoch();
    let idle_polling = cpu_per_second(std::future::pending()).await;
    let writing_polling = cpu_per_second(unfollowed_writes(&mut other)).await;
    assert_eq!(
        epoch(),
        connected,
        "writes the feeds do not follow must not move them"
    );
    drop(accounts);

    let per_second = |cpu: Duration| format!("{:.3} ms CPU/s", cpu.as_secs_f64() * 1e3);
    let share = |cpu: Duration| format!("{:.3} % of one core", cpu.as_secs_f64() * 100.0);
    println!(
        "bound {:?}; each phase {PHASE:?}; CPU of the whole process",
        SqliteRepo::CHANGE_FEED_STALENESS
    );
    println!("idle, no feed:          {}", per_second(idle));
    println!("idle, feeds polling:    {}", per_second(idle_polling));
    println!(
        "{UNFOLLOWED_WRITES_PER_SECOND} unfollowed commits/s, no feed:       {}",
        per_second(writing)
    );
    println!(
        "{UNFOLLOWED_WRITES_PER_SECOND} unfollowed commits/s, feeds polling: {}",
        per_second(writing_polling)
    );
    let idle_cost = idle_polling.saturating_sub(idle);
    let busy_cost = writing_polling.saturating_sub(writing);
    println!(
        "the polling costs {} ({}) idle, {} ({}) while another connection commits",
        per_second(idle_cost),
        share(idle_cost),
        per_second(busy_cost),
        share(busy_cost)
    );
    Ok(())
}
