//! The core `Repo` conformance suite on SQLite (a temporary file, and in memory) and on
//! PostgreSQL (a fresh database per test on the server of `IMAGEVAULT_TEST_POSTGRES_URL`),
//! expanded by `imagevault_core::repo_conformance_tests!` into one test per check and
//! backend (`postgres::plans_list_newest_first`), plus what the suite cannot check from
//! outside: migrations applied twice, writers on many threads, constraint violations
//! enforced by the schema itself, and on both backends the change feeds and the vault's
//! caches with changes made elsewhere (a second repository on the same database, as a
//! second process would open it, and plain SQL), within each backend's stated bound.
//!
//! Without a reachable PostgreSQL server its tests print why and pass, unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`, when they fail.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use imagevault_core::imaging::ImageFormat;
use imagevault_core::page::KeysetQuery;
use imagevault_core::repo::{Conflict, ImageRepo as _, PlanRepo as _, RepoError, UserRepo as _};
use imagevault_core::testing::repo::{Check, run_all};
use imagevault_core::{
    Account, ExpiringLink, ExpirySeconds, Image, ImageId, ImageName, ImageRecord, PasswordHash,
    Plan, PlanId, PlanName, Repo, Storage, StorageKey, Thumbnail, ThumbnailHeight,
    ThumbnailHeights, User, UserId, Username, Vault, VaultError,
};
use imagevault_sqlx::{PostgresRepo, SqliteRepo};
use sqlx::Connection as _;

// ---------------------------------------------------------------------------------------
// Backends under test
// ---------------------------------------------------------------------------------------

/// A migrated SQLite repository in a fresh temporary file (kept alive by the `TempDir`).
async fn sqlite() -> (SqliteRepo, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let repo = SqliteRepo::builder(sqlite_url(&dir))
        .migrate_on_connect(true)
        .build()
        .await
        .expect("opening and migrating a new SQLite file");
    (repo, dir)
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("imagevault.db").display()
    )
}

/// The server the PostgreSQL tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("IMAGEVAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let prefix = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

/// A fresh, empty database on the test server, dropped again by [`TestDatabase::drop`].
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates the database; `None` (after printing why) when the server cannot be
    /// reached and services are not required.
    async fn create() -> Option<Self> {
        let admin_url = postgres_admin_url();
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => {
                let reason = format!("PostgreSQL at {admin_url} is unreachable: {error}");
                imagevault_core::testing::skip_unless_required(&reason);
                return None;
            }
        };
        let name = format!("imagevault_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database, best effort.
    async fn drop(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let dropped = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
            if let Err(error) = dropped {
                eprintln!("could not drop the test database {}: {error}", self.name);
            }
            let _ = admin.close().await;
        }
    }
}

/// Runs `check` on a migrated repository in a fresh PostgreSQL database, with the
/// database's URL, then drops the database whether the check passed or not.
async fn with_postgres<F, Fut>(check: F)
where
    F: FnOnce(PostgresRepo, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_postgres_pool(8, check).await;
}

/// [`with_postgres`] with a pool of `max_connections`.
async fn with_postgres_pool<F, Fut>(max_connections: u32, check: F)
where
    F: FnOnce(PostgresRepo, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let repo = PostgresRepo::builder(database.url.clone())
        .max_connections(max_connections)
        .migrate_on_connect(true)
        .build()
        .await;
    let outcome = match repo {
        Ok(repo) => {
            let closer = repo.clone();
            let outcome = tokio::spawn(check(repo, database.url.clone())).await;
            closer.close().await;
            outcome.map_err(|error| error.into_panic())
        }
        Err(error) => Err(
            Box::new(format!("connecting to the test database failed: {error:?}"))
                as Box<dyn std::any::Any + Send>,
        ),
    };
    database.drop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

// ---------------------------------------------------------------------------------------
// The conformance suite
// ---------------------------------------------------------------------------------------

/// Runs one check on a migrated SQLite repository in a fresh temporary file.
async fn on_sqlite_file(check: Check) {
    let (repo, _dir) = sqlite().await;
    check(&repo).await;
}

/// A migrated SQLite repository in memory.
async fn sqlite_in_memory() -> SqliteRepo {
    SqliteRepo::builder("sqlite::memory:")
        .migrate_on_connect(true)
        .build()
        .await
        .expect("opening an in-memory SQLite database")
}

/// Runs one check on a migrated repository in a fresh PostgreSQL database.
async fn on_postgres(check: Check) {
    with_postgres(|repo, _| async move { check(&repo).await }).await;
}

/// The suite, one test per check, each on a fresh SQLite file.
mod sqlite {
    imagevault_core::repo_conformance_tests!(runner = super::on_sqlite_file);
    imagevault_core::repo_conformance_tests!(alone, runner = super::on_sqlite_file);
}

/// The suite, one test per check, each on a fresh in-memory SQLite database.
mod sqlite_memory {
    imagevault_core::repo_conformance_tests!(super::sqlite_in_memory());
    imagevault_core::repo_conformance_tests!(alone, super::sqlite_in_memory());
}

/// The suite, one test per check, each on a fresh PostgreSQL database.
mod postgres {
    imagevault_core::repo_conformance_tests!(runner = super::on_postgres);
    imagevault_core::repo_conformance_tests!(alone, runner = super::on_postgres);
}

/// The suite's checks hold on a file shared by concurrent runs of the suite, through two
/// repositories (as two processes would open it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms_when_shared() {
    let (first, dir) = sqlite().await;
    let second = SqliteRepo::connect(&sqlite_url(&dir))
        .await
        .expect("opening the file a second time");
    let runs = [first, second].map(|repo| tokio::spawn(async move { run_all(&repo).await }));
    for run in runs {
        run.await.expect("a concurrent run of the suite failed");
    }
}

