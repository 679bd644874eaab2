#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod keys;
mod queue;
mod scripts;

pub use error::SetupError;
pub use queue::{RedisJobQueue, RedisJobQueueBuilder};
