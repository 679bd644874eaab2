//! The stylesheet and script, embedded in the binary: no build step, no files to deploy.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/console.js"),
    },
];

/// FNV-1a: enough to tell two builds' assets apart, computed at compile time.
const fn fingerprint(assets: &[Asset]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < assets.len() {
        let bytes = assets[index].body.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            hash ^= bytes[at] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            at += 1;
        }
        index += 1;
    }
    hash
}

/// The version pages put in the assets' URLs (`?v=`), a fingerprint of their content, so
/// that a browser may cache them for a year and still fetches changed ones at once.
pub(crate) const VERSION: u64 = fingerprint(&ASSETS);

pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => crate::error::ApiError::not_found().into_response(),
    }
}

/// Another method than `GET` or `HEAD`: `405` for an asset that exists, `404` as for any
/// unknown path otherwise.
pub(crate) async fn other_method(method: axum::http::Method, Path(file): Path<String>) -> Response {
    if ASSETS.iter().any(|asset| asset.name == file) {
        crate::error::ApiError::detail(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            format!("Method \"{method}\" not allowed; allowed: GET, HEAD."),
        )
        .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
        .into_response()
    } else {
        crate::error::ApiError::not_found().into_response()
    }
}
