//! Performance over delayed ground truth: the join, the metrics against pandas
//! (`vectors/perf.json`, made by `vectors/perf_gen.py`), the alarm bands, and answers
//! logged the way the server logs them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use esteira_ml::dataset::{Table, table_from_columns};
use esteira_ml::model::forecast::{ForecastConfig, ForecastModel};
use esteira_ml::rng::SplitMix64;
use esteira_ml::series::{LongFormat, SeriesSet};
use esteira_monitor::MonitorError;
use esteira_monitor::performance::{
    AlarmBand, BandVerdict, JoinOptions, Joined, Metrics, MetricsOptions, Outcome, WindowTime,
    evaluate, join, join_with, mase_scale,
};
use esteira_serving::log::PredictionRecord;
use esteira_serving::protocol::encode_predictions;
use esteira_store::predictions::GroundTruth;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

fn vectors() -> anyhow::Result<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/perf.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// A logged record as the server writes it (`esteira-server`'s `log_prediction`): the
/// response body as outputs, no series.
fn record(
    request_id: &str,
    time_ms: i64,
    version: &str,
    outputs: &str,
    status: u16,
) -> PredictionRecord {
    PredictionRecord {
        request_id: request_id.into(),
        time_ms,
        endpoint: "demand".into(),
        route: "default".into(),
        model: "demand".into(),
        version: version.into(),
        inputs: None,
        outputs: outputs.into(),
        latency_us: 1_000,
        status,
        series: None,
    }
}

fn records_of(v: &Value) -> Vec<PredictionRecord> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            record(
                r["request_id"].as_str().unwrap_or_default(),
                r["time_ms"].as_i64().unwrap_or_default(),
                r["version"].as_str().unwrap_or_default(),
                r["outputs"].as_str().unwrap_or_default(),
                r["status"].as_u64().map_or(200, |s| s as u16),
            )
        })
        .collect()
}

fn truth(
    request_id: Option<&str>,
    series: Option<&str>,
    time: Option<&str>,
    value: Value,
    received_ms: i64,
) -> GroundTruth {
    GroundTruth {
        endpoint: "demand".into(),
        request_id: request_id.map(str::to_string),
        series: series.map(str::to_string),
        time: time.map(str::to_string),
        value,
        received_ms,
    }
}

