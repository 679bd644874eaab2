//! The [`Repo`] conformance suite, one module per part of the port.
//!
//! A backend runs it as one test per check with
//! [`repo_conformance_tests!`](crate::repo_conformance_tests), so that each broken rule
//! shows as a failing test of its own; [`run_all`] and [`run_alone`] run the same checks
//! in sequence.
//!
//! Every check works on a shared repository that may already hold other rows: the built-in
//! plans, rows of other checks and of concurrent runs of this suite. So each check makes
//! its own plans and users under random names, never asserts a global count, and only
//! compares lists it owns: images and links are listed per owner, and for the global
//! plan and user lists a check looks at its own rows only, which it places at a random
//! far-future time so that no other rows lie between them. The checks of the `alone` list
//! are the exception: each counts or changes every user's rows, so it needs a repository
//! no one else writes to meanwhile.
//!
//! Timestamps have microsecond precision, as the [`Repo`] contract requires of callers.
//! Checks delete the users and plans they made when they pass, and the `alone` checks
//! count and change every user's rows: run the suite against test backends only. As the
//! rest of [`testing`](crate::testing), the list of checks is not semver-stable.

use std::future::Future;
use std::pin::Pin;

use crate::Repo;

pub mod admin;
pub mod bulk;
pub mod changes;
pub mod concurrency;
mod fixtures;
pub mod holders;
pub mod images;
mod keyset;
pub mod links;
pub mod plans;
pub mod quotas;
pub mod sessions;
pub mod thumbnails;
pub mod tokens;
pub mod users;
pub mod webp;

/// The future of one check running on a repository.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One check of the suite, as [`repo_conformance_tests!`](crate::repo_conformance_tests)
/// hands it to a runner: a runner opens a repository, awaits the check on it, and cleans up.
pub type Check = for<'a> fn(&'a dyn Repo) -> CheckFuture<'a>;

