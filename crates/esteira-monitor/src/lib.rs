//! Monitoring that decides whether a model still does its job.
//!
//! - [`profile`]: mergeable per-column profiles built in one pass over Arrow batches.
//! - [`drift`]: drift tests (p-values) and distances with Evidently's names, definitions
//!   and default method choice; [`dataset`] runs them column by column over files.
//! - [`performance`]: ground truth joined to the prediction log, metrics per window,
//!   series and horizon step, and alarm bands.
//! - [`detect`]: sequential detectors over residuals (CUSUM, Page-Hinkley, ADWIN).
//! - [`spec`]: `monitors.toml`, monitors and retrain policies.
//! - [`policy`]: the retrain policy engine (rules, consecutive windows, cooldown, budget).

pub mod dataset;
pub mod detect;
pub mod drift;
pub mod error;
pub mod performance;
pub mod policy;
pub mod profile;
pub mod spec;

pub use error::{MonitorError, Result};
