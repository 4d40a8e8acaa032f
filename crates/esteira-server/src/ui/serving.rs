//! Serving endpoints: their routes, and per route and model version the requests, errors
//! and latency this server process has served (from its telemetry, since it started).

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use esteira_serving::endpoint::EndpointSpec;

use super::html::{escape, headers, number, page, table, time};
use super::{Params, UiResult};
use crate::AppState;

/// Requests of one endpoint route and model version.
#[derive(Debug, Default, PartialEq)]
struct Traffic {
    requests: u64,
    errors: u64,
    seconds: f64,
    /// (upper bound in seconds, requests at most that slow), cumulative, in bound order.
    buckets: Vec<(f64, u64)>,
}

impl Traffic {
    /// The smallest bucket bound below which at least `q` of the requests fall (an upper
    /// bound of the `q` quantile), `None` when beyond the last finite bound.
    fn quantile_bound(&self, q: f64) -> Option<f64> {
        let wanted = (q * self.requests as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= wanted)
            .map(|(bound, _)| *bound)
    }
}

/// The value of `name="..."` in a Prometheus label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

/// `(endpoint, route, version)` of a telemetry route label `endpoint E route R version V`.
fn endpoint_route(route: &str) -> Option<(String, String, String)> {
    let rest = route.strip_prefix("endpoint ")?;
    let (rest, version) = rest.rsplit_once(" version ")?;
    let (endpoint, name) = rest.rsplit_once(" route ")?;
    Some((endpoint.to_string(), name.to_string(), version.to_string()))
}

/// The endpoint series of the server's telemetry text, by (endpoint, route, version).
fn traffic(text: &str) -> BTreeMap<(String, String, String), Traffic> {
    let mut out: BTreeMap<(String, String, String), Traffic> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((metric, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Some(key) = label(labels, "route").and_then(endpoint_route) else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let status: u16 = label(labels, "status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let entry = out.entry(key).or_default();
        match metric {
            "esteira_http_requests_total" => {
                entry.requests += value as u64;
                if status >= 400 {
                    entry.errors += value as u64;
                }
            }
            "esteira_http_request_duration_seconds_sum" => entry.seconds += value,
            "esteira_http_request_duration_seconds_bucket" => {
                if let Some(bound) = label(labels, "le")
                    .and_then(|b| b.parse::<f64>().ok())
                    .filter(|b| b.is_finite())
                {
                    match entry.buckets.iter_mut().find(|(b, _)| *b == bound) {
                        Some((_, n)) => *n += value as u64,
                        None => entry.buckets.push((bound, value as u64)),
                    }
                }
            }
            _ => {}
        }
    }
    for t in out.values_mut() {
        t.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn millis(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) => format!("{} ms", number(s * 1000.0)),
        None => String::new(),
    }
}

pub(super) async fn endpoints(State(s): State<AppState>, _: Params) -> UiResult {
    let records = s.store.list_endpoints().await?;
    let traffic = traffic(&s.telemetry.render());
    let mut body = String::from(
        "<p class=\"muted\">Traffic counts the requests this server process has served since it started.</p>",
    );
    if records.is_empty() {
        body.push_str("<p class=\"muted\">No endpoint is defined.</p>");
    }
    for record in &records {
        let route_rows: Vec<Vec<String>> = match serde_json::from_str::<EndpointSpec>(&record.spec)
        {
            Ok(spec) => spec
                .routes
                .iter()
                .map(|r| vec![escape(&r.name), escape(&r.model), r.weight.to_string()])
                .chain(
                    spec.shadow
                        .iter()
                        .map(|m| vec!["shadow".into(), escape(m), "copy".into()]),
                )
                .collect(),
            Err(e) => vec![vec![format!(
                "definition not readable: {}",
                escape(&e.to_string())
            )]],
        };
        let traffic_rows: Vec<Vec<String>> = traffic
            .iter()
            .filter(|((endpoint, _, _), _)| *endpoint == record.name)
            .map(|((_, route, version), t)| {
                vec![
                    escape(route),
                    escape(version),
                    t.requests.to_string(),
                    t.errors.to_string(),
                    if t.requests > 0 {
                        format!("{} %", number(100.0 * t.errors as f64 / t.requests as f64))
                    } else {
                        String::new()
                    },
                    millis((t.requests > 0).then(|| t.seconds / t.requests as f64)),
                    millis(t.quantile_bound(0.5)),
                    millis(t.quantile_bound(0.95)),
                ]
            })
            .collect();
        let _ = write!(
            body,
            "<h2 id=\"endpoint-{id}\">{name}</h2><p class=\"muted\">Updated {}. Invocations: <code>POST /serving-endpoints/{name}/invocations</code></p>{}<h3>Traffic</h3>{}",
            time(Some(record.updated_time)),
            table(
                &headers(&["route", "model", "weight"]),
                &route_rows,
                "No route."
            ),
            table(
                &headers(&[
                    "route",
                    "version",
                    "requests",
                    "errors",
                    "error rate",
                    "mean latency",
                    "p50 ≤",
                    "p95 ≤"
                ]),
                &traffic_rows,
                "No request served since this server started."
            ),
            id = escape(&record.name),
            name = escape(&record.name),
        );
    }
    Ok(page("/ui/endpoints", "Serving endpoints", &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Telemetry;
    use std::time::Duration;

    #[test]
    fn reads_endpoint_series_from_the_telemetry() {
        let t = Telemetry::default();
        let route = "endpoint demand route champion version 3";
        t.record(route, "POST", 200, Duration::from_millis(2));
        t.record(route, "POST", 200, Duration::from_millis(40));
        t.record(route, "POST", 400, Duration::from_millis(1));
        t.record("/health", "GET", 200, Duration::from_millis(1));
        let found = traffic(&t.render());
        assert_eq!(found.len(), 1);
        let key = (
            "demand".to_string(),
            "champion".to_string(),
            "3".to_string(),
        );
        let d = &found[&key];
        assert_eq!((d.requests, d.errors), (3, 1));
        assert!((d.seconds - 0.043).abs() < 1e-9);
        // 1 ms and 2 ms fall in the buckets up to 0.0025 s; 40 ms in the one up to 0.05 s.
        assert_eq!(d.quantile_bound(0.5), Some(0.0025));
        assert_eq!(d.quantile_bound(0.95), Some(0.05));
    }
}
