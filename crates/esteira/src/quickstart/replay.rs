//! The simulated months after the first training, day by day and in process: the champion
//! forecasts tomorrow for every store through the serving runtime, the prediction log keeps
//! every answer, the ground truth arrives a few days late (and is appended to the data the
//! pipeline ingests), and the monitors and the retrain policy run at every midnight. A
//! retrain the policy fires runs the pipeline there and then; its deploy step moves the
//! `champion` alias, and the next day's forecasts come from the new version.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use async_trait::async_trait;
use chrono::{NaiveDate, NaiveTime};
use esteira_artifacts::ArtifactStore;
use esteira_ml::dataset::{Table, TimeColumn};
use esteira_monitor::MonitorError;
use esteira_monitor::service::{self, RetrainTrigger, Services};
use esteira_pipeline::engine::Engine;
use esteira_serving::log::{PredictionLog, PredictionRecord};
use esteira_serving::protocol;
use esteira_serving::runtime::ServedModel;
use esteira_serving::source::{Fetcher, ModelSource};
use esteira_store::SqlStore;
use esteira_store::monitors::Decision;
use esteira_store::pipelines::{PipelineStore, RunStatus};
use esteira_store::predictions::{GroundTruth, PredictionStore};
use serde_json::{Value, json};

use super::data::{Demand, ID, TIME, calendar_note};
use super::files::{LABEL_DELAY_DAYS, NAME};
use super::story::Story;

const DAY_MS: i64 = 86_400_000;

/// Fires the pipeline's hook trigger, as [`service::EngineTrigger`] does, and keeps the ids
/// of the runs it started so that the replay can run them before its next day.
pub struct RunTrigger {
    engine: Arc<Engine>,
    started: Mutex<Vec<String>>,
}

impl RunTrigger {
    /// A trigger firing through `engine`.
    pub fn new(engine: Arc<Engine>) -> RunTrigger {
        RunTrigger {
            engine,
            started: Mutex::new(Vec::new()),
        }
    }

