//! Library-level tests of the trigger loop and the engine: an [`Engine`] over a fresh
//! `SqlStore` and a local artifact store, `scheduler::tick` driven by an injected clock
//! (nothing sleeps on a schedule), and runs executed by calling `Worker::run_once` until they
//! end.
//!
//! Every scenario runs on SQLite (a temp dir) and on PostgreSQL (a throw-away database made
//! on the server at `ESTEIRA_TEST_POSTGRES_URL`, dropped afterwards). Without that variable
//! the PostgreSQL variants are skipped with a notice, unless `CI=true` or
//! `ESTEIRA_REQUIRE_SERVICES=1`, where they fail.
//!
//! Reference values:
//! - Lisbon local time to UTC, from Python's `zoneinfo` (the IANA database):
//!   `datetime(2026, 1, 15, 3, tzinfo=ZoneInfo("Europe/Lisbon")).astimezone(timezone.utc)` is
//!   03:00 UTC (WET, UTC+0) and `datetime(2026, 7, 15, 3, ...)` is 02:00 UTC (WEST, UTC+1).
//! - `fixtures/scheduler/readings.csv` has 12 data rows (two sensors over six days), counted
//!   by hand; a random split with `test_fraction = 0.25` puts ceil(0.25 * 12) = 3 of them in
//!   test and 9 in train.
//! - `*/5 * * * *` between 10:01 and 10:13 is due at 10:05 and 10:10; between 10:01 and 11:01
//!   at the twelve times 10:05, 10:10, ..., 11:00.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use esteira_artifacts::ArtifactStore;
use esteira_core::ErrorCode;
use esteira_core::entities::RunStatus as MlflowStatus;
use esteira_pipeline::engine::{FireOutcome, RunRequest};
use esteira_pipeline::scheduler::{self, Tick};
use esteira_pipeline::service;
use esteira_pipeline::spec::PipelineSpec;
use esteira_pipeline::worker::{Worker, WorkerConfig};
use esteira_pipeline::{Engine, Error};
use esteira_store::pipelines::{
    ExecutionRecord, FiringRecord, PipelineRunRecord, RunStatus, StepStatus,
};
use esteira_store::{SqlStore, Store};
use serde_json::{Value, json};
use sqlx::Connection;

/// The engine's tick, used as the `catch_up = "none"` tolerance.
const TOLERANCE: Duration = Duration::from_secs(60);

/// The most `run_once` calls a run may take before a test calls it stuck.
const MAX_CLAIMS: usize = 50;

const PG_ENV: &str = "ESTEIRA_TEST_POSTGRES_URL";

// ------------------------------------------------------------------ harness

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// What a test gets: the engine and a scratch directory (pipelines, artifacts, work dirs).
struct Env {
    engine: Arc<Engine>,
    root: PathBuf,
}

/// Where the store lives, to clean up after the test.
enum Database {
    Sqlite,
    Postgres { admin_url: String, name: String },
}

fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `url` with its database name replaced by `database` (the query string kept).
fn with_database(url: &str, database: &str) -> Result<String> {
    let scheme_end = url.find("://").context("postgres URL without ://")? + 3;
    let (head, rest) = url.split_at(scheme_end);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = path.find('?').map_or("", |i| &path[i..]);
    Ok(format!("{head}{authority}/{database}{query}"))
}

async fn open_store(backend: Backend, dir: &Path) -> Result<Option<(SqlStore, Database)>> {
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.join("esteira.db").display());
            Ok(Some((SqlStore::open(&url).await?, Database::Sqlite)))
        }
        Backend::Postgres => {
            let Ok(admin_url) = std::env::var(PG_ENV) else {
                ensure!(
                    !services_required(),
                    "{PG_ENV} is not set but CI=true or ESTEIRA_REQUIRE_SERVICES=1"
                );
                return Ok(None);
            };
            let name = format!("esteira_sched_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .with_context(|| format!("connecting to {PG_ENV}={admin_url}"))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await?;
            admin.close().await?;
            let store = SqlStore::open(&with_database(&admin_url, &name)?).await?;
            Ok(Some((store, Database::Postgres { admin_url, name })))
        }
    }
}

async fn drop_database(database: Database) {
    let Database::Postgres { admin_url, name } = database else {
        return;
    };
    let dropped = async {
        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        admin.close().await
    };
    if let Err(e) = dropped.await {
        eprintln!("warning: could not drop test database {name}: {e}");
    }
}

/// Says once, on the process's stderr (the test harness hides what passing tests print),
/// that the PostgreSQL variants are skipped.
fn skip_notice() {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    NOTICE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n**********\nscheduler tests: PostgreSQL variants SKIPPED: {PG_ENV} is not set \
             (CI=true or ESTEIRA_REQUIRE_SERVICES=1 makes this a failure)\n**********"
        );
    });
}

/// Runs `body` on a fresh store of `backend`, then removes the store.
async fn on<F, Fut>(backend: Backend, test: &str, body: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("a temp dir");
    let Some((store, database)) = open_store(backend, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{test} on {backend:?}: opening the store: {e:#}"))
    else {
        skip_notice();
        return;
    };
    let artifacts = ArtifactStore::from_url(&dir.path().join("artifacts").display().to_string())
        .expect("a local artifact store");
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let env = Env {
        engine: Arc::new(Engine::new(shared, artifacts)),
        root: dir.path().to_path_buf(),
    };
    let outcome = tokio::spawn(body(env)).await;
    store.close().await;
    drop_database(database).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{test} on {backend:?}: {e:#}"),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("{test} on {backend:?}: {join}"),
    }
}

/// Declares each scenario twice: `sqlite::NAME` and `postgres::NAME`.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on(super::Backend::Sqlite, stringify!($name), super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on(super::Backend::Postgres, stringify!($name), super::$name).await;
                }
            )*
        }
    };
}

