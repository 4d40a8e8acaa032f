//! `esteira serve URI`: a scoring server for one model (MLflow's `/invocations`), following
//! the alias when the URI names one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use esteira_server::serving::{ServeState, serving_router};
use esteira_server::{DEFAULT_MAX_BODY_BYTES, Telemetry};
use esteira_serving::batch::{BatchConfig, Batcher};
use esteira_serving::slot::ModelSlot;
use esteira_serving::source::{Fetcher, ModelSource, follow_alias};
use tokio::sync::watch;

use crate::config::Config;

/// `esteira serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// The model: models:/NAME@ALIAS (follows the alias), models:/NAME/VERSION,
    /// runs:/RUN_ID/PATH, a model directory or an .onnx file.
    model: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free port.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Metadata store for models:/ and runs:/ URIs and the prediction log's index
    /// [default: the configuration's, sqlite://./esteira-data/esteira.db].
    #[arg(long)]
    store: Option<String>,
    /// Artifact store [default: the configuration's].
    #[arg(long)]
    artifacts: Option<String>,
    /// How often an alias is checked for a new version (e.g. 1s).
    #[arg(long, default_value = "1s")]
    poll: String,
    /// How long one prediction may take before the request is answered 504 (e.g. 30s).
    #[arg(long, default_value = "30s")]
    timeout: String,
    /// Serves without writing the prediction log (and, for a local model, without opening
    /// any store).
    #[arg(long)]
    no_log: bool,
    /// The endpoint name the prediction log records [default: the registered model's name,
    /// else `default`].
    #[arg(long)]
    endpoint: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    #[command(flatten)]
    batch: BatchArgs,
}

/// Micro-batching flags, shared by `serve` and `endpoints create`.
#[derive(Args)]
pub struct BatchArgs {
    /// Turns micro-batching on: concurrent requests of at most this many rows are scored
    /// together, up to this many rows per call [default when only --batch-wait is given: 64].
    #[arg(long)]
    batch_max_rows: Option<usize>,
    /// Turns micro-batching on: how long a batch waits for more requests after its first
    /// (e.g. 2ms) [default when only --batch-max-rows is given: 0ms, a batch takes what
    /// queued while the workers were busy].
    #[arg(long)]
    batch_wait: Option<String>,
}

impl BatchArgs {
    /// The batching asked for: none unless a flag is given.
    ///
    /// # Errors
    /// A wait that does not parse, or values out of [`BatchConfig::new`]'s bounds, naming
    /// the flag.
    pub fn config(&self) -> Result<Option<BatchConfig>> {
        if self.batch_max_rows.is_none() && self.batch_wait.is_none() {
            return Ok(None);
        }
        let wait = match &self.batch_wait {
            Some(text) => esteira_pipeline::spec::parse_duration(text)
                .map_err(|e| anyhow!("--batch-wait: {e}"))?,
            None => BatchConfig::DEFAULT_MAX_WAIT,
        };
        let rows = self.batch_max_rows.unwrap_or(BatchConfig::DEFAULT_MAX_ROWS);
        BatchConfig::new(rows, wait)
            .map(Some)
            .map_err(|e| anyhow!("--batch-max-rows/--batch-wait: {e}"))
    }
}

/// Serves the model until SIGINT or SIGTERM.
///
/// # Errors
/// A malformed URI, unreachable stores, a model that cannot be loaded, a port in use.
pub async fn serve(config: &Config, args: ServeArgs) -> Result<()> {
    let source = ModelSource::parse(&args.model).map_err(|e| anyhow!("{e}"))?;
    let poll =
        esteira_pipeline::spec::parse_duration(&args.poll).map_err(|e| anyhow!("--poll: {e}"))?;
    let timeout = esteira_pipeline::spec::parse_duration(&args.timeout)
        .map_err(|e| anyhow!("--timeout: {e}"))?;
    let batch = args.batch.config()?;
    let resolved = config.server.resolve()?;
    let fetcher = match &source {
        ModelSource::Local(_) if args.no_log => None,
        _ => {
            let store_url = args.store.clone().unwrap_or(resolved.store.clone());
            let artifacts_url = args.artifacts.clone().unwrap_or(resolved.artifacts.clone());
            let (store, artifacts) =
                crate::pipeline::open_stores(&store_url, &artifacts_url).await?;
            Some(Fetcher {
                store: Arc::new(store),
                artifacts,
                cache_dir: resolved.data_dir.join("serving-cache"),
            })
        }
    };
    let model = match (&source, &fetcher) {
        (ModelSource::Local(path), _) => {
            let path: PathBuf = path.clone();
            let name = args.model.clone();
            tokio::task::spawn_blocking(move || {
                esteira_serving::runtime::ServedModel::load(&path, &name, "local")
            })
            .await?
        }
        (_, None) => return Err(anyhow!("no store to fetch {} from", args.model)),
        (_, Some(f)) => {
            std::fs::create_dir_all(&f.cache_dir)
                .with_context(|| format!("cannot create {}", f.cache_dir.display()))?;
            let version = f.current_version(&source).await;
            match version {
                Ok(v) => f.load(&source, v.as_deref()).await,
                Err(e) => Err(e),
            }
        }
    }
    .map_err(|e| anyhow!("{e}"))?;
    let slot = Arc::new(ModelSlot::new(model));
    let (stop_tx, stop_rx) = watch::channel(false);
    let watcher = match (&fetcher, source.follows_alias()) {
        (Some(f), true) => Some(tokio::spawn(follow_alias(
            f.clone(),
            source.clone(),
            slot.clone(),
            poll,
            stop_rx,
        ))),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    let log = match &fetcher {
        Some(f) if !args.no_log => Some(
            esteira_serving::log::PredictionLog::start(
                esteira_serving::log::LogConfig::server_default(),
                f.artifacts.clone(),
                f.store.clone(),
            )
            .map_err(|e| anyhow!("cannot start the prediction log: {e}"))?,
        ),
        _ => None,
    };
    let endpoint = args.endpoint.clone().unwrap_or_else(|| match &source {
        ModelSource::Alias { name, .. } | ModelSource::Version { name, .. } => name.clone(),
        _ => "default".to_string(),
    });
    let state = ServeState {
        log: log.clone(),
        endpoint,
        timeout,
        slot: slot.clone(),
        telemetry: Arc::new(Telemetry::default()),
        max_body_bytes: args.max_body_bytes,
        batcher: batch.map(|config| Arc::new(Batcher::start(config))),
    };
    let shutdown = crate::shutdown_signal()?;
    let current = slot.get();
    println!(
        "Esteira serving {} version {}",
        current.name, current.version
    );
    println!("Esteira scoring server listening on http://{addr}");
    axum::serve(listener, serving_router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = stop_tx.send(true);
    if let Some(log) = log {
        let _ = tokio::time::timeout(Duration::from_secs(10), log.shutdown()).await;
    }
    if let Some(w) = watcher {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    Ok(())
}
