//! `esteira quickstart`: the whole loop on the embedded default (SQLite and a local
//! directory) in a fresh directory, in minutes.
//!
//! 1. Generates two years of daily demand for stores × products ([`data`]) and writes it to
//!    `data/sales/history.parquet`.
//! 2. Writes `pipeline.toml` and `monitors.toml` ([`files`]), deploys both, and runs the
//!    pipeline once: the first champion.
//! 3. Replays the following days ([`replay`]): forecasts served through the serving runtime
//!    into the prediction log, ground truth arriving late, a new promotion policy lifting
//!    demand on a known day, the monitor and the retrain policy at every midnight, retrains
//!    run when the policy fires them.
//! 4. Tells the story ([`story`]) and the ledger's totals, then serves the directory like
//!    `esteira server` until Ctrl-C (unless `--no-serve`).

mod data;
mod files;
mod replay;
mod story;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::NaiveDate;
use clap::Args;
use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_monitor::service;
use esteira_monitor::spec::MonitorsFile;
use esteira_pipeline::engine::{Engine, FireOutcome};
use esteira_pipeline::spec::PipelineSpec;
use esteira_pipeline::worker::{Worker, WorkerConfig};
use esteira_serving::log::{LogConfig, PredictionLog};
use esteira_serving::source::Fetcher;
use esteira_store::pipelines::RunStatus;
use esteira_store::{MetadataStore, SqlStore};
use tokio::sync::watch;

use crate::config::Config;
use data::{Demand, DemandSpec};
use replay::{Replay, RunTrigger};
use story::Story;

/// Days of history the first champion is trained on: two years and a month.
const HISTORY_DAYS: usize = 760;
/// The fewest replayed days: the band's windows, a week of alarms and its aftermath.
const MIN_DAYS: usize = 35;
/// The earliest change day: after the band is known.
const MIN_CHANGE_DAY: usize = files::BAND_WINDOWS + files::LABEL_DELAY_DAYS + 4;
/// How long one pipeline run may take before the quickstart gives up.
const RUN_LIMIT: Duration = Duration::from_secs(1800);

/// `esteira quickstart`.
#[derive(Args)]
pub struct QuickstartArgs {
    /// The directory to create (it must not hold a quickstart already).
    #[arg(long, default_value = "./esteira-quickstart")]
    dir: PathBuf,
    /// Seed of the generated demand.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stores (1 to 99).
    #[arg(long, default_value_t = 50)]
    stores: usize,
    /// Products per store (1 to 99).
    #[arg(long, default_value_t = 20)]
    products: usize,
    /// Days replayed after the first training.
    #[arg(long, default_value_t = 180)]
    days: usize,
    /// The replayed day (from 0) on which the new promotion policy starts [default: a third
    /// of --days].
    #[arg(long)]
    change_day: Option<usize>,
    /// The day the replay ends on (YYYY-MM-DD, UTC); the served directory then carries on
    /// from it [default: today].
    #[arg(long)]
    end: Option<String>,
    /// Address the server listens on afterwards.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port the server listens on afterwards; 0 picks a free port.
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Only run the loop; do not serve afterwards.
    #[arg(long)]
    no_serve: bool,
}

/// The checked settings.
struct Settings {
    dir: PathBuf,
    demand: DemandSpec,
    first_day: usize,
    days: usize,
}

fn settings(args: &QuickstartArgs) -> Result<Settings> {
    if !(1..=99).contains(&args.stores) {
        bail!("--stores: must be between 1 and 99, got {}", args.stores);
    }
    if !(1..=99).contains(&args.products) {
        bail!(
            "--products: must be between 1 and 99, got {}",
            args.products
        );
    }
    if !(MIN_DAYS..=3650).contains(&args.days) {
        bail!(
            "--days: must be between {MIN_DAYS} and 3650, got {}",
            args.days
        );
    }
    let change_day = args.change_day.unwrap_or(args.days / 3);
    let latest = args.days - files::RULE_WINDOWS - files::LABEL_DELAY_DAYS - 3;
    if !(MIN_CHANGE_DAY..=latest).contains(&change_day) {
        bail!(
            "--change-day: must be between {MIN_CHANGE_DAY} (after the alarm band is made) and {latest} (a retrain must fit before the end of --days {}), got {change_day}",
            args.days
        );
    }
    let end = match &args.end {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| anyhow!("--end: {text:?} is not a date (YYYY-MM-DD)"))?,
        None => chrono::Utc::now().date_naive(),
    };
    let total = HISTORY_DAYS + args.days;
    let start = end
        .checked_sub_days(chrono::Days::new(total as u64))
        .ok_or_else(|| anyhow!("--end: {end} is too early"))?;
    Ok(Settings {
        dir: args.dir.clone(),
        demand: DemandSpec {
            seed: args.seed,
            stores: args.stores,
            products: args.products,
            start,
            days: total + 1,
            change_day: HISTORY_DAYS + change_day,
        },
        first_day: HISTORY_DAYS,
        days: args.days,
    })
}