scenarios!(
    cron_fires_each_due_time_once_with_stable_keys,
    cron_catch_up_latest_fires_once_after_a_gap,
    cron_in_a_time_zone_follows_daylight_saving,
    max_concurrent_skips_a_firing_while_a_run_is_active,
    new_data_fires_once_per_new_file_version,
    new_data_fires_the_first_files_of_a_directory_made_later,
    upstream_success_starts_one_downstream_run,
    upstream_loops_are_refused_at_deploy,
    hook_trigger_is_idempotent_and_types_params,
    firing_history_lists_every_firing_newest_first,
    resume_from_a_step_reuses_upstream_executions,
    cancelling_a_queued_run_cancels_its_steps,
    watermark_takes_a_baseline_then_fires_once_per_new_value,
);

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap_or_else(|| panic!("{y}-{mo}-{d} {h}:{mi} is a valid UTC time"))
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scheduler")
        .join(name)
}

/// A pipeline with one `ingest` step reading `readings.csv` and the given triggers.
fn ingest_pipeline(name: &str, triggers: &str) -> String {
    format!(
        r#"
[pipeline]
name = "{name}"

[params]
file = "./readings.csv"

[steps.ingest]
type = "ingest"
params = {{ path = "${{params.file}}" }}
{triggers}
"#
    )
}

impl Env {
    fn store(&self) -> &dyn Store {
        &**self.engine.store()
    }

    /// A directory for pipeline `name`, holding a copy of `readings.csv`.
    fn pipeline_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("pipelines").join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(fixture("readings.csv"), dir.join("readings.csv"))?;
        Ok(dir)
    }

    /// Parses `source` and deploys it from a fresh pipeline directory.
    async fn deploy(&self, source: &str) -> Result<(PipelineSpec, PathBuf)> {
        let spec = PipelineSpec::parse("pipeline.toml", source)?;
        let dir = self.pipeline_dir(&spec.name)?;
        let record = self.engine.deploy(&spec, &dir).await?;
        ensure!(record.version == 1, "first deploy is version 1: {record:?}");
        Ok((spec, dir))
    }

    /// Evaluates the triggers at `now`; fails when a trigger could not be evaluated.
    async fn tick(&self, now: DateTime<Utc>) -> Result<Tick> {
        let tick = scheduler::tick(&self.engine, now, TOLERANCE).await?;
        ensure!(tick.errors.is_empty(), "trigger errors: {:?}", tick.errors);
        Ok(tick)
    }

    /// Executes run `run_id` with a worker that takes only its steps, until it ends.
    async fn drive(&self, run_id: &str) -> Result<PipelineRunRecord> {
        let mut config = WorkerConfig::new(self.root.join("work"));
        config.only_run = Some(run_id.to_string());
        let worker = Worker::new(self.engine.clone(), config);
        for _ in 0..MAX_CLAIMS {
            let run = self.store().get_pipeline_run(run_id).await?;
            if run.status.is_terminal() {
                return Ok(run);
            }
            if !worker.run_once().await? {
                bail!("run {run_id} is {:?} but has no step to claim", run.status);
            }
        }
        bail!("run {run_id} did not end after {MAX_CLAIMS} claims")
    }

    async fn runs(&self, pipeline: &str) -> Result<Vec<PipelineRunRecord>> {
        Ok(self
            .store()
            .list_pipeline_runs(Some(pipeline), 1000)
            .await?)
    }

    async fn firings(&self, pipeline: &str) -> Result<Vec<FiringRecord>> {
        Ok(self.store().list_firings(Some(pipeline), 1000).await?)
    }

    /// The last execution of `step` in run `run_id`.
    async fn execution(&self, run_id: &str, step: &str) -> Result<ExecutionRecord> {
        self.store()
            .list_executions(run_id)
            .await?
            .into_iter()
            .rfind(|e| e.step == step)
            .with_context(|| format!("run {run_id} has no execution of {step}"))
    }

    /// The status of each step of a run, by name.
    async fn step_statuses(&self, run_id: &str) -> Result<BTreeMap<String, StepStatus>> {
        Ok(self
            .store()
            .list_step_runs(run_id)
            .await?
            .into_iter()
            .map(|s| (s.step, s.status))
            .collect())
    }

    /// The value of tag `key` of MLflow run `run_id`.
    async fn tag(&self, run_id: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .store()
            .get_run(run_id)
            .await?
            .data
            .tags
            .into_iter()
            .find(|t| t.key == key)
            .map(|t| t.value))
    }

    /// A request to run `spec` from `dir` with its default params.
    fn request(&self, spec: &PipelineSpec, dir: &Path) -> RunRequest {
        RunRequest {
            spec: spec.clone(),
            pipeline_dir: dir.to_path_buf(),
            params: spec.params.clone(),
            no_cache: false,
            from_step: None,
            from_run: None,
            firing_id: None,
            pipeline_version: None,
            user: "tester".into(),
        }
    }
}

/// The firings of a tick that started runs, with their run ids; fails on any other outcome.
fn started(tick: &Tick) -> Result<Vec<(FiringRecord, String)>> {
    tick.fired
        .iter()
        .map(|(label, outcome)| match outcome {
            FireOutcome::Started { firing, run_id } => Ok((firing.clone(), run_id.clone())),
            other => bail!("{label}: expected a started run, got {other:?}"),
        })
        .collect()
}

