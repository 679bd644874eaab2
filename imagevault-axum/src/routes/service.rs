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

/// Each part's state: `ok` or what failed.
#[derive(Debug, Serialize, ToSchema)]
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

async fn probe<T, E: std::fmt::Display>(
    check: impl std::future::Future<Output = Result<T, E>>,
) -> Result<String, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(_)) => Ok("ok".to_owned()),
        Ok(Err(error)) => Err(format!("failed: {error}")),
        Err(_) => Err(format!(
            "failed: no answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// Readiness: 200 when the database, storage and queue answer, else 503 naming each part
/// that failed.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses(
        (status = 200, description = "Database, storage and queue answer", body = Readiness),
        (status = 503, description = "At least one part failed; each is named", body = Readiness),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let vault = &state.vault;
    // A key that is never written: `head` must answer "absent" without error.
    let probe_key = StorageKey::parse(
        "thumbnail/00000000-0000-4000-8000-000000000000/00000000-0000-4000-8000-000000000000.png",
    );
    let (database, storage, queue) = tokio::join!(
        probe(vault.repo().ping()),
        async {
            let Some(key) = &probe_key else {
                return Err("failed: no probe key".to_owned());
            };
            probe(async {
                vault.storage().head(key).await?;
                // S3 answers a missing bucket's objects with 404, like absent ones; a
                // listing fails instead, so one listed item tells a missing bucket apart.
                let mut listing = vault.storage().list(&KeyPrefix::thumbnails());
                listing.next().await.transpose()
            })
            .await
        },
        probe(vault.queue().depth()),
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
            Json(Readiness {
                status: Some("ready"),
                detail: None,
                database: text(database),
                storage: text(storage),
                queue: text(queue),
            }),
        )
    } else {
        tracing::warn!(failed = ?failed, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: None,
                detail: Some(format!("Not ready: {} failed.", failed.join(", "))),
                database: text(database),
                storage: text(storage),
                queue: text(queue),
            }),
        )
    }
}