    /// The runs started since the last call.
    fn take_started(&self) -> Vec<String> {
        self.started
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

#[async_trait]
impl RetrainTrigger for RunTrigger {
    async fn fire(
        &self,
        pipeline: &str,
        trigger: &str,
        idempotency_key: &str,
        cause: &str,
    ) -> esteira_monitor::Result<String> {
        let fired =
            service::fire_hook(&self.engine, pipeline, trigger, idempotency_key, cause).await?;
        if let Some(run_id) = fired.run_id {
            self.started
                .lock()
                .map_err(|_| MonitorError::Retrain {
                    pipeline: pipeline.to_string(),
                    reason: "the list of started runs is poisoned".into(),
                })?
                .push(run_id);
        }
        Ok(fired.firing_id)
    }
}

/// Waits until pipeline run `run_id` ends (in-process workers execute it).
///
/// # Errors
/// Store errors; a run that does not end within `limit`.
pub async fn wait_for_run(store: &SqlStore, run_id: &str, limit: Duration) -> Result<RunStatus> {
    let started = std::time::Instant::now();
    loop {
        let run = store.get_pipeline_run(run_id).await?;
        if run.status.is_terminal() {
            return Ok(run.status);
        }
        if started.elapsed() > limit {
            bail!(
                "pipeline run {run_id} did not end within {} s",
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The served champion and the first date its forecasts cover.
struct Champion {
    model: ServedModel,
    first_date: NaiveDate,
}

/// What the replay works with.
pub struct Replay<'a> {
    /// The whole generated demand (history and replayed days).
    pub demand: &'a Demand,
    /// Index of the first replayed day.
    pub first_day: usize,
    /// Replayed days.
    pub days: usize,
    /// The metadata store of the directory.
    pub store: Arc<SqlStore>,
    /// The artifact store of the directory.
    pub artifacts: ArtifactStore,
    /// The prediction log the forecasts are written to.
    pub log: PredictionLog,
    /// Fires the retrains the policy decides.
    pub trigger: &'a RunTrigger,
    /// Loads the champion from the registry.
    pub fetcher: Fetcher,
    /// Where the observed actuals are appended (`data/sales/`).
    pub sales_dir: PathBuf,
    /// How long one pipeline run may take.
    pub run_limit: Duration,
}

/// Midnight (UTC) of `date`, in milliseconds.
pub fn midnight_ms(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

impl Replay<'_> {
    /// Replays every day, telling the story as it goes.
    ///
    /// # Errors
    /// Store, model or pipeline failures; a monitor that fails.
    pub async fn run(&self, story: &mut Story) -> Result<()> {
        let mut champion = self.load_champion(None).await?;
        for d in 0..self.days {
            let t = self.first_day + d;
            let today = self.demand.date(t);
            self.forecast_tomorrow(&champion, t).await?;
            self.receive_truth(t).await?;
            self.log.flush().await;
            let services = Services {
                store: self.store.as_ref(),
                artifacts: &self.artifacts,
                trigger: self.trigger,
            };
            let tick = service::tick(&services, midnight_ms(today) + DAY_MS).await?;
            if let Some((monitor, error)) = tick.failed.iter().next() {
                bail!("monitor {monitor} failed on {today}: {error}");
            }
            let judged = self.demand.date(t.saturating_sub(LABEL_DELAY_DAYS));
            let note = calendar_note(judged).map(|n| format!(", the sales of {judged}: {n}"));
            for results in tick.windows.values() {
                for r in results {
                    story.window(today, note.as_deref(), &service::report_of(r)?);
                }
            }
            for decision in &tick.decisions {
                story.decision(today, decision);
            }
            for run_id in self.trigger.take_started() {
                self.retrain(&run_id, today, &tick.decisions, story).await?;
            }
            let current = self.champion_version().await?;
            if current != champion.model.version {
                champion = self.load_champion(Some(current)).await?;
            }
            story.day_done();
        }
        Ok(())
    }

    async fn retrain(
        &self,
        run_id: &str,
        today: NaiveDate,
        decisions: &[Decision],
        story: &mut Story,
    ) -> Result<()> {
        let cause = decisions
            .iter()
            .find(|d| d.firing_id.is_some())
            .map(|d| d.policy.clone())
            .unwrap_or_default();
        story.retrain_started(today, &cause, run_id);
        let status = wait_for_run(&self.store, run_id, self.run_limit).await?;
        story
            .pipeline_run(self.store.as_ref(), run_id, status)
            .await?;
        Ok(())
    }

    async fn champion_version(&self) -> Result<String> {
        let source = ModelSource::parse(&format!("models:/{NAME}@champion"))?;
        self.fetcher
            .current_version(&source)
            .await?
            .ok_or_else(|| anyhow!("models:/{NAME}@champion has no version"))
    }

    /// Loads the champion (`version`, or the alias's current one) and finds the first date
    /// it forecasts (the day after its training data).
    async fn load_champion(&self, version: Option<String>) -> Result<Champion> {
        let source = ModelSource::parse(&format!("models:/{NAME}@champion"))?;
        let version = match version {
            Some(v) => v,
            None => self.champion_version().await?,
        };
        let model = self.fetcher.load(&source, Some(&version)).await?;
        let probe = request_body(&self.demand.series[..1], 1);
        let request = protocol::parse_json(probe.as_bytes(), model.signature())?;
        let answer = model.predict(&request.table, &request.params)?;
        let first_date = first_date(&answer)?;
        Ok(Champion { model, first_date })
    }

    /// Each store asks the endpoint, at 18:00 of day `t`, for tomorrow's forecast of its
    /// products; every answer goes to the prediction log with that time.
    async fn forecast_tomorrow(&self, champion: &Champion, t: usize) -> Result<()> {
        let tomorrow = self.demand.date(t + 1);
        let horizon = (tomorrow - champion.first_date).num_days() + 1;
        let horizon = usize::try_from(horizon)
            .ok()
            .filter(|h| *h >= 1)
            .ok_or_else(|| {
                anyhow!(
                    "the champion forecasts from {}, after {tomorrow}",
                    champion.first_date
                )
            })?;
        let asked_at = midnight_ms(self.demand.date(t)) + 18 * 3_600_000;
        let products = self.demand.products();
        for (store, series) in self.demand.series.chunks(products).enumerate() {
            let body = request_body(series, horizon);
            let started = std::time::Instant::now();
            let request = protocol::parse_json(body.as_bytes(), champion.model.signature())?;
            let answer = champion.model.predict(&request.table, &request.params)?;
            let last_step = step_rows(&answer, horizon)?;
            let outputs = protocol::encode_predictions(&last_step).to_string();
            self.log.log(PredictionRecord {
                request_id: format!("{}-s{:02}", tomorrow, store + 1),
                time_ms: asked_at,
                endpoint: NAME.to_string(),
                route: "champion".into(),
                model: champion.model.name.clone(),
                version: champion.model.version.clone(),
                inputs: Some(body),
                outputs,
                latency_us: started.elapsed().as_micros() as i64,
                status: 200,
                series: None,
            });
        }
        Ok(())
    }

    /// On day `t` the sales of day `t − LABEL_DELAY_DAYS` arrive (at 06:00): as ground truth
    /// of the endpoint, and as a file the pipeline ingests.
    async fn receive_truth(&self, t: usize) -> Result<()> {
        let Some(day) = t
            .checked_sub(LABEL_DELAY_DAYS)
            .filter(|d| *d >= self.first_day)
        else {
            return Ok(());
        };
        let date = self.demand.date(day);
        let received_ms = midnight_ms(self.demand.date(t)) + 6 * 3_600_000;
        let path = self.sales_dir.join(format!("observed-{date}.parquet"));
        self.demand
            .table(day, day + 1)?
            .write(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if day == self.first_day {
            return Ok(());
        }
        let truth: Vec<GroundTruth> = (0..self.demand.series.len())
            .map(|s| GroundTruth {
                endpoint: NAME.to_string(),
                request_id: None,
                series: Some(self.demand.series[s].clone()),
                time: Some(date.to_string()),
                value: json!(self.demand.units(s, day)),
                received_ms,
            })
            .collect();
        self.store.add_ground_truth(&truth).await?;
        Ok(())
    }
}

/// The scoring request a store sends: its series, and the horizon.
fn request_body(series: &[String], horizon: usize) -> String {
    let rows: Vec<Value> = series.iter().map(|s| json!([s])).collect();
    json!({
        "dataframe_split": { "columns": [ID], "data": rows },
        "params": { "horizon": horizon },
    })
    .to_string()
}

/// The first date of a forecast answer.
fn first_date(answer: &Table) -> Result<NaiveDate> {
    let seconds = match answer.time_column(TIME)? {
        TimeColumn::Seconds(v) | TimeColumn::Index(v) => v,
    };
    let first = seconds
        .iter()
        .flatten()
        .min()
        .ok_or_else(|| anyhow!("the champion's forecast has no {TIME}"))?;
    chrono::DateTime::from_timestamp(*first, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| anyhow!("the champion's forecast starts at {first} s, not a date"))
}

/// The rows of `answer` at horizon step `step`.
fn step_rows(answer: &Table, step: usize) -> Result<Table> {
    let steps = answer.f64_column(esteira_ml::model::forecast::STEP_COLUMN)?;
    let mask: BooleanArray = steps
        .iter()
        .map(|s| Some(*s == Some(step as f64)))
        .collect();
    Ok(Table::new(filter_record_batch(answer.batch(), &mask)?))
}

/// The directory of the downloaded model versions.
pub fn serving_cache(dir: &Path) -> PathBuf {
    dir.join("serving-cache")
}