/// The execution's metric `name`.
fn metric(execution: &ExecutionRecord, name: &str) -> Result<f64> {
    let metrics: BTreeMap<String, f64> =
        serde_json::from_str(execution.metrics.as_deref().unwrap_or("{}"))?;
    metrics
        .get(name)
        .copied()
        .with_context(|| format!("execution {} has no metric {name}", execution.execution_id))
}

fn params_of(run: &PipelineRunRecord) -> Result<BTreeMap<String, Value>> {
    Ok(serde_json::from_str(&run.params)?)
}

// ------------------------------------------------------------------ cron

const EVERY_FIVE_ALL: &str = r#"
[[triggers]]
name = "every5"
type = "cron"
schedule = "*/5 * * * *"
timezone = "UTC"
catch_up = "all"
max_concurrent = 10
"#;

async fn cron_fires_each_due_time_once_with_stable_keys(env: Env) -> Result<()> {
    env.deploy(&ingest_pipeline("every-five", EVERY_FIVE_ALL))
        .await?;
    let t0 = utc(2026, 1, 15, 10, 1);

    let first = env.tick(t0).await?;
    assert!(
        first.fired.is_empty(),
        "the first tick fires nothing: {first:?}"
    );
    let triggers = env.store().list_triggers().await?;
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].cursor, Some(t0.timestamp_millis()));

    let later = env.tick(t0 + minutes(12)).await?;
    let fired = started(&later)?;
    let keys: Vec<&str> = fired
        .iter()
        .map(|(f, _)| f.idempotency_key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["cron:2026-01-15T10:05:00Z", "cron:2026-01-15T10:10:00Z"]
    );
    for (firing, run_id) in &fired {
        assert_eq!(firing.trigger_name, "every5");
        assert_eq!(firing.kind, "cron");
        assert!(
            firing
                .cause
                .contains("*/5 * * * * (UTC) due 2026-01-15T10:"),
            "cause: {}",
            firing.cause
        );
        assert_eq!(
            firing.status, "STARTED",
            "the returned firing is up to date"
        );
        assert_eq!(firing.run_id.as_deref(), Some(run_id.as_str()));
        let run = env.store().get_pipeline_run(run_id).await?;
        assert_eq!(run.firing_id.as_deref(), Some(firing.firing_id.as_str()));
        assert_eq!(run.status, RunStatus::Queued);
        assert_eq!(run.pipeline_version, Some(1));
        assert_eq!(
            env.tag(run_id, "esteira.firing").await?.as_deref(),
            Some(firing.firing_id.as_str())
        );
    }

    let again = env.tick(t0 + minutes(12)).await?;
    assert!(again.fired.is_empty(), "same time, nothing new: {again:?}");

    // A second scheduler that still holds the old cursor evaluates the same window: the
    // keys are the same, so nothing fires twice.
    env.store()
        .set_trigger_cursor("every-five", "every5", t0.timestamp_millis())
        .await?;
    let replay = env.tick(t0 + minutes(12)).await?;
    assert!(replay.fired.is_empty(), "replayed window: {replay:?}");
    assert_eq!(env.runs("every-five").await?.len(), 2);
    assert_eq!(env.firings("every-five").await?.len(), 2);
    Ok(())
}

async fn cron_catch_up_latest_fires_once_after_a_gap(env: Env) -> Result<()> {
    let triggers = EVERY_FIVE_ALL.replace(r#""all""#, r#""latest""#);
    env.deploy(&ingest_pipeline("gap", &triggers)).await?;
    let t0 = utc(2026, 1, 15, 10, 1);
    env.tick(t0).await?;

    let after_gap = env.tick(t0 + minutes(60)).await?;
    let fired = started(&after_gap)?;
    assert_eq!(
        fired.len(),
        1,
        "one firing for the whole gap: {after_gap:?}"
    );
    assert_eq!(fired[0].0.idempotency_key, "cron:2026-01-15T11:00:00Z");
    assert_eq!(
        after_gap.skipped,
        [(
            "gap/every5".to_string(),
            "catch_up = \"latest\": 11 older scheduled times since 2026-01-15T10:01:00Z were skipped"
                .to_string()
        )]
    );
    assert_eq!(env.runs("gap").await?.len(), 1);
    Ok(())
}

async fn cron_in_a_time_zone_follows_daylight_saving(env: Env) -> Result<()> {
    let triggers = r#"
[[triggers]]
name = "nightly"
type = "cron"
schedule = "0 3 * * *"
timezone = "Europe/Lisbon"
catch_up = "none"
max_concurrent = 5
"#;
    env.deploy(&ingest_pipeline("lisbon", triggers)).await?;
    env.tick(utc(2026, 1, 14, 12, 0)).await?;

    // January: Lisbon is on UTC+0, so 03:00 local is 03:00 UTC.
    let before = env.tick(utc(2026, 1, 15, 2, 59)).await?;
    assert!(before.fired.is_empty(), "{before:?}");
    let winter = started(&env.tick(utc(2026, 1, 15, 3, 0)).await?)?;
    assert_eq!(winter.len(), 1);
    assert_eq!(winter[0].0.idempotency_key, "cron:2026-01-15T03:00:00Z");

    // July: Lisbon is on UTC+1, so 03:00 local is 02:00 UTC, and nothing is due at 03:00 UTC.
    let before = env.tick(utc(2026, 7, 15, 1, 59)).await?;
    assert!(before.fired.is_empty(), "{before:?}");
    let summer = started(&env.tick(utc(2026, 7, 15, 2, 0)).await?)?;
    assert_eq!(summer.len(), 1);
    assert_eq!(summer[0].0.idempotency_key, "cron:2026-07-15T02:00:00Z");
    let utc_three = env.tick(utc(2026, 7, 15, 3, 0)).await?;
    assert!(utc_three.fired.is_empty(), "{utc_three:?}");
    assert_eq!(env.runs("lisbon").await?.len(), 2);
    Ok(())
}

async fn max_concurrent_skips_a_firing_while_a_run_is_active(env: Env) -> Result<()> {
    // max_concurrent is left out: it defaults to 1.
    let triggers = r#"
[[triggers]]
name = "every5"
type = "cron"
schedule = "*/5 * * * *"
catch_up = "all"
"#;
    env.deploy(&ingest_pipeline("single", triggers)).await?;
    let t0 = utc(2026, 1, 15, 10, 1);
    env.tick(t0).await?;

    let tick = env.tick(t0 + minutes(10)).await?;
    assert_eq!(tick.fired.len(), 2, "{tick:?}");
    let FireOutcome::Started { run_id, .. } = &tick.fired[0].1 else {
        bail!("the 10:05 firing starts a run: {tick:?}");
    };
    let FireOutcome::NotStarted { firing, reason } = &tick.fired[1].1 else {
        bail!("the 10:10 firing is held back: {tick:?}");
    };
    assert_eq!(firing.idempotency_key, "cron:2026-01-15T10:10:00Z");
    assert_eq!(reason, "1 runs active, max_concurrent is 1");
    assert_eq!(firing.status, "SKIPPED");
    let runs = env.runs("single").await?;
    assert_eq!(runs.len(), 1, "the skipped firing started no run");
    let stored = env.firings("single").await?;
    let skipped = stored
        .iter()
        .find(|f| f.firing_id == firing.firing_id)
        .context("the skipped firing is recorded")?;
    assert_eq!(skipped.status, "SKIPPED");
    assert_eq!(skipped.message.as_deref(), Some(reason.as_str()));
    assert_eq!(skipped.run_id, None);

    // Once the run has ended, the next scheduled time starts a run again.
    assert_eq!(env.drive(run_id).await?.status, RunStatus::Succeeded);
    let next = started(&env.tick(t0 + minutes(15)).await?)?;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0.idempotency_key, "cron:2026-01-15T10:15:00Z");
    assert_eq!(env.runs("single").await?.len(), 2);
    Ok(())
}

