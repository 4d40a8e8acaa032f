//! `esteira pipeline ...`, `esteira worker`, `esteira lineage` and `esteira models rollback`.
//!
//! Commands that read or change deployed pipelines go to a server (`--server URL`, Esteira's
//! API under `/api/2.0/esteira`) or open the stores directly (`--store URL`); both call the
//! same service functions of `esteira-pipeline`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use esteira_artifacts::ArtifactStore;
use esteira_pipeline::engine::{Engine, FireOutcome, RunRequest};
use esteira_pipeline::local::{LocalOptions, run_local};
use esteira_pipeline::service::{self, RunDetails};
use esteira_pipeline::spec::PipelineSpec;
use esteira_pipeline::worker::{Worker, WorkerConfig, hostname};
use esteira_pipeline::{graph, lineage};
use esteira_server::AppState;
use esteira_store::SqlStore;
use esteira_store::pipelines::PipelineStore;
use esteira_store::pipelines::{PipelineRunRecord, RunStatus, StepRunRecord};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Config;

/// Exit code of `pipeline run` when the run failed.
pub const RUN_FAILED_EXIT: u8 = 1;

/// `esteira pipeline ...`.
#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Checks a pipeline file: schema, cycles, unknown inputs, type mismatches, step types,
    /// cron expressions. Exit code 1 with every problem listed.
    Validate {
        /// The pipeline file.
        file: PathBuf,
    },
    /// Prints the DAG as text, Graphviz DOT or SVG.
    Graph {
        /// The pipeline file.
        file: PathBuf,
        /// text, dot or svg.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Runs a pipeline on this machine (embedded store by default) with live progress.
    Run(Box<RunArgs>),
    /// Registers a pipeline and its triggers with the server (or store).
    Deploy {
        /// The pipeline file.
        file: PathBuf,
        #[command(flatten)]
        target: PipelineTarget,
    },
    /// Starts a run of a deployed pipeline (by hand, or through one of its hook triggers).
    Trigger {
        /// The deployed pipeline's name.
        name: String,
        /// A hook trigger of the pipeline; a manual run when absent.
        #[arg(long)]
        hook: Option<String>,
        /// NAME=VALUE; repeatable.
        #[arg(long = "param")]
        params: Vec<String>,
        /// Firings with the same key collapse into one run.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Why, recorded with the firing.
        #[arg(long)]
        cause: Option<String>,
        #[command(flatten)]
        target: PipelineTarget,
    },
    /// Lists pipeline runs, newest first.
    Runs {
        /// Only this pipeline's runs.
        name: Option<String>,
        /// Most runs to list.
        #[arg(long, default_value_t = 20)]
        max_results: i64,
        #[command(flatten)]
        target: PipelineTarget,
    },
    /// Shows a run: its steps, attempts, cache hits and failures with their log tails.
    Show {
        /// The run id.
        run_id: String,
        #[command(flatten)]
        target: PipelineTarget,
    },
    /// Cancels a run.
    Cancel {
        /// The run id.
        run_id: String,
        #[command(flatten)]
        target: PipelineTarget,
    },
    /// Lists deployed pipelines and their triggers.
    List {
        #[command(flatten)]
        target: PipelineTarget,
    },
    /// Lists trigger firings, newest first (the trigger history).
    Firings {
        /// Only this pipeline's firings.
        name: Option<String>,
        /// Most firings to list.
        #[arg(long, default_value_t = 50)]
        max_results: i64,
        #[command(flatten)]
        target: PipelineTarget,
    },
}

