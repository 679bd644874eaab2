//! `admin thumbnails ...`, and what every admin command that creates thumbnail work does
//! with it before it exits.
//!
//! A job must outlive the command that started it. With a shared queue (Redis) it does:
//! the command queues it and the worker processes take it. The in-process queue
//! (`memory://`) dies with the command, and worse, the rows the command queued carry a
//! fresh lease (`claim_thumbnail_work` and uploads set `updated_at = now`), so a running
//! server's reconciler would leave them alone for a whole lease. So with the in-process
//! queue the command does the work itself, here, until its queue is empty, and exits
//! only when every row it queued is ready or failed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use imagevault::backends::redact_url;
use imagevault::core::repo::ThumbnailOverview;
use imagevault::core::{JobOutcome, Regenerate};
use imagevault::{PlanId, Vault, VaultError};

use crate::admin::{all_plans, find_user, resolve_plan};
use crate::cli::{Global, ThumbnailsCommand};
use crate::progress::Progress;
use crate::run::is_in_process_queue;
use crate::table;

/// Failure reasons `status` lists, most frequent first.
const STATUS_REASONS: usize = 20;
/// Example images `status` shows per failure reason.
const STATUS_EXAMPLES: usize = 3;
/// How long an idle in-process worker loop waits for a job before it checks whether all
/// the work is done.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// Thumbnail jobs a command runs at once with the in-process queue: as a `worker`'s.
const IN_PROCESS_CONCURRENCY: usize = imagevault::WorkerOptions::DEFAULT_CONCURRENCY;

/// Runs one `admin thumbnails` command.
pub(crate) async fn run(
    vault: &Vault,
    global: &Global,
    command: ThumbnailsCommand,
) -> anyhow::Result<()> {
    match command {
        ThumbnailsCommand::Status => {
            let overview = vault
                .repo()
                .thumbnail_overview(STATUS_REASONS, STATUS_EXAMPLES)
                .await
                .map_err(VaultError::from)
                .context("cannot read the thumbnails")?;
            let plans: HashMap<PlanId, String> = all_plans(vault.repo().as_ref())
                .await?
                .into_iter()
                .map(|plan| (plan.id, plan.name.to_string()))
                .collect();
            print!("{}", render_status(&overview, &plans));
        }
        ThumbnailsCommand::RetryFailed => {
            let reset = vault
                .bootstrap_retry_failed_thumbnails()
                .await
                .context("cannot retry the failed thumbnails")?;
            println!("{reset} failed thumbnail(s) set back to pending");
            finish_queued_work(vault, global).await?;
        }
        ThumbnailsCommand::Regenerate { plan, user } => {
            let repo = vault.repo().as_ref();
            let (target, whose) = match (plan, user) {
                (Some(plan), _) => {
                    let plan = resolve_plan(repo, &plan).await?;
                    (
                        Regenerate::Plan(plan.id),
                        format!("the users of the plan {}", plan.name),
                    )
                }
                (None, Some(user)) => {
                    let user = find_user(repo, &user).await?;
                    (
                        Regenerate::User(user.id),
                        format!("{:?}", user.username.as_str()),
                    )
                }
                // clap requires exactly one of the two.
                (None, None) => anyhow::bail!("give --plan or --user"),
            };
            let reset = vault
                .bootstrap_regenerate_thumbnails(target)
                .await
                .with_context(|| format!("cannot regenerate the thumbnails of {whose}"))?;
            println!("{reset} thumbnail(s) of {whose} set back to pending");
            finish_queued_work(vault, global).await?;
        }
    }
    Ok(())
}