// ------------------------------------------------------------------ new data

/// `rows` lines of sensor readings as CSV.
fn readings(rows: usize) -> String {
    let mut text = String::from("day,sensor,value\n");
    for i in 0..rows {
        text.push_str(&format!("2026-02-{:02},c,{i}.5\n", i + 1));
    }
    text
}

async fn new_data_fires_once_per_new_file_version(env: Env) -> Result<()> {
    let triggers = r#"
[[triggers]]
name = "arrivals"
type = "new_data"
path = "incoming/*.csv"
param = "file"
"#;
    let spec = PipelineSpec::parse("pipeline.toml", &ingest_pipeline("landing", triggers))?;
    let dir = env.pipeline_dir("landing")?;
    let incoming = dir.join("incoming");
    std::fs::create_dir_all(&incoming)?;
    std::fs::write(incoming.join("old.csv"), readings(2))?;
    env.engine.deploy(&spec, &dir).await?;
    let now = utc(2026, 2, 1, 8, 0);

    let first = env.tick(now).await?;
    assert!(first.fired.is_empty(), "{first:?}");
    let baseline = env.firings("landing").await?;
    assert_eq!(baseline.len(), 1, "{baseline:?}");
    assert_eq!(baseline[0].status, "BASELINE");
    assert_eq!(baseline[0].run_id, None);
    assert!(baseline[0].cause.contains("old.csv"), "{baseline:?}");
    assert!(env.runs("landing").await?.is_empty());

    let new_file = incoming.join("new.csv");
    std::fs::write(&new_file, readings(3))?;
    let run = single_new_data_run(&env, now + minutes(1), &new_file).await?;
    let ingest = env.execution(&run.run_id, "ingest").await?;
    assert_eq!(ingest.status, "SUCCEEDED");
    assert_eq!(
        metric(&ingest, "rows")?,
        3.0,
        "the ingest read the new file"
    );

    let quiet = env.tick(now + minutes(2)).await?;
    assert!(quiet.fired.is_empty(), "nothing new: {quiet:?}");

    std::fs::write(&new_file, readings(4))?;
    let rerun = single_new_data_run(&env, now + minutes(3), &new_file).await?;
    let ingest = env.execution(&rerun.run_id, "ingest").await?;
    assert_eq!(
        ingest.status, "SUCCEEDED",
        "a rewritten file is read again, not served from the cache: {ingest:?}"
    );
    assert_eq!(metric(&ingest, "rows")?, 4.0);

    // The same size with other values: the modification time tells the versions apart (set
    // here a second later, as a coarse file system clock would not).
    let before = std::fs::metadata(&new_file)?.modified()?;
    let same_size = readings(4).replace(",c,", ",d,");
    std::fs::write(&new_file, &same_size)?;
    std::fs::File::options()
        .write(true)
        .open(&new_file)?
        .set_modified(before + Duration::from_secs(1))?;
    let third = single_new_data_run(&env, now + minutes(4), &new_file).await?;
    let reread = env.execution(&third.run_id, "ingest").await?;
    assert_eq!(reread.status, "SUCCEEDED", "{reread:?}");
    assert_ne!(
        output_digest(&env, &reread).await?,
        output_digest(&env, &ingest).await?,
        "the new values were read"
    );
    assert_eq!(env.runs("landing").await?.len(), 3);
    Ok(())
}