/// The suite's checks hold one after the other on one database, among each other's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms_on_one_database() {
    with_postgres(|repo, _| async move { run_all(&repo).await }).await;
}

// ---------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------

/// After migrating (twice, and again from a second connection) the built-in plans are
/// exactly `Plan::builtin()`, once each.
async fn builtin_plans_after_migrating_again(repo: &dyn Repo) {
    let plans = repo
        .list_plans(&KeysetQuery::first(1000))
        .await
        .expect("list_plans failed");
    for builtin in Plan::builtin() {
        let stored: Vec<&Plan> = plans.iter().filter(|plan| plan.id == builtin.id).collect();
        assert_eq!(
            stored,
            [&builtin],
            "the built-in plan must be stored once, as is"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_apply_twice() {
    let (repo, dir) = sqlite().await;
    repo.migrate().await.expect("migrating again");
    repo.migrate().await.expect("migrating a third time");
    let again = SqliteRepo::builder(sqlite_url(&dir))
        .migrate_on_connect(true)
        .build()
        .await
        .expect("reopening with migrate_on_connect");
    builtin_plans_after_migrating_again(&repo).await;
    builtin_plans_after_migrating_again(&again).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_apply_twice() {
    with_postgres(|repo, url| async move {
        repo.migrate().await.expect("migrating again");
        let again = PostgresRepo::builder(url)
            .migrate_on_connect(true)
            .build()
            .await
            .expect("reconnecting with migrate_on_connect");
        builtin_plans_after_migrating_again(&repo).await;
        builtin_plans_after_migrating_again(&again).await;
        again.close().await;
    })
    .await;
}

/// Image rows are decoded without sqlx's per-value type check once the first row's column
/// types are checked, so a schema that drifted from the code's (here `images.size` turned
/// into text, whose bytes would decode as a nonsense number) must still fail the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_image_reads_reject_columns_of_another_type() {
    with_postgres(|repo, url| async move {
        let owner = user(None);
        repo.create_user(&owner).await.expect("creating the owner");
        let record = upload(owner.id);
        repo.insert_image(&record)
            .await
            .expect("inserting an image");
        let mut connection = sqlx::PgConnection::connect(&url).await.expect("connecting");
        sqlx::query("ALTER TABLE images ALTER COLUMN size TYPE text USING size::text")
            .execute(&mut connection)
            .await
            .expect("changing the column's type");
        let _ = connection.close().await;

        let query = KeysetQuery {
            anchor: None,
            limit: 20,
        };
        let listed = repo.list_images(owner.id, &query).await;
        let error = format!(
            "{:?}",
            listed.expect_err("a page read from a text size column")
        );
        assert!(error.contains("column 6 (size) is of type TEXT"), "{error}");
        let fetched = repo.get_image(owner.id, record.image.id).await;
        assert!(fetched.is_err(), "{fetched:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Concurrent writers
// ---------------------------------------------------------------------------------------

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn height(pixels: u32) -> ThumbnailHeight {
    ThumbnailHeight::new(pixels).expect("a valid height")
}

fn user(plan: Option<PlanId>) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(&format!("user-{}", uuid::Uuid::new_v4().simple()))
            .expect("a valid username"),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        is_admin: false,
        plan_id: plan,
        quota: Default::default(),
        created_at: now(),
    }
}

fn upload(owner: UserId) -> ImageRecord {
    let image = Image {
        id: ImageId::new(),
        owner,
        name: ImageName::parse("photo.jpg").expect("a valid name"),
        format: ImageFormat::Jpeg,
        width: 1600,
        height: 1200,
        size: 123_456,
        storage_key: StorageKey::new_original(ImageFormat::Jpeg),
        created_at: now(),
        digest: None,
        placeholder: None,
        metadata_removed: None,
    };
    let thumbnails = [200, 400]
        .into_iter()
        .map(|pixels| Thumbnail::pending(image.id, height(pixels), 1600, 1200, image.created_at))
        .collect();
    ImageRecord { image, thumbnails }
}

/// 32 tasks on a multi-threaded runtime, split over `repos`, each upload one image for
/// one user; afterwards the user has exactly those 32 images, each with both thumbnails.
async fn inserts_from_32_tasks<R: Repo + Clone>(repos: &[R]) {
    let owner = user(Some(PlanId::PREMIUM));
    repos[0]
        .create_user(&owner)
        .await
        .expect("create_user failed");
    let tasks: Vec<_> = (0..32)
        .map(|index| {
            let repo = repos[index % repos.len()].clone();
            let record = upload(owner.id);
            tokio::spawn(async move {
                repo.insert_image(&record)
                    .await
                    .unwrap_or_else(|error| panic!("a concurrent insert_image failed: {error:?}"));
                record
            })
        })
        .collect();
    let mut expected = Vec::new();
    for task in tasks {
        expected.push(task.await.expect("an insert task panicked"));
    }
    let mut listed = repos[0]
        .list_images(owner.id, &KeysetQuery::first(100))
        .await
        .expect("list_images failed");
    listed.sort_by_key(|record| record.image.id);
    expected.sort_by_key(|record| record.image.id);
    assert_eq!(
        listed, expected,
        "32 concurrent uploads must all be stored, once each, with their thumbnails"
    );
    assert!(
        repos[0]
            .delete_user(owner.id)
            .await
            .expect("delete_user failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_inserts_from_32_tasks() {
    let (repo, dir) = sqlite().await;
    inserts_from_32_tasks(std::slice::from_ref(&repo)).await;
    // Two repositories on one file compete for SQLite's lock, as two processes would.
    let other = SqliteRepo::connect(&sqlite_url(&dir))
        .await
        .expect("opening the file a second time");
    inserts_from_32_tasks(&[repo, other]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_inserts_from_32_tasks() {
    with_postgres(|repo, _| async move { inserts_from_32_tasks(&[repo]).await }).await;
}

/// Claimers on several threads at one `now` never claim an image twice, and together
/// (with a last sequential pass) claim every image with work.
async fn concurrent_claims<R: Repo + Clone>(repo: R) {
    use imagevault_core::repo::WorkScope;
    use std::collections::HashSet;

    let owner = user(Some(PlanId::PREMIUM));
    repo.create_user(&owner).await.expect("create_user failed");
    let mut all = HashSet::new();
    for _ in 0..40 {
        let mut record = upload(owner.id);
        record.thumbnails.clear();
        repo.insert_image(&record)
            .await
            .expect("insert_image failed");
        all.insert(record.image.id);
    }
    let claim_at = now();
    let stale_before = claim_at - chrono::TimeDelta::minutes(5);
    let claim = move |repo: R| async move {
        let mut claimed = Vec::new();
        loop {
            let batch = repo
                .claim_thumbnail_work(WorkScope::Owner(owner.id), claim_at, stale_before, 3, None)
                .await
                .expect("claim_thumbnail_work failed");
            if batch.is_empty() {
                break claimed;
            }
            claimed.extend(batch);
        }
    };
    let claimers: Vec<_> = (0..4).map(|_| tokio::spawn(claim(repo.clone()))).collect();
    let mut claimed: Vec<ImageId> = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.expect("a claimer panicked"));
    }
    claimed.extend(claim(repo.clone()).await);
    let unique: HashSet<ImageId> = claimed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "an image was claimed twice at one `now`"
    );
    assert_eq!(
        unique, all,
        "the claimers together must claim every image with work"
    );
    for id in all {
        let record = repo
            .get_image_by_id(id)
            .await
            .expect("get_image_by_id failed")
            .expect("the image exists");
        assert_eq!(record.thumbnails.len(), 2, "one row per Premium height");
    }
    repo.delete_user(owner.id)
        .await
        .expect("delete_user failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_claims() {
    let (repo, _dir) = sqlite().await;
    concurrent_claims(repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_claims() {
    with_postgres(|repo, _| async move { concurrent_claims(repo).await }).await;
}

// ---------------------------------------------------------------------------------------
// Constraints
// ---------------------------------------------------------------------------------------

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, RepoError>, expected: Conflict) {
    match result {
        Err(RepoError::Conflict(conflict)) if conflict == expected => {}
        other => panic!("expected Conflict::{expected:?}, got {other:?}"),
    }
}

/// The schema's own constraints come back as the core's conflicts or as backend errors,
/// never as panics, and leave nothing behind.
async fn constraints_become_errors(repo: Arc<dyn Repo>) {
    let plan = Plan {
        id: PlanId::new(),
        name: PlanName::parse(&format!("plan-{}", uuid::Uuid::new_v4().simple()))
            .expect("a valid name"),
        thumbnail_heights: ThumbnailHeights::new([300]).expect("valid heights"),
        thumbnail_formats: Default::default(),
        original_link: true,
        expiring_links: true,
        quota: Default::default(),
        strip_metadata: false,
        created_at: now(),
    };
    repo.create_plan(&plan).await.expect("create_plan failed");
    let owner = user(Some(plan.id));
    repo.create_user(&owner).await.expect("create_user failed");

    // The foreign key itself refuses to delete a plan in use (RESTRICT).
    assert_conflict(repo.delete_plan(plan.id).await, Conflict::PlanInUse);
    assert_eq!(
        repo.get_plan(plan.id).await.expect("get_plan failed"),
        Some(plan.clone()),
        "a plan in use must survive delete_plan"
    );

    // A link to another user's existing image is a missing reference.
    let stranger = user(Some(PlanId::ENTERPRISE));
    repo.create_user(&stranger)
        .await
        .expect("create_user failed");
    let theirs = upload(stranger.id);
    repo.insert_image(&theirs)
        .await
        .expect("insert_image failed");
    let hijack = ExpiringLink::new(
        owner.id,
        theirs.image.id,
        theirs.image.format,
        ExpirySeconds::new(300).expect("a valid expiry"),
        now(),
    );
    assert_conflict(repo.insert_link(&hijack).await, Conflict::MissingReference);
    assert!(
        repo.find_link(&hijack.key)
            .await
            .expect("find_link failed")
            .is_none(),
        "a refused link must not be stored"
    );

    // A duplicate id is no caller's conflict: a backend error, and nothing changes.
    let clone = User {
        username: Username::parse(&format!("other-{}", uuid::Uuid::new_v4().simple()))
            .expect("a valid username"),
        ..owner.clone()
    };
    match repo.create_user(&clone).await {
        Err(RepoError::Backend { .. }) => {}
        other => panic!("a duplicate user id must be a backend error, got {other:?}"),
    }
    assert!(
        repo.find_user_by_username(&clone.username)
            .await
            .expect("find_user_by_username failed")
            .is_none()
    );
    match repo.insert_image(&theirs).await {
        Err(RepoError::Backend { .. }) => {}
        other => panic!("a duplicate image id must be a backend error, got {other:?}"),
    }

    // Two rows for one height in one upload: all or nothing.
    let mut doubled = upload(owner.id);
    let extra = doubled.thumbnails[0].clone();
    doubled.thumbnails.push(extra);
    assert!(repo.insert_image(&doubled).await.is_err());
    assert!(
        repo.get_image_by_id(doubled.image.id)
            .await
            .expect("get_image_by_id failed")
            .is_none(),
        "a refused upload must leave no image behind"
    );

    // A size beyond what the column holds is refused, not wrapped.
    let mut huge = upload(owner.id);
    huge.image.size = u64::MAX;
    assert!(matches!(
        repo.insert_image(&huge).await,
        Err(RepoError::Backend { .. })
    ));

    for id in [owner.id, stranger.id] {
        repo.delete_user(id).await.expect("delete_user failed");
    }
    assert!(repo.delete_plan(plan.id).await.expect("delete_plan failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_constraints_become_errors() {
    let (repo, _dir) = sqlite().await;
    constraints_become_errors(Arc::new(repo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_constraints_become_errors() {
    with_postgres(|repo, _| async move { constraints_become_errors(Arc::new(repo)).await }).await;
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@host/db?sslmode=disable", "x"),
        "postgres://u:p@host/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://host", "x"), "postgres://host/x");
}

// ---------------------------------------------------------------------------------------
// Change feeds across processes
// ---------------------------------------------------------------------------------------

/// How long these tests wait for a feed to connect or reconnect.
const FEED_LIMIT: Duration = Duration::from_secs(15);

/// What the tests allow beyond a backend's stated bound for a change made elsewhere to be
/// seen: the scheduling delays of a loaded machine running many tests at once.
const BOUND_ALLOWANCE: Duration = Duration::from_secs(1);

/// Polls `done` every 10 ms until it holds, panicking with `what` after [`FEED_LIMIT`].
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + FEED_LIMIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {FEED_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asks `seen` every 5 ms until it holds, panicking with `what` unless it does within
/// `bound` (a backend's stated staleness) plus [`BOUND_ALLOWANCE`]; prints how long it took.
async fn within_bound<F, Fut>(bound: Duration, what: &str, mut seen: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    let limit = bound + BOUND_ALLOWANCE;
    loop {
        if seen().await {
            eprintln!(
                "{what}: seen after {:?} (bound {bound:?})",
                started.elapsed()
            );
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not seen within {limit:?} (the stated bound {bound:?} + {BOUND_ALLOWANCE:?})"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The value bound as `$1` of a plain SQL statement.
enum Bound {
    Uuid(uuid::Uuid),
    Bytes(Vec<u8>),
}

/// A backend whose database the tests of change feeds open more than once, as separate
/// processes (another server, the command line, `psql` or `sqlite3`) would.
trait SharedDatabase: Repo + Clone {
    /// How long a change made elsewhere may go unseen by the backend's feeds, as stated.
    const STALENESS: Duration;

    /// The database at `url`, opened again.
    fn open_again(url: &str) -> impl Future<Output = Self> + Send;

    /// Runs `sql` with `value` as `$1` on a connection of its own.
    fn plain_sql(url: &str, sql: &'static str, value: Bound) -> impl Future<Output = ()> + Send;

    /// Takes away what the feeds of the repositories on `url` are fed from, as a fault
    /// would.
    fn cut_feed(url: &str) -> impl Future<Output = ()> + Send;

    /// Ends the fault of [`Self::cut_feed`].
    fn restore_feed(url: &str) -> impl Future<Output = ()> + Send;
}

impl SharedDatabase for PostgresRepo {
    const STALENESS: Duration = PostgresRepo::CHANGE_FEED_STALENESS;

    async fn open_again(url: &str) -> Self {
        PostgresRepo::connect(url).await.expect("a second pool")
    }

    async fn plain_sql(url: &str, sql: &'static str, value: Bound) {
        let mut psql = sqlx::PgConnection::connect(url).await.expect("connecting");
        let statement = sqlx::query(sql);
        let statement = match value {
            Bound::Uuid(uuid) => statement.bind(uuid),
            Bound::Bytes(bytes) => statement.bind(bytes),
        };
        statement
            .execute(&mut psql)
            .await
            .expect("a plain SQL statement");
        let _ = psql.close().await;
    }

    /// Terminates the listener's connection, as a restarting server or a network fault
    /// would; the listener reconnects by itself.
    async fn cut_feed(url: &str) {
        let mut psql = sqlx::PgConnection::connect(url).await.expect("connecting");
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind(imagevault_sqlx::LISTENER_APPLICATION_NAME)
        .execute(&mut psql)
        .await
        .expect("terminating the listener's connection");
        let _ = psql.close().await;
    }

    async fn restore_feed(_url: &str) {}
}

impl SharedDatabase for SqliteRepo {
    const STALENESS: Duration = SqliteRepo::CHANGE_FEED_STALENESS;

    async fn open_again(url: &str) -> Self {
        SqliteRepo::connect(url)
            .await
            .expect("opening the file a second time")
    }

    async fn plain_sql(url: &str, sql: &'static str, value: Bound) {
        let mut sqlite3 = sqlx::SqliteConnection::connect(url)
            .await
            .expect("connecting");
        let statement = sqlx::query(sql);
        let statement = match value {
            Bound::Uuid(uuid) => statement.bind(uuid),
            Bound::Bytes(bytes) => statement.bind(bytes),
        };
        statement
            .execute(&mut sqlite3)
            .await
            .expect("a plain SQL statement");
        let _ = sqlite3.close().await;
    }

    /// Renames the table of change counters away, so that the pollers' queries fail.
    /// (SQLite renames the table in the triggers too, so writes go on.)
    async fn cut_feed(url: &str) {
        let mut sqlite3 = sqlx::SqliteConnection::connect(url)
            .await
            .expect("connecting");
        sqlx::query("ALTER TABLE change_counters RENAME TO change_counters_away")
            .execute(&mut sqlite3)
            .await
            .expect("renaming the change counters away");
        let _ = sqlite3.close().await;
    }

    async fn restore_feed(url: &str) {
        let mut sqlite3 = sqlx::SqliteConnection::connect(url)
            .await
            .expect("connecting");
        sqlx::query("ALTER TABLE change_counters_away RENAME TO change_counters")
            .execute(&mut sqlite3)
            .await
            .expect("renaming the change counters back");
        let _ = sqlite3.close().await;
    }
}

/// Runs `check` on a migrated repository in a fresh SQLite file, with the file's URL, and
/// closes the repository however the check ends.
async fn with_sqlite<F, Fut>(check: F)
where
    F: FnOnce(SqliteRepo, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (repo, dir) = sqlite().await;
    let closer = repo.clone();
    let outcome = tokio::spawn(check(repo, sqlite_url(&dir))).await;
    closer.close().await;
    drop(dir);
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// A user on Enterprise with one stored image and a link to it, made through `repo`.
async fn linked_image(repo: &dyn Repo) -> (User, ImageRecord, ExpiringLink) {
    let owner = user(Some(PlanId::ENTERPRISE));
    repo.create_user(&owner).await.expect("create_user failed");
    let record = upload(owner.id);
    repo.insert_image(&record)
        .await
        .expect("insert_image failed");
    let expiry = ExpirySeconds::new(3600).expect("a valid expiry");
    let link = ExpiringLink::new(
        owner.id,
        record.image.id,
        record.image.format,
        expiry,
        now(),
    );
    repo.insert_link(&link).await.expect("insert_link failed");
    (owner, record, link)
}

/// The core checks of the feeds, with every change made through a second repository on
/// the same database: another process, in effect.
async fn feeds_report_changes_made_elsewhere<R: SharedDatabase>(repo: R, url: String) {
    use imagevault_core::testing::repo::changes;

    let other = R::open_again(&url).await;
    changes::link_changes_made_elsewhere_are_reported(&repo, &other).await;
    changes::account_changes_made_elsewhere_are_reported(&repo, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_feeds_report_changes_made_elsewhere() {
    with_sqlite(feeds_report_changes_made_elsewhere).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feeds_report_changes_made_elsewhere() {
    with_postgres(feeds_report_changes_made_elsewhere).await;
}

/// The link feed reports changes made through another repository (another process, in
/// effect) and by plain SQL within the backend's bound, and losing what it is fed from
/// disconnects it until it is back, at a new epoch.
async fn link_changes_come_from_every_connection<R: SharedDatabase>(repo: R, url: String) {
    let other = R::open_again(&url).await;
    let feed = repo.link_changes().expect("a link-change feed");
    eventually("the feed connecting", || feed.epoch().is_some()).await;

    let (owner, record, link) = linked_image(&other).await;
    let before = feed.epoch();
    let longer = link.with_expiry(ExpirySeconds::new(7200).expect("a valid expiry"));
    assert!(
        other
            .update_link(&longer)
            .await
            .expect("update_link failed")
    );
    within_bound(R::STALENESS, "another repository's link update", || {
        std::future::ready(feed.epoch() != before)
    })
    .await;

    let before = feed.epoch();
    R::plain_sql(
        &url,
        "UPDATE plans SET original_link = original_link WHERE id = $1",
        Bound::Uuid(PlanId::ENTERPRISE.as_uuid()),
    )
    .await;
    within_bound(R::STALENESS, "a plain SQL plan update", || {
        std::future::ready(feed.epoch() != before)
    })
    .await;

    let before = feed.epoch();
    R::cut_feed(&url).await;
    within_bound(R::STALENESS, "the feed leaving its epoch once cut", || {
        std::future::ready(feed.epoch() != before)
    })
    .await;
    R::restore_feed(&url).await;
    eventually("the feed reconnecting", || feed.epoch().is_some()).await;
    let reconnected = feed.epoch();
    assert!(
        reconnected > before,
        "a reconnected feed starts a new epoch"
    );
    assert!(
        other
            .delete_image(owner.id, record.image.id)
            .await
            .expect("delete_image failed")
            .is_some()
    );
    within_bound(R::STALENESS, "a change after reconnecting", || {
        std::future::ready(feed.epoch() != reconnected)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_link_changes_come_from_every_connection() {
    with_sqlite(link_changes_come_from_every_connection).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_link_changes_come_from_every_connection() {
    with_postgres(link_changes_come_from_every_connection).await;
}

/// A vault on `repo` and `storage`, as one API process would have, with an in-memory
/// queue.
fn vault_on(repo: impl Repo, storage: &Arc<dyn Storage>) -> Vault {
    Vault::builder()
        .repo(Arc::new(repo))
        .storage(Arc::clone(storage))
        .queue(Arc::new(imagevault_core::MemoryJobQueue::new(100)))
        .build()
        .expect("a vault")
}

/// Resolves and opens the media at `path` through `vault`: whether it is served.
async fn served(vault: &Vault, path: &str) -> bool {
    match vault.resolve_media(path).await {
        Ok(media) => vault
            .open_media(&media, None)
            .await
            .expect("opening resolved media")
            .is_some(),
        Err(VaultError::NotFound) => false,
        Err(error) => panic!("unexpected error for {path}: {error:?}"),
    }
}

/// An image of `repo`'s [`linked_image`] whose original and 200 px thumbnail are stored in
/// `storage`; returns its owner's account, the record, the link and the thumbnail's
/// media path.
async fn stored_linked_image(
    repo: &dyn Repo,
    storage: &Arc<dyn Storage>,
) -> (Account, ImageRecord, ExpiringLink, String) {
    let (owner, record, link) = linked_image(repo).await;
    let thumbnail = StorageKey::new_thumbnail(ImageFormat::Jpeg);
    for key in [&record.image.storage_key, &thumbnail] {
        storage
            .put(
                key,
                key.as_str().as_bytes().to_vec().into(),
                ImageFormat::Jpeg,
            )
            .await
            .expect("storing an object");
    }
    assert!(
        repo.complete_thumbnail(record.image.id, height(200), &thumbnail, now())
            .await
            .expect("complete_thumbnail failed")
    );
    let account = Account {
        user: owner,
        plan: repo.get_plan(PlanId::ENTERPRISE).await.expect("get_plan"),
    };
    (account, record, link, thumbnail.as_str().to_owned())
}

/// Two vaults on one database and one storage, as two API processes: a link, or a
/// thumbnail, that one of them has cached stops being served there within the backend's
/// bound once the other deletes the link or the image; a vault's own deletion of the link
/// or of the image takes effect there at once.
async fn vaults_drop_links_changed_elsewhere<R: SharedDatabase>(repo: R, url: String) {
    let other = R::open_again(&url).await;
    let storage: Arc<dyn Storage> = Arc::new(imagevault_core::ObjectStorage::memory());
    let (here, there) = (vault_on(repo.clone(), &storage), vault_on(other, &storage));
    let feed = repo.link_changes().expect("a link-change feed");
    eventually("the feed connecting", || feed.epoch().is_some()).await;

    let (account, _, link, _) = stored_linked_image(&repo, &storage).await;
    let path = link.media_path();
    assert!(served(&here, &path).await, "the link is served");
    assert!(
        served(&here, &path).await,
        "the link is served from the cache"
    );
    there
        .delete_link(&account, link.id)
        .await
        .expect("the other vault deletes the link");
    within_bound(R::STALENESS, "a link deleted by another process", || {
        let (here, path) = (&here, &path);
        async move { !served(here, path).await }
    })
    .await;

    let (account, record, link, thumbnail) = stored_linked_image(&repo, &storage).await;
    let path = link.media_path();
    assert!(served(&here, &path).await, "the link is served");
    assert!(served(&here, &thumbnail).await, "the thumbnail is served");
    // Stored objects never change, so the vault serves a cached one from memory even
    // when storage has lost it: proof that the cache is in use on this backend.
    let key = StorageKey::parse(&thumbnail).expect("a thumbnail key");
    let bytes = storage
        .get(&key)
        .await
        .expect("reading the thumbnail")
        .expect("the thumbnail is stored")
        .bytes()
        .await
        .expect("the thumbnail's bytes");
    storage.delete(&key).await.expect("deleting the thumbnail");
    assert!(
        served(&here, &thumbnail).await,
        "a thumbnail read once is served from the media cache"
    );
    storage
        .put(&key, bytes, ImageFormat::Jpeg)
        .await
        .expect("storing the thumbnail again");
    there
        .delete_image(&account, record.image.id)
        .await
        .expect("the other vault deletes the image");
    within_bound(
        R::STALENESS,
        "a thumbnail and a link of an image deleted by another process",
        || {
            let (here, path, thumbnail) = (&here, &path, &thumbnail);
            async move { !served(here, thumbnail).await && !served(here, path).await }
        },
    )
    .await;

    let (account, _, link, _) = stored_linked_image(&repo, &storage).await;
    let path = link.media_path();
    assert!(served(&here, &path).await, "the link is served");
    here.delete_link(&account, link.id)
        .await
        .expect("deleting through the same vault");
    assert!(
        !served(&here, &path).await,
        "a link deleted through a vault must stop being served there at once"
    );

    let (account, record, link, thumbnail) = stored_linked_image(&repo, &storage).await;
    let path = link.media_path();
    assert!(served(&here, &path).await, "the link is served");
    assert!(served(&here, &thumbnail).await, "the thumbnail is served");
    here.delete_image(&account, record.image.id)
        .await
        .expect("deleting the image through the same vault");
    assert!(
        !served(&here, &path).await && !served(&here, &thumbnail).await,
        "the link and thumbnail of an image deleted through a vault must stop being served \
         there at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_vaults_drop_links_changed_elsewhere() {
    with_sqlite(vaults_drop_links_changed_elsewhere).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vaults_drop_links_changed_elsewhere() {
    with_postgres(vaults_drop_links_changed_elsewhere).await;
}

/// Whether `token` is refused at `vault` as unknown.
async fn refused(vault: &Vault, token: &str) -> bool {
    matches!(
        vault.authenticate_token(token).await,
        Err(VaultError::InvalidCredentials)
    )
}

/// Two vaults on one database, as two API processes: a token whose account one of them
/// has cached stops working there within the backend's bound once the other revokes it,
/// or once it is deleted by plain SQL, and an admin demoted elsewhere loses the rights
/// there too; a token revoked through a vault stops working there at once.
async fn vaults_see_tokens_and_users_changed_elsewhere<R: SharedDatabase>(repo: R, url: String) {
    use imagevault_core::UserChanges;

    let other = R::open_again(&url).await;
    let storage: Arc<dyn Storage> = Arc::new(imagevault_core::ObjectStorage::memory());
    let (here, there) = (vault_on(repo.clone(), &storage), vault_on(other, &storage));
    let new_user = |plan, is_admin| {
        let repo = repo.clone();
        async move {
            let user = User {
                is_admin,
                ..user(plan)
            };
            repo.create_user(&user).await.expect("create_user failed");
            user
        }
    };
    let owner = new_user(Some(PlanId::BASIC), false).await;
    let admin = new_user(None, true).await;
    let account_of = |user| Account { user, plan: None };
    let (owner_account, admin_account) = (account_of(owner.clone()), account_of(admin.clone()));
    let feed = repo.account_changes().expect("an account feed");
    eventually("the feed connecting", || feed.epoch().is_some()).await;

    let token = here.issue_token(&owner_account).await.expect("a token");
    here.authenticate_token(token.expose())
        .await
        .expect("the token works");
    here.authenticate_token(token.expose())
        .await
        .expect("the token works from the cache");
    there
        .revoke_token(token.expose())
        .await
        .expect("the other vault revokes the token");
    within_bound(R::STALENESS, "a token revoked by another process", || {
        refused(&here, token.expose())
    })
    .await;

    let token = here.issue_token(&owner_account).await.expect("a token");
    here.authenticate_token(token.expose())
        .await
        .expect("the token works");
    R::plain_sql(
        &url,
        "DELETE FROM api_tokens WHERE hash = $1",
        Bound::Bytes(token.token.hash().as_bytes().to_vec()),
    )
    .await;
    within_bound(R::STALENESS, "a token deleted by plain SQL", || {
        refused(&here, token.expose())
    })
    .await;

    let token = here.issue_token(&admin_account).await.expect("a token");
    let cached = here
        .authenticate_token(token.expose())
        .await
        .expect("works");
    assert!(cached.user.is_admin);
    let demoted = UserChanges {
        is_admin: Some(false),
        ..Default::default()
    };
    // The other vault's own admin: a second one, so the first can be demoted.
    let second_admin = new_user(None, true).await;
    there
        .update_user(&account_of(second_admin), admin.id, demoted)
        .await
        .expect("the other vault demotes the admin");
    within_bound(R::STALENESS, "an admin demoted by another process", || {
        let (here, token) = (&here, token.expose());
        async move {
            here.authenticate_token(token)
                .await
                .is_ok_and(|account| !account.user.is_admin)
        }
    })
    .await;

    let token = here.issue_token(&owner_account).await.expect("a token");
    here.authenticate_token(token.expose())
        .await
        .expect("the token works");
    here.revoke_token(token.expose())
        .await
        .expect("revoking through the same vault");
    assert!(
        refused(&here, token.expose()).await,
        "a token revoked through a vault must stop working there at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_vaults_see_tokens_and_users_changed_elsewhere() {
    with_sqlite(vaults_see_tokens_and_users_changed_elsewhere).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vaults_see_tokens_and_users_changed_elsewhere() {
    with_postgres(vaults_see_tokens_and_users_changed_elsewhere).await;
}

/// While a SQLite feed cannot poll (its counters table is gone), it is disconnected and
/// the vault caches nothing, so even a token deleted by plain SQL is refused at once; once
/// the table is back the feed reconnects at a new epoch and the cache is used again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_feed_disconnects_while_its_poll_fails() {
    with_sqlite(|repo, url| async move {
        let storage: Arc<dyn Storage> = Arc::new(imagevault_core::ObjectStorage::memory());
        let vault = vault_on(repo.clone(), &storage);
        let owner = user(Some(PlanId::BASIC));
        repo.create_user(&owner).await.expect("create_user failed");
        let account = Account {
            user: owner,
            plan: None,
        };
        let feed = repo.account_changes().expect("an account feed");
        eventually("the feed connecting", || feed.epoch().is_some()).await;
        let connected = feed.epoch();

        let token = vault.issue_token(&account).await.expect("a token");
        vault
            .authenticate_token(token.expose())
            .await
            .expect("the token works");
        SqliteRepo::cut_feed(&url).await;
        within_bound(
            SqliteRepo::STALENESS,
            "the feed disconnecting once its poll fails",
            || std::future::ready(feed.epoch().is_none()),
        )
        .await;
        SqliteRepo::plain_sql(
            &url,
            "DELETE FROM api_tokens WHERE hash = $1",
            Bound::Bytes(token.token.hash().as_bytes().to_vec()),
        )
        .await;
        assert!(
            refused(&vault, token.expose()).await,
            "a disconnected feed must leave nothing cached"
        );
        assert_eq!(feed.epoch(), None, "the feed stays disconnected");

        SqliteRepo::restore_feed(&url).await;
        eventually("the feed reconnecting", || feed.epoch().is_some()).await;
        assert!(
            feed.epoch() > connected,
            "a reconnected feed starts a new epoch"
        );
        let token = vault.issue_token(&account).await.expect("a token");
        vault
            .authenticate_token(token.expose())
            .await
            .expect("the token works");
        SqliteRepo::plain_sql(
            &url,
            "DELETE FROM api_tokens WHERE hash = $1",
            Bound::Bytes(token.token.hash().as_bytes().to_vec()),
        )
        .await;
        within_bound(
            SqliteRepo::STALENESS,
            "a token deleted by plain SQL after reconnecting",
            || refused(&vault, token.expose()),
        )
        .await;
    })
    .await;
}

/// Writes cancelled at any moment, as a request is when its client goes away, leave no
/// connection inside a transaction: afterwards every write through the pool's only
/// connection is committed and visible to another session. (sqlx 0.8 alone leaves a
/// `BEGIN` cancelled before its answer open, and the pool hands that connection on.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_cancelled_mid_transaction_leave_no_transaction_open() {
    use imagevault_core::repo::WorkScope;
    use std::task::Poll;

    with_postgres_pool(1, |repo, url| async move {
        // Dropped after its first, second, ... wait, so that some are cut short while
        // the BEGIN's answer is on its way (timers are too coarse to aim at that).
        for waits in (1..=8).cycle().take(800) {
            let mut claim =
                Box::pin(repo.claim_thumbnail_work(WorkScope::All, now(), now(), 10, None));
            for _ in 0..waits {
                let done = std::future::poll_fn(|context| {
                    Poll::Ready(claim.as_mut().poll(context).is_ready())
                })
                .await;
                if done {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        let names: Vec<String> = (0..5)
            .map(|n| format!("after-cancel-{n}-{}", uuid::Uuid::new_v4().simple()))
            .collect();
        for name in &names {
            let plan = Plan {
                id: PlanId::new(),
                name: PlanName::parse(name).expect("a valid name"),
                thumbnail_heights: ThumbnailHeights::new([300]).expect("valid heights"),
                thumbnail_formats: Default::default(),
                original_link: true,
                expiring_links: true,
                quota: Default::default(),
                strip_metadata: false,
                created_at: now(),
            };
            repo.create_plan(&plan).await.expect("create_plan failed");
        }
        let mut other = sqlx::PgConnection::connect(&url)
            .await
            .expect("a second session");
        let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM plans WHERE name = ANY($1)")
            .bind(&names)
            .fetch_one(&mut other)
            .await
            .expect("counting plans");
        let _ = other.close().await;
        assert_eq!(
            visible, 5,
            "every plan created after the cancellations must be committed"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Work holders of two processes on one file
// ---------------------------------------------------------------------------------------

/// A vault on `repo` with an in-process queue of its own and a manual clock, as one server
/// process on a shared file.
fn process_on(repo: SqliteRepo, clock: &imagevault_core::ManualClock) -> imagevault_core::Vault {
    imagevault_core::Vault::builder()
        .repo(Arc::new(repo))
        .storage(Arc::new(imagevault_core::ObjectStorage::memory()))
        .queue(Arc::new(imagevault_core::MemoryJobQueue::new(100)))
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("a vault")
}

/// Two vaults on one SQLite file, as two server processes: the pending work of the live
/// one, whose in-process queue the other cannot see, is never taken by the other's
/// reconciler while its holder heartbeats, and is taken once the holder is silent for
/// longer than `HOLDER_TIMEOUT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_on_one_file_keep_each_others_work() {
    use imagevault_core::{HOLDER_TIMEOUT, NewUser, Password, Upload};

    let (first_repo, dir) = sqlite().await;
    let second_repo = SqliteRepo::connect(&sqlite_url(&dir))
        .await
        .expect("opening the file a second time");
    let clock = imagevault_core::ManualClock::new(Utc::now());
    let first = process_on(first_repo, &clock);
    let second = process_on(second_repo, &clock);
    first.register_work_holder().await.expect("register");
    second.register_work_holder().await.expect("register");
    first
        .bootstrap_user(NewUser {
            username: Username::parse("holder").expect("a username"),
            password: Password::new("correct horse battery").expect("a password"),
            plan: Some(PlanId::BASIC),
            is_admin: false,
        })
        .await
        .expect("a user");
    let account = first
        .authenticate_password("holder", "correct horse battery")
        .await
        .expect("log in");
    first
        .upload(
            &account,
            Upload {
                data: imagevault_core::testing::images::png(300, 300).into(),
                ..Upload::default()
            },
        )
        .await
        .expect("upload");

    assert_eq!(second.reconcile().await.expect("reconcile"), 0);
    let timeout = chrono::TimeDelta::from_std(HOLDER_TIMEOUT).expect("a short timeout");
    clock.advance(timeout);
    first.register_work_holder().await.expect("a heartbeat");
    clock.advance(timeout);
    assert_eq!(
        second.reconcile().await.expect("reconcile"),
        0,
        "a holder that heartbeats keeps its work"
    );
    clock.advance(chrono::TimeDelta::seconds(1));
    assert_eq!(
        second.reconcile().await.expect("reconcile"),
        1,
        "a holder silent for longer than the timeout loses its work"
    );
    assert_eq!(second.run_pending_jobs(10).await.expect("jobs"), 1);
    assert_eq!(
        first.reconcile().await.expect("reconcile"),
        0,
        "the work was done once"
    );
}
