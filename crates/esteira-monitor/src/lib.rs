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
//! - [`source`] and [`window`]: a window's data, and its evaluation into a report;
//!   [`report`] renders a monitor's history as HTML.
//! - [`service`]: deploy, run monitors, evaluate policies (fire retrains), list decisions.

pub mod dataset;
pub mod detect;
pub mod drift;
pub mod error;
pub mod performance;
pub mod policy;
pub mod profile;
pub mod report;
pub mod service;
pub mod source;
pub mod spec;
pub mod window;

pub use error::{MonitorError, Result};
