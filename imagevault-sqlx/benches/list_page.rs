//! Run with `cargo bench -p imagevault-sqlx --all-features --bench list_page`
//!
//! The latency of one page of `list_images` (21 images with their thumbnails, as the API
//! asks for a page of 20) for users with 1k, 100k and 1M images, on SQLite (a temporary
//! file) and on PostgreSQL (a fresh database on `IMAGEVAULT_TEST_POSTGRES_URL`, dropped at
//! the end; skipped when unreachable). Both the newest page and a page from the middle of
//! the list are timed: with a keyset index neither should grow with the number of images.
//!
//! `IMAGEVAULT_BENCH_SIZES=1000,100000` overrides the sizes. Loading 1.1M images with two
//! thumbnails each takes about a minute per backend; it uses bulk SQL, not the repository.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use criterion::Criterion;
use imagevault_core::page::{Direction, Keyset, KeysetQuery};
use imagevault_core::{ImageRepo, PasswordHash, PlanId, User, UserId, UserRepo, Username};
use imagevault_sqlx::{PostgresRepo, SqliteRepo};
use sqlx::Connection as _;

const PAGE: usize = 21;

fn sizes() -> Vec<u64> {
    std::env::var("IMAGEVAULT_BENCH_SIZES")
        .ok()
        .and_then(|text| {
            text.split(',')
                .map(|size| size.trim().parse().ok())
                .collect::<Option<Vec<u64>>>()
        })
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000])
}

fn owner(size: u64) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(&format!("owner-of-{size}")).expect("a valid username"),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        is_admin: false,
        plan_id: Some(PlanId::PREMIUM),
        quota: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    }
}

/// Loads `size` images of `user`, one per second back from `newest`, each with a ready
/// 200 and 400 px thumbnail.
async fn load_sqlite(url: &str, user: UserId, size: u64, newest: DateTime<Utc>) {
    let mut connection = sqlx::SqliteConnection::connect(url)
        .await
        .expect("opening the benchmark file");
    let mut tx = connection.begin().await.expect("a transaction");
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
         INSERT INTO images (id, owner, name, format, width, height, size, storage_key, created_at) \
         SELECT randomblob(16), $1, 'photo.jpg', 'jpeg', 1600, 1200, 245760, \
                'imageupload/' || lower(hex(randomblob(16))) || '/o.jpg', $3 - i * 1000000 FROM n",
    )
    .bind(user.as_uuid())
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .bind(newest.timestamp_micros())
    .execute(&mut *tx)
    .await
    .expect("loading images");
    sqlx::query(
        "INSERT INTO thumbnails (image_id, max_height, width, height, status, storage_key, attempts, updated_at) \
         SELECT i.id, h.value, h.value * 4 / 3, h.value, 'ready', \
                'thumbnail/' || lower(hex(randomblob(16))) || '/t.jpg', 1, i.created_at \
         FROM images i, json_each('[200,400]') h WHERE i.owner = $1",
    )
    .bind(user.as_uuid())
    .execute(&mut *tx)
    .await
    .expect("loading thumbnails");
    tx.commit().await.expect("committing the load");
    sqlx::query("ANALYZE")
        .execute(&mut connection)
        .await
        .expect("ANALYZE");
}

async fn load_postgres(url: &str, user: UserId, size: u64, newest: DateTime<Utc>) {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .expect("connecting to the benchmark database");
    sqlx::query(
        "INSERT INTO images (id, owner, name, format, width, height, size, storage_key, created_at) \
         SELECT gen_random_uuid(), $1, 'photo.jpg', 'jpeg', 1600, 1200, 245760, \
                'imageupload/' || gen_random_uuid() || '/o.jpg', $3 - i * interval '1 second' \
         FROM generate_series(1, $2) AS i",
    )
    .bind(user.as_uuid())
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .bind(newest)
    .execute(&mut connection)
    .await
    .expect("loading images");
    sqlx::query(
        "INSERT INTO thumbnails (image_id, max_height, width, height, status, storage_key, attempts, updated_at) \
         SELECT i.id, h, h * 4 / 3, h, 'ready', 'thumbnail/' || gen_random_uuid() || '/t.jpg', 1, i.created_at \
         FROM images i, unnest('{200,400}'::bigint[]) AS h WHERE i.owner = $1",
    )
    .bind(user.as_uuid())
    .execute(&mut connection)
    .await
    .expect("loading thumbnails");
    sqlx::query("VACUUM ANALYZE images, thumbnails")
        .execute(&mut connection)
        .await
        .expect("VACUUM ANALYZE");
}

