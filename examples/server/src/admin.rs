//! `admin` commands: users and plans straight in the database, for setting up an
//! installation without HTTP. They go through the `Vault`'s `bootstrap_*` methods, so the
//! same rules hold as in the admin API (name checks, unique names, existing plans).

use std::collections::HashMap;
use std::io::BufRead as _;

use anyhow::{Context as _, bail};
use imagevault::backend::Repo;
use imagevault::backend::page::{Direction, KeysetQuery, Positioned};
use imagevault::backend::repo::RepoError;
use imagevault::core::{PlanName, ThumbnailHeights};
use imagevault::core::{QuotaLimits, QuotaStatus, limit_text, size_text};
use imagevault::{
    NewUser, Password, Plan, PlanId, PlanSpec, User, UserChanges, Username, Vault, VaultError,
};

use crate::cli::{AdminCommand, Global, PasswordArgs};
use crate::table;

/// Items fetched per query when listing everything.
const BATCH: usize = 100;

/// Runs one admin command, printing its result to stdout.
pub(crate) async fn run(
    vault: &Vault,
    global: &Global,
    command: AdminCommand,
) -> anyhow::Result<()> {
    let repo = vault.repo().as_ref();
    match command {
        AdminCommand::CreateUser {
            username,
            password,
            plan,
            admin,
        } => {
            let username = Username::parse(&username)?;
            let password = read_password(&password)?;
            let plan = match plan {
                Some(plan) => Some(resolve_plan(repo, &plan).await?),
                None => None,
            };
            let user = vault
                .bootstrap_user(NewUser {
                    username: username.clone(),
                    password,
                    plan: plan.as_ref().map(|plan| plan.id),
                    is_admin: admin,
                })
                .await
                .with_context(|| format!("cannot create the user {:?}", username.as_str()))?;
            println!(
                "created the user {:?} ({}), plan {}, administrator: {}",
                user.username.as_str(),
                user.id,
                plan.map_or_else(|| "none".to_owned(), |plan| plan.name.to_string()),
                yes_no(user.is_admin)
            );
        }
        AdminCommand::SetPassword { username, password } => {
            let user = find_user(repo, &username).await?;
            let password = read_password(&password)?;
            update(
                vault,
                &user,
                UserChanges {
                    password: Some(password),
                    ..UserChanges::default()
                },
            )
            .await?;
            println!(
                "changed the password of {:?} and revoked their API tokens",
                user.username.as_str()
            );
        }
        AdminCommand::RevokeTokens { username } => {
            let user = find_user(repo, &username).await?;
            let revoked = vault
                .bootstrap_revoke_user_tokens(user.id)
                .await
                .with_context(|| format!("cannot revoke the tokens of {username:?}"))?;
            println!(
                "revoked {revoked} API token(s) of {:?}",
                user.username.as_str()
            );
        }
        AdminCommand::SetPlan { username, plan } => {
            let user = find_user(repo, &username).await?;
            let plan = if plan.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(resolve_plan(repo, &plan).await?)
            };
            update(
                vault,
                &user,
                UserChanges {
                    plan: Some(plan.as_ref().map(|plan| plan.id)),
                    ..UserChanges::default()
                },
            )
            .await?;
            match plan {
                Some(plan) => println!(
                    "{:?} is now on the plan {}",
                    user.username.as_str(),
                    plan.name
                ),
                None => println!(
                    "{:?} now has no plan (and cannot upload until given one)",
                    user.username.as_str()
                ),
            }
            // The new plan's thumbnails (a backfill job) must not die with this command.
            crate::thumbnails::finish_queued_work(vault, global).await?;
        }
        AdminCommand::SetAdmin { username, is_admin } => {
            let user = find_user(repo, &username).await?;
            update(
                vault,
                &user,
                UserChanges {
                    is_admin: Some(is_admin),
                    ..UserChanges::default()
                },
            )
            .await?;
            let status = if is_admin {
                "is now an administrator"
            } else {
                "is not an administrator any more"
            };
            println!("{:?} {status}", user.username.as_str());
        }
        AdminCommand::CreatePlan {
            name,
            heights,
            thumbnail_formats,
            original_link,
            expiring_links,
            max_images,
            max_bytes,
            strip_metadata,
        } => {
            let spec = PlanSpec {
                name: PlanName::parse(&name)?,
                thumbnail_heights: ThumbnailHeights::new(heights)?,
                thumbnail_formats,
                original_link,
                expiring_links,
                quota: QuotaLimits {
                    max_images,
                    max_bytes,
                },
                strip_metadata,
            };
            let plan = vault
                .bootstrap_plan(spec)
                .await
                .with_context(|| format!("cannot create the plan {:?}", name.trim()))?;
            println!("created the plan {}:", plan.name);
            print!("{}", plans_table(&[plan]));
        }
        AdminCommand::ListPlans => {
            print!("{}", plans_table(&all_plans(repo).await?));
        }
        AdminCommand::ListUsers => {
            let plans: HashMap<PlanId, Plan> = all_plans(repo)
                .await?
                .into_iter()
                .map(|plan| (plan.id, plan))
                .collect();
            let users = all_users(repo).await?;
            let mut quotas = Vec::with_capacity(users.len());
            for user in &users {
                quotas.push(quota_of(repo, user, &plans).await?);
            }
            print!("{}", users_table(&users, &quotas, &plans));
        }
        AdminCommand::SetQuota {
            username,
            max_images,
            max_bytes,
        } => {
            let user = find_user(repo, &username).await?;
            let user = update(
                vault,
                &user,
                UserChanges {
                    max_images,
                    max_bytes,
                    ..UserChanges::default()
                },
            )
            .await?;
            let plans: HashMap<PlanId, Plan> = all_plans(repo)
                .await?
                .into_iter()
                .map(|plan| (plan.id, plan))
                .collect();
            let quota = quota_of(repo, &user, &plans).await?;
            println!(
                "{:?} may keep {} (override: {}) and {} (override: {}); they have {} images, {}",
                user.username.as_str(),
                limit_text(quota.limits.max_images, |limit| format!("{limit} images")),
                user.quota.max_images,
                limit_text(quota.limits.max_bytes, size_text),
                user.quota.max_bytes,
                quota.usage.images,
                size_text(quota.usage.bytes)
            );
            if quota.is_over_limit() {
                println!(
                    "usage is over the limit: no upload is accepted until enough images are deleted"
                );
            }
        }
        AdminCommand::Thumbnails(command) => crate::thumbnails::run(vault, global, command).await?,
        AdminCommand::Import(args) => crate::import::run(vault, global, args).await?,
    }
    Ok(())
}

