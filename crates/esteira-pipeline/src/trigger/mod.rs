//! Triggers: what starts a pipeline run on its own.
//!
//! This module is the pure part of triggering: it decides *what* should fire, given a trigger's
//! definition, the time and what it can see (files, objects, a database value). It keeps no
//! state and writes nothing; the engine stores each trigger's cursor in the metadata store,
//! records every [`Firing`] under its [`Firing::idempotency_key`] (a unique index on the
//! pipeline, the trigger name and the key collapses duplicates, so handing the engine the same
//! firing twice is harmless) and starts one run per newly recorded firing.
//!
//! - [`cron_due`] and [`next_fire`]: cron schedules in an IANA time zone, with the catch-up
//!   policies for times missed while the engine was down, and what daylight-saving changes do
//!   to them (see [`cron_due`]).
//! - [`scan_new_data`]: one firing per file matching a local glob or per object under an S3
//!   prefix, keyed by what the file is (path, size, modification time), so an unchanged file
//!   fires once and a rewritten one fires again. [`glob_files`] is the glob matcher it uses.
//! - [`watermark()`]: one firing per distinct value of a SQL query on PostgreSQL.
//! - [`upstream_firing`] and [`hook_firing`]: firings for another pipeline's successful run
//!   and for an API call.
//!
//! Keys are unique within one trigger only: two triggers of a pipeline may produce equal keys.
//!
//! `max_concurrent` (cron triggers) is applied by the engine, which knows the active runs: a
//! firing recorded while `max_concurrent` runs of the pipeline are queued or running is
//! recorded as skipped and starts no run (it is not queued). Nothing here looks at it.

mod cron;
mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::glob::{GlobError, glob_files};
pub use cron::{
    CronDue, MAX_CATCH_UP, SKIPPED_COUNT_LIMIT, check_schedule, check_timezone, cron_due, next_fire,
};
pub use watch::{WATERMARK_TIMEOUT, scan_new_data, watermark};

/// One firing the engine should record (and start a run for, unless `max_concurrent` holds it
/// back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// The trigger's name.
    pub trigger: String,
    /// Stable: the same scheduled time, file version, value or upstream run gives the same key.
    pub idempotency_key: String,
    /// What caused it, for people (`cron 0 3 * * * (Europe/Lisbon) due 2026-11-26T03:00:00Z`).
    pub cause: String,
    /// Pipeline params the run receives (the new file's path, the new watermark value...).
    pub params: BTreeMap<String, Value>,
    /// The scheduled time of a cron firing; `None` for other kinds.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// Why a trigger could not be evaluated. Every variant names the trigger.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The cron expression is invalid (the reason quotes it).
    #[error("trigger {trigger:?}: {reason}")]
    Schedule {
        /// The trigger's name.
        trigger: String,
        /// What is wrong with the expression.
        reason: String,
    },
    /// The time zone is not an IANA name (the reason quotes it).
    #[error("trigger {trigger:?}: {reason}")]
    Timezone {
        /// The trigger's name.
        trigger: String,
        /// What is wrong with the name.
        reason: String,
    },
    /// Computing the schedule's times failed.
    #[error("trigger {trigger:?}: evaluating cron {schedule:?}: {reason}")]
    Evaluate {
        /// The trigger's name.
        trigger: String,
        /// The cron expression.
        schedule: String,
        /// What failed.
        reason: String,
    },
    /// A new-data path is not usable (unsupported scheme, misplaced wildcard...).
    #[error("trigger {trigger:?}: new-data path {path:?}: {reason}")]
    Path {
        /// The trigger's name.
        trigger: String,
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Matching a local glob failed.
    #[error("trigger {trigger:?}: {source}")]
    Glob {
        /// The trigger's name.
        trigger: String,
        /// The glob failure.
        source: GlobError,
    },
    /// Reading a matched file's metadata failed.
    #[error("trigger {trigger:?}: cannot read {}: {source}", path.display())]
    Io {
        /// The trigger's name.
        trigger: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Listing an S3 prefix failed.
    #[error("trigger {trigger:?}: listing {url}: {source}")]
    Storage {
        /// The trigger's name.
        trigger: String,
        /// The listed location.
        url: String,
        /// The cause.
        source: esteira_artifacts::Error,
    },
    /// Connecting to the watermark database or running its query failed, or the query
    /// returned something other than one column.
    #[error("trigger {trigger:?}: watermark query: {reason}")]
    Watermark {
        /// The trigger's name.
        trigger: String,
        /// What failed.
        reason: String,
    },
}

/// The firing for a successful run `run_id` of the pipeline `upstream_pipeline`, keyed
/// `upstream:<run_id>`, with no params.
pub fn upstream_firing(name: &str, upstream_pipeline: &str, run_id: &str) -> Firing {
    Firing {
        trigger: name.to_string(),
        idempotency_key: format!("upstream:{run_id}"),
        cause: format!("pipeline {upstream_pipeline} run {run_id} succeeded"),
        params: BTreeMap::new(),
        scheduled_for: None,
    }
}

/// The firing for an API call or `esteira pipeline trigger`: keyed by `idempotency_key` as
/// given (the caller validates it), or by `hook:<fresh uuid>` when there is none, so a retried
/// call that repeats its key fires once. `params` are passed through unchanged.
pub fn hook_firing(
    name: &str,
    idempotency_key: Option<String>,
    cause: String,
    params: BTreeMap<String, Value>,
) -> Firing {
    Firing {
        trigger: name.to_string(),
        idempotency_key: idempotency_key
            .unwrap_or_else(|| format!("hook:{}", uuid::Uuid::new_v4())),
        cause,
        params,
        scheduled_for: None,
    }
}
