//! `/healthz` and `/readyz`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Router, response::IntoResponse};
use futures::StreamExt as _;
use imagevault_core::StorageKey;
use imagevault_core::storage::KeyPrefix;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::error_chain;
use crate::routes::anonymous_405;

/// How long one readiness probe may take before the part counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(healthz).fallback(anonymous_405!("GET, HEAD")),
        )
        .route("/readyz", get(readyz).fallback(anonymous_405!("GET, HEAD")))
}

/// The process is running.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "The process is running", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Each part's state: `ok`, or `failed: ` and what went wrong in general terms (the
/// error itself is in the server's log).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready`, or absent when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    /// Which parts failed, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    database: String,
    storage: String,
    queue: String,
}

/// Runs `part`'s check within [`PROBE_TIMEOUT`]. A failure is logged in full but
/// answered in general terms: `/readyz` needs no credentials, and driver errors can name
/// hosts, users, buckets and SQL.
async fn probe<T, E: std::error::Error>(
    part: &'static str,
    check: impl std::future::Future<Output = Result<T, E>>,
) -> Result<String, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(_)) => Ok("ok".to_owned()),
        Ok(Err(error)) => {
            tracing::warn!(part, error = %error_chain(&error), "readiness check failed");
            Err(format!(
                "failed: the {part} returned an error; see the server log"
            ))
        }
        Err(_) => {
            tracing::warn!(
                part,
                timeout_secs = PROBE_TIMEOUT.as_secs(),
                "readiness check got no answer in time"
            );
            Err(format!(
                "failed: no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ))
        }
    }
}

/// How old a readiness answer may be before `/readyz` checks the backends again.
pub(crate) const READINESS_MAX_AGE: Duration = Duration::from_secs(1);

/// The last readiness answer. `/readyz` needs no credentials, so a flood of it must not
/// turn into a flood of backend queries: callers within [`READINESS_MAX_AGE`] of a check
/// get its answer, and callers arriving while a check runs wait for that one (the lock is
/// held across the check) instead of starting their own.
#[derive(Debug, Default)]
pub(crate) struct ReadinessCache {
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, StatusCode, Readiness)>>,
}

impl ReadinessCache {
    async fn get(&self, state: &AppState) -> (StatusCode, Readiness) {
        let mut last = self.last.lock().await;
        if let Some((checked, status, readiness)) = &*last
            && checked.elapsed() < READINESS_MAX_AGE
        {
            return (*status, readiness.clone());
        }
        let (status, readiness) = check_readiness(state).await;
        // Aged from the end of the check, so a slow check is not stale at once.
        *last = Some((tokio::time::Instant::now(), status, readiness.clone()));
        (status, readiness)
    }
}

/// Readiness: 200 when the database, storage and queue answer, else 503 naming each part
/// that failed. The answer may be up to a second old: concurrent and repeated calls share
/// one check of the backends.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses(
        (status = 200, description = "Database, storage and queue answer", body = Readiness),
        (status = 503, description = "At least one part failed; each is named", body = Readiness),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (status, readiness) = state.readiness.get(&state).await;
    (status, Json(readiness))
}

async fn check_readiness(state: &AppState) -> (StatusCode, Readiness) {
    let vault = &state.vault;
    // A key that is never written: `head` must answer "absent" without error.
    let probe_key = StorageKey::parse(
        "thumbnail/00000000-0000-4000-8000-000000000000/00000000-0000-4000-8000-000000000000.png",
    );
    let (database, storage, queue) = tokio::join!(
        probe("database", vault.repo().ping()),
        async {
            let Some(key) = &probe_key else {
                return Err("failed: no probe key".to_owned());
            };
            probe("storage", async {
                vault.storage().head(key).await?;
                // S3 answers a missing bucket's objects with 404, like absent ones; a
                // listing fails instead, so one listed item tells a missing bucket apart.
                let mut listing = vault.storage().list(&KeyPrefix::thumbnails());
                listing.next().await.transpose()
            })
            .await
        },
        probe("queue", vault.queue().depth()),
    );
    let failed: Vec<&str> = [
        ("database", &database),
        ("storage", &storage),
        ("queue", &queue),
    ]
    .iter()
    .filter(|(_, result)| result.is_err())
    .map(|(name, _)| *name)
    .collect();
    let text = |result: Result<String, String>| result.unwrap_or_else(|error| error);
    if failed.is_empty() {
        (
            StatusCode::OK,
            Readiness {
                status: Some("ready"),
                detail: None,
                database: text(database),
                storage: text(storage),
                queue: text(queue),
            },
        )
    } else {
        tracing::warn!(failed = ?failed, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Readiness {
                status: None,
                detail: Some(format!("Not ready: {} failed.", failed.join(", "))),
                database: text(database),
                storage: text(storage),
                queue: text(queue),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_check_is_answered_without_the_error_text() {
        let inner = "connection to db.internal:5432 failed: password authentication failed for user \"vault\"";
        let answer = probe("database", async {
            Err::<(), _>(std::io::Error::other(inner))
        })
        .await;
        assert_eq!(
            answer,
            Err("failed: the database returned an error; see the server log".to_owned())
        );
    }

    #[tokio::test]
    async fn a_passed_check_is_ok() {
        let answer = probe("queue", async { Ok::<_, std::io::Error>(3) }).await;
        assert_eq!(answer, Ok("ok".to_owned()));
    }
}
