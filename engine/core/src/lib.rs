//! The bottom layer of LoRA Workbench's engine: what every other engine crate
//! shares and nothing else.
//!
//! - [`error`]: `Error`, what went wrong, where (file, line, field) and what to do.
//! - [`atomic`]: crash-safe writes (temporary name, fsync, rename; whole
//!   directories; fsynced appends).
//! - [`cancel`]: the flag a job polls and its caller sets.
//! - [`documents`]: JSON documents kept in a folder of their own, newest first.

pub mod atomic;
pub mod cancel;
pub mod documents;
pub mod error;

pub use error::{Error, Result};
