//! The `esteira` binary: the server, and a CLI over a server URL or the store directly.

mod backend;
mod config;
mod endpoints;
mod ml;
mod monitor;
mod output;
mod pipeline;
mod quickstart;
mod serve;
mod tracker;
mod train;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use esteira_artifacts::ArtifactStore;
use esteira_core::entities::ViewType;
use esteira_server::AppState;
use esteira_store::{MetadataStore, SqlStore};

use backend::Backend;
use config::Config;

/// Esteira: MLOps in one binary. Speaks MLflow's REST API.
#[derive(Parser)]
#[command(name = "esteira", version, about)]
struct Cli {
    /// Configuration file (TOML). Env `ESTEIRA_CONFIG`.
    #[arg(long, global = true, env = "ESTEIRA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server (MLflow tracking, registry and artifact proxy).
    Server(ServerArgs),
    /// Experiments.
    #[command(subcommand)]
    Experiments(ExperimentsCommand),
    /// Runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// The model registry.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Trains a model on a CSV or Parquet file, saves it, and logs a run when a tracking
    /// store is given.
    Train(Box<train::TrainArgs>),
    /// Writes a model's predictions (forecasts) to a CSV or Parquet file.
    Predict(ml::PredictArgs),
    /// Scores a model on actual values, against a baseline, through the promotion gate
    /// (exit code 2 when the gate refuses the candidate).
    Evaluate(ml::EvaluateArgs),
    /// Rolling-origin backtest of forecasting methods on a CSV or Parquet file.
    Backtest(ml::BacktestArgs),
    /// Continuous-training pipelines: validate, graph, run, deploy, trigger, inspect.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Executes queued pipeline steps (any number of workers may share the stores).
    Worker(pipeline::WorkerArgs),
    /// What produced a model version, artifact or run, and what used it since.
    Lineage(pipeline::LineageArgs),
    /// Serves one model over MLflow's scoring protocol (`/invocations`), following its
    /// alias to new versions without dropping a request.
    Serve(serve::ServeArgs),
    /// Serving endpoints on a server: weighted routes, shadow traffic.
    #[command(subcommand)]
    Endpoints(endpoints::EndpointsCommand),
    /// Drift and performance monitors and retrain policies: deploy, run, history.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
    /// Every retrain decision (retrained, avoided, held back) with its reasons and the
    /// compute it cost or saved.
    Decisions(monitor::DecisionsArgs),
    /// The whole loop in a fresh directory: generated demand, the first champion, months
    /// replayed with a change that the monitors catch and a retrain fixes; then serves it.
    Quickstart(Box<quickstart::QuickstartArgs>),
}

