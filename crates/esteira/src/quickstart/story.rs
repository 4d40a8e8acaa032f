//! What the quickstart tells as it goes: one line per event (the band, each alarm and its
//! end, each decision that is not "avoided", each pipeline run), under a progress bar of the
//! replayed days.

use anyhow::Result;
use chrono::NaiveDate;
use esteira_monitor::window::WindowReport;
use esteira_store::MetadataStore;
use esteira_store::SqlStore;
use esteira_store::monitors::Decision;
use esteira_store::pipelines::{PipelineStore, RunStatus};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::files::NAME;

/// The story so far.
pub struct Story {
    bar: ProgressBar,
    in_alarm: bool,
    band_told: bool,
    last_outcome: Option<String>,
    /// Alarm episodes: the first and the last alarmed window's day.
    pub episodes: Vec<(NaiveDate, NaiveDate)>,
}

impl Story {
    /// A story with a hidden progress bar (nothing is replayed yet).
    pub fn new() -> Story {
        Story {
            bar: ProgressBar::hidden(),
            in_alarm: false,
            band_told: false,
            last_outcome: None,
            episodes: Vec::new(),
        }
    }

    /// Prints a line (above the progress bar when one is shown).
    pub fn say(&self, line: impl AsRef<str>) {
        self.bar.suspend(|| println!("{}", line.as_ref()));
    }

    /// Shows the progress bar of `days` replayed days.
    pub fn start_replay(&mut self, days: usize) {
        self.bar = ProgressBar::new(days as u64);
        self.bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} days {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    }

    /// One replayed day is done.
    pub fn day_done(&self) {
        self.bar.inc(1);
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A monitor window of `day`: tells when the band becomes known, when an alarm starts
    /// (with `note` on the day judged, if any) and when the metric is back within its band.
    pub fn window(&mut self, day: NaiveDate, note: Option<&str>, report: &WindowReport) {
        let Some(p) = &report.performance else { return };
        let (Some(value), Some(band)) = (p.value, &p.band) else {
            return;
        };
        if !self.band_told {
            self.band_told = true;
            self.say(format!(
                "{day}  the alarm band of {} is known: [{:.2}, {:.2}] (mean ± 3σ of the first windows)",
                p.metric, band.lower, band.upper
            ));
        }
        match (report.summary.alarm, self.in_alarm) {
            (true, false) => {
                self.in_alarm = true;
                self.episodes.push((day, day));
                self.say(format!(
                    "{day}  ALARM: {} {value:.2} is above its band [{:.2}, {:.2}] ({} forecasts judged{})",
                    p.metric,
                    band.lower,
                    band.upper,
                    p.pairs,
                    note.unwrap_or_default()
                ));
            }
            (true, true) => {
                if let Some(e) = self.episodes.last_mut() {
                    e.1 = day;
                }
            }
            (false, true) => {
                self.in_alarm = false;
                self.say(format!(
                    "{day}  {} {value:.2} is back within its band",
                    p.metric
                ));
            }
            (false, false) => {}
        }
    }

    /// A decision of the retrain policy; "avoided" ones are only counted.
    pub fn decision(&mut self, day: NaiveDate, d: &Decision) {
        let repeated = self.last_outcome.as_deref() == Some(d.outcome.as_str());
        self.last_outcome = Some(d.outcome.clone());
        if d.outcome == "avoided" || (repeated && d.outcome != "retrain") {
            return;
        }
        self.say(format!(
            "{day}  policy {}: {}: {}",
            d.policy,
            d.outcome.to_uppercase(),
            reasons_text(&d.reasons)
        ));
    }

    /// A retrain run starts.
    pub fn retrain_started(&self, day: NaiveDate, policy: &str, run_id: &str) {
        self.say(format!(
            "{day}  retraining on the data observed so far (pipeline run {run_id}, fired by {policy})"
        ));
    }

    /// Tells how pipeline run `run_id` went: the gate's comparison and the champion after it.
    ///
    /// # Errors
    /// Store errors.
    pub async fn pipeline_run(
        &self,
        store: &SqlStore,
        run_id: &str,
        status: RunStatus,
    ) -> Result<()> {
        let executions = store.list_executions(run_id).await?;
        let seconds: i64 = executions
            .iter()
            .filter(|e| e.reused_execution_id.is_none() && e.status == "SUCCEEDED")
            .filter_map(|e| e.end_time.map(|end| end - e.start_time))
            .sum();
        let metrics = |step: &str| -> Value {
            executions
                .iter()
                .rev()
                .find(|e| e.step == step)
                .and_then(|e| e.metrics.as_deref())
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(Value::Null)
        };
        let evaluation = metrics("evaluate");
        let number = |key: &str| evaluation[key].as_f64();
        let scores = match (number("candidate_mase"), number("champion_mase")) {
            (Some(c), Some(old)) => format!(
                "challenger MASE {c:.3} (sMAPE {:.2}) against the champion's {old:.3} (sMAPE {:.2}) on the holdout",
                number("candidate_smape").unwrap_or(f64::NAN),
                number("champion_smape").unwrap_or(f64::NAN)
            ),
            (Some(c), None) => format!(
                "MASE {c:.3}, sMAPE {:.2} on the holdout (no champion yet)",
                number("candidate_smape").unwrap_or(f64::NAN)
            ),
            _ => "no evaluation".to_string(),
        };
        self.say(format!(
            "      pipeline run {run_id}: {} in {:.1} s of compute; {scores}",
            status.as_str(),
            seconds as f64 / 1000.0
        ));
        let line = match store.get_model_version_by_alias(NAME, "champion").await {
            Ok(v) => format!("      models:/{NAME}@champion is version {}", v.version),
            Err(_) => format!("      models:/{NAME}@champion is not set"),
        };
        self.say(line);
        Ok(())
    }
}

/// The rules of a decision's reasons (met or not, with their values) and what held it back.
fn reasons_text(reasons: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(reasons) else {
        return reasons.to_string();
    };
    let mut parts: Vec<String> = value["rules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            format!(
                "{} `{}` {}",
                r["monitor"].as_str().unwrap_or("?"),
                r["when"].as_str().unwrap_or("?"),
                latest_clause(r["detail"].as_str().unwrap_or(""))
            )
        })
        .collect();
    if let Some(held) = value["held_back"].as_str() {
        parts.push(format!("held back: {held}"));
    }
    parts.join("; ")
}

/// A rule's detail (`met: A; B; ...`, one clause per window it read) shortened to its
/// verdict, how many windows it read and the latest clause.
fn latest_clause(detail: &str) -> String {
    let (verdict, clauses) = detail.split_once(": ").unwrap_or(("", detail));
    let clauses: Vec<&str> = clauses.split("; ").collect();
    let latest = clauses.last().copied().unwrap_or_default();
    match clauses.len() {
        0 | 1 => format!("{verdict}: {latest}"),
        n => format!("{verdict} over {n} windows (latest: {latest})"),
    }
}
