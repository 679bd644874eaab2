//! The metrics imagevault records, through the [`metrics`] facade: every name, label and
//! bounded label value in one place, read by the instrumentation points and by whoever
//! exports them.
//!
//! Nothing is recorded until the application installs a recorder (such as the Prometheus
//! exporter of the `imagevault` facade's `metrics` module); without one every recording is
//! a no-op. [`describe`] registers the descriptions and units with the recorder installed.
//!
//! Label values are bounded: HTTP routes are route templates (never raw paths or ids),
//! statuses are classes, and thumbnail heights are those of the plans, which
//! administrators define (at most [`ThumbnailHeights::MAX_COUNT`](crate::ThumbnailHeights::MAX_COUNT)
//! per plan, between [`ThumbnailHeight::MIN`] and [`ThumbnailHeight::MAX`] pixels).
//!
//! Gauges (queue depth, database pool) are sampled by [`Vault::record_gauges`], which the
//! exporter calls when it is scraped.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use crate::plan::ThumbnailHeight;
use crate::service::{SweepReport, Vault};

/// HTTP requests answered (counter), by [`LABEL_METHOD`], [`LABEL_ROUTE`] and
/// [`LABEL_STATUS`].
pub const HTTP_REQUESTS: &str = "imagevault_http_requests_total";
/// Seconds from a request's arrival to its response's head (histogram), by the labels of
/// [`HTTP_REQUESTS`].
pub const HTTP_REQUEST_SECONDS: &str = "imagevault_http_request_duration_seconds";
/// Thumbnails rendered and stored (counter), by [`LABEL_HEIGHT`].
pub const THUMBNAILS_RENDERED: &str = "imagevault_thumbnails_rendered_total";
/// Thumbnails marked failed (counter), by [`LABEL_HEIGHT`].
pub const THUMBNAILS_FAILED: &str = "imagevault_thumbnails_failed_total";
/// Seconds to resize and encode one thumbnail from the decoded original (histogram), by
/// [`LABEL_HEIGHT`].
pub const THUMBNAIL_RENDER_SECONDS: &str = "imagevault_thumbnail_render_seconds";
/// Seconds to decode an original once for all its thumbnails (histogram).
pub const THUMBNAIL_DECODE_SECONDS: &str = "imagevault_thumbnail_decode_seconds";
/// Seconds from an upload to the moment its last thumbnail was ready (histogram); only
/// the first rendering of an image counts, not a regeneration.
pub const UPLOAD_TO_READY_SECONDS: &str = "imagevault_upload_to_ready_seconds";
/// Uploads stored (counter).
pub const UPLOADS: &str = "imagevault_uploads_total";
/// Jobs settled by the worker (counter), by [`LABEL_OUTCOME`]: [`OUTCOME_COMPLETED`],
/// [`OUTCOME_RETRIED`] or [`OUTCOME_DEAD_LETTERED`].
pub const JOBS: &str = "imagevault_jobs_total";
/// Jobs in the queue (gauge), by [`LABEL_STATE`]: [`STATE_READY`], [`STATE_DELAYED`],
/// [`STATE_IN_FLIGHT`] and [`STATE_DEAD`] (the dead letters).
pub const QUEUE_JOBS: &str = "imagevault_queue_jobs";
/// Reconciler passes (counter), by [`LABEL_PASS`] ([`PASS_FULL`] or [`PASS_LAPSED`]) and
/// [`LABEL_RESULT`] ([`RESULT_OK`] or [`RESULT_ERROR`]).
pub const RECONCILER_RUNS: &str = "imagevault_reconciler_runs_total";
/// Images the reconciler queued again (counter), by [`LABEL_PASS`]: a lapsed pass's are
/// the lapsed leases.
pub const RECONCILER_QUEUED: &str = "imagevault_reconciler_queued_total";
/// Sweeper passes (counter), by [`LABEL_RESULT`].
pub const SWEEPER_RUNS: &str = "imagevault_sweeper_runs_total";
/// Stored objects a sweep looked at (counter), by [`LABEL_ACTION`]: [`ACTION_DELETED`],
/// [`ACTION_KEPT`] (referenced, young or undated) or [`ACTION_FAILED`].
pub const SWEEPER_OBJECTS: &str = "imagevault_sweeper_objects_total";
/// Bytes the sweeper deleted (counter).
pub const SWEEPER_DELETED_BYTES: &str = "imagevault_sweeper_deleted_bytes_total";
/// Read-cache lookups that found a valid entry (counter), by [`LABEL_CACHE`].
pub const CACHE_HITS: &str = "imagevault_cache_hits_total";
/// Read-cache lookups that did not (counter), by [`LABEL_CACHE`].
pub const CACHE_MISSES: &str = "imagevault_cache_misses_total";
/// Database connections (gauge), by [`LABEL_STATE`]: [`STATE_IN_USE`] and [`STATE_IDLE`].
pub const DB_POOL_CONNECTIONS: &str = "imagevault_db_pool_connections";
/// The most database connections the pool opens (gauge).
pub const DB_POOL_MAX_CONNECTIONS: &str = "imagevault_db_pool_max_connections";
/// Logins refused by the login throttle (counter), by [`LABEL_CREDENTIAL`].
pub const LOGIN_THROTTLED: &str = "imagevault_login_throttled_total";