#[derive(Args, Default)]
struct ServerArgs {
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks a free port [default: 5000].
    #[arg(long)]
    port: Option<u16>,
    /// Data directory of the embedded defaults [default: ./esteira-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Metadata store URL: sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB.
    #[arg(long)]
    store: Option<String>,
    /// Artifact store: a directory, file:///DIR, s3://BUCKET/PREFIX or memory://.
    #[arg(long)]
    artifacts: Option<String>,
    /// File of accepted bearer tokens, one per line.
    #[arg(long)]
    auth_token_file: Option<PathBuf>,
    /// Largest JSON request body in bytes.
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Seconds a shutdown waits for in-flight requests [default: 30].
    #[arg(long)]
    drain_seconds: Option<u64>,
    /// Pipeline steps this server executes itself; 0 leaves them to `esteira worker`
    /// processes.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// How a CLI command reaches the data: a server, or the store directly.
#[derive(Args)]
struct Target {
    /// Server URL (e.g. http://127.0.0.1:5000). Env `ESTEIRA_SERVER`.
    #[arg(long, env = "ESTEIRA_SERVER", conflicts_with = "store")]
    server: Option<String>,
    /// Bearer token for the server. Env `ESTEIRA_TOKEN`, or MLflow's `MLFLOW_TRACKING_TOKEN`.
    #[arg(long, env = "ESTEIRA_TOKEN")]
    token: Option<String>,
    /// Open this metadata store directly instead of a server [default: the server
    /// configuration's store, i.e. sqlite://./esteira-data/esteira.db].
    #[arg(long)]
    store: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ExperimentsCommand {
    /// Lists experiments.
    List {
        #[command(flatten)]
        target: Target,
        /// Which experiments: active, deleted or all.
        #[arg(long, default_value = "active")]
        view: String,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Lists the runs of an experiment.
    List {
        #[command(flatten)]
        target: Target,
        /// Experiment name or id.
        #[arg(long)]
        experiment: String,
        /// MLflow filter, e.g. "metrics.rmse < 1 and params.model = 'ets'".
        #[arg(long)]
        filter: Option<String>,
        /// Order, e.g. "metrics.rmse" or "attributes.start_time DESC"; repeatable.
        #[arg(long)]
        order_by: Vec<String>,
        /// Most runs to list.
        #[arg(long, default_value_t = 100)]
        max_results: i64,
    },
    /// Shows one run with its metrics, params and tags.
    Show {
        #[command(flatten)]
        target: Target,
        /// Run id.
        run_id: String,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Lists registered models.
    List {
        #[command(flatten)]
        target: Target,
        /// MLflow filter, e.g. "name LIKE 'demand%'".
        #[arg(long)]
        filter: Option<String>,
    },
    /// Shows a registered model with its latest versions and aliases.
    Show {
        #[command(flatten)]
        target: Target,
        /// Model name.
        name: String,
    },
    /// Model aliases (champion, challenger, ...).
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Moves an alias (champion by default) back to the version it pointed to before,
    /// recording who, when and why.
    Rollback(pipeline::RollbackArgs),
}

#[derive(Subcommand)]
enum AliasCommand {
    /// Points an alias at a version.
    Set {
        #[command(flatten)]
        target: Target,
        /// Model name.
        name: String,
        /// Alias, e.g. champion.
        alias: String,
        /// Version number.
        version: String,
    },
    /// Removes an alias.
    Delete {
        #[command(flatten)]
        target: Target,
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
    },
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    let mut config = match path {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    config.apply_env(|k| std::env::var(k).ok())?;
    Ok(config)
}

async fn run_server(mut config: Config, args: ServerArgs) -> Result<()> {
    let s = &mut config.server;
    s.host = args.host.or(s.host.take());
    s.port = args.port.or(s.port);
    s.data_dir = args.data_dir.or(s.data_dir.take());
    s.store = args.store.or(s.store.take());
    s.artifacts = args.artifacts.or(s.artifacts.take());
    s.auth_token_file = args.auth_token_file.or(s.auth_token_file.take());
    s.max_body_bytes = args.max_body_bytes.or(s.max_body_bytes);
    s.drain_seconds = args.drain_seconds.or(s.drain_seconds);
    let resolved = s.resolve()?;
    std::fs::create_dir_all(&resolved.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            resolved.data_dir.display()
        )
    })?;
    let store = SqlStore::open(&resolved.store)
        .await
        .with_context(|| format!("cannot open the metadata store {}", redact(&resolved.store)))?;
    let artifacts = ArtifactStore::from_url(&resolved.artifacts)
        .with_context(|| format!("cannot open the artifact store {}", resolved.artifacts))?;
    let listener = tokio::net::TcpListener::bind((resolved.host.as_str(), resolved.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", resolved.host, resolved.port))?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(Arc::new(store.clone()), artifacts.clone());
    state.auth_tokens = resolved.auth_tokens.clone().map(Arc::new);
    state.max_body_bytes = resolved.max_body_bytes;
    let tracking_uri = format!("http://{}", loopback_of(addr));
    state.engine = Arc::new(
        esteira_pipeline::Engine::new(Arc::new(store.clone()), artifacts.clone())
            .with_tracking_uri(Some(tracking_uri)),
    );
    state.endpoints = Arc::new(esteira_serving::endpoint::Endpoints::new(
        esteira_serving::source::Fetcher {
            store: Arc::new(store.clone()),
            artifacts: artifacts.clone(),
            cache_dir: resolved.data_dir.join("serving-cache"),
        },
    ));
    state.predictions = Some(
        esteira_serving::log::PredictionLog::start(
            esteira_serving::log::LogConfig::server_default(),
            artifacts.clone(),
            Arc::new(store.clone()),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the prediction log: {e}"))?,
    );
    let background = pipeline::start_background(
        state.engine.clone(),
        state.endpoints.clone(),
        args.workers,
        resolved.data_dir.join("work"),
    );
    let shutdown = shutdown_signal()?;
    tracing::info!(store = %redact(&resolved.store), artifacts = %resolved.artifacts, auth = resolved.auth_tokens.is_some(), "Esteira server starting.");
    println!("Esteira server listening on http://{addr}");
    let draining = Arc::new(tokio::sync::Notify::new());
    let started_draining = draining.clone();
    let state_predictions = state.predictions.clone();
    let server =
        axum::serve(listener, esteira_server::router(state)).with_graceful_shutdown(async move {
            shutdown.await;
            started_draining.notify_one();
        });
    let deadline = async {
        draining.notified().await;
        tokio::time::sleep(resolved.drain).await;
    };
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::warn!(
            seconds = resolved.drain.as_secs(),
            "Drain deadline passed: closing the connections still open."
        ),
    }
    background.stop().await;
    if let Some(log) = state_predictions {
        log.shutdown().await;
    }
    store.close().await;
    tracing::info!("Esteira server stopped.");
    Ok(())
}

/// The address local processes use to reach a server bound to `addr` (loopback when it
/// listens on every interface).
fn loopback_of(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// Hides the password of a database URL (a URL without one is shown as is).
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Registers the SIGINT and SIGTERM handlers now (before the server announces itself, so a
/// signal sent right after the listening line still drains instead of killing the process)
/// and returns a future that completes on the first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::info!("Shutting down: draining in-flight requests.");
    })
}

async fn backend(config: &Config, target: &Target) -> Result<Backend> {
    if let Some(base) = &target.server {
        let token = target
            .token
            .clone()
            .or_else(|| std::env::var("MLFLOW_TRACKING_TOKEN").ok());
        return Ok(Backend::Remote {
            client: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            token,
        });
    }
    let url = match &target.store {
        Some(url) => url.clone(),
        None => config.server.resolve()?.store,
    };
    if let Some(path) = url.strip_prefix("sqlite://")
        && !std::path::Path::new(path).exists()
    {
        bail!(
            "no store at {path}: start `esteira server` first, or pass --server URL or --store URL"
        );
    }
    let store: Arc<dyn MetadataStore> = Arc::new(
        SqlStore::open(&url)
            .await
            .with_context(|| format!("cannot open the metadata store {}", redact(&url)))?,
    );
    Ok(Backend::Local(store))
}

async fn run(cli: Cli) -> Result<()> {
    let config = load_config(cli.config.as_ref())?;
    match cli.command {
        Command::Server(args) => run_server(config, args).await,
        Command::Train(args) => train::train(&config, *args).await,
        Command::Predict(args) => ml::predict(&config, args).await,
        Command::Evaluate(args) => {
            if ml::evaluate(&config, args).await? {
                Ok(())
            } else {
                Err(GateRefused.into())
            }
        }
        Command::Backtest(args) => ml::backtest(args),
        Command::Pipeline(command) => match pipeline::pipeline(&config, command).await? {
            0 => Ok(()),
            code => Err(Exit(code).into()),
        },
        Command::Worker(args) => pipeline::worker(&config, args).await,
        Command::Lineage(args) => pipeline::lineage_command(&config, args).await,
        Command::Serve(args) => serve::serve(&config, args).await,
        Command::Endpoints(command) => endpoints::endpoints(command).await,
        Command::Monitor(command) => match monitor::monitor(&config, command).await? {
            0 => Ok(()),
            code => Err(Exit(code).into()),
        },
        Command::Decisions(args) => monitor::decisions(&config, args).await,
        Command::Quickstart(args) => quickstart::quickstart(config, *args).await,
        Command::Models(ModelsCommand::Rollback(args)) => pipeline::rollback(&config, args).await,
        Command::Experiments(ExperimentsCommand::List { target, view }) => {
            let view = match view.as_str() {
                "active" => ViewType::ActiveOnly,
                "deleted" => ViewType::DeletedOnly,
                "all" => ViewType::All,
                other => bail!("--view: expected active, deleted or all, got {other:?}"),
            };
            let experiments = backend(&config, &target).await?.experiments(view).await?;
            output::experiments(&experiments, target.json)
        }
        Command::Runs(RunsCommand::List {
            target,
            experiment,
            filter,
            order_by,
            max_results,
        }) => {
            let b = backend(&config, &target).await?;
            let exp = b.experiment(&experiment).await?;
            let runs = b
                .runs(&exp.experiment_id, filter, order_by, max_results)
                .await?;
            output::runs(&runs, target.json)
        }
        Command::Runs(RunsCommand::Show { target, run_id }) => {
            let run = backend(&config, &target).await?.run(&run_id).await?;
            output::run(&run, target.json)
        }
        Command::Models(ModelsCommand::List { target, filter }) => {
            let models = backend(&config, &target).await?.models(filter).await?;
            output::models(&models, target.json)
        }
        Command::Models(ModelsCommand::Show { target, name }) => {
            let model = backend(&config, &target).await?.model(&name).await?;
            output::model(&model, target.json)
        }
        Command::Models(ModelsCommand::Alias(AliasCommand::Set {
            target,
            name,
            alias,
            version,
        })) => {
            backend(&config, &target)
                .await?
                .set_alias(&name, &alias, &version)
                .await?;
            println!("{name}@{alias} -> version {version}");
            Ok(())
        }
        Command::Models(ModelsCommand::Alias(AliasCommand::Delete {
            target,
            name,
            alias,
        })) => {
            backend(&config, &target)
                .await?
                .delete_alias(&name, &alias)
                .await?;
            println!("{name}@{alias} removed");
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ESTEIRA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .json()
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<GateRefused>() => std::process::ExitCode::from(ml::GATE_FAILED_EXIT),
        Err(e) if e.is::<Exit>() => {
            std::process::ExitCode::from(e.downcast_ref::<Exit>().map_or(1, |x| x.0))
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `esteira evaluate` ran, and the promotion gate refused the candidate.
#[derive(Debug)]
struct GateRefused;

impl std::fmt::Display for GateRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the promotion gate refused the candidate")
    }
}

impl std::error::Error for GateRefused {}

/// A command finished and asks for this exit code (its output already said why).
#[derive(Debug)]
struct Exit(u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// An error and its causes on one line, like `{:#}`, but without a cause whose text its
/// parent already shows (errors that both print and expose their source).
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