async fn new_data_fires_the_first_files_of_a_directory_made_later(env: Env) -> Result<()> {
    let triggers = r#"
[[triggers]]
name = "arrivals"
type = "new_data"
path = "later/*.csv"
param = "file"
"#;
    let (_, dir) = env.deploy(&ingest_pipeline("late", triggers)).await?;
    let now = utc(2026, 2, 1, 8, 0);
    let first = env.tick(now).await?;
    assert!(first.fired.is_empty(), "{first:?}");

    // Until it exists, the directory is reported missing.
    let missing = scheduler::tick(&env.engine, now + minutes(1), TOLERANCE).await?;
    assert_eq!(missing.errors.len(), 1, "{missing:?}");
    let (label, error) = &missing.errors[0];
    assert_eq!(label, "late/arrivals");
    assert!(
        error.contains("later") && error.contains("does not exist"),
        "{error}"
    );

    std::fs::create_dir_all(dir.join("later"))?;
    let file = dir.join("later/first.csv");
    std::fs::write(&file, readings(2))?;
    let run = single_new_data_run(&env, now + minutes(2), &file).await?;
    let ingest = env.execution(&run.run_id, "ingest").await?;
    assert_eq!(metric(&ingest, "rows")?, 2.0);
    Ok(())
}

/// The digest of the `data` output of an execution.
async fn output_digest(env: &Env, execution: &ExecutionRecord) -> Result<String> {
    env.store()
        .execution_outputs(&execution.execution_id)
        .await?
        .into_iter()
        .find(|o| o.port == "data")
        .and_then(|o| o.artifact.digest)
        .with_context(|| format!("execution {} has no data digest", execution.execution_id))
}

/// Ticks at `now`, expects exactly one run for `file`, and executes it.
async fn single_new_data_run(
    env: &Env,
    now: DateTime<Utc>,
    file: &Path,
) -> Result<PipelineRunRecord> {
    let fired = started(&env.tick(now).await?)?;
    ensure!(fired.len() == 1, "one firing for the new file: {fired:?}");
    let (firing, run_id) = &fired[0];
    let path = file.display().to_string();
    assert!(
        firing
            .idempotency_key
            .starts_with(&format!("new_data:{path}:")),
        "{firing:?}"
    );
    let run = env.drive(run_id).await?;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(params_of(&run)?["file"], json!(path));
    Ok(run)
}

// ------------------------------------------------------------------ upstream

async fn upstream_success_starts_one_downstream_run(env: Env) -> Result<()> {
    env.deploy(&ingest_pipeline("producer", "")).await?;
    let follows = r#"
[[triggers]]
name = "after-producer"
type = "upstream"
pipeline = "producer"
"#;
    env.deploy(&ingest_pipeline("consumer", follows)).await?;

    let upstream = manual_run(&env, "producer", BTreeMap::new()).await?;
    let done = env.drive(&upstream).await?;
    assert_eq!(done.status, RunStatus::Succeeded);
    let consumer_runs = env.runs("consumer").await?;
    assert_eq!(consumer_runs.len(), 1, "{consumer_runs:?}");
    let firings = env.firings("consumer").await?;
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].idempotency_key, format!("upstream:{upstream}"));
    assert_eq!(firings[0].kind, "upstream");
    assert_eq!(firings[0].status, "STARTED");
    assert_eq!(
        firings[0].run_id.as_deref(),
        Some(consumer_runs[0].run_id.as_str())
    );
    assert!(firings[0].cause.contains(&upstream), "{:?}", firings[0]);

    // Announcing the same success again changes nothing.
    let again = env.engine.fire_downstream(&done).await?;
    assert_eq!(again, [FireOutcome::Duplicate]);
    assert_eq!(
        env.drive(&consumer_runs[0].run_id).await?.status,
        RunStatus::Succeeded
    );

    let params = BTreeMap::from([("file".to_string(), json!("./missing.csv"))]);
    let failing = manual_run(&env, "producer", params).await?;
    let failed = env.drive(&failing).await?;
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(
        failed
            .message
            .as_deref()
            .is_some_and(|m| m.contains("missing.csv")),
        "{failed:?}"
    );
    assert_eq!(
        env.runs("consumer").await?.len(),
        1,
        "a failure fires nothing"
    );
    assert_eq!(env.firings("consumer").await?.len(), 1);
    Ok(())
}

/// An `upstream` trigger named `after` that follows `pipeline`.
fn follow(pipeline: &str) -> String {
    format!("[[triggers]]\nname = \"after\"\ntype = \"upstream\"\npipeline = \"{pipeline}\"\n")
}

async fn upstream_loops_are_refused_at_deploy(env: Env) -> Result<()> {
    let own = PipelineSpec::parse(
        "p.toml",
        &ingest_pipeline("ouroboros", &follow("ouroboros")),
    )?;
    let dir = env.pipeline_dir("ouroboros")?;
    expect_invalid(
        env.engine.deploy(&own, &dir).await,
        "triggers.after",
        "\"ouroboros\" follows \"ouroboros\": every successful run would start the next one forever",
    )?;

    env.deploy(&ingest_pipeline("a", &follow("c"))).await?;
    env.deploy(&ingest_pipeline("b", &follow("a"))).await?;
    let closing = PipelineSpec::parse("c.toml", &ingest_pipeline("c", &follow("b")))?;
    let dir = env.pipeline_dir("c")?;
    expect_invalid(
        env.engine.deploy(&closing, &dir).await,
        "triggers.after",
        "\"c\" follows \"b\", \"b\" follows \"a\", \"a\" follows \"c\"",
    )?;
    match env.store().get_pipeline("c").await {
        Err(e) => assert_eq!(e.code(), ErrorCode::ResourceDoesNotExist),
        Ok(p) => bail!("a refused pipeline was deployed: {p:?}"),
    }
    // Following a pipeline outside the loop is fine.
    env.deploy(&ingest_pipeline("c", &follow("producer")))
        .await?;
    Ok(())
}

