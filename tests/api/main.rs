//! End-to-end tests of the REST API contract (`API.md`): the real server of
//! `imagevault::server::serve` (router, in-process worker and reconciler) on a free port of
//! 127.0.0.1, with a fresh SQLite database and media directory per test, driven over HTTP.
//!
//! Run with `cargo test --all-features --test api`; set `TEST_LOG=1` to see the server's logs.

// A failed unwrap is a failed test here, with the location in the message.
#![allow(clippy::unwrap_used)]

mod helpers;

mod admin;
mod auth;
#[cfg(feature = "postgres")]
mod change_feed;
mod connections;
#[cfg(feature = "console")]
mod console_admin;
#[cfg(feature = "console")]
mod console_user;
mod conventions;
mod edge;
mod hostile;
mod hostile_files;
mod images;
mod isolation;
mod limits;
mod links;
mod media;
mod placeholders;
mod plans;
mod quotas;
mod schema;
mod strip_metadata;
mod throttling;
mod uploads;
mod webp;
