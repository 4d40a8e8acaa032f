//! `esteira endpoints ...`: serving endpoints on a running server (its API under
//! `/api/2.0/esteira/endpoints`), since only a server serves them.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use esteira_serving::endpoint::EndpointSpec;
use serde_json::{Value, json};

/// `esteira endpoints ...`.
#[derive(Subcommand)]
pub enum EndpointsCommand {
    /// Creates an endpoint, or replaces its routes (the old ones serve until the new models
    /// have loaded).
    Create {
        /// The endpoint's name: clients call /serving-endpoints/NAME/invocations.
        name: String,
        /// NAME=MODEL:WEIGHT, e.g. champion=demand@champion:90; repeatable.
        #[arg(long = "route", required = true)]
        routes: Vec<String>,
        /// A model that gets a copy of every request (answers logged, then discarded).
        #[arg(long)]
        shadow: Option<String>,
        #[command(flatten)]
        batch: crate::serve::BatchArgs,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Lists endpoints.
    List {
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Shows an endpoint: its routes and the version each serves now.
    Get {
        /// The endpoint.
        name: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Deletes an endpoint.
    Delete {
        /// The endpoint.
        name: String,
        #[command(flatten)]
        target: ServerTarget,
    },
}

/// The server endpoints live on.
#[derive(Args)]
pub struct ServerTarget {
    /// Server URL. Env `ESTEIRA_SERVER`.
    #[arg(long, env = "ESTEIRA_SERVER")]
    server: String,
    /// Bearer token. Env `ESTEIRA_TOKEN`, or `MLFLOW_TRACKING_TOKEN`.
    #[arg(long, env = "ESTEIRA_TOKEN")]
    token: Option<String>,
}

async fn call(
    target: &ServerTarget,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Result<Value> {
    let path = format!("endpoints/{path}");
    crate::backend::esteira_api(&target.server, target.token.as_deref(), method, &path, body).await
}

/// Runs `esteira endpoints ...`, printing JSON.
///
/// # Errors
/// Bad `--route` values, an unreachable server, or the server's refusal.
pub async fn endpoints(command: EndpointsCommand) -> Result<()> {
    let answer = match command {
        EndpointsCommand::Create {
            name,
            routes,
            shadow,
            batch,
            target,
        } => {
            let spec = EndpointSpec::from_flags(&routes, shadow.as_deref(), batch.config()?)
                .map_err(|e| anyhow!("{e}"))?;
            let body = json!({
                "name": name, "routes": spec.routes, "shadow": spec.shadow, "batch": spec.batch,
            });
            call(&target, reqwest::Method::POST, "create", body).await?
        }
        EndpointsCommand::List { target } => {
            call(&target, reqwest::Method::GET, "list", json!({})).await?
        }
        EndpointsCommand::Get { name, target } => {
            call(
                &target,
                reqwest::Method::GET,
                "get",
                json!({ "name": name }),
            )
            .await?
        }
        EndpointsCommand::Delete { name, target } => {
            call(
                &target,
                reqwest::Method::POST,
                "delete",
                json!({ "name": name }),
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