/// Starts a run of a deployed pipeline by hand; returns its id.
async fn manual_run(env: &Env, pipeline: &str, params: BTreeMap<String, Value>) -> Result<String> {
    match service::trigger(&env.engine, pipeline, None, params, None, None, "tester").await? {
        FireOutcome::Started { run_id, .. } => Ok(run_id),
        other => bail!("a manual run of {pipeline} did not start: {other:?}"),
    }
}

// ------------------------------------------------------------------ hooks

const RETRAINER: &str = r#"
[pipeline]
name = "retrainer"

[params]
file = "./readings.csv"
days = 14

[steps.ingest]
type = "ingest"
params = { path = "${params.file}" }

[[triggers]]
name = "drift"
type = "hook"

[[triggers]]
name = "nightly"
type = "cron"
schedule = "0 3 * * *"
"#;

/// Fires the `drift` hook of `retrainer` with `params` given as text.
async fn drift(
    env: &Env,
    params: &[(&str, &str)],
    key: &str,
) -> esteira_pipeline::Result<FireOutcome> {
    let params: Vec<(&str, Value)> = params.iter().map(|(k, v)| (*k, json!(v))).collect();
    drift_json(env, &params, key).await
}

/// Fires the `drift` hook of `retrainer` with `params` as given.
async fn drift_json(
    env: &Env,
    params: &[(&str, Value)],
    key: &str,
) -> esteira_pipeline::Result<FireOutcome> {
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    service::trigger(
        &env.engine,
        "retrainer",
        Some("drift"),
        params,
        Some(key.to_string()),
        Some("drift on value".into()),
        "monitor",
    )
    .await
}

async fn hook_trigger_is_idempotent_and_types_params(env: Env) -> Result<()> {
    env.deploy(RETRAINER).await?;

    let FireOutcome::Started { firing, run_id } = drift(&env, &[("days", "28")], "alert-1").await?
    else {
        bail!("the first call starts a run");
    };
    assert_eq!(firing.kind, "hook");
    assert_eq!(firing.trigger_name, "drift");
    assert_eq!(firing.cause, "drift on value");
    let run = env.store().get_pipeline_run(&run_id).await?;
    let params = params_of(&run)?;
    assert_eq!(
        params["days"],
        json!(28),
        "typed by the default 14: {params:?}"
    );
    assert_eq!(params["file"], json!("./readings.csv"));
    let duplicate = drift(&env, &[("days", "28")], "alert-1").await?;
    assert_eq!(duplicate, FireOutcome::Duplicate);
    assert_eq!(env.runs("retrainer").await?.len(), 1);

    for (name, needles) in [
        ("nightly", ["\"nightly\"", "cron trigger, not a hook"]),
        ("ghost", ["\"ghost\"", "[\"drift\"]"]),
    ] {
        let outcome = service::trigger(
            &env.engine,
            "retrainer",
            Some(name),
            BTreeMap::new(),
            None,
            None,
            "monitor",
        )
        .await;
        match outcome {
            Err(Error::Invalid { field, reason }) => {
                assert_eq!(field, "trigger");
                for needle in needles {
                    assert!(reason.contains(needle), "`{needle}` not in: {reason}");
                }
            }
            other => bail!("trigger {name:?}: expected Error::Invalid, got {other:?}"),
        }
    }

    for (name, value, key, needles) in [
        (
            "bogus",
            json!("1"),
            "alert-2",
            ["params.bogus", "no such param"],
        ),
        (
            "days",
            json!("many"),
            "alert-3",
            ["params.days", "not an integer"],
        ),
        (
            "days",
            json!(true),
            "alert-4",
            ["params.days", "true is not"],
        ),
        ("days", json!(2.5), "alert-5", ["params.days", "2.5 is not"]),
        ("file", json!(5), "alert-6", ["params.file", "5 is not"]),
    ] {
        let params = [(name, value)];
        let FireOutcome::NotStarted { firing, reason } = drift_json(&env, &params, key).await?
        else {
            bail!("params {params:?} start no run");
        };
        for needle in needles {
            assert!(reason.contains(needle), "`{needle}` not in: {reason}");
        }
        let stored = env.firings("retrainer").await?;
        let stored = stored
            .iter()
            .find(|f| f.firing_id == firing.firing_id)
            .context("the failed firing is recorded")?;
        assert_eq!(stored.status, "FAILED");
        assert_eq!(stored.message.as_deref(), Some(reason.as_str()));
        assert_eq!(stored.run_id, None);
    }
    assert_eq!(env.runs("retrainer").await?.len(), 1);

    // A JSON integer needs no reading.
    let FireOutcome::Started { run_id, .. } =
        drift_json(&env, &[("days", json!(21))], "alert-7").await?
    else {
        bail!("an integer for an integer param starts a run");
    };
    let run = env.store().get_pipeline_run(&run_id).await?;
    assert_eq!(params_of(&run)?["days"], json!(21));

    let unknown = service::trigger(
        &env.engine,
        "nowhere",
        None,
        BTreeMap::new(),
        None,
        None,
        "x",
    )
    .await;
    match unknown {
        Err(e) => assert_eq!(e.code(), ErrorCode::ResourceDoesNotExist, "{e}"),
        Ok(o) => bail!("an undeployed pipeline fired: {o:?}"),
    }
    Ok(())
}

// ------------------------------------------------------------------ history

/// Waits until the store's millisecond clock has moved on: firings are ordered by the
/// millisecond they were recorded in, and two recorded within the same one have no defined
/// order.
async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

