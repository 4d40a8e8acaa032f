//! Continuous-training pipelines.
//!
//! - [`spec`]: `pipeline.toml`, parsed and validated (cycles, unknown inputs, type
//!   mismatches, unknown step types, cron expressions), with errors that name the file,
//!   line, column and key.
//! - [`step`]: the contract every step type implements, and the ports of the built-in
//!   types.
//! - [`builtin`]: the built-in step types (ingest, validate, split, transform, train, tune,
//!   evaluate, gate, register, deploy, batch_predict).

pub mod builtin;
pub mod command;
pub mod digest;
pub mod error;
pub mod graph;
pub mod spec;
pub mod step;
pub mod trigger;

pub use error::{Error, Result};