/// Label: the HTTP method (`GET`, ..., or `other`).
pub const LABEL_METHOD: &str = "method";
/// Label: the route template, such as `/api/images/{id}/`, or [`ROUTE_UNMATCHED`].
pub const LABEL_ROUTE: &str = "route";
/// Label: the status class, `1xx` to `5xx`.
pub const LABEL_STATUS: &str = "status";
/// Label: a thumbnail's maximum height in pixels.
pub const LABEL_HEIGHT: &str = "height";
/// Label: how a job was settled.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label: a queue's or pool's part.
pub const LABEL_STATE: &str = "state";
/// Label: which reconciler pass.
pub const LABEL_PASS: &str = "pass";
/// Label: whether a pass succeeded.
pub const LABEL_RESULT: &str = "result";
/// Label: what the sweeper did with an object.
pub const LABEL_ACTION: &str = "action";
/// Label: which read cache.
pub const LABEL_CACHE: &str = "cache";
/// Label: what a refused login presented: [`CREDENTIAL_PASSWORD`] or [`CREDENTIAL_TOKEN`].
pub const LABEL_CREDENTIAL: &str = "credential";

/// [`LABEL_ROUTE`] of a request that matched no route (never its path).
pub const ROUTE_UNMATCHED: &str = "unmatched";
/// [`LABEL_OUTCOME`]: acknowledged.
pub const OUTCOME_COMPLETED: &str = "completed";
/// [`LABEL_OUTCOME`]: queued again after a transient failure.
pub const OUTCOME_RETRIED: &str = "retried";
/// [`LABEL_OUTCOME`]: given up.
pub const OUTCOME_DEAD_LETTERED: &str = "dead_lettered";
/// [`LABEL_STATE`] of queued jobs: ready to run.
pub const STATE_READY: &str = "ready";
/// [`LABEL_STATE`] of queued jobs: waiting for a retry's delay.
pub const STATE_DELAYED: &str = "delayed";
/// [`LABEL_STATE`] of queued jobs: reserved by a worker.
pub const STATE_IN_FLIGHT: &str = "in_flight";
/// [`LABEL_STATE`] of queued jobs: dead letters.
pub const STATE_DEAD: &str = "dead";
/// [`LABEL_STATE`] of connections: lent out.
pub const STATE_IN_USE: &str = "in_use";
/// [`LABEL_STATE`] of connections: open and free.
pub const STATE_IDLE: &str = "idle";
/// [`LABEL_PASS`]: a full pass, reading every image.
pub const PASS_FULL: &str = "full";
/// [`LABEL_PASS`]: a pass over lapsed leases only.
pub const PASS_LAPSED: &str = "lapsed";
/// [`LABEL_RESULT`]: the pass finished.
pub const RESULT_OK: &str = "ok";
/// [`LABEL_RESULT`]: the pass failed.
pub const RESULT_ERROR: &str = "error";
/// [`LABEL_ACTION`]: deleted (or, in a dry run, would have been).
pub const ACTION_DELETED: &str = "deleted";
/// [`LABEL_ACTION`]: kept.
pub const ACTION_KEPT: &str = "kept";
/// [`LABEL_ACTION`]: its deletion failed.
pub const ACTION_FAILED: &str = "failed";
/// [`LABEL_CACHE`]: remembered password checks.
pub const CACHE_VERIFIED_LOGINS: &str = "verified_logins";
/// [`LABEL_CACHE`]: expiring links.
pub const CACHE_LINKS: &str = "links";
/// [`LABEL_CACHE`]: originals' owners' plans, by storage key.
pub const CACHE_ORIGINALS: &str = "originals";
/// [`LABEL_CACHE`]: token accounts.
pub const CACHE_ACCOUNTS: &str = "accounts";
/// [`LABEL_CACHE`]: small media objects.
pub const CACHE_MEDIA: &str = "media";
/// [`LABEL_CREDENTIAL`]: a username and password.
pub const CREDENTIAL_PASSWORD: &str = "password";
/// [`LABEL_CREDENTIAL`]: an API token.
pub const CREDENTIAL_TOKEN: &str = "token";

