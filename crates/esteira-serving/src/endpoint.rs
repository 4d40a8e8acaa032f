//! Serving endpoints: named sets of routes (a model URI and a traffic weight each) and an
//! optional shadow model that receives a copy of the traffic. [`Endpoints`] keeps the live
//! endpoints in step with their stored definitions and their aliases.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use esteira_store::endpoints::{EndpointRecord, EndpointStore};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::batch::{BatchConfig, BatchCounts, Batcher};
use crate::error::{Error, Result};
use crate::slot::ModelSlot;
use crate::source::{Fetcher, ModelSource, refresh};

/// An endpoint's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Where requests go, by weight.
    pub routes: Vec<RouteSpec>,
    /// A model that receives a copy of every request; its answers are discarded.
    #[serde(default)]
    pub shadow: Option<String>,
    /// Micro-batching of the routes' concurrent requests (the shadow is not batched); off
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchConfig>,
}

/// One route of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// The route's name (e.g. `champion`).
    pub name: String,
    /// The model URI (`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `runs:/...`).
    pub model: String,
    /// Its share of the traffic, relative to the other routes' weights.
    pub weight: u32,
}

impl EndpointSpec {
    /// Parses `--route NAME=MODEL:WEIGHT` values (MODEL may be `NAME@ALIAS`, read as
    /// `models:/NAME@ALIAS`), with the shadow and the batching given.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the value and what is wrong.
    pub fn from_flags(
        routes: &[String],
        shadow: Option<&str>,
        batch: Option<BatchConfig>,
    ) -> Result<EndpointSpec> {
        let routes = routes
            .iter()
            .map(|r| {
                let bad = |why: &str| Error::bad_input("--route", format!("{r:?}: {why}"));
                let (name, rest) = r
                    .split_once('=')
                    .ok_or_else(|| bad("expected NAME=MODEL:WEIGHT"))?;
                let (model, weight) = rest
                    .rsplit_once(':')
                    .filter(|(_, w)| w.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or((rest, "100"));
                Ok(RouteSpec {
                    name: name.to_string(),
                    model: model_uri(model),
                    weight: weight
                        .parse()
                        .map_err(|_| bad("the weight is not a whole number"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let spec = EndpointSpec {
            routes,
            shadow: shadow.map(model_uri),
            batch,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the definition: at least one route, distinct route names, a positive total
    /// weight, model URIs that parse, and batching within [`BatchConfig::validate`]'s
    /// bounds.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        if self.routes.is_empty() {
            return Err(Error::bad_input(
                "routes",
                "an endpoint needs at least one route",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            if r.name.trim().is_empty() || !names.insert(r.name.as_str()) {
                return Err(Error::bad_input(
                    format!("routes[{i}].name"),
                    format!("{:?} is empty or used twice", r.name),
                ));
            }
            ModelSource::parse(&r.model)
                .map_err(|e| Error::bad_input(format!("routes[{i}].model"), e.to_string()))?;
        }
        if self.routes.iter().map(|r| u64::from(r.weight)).sum::<u64>() == 0 {
            return Err(Error::bad_input("routes", "the weights add up to 0"));
        }
        if let Some(s) = &self.shadow {
            ModelSource::parse(s).map_err(|e| Error::bad_input("shadow", e.to_string()))?;
        }
        if let Some(batch) = &self.batch {
            batch
                .validate()
                .map_err(|e| Error::bad_input("batch", e.to_string()))?;
        }
        Ok(())
    }
}

/// `NAME@ALIAS` or `NAME/VERSION` as a `models:/` URI; URIs with a scheme stay as they are.
fn model_uri(text: &str) -> String {
    if text.contains(":/") {
        text.to_string()
    } else {
        format!("models:/{text}")
    }
}

/// A route being served.
#[derive(Debug)]
pub struct LiveRoute {
    /// Its name.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// Where its model comes from.
    pub source: ModelSource,
    /// The model serving now.
    pub slot: Arc<ModelSlot>,
    /// The micro-batcher of the slot, when the endpoint batches.
    pub batcher: Option<Arc<Batcher>>,
}

/// An endpoint being served.
#[derive(Debug)]
pub struct LiveEndpoint {
    /// Its name.
    pub name: String,
    /// The stored definition it was built from.
    pub spec: EndpointSpec,
    /// Its routes.
    pub routes: Vec<LiveRoute>,
    /// Its shadow.
    pub shadow: Option<LiveRoute>,
    requests: AtomicU64,
}

impl LiveEndpoint {
    /// The route for a request: with a routing key, always the same route for the same key
    /// (by a stable hash into the weights); without, the weights in turn.
    pub fn choose(&self, key: Option<&str>) -> &LiveRoute {
        let total: u64 = self.routes.iter().map(|r| u64::from(r.weight)).sum();
        let ticket = match key {
            Some(k) => fnv1a(k.as_bytes()),
            None => self
                .requests
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(2_654_435_761),
        } % total.max(1);
        let mut acc = 0;
        for r in &self.routes {
            acc += u64::from(r.weight);
            if ticket < acc {
                return r;
            }
        }
        &self.routes[0]
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The live endpoints of a server.
pub struct Endpoints {
    fetcher: Fetcher,
    live: RwLock<HashMap<String, Arc<LiveEndpoint>>>,
}

impl Endpoints {
    /// No endpoints yet; models are fetched with `fetcher`.
    pub fn new(fetcher: Fetcher) -> Self {
        Endpoints {
            fetcher,
            live: RwLock::new(HashMap::new()),
        }
    }

    /// The live endpoint `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LiveEndpoint>> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Brings the live endpoints in step with `records`: new or changed definitions are
    /// loaded (the old definition keeps serving until the new one has loaded every model),
    /// deleted ones dropped, and every route following an alias moves to its new version.
    pub async fn reconcile(&self, records: &[EndpointRecord]) {
        let wanted: HashMap<&str, &EndpointRecord> =
            records.iter().map(|r| (r.name.as_str(), r)).collect();
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| wanted.contains_key(name.as_str()));
        for record in records {
            let Ok(spec) = serde_json::from_str::<EndpointSpec>(&record.spec) else {
                tracing::error!(endpoint = %record.name, "stored endpoint definition does not parse");
                continue;
            };
            match self.get(&record.name) {
                Some(live) if live.spec == spec => self.follow(&live).await,
                _ => match self.build(&record.name, spec).await {
                    Ok(live) => {
                        self.live
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(record.name.clone(), Arc::new(live));
                    }
                    Err(e) => {
                        tracing::error!(endpoint = %record.name, error = %e, "endpoint not (re)loaded")
                    }
                },
            }
        }
    }

    /// Loads every model of `spec` and serves it as endpoint `name` (replacing the old
    /// definition only once all loaded).
    ///
    /// # Errors
    /// [`Error::BadInput`] for an invalid definition; [`Error::Load`] naming the model that
    /// could not be loaded.
    pub async fn install(&self, name: &str, spec: EndpointSpec) -> Result<()> {
        spec.validate()?;
        let live = self.build(name, spec).await?;
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), Arc::new(live));
        Ok(())
    }

    /// The batch counts of every batching route, as `(endpoint, route, counts)` sorted by
    /// endpoint.
    pub fn batch_counts(&self) -> Vec<(String, String, BatchCounts)> {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        let mut series: Vec<(String, String, BatchCounts)> = live
            .values()
            .flat_map(|endpoint| {
                endpoint.routes.iter().filter_map(|route| {
                    let batcher = route.batcher.as_ref()?;
                    Some((endpoint.name.clone(), route.name.clone(), batcher.counts()))
                })
            })
            .collect();
        series.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        series
    }

    /// Stops serving endpoint `name`.
    pub fn remove(&self, name: &str) {
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    async fn follow(&self, live: &LiveEndpoint) {
        for route in live.routes.iter().chain(live.shadow.iter()) {
            refresh(&self.fetcher, &route.source, &route.slot).await;
        }
    }

    async fn build(&self, name: &str, spec: EndpointSpec) -> Result<LiveEndpoint> {
        let mut routes = Vec::new();
        for r in &spec.routes {
            routes.push(self.route(&r.name, &r.model, r.weight, spec.batch).await?);
        }
        let shadow = match &spec.shadow {
            Some(model) => Some(self.route("shadow", model, 0, None).await?),
            None => None,
        };
        Ok(LiveEndpoint {
            name: name.to_string(),
            spec,
            routes,
            shadow,
            requests: AtomicU64::new(0),
        })
    }

    async fn route(
        &self,
        name: &str,
        model: &str,
        weight: u32,
        batch: Option<BatchConfig>,
    ) -> Result<LiveRoute> {
        let source = ModelSource::parse(model)?;
        let version = self.fetcher.current_version(&source).await?;
        let loaded = self.fetcher.load(&source, version.as_deref()).await?;
        Ok(LiveRoute {
            name: name.to_string(),
            weight,
            source,
            slot: Arc::new(ModelSlot::new(loaded)),
            batcher: batch.map(|config| Arc::new(Batcher::start(config))),
        })
    }

    /// Reconciles with `store` every `interval` until `stop` turns true.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn EndpointStore>,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        while !*stop.borrow() {
            match store.list_endpoints().await {
                Ok(records) => self.reconcile(&records).await,
                Err(e) => tracing::warn!(error = %e, "cannot list the endpoints"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
