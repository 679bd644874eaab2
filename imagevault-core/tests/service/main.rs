//! Service-level tests of `Vault` on the in-memory stack, with real photographs.

// A failed unwrap is a failed test here, with the location in the message.
#![allow(clippy::unwrap_used)]

mod harness;

mod account_page;
mod accounts;
mod admin;
mod caches;
mod console;
mod holders;
mod images;
mod links;
mod media;
mod own_tokens;
mod pagination;
mod sessions;
mod sweep;
mod worker;