/// Bucket bounds, in seconds, of the latency histograms ([`HTTP_REQUEST_SECONDS`],
/// [`THUMBNAIL_RENDER_SECONDS`], [`THUMBNAIL_DECODE_SECONDS`]): 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds, in seconds, of [`UPLOAD_TO_READY_SECONDS`]: 50 ms to 30 min, since a
/// backlog or a worker outage stretches it far beyond one render.
pub const UPLOAD_TO_READY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0,
];
/// The histograms that use [`LATENCY_BUCKETS`].
pub const LATENCY_HISTOGRAMS: &[&str] = &[
    HTTP_REQUEST_SECONDS,
    THUMBNAIL_RENDER_SECONDS,
    THUMBNAIL_DECODE_SECONDS,
];

/// Registers every metric's description and unit with the installed recorder; call it
/// once after installing one.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status class"
    );
    describe_histogram!(
        HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "Time from a request's arrival to its response's head"
    );
    describe_counter!(
        THUMBNAILS_RENDERED,
        "Thumbnails rendered and stored, by height"
    );
    describe_counter!(THUMBNAILS_FAILED, "Thumbnails marked failed, by height");
    describe_histogram!(
        THUMBNAIL_RENDER_SECONDS,
        Unit::Seconds,
        "Time to resize and encode one thumbnail, by height"
    );
    describe_histogram!(
        THUMBNAIL_DECODE_SECONDS,
        Unit::Seconds,
        "Time to decode an original for its thumbnails"
    );
    describe_histogram!(
        UPLOAD_TO_READY_SECONDS,
        Unit::Seconds,
        "Time from an upload to its last thumbnail ready"
    );
    describe_counter!(UPLOADS, "Uploads stored");
    describe_counter!(JOBS, "Jobs settled by the worker, by outcome");
    describe_gauge!(
        QUEUE_JOBS,
        "Jobs in the queue, by state (dead: the dead letters)"
    );
    describe_counter!(RECONCILER_RUNS, "Reconciler passes, by pass and result");
    describe_counter!(
        RECONCILER_QUEUED,
        "Images the reconciler queued again, by pass (lapsed: lapsed leases)"
    );
    describe_counter!(SWEEPER_RUNS, "Sweeper passes, by result");
    describe_counter!(
        SWEEPER_OBJECTS,
        "Stored objects a sweep looked at, by what it did"
    );
    describe_counter!(
        SWEEPER_DELETED_BYTES,
        Unit::Bytes,
        "Bytes the sweeper deleted"
    );
    describe_counter!(
        CACHE_HITS,
        "Read-cache lookups that found a valid entry, by cache"
    );
    describe_counter!(CACHE_MISSES, "Read-cache lookups that did not, by cache");
    describe_gauge!(DB_POOL_CONNECTIONS, "Database connections, by state");
    describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "The most database connections the pool opens"
    );
    describe_counter!(
        LOGIN_THROTTLED,
        "Logins refused by the login throttle, by credential"
    );
}

/// Seconds as a histogram records them.
fn seconds(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64()
}

/// Counts a read-cache lookup of `cache` that did or did not find a valid entry.
pub(crate) fn record_cache_lookup(cache: &'static str, hit: bool) {
    let name = if hit { CACHE_HITS } else { CACHE_MISSES };
    counter!(name, LABEL_CACHE => cache).increment(1);
}

/// Counts a login refused by the throttle.
pub(crate) fn record_login_throttled(credential: &'static str) {
    counter!(LOGIN_THROTTLED, LABEL_CREDENTIAL => credential).increment(1);
}

