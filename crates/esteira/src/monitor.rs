//! `esteira monitor ...` and `esteira decisions`: monitors and retrain policies over the
//! metadata store (the same one the server uses, so a server running on PostgreSQL and the
//! CLI see the same monitors).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use esteira_artifacts::ArtifactStore;
use esteira_monitor::service::{self, EngineTrigger, Services};
use esteira_monitor::spec::MonitorsFile;
use esteira_monitor::window::WindowReport;
use esteira_pipeline::engine::Engine;
use esteira_store::monitors::{DefinitionKind, MonitorStore};
use esteira_store::{SqlStore, Store};

use crate::config::Config;

/// `esteira monitor ...`.
#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Checks a monitors.toml and stores its monitors and policies.
    Deploy {
        /// The monitors.toml.
        file: PathBuf,
        #[command(flatten)]
        target: StoreTarget,
    },
    /// Checks a monitors.toml without storing it (exit 1 naming the mistake).
    Validate {
        /// The monitors.toml.
        file: PathBuf,
    },
    /// Lists monitors and policies.
    List {
        #[command(flatten)]
        target: StoreTarget,
    },
    /// Evaluates the windows due (of one monitor, or all), then the policies; prints each
    /// window's report.
    Run {
        /// The monitor [default: every monitor].
        name: Option<String>,
        /// Evaluate as if it were this time (RFC 3339 or YYYY-MM-DD, UTC) [default: now].
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        target: StoreTarget,
    },
    /// A monitor's recorded windows.
    History {
        /// The monitor.
        name: String,
        /// Writes the history as an HTML report with charts to this file.
        #[arg(long)]
        html: Option<PathBuf>,
        #[command(flatten)]
        target: StoreTarget,
    },
}

/// `esteira decisions`.
#[derive(Args)]
pub struct DecisionsArgs {
    /// Only this policy's decisions.
    #[arg(long)]
    policy: Option<String>,
    /// At most this many (the latest).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    #[command(flatten)]
    target: StoreTarget,
}

/// The stores the commands open.
#[derive(Args)]
pub struct StoreTarget {
    /// Metadata store URL [default: the configuration's].
    #[arg(long)]
    store: Option<String>,
    /// Artifact store URL [default: the configuration's].
    #[arg(long)]
    artifacts: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

struct Opened {
    store: Arc<SqlStore>,
    artifacts: ArtifactStore,
    trigger: EngineTrigger,
}

impl Opened {
    fn services(&self) -> Services<'_> {
        Services {
            store: self.store.as_ref(),
            artifacts: &self.artifacts,
            trigger: &self.trigger,
        }
    }
}

async fn open(config: &Config, target: &StoreTarget) -> Result<Opened> {
    let resolved = config.server.resolve()?;
    let store_url = target.store.clone().unwrap_or(resolved.store);
    let artifacts_url = target.artifacts.clone().unwrap_or(resolved.artifacts);
    let (store, artifacts) = crate::pipeline::open_stores(&store_url, &artifacts_url).await?;
    let store = Arc::new(store);
    let engine = Arc::new(Engine::new(store.clone(), artifacts.clone()));
    Ok(Opened {
        store,
        artifacts,
        trigger: EngineTrigger { engine },
    })
}

fn read_file(file: &Path) -> Result<MonitorsFile> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    MonitorsFile::parse(&text, &file.display().to_string()).map_err(|e| anyhow!("{e}"))
}

/// Runs `esteira monitor ...`; returns the exit code.
///
/// # Errors
/// Bad files or arguments, unreachable stores, monitors that fail.
pub async fn monitor(config: &Config, command: MonitorCommand) -> Result<u8> {
    match command {
        MonitorCommand::Validate { file } => {
            let parsed = read_file(&file)?;
            println!(
                "{}: {} monitor(s), {} polic(y/ies), valid",
                file.display(),
                parsed.monitor.len(),
                parsed.policy.len()
            );
            Ok(0)
        }
        MonitorCommand::Deploy { file, target } => {
            let parsed = read_file(&file)?;
            let base = std::fs::canonicalize(&file)?
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let o = open(config, &target).await?;
            let deployed = service::deploy(o.store.as_ref(), &parsed, &base).await?;
            if target.json {
                println!("{}", serde_json::to_string_pretty(&deployed)?);
            } else {
                for m in &deployed.monitors_changed {
                    println!("monitor {m}: deployed (starts from its next window)");
                }
                for m in &deployed.monitors_unchanged {
                    println!("monitor {m}: unchanged");
                }
                for p in &deployed.policies {
                    println!("policy {p}: deployed");
                }
            }
            Ok(0)
        }
        MonitorCommand::List { target } => list(config, &target).await,
        MonitorCommand::Run { name, at, target } => run(config, name, at, &target).await,
        MonitorCommand::History { name, html, target } => {
            history(config, &name, html.as_deref(), &target).await
        }
    }
}