/// Times the newest page and a page from the middle for each loaded owner.
fn bench_pages<R: ImageRepo>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    backend: &str,
    repo: &R,
    owners: &[(u64, User)],
) {
    let mut group = c.benchmark_group(format!("list_images/{backend}"));
    for (size, user) in owners {
        let middle = runtime.block_on(async {
            let mut anchor = None;
            // Walk to the middle with large pages (not timed).
            let step = usize::try_from(size / 2).unwrap_or(1000).clamp(1, 1000);
            let mut seen = 0;
            while seen < size / 2 {
                let page = repo
                    .list_images(
                        user.id,
                        &KeysetQuery {
                            anchor,
                            limit: step,
                        },
                    )
                    .await
                    .expect("list_images failed");
                let Some(last) = page.last() else { break };
                seen += page.len() as u64;
                anchor = Some((
                    Keyset {
                        created_at: last.image.created_at,
                        id: last.image.id.as_uuid(),
                    },
                    Direction::Older,
                ));
            }
            anchor
        });
        group.bench_function(format!("{size}/newest"), |b| {
            b.iter(|| {
                runtime
                    .block_on(repo.list_images(user.id, black_box(&KeysetQuery::first(PAGE))))
                    .expect("list_images failed")
            })
        });
        group.bench_function(format!("{size}/middle"), |b| {
            let query = KeysetQuery {
                anchor: middle,
                limit: PAGE,
            };
            b.iter(|| {
                let page = runtime
                    .block_on(repo.list_images(user.id, black_box(&query)))
                    .expect("list_images failed");
                assert_eq!(page.len(), PAGE);
                page
            })
        });
    }
    group.finish();
}

async fn sqlite_repo(
    dir: &tempfile::TempDir,
    sizes: &[u64],
    newest: DateTime<Utc>,
) -> (SqliteRepo, Vec<(u64, User)>) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let repo = SqliteRepo::builder(url.clone())
        .migrate_on_connect(true)
        .build()
        .await
        .expect("opening the benchmark file");
    let mut owners = Vec::new();
    for &size in sizes {
        let user = owner(size);
        repo.create_user(&user).await.expect("create_user failed");
        eprintln!("sqlite: loading {size} images");
        load_sqlite(&url, user.id, size, newest).await;
        owners.push((size, user));
    }
    (repo, owners)
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let sizes = sizes();
    let newest = Utc::now().trunc_subsecs(6);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let (sqlite, owners) = runtime.block_on(sqlite_repo(&dir, &sizes, newest));
    bench_pages(&mut criterion, &runtime, "sqlite", &sqlite, &owners);
    runtime.block_on(sqlite.close());
    drop(dir);

    let admin_url = std::env::var("IMAGEVAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("imagevault_bench_{}", uuid::Uuid::new_v4().simple());
    let created = runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await
    });
    if let Err(error) = created {
        eprintln!("skipped PostgreSQL: {admin_url} is unreachable: {error}");
        criterion.final_summary();
        return;
    }
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => admin_url.clone(),
    };
    let (postgres, owners) = runtime.block_on(async {
        let repo = PostgresRepo::builder(url.clone())
            .migrate_on_connect(true)
            .build()
            .await
            .expect("connecting to the benchmark database");
        let mut owners = Vec::new();
        for &size in &sizes {
            let user = owner(size);
            repo.create_user(&user).await.expect("create_user failed");
            eprintln!("postgres: loading {size} images");
            load_postgres(&url, user.id, size, newest).await;
            owners.push((size, user));
        }
        (repo, owners)
    });
    bench_pages(&mut criterion, &runtime, "postgres", &postgres, &owners);
    runtime.block_on(async {
        postgres.close().await;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
            let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
            if let Err(error) = dropped {
                eprintln!("could not drop the benchmark database {name}: {error}");
            }
        }
    });
    criterion.final_summary();
}
