//! Tables for people, JSON for scripts.

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use esteira_core::entities::{Experiment, Metric, RegisteredModel, Run};
use serde::Serialize;

fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    t
}

fn time(ms: Option<i64>) -> String {
    ms.map(|m| {
        let secs = m / 1000;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, mo, d) = civil_from_days(days);
        format!(
            "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    })
    .unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn metric_summary(metrics: &[Metric]) -> String {
    metrics
        .iter()
        .map(|m| format!("{}={:.4}", m.key, m.value))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints experiments.
pub fn experiments(items: &[Experiment], as_json: bool) -> Result<()> {
    if as_json {
        return json(items);
    }
    let mut t = table(&["id", "name", "stage", "created", "artifact location"]);
    for e in items {
        t.add_row(vec![
            e.experiment_id.clone(),
            e.name.clone(),
            format!("{:?}", e.lifecycle_stage).to_lowercase(),
            time(Some(e.creation_time)),
            e.artifact_location.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Prints runs.
pub fn runs(items: &[Run], as_json: bool) -> Result<()> {
    if as_json {
        return json(items);
    }
    let mut t = table(&["run id", "name", "status", "started", "metrics"]);
    for r in items {
        t.add_row(vec![
            r.info.run_id.clone(),
            r.info.run_name.clone(),
            r.info.status.as_str().to_string(),
            time(r.info.start_time),
            metric_summary(&r.data.metrics),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Prints one run.
pub fn run(r: &Run, as_json: bool) -> Result<()> {
    if as_json {
        return json(r);
    }
    println!(
        "run {} ({}) in experiment {}",
        r.info.run_id, r.info.run_name, r.info.experiment_id
    );
    println!(
        "status {}, started {}, ended {}",
        r.info.status.as_str(),
        time(r.info.start_time),
        time(r.info.end_time)
    );
    println!("artifacts {}", r.info.artifact_uri);
    let mut t = table(&["kind", "key", "value", "step"]);
    for m in &r.data.metrics {
        t.add_row(vec![
            "metric".into(),
            m.key.clone(),
            m.value.to_string(),
            m.step.to_string(),
        ]);
    }
    for p in &r.data.params {
        t.add_row(vec![
            "param".into(),
            p.key.clone(),
            p.value.clone(),
            String::new(),
        ]);
    }
    for tag in &r.data.tags {
        t.add_row(vec![
            "tag".into(),
            tag.key.clone(),
            tag.value.clone(),
            String::new(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Prints registered models.
pub fn models(items: &[RegisteredModel], as_json: bool) -> Result<()> {
    if as_json {
        return json(items);
    }
    let mut t = table(&["name", "latest version", "aliases", "updated"]);
    for m in items {
        let latest = m
            .latest_versions
            .iter()
            .filter_map(|v| v.version.parse::<i64>().ok())
            .max();
        let aliases = m
            .aliases
            .iter()
            .map(|a| format!("{}={}", a.alias, a.version))
            .collect::<Vec<_>>();
        t.add_row(vec![
            m.name.clone(),
            latest.map(|v| v.to_string()).unwrap_or_default(),
            aliases.join(" "),
            time(Some(m.last_updated_timestamp)),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Prints one registered model.
pub fn model(m: &RegisteredModel, as_json: bool) -> Result<()> {
    if as_json {
        return json(m);
    }
    println!(
        "{} — {}",
        m.name,
        if m.description.is_empty() {
            "(no description)"
        } else {
            &m.description
        }
    );
    let mut t = table(&["version", "stage", "aliases", "run", "source"]);
    for v in &m.latest_versions {
        t.add_row(vec![
            v.version.clone(),
            v.current_stage.as_str().to_string(),
            v.aliases.join(" "),
            v.run_id.clone(),
            v.source.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(time(Some(0)), "1970-01-01 00:00:00");
        assert_eq!(time(Some(1_764_115_200_000)), "2025-11-26 00:00:00");
        assert_eq!(time(None), "");
    }
}