/// `esteira pipeline run`.
#[derive(Args)]
pub struct RunArgs {
    /// The pipeline file.
    file: PathBuf,
    /// NAME=VALUE overriding a param of the pipeline; repeatable.
    #[arg(long = "param")]
    params: Vec<String>,
    /// Runs every step, reusing nothing from earlier runs.
    #[arg(long)]
    no_cache: bool,
    /// Re-runs this step and everything downstream of it; the other steps reuse the outputs
    /// of the run given by --run (default: the pipeline's latest run).
    #[arg(long)]
    from: Option<String>,
    /// The run whose outputs --from reuses.
    #[arg(long, requires = "from")]
    run: Option<String>,
    /// Steps run at the same time [default: 2].
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Metadata store URL [default: the configuration's, sqlite://./esteira-data/esteira.db].
    #[arg(long)]
    store: Option<String>,
    /// Artifact store URL [default: the configuration's, ./esteira-data/artifacts].
    #[arg(long)]
    artifacts: Option<String>,
    /// Prints the final run as JSON.
    #[arg(long)]
    json: bool,
}

/// Where pipeline commands go.
#[derive(Args)]
pub struct PipelineTarget {
    /// Server URL. Env `ESTEIRA_SERVER`.
    #[arg(long, env = "ESTEIRA_SERVER", conflicts_with = "store")]
    server: Option<String>,
    /// Bearer token for the server. Env `ESTEIRA_TOKEN`, or `MLFLOW_TRACKING_TOKEN`.
    #[arg(long, env = "ESTEIRA_TOKEN")]
    token: Option<String>,
    /// Open this metadata store directly [default: the configuration's].
    #[arg(long)]
    store: Option<String>,
    /// The artifact store, with --store [default: the configuration's].
    #[arg(long)]
    artifacts: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `esteira worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// Metadata store shared with the server (PostgreSQL for several machines).
    #[arg(long)]
    store: Option<String>,
    /// Artifact store shared with the server.
    #[arg(long)]
    artifacts: Option<String>,
    /// Steps this process runs at the same time.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// How long a claimed step stays ours without a heartbeat (e.g. 30s).
    #[arg(long, default_value = "30s")]
    lease: String,
    /// Tracking server given to command steps as MLFLOW_TRACKING_URI [default: a loopback
    /// server this worker starts over the same stores].
    #[arg(long)]
    tracking_uri: Option<String>,
    /// This worker's id [default: host-pid-random].
    #[arg(long)]
    id: Option<String>,
}

/// `esteira lineage`.
#[derive(Args)]
pub struct LineageArgs {
    /// models:/NAME/VERSION, an artifact id or URI, a pipeline run id or an execution id.
    subject: String,
    /// How many hops to follow each way.
    #[arg(long, default_value_t = 20)]
    depth: i64,
    #[command(flatten)]
    target: PipelineTarget,
}

/// `esteira models rollback`.
#[derive(Args)]
pub struct RollbackArgs {
    /// The registered model.
    name: String,
    /// The alias to move back.
    #[arg(long, default_value = "champion")]
    alias: String,
    /// Why (recorded in the alias history).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    target: PipelineTarget,
}

/// The stores opened in-process, with an engine over them.
struct Local {
    engine: Arc<Engine>,
    store: SqlStore,
    artifacts: ArtifactStore,
}

async fn open_local(
    config: &Config,
    store: Option<&str>,
    artifacts: Option<&str>,
) -> Result<Local> {
    let resolved = config.server.resolve()?;
    let store_url = store.map_or(resolved.store, str::to_string);
    let artifacts_url = artifacts.map_or(resolved.artifacts, str::to_string);
    let (store, artifacts) = open_stores(&store_url, &artifacts_url).await?;
    let engine = Arc::new(Engine::new(Arc::new(store.clone()), artifacts.clone()));
    Ok(Local {
        engine,
        store,
        artifacts,
    })
}

/// Opens the metadata store at `store_url` (creating a SQLite file's directory) and the
/// artifact store at `artifacts_url`.
///
/// # Errors
/// Either store cannot be opened; the message names it (any password hidden).
pub async fn open_stores(
    store_url: &str,
    artifacts_url: &str,
) -> Result<(SqlStore, ArtifactStore)> {
    if let Some(path) = store_url.strip_prefix("sqlite://")
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let store = SqlStore::open(store_url).await.with_context(|| {
        format!(
            "cannot open the metadata store {}",
            crate::redact(store_url)
        )
    })?;
    let artifacts = ArtifactStore::from_url(artifacts_url)
        .with_context(|| format!("cannot open the artifact store {artifacts_url}"))?;
    Ok((store, artifacts))
}

/// Serves the tracking API over `local`'s stores on a free loopback port, for command
/// steps' `MLFLOW_TRACKING_URI`. The server stops when the returned sender is dropped.
async fn loopback_server(local: &Local) -> Result<(String, watch::Sender<bool>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on a loopback port")?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = esteira_server::router(AppState::new(
        Arc::new(local.store.clone()),
        local.artifacts.clone(),
    ));
    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.changed().await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "the loopback tracking server failed");
        }
    });
    Ok((url, stop_tx))
}

/// Runs `esteira pipeline ...`; returns the process exit code.
///
/// # Errors
/// Bad files, arguments, unreachable stores or servers.
pub async fn pipeline(config: &Config, command: PipelineCommand) -> Result<u8> {
    match command {
        PipelineCommand::Validate { file } => validate(&file),
        PipelineCommand::Graph { file, format } => {
            let spec = read_spec(&file)?;
            let text = match format.as_str() {
                "text" => graph::text(&spec),
                "dot" => graph::dot(&spec),
                "svg" => graph::svg(&spec, None),
                other => bail!("--format: expected text, dot or svg, got {other:?}"),
            };
            print!("{text}");
            Ok(0)
        }
        PipelineCommand::Run(args) => run(config, *args).await,
        PipelineCommand::Deploy { file, target } => deploy(config, &file, &target).await,
        PipelineCommand::Trigger {
            name,
            hook,
            params,
            idempotency_key,
            cause,
            target,
        } => {
            let params = pairs(&params)?;
            let body = json!({
                "name": name, "trigger": hook, "params": params,
                "idempotency_key": idempotency_key, "cause": cause, "user": user(),
            });
            let answer = match &target.server {
                Some(_) => remote(&target, "POST", "pipelines/trigger", body).await?,
                None => {
                    let local = local_target(config, &target).await?;
                    let outcome = service::trigger(
                        &local.engine,
                        &name,
                        hook.as_deref(),
                        params,
                        idempotency_key,
                        cause,
                        &user(),
                    )
                    .await?;
                    outcome_json(outcome)
                }
            };
            print_fire(&answer, target.json);
            Ok(0)
        }
        PipelineCommand::Runs {
            name,
            max_results,
            target,
        } => {
            let answer = match &target.server {
                Some(_) => {
                    let q = json!({"pipeline": name, "max_results": max_results});
                    remote(&target, "GET", "pipelines/runs/list", q).await?
                }
                None => {
                    let l = local_target(config, &target).await?;
                    let runs = l
                        .store
                        .list_pipeline_runs(name.as_deref(), max_results)
                        .await?;
                    json!({ "runs": runs })
                }
            };
            print_runs(&answer, target.json)
        }
        PipelineCommand::Show { run_id, target } => {
            let answer = match &target.server {
                Some(_) => {
                    remote(
                        &target,
                        "GET",
                        "pipelines/runs/get",
                        json!({"run_id": run_id}),
                    )
                    .await?
                }
                None => {
                    let l = local_target(config, &target).await?;
                    serde_json::to_value(service::run_details(&l.store, &run_id).await?)?
                }
            };
            let details: RunDetails = serde_json::from_value(answer.clone())
                .context("unexpected answer from the server")?;
            if target.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_details(&details);
            }
            Ok(0)
        }
        PipelineCommand::Cancel { run_id, target } => {
            let answer = match &target.server {
                Some(_) => {
                    remote(
                        &target,
                        "POST",
                        "pipelines/runs/cancel",
                        json!({"run_id": run_id}),
                    )
                    .await?
                }
                None => {
                    let l = local_target(config, &target).await?;
                    json!({ "run": l.engine.cancel(&run_id).await? })
                }
            };
            let status = answer["run"]["status"].as_str().unwrap_or("?");
            println!("run {run_id}: {status}");
            Ok(0)
        }
        PipelineCommand::List { target } => {
            let answer = match &target.server {
                Some(_) => remote(&target, "GET", "pipelines/list", json!({})).await?,
                None => {
                    let l = local_target(config, &target).await?;
                    json!({
                        "pipelines": l.store.list_pipelines().await?,
                        "triggers": l.store.list_triggers().await?,
                    })
                }
            };
            print_pipelines(&answer, target.json)
        }
        PipelineCommand::Firings {
            name,
            max_results,
            target,
        } => {
            let answer = match &target.server {
                Some(_) => {
                    let q = json!({"pipeline": name, "max_results": max_results});
                    remote(&target, "GET", "pipelines/firings/list", q).await?
                }
                None => {
                    let l = local_target(config, &target).await?;
                    json!({ "firings": l.store.list_firings(name.as_deref(), max_results).await? })
                }
            };
            print_firings(&answer, target.json)
        }
    }
}

async fn local_target(config: &Config, target: &PipelineTarget) -> Result<Local> {
    if let Some(url) = &target.store
        && let Some(path) = url.strip_prefix("sqlite://")
        && !Path::new(path).exists()
    {
        bail!("no store at {path}: pass --server URL, or --store URL of an existing store");
    }
    open_local(config, target.store.as_deref(), target.artifacts.as_deref()).await
}

/// Calls Esteira's API on `target.server`; a GET sends `body` as the query string.
async fn remote(target: &PipelineTarget, method: &str, path: &str, body: Value) -> Result<Value> {
    let base = target
        .server
        .as_deref()
        .ok_or_else(|| anyhow!("no --server given"))?
        .trim_end_matches('/');
    let method = if method == "GET" {
        reqwest::Method::GET
    } else {
        reqwest::Method::POST
    };
    crate::backend::esteira_api(base, target.token.as_deref(), method, path, body).await
}

fn read_spec(file: &Path) -> Result<PipelineSpec> {
    PipelineSpec::read(file).map_err(|e| anyhow!("{e}"))
}

fn validate(file: &Path) -> Result<u8> {
    match PipelineSpec::read(file) {
        Ok(spec) => {
            println!(
                "{}: valid pipeline {:?}: {} steps, {} triggers",
                file.display(),
                spec.name,
                spec.steps.len(),
                spec.triggers.len()
            );
            Ok(0)
        }
        Err(esteira_pipeline::Error::Spec(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{}: {} problem(s)", file.display(), problems.len());
            Ok(1)
        }
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// The directory that relative paths of `file` resolve against, absolute.
fn pipeline_dir(file: &Path) -> Result<PathBuf> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.canonicalize()
        .with_context(|| format!("cannot resolve the directory of {}", file.display()))
}

async fn deploy(config: &Config, file: &Path, target: &PipelineTarget) -> Result<u8> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let dir = pipeline_dir(file)?;
    let name = file.display().to_string();
    let answer = match &target.server {
        Some(_) => {
            let body =
                json!({"source": source, "file": name, "pipeline_dir": dir.display().to_string()});
            remote(target, "POST", "pipelines/deploy", body).await?
        }
        None => {
            let l = local_target(config, target).await?;
            let record = service::deploy_source(&l.engine, &name, &source, &dir)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            json!({ "pipeline": record })
        }
    };
    if target.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let p = &answer["pipeline"];
        println!(
            "deployed pipeline {} version {} (digest {})",
            p["name"].as_str().unwrap_or("?"),
            p["version"],
            &p["digest"].as_str().unwrap_or("?")
                [..12.min(p["digest"].as_str().unwrap_or("?").len())]
        );
    }
    Ok(0)
}

fn pairs(params: &[String]) -> Result<BTreeMap<String, Value>> {
    params
        .iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| anyhow!("--param {p:?}: expected NAME=VALUE"))?;
            Ok((k.to_string(), Value::String(v.to_string())))
        })
        .collect()
}

fn user() -> String {
    let name = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{name}@{}", hostname())
}

fn outcome_json(outcome: FireOutcome) -> Value {
    match outcome {
        FireOutcome::Duplicate => json!({ "status": "DUPLICATE" }),
        FireOutcome::Started { firing, run_id } => {
            json!({ "status": "STARTED", "firing": firing, "run_id": run_id })
        }
        FireOutcome::NotStarted { firing, reason } => {
            json!({ "status": firing.status, "firing": firing, "reason": reason })
        }
    }
}

fn print_fire(answer: &Value, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(answer).unwrap_or_default()
        );
        return;
    }
    match answer["status"].as_str() {
        Some("STARTED") => println!("started run {}", answer["run_id"].as_str().unwrap_or("?")),
        Some("DUPLICATE") => {
            println!("duplicate firing: a firing with this idempotency key exists; no run started")
        }
        Some(other) => println!("{other}: {}", answer["reason"].as_str().unwrap_or("")),
        None => println!("{answer}"),
    }
}

async fn run(config: &Config, args: RunArgs) -> Result<u8> {
    let spec = read_spec(&args.file)?;
    let params = spec.params_with(&args.params).map_err(|e| anyhow!("{e}"))?;
    let local = open_local(config, args.store.as_deref(), args.artifacts.as_deref()).await?;
    let (tracking_uri, _stop_tracking) = loopback_server(&local).await?;
    let engine = Arc::new(
        Engine::new(Arc::new(local.store.clone()), local.artifacts.clone())
            .with_tracking_uri(Some(tracking_uri)),
    );
    let work_root = std::env::temp_dir().join(format!("esteira-work-{}", std::process::id()));
    let request = RunRequest {
        pipeline_dir: pipeline_dir(&args.file)?,
        params,
        no_cache: args.no_cache,
        from_step: args.from.clone(),
        from_run: args.run.clone(),
        firing_id: None,
        pipeline_version: None,
        user: user(),
        spec,
    };
    let options = LocalOptions {
        workers: args.workers,
        worker: WorkerConfig::new(work_root.clone()),
        progress_every: Duration::from_millis(100),
    };
    let (cancel_tx, cancel_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling the run (Ctrl-C again to abort)");
            let _ = cancel_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let started = std::time::Instant::now();
    let mut printer = ProgressPrinter::default();
    let (run, _) = run_local(
        engine.clone(),
        request,
        options,
        |run, steps| printer.update(run, steps, started.elapsed()),
        cancel_rx,
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let _ = std::fs::remove_dir_all(&work_root);
    let details = service::run_details(&local.store, &run.run_id).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&details)?);
    } else {
        print_details(&details);
    }
    local.store.close().await;
    Ok(match run.status {
        RunStatus::Succeeded => 0,
        RunStatus::Cancelled => 130,
        _ => RUN_FAILED_EXIT,
    })
}

/// Prints one line per step status change.
#[derive(Default)]
struct ProgressPrinter {
    seen: BTreeMap<String, (String, i64)>,
    announced: bool,
}

impl ProgressPrinter {
    fn update(&mut self, run: &PipelineRunRecord, steps: &[StepRunRecord], elapsed: Duration) {
        if !self.announced {
            eprintln!("pipeline {} run {}", run.pipeline, run.run_id);
            self.announced = true;
        }
        for s in steps {
            let status = s.status.as_str().to_string();
            let key = (status.clone(), s.attempts);
            if self.seen.get(&s.step) == Some(&key) || status == "WAITING" {
                continue;
            }
            self.seen.insert(s.step.clone(), key);
            let attempt = if s.attempts > 1 {
                format!(" (attempt {})", s.attempts)
            } else {
                String::new()
            };
            eprintln!(
                "[{:>7.2}s] {:<24} {status}{attempt}",
                elapsed.as_secs_f64(),
                s.step
            );
        }
    }
}

fn print_details(d: &RunDetails) {
    println!(
        "run {}  pipeline {}  status {}{}",
        d.run.run_id,
        d.run.pipeline,
        d.run.status.as_str(),
        d.run
            .message
            .as_deref()
            .map(|m| format!("  ({m})"))
            .unwrap_or_default()
    );
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["step", "status", "attempts", "seconds", "worker", "why"]);
    let order: Vec<String> = serde_json::from_str::<PipelineSpec>(&d.run.spec)
        .map(|spec| spec.order().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let mut steps: Vec<&StepRunRecord> = d.steps.iter().collect();
    steps.sort_by_key(|s| {
        order
            .iter()
            .position(|o| *o == s.step)
            .unwrap_or(usize::MAX)
    });
    for s in steps {
        let last = d.executions.iter().rev().find(|e| e.step == s.step);
        let seconds = last
            .and_then(|e| e.end_time.map(|end| (end - e.start_time) as f64 / 1000.0))
            .map(|x| format!("{x:.2}"))
            .unwrap_or_default();
        let why = last
            .and_then(|e| e.reason.as_deref())
            .and_then(|r| r.lines().next())
            .unwrap_or_default()
            .to_string();
        table.add_row([
            s.step.clone(),
            s.status.as_str().to_string(),
            s.attempts.to_string(),
            seconds,
            last.map(|e| e.worker_id.clone()).unwrap_or_default(),
            why,
        ]);
    }
    println!("{table}");
    for e in d.executions.iter().filter(|e| e.status == "FAILED") {
        println!(
            "\nstep {} attempt {} failed{}: {}",
            e.step,
            e.attempt,
            e.exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default(),
            e.reason.as_deref().unwrap_or("")
        );
        if let Some(tail) = e.log_tail.as_deref().filter(|t| !t.is_empty()) {
            for line in tail.lines() {
                println!("  | {line}");
            }
        }
    }
}

fn print_runs(answer: &Value, json: bool) -> Result<u8> {
    if json {
        println!("{}", serde_json::to_string_pretty(answer)?);
        return Ok(0);
    }
    let runs: Vec<PipelineRunRecord> = serde_json::from_value(answer["runs"].clone())?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["run", "pipeline", "status", "created", "seconds"]);
    for r in runs {
        let seconds = match (r.start_time, r.end_time) {
            (Some(s), Some(e)) => format!("{:.2}", (e - s) as f64 / 1000.0),
            _ => String::new(),
        };
        table.add_row([
            r.run_id,
            r.pipeline,
            r.status.as_str().to_string(),
            millis(r.created_time),
            seconds,
        ]);
    }
    println!("{table}");
    Ok(0)
}

fn print_pipelines(answer: &Value, json: bool) -> Result<u8> {
    if json {
        println!("{}", serde_json::to_string_pretty(answer)?);
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["pipeline", "version", "triggers", "updated"]);
    for p in answer["pipelines"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        let triggers: Vec<String> = answer["triggers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["pipeline"].as_str() == Some(name))
            .map(|t| {
                format!(
                    "{} ({})",
                    t["name"].as_str().unwrap_or(""),
                    t["kind"].as_str().unwrap_or("")
                )
            })
            .collect();
        table.add_row([
            name.to_string(),
            p["version"].to_string(),
            triggers.join(", "),
            millis(p["updated_time"].as_i64().unwrap_or_default()),
        ]);
    }
    println!("{table}");
    Ok(0)
}

fn print_firings(answer: &Value, json: bool) -> Result<u8> {
    if json {
        println!("{}", serde_json::to_string_pretty(answer)?);
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["time", "pipeline", "trigger", "status", "run", "cause"]);
    for f in answer["firings"].as_array().into_iter().flatten() {
        table.add_row([
            millis(f["fired_time"].as_i64().unwrap_or_default()),
            f["pipeline"].as_str().unwrap_or("").to_string(),
            f["trigger_name"].as_str().unwrap_or("").to_string(),
            f["status"].as_str().unwrap_or("").to_string(),
            f["run_id"].as_str().unwrap_or("").to_string(),
            f["cause"].as_str().unwrap_or("").to_string(),
        ]);
    }
    println!("{table}");
    Ok(0)
}

fn millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Runs `esteira worker` until SIGINT or SIGTERM; a step in progress finishes first.
///
/// # Errors
/// Unreachable stores, a bad --lease.
pub async fn worker(config: &Config, args: WorkerArgs) -> Result<()> {
    let lease =
        esteira_pipeline::spec::parse_duration(&args.lease).map_err(|e| anyhow!("--lease: {e}"))?;
    if lease < Duration::from_millis(300) {
        bail!("--lease: {lease:?} is too short; use at least 300ms");
    }
    let local = open_local(config, args.store.as_deref(), args.artifacts.as_deref()).await?;
    let (tracking_uri, _stop_tracking) = match args.tracking_uri.clone() {
        Some(uri) => (uri, None),
        None => {
            let (uri, stop) = loopback_server(&local).await?;
            (uri, Some(stop))
        }
    };
    let engine = Arc::new(
        Engine::new(Arc::new(local.store.clone()), local.artifacts.clone())
            .with_tracking_uri(Some(tracking_uri)),
    );
    let mut base = WorkerConfig::new(
        std::env::temp_dir().join(format!("esteira-worker-{}", std::process::id())),
    );
    if let Some(id) = args.id {
        base.id = id;
    }
    base.lease = lease;
    let shutdown = crate::shutdown_signal()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..args.concurrency.max(1) {
        let mut config = base.clone();
        if args.concurrency > 1 {
            config.id = format!("{}-{i}", base.id);
        }
        let worker = Worker::new(engine.clone(), config);
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move { worker.run(stop).await }));
    }
    println!(
        "esteira worker {} ready ({} slots)",
        base.id,
        args.concurrency.max(1)
    );
    println!(
        "esteira worker tracking {}",
        engine.tracking_uri().unwrap_or_default()
    );
    shutdown.await;
    let _ = stop_tx.send(true);
    for t in tasks {
        if let Ok(Err(e)) = t.await {
            tracing::error!(error = %e, "worker stopped with an error");
        }
    }
    local.store.close().await;
    Ok(())
}

/// Runs `esteira lineage`.
///
/// # Errors
/// Unknown subject, unreachable stores or server.
pub async fn lineage_command(config: &Config, args: LineageArgs) -> Result<()> {
    let answer = match &args.target.server {
        Some(_) => {
            let q = json!({"subject": args.subject, "depth": args.depth});
            remote(&args.target, "GET", "lineage", q).await?
        }
        None => {
            let l = local_target(config, &args.target).await?;
            let depth = usize::try_from(args.depth).context("--depth must be positive")?;
            let found = lineage::lineage(&l.store, &args.subject, depth)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            serde_json::to_value(found)?
        }
    };
    if args.target.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    println!("lineage of {}", args.subject);
    for (title, key) in [
        ("produced by (upstream)", "upstream"),
        ("used by (downstream)", "downstream"),
    ] {
        println!("\n{title}:");
        let nodes = answer[key].as_array().cloned().unwrap_or_default();
        if nodes.is_empty() {
            println!("  (nothing)");
        }
        for n in nodes {
            let indent = "  ".repeat(n["depth"].as_i64().unwrap_or(0).unsigned_abs() as usize);
            match n["node"].as_str() {
                Some("artifact") => {
                    let a = &n["artifact"];
                    let digest = a["digest"]
                        .as_str()
                        .map(|d| format!(" sha256:{}", &d[..12.min(d.len())]))
                        .unwrap_or_default();
                    println!(
                        "{indent}{} {}{digest}",
                        a["kind"].as_str().unwrap_or(""),
                        a["uri"].as_str().unwrap_or("")
                    );
                }
                _ => {
                    let e = &n["execution"];
                    println!(
                        "{indent}step {} ({}) of run {} [{}] on {}",
                        e["step"].as_str().unwrap_or(""),
                        e["step_type"].as_str().unwrap_or(""),
                        e["run_id"].as_str().unwrap_or(""),
                        e["status"].as_str().unwrap_or(""),
                        e["worker_id"].as_str().unwrap_or(""),
                    );
                    if let Some(params) =
                        n["params"]["params"].as_object().filter(|p| !p.is_empty())
                    {
                        println!("{indent}  params {}", Value::Object(params.clone()));
                    }
                    if let Some(code) = n["params"]["code_digest"]
                        .as_str()
                        .filter(|c| !c.is_empty())
                    {
                        println!("{indent}  code sha256:{}", &code[..12.min(code.len())]);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs `esteira models rollback`.
///
/// # Errors
/// No earlier version, unknown model, unreachable stores or server.
pub async fn rollback(config: &Config, args: RollbackArgs) -> Result<()> {
    let actor = user();
    let answer = match &args.target.server {
        Some(_) => {
            let body = json!({"name": args.name, "alias": args.alias, "reason": args.reason, "actor": actor});
            remote(&args.target, "POST", "models/rollback", body).await?
        }
        None => {
            let l = local_target(config, &args.target).await?;
            let done = service::rollback(&l.store, &args.name, &args.alias, &actor, &args.reason)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            json!({ "rollback": done })
        }
    };
    if args.target.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let r = &answer["rollback"];
        println!(
            "{}@{}: version {} -> version {} (by {}: {})",
            args.name,
            args.alias,
            r["from_version"],
            r["to_version"],
            r["change"]["actor"].as_str().unwrap_or(""),
            r["change"]["reason"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// The server's background tasks: the trigger loop, the endpoints' and the monitors' loops,
/// and in-process workers.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How often the server evaluates triggers and reloads endpoint definitions and aliases.
const TRIGGER_INTERVAL: Duration = Duration::from_secs(1);

/// How often the server looks for monitor windows that have ended (and evaluates the
/// retrain policies after them).
const MONITOR_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the trigger loop, the endpoints' reconciliation loop, the monitors' loop and
/// `workers` in-process workers.
pub fn start_background(
    engine: Arc<Engine>,
    endpoints: Arc<esteira_serving::endpoint::Endpoints>,
    workers: usize,
    work_root: PathBuf,
) -> Background {
    let (stop, stop_rx) = watch::channel(false);
    let store: Arc<dyn esteira_store::EndpointStore> = engine.store().clone();
    let mut tasks = vec![
        tokio::spawn(esteira_pipeline::scheduler::run(
            engine.clone(),
            TRIGGER_INTERVAL,
            stop_rx.clone(),
        )),
        tokio::spawn(endpoints.run(store, TRIGGER_INTERVAL, stop_rx.clone())),
        tokio::spawn(esteira_monitor::service::run(
            engine.store().clone(),
            engine.artifacts().clone(),
            Arc::new(esteira_monitor::service::EngineTrigger {
                engine: engine.clone(),
            }),
            MONITOR_INTERVAL,
            stop_rx.clone(),
        )),
    ];
    let base = WorkerConfig::new(work_root);
    for i in 0..workers {
        let mut config = base.clone();
        config.id = format!("{}-server-{i}", base.id);
        let worker = Worker::new(engine.clone(), config);
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = worker.run(stop).await {
                tracing::error!(error = %e, "an in-process worker stopped");
            }
        }));
    }
    Background { stop, tasks }
}

impl Background {
    /// Stops the loop and the workers (a step in progress finishes first).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