async fn list(config: &Config, target: &StoreTarget) -> Result<u8> {
    let o = open(config, target).await?;
    let monitors = o.store.list_definitions(DefinitionKind::Monitor).await?;
    let policies = o.store.list_definitions(DefinitionKind::Policy).await?;
    if target.json {
        let body = serde_json::json!({ "monitors": monitors, "policies": policies });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["kind", "name", "progress"]);
    for m in &monitors {
        let cursor = serde_json::from_str::<serde_json::Value>(&m.state)
            .ok()
            .and_then(|s| s["cursor"].as_i64())
            .map_or("no window yet".to_string(), |c| {
                format!("until {}", time(c))
            });
        table.add_row(["monitor", m.name.as_str(), cursor.as_str()]);
    }
    for p in &policies {
        table.add_row(["policy", p.name.as_str(), ""]);
    }
    println!("{table}");
    Ok(0)
}

/// Parses `--at`: RFC 3339, or a date (midnight UTC).
fn parse_at(at: Option<&str>) -> Result<i64> {
    let Some(text) = at else {
        return Ok(Utc::now().timestamp_millis());
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| anyhow!("--at: {text:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    Ok(date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or_default())
}

async fn run(
    config: &Config,
    name: Option<String>,
    at: Option<String>,
    target: &StoreTarget,
) -> Result<u8> {
    let now = parse_at(at.as_deref())?;
    let o = open(config, target).await?;
    let s = o.services();
    let (windows, failed) = match &name {
        Some(name) => {
            let results = service::run_monitor(&s, name, now).await?;
            (vec![(name.clone(), results)], Vec::new())
        }
        None => {
            let mut windows = Vec::new();
            let mut failed = Vec::new();
            for record in o.store.list_definitions(DefinitionKind::Monitor).await? {
                match service::run_monitor(&s, &record.name, now).await {
                    Ok(results) => windows.push((record.name, results)),
                    Err(e) => failed.push((record.name, e.to_string())),
                }
            }
            (windows, failed)
        }
    };
    let decisions = service::evaluate_policies(&s, now).await?;
    let reports: Vec<(String, Vec<WindowReport>)> = windows
        .iter()
        .map(|(name, results)| {
            let reports = results
                .iter()
                .map(service::report_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name.clone(), reports))
        })
        .collect::<Result<_, esteira_monitor::MonitorError>>()?;
    if target.json {
        let body = serde_json::json!({
            "windows": reports.iter().map(|(n, r)| (n.clone(), r)).collect::<std::collections::BTreeMap<_, _>>(),
            "failed": failed.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "decisions": decisions,
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        for (name, reports) in &reports {
            if reports.is_empty() {
                println!("monitor {name}: no window due");
            }
            for r in reports {
                print_window(name, r);
            }
        }
        for (name, error) in &failed {
            eprintln!("error: monitor {name}: failed: {error}");
        }
        for d in &decisions {
            println!(
                "policy {} at {}: {}{}",
                d.policy,
                time(d.evaluated_time),
                d.outcome,
                d.firing_id
                    .as_deref()
                    .map(|f| format!(" (pipeline {} fired, firing {f})", d.pipeline))
                    .unwrap_or_default()
            );
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

fn print_window(name: &str, r: &WindowReport) {
    println!(
        "monitor {name}: window {} to {}, {} row(s): {}",
        time(r.window_start),
        time(r.window_end),
        r.rows,
        if r.alerts.is_empty() {
            "no alert".to_string()
        } else {
            r.alerts.join("; ")
        }
    );
    if let Some(d) = &r.drift {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
        table.set_header([
            "column",
            "method",
            "score",
            "threshold",
            "drifted",
            "not computed",
        ]);
        for c in &d.columns {
            table.add_row([
                c.column.clone(),
                c.method.map(|m| m.name().to_string()).unwrap_or_default(),
                c.score.map(|s| format!("{s:.4}")).unwrap_or_default(),
                c.threshold.map(|s| format!("{s}")).unwrap_or_default(),
                c.drifted.map(|d| d.to_string()).unwrap_or_default(),
                c.not_computed.clone().unwrap_or_default(),
            ]);
        }
        println!("{table}");
    }
    if let Some(why) = &r.drift_not_computed {
        println!("  drift not computed: {why}");
    }
    if let Some(p) = &r.performance {
        let band = p
            .band
            .as_ref()
            .map(|b| format!("band [{:.4}, {:.4}]", b.lower, b.upper))
            .unwrap_or_else(|| "band not yet known".into());
        match p.value {
            Some(v) => println!("  {} {v:.4} over {} pair(s), {band}", p.metric, p.pairs),
            None => println!(
                "  {} not computed: {}",
                p.metric,
                p.not_computed.as_deref().unwrap_or("no value")
            ),
        }
    }
}

async fn history(
    config: &Config,
    name: &str,
    html: Option<&Path>,
    target: &StoreTarget,
) -> Result<u8> {
    let o = open(config, target).await?;
    o.store
        .get_definition(DefinitionKind::Monitor, name)
        .await?;
    let results = o
        .store
        .list_monitor_results(name, i64::MIN, i64::MAX)
        .await?;
    let reports = results
        .iter()
        .map(service::report_of)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = html {
        std::fs::write(path, esteira_monitor::report::html(name, &reports))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(0);
    }
    if target.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["window end", "rows", "drifted share", "metric", "alerts"]);
    for r in &reports {
        table.add_row([
            time(r.window_end),
            r.rows.to_string(),
            r.summary
                .drift_share
                .map(|s| format!("{s:.2}"))
                .unwrap_or_default(),
            r.summary
                .metric
                .as_ref()
                .map(|m| format!("{} {:.4}", m.name, m.value))
                .unwrap_or_default(),
            r.alerts.join("; "),
        ]);
    }
    println!("{table}");
    Ok(0)
}

/// Runs `esteira decisions`.
///
/// # Errors
/// A `--limit` below 1; unreachable stores.
pub async fn decisions(config: &Config, args: DecisionsArgs) -> Result<()> {
    if args.limit < 1 {
        bail!("--limit: must be at least 1, got {}", args.limit);
    }
    let o = open(config, &args.target).await?;
    let store: &dyn Store = o.store.as_ref();
    let ledger = service::decisions(
        store,
        args.policy.as_deref(),
        i64::MIN,
        i64::MAX,
        args.limit,
    )
    .await?;
    if args.target.json {
        println!("{}", serde_json::to_string_pretty(&ledger)?);
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["evaluated", "policy", "outcome", "compute (s)", "reasons"]);
    for d in &ledger.decisions {
        table.add_row([
            time(d.evaluated_time),
            d.policy.clone(),
            d.outcome.clone(),
            d.compute_seconds
                .map(|s| format!("{s:.1}"))
                .unwrap_or_default(),
            reasons_text(&d.reasons),
        ]);
    }
    println!("{table}");
    let counts: Vec<String> = ledger
        .counts
        .iter()
        .map(|(outcome, n)| format!("{n} {outcome}"))
        .collect();
    println!(
        "{}; retraining cost {:.1} s of compute, the other decisions saved {:.1} s (against retraining at every evaluation)",
        if counts.is_empty() {
            "no decision".to_string()
        } else {
            counts.join(", ")
        },
        ledger.retrain_seconds,
        ledger.saved_seconds
    );
    Ok(())
}

/// The rules met (or, when none, why not) and what held a retrain back, in one line.
fn reasons_text(reasons: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(reasons) else {
        return reasons.to_string();
    };
    let rules = value["rules"].as_array().cloned().unwrap_or_default();
    let mut parts: Vec<String> = rules
        .iter()
        .map(|r| {
            format!(
                "{} `{}`: {}",
                r["monitor"].as_str().unwrap_or("?"),
                r["when"].as_str().unwrap_or("?"),
                r["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    if let Some(held) = value["held_back"].as_str() {
        parts.push(format!("held back: {held}"));
    }
    parts.join(" | ")
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ms.to_string())
}