/// `user`'s effective limits beside their usage.
async fn quota_of(
    repo: &dyn Repo,
    user: &User,
    plans: &HashMap<PlanId, Plan>,
) -> anyhow::Result<QuotaStatus> {
    let plan = user.plan_id.and_then(|id| plans.get(&id));
    let usage = repo.usage(user.id).await.map_err(VaultError::from)?;
    Ok(QuotaStatus::new(
        &user.quota,
        plan.map(|plan| &plan.quota),
        usage,
    ))
}

async fn update(vault: &Vault, user: &User, changes: UserChanges) -> anyhow::Result<User> {
    vault
        .bootstrap_update_user(user.id, changes)
        .await
        .with_context(|| format!("cannot change the user {:?}", user.username.as_str()))
}

/// The new password from `--password-stdin`, `--password` or `IMAGEVAULT_PASSWORD`.
fn read_password(args: &PasswordArgs) -> anyhow::Result<Password> {
    let text = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else if let Some(password) = &args.password {
        password.clone()
    } else {
        bail!("no password given; use --password-stdin, --password or IMAGEVAULT_PASSWORD");
    };
    Ok(Password::new(text)?)
}

/// A user by exact username.
pub(crate) async fn find_user(repo: &dyn Repo, username: &str) -> anyhow::Result<User> {
    let parsed = Username::parse(username)?;
    repo.find_user_by_username(&parsed)
        .await
        .map_err(VaultError::from)?
        .with_context(|| {
            format!("no user is named {username:?} (usernames are case-sensitive; `admin list-users` lists them)")
        })
}