/// The status report: totals, a table by plan, and the failures by reason.
fn render_status(overview: &ThumbnailOverview, plans: &HashMap<PlanId, String>) -> String {
    let plan_name = |plan: Option<PlanId>| match plan {
        Some(id) => plans.get(&id).cloned().unwrap_or_else(|| id.to_string()),
        None => "(no plan)".to_owned(),
    };
    let mut by_plan = overview.by_plan.clone();
    // By name, owners without a plan last.
    by_plan.sort_by_key(|counts| (counts.plan.is_none(), plan_name(counts.plan)));
    let (pending, ready, failed) = by_plan.iter().fold((0, 0, 0), |sum, counts| {
        (
            sum.0 + counts.pending,
            sum.1 + counts.ready,
            sum.2 + counts.failed,
        )
    });
    let mut out = format!("thumbnails: {pending} pending, {ready} ready, {failed} failed\n");
    if by_plan.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = by_plan
        .iter()
        .map(|counts| {
            vec![
                plan_name(counts.plan),
                counts.pending.to_string(),
                counts.ready.to_string(),
                counts.failed.to_string(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(
        &["OWNERS' PLAN", "PENDING", "READY", "FAILED"],
        &rows,
    ));
    if overview.failures.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = overview
        .failures
        .iter()
        .map(|group| {
            vec![
                group.count.to_string(),
                group
                    .reason
                    .clone()
                    .unwrap_or_else(|| "(no reason recorded)".to_owned()),
                group
                    .examples
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    let listed: u64 = overview.failures.iter().map(|group| group.count).sum();
    out.push_str("\nfailed thumbnails by reason");
    if listed < failed {
        out.push_str(&format!(
            " (the {STATUS_REASONS} most frequent; {} more failed under other reasons)",
            failed - listed
        ));
    }
    out.push_str(":\n");
    out.push_str(&table::render(
        &["COUNT", "REASON", "EXAMPLE IMAGES"],
        &rows,
    ));
    out.push_str("retry them with `admin thumbnails retry-failed`\n");
    out
}

/// After a command queued thumbnail work: with the in-process queue, does the work here
/// (see the module documentation); with a shared queue, says who will.
pub(crate) async fn finish_queued_work(vault: &Vault, global: &Global) -> anyhow::Result<()> {
    if !is_in_process_queue(&global.queue) {
        println!(
            "the thumbnail work is queued on {}: the worker processes make it; \
             `admin thumbnails status` shows how far they are",
            redact_url(&global.queue)
        );
        return Ok(());
    }
    let all_queued = AtomicBool::new(true);
    let summary = work_in_process(vault, &all_queued).await?;
    println!("{summary}");
    Ok(())
}

/// What [`work_in_process`] did.
#[derive(Debug, Default)]
pub(crate) struct WorkSummary {
    done: AtomicU64,
    given_up: AtomicU64,
}

impl std::fmt::Display for WorkSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given_up = self.given_up.load(Ordering::Relaxed);
        write!(
            f,
            "thumbnail work done in this process: {} job(s)",
            self.done.load(Ordering::Relaxed)
        )?;
        if given_up > 0 {
            write!(
                f,
                ", {given_up} given up (their thumbnails are failed: `admin thumbnails status` says why)"
            )?;
        }
        Ok(())
    }
}

/// Runs the jobs of the vault's in-process queue here, with progress, until the queue is
/// empty once `all_queued` is set (another task may still be queueing until then, as an
/// import does).
pub(crate) async fn work_in_process(
    vault: &Vault,
    all_queued: &AtomicBool,
) -> anyhow::Result<WorkSummary> {
    let summary = WorkSummary::default();
    let progress = Progress::new("thumbnails", "jobs", Some(0));
    let worker = async || -> anyhow::Result<()> {
        let queue = vault.queue();
        loop {
            let delivery = queue
                .reserve(vault.config().job_lease, IDLE_POLL)
                .await
                .map_err(VaultError::from)?;
            match delivery {
                Some(delivery) => {
                    let outcome = vault.handle_delivery(&delivery).await?;
                    match outcome {
                        JobOutcome::Completed => {
                            summary.done.fetch_add(1, Ordering::Relaxed);
                        }
                        JobOutcome::DeadLettered { .. } => {
                            summary.done.fetch_add(1, Ordering::Relaxed);
                            summary.given_up.fetch_add(1, Ordering::Relaxed);
                        }
                        // Back in the queue after its delay; still outstanding.
                        JobOutcome::Retrying { .. } => {}
                    }
                }
                None if all_queued.load(Ordering::Acquire) => {
                    // A job in flight elsewhere queues its follow-ups before it is
                    // acknowledged, so an empty queue means no work is left.
                    let depth = queue.depth().await.map_err(VaultError::from)?;
                    if depth.ready + depth.delayed + depth.in_flight == 0 {
                        return Ok(());
                    }
                }
                None => {}
            }
            let depth = queue.depth().await.map_err(VaultError::from)?;
            let done = summary.done.load(Ordering::Relaxed);
            progress.set(
                done,
                Some(done + depth.ready + depth.delayed + depth.in_flight),
            );
        }
    };
    let workers: Vec<_> = (0..IN_PROCESS_CONCURRENCY).map(|_| worker()).collect();
    for result in futures::future::join_all(workers).await {
        result.context("the thumbnail work stopped; the reconciler of a running server takes over once the job lease lapses")?;
    }
    progress.finish();
    Ok(summary)
}

/// Shares a [`WorkSummary`]'s counts for tests.
#[cfg(test)]
impl WorkSummary {
    fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.given_up.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use imagevault::core::repo::{FailureGroup, PlanThumbnailCounts};
    use imagevault::core::testing::images::png;
    use std::sync::Arc;

    use imagevault::{ImageId, MemoryJobQueue, MemoryRepo, NewUser, ObjectStorage, Upload};

    use super::*;

    #[test]
    fn status_lists_plans_by_name_and_failures_by_reason() {
        let mut plans = HashMap::new();
        plans.insert(PlanId::BASIC, "Basic".to_owned());
        let example = ImageId::new();
        let overview = ThumbnailOverview {
            by_plan: vec![
                PlanThumbnailCounts {
                    plan: None,
                    pending: 1,
                    ready: 0,
                    failed: 0,
                },
                PlanThumbnailCounts {
                    plan: Some(PlanId::BASIC),
                    pending: 2,
                    ready: 5,
                    failed: 3,
                },
            ],
            failures: vec![FailureGroup {
                reason: Some("corrupt".to_owned()),
                count: 2,
                examples: vec![example],
            }],
        };
        let text = render_status(&overview, &plans);
        assert!(
            text.starts_with("thumbnails: 3 pending, 5 ready, 3 failed\n"),
            "{text}"
        );
        let basic = text.find("\nBasic ").expect("a row for Basic");
        let none = text.find("\n(no plan) ").expect("a row for no plan");
        assert!(basic < none, "plans sorted by name: {text}");
        assert!(text.contains("1 more failed under other reasons"), "{text}");
        assert!(text.contains(&format!("corrupt  {example}")), "{text}");
        let empty = render_status(&ThumbnailOverview::default(), &plans);
        assert_eq!(empty, "thumbnails: 0 pending, 0 ready, 0 failed\n");
    }

    #[tokio::test]
    async fn in_process_work_makes_every_queued_thumbnail() {
        let vault = Vault::builder()
            .repo(Arc::new(MemoryRepo::new()))
            .storage(Arc::new(ObjectStorage::memory()))
            .queue(Arc::new(MemoryJobQueue::new(100)))
            .build()
            .unwrap();
        vault
            .bootstrap_user(
                NewUser::new("alice", "correct horse battery", Some(PlanId::BASIC)).unwrap(),
            )
            .await
            .unwrap();
        let alice = vault
            .authenticate_password("alice", "correct horse battery")
            .await
            .unwrap();
        for _ in 0..3 {
            vault
                .upload(&alice, Upload::file("a.png", png(640, 480)))
                .await
                .unwrap();
        }
        let summary = work_in_process(&vault, &AtomicBool::new(true))
            .await
            .unwrap();
        assert_eq!(summary.counts(), (3, 0));
        let totals = vault.repo().totals().await.unwrap();
        assert_eq!(totals.thumbnails_pending, 0);
        assert_eq!(totals.thumbnails_failed, 0);
    }
}
