//! `/media/...`: originals, thumbnails and expiring links, served anonymously with strong
//! ETags, conditional requests, byte ranges and the API's cache rules.

use std::ops::Range;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::TryStreamExt as _;
use imagevault_core::{MediaCaching, MediaObject, VaultError};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::anonymous_405;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/media/{*path}",
        get(serve_media).fallback(anonymous_405!("GET, HEAD")),
    )
}

/// A `Range` header, as far as this server honours it.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// No range, or one we answer with the whole body (several ranges, other units).
    Whole,
    /// `bytes=start-end` (end inclusive), `bytes=start-` or `bytes=-suffix`.
    Bytes {
        start: Option<u64>,
        end: Option<u64>,
    },
    /// Syntactically a byte range but malformed: answered like an unsatisfiable one.
    Invalid,
}

fn parse_range(value: &str) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        // Multipart byte ranges are optional (RFC 9110 §14.2); the whole body is valid.
        return RangeRequest::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Invalid;
    };
    let number = |text: &str| -> Result<Option<u64>, ()> {
        let text = text.trim();
        if text.is_empty() {
            Ok(None)
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse().map(Some).map_err(|_| ())
        } else {
            Err(())
        }
    };
    match (number(start), number(end)) {
        (Ok(None), Ok(None)) | (Err(()), _) | (_, Err(())) => RangeRequest::Invalid,
        (Ok(start), Ok(end)) => RangeRequest::Bytes { start, end },
    }
}

/// The byte range to send for `request` on an object of `size` bytes; `None` when it
/// cannot be satisfied.
fn resolve_range(start: Option<u64>, end: Option<u64>, size: u64) -> Option<Range<u64>> {
    match (start, end) {
        (Some(start), end) => {
            if start >= size {
                return None;
            }
            let last = end.map_or(size - 1, |end| end.min(size - 1));
            (last >= start).then_some(start..last + 1)
        }
        (None, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                return None;
            }
            Some(size.saturating_sub(suffix)..size)
        }
        (None, None) => None,
    }
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, as RFC 9110 asks
/// for this header).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == bare(etag))
}

/// Whether an `If-Range` header allows a partial answer: only the same strong ETag does.
fn if_range_allows(headers: &HeaderMap, etag: &str) -> bool {
    match headers.get(header::IF_RANGE) {
        None => true,
        Some(value) => value.to_str().is_ok_and(|value| value.trim() == etag),
    }
}

/// The `Content-Security-Policy` of every media answer.
pub(crate) const MEDIA_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; sandbox";

/// The `Cross-Origin-Resource-Policy` of every media answer: `cross-origin`, because the
/// API's clients are web apps on their own origins that show thumbnails and linked
/// originals in `<img>` tags; `same-site` or `same-origin` would make browsers block those.
/// What a media URL serves is public to whoever holds the URL anyway (an unguessable
/// capability), so the header adds no secrecy to lose; sending it explicitly keeps the
/// files embeddable by pages that require it (`Cross-Origin-Embedder-Policy`).
pub(crate) const MEDIA_RESOURCE_POLICY: &str = "cross-origin";

const CROSS_ORIGIN_RESOURCE_POLICY: header::HeaderName =
    header::HeaderName::from_static("cross-origin-resource-policy");

fn cache_control(caching: MediaCaching) -> HeaderValue {
    match caching {
        MediaCaching::Immutable => HeaderValue::from_static("public, max-age=31536000, immutable"),
        MediaCaching::Revalidate => HeaderValue::from_static("private, no-cache"),
        MediaCaching::Private { max_age } => {
            HeaderValue::from_str(&format!("private, max-age={max_age}"))
                .unwrap_or_else(|_| HeaderValue::from_static("private, no-store"))
        }
    }
}

/// The headers every successful media answer carries.
fn media_headers(media: &MediaObject) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.format.content_type()),
    );
    if let Ok(etag) = HeaderValue::from_str(&media.etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, cache_control(media.caching));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Opened as a document (a crafted file, a link followed), an image runs nothing and
    // loads nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(MEDIA_CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        CROSS_ORIGIN_RESOURCE_POLICY,
        HeaderValue::from_static(MEDIA_RESOURCE_POLICY),
    );
    // `X-Content-Type-Options: nosniff` is set on every response by the router's layers.
    headers
}

fn vanished() -> ApiError {
    // Resolved a moment ago but gone now: deleted in between.
    ApiError::not_found()
}

/// Serve a media file (`GET` or `HEAD`): an original, a thumbnail or an expiring link.
///
/// 404 for anything that is not exactly a media URL this server made, or that the owner's
/// plan does not show; 410 for an expired link.
#[utoipa::path(get, path = "/media/{kind}/{dir}/{file}", tag = "media",
    params(
        ("kind" = String, Path, description = "`imageupload`, `thumbnail` or `exp`"),
        ("dir" = uuid::Uuid, Path, description = "A random UUID"),
        ("file" = String, Path, description = "A random UUID with `.jpg` or `.png`, or `.webp` for a thumbnail's WebP variant"),
        ("Range" = Option<String>, Header, description = "`bytes=start-end`, `bytes=start-` or `bytes=-suffix`"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        // One content type per image format: crate::openapi::ImageContentTypes adds them.
        (status = 200, description = "The file",
            headers(
                ("ETag" = String, description = "A strong entity tag"),
                ("Cache-Control" = String, description = "Thumbnails: `public, max-age=31536000, immutable`. Originals: `private, no-cache` (revalidate with `If-None-Match` on every use; the plan or a deletion may withdraw them). Expiring links: `private, max-age=<whole seconds left>`"),
                ("Content-Security-Policy" = String, description = "`default-src 'none'; sandbox`"),
                ("Cross-Origin-Resource-Policy" = String, description = "`cross-origin`: pages of other origins may embed the file"),
            )),
        (status = 206, description = "The requested byte range"),
        (status = 304, description = "Not modified since the ETag given"),
        (status = 404, description = "Unknown, deleted, not granted by the plan, or malformed", body = crate::schema::DetailBody),
        (status = 410, description = "The expiring link has expired", body = crate::schema::DetailBody),
        (status = 416, description = "The range is outside the file", body = crate::schema::DetailBody),
    ))]