async fn firing_history_lists_every_firing_newest_first(env: Env) -> Result<()> {
    let with_cron = RETRAINER.replace("0 3 * * *", "*/5 * * * *") + "catch_up = \"all\"\n";
    env.deploy(&with_cron).await?;
    let t0 = utc(2026, 3, 2, 10, 1);
    env.tick(t0).await?;
    let cron = env.tick(t0 + minutes(10)).await?;
    let FireOutcome::Started {
        run_id: cron_run, ..
    } = &cron.fired[0].1
    else {
        bail!("10:05 starts a run: {cron:?}");
    };
    next_millisecond().await;
    let FireOutcome::Started {
        run_id: hook_run, ..
    } = drift(&env, &[], "alert-1").await?
    else {
        bail!("the hook starts a run");
    };
    next_millisecond().await;
    let FireOutcome::NotStarted { .. } = drift(&env, &[("bogus", "1")], "alert-2").await? else {
        bail!("an unknown param starts no run");
    };
    next_millisecond().await;
    let manual = manual_run(&env, "retrainer", BTreeMap::new()).await?;

    let history = env.firings("retrainer").await?;
    let rows: Vec<(&str, &str, Option<&str>)> = history
        .iter()
        .map(|f| {
            (
                f.trigger_name.as_str(),
                f.status.as_str(),
                f.run_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("manual", "STARTED", Some(manual.as_str())),
            ("drift", "FAILED", None),
            ("drift", "STARTED", Some(hook_run.as_str())),
            ("nightly", "SKIPPED", None),
            ("nightly", "STARTED", Some(cron_run.as_str())),
        ]
    );
    let causes: Vec<&str> = history.iter().map(|f| f.cause.as_str()).collect();
    assert_eq!(
        causes,
        [
            "manual by tester",
            "drift on value",
            "drift on value",
            "cron */5 * * * * (UTC) due 2026-03-02T10:10:00Z",
            // Older than the tolerance (one minute) when the tick at 10:11 fired it.
            "cron */5 * * * * (UTC) due 2026-03-02T10:05:00Z, caught up at 2026-03-02T10:11:00Z",
        ]
    );
    let times: Vec<i64> = history.iter().map(|f| f.fired_time).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let newest_two = env.store().list_firings(None, 2).await?;
    assert_eq!(newest_two, history[..2]);
    Ok(())
}

// ------------------------------------------------------------------ resume and cancel

const THREE_STEPS: &str = r#"
[pipeline]
name = "resume"

[steps.ingest]
type = "ingest"
params = { path = "./readings.csv" }

[steps.validate]
type = "validate"
inputs = { data = "ingest.data" }
params = { min_rows = 10 }

[steps.split]
type = "split"
inputs = { data = "validate.data" }
params = { method = "random", test_fraction = 0.25 }
"#;

async fn resume_from_a_step_reuses_upstream_executions(env: Env) -> Result<()> {
    let spec = PipelineSpec::parse("pipeline.toml", THREE_STEPS)?;
    let dir = env.pipeline_dir("resume")?;
    let first = env.engine.submit(env.request(&spec, &dir)).await?;
    assert_eq!(env.drive(&first.run_id).await?.status, RunStatus::Succeeded);
    let first_ingest = env.execution(&first.run_id, "ingest").await?;

    // The first run's validate and split would be cache hits; --from validate re-runs them
    // all the same, and reuses the ingest.
    let mut resume = env.request(&spec, &dir);
    resume.from_step = Some("validate".into());
    let second = env.engine.submit(resume).await?;
    assert_eq!(
        env.drive(&second.run_id).await?.status,
        RunStatus::Succeeded
    );
    let steps = env.step_statuses(&second.run_id).await?;
    assert_eq!(steps["ingest"], StepStatus::Cached);
    assert_eq!(steps["validate"], StepStatus::Succeeded);
    assert_eq!(steps["split"], StepStatus::Succeeded);
    let ingest = env.execution(&second.run_id, "ingest").await?;
    assert_eq!(ingest.status, "CACHED");
    assert_eq!(
        ingest.reused_execution_id.as_deref(),
        Some(first_ingest.execution_id.as_str())
    );
    let reason = ingest.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("--from") && reason.contains(&first.run_id),
        "reason: {reason}"
    );
    let split = env.execution(&second.run_id, "split").await?;
    assert_eq!(split.status, "SUCCEEDED");
    assert_eq!(split.reused_execution_id, None);
    assert_eq!(metric(&split, "train_rows")?, 9.0);
    assert_eq!(metric(&split, "test_rows")?, 3.0);

    // An explicit earlier run, resumed from the last step: --from reuses even when caching
    // is off.
    let mut last = env.request(&spec, &dir);
    last.from_step = Some("split".into());
    last.from_run = Some(first.run_id.clone());
    last.no_cache = true;
    let third = env.engine.submit(last).await?;
    env.drive(&third.run_id).await?;
    let steps = env.step_statuses(&third.run_id).await?;
    assert_eq!(steps["ingest"], StepStatus::Cached);
    assert_eq!(steps["validate"], StepStatus::Cached);
    assert_eq!(steps["split"], StepStatus::Succeeded);
    let split = env.execution(&third.run_id, "split").await?;
    assert_eq!(
        split.reason.as_deref(),
        Some("ran: caching is off for this run (--no-cache or --from)")
    );

    let mut unknown = env.request(&spec, &dir);
    unknown.from_step = Some("train".into());
    expect_invalid(
        env.engine.submit(unknown).await,
        "--from",
        "no step \"train\"",
    )?;

    let other = PipelineSpec::parse("other.toml", &ingest_pipeline("other", ""))?;
    let mut foreign = env.request(&other, &dir);
    foreign.from_step = Some("ingest".into());
    foreign.from_run = Some(first.run_id.clone());
    expect_invalid(
        env.engine.submit(foreign).await,
        "--run",
        "belongs to pipeline \"resume\"",
    )?;
    Ok(())
}