/// The stores, engine, workers and prediction log of the directory.
struct Stack {
    store: Arc<SqlStore>,
    artifacts: ArtifactStore,
    engine: Arc<Engine>,
    log: PredictionLog,
    stop_workers: watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Stack {
    async fn open(dir: &Path) -> Result<Stack> {
        let (store, artifacts) =
            crate::pipeline::open_stores(&store_url(dir), &artifacts_url(dir)).await?;
        let store = Arc::new(store);
        let engine = Arc::new(Engine::new(store.clone(), artifacts.clone()));
        let log = PredictionLog::start(
            LogConfig {
                flush_interval: Duration::from_secs(3600),
                root: ArtifactPath::parse("prediction-log")?,
                ..LogConfig::server_default()
            },
            artifacts.clone(),
            store.clone(),
        )
        .map_err(|e| anyhow!("cannot start the prediction log: {e}"))?;
        let (stop_workers, stop) = watch::channel(false);
        let base = WorkerConfig::new(dir.join("work"));
        let workers = (0..2)
            .map(|i| {
                let mut config = base.clone();
                config.id = format!("{}-quickstart-{i}", base.id);
                let worker = Worker::new(engine.clone(), config);
                let stop = stop.clone();
                tokio::spawn(async move {
                    if let Err(e) = worker.run(stop).await {
                        tracing::error!(error = %e, "a quickstart worker stopped");
                    }
                })
            })
            .collect();
        Ok(Stack {
            store,
            artifacts,
            engine,
            log,
            stop_workers,
            workers,
        })
    }

    async fn close(self) {
        let _ = self.stop_workers.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        self.log.shutdown().await;
        self.store.close().await;
    }
}

fn store_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("esteira.db").display())
}

fn artifacts_url(dir: &Path) -> String {
    dir.join("artifacts").display().to_string()
}

/// Runs `esteira quickstart`.
///
/// # Errors
/// Bad flags (naming the flag), a directory that already holds a quickstart, store or
/// pipeline failures, a server that cannot start.
pub async fn quickstart(config: Config, args: QuickstartArgs) -> Result<()> {
    let s = settings(&args)?;
    if s.dir.join("esteira.db").exists() {
        bail!(
            "--dir: {} already holds a quickstart (esteira.db); remove it or pass another --dir",
            s.dir.display()
        );
    }
    let relative_sales_dir = s.dir.join("data").join("sales");
    std::fs::create_dir_all(&relative_sales_dir)
        .with_context(|| format!("cannot create {}", relative_sales_dir.display()))?;
    let dir = std::fs::canonicalize(&s.dir)?;
    let sales_dir = dir.join("data").join("sales");
    let mut story = Story::new();
    let demand = Demand::generate(&s.demand);
    let history = demand.table(0, s.first_day)?;
    history.write(&sales_dir.join("history.parquet"))?;
    story.say(format!(
        "Generated daily demand for {} series ({} stores × {} products), {} to {}: {} rows in {}",
        demand.series.len(),
        s.demand.stores,
        s.demand.products,
        demand.date(0),
        demand.date(s.first_day - 1),
        history.num_rows(),
        sales_dir.join("history.parquet").display()
    ));
    let stack = Stack::open(&dir).await?;
    let outcome = run_loop(&dir, &s, &demand, &stack, &mut story).await;
    stack.close().await;
    outcome?;
    if args.no_serve {
        return Ok(());
    }
    serve(config, &dir, &args).await
}

