//! Continuous-training pipelines.
//!
//! - [`spec`]: `pipeline.toml`, parsed and validated (cycles, unknown inputs, type
//!   mismatches, unknown step types, cron expressions), with errors that name the file,
//!   line, column and key.
//! - [`step`]: the contract every step type implements, and the ports of the built-in
//!   types; [`builtin`] implements them, [`command`] runs custom steps in any language.
//! - [`engine`]: submits runs (each an MLflow run with its steps as nested runs), deploys
//!   pipelines, records trigger firings; [`worker`] claims queued steps with leases, runs
//!   them with caching ([`digest`]) and commits their outputs and lineage;
//!   [`local`] runs a pipeline on this machine with in-process workers.
//! - [`trigger`] and [`scheduler`]: cron schedules, new data, watermarks, upstream runs.
//! - [`lineage`]: what produced an artifact or model version, and what used it since.
//! - [`graph`]: the DAG as text, DOT and SVG.
//! - [`glob`]: the file-name globs of new-data triggers, `ingest` and step `code`.

pub mod builtin;
pub mod command;
pub mod digest;
pub mod engine;
pub mod error;
pub mod glob;
pub mod graph;
pub mod lineage;
pub mod local;
mod registry;
pub mod scheduler;
pub mod service;
pub mod spec;
pub mod step;
pub mod trigger;
pub mod worker;

pub use engine::{Engine, RunRequest};
pub use error::{Error, Result};
