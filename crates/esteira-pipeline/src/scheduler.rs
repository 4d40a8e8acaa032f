//! The trigger loop: evaluates the cron, new-data and watermark triggers of deployed
//! pipelines and fires them through [`Engine::fire`], which records every firing under its
//! idempotency key (so two schedulers, or a restarted one, never start a run twice).
//! Upstream and hook triggers are fired by events, not here.
//!
//! A new-data trigger's first evaluation takes the files already there as its baseline, and a
//! watermark trigger's first evaluation its current value: they are recorded as `BASELINE`
//! firings and start no run; every file that appears (or changes), or value that differs,
//! after that starts one run. A watched directory that does not exist yet at the first
//! evaluation makes an empty baseline (later evaluations report it missing until it appears).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use esteira_store::pipelines::TriggerRecord;
use tokio::sync::watch;

use crate::engine::{Engine, FireOutcome, FireRequest, from_json};
use crate::error::Result;
use crate::spec::TriggerKind;
use crate::trigger::{self, Firing, GlobError, TriggerError};

/// What one evaluation of the triggers did.
#[derive(Debug, Default)]
pub struct Tick {
    /// Firings recorded, with what became of them.
    pub fired: Vec<(String, FireOutcome)>,
    /// Triggers that could not be evaluated, with why.
    pub errors: Vec<(String, String)>,
    /// Cron triggers that passed over scheduled times without firing them (catch-up
    /// policy), with the sentence saying how many and since when.
    pub skipped: Vec<(String, String)>,
}

/// Evaluates every trigger at `now` (an injected clock in tests). `tolerance` is how late a
/// cron time may be evaluated and still fire under `catch_up = "none"`.
///
/// # Errors
/// Store errors listing the triggers; a trigger that fails alone is reported in
/// [`Tick::errors`].
pub async fn tick(engine: &Engine, now: DateTime<Utc>, tolerance: Duration) -> Result<Tick> {
    let mut report = Tick::default();
    for t in engine.store().list_triggers().await? {
        let label = format!("{}/{}", t.pipeline, t.name);
        match evaluate(engine, &t, now, tolerance).await {
            Ok((fired, skipped)) => {
                if let Some(note) = skipped {
                    tracing::info!(trigger = %label, "{note}");
                    report.skipped.push((label.clone(), note));
                }
                report
                    .fired
                    .extend(fired.into_iter().map(|o| (label.clone(), o)));
            }
            Err(e) => {
                tracing::warn!(trigger = %label, error = %e, "trigger evaluation failed");
                report.errors.push((label, e));
            }
        }
    }
    Ok(report)
}

/// Fires what one trigger has due; also returns the note of a cron trigger that skipped
/// scheduled times.
async fn evaluate(
    engine: &Engine,
    t: &TriggerRecord,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> std::result::Result<(Vec<FireOutcome>, Option<String>), String> {
    let kind: TriggerKind = from_json(&t.spec).map_err(|e| e.to_string())?;
    let firings = match &kind {
        TriggerKind::Cron {
            schedule,
            timezone,
            catch_up,
            ..
        } => {
            let cursor = t.cursor.and_then(DateTime::<Utc>::from_timestamp_millis);
            let due = trigger::cron_due(
                &t.name, schedule, timezone, *catch_up, tolerance, cursor, now,
            )
            .map_err(|e| e.to_string())?;
            let fired = fire_all(engine, t, due.firings).await?;
            set_cursor(engine, t, due.cursor.timestamp_millis()).await?;
            return Ok((fired, due.note));
        }
        TriggerKind::NewData { path, param } => {
            let base = pipeline_dir(engine, &t.pipeline).await?;
            let scanned = trigger::scan_new_data(&t.name, path, param, &base).await;
            if t.cursor.is_none() {
                // A directory that does not exist yet holds no files: the baseline is empty,
                // and the files that appear in it later fire.
                let found = match scanned {
                    Err(e) if is_missing_start_dir(&e) => Vec::new(),
                    other => other.map_err(|e| e.to_string())?,
                };
                baseline(engine, t, found).await?;
                set_cursor(engine, t, now.timestamp_millis()).await?;
                return Ok((Vec::new(), None));
            }
            scanned.map_err(|e| e.to_string())?
        }
        TriggerKind::Watermark { url, query, param } => {
            let found: Vec<Firing> = trigger::watermark(&t.name, url, query, param)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect();
            if t.cursor.is_none() {
                baseline(engine, t, found).await?;
                set_cursor(engine, t, now.timestamp_millis()).await?;
                return Ok((Vec::new(), None));
            }
            found
        }
        TriggerKind::Upstream { .. } | TriggerKind::Hook => return Ok((Vec::new(), None)),
    };
    Ok((fire_all(engine, t, firings).await?, None))
}

/// Whether a new-data scan failed because the directory its glob starts from is missing.
fn is_missing_start_dir(error: &TriggerError) -> bool {
    matches!(
        error,
        TriggerError::Glob {
            source: GlobError::StartDir { dir, .. },
            ..
        } if !dir.exists()
    )
}

async fn pipeline_dir(engine: &Engine, pipeline: &str) -> std::result::Result<PathBuf, String> {
    engine
        .store()
        .get_pipeline(pipeline)
        .await
        .map(|p| PathBuf::from(p.pipeline_dir))
        .map_err(|e| e.to_string())
}

async fn set_cursor(
    engine: &Engine,
    t: &TriggerRecord,
    ms: i64,
) -> std::result::Result<(), String> {
    engine
        .store()
        .set_trigger_cursor(&t.pipeline, &t.name, ms)
        .await
        .map_err(|e| e.to_string())
}

fn request(t: &TriggerRecord, f: Firing) -> FireRequest {
    FireRequest {
        pipeline: t.pipeline.clone(),
        trigger: t.name.clone(),
        kind: t.kind.clone(),
        idempotency_key: f.idempotency_key,
        cause: f.cause,
        params: f.params,
        user: "scheduler".into(),
    }
}

async fn fire_all(
    engine: &Engine,
    t: &TriggerRecord,
    firings: Vec<Firing>,
) -> std::result::Result<Vec<FireOutcome>, String> {
    let mut outcomes = Vec::new();
    for f in firings {
        let outcome = engine
            .fire(request(t, f))
            .await
            .map_err(|e| e.to_string())?;
        if outcome != FireOutcome::Duplicate {
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// Records the files present at a new-data trigger's first evaluation without running.
async fn baseline(
    engine: &Engine,
    t: &TriggerRecord,
    firings: Vec<Firing>,
) -> std::result::Result<(), String> {
    for f in firings {
        engine
            .record_baseline(request(t, f))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Evaluates the triggers every `interval` until `stop` turns true.
pub async fn run(engine: Arc<Engine>, interval: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(e) = tick(&engine, Utc::now(), interval * 2).await {
            tracing::warn!(error = %e, "trigger evaluation failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}