fn truths_of(v: &Value) -> Vec<GroundTruth> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            truth(
                g["request_id"].as_str(),
                g["series"].as_str(),
                g["time"].as_str(),
                g["value"].clone(),
                g["received_ms"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

fn close(got: Option<f64>, expected: &Value, what: &str) {
    match (got, expected.as_f64()) {
        (Some(g), Some(e)) => assert!(
            (g - e).abs() <= 1e-9 * e.abs().max(1.0),
            "{what}: got {g}, pandas {e}"
        ),
        (None, None) => {}
        (g, _) => panic!("{what}: got {g:?}, pandas {expected}"),
    }
}

/// Compares the numeric metrics that pandas computed (those present in `expected`).
fn same_metrics(got: &Metrics, expected: &Value, what: &str) {
    assert_eq!(
        got.count as u64,
        expected["count"].as_u64().unwrap_or(0),
        "{what} count"
    );
    if got.count == 0 {
        return;
    }
    close(got.mae, &expected["mae"], &format!("{what} mae"));
    close(got.rmse, &expected["rmse"], &format!("{what} rmse"));
    close(got.bias, &expected["bias"], &format!("{what} bias"));
    close(got.mape, &expected["mape"], &format!("{what} mape"));
    close(got.smape, &expected["smape"], &format!("{what} smape"));
    close(got.mase, &expected["mase"], &format!("{what} mase"));
    assert_eq!(
        got.mape_zero_actuals as u64,
        expected["mape_zero_actuals"].as_u64().unwrap_or(u64::MAX),
        "{what} zero actuals"
    );
    assert_eq!(
        got.mase_unscaled as u64,
        expected["mase_unscaled"].as_u64().unwrap_or(u64::MAX),
        "{what} unscaled"
    );
}

fn count(v: &Value) -> usize {
    v.as_u64().unwrap_or(u64::MAX) as usize
}

fn forecast_case() -> anyhow::Result<(Value, Joined, MetricsOptions)> {
    let v = vectors()?["forecast"].clone();
    let joined = join(&records_of(&v["records"]), &truths_of(&v["truth"]));
    let mut options = MetricsOptions::new(7 * DAY);
    let season = v["season"].as_u64().unwrap_or(0) as usize;
    for (series, history) in v["history"].as_object().into_iter().flatten() {
        let history: Vec<f64> = serde_json::from_value(history.clone())?;
        let scale = mase_scale(&history, season)?;
        close(
            Some(scale),
            &v["scales"][series],
            &format!("MASE scale of {series}"),
        );
        options.mase_scales.insert(series.clone(), scale);
    }
    Ok((v, joined, options))
}

#[test]
fn forecast_join_counts_match_pandas() -> anyhow::Result<()> {
    let (v, joined, _) = forecast_case()?;
    let e = &v["expected"];
    assert_eq!(
        joined.pairs.len() + joined.not_comparable,
        count(&e["pairs"])
    );
    assert_eq!(joined.not_comparable, count(&e["not_comparable"]));
    assert_eq!(
        joined.truth_without_prediction,
        count(&e["truth_without_prediction"])
    );
    assert_eq!(
        joined.predictions_without_truth,
        count(&e["predictions_without_truth"])
    );
    assert_eq!(joined.replaced_truth, count(&e["replaced_truth"]));
    assert_eq!(
        joined.unreadable_predictions,
        count(&e["unreadable_predictions"])
    );
    assert_eq!(joined.mismatched_truth, 0);
    assert!(
        joined.problems.iter().any(|p| p.contains("status 400")),
        "{:?}",
        joined.problems
    );
    assert!(
        joined
            .problems
            .iter()
            .any(|p| p.contains("\"n/a\" is not a number"))
    );
    assert!(
        joined
            .problems
            .iter()
            .any(|p| p.contains("prediction is null"))
    );
    assert!(
        joined
            .problems
            .iter()
            .any(|p| p.contains("series s9") && p.contains("no prediction"))
    );
    Ok(())
}

#[test]
fn forecast_metrics_per_window_series_and_horizon_match_pandas() -> anyhow::Result<()> {
    let (v, joined, options) = forecast_case()?;
    let e = &v["expected"];
    let report = evaluate(&joined, &options)?;
    same_metrics(&report.overall, &e["overall"], "overall");
    let windows = e["windows"].as_array().cloned().unwrap_or_default();
    assert_eq!(report.windows.len(), windows.len());
    for (got, expected) in report.windows.iter().zip(&windows) {
        assert_eq!(got.start_ms, expected["start_ms"].as_i64().unwrap_or(0));
        assert_eq!(got.end_ms - got.start_ms, 7 * DAY);
        same_metrics(&got.metrics, expected, &format!("window {}", got.start_ms));
    }
    let series = e["series"].as_object().cloned().unwrap_or_default();
    assert_eq!(report.series.len(), series.len());
    for (name, expected) in &series {
        same_metrics(&report.series[name], expected, &format!("series {name}"));
    }
    let horizons = e["horizons"].as_object().cloned().unwrap_or_default();
    assert_eq!(report.horizons.len(), horizons.len());
    assert!(
        report.horizons.len() >= 4,
        "the log should use several horizon steps"
    );
    for (h, expected) in &horizons {
        same_metrics(
            &report.horizons[&h.parse::<u32>()?],
            expected,
            &format!("h={h}"),
        );
    }
    Ok(())
}

#[test]
fn windows_by_request_time_match_pandas() -> anyhow::Result<()> {
    let (v, joined, mut options) = forecast_case()?;
    options.window_time = serde_json::from_str(r#""request""#)?;
    assert_eq!(options.window_time, WindowTime::Request);
    let report = evaluate(&joined, &options)?;
    let windows = v["expected"]["request_windows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(report.windows.len(), windows.len());
    for (got, expected) in report.windows.iter().zip(&windows) {
        assert_eq!(got.start_ms, expected["start_ms"].as_i64().unwrap_or(0));
        same_metrics(
            &got.metrics,
            expected,
            &format!("request window {}", got.start_ms),
        );
    }
    Ok(())
}

#[test]
fn tabular_join_and_metrics_match_pandas() -> anyhow::Result<()> {
    let v = vectors()?["tabular"].clone();
    let e = &v["expected"];
    let joined = join(&records_of(&v["records"]), &truths_of(&v["truth"]));
    assert_eq!(joined.pairs.len(), count(&e["pairs"]));
    assert_eq!(
        joined.truth_without_prediction,
        count(&e["truth_without_prediction"])
    );
    assert_eq!(
        joined.predictions_without_truth,
        count(&e["predictions_without_truth"])
    );
    assert_eq!(joined.mismatched_truth, count(&e["mismatched_truth"]));
    assert!(
        joined
            .pairs
            .iter()
            .all(|p| p.row.is_some() && p.horizon.is_none())
    );
    let report = evaluate(&joined, &MetricsOptions::new(DAY))?;
    same_metrics(&report.overall, &e["overall"], "overall");
    assert_eq!(report.overall.label_count, count(&e["label_count"]));
    close(report.overall.accuracy, &e["accuracy"], "accuracy");
    let windows = e["windows"].as_array().cloned().unwrap_or_default();
    assert_eq!(report.windows.len(), windows.len());
    for (got, expected) in report.windows.iter().zip(&windows) {
        assert_eq!(got.start_ms, expected["start_ms"].as_i64().unwrap_or(0));
        same_metrics(&got.metrics, expected, &format!("day {}", got.start_ms));
        assert_eq!(got.metrics.label_count, count(&expected["label_count"]));
        close(
            got.metrics.accuracy,
            &expected["accuracy"],
            "window accuracy",
        );
    }
    assert!(report.series.is_empty() && report.horizons.is_empty());
    Ok(())
}

/// Two stores × two items, 60 days from 2024-01-01, units = 10·store + item + day.
fn daily_csv() -> String {
    let mut text = String::from("store,item,date,units\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    for store in 1..=2 {
        for item in 1..=2 {
            for d in 0..60u64 {
                let date = start + chrono::Days::new(d);
                text.push_str(&format!(
                    "{store},{item},{date},{}\n",
                    10 * store + item + d
                ));
            }
        }
    }
    text
}

#[test]
fn a_forecast_answered_by_the_model_joins_by_series_and_date() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("sales.csv");
    std::fs::write(&csv, daily_csv())?;
    let format = LongFormat {
        id: vec!["store".into(), "item".into()],
        time: "date".into(),
        target: "units".into(),
        exog: Vec::new(),
    };
    let set = SeriesSet::from_table(&Table::read(&csv)?, &format)?;
    let config = ForecastConfig {
        format,
        method: "naive".into(),
        horizon: 3,
        seasons: None,
    };
    let (model, _) = ForecastModel::train(&set, config, &|| ())?;
    // What the server answers and logs: the prediction table as {"predictions": [...]}.
    let outputs = encode_predictions(&model.predict(None, 3)?).to_string();
    let rows = serde_json::from_str::<Value>(&outputs)?["predictions"].clone();
    assert_eq!(rows[0]["date"], "2024-03-01");
    assert_eq!(rows[0]["step"], 1);
    let made = 1_709_164_800_000 + DAY / 2; // 2024-02-29T12:00Z, before the first date
    let log = vec![record("r1", made, "3", &outputs, 200)];
    // Naive forecasts repeat the last value, 10·store + item + 59 (store 1, item 2: 71).
    let truth = vec![
        truth(
            None,
            Some("1/2"),
            Some("2024-03-02"),
            json!(80.0),
            made + 3 * DAY,
        ),
        truth(
            None,
            Some("2/1"),
            Some("2024-03-03T00:00:00Z"),
            json!(75.0),
            made + 4 * DAY,
        ),
    ];
    let options = JoinOptions {
        time_column: None,
        id_columns: Some(vec!["store".into(), "item".into()]),
    };
    let joined = join_with(&log, &truth, &options);
    assert_eq!(joined.pairs.len(), 2, "{:?}", joined.problems);
    let first = &joined.pairs[0];
    assert_eq!(first.series.as_deref(), Some("1/2"));
    assert_eq!(first.horizon, Some(2));
    assert_eq!(first.predicted, Outcome::Number(71.0));
    assert_eq!(first.actual, Outcome::Number(80.0));
    assert_eq!(first.time_ms, Some(1_709_164_800_000 + 2 * DAY));
    assert_eq!(joined.pairs[1].horizon, Some(3));
    assert_eq!(joined.pairs[1].predicted, Outcome::Number(80.0));
    assert_eq!(joined.predictions_without_truth, 12 - 2);
    // Without the id order, the id columns are taken in name order (item/store).
    let by_name = join(&log, &truth);
    assert_eq!(by_name.pairs.len(), 2);
    assert_eq!(
        by_name.pairs[0].predicted,
        Outcome::Number(10.0 * 2.0 + 1.0 + 59.0)
    );
    Ok(())
}

#[test]
fn tabular_answers_logged_by_the_server_join_by_request() -> anyhow::Result<()> {
    let regression = table_from_columns(vec![(
        "prediction".into(),
        Arc::new(Float64Array::from(vec![1.5, 2.5])) as ArrayRef,
    )])?;
    let classification = table_from_columns(vec![
        (
            "prediction".into(),
            Arc::new(StringArray::from(vec!["yes"])) as ArrayRef,
        ),
        (
            "proba_no".into(),
            Arc::new(Float64Array::from(vec![0.2])) as ArrayRef,
        ),
        (
            "proba_yes".into(),
            Arc::new(Float64Array::from(vec![0.8])) as ArrayRef,
        ),
    ])?;
    let log = vec![
        record(
            "a",
            0,
            "1",
            &encode_predictions(&regression).to_string(),
            200,
        ),
        record(
            "b",
            10,
            "1",
            &encode_predictions(&classification).to_string(),
            200,
        ),
    ];
    let truth = vec![
        truth(Some("a"), None, None, json!([1.0, 3.5]), 100),
        truth(Some("b"), None, None, json!("yes"), 100),
        truth(Some("a#1"), None, None, json!(2.0), 200),
    ];
    let joined = join(&log, &truth);
    assert_eq!(joined.pairs.len(), 3, "{:?}", joined.problems);
    assert_eq!(joined.replaced_truth, 1);
    let a1 = joined
        .pairs
        .iter()
        .find(|p| p.request_id == "a" && p.row == Some(1));
    assert_eq!(a1.map(|p| &p.actual), Some(&Outcome::Number(2.0)));
    let report = evaluate(&joined, &MetricsOptions::new(DAY))?;
    // errors f − y: 1.5 − 1.0 = 0.5 and 2.5 − 2.0 = 0.5 → MAE 0.5, bias 0.5.
    assert_eq!(report.overall.mae, Some(0.5));
    assert_eq!(report.overall.bias, Some(0.5));
    assert_eq!(report.overall.accuracy, Some(1.0));
    assert_eq!(joined.residuals(), vec![-0.5, -0.5]);
    Ok(())
}

fn forecast_outputs(series: &str, time: Value, step: u32, value: f64) -> String {
    json!({"predictions": [{"id": series, "ts": time, "step": step, "forecast": value,
        "lo_95": value - 2.0, "lo_80": value - 1.0, "hi_80": value + 1.0, "hi_95": value + 2.0}]})
    .to_string()
}

#[test]
fn the_latest_forecast_made_before_the_time_is_used() {
    let target = 1_735_689_600_000; // 2025-01-01
    let log = vec![
        record(
            "old",
            target - 3 * DAY,
            "1",
            &forecast_outputs("a", json!("2025-01-01"), 3, 10.0),
            200,
        ),
        record(
            "recent",
            target - DAY,
            "1",
            &forecast_outputs("a", json!("2025-01-01"), 1, 20.0),
            200,
        ),
        record(
            "at",
            target,
            "1",
            &forecast_outputs("a", json!("2025-01-01"), 1, 30.0),
            200,
        ),
        record(
            "after",
            target + DAY,
            "1",
            &forecast_outputs("b", json!("2025-01-01"), 1, 40.0),
            200,
        ),
    ];
    let truth = vec![
        truth(
            None,
            Some("a"),
            Some("2025-01-01"),
            json!(21.0),
            target + 2 * DAY,
        ),
        truth(
            None,
            Some("b"),
            Some("2025-01-01 00:00:00"),
            json!(41.0),
            target + 2 * DAY,
        ),
    ];
    let joined = join(&log, &truth);
    assert_eq!(joined.pairs.len(), 1);
    assert_eq!(joined.pairs[0].request_id, "recent");
    assert_eq!(joined.pairs[0].horizon, Some(1));
    assert_eq!(joined.truth_without_prediction, 1);
    assert!(
        joined
            .problems
            .iter()
            .any(|p| p.contains("only forecasts made at or after"))
    );
    assert_eq!(joined.predictions_without_truth, 0);
}

#[test]
fn period_times_use_the_latest_forecast_and_cannot_window_by_target() -> anyhow::Result<()> {
    let log = vec![
        record(
            "r1",
            1_000,
            "1",
            &forecast_outputs("a", json!(17), 2, 5.0),
            200,
        ),
        record(
            "r2",
            2_000,
            "1",
            &forecast_outputs("a", json!(17), 1, 6.0),
            200,
        ),
    ];
    let truth = vec![truth(None, Some("a"), Some("17"), json!(7.0), 3_000)];
    let joined = join(&log, &truth);
    assert_eq!(joined.pairs.len(), 1);
    assert_eq!(joined.pairs[0].predicted, Outcome::Number(6.0));
    assert!(matches!(
        evaluate(&joined, &MetricsOptions::new(DAY)),
        Err(MonitorError::Input { .. })
    ));
    let by_request = MetricsOptions {
        window_time: WindowTime::Request,
        ..MetricsOptions::new(DAY)
    };
    assert_eq!(evaluate(&joined, &by_request)?.overall.mae, Some(1.0));
    Ok(())
}

#[test]
fn unreadable_answers_are_counted_not_fatal() -> anyhow::Result<()> {
    let ambiguous = json!({"predictions": [{"a": "2025-01-01", "b": "2025-01-02", "step": 1, "forecast": 1.0}]});
    let log = vec![
        record("not-json", 0, "1", "oops", 200),
        record("no-list", 0, "1", r#"{"result": [1]}"#, 200),
        record("failed", 0, "1", r#"{"error_code": "X"}"#, 500),
        record(
            "no-prediction-field",
            0,
            "1",
            r#"{"predictions": [{"score": 1}]}"#,
            200,
        ),
        record("ambiguous", 0, "1", &ambiguous.to_string(), 200),
    ];
    let joined = join(&log, &[]);
    assert_eq!(joined.unreadable_predictions, 5);
    assert_eq!(joined.problems.len(), 5);
    assert!(
        joined
            .problems
            .iter()
            .any(|p| p.contains("several columns"))
    );
    assert!(joined.pairs.is_empty());
    let explicit: JoinOptions = serde_json::from_str(r#"{"time_column": "b"}"#)?;
    assert_eq!(explicit.id_columns, None);
    let joined = join_with(
        &log[4..],
        &[truth(
            None,
            Some("2025-01-01"),
            Some("2025-01-02"),
            json!(1.0),
            0,
        )],
        &explicit,
    );
    assert_eq!(joined.pairs.len(), 1, "{:?}", joined.problems);
    Ok(())
}

#[test]
fn mismatched_and_unmatched_ground_truth_is_counted() {
    let log = vec![record(
        "r",
        0,
        "1",
        r#"{"predictions": [1.0, 2.0, 3.0]}"#,
        200,
    )];
    let truth = vec![
        truth(Some("r"), None, None, json!(1.0), 0),
        truth(Some("r"), None, None, json!([1.0, 2.0]), 0),
        truth(Some("r#3"), None, None, json!(1.0), 0),
        truth(Some("r#x"), None, None, json!(1.0), 0),
        truth(Some("other"), None, None, json!(1.0), 0),
        truth(None, None, None, json!(1.0), 0),
        truth(Some("r#0"), None, None, json!(null), 0),
        truth(Some("r#1"), None, None, json!({"v": 1}), 0),
    ];
    let joined = join(&log, &truth);
    assert_eq!(joined.mismatched_truth, 3);
    assert_eq!(joined.truth_without_prediction, 3);
    assert_eq!(joined.not_comparable, 2);
    assert_eq!(joined.predictions_without_truth, 1);
    assert!(joined.pairs.is_empty());
    assert!(matches!(
        evaluate(&joined, &MetricsOptions::new(DAY)),
        Err(MonitorError::NotComputed(_))
    ));
}

#[test]
fn empty_inputs_join_to_nothing() {
    let joined = join(&[], &[]);
    assert_eq!(joined, Joined::default());
    assert!(matches!(
        evaluate(&joined, &MetricsOptions::new(DAY)),
        Err(MonitorError::NotComputed(_))
    ));
}

#[test]
fn bad_metric_options_are_refused() {
    let log = vec![record("r", 0, "1", r#"{"predictions": [1.0]}"#, 200)];
    let joined = join(&log, &[truth(Some("r"), None, None, json!(2.0), 0)]);
    for window_ms in [0, -DAY] {
        assert!(matches!(
            evaluate(&joined, &MetricsOptions::new(window_ms)),
            Err(MonitorError::Config { ref field, .. }) if field == "window_ms"
        ));
    }
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let options = MetricsOptions {
            mase_scales: HashMap::from([("s".to_string(), scale)]),
            ..MetricsOptions::new(DAY)
        };
        assert!(matches!(
            evaluate(&joined, &options),
            Err(MonitorError::Config { ref field, .. }) if field == "mase_scales.s"
        ));
    }
}

#[test]
fn mase_scale_is_the_seasonal_naive_mae_and_refuses_bad_histories() -> anyhow::Result<()> {
    // |3−1| |5−2| |4−3| over m = 2: (2 + 3 + 1) / 3 = 2.
    assert_eq!(mase_scale(&[1.0, 2.0, 3.0, 5.0, 4.0], 2)?, 2.0);
    assert!(
        matches!(mase_scale(&[1.0, 2.0], 0), Err(MonitorError::Config { ref field, .. }) if field == "season")
    );
    assert!(matches!(
        mase_scale(&[], 1),
        Err(MonitorError::NotComputed(_))
    ));
    assert!(matches!(
        mase_scale(&[1.0, 2.0], 2),
        Err(MonitorError::NotComputed(_))
    ));
    assert!(matches!(
        mase_scale(&[3.0; 10], 1),
        Err(MonitorError::NotComputed(_))
    ));
    match mase_scale(&[1.0, f64::NAN, 2.0], 1) {
        Err(MonitorError::Input { reason, .. }) => {
            assert!(reason.contains("position 1"), "{reason}")
        }
        other => panic!("expected an input error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn alarm_band_is_mean_plus_minus_k_sample_sigmas() -> anyhow::Result<()> {
    // numpy: mean([1, 2, 3, 4, 5]) = 3, std(ddof=1) = √2.5 = 1.5811388300841898.
    let band = AlarmBand::from_values(&[1.0, 2.0, 3.0, 4.0, 5.0], AlarmBand::DEFAULT_K)?;
    assert_eq!(band.mean, 3.0);
    assert!((band.std - 1.581_138_830_084_189_8).abs() < 1e-15);
    assert!((band.upper - (3.0 + 3.0 * 1.581_138_830_084_189_8)).abs() < 1e-12);
    assert_eq!(band.check(3.0)?, BandVerdict::Inside);
    assert_eq!(band.check(band.upper)?, BandVerdict::Inside);
    assert_eq!(band.check(7.7)?, BandVerdict::Inside);
    assert_eq!(band.check(7.8)?, BandVerdict::Above);
    assert_eq!(band.check(band.lower)?, BandVerdict::Inside);
    assert_eq!(band.check(-2.0)?, BandVerdict::Below);
    assert_eq!(band.check(f64::NEG_INFINITY)?, BandVerdict::Below);
    assert!(matches!(
        band.check(f64::NAN),
        Err(MonitorError::Input { .. })
    ));
    Ok(())
}

#[test]
fn alarm_band_refuses_bad_input() {
    assert!(matches!(
        AlarmBand::from_values(&[], 3.0),
        Err(MonitorError::NotComputed(_))
    ));
    assert!(matches!(
        AlarmBand::from_values(&[1.0], 3.0),
        Err(MonitorError::NotComputed(_))
    ));
    assert!(matches!(
        AlarmBand::from_values(&[2.0, 2.0, 2.0], 3.0),
        Err(MonitorError::NotComputed(_))
    ));
    assert!(matches!(
        AlarmBand::from_values(&[1.0, f64::NAN], 3.0),
        Err(MonitorError::Input { .. })
    ));
    for k in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            AlarmBand::from_values(&[1.0, 2.0], k),
            Err(MonitorError::Config { ref field, .. }) if field == "k"
        ));
    }
}

/// Standard normal draws (Box–Muller over SplitMix64).
fn normals(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let u = 1.0 - rng.unit();
            let v = rng.unit();
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

/// A daily series forecast at 100 one day ahead (each forecast made at noon the day
/// before), observed as 100 + N(0, 1) noise, plus `shift` from day `shift_day` on; joined
/// and evaluated per day. Returns the daily bias (forecast − actual) of each day.
fn daily_bias(seed: u64, days: usize, shift_day: usize, shift: f64) -> anyhow::Result<Vec<f64>> {
    let start = 1_735_689_600_000; // 2025-01-01
    let mut log = Vec::new();
    let mut truths = Vec::new();
    for (d, z) in normals(seed, days).into_iter().enumerate() {
        let target = start + d as i64 * DAY;
        let date = chrono::DateTime::from_timestamp_millis(target)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let outputs = forecast_outputs("demand", json!(date), 1, 100.0);
        log.push(record(
            &format!("r{d}"),
            target - DAY / 2,
            "1",
            &outputs,
            200,
        ));
        let level = if d >= shift_day { 100.0 + shift } else { 100.0 };
        truths.push(truth(
            None,
            Some("demand"),
            Some(&date),
            json!(level + z),
            target + DAY,
        ));
    }
    let joined = join(&log, &truths);
    assert_eq!(joined.pairs.len(), days);
    let report = evaluate(&joined, &MetricsOptions::new(DAY))?;
    Ok(report
        .windows
        .iter()
        .filter_map(|w| w.metrics.bias)
        .collect())
}

const REFERENCE_DAYS: usize = 90;
const MONITORED_DAYS: usize = 365;

#[test]
fn a_level_shift_alarms_within_three_days() -> anyhow::Result<()> {
    // The band of the daily bias over the 90 reference days (about 0 ± 3); from day 290
    // the actuals rise by 5σ, so the daily bias is −5 + noise, below the band unless the
    // noise is above about +2 (probability 0.023 a day): three missed days in a row happen
    // with probability 1.2e-5. The band must alarm (below) on day 290, 291 or 292.
    let shift_day = REFERENCE_DAYS + 200;
    let bias = daily_bias(7, REFERENCE_DAYS + MONITORED_DAYS, shift_day, 5.0)?;
    let band = AlarmBand::from_values(&bias[..REFERENCE_DAYS], AlarmBand::DEFAULT_K)?;
    let first_alarm = (shift_day..bias.len())
        .find(|d| band.check(bias[*d]).is_ok_and(|v| v != BandVerdict::Inside))
        .unwrap_or(usize::MAX);
    assert!(
        (shift_day..shift_day + 3).contains(&first_alarm),
        "first alarm on day {first_alarm}"
    );
    assert_eq!(band.check(bias[first_alarm])?, BandVerdict::Below);
    let after: usize = (shift_day..bias.len())
        .filter(|d| band.check(bias[*d]).is_ok_and(|v| v == BandVerdict::Below))
        .count();
    // Each later day alarms with probability P(z > band.lower + 5) ≈ 0.93 for this band
    // (lower ≈ −3.55): at least 80% of the 165 days.
    assert!(
        after as f64 >= 0.8 * (bias.len() - shift_day) as f64,
        "{after} alarms after the shift"
    );
    Ok(())
}

#[test]
fn without_a_shift_false_alarms_stay_within_the_normal_tail() -> anyhow::Result<()> {
    // The daily bias is −z, z ~ N(0, 1), independent from day to day. Given the band
    // (m ± 3s of 90 reference days), the false alarms of 365 days are
    // binomial(365, p) with p = Φ(m − 3s) + 1 − Φ(m + 3s); over the band's sampling
    // (m ~ N(0, 1/90), s² ~ χ²₈₉/89), averaged with numpy/scipy over 200 000 draws: 1.34
    // false alarms on average (the predictive P(|t₈₉| > 3/√(1 + 1/90)) = 0.0037 a day),
    // more than 9 with probability 0.0015, and more than 30 over 10 independent runs with
    // probability 0.0026. Ten seeded runs must stay within those bounds.
    let mut total = 0;
    for seed in 100..110 {
        let bias = daily_bias(seed, REFERENCE_DAYS + MONITORED_DAYS, usize::MAX, 0.0)?;
        let band = AlarmBand::from_values(&bias[..REFERENCE_DAYS], AlarmBand::DEFAULT_K)?;
        let alarms = bias[REFERENCE_DAYS..]
            .iter()
            .filter(|b| band.check(**b).is_ok_and(|v| v != BandVerdict::Inside))
            .count();
        assert!(
            alarms <= 9,
            "seed {seed}: {alarms} false alarms in 365 days"
        );
        total += alarms;
    }
    assert!(
        total <= 30,
        "{total} false alarms over 10 × 365 days (expected about 13)"
    );
    Ok(())
}