/// A plan by id, exact name, or name ignoring case when that picks one plan.
pub(crate) async fn resolve_plan(repo: &dyn Repo, text: &str) -> anyhow::Result<Plan> {
    let text = text.trim();
    if let Some(id) = PlanId::parse(text)
        && let Some(plan) = repo.get_plan(id).await.map_err(VaultError::from)?
    {
        return Ok(plan);
    }
    if let Some(plan) = repo
        .find_plan_by_name(text)
        .await
        .map_err(VaultError::from)?
    {
        return Ok(plan);
    }
    let plans = all_plans(repo).await?;
    let lowercase = text.to_lowercase();
    let mut matching = plans
        .iter()
        .filter(|plan| plan.name.as_str().to_lowercase() == lowercase);
    match (matching.next(), matching.next()) {
        (Some(plan), None) => Ok(plan.clone()),
        (Some(_), Some(_)) => bail!(
            "the plan name {text:?} is ambiguous: several plans differ only by case; give the exact name or the id (`admin list-plans` shows both)"
        ),
        _ => {
            let names: Vec<&str> = plans.iter().map(|plan| plan.name.as_str()).collect();
            bail!(
                "unknown plan {text:?}; the plans are: {} (give a name or an id; `admin list-plans` shows both)",
                names.join(", ")
            )
        }
    }
}

/// Every item of a newest-first list, fetched `BATCH` at a time, oldest first.
async fn collect_all<T, F>(mut fetch_page: F) -> anyhow::Result<Vec<T>>
where
    T: Positioned,
    F: AsyncFnMut(KeysetQuery) -> Result<Vec<T>, RepoError>,
{
    let mut all = Vec::new();
    let mut query = KeysetQuery::first(BATCH);
    loop {
        let page = fetch_page(query).await.map_err(VaultError::from)?;
        let complete = page.len() < BATCH;
        let Some(last) = page.last() else { break };
        query.anchor = Some((last.position(), Direction::Older));
        all.extend(page);
        if complete {
            break;
        }
    }
    all.reverse();
    Ok(all)
}

pub(crate) async fn all_plans(repo: &dyn Repo) -> anyhow::Result<Vec<Plan>> {
    collect_all(async |query| repo.list_plans(&query).await).await
}

async fn all_users(repo: &dyn Repo) -> anyhow::Result<Vec<User>> {
    collect_all(async |query| repo.list_users(&query).await).await
}

fn plans_table(plans: &[Plan]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|plan| {
            vec![
                plan.name.to_string(),
                plan.thumbnail_heights
                    .pixels()
                    .map(|pixels| pixels.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                plan.thumbnail_formats.to_string(),
                yes_no(plan.original_link).to_owned(),
                yes_no(plan.expiring_links).to_owned(),
                limit_text(plan.quota.max_images, |limit| limit.to_string()),
                limit_text(plan.quota.max_bytes, |limit| limit.to_string()),
                yes_no(plan.strip_metadata).to_owned(),
                plan.id.to_string(),
            ]
        })
        .collect();
    table::render(
        &[
            "NAME",
            "HEIGHTS",
            "FORMATS",
            "ORIGINAL LINK",
            "EXPIRING LINKS",
            "MAX IMAGES",
            "MAX BYTES",
            "STRIP METADATA",
            "ID",
        ],
        &rows,
    )
}