/// Asserts that `result` is an `Error::Invalid` about `field` whose reason has `needle`.
fn expect_invalid<T: std::fmt::Debug>(
    result: esteira_pipeline::Result<T>,
    field: &str,
    needle: &str,
) -> Result<()> {
    match result {
        Err(Error::Invalid { field: f, reason }) => {
            ensure!(f == field, "wrong field {f:?} ({reason})");
            ensure!(reason.contains(needle), "`{needle}` not in: {reason}");
            Ok(())
        }
        other => bail!("expected Error::Invalid about {field}, got {other:?}"),
    }
}

async fn cancelling_a_queued_run_cancels_its_steps(env: Env) -> Result<()> {
    let spec = PipelineSpec::parse("pipeline.toml", THREE_STEPS)?;
    let dir = env.pipeline_dir("resume")?;
    let queued = env.engine.submit(env.request(&spec, &dir)).await?;
    assert_eq!(queued.status, RunStatus::Queued);

    let cancelled = env.engine.cancel(&queued.run_id).await?;
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(cancelled.cancel_requested);
    let steps = env.step_statuses(&queued.run_id).await?;
    assert!(
        steps.values().all(|s| *s == StepStatus::Cancelled),
        "{steps:?}"
    );
    let mlflow = env.store().get_run(&queued.run_id).await?.info;
    assert_eq!(mlflow.status, MlflowStatus::Killed);
    let ended = mlflow.end_time.context("the MLflow run has an end time")?;

    let mut config = WorkerConfig::new(env.root.join("work"));
    config.only_run = Some(queued.run_id.clone());
    let worker = Worker::new(env.engine.clone(), config);
    assert!(
        !worker.run_once().await?,
        "a cancelled run has nothing to claim"
    );
    assert!(
        env.store()
            .list_executions(&queued.run_id)
            .await?
            .is_empty()
    );

    // Cancelling again, or cancelling a run that already ended, changes nothing.
    next_millisecond().await;
    assert_eq!(
        env.engine.cancel(&queued.run_id).await?.status,
        RunStatus::Cancelled
    );
    assert_eq!(
        env.store().get_run(&queued.run_id).await?.info.end_time,
        Some(ended)
    );
    let finished = env.engine.submit(env.request(&spec, &dir)).await?;
    env.drive(&finished.run_id).await?;
    let before = env.store().get_run(&finished.run_id).await?.info;
    next_millisecond().await;
    assert_eq!(
        env.engine.cancel(&finished.run_id).await?.status,
        RunStatus::Succeeded
    );
    let after = env.store().get_run(&finished.run_id).await?.info;
    assert_eq!(after.status, MlflowStatus::Finished);
    assert_eq!(after.end_time, before.end_time);

    match env.engine.cancel("0123456789abcdef0123456789abcdef").await {
        Err(e) => assert_eq!(e.code(), ErrorCode::ResourceDoesNotExist, "{e}"),
        Ok(run) => bail!("cancelled an unknown run: {run:?}"),
    }
    Ok(())
}

/// Runs `sql` on the database named by `ESTEIRA_TEST_POSTGRES_URL`.
async fn admin_sql(url: &str, sql: &str) -> Result<()> {
    let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

async fn watermark_takes_a_baseline_then_fires_once_per_new_value(env: Env) -> Result<()> {
    let Ok(url) = std::env::var("ESTEIRA_TEST_POSTGRES_URL") else {
        ensure!(
            !services_required(),
            "ESTEIRA_TEST_POSTGRES_URL is required here"
        );
        skip_notice();
        return Ok(());
    };
    let table = format!(
        "loads_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    admin_sql(
        &url,
        &format!("CREATE TABLE {table} (day DATE); INSERT INTO {table} VALUES ('2026-01-01')"),
    )
    .await?;
    let pipeline = format!(
        r#"
[pipeline]
name = "loads"

[params]
since = ""

[steps.ingest]
type = "ingest"
params = {{ path = "./readings.csv" }}

[[triggers]]
name = "loaded"
type = "watermark"
url = "{url}"
query = "SELECT max(day) FROM {table}"
param = "since"
"#
    );
    let spec = PipelineSpec::parse("pipeline.toml", &pipeline)?;
    env.engine
        .deploy(&spec, &env.pipeline_dir("loads")?)
        .await?;
    let now = utc(2026, 3, 1, 9, 0);
    let outcome = async {
        ensure!(
            env.tick(now).await?.fired.is_empty(),
            "the first value is the baseline"
        );
        let baseline = env.firings("loads").await?;
        ensure!(
            baseline.len() == 1 && baseline[0].status == "BASELINE",
            "{baseline:?}"
        );
        ensure!(
            env.tick(now + minutes(1)).await?.fired.is_empty(),
            "same value, no firing"
        );
        admin_sql(&url, &format!("INSERT INTO {table} VALUES ('2026-01-02')")).await?;
        let fired = env.tick(now + minutes(2)).await?;
        let started = started(&fired)?;
        ensure!(started.len() == 1, "{fired:?}");
        let run = env.store().get_pipeline_run(&started[0].1).await?;
        ensure!(params_of(&run)?["since"] == json!("2026-01-02"), "{run:?}");
        ensure!(
            env.tick(now + minutes(3)).await?.fired.is_empty(),
            "fires once per value"
        );
        Ok(())
    }
    .await;
    admin_sql(&url, &format!("DROP TABLE {table}")).await?;
    outcome
}