async fn run_loop(
    dir: &Path,
    s: &Settings,
    demand: &Demand,
    stack: &Stack,
    story: &mut Story,
) -> Result<()> {
    let pipeline_file = dir.join("pipeline.toml");
    let monitors_file = dir.join("monitors.toml");
    std::fs::write(&pipeline_file, files::pipeline_toml())?;
    std::fs::write(&monitors_file, files::monitors_toml())?;
    let spec = PipelineSpec::parse(
        &pipeline_file.display().to_string(),
        &files::pipeline_toml(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    stack.engine.deploy(&spec, dir).await?;
    let monitors = MonitorsFile::parse(
        &files::monitors_toml(),
        &monitors_file.display().to_string(),
    )?;
    service::deploy(stack.store.as_ref(), &monitors, dir).await?;
    story.say(format!(
        "Wrote {} and {}; training the first champion",
        pipeline_file.display(),
        monitors_file.display()
    ));
    let outcome = esteira_pipeline::service::trigger(
        &stack.engine,
        files::NAME,
        None,
        Default::default(),
        None,
        Some("esteira quickstart: the first champion".into()),
        "esteira-quickstart",
    )
    .await?;
    let FireOutcome::Started { run_id, .. } = outcome else {
        bail!("the first pipeline run did not start: {outcome:?}");
    };
    let status = replay::wait_for_run(&stack.store, &run_id, RUN_LIMIT).await?;
    story.pipeline_run(&stack.store, &run_id, status).await?;
    if status != RunStatus::Succeeded {
        bail!(
            "the first pipeline run {run_id} ended {}; see `esteira pipeline show {run_id} --store {}`",
            status.as_str(),
            store_url(dir)
        );
    }
    let change = demand.date(s.demand.change_day);
    story.say(format!(
        "Replaying {} days from {}: every evening each store asks for tomorrow's forecast, sales arrive {} days later; a new promotion policy starts on {change}",
        s.days,
        demand.date(s.first_day),
        files::LABEL_DELAY_DAYS
    ));
    let trigger = RunTrigger::new(stack.engine.clone());
    let replay = Replay {
        demand,
        first_day: s.first_day,
        days: s.days,
        store: stack.store.clone(),
        artifacts: stack.artifacts.clone(),
        log: stack.log.clone(),
        trigger: &trigger,
        fetcher: Fetcher {
            store: stack.store.clone(),
            artifacts: stack.artifacts.clone(),
            cache_dir: replay::serving_cache(dir),
        },
        sales_dir: dir.join("data").join("sales"),
        run_limit: RUN_LIMIT,
    };
    story.start_replay(s.days);
    let replayed = replay.run(story).await;
    story.finish();
    replayed?;
    summary(stack, story).await?;
    let champion = stack
        .store
        .get_model_version_by_alias(files::NAME, "champion")
        .await
        .map(|v| v.version)
        .unwrap_or_else(|_| "1".into());
    story.say(format!(
        "Look closer: export ESTEIRA_DATA_DIR={}; then `esteira decisions`, `esteira monitor history {} --html report.html`, `esteira pipeline runs`, `esteira lineage models:/{}/{champion}`",
        dir.display(),
        files::MONITOR,
        files::NAME,
    ));
    Ok(())
}

async fn summary(stack: &Stack, story: &Story) -> Result<()> {
    let ledger =
        service::decisions(stack.store.as_ref(), None, i64::MIN, i64::MAX, i64::MAX).await?;
    let counts: Vec<String> = ledger
        .counts
        .iter()
        .map(|(outcome, n)| format!("{n} {outcome}"))
        .collect();
    story.say(format!(
        "Decisions: {}. Retraining cost {:.1} s of compute; the other decisions saved {:.1} s against retraining every day.",
        counts.join(", "),
        ledger.retrain_seconds,
        ledger.saved_seconds
    ));
    story.say(format!(
        "Alarm episodes: {}",
        story
            .episodes
            .iter()
            .map(|(a, b)| if a == b {
                a.to_string()
            } else {
                format!("{a} to {b}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

async fn serve(config: Config, dir: &Path, args: &QuickstartArgs) -> Result<()> {
    if args.port != 0 {
        println!(
            "Open http://{}:{}/ to look around; Ctrl-C stops the server.",
            if args.host == "0.0.0.0" {
                "127.0.0.1"
            } else {
                &args.host
            },
            args.port
        );
    } else {
        println!("Open the address below in a browser; Ctrl-C stops the server.");
    }
    let server = crate::ServerArgs {
        host: Some(args.host.clone()),
        port: Some(args.port),
        data_dir: Some(dir.to_path_buf()),
        store: Some(store_url(dir)),
        artifacts: Some(artifacts_url(dir)),
        workers: 1,
        ..crate::ServerArgs::default()
    };
    crate::run_server(config, server).await
}