/// Records one thumbnail's resize and encode time.
pub(crate) fn record_render(height: u32, elapsed: Duration) {
    metrics::histogram!(THUMBNAIL_RENDER_SECONDS, LABEL_HEIGHT => height.to_string())
        .record(seconds(elapsed));
}

/// Records an original's decode time.
pub(crate) fn record_decode(elapsed: Duration) {
    metrics::histogram!(THUMBNAIL_DECODE_SECONDS).record(seconds(elapsed));
}

/// Counts `count` thumbnails of `height` rendered (`failed == false`) or failed.
pub(crate) fn record_thumbnails(height: ThumbnailHeight, failed: bool, count: u64) {
    let name = if failed {
        THUMBNAILS_FAILED
    } else {
        THUMBNAILS_RENDERED
    };
    counter!(name, LABEL_HEIGHT => height.get().to_string()).increment(count);
}

/// Records the time from an upload to its last thumbnail ready.
pub(crate) fn record_upload_to_ready(elapsed: Duration) {
    metrics::histogram!(UPLOAD_TO_READY_SECONDS).record(seconds(elapsed));
}

/// Counts a stored upload.
pub(crate) fn record_upload() {
    counter!(UPLOADS).increment(1);
}

/// Counts a settled job.
pub(crate) fn record_job(outcome: &'static str) {
    counter!(JOBS, LABEL_OUTCOME => outcome).increment(1);
}

/// Counts a reconciler pass and, if it succeeded, the images it queued.
pub(crate) fn record_reconciler_pass(full: bool, queued: Option<usize>) {
    let pass = if full { PASS_FULL } else { PASS_LAPSED };
    let result = if queued.is_some() {
        RESULT_OK
    } else {
        RESULT_ERROR
    };
    counter!(RECONCILER_RUNS, LABEL_PASS => pass, LABEL_RESULT => result).increment(1);
    if let Some(queued) = queued {
        counter!(RECONCILER_QUEUED, LABEL_PASS => pass).increment(as_count(queued));
    }
}

/// Counts a sweeper pass and, if it finished, what it did.
pub(crate) fn record_sweep(report: Option<&SweepReport>) {
    let result = if report.is_some() {
        RESULT_OK
    } else {
        RESULT_ERROR
    };
    counter!(SWEEPER_RUNS, LABEL_RESULT => result).increment(1);
    if let Some(report) = report {
        let kept = report.referenced + report.kept_young + report.kept_undated;
        counter!(SWEEPER_OBJECTS, LABEL_ACTION => ACTION_DELETED).increment(report.deleted);
        counter!(SWEEPER_OBJECTS, LABEL_ACTION => ACTION_KEPT).increment(kept);
        counter!(SWEEPER_OBJECTS, LABEL_ACTION => ACTION_FAILED).increment(report.failed);
        counter!(SWEEPER_DELETED_BYTES).increment(report.deleted_bytes);
    }
}

/// A count as a counter increment.
fn as_count(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

/// A gauge value; counts beyond 2^53 would lose precision, which a gauge can afford.
fn as_gauge(value: u64) -> f64 {
    value as f64
}

impl Vault {
    /// Samples the gauges: the queue's depth by state (with its dead letters) and the
    /// repository's [`pool_stats`](crate::repo::Repo::pool_stats). An exporter calls this
    /// when it is scraped; a backend that does not answer leaves its gauges as they were
    /// and the error is logged.
    pub async fn record_gauges(&self) {
        match self.queue().depth().await {
            Ok(depth) => {
                for (state, jobs) in [
                    (STATE_READY, depth.ready),
                    (STATE_DELAYED, depth.delayed),
                    (STATE_IN_FLIGHT, depth.in_flight),
                    (STATE_DEAD, depth.dead),
                ] {
                    gauge!(QUEUE_JOBS, LABEL_STATE => state).set(as_gauge(jobs));
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the queue depth for the metrics"),
        }
        if let Some(pool) = self.repo().pool_stats() {
            gauge!(DB_POOL_CONNECTIONS, LABEL_STATE => STATE_IN_USE)
                .set(as_gauge(u64::from(pool.in_use)));
            gauge!(DB_POOL_CONNECTIONS, LABEL_STATE => STATE_IDLE)
                .set(as_gauge(u64::from(pool.idle)));
            gauge!(DB_POOL_MAX_CONNECTIONS).set(as_gauge(u64::from(pool.max)));
        }
    }
}