pub(crate) async fn serve_media(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    // The raw path, still percent-encoded: an encoded slash or dot never parses.
    let path = uri.path().strip_prefix("/media/").unwrap_or_default();
    let vault = &state.vault;
    let media = vault.resolve_media(path).await?;
    let mut headers = media_headers(&media);
    if none_match(&request_headers, &media.etag) {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }

    let range = match request_headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
    {
        Some(value) if if_range_allows(&request_headers, &media.etag) => parse_range(value),
        _ => RangeRequest::Whole,
    };
    let size = match range {
        RangeRequest::Whole if method != Method::HEAD => None,
        _ => Some(
            vault
                .storage()
                .head(&media.key)
                .await
                .map_err(VaultError::from)?
                .ok_or_else(vanished)?
                .size,
        ),
    };
    let selected = match (range, size) {
        (RangeRequest::Bytes { start, end }, Some(size)) => match resolve_range(start, end, size) {
            Some(selected) => Some(selected),
            None => return Err(unsatisfiable(size, headers)),
        },
        (RangeRequest::Invalid, Some(size)) => return Err(unsatisfiable(size, headers)),
        _ => None,
    };

    if method == Method::HEAD {
        let size = size.unwrap_or_default();
        let (status, length) = match &selected {
            Some(range) => {
                insert_content_range(&mut headers, range, size);
                (StatusCode::PARTIAL_CONTENT, range.end - range.start)
            }
            None => (StatusCode::OK, size),
        };
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        return Ok((status, headers).into_response());
    }

    let object = vault
        .open_media(&media, selected.clone())
        .await?
        .ok_or_else(vanished)?;
    let status = match &selected {
        Some(range) => {
            insert_content_range(&mut headers, range, object.info.size);
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    let length = object.range.end - object.range.start;
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    // A small body goes out as one buffer, which hyper writes with the headers in one
    // call; a large one streams, so memory stays bounded (an object from the media cache
    // is one chunk either way, and is not copied).
    let body = if length <= ONE_BUFFER_BODY_LIMIT {
        Body::from(object.bytes().await.map_err(VaultError::from)?)
    } else {
        Body::from_stream(object.body.map_err(axum::Error::new))
    };
    Ok((status, headers, body).into_response())
}

/// The largest body read into one buffer before it is sent: one chunk of a local file.
const ONE_BUFFER_BODY_LIMIT: u64 = 256 * 1024;

fn insert_content_range(headers: &mut HeaderMap, range: &Range<u64>, size: u64) {
    if let Ok(value) =
        HeaderValue::from_str(&format!("bytes {}-{}/{size}", range.start, range.end - 1))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
}

fn unsatisfiable(size: u64, headers: HeaderMap) -> ApiError {
    let mut error = ApiError::detail(
        StatusCode::RANGE_NOT_SATISFIABLE,
        format!("The requested range is not within the file's {size} bytes."),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        error = error.with_header(header::CONTENT_RANGE, value);
    }
    if let Some(cache) = headers.get(header::CACHE_CONTROL) {
        error = error.with_header(header::CACHE_CONTROL, cache.clone());
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(
            parse_range("bytes=0-99"),
            RangeRequest::Bytes {
                start: Some(0),
                end: Some(99)
            }
        );
        assert_eq!(
            parse_range("bytes=100-"),
            RangeRequest::Bytes {
                start: Some(100),
                end: None
            }
        );
        assert_eq!(
            parse_range("bytes=-5"),
            RangeRequest::Bytes {
                start: None,
                end: Some(5)
            }
        );
        assert_eq!(parse_range("bytes=0-1,5-6"), RangeRequest::Whole);
        assert_eq!(parse_range("items=0-1"), RangeRequest::Whole);
        assert_eq!(parse_range("bytes=-"), RangeRequest::Invalid);
        assert_eq!(parse_range("bytes=a-b"), RangeRequest::Invalid);
        assert_eq!(parse_range("bytes=5"), RangeRequest::Invalid);
    }

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(resolve_range(Some(0), Some(99), 1000), Some(0..100));
        assert_eq!(resolve_range(Some(990), Some(2000), 1000), Some(990..1000));
        assert_eq!(resolve_range(Some(10), None, 1000), Some(10..1000));
        assert_eq!(resolve_range(None, Some(10), 1000), Some(990..1000));
        assert_eq!(resolve_range(None, Some(5000), 1000), Some(0..1000));
        assert_eq!(resolve_range(Some(1000), None, 1000), None);
        assert_eq!(resolve_range(Some(5), Some(4), 1000), None);
        assert_eq!(resolve_range(None, Some(0), 1000), None);
    }

    #[test]
    fn etags_match_lists_and_stars() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", \"b\""),
        );
        assert!(none_match(&headers, "\"b\""));
        assert!(!none_match(&headers, "\"c\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, "\"c\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"c\""));
        assert!(none_match(&headers, "\"c\""));
    }
}