fn users_table(users: &[User], quotas: &[QuotaStatus], plans: &HashMap<PlanId, Plan>) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .zip(quotas)
        .map(|(user, quota)| {
            vec![
                user.username.to_string(),
                yes_no(user.is_admin).to_owned(),
                match user.plan_id {
                    Some(id) => plans
                        .get(&id)
                        .map_or_else(|| id.to_string(), |plan| plan.name.to_string()),
                    None => "-".to_owned(),
                },
                format!(
                    "{}/{}",
                    quota.usage.images,
                    limit_text(quota.limits.max_images, |limit| limit.to_string())
                ),
                format!(
                    "{}/{}",
                    quota.usage.bytes,
                    limit_text(quota.limits.max_bytes, |limit| limit.to_string())
                ),
                if quota.is_over_limit() { "OVER" } else { "-" }.to_owned(),
                user.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                user.id.to_string(),
            ]
        })
        .collect();
    table::render(
        &[
            "USERNAME", "ADMIN", "PLAN", "IMAGES", "BYTES", "QUOTA", "CREATED", "ID",
        ],
        &rows,
    )
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use imagevault::backend::{Clock as _, PlanRepo as _, SystemClock, UserRepo as _};
    use imagevault::core::PasswordHash;
    use imagevault::{MemoryRepo, UserId};

    use super::*;

    /// More than two batches, so that listing has to follow the keyset across pages.
    const COUNT: usize = 2 * BATCH + 7;

    #[tokio::test]
    async fn listings_cover_every_page_oldest_first() {
        let repo = MemoryRepo::new();
        let start = SystemClock.now();
        for number in 0..COUNT {
            // Some items share a creation time: the id breaks the tie.
            let created_at = start + Duration::from_secs((number / 3) as u64);
            let plan = Plan::new(
                PlanSpec {
                    name: PlanName::parse(&format!("plan {number}")).unwrap(),
                    thumbnail_heights: ThumbnailHeights::new([200]).unwrap(),
                    thumbnail_formats: Default::default(),
                    original_link: false,
                    expiring_links: false,
                    quota: QuotaLimits::UNLIMITED,
                    strip_metadata: false,
                },
                created_at,
            );
            repo.create_plan(&plan).await.unwrap();
            let user = User {
                id: UserId::new(),
                username: Username::parse(&format!("user{number}")).unwrap(),
                password_hash: PasswordHash::from_phc("$argon2id$unused"),
                is_admin: false,
                plan_id: None,
                quota: Default::default(),
                created_at,
            };
            repo.create_user(&user).await.unwrap();
        }
        let plans: Vec<String> = all_plans(&repo)
            .await
            .unwrap()
            .into_iter()
            .map(|plan| plan.name.to_string())
            .collect();
        // The memory repository has the built-in plans too, as a migrated database does.
        let expected: Vec<String> = ["Basic", "Premium", "Enterprise"]
            .map(str::to_owned)
            .into_iter()
            .chain((0..COUNT).map(|number| format!("plan {number}")))
            .collect();
        assert_eq!(plans, expected);
        let users: Vec<String> = all_users(&repo)
            .await
            .unwrap()
            .into_iter()
            .map(|user| user.username.to_string())
            .collect();
        let expected: Vec<String> = (0..COUNT).map(|number| format!("user{number}")).collect();
        assert_eq!(users, expected);
    }

    #[tokio::test]
    async fn plans_resolve_by_id_name_and_name_ignoring_case() {
        let repo = MemoryRepo::new();
        let plan = Plan::new(
            PlanSpec {
                name: PlanName::parse("Gold").unwrap(),
                thumbnail_heights: ThumbnailHeights::new([100, 300]).unwrap(),
                thumbnail_formats: Default::default(),
                original_link: true,
                expiring_links: false,
                quota: QuotaLimits::UNLIMITED,
                strip_metadata: false,
            },
            SystemClock.now(),
        );
        repo.create_plan(&plan).await.unwrap();
        for text in ["Gold", "gold", " GOLD ", &plan.id.to_string()] {
            assert_eq!(
                resolve_plan(&repo, text).await.unwrap().id,
                plan.id,
                "{text}"
            );
        }
        let error = resolve_plan(&repo, "Silver").await.unwrap_err().to_string();
        assert!(
            error.contains(
                "unknown plan \"Silver\"; the plans are: Basic, Premium, Enterprise, Gold"
            ),
            "{error}"
        );
    }
}