/// Expands the suite into one `#[tokio::test]` per check, named after the check.
///
/// Each test gets a repository of its own, from one of two forms:
/// - an expression, evaluated in each test, that is a future of a [`Repo`]:
///   `repo_conformance_tests!(async { make_repo().await })`;
/// - `runner = f`, where `f` is an async function (or closure) taking a
///   [`Check`](crate::testing::repo::Check): it opens a repository, awaits the check on it
///   and cleans up after it, or returns without calling the check to skip it.
///
/// Prefixed with `alone,` it expands the checks that count or change every user's rows
/// instead: their repository must be one no one else writes to meanwhile. A backend
/// whose form gives each test a fresh repository invokes both.
///
/// Invoke it inside a module named after the backend, so that `cargo test` shows
/// `memory::plans_list_newest_first`. The tests use the multi-threaded tokio runtime, so
/// the crate needs `tokio` (features `macros` and `rt-multi-thread`) in its dev-dependencies.
///
/// ```
/// mod memory {
///     use imagevault_core::{MemoryRepo, repo_conformance_tests};
///
///     repo_conformance_tests!(async { MemoryRepo::new() });
///     repo_conformance_tests!(alone, async { MemoryRepo::new() });
/// }
///
/// mod with_a_runner {
///     use imagevault_core::testing::repo::Check;
///
///     /// Opens a repository for one check (here in memory; a database backend would create
///     /// a database, and drop it after the check).
///     async fn run(check: Check) {
///         let repo = imagevault_core::MemoryRepo::new();
///         check(&repo).await;
///     }
///
///     imagevault_core::repo_conformance_tests!(runner = run);
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! repo_conformance_tests {
    (alone, runner = $runner:expr) => {
        $crate::repo_conformance_tests!(@list tests alone ($runner));
    };
    (alone, $make:expr) => {
        $crate::repo_conformance_tests!(@list tests alone (
            |check: $crate::testing::repo::Check| async move {
                let repo = $make.await;
                check(&repo).await;
            }
        ));
    };
    (runner = $runner:expr) => {
        $crate::repo_conformance_tests!(@list tests shared ($runner));
    };
    ($make:expr) => {
        $crate::repo_conformance_tests!(@list tests shared (
            |check: $crate::testing::repo::Check| async move {
                let repo = $make.await;
                check(&repo).await;
            }
        ));
    };

    // The one list of checks: `shared` holds on a repository others write to meanwhile,
    // `alone` needs one to itself. `$action` is what to do with one of the lists.
    (@list $action:ident $which:ident $args:tt) => {
        $crate::repo_conformance_tests!(@$action $which $args
            shared [
                admin::ping_succeeds,
                admin::pool_stats_are_consistent,
                plans::builtin_plans_exist,
                plans::plan_create_get_update_delete,
                plans::plan_names_are_unique,
                plans::plan_in_use_cannot_be_deleted,
                plans::plans_list_newest_first,
                plans::plan_user_counts_count_each_plan,
                users::user_create_get_update_delete,
                users::user_conflicts,
                users::users_list_newest_first,
                users::begin_user_deletion_locks_the_account,
                users::search_users_by_keyset,
                users::search_users_takes_text_literally,
                users::delete_user_removes_everything_of_theirs,
                tokens::tokens_find_and_revoke,
                tokens::find_token_owner_sees_current_plan,
                tokens::token_expiry_round_trips,
                tokens::delete_user_tokens_revokes_only_theirs,
                tokens::user_tokens_list_newest_first,
                tokens::touch_token_records_use,
                images::image_round_trips,
                images::image_metadata_removed_round_trips,
                images::image_insert_needs_owner,
                images::images_are_owner_scoped,
                images::images_list_by_keyset,
                images::images_list_is_stable_under_inserts,
                images::delete_image_removes_thumbnails_and_links,
                images::find_original_sees_current_plan,
                images::referenced_keys_finds_originals_and_thumbnails,
                images::usage_counts_originals,
                thumbnails::ensure_thumbnails_inserts_missing_rows,
                thumbnails::start_thumbnail_attempt_renews_pending_rows,
                thumbnails::complete_thumbnail_succeeds_once,
                thumbnails::set_placeholder_stores_and_replaces,
                thumbnails::fail_thumbnails_only_fails_pending_rows,
                thumbnails::claim_work_for_owner,
                thumbnails::claim_work_for_lapsed_leases,
                thumbnails::claim_work_respects_limit,
                thumbnails::claim_work_for_plan,
                webp::plan_thumbnail_formats_round_trip,
                webp::webp_keys_are_attached_kept_and_referenced,
                webp::claim_reopens_ready_rows_for_webp,
                links::links_insert_get_update_delete,
                links::links_list_by_keyset,
                links::find_link_sees_image_and_current_plan,
                changes::link_changes_are_reported,
                changes::account_changes_are_reported,
                sessions::sessions_insert_find_touch_delete,
                sessions::session_insert_needs_a_live_user,
                sessions::delete_user_sessions_ends_only_theirs,
                sessions::delete_ended_sessions_by_idle_and_expiry,
                sessions::user_deletion_ends_sessions,
                sessions::a_new_password_revokes_tokens_and_sessions,
                concurrency::concurrent_image_inserts,
                concurrency::concurrent_creates_of_one_name,
                quotas::quota_refuses_at_the_boundary_and_delete_frees,
                quotas::quota_overrides_win,
                quotas::concurrent_inserts_stop_at_the_limit,
                admin::totals_count_the_checks_rows,
                admin::all_images_list_by_keyset_and_filter,
                admin::reset_thumbnails_of_an_image_owner_or_plan,
                bulk::thumbnail_overview_counts_by_plan_and_reason,
                bulk::find_image_by_digest_is_owner_scoped,
                holders::holders_register_heartbeat_and_remove,
                holders::live_holders_keep_their_work,
            ]
            alone [
                admin::totals_are_exact,
                admin::reset_failed_thumbnails_resets_only_failed_rows,
                sessions::ended_sessions_are_counted,
                holders::dead_holders_work_is_claimed_at_once,
            ]
        );
    };
    (@tests shared $args:tt shared [$($checks:tt)*] alone $ignored:tt) => {
        $crate::repo_conformance_tests!(@each test $args [$($checks)*]);
    };
    (@tests alone $args:tt shared $ignored:tt alone [$($checks:tt)*]) => {
        $crate::repo_conformance_tests!(@each test $args [$($checks)*]);
    };
    (@run shared $args:tt shared [$($checks:tt)*] alone $ignored:tt) => {
        $crate::repo_conformance_tests!(@each run $args [$($checks)*]);
    };
    (@run alone $args:tt shared $ignored:tt alone [$($checks:tt)*]) => {
        $crate::repo_conformance_tests!(@each run $args [$($checks)*]);
    };
    (@each test ($runner:expr) [$($module:ident :: $check:ident,)*]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                fn check(repo: &dyn $crate::Repo) -> $crate::testing::repo::CheckFuture<'_> {
                    ::std::boxed::Box::pin($crate::testing::repo::$module::$check(repo))
                }
                ($runner)(check).await;
            }
        )*
    };
    (@each run ($repo:expr) [$($module:ident :: $check:ident,)*]) => {
        $( $crate::testing::repo::$module::$check($repo).await; )*
    };
}

/// Runs every check that holds on a repository others write to meanwhile, one after the
/// other: the same checks as [`repo_conformance_tests!`](crate::repo_conformance_tests)
/// without `alone`. Several runs may share one repository.
pub async fn run_all(repo: &dyn Repo) {
    crate::repo_conformance_tests!(@list run shared (repo));
}

/// Runs the checks that need a repository no one else writes to meanwhile (each changes
/// or counts every user's rows): call it on a fresh repository of its own, not alongside
/// [`run_all`].
pub async fn run_alone(repo: &dyn Repo) {
    crate::repo_conformance_tests!(@list run alone (repo));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    mod memory {
        crate::repo_conformance_tests!(async { crate::MemoryRepo::new() });
        crate::repo_conformance_tests!(alone, async { crate::MemoryRepo::new() });
    }

    /// The checks must hold on a repository shared with concurrent runs of the suite.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_repo_conforms_when_shared() {
        let repo = Arc::new(crate::MemoryRepo::new());
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let repo = Arc::clone(&repo);
                tokio::spawn(async move { super::run_all(repo.as_ref()).await })
            })
            .collect();
        for run in runs {
            run.await.expect("a concurrent run of the suite failed");
        }
    }

    /// The checks that need a repository to themselves, in sequence on one.
    #[tokio::test]
    async fn memory_repo_conforms_alone() {
        super::run_alone(&crate::MemoryRepo::new()).await
    }
}
