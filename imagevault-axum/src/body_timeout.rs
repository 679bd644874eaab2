//! Ends a request whose body stops arriving. A client that sends a body slowly or not at
//! all holds an upload's place and a connection; the request timeout would end it only
//! after a minute, so a read that waits this long for a byte answers 408 instead.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody as _};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;

/// The middleware: gives the request a body that fails once no byte came for `idle` while
/// it was being read, and answers such a request with 408 whatever the handler made of the
/// failure.
pub(crate) async fn end_stalled_bodies(
    State(idle): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let stalled = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::from_stream(WatchedBody {
            inner: body.into_data_stream(),
            idle,
            deadline: None,
            stalled: Arc::clone(&stalled),
        })
    });
    let response = next.run(request).await;
    if stalled.load(Ordering::Relaxed) {
        tracing::info!(
            idle_secs = idle.as_secs_f64(),
            "request body stalled; answered 408"
        );
        return ApiError::body_stalled(idle).into_response();
    }
    response
}

/// The body was not read to its end: no byte arrived within the idle limit.
#[derive(Debug, thiserror::Error)]
#[error("no bytes of the request body arrived for {0:?}")]
struct Stalled(Duration);

struct WatchedBody {
    inner: BodyDataStream,
    idle: Duration,
    /// Armed while the reader waits for the client; a handler busy elsewhere between two
    /// reads (waiting for an upload permit, say) is not the client's stall.
    deadline: Option<Pin<Box<Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl Stream for WatchedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            this.deadline = None;
            return Poll::Ready(item);
        }
        let idle = this.idle;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + idle)));
        ready!(deadline.as_mut().poll(cx));
        this.deadline = None;
        this.stalled.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(axum::Error::new(Stalled(idle)))))
    }
}
